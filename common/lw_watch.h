/*  =========================================================================
    lw_watch.h - multiple tests over time: how much rarer a point must be
    the longer a heavy-tailed sensor has been watched

    Copyright (c) the linewatch authors. MIT license.

    Every point a detector scores is one more test, and on a sensor whose
    large deviations are common (bursty counts, heavy tails) chance
    records come often: the longer it has been watched, the more of them
    it has shown. lw_detector multiplies the ensemble's tail probability
    of such a sensor by

        (n / LW_WATCH_FROM) ^ penalty     for LW_WATCH_FROM < n, n capped
                                          at LW_WATCH_UNTIL points scored

    so the factor is 1 for a young detector and bounded for an old one (a
    sensor watched for a year is as sensitive as one watched for
    LW_WATCH_UNTIL points). A well-behaved sensor (its own history agrees
    with the fixed map) is left alone: see lw_detect.h.
    =========================================================================
*/

#ifndef LW_WATCH_H_INCLUDED
#define LW_WATCH_H_INCLUDED

#include <stdbool.h>

//  Points scored before the factor grows
#define LW_WATCH_FROM 2000
//  Points scored after which it stops growing
#define LW_WATCH_UNTIL 10000

//  Factor (>= 1) on the tail probability after `scored` points; penalty
//  0 gives 1
double
    lw_watch_factor (long scored, double penalty);

void
    lw_watch_test (bool verbose);

#endif
