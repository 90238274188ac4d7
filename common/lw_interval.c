/*  =========================================================================
    lw_interval.c - a sensor's usual interval between readings

    Copyright (c) the linewatch authors. MIT license.

    See lw_interval.h: the functions are inline; this file is the self
    test.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_interval.h"
#include "lw_util.h"

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
    printf ("OK\n");
}
