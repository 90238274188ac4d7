/*  =========================================================================
    lw_hst.c - Half-Space Trees: a seeded streaming forest

    Copyright (c) the linewatch authors. MIT license.

    Trees are complete binary trees in heap order (root 0, children 2n+1
    and 2n+2). A node's split dimension comes from the seed; its split
    value is the middle of the node's range along that dimension, which a
    traversal tracks as it descends from the tree's workspace, so only the
    dimension (1 byte) and the two masses (2 x uint16) are stored.
    =========================================================================
*/

#include "lw_hst.h"
#include "lw_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _lw_hst_t {
    int dims;            //  Dimensions of a point
    int trees;           //  Number of trees
    int depth;           //  Levels below the root
    long nodes;          //  Nodes per tree, 2^(depth+1) - 1
    long window;         //  Points per window
    long limit;          //  Smallest mass worth descending into
    double *low;         //  trees x dims: workspace low end
    double *high;        //  trees x dims: workspace high end
    uint8_t *split;      //  trees x nodes: split dimension
    uint16_t *reference; //  trees x nodes: mass in the reference window
    uint16_t *latest;    //  trees x nodes: mass in the latest window
    long filled;         //  Points in the latest window
    bool complete;       //  A reference window exists
    uint64_t learned;    //  Points learned
    unsigned long *leaf; //  trees: leaf of the last point scored
    double scored[LW_HST_DIMS_MAX]; //  That point (cleaned)
    bool cached;                    //  leaf and scored hold a point's path
};

//  --------------------------------------------------------------------------
//  splitmix64: the forest's random numbers, from the seed only.

static uint64_t
s_next (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

//  --------------------------------------------------------------------------
//  Creates a forest; see lw_hst.h.

lw_hst_t *
lw_hst_new (int dims, int trees, int depth, long window, uint64_t seed)
{
    assert (dims >= 1 && dims <= LW_HST_DIMS_MAX);
    assert (trees >= 1 && trees <= LW_HST_TREES_MAX);
    assert (depth >= 1 && depth <= LW_HST_DEPTH_MAX);
    assert (window >= 2 && window <= LW_HST_WINDOW_MAX);
    lw_hst_t *self = (lw_hst_t *)calloc (1, sizeof (lw_hst_t));
    if (!self)
        return NULL;
    self->dims = dims;
    self->trees = trees;
    self->depth = depth;
    self->nodes = (2L << depth) - 1;
    self->window = window;
    self->limit = window / 64 > 1 ? window / 64 : 1;
    size_t cells = (size_t)trees * (size_t)self->nodes;
    self->low = (double *)calloc ((size_t)(trees * dims), sizeof (double));
    self->high = (double *)calloc ((size_t)(trees * dims), sizeof (double));
    self->split = (uint8_t *)calloc (cells, sizeof (uint8_t));
    self->reference = (uint16_t *)calloc (cells, sizeof (uint16_t));
    self->latest = (uint16_t *)calloc (cells, sizeof (uint16_t));
    self->leaf =
        (unsigned long *)calloc ((size_t)trees, sizeof (unsigned long));
    if (!self->low || !self->high || !self->split || !self->reference ||
        !self->latest || !self->leaf) {
        lw_hst_destroy (&self);
        return NULL;
    }
    //  Workspace per tree and dimension (the paper's): s uniform in [0,1],
    //  range s -+ 2 max (s, 1 - s), so [0,1] lies well inside every tree
    uint64_t state = seed;
    for (int tree = 0; tree < trees; tree++) {
        for (int dim = 0; dim < dims; dim++) {
            double s = (double)(s_next (&state) >> 11) / 9007199254740992.0;
            double half = 2 * (s > 1 - s ? s : 1 - s);
            self->low[tree * dims + dim] = s - half;
            self->high[tree * dims + dim] = s + half;
        }
        uint8_t *split = self->split + (size_t)tree * (size_t)self->nodes;
        for (long node = 0; node < self->nodes; node++)
            split[node] = (uint8_t)(s_next (&state) % (uint64_t)dims);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the forest; accepts NULL and sets the pointer to NULL.

void
lw_hst_destroy (lw_hst_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_hst_t *self = *self_p;
        free (self->low);
        free (self->high);
        free (self->split);
        free (self->reference);
        free (self->latest);
        free (self->leaf);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Copies the point, replacing non-finite coordinates by 0.5.

static void
s_clean (const lw_hst_t *self, const double *point, double *clean)
{
    for (int dim = 0; dim < self->dims; dim++)
        clean[dim] = isfinite (point[dim]) ? point[dim] : 0.5;
}

//  --------------------------------------------------------------------------
//  Density of the point; see lw_hst.h.

double
lw_hst_density (lw_hst_t *self, const double *point)
{
    assert (self);
    assert (point);
    double clean[LW_HST_DIMS_MAX], low[LW_HST_DIMS_MAX], high[LW_HST_DIMS_MAX];
    s_clean (self, point, clean);
    const uint16_t *masses = self->complete ? self->reference : self->latest;
    double total = self->complete ? (double)self->window : (double)self->filled;
    double sum = 0;
    for (int tree = 0; tree < self->trees; tree++) {
        memcpy (low, self->low + tree * self->dims,
                (size_t)self->dims * sizeof (double));
        memcpy (high, self->high + tree * self->dims,
                (size_t)self->dims * sizeof (double));
        const uint8_t *split = self->split + (size_t)tree * (size_t)self->nodes;
        const uint16_t *mass = masses + (size_t)tree * (size_t)self->nodes;
        //  The density is read at the deepest node that still holds
        //  `limit` points; the walk goes on to the leaf, whose path
        //  lw_hst_learn reuses for the same point (one walk, not two)
        long node = 0, stop = -1;
        int level = 0, stop_level = self->depth;
        while (level < self->depth) {
            int dim = split[node];
            double middle = 0.5 * (low[dim] + high[dim]);
            long child = 2 * node + 1;
            if (clean[dim] < middle)
                high[dim] = middle;
            else {
                low[dim] = middle;
                child++;
            }
            if (stop < 0 && mass[child] < self->limit) {
                stop = node;
                stop_level = level;
            }
            node = child;
            level++;
        }
        if (stop < 0)
            stop = node;
        self->leaf[tree] = (unsigned long)node;
        sum += ldexp ((double)mass[stop], stop_level);
    }
    memcpy (self->scored, clean, (size_t)self->dims * sizeof (double));
    self->cached = true;
    if (total < 1)
        return 0;
    return sum / total / self->trees;
}

//  --------------------------------------------------------------------------
//  The leaf of a (clean) point in a tree

static unsigned long
s_leaf (const lw_hst_t *self, int tree, const double *clean)
{
    double low[LW_HST_DIMS_MAX], high[LW_HST_DIMS_MAX];
    memcpy (low, self->low + tree * self->dims,
            (size_t)self->dims * sizeof (double));
    memcpy (high, self->high + tree * self->dims,
            (size_t)self->dims * sizeof (double));
    const uint8_t *split = self->split + (size_t)tree * (size_t)self->nodes;
    unsigned long node = 0;
    for (int level = 0; level < self->depth; level++) {
        int dim = split[node];
        double middle = 0.5 * (low[dim] + high[dim]);
        node = 2 * node + 1;
        if (clean[dim] < middle)
            high[dim] = middle;
        else {
            low[dim] = middle;
            node++;
        }
    }
    return node;
}

//  --------------------------------------------------------------------------
//  Adds the point to the latest window; a full latest window becomes the
//  reference.

void
lw_hst_learn (lw_hst_t *self, const double *point)
{
    assert (self);
    assert (point);
    double clean[LW_HST_DIMS_MAX];
    s_clean (self, point, clean);
    //  The point just scored: its leaves are known
    bool known =
        self->cached &&
        memcmp (clean, self->scored, (size_t)self->dims * sizeof (double)) == 0;
    for (int tree = 0; tree < self->trees; tree++) {
        uint16_t *mass = self->latest + (size_t)tree * (size_t)self->nodes;
        //  Count up the path from the point's leaf to the root
        for (unsigned long node =
                 known ? self->leaf[tree] : s_leaf (self, tree, clean);
             ; node = (node - 1) >> 1) {
            mass[node]++;
            if (node == 0)
                break;
        }
    }
    self->learned++;
    if (++self->filled == self->window) {
        //  Swap: the latest window becomes the reference, and restarts
        uint16_t *swap = self->reference;
        self->reference = self->latest;
        self->latest = swap;
        memset (self->latest, 0,
                (size_t)self->trees * (size_t)self->nodes * sizeof (uint16_t));
        self->filled = 0;
        self->complete = true;
    }
}

//  --------------------------------------------------------------------------
//  Points learned so far.

uint64_t
lw_hst_learned (lw_hst_t *self)
{
    assert (self);
    return self->learned;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_hst_test (bool verbose)
{
    printf (" * lw_hst: ");
    if (verbose)
        printf ("\n");
    lw_hst_t *forest = lw_hst_new (2, 25, 8, 256, 42);
    lw_hst_t *twin = lw_hst_new (2, 25, 8, 256, 42);
    lw_hst_t *other = lw_hst_new (2, 25, 8, 256, 43);
    //  Learns without scoring first (the full walk, not the path kept by
    //  lw_hst_density), or after scoring another point
    lw_hst_t *plain = lw_hst_new (2, 25, 8, 256, 42);
    lw_hst_t *stale = lw_hst_new (2, 25, 8, 256, 42);
    assert (forest && twin && other && plain && stale);
    double point[2] = {0.5, 0.5};
    assert (lw_hst_density (forest, point) == 0);

    //  A cluster around (0.3, 0.3): dense inside, empty far away
    uint64_t state = 9;
    bool differs = false;
    for (int index = 0; index < 1000; index++) {
        point[0] = 0.3 + 0.05 * lw_uniform (&state);
        point[1] = 0.3 + 0.05 * lw_uniform (&state);
        //  Same seed, same points: the same densities, bit for bit
        double density = lw_hst_density (forest, point);
        assert (density == lw_hst_density (twin, point));
        if (density != lw_hst_density (other, point))
            differs = true;
        lw_hst_learn (forest, point);
        lw_hst_learn (twin, point);
        lw_hst_learn (other, point);
        lw_hst_learn (plain, point);
        double elsewhere[2] = {point[1], point[0]};
        lw_hst_density (stale, elsewhere);
        lw_hst_learn (stale, point);
    }
    assert (differs);
    //  However it learned, the same masses: the same densities
    for (int index = 0; index < 200; index++) {
        double probe[2] = {lw_uniform (&state), lw_uniform (&state)};
        double density = lw_hst_density (forest, probe);
        assert (density == lw_hst_density (plain, probe));
        assert (density == lw_hst_density (stale, probe));
    }
    assert (lw_hst_learned (forest) == 1000);
    double inside[2] = {0.32, 0.33};
    double outside[2] = {0.9, 0.1};
    double far[2] = {NAN, 5};
    double dense = lw_hst_density (forest, inside);
    double sparse = lw_hst_density (forest, outside);
    if (verbose)
        printf ("   density inside %.2f outside %.4f\n", dense, sparse);
    assert (dense > 20);
    assert (sparse < 0.2 * dense);
    assert (lw_hst_density (forest, far) >= 0);

    //  The reference follows the data: after a move, the new place is
    //  dense and the old one is not
    for (int index = 0; index < 600; index++) {
        point[0] = 0.8 + 0.05 * lw_uniform (&state);
        point[1] = 0.1 + 0.05 * lw_uniform (&state);
        lw_hst_learn (forest, point);
    }
    assert (lw_hst_density (forest, outside) > 20);
    assert (lw_hst_density (forest, inside) < lw_hst_density (forest, outside));
    lw_hst_destroy (&forest);
    lw_hst_destroy (&twin);
    lw_hst_destroy (&other);
    lw_hst_destroy (&plain);
    lw_hst_destroy (&stale);
    assert (forest == NULL);
    lw_hst_destroy (&forest);
    printf ("OK\n");
}
