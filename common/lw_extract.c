/*  =========================================================================
    lw_extract.c - per-sensor feature extraction (part of lw_detect)

    Copyright (c) the linewatch authors. MIT license.

    Turns (time, value) into the feature vector documented in lw_detect.h
    (LW_F_*). Runs in lw-features live and in lwctl score offline. All
    state is fixed-size per sensor: the rolling window is allocated once by
    lw_extract_new, and an update is O(1) with no allocation.

    Rolling mean and variance use Welford's running mean and sum of squared
    deviations, with an exact add-one/replace-one update. Rounding still
    accumulates over millions of replacements, so each time the ring wraps
    the two sums are recomputed from the window (two-pass, exact): that
    costs one pass of `window` values per `window` points, O(1) amortised.
    =========================================================================
*/

#include "lw_detect.h"
#include "lw_util.h"

#include <math.h>

struct _lw_extract_t {
    double alpha;      //  EWMA smoothing factor
    double *ring;      //  The last `size` values, oldest at next
    long size;         //  Window length (points)
    long next;         //  Index the next value is written to
    long fill;         //  Values in the ring (<= size)
    double roll_mean;  //  Mean of the ring
    double roll_m2;    //  Sum of squared deviations in the ring
    double ewma;       //  EWMA of the value
    double ewvar;      //  EWMA variance
    double quantum;    //  Smallest non-zero |step|, 0 = none yet
    double last_value; //  Previous value learned
    int64_t last_time; //  Its time
    uint64_t seen;     //  Values learned
};

//  --------------------------------------------------------------------------
//  Creates the extraction state for one sensor. Returns it (caller owns,
//  lw_extract_destroy) or NULL when out of memory.

lw_extract_t *
lw_extract_new (const lw_detect_cfg_t *cfg)
{
    assert (cfg);
    assert (cfg->window > 0);
    lw_extract_t *self = (lw_extract_t *)zmalloc (sizeof (lw_extract_t));
    if (self) {
        self->alpha = cfg->ewma_alpha;
        self->size = cfg->window;
        self->ring = (double *)calloc ((size_t)self->size, sizeof (double));
        if (!self->ring)
            lw_extract_destroy (&self);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the state; accepts NULL and sets the pointer to NULL.

void
lw_extract_destroy (lw_extract_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_extract_t *self = *self_p;
        free (self->ring);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Recomputes the rolling sums exactly from the ring (two passes), which
//  removes the rounding the incremental updates accumulated.

static void
s_recompute (lw_extract_t *self)
{
    double sum = 0;
    for (long index = 0; index < self->fill; index++)
        sum += self->ring[index];
    double mean = sum / (double)self->fill;
    double m2 = 0;
    for (long index = 0; index < self->fill; index++) {
        double deviation = self->ring[index] - mean;
        m2 += deviation * deviation;
    }
    self->roll_mean = mean;
    self->roll_m2 = m2;
}

//  --------------------------------------------------------------------------
//  Adds a value to the rolling window, replacing the oldest when full.

static void
s_window_add (lw_extract_t *self, double value)
{
    if (self->fill < self->size) {
        //  Welford: add one
        self->fill++;
        double delta = value - self->roll_mean;
        self->roll_mean += delta / (double)self->fill;
        self->roll_m2 += delta * (value - self->roll_mean);
    }
    else {
        //  Replace the oldest: n stays, the mean moves by (x - y) / n and
        //  M2 by (x - y) * ((x - mean') + (y - mean))
        double oldest = self->ring[self->next];
        double delta = value - oldest;
        double mean = self->roll_mean + delta / (double)self->size;
        self->roll_m2 += delta * ((value - mean) + (oldest - self->roll_mean));
        self->roll_mean = mean;
    }
    if (self->roll_m2 < 0)
        self->roll_m2 = 0; //  Rounding on a constant signal
    self->ring[self->next] = value;
    self->next++;
    if (self->next == self->size) {
        self->next = 0;
        s_recompute (self);
    }
}

//  --------------------------------------------------------------------------
//  Writes item->features from the state (the points before this one), then
//  learns item->time and item->value. A non-finite value (which ingest
//  drops; offline readers skip it) is not learned.

void
lw_extract_update (lw_extract_t *self, lw_item_t *item)
{
    assert (self);
    assert (item);
    double *features = item->features;
    features[LW_F_SEEN] = (double)self->seen;
    features[LW_F_MEAN] = self->fill ? self->roll_mean : 0;
    features[LW_F_STD] =
        self->fill ? sqrt (self->roll_m2 / (double)self->fill) : 0;
    features[LW_F_EWMA] = self->ewma;
    features[LW_F_EWSTD] = sqrt (self->ewvar);
    features[LW_F_QUANTUM] = self->quantum;
    features[LW_F_DT] = self->seen ? (double)(item->time - self->last_time) /
                                         (double)LW_NS_PER_SEC
                                   : 0;
    features[LW_F_LAST] = self->last_value;
    item->nfeatures = LW_DETECT_FEATURES;

    double value = item->value;
    if (!isfinite (value))
        return;
    if (self->seen == 0) {
        self->ewma = value;
        self->ewvar = 0;
    }
    else {
        double step = fabs (value - self->last_value);
        if (step > 0 && (self->quantum == 0 || step < self->quantum))
            self->quantum = step;
        //  Incremental EWMA mean and variance (West 1979 / Finch 2009)
        double delta = value - self->ewma;
        double increment = self->alpha * delta;
        self->ewma += increment;
        self->ewvar = (1 - self->alpha) * (self->ewvar + delta * increment);
    }
    s_window_add (self, value);
    self->last_value = value;
    self->last_time = item->time;
    self->seen++;
}
