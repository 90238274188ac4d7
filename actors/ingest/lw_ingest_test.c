/*  =========================================================================
    lw_ingest_test.c - self test of lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    Runs the actor in-process against a stand-in for the broker's XSUB
    (bound by the test, subscribing to everything) with ingest/wait_ready
    = 0: the simulator end to end with a twin simulator as the oracle, the
    gateway with good, unclean and hostile frames, READY gating, bad
    configs, CSV replay (long, wide, narrow looping) and pacing. With -v it
    also measures the per-reading pipeline and the actor's throughput.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_clean.h"
#include "lw_ingest.h"
#include "lw_main.h"
#include "lw_msg.h"
#include "lw_sim.h"
#include "lw_source.h"
#include "lw_util.h"

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
//  or -1 on timeout. Gap events on the way are skipped.
static int
s_test_recv (s_test_t *test, lw_batch_t *batch, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (test->xsub, NULL);
    assert (poller);
    int64_t deadline = zclock_mono () + timeout_ms;
    zmsg_t *msg = NULL;
    zframe_t *body = NULL;
    while (!msg) {
        int64_t left = deadline - zclock_mono ();
        void *which = zpoller_wait (poller, left > 0 ? (int)left : 0);
        if (which != test->xsub) {
            zpoller_destroy (&poller);
            return -1;
        }
        msg = zmsg_recv (test->xsub);
        assert (msg);
        body = zmsg_last (msg);
        lw_gap_t gap;
        if (lw_msg_gap_decode (zframe_data (body), zframe_size (body), &gap) ==
            0)
            zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    uint16_t partition;
    assert (lw_msg_envelope (msg, &partition) == 0);
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
//  Receives the next message within timeout_ms: a gap event into *gap
//  (returns LW_MSG_GAP) or a batch into batch (LW_MSG_READINGS); sets
//  *partition to its envelope's. Returns -1 on timeout.

static int
s_test_recv_any (s_test_t *test, lw_batch_t *batch, lw_gap_t *gap,
                 uint16_t *partition, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (test->xsub, NULL);
    assert (poller);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    if (which != test->xsub)
        return -1;
    zmsg_t *msg = zmsg_recv (test->xsub);
    assert (msg);
    assert (lw_msg_envelope (msg, partition) == 0);
    zframe_t *body = zmsg_last (msg);
    int kind = LW_MSG_GAP;
    if (lw_msg_gap_decode (zframe_data (body), zframe_size (body), gap)) {
        assert (lw_batch_decode (batch, zframe_data (body),
                                 zframe_size (body)) == 0);
        kind = LW_MSG_READINGS;
    }
    zmsg_destroy (&msg);
    return kind;
}

//  --------------------------------------------------------------------------
//  Test: gap events. Two sensors at 1 s; a stops while b goes on: one
//  silence event for a under its partition (once, however long it stays
//  silent); a comes back: a gap event that ends the silence, on a's
//  partition before a's returning reading

static void
s_test_gaps (bool verbose)
{
    s_test_t test;
    s_test_setup (&test, 4, 1000);
    zconfig_put (test.config, "ingest/wait_ready", "0");
    zconfig_put (test.config, "ingest/flush", "2");
    zconfig_put (test.config, "ingest/gap_factor", "5");
    assert (s_test_start (&test) == 0);
    s_test_subscribe (&test);
    zsock_t *push = zsock_new_push (test.node.gateway);
    assert (push);
    //  Two machines in different partitions
    char a[32] = "", b[32] = "";
    for (int index = 0; !*a || !*b; index++) {
        char key[32];
        snprintf (key, sizeof key, "gp/m%d/s", index);
        if (!*a)
            memcpy (a, key, sizeof key);
        else if (lw_partition (key, 4) != lw_partition (a, 4))
            memcpy (b, key, sizeof key);
    }
    uint16_t part_a = lw_partition (a, 4);
    int64_t base = 1700000000 * LW_NS_PER_SEC;
    int64_t second = 0;
    for (; second < 20; second++) {
        s_test_push (push, a, base + second * LW_NS_PER_SEC, 1);
        s_test_push (push, b, base + second * LW_NS_PER_SEC, 2);
    }
    for (; second < 40; second++)
        s_test_push (push, b, base + second * LW_NS_PER_SEC, 2);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (batch);
    lw_gap_t gap;
    uint16_t partition;
    size_t readings = 0, silences = 0;
    //  Every reading, and (within the sweep's second) the silence
    while (readings < 60 || silences == 0) {
        int kind = s_test_recv_any (&test, batch, &gap, &partition, 5000);
        assert (kind > 0);
        if (kind == LW_MSG_READINGS)
            readings += lw_batch_count (batch);
        else {
            assert (streq (gap.sensor, a) && gap.silent);
            assert (partition == part_a);
            assert (gap.last_time == base + 19 * LW_NS_PER_SEC);
            assert (gap.time > base + 24 * LW_NS_PER_SEC);
            silences++;
        }
    }
    assert (readings == 60 && silences == 1);
    //  a comes back: the gap event first, then its reading
    s_test_push (push, a, base + 45 * LW_NS_PER_SEC, 3);
    int kind;
    do
        kind = s_test_recv_any (&test, batch, &gap, &partition, 5000);
    while (kind == LW_MSG_READINGS && partition != part_a);
    assert (kind == LW_MSG_GAP && partition == part_a);
    assert (streq (gap.sensor, a) && !gap.silent);
    assert (gap.last_time == base + 19 * LW_NS_PER_SEC);
    assert (gap.time == base + 45 * LW_NS_PER_SEC);
    kind = s_test_recv_any (&test, batch, &gap, &partition, 5000);
    assert (kind == LW_MSG_READINGS && partition == part_a);
    assert (lw_batch_count (batch) == 1);
    assert (lw_batch_item (batch, 0)->value == 3);
    assert (s_test_counter (&test, "sensor_gaps") == 2);
    assert (s_test_counter (&test, "sensor_silent") == 1);
    assert (s_test_counter (&test, "out") == 61);
    assert (s_test_counter (&test, "batches") >= 2);
    if (verbose)
        printf ("   gaps: a silence once, then the gap before the reading\n");
    lw_batch_destroy (&batch);
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
        {"ingest/gap_factor", "1"},
        {"ingest/gap_factor", "-5"},
        {"ingest/gap_factor", "5x"},
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
s_bench_pipeline (double gap_factor)
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
    lw_clean_set_gaps (clean, gap_factor);
    size_t gaps = 0;
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
            bool was_seen = sensor->seen;
            int64_t previous = sensor->newest;
            if (lw_clean_check (60 * LW_NS_PER_SEC, sensor, buffer[index].time,
                                buffer[index].value, &quality))
                continue;
            if (gap_factor > 0 &&
                lw_clean_track (clean, sensor, was_seen, previous,
                                buffer[index].time))
                gaps++;
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
            "P=64, gap_factor %g): %.2f M readings/s, %zu frames, %.1f "
            "bytes/reading, %zu gaps\n",
            gap_factor, (double)total / (double)elapsed, frames,
            (double)bytes / (double)(frames * 512), gaps);
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
    s_test_gaps (verbose);
    s_test_csv (verbose);
    s_test_pacing_and_loop (verbose);
    if (verbose) {
        s_bench_pipeline (0);
        s_bench_pipeline (5);
        s_bench_actor ();
    }
    printf ("OK\n");
}
