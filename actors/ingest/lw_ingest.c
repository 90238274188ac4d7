/*  =========================================================================
    lw_ingest.c - lw-ingest: sources in, clean batches per partition out

    Copyright (c) the linewatch authors. MIT license.

    The actor's state is also the sink every source writes to (struct
    _lw_sink_t): lw_sink_put is the per-reading hot path - one cleaning
    check, one batch append, no allocation, no syscall (two clock reads
    per batch, not per reading).

    Flow control has two inputs and one output. Inputs: can_send (every
    partition subscribed, and READY from the broker when wait_ready) and
    the pending queue (encoded batches a dontwait send could not place).
    Output: `open` = can_send and nothing pending; when it changes, every
    source is paused or resumed. A batch that fills while not open is
    encoded and queued in order, so a source finishing its message in
    hand costs memory bounded by that message, never a reading.
    =========================================================================
*/

#include <czmq.h>

#include "lw_clean.h"
#include "lw_ingest.h"
#include "lw_main.h"
#include "lw_member.h"
#include "lw_msg.h"
#include "lw_sim.h"
#include "lw_source.h"
#include "lw_stats.h"
#include "lw_util.h"

#define S_FLUSH_TICK_MAX_MS 50 //  Longest flush timer period
#define S_READY_TICK_MS 20     //  How often READY is checked when idle
#define S_SOURCES_MAX 64       //  Most configured sources
#define S_DRAIN_MS 1000        //  Bounded wait for unsent batches at exit

//  An encoded batch waiting for room on the publisher
typedef struct {
    zframe_t *body;     //  Encoded batch
    uint16_t partition; //  Its partition
    uint32_t count;     //  Readings in it
} s_pending_t;

typedef struct _lw_sink_t self_t;

struct _lw_sink_t {
    zsock_t *pipe;         //  Actor pipe
    zloop_t *loop;         //  Reactor
    lw_actor_args_t *args; //  Config, node, name (borrowed)
    bool configured;       //  CONFIGURE succeeded
    lw_stats_t *stats;     //  Counters, sent with heartbeats
    int c_in;              //  Counter indices
    int c_out;
    int c_batches;
    int c_late;
    int c_drop[LW_CLEAN_RESULTS]; //  By lw_clean verdict
    lw_clean_t *clean;            //  Per-sensor state
    int64_t lateness;             //  Lateness bound, ns
    size_t batch_size;            //  ingest/batch
    int64_t flush;                //  ingest/flush, ns
    bool wait_ready;              //  ingest/wait_ready
    uint32_t partitions;          //  P
    uint64_t publisher;           //  Our publisher id
    lw_batch_t **batches;         //  One per partition
    int64_t *first;               //  Monotonic ns of each batch's first
    uint64_t *sequences;          //  Last sequence sent per partition
    zsock_t *pub;                 //  XPUB to the broker's readings XSUB
    void *pub_handle;             //  Its libzmq handle
    s_pending_t *pending;         //  Ring of batches waiting for room
    size_t pending_head;          //  Index of the oldest
    size_t pending_count;         //  Number waiting
    size_t pending_size;          //  Ring capacity
    bool sub_all;                 //  An empty prefix is subscribed
    bool sub_high[256];           //  One-byte prefixes subscribed
    bool *sub_exact;              //  Two-byte prefixes (partitions)
    size_t subscribed;            //  Partitions covered by subscriptions
    lw_member_t *member;          //  Group "ingest"
    lw_source_t *sources[S_SOURCES_MAX + 1]; //  Gateway + configured
    size_t nsources;                         //  Sources in use
    bool can_send;     //  Subscribed and (READY or not waited)
    bool open;         //  Sources are running
    size_t flush_tick; //  Flush timer period, ms
    int flush_timer;   //  Flush/retry timer while busy, or -1
    size_t nonempty;   //  Batches holding readings
};

//  --------------------------------------------------------------------------
//  Creates the infallible part of the state

static self_t *
s_self_new (zsock_t *pipe, lw_actor_args_t *args)
{
    self_t *self = (self_t *)zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->args = args;
    self->loop = zloop_new ();
    self->stats = lw_stats_new ();
    assert (self->loop && self->stats);
    self->flush_timer = -1;
    self->c_in = lw_stats_counter (self->stats, "in");
    self->c_out = lw_stats_counter (self->stats, "out");
    self->c_batches = lw_stats_counter (self->stats, "batches");
    self->c_late = lw_stats_counter (self->stats, "late");
    for (int verdict = 1; verdict < LW_CLEAN_RESULTS; verdict++) {
        char name[LW_STAT_NAME_MAX + 1];
        snprintf (name, sizeof (name), "drop_%s", lw_clean_reason (verdict));
        self->c_drop[verdict] = lw_stats_counter (self->stats, name);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the state: sources first (they use the loop and the sink)

static void
s_self_destroy (self_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        self_t *self = *self_p;
        for (size_t index = 0; index < self->nsources; index++)
            lw_source_destroy (&self->sources[index]);
        lw_member_destroy (&self->member);
        while (self->pending_count) {
            zframe_destroy (&self->pending[self->pending_head].body);
            self->pending_head = (self->pending_head + 1) % self->pending_size;
            self->pending_count--;
        }
        free (self->pending);
        zsock_destroy (&self->pub);
        if (self->batches)
            for (uint32_t partition = 0; partition < self->partitions;
                 partition++)
                lw_batch_destroy (&self->batches[partition]);
        free (self->batches);
        free (self->first);
        free (self->sequences);
        free (self->sub_exact);
        lw_clean_destroy (&self->clean);
        zloop_destroy (&self->loop);
        lw_stats_destroy (&self->stats);
        free (self);
        *self_p = NULL;
    }
}

static void s_flush_timer_start (self_t *self);

//  --------------------------------------------------------------------------
//  Appends an encoded batch to the pending ring (grows it: only while
//  blocked, so never per reading in steady state)

static void
s_pending_push (self_t *self, uint16_t partition, uint32_t count,
                zframe_t *body)
{
    if (self->pending_count == self->pending_size) {
        size_t size = self->pending_size ? self->pending_size * 2 : 64;
        s_pending_t *ring = (s_pending_t *)malloc (size * sizeof (s_pending_t));
        assert (ring);
        for (size_t index = 0; index < self->pending_count; index++)
            ring[index] = self->pending[(self->pending_head + index) %
                                        self->pending_size];
        free (self->pending);
        self->pending = ring;
        self->pending_head = 0;
        self->pending_size = size;
    }
    s_pending_t *slot =
        &self->pending[(self->pending_head + self->pending_count) %
                       self->pending_size];
    slot->body = body;
    slot->partition = partition;
    slot->count = count;
    self->pending_count++;
    s_flush_timer_start (self);
}

//  --------------------------------------------------------------------------
//  Sends one encoded batch without blocking. Returns 0 when it went out
//  (or failed for good, logged), -1 on EAGAIN with the body kept.

static int
s_send (self_t *self, uint16_t partition, uint32_t count, zframe_t **body_p)
{
    if (lw_msg_send (self->pub_handle, partition, body_p, true) == 0) {
        lw_stats_add (self->stats, self->c_out, count);
        lw_stats_add (self->stats, self->c_batches, 1);
        return 0;
    }
    if (zmq_errno () == EAGAIN)
        return -1;
    zsys_error ("ingest: send failed partition=%u readings=%u error=%s",
                partition, count, zmq_strerror (zmq_errno ()));
    zframe_destroy (body_p);
    lw_sink_drop (self, "send", count);
    return 0;
}

//  --------------------------------------------------------------------------
//  Sends pending batches, oldest first, while there is room

static void
s_drain (self_t *self)
{
    while (self->pending_count && self->can_send) {
        s_pending_t *slot = &self->pending[self->pending_head];
        if (s_send (self, slot->partition, slot->count, &slot->body))
            break; //  Still no room
        self->pending_head = (self->pending_head + 1) % self->pending_size;
        self->pending_count--;
    }
}

//  --------------------------------------------------------------------------
//  Recomputes can_send and open; pauses or resumes every source on change

static void
s_update (self_t *self)
{
    bool can_send = self->subscribed == self->partitions &&
                    (!self->wait_ready || lw_member_ready (self->member));
    if (can_send != self->can_send) {
        self->can_send = can_send;
        if (can_send)
            zsys_info ("ingest: ready to publish partitions=%u",
                       self->partitions);
        else
            zsys_info ("ingest: waiting subscribed=%zu/%u broker_ready=%d",
                       self->subscribed, self->partitions,
                       lw_member_ready (self->member));
        s_drain (self);
    }
    bool open = self->can_send && self->pending_count == 0;
    if (open != self->open) {
        self->open = open;
        for (size_t index = 0; index < self->nsources; index++)
            if (open)
                lw_source_resume (self->sources[index]);
            else
                lw_source_pause (self->sources[index]);
    }
}

//  --------------------------------------------------------------------------
//  Closes a partition's batch: stamps and encodes it, then sends it or
//  queues it behind what is pending

static void
s_flush (self_t *self, uint16_t partition)
{
    lw_batch_t *batch = self->batches[partition];
    uint32_t count = (uint32_t)lw_batch_count (batch);
    if (count == 0)
        return;
    lw_batch_set_sequence (batch, ++self->sequences[partition]);
    zframe_t *body = lw_batch_encode (batch);
    lw_batch_reset (batch);
    assert (self->nonempty > 0);
    self->nonempty--;
    if (!body) {
        //  Shows downstream as a sequence gap; never expected
        zsys_error ("ingest: cannot encode batch partition=%u", partition);
        lw_sink_drop (self, "encode", count);
        return;
    }
    if (self->pending_count == 0 && self->can_send &&
        s_send (self, partition, count, &body) == 0)
        return;
    s_pending_push (self, partition, count, body);
    s_update (self);
}

//  --------------------------------------------------------------------------
//  Sink: resolves a key to its sensor state

lw_sensor_t *
lw_sink_sensor (lw_sink_t *self, const char *key)
{
    assert (self);
    assert (key);
    int result;
    return lw_clean_sensor (self->clean, key, &result);
}

//  --------------------------------------------------------------------------
//  Sink: takes one reading. The hot path.

bool
lw_sink_put (lw_sink_t *self, lw_sensor_t *sensor, int64_t time, double value,
             uint32_t quality)
{
    lw_stats_add (self->stats, self->c_in, 1);
    int verdict =
        lw_clean_check (self->lateness, sensor, time, value, &quality);
    if (verdict != LW_CLEAN_OK) {
        lw_stats_add (self->stats, self->c_drop[verdict], 1);
        return self->open;
    }
    if (quality & LW_QUALITY_LATE)
        lw_stats_add (self->stats, self->c_late, 1);
    uint16_t partition = sensor->partition;
    lw_batch_t *batch = self->batches[partition];
    if (lw_batch_count (batch) == 0) {
        self->first[partition] = lw_time_mono ();
        lw_batch_set_ingest_time (batch, lw_time_now ());
        if (self->nonempty++ == 0)
            s_flush_timer_start (self);
    }
    lw_item_t *item = lw_batch_add (batch, sensor->key);
    assert (item); //  Valid key, and never full: see below
    item->time = time;
    item->value = value;
    item->quality = quality;
    if (lw_batch_count (batch) >= self->batch_size)
        s_flush (self, partition);
    return self->open;
}

//  --------------------------------------------------------------------------
//  Sink: takes one reading by key

bool
lw_sink_put_key (lw_sink_t *self, const char *key, int64_t time, double value,
                 uint32_t quality)
{
    assert (self);
    int result;
    lw_sensor_t *sensor = lw_clean_sensor (self->clean, key, &result);
    if (sensor)
        return lw_sink_put (self, sensor, time, value, quality);
    lw_stats_add (self->stats, self->c_in, 1);
    lw_stats_add (self->stats, self->c_drop[result], 1);
    return self->open;
}

//  --------------------------------------------------------------------------
//  Sink: true while sources may produce

bool
lw_sink_open (lw_sink_t *self)
{
    assert (self);
    return self->open;
}

//  --------------------------------------------------------------------------
//  Sink: counts a rejection as drop_<reason> (rare: a lookup by name)

void
lw_sink_drop (lw_sink_t *self, const char *reason, uint64_t count)
{
    assert (self);
    assert (reason);
    char name[LW_STAT_NAME_MAX + 1];
    snprintf (name, sizeof (name), "drop_%s", reason);
    lw_stats_add (self->stats, lw_stats_counter (self->stats, name), count);
}

//  --------------------------------------------------------------------------
//  Applies one subscription message the XPUB passed up

static void
s_subscription (self_t *self, const uint8_t *data, size_t size)
{
    if (size < 1 || data[0] > 1)
        return; //  Not a subscription message
    bool on = data[0] == 1;
    if (size == 1)
        self->sub_all = on;
    else if (size == 2)
        self->sub_high[data[1]] = on;
    else if (size == 3) {
        uint32_t partition = ((uint32_t)data[1] << 8) | data[2];
        if (partition < self->partitions)
            self->sub_exact[partition] = on;
    }
    //  Longer prefixes match no 2-byte partition frame: ignored
    size_t covered = 0;
    for (uint32_t partition = 0; partition < self->partitions; partition++)
        if (self->sub_all || self->sub_high[partition >> 8] ||
            self->sub_exact[partition])
            covered++;
    self->subscribed = covered;
}

//  --------------------------------------------------------------------------
//  Reader: subscription messages from the broker's XSUB

static int
s_handle_pub (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    zframe_t *frame = zframe_recv (reader);
    if (frame && self->configured) {
        s_subscription (self, zframe_data (frame), zframe_size (frame));
        s_update (self);
    }
    zframe_destroy (&frame);
    return 0;
}

//  --------------------------------------------------------------------------
//  Timer, while anything is batched or pending: flushes batches that are
//  old enough and retries pending sends; ends itself when idle so an idle
//  ingest does not wake every millisecond

static int
s_handle_flush (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    if (timer_id != self->flush_timer)
        return 0; //  A cancelled timer firing late
    int64_t now = lw_time_mono ();
    for (uint32_t partition = 0; partition < self->partitions; partition++)
        if (lw_batch_count (self->batches[partition]) &&
            now - self->first[partition] >= self->flush)
            s_flush (self, (uint16_t)partition);
    s_drain (self);
    s_update (self);
    if (self->nonempty == 0 && self->pending_count == 0) {
        zloop_timer_end (self->loop, self->flush_timer);
        self->flush_timer = -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Starts the flush timer unless it runs

static void
s_flush_timer_start (self_t *self)
{
    if (self->flush_timer == -1) {
        self->flush_timer =
            zloop_timer (self->loop, self->flush_tick, 0, s_handle_flush, self);
        assert (self->flush_timer != -1);
    }
}

//  --------------------------------------------------------------------------
//  Timer, always: follows the broker's READY

static int
s_handle_ready (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    self_t *self = (self_t *)arg;
    s_drain (self);
    s_update (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Creates one source and adds it to the list; -1 (logged) on failure

static int
s_add_source (self_t *self, const char *name, const char *path,
              const lw_source_ops_t *ops)
{
    if (self->nsources == S_SOURCES_MAX) {
        zsys_error ("config: more than %d sources under ingest/source",
                    S_SOURCES_MAX - 1);
        return -1;
    }
    lw_source_env_t env = {.loop = self->loop,
                           .sink = self,
                           .config = self->args->config,
                           .path = path,
                           .name = name,
                           .node = self->args->node};
    lw_source_t *source = lw_source_new (&env, ops);
    if (!source || lw_source_start (source)) {
        lw_source_destroy (&source);
        return -1;
    }
    self->sources[self->nsources++] = source;
    return 0;
}

//  --------------------------------------------------------------------------
//  CONFIGURE: reads the ingest section, connects, binds, makes sources.
//  Returns 0 or -1 (logged).

static int
s_configure (self_t *self)
{
    if (self->configured) {
        zsys_error ("ingest: CONFIGURE twice");
        return -1;
    }
    zconfig_t *config = self->args->config;
    const lw_node_t *node = self->args->node;
    long batch, flush, lateness, sensors_max;
    bool wait_ready;
    int rc = lw_cfg_int (config, "ingest/batch", 512, 1, LW_BATCH_MAX, &batch);
    rc |= lw_cfg_int (config, "ingest/flush", 5, 1, 1000, &flush);
    rc |= lw_cfg_int (config, "ingest/lateness", 60000, 0, 86400000, &lateness);
    rc |= lw_cfg_int (config, "ingest/sensors_max", 1000000, 1, 100000000,
                      &sensors_max);
    rc |= lw_cfg_bool (config, "ingest/wait_ready", true, &wait_ready);
    if (rc)
        return -1;
    if (node->partitions < 1 || node->partitions > LW_PARTITIONS_MAX) {
        zsys_error ("ingest: bad partition count %ld", node->partitions);
        return -1;
    }
    self->batch_size = (size_t)batch;
    self->flush = flush * LW_NS_PER_MS;
    self->lateness = lateness * LW_NS_PER_MS;
    self->wait_ready = wait_ready;
    self->partitions = (uint32_t)node->partitions;
    self->publisher = lw_random_id ();

    self->clean =
        lw_clean_new (self->partitions, self->lateness, (size_t)sensors_max);
    self->batches =
        (lw_batch_t **)calloc (self->partitions, sizeof (lw_batch_t *));
    self->first = (int64_t *)calloc (self->partitions, sizeof (int64_t));
    self->sequences = (uint64_t *)calloc (self->partitions, sizeof (uint64_t));
    self->sub_exact = (bool *)calloc (self->partitions, sizeof (bool));
    if (!self->clean || !self->batches || !self->first || !self->sequences ||
        !self->sub_exact)
        return -1;
    for (uint32_t partition = 0; partition < self->partitions; partition++) {
        lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
        if (!batch)
            return -1;
        lw_batch_set_publisher (batch, self->publisher);
        lw_batch_set_partition (batch, (uint16_t)partition);
        self->batches[partition] = batch;
    }

    //  Publisher: XPUB with NODROP, so a full pipe is EAGAIN, not loss
    self->pub = zsock_new (ZMQ_XPUB);
    if (!self->pub)
        return -1;
    self->pub_handle = zsock_resolve (self->pub);
    zsock_set_xpub_nodrop (self->pub, 1);
    zsock_set_sndhwm (self->pub, (int)node->hwm);
    zsock_set_rcvhwm (self->pub, (int)node->hwm);
    zsock_set_maxmsgsize (self->pub, LW_MAX_FRAME_SIZE);
    zsock_set_linger (self->pub, 0);
    if (zsock_connect (self->pub, "%s", node->readings_in) == -1) {
        zsys_error ("ingest: cannot connect readings endpoint=%s error=%s",
                    node->readings_in, zmq_strerror (zmq_errno ()));
        return -1;
    }
    if (zloop_reader (self->loop, self->pub, s_handle_pub, self))
        return -1;

    self->member = lw_member_new (node->coordinator, "ingest", self->args->name,
                                  (int)node->heartbeat, self->stats);
    if (!self->member || lw_member_attach (self->member, self->loop))
        return -1;

    //  The gateway first, then every configured source
    if (s_add_source (self, "gateway", "ingest", &lw_source_gateway))
        return -1;
    zconfig_t *section = zconfig_locate (config, "ingest/source");
    zconfig_t *child = section ? zconfig_child (section) : NULL;
    for (; child; child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        if (!name || strlen (name) == 0 || strlen (name) > LW_NAME_MAX) {
            zsys_error ("config: ingest/source/%.64s: bad source name",
                        name ? name : "");
            return -1;
        }
        for (size_t index = 0; index < self->nsources; index++)
            if (streq (lw_source_name (self->sources[index]), name)) {
                zsys_error ("config: ingest/source/%s: duplicate source "
                            "name",
                            name);
                return -1;
            }
        char path[LW_NAME_MAX + 32];
        snprintf (path, sizeof (path), "ingest/source/%s", name);
        if (s_add_source (self, name, path, NULL))
            return -1;
    }
    long period = flush / 4;
    if (period < 1)
        period = 1;
    if (period > S_FLUSH_TICK_MAX_MS)
        period = S_FLUSH_TICK_MAX_MS;
    self->flush_tick = (size_t)period;
    if (zloop_timer (self->loop, S_READY_TICK_MS, 0, s_handle_ready, self) ==
        -1)
        return -1;
    self->configured = true;
    zsys_info ("ingest: configured publisher=%016llx sources=%zu "
               "partitions=%u batch=%zu flush=%ldms lateness=%ldms "
               "wait_ready=%d",
               (unsigned long long)self->publisher, self->nsources,
               self->partitions, self->batch_size, flush, lateness, wait_ready);
    return 0;
}

//  --------------------------------------------------------------------------
//  At exit: sends what is batched, waiting a bounded time for room

static void
s_shutdown (self_t *self)
{
    if (!self->configured)
        return;
    for (size_t index = 0; index < self->nsources; index++)
        lw_source_pause (self->sources[index]);
    for (uint32_t partition = 0; partition < self->partitions; partition++)
        s_flush (self, (uint16_t)partition);
    int64_t deadline = zclock_mono () + S_DRAIN_MS;
    s_drain (self);
    while (self->pending_count && self->can_send && zclock_mono () < deadline) {
        //  Wait for room; reading subscriptions on the way
        zmq_pollitem_t item = {self->pub_handle, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 5) == 1) {
            zframe_t *frame = zframe_recv (self->pub);
            zframe_destroy (&frame);
        }
        s_drain (self);
    }
    uint64_t unsent = 0;
    for (size_t index = 0; index < self->pending_count; index++)
        unsent +=
            self->pending[(self->pending_head + index) % self->pending_size]
                .count;
    if (unsent)
        zsys_warning ("ingest: stopping with unsent readings=%llu",
                      (unsigned long long)unsent);
    //  Give libzmq time to hand over what it queued
    zsock_set_linger (self->pub, S_DRAIN_MS);
    zsys_info ("ingest: stopped in=%llu out=%llu",
               (unsigned long long)lw_stats_get (self->stats, self->c_in),
               (unsigned long long)lw_stats_get (self->stats, self->c_out));
}

//  --------------------------------------------------------------------------
//  Pipe: CONFIGURE, COUNTER, $TERM

static int
s_handle_pipe (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    zmsg_t *msg = zmsg_recv (reader);
    if (!msg)
        return -1; //  Interrupted
    char *command = zmsg_popstr (msg);
    int rc = 0;
    if (!command)
        ;
    else if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "CONFIGURE")) {
        int result = s_configure (self);
        zsock_signal (self->pipe, result == 0 ? 0 : 1);
    }
    else if (streq (command, "COUNTER")) {
        char *name = zmsg_popstr (msg);
        zstr_sendf (self->pipe, "%llu",
                    name
                        ? (unsigned long long)lw_stats_value (self->stats, name)
                        : 0ULL);
        zstr_free (&name);
    }
    else
        zsys_error ("ingest: unknown pipe command '%s'", command);
    zstr_free (&command);
    zmsg_destroy (&msg);
    return rc;
}

//  --------------------------------------------------------------------------
//  The actor

void
lw_ingest_actor (zsock_t *pipe, void *args)
{
    assert (args);
    self_t *self = s_self_new (pipe, (lw_actor_args_t *)args);
    zloop_reader (self->loop, pipe, s_handle_pipe, self);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    s_shutdown (self);
    s_self_destroy (&self);
}

//  --------------------------------------------------------------------------
//  Self test helpers

//  A test node: temp home, endpoints in it, config built in memory
typedef struct {
    char dir[64];         //  Temp home
    lw_node_t node;       //  Settings and endpoints
    zconfig_t *config;    //  Config
    lw_actor_args_t args; //  What the actor gets
    zsock_t *xsub;        //  Stands in for the broker's XSUB
    zactor_t *actor;      //  The ingest actor
} s_test_t;

static void
s_test_setup (s_test_t *test, uint32_t partitions, long hwm)
{
    memset (test, 0, sizeof (*test));
    strcpy (test->dir, "/tmp/lw_ingest_test.XXXXXX");
    assert (mkdtemp (test->dir));
    snprintf (test->node.home, sizeof (test->node.home), "%s", test->dir);
    test->node.partitions = partitions;
    test->node.heartbeat = 100;
    test->node.misses = 3;
    test->node.hwm = hwm;
    snprintf (test->node.readings_in, LW_ENDPOINT_MAX, "ipc://%s/in",
              test->dir);
    snprintf (test->node.gateway, LW_ENDPOINT_MAX, "ipc://%s/gw", test->dir);
    snprintf (test->node.coordinator, LW_ENDPOINT_MAX, "ipc://%s/coord",
              test->dir);
    test->config = zconfig_new ("root", NULL);
    assert (test->config);
    test->args.config = test->config;
    test->args.node = &test->node;
    test->args.name = "ingest-test";
    test->xsub = zsock_new (ZMQ_XSUB);
    assert (test->xsub);
    zsock_set_rcvhwm (test->xsub, (int)hwm);
    assert (zsock_bind (test->xsub, "%s", test->node.readings_in) == 0);
}

//  Starts the actor; returns the CONFIGURE result
static int
s_test_start (s_test_t *test)
{
    test->actor = zactor_new (lw_ingest_actor, &test->args);
    assert (test->actor);
    zstr_send (test->actor, "CONFIGURE");
    return zsock_wait (test->actor);
}

//  Subscribes the stand-in XSUB to everything
static void
s_test_subscribe (s_test_t *test)
{
    uint8_t subscribe = 1;
    zframe_t *frame = zframe_new (&subscribe, 1);
    assert (zframe_send (&frame, test->xsub, 0) == 0);
}

static uint64_t
s_test_counter (s_test_t *test, const char *name)
{
    zstr_sendx (test->actor, "COUNTER", name, NULL);
    char *reply = zstr_recv (test->actor);
    assert (reply);
    uint64_t value = strtoull (reply, NULL, 10);
    zstr_free (&reply);
    return value;
}

//  Receives one batch within timeout_ms into batch; returns its partition
//  or -1 on timeout
static int
s_test_recv (s_test_t *test, lw_batch_t *batch, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (test->xsub, NULL);
    assert (poller);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    if (which != test->xsub)
        return -1;
    zmsg_t *msg = zmsg_recv (test->xsub);
    assert (msg);
    uint16_t partition;
    assert (lw_msg_envelope (msg, &partition) == 0);
    zframe_t *body = zmsg_last (msg);
    assert (lw_batch_decode (batch, zframe_data (body), zframe_size (body)) ==
            0);
    assert (lw_batch_kind (batch) == LW_MSG_READINGS);
    assert (lw_batch_partition (batch) == partition);
    zmsg_destroy (&msg);
    return partition;
}

static void
s_test_teardown (s_test_t *test)
{
    zactor_destroy (&test->actor);
    zsock_destroy (&test->xsub);
    zconfig_destroy (&test->config);
    zdir_t *dir = zdir_new (test->dir, NULL);
    if (dir) {
        zdir_remove (dir, true); //  Files the test wrote, and the dir
        zdir_destroy (&dir);
    }
}

//  Sends one readings batch (single frame) on a PUSH
static void
s_test_push (zsock_t *push, const char *sensor, int64_t time, double value)
{
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (batch);
    lw_item_t *item = lw_batch_add (batch, sensor);
    assert (item);
    item->time = time;
    item->value = value;
    zframe_t *body = lw_batch_encode (batch);
    assert (body);
    assert (zframe_send (&body, push, 0) == 0);
    lw_batch_destroy (&batch);
}

static void
s_test_push_bytes (zsock_t *push, const void *data, size_t size)
{
    zframe_t *frame = zframe_new (data, size);
    assert (zframe_send (&frame, push, 0) == 0);
}

//  --------------------------------------------------------------------------
//  Test: the simulator through the actor to a subscriber. Per-partition
//  sequences have no gaps (no loss under backpressure: hwm is tiny and the
//  simulator unpaced), each reading is in its key's partition, and every
//  sensor's readings equal those of a twin simulator, in order.

static void
s_test_simulator (bool verbose)
{
    s_test_t test;
    s_test_setup (&test, 8, 10);
    zconfig_put (test.config, "ingest/wait_ready", "0");
    zconfig_put (test.config, "ingest/batch", "100");
    zconfig_put (test.config, "ingest/flush", "5");
    zconfig_put (test.config, "ingest/source/sim/type", "simulator");
    zconfig_put (test.config, "ingest/source/sim/machines", "4");
    zconfig_put (test.config, "ingest/source/sim/sensors", "5");
    zconfig_put (test.config, "ingest/source/sim/interval", "1000");
    zconfig_put (test.config, "ingest/source/sim/rate", "0");
    zconfig_put (test.config, "ingest/source/sim/faults", "60");
    zconfig_put (test.config, "ingest/source/sim/seed", "7");
    zconfig_put (test.config, "ingest/source/sim/start", "1700000000");
    zconfig_put (test.config, "ingest/source/sim/truth", "truth.csv");
    assert (s_test_start (&test) == 0);

    //  Nothing flows before a subscription covers every partition
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (batch);
    assert (s_test_recv (&test, batch, 100) == -1);
    assert (s_test_counter (&test, "in") == 0);
    s_test_subscribe (&test);

    //  The twin: same config, its readings split per sensor
    lw_sim_config_t config = {.line = "line1",
                              .machines = 4,
                              .sensors = 5,
                              .interval = 1000 * LW_NS_PER_MS,
                              .faults = 60,
                              .seed = 7,
                              .start = 1700000000 * LW_NS_PER_SEC};
    lw_sim_t *twin = lw_sim_new (&config);
    assert (twin);
    size_t wanted = 20000;
    size_t total = wanted * 2;
    lw_sim_reading_t *reference =
        (lw_sim_reading_t *)calloc (total, sizeof (lw_sim_reading_t));
    assert (reference);
    assert (lw_sim_generate (twin, reference, total) == total);
    zhash_t *index_of = zhash_new ();
    size_t nsensors = lw_sim_sensors (twin);
    size_t *taken = (size_t *)calloc (nsensors, sizeof (size_t));
    size_t **positions = (size_t **)calloc (nsensors, sizeof (size_t *));
    size_t *available = (size_t *)calloc (nsensors, sizeof (size_t));
    assert (index_of && taken && positions && available);
    for (size_t sensor = 0; sensor < nsensors; sensor++) {
        zhash_insert (index_of, lw_sim_key (twin, sensor),
                      (void *)(uintptr_t)(sensor + 1));
        positions[sensor] = (size_t *)calloc (total, sizeof (size_t));
        assert (positions[sensor]);
    }
    for (size_t index = 0; index < total; index++) {
        size_t sensor = reference[index].sensor;
        positions[sensor][available[sensor]++] = index;
    }

    uint64_t sequences[8] = {0};
    uint64_t publisher = 0;
    size_t received = 0;
    int64_t started = zclock_usecs ();
    while (received < wanted) {
        int partition = s_test_recv (&test, batch, 5000);
        assert (partition >= 0 && partition < 8);
        if (publisher == 0)
            publisher = lw_batch_publisher (batch);
        assert (lw_batch_publisher (batch) == publisher);
        assert (lw_batch_sequence (batch) == sequences[partition] + 1);
        sequences[partition]++;
        assert (lw_batch_ingest_time (batch) > 0);
        size_t count = lw_batch_count (batch);
        assert (count >= 1 && count <= 100);
        for (size_t index = 0; index < count; index++) {
            lw_item_t *item = lw_batch_item (batch, index);
            assert (lw_partition (item->sensor, 8) == partition);
            size_t sensor =
                (size_t)(uintptr_t)zhash_lookup (index_of, item->sensor);
            assert (sensor > 0);
            sensor--;
            assert (taken[sensor] < available[sensor]);
            lw_sim_reading_t *expected =
                &reference[positions[sensor][taken[sensor]++]];
            assert (item->time == expected->time);
            assert (item->value == expected->value);
            assert (item->quality == 0);
            received++;
        }
    }
    int64_t elapsed = zclock_usecs () - started;
    if (verbose)
        printf ("   simulator -> subscriber (hwm 10, batch 100, decoded "
                "and checked): %zu readings in %lld us\n",
                received, (long long)elapsed);
    assert (s_test_counter (&test, "in") >= received);
    assert (s_test_counter (&test, "out") >= received);
    assert (s_test_counter (&test, "drop_duplicate") == 0);
    assert (s_test_counter (&test, "drop_late") == 0);
    assert (s_test_counter (&test, "drop_nonfinite") == 0);
    assert (s_test_counter (&test, "batches") > 0);

    //  The truth file is written as faults start
    zactor_destroy (&test.actor);
    char *truth = zsys_sprintf ("%s/truth.csv", test.dir);
    FILE *file = fopen (truth, "r");
    assert (file);
    char line[256];
    assert (fgets (line, sizeof (line), file));
    assert (streq (line, "sensor,type,start,end\n"));
    assert (fgets (line, sizeof (line), file));
    assert (strncmp (line, "line1/m", 7) == 0);
    fclose (file);
    zstr_free (&truth);

    for (size_t sensor = 0; sensor < nsensors; sensor++)
        free (positions[sensor]);
    free (positions);
    free (available);
    free (taken);
    free (reference);
    zhash_destroy (&index_of);
    lw_sim_destroy (&twin);
    lw_batch_destroy (&batch);
    s_test_teardown (&test);
}

//  --------------------------------------------------------------------------
//  Test: the gateway with good and bad frames, and cleaning

static void
s_test_gateway (bool verbose)
{
    s_test_t test;
    s_test_setup (&test, 4, 1000);
    zconfig_put (test.config, "ingest/wait_ready", "0");
    zconfig_put (test.config, "ingest/flush", "2");
    zconfig_put (test.config, "ingest/lateness", "10000");
    assert (s_test_start (&test) == 0);
    s_test_subscribe (&test);
    zsock_t *push = zsock_new_push (test.node.gateway);
    assert (push);

    int64_t base = 1700000000 * LW_NS_PER_SEC;
    //  Ten good readings
    lw_batch_t *good = lw_batch_new (LW_MSG_READINGS);
    assert (good);
    for (int index = 0; index < 10; index++) {
        lw_item_t *item = lw_batch_add (good, "gw/m1/a");
        item->time = base + index * LW_NS_PER_SEC;
        item->value = index;
    }
    zframe_t *body = lw_batch_encode (good);
    assert (body);
    //  ... sent as a two-frame stream envelope (also accepted)
    zmsg_t *msg = zmsg_new ();
    uint8_t prefix[2] = {0, 1};
    zmsg_addmem (msg, prefix, 2);
    zmsg_append (msg, &body);
    assert (zmsg_send (&msg, push) == 0);

    //  Cleaning: non-finite, duplicate, too late, late but accepted
    s_test_push (push, "gw/m1/a", base + 10 * LW_NS_PER_SEC, NAN);
    s_test_push (push, "gw/m1/a", base + 9 * LW_NS_PER_SEC, 99);
    s_test_push (push, "gw/m1/a", base - 2 * LW_NS_PER_SEC, 99);
    s_test_push (push, "gw/m1/a", base + 8 * LW_NS_PER_SEC / 2 + 1, 42);

    //  Bad frames, each counted by its decoder reason
    body = lw_batch_encode (good);
    assert (body);
    size_t size = zframe_size (body);
    uint8_t *bytes = (uint8_t *)malloc (size + 1);
    assert (bytes);
    memcpy (bytes, zframe_data (body), size);
    bytes[size] = 0xc0;
    s_test_push_bytes (push, bytes, size - 1); //  Truncated
    s_test_push_bytes (push, bytes, size + 1); //  Trailing
    uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    s_test_push_bytes (push, huge, sizeof (huge));
    int huge_code = lw_batch_decode (good, huge, sizeof (huge));
    assert (huge_code < 0);
    zframe_destroy (&body);
    lw_batch_t *features = lw_batch_new (LW_MSG_FEATURES);
    lw_item_t *vector = lw_batch_add (features, "gw/m1/a");
    vector->time = base;
    body = lw_batch_encode (features);
    assert (body);
    assert (zframe_send (&body, push, 0) == 0); //  Kind
    lw_batch_destroy (&features);
    msg = zmsg_new (); //  3 frames
    zmsg_addstr (msg, "a");
    zmsg_addstr (msg, "b");
    zmsg_addstr (msg, "c");
    assert (zmsg_send (&msg, push) == 0);
    msg = zmsg_new (); //  Bad prefix
    zmsg_addstr (msg, "abc");
    zmsg_addmem (msg, bytes, size);
    assert (zmsg_send (&msg, push) == 0);
    free (bytes);

    //  A last good reading on another machine marks the end
    s_test_push (push, "gw/m2/b", base, 7);

    //  Expect 10 + 1 (late, accepted) + 1 readings
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    size_t received = 0;
    bool saw_late = false, saw_end = false;
    while (received < 12) {
        int partition = s_test_recv (&test, batch, 5000);
        assert (partition >= 0);
        for (size_t index = 0; index < lw_batch_count (batch); index++) {
            lw_item_t *item = lw_batch_item (batch, index);
            assert (lw_partition (item->sensor, 4) == partition);
            if (streq (item->sensor, "gw/m2/b")) {
                assert (item->value == 7);
                saw_end = true;
            }
            else if (item->value == 42) {
                assert (item->quality == LW_QUALITY_LATE);
                saw_late = true;
            }
            else {
                assert (item->quality == 0);
                assert (item->time ==
                        base + (int64_t)item->value * LW_NS_PER_SEC);
            }
            received++;
        }
    }
    assert (saw_late && saw_end);
    assert (s_test_recv (&test, batch, 20) == -1);
    assert (s_test_counter (&test, "in") == 15);
    assert (s_test_counter (&test, "out") == 12);
    assert (s_test_counter (&test, "late") == 1);
    assert (s_test_counter (&test, "drop_nonfinite") == 1);
    assert (s_test_counter (&test, "drop_duplicate") == 1);
    assert (s_test_counter (&test, "drop_late") == 1);
    assert (s_test_counter (&test, "drop_truncated") == 1);
    assert (s_test_counter (&test, "drop_trailing") == 1);
    assert (s_test_counter (&test, "drop_bad_type") == 1);
    assert (s_test_counter (&test, "drop_envelope") == 2);
    char name[64];
    snprintf (name, sizeof (name), "drop_%s", lw_msg_strerror (huge_code));
    assert (s_test_counter (&test, name) == 1);
    if (verbose)
        printf ("   gateway: good, cleaned and hostile frames counted\n");
    lw_batch_destroy (&batch);
    lw_batch_destroy (&good);
    zsock_destroy (&push);
    s_test_teardown (&test);
}

//  --------------------------------------------------------------------------
//  Test: with wait_ready the sources wait for the broker's READY even when
//  subscribed; bad configs are refused

static void
s_test_ready_and_config (bool verbose)
{
    s_test_t test;
    s_test_setup (&test, 4, 1000);
    zconfig_put (test.config, "ingest/source/sim/type", "simulator");
    zconfig_put (test.config, "ingest/source/sim/rate", "0");
    assert (s_test_start (&test) == 0);
    s_test_subscribe (&test);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (s_test_recv (&test, batch, 200) == -1);
    assert (s_test_counter (&test, "in") == 0);
    lw_batch_destroy (&batch);
    s_test_teardown (&test);

    const char *bad[][2] = {
        {"ingest/batch", "0"},
        {"ingest/batch", "5000"},
        {"ingest/flush", "abc"},
        {"ingest/source/x/type", "nonesuch"},
        {"ingest/source/x/machines", "0"},
        {"ingest/source/x/faults", "-1"},
        {"ingest/source/x/line", "bad\tline"},
        {"ingest/source/x/type", "csv"},
    };
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++) {
        s_test_setup (&test, 4, 1000);
        zconfig_put (test.config, bad[index][0], bad[index][1]);
        assert (s_test_start (&test) == 1);
        s_test_teardown (&test);
    }
    if (verbose)
        printf ("   ready gating and bad configs\n");
}

//  --------------------------------------------------------------------------
//  Test: CSV replay (long shape) with a bad key and a bad row

static void
s_test_csv (bool verbose)
{
    s_test_t test;
    s_test_setup (&test, 4, 1000);
    char *path = zsys_sprintf ("%s/replay.csv", test.dir);
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "timestamp,sensor,value\n"
                   "2024-01-01T00:00:00Z,csv/m1/a,1.5\n"
                   "2024-01-01T00:00:01Z,csv/m1/b,2.5\n"
                   "2024-01-01T00:00:02Z,bad\x01key,3\n"
                   "2024-01-01T00:00:03Z,csv/m1/a,not-a-number\n"
                   "2024-01-01T00:00:04Z,csv/m1/a,4.5\n");
    fclose (file);
    //  A wide file (one machine, a column per sensor) replayed alongside
    char *wide = zsys_sprintf ("%s/wide.csv", test.dir);
    file = fopen (wide, "w");
    assert (file);
    fprintf (file, "timestamp;a;b\n"
                   "2024-01-01 00:00:00;10;20\n"
                   "2024-01-01 00:00:01;;40\n");
    fclose (file);
    zconfig_put (test.config, "ingest/wait_ready", "0");
    zconfig_put (test.config, "ingest/source/replay/type", "csv");
    zconfig_put (test.config, "ingest/source/replay/path", "replay.csv");
    zconfig_put (test.config, "ingest/source/replay/speed", "0");
    zconfig_put (test.config, "ingest/source/wide/type", "csv");
    zconfig_put (test.config, "ingest/source/wide/path", "wide.csv");
    zconfig_put (test.config, "ingest/source/wide/machine", "csv/m2");
    zconfig_put (test.config, "ingest/source/wide/speed", "0");
    assert (s_test_start (&test) == 0);
    s_test_subscribe (&test);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    size_t received = 0;
    double sum = 0, wide_sum = 0;
    while (received < 6) {
        assert (s_test_recv (&test, batch, 5000) >= 0);
        for (size_t index = 0; index < lw_batch_count (batch); index++) {
            lw_item_t *item = lw_batch_item (batch, index);
            if (strncmp (item->sensor, "csv/m2/", 7) == 0) {
                assert (streq (item->sensor + 7, "a") ||
                        streq (item->sensor + 7, "b"));
                wide_sum += item->value;
            }
            else {
                assert (strncmp (item->sensor, "csv/m1/", 7) == 0);
                sum += item->value;
            }
            received++;
        }
    }
    assert (sum == 1.5 + 2.5 + 4.5);
    assert (wide_sum == 10 + 20 + 40);
    zstr_free (&wide);
    assert (s_test_counter (&test, "drop_bad_key") == 1);
    assert (s_test_counter (&test, "drop_bad_row") == 1);
    lw_batch_destroy (&batch);
    zstr_free (&path);
    s_test_teardown (&test);
    if (verbose)
        printf ("   csv replay\n");
}

//  --------------------------------------------------------------------------
//  Test: a paced simulator never runs ahead of its rate; a narrow CSV
//  that loops keeps its timestamps moving forward

static void
s_test_pacing_and_loop (bool verbose)
{
    s_test_t test;
    s_test_setup (&test, 4, 1000);
    zconfig_put (test.config, "ingest/wait_ready", "0");
    zconfig_put (test.config, "ingest/source/sim/type", "simulator");
    zconfig_put (test.config, "ingest/source/sim/machines", "2");
    zconfig_put (test.config, "ingest/source/sim/sensors", "5");
    zconfig_put (test.config, "ingest/source/sim/rate", "2000");
    assert (s_test_start (&test) == 0);
    s_test_subscribe (&test);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (s_test_recv (&test, batch, 5000) >= 0);
    int64_t started = zclock_mono ();
    size_t received = 0;
    while (zclock_mono () - started < 500)
        if (s_test_recv (&test, batch, 100) >= 0)
            received += lw_batch_count (batch);
    int64_t elapsed = zclock_mono () - started;
    if (verbose)
        printf ("   paced at 2000/s: %zu readings in %lld ms\n", received,
                (long long)elapsed);
    //  Upper bound is exact (plus one flush of slack); the lower bound is
    //  loose because a loaded machine may run the timer late
    assert (received <= (size_t)(2 * (elapsed + 20)));
    assert (received >= (size_t)(elapsed / 4));
    s_test_teardown (&test);

    s_test_setup (&test, 4, 1000);
    char *path = zsys_sprintf ("%s/narrow.csv", test.dir);
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "timestamp,value\n"
                   "2024-01-01 00:00:00,1\n"
                   "2024-01-01 00:00:10,2\n");
    fclose (file);
    zconfig_put (test.config, "ingest/wait_ready", "0");
    zconfig_put (test.config, "ingest/source/narrow/type", "csv");
    zconfig_put (test.config, "ingest/source/narrow/path", path);
    zconfig_put (test.config, "ingest/source/narrow/sensor", "csv/m9/t");
    zconfig_put (test.config, "ingest/source/narrow/speed", "0");
    zconfig_put (test.config, "ingest/source/narrow/loop", "1");
    assert (s_test_start (&test) == 0);
    s_test_subscribe (&test);
    int64_t last = 0;
    received = 0;
    while (received < 6) {
        assert (s_test_recv (&test, batch, 5000) >= 0);
        for (size_t index = 0; index < lw_batch_count (batch) && received < 6;
             index++) {
            lw_item_t *item = lw_batch_item (batch, index);
            assert (streq (item->sensor, "csv/m9/t"));
            assert (item->value == (received % 2) + 1);
            //  Passes are 10 s apart, like the file's own rows
            if (received > 0)
                assert (item->time == last + 10 * LW_NS_PER_SEC);
            last = item->time;
            received++;
        }
    }
    assert (s_test_counter (&test, "drop_duplicate") == 0);
    assert (s_test_counter (&test, "drop_late") == 0);
    lw_batch_destroy (&batch);
    zstr_free (&path);
    s_test_teardown (&test);
    if (verbose)
        printf ("   csv loop\n");
}

//  --------------------------------------------------------------------------
//  Bench (verbose): the per-reading work of lw-ingest without sockets -
//  simulator -> cleaning -> batches per partition -> encoded frames

static void
s_bench_pipeline (void)
{
    lw_sim_config_t config = {.line = "line1",
                              .machines = 100,
                              .sensors = 10,
                              .interval = 100 * LW_NS_PER_MS,
                              .faults = 0.05,
                              .seed = 1,
                              .start = 1700000000 * LW_NS_PER_SEC};
    lw_sim_t *sim = lw_sim_new (&config);
    lw_clean_t *clean = lw_clean_new (64, 60 * LW_NS_PER_SEC, 1000000);
    assert (sim && clean);
    size_t nsensors = lw_sim_sensors (sim);
    lw_sensor_t **sensors =
        (lw_sensor_t **)calloc (nsensors, sizeof (lw_sensor_t *));
    int result;
    for (size_t index = 0; index < nsensors; index++)
        sensors[index] =
            lw_clean_sensor (clean, lw_sim_key (sim, index), &result);
    lw_batch_t *batches[64];
    for (int partition = 0; partition < 64; partition++)
        batches[partition] = lw_batch_new (LW_MSG_READINGS);
    lw_sim_reading_t *buffer =
        (lw_sim_reading_t *)calloc (LW_SOURCE_CHUNK, sizeof (lw_sim_reading_t));
    size_t total = 4000000, done = 0, frames = 0, bytes = 0;
    int64_t started = zclock_usecs ();
    while (done < total) {
        size_t count = lw_sim_generate (sim, buffer, LW_SOURCE_CHUNK);
        for (size_t index = 0; index < count; index++) {
            lw_sensor_t *sensor = sensors[buffer[index].sensor];
            uint32_t quality = 0;
            if (lw_clean_check (60 * LW_NS_PER_SEC, sensor, buffer[index].time,
                                buffer[index].value, &quality))
                continue;
            lw_batch_t *batch = batches[sensor->partition];
            lw_item_t *item = lw_batch_add (batch, sensor->key);
            item->time = buffer[index].time;
            item->value = buffer[index].value;
            item->quality = quality;
            if (lw_batch_count (batch) >= 512) {
                zframe_t *frame = lw_batch_encode (batch);
                bytes += zframe_size (frame);
                frames++;
                zframe_destroy (&frame);
                lw_batch_reset (batch);
            }
        }
        done += count;
    }
    int64_t elapsed = zclock_usecs () - started;
    printf ("   pipeline (sim -> clean -> batch 512 -> encode, 1000 sensors, "
            "P=64): %.2f M readings/s, %zu frames, %.1f bytes/reading\n",
            (double)total / (double)elapsed, frames,
            (double)bytes / (double)(frames * 512));
    for (int partition = 0; partition < 64; partition++)
        lw_batch_destroy (&batches[partition]);
    free (buffer);
    free (sensors);
    lw_clean_destroy (&clean);
    lw_sim_destroy (&sim);
}

//  --------------------------------------------------------------------------
//  Bench (verbose): the actor end to end to a subscriber that only counts
//  frames and readings, default batch and hwm, 1000 sensors, unpaced

static void
s_bench_actor (void)
{
    s_test_t test;
    s_test_setup (&test, 64, 1000);
    zconfig_put (test.config, "ingest/wait_ready", "0");
    zconfig_put (test.config, "ingest/source/sim/type", "simulator");
    zconfig_put (test.config, "ingest/source/sim/machines", "100");
    zconfig_put (test.config, "ingest/source/sim/sensors", "10");
    zconfig_put (test.config, "ingest/source/sim/rate", "0");
    assert (s_test_start (&test) == 0);
    s_test_subscribe (&test);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    size_t readings = 0;
    int64_t started = 0;
    int64_t measured = 0;
    while (true) {
        assert (s_test_recv (&test, batch, 5000) >= 0);
        if (started == 0)
            started = zclock_usecs ();
        else
            readings += lw_batch_count (batch);
        measured = zclock_usecs () - started;
        if (measured > 2000000)
            break;
    }
    printf ("   actor (sim unpaced -> XPUB -> ipc -> XSUB, decoded): "
            "%.0f readings/s\n",
            (double)readings * 1e6 / (double)measured);
    lw_batch_destroy (&batch);
    s_test_teardown (&test);
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_ingest_test (bool verbose)
{
    printf (" * lw_ingest: ");
    if (verbose)
        printf ("\n");
    s_test_simulator (verbose);
    s_test_gateway (verbose);
    s_test_ready_and_config (verbose);
    s_test_csv (verbose);
    s_test_pacing_and_loop (verbose);
    if (verbose) {
        s_bench_pipeline ();
        s_bench_actor ();
    }
    printf ("OK\n");
}
