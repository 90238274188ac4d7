/*  =========================================================================
    lw_source_lineproto.c - InfluxDB line protocol over TCP and UDP

    Copyright (c) the linewatch authors. MIT license.

    Config (ingest/source/<name>): type = lineproto, tcp (listen
    address:port, empty = none), udp (the same for datagrams), precision
    (ns | us | ms | s), key (template of the sensor key), line_max (bytes
    a line may take, newline included), connections (most TCP peers at
    once).

    Key template: literal text with {measurement}, {field} and
    {tag:NAME} placeholders; the default {tag:host}/{measurement}_{field}
    makes `cpu,host=gw1 usage=3` the key gw1/cpu_usage (machine gw1,
    sensor cpu_usage). A line without a tag the template names is
    rejected (drop_lineproto_missing_tag); a key that is too long or not
    valid is counted drop_bad_key by the sink.

    Every field of a line is one reading at the line's timestamp, or at
    the reception time when the line has none (the wall clock read once
    per socket read, plus 1 ns per line, so lines of one read keep their
    order and never collide). Floats, integers, unsigned integers and
    booleans (1/0) are readings; string fields are skipped and counted
    (lineproto_strings). A bad line is counted as
    drop_lineproto_<reason> and the rest of the batch is kept.

    TCP: non-blocking sockets on the ingest zloop. Each connection has
    one buffer of line_max bytes, allocated when the slot is first used
    and kept for the next peer in that slot: a line split across reads
    waits there; a line that does not fit is counted
    drop_lineproto_too_long and skipped up to its newline. Memory is
    connections x line_max at most, whatever peers send.
    UDP: one datagram holds one or more lines (the last one may lack its
    newline). Datagrams the kernel dropped while we were paused or slow
    are counted from SO_RXQ_OVFL (drop_lineproto_udp_overflow).
    While paused nothing is read: TCP peers block on their full send
    buffers (backpressure); UDP has none, hence the overflow counter.
    =========================================================================
*/

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lw_lineproto.h"
#include "lw_msg.h"
#include "lw_source.h"
#include "lw_util.h"

#define S_PATH_MAX 320    //  Longest config key path we build
#define S_SEGMENTS_MAX 16 //  Most parts of a key template
#define S_READS 8         //  Socket reads per handler call
#define S_DATAGRAMS 64    //  Datagrams per handler call
#define S_UDP_MAX 65536   //  Largest datagram (IPv4 max is 65507)
#define S_WARN_FIRST 10   //  Warnings logged before rate limiting
#define S_WARN_PERIOD (60 * LW_NS_PER_SEC)
#define S_PEER_MAX 64 //  Peer address text

//  Rejection reasons the source counts (besides the parser's)
enum {
    S_TOO_LONG = -100,
    S_MISSING_TAG = -101,
    S_UDP_TRUNCATED = -102,
    S_UDP_OVERFLOW = -103,
    S_REFUSED = -104
};
#define S_REASONS 14 //  Counter slots: parser results -8..-1, ours

typedef enum { S_LITERAL, S_MEASUREMENT, S_FIELD, S_TAG } s_segment_kind_t;

//  One part of the key template
typedef struct {
    s_segment_kind_t kind; //  What it stands for
    const char *text;      //  Literal text or tag name (into template)
    size_t size;           //  Its length
    lw_lp_text_t value;    //  Tag: the current line's value
} s_segment_t;

typedef struct _s_lineproto_t s_lineproto_t;

//  One TCP connection slot
typedef struct {
    s_lineproto_t *source; //  Owner
    int fd;                //  Socket, or -1 when the slot is free
    char *buffer;          //  line_max bytes, kept across peers
    size_t fill;           //  Bytes of a partial line held
    bool discarding;       //  Skipping an overlong line to its newline
    bool polling;          //  Registered in the loop
    char peer[S_PEER_MAX]; //  Peer address, for logs
} s_conn_t;

struct _s_lineproto_t {
    zloop_t *loop;                        //  The actor's loop
    lw_sink_t *sink;                      //  Where readings go
    char *name;                           //  Source name (logs)
    char *template_text;                  //  Key template (segments point in)
    s_segment_t segments[S_SEGMENTS_MAX]; //  Compiled key template
    size_t nsegments;                     //  Parts in use
    int64_t precision;                    //  ns per timestamp unit
    size_t line_max;                      //  Longest line, newline included
    int listen_fd;                        //  TCP listener, or -1
    int udp_fd;                           //  UDP socket, or -1
    s_conn_t *conns;                      //  Connection slots
    size_t nconns;                        //  Slots
    size_t open_conns;                    //  Slots in use
    bool running;                         //  Not paused
    lw_lp_line_t *line;                   //  Parse result, reused
    char *scratch;                        //  Unescaping buffer, line_max
    char *datagram;                       //  UDP receive buffer
    uint32_t overflow;                    //  Last SO_RXQ_OVFL count seen
    int64_t now;                          //  Reception time of this read
    char key[LW_KEY_MAX + 2];             //  Key being built
    int c_reason[S_REASONS];              //  drop_lineproto_<reason>
    int c_strings;                        //  lineproto_strings
    int c_connections;                    //  lineproto_connections (gauge)
    uint64_t warnings;                    //  Bad input warned about
    uint64_t suppressed;                  //  ...and not logged since
    int64_t summary_time;                 //  Monotonic ns of last summary
};

//  --------------------------------------------------------------------------
//  Counter slot and name of a rejection reason

static int
s_reason_slot (int reason)
{
    return reason >= LW_LP_TOO_MANY && reason < 0 ? -reason - 1
                                                  : 8 + (-reason - 100);
}

static const char *
s_reason_name (int reason)
{
    switch (reason) {
    case S_TOO_LONG:
        return "too_long";
    case S_MISSING_TAG:
        return "missing_tag";
    case S_UDP_TRUNCATED:
        return "udp_truncated";
    case S_UDP_OVERFLOW:
        return "udp_overflow";
    case S_REFUSED:
        return "refused";
    default:
        return lw_lineproto_reason (reason);
    }
}

//  --------------------------------------------------------------------------
//  Counts a rejection and warns at a bounded rate (no payload logged)

static void
s_reject (s_lineproto_t *self, int reason, uint64_t count, const char *peer)
{
    lw_sink_count (self->sink, self->c_reason[s_reason_slot (reason)],
                   (int64_t)count);
    if (self->warnings < S_WARN_FIRST) {
        self->warnings++;
        zsys_warning ("ingest: source=%s rejected line reason=%s peer=%s",
                      self->name, s_reason_name (reason), peer);
        return;
    }
    self->suppressed += count;
    int64_t now = lw_time_mono ();
    if (now - self->summary_time >= S_WARN_PERIOD) {
        zsys_warning ("ingest: source=%s rejected lines=%llu last_reason=%s "
                      "(rate limited)",
                      self->name, (unsigned long long)self->suppressed,
                      s_reason_name (reason));
        self->suppressed = 0;
        self->summary_time = now;
    }
}

//  --------------------------------------------------------------------------
//  Appends text to the key being built; false when it would not fit

static inline bool
s_key_append (char *key, size_t *length, const char *text, size_t size)
{
    if (*length + size > LW_KEY_MAX)
        return false;
    memcpy (key + *length, text, size);
    *length += size;
    return true;
}

//  --------------------------------------------------------------------------
//  Parses one line and hands its readings to the sink

static void
s_take_line (s_lineproto_t *self, const char *text, size_t size,
             const char *peer)
{
    if (size >= self->line_max) {
        s_reject (self, S_TOO_LONG, 1, peer);
        return;
    }
    lw_lp_line_t *line = self->line;
    int rc = lw_lineproto_parse (text, size, self->precision, line,
                                 self->scratch, self->line_max);
    if (rc == LW_LP_SKIP)
        return;
    if (rc != LW_LP_OK) {
        s_reject (self, rc, 1, peer);
        return;
    }
    for (size_t index = 0; index < self->nsegments; index++) {
        s_segment_t *segment = &self->segments[index];
        if (segment->kind == S_TAG &&
            !lw_lineproto_tag (line, segment->text, segment->size,
                               &segment->value)) {
            s_reject (self, S_MISSING_TAG, 1, peer);
            return;
        }
    }
    int64_t time = line->has_time ? line->time : self->now++;
    for (size_t field_nbr = 0; field_nbr < line->nfields; field_nbr++) {
        lw_lp_field_t *field = &line->fields[field_nbr];
        if (field->type == LW_LP_STRING) {
            lw_sink_count (self->sink, self->c_strings, 1);
            continue;
        }
        size_t length = 0;
        bool fits = true;
        for (size_t index = 0; index < self->nsegments && fits; index++) {
            s_segment_t *segment = &self->segments[index];
            switch (segment->kind) {
            case S_LITERAL:
                fits = s_key_append (self->key, &length, segment->text,
                                     segment->size);
                break;
            case S_MEASUREMENT:
                fits = s_key_append (self->key, &length, line->measurement.data,
                                     line->measurement.size);
                break;
            case S_FIELD:
                fits = s_key_append (self->key, &length, field->key.data,
                                     field->key.size);
                break;
            case S_TAG:
                fits = s_key_append (self->key, &length, segment->value.data,
                                     segment->value.size);
                break;
            }
        }
        //  A key too long is a bad key: the sink counts "" as drop_bad_key
        self->key[fits ? length : 0] = 0;
        lw_sink_put_key (self->sink, self->key, time, field->value, 0);
    }
}

//  --------------------------------------------------------------------------
//  Takes the complete lines of a connection's buffer after `got` new
//  bytes; keeps a partial last line

static void
s_take_lines (s_lineproto_t *self, s_conn_t *conn, size_t got)
{
    char *buffer = conn->buffer;
    size_t end = conn->fill + got;
    size_t start = 0;
    size_t scan = conn->fill;
    while (scan < end) {
        char *newline = (char *)memchr (buffer + scan, '\n', end - scan);
        if (!newline)
            break;
        size_t pos = (size_t)(newline - buffer);
        if (conn->discarding)
            conn->discarding = false; //  The overlong line ends here
        else
            s_take_line (self, buffer + start, pos - start, conn->peer);
        start = pos + 1;
        scan = start;
    }
    size_t rest = end - start;
    if (conn->discarding)
        rest = 0; //  Still inside an overlong line
    else if (rest == self->line_max) {
        s_reject (self, S_TOO_LONG, 1, conn->peer);
        conn->discarding = true;
        rest = 0;
    }
    if (rest && start)
        memmove (buffer, buffer + start, rest);
    conn->fill = rest;
}

//  --------------------------------------------------------------------------
//  Registers or ends a poller for a raw fd

static void
s_poll (s_lineproto_t *self, int fd, bool on, zloop_fn *handler, void *arg)
{
    zmq_pollitem_t item = {NULL, fd, ZMQ_POLLIN, 0};
    if (on) {
        int rc = zloop_poller (self->loop, &item, handler, arg);
        assert (rc == 0);
        zloop_poller_set_tolerant (self->loop, &item);
    }
    else
        zloop_poller_end (self->loop, &item);
}

static int s_handle_conn (zloop_t *loop, zmq_pollitem_t *item, void *arg);

//  --------------------------------------------------------------------------
//  Closes a connection; its slot (and buffer) stays for the next peer

static void
s_conn_close (s_conn_t *conn, const char *why)
{
    s_lineproto_t *self = conn->source;
    if (conn->polling)
        s_poll (self, conn->fd, false, NULL, NULL);
    close (conn->fd);
    zsys_info ("ingest: source=%s closed peer=%s (%s)", self->name, conn->peer,
               why);
    conn->fd = -1;
    conn->polling = false;
    conn->fill = 0;
    conn->discarding = false;
    self->open_conns--;
    lw_sink_count (self->sink, self->c_connections, -1);
}

//  --------------------------------------------------------------------------
//  Poller: a TCP connection is readable

static int
s_handle_conn (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    s_conn_t *conn = (s_conn_t *)arg;
    s_lineproto_t *self = conn->source;
    if (conn->fd == -1 || item->fd != conn->fd || !self->running)
        return 0; //  Stale event of a closed or paused connection
    for (int read_nbr = 0; read_nbr < S_READS; read_nbr++) {
        ssize_t got = read (conn->fd, conn->buffer + conn->fill,
                            self->line_max - conn->fill);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                s_conn_close (conn, strerror (errno));
            break;
        }
        self->now = lw_time_now ();
        if (got == 0) {
            //  End of stream: a last line without its newline counts
            if (conn->fill && !conn->discarding)
                s_take_line (self, conn->buffer, conn->fill, conn->peer);
            s_conn_close (conn, "end of stream");
            break;
        }
        s_take_lines (self, conn, (size_t)got);
        if (!lw_sink_open (self->sink))
            break;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Poller: the TCP listener has connections to accept

static int
s_handle_accept (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    s_lineproto_t *self = (s_lineproto_t *)arg;
    if (!self->running)
        return 0;
    while (true) {
        struct sockaddr_storage address;
        socklen_t address_size = sizeof (address);
        int fd = accept4 (self->listen_fd, (struct sockaddr *)&address,
                          &address_size, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                zsys_error ("ingest: source=%s accept failed: %s", self->name,
                            strerror (errno));
            break;
        }
        char host[48] = "?", port[8] = "?";
        getnameinfo ((struct sockaddr *)&address, address_size, host,
                     sizeof (host), port, sizeof (port),
                     NI_NUMERICHOST | NI_NUMERICSERV);
        char peer[S_PEER_MAX];
        snprintf (peer, sizeof (peer), "%s:%s", host, port);
        s_conn_t *conn = NULL;
        for (size_t index = 0; index < self->nconns && !conn; index++)
            if (self->conns[index].fd == -1)
                conn = &self->conns[index];
        if (conn && !conn->buffer)
            conn->buffer = (char *)malloc (self->line_max);
        if (!conn || !conn->buffer) {
            close (fd);
            s_reject (self, S_REFUSED, 1, peer);
            continue;
        }
        conn->fd = fd;
        conn->fill = 0;
        conn->discarding = false;
        memcpy (conn->peer, peer, sizeof (peer));
        s_poll (self, fd, true, s_handle_conn, conn);
        conn->polling = true;
        self->open_conns++;
        lw_sink_count (self->sink, self->c_connections, 1);
        zsys_info ("ingest: source=%s accepted peer=%s", self->name, peer);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Poller: datagrams on the UDP socket

static int
s_handle_udp (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    s_lineproto_t *self = (s_lineproto_t *)arg;
    if (!self->running)
        return 0;
    for (int datagram_nbr = 0; datagram_nbr < S_DATAGRAMS; datagram_nbr++) {
        struct sockaddr_storage address;
        struct iovec iov = {self->datagram, S_UDP_MAX};
        char control[CMSG_SPACE (sizeof (uint32_t))];
        struct msghdr header = {.msg_name = &address,
                                .msg_namelen = sizeof (address),
                                .msg_iov = &iov,
                                .msg_iovlen = 1,
                                .msg_control = control,
                                .msg_controllen = sizeof (control)};
        ssize_t got = recvmsg (self->udp_fd, &header, MSG_DONTWAIT);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        self->now = lw_time_now ();
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR (&header); cmsg;
             cmsg = CMSG_NXTHDR (&header, cmsg))
            if (cmsg->cmsg_level == SOL_SOCKET &&
                cmsg->cmsg_type == SO_RXQ_OVFL) {
                uint32_t dropped;
                memcpy (&dropped, CMSG_DATA (cmsg), sizeof (dropped));
                if (dropped != self->overflow)
                    s_reject (self, S_UDP_OVERFLOW,
                              (uint32_t)(dropped - self->overflow), "udp");
                self->overflow = dropped;
            }
        if (header.msg_flags & MSG_TRUNC) {
            s_reject (self, S_UDP_TRUNCATED, 1, "udp");
            continue;
        }
        size_t start = 0, size = (size_t)got;
        while (start < size) {
            char *newline =
                (char *)memchr (self->datagram + start, '\n', size - start);
            size_t end = newline ? (size_t)(newline - self->datagram) : size;
            s_take_line (self, self->datagram + start, end - start, "udp");
            start = end + 1;
        }
        if (!lw_sink_open (self->sink))
            break;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Opens a listening socket on "host:port" ("[v6]:port"; host "*" = all
//  interfaces). Returns the fd, or -1 (logged).

static int
s_listen (const char *name, const char *spec, int type)
{
    char host[256];
    const char *colon = strrchr (spec, ':');
    size_t host_size = colon ? (size_t)(colon - spec) : 0;
    if (!colon || host_size >= sizeof (host) || !colon[1]) {
        zsys_error ("config: source %s: '%s' is not host:port", name, spec);
        return -1;
    }
    memcpy (host, spec, host_size);
    host[host_size] = 0;
    if (host_size >= 2 && host[0] == '[' && host[host_size - 1] == ']') {
        memmove (host, host + 1, host_size - 2);
        host[host_size - 2] = 0;
    }
    long port;
    if (lw_parse_long (colon + 1, 1, 65535, &port)) {
        zsys_error ("config: source %s: bad port in '%s'", name, spec);
        return -1;
    }
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_family = AF_UNSPEC,
                             .ai_socktype = type};
    struct addrinfo *found = NULL;
    bool any = streq (host, "*") || streq (host, "");
    int rc = getaddrinfo (any ? NULL : host, colon + 1, &hints, &found);
    if (rc != 0 || !found) {
        zsys_error ("config: source %s: cannot resolve '%s': %s", name, spec,
                    gai_strerror (rc));
        return -1;
    }
    int fd = socket (found->ai_family,
                     found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd != -1 && type == SOCK_STREAM)
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof (on));
    if (fd != -1 && type == SOCK_DGRAM) {
        int size = 4 * 1024 * 1024; //  Best effort: rmem_max may cap it
        setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof (size));
        setsockopt (fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof (on));
    }
    if (fd == -1 || bind (fd, found->ai_addr, found->ai_addrlen) == -1 ||
        (type == SOCK_STREAM && listen (fd, 128) == -1)) {
        zsys_error ("ingest: source=%s cannot listen on %s %s: %s", name,
                    type == SOCK_STREAM ? "tcp" : "udp", spec,
                    strerror (errno));
        if (fd != -1)
            close (fd);
        fd = -1;
    }
    freeaddrinfo (found);
    return fd;
}

//  --------------------------------------------------------------------------
//  Compiles the key template; -1 (logged) if bad

static int
s_compile (s_lineproto_t *self, const char *path)
{
    const char *text = self->template_text;
    bool has_field = false;
    while (*text) {
        if (self->nsegments == S_SEGMENTS_MAX) {
            zsys_error ("config: %s/key has more than %d parts", path,
                        S_SEGMENTS_MAX);
            return -1;
        }
        s_segment_t *segment = &self->segments[self->nsegments++];
        if (*text != '{') {
            const char *open = strchr (text, '{');
            segment->kind = S_LITERAL;
            segment->text = text;
            segment->size = open ? (size_t)(open - text) : strlen (text);
            text += segment->size;
            continue;
        }
        const char *close = strchr (text, '}');
        if (!close) {
            zsys_error ("config: %s/key: unclosed '{'", path);
            return -1;
        }
        size_t size = (size_t)(close - text) + 1;
        if (size == 13 && memcmp (text, "{measurement}", size) == 0)
            segment->kind = S_MEASUREMENT;
        else if (size == 7 && memcmp (text, "{field}", size) == 0) {
            segment->kind = S_FIELD;
            has_field = true;
        }
        else if (size > 6 && memcmp (text, "{tag:", 5) == 0) {
            segment->kind = S_TAG;
            segment->text = text + 5;
            segment->size = size - 6;
        }
        else {
            zsys_error ("config: %s/key: unknown placeholder '%.*s' "
                        "(use {measurement}, {field}, {tag:NAME})",
                        path, (int)(size > 64 ? 64 : size), text);
            return -1;
        }
        text = close + 1;
    }
    if (!has_field) {
        //  Without {field} every field of a line would get the same key
        zsys_error ("config: %s/key must contain {field}", path);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Destroys the source state

static void
s_destroy (void **state_p)
{
    s_lineproto_t *self = (s_lineproto_t *)*state_p;
    if (self) {
        for (size_t index = 0; self->conns && index < self->nconns; index++) {
            s_conn_t *conn = &self->conns[index];
            if (conn->fd != -1) {
                if (conn->polling)
                    s_poll (self, conn->fd, false, NULL, NULL);
                close (conn->fd);
            }
            free (conn->buffer);
        }
        if (self->listen_fd != -1) {
            s_poll (self, self->listen_fd, false, NULL, NULL);
            close (self->listen_fd);
        }
        if (self->udp_fd != -1) {
            s_poll (self, self->udp_fd, false, NULL, NULL);
            close (self->udp_fd);
        }
        free (self->conns);
        free (self->line);
        free (self->scratch);
        free (self->datagram);
        free (self->template_text);
        free (self->name);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Validates the config and opens the sockets; NULL (logged) if bad

static void *
s_create (const lw_source_env_t *env)
{
    const char *tcp, *udp, *template_text;
    long line_max, connections;
    int precision;
    static const char *precisions[] = {"ns", "us", "ms", "s", NULL};
    static const int64_t units[] = {1, 1000, LW_NS_PER_MS, LW_NS_PER_SEC};
    char path[S_PATH_MAX];
    snprintf (path, sizeof (path), "%s/tcp", env->path);
    int rc = lw_cfg_string (env->config, path, "127.0.0.1:8094", 255, &tcp);
    snprintf (path, sizeof (path), "%s/udp", env->path);
    rc |= lw_cfg_string (env->config, path, "", 255, &udp);
    snprintf (path, sizeof (path), "%s/precision", env->path);
    rc |= lw_cfg_choice (env->config, path, "ns", precisions, &precision);
    snprintf (path, sizeof (path), "%s/key", env->path);
    rc |= lw_cfg_string (env->config, path, "{tag:host}/{measurement}_{field}",
                         LW_KEY_MAX, &template_text);
    snprintf (path, sizeof (path), "%s/line_max", env->path);
    rc |= lw_cfg_int (env->config, path, 65536, 256, 1048576, &line_max);
    snprintf (path, sizeof (path), "%s/connections", env->path);
    rc |= lw_cfg_int (env->config, path, 64, 1, 4096, &connections);
    if (rc)
        return NULL;
    if (!*tcp && !*udp) {
        zsys_error ("config: %s: set tcp and/or udp (host:port)", env->path);
        return NULL;
    }
    s_lineproto_t *self = (s_lineproto_t *)zmalloc (sizeof (s_lineproto_t));
    if (!self)
        return NULL;
    self->loop = env->loop;
    self->sink = env->sink;
    self->listen_fd = -1;
    self->udp_fd = -1;
    self->precision = units[precision];
    self->line_max = (size_t)line_max;
    self->nconns = (size_t)connections;
    self->name = strdup (env->name);
    self->template_text = strdup (template_text);
    self->conns = (s_conn_t *)calloc (self->nconns, sizeof (s_conn_t));
    self->line = (lw_lp_line_t *)malloc (sizeof (lw_lp_line_t));
    self->scratch = (char *)malloc (self->line_max);
    self->datagram = *udp ? (char *)malloc (S_UDP_MAX) : NULL;
    if (!self->name || !self->template_text || !self->conns || !self->line ||
        !self->scratch || (*udp && !self->datagram)) {
        s_destroy ((void **)&self);
        return NULL;
    }
    for (size_t index = 0; index < self->nconns; index++) {
        self->conns[index].source = self;
        self->conns[index].fd = -1;
    }
    snprintf (path, sizeof (path), "%s/key", env->path);
    if (s_compile (self, path)) {
        s_destroy ((void **)&self);
        return NULL;
    }
    static const int reasons[S_REASONS] = {-1,
                                           -2,
                                           -3,
                                           -4,
                                           -5,
                                           -6,
                                           -7,
                                           -8,
                                           S_TOO_LONG,
                                           S_MISSING_TAG,
                                           S_UDP_TRUNCATED,
                                           S_UDP_OVERFLOW,
                                           S_REFUSED,
                                           0};
    for (size_t index = 0; index < S_REASONS; index++) {
        if (reasons[index] == 0) {
            self->c_reason[index] = -1;
            continue;
        }
        char name[LW_STAT_NAME_MAX + 1];
        snprintf (name, sizeof (name), "drop_lineproto_%s",
                  s_reason_name (reasons[index]));
        assert (s_reason_slot (reasons[index]) == (int)index);
        self->c_reason[index] = lw_sink_counter (self->sink, name);
    }
    self->c_strings = lw_sink_counter (self->sink, "lineproto_strings");
    self->c_connections = lw_sink_counter (self->sink, "lineproto_connections");
    if (*tcp) {
        self->listen_fd = s_listen (env->name, tcp, SOCK_STREAM);
        if (self->listen_fd == -1) {
            s_destroy ((void **)&self);
            return NULL;
        }
    }
    if (*udp) {
        self->udp_fd = s_listen (env->name, udp, SOCK_DGRAM);
        if (self->udp_fd == -1) {
            s_destroy ((void **)&self);
            return NULL;
        }
    }
    zsys_info ("ingest: source=%s type=lineproto tcp=%s udp=%s precision=%s "
               "key=%s line_max=%ld connections=%ld",
               env->name, *tcp ? tcp : "-", *udp ? udp : "-",
               precisions[precision], template_text, line_max, connections);
    return self;
}

//  --------------------------------------------------------------------------
//  Born paused: nothing to register yet

static int
s_start (void *state)
{
    (void)state;
    return 0;
}

//  --------------------------------------------------------------------------
//  Stops reading every socket (TCP peers block on their send buffers)

static void
s_pause (void *state)
{
    s_lineproto_t *self = (s_lineproto_t *)state;
    self->running = false;
    if (self->listen_fd != -1)
        s_poll (self, self->listen_fd, false, NULL, NULL);
    if (self->udp_fd != -1)
        s_poll (self, self->udp_fd, false, NULL, NULL);
    for (size_t index = 0; index < self->nconns; index++) {
        s_conn_t *conn = &self->conns[index];
        if (conn->polling) {
            s_poll (self, conn->fd, false, NULL, NULL);
            conn->polling = false;
        }
    }
}

//  --------------------------------------------------------------------------
//  Reads again

static void
s_resume (void *state)
{
    s_lineproto_t *self = (s_lineproto_t *)state;
    self->running = true;
    if (self->listen_fd != -1)
        s_poll (self, self->listen_fd, true, s_handle_accept, self);
    if (self->udp_fd != -1)
        s_poll (self, self->udp_fd, true, s_handle_udp, self);
    for (size_t index = 0; index < self->nconns; index++) {
        s_conn_t *conn = &self->conns[index];
        if (conn->fd != -1 && !conn->polling) {
            s_poll (self, conn->fd, true, s_handle_conn, conn);
            conn->polling = true;
        }
    }
}

const lw_source_ops_t lw_source_lineproto = {.type = "lineproto",
                                             .create = s_create,
                                             .destroy = s_destroy,
                                             .start = s_start,
                                             .pause = s_pause,
                                             .resume = s_resume,
                                             .done = NULL};
