/*  =========================================================================
    it_e2e.c - a reading goes from a CSV through every process to an alert
               an operator labels, and the label survives a crash

    Copyright (c) the linewatch authors. MIT license.

    Starts the real executables on a temporary home (the simulator turned
    down to one quiet sensor), replays a CSV with an obvious fault through
    `lwctl replay`, and checks:
      - `lwctl alerts --json` lists the alert for that sensor within 2 s,
        with its times, score, value, expected range and detector;
      - `lwctl label ID anomaly --note ...` is acknowledged;
      - after lw-feedback is killed with SIGKILL and started again, the
        alert and its label are still there.
    =========================================================================
*/

#include "lw_testkit.h"
#include "lw_util.h"

#include <math.h>
#include <signal.h>

#define SENSOR "line9/press1/temp"
#define ALERT_DEADLINE 2000     //  ms, from issue 2
#define START_DEADLINE 20000    //  ms for the node to come up (ASan, 2 cores)

typedef struct {
    lw_testnode_t *node;        //  The node under test
    char *output;               //  Last lwctl stdout
    const char *expect;         //  Substring the output must contain
    const char **args;          //  lwctl args (up to 6, NULL-terminated)
} probe_t;

//  --------------------------------------------------------------------------
//  Runs lwctl with the probe's args; true when it succeeds and its output
//  contains the expected text

static bool
s_lwctl_has (void *arg)
{
    probe_t *probe = (probe_t *) arg;
    zstr_free (&probe->output);
    const char **args = probe->args;
    int status = lw_testnode_lwctl (probe->node, 5000, &probe->output,
                                    args[0], args[1], args[2], args[3],
                                    args[4], args[5], NULL);
    return status == 0 && probe->output
           && strstr (probe->output, probe->expect) != NULL;
}

//  --------------------------------------------------------------------------
//  Writes a narrow CSV: 20 °C with a little deterministic ripple, one
//  second apart, and a jump to 80 °C for 5 rows at row 400

static void
s_write_fault_csv (const char *path)
{
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "timestamp,value\n");
    int64_t start = 1767225600LL;       //  2026-01-01T00:00:00Z
    for (int row = 0; row < 600; row++) {
        double value = 20.0 + 0.2 * sin (row * 0.7) + 0.1 * cos (row * 1.3);
        if (row >= 400 && row < 405)
            value = 80.0;
        char text[LW_TIME_TEXT_MAX];
        lw_time_format ((start + row) * LW_NS_PER_SEC, text, sizeof (text));
        fprintf (file, "%s,%.4f\n", text, value);
    }
    fclose (file);
}

//  --------------------------------------------------------------------------
//  Reads the integer after "key": in a JSON text; -1 when absent

static long long
s_json_int (const char *json, const char *key)
{
    char pattern[64];
    snprintf (pattern, sizeof (pattern), "\"%s\":", key);
    const char *found = strstr (json, pattern);
    if (!found)
        return -1;
    found += strlen (pattern);
    while (*found == ' ')
        found++;
    return strtoll (found, NULL, 10);
}

typedef struct {
    lw_testnode_t *node;        //  The node under test
    const char *group;          //  Member group
    const char *name;           //  Counter name
    long long at_least;         //  Threshold
} counter_probe_t;

static bool
s_counter_reached (void *arg)
{
    counter_probe_t *probe = (counter_probe_t *) arg;
    return lw_test_counter (probe->node, probe->group, probe->name, 1000)
           >= probe->at_least;
}

int
main (void)
{
    printf ("it_e2e: CSV -> ingest -> features -> scorer -> feedback -> "
            "lwctl\n");
    //  One quiet simulated sensor, no injected faults: the replayed CSV is
    //  the only thing that can alert
    const char *overrides[] = {"ingest/source/sim/machines=1",
                               "ingest/source/sim/sensors=1",
                               "ingest/source/sim/rate=1",
                               "ingest/source/sim/faults=0", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    char *csv = zsys_sprintf ("%s/fault.csv", lw_testnode_home (node));
    s_write_fault_csv (csv);

    lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t feedback = lw_testnode_spawn (node, "lw-feedback", NULL);
    lw_testnode_spawn (node, "lw-features", NULL);
    lw_testnode_spawn (node, "lw-scorer", NULL);
    lw_testnode_spawn (node, "lw-ingest", NULL);

    //  The node is up when the feedback process answers
    const char *alerts_args[] = {"alerts", "--json", "--sensor", SENSOR,
                                 NULL, NULL};
    probe_t probe = {.node = node, .expect = "[", .args = alerts_args};
    assert (lw_test_wait (s_lwctl_has, &probe, START_DEADLINE));
    //  And readings flow end to end (the simulated sensor's)
    counter_probe_t flowing = {node, "scorer", "out", 1};
    assert (lw_test_wait (s_counter_reached, &flowing, START_DEADLINE));

    int status = lw_testnode_lwctl (node, 10000, NULL, "replay", csv,
                                    "--sensor", SENSOR, "--asap", NULL);
    assert (status == 0);

    //  The alert is listed within 2 s
    probe.expect = "\"sensor\":\"" SENSOR "\"";
    int64_t replayed = lw_time_mono ();
    assert (lw_test_wait (s_lwctl_has, &probe, ALERT_DEADLINE));
    printf ("it_e2e: alert listed %.0f ms after the replay ended\n",
            (double) (lw_time_mono () - replayed) / 1e6);
    char *listed = strdup (probe.output);
    assert (strstr (listed, "\"opened\":\"2026-01-01T00:06:4"));
    assert (strstr (listed, "\"detectors\":[\""));
    assert (strstr (listed, "\"expected_low\":"));
    assert (strstr (listed, "\"label\":null"));
    long long id = s_json_int (listed, "id");
    assert (id > 0);

    //  Label it: exit 0 only once lw-feedback committed it
    char id_text[32];
    snprintf (id_text, sizeof (id_text), "%lld", id);
    status = lw_testnode_lwctl (node, 5000, NULL, "label", id_text,
                                "anomaly", "--note", "bearing seized", NULL);
    assert (status == 0);

    //  Crash lw-feedback and start it again: nothing acknowledged is lost
    lw_testnode_kill (node, feedback, SIGKILL);
    lw_testnode_spawn (node, "lw-feedback", NULL);
    probe.expect = "\"label\":\"anomaly\"";
    assert (lw_test_wait (s_lwctl_has, &probe, START_DEADLINE));
    assert (s_json_int (probe.output, "id") == id);
    const char *labels_args[] = {"labels", "--json", NULL, NULL, NULL, NULL};
    probe.args = labels_args;
    probe.expect = "\"note\":\"bearing seized\"";
    assert (lw_test_wait (s_lwctl_has, &probe, START_DEADLINE));
    assert (s_json_int (probe.output, "alert_id") == id);

    free (listed);
    zstr_free (&probe.output);
    zstr_free (&csv);
    lw_testnode_destroy (&node);
    printf ("it_e2e: OK\n1 passed, 0 failed\n");
    return 0;
}
