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

    Robust statistics (median, MAD, min, max) come from a sorted copy of
    the window, kept sorted by one binary search and one memmove per point
    (O(window) bytes moved, ~100 ns for the default 64); the MAD walks out
    from the median over the sorted values, O(window / 2).
    =========================================================================
*/

#include "lw_detect.h"
#include "lw_util.h"

#include <math.h>

//  sigma = 1.4826 * MAD for normal noise
#define S_SIGMA_PER_MAD 1.482602218505602
//  For normal noise, E|x[t] - x[t-1]| = 2 sigma / sqrt (pi)
#define S_SIGMA_PER_DIFF_ABS 0.886226925452758

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
    double last2;      //  The value before it
    double *sorted;    //  The ring's values, sorted ascending
    double slow_alpha; //  Slow EWMA smoothing factor
    double slow;       //  Slow EWMA of the value
    double slow_var;   //  Slow EWMA variance
    double diff_abs;   //  EWMA of |step|
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
        self->slow_alpha = cfg->slow_alpha;
        self->ring = (double *)calloc ((size_t)self->size, sizeof (double));
        self->sorted =
            (double *)calloc ((size_t)self->size, sizeof (double));
        if (!self->ring || !self->sorted)
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
        free (self->sorted);
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
//  Index of the first sorted value >= value (binary search).

static long
s_lower_bound (const double *sorted, long count, double value)
{
    long low = 0, high = count;
    while (low < high) {
        long middle = low + (high - low) / 2;
        if (sorted[middle] < value)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

//  --------------------------------------------------------------------------
//  Keeps the sorted copy in step with the ring: removes `oldest` (when
//  the ring is full) and inserts `value`, moving the values in between.

static void
s_sorted_replace (lw_extract_t *self, bool full, double oldest, double value)
{
    double *sorted = self->sorted;
    long count = self->fill;
    if (!full) {
        //  fill already counts the new value
        long at = s_lower_bound (sorted, count - 1, value);
        memmove (sorted + at + 1, sorted + at,
                 (size_t)(count - 1 - at) * sizeof (double));
        sorted[at] = value;
        return;
    }
    long out = s_lower_bound (sorted, count, oldest);
    long at = s_lower_bound (sorted, count, value);
    if (at > out) {
        //  Shift the values between down over the removed one
        memmove (sorted + out, sorted + out + 1,
                 (size_t)(at - 1 - out) * sizeof (double));
        sorted[at - 1] = value;
    }
    else {
        memmove (sorted + at + 1, sorted + at,
                 (size_t)(out - at) * sizeof (double));
        sorted[at] = value;
    }
}

//  --------------------------------------------------------------------------
//  Median and MAD (median absolute deviation from the median) of the
//  sorted window.

static void
s_robust (const lw_extract_t *self, double *median, double *mad)
{
    const double *sorted = self->sorted;
    long count = self->fill;
    double middle = (count & 1) ? sorted[count / 2]
                                : 0.5 * (sorted[count / 2 - 1] +
                                         sorted[count / 2]);
    //  The k-th smallest |x - median|: walk outwards from the middle,
    //  always taking the nearer of the two candidates
    long left = (count - 1) / 2, right = count / 2;
    if (left == right)
        right++;
    long want = count / 2; //  0-based rank of the (upper) median distance
    double distance = 0, previous = 0;
    for (long rank = 0; rank <= want; rank++) {
        double below = left >= 0 ? middle - sorted[left] : INFINITY;
        double above = right < count ? sorted[right] - middle : INFINITY;
        previous = distance;
        if (below <= above) {
            distance = below;
            left--;
        }
        else {
            distance = above;
            right++;
        }
    }
    if (!(count & 1) && want > 0)
        distance = 0.5 * (distance + previous);
    *median = middle;
    *mad = distance;
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
        s_sorted_replace (self, false, 0, value);
    }
    else {
        //  Replace the oldest: n stays, the mean moves by (x - y) / n and
        //  M2 by (x - y) * ((x - mean') + (y - mean))
        double oldest = self->ring[self->next];
        s_sorted_replace (self, true, oldest, value);
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
    features[LW_F_LAST2] = self->seen > 1 ? self->last2 : self->last_value;
    double median = 0, mad = 0;
    if (self->fill)
        s_robust (self, &median, &mad);
    features[LW_F_MEDIAN] = median;
    features[LW_F_MAD] = mad * S_SIGMA_PER_MAD;
    features[LW_F_SLOW_MEAN] = self->slow;
    features[LW_F_SLOW_STD] = sqrt (self->slow_var);
    features[LW_F_DIFF_SD] = self->diff_abs * S_SIGMA_PER_DIFF_ABS;
    features[LW_F_MIN] = self->fill ? self->sorted[0] : 0;
    features[LW_F_MAX] = self->fill ? self->sorted[self->fill - 1] : 0;
    item->nfeatures = LW_DETECT_FEATURES;

    double value = item->value;
    if (!isfinite (value))
        return;
    if (self->seen == 0) {
        self->ewma = value;
        self->ewvar = 0;
        self->slow = value;
        self->slow_var = 0;
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
        //  The slow one starts as a plain mean (weight 1/n until that is
        //  below slow_alpha): its variance is then right from the start,
        //  instead of growing from 0 over 1/slow_alpha points
        double weight = 1.0 / (double)(self->seen + 1);
        if (weight < self->slow_alpha)
            weight = self->slow_alpha;
        delta = value - self->slow;
        increment = weight * delta;
        self->slow += increment;
        self->slow_var = (1 - weight) * (self->slow_var + delta * increment);
        self->diff_abs += self->alpha * (step - self->diff_abs);
    }
    s_window_add (self, value);
    self->last2 = self->last_value;
    self->last_value = value;
    self->last_time = item->time;
    self->seen++;
}
