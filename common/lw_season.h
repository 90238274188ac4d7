/*  =========================================================================
    lw_season.h - seasonal (contextual) deviation: the value against the
    same time of day on earlier days

    Copyright (c) the linewatch authors. MIT license.

    A daily profile: one bin per sampling interval of the period (the
    interval is the median of the first LW_PROBE_STEPS steps; the bin of
    a point is its time of day divided by it, so gaps do not shift the
    phase). Each bin holds an EWMA (beta per period) of the values seen at
    that time of day. The residual e = value - profile[bin] feeds a short
    EWMA; the raw score is |short EWMA| in units of the residual's own
    noise (a clipped-learning mean absolute deviation, floored by a
    fraction of the signal's deviation around its long level), so a daily
    peak that does not come, or comes lower, scores while the daily swing
    itself does not.

    The part only scores a seasonal signal: when the residual's deviation
    is at most `gate` times the signal's own (the profile explains the
    swing), after one full period of residuals. Otherwise (a spiky, flat
    or aperiodic signal, or a sampling interval whose period needs more
    than `bins` bins) it abstains and lw_season_raw returns -1.

    All memory (bins floats) is allocated by _new; score and learn are
    O(1) with no allocation. Deterministic.
    =========================================================================
*/

#ifndef LW_SEASON_H_INCLUDED
#define LW_SEASON_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Limits of lw_season_new's bins
#define LW_SEASON_BINS_MAX 100000

typedef struct _lw_season_t lw_season_t;

//  Creates a seasonal part. period: seconds (> 0), bins: most bins of the
//  profile (1..LW_SEASON_BINS_MAX), beta: profile learning rate per
//  period (0..1], short_alpha: residual EWMA (0..1], scale_alpha: rate of
//  the deviation estimates (0..1], floor: residual scale floor as a
//  fraction of the signal's deviation, gate: largest ratio of residual to
//  signal deviation at which it scores. Returns it (caller owns,
//  lw_season_destroy) or NULL when out of memory.
lw_season_t *
    lw_season_new (double period, long bins, double beta, double short_alpha,
                   double scale_alpha, double floor, double gate);
void
    lw_season_destroy (lw_season_t **self_p);
//  Raw score of the point (time in ns since the epoch): >= 0, or -1 when
//  the part abstains (not seasonal, not ready). The residual's sigma is
//  never below `floor` (value units: the caller's deviation floor);
//  *floored (may be NULL) says whether it was raised to it. Pure:
//  changes nothing.
double
    lw_season_raw (lw_season_t *self, int64_t time, double value,
                   double floor, bool *floored);
//  Learns the point: the interval probe, the deviations and, when
//  `profile` is true, the profile bin (a flagged point leaves the profile
//  alone). Non-finite values are ignored.
void
    lw_season_learn (lw_season_t *self, int64_t time, double value,
                     bool profile);

void
    lw_season_test (bool verbose);

#endif
