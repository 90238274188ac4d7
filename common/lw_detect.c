/*  =========================================================================
    lw_detect.c - detection settings and the robust z-score detector

    Copyright (c) the linewatch authors. MIT license.

    The detection library is three classes behind one header (lw_detect.h):
    lw_extract (lw_extract.c) makes features, lw_detector (here) scores
    them, lw_episode (lw_episode.c) turns scores into alert episodes. This
    file also reads the `detect` config section and holds the self test of
    all three.

    The first detector, "robust_z": a robust level L and scale S per sensor
      z     = |value - L| / max (sqrt(pi/2) * D, floor_abs,
                                 floor_rel * |L|, quantum)
      score = 1 - exp (-ln2 * (z / z_scale)^2)        (0.5 at z = z_scale)
    where L is an EWMA of the value and D an EWMA of |value - L| (the mean
    absolute deviation; sqrt(pi/2) * D estimates sigma for normal noise).
    Both learn from the value clipped to L +- min (3, z_open) * scale, so
    a point the detector flags (z >= z_open, the z of open_threshold) moves
    them by a bounded step only: a spike barely teaches, a level shift that
    lasts is learned within tens of points (the scale grows with each
    clipped point until the new level is reached). The state is seeded from
    the features (rolling mean and std) at the end of the warm-up, so a
    fresh detector on a sensor that lw-features has long seen scores at
    once. Expected range = L +- z_open * scale.
    =========================================================================
*/

#include "lw_detect.h"
#include "lw_cfg.h"
#include "lw_util.h"

#include <math.h>

//  sigma = sqrt(pi/2) * mean absolute deviation, for normal noise
#define S_SIGMA_PER_ABSDEV 1.2533141373155003
#define S_ABSDEV_PER_SIGMA 0.7978845608028654
//  Learning clips deviations at this z (Huber), or at z_open if lower
#define S_CLIP_Z 3.0
//  Largest z_open: keeps the expected range finite for open_threshold ~ 1
#define S_Z_OPEN_MAX 1e6

struct _lw_detector_t {
    lw_detect_cfg_t cfg; //  Settings
    double z_open;       //  z at which the score is open_threshold
    double clip_z;       //  z at which learning clips a deviation
    bool seeded;         //  Level and absdev hold learned values
    double level;        //  Robust level L
    double absdev;       //  EWMA of |clipped deviation| D
    long warmup_left;    //  Points still needed before scoring
};

//  --------------------------------------------------------------------------
//  Fills the defaults (the values config/linewatch.cfg documents).

void
lw_detect_cfg_default (lw_detect_cfg_t *out)
{
    assert (out);
    memset (out, 0, sizeof (*out));
    out->window = 64;
    out->ewma_alpha = 0.05;
    out->warmup = 30;
    out->floor_abs = 1e-6;
    out->floor_rel = 0.001;
    out->z_scale = 6;
    out->open_threshold = 0.7;
    out->close_threshold = 0.4;
    out->min_duration = 1;
    out->close_after = 10;
    out->cooldown = 20;
    out->update_margin = 0.05;
}

//  --------------------------------------------------------------------------
//  Reads and validates the `detect` section; a NULL config gives the
//  defaults. Every bad key is logged (naming it), then returns -1; else 0.

int
lw_detect_cfg_load (zconfig_t *cfg, lw_detect_cfg_t *out)
{
    assert (out);
    lw_detect_cfg_t dflt;
    lw_detect_cfg_default (&dflt);
    *out = dflt;
    if (!cfg)
        return 0;
    int rc = 0;
    if (lw_cfg_int (cfg, "detect/window", dflt.window, 8, 100000, &out->window))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/ewma_alpha", dflt.ewma_alpha, 0.0001, 1,
                       &out->ewma_alpha))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/warmup", dflt.warmup, 2, 100000, &out->warmup))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/floor_abs", dflt.floor_abs, 0, 1e12,
                       &out->floor_abs))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/floor_rel", dflt.floor_rel, 0, 1,
                       &out->floor_rel))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/z_scale", dflt.z_scale, 0.5, 100,
                       &out->z_scale))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/open_threshold", dflt.open_threshold, 0.01,
                       0.999, &out->open_threshold))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/close_threshold", dflt.close_threshold, 0,
                       0.99, &out->close_threshold))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/min_duration", dflt.min_duration, 1, 10000,
                    &out->min_duration))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/close_after", dflt.close_after, 1, 100000,
                    &out->close_after))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/cooldown", dflt.cooldown, 0, 100000,
                    &out->cooldown))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/update_margin", dflt.update_margin, 0, 1,
                       &out->update_margin))
        rc = -1;
    if (rc == 0 && !(out->close_threshold < out->open_threshold)) {
        zsys_error ("config: detect/close_threshold=%g must be below "
                    "detect/open_threshold=%g",
                    out->close_threshold, out->open_threshold);
        rc = -1;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  z at which a score reaches `score` (inverse of the score function).

static double
s_z_at (const lw_detect_cfg_t *cfg, double score)
{
    double z = cfg->z_scale * sqrt (-log1p (-score) / M_LN2);
    return z < S_Z_OPEN_MAX ? z : S_Z_OPEN_MAX;
}

//  --------------------------------------------------------------------------
//  Creates a robust z-score detector for one sensor. Returns it (caller
//  owns, lw_detector_destroy) or NULL when out of memory.

lw_detector_t *
lw_detector_new (const lw_detect_cfg_t *cfg)
{
    assert (cfg);
    lw_detector_t *self = (lw_detector_t *)zmalloc (sizeof (lw_detector_t));
    if (self) {
        self->cfg = *cfg;
        self->z_open = s_z_at (cfg, cfg->open_threshold);
        self->clip_z = self->z_open < S_CLIP_Z ? self->z_open : S_CLIP_Z;
        self->warmup_left = cfg->warmup;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the detector; accepts NULL and sets the pointer to NULL.

void
lw_detector_destroy (lw_detector_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  The deviation scale of a level: the learned sigma, floored.

static double
s_scale (const lw_detect_cfg_t *cfg, double sigma, double level, double quantum)
{
    double scale = sigma;
    if (scale < cfg->floor_abs)
        scale = cfg->floor_abs;
    if (scale < cfg->floor_rel * fabs (level))
        scale = cfg->floor_rel * fabs (level);
    if (scale < quantum)
        scale = quantum;
    return scale;
}

//  --------------------------------------------------------------------------
//  Scores an item carrying features; see lw_detect.h.

void
lw_detector_score (lw_detector_t *self, lw_item_t *item)
{
    assert (self);
    assert (item);
    const lw_detect_cfg_t *cfg = &self->cfg;
    const double *features = item->features;
    double value = item->value;
    item->score = 0;
    item->expected_low = value;
    item->expected_high = value;

    //  Features come from another process: check them before use
    bool valid = item->nfeatures >= LW_DETECT_FEATURES && isfinite (value);
    for (int index = 0; valid && index < LW_DETECT_FEATURES; index++)
        valid = isfinite (features[index]);
    if (!valid || features[LW_F_SEEN] < 0 || features[LW_F_STD] < 0 ||
        features[LW_F_QUANTUM] < 0) {
        item->flags |= LW_SCORE_WARMUP;
        return;
    }
    double seen = features[LW_F_SEEN];
    double quantum = features[LW_F_QUANTUM];
    if (!self->seeded && seen < (double)cfg->warmup) {
        //  Warming up: no score, a range from the rolling statistics
        self->warmup_left = cfg->warmup - (long)seen - 1;
        if (seen > 0) {
            double mean = features[LW_F_MEAN];
            double scale = s_scale (cfg, features[LW_F_STD], mean, quantum);
            item->expected_low = mean - self->z_open * scale;
            item->expected_high = mean + self->z_open * scale;
        }
        item->flags |= LW_SCORE_WARMUP;
        return;
    }
    if (!self->seeded) {
        self->level = features[LW_F_MEAN];
        self->absdev = features[LW_F_STD] * S_ABSDEV_PER_SIGMA;
        self->seeded = true;
        self->warmup_left = 0;
    }
    double scale =
        s_scale (cfg, self->absdev * S_SIGMA_PER_ABSDEV, self->level, quantum);
    double deviation = value - self->level;
    double ratio = fabs (deviation) / scale / cfg->z_scale;
    item->score = -expm1 (-M_LN2 * ratio * ratio);
    item->expected_low = self->level - self->z_open * scale;
    item->expected_high = self->level + self->z_open * scale;

    //  Learn from the clipped value: a flagged point moves L and D by a
    //  bounded step only, yet a lasting shift is learned
    double clip = self->clip_z * scale;
    if (deviation > clip)
        deviation = clip;
    else if (deviation < -clip)
        deviation = -clip;
    self->level += cfg->ewma_alpha * deviation;
    self->absdev += cfg->ewma_alpha * (fabs (deviation) - self->absdev);
}

//  --------------------------------------------------------------------------
//  Name of the detector (for alerts).

const char *
lw_detector_name (lw_detector_t *self)
{
    assert (self);
    return LW_DETECTOR_ROBUST_Z;
}

//  --------------------------------------------------------------------------
//  Points still needed before the detector scores (0 = warmed up).

long
lw_detector_warmup_left (lw_detector_t *self)
{
    assert (self);
    return self->warmup_left;
}
//  --------------------------------------------------------------------------
//  Self test helper: exact rolling statistics over the last `size` values
//  of `values[0..count)`, computed the slow way.

static void
s_exact (const double *values, long count, long size, double *mean, double *std)
{
    long first = count > size ? count - size : 0;
    long number = count - first;
    double sum = 0;
    for (long index = first; index < count; index++)
        sum += values[index];
    *mean = sum / (double)number;
    double m2 = 0;
    for (long index = first; index < count; index++)
        m2 += (values[index] - *mean) * (values[index] - *mean);
    *std = sqrt (m2 / (double)number);
}

//  --------------------------------------------------------------------------
//  Self test of lw_extract.

static void
s_test_extract (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.window = 16;
    cfg.ewma_alpha = 0.1;
    lw_extract_t *extract = lw_extract_new (&cfg);
    assert (extract);

    //  Before any point: all zeros
    lw_item_t item;
    memset (&item, 0, sizeof (item));
    item.time = 1000 * LW_NS_PER_SEC;
    item.value = 5;
    lw_extract_update (extract, &item);
    assert (item.nfeatures == LW_DETECT_FEATURES);
    for (int index = 0; index < LW_DETECT_FEATURES; index++)
        assert (item.features[index] == 0);

    //  Rolling stats match an exact computation over a large offset
    //  (catastrophic cancellation would show here) through many wraps
    enum { POINTS = 5000 };
    double *values = (double *)malloc (POINTS * sizeof (double));
    assert (values);
    values[0] = 5;
    uint32_t state = 1;
    for (long index = 1; index < POINTS; index++) {
        state = state * 1664525u + 1013904223u;
        values[index] = 1e9 + (double)(state >> 8) / (double)(1 << 24);
        memset (&item, 0, sizeof (item));
        item.time = (1000 + index) * LW_NS_PER_SEC;
        item.value = values[index];
        lw_extract_update (extract, &item);
        assert (item.features[LW_F_SEEN] == (double)index);
        assert (item.features[LW_F_LAST] == values[index - 1]);
        assert (item.features[LW_F_DT] == 1.0);
        double mean, std;
        s_exact (values, index, cfg.window, &mean, &std);
        assert (fabs (item.features[LW_F_MEAN] - mean) < 1e-6);
        if (index > cfg.window * 2)
            assert (fabs (item.features[LW_F_STD] - std) < 1e-3 * std + 1e-6);
    }
    //  EWMA tracks the level; its deviation is near the uniform's 0.29
    assert (fabs (item.features[LW_F_EWMA] - (1e9 + 0.5)) < 0.2);
    assert (item.features[LW_F_EWSTD] > 0.15 &&
            item.features[LW_F_EWSTD] < 0.45);
    free (values);

    //  A non-finite value is reported on but not learned
    memset (&item, 0, sizeof (item));
    item.value = NAN;
    item.time = 9000 * LW_NS_PER_SEC;
    lw_extract_update (extract, &item);
    double seen = item.features[LW_F_SEEN];
    item.value = 1e9;
    lw_extract_update (extract, &item);
    assert (item.features[LW_F_SEEN] == seen);
    lw_extract_destroy (&extract);
    assert (extract == NULL);
    lw_extract_destroy (&extract);

    //  Quantum: the smallest non-zero step; a constant signal has std 0
    extract = lw_extract_new (&cfg);
    assert (extract);
    const double steps[] = {10, 10, 10.5, 10.5, 11.5, 10, 10, 10, 10};
    for (size_t index = 0; index < sizeof (steps) / sizeof (steps[0]);
         index++) {
        memset (&item, 0, sizeof (item));
        item.value = steps[index];
        lw_extract_update (extract, &item);
    }
    assert (item.features[LW_F_QUANTUM] == 0.5);
    for (int index = 0; index < 40; index++) {
        memset (&item, 0, sizeof (item));
        item.value = 10;
        lw_extract_update (extract, &item);
    }
    assert (item.features[LW_F_MEAN] == 10);
    assert (item.features[LW_F_STD] == 0);
    assert (item.features[LW_F_QUANTUM] == 0.5);
    lw_extract_destroy (&extract);
    if (verbose)
        printf ("   extract: rolling, EWMA, quantum OK\n");
}

//  --------------------------------------------------------------------------
//  Self test helper: a deterministic normal deviate (LCG + Box-Muller).

static double
s_gauss (uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    double u1 = ((double)(*state >> 11) + 1) / 9007199254740993.0;
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    double u2 = (double)(*state >> 11) / 9007199254740992.0;
    return sqrt (-2 * log (u1)) * cos (2 * M_PI * u2);
}

//  --------------------------------------------------------------------------
//  Self test helper: one point through extraction and detection, the way
//  lw-features and lw-scorer chain them.

static void
s_feed (lw_extract_t *extract, lw_detector_t *detector, lw_item_t *item,
        int64_t time, double value)
{
    memset (item, 0, sizeof (*item));
    item->time = time;
    item->value = value;
    lw_extract_update (extract, item);
    lw_detector_score (detector, item);
}

//  --------------------------------------------------------------------------
//  Self test helper: score of `last` after `count` points of N(100, 1)
//  noise from seed 7 (the same history every call).

static double
s_score_after_noise (const lw_detect_cfg_t *cfg, int count, double last)
{
    lw_extract_t *extract = lw_extract_new (cfg);
    lw_detector_t *detector = lw_detector_new (cfg);
    assert (extract && detector);
    uint64_t state = 7;
    lw_item_t item;
    for (int index = 0; index < count; index++)
        s_feed (extract, detector, &item, index, 100 + s_gauss (&state));
    s_feed (extract, detector, &item, count, last);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);
    return item.score;
}

//  --------------------------------------------------------------------------
//  Self test of the `detect` section reader.

static void
s_test_cfg (bool verbose)
{
    lw_detect_cfg_t cfg;
    assert (lw_detect_cfg_load (NULL, &cfg) == 0);
    lw_detect_cfg_t dflt;
    lw_detect_cfg_default (&dflt);
    assert (memcmp (&cfg, &dflt, sizeof (cfg)) == 0);

    zconfig_t *root = zconfig_new ("root", NULL);
    assert (root);
    zconfig_put (root, "detect/window", "32");
    zconfig_put (root, "detect/open_threshold", "0.8");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    assert (cfg.window == 32);
    assert (cfg.open_threshold == 0.8);
    assert (cfg.warmup == dflt.warmup);
    //  Relations: close must stay below open
    zconfig_put (root, "detect/close_threshold", "0.8");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/close_threshold", "0.3");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    //  Ranges and syntax
    zconfig_put (root, "detect/window", "7");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/window", "64x");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/window", "64");
    zconfig_put (root, "detect/z_scale", "nan");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/z_scale", "4");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    assert (cfg.z_scale == 4);
    zconfig_destroy (&root);
    if (verbose)
        printf ("   cfg: defaults, keys, ranges, relations OK\n");
}

//  --------------------------------------------------------------------------
//  Self test of lw_detector.

static void
s_test_detector (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);
    assert (streq (lw_detector_name (detector), LW_DETECTOR_ROBUST_Z));

    //  Explicit warm-up: `warmup` points flagged and unscored
    uint64_t state = 1;
    lw_item_t item;
    assert (lw_detector_warmup_left (detector) == cfg.warmup);
    for (long index = 0; index < cfg.warmup; index++) {
        s_feed (extract, detector, &item, index, 100 + s_gauss (&state));
        assert (item.flags & LW_SCORE_WARMUP);
        assert (item.score == 0);
        assert (lw_detector_warmup_left (detector) == cfg.warmup - index - 1);
    }
    //  Normal noise: scored, never near the open threshold
    double total = 0;
    for (long index = cfg.warmup; index < 5000; index++) {
        s_feed (extract, detector, &item, index, 100 + s_gauss (&state));
        assert (!(item.flags & LW_SCORE_WARMUP));
        assert (item.score >= 0 && item.score < cfg.close_threshold);
        assert (item.expected_low < 100 && item.expected_high > 100);
        total += item.score;
    }
    assert (lw_detector_warmup_left (detector) == 0);
    assert (total / 5000 < 0.05);
    //  Expected range: about +-z_open sigma around the level
    double width = (item.expected_high - item.expected_low) / 2;
    double z_open = cfg.z_scale * sqrt (-log1p (-cfg.open_threshold) / M_LN2);
    assert (width > 0.7 * z_open && width < 1.3 * z_open);

    //  A 15-sigma spike scores near 1 and teaches the level little
    double low = item.expected_low;
    s_feed (extract, detector, &item, 5000, 115);
    assert (item.score > 0.95);
    assert (item.value > item.expected_high);
    s_feed (extract, detector, &item, 5001, 100);
    assert (item.score < 0.1);
    assert (fabs (item.expected_low - low) < 1.5);

    //  A lasting level shift alerts, then is learned (clip, not skip)
    s_feed (extract, detector, &item, 5002, 120 + s_gauss (&state));
    assert (item.score >= cfg.open_threshold);
    long learned = 0;
    for (long index = 5003; index < 5300; index++) {
        s_feed (extract, detector, &item, index, 120 + s_gauss (&state));
        if (learned == 0 && item.score < cfg.close_threshold)
            learned = index - 5002;
    }
    assert (learned > 1 && learned < 100);
    assert (item.score < cfg.close_threshold);
    assert (item.expected_low < 120 && item.expected_high > 120);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);

    //  Score is monotone in the deviation
    double previous = -1;
    for (double size = 0; size <= 30; size += 2.5) {
        double score = s_score_after_noise (&cfg, 500, 100 + size);
        assert (score >= previous);
        previous = score;
    }
    assert (previous > 0.99);

    //  Quantised signal: steps of its quantum do not alarm
    extract = lw_extract_new (&cfg);
    detector = lw_detector_new (&cfg);
    assert (extract && detector);
    for (long index = 0; index < 5000; index++) {
        double value = 100 + round (0.3 * s_gauss (&state));
        s_feed (extract, detector, &item, index, value);
        assert (item.score < cfg.close_threshold);
    }
    assert (item.features[LW_F_QUANTUM] == 1);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);

    //  Flat signal then +1: the relative floor keeps it from a maximal
    //  alarm; the step becomes the quantum, yet +10 still alerts
    extract = lw_extract_new (&cfg);
    detector = lw_detector_new (&cfg);
    assert (extract && detector);
    for (long index = 0; index < 2000; index++)
        s_feed (extract, detector, &item, index, 100);
    assert (item.score == 0);
    s_feed (extract, detector, &item, 2000, 101);
    assert (item.score > 0.3 && item.score < 0.95);
    s_feed (extract, detector, &item, 2001, 110);
    assert (item.score >= cfg.open_threshold);
    assert (item.features[LW_F_QUANTUM] == 1);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);

    //  Bad features from a peer score 0 and teach nothing
    detector = lw_detector_new (&cfg);
    assert (detector);
    memset (&item, 0, sizeof (item));
    item.value = 1;
    item.nfeatures = 3;
    item.features[LW_F_SEEN] = 1000;
    lw_detector_score (detector, &item);
    assert (item.score == 0 && (item.flags & LW_SCORE_WARMUP));
    item.nfeatures = LW_DETECT_FEATURES;
    item.features[LW_F_MEAN] = NAN;
    item.flags = 0;
    lw_detector_score (detector, &item);
    assert (item.score == 0 && (item.flags & LW_SCORE_WARMUP));
    item.features[LW_F_MEAN] = 50;
    item.features[LW_F_STD] = -1;
    item.flags = 0;
    lw_detector_score (detector, &item);
    assert (item.score == 0 && (item.flags & LW_SCORE_WARMUP));
    assert (lw_detector_warmup_left (detector) == cfg.warmup);

    //  A fresh detector on a long-seen sensor seeds from the features
    item.features[LW_F_STD] = 2;
    item.value = 50;
    item.flags = 0;
    lw_detector_score (detector, &item);
    assert (!(item.flags & LW_SCORE_WARMUP));
    assert (lw_detector_warmup_left (detector) == 0);
    assert (item.score == 0);
    assert (fabs (item.expected_low + item.expected_high - 100) < 1e-9);
    assert (fabs (item.expected_high - 50 - z_open * 2) < 1e-6);
    lw_detector_destroy (&detector);
    assert (detector == NULL);
    lw_detector_destroy (&detector);
    if (verbose)
        printf ("   detector: warm-up, noise, spike, shift, floors OK\n");
}

//  --------------------------------------------------------------------------
//  Self test helper: feeds a bare score to an episode.

static int
s_episode_feed (lw_episode_t *episode, lw_item_t *item, int64_t time,
                double score, lw_alert_t *alert)
{
    memset (item, 0, sizeof (*item));
    item->time = time;
    item->value = 10 * score;
    item->score = score;
    item->expected_low = -1;
    item->expected_high = 1;
    return lw_episode_update (episode, item, "robust_z", alert);
}

//  --------------------------------------------------------------------------
//  Self test of lw_episode.

static void
s_test_episode (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.min_duration = 2;
    cfg.close_after = 3;
    cfg.cooldown = 5;
    cfg.update_margin = 0.05;
    lw_episode_t *episode = lw_episode_new (&cfg, "line1/press3/temp");
    assert (episode);
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    alert.local_seq = 42; //  The caller's: left alone
    lw_item_t item;

    //  min_duration: one point above is not enough, the run restarts
    assert (s_episode_feed (episode, &item, 0, 0.8, &alert) == 0);
    assert (!(item.flags & LW_SCORE_ALERT));
    assert (s_episode_feed (episode, &item, 1, 0.1, &alert) == 0);
    assert (s_episode_feed (episode, &item, 2, 0.8, &alert) == 0);
    assert (s_episode_feed (episode, &item, 3, 0.75, &alert) == LW_ALERT_OPEN);
    assert (item.flags & LW_SCORE_ALERT);
    assert (alert.state == LW_ALERT_OPEN);
    assert (streq (alert.sensor, "line1/press3/temp"));
    assert (alert.opened == 2 && alert.updated == 3 && alert.closed == 0);
    assert (alert.score == 0.8 && alert.value == 8);
    assert (alert.expected_low == -1 && alert.expected_high == 1);
    assert (alert.ndetectors == 1 && streq (alert.detectors[0], "robust_z"));
    assert (alert.local_seq == 42);

    //  UPDATE only when the peak rose by the margin
    assert (s_episode_feed (episode, &item, 4, 0.82, &alert) == 0);
    assert (item.flags & LW_SCORE_ALERT);
    assert (s_episode_feed (episode, &item, 5, 0.9, &alert) == LW_ALERT_UPDATE);
    assert (alert.score == 0.9 && alert.updated == 5 && alert.opened == 2);
    assert (s_episode_feed (episode, &item, 6, 0.92, &alert) == 0);

    //  Hysteresis: close_after consecutive points below close_threshold
    assert (s_episode_feed (episode, &item, 7, 0.3, &alert) == 0);
    assert (s_episode_feed (episode, &item, 8, 0.5, &alert) == 0);
    assert (s_episode_feed (episode, &item, 9, 0.1, &alert) == 0);
    assert (s_episode_feed (episode, &item, 10, NAN, &alert) == 0);
    assert (item.flags & LW_SCORE_ALERT);
    assert (s_episode_feed (episode, &item, 11, 0.1, &alert) == LW_ALERT_CLOSE);
    assert (!(item.flags & LW_SCORE_ALERT));
    assert (alert.state == LW_ALERT_CLOSE);
    assert (alert.closed == 11 && alert.opened == 2);
    assert (alert.score == 0.92 && fabs (alert.value - 9.2) < 1e-9);

    //  Cooldown: `cooldown` points after a close cannot open
    for (int64_t time = 12; time <= 16; time++) {
        assert (s_episode_feed (episode, &item, time, 0.9, &alert) == 0);
        assert (!(item.flags & LW_SCORE_ALERT));
    }
    assert (s_episode_feed (episode, &item, 17, 0.9, &alert) == 0);
    assert (s_episode_feed (episode, &item, 18, 0.95, &alert) == LW_ALERT_OPEN);
    assert (alert.opened == 17 && alert.score == 0.95);
    lw_episode_destroy (&episode);
    assert (episode == NULL);
    lw_episode_destroy (&episode);
    if (verbose)
        printf ("   episode: duration, update, hysteresis, cooldown OK\n");
}

//  --------------------------------------------------------------------------
//  Self test of the whole chain: features sent through a batch score as
//  they do in-process; a spike and a level shift in noise give exactly two
//  alerts, and the shift's alert closes once it is learned.

static void
s_test_chain (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    lw_episode_t *episode = lw_episode_new (&cfg, "m/s");
    assert (extract && detector && episode);
    //  The live split: features cross a process boundary in a batch, and
    //  a detector on the far side must score them exactly the same
    lw_detector_t *remote = lw_detector_new (&cfg);
    lw_batch_t *sent = lw_batch_new (LW_MSG_FEATURES);
    lw_batch_t *received = lw_batch_new (LW_MSG_FEATURES);
    assert (remote && sent && received);
    uint64_t state = 3;
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    int64_t opens[4] = {0};
    int nopens = 0, ncloses = 0;
    lw_item_t item;
    for (int64_t index = 0; index < 4000; index++) {
        double value = 50 + s_gauss (&state);
        if (index == 1000)
            value += 12;
        if (index >= 2000)
            value += 10;
        lw_batch_reset (sent);
        lw_item_t *vector = lw_batch_add (sent, "m/s");
        assert (vector);
        vector->time = index;
        vector->value = value;
        lw_extract_update (extract, vector);
        item = *vector;
        lw_detector_score (detector, &item);
        zframe_t *frame = lw_batch_encode (sent);
        assert (frame);
        assert (lw_batch_decode (received, zframe_data (frame),
                                 zframe_size (frame)) == 0);
        zframe_destroy (&frame);
        lw_item_t *far = lw_batch_item (received, 0);
        far->flags = 0;
        lw_detector_score (remote, far);
        assert (far->score == item.score);
        assert (far->expected_low == item.expected_low);
        assert (far->expected_high == item.expected_high);
        assert (far->flags == item.flags);
        int event = lw_episode_update (episode, &item,
                                       lw_detector_name (detector), &alert);
        if (event == LW_ALERT_OPEN && nopens < 4)
            opens[nopens++] = alert.opened;
        if (event == LW_ALERT_CLOSE)
            ncloses++;
    }
    assert (nopens == 2 && ncloses == 2);
    assert (opens[0] == 1000 && opens[1] == 2000);
    assert (!(item.flags & LW_SCORE_ALERT));
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);
    lw_detector_destroy (&remote);
    lw_episode_destroy (&episode);
    lw_batch_destroy (&sent);
    lw_batch_destroy (&received);
    if (verbose)
        printf ("   chain: split scoring identical, two alerts OK\n");
}

//  --------------------------------------------------------------------------
//  Self test of the detection library.

void
lw_detect_test (bool verbose)
{
    printf (" * lw_detect: ");
    if (verbose)
        printf ("\n");
    s_test_cfg (verbose);
    s_test_extract (verbose);
    s_test_detector (verbose);
    s_test_episode (verbose);
    s_test_chain (verbose);
    printf ("OK\n");
}
