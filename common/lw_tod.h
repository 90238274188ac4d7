/*  =========================================================================
    lw_tod.h - time-of-day calibration: an event that comes at this time
    of day on most days is ordinary at this time of day

    Copyright (c) the linewatch authors. MIT license.

    The calibration (lw_calib) judges a point against all the sensor's
    past points. A sensor with a daily job (a cron backup, a nightly
    batch) shows the same burst at the same hour every day, and every one
    of them is rare against the day as a whole. This class remembers, per
    time-of-day bin (`bins` per period) and day, the rarest tail
    probability the detector gave (as decades, -log10 p), for the last
    `days` periods. For a new point of tail p, the hits are the earlier
    days on which, within `reach` bins of its time of day, a point was at
    most `margin` decades less rare. The point is a *recurring* event
    when the hits are at least `excess`, and at least `excess` more than
    the background: the hits expected from the rate (hits per day seen)
    of such days at LW_TOD_BACKGROUND other times of day, spread over the
    period. (On a bursty sensor whose events come at any hour, chance
    alone gives a few hits anywhere: that is the plain calibration's
    business, not the time of day's.) Its time-of-day tail is then

        q = hits / (days seen x points in the reach per day)

    the rate of such events among the points at this time of day (a
    lower bound: a day counts once, however many it had). The detector
    uses max (p, q): the time-of-day tail can only make a point less rare,
    and gives no opinion (0) on a point that does not recur: a first,
    a one-off, an event that comes at any hour, or a larger event than
    the hour is used to.

    Only on a regular signal: the sampling interval is the median of the
    first LW_PROBE_STEPS steps, and at least 80 % of them lie within 10 % of
    it (else, and when a bin holds no point, it never gives an opinion).
    Memory: bins x (days + 1) slots of 12 bytes, allocated once by _new
    (24 bins x 8 = 2.3 KB); learn is O(1), tail O(days x reach), and
    O(LW_TOD_BACKGROUND x days x reach) for the few points it would make
    less rare; no allocation. Times that go backwards are not learned. Deterministic.
    =========================================================================
*/

#ifndef LW_TOD_H_INCLUDED
#define LW_TOD_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Limits of lw_tod_new's arguments
#define LW_TOD_BINS_MAX 1440
#define LW_TOD_DAYS_MAX 60
//  Other times of day that make the background
#define LW_TOD_BACKGROUND 5

typedef struct _lw_tod_t lw_tod_t;

//  Creates it. period: seconds (> 0; 86400 = a day), bins: time-of-day
//  bins per period (1..LW_TOD_BINS_MAX), reach: bins on each side of a
//  point's bin that count as the same time of day (0..bins/2 - 1), days:
//  earlier periods remembered (1..LW_TOD_DAYS_MAX), excess: earlier
//  days an event must have come on, and more than the background
//  (1..days), margin: how many decades less rare an earlier event may be
//  (>= 0). Returns it (caller owns,
//  lw_tod_destroy) or NULL when out of memory.
lw_tod_t *
    lw_tod_new (double period, int bins, int reach, int days, int excess,
                double margin);
void
    lw_tod_destroy (lw_tod_t **self_p);
//  Time-of-day tail of a point (time in ns since the epoch) whose plain
//  tail probability is `tail`: in (tail, 1], or 0 = no opinion (not a
//  recurring event, not regular, not learned yet, or no less rare than
//  `tail`). Pure.
double
    lw_tod_tail (lw_tod_t *self, int64_t time, double tail);
//  Learns a point's time (the interval probe, until it is full), then
//  its plain tail probability (1 or infinite = no event; NaN = nothing
//  learned)
void
    lw_tod_learn (lw_tod_t *self, int64_t time, double tail);

void
    lw_tod_test (bool verbose);

#endif
