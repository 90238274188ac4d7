/*  =========================================================================
    it_live_offline.c - the live pipeline scores a file exactly as
                        `lwctl score` does

    Copyright (c) the linewatch authors. MIT license.

    Starts broker, features, scorer and ingest on a temporary home (the
    simulator turned down to one quiet sensor), subscribes to the broker's
    events_out, replays a file with `lwctl replay --sensor S --asap`,
    collects every score the scorer publishes for S (partition
    lw_partition (S, P)), then runs `lwctl score FILE --sensor S` and checks,
    row by row: the same event time, the same score and the same alert
    flag. lwctl score prints scores with 6 decimals (lround (score * 1e6)),
    so the live score is compared after the same rounding: identical at the
    printed precision.
    Rows lw-ingest drops (a timestamp equal to the sensor's newest, or older
    than it by more than ingest/lateness) get no live score; lwctl score
    repeats the previous score there. The test applies the same rule, so
    files with duplicate timestamps work (machine_temperature_system_failure
    has 12 such rows).
    The files: a generated one (a daily cycle, noise, a level shift, a
    spike, a duplicate and a late row), and when the corpus is there
    $NAB_DIR (else $LW_SOURCE_DIR/../shared/data/nab)
    /data/realKnownCause/machine_temperature_system_failure.csv, each
    replayed as its own sensor.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_offline.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#define NAB_SENSOR "nab7/machine/temp"
#define GENERATED_SENSOR "gen1/machine/temp"
#define NAB_FILE "data/realKnownCause/machine_temperature_system_failure.csv"
#define START_DEADLINE 40000 //  ms for the first score (ASan, 2 cores)
#define IDLE_DEADLINE 30000  //  ms without a new score before giving up
#define ROWS_MAX 1000000     //  Most rows the test compares

//  One live score of the replayed sensor
typedef struct {
    int64_t time; //  Event time, ns
    double score; //  Score
    bool alert;   //  LW_SCORE_ALERT
} live_t;

//  --------------------------------------------------------------------------
//  Writes a generated narrow CSV when the NAB corpus is absent: 5-minute
//  steps, a daily cycle with deterministic noise, a level shift, a spike,
//  one duplicate timestamp and one row late by more than the lateness

static void
s_write_generated (const char *path)
{
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "timestamp,value\n");
    int64_t start = 1388534400LL; //  2014-01-01 00:00:00
    uint64_t state = 12345;
    for (int row = 0; row < 4000; row++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double noise = (double)(state >> 11) / 9007199254740992.0 - 0.5;
        double value = 50 + 10 * sin (row * 2 * M_PI / 288) + 2 * noise;
        if (row >= 2500)
            value += 15;
        if (row == 3200)
            value += 60;
        int64_t seconds = start + row * 300;
        if (row == 1000)
            seconds -= 300; //  Same timestamp as row 999
        if (row == 2000)
            seconds -= 3600; //  An hour late: dropped
        char text[LW_TIME_TEXT_MAX];
        lw_time_format (seconds * LW_NS_PER_SEC, text, sizeof (text));
        fprintf (file, "%s,%.6f\n", text, value);
    }
    fclose (file);
}

//  --------------------------------------------------------------------------
//  lw-ingest's cleaning rule (lw_clean_check, mirrored by lw_offline):
//  true when a reading at `time` is dropped

static bool
s_dropped (bool *seen, int64_t *newest, int64_t time, int64_t lateness)
{
    if (!*seen || time > *newest) {
        *seen = true;
        *newest = time;
        return false;
    }
    return time == *newest ||
           (uint64_t)*newest - (uint64_t)time > (uint64_t)lateness;
}

//  --------------------------------------------------------------------------
//  Counts the rows of a narrow CSV that lw-ingest scores; asserts on a
//  malformed file (the test's own input)

static size_t
s_expected_scores (const char *path, size_t *rows_p)
{
    FILE *file = fopen (path, "r");
    assert (file);
    char line[512];
    assert (fgets (line, sizeof (line), file)); //  Header
    size_t rows = 0, scored = 0;
    bool seen = false;
    int64_t newest = 0;
    while (fgets (line, sizeof (line), file)) {
        char *comma = strchr (line, ',');
        if (!comma)
            continue;
        int64_t time;
        assert (lw_time_parse (line, (size_t)(comma - line), &time) == 0);
        rows++;
        if (!s_dropped (&seen, &newest, time, LW_OFFLINE_LATENESS))
            scored++;
    }
    fclose (file);
    *rows_p = rows;
    return scored;
}

//  --------------------------------------------------------------------------
//  Takes one message from the events stream; appends the scores of sensor
//  in its partition to live. Returns the number of SCORES items of any
//  sensor seen (to know the stream flows).

static size_t
s_receive (zsock_t *sub, const char *sensor, uint16_t partition, live_t *live,
           size_t *count, lw_batch_t *batch)
{
    zmsg_t *msg = zmsg_recv (sub);
    assert (msg);
    size_t seen = 0;
    uint16_t message_partition;
    if (lw_msg_envelope (msg, &message_partition) == 0) {
        zframe_t *body = zmsg_last (msg);
        if (lw_batch_decode (batch, zframe_data (body), zframe_size (body)) ==
                0 &&
            lw_batch_kind (batch) == LW_MSG_SCORES) {
            seen = lw_batch_count (batch);
            for (size_t index = 0; index < seen; index++) {
                lw_item_t *item = lw_batch_item (batch, index);
                if (message_partition != partition ||
                    !streq (item->sensor, sensor))
                    continue;
                assert (*count < ROWS_MAX);
                live[*count].time = item->time;
                live[*count].score = item->score;
                live[*count].alert = (item->flags & LW_SCORE_ALERT) != 0;
                (*count)++;
            }
        }
    }
    zmsg_destroy (&msg);
    return seen;
}

typedef struct {
    lw_testnode_t *node; //  The node
    pid_t pid;           //  A child of it
} child_probe_t;

//  --------------------------------------------------------------------------
//  True once the child has exited

static bool
s_exited (void *arg)
{
    child_probe_t *probe = (child_probe_t *)arg;
    return !lw_testnode_alive (probe->node, probe->pid);
}

//  The test's sockets and buffers
typedef struct {
    lw_testnode_t *node; //  The node under test
    zsock_t *sub;        //  SUB on the broker's events_out
    zpoller_t *poller;   //  On sub
    lw_batch_t *batch;   //  Decoding buffer
    live_t *live;        //  Live scores of the file's sensor
} test_t;

//  --------------------------------------------------------------------------
//  Replays csv as sensor, collects its live scores, runs lwctl score on
//  it and compares row by row. Asserts on any difference.

static void
s_check_file (test_t *test, const char *csv, const char *sensor)
{
    size_t rows;
    size_t expected = s_expected_scores (csv, &rows);
    printf ("it_live_offline: %s as %s: %zu rows, %zu scored live\n", csv,
            sensor, rows, expected);
    const lw_node_t *config = lw_testnode_node (test->node);
    uint16_t partition = lw_partition (sensor, (uint32_t)config->partitions);
    live_t *live = test->live;
    size_t count = 0;

    //  Replay while collecting (the events XPUB is NODROP: a test that
    //  did not read would stall the node)
    pid_t replay = lw_testnode_spawn (test->node, "lwctl", "replay", csv,
                                      "--sensor", sensor, "--asap", NULL);
    int64_t started = lw_time_mono ();
    int64_t idle_until = started + (int64_t)IDLE_DEADLINE * 1000000;
    while (count < expected && lw_time_mono () < idle_until) {
        if (zpoller_wait (test->poller, 500) == test->sub) {
            size_t before = count;
            s_receive (test->sub, sensor, partition, live, &count, test->batch);
            if (count > before)
                idle_until = lw_time_mono () + (int64_t)IDLE_DEADLINE * 1000000;
        }
    }
    printf ("it_live_offline: %zu live scores of %s in %.0f ms\n", count,
            sensor, (double)(lw_time_mono () - started) / 1e6);
    //  lwctl replay ends by itself once the node took every reading
    child_probe_t replay_probe = {test->node, replay};
    assert (lw_test_wait (s_exited, &replay_probe, IDLE_DEADLINE));
    int status = lw_testnode_kill (test->node, replay, SIGTERM);
    assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    assert (count == expected);

    //  Offline
    char *output = NULL;
    status = lw_testnode_lwctl (test->node, 120000, &output, "score", csv,
                                "--sensor", sensor, NULL);
    assert (status == 0 && output);

    //  Row by row
    char *cursor = strchr (output, '\n');
    assert (cursor);
    cursor++;
    size_t row = 0, matched = 0, repeated = 0, alert_rows = 0, opened = 0;
    double max_diff = 0;
    bool seen = false;
    int64_t newest = 0;
    long previous_micro = -1;
    int previous_alert = -1;
    while (*cursor) {
        char *end = strchr (cursor, '\n');
        assert (end);
        *end = 0;
        //  timestamp,value,anomaly_score,alert
        char *fields[4];
        char *field = cursor;
        for (int index = 0; index < 4; index++) {
            assert (field);
            fields[index] = field;
            char *comma = strchr (field, ',');
            if (comma)
                *comma = 0;
            field = comma ? comma + 1 : NULL;
        }
        int64_t time;
        assert (lw_time_parse (fields[0], strlen (fields[0]), &time) == 0);
        double offline = strtod (fields[2], NULL);
        long offline_micro = lround (offline * 1e6);
        assert (streq (fields[3], "0") || streq (fields[3], "1"));
        int offline_alert = fields[3][0] == '1';
        if (s_dropped (&seen, &newest, time, LW_OFFLINE_LATENESS)) {
            //  lw-ingest drops it; lwctl score repeats the previous row
            assert (offline_micro == previous_micro &&
                    offline_alert == previous_alert);
            repeated++;
        }
        else {
            assert (matched < count);
            const live_t *item = &live[matched];
            long live_micro = item->score > 0 ? lround (item->score * 1e6) : 0;
            if (item->time != time || live_micro != offline_micro ||
                (int)item->alert != offline_alert) {
                fprintf (stderr,
                         "it_live_offline: row %zu differs: offline %s score "
                         "%s alert %d; live time %" PRId64
                         " score %.17g alert %d\n",
                         row + 1, fields[0], fields[2], offline_alert,
                         item->time, item->score, (int)item->alert);
                assert (false);
            }
            double diff = fabs (item->score - offline);
            if (diff > max_diff)
                max_diff = diff;
            alert_rows += item->alert;
            opened += item->alert && (matched == 0 || !live[matched - 1].alert);
            matched++;
        }
        previous_micro = offline_micro;
        previous_alert = offline_alert;
        row++;
        cursor = end + 1;
    }
    assert (row == rows);
    assert (matched == count);
    printf ("it_live_offline: %zu rows: %zu scores identical at lwctl "
            "score's 6 decimals (max |live - printed| %.2g), %zu rows "
            "dropped as lw-ingest does; alert flag equal on every row (%zu "
            "rows in alert, %zu alerts opened)\n",
            row, matched, max_diff, repeated, alert_rows, opened);
    zstr_free (&output);
}

int
main (void)
{
    printf ("it_live_offline: a replayed file scores as lwctl score does\n");
    const char *overrides[] = {
        "ingest/source/sim/machines=1", "ingest/source/sim/sensors=1",
        "ingest/source/sim/rate=1", "ingest/source/sim/faults=0",
        //  Every score on the events stream (the default; the test
        //  depends on it)
        "scorer/publish_scores=1",
        //  Low alert thresholds, so that both files open alerts and the
        //  alert flag is compared in both states
        "detect/open_threshold=0.3", "detect/close_threshold=0.2", NULL};
    test_t test = {.node = lw_testnode_new (overrides)};
    lw_testnode_t *node = test.node;
    const lw_node_t *config = lw_testnode_node (node);

    //  The inputs: a generated file with obvious faults, and a NAB file
    char *generated =
        zsys_sprintf ("%s/generated.csv", lw_testnode_home (node));
    s_write_generated (generated);
    const char *nab_dir = getenv ("NAB_DIR");
    const char *source_dir = getenv ("LW_SOURCE_DIR");
    char *default_dir =
        zsys_sprintf ("%s/../shared/data/nab", source_dir ? source_dir : ".");
    char *nab_file = zsys_sprintf ("%s/" NAB_FILE,
                                   nab_dir && *nab_dir ? nab_dir : default_dir);
    if (!zsys_file_exists (nab_file)) {
        printf ("it_live_offline: no NAB corpus (%s): only the generated "
                "file\n",
                nab_file);
        zstr_free (&nab_file);
    }

    lw_testnode_spawn (node, "lw-broker", NULL);
    lw_testnode_spawn (node, "lw-features", NULL);
    lw_testnode_spawn (node, "lw-scorer", NULL);
    lw_testnode_spawn (node, "lw-ingest", NULL);

    //  Every score event, not the lossy monitor. Subscribed to everything
    //  so the simulated sensor's scores show the subscription is live
    //  before a replay starts; only the replayed sensor's partition is
    //  collected.
    test.sub = zsock_new (ZMQ_SUB);
    assert (test.sub);
    zsock_set_rcvhwm (test.sub, 0); //  Never push back on the broker
    zsock_set_maxmsgsize (test.sub, LW_MAX_FRAME_SIZE);
    zsock_set_subscribe (test.sub, "");
    assert (zsock_connect (test.sub, "%s", config->events_out) == 0);
    test.poller = zpoller_new (test.sub, NULL);
    test.batch = lw_batch_new (LW_MSG_SCORES);
    test.live = (live_t *)calloc (ROWS_MAX, sizeof (live_t));
    assert (test.poller && test.batch && test.live);
    int64_t deadline = lw_time_mono () + (int64_t)START_DEADLINE * 1000000;
    size_t flowing = 0, count = 0;
    while (flowing == 0 && lw_time_mono () < deadline)
        if (zpoller_wait (test.poller, 500) == test.sub)
            flowing +=
                s_receive (test.sub, "-", 0, test.live, &count, test.batch);
    assert (flowing > 0);

    s_check_file (&test, generated, GENERATED_SENSOR);
    if (nab_file)
        s_check_file (&test, nab_file, NAB_SENSOR);

    free (test.live);
    lw_batch_destroy (&test.batch);
    zpoller_destroy (&test.poller);
    zsock_destroy (&test.sub);
    zstr_free (&default_dir);
    zstr_free (&nab_file);
    zstr_free (&generated);
    lw_testnode_destroy (&node);
    printf ("it_live_offline: OK\n1 passed, 0 failed\n");
    return 0;
}
