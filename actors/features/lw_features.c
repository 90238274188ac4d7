/*  =========================================================================
    lw_features.c - lw-features: turns readings into feature vectors

    Copyright (c) the linewatch authors. MIT license.

    See lw_features.h. The stream plumbing (subscriptions, decoding, gaps,
    per-partition state, backpressure) is lw_worker's; this file is the
    per-reading loop and the actor around it.
    =========================================================================
*/

#include "lw_features.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <zmq.h>

#include "lw_detect.h"
#include "lw_main.h"
#include "lw_peer.h"
#include "lw_util.h"
#include "lw_worker.h"

//  Per-sensor state
typedef struct {
    lw_extract_t *extract; //  Feature extraction
    int group;             //  Peer group (lw_peers index), -1 none
} s_sensor_t;

//  Actor state
typedef struct {
    zsock_t *pipe;           //  Actor pipe
    zloop_t *loop;           //  Our reactor
    lw_actor_args_t *args;   //  Config, node, name (borrowed)
    lw_detect_cfg_t detect;  //  Detection settings (window, ...)
    lw_stats_t *stats;       //  Our counters
    lw_worker_t *worker;     //  Stream plumbing; NULL until CONFIGURE
    int out_index;           //  Counter "out"
    int nomem_index;         //  Counter "drop_nomem"
    int peer_index;          //  Counter "peer_out" (copies to peer groups)
    lw_peers_t *peers;       //  scorer/peer: peer groups (lw_peer.h)
    uint32_t partitions;     //  P, for the groups' partitions
    uint64_t peer_publisher; //  Publisher id of the peer copies
    lw_batch_t *peer_batches[LW_PEER_GROUPS_MAX]; //  Per group, lazily made
    uint64_t *peer_seq; //  Peer copies' sequence per partition
} self_t;

//  --------------------------------------------------------------------------
//  Creates the actor state: the infallible parts only.

static self_t *
s_self_new (zsock_t *pipe, lw_actor_args_t *args)
{
    self_t *self = (self_t *)zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->args = args;
    self->loop = zloop_new ();
    assert (self->loop);
    self->stats = lw_stats_new ();
    assert (self->stats);
    self->out_index = lw_stats_counter (self->stats, "out");
    self->nomem_index = lw_stats_counter (self->stats, "drop_nomem");
    self->peer_index = lw_stats_counter (self->stats, "peer_out");
    lw_detect_cfg_default (&self->detect);
    self->peers = lw_peers_new ();
    self->peer_seq = (uint64_t *)calloc (LW_PARTITIONS_MAX, sizeof (uint64_t));
    assert (self->peers && self->peer_seq);
    //  The copies have their own publisher id, so their sequences never
    //  mix with the worker's own on a partition both publish to
    self->peer_publisher = lw_random_id ();
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the actor state.

static void
s_self_destroy (self_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        self_t *self = *self_p;
        lw_worker_destroy (&self->worker);
        zloop_destroy (&self->loop);
        lw_stats_destroy (&self->stats);
        for (size_t index = 0; index < LW_PEER_GROUPS_MAX; index++)
            lw_batch_destroy (&self->peer_batches[index]);
        lw_peers_destroy (&self->peers);
        free (self->peer_seq);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Per-sensor state: a feature extractor and the sensor's peer group,
//  made on first sight (the group is matched once, not per reading).

static void *
s_state_new (const char *sensor, void *arg)
{
    self_t *self = (self_t *)arg;
    s_sensor_t *state = (s_sensor_t *)zmalloc (sizeof (s_sensor_t));
    if (!state)
        return NULL;
    state->extract = lw_extract_new (&self->detect);
    state->group = lw_peers_match (self->peers, sensor);
    if (!state->extract) {
        free (state);
        return NULL;
    }
    return state;
}

//  --------------------------------------------------------------------------
//  Destroys a per-sensor state.

static void
s_state_free (void **state_p)
{
    s_sensor_t *state = (s_sensor_t *)*state_p;
    if (state) {
        lw_extract_destroy (&state->extract);
        free (state);
    }
    *state_p = NULL;
}

//  --------------------------------------------------------------------------
//  Publishes a peer group's batch of copies (when not empty) under the
//  group's partition, with the peer publisher id and that partition's
//  next sequence, then empties it.

static void
s_peer_publish (self_t *self, size_t group)
{
    lw_batch_t *batch = self->peer_batches[group];
    if (!batch || lw_batch_count (batch) == 0)
        return;
    uint16_t partition = lw_batch_partition (batch);
    lw_batch_set_sequence (batch, ++self->peer_seq[partition]);
    zframe_t *body = lw_batch_encode (batch);
    if (body) {
        lw_stats_add (self->stats, self->peer_index, lw_batch_count (batch));
        lw_worker_send (self->worker, partition, &body);
    }
    else
        lw_stats_add (self->stats, self->nomem_index, 1);
    lw_batch_reset (batch);
}

//  --------------------------------------------------------------------------
//  Adds the copy of a peer group member's vector (LW_QUALITY_PEER) to its
//  group's batch, sending the batch first when it is full.

static void
s_peer_copy (self_t *self, size_t group, const lw_item_t *vector,
             int64_t ingest_time)
{
    lw_batch_t *batch = self->peer_batches[group];
    if (!batch) {
        batch = self->peer_batches[group] = lw_batch_new (LW_MSG_FEATURES);
        if (!batch) {
            lw_stats_add (self->stats, self->nomem_index, 1);
            return;
        }
        lw_batch_set_publisher (batch, self->peer_publisher);
        lw_batch_set_partition (
            batch, lw_peers_partition (self->peers, group, self->partitions));
    }
    if (lw_batch_full (batch))
        s_peer_publish (self, group);
    if (lw_batch_count (batch) == 0)
        lw_batch_set_ingest_time (batch, ingest_time);
    lw_item_t *copy = lw_batch_add (batch, vector->sensor);
    if (!copy) {
        lw_stats_add (self->stats, self->nomem_index, 1);
        return;
    }
    copy->time = vector->time;
    copy->value = vector->value;
    copy->quality = vector->quality | LW_QUALITY_PEER;
    copy->nfeatures = vector->nfeatures;
    memcpy (copy->features, vector->features,
            vector->nfeatures * sizeof (double));
}

//  --------------------------------------------------------------------------
//  One input batch of readings -> one output batch of vectors, same
//  partition. The hot path: no allocation except a new sensor's state,
//  no syscall except the one send per batch, no logging.

static void
s_handle_batch (lw_worker_t *worker, lw_batch_t *batch, void *arg)
{
    self_t *self = (self_t *)arg;
    uint16_t partition = lw_batch_partition (batch);
    lw_batch_t *out = lw_worker_output (worker, batch);
    size_t count = lw_batch_count (batch);
    for (size_t index = 0; index < count; index++) {
        lw_item_t *reading = lw_batch_item (batch, index);
        s_sensor_t *state =
            (s_sensor_t *)lw_worker_state (worker, reading->sensor, partition);
        //  Both batches hold at most LW_BATCH_MAX items, so add only fails
        //  with the sensor state when memory runs out
        lw_item_t *vector = state ? lw_batch_add (out, reading->sensor) : NULL;
        if (!vector) {
            lw_stats_add (self->stats, self->nomem_index, 1);
            continue;
        }
        vector->time = reading->time;
        vector->value = reading->value;
        //  The peer flag is ours to set: a reading never carries it in
        vector->quality = reading->quality & ~(uint32_t)LW_QUALITY_PEER;
        lw_extract_update (state->extract, vector);
        if (state->group >= 0)
            s_peer_copy (self, (size_t)state->group, vector,
                         lw_batch_ingest_time (batch));
    }
    lw_stats_add (self->stats, self->out_index, lw_batch_count (out));
    lw_worker_publish (worker);
    for (size_t group = 0; group < lw_peers_size (self->peers); group++)
        s_peer_publish (self, group);
}

//  --------------------------------------------------------------------------
//  A gap event from lw-ingest (lw_worker checked it): forwarded as is on
//  the features stream, same partition, behind the vectors of the
//  readings before it, for lw-scorer to alert on.

static void
s_handle_gap (lw_worker_t *worker, uint16_t partition, const lw_gap_t *gap,
              void *arg)
{
    self_t *self = (self_t *)arg;
    zframe_t *body = lw_msg_gap_encode (gap);
    if (!body) {
        lw_stats_add (self->stats, self->nomem_index, 1);
        return;
    }
    lw_worker_send (worker, partition, &body);
}

//  --------------------------------------------------------------------------
//  Partitions changed hands. Snapshots are a later issue: a partition we
//  take starts from empty windows, which we say.

static void
s_handle_change (lw_worker_t *worker, int kind, const uint16_t *partitions,
                 size_t count, void *arg)
{
    (void)arg;
    (void)partitions;
    if (kind == LW_CTRL_ASSIGN)
        zsys_info ("features: assigned partitions=%zu owned=%zu"
                   " warm start from scratch",
                   count, lw_worker_owned (worker));
    else
        zsys_info ("features: revoked partitions=%zu owned=%zu"
                   " sensors=%zu",
                   count, lw_worker_owned (worker), lw_worker_states (worker));
}

//  --------------------------------------------------------------------------
//  CONFIGURE: reads our settings and connects the worker. Returns 0 or -1
//  (logged).

static int
s_configure (self_t *self)
{
    if (self->worker) {
        zsys_error ("features: CONFIGURE sent twice");
        return -1;
    }
    lw_actor_args_t *args = self->args;
    if (!args || !args->config || !args->node || !args->name) {
        zsys_error ("features: no config given to the actor");
        return -1;
    }
    //  Peer groups live in the scorer's section: the scorer judges them,
    //  we only publish their members' copies
    if (lw_detect_cfg_load (args->config, &self->detect) ||
        lw_peers_load (self->peers, args->config, "scorer/peer"))
        return -1;
    const lw_node_t *node = args->node;
    self->partitions = (uint32_t)node->partitions;
    self->worker = lw_worker_new (
        node, "features", args->name, node->readings_out, LW_MSG_READINGS,
        node->features_in, LW_MSG_FEATURES, self->stats);
    if (!self->worker)
        return -1;
    lw_worker_set_handlers (self->worker, s_handle_batch, s_handle_change,
                            self);
    lw_worker_set_gap_handler (self->worker, s_handle_gap);
    lw_worker_set_state_fns (self->worker, s_state_new, s_state_free, self);
    if (lw_worker_attach (self->worker, self->loop, self->pipe)) {
        //  attach detached what it had added: safe to destroy now
        zsys_error ("features: cannot attach sockets to the loop");
        lw_worker_destroy (&self->worker);
        return -1;
    }
    zsys_info (
        "features: started name=%s input=%s output=%s publisher=%016" PRIx64,
        args->name, node->readings_out, node->features_in,
        lw_worker_publisher (self->worker));
    return 0;
}

//  --------------------------------------------------------------------------
//  Pipe commands: $TERM ends the loop; the rest is in lw_features.h.

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
        zsys_warning ("features: empty pipe command");
    else if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "CONFIGURE"))
        zsock_signal (reader, s_configure (self) == 0 ? 0 : 1);
    else if (!self->worker ||
             lw_worker_command (self->worker, command, msg, reader)) {
        //  Our own code sent it: a command we do not know is a bug
        zsys_error ("features: invalid pipe command=%s", command);
        assert (false);
    }
    free (command);
    zmsg_destroy (&msg);
    return rc;
}

//  --------------------------------------------------------------------------
//  The actor.

void
lw_features_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, (lw_actor_args_t *)args);
    zloop_reader (self->loop, pipe, s_handle_pipe, self);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    if (self->worker)
        zsys_info ("features: stopped in=%" PRIu64 " out=%" PRIu64
                   " gaps=%" PRIu64 " sensors=%zu",
                   lw_stats_value (self->stats, "in"),
                   lw_stats_value (self->stats, "out"),
                   lw_stats_value (self->stats, "gaps"),
                   lw_worker_states (self->worker));
    s_self_destroy (&self);
}

//  --------------------------------------------------------------------------
//  Self test helpers: a stand-in broker (an XPUB the actor's SUB connects
//  to, an XSUB its XPUB connects to) in a temp dir, so the actor is tested
//  alone; the whole chain with the real broker is the it_ tests' job.

typedef struct {
    char dir[64];         //  Temp dir of the ipc endpoints
    lw_node_t *node;      //  Node settings pointing there
    zconfig_t *config;    //  Config with a small detect window
    lw_actor_args_t args; //  What the actor gets
    zsock_t *readings;    //  Stand-in readings_out (XPUB)
    zsock_t *features;    //  Stand-in features_in (XSUB)
    zactor_t *actor;      //  The actor under test
} s_test_t;

//  --------------------------------------------------------------------------
//  Creates the temp dir, config, stand-in sockets and the actor.

static void
s_test_setup (s_test_t *test)
{
    memset (test, 0, sizeof *test);
    snprintf (test->dir, sizeof test->dir, "/tmp/lw_features_XXXXXX");
    assert (mkdtemp (test->dir));
    test->node = (lw_node_t *)zmalloc (sizeof (lw_node_t));
    assert (test->node);
    test->node->partitions = 4;
    test->node->heartbeat = 500;
    test->node->misses = 3;
    test->node->hwm = 1000;
    snprintf (test->node->home, sizeof test->node->home, "%s", test->dir);
    snprintf (test->node->readings_out, LW_ENDPOINT_MAX,
              "ipc://%s/readings-out", test->dir);
    snprintf (test->node->features_in, LW_ENDPOINT_MAX, "ipc://%s/features-in",
              test->dir);
    snprintf (test->node->coordinator, LW_ENDPOINT_MAX, "ipc://%s/coordinator",
              test->dir);
    test->config = zconfig_new ("root", NULL);
    assert (test->config);
    zconfig_put (test->config, "detect/window", "16");
    zconfig_put (test->config, "detect/warmup", "5");
    zconfig_put (test->config, "scorer/peer/fleet/pattern", "m7/*");
    test->args.config = test->config;
    test->args.node = test->node;
    test->args.name = "features-test";

    //  Both bound, as the broker binds them (czmq connects an XSUB by
    //  default, hence the explicit '@')
    char endpoint[LW_ENDPOINT_MAX + 1];
    snprintf (endpoint, sizeof endpoint, "@%s", test->node->readings_out);
    test->readings = zsock_new_xpub (endpoint);
    assert (test->readings);
    snprintf (endpoint, sizeof endpoint, "@%s", test->node->features_in);
    test->features = zsock_new_xsub (endpoint);
    assert (test->features);
    uint8_t subscribe_all = 1;
    int rc = zmq_send (zsock_resolve (test->features), &subscribe_all, 1, 0);
    assert (rc == 1);
    test->actor = zactor_new (lw_features_actor, &test->args);
    assert (test->actor);
}

//  --------------------------------------------------------------------------
//  Destroys what s_test_setup made.

static void
s_test_teardown (s_test_t *test)
{
    zactor_destroy (&test->actor);
    zsock_destroy (&test->readings);
    zsock_destroy (&test->features);
    zconfig_destroy (&test->config);
    char path[128];
    snprintf (path, sizeof path, "%s/readings-out", test->dir);
    zsys_file_delete (path);
    snprintf (path, sizeof path, "%s/features-in", test->dir);
    zsys_file_delete (path);
    zsys_dir_delete (test->dir);
    free (test->node);
}

//  --------------------------------------------------------------------------
//  Asks the actor for its counters; returns the named one

static uint64_t
s_test_stat (zactor_t *actor, const char *name)
{
    zstr_send (actor, "STATS");
    zframe_t *frame = zframe_recv (actor);
    assert (frame);
    lw_ctrl_t *ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    int rc =
        lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame), ctrl);
    assert (rc == 0);
    uint64_t value = lw_ctrl_stat (ctrl, name);
    free (ctrl);
    zframe_destroy (&frame);
    return value;
}

//  --------------------------------------------------------------------------
//  Polls a counter until it reaches `value` or 5 s pass. Pauses by
//  polling `stand_in`: a socket attaches new peers only when its owner
//  calls into it, and a stand-in XSUB sends its subscription only then.

static bool
s_test_stat_reaches (zactor_t *actor, const char *name, uint64_t value,
                     zsock_t *stand_in)
{
    int64_t deadline = zclock_mono () + 5000;
    zpoller_t *poller = zpoller_new (stand_in, NULL);
    bool reached = false;
    while (!reached && zclock_mono () < deadline) {
        reached = s_test_stat (actor, name) >= value;
        if (!reached)
            assert (zpoller_wait (poller, 5) == NULL); //  Nothing comes
    }
    zpoller_destroy (&poller);
    return reached;
}

//  --------------------------------------------------------------------------
//  Receives one stream message on sock within 5 s and decodes it into
//  batch; returns the envelope partition

static int
s_test_recv_batch (zsock_t *sock, lw_batch_t *batch)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    void *which = zpoller_wait (poller, 5000);
    zpoller_destroy (&poller);
    assert (which == sock);
    zmsg_t *msg = zmsg_recv (sock);
    assert (msg);
    uint16_t partition;
    int rc = lw_msg_envelope (msg, &partition);
    assert (rc == 0);
    zframe_t *body = zmsg_last (msg);
    rc = lw_batch_decode (batch, zframe_data (body), zframe_size (body));
    assert (rc == 0);
    zmsg_destroy (&msg);
    return partition;
}

//  --------------------------------------------------------------------------
//  Sends a readings batch of `count` readings of sensor s<index % sensors>
//  on machine `machine`, values base + index

static void
s_test_send_readings (zsock_t *sock, uint16_t partition, uint64_t sequence,
                      const char *machine, int sensors, int count, int64_t time,
                      double base)
{
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (batch);
    lw_batch_set_publisher (batch, 42);
    lw_batch_set_partition (batch, partition);
    lw_batch_set_sequence (batch, sequence);
    lw_batch_set_ingest_time (batch, 1000 + (int64_t)sequence);
    for (int index = 0; index < count; index++) {
        char key[64];
        snprintf (key, sizeof key, "%s/s%d", machine, index % sensors);
        lw_item_t *item = lw_batch_add (batch, key);
        assert (item);
        item->time = time + index * LW_NS_PER_MS;
        item->value = base + index;
        item->quality = index == 0 ? LW_QUALITY_LATE : 0;
    }
    zframe_t *body = lw_batch_encode (batch);
    assert (body);
    int rc = lw_msg_send (sock, partition, &body, false);
    assert (rc == 0);
    lw_batch_destroy (&batch);
}

//  --------------------------------------------------------------------------
//  Sends raw frames as one message

static void
s_test_send_raw (zsock_t *sock, int nframes, const void **data,
                 const size_t *sizes)
{
    zmsg_t *msg = zmsg_new ();
    for (int index = 0; index < nframes; index++)
        zmsg_addmem (msg, data[index], sizes[index]);
    int rc = zmsg_send (&msg, sock);
    assert (rc == 0);
}

//  --------------------------------------------------------------------------
//  Waits until the stand-in XPUB has seen `count` subscriptions

static void
s_test_wait_subscriptions (zsock_t *xpub, int count)
{
    zpoller_t *poller = zpoller_new (xpub, NULL);
    for (int seen = 0; seen < count; seen++) {
        void *which = zpoller_wait (poller, 5000);
        assert (which == xpub);
        zframe_t *frame = zframe_recv (xpub);
        assert (frame && zframe_size (frame) == 3);
        assert (zframe_data (frame)[0] == 1);
        zframe_destroy (&frame);
    }
    zpoller_destroy (&poller);
}

//  --------------------------------------------------------------------------
//  Per-reading cost of the actor's batch path without sockets in the way:
//  decode + per-sensor lookup + extract + encode + send (to nobody)

static void
s_test_bench (s_test_t *test)
{
    //  Endpoints nobody binds: the output goes nowhere, without ever
    //  filling a queue the test would have to drain
    lw_node_t *node = (lw_node_t *)zmalloc (sizeof (lw_node_t));
    assert (node);
    *node = *test->node;
    snprintf (node->readings_out, LW_ENDPOINT_MAX, "ipc://%s/bench-in",
              test->dir);
    snprintf (node->features_in, LW_ENDPOINT_MAX, "ipc://%s/bench-out",
              test->dir);
    lw_actor_args_t args = test->args;
    args.node = node;
    self_t *self = s_self_new (NULL, &args);
    int rc = s_configure (self);
    assert (rc == 0);
    uint16_t all[] = {0};
    lw_worker_change (self->worker, LW_CTRL_ASSIGN, all, 1);
    enum { SENSORS = 1000, FRAMES = 8, PER_BATCH = 512, ROUNDS = 100 };
    zframe_t *frames[FRAMES];
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (batch);
    int reading_nbr = 0;
    for (int frame_nbr = 0; frame_nbr < FRAMES; frame_nbr++) {
        lw_batch_reset (batch);
        lw_batch_set_publisher (batch, 7);
        lw_batch_set_partition (batch, 0);
        lw_batch_set_sequence (batch, (uint64_t)frame_nbr + 1);
        for (int index = 0; index < PER_BATCH; index++, reading_nbr++) {
            char key[64];
            snprintf (key, sizeof key, "bench/m%d/s%d",
                      (reading_nbr % SENSORS) / 10, reading_nbr % 10);
            lw_item_t *item = lw_batch_add (batch, key);
            assert (item);
            item->time = (int64_t)reading_nbr * LW_NS_PER_MS;
            item->value = sin (reading_nbr * 0.01) * 10.0;
        }
        frames[frame_nbr] = lw_batch_encode (batch);
        assert (frames[frame_nbr]);
    }
    int64_t start = zclock_usecs ();
    for (int round = 0; round < ROUNDS; round++)
        for (int frame_nbr = 0; frame_nbr < FRAMES; frame_nbr++) {
            rc = lw_batch_decode (batch, zframe_data (frames[frame_nbr]),
                                  zframe_size (frames[frame_nbr]));
            assert (rc == 0);
            s_handle_batch (self->worker, batch, self);
        }
    int64_t elapsed = zclock_usecs () - start;
    double readings = (double)ROUNDS * FRAMES * PER_BATCH;
    printf ("   features: %.0f readings in %.3f s = %.0f readings/s"
            " (decode + extract + encode, %d sensors)\n",
            readings, elapsed / 1e6, readings / (elapsed / 1e6), SENSORS);
    assert (lw_stats_value (self->stats, "out") == (uint64_t)readings);
    for (int frame_nbr = 0; frame_nbr < FRAMES; frame_nbr++)
        zframe_destroy (&frames[frame_nbr]);
    lw_batch_destroy (&batch);
    s_self_destroy (&self);
    free (node);
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_features_test (bool verbose)
{
    printf (" * lw_features: ");
    if (verbose)
        printf ("\n");
    s_test_t test;
    s_test_setup (&test);
    zactor_t *actor = test.actor;

    //  A bad config is refused with signal 1, the actor stays alive
    {
        zconfig_t *bad = zconfig_new ("root", NULL);
        assert (bad);
        zconfig_put (bad, "detect/window", "banana");
        lw_actor_args_t bad_args = test.args;
        bad_args.config = bad;
        zactor_t *refused = zactor_new (lw_features_actor, &bad_args);
        zstr_send (refused, "CONFIGURE");
        assert (zsock_wait (refused) == 1);
        zactor_destroy (&refused);
        zconfig_destroy (&bad);
    }
    zstr_send (actor, "CONFIGURE");
    assert (zsock_wait (actor) == 0);
    zstr_sendx (actor, "ASSIGN", "1", "2", NULL);
    assert (zsock_wait (actor) == 0);
    assert (s_test_stat (actor, "owned") == 2);
    s_test_wait_subscriptions (test.readings, 2);
    assert (s_test_stat_reaches (actor, "ready", 1, test.features));

    //  Readings in -> vectors out: same sensors, times, values, quality,
    //  features exactly as lw_extract computes them, our own sequences
    lw_detect_cfg_t detect;
    int rc = lw_detect_cfg_load (test.config, &detect);
    assert (rc == 0);
    lw_extract_t *expect[3];
    for (int index = 0; index < 3; index++) {
        expect[index] = lw_extract_new (&detect);
        assert (expect[index]);
    }
    lw_batch_t *batch = lw_batch_new (LW_MSG_FEATURES);
    assert (batch);
    int64_t time = 1700000000LL * LW_NS_PER_SEC;
    s_test_send_readings (test.readings, 1, 1, "m1", 3, 30, time, 10.0);
    assert (s_test_recv_batch (test.features, batch) == 1);
    assert (lw_batch_kind (batch) == LW_MSG_FEATURES);
    assert (lw_batch_partition (batch) == 1);
    assert (lw_batch_sequence (batch) == 1);
    assert (lw_batch_ingest_time (batch) == 1001);
    uint64_t publisher = lw_batch_publisher (batch);
    assert (publisher != 0 && publisher != 42);
    assert (lw_batch_count (batch) == 30);
    for (size_t index = 0; index < 30; index++) {
        lw_item_t *item = lw_batch_item (batch, index);
        char key[16];
        snprintf (key, sizeof key, "m1/s%zu", index % 3);
        assert (streq (item->sensor, key));
        assert (item->time == time + (int64_t)index * LW_NS_PER_MS);
        assert (item->value == 10.0 + index);
        assert (item->quality == (index == 0 ? LW_QUALITY_LATE : 0u));
        assert (item->nfeatures > 0 && item->nfeatures <= LW_FEATURES_MAX);
        lw_item_t check = {.sensor = key,
                           .time = item->time,
                           .value = item->value,
                           .quality = item->quality};
        lw_extract_update (expect[index % 3], &check);
        assert (check.nfeatures == item->nfeatures);
        assert (memcmp (check.features, item->features,
                        check.nfeatures * sizeof (double)) == 0);
    }
    for (int index = 0; index < 3; index++)
        lw_extract_destroy (&expect[index]);

    //  Sequences are per partition
    s_test_send_readings (test.readings, 2, 1, "m2", 2, 4, time, 0.0);
    assert (s_test_recv_batch (test.features, batch) == 2);
    assert (lw_batch_sequence (batch) == 1);
    assert (lw_batch_count (batch) == 4);
    s_test_send_readings (test.readings, 1, 2, "m1", 3, 3, time, 0.0);
    assert (s_test_recv_batch (test.features, batch) == 1);
    assert (lw_batch_sequence (batch) == 2);
    assert (lw_batch_publisher (batch) == publisher);
    assert (s_test_stat (actor, "gaps") == 0);
    assert (s_test_stat (actor, "sensors") == 5);

    //  Hostile input on an owned partition: each dropped and counted by
    //  reason, and the actor keeps working
    uint8_t prefix[] = {0, 1};
    uint8_t long_prefix[] = {0, 1, 0};
    uint8_t junk[] = {0xc1};
    {
        const void *data[] = {long_prefix, junk};
        size_t sizes[] = {3, 1};
        s_test_send_raw (test.readings, 2, data, sizes); //  envelope
        const void *one[] = {prefix};
        size_t one_size[] = {2};
        s_test_send_raw (test.readings, 1, one, one_size); //  one frame
        const void *three[] = {prefix, junk, junk};
        size_t three_sizes[] = {2, 1, 1};
        s_test_send_raw (test.readings, 3, three, three_sizes);
        const void *bad[] = {prefix, junk};
        size_t bad_sizes[] = {2, 1};
        s_test_send_raw (test.readings, 2, bad, bad_sizes); //  bad body
    }
    //  A valid batch cut short, and a batch of the wrong kind
    lw_batch_reset (batch);
    lw_batch_set_partition (batch, 1);
    lw_batch_set_sequence (batch, 9);
    lw_batch_set_publisher (batch, 42);
    lw_item_t *item = lw_batch_add (batch, "m1/s0");
    assert (item);
    zframe_t *body = lw_batch_encode (batch);
    assert (body);
    {
        const void *data[] = {prefix, zframe_data (body)};
        size_t sizes[] = {2, zframe_size (body) - 3};
        s_test_send_raw (test.readings, 2, data, sizes);
    }
    rc = lw_msg_send (test.readings, 1, &body, false); //  features kind
    assert (rc == 0);
    //  A readings batch whose body names another partition
    s_test_send_readings (test.readings, 1, 3, "m1", 1, 1, time, 0.0);
    {
        lw_batch_t *other = lw_batch_new (LW_MSG_READINGS);
        lw_batch_set_partition (other, 2);
        lw_batch_set_sequence (other, 1);
        lw_batch_set_publisher (other, 42);
        assert (lw_batch_add (other, "m2/s0"));
        zframe_t *mismatch = lw_batch_encode (other);
        assert (mismatch);
        rc = lw_msg_send (test.readings, 1, &mismatch, false);
        assert (rc == 0);
        lw_batch_destroy (&other);
    }
    assert (s_test_recv_batch (test.features, batch) == 1);
    assert (lw_batch_sequence (batch) == 3);
    //  Still serving after all of it; a skipped sequence is a gap of one
    s_test_send_readings (test.readings, 1, 5, "m1", 3, 3, time, 0.0);
    assert (s_test_recv_batch (test.features, batch) == 1);
    assert (lw_batch_sequence (batch) == 4);
    assert (lw_batch_count (batch) == 3);
    assert (s_test_stat (actor, "gaps") == 1);
    assert (s_test_stat (actor, "drop_envelope") == 4);
    assert (s_test_stat (actor, "drop_bad_type") == 1);
    uint64_t in = s_test_stat (actor, "in");
    assert (in == 30 + 4 + 3 + 1 + 3);
    assert (s_test_stat (actor, "out") == in);
    if (verbose)
        printf ("   drop_truncated=%" PRIu64 " drop_wrong_type=%" PRIu64 "\n",
                s_test_stat (actor, "drop_truncated"),
                s_test_stat (actor, "drop_wrong_type"));

    //  A gap event (lw-ingest: a sensor silent) is forwarded as is, same
    //  partition, in stream order
    {
        char key[32] = "";
        for (int index = 0; !*key; index++) {
            snprintf (key, sizeof key, "g%d/s", index);
            if (lw_partition (key, 4) != 1)
                key[0] = 0;
        }
        lw_gap_t gap = {.last_time = time, .time = time + 9, .silent = true};
        snprintf (gap.sensor, sizeof gap.sensor, "%s", key);
        zframe_t *event = lw_msg_gap_encode (&gap);
        assert (event);
        rc = lw_msg_send (test.readings, 1, &event, false);
        assert (rc == 0);
        s_test_send_readings (test.readings, 1, 6, "m1", 3, 3, time, 0.0);
        zpoller_t *poller = zpoller_new (test.features, NULL);
        assert (zpoller_wait (poller, 5000) == test.features);
        zpoller_destroy (&poller);
        zmsg_t *msg = zmsg_recv (test.features);
        uint16_t partition;
        assert (msg && lw_msg_envelope (msg, &partition) == 0);
        assert (partition == 1);
        lw_gap_t forwarded;
        zframe_t *frame = zmsg_last (msg);
        assert (lw_msg_gap_decode (zframe_data (frame), zframe_size (frame),
                                   &forwarded) == 0);
        assert (streq (forwarded.sensor, key) && forwarded.silent);
        assert (forwarded.last_time == time && forwarded.time == time + 9);
        zmsg_destroy (&msg);
        assert (s_test_recv_batch (test.features, batch) == 1);
        assert (lw_batch_sequence (batch) == 5);
        assert (s_test_stat (actor, "sensor_gaps") == 1);
    }

    //  A peer group member's vectors are also published under the group's
    //  partition, flagged LW_QUALITY_PEER, by another publisher id with
    //  its own sequence
    uint16_t group_partition = (uint16_t)(lw_fnv1a32 ("peer:fleet", 10) % 4);
    s_test_send_readings (test.readings, 2, 2, "m7", 2, 4, time, 5.0);
    assert (s_test_recv_batch (test.features, batch) == 2);
    assert (lw_batch_publisher (batch) == publisher);
    assert (lw_batch_count (batch) == 4);
    for (size_t index = 0; index < 4; index++)
        assert (!(lw_batch_item (batch, index)->quality & LW_QUALITY_PEER));
    assert (s_test_recv_batch (test.features, batch) == group_partition);
    assert (lw_batch_partition (batch) == group_partition);
    assert (lw_batch_publisher (batch) != publisher);
    assert (lw_batch_sequence (batch) == 1);
    assert (lw_batch_ingest_time (batch) == 1002);
    assert (lw_batch_count (batch) == 4);
    for (size_t index = 0; index < 4; index++) {
        lw_item_t *copy = lw_batch_item (batch, index);
        assert (copy->quality & LW_QUALITY_PEER);
        assert (copy->value == 5.0 + index);
        assert (strncmp (copy->sensor, "m7/", 3) == 0);
    }
    assert (s_test_stat (actor, "peer_out") == 4);

    //  Revoking a partition drops its sensors' state
    zstr_sendx (actor, "REVOKE", "2", NULL);
    assert (zsock_wait (actor) == 0);
    assert (s_test_stat (actor, "owned") == 1);
    assert (s_test_stat (actor, "sensors") == 3);

    lw_batch_destroy (&batch);
    if (verbose)
        s_test_bench (&test);
    s_test_teardown (&test);
    printf ("OK\n");
}
