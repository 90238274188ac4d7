/*  =========================================================================
    it_pipeline.c - readings keep turning into alerts when a worker dies

    Copyright (c) the linewatch authors. MIT license.

    Starts lw-broker, two lw-features and one lw-scorer on a temporary
    home; the test plays lw-ingest (an XPUB NODROP connected to the
    readings XSUB) and lw-feedback (a SUB on the events XPUB). It checks:
      - readings of machines in both features workers' partitions are
        scored;
      - the features worker that owns the spike sensor's partition is
        killed with SIGKILL: within misses x heartbeat + 1 s the other one
        owns every partition, says "warm start from scratch", and after
        its warm-up a spike on that sensor gives exactly one alert, OPEN
        then CLOSE, with the same local_seq;
      - every reading published after the takeover is scored, and no
        sequence gap is counted (each publisher's sequences are intact).
    Deadlines come from the node config, so they hold under ASan.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <math.h>
#include <signal.h>
#include <zmq.h>

#define START_DEADLINE 20000 //  ms for the processes to come up
#define STATUS_TIMEOUT 1000  //  ms per STATUS call
#define FLOW_DEADLINE 10000  //  ms for published readings to score
#define WARM_ROUNDS 40       //  Normal rounds before a spike
#define SPIKE_ROUNDS 3       //  Rounds with the spike
#define CALM_ROUNDS 30       //  Normal rounds after it

typedef struct {
    lw_testnode_t *node;            //  The node under test
    uint32_t partitions;            //  P
    pid_t features_a;               //  First features worker
    pid_t features_b;               //  Second features worker (survives)
    bool a_owns[LW_PARTITIONS_MAX]; //  Partitions of features_a (out)
    long long wanted;               //  Counter value a wait wants
    const char *group;              //  Counter group
    const char *counter;            //  Counter name
} probe_t;

//  --------------------------------------------------------------------------
//  Finds a member by group and pid; NULL when absent

static lw_ctrl_t *
s_find (zlistx_t *members, const char *group, pid_t pid)
{
    for (lw_ctrl_t *member = (lw_ctrl_t *)zlistx_first (members); member;
         member = (lw_ctrl_t *)zlistx_next (members))
        if (member->alive && streq (member->group, group) &&
            (pid == 0 || member->pid == (int64_t)pid))
            return member;
    return NULL;
}

//  --------------------------------------------------------------------------
//  True when the broker says every partition has a subscriber

static bool
s_broker_ready (probe_t *probe)
{
    return lw_test_counter (probe->node, "broker", "ready", STATUS_TIMEOUT) ==
           1;
}

//  --------------------------------------------------------------------------
//  True when both features workers hold a share, the scorer owns all P,
//  and the broker is ready. Records features_a's partitions.

static bool
s_split (void *arg)
{
    probe_t *probe = (probe_t *)arg;
    zlistx_t *members = lw_test_members (probe->node, STATUS_TIMEOUT);
    if (!members)
        return false;
    lw_ctrl_t *a = s_find (members, "features", probe->features_a);
    lw_ctrl_t *b = s_find (members, "features", probe->features_b);
    lw_ctrl_t *scorer = s_find (members, "scorer", 0);
    bool split = a && b && scorer && a->npartitions > 0 && b->npartitions > 0 &&
                 a->npartitions + b->npartitions == probe->partitions &&
                 scorer->npartitions == probe->partitions;
    if (split) {
        memset (probe->a_owns, 0, sizeof probe->a_owns);
        for (uint32_t index = 0; index < a->npartitions; index++)
            probe->a_owns[a->partitions[index]] = true;
    }
    zlistx_destroy (&members);
    return split && s_broker_ready (probe);
}

//  --------------------------------------------------------------------------
//  True when features_b owns every partition and the broker is ready

static bool
s_taken_over (void *arg)
{
    probe_t *probe = (probe_t *)arg;
    zlistx_t *members = lw_test_members (probe->node, STATUS_TIMEOUT);
    if (!members)
        return false;
    lw_ctrl_t *b = s_find (members, "features", probe->features_b);
    bool owns = b && b->npartitions == probe->partitions &&
                s_find (members, "features", probe->features_a) == NULL;
    zlistx_destroy (&members);
    return owns && s_broker_ready (probe);
}

//  --------------------------------------------------------------------------
//  True when a group's counter has reached probe->wanted

static bool
s_counter_reached (void *arg)
{
    probe_t *probe = (probe_t *)arg;
    return lw_test_counter (probe->node, probe->group, probe->counter,
                            STATUS_TIMEOUT) >= probe->wanted;
}

//  --------------------------------------------------------------------------
//  The signal: a noisy level; the spike adds 40

static double
s_signal (int round, bool spike)
{
    return 50.0 + 0.5 * sin (round * 0.7) + 0.2 * cos (round * 1.9) +
           (spike ? 40.0 : 0.0);
}

//  --------------------------------------------------------------------------
//  Publishes one reading of `key` as lw-ingest would (batch of one)

static void
s_publish (zsock_t *publisher, const char *key, uint32_t partitions,
           uint64_t *sequences, int round, bool spike)
{
    uint16_t partition = lw_partition (key, partitions);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (batch);
    lw_batch_set_publisher (batch, 31337);
    lw_batch_set_partition (batch, partition);
    lw_batch_set_sequence (batch, ++sequences[partition]);
    lw_batch_set_ingest_time (batch, lw_time_now ());
    lw_item_t *item = lw_batch_add (batch, key);
    assert (item);
    item->time = 1700000000LL * LW_NS_PER_SEC + round * 100 * LW_NS_PER_MS;
    item->value = s_signal (round, spike);
    zframe_t *body = lw_batch_encode (batch);
    assert (body);
    int rc = lw_msg_send (publisher, partition, &body, false);
    assert (rc == 0);
    lw_batch_destroy (&batch);
}

//  --------------------------------------------------------------------------
//  Receives one events message within timeout_ms: returns its partition
//  frame, or -1 on timeout; decodes an alert into *alert

static int
s_receive (zsock_t *events, int timeout_ms, lw_alert_t *alert)
{
    zpoller_t *poller = zpoller_new (events, NULL);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    if (which != events)
        return -1;
    zmsg_t *msg = zmsg_recv (events);
    assert (msg);
    uint16_t partition;
    int rc = lw_msg_envelope (msg, &partition);
    assert (rc == 0);
    if (partition == LW_TOPIC_ALERTS) {
        zframe_t *body = zmsg_last (msg);
        rc =
            lw_msg_alert_decode (zframe_data (body), zframe_size (body), alert);
        assert (rc == 0);
    }
    zmsg_destroy (&msg);
    return partition;
}

//  --------------------------------------------------------------------------
//  Subscribes a SUB to a 2-byte topic

static void
s_subscribe (zsock_t *sub, uint16_t topic)
{
    uint8_t prefix[2] = {(uint8_t)(topic >> 8), (uint8_t)topic};
    int rc = zmq_setsockopt (zsock_resolve (sub), ZMQ_SUBSCRIBE, prefix, 2);
    assert (rc == 0);
}

//  --------------------------------------------------------------------------
//  The test; exits 0 when everything held (asserts otherwise).

int
main (void)
{
    zsys_init ();
    const char *overrides[] = {"detect/window=16", "detect/warmup=10",
                               "scorer/publish_scores=1", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    int failover = (int)(settings->misses * settings->heartbeat) + 1000;
    probe_t probe = {.node = node,
                     .partitions = (uint32_t)settings->partitions};
    printf ("it_pipeline: P=%u heartbeat=%ld ms misses=%ld\n", probe.partitions,
            settings->heartbeat, settings->misses);

    lw_testnode_spawn (node, "lw-broker", NULL);
    probe.features_a =
        lw_testnode_spawn (node, "lw-features", "--name", "features-a", NULL);
    probe.features_b =
        lw_testnode_spawn (node, "lw-features", "--name", "features-b", NULL);
    lw_testnode_spawn (node, "lw-scorer", "--name", "scorer-a", NULL);
    assert (lw_test_wait (s_split, &probe, START_DEADLINE));

    //  One machine in features-a's partitions (the spike), one in
    //  features-b's (calm)
    char spike_key[32] = "", calm_key[32] = "";
    for (int machine = 0; !*spike_key || !*calm_key; machine++) {
        assert (machine < 100000);
        char key[32];
        snprintf (key, sizeof key, "m%d/temp", machine);
        bool in_a = probe.a_owns[lw_partition (key, probe.partitions)];
        if (in_a && !*spike_key)
            snprintf (spike_key, sizeof spike_key, "%s", key);
        if (!in_a && !*calm_key)
            snprintf (calm_key, sizeof calm_key, "%s", key);
    }
    uint16_t calm_partition = lw_partition (calm_key, probe.partitions);
    printf ("it_pipeline: spike on %s (features-a), calm %s (features-b)\n",
            spike_key, calm_key);

    //  lw-ingest's part, and lw-feedback's
    zsock_t *publisher = zsock_new (ZMQ_XPUB);
    assert (publisher);
    zsock_set_xpub_nodrop (publisher, 1);
    int rc = zsock_connect (publisher, "%s", settings->readings_in);
    assert (rc == 0);
    zpoller_t *poller = zpoller_new (publisher, NULL);
    assert (zpoller_wait (poller, START_DEADLINE) == publisher);
    zpoller_destroy (&poller);
    zframe_t *subscription = zframe_recv (publisher);
    assert (subscription && zframe_data (subscription)[0] == 1);
    zframe_destroy (&subscription);
    zsock_t *events = zsock_new (ZMQ_SUB);
    assert (events);
    rc = zsock_connect (events, "%s", settings->events_out);
    assert (rc == 0);
    s_subscribe (events, LW_TOPIC_ALERTS);
    s_subscribe (events, calm_partition);

    //  Both workers' readings are scored; the calm machine's scores reach
    //  us, so our SUB is known to be subscribed at the broker
    uint64_t *sequences =
        (uint64_t *)calloc (LW_PARTITIONS_MAX, sizeof (uint64_t));
    assert (sequences);
    int round = 0;
    lw_alert_t alert;
    int received = -1;
    int64_t deadline = zclock_mono () + FLOW_DEADLINE;
    while (received != calm_partition && zclock_mono () < deadline) {
        s_publish (publisher, spike_key, probe.partitions, sequences, round,
                   false);
        s_publish (publisher, calm_key, probe.partitions, sequences, round,
                   false);
        round++;
        received = s_receive (events, 100, &alert);
    }
    assert (received == calm_partition);
    probe.group = "scorer";
    probe.counter = "out";
    probe.wanted = 2 * round;
    assert (lw_test_wait (s_counter_reached, &probe, FLOW_DEADLINE));
    printf ("it_pipeline: %d rounds scored before the kill\n", round);

    //  features-a dies; features-b takes every partition
    int64_t killed = zclock_mono ();
    lw_testnode_kill (node, probe.features_a, SIGKILL);
    assert (lw_test_wait (s_taken_over, &probe, failover));
    printf ("it_pipeline: features-b owns all after %" PRId64
            " ms (deadline %d)\n",
            zclock_mono () - killed, failover);
    long long scored = lw_test_counter (node, "scorer", "out", STATUS_TIMEOUT);
    assert (scored >= 2 * round);

    //  Warm-up from scratch on the new owner, then the spike, then calm
    int published = 0;
    for (int step = 0; step < WARM_ROUNDS + SPIKE_ROUNDS + CALM_ROUNDS;
         step++, round++) {
        bool spike = step >= WARM_ROUNDS && step < WARM_ROUNDS + SPIKE_ROUNDS;
        s_publish (publisher, spike_key, probe.partitions, sequences, round,
                   spike);
        s_publish (publisher, calm_key, probe.partitions, sequences, round,
                   false);
        published += 2;
    }

    //  Exactly one episode, on the spike sensor: OPEN, then CLOSE
    int opens = 0, closes = 0;
    uint64_t local_seq = 0;
    deadline = zclock_mono () + FLOW_DEADLINE;
    while (closes == 0 && zclock_mono () < deadline) {
        if (s_receive (events, 500, &alert) != LW_TOPIC_ALERTS)
            continue;
        printf ("it_pipeline: alert state=%d sensor=%s local_seq=%" PRIu64
                " value=%.2f\n",
                alert.state, alert.sensor, alert.local_seq, alert.value);
        assert (streq (alert.sensor, spike_key));
        if (alert.state == LW_ALERT_OPEN) {
            assert (opens == 0);
            opens++;
            local_seq = alert.local_seq;
        }
        else {
            assert (opens == 1);
            assert (alert.local_seq == local_seq);
            closes += alert.state == LW_ALERT_CLOSE;
        }
    }
    assert (opens == 1);
    assert (closes == 1);

    //  Every reading published after the takeover was scored, no gaps
    probe.wanted = scored + published;
    assert (lw_test_wait (s_counter_reached, &probe, FLOW_DEADLINE));
    assert (lw_test_counter (node, "scorer", "out", STATUS_TIMEOUT) ==
            scored + published);
    assert (lw_test_counter (node, "scorer", "gaps", STATUS_TIMEOUT) == 0);
    assert (lw_test_counter (node, "features", "gaps", STATUS_TIMEOUT) == 0);
    assert (lw_test_counter (node, "scorer", "alerts", STATUS_TIMEOUT) == 1);

    free (sequences);
    zsock_destroy (&publisher);
    zsock_destroy (&events);
    lw_testnode_destroy (&node);
    printf ("it_pipeline: OK\n");
    return 0;
}
