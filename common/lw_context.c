/*  =========================================================================
    lw_context.c - contextual novelty: a sequence model of quantised values

    Copyright (c) the linewatch authors. MIT license.

    See lw_context.h. The table holds two kinds of counts under hashed
    keys: how often a context was seen (its total) and how often a symbol
    followed it. A lost entry (aged out) only makes a transition look
    rarer, never more common: the model errs towards novelty, which the
    calibration then judges against the part's own history.
    =========================================================================
*/

#include "lw_context.h"
#include "lw_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The level and deviation learn from deviations clipped at this many
//  sigmas, so a spike barely moves the range
#define S_CLIP 3.0
//  Smallest scale (value units): a constant signal divides by this
#define S_TINY 1e-12
//  Counts saturate here (a saturated context keeps its ratios)
#define S_COUNT_MAX 0x3fffffffu
//  Key marker of a context's total (no symbol has it)
#define S_TOTAL 0xffffu

typedef struct {
    uint32_t tag;             //  Upper half of the key's hash, 0 = empty
    uint32_t count;           //  Occurrences (aged)
} s_slot_t;

struct _lw_context_t {
    long bins;                //  Value bins
    long steps;               //  Step bins
    double span;              //  Sigmas of the tanh squash
    long order;               //  Longest context
    double rate;              //  Learning rate of level and deviation
    long warmup;              //  Points learned before scoring
    uint64_t mask;            //  Capacity - 1 (capacity a power of two)
    s_slot_t *table;          //  The transition table
    long seen;                //  Points learned
    double level;             //  Clipped-learning EWMA of the value
    double absdev;            //  EWMA of |clipped deviation|
    double last;              //  Previous value
    int history[LW_CONTEXT_ORDER_MAX];  //  Last symbols, [0] = newest
};

//  --------------------------------------------------------------------------
//  Creates a contextual part; see lw_context.h.

lw_context_t *
lw_context_new (long bins, long steps, double span, long order,
                long capacity, double rate, long warmup)
{
    assert (bins >= 2 && bins <= LW_CONTEXT_BINS_MAX);
    assert (steps >= 1 && steps <= LW_CONTEXT_BINS_MAX);
    assert (span > 0);
    assert (order >= 1 && order <= LW_CONTEXT_ORDER_MAX);
    assert (capacity >= 64 && capacity <= 1048576);
    assert (rate > 0 && rate <= 1);
    lw_context_t *self = (lw_context_t *)calloc (1, sizeof (lw_context_t));
    if (!self)
        return NULL;
    uint64_t size = 64;
    while (size < (uint64_t)capacity)
        size <<= 1;
    self->table = (s_slot_t *)calloc (size, sizeof (s_slot_t));
    if (!self->table) {
        free (self);
        return NULL;
    }
    self->mask = size - 1;
    self->bins = bins;
    self->steps = steps;
    self->span = span;
    self->order = order;
    self->rate = rate;
    self->warmup = warmup > order ? warmup : order;
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the part; accepts NULL and sets the pointer to NULL.

void
lw_context_destroy (lw_context_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->table);
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  64-bit mixer (splitmix64's finaliser).

static uint64_t
s_mix (uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

//  --------------------------------------------------------------------------
//  Hash of the context of order `order` (the newest `order` symbols).

static uint64_t
s_context (const lw_context_t *self, long order)
{
    uint64_t hash = s_mix ((uint64_t)order + 0x9e3779b97f4a7c15ull);
    for (long index = 0; index < order; index++)
        hash = s_mix (hash ^ ((uint64_t)self->history[index] + 1));
    return hash;
}

//  --------------------------------------------------------------------------
//  Hash of a key: a context and a symbol (or S_TOTAL).

static uint64_t
s_key (uint64_t context, unsigned symbol)
{
    return s_mix (context ^ ((uint64_t)symbol << 40 | symbol));
}

//  --------------------------------------------------------------------------
//  Tag of a key: never 0 (0 marks an empty slot).

static uint32_t
s_tag (uint64_t key)
{
    return (uint32_t)(key >> 32) | 1u;
}

//  --------------------------------------------------------------------------
//  Count under a key (0 when absent or aged out).

static uint32_t
s_count (const lw_context_t *self, uint64_t key)
{
    const s_slot_t *set = self->table + ((key & self->mask) & ~(uint64_t)1);
    uint32_t tag = s_tag (key);
    if (set[0].tag == tag)
        return set[0].count;
    if (set[1].tag == tag)
        return set[1].count;
    return 0;
}

//  --------------------------------------------------------------------------
//  Counts one more under a key. A full set ages its weaker entry by one
//  and gives its slot to the key when it reaches zero (bounded memory:
//  frequent transitions stay, rare ones come and go).

static void
s_bump (lw_context_t *self, uint64_t key)
{
    s_slot_t *set = self->table + ((key & self->mask) & ~(uint64_t)1);
    uint32_t tag = s_tag (key);
    for (int way = 0; way < 2; way++)
        if (set[way].tag == tag) {
            if (set[way].count < S_COUNT_MAX)
                set[way].count++;
            return;
        }
    for (int way = 0; way < 2; way++)
        if (set[way].tag == 0) {
            set[way].tag = tag;
            set[way].count = 1;
            return;
        }
    s_slot_t *weak = set[0].count <= set[1].count ? &set[0] : &set[1];
    if (--weak->count == 0) {
        weak->tag = tag;
        weak->count = 1;
    }
}

//  --------------------------------------------------------------------------
//  Deviation scale (sigma), floored.

static double
s_sigma (const lw_context_t *self, double floor)
{
    double sigma = self->absdev * LW_SIGMA_PER_ABSDEV;
    if (sigma < floor)
        sigma = floor;
    if (sigma < S_TINY)
        sigma = S_TINY;
    return sigma;
}

//  --------------------------------------------------------------------------
//  Symbol of a value: its value bin and its step bin, on the range the
//  previous points learned.

static int
s_symbol (const lw_context_t *self, double value, double floor)
{
    double sigma = s_sigma (self, floor);
    double unit = 0.5 + 0.5 * tanh ((value - self->level) / (self->span * sigma));
    //  Values near the double's limits: an infinite deviation over an
    //  infinite scale is no number (and no long)
    if (!(unit >= 0))
        unit = 0;
    long bin = (long)(unit * (double)self->bins);
    if (bin < 0)
        bin = 0;
    if (bin >= self->bins)
        bin = self->bins - 1;
    long step = self->steps / 2;
    if (self->seen > 0) {
        double move = 0.5 + 0.5 * tanh ((value - self->last) /
                                        (self->span * sigma));
        if (!(move >= 0))
            move = 0;
        step = (long)(move * self->steps);
        if (step < 0)
            step = 0;
        if (step >= self->steps)
            step = self->steps - 1;
    }
    return (int)(bin * self->steps + step);
}

//  --------------------------------------------------------------------------
//  Raw score; see lw_context.h.

double
lw_context_raw (lw_context_t *self, double value, double floor)
{
    assert (self);
    if (!isfinite (value) || self->seen < self->warmup)
        return -1;
    int symbol = s_symbol (self, value, floor);
    double symbols = (double)(self->bins * self->steps);
    double bits = 0;
    for (long order = 1; order <= self->order; order++) {
        uint64_t context = s_context (self, order);
        double total = s_count (self, s_key (context, S_TOTAL));
        double count = s_count (self, s_key (context, (unsigned)symbol));
        if (count > total)
            count = total;      //  The total aged out before the symbol
        bits -= log2 ((count + 0.5) / (total + 0.5 * symbols));
    }
    return bits / (double)self->order;
}

//  --------------------------------------------------------------------------
//  Learns the value; see lw_context.h.

void
lw_context_learn (lw_context_t *self, double value, double floor, bool model)
{
    assert (self);
    if (!isfinite (value))
        return;
    int symbol = s_symbol (self, value, floor);
    long known = self->seen < self->order ? self->seen : self->order;
    if (model)
        for (long order = 1; order <= known; order++) {
            uint64_t context = s_context (self, order);
            s_bump (self, s_key (context, S_TOTAL));
            s_bump (self, s_key (context, (unsigned)symbol));
        }
    memmove (self->history + 1, self->history,
             (LW_CONTEXT_ORDER_MAX - 1) * sizeof (int));
    self->history[0] = symbol;
    //  The range: plain averages over the first points, then EWMAs that
    //  learn clipped deviations
    double weight = 1.0 / (double)(self->seen + 1);
    if (weight < self->rate)
        weight = self->rate;
    if (self->seen == 0)
        self->level = value;
    else {
        double sigma = s_sigma (self, floor);
        double deviation = value - self->level;
        double clip = S_CLIP * sigma;
        if (self->seen > 10) {
            if (deviation > clip)
                deviation = clip;
            else if (deviation < -clip)
                deviation = -clip;
        }
        //  A deviation beyond the double's range (values near its
        //  limits) teaches the range nothing: it stays finite
        double level = self->level + weight * deviation;
        double absdev = self->absdev + weight * (fabs (deviation) - self->absdev);
        if (isfinite (level) && isfinite (absdev)) {
            self->level = level;
            self->absdev = absdev;
        }
    }
    self->last = value;
    self->seen++;
}

//  --------------------------------------------------------------------------
//  Self test helper: a repeating pattern (a sawtooth of period 12) plus a
//  little noise.

static double
s_pattern (long index, uint64_t *state)
{
    return (double)(index % 12) + 0.2 * (lw_uniform (state) - 0.5);
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_context_test (bool verbose)
{
    printf (" * lw_context: ");

    //  A value out of its usual sequence (inside the usual range) is
    //  novel; the pattern itself is not
    lw_context_t *context = lw_context_new (8, 5, 2, 3, 2048, 0.01, 100);
    assert (context);
    uint64_t state = 42;
    assert (lw_context_raw (context, 1, 0) == -1);
    double usual_max = 0;
    for (long index = 0; index < 3000; index++) {
        double value = s_pattern (index, &state);
        double raw = lw_context_raw (context, value, 0);
        if (index < 100)
            assert (raw == -1);
        else {
            assert (raw >= 0);
            if (index >= 1000 && raw > usual_max)
                usual_max = raw;
        }
        lw_context_learn (context, value, 0, true);
    }
    //  Index 3000 would be 0 (3000 % 12): 6 instead, mid-range
    double novel = lw_context_raw (context, 6, 0);
    double expected = lw_context_raw (context, 0, 0);
    if (verbose)
        printf ("usual max %.3f, expected %.3f, out of sequence %.3f\n",
                usual_max, expected, novel);
    assert (expected <= usual_max);
    assert (novel > 2 * usual_max);
    assert (novel > 3);
    //  Pure: scoring twice gives the same
    assert (lw_context_raw (context, 6, 0) == novel);
    //  Non-finite input is ignored
    assert (lw_context_raw (context, NAN, 0) == -1);
    lw_context_learn (context, INFINITY, 0, true);
    assert (lw_context_raw (context, 6, 0) == novel);
    //  A point not learned into the model (flagged) leaves it alone: the
    //  same novelty comes again after it in the same context
    lw_context_t *copy = lw_context_new (8, 5, 2, 3, 2048, 0.01, 100);
    assert (copy);
    state = 42;
    for (long index = 0; index < 3000; index++)
        lw_context_learn (copy, s_pattern (index, &state), 0, true);
    assert (lw_context_raw (copy, 6, 0) == novel);
    lw_context_destroy (&copy);
    lw_context_destroy (&context);
    assert (context == NULL);
    lw_context_destroy (&context);

    //  White noise: every symbol is about as likely in every context, so
    //  nothing is much more novel than the rest; a small table (64
    //  entries, constantly replacing) stays bounded and finite
    context = lw_context_new (8, 5, 2, 3, 64, 0.01, 50);
    assert (context);
    state = 7;
    double low = 1e9, high = 0;
    for (long index = 0; index < 20000; index++) {
        double value = lw_uniform (&state) + lw_uniform (&state);
        double raw = lw_context_raw (context, value, 0);
        if (index >= 50) {
            assert (isfinite (raw) && raw >= 0);
            if (index >= 10000) {
                low = raw < low ? raw : low;
                high = raw > high ? raw : high;
            }
        }
        lw_context_learn (context, value, 0, true);
    }
    if (verbose)
        printf ("noise %.3f..%.3f ", low, high);
    fflush (stdout);
    assert (high < 40);
    lw_context_destroy (&context);

    //  A constant signal: the floor keeps the scale finite, and a step
    //  the size of the floor is not novel at all in the value bins
    context = lw_context_new (8, 5, 2, 2, 256, 0.01, 20);
    assert (context);
    for (long index = 0; index < 500; index++)
        lw_context_learn (context, 5, 0, true);
    double flat = lw_context_raw (context, 5, 0);
    double step = lw_context_raw (context, 5 + 1e-9, 1);
    double jump = lw_context_raw (context, 50, 1);
    assert (flat < 0.1);
    assert (isfinite (step) && isfinite (jump));
    assert (jump > flat + 3);
    lw_context_destroy (&context);

    //  Values at the double's limits (finite, from outside): the range
    //  stays finite and every later raw score a number
    context = lw_context_new (8, 5, 2, 2, 256, 0.01, 5);
    assert (context);
    for (long index = 0; index < 40; index++) {
        double value = index % 2 ? 1e308 : -1e308;
        if (index >= 5)
            assert (!isnan (lw_context_raw (context, value, 0)));
        lw_context_learn (context, value, 0, true);
    }
    assert (isfinite (context->level) && isfinite (context->absdev));
    for (long index = 0; index < 100; index++) {
        double raw = lw_context_raw (context, 5, 0);
        assert (isfinite (raw) && raw >= 0);
        lw_context_learn (context, 5, 0, true);
    }
    assert (isfinite (context->level) && isfinite (context->absdev));
    lw_context_destroy (&context);
    printf ("OK\n");
}
