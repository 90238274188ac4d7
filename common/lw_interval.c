/*  =========================================================================
    lw_interval.c - a sensor's usual interval between readings

    Copyright (c) the linewatch authors. MIT license.

    See lw_interval.h: the interval functions are inline; this file has
    the probe's median and the self test.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_interval.h"
#include "lw_util.h"

//  --------------------------------------------------------------------------
//  Orders two int64 (qsort).

static int
s_compare (const void *left, const void *right)
{
    int64_t a = *(const int64_t *)left;
    int64_t b = *(const int64_t *)right;
    return (a > b) - (a < b);
}

//  --------------------------------------------------------------------------
//  Median step of a full probe; see lw_interval.h.

int64_t
lw_probe_median (const lw_probe_t *self, double tolerance, int *close)
{
    assert (self);
    assert (self->count == LW_PROBE_STEPS);
    int64_t sorted[LW_PROBE_STEPS];
    memcpy (sorted, self->step, sizeof (sorted));
    qsort (sorted, LW_PROBE_STEPS, sizeof (int64_t), s_compare);
    int64_t median = sorted[LW_PROBE_STEPS / 2];
    if (close) {
        *close = 0;
        for (int index = 0; index < LW_PROBE_STEPS; index++)
            if (fabs ((double)sorted[index] - (double)median) <=
                tolerance * (double)median)
                (*close)++;
    }
    return median;
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_interval_test (bool verbose)
{
    printf (" * lw_interval: ");
    if (verbose)
        printf ("\n");
    lw_interval_t interval = {0};
    double second = (double)LW_NS_PER_SEC;
    //  Warm-up: nothing is a gap before LW_INTERVAL_WARMUP intervals
    for (int index = 0; index < LW_INTERVAL_WARMUP; index++) {
        assert (!lw_interval_exceeds (&interval, 100 * second, 5));
        assert (!lw_interval_step (&interval, second, 5));
    }
    assert (interval.count == LW_INTERVAL_WARMUP);
    assert (interval.usual == second);
    //  Then: more than factor x usual is a gap and is not learned
    assert (!lw_interval_exceeds (&interval, 5 * second, 5));
    assert (lw_interval_exceeds (&interval, 5 * second + 1, 5));
    assert (lw_interval_step (&interval, 11 * second, 5));
    assert (interval.usual == second && interval.count == LW_INTERVAL_WARMUP);
    //  Off: factor 0 never fires, but still learns
    assert (!lw_interval_exceeds (&interval, 1e18, 0));
    assert (!lw_interval_step (&interval, 2 * second, 0));
    assert (interval.count == LW_INTERVAL_WARMUP + 1);
    assert (interval.usual > second && interval.usual < 2 * second);
    //  A long interval that is not a gap is clipped: a 4 s pause on a 1 s
    //  sensor teaches at most 3 s
    lw_interval_t clipped = {.usual = second, .count = 100};
    assert (!lw_interval_step (&clipped, 4 * second, 5));
    assert (fabs (clipped.usual -
                  (second +
                   LW_INTERVAL_ALPHA * (LW_INTERVAL_CLIP - 1) * second)) < 1);
    //  A slowly changing rate is followed
    lw_interval_t slower = {.usual = second, .count = 100};
    for (int index = 0; index < 200; index++)
        assert (!lw_interval_step (&slower, 2 * second, 5));
    assert (slower.usual > 1.99 * second);
    assert (!lw_interval_exceeds (&slower, 9 * second, 5));
    assert (lw_interval_exceeds (&slower, 11 * second, 5));

    //  The probe: forward steps only, the median of the first
    //  LW_PROBE_STEPS, and how many lie near it
    lw_probe_t probe = {0};
    int64_t time = 1000 * LW_NS_PER_SEC;
    assert (!lw_probe_add (&probe, time));
    assert (!lw_probe_add (&probe, time));     //  Not forward
    assert (!lw_probe_add (&probe, time - 5)); //  Backward
    for (int index = 0; index < LW_PROBE_STEPS; index++) {
        //  Steps of 60 s, every fourth 90 s
        time += (index % 4 == 3 ? 90 : 60) * LW_NS_PER_SEC;
        assert (lw_probe_add (&probe, time) == (index == LW_PROBE_STEPS - 1));
    }
    assert (lw_probe_add (&probe, time + 1)); //  Full: unchanged
    assert (probe.count == LW_PROBE_STEPS);
    int close = 0;
    assert (lw_probe_median (&probe, 0.1, &close) == 60 * LW_NS_PER_SEC);
    //  The first step (backward from time - 5) counts 60 s + 5 ns
    assert (close == LW_PROBE_STEPS - LW_PROBE_STEPS / 4);
    assert (lw_probe_median (&probe, 0.6, NULL) == 60 * LW_NS_PER_SEC);
    //  Times from outside: a reading at 0 (the epoch) is one, a step
    //  longer than an int64 holds (from 1800 to 2200) is none
    lw_probe_t epoch = {0};
    assert (!lw_probe_add (&epoch, 0));
    assert (!lw_probe_add (&epoch, 60 * LW_NS_PER_SEC));
    assert (epoch.count == 1 && epoch.step[0] == 60 * LW_NS_PER_SEC);
    lw_probe_t far = {0};
    assert (!lw_probe_add (&far, -5364662400LL * LW_NS_PER_SEC));
    assert (!lw_probe_add (&far, 7258118400LL * LW_NS_PER_SEC));
    assert (!lw_probe_add (&far, INT64_MAX));
    assert (!lw_probe_add (&far, INT64_MIN));
    assert (!lw_probe_add (&far, INT64_MAX));
    assert (far.count == 1 && far.step[0] > 0);
    printf ("OK\n");
}
