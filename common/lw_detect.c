/*  =========================================================================
    lw_detect.c - detection settings and the robust z-score detector

    Copyright (c) the linewatch authors. MIT license.

    The detection library is three classes behind one header (lw_detect.h):
    lw_extract (lw_extract.c) makes features, lw_detector (here) scores
    them, lw_episode (lw_episode.c) turns scores into alert episodes. This
    file also reads the `detect` config section; lw_detect_test.c holds
    the self test of all three.

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
#include "lw_calib.h"
#include "lw_cfg.h"
#include "lw_context.h"
#include "lw_faults.h"
#include "lw_glr.h"
#include "lw_hst.h"
#include "lw_season.h"
#include "lw_sparse.h"
#include "lw_tod.h"
#include "lw_watch.h"
#include "lw_util.h"

#include <math.h>

//  Learning clips deviations at this z (Huber), or at z_open if lower
#define S_CLIP_Z 3.0
//  Largest z_open: keeps the expected range finite for open_threshold ~ 1
#define S_Z_OPEN_MAX 1e6
//  The ensemble's parts, in the order of lw_detector_t's arrays
#define S_PARTS 7
#define S_SPIKE 0
#define S_SHIFT 1
#define S_FOREST 2
#define S_DRIFT 3
#define S_SEASON 4
#define S_CONTEXT 5
#define S_SUSTAINED 6
//  Forest context: the value and the two before it
#define S_FOREST_DIMS 3
//  Forest coordinates: deviations from the long level in units of this
//  many long sigmas, squashed into (0,1) by tanh
#define S_FOREST_SPAN 3.0
//  Density floor of the forest's raw score, -log2 (density + floor)
#define S_FOREST_FLOOR 0.015625
//  Multiple-test factor of the ensemble: the z parts see one deviation at
//  three scales and are far from independent; as two tests, Gaussian
//  noise opens about one alert in 150,000 points
#define S_EFFECTIVE_PARTS 2
//  Smallest tail probability the forest part claims
#define S_FOREST_TAIL_MIN 0.001
//  Fixed map of a z on a learned scale: the normal tail of z / this
#define S_Z_INFLATE 1.5
//  Onset filter: a score below the recent maximum is multiplied by this
#define S_ONSET_DAMP 0.5
//  ... unless it beats the held maximum m by this fraction of (1 - m): a
//  rise by small steps is one change, not one alarm per step
#define S_ONSET_MARGIN 0.1
//  Calibration: raw scores learned before a part calibrates
#define S_CALIB_WARMUP 30
//  Fault-aware calibration memory: a z part's raw score is not learned
//  when its fixed map calls it rarer than this ...
#define S_FAULT_TAIL 0.001
//  ... and the calibration agrees (its tail at most this many times the
//  fixed map's): a fault on a sensor whose own history is well behaved
#define S_FAULT_AGREE 2.0
//  Season part (lw_season): profile learning rate per period, residual
//  EWMA rate, rate of its deviation estimates, residual scale floor (of
//  the signal's deviation) and gate (largest residual / signal deviation
//  at which the signal counts as seasonal)
#define S_SEASON_BETA 0.5
#define S_SEASON_SHORT 0.1
#define S_SEASON_RATE 0.01
#define S_SEASON_FLOOR 0.1
#define S_SEASON_GATE 0.5
//  Multiple tests over time (lw_watch) weigh more on a heavy-tailed
//  sensor: the spike part's own history calls a deviation of this z more
//  common than the fixed map does
#define S_HEAVY_Z 4.0
//  Context part (lw_context): step bins (1 = the value alone), span of
//  its bins in sigmas (coarse: the noise stays in a bin or two), table
//  entries per sensor (8 bytes each), rate of its range, points it learns
//  before scoring, and the smallest tail it claims (a sequence model's
//  novelty ranks, it does not measure; below 0.002 it costs NAB points)
#define S_CONTEXT_STEPS 1
#define S_CONTEXT_SPAN 20.0
#define S_CONTEXT_CAPACITY 4096
#define S_CONTEXT_RATE 0.002
#define S_CONTEXT_WARMUP 200
#define S_CONTEXT_TAIL_MIN 0.002
//  Sustained part (lw_glr): CUSUM allowance (sigmas) and the clip of each
//  deviation (one burst adds a bounded amount; NAB: 2.5..3 and 0.5..0.75
//  sit on a plateau, a clip of 4 lets tweet bursts build runs)
#define S_SUSTAINED_K 0.75
#define S_SUSTAINED_CLIP 3.0
//  Time-of-day calibration (lw_tod): bins per period (season_period),
//  neighbour bins on each side (hourly bins: within an hour), days
//  remembered (a week), earlier days an event must recur on beyond the
//  background, and how many decades less rare an earlier event may be
//  and still count
#define S_TOD_BINS 24
#define S_TOD_REACH 1
#define S_TOD_DAYS 7
#define S_TOD_EXCESS 2
#define S_TOD_MARGIN 0.5
//  Intermittent sensors (lw_sparse): share of the recent points (an EWMA
//  over `window` points) at their floor above which a sensor is
//  intermittent, earlier silences needed before one is a record, how many
//  times the longest of them a record must exceed, and the tail of a
//  record (times the 2 tests: 5e-4, a score of 0.73 at the default
//  decades, above the default open_threshold: an alert); with
//  silence_model, the earlier silences must grant a record that tail
//  too (lw_sparse.h)
#define S_SPARSE_SHARE 0.8
#define S_SPARSE_SILENCES 5
#define S_SPARSE_RATIO 1.0
#define S_SPARSE_TAIL 0.00025

static const char *s_part_names[S_PARTS] = {
    LW_DETECTOR_ROBUST_Z, LW_DETECTOR_SHIFT, LW_DETECTOR_FOREST,
    LW_DETECTOR_DRIFT, LW_DETECTOR_SEASON, LW_DETECTOR_CONTEXT,
    LW_DETECTOR_SUSTAINED};

struct _lw_detector_t {
    lw_detect_cfg_t cfg;         //  Settings
    double z_open;               //  z at which the score is open_threshold
    double clip_z;               //  z at which learning clips a deviation
    bool seeded;                 //  Level and absdev hold learned values
    double level;                //  Spike: robust level L
    double absdev;               //  Spike: EWMA of |clipped deviation| D
    double short_level;          //  Shift: short EWMA of the value
    lw_hst_t *forest;            //  Forest part, NULL when off
    lw_season_t *season;         //  Season part, NULL when off
    lw_context_t *context;       //  Context part, NULL when off
    lw_glr_t sustained;          //  Sustained part's CUSUM runs
    lw_tod_t *tod;               //  Time-of-day calibration, NULL when off
    lw_sparse_t *sparse;         //  Intermittent sensors, NULL when off
    bool silence;                //  A record silence set the last score
    lw_faults_t *faults;         //  Fault tests, NULL when off
    bool fault;                  //  They fired on the last point
    lw_calib_t *calib[S_PARTS];  //  One calibrator per part
    bool enabled[S_PARTS];       //  Parts switched on
    double onset_max;            //  Held maximum of the ensemble score
    long onset_age;              //  Points since it was set
    long settling;               //  Scored points before calibration learns
    long flagged_run;            //  Consecutive flagged points
    long warmup_left;            //  Points still needed before scoring
    int top;                     //  Part behind the last score
    long scored;                 //  Points scored since seeding
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
    out->warmup = 20;
    out->floor_abs = 1e-6;
    out->floor_rel = 0.001;
    out->z_scale = 4;
    out->open_threshold = 0.7;
    out->close_threshold = 0.4;
    out->min_duration = 1;
    out->close_after = 10;
    out->cooldown = 20;
    out->update_margin = 0.05;
    out->slow_alpha = 0.005;
    out->short_alpha = 0.25;
    out->spike = true;
    out->shift = true;
    out->forest = true;
    out->drift = true;
    out->calibration = true;
    out->forest_trees = 10;
    out->forest_depth = 8;
    out->forest_window = 128;
    out->seed = 1;
    out->calib_alpha = 0.0002;
    out->decades = 1.73;
    out->refractory = 75;
    out->relearn = 128;
    out->season = true;
    out->season_period = 86400;
    out->season_bins = 1440;
    out->tod = true;
    out->sparse = true;
    out->silence_model = true;
    out->watch_penalty = 0.5;
    out->watch_normal = 0.25;
    out->context = false;
    out->sustained = true;
    out->context_bins = 8;
    out->context_order = 3;
    out->faults = true;
    out->fault_budget = 0.3;
}

//  --------------------------------------------------------------------------
//  Reads a 0/1 switch of the `detect` section.

static int
s_cfg_switch (zconfig_t *cfg, const char *path, bool dflt, bool *out)
{
    long value;
    int rc = lw_cfg_int (cfg, path, dflt ? 1 : 0, 0, 1, &value);
    *out = value != 0;
    return rc;
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
    if (lw_cfg_double (cfg, "detect/slow_alpha", dflt.slow_alpha, 0.00001, 1,
                       &out->slow_alpha))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/short_alpha", dflt.short_alpha, 0.001, 1,
                       &out->short_alpha))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/spike", dflt.spike, &out->spike))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/shift", dflt.shift, &out->shift))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/forest", dflt.forest, &out->forest))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/drift", dflt.drift, &out->drift))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/calibration", dflt.calibration,
                      &out->calibration))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/forest_trees", dflt.forest_trees, 1,
                    LW_HST_TREES_MAX, &out->forest_trees))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/forest_depth", dflt.forest_depth, 1,
                    LW_HST_DEPTH_MAX, &out->forest_depth))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/forest_window", dflt.forest_window, 8,
                    LW_HST_WINDOW_MAX, &out->forest_window))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/seed", dflt.seed, 0, 2147483647L, &out->seed))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/calib_alpha", dflt.calib_alpha, 0, 0.5,
                       &out->calib_alpha))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/decades", dflt.decades, 0.5, 300,
                       &out->decades))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/refractory", dflt.refractory, 0, 1000000,
                    &out->refractory))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/relearn", dflt.relearn, 1, 1000000,
                    &out->relearn))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/season", dflt.season, &out->season))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/season_period", dflt.season_period, 1,
                       1e8, &out->season_period))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/season_bins", dflt.season_bins, 2,
                    LW_SEASON_BINS_MAX, &out->season_bins))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/tod", dflt.tod, &out->tod))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/sparse", dflt.sparse, &out->sparse))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/silence_model", dflt.silence_model,
                      &out->silence_model))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/watch_penalty", dflt.watch_penalty, 0, 2,
                       &out->watch_penalty))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/watch_normal", dflt.watch_normal, 0, 2,
                       &out->watch_normal))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/context", dflt.context, &out->context))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/sustained", dflt.sustained,
                      &out->sustained))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/context_bins", dflt.context_bins, 2,
                    LW_CONTEXT_BINS_MAX, &out->context_bins))
        rc = -1;
    if (lw_cfg_int (cfg, "detect/context_order", dflt.context_order, 1,
                    LW_CONTEXT_ORDER_MAX, &out->context_order))
        rc = -1;
    if (s_cfg_switch (cfg, "detect/faults", dflt.faults, &out->faults))
        rc = -1;
    if (lw_cfg_double (cfg, "detect/fault_budget", dflt.fault_budget, 1e-6,
                       1000, &out->fault_budget))
        rc = -1;
    if (rc == 0 && !(out->close_threshold < out->open_threshold)) {
        zsys_error ("config: detect/close_threshold=%g must be below "
                    "detect/open_threshold=%g",
                    out->close_threshold, out->open_threshold);
        rc = -1;
    }
    if (rc == 0 && !out->spike && !out->shift && !out->forest &&
        !out->drift && !out->season && !out->context && !out->sustained) {
        zsys_error ("config: detect/spike, detect/shift and detect/forest "
                    "are all 0: at least one part must run");
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
//  Points the calibration and the forest still need once seeded.

static long
s_parts_left (lw_detector_t *self)
{
    long left = 0;
    if (self->cfg.calibration) {
        for (int part = 0; part < S_PARTS; part++) {
            //  The season part joins when its signal proves seasonal (it
            //  may never), the context part when its model has learned:
            //  they do not hold the warm-up
            if (!self->enabled[part] || part == S_SEASON ||
                part == S_CONTEXT)
                continue;
            long need = self->settling + S_CALIB_WARMUP -
                        lw_calib_learned (self->calib[part]);
            if (need > left)
                left = need;
        }
    }
    if (self->forest) {
        long need =
            self->cfg.forest_window / 2 - (long)lw_hst_learned (self->forest);
        if (need > left)
            left = need;
    }
    return left;
}

//  --------------------------------------------------------------------------
//  Creates the ensemble detector for one sensor. Returns it (caller owns,
//  lw_detector_destroy) or NULL when out of memory.

lw_detector_t *
lw_detector_new (const lw_detect_cfg_t *cfg)
{
    assert (cfg);
    lw_detector_t *self = (lw_detector_t *)zmalloc (sizeof (lw_detector_t));
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->z_open = s_z_at (cfg, cfg->open_threshold);
    self->clip_z = self->z_open < S_CLIP_Z ? self->z_open : S_CLIP_Z;
    self->enabled[S_SPIKE] = cfg->spike;
    self->enabled[S_SHIFT] = cfg->shift;
    self->enabled[S_FOREST] = cfg->forest;
    self->enabled[S_DRIFT] = cfg->drift;
    self->enabled[S_SEASON] = cfg->season;
    self->enabled[S_CONTEXT] = cfg->context;
    self->enabled[S_SUSTAINED] = cfg->sustained;
    lw_glr_init (&self->sustained, S_SUSTAINED_K, S_SUSTAINED_CLIP);
    bool failed = false;
    //  A calibrator per part switched on (the others stay NULL)
    for (int part = 0; part < S_PARTS; part++)
        if (self->enabled[part]) {
            self->calib[part] =
                lw_calib_new (cfg->calib_alpha, S_CALIB_WARMUP);
            failed |= self->calib[part] == NULL;
        }
    if (cfg->forest) {
        self->forest = lw_hst_new (S_FOREST_DIMS, (int)cfg->forest_trees,
                                   (int)cfg->forest_depth, cfg->forest_window,
                                   (uint64_t)cfg->seed);
        failed |= self->forest == NULL;
    }
    if (cfg->season) {
        self->season = lw_season_new (cfg->season_period, cfg->season_bins,
                                      S_SEASON_BETA, S_SEASON_SHORT,
                                      S_SEASON_RATE, S_SEASON_FLOOR,
                                      S_SEASON_GATE);
        failed |= self->season == NULL;
    }
    if (cfg->context) {
        self->context = lw_context_new (
            cfg->context_bins, S_CONTEXT_STEPS, S_CONTEXT_SPAN,
            cfg->context_order, S_CONTEXT_CAPACITY, S_CONTEXT_RATE,
            S_CONTEXT_WARMUP);
        failed |= self->context == NULL;
    }
    if (cfg->tod && cfg->calibration) {
        self->tod = lw_tod_new (cfg->season_period, S_TOD_BINS, S_TOD_REACH,
                                S_TOD_DAYS, S_TOD_EXCESS, S_TOD_MARGIN);
        failed |= self->tod == NULL;
    }
    if (cfg->sparse && cfg->calibration) {
        self->sparse = lw_sparse_new (cfg->window, S_SPARSE_SHARE,
                                      S_SPARSE_SILENCES, S_SPARSE_RATIO,
                                      cfg->calib_alpha,
                                      cfg->silence_model ? S_SPARSE_TAIL : 0);
        failed |= self->sparse == NULL;
    }
    if (cfg->faults) {
        self->faults = lw_faults_new (cfg);
        failed |= self->faults == NULL;
    }
    self->settling = cfg->warmup;
    if (failed)
        lw_detector_destroy (&self);
    else
        self->warmup_left = cfg->warmup + s_parts_left (self);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the detector; accepts NULL and sets the pointer to NULL.

void
lw_detector_destroy (lw_detector_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_detector_t *self = *self_p;
        for (int part = 0; part < S_PARTS; part++)
            lw_calib_destroy (&self->calib[part]);
        lw_hst_destroy (&self->forest);
        lw_season_destroy (&self->season);
        lw_context_destroy (&self->context);
        lw_tod_destroy (&self->tod);
        lw_sparse_destroy (&self->sparse);
        lw_faults_destroy (&self->faults);
        free (self);
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
//  A forest coordinate: the deviation from the long level in long sigmas,
//  squashed into (0,1).

static double
s_squash (double value, double level, double scale)
{
    return 0.5 + 0.5 * tanh ((value - level) / (S_FOREST_SPAN * scale));
}

//  --------------------------------------------------------------------------
//  Tail probability of a part's raw score without calibration: the fixed
//  maps of a z (spike, shift) and of a forest density.

static double
s_fixed_tail (const lw_detector_t *self, int part, double raw, bool floored)
{
    if (part == S_FOREST)
        return exp2 (self->cfg.forest_depth - raw);
    //  A scale the data gave (not a floor): the normal two-sided tail
    //  of z / S_Z_INFLATE, generous for the tails real signals have (the
    //  calibration can only make it less rare)
    if (!floored)
        return erfc (raw / (M_SQRT2 * S_Z_INFLATE));
    //  A floored scale: z counts floors, not sigmas, and is judged
    //  leniently, so a +1 step on a signal flat for a month is no
    //  maximal alarm
    double ratio = raw / self->cfg.z_scale;
    return exp (-M_LN2 * ratio * ratio);
}

//  --------------------------------------------------------------------------
//  True when the sensor is heavy-tailed: the spike part's calibrated tail
//  of a deviation of S_HEAVY_Z is above the fixed map's (a sensor whose
//  large deviations are common, like bursty counts). False while the
//  spike part is off, not calibrating, or not warm.

static bool
s_heavy_tailed (lw_detector_t *self)
{
    lw_calib_t *calib = self->calib[S_SPIKE];
    if (!self->enabled[S_SPIKE] || !self->cfg.calibration ||
        lw_calib_learned (calib) < S_CALIB_WARMUP)
        return false;
    return lw_calib_tail (calib, S_HEAVY_Z) >
           s_fixed_tail (self, S_SPIKE, S_HEAVY_Z, false);
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
    self->fault = false;
    self->silence = false;
    item->score = 0;
    item->expected_low = value;
    item->expected_high = value;

    //  Features come from another process: check them before use
    bool valid = item->nfeatures >= LW_DETECT_FEATURES && isfinite (value);
    for (int index = 0; valid && index < LW_DETECT_FEATURES; index++)
        valid = isfinite (features[index]);
    if (!valid || features[LW_F_SEEN] < 0 || features[LW_F_STD] < 0 ||
        features[LW_F_QUANTUM] < 0 || features[LW_F_SLOW_STD] < 0 ||
        features[LW_F_DIFF_SD] < 0 || features[LW_F_MAD] < 0) {
        item->flags |= LW_SCORE_WARMUP;
        return;
    }
    double seen = features[LW_F_SEEN];
    double quantum = features[LW_F_QUANTUM];
    if (seen < (double)cfg->warmup) {
        //  Warming up: no score, a range from the rolling statistics. This
        //  holds for a seeded detector too: lw-features restarted from
        //  scratch (its new owner says so), and its long-scale features
        //  mean nothing yet; the detector keeps its own state
        self->warmup_left = cfg->warmup - (long)seen - 1 + s_parts_left (self);
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
        self->absdev = features[LW_F_STD] * LW_ABSDEV_PER_SIGMA;
        self->short_level = features[LW_F_EWMA];
        self->seeded = true;
    }
    //  Spike: robust z of the value against the clipped-learning level
    double scale =
        s_scale (cfg, self->absdev * LW_SIGMA_PER_ABSDEV, self->level, quantum);
    double deviation = value - self->level;
    double raw[S_PARTS] = {0, 0, 0, 0, 0, 0, 0};
    bool floored[S_PARTS] = {false, false, false, false,
                             false, false, false};
    raw[S_SPIKE] = fabs (deviation) / scale;
    floored[S_SPIKE] = self->absdev * LW_SIGMA_PER_ABSDEV < scale;
    //  ... and of the value against the rolling median, in rolling MADs:
    //  a spike must be one under both robust baselines (the clipped
    //  EWMA adapts, the median window forgets), which keeps a burst of
    //  volatility from passing for a spike
    double median_scale =
        s_scale (cfg, features[LW_F_MAD], features[LW_F_MEDIAN], quantum);
    double median_z = fabs (value - features[LW_F_MEDIAN]) / median_scale;
    if (median_z < raw[S_SPIKE]) {
        raw[S_SPIKE] = median_z;
        floored[S_SPIKE] = features[LW_F_MAD] < median_scale;
    }
    item->expected_low = self->level - self->z_open * scale;
    item->expected_high = self->level + self->z_open * scale;

    //  Shift: the short EWMA (this value included) against the long level,
    //  in units of the short mean's own noise
    double long_level = features[LW_F_SLOW_MEAN];
    double long_scale =
        s_scale (cfg, features[LW_F_SLOW_STD], long_level, quantum);
    double short_level =
        self->short_level + cfg->short_alpha * (value - self->short_level);
    double short_noise = sqrt (cfg->short_alpha / (2 - cfg->short_alpha));
    raw[S_SHIFT] = fabs (short_level - long_level) / (long_scale * short_noise);
    floored[S_SHIFT] = features[LW_F_SLOW_STD] < long_scale;

    //  Drift: the same at the medium scale (the EWMA of ewma_alpha, this
    //  value included), for changes too slow for the short scale
    double medium = features[LW_F_EWMA] +
                    cfg->ewma_alpha * (value - features[LW_F_EWMA]);
    double medium_noise = sqrt (cfg->ewma_alpha / (2 - cfg->ewma_alpha));
    raw[S_DRIFT] = fabs (medium - long_level) / (long_scale * medium_noise);
    floored[S_DRIFT] = floored[S_SHIFT];

    //  Sustained: the evidence for a shift of unknown size since it may
    //  have started (lw_glr), on the value's deviation from the long
    //  level; a small shift builds up where the EWMAs average it away
    if (self->enabled[S_SUSTAINED]) {
        raw[S_SUSTAINED] = lw_glr_step (&self->sustained,
                                        (value - long_level) / long_scale);
        floored[S_SUSTAINED] = floored[S_SHIFT];
    }

    //  Forest: the context (this value and the two before) around the
    //  long level
    double point[S_FOREST_DIMS] = {
        s_squash (value, long_level, long_scale),
        s_squash (features[LW_F_LAST], long_level, long_scale),
        s_squash (features[LW_F_LAST2], long_level, long_scale)};
    if (self->forest)
        raw[S_FOREST] = cfg->forest_depth - log2 (lw_hst_density (
                                                self->forest, point) +
                                            S_FOREST_FLOOR);

    //  Season: the value against the same time of day on earlier days
    //  (contextual: a daily peak that does not come); -1 = abstains
    if (self->season)
        raw[S_SEASON] =
            lw_season_raw (self->season, item->time, value,
                           s_scale (cfg, 0, long_level, quantum),
                           &floored[S_SEASON]);

    //  Context: novelty of the value's symbol after the last few (a
    //  value out of its usual sequence); -1 = not ready
    double context_floor = s_scale (cfg, 0, long_level, quantum);
    if (self->context)
        raw[S_CONTEXT] =
            lw_context_raw (self->context, value, context_floor);

    //  Calibrate each part, combine: the rarest part, corrected for the
    //  number of (effective) tests
    long left = s_parts_left (self);
    //  Heavy tails, judged once per point before anything learns it
    bool heavy = s_heavy_tailed (self);
    double tail = 1;
    int parts = 0;
    self->top = S_SPIKE;
    //  An intermittent sensor (lw_sparse: mostly at its floor, the rolling
    //  minimum, with bursts): a burst is judged against the earlier
    //  bursts' sizes (0 = no opinion), a silence against the earlier
    //  silences
    double floor_value = features[LW_F_MIN];
    double burst_tail = 0;
    self->silence = false;
    if (self->sparse) {
        burst_tail = lw_sparse_burst_tail (self->sparse, value, floor_value);
        self->silence = lw_sparse_silence (self->sparse, value, floor_value);
    }
    bool fault[S_PARTS] = {false, false, false, false, false, false, false};
    for (int part = 0; part < S_PARTS; part++) {
        if (!self->enabled[part])
            continue;
        if (part == S_SEASON) {
            //  Only once its signal proved seasonal (else it abstains);
            //  it then competes like any other part, but is not counted
            //  as a test (it joins late and rarely)
            if (raw[S_SEASON] < 0 || !cfg->calibration ||
                lw_calib_learned (self->calib[S_SEASON]) < S_CALIB_WARMUP)
                continue;
            double season_tail =
                lw_calib_tail (self->calib[S_SEASON], raw[S_SEASON]);
            //  Like the z parts, never rarer than the fixed map: the
            //  deviation floors hold (a +1 step on a flat signal)
            double fixed = s_fixed_tail (self, S_SEASON, raw[S_SEASON],
                                         floored[S_SEASON]);
            if (fixed > season_tail)
                season_tail = fixed;
            if (season_tail < tail) {
                tail = season_tail;
                self->top = S_SEASON;
            }
            continue;
        }
        if (part == S_CONTEXT) {
            //  Once ready and calibrated; like the forest it ranks, so it
            //  never claims more than S_CONTEXT_TAIL_MIN, and like the
            //  season part it is not counted as a test. Not on a
            //  heavy-tailed sensor: there (bursty counts) a novel
            //  sequence is the sensor's normal (NAB's tweets lost 5 points)
            if (raw[S_CONTEXT] < 0 || !cfg->calibration ||
                heavy ||
                lw_calib_learned (self->calib[S_CONTEXT]) < S_CALIB_WARMUP)
                continue;
            double context_tail =
                lw_calib_tail (self->calib[S_CONTEXT], raw[S_CONTEXT]);
            if (context_tail < S_CONTEXT_TAIL_MIN)
                context_tail = S_CONTEXT_TAIL_MIN;
            if (context_tail < tail) {
                tail = context_tail;
                self->top = S_CONTEXT;
            }
            continue;
        }
        parts++;
        //  Deviation floors hold under calibration too: the spike and
        //  shift parts are never rarer than their z (in floored scale
        //  units) says, so a +1 step on a signal flat for a month (every
        //  earlier raw score 0) is not a record-breaking alarm. Until its
        //  calibration has S_CALIB_WARMUP raw scores, a part uses the
        //  fixed map alone (the forest, whose fixed map means little on a
        //  half-empty forest, sits out)
        double part_tail =
            s_fixed_tail (self, part, raw[part], floored[part]);
        bool warm = lw_calib_learned (self->calib[part]) >= S_CALIB_WARMUP;
        if (part == S_FOREST &&
            (long)lw_hst_learned (self->forest) < cfg->forest_window / 2)
            warm = false;
        if (cfg->calibration && warm) {
            double calibrated = lw_calib_tail (self->calib[part], raw[part]);
            //  Both the fixed map and the part's own history call this
            //  deviation rare: a fault, not the sensor's tail (see the
            //  learning below)
            fault[part] = part != S_FOREST && part_tail < S_FAULT_TAIL &&
                          calibrated <= S_FAULT_AGREE * part_tail;
            if (part == S_FOREST || calibrated > part_tail)
                part_tail = calibrated;
            //  The forest ranks contexts but does not alert alone: its
            //  densities come from one window of points, too noisy to
            //  claim more than 1 in 1000 (times the parts, it stays below
            //  open_threshold); below that it still ranks novel contexts
            if (part == S_FOREST && part_tail < S_FOREST_TAIL_MIN)
                part_tail = S_FOREST_TAIL_MIN;
        }
        else if (part == S_FOREST && !warm)
            part_tail = 1;
        //  A burst of an intermittent sensor is a spike only as far as
        //  its size is rare among the earlier bursts': its z (against a
        //  floor whose spread is 0, a scale that decayed in the silence)
        //  says how long the silence was. Then it is no fault either:
        //  the sensor's own bursts say it is common
        if (part == S_SPIKE && burst_tail > 0) {
            if (burst_tail > part_tail)
                part_tail = burst_tail;
            fault[part] = false;
        }
        if (part_tail < tail) {
            tail = part_tail;
            self->top = part;
        }
    }
    //  A silence longer than the sensor's earlier silences (a disk that
    //  stopped writing, a valve that no longer opens): rare, whatever the
    //  level parts say (to them a value at the floor is normal)
    if (self->silence && S_SPARSE_TAIL < tail)
        tail = S_SPARSE_TAIL;
    else
        self->silence = false;
    if (parts > 0)
        tail *= parts < S_EFFECTIVE_PARTS ? parts : S_EFFECTIVE_PARTS;
    //  Multiple tests over time: every point scored is another chance for
    //  a chance record, so the longer a detector has watched, the rarer a
    //  point must be, and a young one (whose calibration cannot call
    //  anything rarer than the few points it has seen) is judged less
    //  strictly: a factor (n / LW_WATCH_FROM)^exponent, n held within
    //  LW_WATCH_YOUNG..LW_WATCH_UNTIL (lw_watch.h); the exponent is
    //  watch_penalty where large deviations are common (bursty counts:
    //  chance records come often), watch_normal elsewhere
    if (self->scored < LW_WATCH_UNTIL)
        self->scored++;
    tail *= lw_watch_factor (self->scored, heavy ? cfg->watch_penalty
                                                 : cfg->watch_normal);
    //  Time-of-day calibration: an event that came at this time of day
    //  on earlier days (a daily job's burst) is as rare as such events
    //  are among the points at this time of day, if that is less rare
    //  (lw_tod.h); a one-off, or an event larger than the hour is used
    //  to, keeps its tail
    double plain_tail = tail;
    if (self->tod) {
        double tod_tail = lw_tod_tail (self->tod, item->time, tail);
        if (tod_tail > tail)
            tail = tod_tail;
    }
    double score = lw_calib_score (tail, cfg->decades);

    //  Onset filter: a score that does not clearly beat the maximum of
    //  the last `refractory` points is halved, so a change scores high
    //  when it starts and a lasting one does not keep scoring as high
    double output = score;
    if (cfg->refractory > 0) {
        //  The maximum holds for `refractory` points after it was set
        if (++self->onset_age > cfg->refractory)
            self->onset_max = 0;
        double bar = self->onset_max + S_ONSET_MARGIN * (1 - self->onset_max);
        if (self->onset_max == 0 || score > bar) {
            self->onset_max = score;
            self->onset_age = 0;
        }
        else
            output = S_ONSET_DAMP * score;
    }
    item->score = output;
    if (left > 0)
        item->flags |= LW_SCORE_WARMUP;
    //  The live alert decision's fault tests: a deviation beyond a fixed
    //  budget of false alerts per sensor-day opens an alert whatever the
    //  calibrated score says (lw_faults.h); the score itself is unchanged
    //  (They assume noise near Gaussian: the spike part's calibration,
    //  which has seen the sensor's own history, tells them when its
    //  deviations are heavier-tailed)
    if (self->faults)
        lw_faults_set_heavy (self->faults, heavy);
    self->fault =
        self->faults && lw_faults_step (self->faults, item);
    if (self->fault)
        item->flags |= LW_SCORE_FAULT;

    //  Learn. Points flagged (score at or above open_threshold) teach the
    //  forest and the calibration nothing, unless the change lasted
    //  `relearn` points: then it is the new normal
    bool flagged = score >= cfg->open_threshold;
    //  A chart restarts once it has signalled: when the sustained part
    //  is why this point is flagged, its runs start again from here, so
    //  the shift it reported does not keep it at the top while the slow
    //  level catches up
    if (flagged && self->top == S_SUSTAINED)
        lw_glr_init (&self->sustained, S_SUSTAINED_K, S_SUSTAINED_CLIP);
    self->flagged_run = flagged ? self->flagged_run + 1 : 0;
    bool learn = !flagged || self->flagged_run > cfg->relearn;
    if (learn && self->forest)
        lw_hst_learn (self->forest, point);
    //  The season part learns every point's deviations, but a flagged
    //  point leaves its day profile alone
    if (self->season)
        lw_season_learn (self->season, item->time, value, learn);
    if (self->context)
        lw_context_learn (self->context, value, context_floor, learn);
    //  The calibration learns the raw scores: it models the detectors'
    //  score distribution, not the signal, and a flagged score left out
    //  would make the next one as rare again (one fault, many alarms).
    //  Except faults (fault-aware memory): a raw score that the fixed map
    //  calls rarer than S_FAULT_TAIL while the part's own history agrees
    //  (a well-behaved sensor, not a heavy tail) is not learned, so past
    //  faults do not make the next fault ordinary. A heavy-tailed sensor,
    //  whose history calls such deviations common, learns them as before
    //  It starts `warmup` points after seeding, once the levels and
    //  scales have settled: the first raw scores of a fresh detector are
    //  not the signal's, and a record among them would hide real ones
    if (self->settling > 0)
        self->settling--;
    else {
        bool any_fault = false;
        for (int part = 0; part < S_PARTS; part++) {
            any_fault |= fault[part];
            if (self->enabled[part] && !fault[part] &&
                (part != S_SEASON || raw[S_SEASON] >= 0) &&
                (part != S_CONTEXT || raw[S_CONTEXT] >= 0))
                lw_calib_learn (self->calib[part], raw[part]);
        }
        //  The time-of-day memory learns the plain ensemble tail on the
        //  same terms: a fault (see above) is remembered as no event, so
        //  faults at the same hour do not make the next one ordinary
        if (self->tod)
            lw_tod_learn (self->tod, item->time, any_fault ? 1 : plain_tail);
    }
    if (self->sparse)
        lw_sparse_learn (self->sparse, value, floor_value);
    self->short_level = short_level;
    //  The spike level learns from the clipped value: a flagged point
    //  moves L and D by a bounded step only, yet a lasting shift is learned
    double clip = self->clip_z * scale;
    if (deviation > clip)
        deviation = clip;
    else if (deviation < -clip)
        deviation = -clip;
    self->level += cfg->ewma_alpha * deviation;
    self->absdev += cfg->ewma_alpha * (fabs (deviation) - self->absdev);
    self->warmup_left = s_parts_left (self);
}

//  --------------------------------------------------------------------------
//  Name of the part behind the last score (for alerts).

const char *
lw_detector_name (lw_detector_t *self)
{
    assert (self);
    if (self->fault)
        return lw_faults_name (self->faults);
    if (self->silence)
        return LW_DETECTOR_SILENCE;
    return s_part_names[self->top];
}

//  --------------------------------------------------------------------------
//  Points still needed before the detector scores (0 = warmed up).

long
lw_detector_warmup_left (lw_detector_t *self)
{
    assert (self);
    return self->warmup_left;
}
