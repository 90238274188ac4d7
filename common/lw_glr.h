/*  =========================================================================
    lw_glr.h - a sustained shift of unknown size: a two-sided CUSUM whose
    run is judged as one mean (a GLR-style z)

    Copyright (c) the linewatch authors. MIT license.

    The input is a standardised deviation u (value minus a reference level,
    in units of the reference's sigma), clipped to +-clip so one burst
    adds a bounded amount. Page's two sums
        up   = max (0, up + u - k)        down = max (0, down - u - k)
    each with its run (points since the sum was last 0). A run is where a
    shift of at least k sigmas may have started; the z of its mean,
        z = sum of u over the run / sqrt (run) = (up + k * run) / sqrt (run)
    is the evidence for a shift of unknown size since then: a small shift
    builds up over many points, a large one shows at once. The score is
    the larger z of the two sides. On N(0,1) noise z is about N(0,1) at
    its largest, so it takes the z parts' fixed map and calibration.

    Fixed-size state, no allocation: a plain struct, set up (and
    restarted after a signal) by lw_glr_init.
    =========================================================================
*/

#ifndef LW_GLR_H_INCLUDED
#define LW_GLR_H_INCLUDED

#include <stdbool.h>

typedef struct {
    double k;        //  Allowance (sigmas): shifts below it are not built up
    double clip;     //  Deviations are clipped to +-clip
    double up;       //  Upper CUSUM sum
    double down;     //  Lower CUSUM sum
    long run_up;     //  Points since up was last 0
    long run_down;   //  Points since down was last 0
} lw_glr_t;

//  Starts the test: no evidence yet. k >= 0, clip > 0.
void
    lw_glr_init (lw_glr_t *self, double k, double clip);
//  Adds a standardised deviation and returns the larger of the two
//  sides' run z (>= 0; 0 when no run is open). A non-finite deviation changes nothing
//  and returns 0.
double
    lw_glr_step (lw_glr_t *self, double deviation);

void
    lw_glr_test (bool verbose);

#endif
