/*  =========================================================================
    lw_source_gateway.c - the ZeroMQ gateway source (always on)

    Copyright (c) the linewatch authors. MIT license.

    A PULL socket bound at ingest/gateway takes reading batches from
    gateways, lw_client and `lwctl replay`. A message is either one frame
    holding a readings body (lw_batch_encode of an LW_MSG_READINGS batch)
    or a two-frame stream envelope [2-byte partition, body] (the partition
    is ignored: ingest partitions by key itself). Anything else is dropped
    and counted by reason: drop_envelope, drop_<lw_msg_strerror> of the
    decoder, drop_bad_type for another batch kind. maxmsgsize is set, so
    an oversized frame never reaches us (libzmq drops that peer).

    While paused the socket is not read: its HWM fills and the PUSH
    peers block, which is the backpressure a gateway expects.

    An ipc endpoint's socket file is removed when the source is destroyed
    (libzmq 4.3 leaves it): lw-ingest refusing its config after the
    gateway bound, or stopping, leaves no file behind. Only the file this
    source bound is removed (same inode), never one a newer lw-ingest of
    the same home bound since.
    =========================================================================
*/

#include <czmq.h>
#include <sys/stat.h>

#include "lw_cfg.h"
#include "lw_msg.h"
#include "lw_sockmon.h"
#include "lw_source.h"
#include "lw_util.h"

#define S_BURST 64      //  Messages read per loop iteration
#define S_WARN_FIRST 10 //  Warnings logged before rate limiting
#define S_WARN_PERIOD (60 * LW_NS_PER_SEC)

typedef struct {
    zloop_t *loop;         //  The actor's loop
    lw_sink_t *sink;       //  Where readings go
    zsock_t *pull;         //  Bound at ingest/gateway
    lw_batch_t *batch;     //  Decoding buffer, reused
    bool reading;          //  The reader is registered
    uint64_t warnings;     //  Bad frames warned about so far
    uint64_t suppressed;   //  ...and not logged since the summary
    int64_t summary_time;  //  Monotonic ns of the last summary
    lw_sockmon_t *monitor; //  Counts the connections libzmq drops
    int c_disconnects;     //  "disconnects" (e.g. a frame over the limit)
    char ipc_path[LW_ENDPOINT_MAX]; //  Socket file we bound, or ""
    dev_t ipc_dev; //  ...its device and inode, to remove only it
    ino_t ipc_ino;
} s_gateway_t;

//  --------------------------------------------------------------------------
//  After a bind: remembers the socket file of an ipc endpoint (not the
//  abstract namespace, not a wildcard, which libzmq removes itself)

static void
s_ipc_remember (s_gateway_t *self, const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) != 0)
        return;
    const char *path = endpoint + 6;
    struct stat info;
    if (*path == '@' || streq (path, "*") || stat (path, &info) != 0 ||
        !S_ISSOCK (info.st_mode) || strlen (path) >= sizeof (self->ipc_path))
        return;
    snprintf (self->ipc_path, sizeof (self->ipc_path), "%s", path);
    self->ipc_dev = info.st_dev;
    self->ipc_ino = info.st_ino;
}

//  --------------------------------------------------------------------------
//  Removes the socket file we bound, if it is still ours

static void
s_ipc_remove (s_gateway_t *self)
{
    if (!*self->ipc_path)
        return;
    struct stat info;
    if (stat (self->ipc_path, &info) == 0 && info.st_dev == self->ipc_dev &&
        info.st_ino == self->ipc_ino && unlink (self->ipc_path) != 0)
        zsys_warning ("ingest: cannot remove gateway socket path=%s "
                      "reason=%s",
                      self->ipc_path, strerror (errno));
    *self->ipc_path = 0;
}

//  --------------------------------------------------------------------------
//  Destroys the source state

static void
s_destroy (void **state_p)
{
    s_gateway_t *self = (s_gateway_t *)*state_p;
    if (self) {
        if (self->reading)
            zloop_reader_end (self->loop, self->pull);
        lw_sockmon_destroy (&self->monitor);
        zsock_destroy (&self->pull);
        s_ipc_remove (self);
        lw_batch_destroy (&self->batch);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  A gateway connection was closed (by its peer, or by libzmq for a frame
//  over the size limit)

static void
s_disconnected (void *arg)
{
    s_gateway_t *self = (s_gateway_t *)arg;
    lw_sink_count (self->sink, self->c_disconnects, 1);
}

//  --------------------------------------------------------------------------
//  Binds the PULL socket; NULL (logged) when it cannot

static void *
s_create (const lw_source_env_t *env)
{
    s_gateway_t *self = (s_gateway_t *)zmalloc (sizeof (s_gateway_t));
    if (!self)
        return NULL;
    self->loop = env->loop;
    self->sink = env->sink;
    self->batch = lw_batch_new (LW_MSG_READINGS);
    self->pull = zsock_new (ZMQ_PULL);
    if (!self->batch || !self->pull) {
        s_destroy ((void **)&self);
        return NULL;
    }
    zsock_set_maxmsgsize (self->pull, LW_MAX_FRAME_SIZE);
    zsock_set_rcvhwm (self->pull, (int)env->node->hwm);
    zsock_set_linger (self->pull, 0);
    if (zsock_bind (self->pull, "%s", env->node->gateway) == -1) {
        zsys_error ("ingest: cannot bind gateway endpoint=%s error=%s",
                    env->node->gateway, zmq_strerror (zmq_errno ()));
        s_destroy ((void **)&self);
        return NULL;
    }
    s_ipc_remember (self, zsock_endpoint (self->pull));
    //  A frame over LW_MAX_FRAME_SIZE never reaches us: libzmq drops the
    //  peer, and only a socket monitor sees it
    self->c_disconnects = lw_sink_counter (self->sink, "disconnects");
    self->monitor =
        lw_sockmon_new (self->pull, self->loop, s_disconnected, self);
    if (!self->monitor) {
        s_destroy ((void **)&self);
        return NULL;
    }
    zsys_info ("ingest: gateway bound endpoint=%s", env->node->gateway);
    return self;
}

//  --------------------------------------------------------------------------
//  Counts a bad message and warns at a bounded rate

static void
s_reject (s_gateway_t *self, const char *reason)
{
    lw_sink_drop (self->sink, reason, 1);
    if (self->warnings < S_WARN_FIRST) {
        self->warnings++;
        zsys_warning ("ingest: dropped gateway message reason=%s", reason);
        return;
    }
    self->suppressed++;
    int64_t now = lw_time_mono ();
    if (now - self->summary_time >= S_WARN_PERIOD) {
        zsys_warning ("ingest: dropped gateway messages count=%llu "
                      "last_reason=%s (rate limited)",
                      (unsigned long long)self->suppressed, reason);
        self->suppressed = 0;
        self->summary_time = now;
    }
}

//  --------------------------------------------------------------------------
//  Decodes one body and hands its readings to the sink

static void
s_take_body (s_gateway_t *self, zmq_msg_t *body)
{
    int rc = lw_batch_decode (self->batch, (const uint8_t *)zmq_msg_data (body),
                              zmq_msg_size (body));
    if (rc == 0 && lw_batch_kind (self->batch) != LW_MSG_READINGS)
        rc = LW_MSG_BAD_TYPE;
    if (rc != 0) {
        s_reject (self, lw_msg_strerror (rc));
        return;
    }
    size_t count = lw_batch_count (self->batch);
    for (size_t index = 0; index < count; index++) {
        lw_item_t *item = lw_batch_item (self->batch, index);
        //  The whole message is taken even if the sink asks to stop
        lw_sink_put_key (self->sink, item->sensor, item->time, item->value,
                         item->quality);
    }
}

//  --------------------------------------------------------------------------
//  Reader: takes up to S_BURST messages while the sink is open

static int
s_handle_pull (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    s_gateway_t *self = (s_gateway_t *)arg;
    void *handle = zsock_resolve (reader);
    for (int message_nbr = 0; message_nbr < S_BURST; message_nbr++) {
        if (message_nbr > 0 && !lw_sink_open (self->sink))
            break;
        zmq_msg_t frames[2];
        zmq_msg_init (&frames[0]);
        zmq_msg_init (&frames[1]);
        if (zmq_msg_recv (&frames[0], handle, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&frames[0]);
            zmq_msg_close (&frames[1]);
            break; //  EAGAIN: nothing more now
        }
        size_t count = 1;
        bool more = zmq_msg_more (&frames[0]);
        while (more) {
            zmq_msg_t *frame = &frames[count < 2 ? count : 1];
            if (count >= 2) {
                zmq_msg_close (frame);
                zmq_msg_init (frame);
            }
            if (zmq_msg_recv (frame, handle, ZMQ_DONTWAIT) == -1)
                break; //  Cannot happen: parts arrive together
            more = zmq_msg_more (frame);
            count++;
        }
        if (count == 1)
            s_take_body (self, &frames[0]);
        else if (count == 2 && zmq_msg_size (&frames[0]) == 2)
            s_take_body (self, &frames[1]);
        else
            s_reject (self, lw_msg_strerror (LW_MSG_ENVELOPE));
        zmq_msg_close (&frames[0]);
        zmq_msg_close (&frames[1]);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Born paused: the reader is registered on resume

static int
s_start (void *state)
{
    (void)state;
    return 0;
}

//  --------------------------------------------------------------------------
//  Stops reading: the PULL queue fills and the peers block

static void
s_pause (void *state)
{
    s_gateway_t *self = (s_gateway_t *)state;
    if (self->reading) {
        zloop_reader_end (self->loop, self->pull);
        self->reading = false;
    }
}

//  --------------------------------------------------------------------------
//  Reads again

static void
s_resume (void *state)
{
    s_gateway_t *self = (s_gateway_t *)state;
    if (!self->reading) {
        int rc = zloop_reader (self->loop, self->pull, s_handle_pull, self);
        assert (rc == 0);
        self->reading = true;
    }
}

const lw_source_ops_t lw_source_gateway = {.type = "gateway",
                                           .create = s_create,
                                           .destroy = s_destroy,
                                           .start = s_start,
                                           .pause = s_pause,
                                           .resume = s_resume,
                                           .done = NULL};
