/*  =========================================================================
    ctl_score.c - `lwctl score FILE [--sensor S] [-o OUT]`: offline scoring

    Copyright (c) the linewatch authors. MIT license.

    Scores a CSV in-process with the detection library, exactly as the
    running node would (lw_offline), using the `detect` section of the
    config, lw-scorer's rules (scorer/rule) and machine settings
    (scorer/machine), and ingest/lateness, to drop what lw-ingest
    drops. Needs no running node. Narrow files give NAB's results format
    plus an `alert` column; see lw_offline.h for every shape.
    =========================================================================
*/

#include "lw_ctl.h"
#include "lw_detect.h"
#include "lw_msg.h"
#include "lw_offline.h"

#define S_USAGE                                                                \
    "usage: lwctl score FILE [--sensor S] [-o OUT]\n"                          \
    "  FILE          CSV: timestamp,value | timestamp,sensor,value |\n"        \
    "                timestamp,<sensor1>,<sensor2>,... ('-' = stdin)\n"        \
    "  --sensor S    narrow: sensor key (default csv/value); long: score\n"    \
    "                only sensor S; wide: machine (default csv)\n"             \
    "  -o OUT        output file (default stdout)\n"

//  --------------------------------------------------------------------------
//  lwctl score: returns 0, 1 when the file cannot be read or the output
//  written, 2 on bad usage or a bad `detect` section.

int
lw_ctl_score (lw_ctl_t *ctl, int argc, char **argv)
{
    assert (ctl);
    const char *file = NULL;
    const char *sensor = NULL;
    const char *out = NULL;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv[argn];
        if (streq (arg, "--sensor") || streq (arg, "-o") ||
            streq (arg, "--output")) {
            if (argn + 1 >= argc) {
                fprintf (stderr, "lwctl: %s needs a value\n%s", arg, S_USAGE);
                return LW_CTL_USAGE;
            }
            if (streq (arg, "--sensor"))
                sensor = argv[++argn];
            else
                out = argv[++argn];
        }
        else if (streq (arg, "-h") || streq (arg, "--help")) {
            printf ("%s", S_USAGE);
            return LW_CTL_OK;
        }
        else if (arg[0] == '-' && arg[1] != 0) {
            fprintf (stderr, "lwctl: unknown option '%.64s'\n%s", arg, S_USAGE);
            return LW_CTL_USAGE;
        }
        else if (!file)
            file = arg;
        else {
            fprintf (stderr, "lwctl: score takes one FILE\n%s", S_USAGE);
            return LW_CTL_USAGE;
        }
    }
    if (!file) {
        fprintf (stderr, "%s", S_USAGE);
        return LW_CTL_USAGE;
    }
    if (sensor && !lw_key_valid (sensor, strlen (sensor))) {
        fprintf (stderr,
                 "lwctl: --sensor is not a valid key (1 to %d bytes "
                 "of UTF-8, no control characters)\n",
                 LW_KEY_MAX);
        return LW_CTL_USAGE;
    }
    lw_detect_cfg_t cfg;
    if (lw_detect_cfg_load (ctl->config, &cfg)) {
        fprintf (stderr, "lwctl: bad detect section in %s\n",
                 ctl->config_path ? ctl->config_path : "the config");
        return LW_CTL_USAGE;
    }
    //  lw-ingest's lateness bound, so rows it would drop are not scored
    //  here either (same key, default and range as lw-ingest reads)
    long lateness_ms = LW_OFFLINE_LATENESS / 1000000;
    if (ctl->config && lw_cfg_int (ctl->config, "ingest/lateness", lateness_ms,
                                   0, 86400000, &lateness_ms))
        return LW_CTL_USAGE;
    //  lw-scorer's rule detectors and machine settings, so a file scores
    //  as the running node scores it
    lw_machine_cfg_t machine;
    lw_rules_t *rules = lw_rules_new ();
    if (!rules) {
        fprintf (stderr, "lwctl: out of memory\n");
        return LW_CTL_FAIL;
    }
    if (lw_rules_load (rules, ctl->config, "scorer/rule") ||
        lw_machine_cfg_load (ctl->config, &machine)) {
        fprintf (stderr, "lwctl: bad scorer/rule or scorer/machine in %s\n",
                 ctl->config_path ? ctl->config_path : "the config");
        lw_rules_destroy (&rules);
        return LW_CTL_USAGE;
    }
    lw_offline_opts_t opts = {.lateness = (int64_t)lateness_ms * 1000000,
                              .rules = rules,
                              .machine = &machine};
    int rc = lw_offline_score_opts (&cfg, &opts, file, sensor, out);
    lw_rules_destroy (&rules);
    return rc ? LW_CTL_FAIL : LW_CTL_OK;
}
