/*  =========================================================================
    it_client.c - lw_client and its example against a real lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    Starts lw-broker, lw-features, lw-scorer and lw-ingest on a temporary
    home, and checks at a subscriber of the broker's readings XPUB (what
    lw-features receives):
      - the example gateway program (lw_client_example) publishes 300
        readings of 3 sensors through lw-ingest's gateway: every one
        arrives, with its name, value and a timestamp from the run;
      - re-ordering (ingest/reorder = 200 ms): readings of one sensor sent
        as t+3, t+1, t+2 leave lw-ingest as t+1, t+2, t+3, not flagged
        late, counted "reordered"; an older duplicate (t+1 again) is
        dropped (drop_duplicate);
      - lw_client in this process publishes readings; lw-ingest is
        stopped and started again in the middle; the client reconnects by
        itself (adds wait or return EAGAIN meanwhile, never crash) and the
        readings added after the restart arrive, in order per sensor.
    With --bench (not run by ctest) it measures instead how many readings
    per second lw_client pushes through lw-ingest to a subscriber of the
    readings stream (1,000 sensors, batches of 512, blocking adds), and
    checks that none is lost.
    =========================================================================
*/

#include "lw_client.h"
#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <errno.h>
#include <signal.h>

#define START_DEADLINE 30000 //  ms for readings to flow (ASan)
#define EXAMPLE_COUNT 300    //  Readings the example sends

typedef struct {
    zsock_t *sub;
    zpoller_t *poller;
    lw_batch_t *batch;
    bool example[EXAMPLE_COUNT]; //  Example readings seen, by value
    size_t example_seen;
    int64_t order[8];       //  Times of it/order/y, in arrival order
    uint32_t order_quality; //  Or of their quality flags
    size_t order_seen;
    double client_last; //  Newest value of it/client/x seen
    size_t client_seen; //  Readings of it/client/x seen
    int64_t start;      //  Wall clock at test start
} watch_t;

//  --------------------------------------------------------------------------
//  Receives for up to `ms` and records the readings of interest

static void
s_watch (watch_t *self, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline) {
        if (zpoller_wait (self->poller, 20) != self->sub)
            continue;
        zmsg_t *msg = zmsg_recv (self->sub);
        assert (msg);
        uint16_t partition;
        assert (lw_msg_envelope (msg, &partition) == 0);
        zframe_t *body = zmsg_last (msg);
        //  Gap events (lw-ingest's sensor_gaps) share the readings stream
        lw_gap_t gap;
        if (lw_msg_gap_decode (zframe_data (body), zframe_size (body), &gap) ==
            0) {
            zmsg_destroy (&msg);
            continue;
        }
        assert (lw_batch_decode (self->batch, zframe_data (body),
                                 zframe_size (body)) == 0);
        for (size_t index = 0; index < lw_batch_count (self->batch); index++) {
            lw_item_t *item = lw_batch_item (self->batch, index);
            if (strncmp (item->sensor, "it/example/s", 12) == 0) {
                long value = (long)item->value;
                assert (value >= 0 && value < EXAMPLE_COUNT);
                assert ((double)value == item->value);
                //  Sensor s<n> carries the values n, n + 3, n + 6...
                char expect[32];
                snprintf (expect, sizeof (expect), "it/example/s%ld",
                          value % 3);
                assert (streq (item->sensor, expect));
                assert (item->time >= self->start);
                assert (item->time <= lw_time_now ());
                assert (!self->example[value]); //  No duplicate
                self->example[value] = true;
                self->example_seen++;
            }
            else if (streq (item->sensor, "it/order/y")) {
                assert (self->order_seen < 8);
                self->order[self->order_seen++] = item->time;
                self->order_quality |= item->quality;
            }
            else if (streq (item->sensor, "it/client/x")) {
                //  In order: each is newer than the last
                assert (item->value > self->client_last);
                self->client_last = item->value;
                self->client_seen++;
            }
        }
        zmsg_destroy (&msg);
    }
}

typedef struct {
    lw_testnode_t *node;
    pid_t pid;
} child_t;

//  --------------------------------------------------------------------------
//  True once the child has exited

static bool
s_exited (void *arg)
{
    child_t *child = (child_t *)arg;
    return !lw_testnode_alive (child->node, child->pid);
}

typedef struct {
    lw_testnode_t *node;
    const char *name;
    long long expect;
} counter_t;

//  --------------------------------------------------------------------------
//  True when the ingest counter equals its expected value

static bool
s_counter_is (void *arg)
{
    counter_t *counter = (counter_t *)arg;
    return lw_test_counter (counter->node, "ingest", counter->name, 1000) ==
           counter->expect;
}

#define BENCH_READINGS 2000000 //  --bench: readings sent
#define BENCH_SENSORS 1000     //  --bench: distinct sensors

//  --------------------------------------------------------------------------
//  --bench: counts readings at the subscriber without a bounded wait

static size_t
s_bench_drain (watch_t *self, int timeout)
{
    size_t count = 0;
    while (zpoller_wait (self->poller, timeout) == self->sub) {
        zmsg_t *msg = zmsg_recv (self->sub);
        assert (msg);
        zframe_t *body = zmsg_last (msg);
        //  Gap events (lw-ingest's sensor_gaps) share the readings stream
        lw_gap_t gap;
        if (lw_msg_gap_decode (zframe_data (body), zframe_size (body), &gap) ==
            0) {
            zmsg_destroy (&msg);
            continue;
        }
        assert (lw_batch_decode (self->batch, zframe_data (body),
                                 zframe_size (body)) == 0);
        for (size_t index = 0; index < lw_batch_count (self->batch); index++)
            if (strncmp (lw_batch_item (self->batch, index)->sensor, "bench/",
                         6) == 0)
                count++;
        zmsg_destroy (&msg);
        timeout = 0;
    }
    return count;
}

//  --------------------------------------------------------------------------
//  --bench: throughput of lw_client through lw-ingest

static int
s_bench_main (void)
{
    zsys_init ();
    const char *overrides[] = {"ingest/source/sim/machines=1",
                               "ingest/source/sim/sensors=1",
                               "ingest/source/sim/rate=1",
                               "common/partitions=16",
                               "common/hwm=10000",
                               NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t features = lw_testnode_spawn (node, "lw-features", NULL);
    pid_t scorer = lw_testnode_spawn (node, "lw-scorer", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);
    watch_t watch = {.start = lw_time_now (), .client_last = -1};
    watch.sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (watch.sub, 0); //  The bench measures, never drops
    zsock_set_subscribe (watch.sub, "");
    assert (zsock_connect (watch.sub, "%s", settings->readings_out) == 0);
    watch.poller = zpoller_new (watch.sub, NULL);
    watch.batch = lw_batch_new (LW_MSG_READINGS);
    lw_client_t *client = lw_client_new ();
    assert (client);
    assert (lw_client_set_block_ms (client, -1) == 0);
    assert (lw_client_connect (client, settings->gateway) == 0);
    //  Warm up: one reading through, so the node is READY and subscribed
    assert (lw_client_add (client, "bench/warm/x", lw_time_now (), 1) == 0);
    assert (lw_client_flush (client) == 0);
    int64_t deadline = zclock_mono () + START_DEADLINE;
    while (s_bench_drain (&watch, 100) == 0)
        assert (zclock_mono () < deadline);
    char keys[BENCH_SENSORS][32];
    for (int index = 0; index < BENCH_SENSORS; index++)
        snprintf (keys[index], sizeof (keys[index]), "bench/m%03d/s%d",
                  index / 10, index % 10);
    int64_t base = lw_time_now ();
    int64_t start = zclock_usecs ();
    size_t received = 0;
    for (long index = 0; index < BENCH_READINGS; index++) {
        assert (lw_client_add (client, keys[index % BENCH_SENSORS],
                               base + index, (double)index) == 0);
        if (index % 4096 == 0)
            received += s_bench_drain (&watch, 0);
    }
    assert (lw_client_flush (client) == 0);
    int64_t sent = zclock_usecs ();
    while (received < BENCH_READINGS) {
        size_t more = s_bench_drain (&watch, 2000);
        if (more == 0)
            break; //  Nothing for 2 s: the rest is lost
        received += more;
    }
    int64_t done = zclock_usecs ();
    long long in = lw_test_counter (node, "ingest", "in", 1000);
    printf ("it_client --bench: readings=%d sensors=%d sent in %.2f s, "
            "arrived=%zu lost=%zu in %.2f s: %.0f readings/s end to end "
            "(ingest in=%lld)\n",
            BENCH_READINGS, BENCH_SENSORS, (double)(sent - start) / 1e6,
            received, (size_t)BENCH_READINGS - received,
            (double)(done - start) / 1e6,
            (double)received * 1e6 / (double)(done - start), in);
    lw_client_destroy (&client);
    lw_batch_destroy (&watch.batch);
    zpoller_destroy (&watch.poller);
    zsock_destroy (&watch.sub);
    lw_testnode_kill (node, ingest, SIGTERM);
    lw_testnode_kill (node, scorer, SIGTERM);
    lw_testnode_kill (node, features, SIGTERM);
    lw_testnode_kill (node, broker, SIGTERM);
    lw_testnode_destroy (&node);
    return received == BENCH_READINGS ? 0 : 1;
}

int
main (int argc, char **argv)
{
    if (argc > 1 && streq (argv[1], "--bench"))
        return s_bench_main ();
    zsys_init ();
    const char *overrides[] = {
        "ingest/source/sim/machines=1", "ingest/source/sim/sensors=1",
        "ingest/source/sim/rate=10",    "common/partitions=16",
        "ingest/reorder=200",           NULL};
    watch_t watch = {.start = lw_time_now (), .client_last = -1};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t features = lw_testnode_spawn (node, "lw-features", NULL);
    pid_t scorer = lw_testnode_spawn (node, "lw-scorer", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);
    assert (broker > 0 && features > 0 && scorer > 0 && ingest > 0);
    watch.sub = zsock_new (ZMQ_SUB);
    assert (watch.sub);
    zsock_set_rcvhwm (watch.sub, 100000);
    zsock_set_subscribe (watch.sub, "");
    assert (zsock_connect (watch.sub, "%s", settings->readings_out) == 0);
    watch.poller = zpoller_new (watch.sub, NULL);
    watch.batch = lw_batch_new (LW_MSG_READINGS);
    assert (watch.poller && watch.batch);

    //  Readings flow before anything is sent (the subscriber is joined)
    int64_t deadline = zclock_mono () + START_DEADLINE;
    lw_client_t *client = lw_client_new ();
    assert (client);
    assert (lw_client_set_batch (client, 16) == 0);
    assert (lw_client_set_flush_ms (client, 5) == 0);
    assert (lw_client_set_block_ms (client, 10) == 0);
    assert (lw_client_connect (client, settings->gateway) == 0);
    double value = 0;
    while (watch.client_seen == 0) {
        assert (zclock_mono () < deadline);
        if (lw_client_add (client, "it/client/x", lw_time_now (), ++value))
            assert (errno == EAGAIN);
        lw_client_flush (client);
        s_watch (&watch, 50);
    }

    //  The example program: all 300 readings arrive
    char count[16];
    snprintf (count, sizeof (count), "%d", EXAMPLE_COUNT);
    pid_t example = lw_testnode_spawn (node, "lw_client_example", "--machine",
                                       "it/example", "--sensors", "3", "--rate",
                                       "1000", "--count", count, NULL);
    assert (example > 0);
    deadline = zclock_mono () + START_DEADLINE;
    while (watch.example_seen < EXAMPLE_COUNT) {
        assert (zclock_mono () < deadline);
        s_watch (&watch, 100);
    }
    child_t child = {node, example};
    assert (lw_test_wait (s_exited, &child, START_DEADLINE));
    printf ("it_client: example readings arrived=%zu\n", watch.example_seen);

    //  Out of order within the window: put back in order
    assert (lw_client_set_block_ms (client, 5000) == 0);
    int64_t base = lw_time_now ();
    assert (lw_client_add (client, "it/order/y", base + 3, 3) == 0);
    assert (lw_client_add (client, "it/order/y", base + 1, 1) == 0);
    assert (lw_client_add (client, "it/order/y", base + 2, 2) == 0);
    assert (lw_client_flush (client) == 0);
    deadline = zclock_mono () + START_DEADLINE;
    while (watch.order_seen < 3) {
        assert (zclock_mono () < deadline);
        s_watch (&watch, 50);
    }
    assert (watch.order[0] == base + 1 && watch.order[1] == base + 2 &&
            watch.order[2] == base + 3);
    assert ((watch.order_quality & LW_QUALITY_LATE) == 0);
    counter_t reordered = {node, "reordered", 2};
    assert (lw_test_wait (s_counter_is, &reordered, START_DEADLINE));
    assert (lw_client_add (client, "it/order/y", base + 1, 1) == 0);
    assert (lw_client_flush (client) == 0);
    counter_t duplicates = {node, "drop_duplicate", 1};
    assert (lw_test_wait (s_counter_is, &duplicates, START_DEADLINE));
    assert (lw_client_set_block_ms (client, 10) == 0);

    //  lw-ingest restarts while the client publishes
    size_t before = watch.client_seen;
    assert (lw_testnode_kill (node, ingest, SIGTERM) == 0);
    uint64_t refused = 0;
    for (int index = 0; index < 50; index++) {
        //  Nobody there: taken while the queue has room, then EAGAIN
        if (lw_client_add (client, "it/client/x", lw_time_now (), ++value)) {
            assert (errno == EAGAIN);
            refused++;
            value--; //  Not taken: the same value again later
        }
    }
    double restart_value = value;
    ingest = lw_testnode_spawn (node, "lw-ingest", NULL);
    assert (ingest > 0);
    deadline = zclock_mono () + START_DEADLINE;
    while (watch.client_last < restart_value + 100) {
        assert (zclock_mono () < deadline);
        if (lw_client_add (client, "it/client/x", lw_time_now (), ++value)) {
            assert (errno == EAGAIN);
            value--;
            refused++;
        }
        lw_client_flush (client);
        s_watch (&watch, 5);
    }
    printf ("it_client: client readings arrived before restart=%zu "
            "after=%zu refused_while_down=%llu sent=%llu\n",
            before, watch.client_seen - before, (unsigned long long)refused,
            (unsigned long long)lw_client_sent (client));
    assert (watch.client_seen > before);
    lw_client_destroy (&client);

    lw_batch_destroy (&watch.batch);
    zpoller_destroy (&watch.poller);
    zsock_destroy (&watch.sub);
    assert (lw_testnode_kill (node, ingest, SIGTERM) == 0);
    lw_testnode_kill (node, scorer, SIGTERM);
    lw_testnode_kill (node, features, SIGTERM);
    lw_testnode_kill (node, broker, SIGTERM);
    lw_testnode_destroy (&node);
    printf ("it_client: OK\n");
    return 0;
}
