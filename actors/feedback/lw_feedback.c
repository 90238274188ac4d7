/*  =========================================================================
    lw_feedback.c - lw-feedback: stores alerts and labels, serves lwctl

    Copyright (c) the linewatch authors. MIT license.

    See lw_feedback.h. One actor thread owns everything: the alerts SUB,
    the API ROUTER, the member (heartbeats with our counters) and the
    store. Alerts are drained from the SUB in batches and written in one
    transaction per batch, so a burst of episode updates costs one sync,
    not one per message. Bad frames on either socket are dropped and
    counted by reason; a bad request that came with a valid envelope
    still gets an error reply so lwctl never waits for nothing.
    =========================================================================
*/

#include "lw_feedback.h"

#include <unistd.h>

#include "lw_alertdb.h"
#include "lw_cfg.h"
#include "lw_limits.h"
#include "lw_main.h"
#include "lw_member.h"
#include "lw_msg.h"
#include "lw_sockmon.h"
#include "lw_stats.h"
#include "lw_store.h"
#include "lw_util.h"

//  Most alert messages written in one transaction
#define FEEDBACK_BATCH 256
//  Warnings about bad peer input: the first few, then one summary a minute
#define WARN_FIRST 10
#define WARN_INTERVAL (60 * LW_NS_PER_SEC)
//  Store defaults, as in config/linewatch.cfg
#define STORE_PATH_DEFAULT "feedback"
#define STORE_MAPSIZE_DEFAULT 67108864L
#define STORE_MAPSIZE_MIN 1048576L
#define STORE_MAPSIZE_MAX 1099511627776L

typedef struct {
    zsock_t *pipe;              //  Actor pipe
    zloop_t *loop;              //  Event loop
    const lw_actor_args_t *args;    //  Config, node, name (borrowed)
    bool configured;            //  CONFIGURE succeeded
    lw_stats_t *stats;          //  Our counters
    lw_member_t *member;        //  Node membership (heartbeats)
    lw_alertdb_t *db;           //  Alerts and labels
    zsock_t *events;            //  SUB on the alerts topic
    zsock_t *api;               //  ROUTER for lwctl
    lw_alert_t *batch;          //  FEEDBACK_BATCH decoded alerts
    int counter_in;             //  "in": stream messages received
    int counter_alerts;         //  "alerts": alerts created
    int counter_updates;        //  "updates": alert messages stored
    int counter_labels;         //  "labels": labels committed
    int counter_requests;       //  "requests": API requests answered
    int counter_store_error;    //  "store_error": failed writes
    int counter_disconnects;    //  "disconnects": API connections closed
    lw_sockmon_t *api_monitor;  //  Sees them (e.g. a frame over the limit)
    int counter_drop [LW_MSG_ERRORS];       //  "drop_<reason>" (stream)
    int counter_drop_api [LW_MSG_ERRORS];   //  "drop_api_<reason>" (API)
    uint64_t warnings;          //  Bad-input warnings so far
    uint64_t suppressed;        //  Warnings not logged since the summary
    int64_t warn_summary_at;    //  Mono time of the last summary
} self_t;

//  A reply being built: status, text and the frames that follow
typedef struct {
    int32_t status;             //  0 or an LW_FEEDBACK_E* / lw_msg error
    char text [LW_TEXT_MAX + 1];    //  Error text or comment
    zlist_t *frames;            //  Encoded alerts, labels or control
} reply_t;

//  Collects records for a listing, newest first, stopping at the limit
typedef struct {
    self_t *self;               //  The actor
    const lw_request_t *request;    //  Filters
    reply_t *reply;             //  Frames are pushed at the head
    size_t limit;               //  Most records to collect
    size_t count;               //  Collected so far
    bool failed;                //  An encode failed
} collect_t;


//  --------------------------------------------------------------------------
//  Counts a rejection and logs it, rate-limited

static void
s_reject (self_t *self, bool api, int code, const char *what)
{
    if (code >= 0 || code <= -LW_MSG_ERRORS)
        code = LW_MSG_WRONG_TYPE;       //  Not ours to index; never happens
    lw_stats_add (self->stats, api ? self->counter_drop_api [-code]
                                   : self->counter_drop [-code], 1);
    if (self->warnings < WARN_FIRST) {
        self->warnings++;
        zsys_warning ("feedback: dropped %s reason=%s", what,
                      lw_msg_strerror (code));
        return;
    }
    self->suppressed++;
    int64_t now = lw_time_mono ();
    if (now - self->warn_summary_at >= WARN_INTERVAL) {
        zsys_warning ("feedback: dropped more bad input count=%" PRIu64
                      " (see drop_* counters)", self->suppressed);
        self->suppressed = 0;
        self->warn_summary_at = now;
    }
}


//  --------------------------------------------------------------------------
//  Creates the actor state (the parts that cannot fail)

static self_t *
s_self_new (zsock_t *pipe, const lw_actor_args_t *args)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->args = args;
    self->loop = zloop_new ();
    assert (self->loop);
    self->stats = lw_stats_new ();
    assert (self->stats);
    self->batch = (lw_alert_t *) calloc (FEEDBACK_BATCH, sizeof (lw_alert_t));
    assert (self->batch);
    self->counter_in = lw_stats_counter (self->stats, "in");
    self->counter_alerts = lw_stats_counter (self->stats, "alerts");
    self->counter_updates = lw_stats_counter (self->stats, "updates");
    self->counter_labels = lw_stats_counter (self->stats, "labels");
    self->counter_requests = lw_stats_counter (self->stats, "requests");
    self->counter_store_error = lw_stats_counter (self->stats, "store_error");
    self->counter_disconnects = lw_stats_counter (self->stats, "disconnects");
    for (int code = 1; code < LW_MSG_ERRORS; code++) {
        char name [LW_STAT_NAME_MAX + 1];
        snprintf (name, sizeof (name), "drop_%s", lw_msg_strerror (-code));
        self->counter_drop [code] = lw_stats_counter (self->stats, name);
        snprintf (name, sizeof (name), "drop_api_%s", lw_msg_strerror (-code));
        self->counter_drop_api [code] = lw_stats_counter (self->stats, name);
    }
    self->warn_summary_at = lw_time_mono ();
    return self;
}


//  --------------------------------------------------------------------------
//  Destroys the actor state

static void
s_self_destroy (self_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        self_t *self = *self_p;
        //  The member may detach itself from the loop, so the loop goes
        //  last (zloop_destroy does not touch the sockets)
        lw_member_destroy (&self->member);
        zsock_destroy (&self->events);
        lw_sockmon_destroy (&self->api_monitor);
        zsock_destroy (&self->api);
        zloop_destroy (&self->loop);
        lw_alertdb_destroy (&self->db);
        lw_stats_destroy (&self->stats);
        free (self->batch);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  An API connection was closed (by lwctl leaving, or by libzmq for a
//  request over the size limit)

static void
s_api_disconnected (void *arg)
{
    self_t *self = (self_t *) arg;
    lw_stats_add (self->stats, self->counter_disconnects, 1);
}


//  --------------------------------------------------------------------------
//  Stores a batch of decoded alerts in one transaction

static void
s_store_batch (self_t *self, size_t count)
{
    if (count == 0)
        return;
    int created = lw_alertdb_apply (self->db, self->batch, count);
    if (created < 0) {
        //  Logged by the store; the episode's next message retries it
        lw_stats_add (self->stats, self->counter_store_error, count);
        zsys_error ("feedback: could not store alerts count=%zu rc=%d",
                    count, created);
        return;
    }
    lw_stats_add (self->stats, self->counter_alerts, (uint64_t) created);
    lw_stats_add (self->stats, self->counter_updates, count);
    if (self->args->node->verbose)
        zsys_debug ("feedback: stored alerts count=%zu created=%d", count,
                    created);
}


//  --------------------------------------------------------------------------
//  Decodes one stream message into the next batch slot. Returns true when
//  it is a valid alert.

static bool
s_decode_alert (self_t *self, zmsg_t *msg, lw_alert_t *alert)
{
    lw_stats_add (self->stats, self->counter_in, 1);
    uint16_t topic;
    int rc = lw_msg_envelope (msg, &topic);
    if (rc == 0 && topic != LW_TOPIC_ALERTS)
        rc = LW_MSG_BAD_TYPE;           //  We subscribed to alerts only
    if (rc == 0) {
        zframe_t *body = zmsg_last (msg);
        rc = lw_msg_alert_decode (zframe_data (body), zframe_size (body),
                                  alert);
    }
    if (rc == 0 && (alert->state < LW_ALERT_OPEN
                    || alert->state > LW_ALERT_CLOSE))
        rc = LW_MSG_BAD_RANGE;
    if (rc) {
        s_reject (self, false, rc, "alert");
        return false;
    }
    return true;
}


//  --------------------------------------------------------------------------
//  Alerts stream: drain what is queued (up to a batch) and store it

static int
s_handle_events (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = (self_t *) arg;
    size_t count = 0;
    for (size_t received = 0; received < FEEDBACK_BATCH; received++) {
        //  The first message is there (the loop said so); more only if
        //  already queued, so the loop stays responsive
        if (received > 0 && !(zsock_events (reader) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;                      //  Interrupted
        if (s_decode_alert (self, msg, &self->batch [count]))
            count++;
        zmsg_destroy (&msg);
    }
    s_store_batch (self, count);
    return 0;
}


//  --------------------------------------------------------------------------
//  Sets a reply's status and text

static void
s_reply_error (reply_t *reply, int32_t status, const char *format, ...)
{
    reply->status = status;
    va_list argptr;
    va_start (argptr, format);
    vsnprintf (reply->text, sizeof (reply->text), format, argptr);
    va_end (argptr);
}


//  --------------------------------------------------------------------------
//  Adds an encoded frame to a reply (at the head when `prepend`)

static bool
s_reply_add (reply_t *reply, zframe_t *frame, bool prepend)
{
    if (!frame) {
        s_reply_error (reply, LW_FEEDBACK_ESTORE, "could not encode a record");
        return false;
    }
    int rc = prepend ? zlist_push (reply->frames, frame)
                     : zlist_append (reply->frames, frame);
    assert (rc == 0);
    return true;
}


//  --------------------------------------------------------------------------
//  Most records a listing returns

static size_t
s_limit (const lw_request_t *request)
{
    if (request->limit == 0 || request->limit > LW_REPLY_MAX)
        return LW_REPLY_MAX;
    return request->limit;
}


//  --------------------------------------------------------------------------
//  ALERTS: collect the newest matching alerts (pushed at the head, so the
//  reply lists them oldest first)

static int
s_collect_alert (const lw_alert_t *alert, void *arg)
{
    collect_t *collect = (collect_t *) arg;
    if (collect->request->open_only && alert->state == LW_ALERT_CLOSE)
        return 0;
    if (!lw_alertdb_sensor_match (collect->request->sensor, alert->sensor))
        return 0;
    if (!s_reply_add (collect->reply, lw_msg_alert_encode (alert), true)) {
        collect->failed = true;
        return 1;
    }
    return ++collect->count >= collect->limit ? 1 : 0;
}

static void
s_op_alerts (self_t *self, const lw_request_t *request, reply_t *reply)
{
    collect_t collect = {self, request, reply, s_limit (request), 0, false};
    int rc = lw_alertdb_each_alert (self->db, true, s_collect_alert,
                                    &collect);
    if (rc && !collect.failed)
        s_reply_error (reply, LW_FEEDBACK_ESTORE, "store error %d", rc);
}


//  --------------------------------------------------------------------------
//  LABELS and SHOW: labels, filtered by sensor or by alert

static int
s_collect_label (const lw_label_t *label, void *arg)
{
    collect_t *collect = (collect_t *) arg;
    const lw_request_t *request = collect->request;
    if (request->op == LW_OP_SHOW && label->alert_id != request->alert_id)
        return 0;
    if (request->op == LW_OP_LABELS
        && !lw_alertdb_sensor_match (request->sensor, label->sensor))
        return 0;
    if (!s_reply_add (collect->reply, lw_msg_label_encode (label), true)) {
        collect->failed = true;
        return 1;
    }
    return ++collect->count >= collect->limit ? 1 : 0;
}

static void
s_op_labels (self_t *self, const lw_request_t *request, reply_t *reply)
{
    collect_t collect = {self, request, reply, s_limit (request), 0, false};
    int rc = lw_alertdb_each_label (self->db, true, s_collect_label,
                                    &collect);
    if (rc && !collect.failed)
        s_reply_error (reply, LW_FEEDBACK_ESTORE, "store error %d", rc);
}


//  --------------------------------------------------------------------------
//  SHOW: the alert, then its labels (oldest first)

static void
s_op_show (self_t *self, const lw_request_t *request, reply_t *reply)
{
    lw_alert_t alert;
    int rc = lw_alertdb_alert (self->db, request->alert_id, &alert);
    if (rc == LW_STORE_NOTFOUND) {
        s_reply_error (reply, LW_FEEDBACK_ENOTFOUND, "no alert %" PRIu64,
                       request->alert_id);
        return;
    }
    if (rc) {
        s_reply_error (reply, LW_FEEDBACK_ESTORE,
                       "alert %" PRIu64 " cannot be read (%s)",
                       request->alert_id,
                       rc == LW_STORE_CORRUPT ? "corrupt record"
                                              : "store error");
        return;
    }
    //  Labels are pushed at the head, so add the alert after them
    lw_request_t filter = *request;
    filter.limit = LW_REPLY_MAX - 1;
    s_op_labels (self, &filter, reply);
    if (reply->status == 0)
        s_reply_add (reply, lw_msg_alert_encode (&alert), true);
}


//  --------------------------------------------------------------------------
//  LABEL: validate, commit durably, then answer with the stored label

static void
s_op_label (self_t *self, const lw_request_t *request, reply_t *reply)
{
    if (request->label != LW_LABEL_ANOMALY
        && request->label != LW_LABEL_NORMAL) {
        s_reply_error (reply, LW_FEEDBACK_EINVAL,
                       "label must be anomaly or normal");
        return;
    }
    lw_label_t label;
    memset (&label, 0, sizeof (label));
    label.label = request->label;
    snprintf (label.note, sizeof (label.note), "%s", request->note);
    if (request->alert_id) {
        lw_alert_t alert;
        int rc = lw_alertdb_alert (self->db, request->alert_id, &alert);
        if (rc == LW_STORE_NOTFOUND) {
            s_reply_error (reply, LW_FEEDBACK_ENOTFOUND, "no alert %" PRIu64,
                           request->alert_id);
            return;
        }
        if (rc) {
            s_reply_error (reply, LW_FEEDBACK_ESTORE,
                           "alert %" PRIu64 " cannot be read",
                           request->alert_id);
            return;
        }
        label.alert_id = alert.id;
        memcpy (label.sensor, alert.sensor, sizeof (label.sensor));
        label.from = alert.opened;
        label.to = alert.closed ? alert.closed : alert.updated;
        if (label.to < label.from)
            label.to = label.from;
    }
    else {
        if (!lw_key_valid (request->sensor, strlen (request->sensor))) {
            s_reply_error (reply, LW_FEEDBACK_EINVAL,
                           "a range label needs a sensor (or an alert id)");
            return;
        }
        if (request->from > request->to) {
            s_reply_error (reply, LW_FEEDBACK_EINVAL,
                           "range start is after its end");
            return;
        }
        memcpy (label.sensor, request->sensor, sizeof (label.sensor));
        label.from = request->from;
        label.to = request->to;
    }
    int rc = lw_alertdb_label (self->db, &label);
    if (rc == LW_STORE_NOTFOUND) {
        s_reply_error (reply, LW_FEEDBACK_ENOTFOUND, "no alert %" PRIu64,
                       request->alert_id);
        return;
    }
    if (rc) {
        lw_stats_add (self->stats, self->counter_store_error, 1);
        s_reply_error (reply, LW_FEEDBACK_ESTORE,
                       "the label could not be stored (store error %d)", rc);
        return;
    }
    //  Committed: only now may it be acknowledged
    lw_stats_add (self->stats, self->counter_labels, 1);
    zsys_info ("feedback: label id=%" PRIu64 " alert=%" PRIu64 " label=%s",
               label.id, label.alert_id,
               label.label == LW_LABEL_ANOMALY ? "anomaly" : "normal");
    s_reply_add (reply, lw_msg_label_encode (&label), false);
}


//  --------------------------------------------------------------------------
//  STATS: our counters as one MEMBER control frame

static void
s_op_stats (self_t *self, reply_t *reply)
{
    lw_ctrl_t *ctrl = (lw_ctrl_t *) zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    ctrl->kind = LW_CTRL_MEMBER;
    snprintf (ctrl->group, sizeof (ctrl->group), "feedback");
    snprintf (ctrl->name, sizeof (ctrl->name), "%s", self->args->name);
    ctrl->pid = (int64_t) getpid ();
    ctrl->alive = true;
    lw_stats_fill (self->stats, ctrl);
    s_reply_add (reply, lw_msg_ctrl_encode (ctrl), false);
    free (ctrl);
}


//  --------------------------------------------------------------------------
//  Sends a reply after the request's envelope (identity, delimiter)

static void
s_send_reply (self_t *self, zmsg_t *envelope, reply_t *reply)
{
    if (reply->status != 0) {
        //  An error carries no records
        zframe_t *frame;
        while ((frame = (zframe_t *) zlist_pop (reply->frames)))
            zframe_destroy (&frame);
    }
    lw_reply_t header;
    memset (&header, 0, sizeof (header));
    header.status = reply->status;
    memcpy (header.text, reply->text, sizeof (header.text));
    header.count = (uint32_t) zlist_size (reply->frames);
    zframe_t *frame = lw_msg_reply_encode (&header);
    if (!frame) {
        zsys_error ("feedback: could not encode a reply");
        while ((frame = (zframe_t *) zlist_pop (reply->frames)))
            zframe_destroy (&frame);
        return;
    }
    zmsg_append (envelope, &frame);
    while ((frame = (zframe_t *) zlist_pop (reply->frames)))
        zmsg_append (envelope, &frame);
    //  ROUTER drops the reply if the peer is gone; that is fine
    zmsg_send (&envelope, self->api);
}


//  --------------------------------------------------------------------------
//  API: one request from lwctl

static int
s_handle_api (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = (self_t *) arg;
    zmsg_t *msg = zmsg_recv (reader);
    if (!msg)
        return 0;                       //  Interrupted
    //  Envelope: identity, an optional empty delimiter (REQ peers), then
    //  exactly one request frame
    zmsg_t *envelope = zmsg_new ();
    assert (envelope);
    zframe_t *identity = zmsg_pop (msg);
    if (!identity || zmsg_size (msg) == 0) {
        //  Nothing to answer to
        s_reject (self, true, LW_MSG_ENVELOPE, "request");
        zframe_destroy (&identity);
        zmsg_destroy (&envelope);
        zmsg_destroy (&msg);
        return 0;
    }
    zmsg_append (envelope, &identity);
    if (zmsg_size (msg) == 2 && zframe_size (zmsg_first (msg)) == 0) {
        zframe_t *delimiter = zmsg_pop (msg);
        zmsg_append (envelope, &delimiter);
    }
    reply_t reply;
    memset (&reply, 0, sizeof (reply));
    reply.frames = zlist_new ();
    assert (reply.frames);
    lw_request_t request;
    int rc = LW_MSG_ENVELOPE;
    if (zmsg_size (msg) == 1) {
        zframe_t *body = zmsg_first (msg);
        rc = lw_msg_request_decode (zframe_data (body), zframe_size (body),
                                    &request);
    }
    if (rc) {
        s_reject (self, true, rc, "request");
        s_reply_error (&reply, rc, "malformed request: %s",
                       lw_msg_strerror (rc));
    }
    else {
        lw_stats_add (self->stats, self->counter_requests, 1);
        switch (request.op) {
            case LW_OP_PING:
                snprintf (reply.text, sizeof (reply.text), "pong");
                break;
            case LW_OP_ALERTS:
                s_op_alerts (self, &request, &reply);
                break;
            case LW_OP_SHOW:
                s_op_show (self, &request, &reply);
                break;
            case LW_OP_LABEL:
                s_op_label (self, &request, &reply);
                break;
            case LW_OP_LABELS:
                s_op_labels (self, &request, &reply);
                break;
            case LW_OP_STATS:
                s_op_stats (self, &reply);
                break;
            default:
                s_reply_error (&reply, LW_FEEDBACK_EOP, "unknown operation %d",
                               request.op);
                break;
        }
    }
    zmsg_destroy (&msg);
    s_send_reply (self, envelope, &reply);
    zlist_destroy (&reply.frames);
    return 0;
}


//  --------------------------------------------------------------------------
//  CONFIGURE: open the store, bind the API, subscribe, join the node.
//  Returns 0 or -1 (logged).

static int
s_configure (self_t *self)
{
    if (self->configured) {
        zsys_error ("feedback: already configured");
        return -1;
    }
    zconfig_t *config = self->args->config;
    const lw_node_t *node = self->args->node;
    const char *store_path;
    long mapsize;
    if (lw_cfg_string (config, "feedback/store/path", STORE_PATH_DEFAULT,
                       LW_PATH_MAX / 2, &store_path)
        || lw_cfg_int (config, "feedback/store/mapsize", STORE_MAPSIZE_DEFAULT,
                       STORE_MAPSIZE_MIN, STORE_MAPSIZE_MAX, &mapsize))
        return -1;
    if (*store_path == 0) {
        zsys_error ("config: feedback/store/path must not be empty");
        return -1;
    }
    char path [LW_PATH_MAX];
    int size = *store_path == '/'
                   ? snprintf (path, sizeof (path), "%s", store_path)
                   : snprintf (path, sizeof (path), "%s/%s", node->home,
                               store_path);
    if (size < 0 || (size_t) size >= sizeof (path)) {
        zsys_error ("config: feedback/store/path is too long");
        return -1;
    }
    if (lw_mkdir_p (path, 0700)) {
        zsys_error ("feedback: cannot create store directory path=%s: %s",
                    path, strerror (errno));
        return -1;
    }
    self->db = lw_alertdb_new (path, (size_t) mapsize, self->stats);
    if (!self->db)
        return -1;

    self->api = zsock_new (ZMQ_ROUTER);
    assert (self->api);
    zsock_set_maxmsgsize (self->api, LW_MAX_FRAME_SIZE);
    zsock_set_sndhwm (self->api, (int) node->hwm);
    zsock_set_rcvhwm (self->api, (int) node->hwm);
    zsock_set_linger (self->api, 0);
    if (zsock_bind (self->api, "%s", node->api) == -1) {
        zsys_error ("feedback: cannot bind api endpoint=%s: %s", node->api,
                    zmq_strerror (zmq_errno ()));
        return -1;
    }
    //  A request over LW_MAX_FRAME_SIZE never reaches us: libzmq drops
    //  that connection, and only a socket monitor sees it
    self->api_monitor = lw_sockmon_new (self->api, self->loop,
                                        s_api_disconnected, self);
    if (!self->api_monitor)
        return -1;
    self->events = zsock_new (ZMQ_SUB);
    assert (self->events);
    zsock_set_maxmsgsize (self->events, LW_MAX_FRAME_SIZE);
    zsock_set_rcvhwm (self->events, (int) node->hwm);
    zsock_set_linger (self->events, 0);
    uint8_t topic [2] = {LW_TOPIC_ALERTS >> 8, LW_TOPIC_ALERTS & 0xFF};
    zmq_setsockopt (zsock_resolve (self->events), ZMQ_SUBSCRIBE, topic,
                    sizeof (topic));
    if (zsock_connect (self->events, "%s", node->events_out) == -1) {
        zsys_error ("feedback: cannot connect events endpoint=%s: %s",
                    node->events_out, zmq_strerror (zmq_errno ()));
        return -1;
    }
    self->member = lw_member_new (node->coordinator, "feedback",
                                  self->args->name, (int) node->heartbeat,
                                  self->stats);
    if (!self->member || lw_member_attach (self->member, self->loop))
        return -1;
    zloop_reader (self->loop, self->events, s_handle_events, self);
    zloop_reader (self->loop, self->api, s_handle_api, self);
    self->configured = true;
    zsys_info ("feedback: started api=%s store=%s next_alert=%" PRIu64
               " next_label=%" PRIu64, node->api, path,
               lw_alertdb_next_alert (self->db),
               lw_alertdb_next_label (self->db));
    return 0;
}


//  --------------------------------------------------------------------------
//  Pipe commands from main or a test

static int
s_handle_pipe (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = (self_t *) arg;
    char *command = zstr_recv (reader);
    if (!command)
        return -1;                      //  Interrupted
    int rc = 0;
    if (streq (command, "$TERM"))
        rc = -1;
    else
    if (streq (command, "CONFIGURE"))
        zsock_signal (reader, s_configure (self) == 0 ? 0 : 1);
    else
        zsys_error ("feedback: unknown pipe command '%s'", command);
    zstr_free (&command);
    return rc;
}


//  --------------------------------------------------------------------------
//  The actor

void
lw_feedback_actor (zsock_t *pipe, void *args)
{
    assert (pipe);
    assert (args);
    self_t *self = s_self_new (pipe, (const lw_actor_args_t *) args);
    zloop_reader (self->loop, pipe, s_handle_pipe, self);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    s_self_destroy (&self);
}


//  --------------------------------------------------------------------------
//  Self test helpers

typedef struct {
    char dir [64];              //  Temp home
    zconfig_t *config;          //  Config for the node
    lw_node_t node;             //  Node settings
    lw_actor_args_t args;       //  The actor's arguments
} test_node_t;

//  Sends a request and returns the reply frames (NULL on timeout)
static zmsg_t *
s_test_call (zsock_t *dealer, const lw_request_t *request)
{
    zframe_t *frame = lw_msg_request_encode (request);
    assert (frame);
    assert (zframe_send (&frame, dealer, 0) == 0);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    assert (poller);
    zmsg_t *reply = NULL;
    if (zpoller_wait (poller, 5000) == dealer)
        reply = zmsg_recv (dealer);
    zpoller_destroy (&poller);
    return reply;
}

//  Decodes the reply header; asserts it is well-formed
static lw_reply_t
s_test_header (zmsg_t *reply)
{
    assert (reply);
    lw_reply_t header;
    zframe_t *frame = zmsg_first (reply);
    assert (frame);
    assert (lw_msg_reply_decode (zframe_data (frame), zframe_size (frame),
                                 &header) == 0);
    assert (header.count == zmsg_size (reply) - 1);
    return header;
}

static lw_reply_t
s_test_op (zsock_t *dealer, uint8_t op, uint64_t alert_id, zmsg_t **reply_p)
{
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = op;
    request.alert_id = alert_id;
    zmsg_t *reply = s_test_call (dealer, &request);
    lw_reply_t header = s_test_header (reply);
    if (reply_p)
        *reply_p = reply;
    else
        zmsg_destroy (&reply);
    return header;
}

//  Decodes the alert in frame `index` of a reply (index 1 = first record)
static void
s_test_alert_at (zmsg_t *reply, size_t index, lw_alert_t *alert)
{
    zframe_t *frame = zmsg_first (reply);
    for (size_t skip = 0; skip < index; skip++)
        frame = zmsg_next (reply);
    assert (frame);
    assert (lw_msg_alert_decode (zframe_data (frame), zframe_size (frame),
                                 alert) == 0);
}

static void
s_test_publish (zsock_t *xpub, uint64_t local_seq, uint8_t state,
                double score)
{
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    alert.scorer = 42;
    alert.local_seq = local_seq;
    alert.state = state;
    snprintf (alert.sensor, sizeof (alert.sensor), "line1/press%d/temp",
              (int) local_seq);
    alert.opened = 1700000000 * LW_NS_PER_SEC;
    alert.updated = alert.opened + (int64_t) state * LW_NS_PER_SEC;
    alert.closed = state == LW_ALERT_CLOSE ? alert.updated : 0;
    alert.score = score;
    alert.value = 80;
    alert.expected_low = 20;
    alert.expected_high = 30;
    alert.ndetectors = 1;
    snprintf (alert.detectors [0], sizeof (alert.detectors [0]), "zscore");
    zframe_t *body = lw_msg_alert_encode (&alert);
    assert (body);
    assert (lw_msg_send (zsock_resolve (xpub), LW_TOPIC_ALERTS, &body, false)
            == 0);
}

//  Sends raw frames on a socket (a hostile peer)
static void
s_test_raw (zsock_t *socket, const void *first, size_t first_size,
            const void *second, size_t second_size)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, first, first_size);
    if (second)
        zmsg_addmem (msg, second, second_size);
    assert (zmsg_send (&msg, socket) == 0);
}

//  Polls the actor's STATS until a counter reaches a value, or times out
static bool
s_test_wait_counter (zsock_t *dealer, const char *counter, uint64_t value)
{
    int64_t deadline = zclock_mono () + 5000;
    while (zclock_mono () < deadline) {
        zmsg_t *reply = NULL;
        lw_reply_t header = s_test_op (dealer, LW_OP_STATS, 0, &reply);
        assert (header.status == 0 && header.count == 1);
        lw_ctrl_t *ctrl = (lw_ctrl_t *) zmalloc (sizeof (lw_ctrl_t));
        zframe_t *frame = zmsg_last (reply);
        assert (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                    ctrl) == 0);
        uint64_t current = lw_ctrl_stat (ctrl, counter);
        free (ctrl);
        zmsg_destroy (&reply);
        if (current >= value)
            return true;
        zclock_sleep (10);              //  Polling a condition, bounded
    }
    return false;
}

//  Waits until the XPUB sees a subscription (skipping unsubscriptions)
static void
s_test_wait_subscribed (zpoller_t *poller, zsock_t *xpub)
{
    while (true) {
        assert (zpoller_wait (poller, 5000) == xpub);
        zframe_t *frame = zframe_recv (xpub);
        assert (frame);
        bool subscribed = zframe_size (frame) == 3
                          && zframe_data (frame) [0] == 1
                          && zframe_data (frame) [1] == (LW_TOPIC_ALERTS >> 8)
                          && zframe_data (frame) [2]
                                 == (LW_TOPIC_ALERTS & 0xFF);
        zframe_destroy (&frame);
        if (subscribed)
            return;
    }
}

static zactor_t *
s_test_start (test_node_t *test)
{
    zactor_t *actor = zactor_new (lw_feedback_actor, &test->args);
    assert (actor);
    zstr_send (actor, "CONFIGURE");
    assert (zsock_wait (actor) == 0);
    return actor;
}


//  --------------------------------------------------------------------------
//  Self test: the actor in-process with a temp home; see the header

void
lw_feedback_test (bool verbose)
{
    printf (" * lw_feedback: ");
    if (verbose)
        printf ("\n");

    test_node_t test;
    memset (&test, 0, sizeof (test));
    snprintf (test.dir, sizeof (test.dir), "/tmp/lw-feedback-XXXXXX");
    assert (mkdtemp (test.dir));
    test.config = zconfig_new ("root", NULL);
    assert (test.config);
    zconfig_put (test.config, "feedback/store/mapsize", "1048576");
    //  No broker here: the member heartbeats into the void, harmlessly
    zconfig_put (test.config, "common/heartbeat", "100");
    assert (lw_node_load (test.config, test.dir, &test.node) == 0);
    test.args.config = test.config;
    test.args.node = &test.node;
    test.args.name = "feedback-test";

    //  We play the broker's events XPUB; the actor's SUB connects to it
    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    assert (xpub);
    zsock_set_linger (xpub, 0);
    zsock_set_xpub_verbose (xpub, 1);   //  See the restarted actor subscribe
    assert (zsock_bind (xpub, "%s", test.node.events_out) == 0);

    zactor_t *actor = s_test_start (&test);

    //  Configuring twice is refused
    zstr_send (actor, "CONFIGURE");
    assert (zsock_wait (actor) == 1);

    //  Wait for the subscription to the alerts topic
    zpoller_t *poller = zpoller_new (xpub, NULL);
    assert (poller);
    s_test_wait_subscribed (poller, xpub);

    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert (dealer);
    zsock_set_linger (dealer, 0);
    assert (zsock_connect (dealer, "%s", test.node.api) == 0);

    //  PING
    lw_reply_t header = s_test_op (dealer, LW_OP_PING, 0, NULL);
    assert (header.status == 0 && header.count == 0);

    //  Episode 1 opens, updates and closes; episode 2 opens
    s_test_publish (xpub, 1, LW_ALERT_OPEN, 0.8);
    s_test_publish (xpub, 1, LW_ALERT_UPDATE, 0.9);
    s_test_publish (xpub, 2, LW_ALERT_OPEN, 0.75);
    s_test_publish (xpub, 1, LW_ALERT_CLOSE, 0.5);
    assert (s_test_wait_counter (dealer, "updates", 4));

    zmsg_t *reply = NULL;
    header = s_test_op (dealer, LW_OP_ALERTS, 0, &reply);
    assert (header.status == 0 && header.count == 2);
    lw_alert_t alert;
    s_test_alert_at (reply, 1, &alert);
    assert (alert.id == 1);
    assert (streq (alert.sensor, "line1/press1/temp"));
    assert (alert.state == LW_ALERT_CLOSE && alert.closed > 0);
    assert (alert.score == 0.9);
    s_test_alert_at (reply, 2, &alert);
    assert (alert.id == 2 && alert.closed == 0);
    zmsg_destroy (&reply);

    //  Filters: open only, sensor, limit (the newest N)
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_ALERTS;
    request.open_only = true;
    reply = s_test_call (dealer, &request);
    header = s_test_header (reply);
    assert (header.count == 1);
    s_test_alert_at (reply, 1, &alert);
    assert (alert.id == 2);
    zmsg_destroy (&reply);
    request.open_only = false;
    snprintf (request.sensor, sizeof (request.sensor), "line1/press1");
    reply = s_test_call (dealer, &request);
    header = s_test_header (reply);
    assert (header.count == 1);
    s_test_alert_at (reply, 1, &alert);
    assert (alert.id == 1);
    zmsg_destroy (&reply);
    request.sensor [0] = 0;
    request.limit = 1;
    reply = s_test_call (dealer, &request);
    header = s_test_header (reply);
    assert (header.count == 1);
    s_test_alert_at (reply, 1, &alert);
    assert (alert.id == 2);
    zmsg_destroy (&reply);

    //  LABEL an alert, then a range; refusals have a status and a text
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_LABEL;
    request.alert_id = 1;
    request.label = LW_LABEL_NORMAL;
    snprintf (request.note, sizeof (request.note), "planned warm-up");
    reply = s_test_call (dealer, &request);
    header = s_test_header (reply);
    assert (header.status == 0 && header.count == 1);
    lw_label_t label;
    zframe_t *frame = zmsg_last (reply);
    assert (lw_msg_label_decode (zframe_data (frame), zframe_size (frame),
                                 &label) == 0);
    assert (label.id == 1 && label.alert_id == 1);
    assert (streq (label.sensor, "line1/press1/temp"));
    assert (streq (label.note, "planned warm-up"));
    zmsg_destroy (&reply);

    request.alert_id = 0;
    snprintf (request.sensor, sizeof (request.sensor), "line1/press9/temp");
    request.from = 10;
    request.to = 20;
    request.label = LW_LABEL_ANOMALY;
    header = s_test_header (reply = s_test_call (dealer, &request));
    assert (header.status == 0 && header.count == 1);
    zmsg_destroy (&reply);

    request.from = 30;                  //  from > to
    header = s_test_header (reply = s_test_call (dealer, &request));
    assert (header.status == LW_FEEDBACK_EINVAL && header.count == 0);
    assert (strlen (header.text) > 0);
    zmsg_destroy (&reply);
    request.from = 10;
    request.label = 7;                  //  not a label
    header = s_test_header (reply = s_test_call (dealer, &request));
    assert (header.status != 0 && header.count == 0);
    zmsg_destroy (&reply);
    request.label = LW_LABEL_ANOMALY;
    request.sensor [0] = 0;             //  range without a sensor
    header = s_test_header (reply = s_test_call (dealer, &request));
    assert (header.status == LW_FEEDBACK_EINVAL);
    zmsg_destroy (&reply);
    request.alert_id = 99;              //  no such alert
    header = s_test_header (reply = s_test_call (dealer, &request));
    assert (header.status == LW_FEEDBACK_ENOTFOUND);
    zmsg_destroy (&reply);

    //  SHOW: the alert with its label, then the label history
    header = s_test_op (dealer, LW_OP_SHOW, 1, &reply);
    assert (header.status == 0 && header.count == 2);
    s_test_alert_at (reply, 1, &alert);
    assert (alert.id == 1 && alert.label == LW_LABEL_NORMAL);
    frame = zmsg_last (reply);
    assert (lw_msg_label_decode (zframe_data (frame), zframe_size (frame),
                                 &label) == 0);
    assert (label.id == 1);
    zmsg_destroy (&reply);
    header = s_test_op (dealer, LW_OP_SHOW, 99, NULL);
    assert (header.status == LW_FEEDBACK_ENOTFOUND);

    //  LABELS
    header = s_test_op (dealer, LW_OP_LABELS, 0, NULL);
    assert (header.status == 0 && header.count == 2);

    //  Hostile input on the events stream: every one dropped and counted
    uint8_t topic [2] = {LW_TOPIC_ALERTS >> 8, LW_TOPIC_ALERTS & 0xFF};
    uint8_t huge_count [] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    uint8_t truncated [] = {0x9f, 0x01};
    uint8_t wrong_version [] = {0x92, 0x07, 0x05};
    s_test_raw (xpub, topic, 2, huge_count, sizeof (huge_count));
    s_test_raw (xpub, topic, 2, truncated, sizeof (truncated));
    s_test_raw (xpub, topic, 2, wrong_version, sizeof (wrong_version));
    s_test_raw (xpub, topic, 2, NULL, 0);       //  One frame only
    assert (s_test_wait_counter (dealer, "in", 8));
    assert (s_test_wait_counter (dealer, "drop_envelope", 1));

    //  Hostile requests: a bad body gets an error reply, and is counted
    s_test_raw (dealer, huge_count, sizeof (huge_count), NULL, 0);
    reply = zmsg_recv (dealer);
    header = s_test_header (reply);
    assert (header.status < 0 && header.count == 0);
    zmsg_destroy (&reply);
    s_test_raw (dealer, "x", 1, "y", 1);       //  Two frames
    reply = zmsg_recv (dealer);
    header = s_test_header (reply);
    assert (header.status == LW_MSG_ENVELOPE);
    zmsg_destroy (&reply);
    header = s_test_op (dealer, LW_OP_PING, 0, NULL);
    assert (header.status == 0);
    assert (s_test_wait_counter (dealer, "drop_api_envelope", 1));

    //  Restart on the same home: everything is still there, ids go on
    zactor_destroy (&actor);
    actor = s_test_start (&test);
    s_test_wait_subscribed (poller, xpub);
    header = s_test_op (dealer, LW_OP_ALERTS, 0, &reply);
    assert (header.status == 0 && header.count == 2);
    s_test_alert_at (reply, 1, &alert);
    assert (alert.id == 1 && alert.label == LW_LABEL_NORMAL);
    assert (alert.state == LW_ALERT_CLOSE);
    zmsg_destroy (&reply);
    header = s_test_op (dealer, LW_OP_LABELS, 0, NULL);
    assert (header.count == 2);

    s_test_publish (xpub, 3, LW_ALERT_OPEN, 0.99);
    s_test_publish (xpub, 2, LW_ALERT_CLOSE, 0.5);
    assert (s_test_wait_counter (dealer, "updates", 2));
    header = s_test_op (dealer, LW_OP_ALERTS, 0, &reply);
    assert (header.count == 3);
    s_test_alert_at (reply, 2, &alert);
    assert (alert.id == 2 && alert.state == LW_ALERT_CLOSE);
    s_test_alert_at (reply, 3, &alert);
    assert (alert.id == 3);
    zmsg_destroy (&reply);

    memset (&request, 0, sizeof (request));
    request.op = LW_OP_LABEL;
    request.alert_id = 3;
    request.label = LW_LABEL_ANOMALY;
    header = s_test_header (reply = s_test_call (dealer, &request));
    assert (header.status == 0);
    frame = zmsg_last (reply);
    assert (lw_msg_label_decode (zframe_data (frame), zframe_size (frame),
                                 &label) == 0);
    assert (label.id == 3);
    zmsg_destroy (&reply);

    zactor_destroy (&actor);
    zpoller_destroy (&poller);
    zsock_destroy (&dealer);
    zsock_destroy (&xpub);
    zconfig_destroy (&test.config);
    zdir_t *tree = zdir_new (test.dir, NULL);
    assert (tree);
    zdir_remove (tree, true);
    zdir_destroy (&tree);
    printf ("OK\n");
}
