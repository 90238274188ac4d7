/*  =========================================================================
    lw_offline.h - offline scoring of a CSV file (lwctl score)

    Copyright (c) the linewatch authors. MIT license.

    Runs every row of a CSV file through exactly the calls the live
    pipeline makes, in the same order: lw_extract_update (lw-features),
    then lw_detector_score and lw_episode_update (lw-scorer), with one
    state per sensor. So a file scored offline gives the scores and alerts
    the running node gives when the file is replayed into it.

    Output (always comma-separated, a header line, one row per good input
    row; bad input rows are skipped and reported on stderr):
      narrow  timestamp,value,anomaly_score,alert
              NAB's results format plus `alert`: 1 on rows where an alert
              episode is open (the row that closes it has 0). The sensor is
              `sensor` (default "csv/value").
      long    timestamp,sensor,value,anomaly_score,alert
              one state per sensor key; with `sensor` given, only that
              sensor's rows are scored and written.
      wide    timestamp,anomaly_score,alert
              every column is its own sensor "<machine>/<column>" (machine
              = `sensor`, default "csv"); a row is a row of the machine,
              scored by lw_machine as lw-scorer scores it (by default the
              combination of the highest column scores; with top = 1 the
              maximum), and one alert episode runs on the machine score
              (an empty cell is a missing reading: that column is neither
              updated nor counted).
    With options (lw_offline_score_opts), every sensor also runs the rule
    detectors (lw_rules) as lw-scorer does: a rule that fires scores 1.
    The timestamp and value are echoed as they were in the input; scores
    are printed with up to 6 decimals. Like the live node, a reading is
    first cleaned as lw-ingest does: one with the same timestamp as its
    sensor's newest, or older than that by more than the lateness bound
    (ingest/lateness), is not scored; its row repeats the sensor's previous
    score and alert state, so the output still has one row per input row.
    =========================================================================
*/

#ifndef LW_OFFLINE_H_INCLUDED
#define LW_OFFLINE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "lw_detect.h"
#include "lw_machine.h"
#include "lw_rules.h"

//  Most distinct sensors one long-shape file may hold; rows of further
//  sensors are skipped as bad
#define LW_OFFLINE_SENSORS_MAX 100000
//  lw-ingest's default lateness bound (ingest/lateness), ns
#define LW_OFFLINE_LATENESS (60LL * 1000000000LL)

//  Scores in_path ("-" = stdin) into out_path (NULL or "-" = stdout).
//  sensor: narrow: the sensor key; long: only this sensor; wide: the
//  machine; NULL for the default. Returns 0, or -1 after printing why to
//  stderr (unreadable input, bad header or sensor name, write error).
int
    lw_offline_score (const lw_detect_cfg_t *cfg, const char *in_path,
                      const char *sensor, const char *out_path);
//  The same with a lateness bound in ns (>= 0) other than the default
int
    lw_offline_score_lateness (const lw_detect_cfg_t *cfg, int64_t lateness,
                               const char *in_path, const char *sensor,
                               const char *out_path);

//  What lw-scorer applies beyond the detect section
typedef struct {
    int64_t lateness;                //  lw-ingest's lateness bound, ns
    lw_rules_t *rules;               //  scorer/rule (borrowed), or NULL
    const lw_machine_cfg_t *machine; //  scorer/machine, or NULL: defaults
} lw_offline_opts_t;

//  The same with rules and machine settings (lwctl score reads them from
//  the config, so a file scores as the running node scores it)
int
    lw_offline_score_opts (const lw_detect_cfg_t *cfg,
                           const lw_offline_opts_t *opts, const char *in_path,
                           const char *sensor, const char *out_path);

void
    lw_offline_test (bool verbose);

#endif
