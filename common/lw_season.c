/*  =========================================================================
    lw_season.c - seasonal (contextual) deviation

    Copyright (c) the linewatch authors. MIT license.

    See lw_season.h. The signal's own deviation (mean absolute deviation
    around a slow EWMA level) is the yardstick of the gate and of the
    residual scale's floor; both use weight max (1/n, scale_alpha), so the
    first points are averaged plainly.
    =========================================================================
*/

#include "lw_season.h"
#include "lw_interval.h"
#include "lw_detect.h"
#include "lw_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The residual scale learns from residuals clipped at this many scales
#define S_CLIP 3.0
//  Smallest scale (value units): a constant signal divides by this
#define S_TINY 1e-12

struct _lw_season_t {
    double period;            //  Period, seconds
    long bins_max;            //  Bins allocated
    double beta;              //  Profile learning rate per period
    double short_alpha;       //  Residual EWMA rate
    double scale_alpha;       //  Deviation estimates' rate
    double floor;             //  Residual scale floor (of the deviation)
    double gate;              //  Largest residual / signal deviation
    double short_noise;       //  Noise of the short EWMA of white noise
    lw_probe_t probe;         //  Sampling interval probe
    int64_t interval;         //  Sampling interval (ns), 0 = not yet
    long bins;                //  Bins in use, 0 = not yet or too many
    bool disabled;            //  Period needs more than bins_max bins
    //  Signal deviation around a slow level
    long seen;                //  Points learned
    double level;             //  Slow EWMA of the value
    double deviation;         //  EWMA of |value - level|
    //  Residual against the profile
    long residuals;           //  Residuals learned
    double residual_dev;      //  Clipped EWMA of |residual|
    double residual_abs;      //  EWMA of |residual| (not clipped: the gate)
    double residual_short;    //  Short EWMA of the residual
    float *profile;           //  Per bin: EWMA of the value, NAN = empty
};

//  --------------------------------------------------------------------------
//  Creates a seasonal part; see lw_season.h.

lw_season_t *
lw_season_new (double period, long bins, double beta, double short_alpha,
               double scale_alpha, double floor, double gate)
{
    assert (period > 0);
    assert (bins >= 1 && bins <= LW_SEASON_BINS_MAX);
    assert (beta > 0 && beta <= 1);
    assert (short_alpha > 0 && short_alpha <= 1);
    assert (scale_alpha > 0 && scale_alpha <= 1);
    lw_season_t *self = (lw_season_t *)calloc (1, sizeof (lw_season_t));
    if (!self)
        return NULL;
    self->period = period;
    self->bins_max = bins;
    self->beta = beta;
    self->short_alpha = short_alpha;
    self->scale_alpha = scale_alpha;
    self->floor = floor;
    self->gate = gate;
    self->short_noise = sqrt (short_alpha / (2 - short_alpha));
    self->profile = (float *)malloc ((size_t)bins * sizeof (float));
    if (!self->profile) {
        lw_season_destroy (&self);
        return NULL;
    }
    for (long index = 0; index < bins; index++)
        self->profile[index] = NAN;
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the part; accepts NULL and sets the pointer to NULL.

void
lw_season_destroy (lw_season_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->profile);
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Profile bin of a time, or -1 when the interval is not known yet.

static long
s_bin (lw_season_t *self, int64_t time)
{
    if (self->bins == 0)
        return -1;
    int64_t period = (int64_t)llround (self->period * 1e9);
    int64_t phase = lw_time_phase (time, period, NULL);
    long bin = (long)(phase / self->interval);
    return bin < self->bins ? bin : self->bins - 1;
}

//  --------------------------------------------------------------------------
//  Raw score of the point; see lw_season.h.

double
lw_season_raw (lw_season_t *self, int64_t time, double value, double floor,
               bool *floored)
{
    assert (self);
    if (floored)
        *floored = false;
    long bin = s_bin (self, time);
    if (bin < 0 || !isfinite (value) || self->residuals < self->bins)
        return -1;
    double profile = self->profile[bin];
    if (isnan (profile))
        return -1;
    //  Abstain unless the profile explains the swing: the residual's
    //  deviation is a small part of the signal's own
    if (self->residual_abs > self->gate * self->deviation)
        return -1;
    double residual = value - profile;
    double smooth = self->residual_short +
                    self->short_alpha * (residual - self->residual_short);
    double scale = self->residual_dev;
    if (scale < self->floor * self->deviation)
        scale = self->floor * self->deviation;
    double sigma = scale * LW_SIGMA_PER_ABSDEV;
    //  The caller's deviation floor (value units): a flat signal's step
    //  counts floors, not its zero noise
    if (sigma < floor) {
        sigma = floor;
        if (floored)
            *floored = true;
    }
    if (sigma < S_TINY)
        sigma = S_TINY;
    return fabs (smooth) / (sigma * self->short_noise);
}

//  --------------------------------------------------------------------------
//  Learns the sampling interval from the first steps.

static void
s_probe (lw_season_t *self, int64_t time)
{
    if (lw_probe_add (&self->probe, time) && self->interval == 0 &&
        !self->disabled) {
        int64_t interval = lw_probe_median (&self->probe, 0, NULL);
        double bins = ceil (self->period * 1e9 / (double)interval);
        if (bins < 2 || bins > (double)self->bins_max)
            self->disabled = true;
        else {
            self->interval = interval;
            self->bins = (long)bins;
        }
    }
}

//  --------------------------------------------------------------------------
//  Learns the point; see lw_season.h.

void
lw_season_learn (lw_season_t *self, int64_t time, double value, bool profile)
{
    assert (self);
    if (!isfinite (value))
        return;
    s_probe (self, time);
    self->seen++;
    double weight = 1.0 / (double)self->seen;
    if (weight < self->scale_alpha)
        weight = self->scale_alpha;
    if (self->seen == 1)
        self->level = value;
    self->deviation += weight * (fabs (value - self->level) - self->deviation);
    self->level += weight * (value - self->level);

    long bin = s_bin (self, time);
    if (bin < 0)
        return;
    float *slot = &self->profile[bin];
    if (isnan (*slot)) {
        *slot = (float)value;
        return;
    }
    double residual = value - *slot;
    if (profile)
        *slot = (float)(*slot + self->beta * residual);
    self->residuals++;
    if (self->residuals == 1) {
        self->residual_dev = fabs (residual);
        self->residual_abs = fabs (residual);
        return;
    }
    self->residual_short += self->short_alpha *
                            (residual - self->residual_short);
    double scale = self->residual_dev;
    if (scale < self->floor * self->deviation)
        scale = self->floor * self->deviation;
    double clip = S_CLIP * LW_SIGMA_PER_ABSDEV * scale;
    double size = fabs (residual) < clip ? fabs (residual) : clip;
    weight = 1.0 / (double)self->residuals;
    if (weight < self->scale_alpha)
        weight = self->scale_alpha;
    self->residual_dev += weight * (size - self->residual_dev);
    self->residual_abs += weight * (fabs (residual) - self->residual_abs);
}

//  --------------------------------------------------------------------------
//  Self test helper: the highest lw_detector score during a missing daily
//  peak (day 6 of a noisy daily sine at 5 minutes), with the season part
//  on or off; *name is the part behind it.

static double
s_detector_peak (bool season, const char **name)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.season = season;
    //  (The fault tests flag the missing peak too, and would name it: the
    //  part is what this measures)
    cfg.faults = false;
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);
    uint64_t state = 3;
    double peak = 0;
    for (long index = 0; index < 288 * 7; index++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double noise = (double)(state >> 11) / 9007199254740992.0 - 0.5;
        double phase = 2 * M_PI * (double)(index % 288) / 288.0;
        double value = 100 + 20 * sin (phase) + noise;
        bool broken = index >= 288 * 5 + 40 && index < 288 * 5 + 100;
        if (broken)
            value = 100 + noise;
        lw_item_t item;
        memset (&item, 0, sizeof (item));
        item.time = (1700006400LL + 300 * index) * 1000000000LL;
        item.value = value;
        lw_extract_update (extract, &item);
        lw_detector_score (detector, &item);
        if (broken && item.score > peak) {
            peak = item.score;
            *name = lw_detector_name (detector);
        }
    }
    lw_detector_destroy (&detector);
    lw_extract_destroy (&extract);
    return peak;
}

//  --------------------------------------------------------------------------
//  Self test helper: the highest lw_detector score (season part on) in
//  the 20 points after a step of `step` on a signal flat at 100 for three
//  days at 5 minutes.

static double
s_detector_step (double step)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    assert (cfg.season);
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);
    double peak = 0;
    long start = 288 * 3 + 100;
    for (long index = 0; index < start + 20; index++) {
        lw_item_t item;
        memset (&item, 0, sizeof (item));
        item.time = (1700006400LL + 300 * index) * 1000000000LL;
        item.value = index < start ? 100 : 100 + step;
        lw_extract_update (extract, &item);
        lw_detector_score (detector, &item);
        if (index >= start && item.score > peak)
            peak = item.score;
    }
    lw_detector_destroy (&detector);
    lw_extract_destroy (&extract);
    return peak;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_season_test (bool verbose)
{
    printf (" * lw_season: ");
    if (verbose)
        printf ("\n");
    //  A daily sine sampled every 5 minutes (288 bins) with small noise
    const int64_t step = 300 * 1000000000LL;
    const int64_t start = 1700000000LL * 1000000000LL;
    lw_season_t *season = lw_season_new (86400, 1440, 0.5, 0.1, 0.01,
                                         0.1, 0.5);
    assert (season);
    uint64_t state = 7;
    double before_break = 0;
    double at_break = 0;
    for (long index = 0; index < 288 * 6; index++) {
        int64_t time = start + index * step;
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double noise = ((double)(state >> 11) / 9007199254740992.0 - 0.5);
        double phase = 2 * M_PI * (double)(index % 288) / 288.0;
        double value = 100 + 20 * sin (phase) + noise;
        //  Day 5: the daily peak does not come (flat at the mean)
        bool broken = index >= 288 * 5 + 40 && index < 288 * 5 + 100;
        if (broken)
            value = 100 + noise;
        double raw = lw_season_raw (season, time, value, 0, NULL);
        //  Not ready during the first day (plus the probe)
        if (index < 288)
            assert (raw == -1);
        if (index >= 288 * 3 && index < 288 * 5 && raw > before_break)
            before_break = raw;
        if (broken && raw > at_break)
            at_break = raw;
        lw_season_learn (season, time, value, true);
    }
    if (verbose)
        printf ("   normal days max raw %.2f, missing peak max raw %.2f\n",
                before_break, at_break);
    assert (before_break > 0 && before_break < 6);
    assert (at_break > 5 * before_break);

    //  Aperiodic noise: the profile explains nothing, it abstains
    lw_season_t *noisy = lw_season_new (86400, 1440, 0.5, 0.1, 0.01, 0.1,
                                        0.5);
    assert (noisy);
    for (long index = 0; index < 288 * 4; index++) {
        int64_t time = start + index * step;
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double value = 10 * (double)(state >> 11) / 9007199254740992.0;
        if (index >= 288 * 2)
            assert (lw_season_raw (noisy, time, value, 0, NULL) == -1);
        lw_season_learn (noisy, time, value, true);
    }
    //  A period needing more bins than allocated: never scores
    lw_season_t *small = lw_season_new (86400, 100, 0.5, 0.1, 0.01, 0.1,
                                        0.5);
    assert (small);
    for (long index = 0; index < 288 * 3; index++) {
        int64_t time = start + index * step;
        assert (lw_season_raw (small, time, (double)(index % 288), 0,
                               NULL) == -1);
        lw_season_learn (small, time, (double)(index % 288), true);
    }
    //  Non-finite input is ignored
    lw_season_learn (small, start, NAN, true);
    assert (lw_season_raw (small, start, INFINITY, 0, NULL) == -1);
    //  Through the detector: the missing peak alerts with the part, and
    //  scores lower without it
    const char *name = "";
    double with = s_detector_peak (true, &name);
    const char *other = "";
    double without = s_detector_peak (false, &other);
    if (verbose)
        printf ("   detector on a missing peak: %.3f (%s), without the "
                "part %.3f (%s)\n",
                with, name, without, other);
    assert (with >= 0.7 && streq (name, LW_DETECTOR_SEASON));
    assert (without < 0.5);
    //  The deviation floors hold for the part: on a signal flat for days
    //  (its profile explains everything) a +1 step is no alert, +10 is
    double plus_one = s_detector_step (1);
    double plus_ten = s_detector_step (10);
    if (verbose)
        printf ("   flat then +1: %.3f, +10: %.3f\n", plus_one, plus_ten);
    assert (plus_one < 0.7 && plus_ten >= 0.7);
    lw_season_destroy (&season);
    lw_season_destroy (&noisy);
    lw_season_destroy (&small);
    assert (season == NULL);
    lw_season_destroy (&season);
    printf ("OK\n");
}
