/*  =========================================================================
    lw_pipeline.c - in-process test of broker + lw-features + lw-scorer

    Copyright (c) the linewatch authors. MIT license.

    See lw_pipeline.h. The test plays lw-ingest (an XPUB NODROP connected
    to the broker's readings XSUB) and lw-feedback (a SUB on the events
    XPUB for the alerts topic).
    =========================================================================
*/

#include "lw_pipeline.h"

#include <czmq.h>
#include <inttypes.h>
#include <math.h>
#include <zmq.h>

#include "lw_cfg.h"
#include "lw_main.h"
#include "lw_msg.h"
#include "lw_util.h"

//  The actors under test. Their headers live with their libraries
//  (broker/, actors/features/), which lw_scorer does not link; lw_selftest
//  links them all.

void lw_broker_actor (zsock_t *pipe, void *args);
void lw_features_actor (zsock_t *pipe, void *args);
void lw_scorer_actor (zsock_t *pipe, void *args);

#define S_PARTITIONS 4
#define S_POINTS 200
#define S_PER_BATCH 10
#define S_SPIKE_AT 120

//  --------------------------------------------------------------------------
//  Counter `name` of an actor (STATS command), 0 when absent

static uint64_t
s_stat (zactor_t *actor, const char *name)
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
//  Polls a counter until it is at least `value`, for at most timeout_ms

static bool
s_stat_reaches (zactor_t *actor, const char *name, uint64_t value,
                int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *pause = zpoller_new (NULL);
    bool reached = false;
    while (!reached && zclock_mono () < deadline) {
        reached = s_stat (actor, name) >= value;
        if (!reached)
            zpoller_wait (pause, 10); //  Bounded pause between polls
    }
    zpoller_destroy (&pause);
    return reached;
}

//  --------------------------------------------------------------------------
//  Starts an actor and configures it

static zactor_t *
s_start (zactor_fn *actor_fn, lw_actor_args_t *args)
{
    zactor_t *actor = zactor_new (actor_fn, args);
    assert (actor);
    zstr_send (actor, "CONFIGURE");
    int rc = zsock_wait (actor);
    assert (rc == 0);
    return actor;
}

//  --------------------------------------------------------------------------
//  The test signal: two sensors of machine m1, a spike on m1/spike

static double
s_signal (int index, bool spike)
{
    double value = 50.0 + 0.5 * sin (index * 0.7) + 0.2 * cos (index * 1.9);
    if (spike && index >= S_SPIKE_AT && index < S_SPIKE_AT + 3)
        value += 40.0;
    return value;
}

//  --------------------------------------------------------------------------
//  Publishes readings [first, first + S_PER_BATCH) as lw-ingest would

static void
s_publish (zsock_t *publisher, uint64_t sequence, int first)
{
    uint16_t partition = lw_partition ("m1/spike", S_PARTITIONS);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (batch);
    lw_batch_set_publisher (batch, 4242);
    lw_batch_set_partition (batch, partition);
    lw_batch_set_sequence (batch, sequence);
    lw_batch_set_ingest_time (batch, lw_time_now ());
    int64_t start = 1700000000LL * LW_NS_PER_SEC;
    for (int index = first; index < first + S_PER_BATCH; index++)
        for (int which = 0; which < 2; which++) {
            lw_item_t *item =
                lw_batch_add (batch, which ? "m1/calm" : "m1/spike");
            assert (item);
            item->time = start + index * 100 * LW_NS_PER_MS;
            item->value = s_signal (index, which == 0);
        }
    zframe_t *body = lw_batch_encode (batch);
    assert (body);
    int rc = lw_msg_send (publisher, partition, &body, false);
    assert (rc == 0);
    lw_batch_destroy (&batch);
}

//  --------------------------------------------------------------------------
//  Receives one events message within timeout_ms; returns its partition
//  frame (-1 on timeout) and decodes an alert into *alert

static int
s_receive_event (zsock_t *events, int timeout_ms, lw_alert_t *alert)
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

#define S_BENCH_SENSORS 1000
#define S_BENCH_BATCH 512
#define S_BENCH_READINGS 1000000

//  --------------------------------------------------------------------------
//  Throughput of the whole chain in one process (verbose only): batches of
//  S_BENCH_BATCH readings of 1,000 sensors over every partition, sent as
//  fast as the broker takes them, until the scorer has scored them all.
//  Every thread of the node shares the machine's cores here, so this is a
//  floor for what separate processes do.

static void
s_bench (zsock_t *publisher, zactor_t *features, zactor_t *scorer)
{
    uint64_t scored = s_stat (scorer, "out");
    uint64_t gaps = s_stat (scorer, "gaps") + s_stat (features, "gaps");
    lw_batch_t *batches[S_PARTITIONS];
    uint64_t sequences[S_PARTITIONS];
    for (int partition = 0; partition < S_PARTITIONS; partition++) {
        batches[partition] = lw_batch_new (LW_MSG_READINGS);
        assert (batches[partition]);
        lw_batch_set_publisher (batches[partition], 9999);
        lw_batch_set_partition (batches[partition], (uint16_t)partition);
        sequences[partition] = 0;
    }
    char keys[S_BENCH_SENSORS][32];
    uint16_t partitions[S_BENCH_SENSORS];
    for (int sensor = 0; sensor < S_BENCH_SENSORS; sensor++) {
        snprintf (keys[sensor], sizeof keys[sensor], "bench/m%d/s%d",
                  sensor / 10, sensor % 10);
        partitions[sensor] = lw_partition (keys[sensor], S_PARTITIONS);
    }
    int64_t start = zclock_usecs ();
    int64_t time = 1700000000LL * LW_NS_PER_SEC;
    for (int reading = 0; reading < S_BENCH_READINGS; reading++) {
        int sensor = reading % S_BENCH_SENSORS;
        lw_batch_t *batch = batches[partitions[sensor]];
        if (lw_batch_count (batch) == 0)
            lw_batch_set_ingest_time (batch, lw_time_now ());
        lw_item_t *item = lw_batch_add (batch, keys[sensor]);
        assert (item);
        item->time =
            time + (int64_t)(reading / S_BENCH_SENSORS) * 100 * LW_NS_PER_MS;
        item->value = 10.0 + sin (reading * 0.001);
        bool last = reading == S_BENCH_READINGS - 1;
        for (int partition = 0; partition < S_PARTITIONS; partition++) {
            batch = batches[partition];
            if (lw_batch_count (batch) == 0)
                continue;
            if (lw_batch_count (batch) < S_BENCH_BATCH && !last)
                continue;
            lw_batch_set_sequence (batch, ++sequences[partition]);
            zframe_t *body = lw_batch_encode (batch);
            assert (body);
            int rc = lw_msg_send (publisher, (uint16_t)partition, &body, false);
            assert (rc == 0);
            lw_batch_reset (batch);
        }
    }
    int64_t sent = zclock_usecs ();
    bool done =
        s_stat_reaches (scorer, "out", scored + S_BENCH_READINGS, 60000);
    int64_t elapsed = zclock_usecs () - start;
    printf ("   pipeline: %d readings sent in %.3f s, scored in %.3f s ="
            " %.0f readings/s end to end (in one process)\n",
            S_BENCH_READINGS, (sent - start) / 1e6, elapsed / 1e6,
            S_BENCH_READINGS / (elapsed / 1e6));
    assert (done);
    assert (s_stat (scorer, "gaps") + s_stat (features, "gaps") == gaps);
    for (int partition = 0; partition < S_PARTITIONS; partition++)
        lw_batch_destroy (&batches[partition]);
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_pipeline_test (bool verbose)
{
    printf (" * lw_pipeline: ");
    if (verbose)
        printf ("\n");
    char dir[] = "/tmp/lw_pipeline_XXXXXX";
    assert (mkdtemp (dir));
    zconfig_t *config = zconfig_new ("root", NULL);
    assert (config);
    zconfig_put (config, "common/partitions", "4");
    zconfig_put (config, "common/heartbeat", "100");
    zconfig_put (config, "detect/window", "16");
    zconfig_put (config, "detect/warmup", "10");
    zconfig_put (config, "scorer/publish_scores", "1");
    lw_node_t *node = (lw_node_t *)zmalloc (sizeof (lw_node_t));
    assert (node);
    int rc = lw_node_load (config, dir, node);
    assert (rc == 0);
    assert (node->partitions == S_PARTITIONS);

    lw_actor_args_t broker_args = {config, node, "broker"};
    lw_actor_args_t features_args = {config, node, "features-1"};
    lw_actor_args_t scorer_args = {config, node, "scorer-1"};
    zactor_t *broker = s_start (lw_broker_actor, &broker_args);
    zactor_t *features = s_start (lw_features_actor, &features_args);
    zactor_t *scorer = s_start (lw_scorer_actor, &scorer_args);

    //  The coordinator gives each single worker every partition, and says
    //  READY once both streams have a subscriber on every partition
    assert (s_stat_reaches (features, "owned", S_PARTITIONS, 5000));
    assert (s_stat_reaches (scorer, "owned", S_PARTITIONS, 5000));
    assert (s_stat_reaches (features, "node_ready", 1, 5000));
    assert (s_stat_reaches (features, "ready", 1, 5000));
    assert (s_stat_reaches (scorer, "ready", 1, 5000));

    //  lw-ingest's part: XPUB NODROP connected to the readings XSUB
    zsock_t *publisher = zsock_new (ZMQ_XPUB);
    assert (publisher);
    zsock_set_xpub_nodrop (publisher, 1);
    rc = zsock_connect (publisher, "%s", node->readings_in);
    assert (rc == 0);
    zpoller_t *poller = zpoller_new (publisher, NULL);
    assert (zpoller_wait (poller, 5000) == publisher);
    zpoller_destroy (&poller);
    zframe_t *subscription = zframe_recv (publisher);
    assert (subscription && zframe_data (subscription)[0] == 1);
    zframe_destroy (&subscription);

    //  lw-feedback's part: alerts and our machine's scores
    zsock_t *events = zsock_new (ZMQ_SUB);
    assert (events);
    rc = zsock_connect (events, "%s", node->events_out);
    assert (rc == 0);
    uint16_t partition = lw_partition ("m1/spike", S_PARTITIONS);
    uint8_t topics[2][2] = {{LW_TOPIC_ALERTS >> 8, LW_TOPIC_ALERTS & 0xFF},
                            {(uint8_t)(partition >> 8), (uint8_t)partition}};
    for (int topic = 0; topic < 2; topic++) {
        rc = zmq_setsockopt (zsock_resolve (events), ZMQ_SUBSCRIBE,
                             topics[topic], 2);
        assert (rc == 0);
    }

    //  Normal readings until the first scores come back: from then on our
    //  SUB is known to be subscribed at the broker
    lw_alert_t alert;
    uint64_t sequence = 0;
    int point = 0;
    int received = -1;
    int64_t deadline = zclock_mono () + 5000;
    while (received != partition && zclock_mono () < deadline) {
        s_publish (publisher, ++sequence, point);
        point += S_PER_BATCH;
        assert (point < S_SPIKE_AT);
        received = s_receive_event (events, 200, &alert);
        while (received >= 0 && received != partition)
            received = s_receive_event (events, 200, &alert);
    }
    assert (received == partition);
    int64_t started = zclock_mono ();
    while (point < S_POINTS) {
        s_publish (publisher, ++sequence, point);
        point += S_PER_BATCH;
    }

    //  Exactly one episode on m1/spike: OPEN ... CLOSE, same local_seq (and
    //  one on its machine m1)
    int opens = 0, closes = 0;
    uint64_t local_seq = 0;
    deadline = zclock_mono () + 10000;
    while (closes == 0 && zclock_mono () < deadline) {
        if (s_receive_event (events, 500, &alert) != LW_TOPIC_ALERTS)
            continue;
        if (verbose)
            printf ("   alert state=%d sensor=%s local_seq=%" PRIu64
                    " score=%.3f value=%.2f after %" PRId64 " ms\n",
                    alert.state, alert.sensor, alert.local_seq, alert.score,
                    alert.value, zclock_mono () - started);
        if (streq (alert.sensor, "m1")) {
            //  The machine's own episode (lw_machine), naming the spike
            assert (streq (alert.detectors[1], "top:spike"));
            continue;
        }
        assert (streq (alert.sensor, "m1/spike"));
        if (alert.state == LW_ALERT_OPEN) {
            opens++;
            local_seq = alert.local_seq;
        }
        else {
            assert (opens == 1);
            assert (alert.local_seq == local_seq);
            if (alert.state == LW_ALERT_CLOSE)
                closes++;
        }
    }
    assert (opens == 1);
    assert (closes == 1);
    assert (s_stat_reaches (scorer, "out", 2 * (uint64_t)point, 5000));
    assert (s_stat (features, "out") == 2 * (uint64_t)point);
    assert (s_stat (features, "gaps") == 0);
    assert (s_stat (scorer, "gaps") == 0);
    //  The sensor's episode and its machine's
    assert (s_stat (scorer, "alerts") == 2);

    if (verbose) {
        //  Nobody reads our SUB during the bench: a full SUB would stall
        //  the events stream (NODROP), so it stops taking scores first
        rc = zmq_setsockopt (zsock_resolve (events), ZMQ_UNSUBSCRIBE, topics[1],
                             2);
        assert (rc == 0);
        s_bench (publisher, features, scorer);
    }

    //  Workers first: their sends never wait on a broker that is gone
    zactor_destroy (&scorer);
    zactor_destroy (&features);
    zactor_destroy (&broker);
    zsock_destroy (&publisher);
    zsock_destroy (&events);
    zconfig_destroy (&config);
    free (node);
    zdir_t *home = zdir_new (dir, NULL);
    if (home) {
        zdir_remove (home, true);
        zdir_destroy (&home);
    }
    printf ("OK\n");
}
