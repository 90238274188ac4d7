/*  =========================================================================
    lw_calib.c - calibration: raw detector scores to tail probabilities

    Copyright (c) the linewatch authors. MIT license.

    See lw_calib.h. The moments are West's incremental weighted mean and
    variance, with weight max (1/n, alpha), so the first points are
    averaged plainly and later ones forgotten at rate alpha.
    =========================================================================
*/

#include "lw_calib.h"
#include "lw_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Bins per octave of 1 + raw, and octaves covered (raw up to 2^40)
#define S_BINS_PER_OCTAVE 8
#define S_OCTAVES 40
#define S_BINS (S_BINS_PER_OCTAVE * S_OCTAVES)
//  Beyond the largest raw score seen, the tail halves every this many
//  octaves of 1 + raw
#define S_BEYOND_OCTAVES 0.1
//  Renormalise the weights before they overflow
#define S_WEIGHT_MAX 1e200

struct _lw_calib_t {
    double alpha;         //  Forgetting rate per score, 0 = none
    long warmup;          //  Scores before it answers
    long learned;         //  Scores learned
    double weight;        //  Weight of the next score (grows by 1/(1-alpha))
    double total;         //  Sum of the weights in the bins
    int top;              //  Highest occupied bin, -1 = none
    double count[S_BINS]; //  Weight per bin
};

//  --------------------------------------------------------------------------
//  Creates a calibrator; see lw_calib.h.

lw_calib_t *
lw_calib_new (double alpha, long warmup)
{
    assert (alpha >= 0 && alpha < 1);
    lw_calib_t *self = (lw_calib_t *)calloc (1, sizeof (lw_calib_t));
    if (self) {
        self->alpha = alpha;
        self->warmup = warmup;
        self->weight = 1;
        self->top = -1;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys it; accepts NULL and sets the pointer to NULL.

void
lw_calib_destroy (lw_calib_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Position of a raw score on the bin scale (octaves of 1 + raw, times
//  bins per octave); negative raw scores count as 0.

static double
s_position (double raw)
{
    if (!(raw > 0))
        return 0;
    return log2 (1 + raw) * S_BINS_PER_OCTAVE;
}

//  --------------------------------------------------------------------------
//  Upper tail probability of a raw score; see lw_calib.h.

double
lw_calib_tail (lw_calib_t *self, double raw)
{
    assert (self);
    if (self->learned < self->warmup || !isfinite (raw))
        return 1;
    double position = s_position (raw);
    int bin = (int)position;
    //  One pseudo-count above everything seen: a record is rare, not
    //  impossible
    double prior = self->weight;
    double norm = self->total + prior;
    if (bin > self->top) {
        double beyond = (position - (self->top + 1)) / S_BINS_PER_OCTAVE;
        return prior / norm * exp2 (-beyond / S_BEYOND_OCTAVES);
    }
    double above = 0;
    for (int index = self->top; index > bin; index--)
        above += self->count[index];
    //  The score's own bin counts whole: raw scores that tie (a forest's
    //  empty region, a quantised z) are as common as their count says,
    //  not spread over the bin
    above += self->count[bin];
    return (above + prior) / norm;
}

//  --------------------------------------------------------------------------
//  Learns a raw score.

void
lw_calib_learn (lw_calib_t *self, double raw)
{
    assert (self);
    if (!isfinite (raw))
        return;
    double position = s_position (raw);
    int bin = position < S_BINS - 1 ? (int)position : S_BINS - 1;
    self->count[bin] += self->weight;
    self->total += self->weight;
    if (bin > self->top)
        self->top = bin;
    self->learned++;
    if (self->alpha > 0) {
        //  Forgetting without touching every bin: later scores weigh more
        self->weight /= 1 - self->alpha;
        if (self->weight > S_WEIGHT_MAX) {
            for (int index = 0; index < S_BINS; index++)
                self->count[index] /= self->weight;
            self->total /= self->weight;
            self->weight = 1;
        }
    }
}

//  --------------------------------------------------------------------------
//  Raw scores learned.

long
lw_calib_learned (lw_calib_t *self)
{
    assert (self);
    return self->learned;
}

//  --------------------------------------------------------------------------
//  Maps a tail probability to [0,1): 1 - 2^(-decades of rarity / half).
//  Smooth and strictly monotone, so that the rarest events stay ranked
//  (no clamping at 1 until the double rounds).

double
lw_calib_score (double tail, double half)
{
    assert (half > 0);
    if (!(tail < 1))
        return 0;
    if (!(tail > 0))
        return 1;
    return -expm1 (-M_LN2 * -log10 (tail) / half);
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_calib_test (bool verbose)
{
    printf (" * lw_calib: ");
    if (verbose)
        printf ("\n");
    lw_calib_t *calib = lw_calib_new (0.0001, 10);
    assert (calib);
    //  Warming up: no opinion
    assert (lw_calib_tail (calib, 1e9) == 1);
    //  |z| of normal noise: the tail follows the half-normal's
    uint64_t state = 5;
    for (int index = 0; index < 20000; index++)
        lw_calib_learn (calib, fabs (lw_gauss (&state)));
    lw_calib_learn (calib, NAN);
    assert (lw_calib_learned (calib) == 20000);
    //  (a score's own bin counts whole: within a bin, 1/8 octave of
    //  1 + raw, the tail errs on the common side)
    double tail = lw_calib_tail (calib, 0.6745);
    assert (tail >= 0.5 && tail < 0.6);
    tail = lw_calib_tail (calib, 2.5758);
    assert (tail > 0.005 && tail < 0.02);
    //  A record is rare (about 1 / n), a far record rarer still
    double record = lw_calib_tail (calib, 6);
    assert (record > 1e-5 && record < 1e-4);
    assert (lw_calib_tail (calib, 60) < 1e-3 * record);
    assert (lw_calib_tail (calib, 1e300) >= 0);
    assert (lw_calib_tail (calib, NAN) == 1);
    //  Monotone in the raw score
    double previous = 1;
    for (double raw = 0; raw < 10; raw += 0.01) {
        double next = lw_calib_tail (calib, raw);
        assert (next <= previous + 1e-12);
        previous = next;
    }
    //  Scores: 0.5 at `half` decades of rarity, 0.75 at twice that
    assert (lw_calib_score (1, 2) == 0);
    assert (fabs (lw_calib_score (1e-2, 2) - 0.5) < 1e-12);
    assert (fabs (lw_calib_score (1e-4, 2) - 0.75) < 1e-12);
    assert (lw_calib_score (1e-20, 2) < 1);
    assert (lw_calib_score (1e-20, 2) > lw_calib_score (1e-19, 2));
    assert (lw_calib_score (0, 2) == 1);
    assert (lw_calib_score (NAN, 2) == 0);
    //  Comparable: heavy tails are judged against their own distribution,
    //  so a z of 6 on a signal that often has them is not rare
    lw_calib_t *heavy = lw_calib_new (0.0001, 10);
    assert (heavy);
    for (int index = 0; index < 20000; index++)
        lw_calib_learn (heavy, fabs (lw_gauss (&state)) *
                                   (index % 10 == 0 ? 5 : 1));
    assert (lw_calib_tail (heavy, 6) > 100 * record);
    //  Forgetting: after a long stretch of larger scores, they are normal
    for (int index = 0; index < 100000; index++)
        lw_calib_learn (calib, 10 + fabs (lw_gauss (&state)));
    assert (lw_calib_tail (calib, 10.7) > 0.3);
    lw_calib_destroy (&calib);
    lw_calib_destroy (&heavy);
    assert (calib == NULL);
    printf ("OK\n");
}
