/*  =========================================================================
    it_gap.c - gap events: a dead sensor is alerted while it is dead

    Copyright (c) the linewatch authors. MIT license.

    Real processes on temp homes, readings through lw-ingest's gateway
    (lw_client) with event times of their own (the simulator's one quiet
    sensor is put in 2001, another time domain):
      - four sensors on three machines send 1 s readings; gap/m1/a stops
        while the others go on: `lwctl alerts --open --json` lists a
        "gap" alert for it, opened at its last reading, while it is still
        silent (lw-ingest's silence event, lw-features forwards it,
        lw-scorer opens the episode); none for the others;
      - it comes back: the alert closes, and it stays the only alert
        naming "gap" for that sensor (the scorer's own gap rule, on for
        these sensors, joined the episode instead of opening another);
      - gap frames that are not well-formed, or name a sensor of another
        partition, are dropped and counted by lw-features (readings
        stream) and lw-scorer (features stream);
      - on a second node, `lwctl replay` of a file whose sensors all end
        together raises no gap event and no gap alert however many times
        lw-ingest looks for silent sensors afterwards.
    Every wait is on a condition with a deadline.
    =========================================================================
*/

#include "lw_client.h"
#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <math.h>

#define START_DEADLINE 20000 //  ms for a node to come up (ASan, 2 cores)
#define ALERT_DEADLINE 20000 //  ms for an alert to open or close
#define START 1767225600LL   //  2026-01-01T00:00:00Z, event time of row 0
#define ROWS_BEFORE 60       //  Rows of all four before gap/m1/a stops
#define REPLAY_ROWS 200      //  Rows of the replayed file

static const char *s_keys[] = {"gap/m1/a", "gap/m1/b", "gap/m2/c", "gap/m3/d"};
#define SENSORS 4

//  The live feed and what the waits look at
typedef struct {
    lw_testnode_t *node; //  The node under test
    lw_client_t *client; //  Gateway client
    int row;             //  Next row to send
    bool a_sends;        //  gap/m1/a is sending
    char *output;        //  Last lwctl stdout
    const char *sensor;  //  --sensor of the probe
    const char *expect;  //  Text the probe's output must contain
    bool open_only;      //  --open
    long long baseline;  //  A counter's value before the wait
    const char *group;   //  ...its group
    const char *counter; //  ...and name
} feed_t;

//  --------------------------------------------------------------------------
//  Sends one row (1 s of event time) of every sending sensor

static void
s_send_row (feed_t *feed)
{
    int64_t time = (START + feed->row) * LW_NS_PER_SEC;
    for (int sensor = 0; sensor < SENSORS; sensor++) {
        if (sensor == 0 && !feed->a_sends)
            continue;
        double value = 20.0 + sensor + 0.5 * sin (feed->row * 0.7 + sensor) +
                       0.2 * cos (feed->row * 1.9);
        assert (lw_client_add (feed->client, s_keys[sensor], time, value) == 0);
    }
    assert (lw_client_flush (feed->client) == 0);
    feed->row++;
}

//  --------------------------------------------------------------------------
//  Lists the probe's alerts; true when lwctl succeeds and the output
//  contains the expected text

static bool
s_alerts_have (feed_t *feed)
{
    zstr_free (&feed->output);
    int status =
        feed->open_only
            ? lw_testnode_lwctl (feed->node, 5000, &feed->output, "alerts",
                                 "--open", "--json", "--sensor", feed->sensor,
                                 NULL)
            : lw_testnode_lwctl (feed->node, 5000, &feed->output, "alerts",
                                 "--json", "--sensor", feed->sensor, NULL);
    return status == 0 && feed->output &&
           strstr (feed->output, feed->expect) != NULL;
}

//  --------------------------------------------------------------------------
//  Wait condition: one more row goes out, then the probe is asked

static bool
s_feed_until_alerts (void *arg)
{
    feed_t *feed = (feed_t *)arg;
    s_send_row (feed);
    return s_alerts_have (feed);
}

//  --------------------------------------------------------------------------
//  Wait condition: the probe's alerts contain the text (no feeding)

static bool
s_probe (void *arg)
{
    return s_alerts_have ((feed_t *)arg);
}

//  --------------------------------------------------------------------------
//  Wait condition: the scorer scored something (the node is wired)

static bool
s_scoring (void *arg)
{
    return lw_test_counter ((lw_testnode_t *)arg, "scorer", "out", 1000) >= 1;
}

//  --------------------------------------------------------------------------
//  Wait condition: the feed's counter is above its baseline

static bool
s_counter_rose (void *arg)
{
    feed_t *feed = (feed_t *)arg;
    long long value =
        lw_test_counter (feed->node, feed->group, feed->counter, 1000);
    return value >= 0 && value > feed->baseline;
}

//  --------------------------------------------------------------------------
//  Occurrences of `text` in `haystack`

static int
s_count (const char *haystack, const char *text)
{
    int count = 0;
    for (const char *at = strstr (haystack, text); at;
         at = strstr (at + 1, text))
        count++;
    return count;
}

//  --------------------------------------------------------------------------
//  Publishes raw [partition, body] frames on a stream as a publisher
//  would (XPUB connected to the broker's XSUB), once the broker has
//  subscribed, and waits until the named counter of `group` rose

static void
s_hostile (feed_t *feed, const char *endpoint, const char *group,
           const char *counter, uint16_t partition, const void *data,
           size_t size)
{
    zsock_t *pub = zsock_new (ZMQ_XPUB);
    assert (pub);
    zsock_set_xpub_nodrop (pub, 1);
    assert (zsock_connect (pub, "%s", endpoint) == 0);
    //  The broker's XSUB subscribes to everything: wait for it
    zpoller_t *poller = zpoller_new (pub, NULL);
    assert (zpoller_wait (poller, 5000) == pub);
    zframe_t *subscription = zframe_recv (pub);
    zframe_destroy (&subscription);
    zpoller_destroy (&poller);
    feed->group = group;
    feed->counter = counter;
    feed->baseline = lw_test_counter (feed->node, group, counter, 1000);
    assert (feed->baseline >= 0);
    zframe_t *body = zframe_new (data, size);
    assert (lw_msg_send (zsock_resolve (pub), partition, &body, false) == 0);
    assert (lw_test_wait (s_counter_rose, feed, ALERT_DEADLINE));
    zsock_destroy (&pub);
}

//  --------------------------------------------------------------------------
//  Bad gap frames on the readings stream (lw-features) and the features
//  stream (lw-scorer): each dropped and counted by its reason

static void
s_bad_frames (feed_t *feed)
{
    const lw_node_t *settings = lw_testnode_node (feed->node);
    uint16_t partition =
        lw_partition (s_keys[0], (uint32_t)settings->partitions);
    //  A sensor whose machine is not in that partition
    char other[32] = "";
    for (int index = 0; !*other; index++) {
        snprintf (other, sizeof other, "gap/x%d/s", index);
        if (lw_partition (other, (uint32_t)settings->partitions) == partition)
            other[0] = 0;
    }
    lw_gap_t gap = {.last_time = START * LW_NS_PER_SEC,
                    .time = (START + 10) * LW_NS_PER_SEC,
                    .silent = true};
    snprintf (gap.sensor, sizeof gap.sensor, "%s", other);
    zframe_t *frame = lw_msg_gap_encode (&gap);
    assert (frame);
    //  [6 fields, 1, GAP, "m/s", 1, 2, 7]: silent is not a bool
    uint8_t bad_silent[] = {0x96, 0x01, 0x02, 0xa3, 'm',
                            '/',  's',  0x01, 0x02, 0x07};
    const char *ends[] = {settings->readings_in, settings->features_in};
    const char *groups[] = {"features", "scorer"};
    for (int stream = 0; stream < 2; stream++) {
        s_hostile (feed, ends[stream], groups[stream], "drop_envelope",
                   partition, zframe_data (frame), zframe_size (frame));
        s_hostile (feed, ends[stream], groups[stream], "drop_truncated",
                   partition, zframe_data (frame), zframe_size (frame) - 1);
        s_hostile (feed, ends[stream], groups[stream], "drop_wrong_type",
                   partition, bad_silent, sizeof bad_silent);
    }
    zframe_destroy (&frame);
}

//  --------------------------------------------------------------------------
//  Starts the processes of a node and waits until it scores

static void
s_start (lw_testnode_t *node)
{
    lw_testnode_spawn (node, "lw-broker", NULL);
    lw_testnode_spawn (node, "lw-feedback", NULL);
    lw_testnode_spawn (node, "lw-features", NULL);
    lw_testnode_spawn (node, "lw-scorer", NULL);
    lw_testnode_spawn (node, "lw-ingest", NULL);
    feed_t probe = {.node = node, .sensor = s_keys[0], .expect = "["};
    assert (lw_test_wait (s_probe, &probe, START_DEADLINE));
    zstr_free (&probe.output);
    assert (lw_test_wait (s_scoring, node, START_DEADLINE));
}

//  --------------------------------------------------------------------------
//  A sensor stops while the others go on; it comes back

static void
s_test_live (const char **overrides)
{
    lw_testnode_t *node = lw_testnode_new (overrides);
    s_start (node);
    feed_t feed = {.node = node, .a_sends = true};
    feed.client = lw_client_new ();
    assert (feed.client);
    assert (lw_client_set_block_ms (feed.client, -1) == 0);
    assert (lw_client_connect (feed.client, lw_testnode_node (node)->gateway) ==
            0);
    while (feed.row < ROWS_BEFORE)
        s_send_row (&feed);

    //  gap/m1/a stops: its gap alert opens while it is still silent,
    //  opened at its last reading
    feed.a_sends = false;
    int64_t stopped = zclock_mono ();
    feed.sensor = s_keys[0];
    feed.expect = "\"gap\"";
    feed.open_only = true;
    assert (lw_test_wait (s_feed_until_alerts, &feed, ALERT_DEADLINE));
    char text[LW_TIME_TEXT_MAX];
    lw_time_format ((START + ROWS_BEFORE - 1) * LW_NS_PER_SEC, text,
                    sizeof (text));
    char *opened = zsys_sprintf ("\"opened\":\"%s\"", text);
    assert (strstr (feed.output, opened));
    zstr_free (&opened);
    int silent_rows = feed.row - ROWS_BEFORE;
    int64_t listed_ms = zclock_mono () - stopped;
    //  Counted on the way (heartbeats bring the counters)
    const char *counted[][2] = {{"ingest", "sensor_silent"},
                                {"features", "sensor_gaps"},
                                {"scorer", "sensor_gaps"}};
    for (int index = 0; index < 3; index++) {
        feed.group = counted[index][0];
        feed.counter = counted[index][1];
        feed.baseline = 0;
        assert (lw_test_wait (s_counter_rose, &feed, ALERT_DEADLINE));
    }
    //  The others are not silent
    for (int sensor = 1; sensor < SENSORS; sensor++) {
        feed.sensor = s_keys[sensor];
        feed.expect = "[";
        feed.open_only = false;
        assert (s_alerts_have (&feed));
        assert (!strstr (feed.output, "\"gap\""));
    }

    //  It comes back: the alert closes; one gap alert in all
    feed.a_sends = true;
    int64_t resumed = zclock_mono ();
    feed.sensor = s_keys[0];
    feed.expect = "\"open\":false";
    assert (lw_test_wait (s_feed_until_alerts, &feed, ALERT_DEADLINE));
    assert (s_count (feed.output, "\"gap\"") == 1);
    printf ("it_gap: gap/m1/a stopped: its gap alert listed open after %d"
            " rows (1 s each) of the others, %lld ms; it came back: listed"
            " closed after %d rows, %lld ms\n",
            silent_rows, (long long)listed_ms,
            feed.row - ROWS_BEFORE - silent_rows,
            (long long)(zclock_mono () - resumed));

    s_bad_frames (&feed);
    zstr_free (&feed.output);
    lw_client_destroy (&feed.client);
    lw_testnode_destroy (&node);
}

//  --------------------------------------------------------------------------
//  A finished replay: its sensors all end together, so none is silent

static void
s_test_replay (const char **overrides)
{
    lw_testnode_t *node = lw_testnode_new (overrides);
    char *csv = zsys_sprintf ("%s/replay.csv", lw_testnode_home (node));
    FILE *file = fopen (csv, "w");
    assert (file);
    fprintf (file, "timestamp,sensor,value\n");
    for (int row = 0; row < REPLAY_ROWS; row++) {
        char text[LW_TIME_TEXT_MAX];
        lw_time_format ((START + row) * LW_NS_PER_SEC, text, sizeof (text));
        for (int sensor = 0; sensor < SENSORS; sensor++)
            fprintf (file, "%s,%s,%.4f\n", text, s_keys[sensor],
                     20.0 + sensor + 0.5 * sin (row * 0.7 + sensor));
    }
    fclose (file);
    s_start (node);
    assert (lw_testnode_lwctl (node, 20000, NULL, "replay", csv, "--asap",
                               NULL) == 0);
    //  Every row reached the scorer, then lw-ingest looked for silent
    //  sensors three more times
    feed_t feed = {.node = node,
                   .group = "scorer",
                   .counter = "out",
                   .baseline = SENSORS * REPLAY_ROWS - 1};
    assert (lw_test_wait (s_counter_rose, &feed, ALERT_DEADLINE));
    feed.group = "ingest";
    feed.counter = "gap_sweeps";
    feed.baseline = lw_test_counter (node, "ingest", "gap_sweeps", 1000) + 2;
    assert (lw_test_wait (s_counter_rose, &feed, ALERT_DEADLINE));
    assert (lw_test_counter (node, "ingest", "sensor_gaps", 1000) == 0);
    for (int sensor = 0; sensor < SENSORS; sensor++) {
        feed.sensor = s_keys[sensor];
        feed.expect = "[";
        assert (s_alerts_have (&feed));
        assert (!strstr (feed.output, "\"gap\""));
    }
    printf ("it_gap: replay of %d rows x %d sensors: no gap event after %lld"
            " looks for silent sensors\n",
            REPLAY_ROWS, SENSORS,
            lw_test_counter (node, "ingest", "gap_sweeps", 1000));
    zstr_free (&feed.output);
    zstr_free (&csv);
    lw_testnode_destroy (&node);
}

//  --------------------------------------------------------------------------
//  The test: exit 0, or an assertion names what failed

int
main (void)
{
    printf ("it_gap: a silent sensor is alerted while silent\n");
    //  The simulator's one sensor lives in 2001: another time domain, it
    //  neither moves our watermark nor is judged with our sensors
    const char *overrides[] = {"ingest/source/sim/machines=1",
                               "ingest/source/sim/sensors=1",
                               "ingest/source/sim/rate=1",
                               "ingest/source/sim/faults=0",
                               "ingest/source/sim/start=1000000000",
                               "ingest/gap_factor=5",
                               "scorer/rule/gaps/pattern=gap/*",
                               "scorer/rule/gaps/gap_factor=5",
                               NULL};
    s_test_live (overrides);
    s_test_replay (overrides);
    printf ("it_gap: OK\n1 passed, 0 failed\n");
    return 0;
}
