/*  =========================================================================
    lw_source_mqtt.c - the MQTT source (libmosquitto on the ingest zloop)

    Copyright (c) the linewatch authors. MIT license.

    Config (ingest/source/<name>): type = mqtt, host, port, client_id
    (empty: linewatch-<name>-<random>), topics (topic filters separated by
    blanks; quote a value holding '#', which ZPL reads as a comment),
    qos (0 | 1), clean_session, map (topic levels -> key, see
    lw_mqtt_payload.h: plant/{machine}/{sensor}), payload (number | json
    | fields), value_field, time_field, time_unit (auto | s | ms | us |
    ns), payload_max (bytes), keepalive (s), username, password, cafile,
    certfile, keyfile (TLS when cafile is set), reconnect_min and
    reconnect_max (ms, the backoff of reconnection attempts).

    One thread: the client's socket is a zloop poller and we drive
    libmosquitto with mosquitto_loop_read / _write / _misc, so a message
    goes from the socket to lw_sink_put in the actor's thread with no
    hand-off, no copy and no allocation of ours (libmosquitto itself
    allocates each message). A burst of reads ends when the socket would
    block (errno EAGAIN after the read) or the sink closes.
    libmosquitto's own reconnect (mosquitto_reconnect_delay_set) only
    works inside its loop_forever/loop_start, so the backoff is a zloop
    timer here: reconnect_min doubling up to reconnect_max, reset by a
    successful CONNACK. Connecting is non-blocking (connect_async): the
    socket is polled for writing until the TCP connect is done, and then
    checked (SO_ERROR, getpeername), because libmosquitto 2.0 notices a
    failed asynchronous connect of a TLS client only inside its own
    mosquitto_loop; a failed socket waits for the next retry, whose
    reconnect replaces it. A host name is resolved with a blocking
    lookup: configure an address.

    Every message is counted: mqtt_messages; readings go to the sink (its
    cleaning counts in/drop_*); a topic the map does not match is
    drop_mqtt_topic; a payload that does not decode (or is longer than
    payload_max) is drop_mqtt_payload, with the reason in the rate-limited
    log. fields payloads count skipped members in mqtt_fields_ignored.
    State for `lwctl status`: mqtt_connected (gauge, connected MQTT
    sources), mqtt_disconnects, mqtt_reconnects (successful connections
    after the first).

    Pause stops reading the socket (TCP pushes back to the broker); what
    was read is handed over whole. Keepalive pings are not answered while
    paused, so a pause longer than 1.5 x keepalive drops the connection
    (and QoS 0 messages the broker held for us); QoS 1 with
    clean_session = 0 gets them again.
    =========================================================================
*/

#include <czmq.h>
#include <dlfcn.h>
#include <errno.h>
#include <mosquitto.h>
#include <sys/socket.h>

#include "lw_mqtt_payload.h"
#include "lw_msg.h"
#include "lw_source.h"
#include "lw_util.h"

#define S_PATH_MAX 320  //  Longest config key path we build
#define S_TOPICS_MAX 32 //  Most topic filters
#define S_BURST 256     //  Messages read per handler call
#define S_MISC_MS 1000  //  Keepalive timer
#define S_WARN_FIRST 10 //  Warnings logged before rate limiting
#define S_WARN_PERIOD (60 * LW_NS_PER_SEC)

typedef struct {
    zloop_t *loop;                    //  The actor's loop
    lw_sink_t *sink;                  //  Where readings go
    char *name;                       //  Source name (logs)
    struct mosquitto *mosq;           //  The client
    char *host;                       //  Broker address
    long port;                        //  Broker port
    long keepalive;                   //  Seconds
    int qos;                          //  Subscription QoS
    char *topics_text;                //  Topic filters, split in place
    char *topics[S_TOPICS_MAX];       //  Topic filters (into topics_text)
    int ntopics;                      //  How many
    char *map_text;                   //  Map pattern (map points in)
    lw_mqtt_map_t map;                //  Compiled topic map
    char *value_field;                //  JSON value member
    char *time_field;                 //  JSON time member
    lw_mqtt_payload_config_t payload; //  Decoder settings
    size_t payload_max;               //  Longest payload taken
    int fd;                           //  Socket in the loop, or -1
    int events;                       //  Its registered poll events
    bool running;                     //  Not paused
    bool started;                     //  Connecting began
    bool connected;                   //  CONNACK accepted, not lost
    bool connecting;                  //  TCP connect in progress
    bool dead;                        //  That connect failed: retry
    bool tls;                         //  TLS is configured
    bool ever_connected;              //  Connected at least once
    int retry_timer;                  //  Reconnect timer, or -1
    int misc_timer;                   //  Keepalive timer, or -1
    long delay_min;                   //  Backoff bounds, ms
    long delay_max;
    long delay;                //  Next backoff, ms
    int64_t last_time;         //  Last reception time handed out
    lw_mqtt_decoded_t decoded; //  Decoding result, reused
    char key[LW_KEY_MAX + 2];  //  Key being built
    int c_connected;           //  mqtt_connected (gauge)
    int c_reconnects;          //  mqtt_reconnects
    int c_disconnects;         //  mqtt_disconnects
    int c_messages;            //  mqtt_messages
    int c_ignored;             //  mqtt_fields_ignored
    int c_payload;             //  drop_mqtt_payload
    int c_topic;               //  drop_mqtt_topic
    uint64_t warnings;         //  Bad messages warned about
    uint64_t suppressed;       //  ...and not logged since
    int64_t summary_time;      //  Monotonic ns of last summary
} s_mqtt_t;

//  --------------------------------------------------------------------------
//  Counts a bad message and warns at a bounded rate (no payload logged)

static void
s_reject (s_mqtt_t *self, int counter, const char *reason, const char *topic)
{
    lw_sink_count (self->sink, counter, 1);
    if (self->warnings < S_WARN_FIRST) {
        self->warnings++;
        zsys_warning ("ingest: source=%s dropped message reason=%s "
                      "topic='%.64s'",
                      self->name, reason, topic);
        return;
    }
    self->suppressed++;
    int64_t now = lw_time_mono ();
    if (now - self->summary_time >= S_WARN_PERIOD) {
        zsys_warning ("ingest: source=%s dropped messages=%llu "
                      "last_reason=%s (rate limited)",
                      self->name, (unsigned long long)self->suppressed, reason);
        self->suppressed = 0;
        self->summary_time = now;
    }
}

//  --------------------------------------------------------------------------
//  Callback: a message arrived. Decodes it and hands its readings over.

static void
s_on_message (struct mosquitto *mosq, void *arg,
              const struct mosquitto_message *message)
{
    (void)mosq;
    s_mqtt_t *self = (s_mqtt_t *)arg;
    lw_sink_count (self->sink, self->c_messages, 1);
    const char *topic = message->topic ? message->topic : "";
    int length = lw_mqtt_map_key (&self->map, topic, strlen (topic), self->key,
                                  sizeof (self->key));
    if (length < 0) {
        s_reject (self, self->c_topic, "topic", topic);
        return;
    }
    if (message->payloadlen < 0 ||
        (size_t)message->payloadlen > self->payload_max) {
        s_reject (self, self->c_payload, "too_big", topic);
        return;
    }
    lw_mqtt_decoded_t *decoded = &self->decoded;
    int rc = lw_mqtt_payload_decode (&self->payload, message->payload,
                                     (size_t)message->payloadlen, decoded);
    if (rc != LW_MQTT_OK) {
        s_reject (self, self->c_payload, lw_mqtt_payload_reason (rc), topic);
        return;
    }
    int64_t time = decoded->time;
    if (!decoded->has_time) {
        //  Reception time, strictly increasing so that two messages of
        //  one sensor never share a timestamp (a duplicate)
        time = lw_time_now ();
        if (time <= self->last_time)
            time = self->last_time + 1;
        self->last_time = time;
    }
    if (decoded->ignored)
        lw_sink_count (self->sink, self->c_ignored, (int64_t)decoded->ignored);
    if (self->map.has_sensor) {
        lw_sink_put_key (self->sink, self->key, time, decoded->values[0].value,
                         0);
        return;
    }
    for (size_t index = 0; index < decoded->count; index++) {
        const char *name = decoded->values[index].name;
        size_t size = strlen (name);
        //  Too long a key is a bad key: the sink counts "" as drop_bad_key
        bool fits = (size_t)length + size <= LW_KEY_MAX;
        if (fits)
            memcpy (self->key + length, name, size + 1);
        lw_sink_put_key (self->sink, fits ? self->key : "", time,
                         decoded->values[index].value, 0);
    }
}

//  --------------------------------------------------------------------------
//  Callback: CONNACK. Subscribes on success.

static void
s_on_connect (struct mosquitto *mosq, void *arg, int rc)
{
    s_mqtt_t *self = (s_mqtt_t *)arg;
    if (rc != 0) {
        zsys_warning ("ingest: source=%s broker refused connection: %s",
                      self->name, mosquitto_connack_string (rc));
        return; //  libmosquitto closes the socket; we retry with backoff
    }
    self->connected = true;
    self->delay = self->delay_min;
    lw_sink_count (self->sink, self->c_connected, 1);
    if (self->ever_connected)
        lw_sink_count (self->sink, self->c_reconnects, 1);
    self->ever_connected = true;
    rc = mosquitto_subscribe_multiple (mosq, NULL, self->ntopics, self->topics,
                                       self->qos, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        zsys_error ("ingest: source=%s cannot subscribe: %s", self->name,
                    mosquitto_strerror (rc));
    zsys_info ("ingest: source=%s connected to %s:%ld, subscribed topics=%d",
               self->name, self->host, self->port, self->ntopics);
}

//  --------------------------------------------------------------------------
//  Marks the connection lost (once)

static void
s_lost (s_mqtt_t *self, int rc)
{
    if (!self->connected)
        return;
    self->connected = false;
    lw_sink_count (self->sink, self->c_connected, -1);
    lw_sink_count (self->sink, self->c_disconnects, 1);
    zsys_warning ("ingest: source=%s lost broker %s:%ld: %s", self->name,
                  self->host, self->port,
                  rc ? mosquitto_strerror (rc) : "closed");
}

//  --------------------------------------------------------------------------
//  Callback: the connection ended

static void
s_on_disconnect (struct mosquitto *mosq, void *arg, int rc)
{
    (void)mosq;
    s_lost ((s_mqtt_t *)arg, rc);
}

static int s_handle_socket (zloop_t *loop, zmq_pollitem_t *item, void *arg);
static int s_handle_retry (zloop_t *loop, int timer_id, void *arg);

//  --------------------------------------------------------------------------
//  Follows libmosquitto's socket: (re)registers the poller for the events
//  it needs now, and schedules a reconnection when there is no socket

static void
s_sync (s_mqtt_t *self)
{
    int fd = self->dead ? -1 : mosquitto_socket (self->mosq);
    if (fd == -1)
        s_lost (self, 0);
    int events = 0;
    if (fd != -1) {
        if (self->running)
            events |= ZMQ_POLLIN;
        //  A non-blocking connect completes when the socket is writable,
        //  and only loop_write finishes it (then starts TLS): a TLS
        //  client has nothing queued yet, so want_write alone would
        //  never ask for that event
        if (self->connecting || mosquitto_want_write (self->mosq))
            events |= ZMQ_POLLOUT;
    }
    if (fd != self->fd || events != self->events) {
        if (self->fd != -1 && self->events) {
            zmq_pollitem_t item = {NULL, self->fd, 0, 0};
            zloop_poller_end (self->loop, &item);
        }
        if (fd != -1 && events) {
            zmq_pollitem_t item = {NULL, fd, (short)events, 0};
            int rc = zloop_poller (self->loop, &item, s_handle_socket, self);
            assert (rc == 0);
            zloop_poller_set_tolerant (self->loop, &item);
        }
        self->fd = fd;
        self->events = events;
    }
    if (fd == -1 && self->started && self->retry_timer == -1) {
        self->retry_timer = zloop_timer (self->loop, (size_t)self->delay, 1,
                                         s_handle_retry, self);
        assert (self->retry_timer != -1);
        self->delay = self->delay * 2 > self->delay_max ? self->delay_max
                                                        : self->delay * 2;
    }
}

//  --------------------------------------------------------------------------
//  Poller: the client socket is readable or writable

static int
s_handle_socket (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    s_mqtt_t *self = (s_mqtt_t *)arg;
    if (item->fd != self->fd)
        return 0; //  Stale event of a closed socket
    //  An error is read even while paused: the read notices the loss and
    //  closes the socket, which would otherwise poll as ready forever
    if (!self->connecting &&
        ((item->revents & ZMQ_POLLERR) ||
         ((item->revents & ZMQ_POLLIN) && self->running))) {
        for (int read_nbr = 0; read_nbr < S_BURST; read_nbr++) {
            //  One packet per call (QoS 0); errno tells when the socket
            //  has no more: a false stop only costs one more poll
            errno = 0;
            int rc = mosquitto_loop_read (self->mosq, 1);
            if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket (self->mosq) == -1)
                break;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (!lw_sink_open (self->sink))
                break;
        }
    }
    if (self->connecting && (item->revents & (ZMQ_POLLOUT | ZMQ_POLLERR))) {
        //  Connected or failed. libmosquitto 2.0 only notices a failed
        //  asynchronous connect of a TLS client inside its own
        //  mosquitto_loop, so we ask the socket: on failure the socket is
        //  left alone (no events) and the retry's reconnect replaces it
        self->connecting = false;
        int error = 0;
        socklen_t size = sizeof (error);
        struct sockaddr_storage peer;
        socklen_t peer_size = sizeof (peer);
        if (getsockopt (item->fd, SOL_SOCKET, SO_ERROR, &error, &size) ||
            error ||
            getpeername (item->fd, (struct sockaddr *)&peer, &peer_size)) {
            error = error ? error : errno;
            self->dead = true;
            zsys_debug ("ingest: source=%s connect failed: %s", self->name,
                        strerror (error));
        }
        else {
            mosquitto_loop_write (self->mosq, 1);
            if (mosquitto_socket (self->mosq) != -1)
                mosquitto_loop_read (self->mosq, 1);
        }
    }
    else if ((item->revents & ZMQ_POLLOUT) &&
             mosquitto_socket (self->mosq) != -1)
        mosquitto_loop_write (self->mosq, 1);
    s_sync (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Timer: a reconnection attempt

static int
s_handle_retry (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    s_mqtt_t *self = (s_mqtt_t *)arg;
    if (timer_id != self->retry_timer)
        return 0;
    self->retry_timer = -1;
    int rc = mosquitto_reconnect_async (self->mosq);
    self->connecting = rc == MOSQ_ERR_SUCCESS;
    self->dead = false;
    if (rc != MOSQ_ERR_SUCCESS)
        zsys_debug ("ingest: source=%s reconnect failed: %s", self->name,
                    rc == MOSQ_ERR_ERRNO ? strerror (errno)
                                         : mosquitto_strerror (rc));
    s_sync (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Timer: keepalive pings and pending writes

static int
s_handle_misc (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_mqtt_t *self = (s_mqtt_t *)arg;
    if (mosquitto_socket (self->mosq) != -1) {
        mosquitto_loop_misc (self->mosq);
        if (mosquitto_socket (self->mosq) != -1 &&
            mosquitto_want_write (self->mosq))
            mosquitto_loop_write (self->mosq, 1);
    }
    s_sync (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Frees OpenSSL's state of this thread (its per-thread random generators
//  and error queue, made when a TLS client connects). OpenSSL frees it
//  when the thread exits, unless the process's exit (OPENSSL_cleanup at
//  exit) wins that race: then LeakSanitizer reports it. libcrypto is
//  loaded by libmosquitto, so it is looked up rather than linked (no
//  build dependency); a no-op without it.

static void
s_openssl_thread_stop (void)
{
    void *symbol = dlsym (RTLD_DEFAULT, "OPENSSL_thread_stop");
    if (symbol) {
        void (*thread_stop) (void);
        memcpy (&thread_stop, &symbol, sizeof (thread_stop));
        thread_stop ();
    }
}

//  --------------------------------------------------------------------------
//  Destroys the source state

static void
s_destroy (void **state_p)
{
    s_mqtt_t *self = (s_mqtt_t *)*state_p;
    if (self) {
        if (self->fd != -1 && self->events) {
            zmq_pollitem_t item = {NULL, self->fd, 0, 0};
            zloop_poller_end (self->loop, &item);
        }
        if (self->retry_timer != -1)
            zloop_timer_end (self->loop, self->retry_timer);
        if (self->misc_timer != -1)
            zloop_timer_end (self->loop, self->misc_timer);
        if (self->connected)
            lw_sink_count (self->sink, self->c_connected, -1);
        if (self->mosq) {
            mosquitto_destroy (self->mosq);
            s_openssl_thread_stop ();
            mosquitto_lib_cleanup ();
        }
        free (self->topics_text);
        free (self->map_text);
        free (self->value_field);
        free (self->time_field);
        free (self->host);
        free (self->name);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Resolves a file path under the home unless absolute; NULL if empty

static char *
s_file (const lw_source_env_t *env, const char *file)
{
    if (!*file)
        return NULL;
    return *file == '/' ? strdup (file)
                        : zsys_sprintf ("%s/%s", env->node->home, file);
}

//  --------------------------------------------------------------------------
//  Sets up TLS and credentials; 0 or -1 (logged)

static int
s_security (s_mqtt_t *self, const lw_source_env_t *env)
{
    const char *username, *password, *cafile, *certfile, *keyfile;
    char path[S_PATH_MAX];
    snprintf (path, sizeof (path), "%s/username", env->path);
    int rc = lw_cfg_string (env->config, path, "", 255, &username);
    snprintf (path, sizeof (path), "%s/password", env->path);
    rc |= lw_cfg_string (env->config, path, "", 255, &password);
    snprintf (path, sizeof (path), "%s/cafile", env->path);
    rc |= lw_cfg_string (env->config, path, "", LW_PATH_MAX - 1, &cafile);
    snprintf (path, sizeof (path), "%s/certfile", env->path);
    rc |= lw_cfg_string (env->config, path, "", LW_PATH_MAX - 1, &certfile);
    snprintf (path, sizeof (path), "%s/keyfile", env->path);
    rc |= lw_cfg_string (env->config, path, "", LW_PATH_MAX - 1, &keyfile);
    if (rc)
        return -1;
    if (*username && mosquitto_username_pw_set (self->mosq, username,
                                                *password ? password : NULL) !=
                         MOSQ_ERR_SUCCESS) {
        zsys_error ("config: %s/username is not valid", env->path);
        return -1;
    }
    if ((*certfile != 0) != (*keyfile != 0) || (*certfile && !*cafile)) {
        zsys_error ("config: %s: certfile and keyfile go together, with "
                    "cafile",
                    env->path);
        return -1;
    }
    if (!*cafile)
        return 0;
    char *ca = s_file (env, cafile);
    char *cert = s_file (env, certfile);
    char *key = s_file (env, keyfile);
    rc = mosquitto_tls_set (self->mosq, ca, NULL, cert, key, NULL);
    self->tls = rc == MOSQ_ERR_SUCCESS;
    if (rc != MOSQ_ERR_SUCCESS)
        zsys_error ("config: %s: TLS files not usable (cafile=%s): %s",
                    env->path, ca ? ca : "", mosquitto_strerror (rc));
    free (ca);
    free (cert);
    free (key);
    return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Validates the config and creates the client; NULL (logged) if bad

static void *
s_create (const lw_source_env_t *env)
{
    const char *host, *client_id, *topics, *map, *value_field, *time_field;
    long port, keepalive, qos, payload_max, delay_min, delay_max;
    bool clean;
    int format, unit;
    static const char *formats[] = {"number", "json", "fields", NULL};
    static const char *units[] = {"auto", "s", "ms", "us", "ns", NULL};
    static const int64_t unit_ns[] = {0, LW_NS_PER_SEC, LW_NS_PER_MS, 1000, 1};
    char path[S_PATH_MAX];
#define S_KEY(name)                                                            \
    (snprintf (path, sizeof (path), "%s/" name, env->path), path)
    int rc =
        lw_cfg_string (env->config, S_KEY ("host"), "127.0.0.1", 255, &host);
    rc |= lw_cfg_int (env->config, S_KEY ("port"), 1883, 1, 65535, &port);
    rc |= lw_cfg_string (env->config, S_KEY ("client_id"), "", 23, &client_id);
    rc |= lw_cfg_string (env->config, S_KEY ("topics"), "", 4095, &topics);
    rc |= lw_cfg_int (env->config, S_KEY ("qos"), 0, 0, 1, &qos);
    rc |= lw_cfg_bool (env->config, S_KEY ("clean_session"), true, &clean);
    rc |= lw_cfg_string (env->config, S_KEY ("map"), "{machine}/{sensor}", 1023,
                         &map);
    rc |= lw_cfg_choice (env->config, S_KEY ("payload"), "number", formats,
                         &format);
    rc |= lw_cfg_string (env->config, S_KEY ("value_field"), "value",
                         LW_MQTT_NAME_MAX, &value_field);
    rc |= lw_cfg_string (env->config, S_KEY ("time_field"), "ts",
                         LW_MQTT_NAME_MAX, &time_field);
    rc |=
        lw_cfg_choice (env->config, S_KEY ("time_unit"), "auto", units, &unit);
    rc |= lw_cfg_int (env->config, S_KEY ("payload_max"), 65536, 1,
                      LW_MAX_FRAME_SIZE, &payload_max);
    rc |=
        lw_cfg_int (env->config, S_KEY ("keepalive"), 30, 5, 3600, &keepalive);
    rc |= lw_cfg_int (env->config, S_KEY ("reconnect_min"), 100, 10, 60000,
                      &delay_min);
    rc |= lw_cfg_int (env->config, S_KEY ("reconnect_max"), 10000, 10, 600000,
                      &delay_max);
#undef S_KEY
    if (rc)
        return NULL;
    if (delay_max < delay_min) {
        zsys_error ("config: %s: reconnect_max < reconnect_min", env->path);
        return NULL;
    }
    if (!clean && !*client_id) {
        zsys_error ("config: %s: clean_session = 0 needs a fixed client_id",
                    env->path);
        return NULL;
    }
    s_mqtt_t *self = (s_mqtt_t *)zmalloc (sizeof (s_mqtt_t));
    if (!self)
        return NULL;
    self->loop = env->loop;
    self->sink = env->sink;
    self->fd = -1;
    self->retry_timer = -1;
    self->misc_timer = -1;
    self->port = port;
    self->keepalive = keepalive;
    self->qos = (int)qos;
    self->payload_max = (size_t)payload_max;
    self->delay_min = delay_min;
    self->delay_max = delay_max;
    self->delay = delay_min;
    self->name = strdup (env->name);
    self->host = strdup (host);
    self->topics_text = strdup (topics);
    self->map_text = strdup (map);
    self->value_field = strdup (value_field);
    self->time_field = strdup (time_field);
    if (!self->name || !self->host || !self->topics_text || !self->map_text ||
        !self->value_field || !self->time_field)
        goto failed;
    self->payload.format = (lw_mqtt_format_t)format;
    self->payload.value_field = self->value_field;
    self->payload.time_field = self->time_field;
    self->payload.time_unit = unit_ns[unit];

    if (lw_mqtt_map_compile (&self->map, self->map_text)) {
        zsys_error ("config: %s/map='%.64s' is not a topic map (levels: "
                    "text, +, #, {machine} at least once, {sensor} at most "
                    "once)",
                    env->path, map);
        goto failed;
    }
    if (self->map.has_sensor == (format == LW_MQTT_FIELDS)) {
        zsys_error ("config: %s: payload=%s %s {sensor} in the map", env->path,
                    formats[format],
                    format == LW_MQTT_FIELDS ? "takes sensor names from the "
                                               "payload: no"
                                             : "needs");
        goto failed;
    }
    for (char *save = NULL,
              *topic = strtok_r (self->topics_text, " \t,", &save);
         topic; topic = strtok_r (NULL, " \t,", &save)) {
        if (self->ntopics == S_TOPICS_MAX ||
            mosquitto_sub_topic_check (topic) != MOSQ_ERR_SUCCESS) {
            zsys_error ("config: %s/topics: '%.64s' is not a topic filter "
                        "(or more than %d)",
                        env->path, topic, S_TOPICS_MAX);
            goto failed;
        }
        if (topic[strlen (topic) - 1] == '/') {
            //  ZPL reads an unquoted '#' as a comment: plant/# -> plant/
            zsys_error ("config: %s/topics: '%.64s' ends with '/' (quote "
                        "the value when a filter has '#')",
                        env->path, topic);
            goto failed;
        }
        self->topics[self->ntopics++] = topic;
    }
    if (self->ntopics == 0) {
        zsys_error ("config: %s/topics is required for an mqtt source",
                    env->path);
        goto failed;
    }

    mosquitto_lib_init ();
    char id[64];
    if (*client_id)
        snprintf (id, sizeof (id), "%s", client_id);
    else
        snprintf (id, sizeof (id), "lw-%.10s-%08x", env->name,
                  (unsigned)(lw_random_id () & 0xffffffffu));
    self->mosq = mosquitto_new (id, clean, self);
    if (!self->mosq) {
        mosquitto_lib_cleanup ();
        zsys_error ("ingest: source=%s cannot create MQTT client: %s",
                    env->name, strerror (errno));
        goto failed;
    }
    if (s_security (self, env))
        goto failed;
    mosquitto_connect_callback_set (self->mosq, s_on_connect);
    mosquitto_disconnect_callback_set (self->mosq, s_on_disconnect);
    mosquitto_message_callback_set (self->mosq, s_on_message);

    self->c_connected = lw_sink_counter (self->sink, "mqtt_connected");
    self->c_reconnects = lw_sink_counter (self->sink, "mqtt_reconnects");
    self->c_disconnects = lw_sink_counter (self->sink, "mqtt_disconnects");
    self->c_messages = lw_sink_counter (self->sink, "mqtt_messages");
    self->c_ignored = lw_sink_counter (self->sink, "mqtt_fields_ignored");
    self->c_payload = lw_sink_counter (self->sink, "drop_mqtt_payload");
    self->c_topic = lw_sink_counter (self->sink, "drop_mqtt_topic");
    zsys_info ("ingest: source=%s type=mqtt broker=%s:%ld client_id=%s "
               "topics=%d qos=%ld map=%s payload=%s tls=%s",
               env->name, host, port, id, self->ntopics, qos, map,
               formats[format], self->tls ? "on" : "off");
    return self;

failed:
    s_destroy ((void **)&self);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Starts connecting (non-blocking) and the keepalive timer; messages are
//  read from resume on

static int
s_start (void *state)
{
    s_mqtt_t *self = (s_mqtt_t *)state;
    self->started = true;
    int rc = mosquitto_connect_async (self->mosq, self->host, (int)self->port,
                                      (int)self->keepalive);
    self->connecting = rc == MOSQ_ERR_SUCCESS;
    if (rc != MOSQ_ERR_SUCCESS)
        zsys_warning ("ingest: source=%s cannot connect to %s:%ld yet: %s "
                      "(retrying)",
                      self->name, self->host, self->port,
                      rc == MOSQ_ERR_ERRNO ? strerror (errno)
                                           : mosquitto_strerror (rc));
    if (rc == MOSQ_ERR_INVAL) {
        zsys_error ("ingest: source=%s: bad broker address", self->name);
        return -1;
    }
    self->misc_timer =
        zloop_timer (self->loop, S_MISC_MS, 0, s_handle_misc, self);
    if (self->misc_timer == -1)
        return -1;
    s_sync (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Stops reading the socket

static void
s_pause (void *state)
{
    s_mqtt_t *self = (s_mqtt_t *)state;
    self->running = false;
    s_sync (self);
}

//  --------------------------------------------------------------------------
//  Reads again

static void
s_resume (void *state)
{
    s_mqtt_t *self = (s_mqtt_t *)state;
    self->running = true;
    s_sync (self);
}

const lw_source_ops_t lw_source_mqtt = {.type = "mqtt",
                                        .create = s_create,
                                        .destroy = s_destroy,
                                        .start = s_start,
                                        .pause = s_pause,
                                        .resume = s_resume,
                                        .done = NULL};
