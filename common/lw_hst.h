/*  =========================================================================
    lw_hst.h - Half-Space Trees: a seeded streaming forest

    Copyright (c) the linewatch authors. MIT license.

    Streaming Half-Space Trees (Tan, Ting and Liu 2011) over points in
    [0,1]^dims (values outside are allowed: every tree's workspace spans
    [-1,2] or more). Each tree halves a random workspace along a random
    dimension at every level, down to `depth`. Two mass profiles per node:
    the reference window (the last complete `window` points learned) scores
    a point, the latest window fills as points are learned, and replaces
    the reference when it holds `window` points. Scoring and learning are
    separate calls, so a detector can score every point and learn only
    the points it did not flag.

    Deterministic: the trees come from the seed only, so the same seed and
    the same points give the same scores. All memory is allocated by _new
    (trees * (2^(depth+1) - 1) nodes, 5 bytes each); score and learn are
    O(trees * depth) with no allocation. Scoring keeps the point's leaf in
    every tree, so learning the point just scored (what a detector does)
    counts up those paths instead of walking the trees a second time.
    =========================================================================
*/

#ifndef LW_HST_H_INCLUDED
#define LW_HST_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Limits of the parameters lw_hst_new accepts
#define LW_HST_DIMS_MAX 8
#define LW_HST_TREES_MAX 100
#define LW_HST_DEPTH_MAX 14
#define LW_HST_WINDOW_MAX 65535

typedef struct _lw_hst_t lw_hst_t;

//  Creates a forest. dims 1..LW_HST_DIMS_MAX, trees 1..LW_HST_TREES_MAX,
//  depth 1..LW_HST_DEPTH_MAX, window 2..LW_HST_WINDOW_MAX. Returns it
//  (caller owns, lw_hst_destroy) or NULL when out of memory.
lw_hst_t *
    lw_hst_new (int dims, int trees, int depth, long window, uint64_t seed);
void
    lw_hst_destroy (lw_hst_t **self_p);
//  Density of the point relative to a uniform one over the workspace,
//  averaged over the trees: sum over trees of mass * 2^level / window at
//  the deepest node that still holds `window / 64` (at least 1) points of
//  the reference window. Large in dense regions, 0 where nothing was
//  seen. Before the first window is complete, the latest window, scaled
//  up to a full one, stands in for the reference. Non-finite coordinates
//  count as 0.5.
double
    lw_hst_density (lw_hst_t *self, const double *point);
//  Adds the point to the latest window's masses
void
    lw_hst_learn (lw_hst_t *self, const double *point);
//  Points learned so far
uint64_t
    lw_hst_learned (lw_hst_t *self);

void
    lw_hst_test (bool verbose);

#endif
