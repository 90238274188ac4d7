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
    if (!(penalty > 0))
        return 1;
    if (scored < LW_WATCH_YOUNG)
        scored = LW_WATCH_YOUNG;
    if (scored > LW_WATCH_UNTIL)
        scored = LW_WATCH_UNTIL;
    return pow ((double)scored / LW_WATCH_FROM, penalty);
}


//  --------------------------------------------------------------------------
//  Self test helper: scores `count` points of a signal (heavy: 5% of the
//  points have 8x the noise) through two detectors, the default one and
//  one with `key` (0: watch_penalty, 1: watch_normal) at 0. Counts the
//  points scored differently while young (fewer than LW_WATCH_FROM
//  scored) and once old (more than 2 x LW_WATCH_FROM), and of those the
//  ones the default scored higher (young) and lower (old).

typedef struct {
    long young, young_higher, old, old_lower;
} s_compare_t;

static s_compare_t
s_compare_runs (bool heavy, int key, long count)
{
    lw_detect_cfg_t with;
    lw_detect_cfg_default (&with);
    assert (with.watch_penalty > 0 && with.watch_normal > 0);
    lw_detect_cfg_t without = with;
    if (key == 0)
        without.watch_penalty = 0;
    else
        without.watch_normal = 0;
    lw_extract_t *extract = lw_extract_new (&with);
    lw_detector_t *watched = lw_detector_new (&with);
    lw_detector_t *plain = lw_detector_new (&without);
    assert (extract && watched && plain);
    uint64_t state = heavy ? 11 : 12;
    s_compare_t result = {0, 0, 0, 0};
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
        lw_detector_score (watched, &item);
        lw_detector_score (plain, &twin);
        if (item.score == twin.score)
            continue;
        if (index < LW_WATCH_FROM) {
            result.young++;
            result.young_higher += item.score > twin.score;
        }
        else if (index > 2 * LW_WATCH_FROM) {
            result.old++;
            result.old_lower += item.score < twin.score;
        }
    }
    lw_detector_destroy (&watched);
    lw_detector_destroy (&plain);
    lw_extract_destroy (&extract);
    return result;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_watch_test (bool verbose)
{
    printf (" * lw_watch: ");
    if (verbose)
        printf ("\n");
    //  The factor: a power law of the points scored, 1 at LW_WATCH_FROM,
    //  held within LW_WATCH_YOUNG..LW_WATCH_UNTIL
    assert (lw_watch_factor (LW_WATCH_FROM, 0.5) == 1);
    assert (fabs (lw_watch_factor (4 * LW_WATCH_FROM, 0.5) - 2) < 1e-12);
    assert (fabs (lw_watch_factor (LW_WATCH_FROM / 4, 0.5) - 0.5) < 1e-12);
    double top = sqrt ((double)LW_WATCH_UNTIL / LW_WATCH_FROM);
    assert (fabs (lw_watch_factor (LW_WATCH_UNTIL, 0.5) - top) < 1e-12);
    assert (fabs (lw_watch_factor (1000000000L, 0.5) - top) < 1e-12);
    double bottom = sqrt ((double)LW_WATCH_YOUNG / LW_WATCH_FROM);
    assert (fabs (lw_watch_factor (LW_WATCH_YOUNG, 0.5) - bottom) < 1e-12);
    assert (fabs (lw_watch_factor (0, 0.5) - bottom) < 1e-12);
    assert (fabs (lw_watch_factor (-5, 0.5) - bottom) < 1e-12);
    assert (lw_watch_factor (1000000000L, 0) == 1);
    assert (lw_watch_factor (0, 0) == 1);
    assert (lw_watch_factor (5000, NAN) == 1);
    //  Monotone in the points scored
    for (long scored = 1; scored < 2 * LW_WATCH_UNTIL; scored += 97)
        assert (lw_watch_factor (scored, 0.25) <=
                lw_watch_factor (scored + 97, 0.25));

    //  A well-behaved sensor (Gaussian noise): watch_normal scores it
    //  higher while the detector is young and lower once it is old (a few
    //  scores differ the other way once the two learning paths part);
    //  watch_penalty, the heavy-tailed sensors' exponent, changes nothing
    s_compare_t normal = s_compare_runs (false, 1, 12000);
    if (verbose)
        printf ("   well-behaved: young %ld differ (%ld higher), old %ld "
                "(%ld lower)\n",
                normal.young, normal.young_higher, normal.old,
                normal.old_lower);
    assert (normal.young > 100 && normal.young_higher > normal.young * 9 / 10);
    assert (normal.old > 1000 && normal.old_lower > normal.old * 9 / 10);
    s_compare_t untouched = s_compare_runs (false, 0, 12000);
    assert (untouched.young == 0 && untouched.old == 0);

    //  A heavy-tailed sensor: watch_penalty scores it higher while young,
    //  lower once old
    s_compare_t heavy = s_compare_runs (true, 0, 12000);
    if (verbose)
        printf ("   heavy tails: young %ld differ (%ld higher), old %ld "
                "(%ld lower)\n",
                heavy.young, heavy.young_higher, heavy.old, heavy.old_lower);
    assert (heavy.young > 100 && heavy.young_higher > heavy.young * 9 / 10);
    assert (heavy.old > 1000 && heavy.old_lower > heavy.old * 9 / 10);
    printf ("OK\n");
}
