/*  =========================================================================
    it_rules.c - rule, machine and peer-group alerts through the running node

    Copyright (c) the linewatch authors. MIT license.

    Starts the real executables (the simulator turned down to one quiet
    sensor) with a rule on plant/ * /temp (stuck 20, gap 5 x, high 100) and
    a peer group plant/p? /flow, replays a long CSV through `lwctl replay`
    and checks with `lwctl alerts --json`:
      - plant/p1/temp, stuck from row 300, gets an alert naming "stuck";
      - plant/p2/temp, silent for rows 300..329, an alert naming "gap"
        that opens at the last reading before the silence;
      - plant/p4/temp, at 150 on row 300, an alert naming "limit";
      - the machine plant/p1 an alert "machine" with "top:temp";
      - plant/p3/flow, drifting away from the other four pumps from row
        200, a "peer" alert (lw-features published the pumps under the
        group's partition; lw-scorer compared them), and no other pump a
        peer alert.
    =========================================================================
*/

#include "lw_testkit.h"
#include "lw_util.h"

#include <math.h>

#define START_DEADLINE 20000 //  ms for the node to come up (ASan, 2 cores)
#define ALERT_DEADLINE 10000 //  ms for the alerts after the replay
#define ROWS 500
#define START 1767225600LL //  2026-01-01T00:00:00Z

typedef struct {
    lw_testnode_t *node; //  The node under test
    char *output;        //  Last lwctl stdout
    const char *sensor;  //  --sensor
    const char *expect;  //  Substring the output must contain
} probe_t;

//  --------------------------------------------------------------------------
//  Lists the alerts of the probe's sensor; true when lwctl succeeds and the
//  output contains the expected text

static bool
s_alerts_have (void *arg)
{
    probe_t *probe = (probe_t *)arg;
    zstr_free (&probe->output);
    int status = lw_testnode_lwctl (probe->node, 5000, &probe->output, "alerts",
                                    "--json", "--sensor", probe->sensor, NULL);
    return status == 0 && probe->output &&
           strstr (probe->output, probe->expect) != NULL;
}

//  --------------------------------------------------------------------------
//  True once the scorer scored something (the node is wired end to end)

static bool
s_scoring (void *arg)
{
    return lw_test_counter ((lw_testnode_t *)arg, "scorer", "out", 1000) >= 1;
}

//  --------------------------------------------------------------------------
//  True once lw-features reported the pumps' copies (heartbeat counters)

static bool
s_copies_sent (void *arg)
{
    return lw_test_counter ((lw_testnode_t *)arg, "features", "peer_out",
                            1000) >= 5 * ROWS;
}

//  --------------------------------------------------------------------------
//  Writes the long CSV described at the top

static void
s_write_csv (const char *path)
{
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "timestamp,sensor,value\n");
    for (int row = 0; row < ROWS; row++) {
        char text[LW_TIME_TEXT_MAX];
        lw_time_format ((START + row) * LW_NS_PER_SEC, text, sizeof (text));
        for (int pump = 1; pump <= 5; pump++) {
            double flow = 10.0 + 0.3 * sin (row * 0.7 + pump * 1.3);
            if (pump == 3 && row > 200)
                flow += 0.02 * (row - 200);
            fprintf (file, "%s,plant/p%d/flow,%.4f\n", text, pump, flow);
            double temp =
                50.0 + sin (row * 0.9 + pump) + 0.3 * cos (row * 2.1 + pump);
            if (pump == 1 && row >= 300 && row < 360)
                temp = 50.5;
            if (pump == 2 && row >= 300 && row < 330)
                continue;
            if (pump == 4 && row == 300)
                temp = 150.0;
            fprintf (file, "%s,plant/p%d/temp,%.4f\n", text, pump, temp);
        }
    }
    fclose (file);
}

//  --------------------------------------------------------------------------
//  The test: exit 0, or an assertion names what failed

int
main (void)
{
    printf ("it_rules: stuck, gap, limit, machine and peer alerts live\n");
    const char *overrides[] = {"ingest/source/sim/machines=1",
                               "ingest/source/sim/sensors=1",
                               "ingest/source/sim/rate=1",
                               "ingest/source/sim/faults=0",
                               "scorer/rule/temps/pattern=plant/*/temp",
                               "scorer/rule/temps/stuck=20",
                               "scorer/rule/temps/gap_factor=5",
                               "scorer/rule/temps/high=100",
                               "scorer/peer/pumps/pattern=plant/p?/flow",
                               NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    char *csv = zsys_sprintf ("%s/plant.csv", lw_testnode_home (node));
    s_write_csv (csv);

    lw_testnode_spawn (node, "lw-broker", NULL);
    lw_testnode_spawn (node, "lw-feedback", NULL);
    lw_testnode_spawn (node, "lw-features", NULL);
    lw_testnode_spawn (node, "lw-scorer", NULL);
    lw_testnode_spawn (node, "lw-ingest", NULL);

    //  Up when lw-feedback answers and readings flow end to end
    probe_t probe = {.node = node, .sensor = "plant/p1/temp", .expect = "["};
    assert (lw_test_wait (s_alerts_have, &probe, START_DEADLINE));
    assert (lw_test_wait (s_scoring, node, START_DEADLINE));
    int status =
        lw_testnode_lwctl (node, 20000, NULL, "replay", csv, "--asap", NULL);
    assert (status == 0);

    //  Each rule names itself
    probe.expect = "\"stuck\"";
    assert (lw_test_wait (s_alerts_have, &probe, ALERT_DEADLINE));
    probe.sensor = "plant/p2/temp";
    probe.expect = "\"gap\"";
    assert (lw_test_wait (s_alerts_have, &probe, ALERT_DEADLINE));
    //  ... opened at the last reading before the silence (row 299)
    char text[LW_TIME_TEXT_MAX];
    lw_time_format ((START + 299) * LW_NS_PER_SEC, text, sizeof (text));
    char *opened = zsys_sprintf ("\"opened\":\"%s\"", text);
    assert (strstr (probe.output, opened));
    zstr_free (&opened);
    probe.sensor = "plant/p4/temp";
    probe.expect = "\"limit\"";
    assert (lw_test_wait (s_alerts_have, &probe, ALERT_DEADLINE));

    //  The machine names its top sensor
    probe.sensor = "plant/p1";
    probe.expect = "\"top:temp\"";
    assert (lw_test_wait (s_alerts_have, &probe, ALERT_DEADLINE));
    assert (strstr (probe.output, "\"machine\""));

    //  The drifting pump against its fleet, and only it
    probe.sensor = "plant/p3/flow";
    probe.expect = "\"peer\"";
    assert (lw_test_wait (s_alerts_have, &probe, ALERT_DEADLINE));
    for (int pump = 1; pump <= 5; pump++) {
        if (pump == 3)
            continue;
        char sensor[32];
        snprintf (sensor, sizeof (sensor), "plant/p%d/flow", pump);
        probe.sensor = sensor;
        probe.expect = "[";
        assert (s_alerts_have (&probe));
        assert (!strstr (probe.output, "\"peer\""));
    }
    assert (lw_test_wait (s_copies_sent, node, START_DEADLINE));
    assert (lw_test_counter (node, "scorer", "drop_peer", 1000) == 0);

    zstr_free (&probe.output);
    zstr_free (&csv);
    lw_testnode_destroy (&node);
    printf ("it_rules: OK\n1 passed, 0 failed\n");
    return 0;
}
