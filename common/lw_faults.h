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
    the sensor's sampling interval; never looser than 1 point in 20,000)
    is a fault, and opens an alert even when the calibrated score stays
    low. The residual z of the value against two Holt (level + trend)
    forecasts, in units of each residual's learned scale: a near one
    (learning each point 4 points late) and a far one (48 points late,
    so the start of a drift is not yet learned when it is judged):
      fault_spike   |z| against the near forecast, normal tail
      fault_noise   EWMA of z^2 (near): a noise burst, chi-square tail
      fault_level   EWMA of z (far) against its learned spread, |z| and
                    the EWMA of z^2 against the far forecast: a level
                    shift, or a drift the near forecast followed
    Once a day is learned, the far tests may use a seasonal forecast
    instead: a daily profile (288 bins, interpolated, learned 48 points
    late from points the plain far forecast expected) plus a level; it is
    used while its residuals are smaller than the plain one's, so a
    shift or daily pattern is known rather than extrapolated. The far
    tests then judge on its residual scale as it was 48 points ago
    (learned like the forecast), so a drift in progress does not widen
    the scale that judges it.
    A deviation beyond the budget within an hour of the same time of day
    on each of the two days before, of the same kind (test and sign), is
    the line's routine (a cleaning cycle, a batch start), not a fault: it
    opens no alert.
    A flagged point drops the points still waiting to be learned and
    teaches nothing (the forecasts coast on their trend) until `relearn`
    flagged points in a row say the change lasts (then they restart from
    the present). The tests assume noise near Gaussian around the
    forecasts: when a sensor's moderate deviations (a tail under 3 sigma's)
    run at more than 4 times that model's rate (counts, bursty load,
    regime switches, a pattern the far forecast cannot follow), that
    group of tests stays silent and the calibrated score alone opens its
    alerts; so do all of them while the caller says the noise is heavy-
    tailed (lw_faults_set_heavy: lw_detector's spike calibration, which
    knows before this check has its evidence). A scale held up by a
    deviation floor (floor_abs, floor_rel, the quantum) never fires: a +1
    step on a month-flat signal is the ensemble's to judge, not a fault.
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
//  Judges one point (its time, value and features, already validated by
//  the detector: LW_DETECT_FEATURES finite ones), then learns it unless
//  it is flagged. Returns true when a test is beyond the budget: a fault.
bool
    lw_faults_step (lw_faults_t *self, const lw_item_t *item);
//  Tells the tests whether the caller's own evidence says the sensor's
//  noise is heavier-tailed than Gaussian (lw_detector: its calibrated
//  spike part calls a 4 sigma deviation commoner than the normal tail
//  does); while it does, the tests stay silent, as under their own
//  noise-model check, and every point is learned
void
    lw_faults_set_heavy (lw_faults_t *self, bool heavy);
//  Test behind the last judgement: the rarest, or the near spike test
//  when it flagged the point while the far spike test called it rarer
const char *
    lw_faults_name (lw_faults_t *self);
//  Tail probability of the last judgement's rarest test (which
//  lw_faults_name may not name: see there)
double
    lw_faults_tail (lw_faults_t *self);

void
    lw_faults_test (bool verbose);

#endif
