/*  =========================================================================
    lw_faults.h - fault tests for the live alert decision (part of lw_detect)

    Copyright (c) the linewatch authors. MIT license.

    The ensemble's score (lw_detector) ranks: it is calibrated on the
    sensor's own history of raw scores, so a deviation its history has
    seen before is not news. That suits a benchmark that wants a second
    similar event ranked low, but not a production line, where every
    fault is news. The fault tests judge a point against a fixed,
    interpretable statistical budget instead: a deviation whose normal
    tail probability, on the sensor's learned noise, is rarer than
    `fault_budget` false alerts per sensor-day (spread over the tests and
    the sensor's sampling interval) is a fault, and opens an alert even
    when the calibrated score stays low. Three tests on the residual z of
    the value against a delayed Holt (level + trend) forecast, in units
    of the residual's learned scale:
      fault_spike   |z|, two-sided normal tail
      fault_level   EWMA of z (a level shift, or a drift that the delayed
                    forecast did not follow), against its learned spread
      fault_noise   EWMA of z^2 (a noise burst), chi-square tail
    The forecast learns each point `S_DELAY` points late, and a flagged
    point drops the points still waiting, so a slow drift is not learned
    before it is flagged; flagged points teach nothing (the forecast
    coasts on its trend) until `relearn` flagged points in a row say the
    change lasts (then it restarts from the present). A guard keeps
    heavy-tailed sensors from alerting on their ordinary tail: the
    fault's rarity must also be rare (< 1e-3) in the sensor's own history
    of unflagged points (lw_calib). A scale held up by a deviation floor
    (floor_abs, floor_rel, the quantum) never fires: a +1 step on a
    month-flat signal is the ensemble's to judge, not a fault.
    Fixed-size state allocated once; no allocation per point.
    =========================================================================
*/

#ifndef LW_FAULTS_H_INCLUDED
#define LW_FAULTS_H_INCLUDED

#include <stdbool.h>

#include "lw_detect.h"

//  Names of the tests (alert->detectors)
#define LW_FAULT_SPIKE "fault_spike"    //  One point off the forecast
#define LW_FAULT_LEVEL "fault_level"    //  Level shift or drift
#define LW_FAULT_NOISE "fault_noise"    //  Noise burst

typedef struct _lw_faults_t lw_faults_t;

//  Creates the fault tests of one sensor (cfg: floors, fault_budget,
//  relearn). Returns it (caller owns) or NULL when out of memory.
lw_faults_t *
    lw_faults_new (const lw_detect_cfg_t *cfg);
void
    lw_faults_destroy (lw_faults_t **self_p);
//  Judges one point (value and its features, already validated by the
//  detector: LW_DETECT_FEATURES finite ones), then learns it unless it
//  is flagged. Returns true when a test is beyond the budget: a fault.
bool
    lw_faults_step (lw_faults_t *self, double value, const double *features);
//  Test behind the last judgement (the rarest)
const char *
    lw_faults_name (lw_faults_t *self);
//  Tail probability of the last judgement's rarest test
double
    lw_faults_tail (lw_faults_t *self);

void
    lw_faults_test (bool verbose);

#endif
