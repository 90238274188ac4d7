/*  =========================================================================
    lw_forward.c - one stream of the broker: XSUB in, XPUB out, checked

    Copyright (c) the linewatch authors. MIT license.

    See lw_forward.h. The forwarder is an actor of lw_broker; its self test
    is part of lw_broker_test, which drives it through the real broker.
    =========================================================================
*/

#include <zmq.h>

#include "lw_forward.h"
#include "lw_sockmon.h"

//  How long one blocking send waits before checking for $TERM, ms
#define S_SEND_SLICE_MS 100
//  Most subscription frames handled per wake-up
#define S_SUBSCRIPTIONS_BATCH 1024
//  At most one warning about dropped messages per this many ms
#define S_WARN_INTERVAL_MS 1000

typedef struct {
    zsock_t *pipe;                 //  Our parent, the broker
    zloop_t *loop;                 //  Reactor of this thread
    const lw_forward_cfg_t *cfg;   //  Borrowed from the parent
    zsock_t *xsub;                 //  Publishers connect here
    zsock_t *xpub;                 //  Subscribers connect here
    zsock_t *monitor;              //  Lossy copies, or NULL
    lw_sockmon_t *xsub_monitor;    //  Counts XSUB disconnects
    size_t monitor_topics;         //  Topics subscribed on the monitor
    bool any;                      //  Someone subscribed to ""
    bool first_byte[256];          //  One-byte prefixes subscribed
    bool exact[LW_PARTITIONS_MAX]; //  Two-byte partitions subscribed
    lw_forward_report_t report;    //  Counters and coverage now
    lw_forward_report_t reported;  //  As last sent to the parent
    int64_t last_warn;             //  Mono ms of the last drop warning
    uint64_t unwarned;             //  Drops since that warning
} self_t;

//  --------------------------------------------------------------------------
//  Creates the forwarder state; the sockets are made by START.

static self_t *
s_self_new (zsock_t *pipe, const lw_forward_cfg_t *cfg)
{
    self_t *self = (self_t *)zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->cfg = cfg;
    self->loop = zloop_new ();
    assert (self->loop);
    //  Only $TERM from the broker ends us, so that the broker's
    //  zactor_destroy handshake always finds us (not a SIGINT race)
    zloop_set_nonstop (self->loop, true);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the forwarder state and its sockets.

static void
s_self_destroy (self_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        self_t *self = *self_p;
        lw_sockmon_destroy (&self->xsub_monitor);   //  Uses loop and xsub
        zloop_destroy (&self->loop);
        zsock_destroy (&self->xsub);
        zsock_destroy (&self->xpub);
        zsock_destroy (&self->monitor);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Sends the report to the parent if it changed since the last one.

static void
s_report (self_t *self)
{
    if (memcmp (&self->report, &self->reported, sizeof (self->report)) == 0)
        return;
    zmsg_t *msg = zmsg_new ();
    assert (msg);
    zmsg_addstr (msg, "REPORT");
    zmsg_addmem (msg, &self->report, sizeof (self->report));
    if (zmsg_send (&msg, self->pipe) == 0)
        memcpy (&self->reported, &self->report, sizeof (self->reported));
    zmsg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Recounts the partitions that have at least one subscriber. A prefix
//  subscription covers every partition it is a prefix of.

static void
s_recount (self_t *self)
{
    uint32_t covered = 0;
    for (uint32_t partition = 0; partition < self->cfg->partitions; partition++)
        if (self->any || self->first_byte[partition >> 8] ||
            self->exact[partition])
            covered++;
    self->report.covered = covered;
    self->report.complete = covered == self->cfg->partitions;
}

//  --------------------------------------------------------------------------
//  Handles subscription frames arriving on the data XPUB. Without
//  XPUB_VERBOSE libzmq passes only the first subscribe and the last
//  unsubscribe of a topic, so a flag per topic is the whole state.

static int
s_handle_xpub (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    self_t *self = (self_t *)arg;
    bool changed = false;
    for (int count = 0; count < S_SUBSCRIPTIONS_BATCH; count++) {
        if (!(zsock_events (self->xpub) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (self->xpub);
        if (!msg)
            break;
        zframe_t *frame = zmsg_first (msg);
        size_t size = frame ? zframe_size (frame) : 0;
        const uint8_t *data = frame ? zframe_data (frame) : NULL;
        if (zmsg_size (msg) != 1 || size < 1 || data[0] > 1) {
            self->report.bad_subscriptions++;
            zmsg_destroy (&msg);
            continue;
        }
        bool subscribe = data[0] == 1;
        size_t topic_size = size - 1;
        if (topic_size == 0)
            self->any = subscribe;
        else if (topic_size == 1)
            self->first_byte[data[1]] = subscribe;
        else if (topic_size == 2) {
            uint16_t partition = (uint16_t)((data[1] << 8) | data[2]);
            if (partition < LW_PARTITIONS_MAX)
                self->exact[partition] = subscribe;
        }
        //  Longer topics cover no partition completely
        changed = true;
        zmsg_destroy (&msg);
    }
    if (changed) {
        bool was_complete = self->report.complete;
        s_recount (self);
        if (self->report.complete != was_complete)
            s_report (self); //  Readiness matters now
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Tracks subscriptions on the monitor: copies go out only while someone
//  listens, so an idle node pays nothing for the monitor.

static int
s_handle_monitor (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    self_t *self = (self_t *)arg;
    for (int count = 0; count < S_SUBSCRIPTIONS_BATCH; count++) {
        if (!(zsock_events (self->monitor) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (self->monitor);
        if (!msg)
            break;
        zframe_t *frame = zmsg_first (msg);
        if (zmsg_size (msg) == 1 && frame && zframe_size (frame) >= 1) {
            uint8_t flag = zframe_data (frame)[0];
            if (flag == 1)
                self->monitor_topics++;
            else if (flag == 0 && self->monitor_topics > 0)
                self->monitor_topics--;
            else
                self->report.bad_subscriptions++;
        }
        else
            self->report.bad_subscriptions++;
        zmsg_destroy (&msg);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Sends one frame to the XPUB, waiting while a subscriber is slow (NODROP
//  gives EAGAIN at its HWM). Waits in slices so that a $TERM from the
//  parent is not held up by a stalled subscriber. Returns 0, or -1 when the
//  send failed or was abandoned for shutdown. The frame is not consumed.

static int
s_send_waiting (self_t *self, zframe_t *frame, int more)
{
    while (true) {
        if (zframe_send (&frame, self->xpub, ZFRAME_REUSE | more) == 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (zsock_events (self->pipe) & ZMQ_POLLIN)
            return -1; //  $TERM is waiting: give up
    }
}

//  --------------------------------------------------------------------------
//  Copies a message to the monitor without ever waiting: the monitor is
//  lossy by design so that a slow `lwctl tail` cannot stall the line.

static void
s_copy_to_monitor (self_t *self, zframe_t *partition, zframe_t *body)
{
    if (zframe_send (&partition, self->monitor,
                     ZFRAME_REUSE | ZFRAME_MORE | ZFRAME_DONTWAIT) != 0) {
        self->report.monitor_dropped++;
        return;
    }
    //  The first part went: libzmq accepts the rest of the message
    if (zframe_send (&body, self->monitor, ZFRAME_REUSE | ZFRAME_DONTWAIT) != 0)
        self->report.monitor_dropped++;
    else
        self->report.monitor_sent++;
}

//  --------------------------------------------------------------------------
//  Logs a dropped message at most once per S_WARN_INTERVAL_MS, with the
//  number dropped since the last warning: a flood must not flood the log.

static void
s_warn_drop (self_t *self, int code)
{
    self->unwarned++;
    int64_t now = zclock_mono ();
    if (now - self->last_warn >= S_WARN_INTERVAL_MS) {
        zsys_warning ("broker: dropped stream messages stream=%s count=%" PRIu64
                      " last_reason=%s",
                      self->cfg->name, self->unwarned, lw_msg_strerror (code));
        self->last_warn = now;
        self->unwarned = 0;
    }
}

//  --------------------------------------------------------------------------
//  Forwards up to cfg->batch messages from the XSUB: whole messages only,
//  checked envelope, counted drops. Never returns -1 on bad input.

static int
s_handle_xsub (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    self_t *self = (self_t *)arg;
    for (int count = 0; count < self->cfg->batch; count++) {
        if (!(zsock_events (self->xsub) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (self->xsub);
        if (!msg)
            break;
        uint16_t partition = 0;
        int rc = lw_msg_envelope (msg, &partition);
        if (rc < 0) {
            if (rc <= -LW_MSG_ERRORS)
                rc = LW_MSG_ENVELOPE;
            self->report.drops[-rc]++;
            s_warn_drop (self, rc);
            zmsg_destroy (&msg);
            continue;
        }
        zframe_t *head = zmsg_first (msg);
        zframe_t *body = zmsg_next (msg);
        if (self->monitor && self->monitor_topics > 0)
            s_copy_to_monitor (self, head, body);
        if (s_send_waiting (self, head, ZFRAME_MORE) == 0 &&
            s_send_waiting (self, body, 0) == 0)
            self->report.forwarded++;
        else {
            self->report.send_failed++;
            zmsg_destroy (&msg);
            break; //  Let the loop read the pipe
        }
        zmsg_destroy (&msg);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Periodic report of the counters to the parent.

static int
s_handle_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_report ((self_t *)arg);
    return 0;
}

//  --------------------------------------------------------------------------
//  Creates a socket fed by other processes: bounded HWMs and frame size.

static zsock_t *
s_socket (int type, int hwm)
{
    zsock_t *sock = zsock_new (type);
    if (!sock)
        return NULL;
    zsock_set_maxmsgsize (sock, LW_MAX_FRAME_SIZE);
    zsock_set_rcvhwm (sock, hwm);
    zsock_set_sndhwm (sock, hwm);
    zsock_set_linger (sock, 0);
    return sock;
}

//  --------------------------------------------------------------------------
//  Binds one socket, logging the failure. Returns 0 or -1.

static int
s_bind (self_t *self, zsock_t *sock, const char *endpoint)
{
    if (!sock || zsock_bind (sock, "%s", endpoint) < 0) {
        zsys_error ("broker: bind failed stream=%s endpoint=%s error='%s'",
                    self->cfg->name, endpoint, zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  A publisher connection on the XSUB was closed

static void
s_xsub_disconnected (void *arg)
{
    self_t *self = (self_t *)arg;
    self->report.disconnects++;
}

//  --------------------------------------------------------------------------
//  Makes, binds and registers the sockets. Returns 0 or -1 (logged).

static int
s_start (self_t *self)
{
    const lw_forward_cfg_t *cfg = self->cfg;
    self->xsub = s_socket (ZMQ_XSUB, cfg->hwm);
    self->xpub = s_socket (ZMQ_XPUB, cfg->hwm);
    if (s_bind (self, self->xsub, cfg->in) ||
        s_bind (self, self->xpub, cfg->out))
        return -1;
    //  NODROP: at a subscriber's HWM the send waits instead of dropping
    zsock_set_xpub_nodrop (self->xpub, 1);
    //  Publishers filter nothing: the broker wants every message, checks
    //  it and lets the XPUB filter per subscriber
    zframe_t *subscribe = zframe_new ("\x01", 1);
    assert (subscribe);
    if (zframe_send (&subscribe, self->xsub, 0) != 0) {
        zframe_destroy (&subscribe);
        zsys_error ("broker: cannot subscribe stream=%s", cfg->name);
        return -1;
    }
    if (*cfg->monitor) {
        self->monitor = s_socket (ZMQ_XPUB, cfg->hwm);
        if (s_bind (self, self->monitor, cfg->monitor))
            return -1;
        zloop_reader (self->loop, self->monitor, s_handle_monitor, self);
    }
    //  A frame over LW_MAX_FRAME_SIZE never reaches us: libzmq drops the
    //  publisher's connection, and only a socket monitor sees it
    self->xsub_monitor = lw_sockmon_new (self->xsub, self->loop,
                                         s_xsub_disconnected, self);
    if (!self->xsub_monitor)
        return -1;
    zloop_reader (self->loop, self->xsub, s_handle_xsub, self);
    zloop_reader (self->loop, self->xpub, s_handle_xpub, self);
    zloop_timer (self->loop, LW_FORWARD_REPORT_MS, 0, s_handle_timer, self);
    //  Sends wait in slices so that $TERM gets through a stalled stream
    zsock_set_sndtimeo (self->xpub, S_SEND_SLICE_MS);
    s_recount (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Handles a command from the broker.

static int
s_handle_pipe (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    char *command = zstr_recv (reader);
    if (!command)
        return -1; //  Interrupted
    int rc = 0;
    if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "START")) {
        int started = s_start (self);
        zsock_signal (self->pipe, started == 0 ? 0 : 1);
        if (started == 0)
            s_report (self);
    }
    else
        zsys_error ("broker: forwarder got unknown command '%s'", command);
    zstr_free (&command);
    return rc;
}

//  --------------------------------------------------------------------------
//  The forwarder actor.

void
lw_forward_actor (zsock_t *pipe, void *args)
{
    assert (pipe);
    assert (args);
    self_t *self = s_self_new (pipe, (const lw_forward_cfg_t *)args);
    zloop_reader (self->loop, pipe, s_handle_pipe, self);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    s_self_destroy (&self);
}
