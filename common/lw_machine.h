/*  =========================================================================
    lw_machine.h - machine-level score over a machine's time-aligned sensors

    Copyright (c) the linewatch authors. MIT license.

    All sensors of a machine meet in one partition, so one lw-scorer sees
    them all. Their scored items are gathered into rows: a row holds the
    readings of one time step (the same event time, or the same bucket of
    `align` ms). A row is closed when every sensor the machine has shown
    reported in it, or when a reading of a later step arrives (so a
    sensor that missed the step does not hold it up). The row's machine
    score combines its sensors' scores s_i (already calibrated to [0, 1]
    by the per-sensor detectors and rules):
        score = max (s_max, 1 - prod (1 - s_i))   over the `top` highest
                                                  s_i with s_i >= floor
    a noisy-OR of the few most anomalous sensors: with top = 3 and floor
    = 0.4, one sensor at 0.9 gives 0.9 and three at 0.5 give 0.875.
    Sensors below `floor` do not add up, so a hundred sensors of ordinary
    noise do not make an alarm, and `top` bounds how many can. The
    defaults (top 2, floor 0.6: two sensors at 0.6 give 0.84) are
    conservative because per-sensor scores are calibrated tail
    probabilities: among a machine's ten sensors, two at a moderately rare
    level in the same row are not rare (sim_recall measures the cost: see
    the note).
    One alert episode runs on the machine score (key = the machine,
    detector "machine"); every alert names, after "machine", the sensors
    that contributed most at the episode's peak as "top:<sensor>" (the
    sensor part of the key), highest first.

    lw-scorer and the wide form of lwctl score (lw_offline) both use this
    class, so a wide CSV scores offline as the machine does live.
    =========================================================================
*/

#ifndef LW_MACHINE_H_INCLUDED
#define LW_MACHINE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_detect.h"
#include "lw_msg.h"

#define LW_DETECTOR_MACHINE "machine"
//  Prefix of a contributing sensor in an alert's detectors
#define LW_MACHINE_TOP_PREFIX "top:"
//  Most contributors named in an alert
#define LW_MACHINE_CONTRIBUTORS 3
//  Most sensors one machine combines; further ones are left out
#define LW_MACHINE_SENSORS_MAX 4096

//  Settings, from the config's scorer/machine section
typedef struct {
    bool enabled; //  lw-scorer computes machine scores
    long top;     //  Highest sensor scores combined, 1..64
    double floor; //  Scores below this do not contribute
    long align;   //  Row bucket in ms; 0 = exact event time
} lw_machine_cfg_t;

//  Fills the defaults
void
    lw_machine_cfg_default (lw_machine_cfg_t *out);
//  Reads and validates scorer/machine (defaults for missing keys; a NULL
//  config gives the defaults). Returns 0 or -1 (logged, naming the key).
int
    lw_machine_cfg_load (zconfig_t *cfg, lw_machine_cfg_t *out);

typedef struct _lw_machine_t lw_machine_t;

//  Creates the state of machine `key` (copied). min_sensors: rows of a
//  machine that has shown fewer sensors than this do not feed the episode
//  (lw-scorer uses 2: a one-sensor machine's alert would repeat its
//  sensor's). Returns it (caller owns) or NULL when out of memory.
lw_machine_t *
    lw_machine_new (const lw_detect_cfg_t *detect, const lw_machine_cfg_t *cfg,
                    const char *key, size_t min_sensors);
void
    lw_machine_destroy (lw_machine_t **self_p);
//  True when a reading at `time` belongs to a later row than the open
//  one: the caller closes the open row first
bool
    lw_machine_due (lw_machine_t *self, int64_t time);
//  Adds a scored sensor item (sensor = its full key) to the open row,
//  opening one at item->time if none is. A sensor seen twice in a row
//  keeps its higher score. Allocates only for a sensor never seen.
void
    lw_machine_add (lw_machine_t *self, const char *sensor,
                    const lw_item_t *item);
//  True when the open row holds every sensor the machine has shown
bool
    lw_machine_complete (lw_machine_t *self);
//  True when a row is open
bool
    lw_machine_open (lw_machine_t *self);
//  Closes the open row: writes the machine item to *out (sensor = the
//  machine key, time of the row, score, value and expected range of the
//  top sensor, LW_SCORE_WARMUP when no sensor was scored, LW_SCORE_ALERT
//  while an episode is open) and runs the episode. Returns its change
//  (0, LW_ALERT_*) with *alert filled, or -1 when no row was open or the
//  machine has fewer than min_sensors sensors (*out still written when a
//  row was open).
int
    lw_machine_close (lw_machine_t *self, lw_item_t *out, lw_alert_t *alert);
//  Sensors the machine has shown
size_t
    lw_machine_sensors (lw_machine_t *self);
//  The machine's key
const char *
    lw_machine_key (lw_machine_t *self);

void
    lw_machine_test (bool verbose);

#endif
