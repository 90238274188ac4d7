/*  =========================================================================
    lw_scorer.c - lw-scorer: scores feature vectors and raises alerts

    Copyright (c) the linewatch authors. MIT license.

    See lw_scorer.h. The stream plumbing (subscriptions, decoding, gaps,
    per-partition state, backpressure) is lw_worker's; this file is the
    per-vector loop (detector, then episode) and the actor around it.
    =========================================================================
*/

#include "lw_scorer.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <zmq.h>

#include "lw_detect.h"
#include "lw_machine.h"
#include "lw_main.h"
#include "lw_peer.h"
#include "lw_rules.h"
#include "lw_util.h"
#include "lw_worker.h"

//  Worker state keys of the non-sensor states: a control character (never
//  in a sensor key) then the machine key or the peer group's name
#define S_MACHINE_PREFIX '\x01'
#define S_PEER_PREFIX '\x02'

//  Kinds of per-key state
typedef enum {
    S_KIND_SENSOR = 0, //  A sensor: detector, rules, episode
    S_KIND_MACHINE,    //  A machine: its rows and episode
    S_KIND_PEER        //  A peer group: its rows and members' episodes
} s_kind_t;

//  Per-key scoring state (one per sensor, machine and peer group, in the
//  partition they arrive in, so a REVOKE drops them all)
typedef struct {
    s_kind_t kind;           //  What this is
    lw_detector_t *detector; //  SENSOR: scores vectors
    lw_episode_t *episode;   //  SENSOR: turns scores into alert episodes
    lw_rule_state_t rules;   //  SENSOR: stuck, gap and limit rules
    lw_machine_t *machine;   //  MACHINE: rows and episode
    lw_peer_t *peer;         //  PEER: rows and members' episodes
    uint64_t local_seq;      //  Alert number of the open episode
    double last_value;       //  SENSOR: value of the newest item (gaps)
} s_sensor_t;

//  Actor state
typedef struct {
    zsock_t *pipe;            //  Actor pipe
    zloop_t *loop;            //  Our reactor
    lw_actor_args_t *args;    //  Config, node, name (borrowed)
    lw_detect_cfg_t detect;   //  Detection settings
    bool publish_scores;      //  scorer/publish_scores
    lw_rules_t *rules;        //  scorer/rule: rule detectors
    lw_machine_cfg_t machine; //  scorer/machine: machine-level scores
    lw_peers_t *peers;        //  scorer/peer: peer groups
    uint32_t partitions;      //  P, for the peer groups' partitions
    lw_stats_t *stats;        //  Our counters
    lw_worker_t *worker;      //  Stream plumbing; NULL until CONFIGURE
    uint64_t alert_seq;       //  Last local alert number given
    lw_alert_t alert;         //  Filled by lw_episode_update
    int out_index;            //  Counter "out"
    int alerts_index;         //  Counter "alerts"
    int warmup_index;         //  Counter "warmup"
    int nomem_index;          //  Counter "drop_nomem"
    int peer_index;           //  Counter "peer" (peer items judged)
    int gap_ignored_index;    //  Counter "gap_ignored" (no rule alerts)
    int peer_drop_index; //  Counter "drop_peer" (no group, wrong partition)
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
    self->alerts_index = lw_stats_counter (self->stats, "alerts");
    self->warmup_index = lw_stats_counter (self->stats, "warmup");
    self->nomem_index = lw_stats_counter (self->stats, "drop_nomem");
    self->peer_index = lw_stats_counter (self->stats, "peer");
    self->gap_ignored_index = lw_stats_counter (self->stats, "gap_ignored");
    self->peer_drop_index = lw_stats_counter (self->stats, "drop_peer");
    lw_detect_cfg_default (&self->detect);
    lw_machine_cfg_default (&self->machine);
    self->publish_scores = true;
    self->rules = lw_rules_new ();
    self->peers = lw_peers_new ();
    assert (self->rules && self->peers);
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
        lw_rules_destroy (&self->rules);
        lw_peers_destroy (&self->peers);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Per-key state: a sensor's detector, rules and episode, a machine's or a
//  peer group's rows, made on first sight.

static void
s_state_free (void **state_p)
{
    s_sensor_t *sensor = (s_sensor_t *)*state_p;
    if (sensor) {
        lw_detector_destroy (&sensor->detector);
        lw_episode_destroy (&sensor->episode);
        lw_machine_destroy (&sensor->machine);
        lw_peer_destroy (&sensor->peer);
        free (sensor);
    }
    *state_p = NULL;
}

//  --------------------------------------------------------------------------
//  Creates a per-key state (see S_MACHINE_PREFIX); NULL on failure.

static void *
s_state_new (const char *key, void *arg)
{
    self_t *self = (self_t *)arg;
    s_sensor_t *sensor = (s_sensor_t *)zmalloc (sizeof (s_sensor_t));
    if (!sensor)
        return NULL;
    bool made;
    if (key[0] == S_MACHINE_PREFIX) {
        sensor->kind = S_KIND_MACHINE;
        sensor->machine =
            lw_machine_new (&self->detect, &self->machine, key + 1, 2);
        made = sensor->machine != NULL;
    }
    else if (key[0] == S_PEER_PREFIX) {
        sensor->kind = S_KIND_PEER;
        int group = lw_peers_find (self->peers, key + 1);
        sensor->peer =
            group >= 0 ? lw_peer_new (&self->detect, self->peers, (size_t)group)
                       : NULL;
        made = sensor->peer != NULL;
    }
    else {
        sensor->kind = S_KIND_SENSOR;
        sensor->detector = lw_detector_new (&self->detect);
        sensor->episode = lw_episode_new (&self->detect, key);
        lw_rule_t rule;
        lw_rules_resolve (self->rules, key, &rule);
        lw_rule_state_init (&sensor->rules, &rule);
        made = sensor->detector && sensor->episode;
    }
    if (!made) {
        void *state = sensor;
        s_state_free (&state);
        sensor = NULL;
    }
    return sensor;
}

//  --------------------------------------------------------------------------
//  Publishes one alert change, numbering it at OPEN (*local_seq keeps the
//  number for the episode's UPDATEs and CLOSE). Alerts are the product:
//  the send waits out backpressure (lw_worker_send) instead of dropping.

static void
s_publish_alert (self_t *self, lw_alert_t *alert, uint64_t *local_seq,
                 int change)
{
    if (change == LW_ALERT_OPEN) {
        *local_seq = ++self->alert_seq;
        lw_stats_add (self->stats, self->alerts_index, 1);
    }
    alert->id = 0;
    alert->state = (uint8_t)change;
    alert->scorer = lw_worker_publisher (self->worker);
    alert->local_seq = *local_seq;
    zframe_t *body = lw_msg_alert_encode (alert);
    if (!body) {
        zsys_error ("scorer: cannot encode alert sensor=%s", alert->sensor);
        lw_stats_add (self->stats, self->nomem_index, 1);
        return;
    }
    lw_worker_send (self->worker, LW_TOPIC_ALERTS, &body);
}

//  --------------------------------------------------------------------------
//  Closes a machine's open row and publishes its alert change.

static void
s_machine_close (self_t *self, s_sensor_t *state)
{
    lw_item_t item;
    int change = lw_machine_close (state->machine, &item, &self->alert);
    if (change > 0)
        s_publish_alert (self, &self->alert, &state->local_seq, change);
}

//  --------------------------------------------------------------------------
//  A scored sensor item joins its machine's row (lw_machine.h). Keys
//  without a machine part are left out.

static void
s_machine_item (self_t *self, lw_worker_t *worker, const lw_item_t *item,
                uint16_t partition)
{
    size_t length = lw_key_machine_len (item->sensor);
    if (length == 0 || item->sensor[length] != '/')
        return;
    char key[LW_KEY_MAX + 2];
    key[0] = S_MACHINE_PREFIX;
    memcpy (key + 1, item->sensor, length);
    key[length + 1] = 0;
    s_sensor_t *state = (s_sensor_t *)lw_worker_state (worker, key, partition);
    if (!state || state->kind != S_KIND_MACHINE) {
        lw_stats_add (self->stats, self->nomem_index, 1);
        return;
    }
    if (lw_machine_due (state->machine, item->time))
        s_machine_close (self, state);
    lw_machine_add (state->machine, item->sensor, item);
    if (lw_machine_complete (state->machine))
        s_machine_close (self, state);
}

//  --------------------------------------------------------------------------
//  A peer member's alert change (lw_peer_add calls this per member).

static void
s_peer_member (const lw_item_t *item, int change, lw_alert_t *alert, void *arg)
{
    (void)item;
    self_t *self = (self_t *)arg;
    if (change)
        s_publish_alert (self, alert, &alert->local_seq, change);
}

//  --------------------------------------------------------------------------
//  A copy of a member's vector published under its peer group's
//  partition (LW_QUALITY_PEER): joins the group's row. Copies of sensors
//  of no group, or under another partition, are dropped and counted.

static void
s_peer_item (self_t *self, lw_worker_t *worker, const lw_item_t *item,
             uint16_t partition)
{
    int group = lw_peers_match (self->peers, item->sensor);
    if (group < 0 || lw_peers_partition (self->peers, (size_t)group,
                                         self->partitions) != partition) {
        lw_stats_add (self->stats, self->peer_drop_index, 1);
        return;
    }
    const char *name = lw_peers_name (self->peers, (size_t)group);
    char key[LW_PEER_NAME_MAX + 2];
    snprintf (key, sizeof (key), "%c%s", S_PEER_PREFIX, name);
    s_sensor_t *state = (s_sensor_t *)lw_worker_state (worker, key, partition);
    if (!state || state->kind != S_KIND_PEER) {
        lw_stats_add (self->stats, self->nomem_index, 1);
        return;
    }
    lw_peer_add (state->peer, item->sensor, item, s_peer_member, self);
    lw_stats_add (self->stats, self->peer_index, 1);
}

//  --------------------------------------------------------------------------
//  One input batch of vectors -> scores (one output batch, same partition)
//  and alert changes. Hot path: no allocation except a new sensor's
//  state, no syscall except the sends, no logging.

static void
s_handle_batch (lw_worker_t *worker, lw_batch_t *batch, void *arg)
{
    self_t *self = (self_t *)arg;
    uint16_t partition = lw_batch_partition (batch);
    lw_batch_t *out =
        self->publish_scores ? lw_worker_output (worker, batch) : NULL;
    size_t count = lw_batch_count (batch);
    uint64_t scored = 0, warming = 0;
    for (size_t index = 0; index < count; index++) {
        lw_item_t *item = lw_batch_item (batch, index);
        if (item->quality & LW_QUALITY_PEER) {
            s_peer_item (self, worker, item, partition);
            continue;
        }
        s_sensor_t *sensor =
            (s_sensor_t *)lw_worker_state (worker, item->sensor, partition);
        if (!sensor || sensor->kind != S_KIND_SENSOR) {
            lw_stats_add (self->stats, self->nomem_index, 1);
            continue;
        }
        //  The order lwctl score uses: score, then the rules and the
        //  episode, then the machine's row
        item->flags = 0;
        lw_detector_score (sensor->detector, item);
        int change =
            lw_rules_step (&sensor->rules, sensor->episode, &self->detect, item,
                           lw_detector_name (sensor->detector), &self->alert);
        if (change)
            s_publish_alert (self, &self->alert, &sensor->local_seq, change);
        sensor->last_value = item->value;
        if (self->machine.enabled)
            s_machine_item (self, worker, item, partition);
        scored++;
        if (item->flags & LW_SCORE_WARMUP)
            warming++;
        lw_item_t *score = out ? lw_batch_add (out, item->sensor) : NULL;
        if (score) {
            score->time = item->time;
            score->value = item->value;
            score->quality = item->quality;
            score->score = item->score;
            score->expected_low = item->expected_low;
            score->expected_high = item->expected_high;
            score->flags = item->flags;
        }
    }
    lw_stats_add (self->stats, self->out_index, scored);
    lw_stats_add (self->stats, self->warmup_index, warming);
    int64_t latency = lw_time_now () - lw_batch_ingest_time (batch);
    lw_stats_latency (self->stats, latency > 0 ? latency : 0, scored);
    if (out)
        lw_worker_publish (worker);
}

//  --------------------------------------------------------------------------
//  A gap event from lw-ingest, forwarded by lw-features: the sensor sent
//  nothing since gap->last_time (still silent at gap->time, or until the
//  reading at gap->time). Opens or joins the sensor's "gap" episode
//  (lw_rules_gap): a dead sensor is alerted while it is dead, not only
//  when it comes back; the gap rule firing on the reading after the
//  silence joins the same episode. Sensors whose rules do not alert on
//  gaps (scorer/rule/.../gap_factor) only count it ("gap_ignored").

static void
s_handle_gap (lw_worker_t *worker, uint16_t partition, const lw_gap_t *gap,
              void *arg)
{
    self_t *self = (self_t *)arg;
    s_sensor_t *sensor =
        (s_sensor_t *)lw_worker_state (worker, gap->sensor, partition);
    if (!sensor || sensor->kind != S_KIND_SENSOR) {
        lw_stats_add (self->stats, self->nomem_index, 1);
        return;
    }
    int change = lw_rules_gap (&sensor->rules, sensor->episode, &self->detect,
                               gap->last_time, gap->time, sensor->last_value,
                               lw_detector_name (sensor->detector),
                               &self->alert);
    if (change < 0)
        lw_stats_add (self->stats, self->gap_ignored_index, 1);
    else if (change)
        s_publish_alert (self, &self->alert, &sensor->local_seq, change);
}

//  --------------------------------------------------------------------------
//  Partitions changed hands. Snapshots are a later issue: a partition we
//  take starts with fresh detectors, which we say. Episodes open on a
//  revoked partition end without a CLOSE from us.

static void
s_handle_change (lw_worker_t *worker, int kind, const uint16_t *partitions,
                 size_t count, void *arg)
{
    (void)arg;
    (void)partitions;
    if (kind == LW_CTRL_ASSIGN)
        zsys_info ("scorer: assigned partitions=%zu owned=%zu"
                   " warm start from scratch",
                   count, lw_worker_owned (worker));
    else
        zsys_info ("scorer: revoked partitions=%zu owned=%zu sensors=%zu",
                   count, lw_worker_owned (worker), lw_worker_states (worker));
}

//  --------------------------------------------------------------------------
//  CONFIGURE: reads our settings and connects the worker. Returns 0 or -1
//  (logged).

static int
s_configure (self_t *self)
{
    if (self->worker) {
        zsys_error ("scorer: CONFIGURE sent twice");
        return -1;
    }
    lw_actor_args_t *args = self->args;
    if (!args || !args->config || !args->node || !args->name) {
        zsys_error ("scorer: no config given to the actor");
        return -1;
    }
    if (lw_detect_cfg_load (args->config, &self->detect) ||
        lw_cfg_bool (args->config, "scorer/publish_scores", true,
                     &self->publish_scores) ||
        lw_rules_load (self->rules, args->config, "scorer/rule") ||
        lw_machine_cfg_load (args->config, &self->machine) ||
        lw_peers_load (self->peers, args->config, "scorer/peer"))
        return -1;
    const lw_node_t *node = args->node;
    self->partitions = (uint32_t)node->partitions;
    self->worker = lw_worker_new (node, "scorer", args->name,
                                  node->features_out, LW_MSG_FEATURES,
                                  node->events_in, LW_MSG_SCORES, self->stats);
    if (!self->worker)
        return -1;
    lw_worker_set_handlers (self->worker, s_handle_batch, s_handle_change,
                            self);
    lw_worker_set_gap_handler (self->worker, s_handle_gap);
    lw_worker_set_state_fns (self->worker, s_state_new, s_state_free, self);
    if (lw_worker_attach (self->worker, self->loop, self->pipe)) {
        //  attach detached what it had added: safe to destroy now
        zsys_error ("scorer: cannot attach sockets to the loop");
        lw_worker_destroy (&self->worker);
        return -1;
    }
    zsys_info (
        "scorer: started name=%s input=%s output=%s publisher=%016" PRIx64
        " publish_scores=%d rules=%zu machines=%d peer_groups=%zu",
        args->name, node->features_out, node->events_in,
        lw_worker_publisher (self->worker), self->publish_scores,
        lw_rules_size (self->rules), self->machine.enabled,
        lw_peers_size (self->peers));
    return 0;
}

//  --------------------------------------------------------------------------
//  Pipe commands: $TERM ends the loop; the rest is in lw_scorer.h.

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
        zsys_warning ("scorer: empty pipe command");
    else if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "CONFIGURE"))
        zsock_signal (reader, s_configure (self) == 0 ? 0 : 1);
    else if (!self->worker ||
             lw_worker_command (self->worker, command, msg, reader)) {
        //  Our own code sent it: a command we do not know is a bug
        zsys_error ("scorer: invalid pipe command=%s", command);
        assert (false);
    }
    free (command);
    zmsg_destroy (&msg);
    return rc;
}

//  --------------------------------------------------------------------------
//  The actor.

void
lw_scorer_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, (lw_actor_args_t *)args);
    zloop_reader (self->loop, pipe, s_handle_pipe, self);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    if (self->worker)
        zsys_info ("scorer: stopped in=%" PRIu64 " out=%" PRIu64
                   " gaps=%" PRIu64 " alerts=%" PRIu64 " warmup=%" PRIu64,
                   lw_stats_value (self->stats, "in"),
                   lw_stats_value (self->stats, "out"),
                   lw_stats_value (self->stats, "gaps"),
                   lw_stats_value (self->stats, "alerts"),
                   lw_stats_value (self->stats, "warmup"));
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
    zsock_t *input;       //  Stand-in features_out (XPUB)
    zsock_t *events;      //  Stand-in events_in (XSUB)
    zactor_t *actor;      //  The actor under test
} s_test_t;

//  --------------------------------------------------------------------------
//  Creates the temp dir, config, stand-in sockets and the actor.

static void
s_test_setup (s_test_t *test)
{
    memset (test, 0, sizeof *test);
    snprintf (test->dir, sizeof test->dir, "/tmp/lw_scorer_XXXXXX");
    assert (mkdtemp (test->dir));
    test->node = (lw_node_t *)zmalloc (sizeof (lw_node_t));
    assert (test->node);
    test->node->partitions = 4;
    test->node->heartbeat = 500;
    test->node->misses = 3;
    test->node->hwm = 1000;
    snprintf (test->node->home, sizeof test->node->home, "%s", test->dir);
    snprintf (test->node->features_out, LW_ENDPOINT_MAX,
              "ipc://%s/features-out", test->dir);
    snprintf (test->node->events_in, LW_ENDPOINT_MAX, "ipc://%s/events-in",
              test->dir);
    snprintf (test->node->coordinator, LW_ENDPOINT_MAX, "ipc://%s/coordinator",
              test->dir);
    test->config = zconfig_new ("root", NULL);
    assert (test->config);
    zconfig_put (test->config, "detect/window", "16");
    zconfig_put (test->config, "detect/warmup", "10");
    zconfig_put (test->config, "scorer/publish_scores", "1");
    //  Rules for the rule test's sensors only (m1's are scored as
    //  offline without rules)
    zconfig_put (test->config, "scorer/rule/test/pattern", "m[234]/*");
    zconfig_put (test->config, "scorer/rule/test/stuck", "20");
    zconfig_put (test->config, "scorer/rule/test/gap_factor", "5");
    zconfig_put (test->config, "scorer/rule/test/high", "12");
    //  Gap events alert on dead*/ sensors only
    zconfig_put (test->config, "scorer/rule/dead/pattern", "dead*/*");
    zconfig_put (test->config, "scorer/rule/dead/gap_factor", "5");
    //  A peer group whose partition (fnv1a32 ("peer:pumps") % 4) is 0
    zconfig_put (test->config, "scorer/peer/pumps/pattern", "pump*/flow");
    test->args.config = test->config;
    test->args.node = test->node;
    test->args.name = "scorer-test";

    //  Both bound, as the broker binds them (czmq connects an XSUB by
    //  default, hence the explicit '@')
    char endpoint[LW_ENDPOINT_MAX + 1];
    snprintf (endpoint, sizeof endpoint, "@%s", test->node->features_out);
    test->input = zsock_new_xpub (endpoint);
    assert (test->input);
    snprintf (endpoint, sizeof endpoint, "@%s", test->node->events_in);
    test->events = zsock_new_xsub (endpoint);
    assert (test->events);
    uint8_t subscribe_all = 1;
    int rc = zmq_send (zsock_resolve (test->events), &subscribe_all, 1, 0);
    assert (rc == 1);
    test->actor = zactor_new (lw_scorer_actor, &test->args);
    assert (test->actor);
}

//  --------------------------------------------------------------------------
//  Destroys what s_test_setup made.

static void
s_test_teardown (s_test_t *test)
{
    zactor_destroy (&test->actor);
    zsock_destroy (&test->input);
    zsock_destroy (&test->events);
    zconfig_destroy (&test->config);
    char path[128];
    snprintf (path, sizeof path, "%s/features-out", test->dir);
    zsys_file_delete (path);
    snprintf (path, sizeof path, "%s/events-in", test->dir);
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
        if (!reached && zpoller_wait (poller, 5) != NULL) {
            //  Only a late alert change may come (a peer member's UPDATE
            //  after the OPEN a test waited for): read and drop it
            zmsg_t *msg = zmsg_recv (stand_in);
            uint16_t partition = 0;
            int rc = lw_msg_envelope (msg, &partition);
            assert (rc == 0 && partition == LW_TOPIC_ALERTS);
            zmsg_destroy (&msg);
        }
    }
    zpoller_destroy (&poller);
    return reached;
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
//  Signal of the test: a noisy level with an obvious spike at 120..122

static double
s_test_signal (int index, bool spike)
{
    double value = 20.0 + 0.5 * sin (index * 0.7) + 0.2 * cos (index * 1.9);
    if (spike && index >= 120 && index <= 122)
        value += 30.0;
    return value;
}

//  --------------------------------------------------------------------------
//  Sends one features batch of sensors m1/spike and m1/calm for points
//  [first, first + count), features computed by lw_extract as lw-features
//  would

static void
s_test_send_vectors (zsock_t *sock, uint64_t sequence, int first, int count,
                     lw_extract_t *spike, lw_extract_t *calm)
{
    lw_batch_t *batch = lw_batch_new (LW_MSG_FEATURES);
    assert (batch);
    lw_batch_set_publisher (batch, 42);
    lw_batch_set_partition (batch, 1);
    lw_batch_set_sequence (batch, sequence);
    lw_batch_set_ingest_time (batch, lw_time_now ());
    int64_t start = 1700000000LL * LW_NS_PER_SEC;
    for (int index = first; index < first + count; index++)
        for (int which = 0; which < 2; which++) {
            lw_item_t *item =
                lw_batch_add (batch, which ? "m1/calm" : "m1/spike");
            assert (item);
            item->time = start + index * 100 * LW_NS_PER_MS;
            item->value = s_test_signal (index, which == 0);
            lw_extract_update (which ? calm : spike, item);
        }
    zframe_t *body = lw_batch_encode (batch);
    assert (body);
    int rc = lw_msg_send (sock, 1, &body, false);
    assert (rc == 0);
    lw_batch_destroy (&batch);
}

//  --------------------------------------------------------------------------
//  Signal of the rule test: sensor 0 gets stuck at points 100..159,
//  sensor 1 is silent for 30 s before point 120, sensor 2 is above its
//  limit (12) at point 150

static double
s_test_rule_signal (int sensor, int index, int64_t *time)
{
    int64_t start = 1700001000LL * LW_NS_PER_SEC;
    *time = start + index * 100 * LW_NS_PER_MS;
    if (sensor == 1 && index >= 120)
        *time += 30 * LW_NS_PER_SEC;
    if (sensor == 0 && index >= 100 && index < 160)
        return 10.5;
    if (sensor == 2 && index == 150)
        return 12.5;
    return 10.0 + sin (index * 0.7 + sensor) + 0.3 * cos (index * 1.3);
}

//  --------------------------------------------------------------------------
//  Stuck, gap and limit rules through the actor: each opens its own alert
//  naming the rule; the gap's alert opens at the start of the silence.
//  Returns the last sequence sent.

static uint64_t
s_test_rules (s_test_t *test, uint64_t sequence, uint64_t publisher)
{
    const char *keys[] = {"m2/stuck", "m3/gap", "m4/limit"};
    lw_detect_cfg_t detect;
    int rc = lw_detect_cfg_load (test->config, &detect);
    assert (rc == 0);
    lw_extract_t *extract[3];
    for (int sensor = 0; sensor < 3; sensor++) {
        extract[sensor] = lw_extract_new (&detect);
        assert (extract[sensor]);
    }
    enum { POINTS = 200, PER_BATCH = 20 };
    lw_batch_t *batch = lw_batch_new (LW_MSG_FEATURES);
    assert (batch);
    uint64_t first = sequence + 1;
    for (int first_point = 0; first_point < POINTS; first_point += PER_BATCH) {
        lw_batch_reset (batch);
        lw_batch_set_publisher (batch, 42);
        lw_batch_set_partition (batch, 1);
        lw_batch_set_sequence (batch, ++sequence);
        lw_batch_set_ingest_time (batch, lw_time_now ());
        for (int index = first_point; index < first_point + PER_BATCH; index++)
            for (int sensor = 0; sensor < 3; sensor++) {
                lw_item_t *item = lw_batch_add (batch, keys[sensor]);
                assert (item);
                item->value = s_test_rule_signal (sensor, index, &item->time);
                lw_extract_update (extract[sensor], item);
            }
        zframe_t *body = lw_batch_encode (batch);
        assert (body);
        rc = lw_msg_send (zsock_resolve (test->input), 1, &body, false);
        assert (rc == 0);
    }
    //  Collect until every score batch came back
    bool named_by_rule[3] = {false, false, false};
    uint64_t batches = 0;
    zpoller_t *poller = zpoller_new (test->events, NULL);
    while (batches < sequence - first + 1) {
        void *which = zpoller_wait (poller, 5000);
        assert (which == test->events);
        zmsg_t *msg = zmsg_recv (test->events);
        uint16_t partition;
        rc = lw_msg_envelope (msg, &partition);
        assert (rc == 0);
        zframe_t *body = zmsg_last (msg);
        if (partition != LW_TOPIC_ALERTS)
            batches++;
        else {
            lw_alert_t alert;
            rc = lw_msg_alert_decode (zframe_data (body), zframe_size (body),
                                      &alert);
            assert (rc == 0);
            assert (alert.scorer == publisher);
            int sensor = streq (alert.sensor, keys[0])   ? 0
                         : streq (alert.sensor, keys[1]) ? 1
                                                         : 2;
            assert (streq (alert.sensor, keys[sensor]));
            const char *rule = sensor == 0   ? LW_DETECTOR_STUCK
                               : sensor == 1 ? LW_DETECTOR_GAP
                                             : LW_DETECTOR_LIMIT;
            bool named = false;
            for (uint32_t index = 0; index < alert.ndetectors; index++)
                named |= streq (alert.detectors[index], rule);
            //  The statistical detectors may alert on these sensors too
            //  (then the rule may join their episode); an episode the
            //  rule opens opens where the rule fires
            int64_t time;
            if (named)
                named_by_rule[sensor] = true;
            if (named && alert.state == LW_ALERT_OPEN) {
                int at = sensor == 0 ? 119 : sensor == 1 ? 120 : 150;
                s_test_rule_signal (sensor, sensor == 1 ? 119 : at, &time);
                assert (alert.opened == time);
            }
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    assert (named_by_rule[0] && named_by_rule[1] && named_by_rule[2]);
    for (int sensor = 0; sensor < 3; sensor++)
        lw_extract_destroy (&extract[sensor]);
    lw_batch_destroy (&batch);
    return sequence;
}

//  --------------------------------------------------------------------------
//  Sends `count` vectors of `key` on partition 1 from point `first` (1 s
//  apart); returns the last value

static double
s_test_send_sensor (s_test_t *test, lw_extract_t *extract, const char *key,
                    uint64_t sequence, int first, int count)
{
    lw_batch_t *batch = lw_batch_new (LW_MSG_FEATURES);
    assert (batch);
    lw_batch_set_publisher (batch, 42);
    lw_batch_set_partition (batch, 1);
    lw_batch_set_sequence (batch, sequence);
    lw_batch_set_ingest_time (batch, lw_time_now ());
    double value = 0;
    for (int index = first; index < first + count; index++) {
        lw_item_t *item = lw_batch_add (batch, key);
        assert (item);
        item->time = (1700003000LL + index) * LW_NS_PER_SEC;
        item->value = value = 10.0 + sin (index * 0.7);
        lw_extract_update (extract, item);
    }
    zframe_t *body = lw_batch_encode (batch);
    assert (body);
    int rc = lw_msg_send (zsock_resolve (test->input), 1, &body, false);
    assert (rc == 0);
    lw_batch_destroy (&batch);
    return value;
}

//  --------------------------------------------------------------------------
//  Waits for the next alert of `key` on the events stream (score batches
//  skipped) and returns its state

static int
s_test_next_alert (s_test_t *test, const char *key, lw_alert_t *alert)
{
    zpoller_t *poller = zpoller_new (test->events, NULL);
    int state = 0;
    while (!state) {
        void *which = zpoller_wait (poller, 5000);
        assert (which == test->events);
        zmsg_t *msg = zmsg_recv (test->events);
        uint16_t partition;
        int rc = lw_msg_envelope (msg, &partition);
        assert (rc == 0);
        zframe_t *body = zmsg_last (msg);
        if (partition == LW_TOPIC_ALERTS) {
            rc = lw_msg_alert_decode (zframe_data (body), zframe_size (body),
                                      alert);
            assert (rc == 0);
            if (streq (alert->sensor, key))
                state = alert->state;
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return state;
}

//  --------------------------------------------------------------------------
//  A gap event (lw-ingest: the sensor is silent) on the features stream
//  opens the sensor's gap alert at its last reading, with its last value,
//  while no reading came; readings coming back close it. Returns the last
//  sequence sent.

static uint64_t
s_test_gap_event (s_test_t *test, uint64_t sequence)
{
    char key[32] = "", quiet[32] = "";
    for (int index = 0; !*key; index++) {
        snprintf (key, sizeof key, "dead%d/s", index);
        if (lw_partition (key, 4) != 1)
            key[0] = 0;
    }
    for (int index = 0; !*quiet; index++) {
        snprintf (quiet, sizeof quiet, "quiet%d/s", index);
        if (lw_partition (quiet, 4) != 1)
            quiet[0] = 0;
    }
    lw_detect_cfg_t detect;
    int rc = lw_detect_cfg_load (test->config, &detect);
    assert (rc == 0);
    lw_extract_t *extract = lw_extract_new (&detect);
    assert (extract);
    double last = s_test_send_sensor (test, extract, key, ++sequence, 0, 40);
    lw_gap_t gap = {.last_time = (1700003000LL + 39) * LW_NS_PER_SEC,
                    .time = (1700003000LL + 60) * LW_NS_PER_SEC,
                    .silent = true};
    snprintf (gap.sensor, sizeof gap.sensor, "%s", key);
    zframe_t *body = lw_msg_gap_encode (&gap);
    assert (body);
    rc = lw_msg_send (zsock_resolve (test->input), 1, &body, false);
    assert (rc == 0);
    lw_alert_t alert;
    assert (s_test_next_alert (test, key, &alert) == LW_ALERT_OPEN);
    assert (alert.opened == gap.last_time);
    assert (alert.value == last);
    assert (alert.ndetectors == 1 && streq (alert.detectors[0], "gap"));
    //  Back: 20 ordinary points close it
    s_test_send_sensor (test, extract, key, ++sequence, 61, 20);
    assert (s_test_next_alert (test, key, &alert) == LW_ALERT_CLOSE);
    assert (alert.opened == gap.last_time);
    //  The batch's scores follow its alerts: read them too
    zpoller_t *poller = zpoller_new (test->events, NULL);
    uint16_t partition = LW_TOPIC_ALERTS;
    while (partition == LW_TOPIC_ALERTS) {
        assert (zpoller_wait (poller, 5000) == test->events);
        zmsg_t *msg = zmsg_recv (test->events);
        rc = lw_msg_envelope (msg, &partition);
        assert (rc == 0);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    assert (partition == 1);
    assert (s_test_stat (test->actor, "sensor_gaps") == 1);
    //  A sensor whose rules do not alert on gaps: counted, no alert
    uint64_t alerts = s_test_stat (test->actor, "alerts");
    snprintf (gap.sensor, sizeof gap.sensor, "%s", quiet);
    body = lw_msg_gap_encode (&gap);
    assert (body);
    rc = lw_msg_send (zsock_resolve (test->input), 1, &body, false);
    assert (rc == 0);
    assert (s_test_stat_reaches (test->actor, "gap_ignored", 1, test->events));
    assert (s_test_stat (test->actor, "sensor_gaps") == 2);
    assert (s_test_stat (test->actor, "alerts") == alerts);
    //  A gap of a sensor of another partition is dropped, counted
    uint64_t envelope = s_test_stat (test->actor, "drop_envelope");
    snprintf (gap.sensor, sizeof gap.sensor, "%s", key);
    body = lw_msg_gap_encode (&gap);
    assert (body);
    rc = lw_msg_send (zsock_resolve (test->input), 0, &body, false);
    assert (rc == 0);
    assert (s_test_stat_reaches (test->actor, "drop_envelope", envelope + 1,
                                 test->events));
    lw_extract_destroy (&extract);
    return sequence;
}

//  --------------------------------------------------------------------------
//  Peer group copies (LW_QUALITY_PEER) on the group's partition 0: five
//  pumps, pump3 drifts away from row 100; one peer alert names it, the
//  others stay quiet

static void
s_test_peers (s_test_t *test)
{
    enum { MEMBERS = 5, ROWS = 400, PER_BATCH = 20 };
    lw_batch_t *batch = lw_batch_new (LW_MSG_FEATURES);
    assert (batch);
    uint64_t sequence = 0;
    for (int first = 0; first < ROWS; first += PER_BATCH) {
        lw_batch_reset (batch);
        lw_batch_set_publisher (batch, 77);
        lw_batch_set_partition (batch, 0);
        lw_batch_set_sequence (batch, ++sequence);
        lw_batch_set_ingest_time (batch, lw_time_now ());
        for (int row = first; row < first + PER_BATCH; row++)
            for (int member = 0; member < MEMBERS; member++) {
                char key[32];
                snprintf (key, sizeof key, "pump%d/flow", member + 1);
                lw_item_t *item = lw_batch_add (batch, key);
                assert (item);
                item->time = (1700002000LL + row) * LW_NS_PER_SEC;
                item->value = 10.0 + sin (row * 0.7 + member * 1.3);
                if (member == 2 && row > 100)
                    item->value += 0.05 * (row - 100);
                item->quality = LW_QUALITY_PEER;
            }
        zframe_t *body = lw_batch_encode (batch);
        assert (body);
        int rc = lw_msg_send (zsock_resolve (test->input), 0, &body, false);
        assert (rc == 0);
    }
    lw_batch_destroy (&batch);
    //  Peer items give no scores batch: wait for the alert itself
    zpoller_t *poller = zpoller_new (test->events, NULL);
    bool opened = false;
    while (!opened) {
        void *which = zpoller_wait (poller, 5000);
        assert (which == test->events);
        zmsg_t *msg = zmsg_recv (test->events);
        uint16_t partition;
        int rc = lw_msg_envelope (msg, &partition);
        assert (rc == 0);
        if (partition == LW_TOPIC_ALERTS) {
            lw_alert_t alert;
            zframe_t *body = zmsg_last (msg);
            rc = lw_msg_alert_decode (zframe_data (body), zframe_size (body),
                                      &alert);
            assert (rc == 0);
            assert (streq (alert.sensor, "pump3/flow"));
            assert (streq (alert.detectors[0], LW_DETECTOR_PEER));
            opened = alert.state == LW_ALERT_OPEN;
            assert (alert.local_seq > 0);
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    assert (s_test_stat_reaches (test->actor, "peer", MEMBERS * ROWS,
                                 test->events));
}

//  --------------------------------------------------------------------------
//  Per-vector cost of the actor's batch path without sockets in the way:
//  decode + detector + episode + encode + send (to nobody)

static void
s_test_bench (s_test_t *test)
{
    //  Endpoints nobody binds: the output goes nowhere, without ever
    //  filling a queue the test would have to drain
    lw_node_t *node = (lw_node_t *)zmalloc (sizeof (lw_node_t));
    assert (node);
    *node = *test->node;
    snprintf (node->features_out, LW_ENDPOINT_MAX, "ipc://%s/bench-in",
              test->dir);
    snprintf (node->events_in, LW_ENDPOINT_MAX, "ipc://%s/bench-out",
              test->dir);
    lw_actor_args_t args = test->args;
    args.node = node;
    self_t *self = s_self_new (NULL, &args);
    int rc = s_configure (self);
    assert (rc == 0);
    uint16_t all[] = {0};
    lw_worker_change (self->worker, LW_CTRL_ASSIGN, all, 1);
    enum { SENSORS = 1000, FRAMES = 8, PER_BATCH = 512, ROUNDS = 100 };
    lw_detect_cfg_t detect;
    lw_detect_cfg_default (&detect);
    lw_extract_t *extract = lw_extract_new (&detect);
    assert (extract);
    zframe_t *frames[FRAMES];
    lw_batch_t *batch = lw_batch_new (LW_MSG_FEATURES);
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
            lw_extract_update (extract, item);
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
    double vectors = (double)ROUNDS * FRAMES * PER_BATCH;
    printf ("   scorer: %.0f vectors in %.3f s = %.0f vectors/s"
            " (decode + score + episode + encode, %d sensors)\n",
            vectors, elapsed / 1e6, vectors / (elapsed / 1e6), SENSORS);
    assert (lw_stats_value (self->stats, "out") == (uint64_t)vectors);
    for (int frame_nbr = 0; frame_nbr < FRAMES; frame_nbr++)
        zframe_destroy (&frames[frame_nbr]);
    lw_extract_destroy (&extract);
    lw_batch_destroy (&batch);
    s_self_destroy (&self);
    free (node);
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_scorer_test (bool verbose)
{
    printf (" * lw_scorer: ");
    if (verbose)
        printf ("\n");
    s_test_t test;
    s_test_setup (&test);
    zactor_t *actor = test.actor;

    zstr_send (actor, "CONFIGURE");
    assert (zsock_wait (actor) == 0);
    zstr_sendx (actor, "ASSIGN", "0", "1", NULL);
    assert (zsock_wait (actor) == 0);
    s_test_wait_subscriptions (test.input, 2);
    assert (s_test_stat_reaches (actor, "ready", 1, test.events));

    //  The same detection run offline, in the order lwctl score uses
    lw_detect_cfg_t detect;
    int rc = lw_detect_cfg_load (test.config, &detect);
    assert (rc == 0);
    lw_extract_t *spike = lw_extract_new (&detect);
    lw_extract_t *calm = lw_extract_new (&detect);
    lw_detector_t *offline = lw_detector_new (&detect);
    lw_extract_t *offline_extract = lw_extract_new (&detect);
    assert (spike && calm && offline && offline_extract);

    enum { POINTS = 200, PER_BATCH = 20 };
    uint64_t sequence = 0;
    for (int first = 0; first < POINTS; first += PER_BATCH)
        s_test_send_vectors (test.input, ++sequence, first, PER_BATCH, spike,
                             calm);

    //  Scores and alert changes on the events stream
    lw_batch_t *batch = lw_batch_new (LW_MSG_SCORES);
    assert (batch);
    lw_alert_t alert;
    int opens = 0, closes = 0, updates = 0, spike_points = 0;
    int machine_opens = 0;
    uint64_t open_seq = 0, publisher = 0;
    size_t batches = 0;
    zpoller_t *poller = zpoller_new (test.events, NULL);
    while (batches < sequence) {
        void *which = zpoller_wait (poller, 5000);
        assert (which == test.events);
        zmsg_t *msg = zmsg_recv (test.events);
        uint16_t partition;
        rc = lw_msg_envelope (msg, &partition);
        assert (rc == 0);
        zframe_t *body = zmsg_last (msg);
        if (partition == LW_TOPIC_ALERTS) {
            rc = lw_msg_alert_decode (zframe_data (body), zframe_size (body),
                                      &alert);
            assert (rc == 0);
            if (streq (alert.sensor, "m1")) {
                //  The machine's alert names the spiking sensor
                assert (streq (alert.detectors[0], LW_DETECTOR_MACHINE));
                assert (alert.ndetectors >= 2);
                assert (streq (alert.detectors[1], "top:spike"));
                if (alert.state == LW_ALERT_OPEN)
                    machine_opens++;
                zmsg_destroy (&msg);
                continue;
            }
            assert (streq (alert.sensor, "m1/spike"));
            assert (alert.scorer != 0);
            assert (alert.ndetectors >= 1);
            if (verbose)
                printf ("   alert state=%d local_seq=%" PRIu64 " score=%.3f"
                        " value=%.2f expected=[%.2f, %.2f] detector=%s\n",
                        alert.state, alert.local_seq, alert.score, alert.value,
                        alert.expected_low, alert.expected_high,
                        alert.detectors[0]);
            if (alert.state == LW_ALERT_OPEN) {
                assert (opens == closes);
                opens++;
                open_seq = alert.local_seq;
                assert (alert.value > 40.0);
                assert (alert.expected_high < 40.0);
            }
            else {
                assert (opens == closes + 1);
                assert (alert.local_seq == open_seq);
                if (alert.state == LW_ALERT_CLOSE) {
                    closes++;
                    assert (alert.closed > 0);
                }
                else
                    updates++;
            }
        }
        else {
            assert (partition == 1);
            rc =
                lw_batch_decode (batch, zframe_data (body), zframe_size (body));
            assert (rc == 0);
            assert (lw_batch_kind (batch) == LW_MSG_SCORES);
            assert (lw_batch_sequence (batch) == ++batches);
            if (!publisher)
                publisher = lw_batch_publisher (batch);
            assert (lw_batch_publisher (batch) == publisher);
            assert (lw_batch_count (batch) == 2 * PER_BATCH);
            for (size_t index = 0; index < lw_batch_count (batch); index++) {
                lw_item_t *item = lw_batch_item (batch, index);
                assert (item->score >= 0.0 && item->score <= 1.0);
                if (streq (item->sensor, "m1/calm"))
                    assert (!(item->flags & LW_SCORE_ALERT));
                else {
                    //  Live equals offline: same features, same detector
                    lw_item_t check = {.sensor = item->sensor,
                                       .time = item->time,
                                       .value = item->value};
                    lw_extract_update (offline_extract, &check);
                    lw_detector_score (offline, &check);
                    assert (check.score == item->score);
                    assert (check.expected_low == item->expected_low);
                    assert (check.expected_high == item->expected_high);
                    if (item->flags & LW_SCORE_ALERT)
                        spike_points++;
                }
            }
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    assert (opens == 1);
    assert (closes == 1);
    assert (machine_opens == 1);
    assert (alert.scorer == publisher);
    assert (spike_points >= 1);
    assert (s_test_stat (actor, "in") == 2 * POINTS);
    assert (s_test_stat (actor, "out") == 2 * POINTS);
    assert (s_test_stat (actor, "alerts") == 2);
    assert (s_test_stat (actor, "warmup") >= 2);
    assert (s_test_stat (actor, "gaps") == 0);
    //  Two sensors and their machine
    assert (s_test_stat (actor, "sensors") == 3);
    if (verbose)
        printf ("   opens=%d updates=%d closes=%d points_in_alert=%d\n", opens,
                updates, closes, spike_points);

    //  Malformed input is dropped and counted; a skipped sequence is a gap
    uint8_t prefix[] = {0, 1};
    uint8_t junk[] = {0xc1, 0x00};
    const void *data[] = {prefix, junk};
    size_t sizes[] = {2, 2};
    s_test_send_raw (test.input, 2, data, sizes);
    sequence++;
    s_test_send_vectors (test.input, ++sequence, POINTS, PER_BATCH, spike,
                         calm);
    zmsg_t *msg = NULL;
    poller = zpoller_new (test.events, NULL);
    while (!msg) {
        void *which = zpoller_wait (poller, 5000);
        assert (which == test.events);
        msg = zmsg_recv (test.events);
        uint16_t partition;
        rc = lw_msg_envelope (msg, &partition);
        assert (rc == 0);
        if (partition == LW_TOPIC_ALERTS)
            zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zframe_t *body = zmsg_last (msg);
    rc = lw_batch_decode (batch, zframe_data (body), zframe_size (body));
    assert (rc == 0);
    assert (lw_batch_sequence (batch) == batches + 1);
    zmsg_destroy (&msg);
    assert (s_test_stat (actor, "gaps") == 1);
    uint64_t drops = 0;
    for (int code = -1; code > -LW_MSG_ERRORS; code--) {
        char name[LW_STAT_NAME_MAX + 1];
        snprintf (name, sizeof name, "drop_%s", lw_msg_strerror (code));
        drops += s_test_stat (actor, name);
    }
    assert (drops == 1);

    //  Rule detectors, peer groups
    sequence = s_test_rules (&test, sequence, publisher);
    sequence = s_test_gap_event (&test, sequence);
    s_test_peers (&test);
    assert (s_test_stat (actor, "drop_peer") == 0);

    //  Revoking a partition drops its sensors
    zstr_sendx (actor, "REVOKE", "1", NULL);
    assert (zsock_wait (actor) == 0);
    //  Left: the peer group's state, on partition 0
    assert (s_test_stat (actor, "sensors") == 1);
    assert (s_test_stat (actor, "owned") == 1);

    lw_batch_destroy (&batch);
    lw_extract_destroy (&spike);
    lw_extract_destroy (&calm);
    lw_extract_destroy (&offline_extract);
    lw_detector_destroy (&offline);
    if (verbose)
        s_test_bench (&test);
    s_test_teardown (&test);
    printf ("OK\n");
}
