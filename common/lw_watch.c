/*  =========================================================================
    lw_watch.c - multiple tests over time

    Copyright (c) the linewatch authors. MIT license.

    See lw_watch.h. The self test also runs whole detectors (lw_detect.h)
    on a well-behaved and on a heavy-tailed signal, with and without the
    penalty.
    =========================================================================
*/

#include "lw_watch.h"
#include "lw_detect.h"
#include "lw_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>

//  --------------------------------------------------------------------------
//  Factor on the tail probability; see lw_watch.h.

double
lw_watch_factor (long scored, double penalty)
{
    if (!(penalty > 0) || scored <= LW_WATCH_FROM)
        return 1;
    if (scored > LW_WATCH_UNTIL)
        scored = LW_WATCH_UNTIL;
    return pow ((double)scored / LW_WATCH_FROM, penalty);
}


//  --------------------------------------------------------------------------
//  Self test helper: scores `count` points of a signal (heavy: 5% of the
//  points have 8x the noise) through two detectors, with the default
//  penalty and without. Returns how many points scored differently;
//  *first_differ is the first such point (count if none), *lower counts
//  the points the penalty scored lower.

static long
s_compare_runs (bool heavy, long count, long *first_differ, long *lower)
{
    lw_detect_cfg_t with;
    lw_detect_cfg_default (&with);
    assert (with.watch_penalty > 0);
    lw_detect_cfg_t without = with;
    without.watch_penalty = 0;
    lw_extract_t *extract = lw_extract_new (&with);
    lw_detector_t *penalised = lw_detector_new (&with);
    lw_detector_t *plain = lw_detector_new (&without);
    assert (extract && penalised && plain);
    uint64_t state = heavy ? 11 : 12;
    long differ = 0;
    *first_differ = count;
    *lower = 0;
    for (long index = 0; index < count; index++) {
        double noise = lw_gauss (&state);
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        if (heavy && (state >> 59) == 0)
            noise *= 8;
        lw_item_t item;
        memset (&item, 0, sizeof (item));
        item.time = (1700000000LL + 60 * index) * LW_NS_PER_SEC;
        item.value = 100 + noise;
        lw_extract_update (extract, &item);
        lw_item_t twin = item;
        lw_detector_score (penalised, &item);
        lw_detector_score (plain, &twin);
        if (item.score != twin.score) {
            if (differ++ == 0)
                *first_differ = index;
            if (item.score < twin.score)
                (*lower)++;
        }
    }
    lw_detector_destroy (&penalised);
    lw_detector_destroy (&plain);
    lw_extract_destroy (&extract);
    return differ;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_watch_test (bool verbose)
{
    printf (" * lw_watch: ");
    if (verbose)
        printf ("\n");
    //  The factor: 1 up to LW_WATCH_FROM, then (n / from)^penalty, capped
    assert (lw_watch_factor (0, 0.5) == 1);
    assert (lw_watch_factor (LW_WATCH_FROM, 0.5) == 1);
    assert (fabs (lw_watch_factor (4 * LW_WATCH_FROM, 0.5) - 2) < 1e-12);
    double top = sqrt ((double)LW_WATCH_UNTIL / LW_WATCH_FROM);
    assert (fabs (lw_watch_factor (LW_WATCH_UNTIL, 0.5) - top) < 1e-12);
    assert (fabs (lw_watch_factor (1000000000L, 0.5) - top) < 1e-12);
    assert (lw_watch_factor (1000000000L, 0) == 1);
    assert (lw_watch_factor (5000, NAN) == 1);

    //  A well-behaved sensor (Gaussian noise) keeps its sensitivity: the
    //  penalty changes no score, bit for bit
    long first, lower;
    long differ = s_compare_runs (false, 12000, &first, &lower);
    assert (differ == 0);

    //  A heavy-tailed sensor: identical while young, then lower (a few
    //  later scores differ either way once the two learning paths part)
    differ = s_compare_runs (true, 12000, &first, &lower);
    if (verbose)
        printf ("   heavy tails: %ld of 12000 scores differ, from point "
                "%ld, %ld lower\n",
                differ, first, lower);
    assert (differ > 1000);
    assert (first >= LW_WATCH_FROM);
    assert (lower > differ * 9 / 10);
    printf ("OK\n");
}
