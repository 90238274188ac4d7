/*  =========================================================================
    lw_calib.h - calibration: raw detector scores to tail probabilities

    Copyright (c) the linewatch authors. MIT license.

    In the spirit of Numenta's anomaly likelihood: a raw score means little
    on its own (a forest's density, a z on a heavy-tailed signal), so each
    detector's raw score is judged against its own distribution so far.
    The calibrator keeps an exponentially forgetting histogram of the raw
    scores (320 bins, 8 per octave of 1 + raw), and answers the upper tail
    probability of a new raw score: the weight above it, plus one
    pseudo-count, over the total. A raw score beyond the largest seen gets
    1 / (n + 1), halved for every tenth of an octave it lies beyond. So the
    largest raw score in n points has p ~ 1/n whatever the signal's
    scale or tails: scores from different detectors and sensors share one
    scale, and lw_calib_score maps p to [0,1] by decades of rarity.
    Fixed-size state (~2.6 KB), no allocation after _new; a tail is
    O(bins above the score), a learn O(1).
    =========================================================================
*/

#ifndef LW_CALIB_H_INCLUDED
#define LW_CALIB_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct _lw_calib_t lw_calib_t;

//  Creates a calibrator. alpha: forgetting rate per score in [0,1), 0 =
//  remember all; warmup: scores learned before lw_calib_tail answers (it
//  answers 1 until then). Returns it (caller owns) or NULL when out of
//  memory.
lw_calib_t *
    lw_calib_new (double alpha, long warmup);
void
    lw_calib_destroy (lw_calib_t **self_p);
//  Upper tail probability of `raw`, in (0, 1]; 1 while warming up or for
//  a non-finite raw score
double
    lw_calib_tail (lw_calib_t *self, double raw);
//  Learns a raw score (non-finite ones are ignored)
void
    lw_calib_learn (lw_calib_t *self, double raw);
//  Raw scores learned
long
    lw_calib_learned (lw_calib_t *self);
//  Maps a tail probability to [0,1]: 1 - 2^(-(-log10 p) / half), so 0.5
//  at `half` decades of rarity, 0.75 at twice that; strictly monotone
double
    lw_calib_score (double tail, double half);

void
    lw_calib_test (bool verbose);

#endif
