/*  =========================================================================
    lw_context.h - contextual novelty: a sequence model of quantised
    values (in the spirit of CAD OSE)

    Copyright (c) the linewatch authors. MIT license.

    Each value becomes a symbol: the bin of the value (`bins` bins of
    tanh (deviation / (span * sigma)), the deviation from a slow,
    clipped-learning level, sigma from its mean absolute deviation: a
    causal, slowly adapting robust range, no file minimum or maximum) and
    the bin of its step from the previous value (`steps` bins on the same
    scale; 1 = the value alone). A wide span makes the bins coarse, as a
    file's min/max range would (CAD OSE): the noise stays in a bin or two,
    so the usual sequence is predictable and a departure is novel. The last
    1..order symbols are the contexts; a bounded hashed table (fixed
    capacity, 2-way, allocated once; a full set ages its weaker entry and
    replaces it when it reaches zero) counts context -> next symbol
    transitions. The raw score of a point is its novelty: the mean over
    the orders of -log2 of the (Krichevsky-Trofimov) probability the
    active contexts gave its symbol, so a value that arrives out of its
    usual sequence scores high even inside the usual range.

    All memory is allocated by _new; score and learn are O(order) with no
    allocation. Deterministic.
    =========================================================================
*/

#ifndef LW_CONTEXT_H_INCLUDED
#define LW_CONTEXT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Largest order (symbols of context)
#define LW_CONTEXT_ORDER_MAX 4
//  Limits of the value bins
#define LW_CONTEXT_BINS_MAX 64

typedef struct _lw_context_t lw_context_t;

//  Creates a contextual part. bins: value bins (2..LW_CONTEXT_BINS_MAX),
//  steps: step bins (1..LW_CONTEXT_BINS_MAX), span: sigmas of the squash
//  (> 0), order: longest context (1..LW_CONTEXT_ORDER_MAX), capacity: table
//  entries (rounded up to a power of two, 64..1048576), rate: learning
//  rate of the level and deviation (0..1], warmup: points learned before
//  it scores. Returns it (caller owns, lw_context_destroy) or NULL when
//  out of memory.
lw_context_t *
    lw_context_new (long bins, long steps, double span, long order,
                    long capacity, double rate, long warmup);
void
    lw_context_destroy (lw_context_t **self_p);
//  Raw score of the value (its novelty in bits, >= 0), or -1 while the
//  part is not ready. The deviation scale is never below `floor` (value
//  units: the caller's deviation floor). Pure: changes nothing.
double
    lw_context_raw (lw_context_t *self, double value, double floor);
//  Learns the value: the range and the history always, the transitions
//  only when `model` is true (a flagged point teaches the model nothing).
//  Non-finite values are ignored.
void
    lw_context_learn (lw_context_t *self, double value, double floor,
                      bool model);

void
    lw_context_test (bool verbose);

#endif
