/*  =========================================================================
    lw_watch.h - multiple tests over time: how much rarer a point must be
    the longer a sensor has been watched

    Copyright (c) the linewatch authors. MIT license.

    Every point a detector scores is one more test: the longer a sensor
    has been watched, the more chance records it has shown. The
    calibration (lw_calib) gives the largest of n raw scores a tail of
    about 1 / n, so left alone an old detector calls its chance records
    rarer and rarer, while a young one cannot call anything rarer than
    the few points it has seen. lw_detector multiplies the ensemble's tail
    probability by

        (n / LW_WATCH_FROM) ^ penalty     n = points scored, held within
                                          LW_WATCH_YOUNG..LW_WATCH_UNTIL

    a power law of the points watched, 1 at LW_WATCH_FROM: below 1 for a
    young detector, above for an old one, bounded both ways (a sensor
    watched for a year is as sensitive as one watched for LW_WATCH_UNTIL
    points). The exponent is detect/watch_penalty on a sensor whose large
    deviations are common (bursty counts, heavy tails: chance records
    come often), detect/watch_normal on a well-behaved one: see
    lw_detect.h.
    =========================================================================
*/

#ifndef LW_WATCH_H_INCLUDED
#define LW_WATCH_H_INCLUDED

#include <stdbool.h>

//  Points scored at which the factor is 1
#define LW_WATCH_FROM 2000
//  Points scored below which it stops falling
#define LW_WATCH_YOUNG 250
//  Points scored after which it stops growing
#define LW_WATCH_UNTIL 10000

//  Factor on the tail probability after `scored` points; penalty 0 (or
//  not a number) gives 1
double
    lw_watch_factor (long scored, double penalty);

void
    lw_watch_test (bool verbose);

#endif
