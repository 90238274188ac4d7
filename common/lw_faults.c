/*  =========================================================================
    lw_faults.c - fault tests for the live alert decision (part of lw_detect)

    Copyright (c) the linewatch authors. MIT license.

    See lw_faults.h. The residual of a point is its value minus a Holt
    forecast (level + trend, so the slow shift and daily patterns of a
    production signal are followed, not called deviations), made from
    the points learned up to S_NEAR_DELAY (or S_FAR_DELAY) points ago.
    Each residual's scale is learned
    from the residuals themselves (sqrt(pi/2) * mean |r|, clipped), so it
    is the sensor's noise around its pattern plus the forecast's own
    error: the scale the tests need. Tail probabilities are parametric
    (normal, chi-square by Wilson-Hilferty); the budget turns a rate of
    false alerts per sensor-day into a per-point probability with the
    sensor's own sampling interval.
    =========================================================================
*/

#include "lw_faults.h"

#include <math.h>

//  Two forecasts, learning each point this many points late (the ring of
//  pending points holds the far one's): the near one judges single
//  points and the noise, the far one levels and drifts
#define S_NEAR_DELAY 4
#define S_FAR_DELAY 48
//  Holt smoothing of the near and far forecasts: level and trend
#define S_NEAR_ALPHA 0.1
#define S_NEAR_BETA 0.01
#define S_FAR_ALPHA 0.1
#define S_FAR_BETA 0.01
//  Residual scale: EWMA of |r| (sqrt(pi/2) * mean |r| = sigma)
#define S_SCALE_ALPHA 0.01
#define S_SIGMA_PER_ABSDEV 1.2533141373155003
//  Learning and the level test clip z here (Huber)
#define S_CLIP_Z 4.0
//  Level test: EWMA of z
#define S_MEAN_ALPHA 0.125
//  Noise test: EWMA of z^2, each z^2 clipped here
#define S_VAR_ALPHA 0.1
#define S_VAR_CLIP 25.0
//  Forgetting of the level and noise tests' learned spread
#define S_SPREAD_ALPHA 0.005
//  Tests sharing the budget
#define S_TESTS 5
//  Points the far forecast learned before the tests may fire
#define S_READY 64
//  The rarest a per-point budget may be: a fault is at least as rare as
//  1 point in 40,000 (|z| 4.2), however slow the sensor (0.1 a day on
//  an hourly sensor would be 1 in 720: noise, not a fault)
#define S_POINT_TAIL_MAX 2.5e-5
//  Noise model check: the rate of moderate deviations (a tail at most
//  that of 3 sigma) among learned points, over the rate the tests give
//  Gaussian noise, may be at most S_MODEL_MAX ...
#define S_MODERATE 0.0027
//  ... of the rarest of the first S_MODEL_TESTS tests (spike, level,
//  noise: about that many independent tests)
#define S_MODEL_TESTS 3
#define S_MODEL_MAX 4.0
//  ... learned with this forgetting, from a prior of this many points
//  at the Gaussian rate
#define S_MODEL_ALPHA 0.0002
#define S_MODEL_PRIOR 1000.0
//  Seconds per day, and the bounds of a believable sampling interval
#define S_DAY 86400.0
#define S_DT_MIN 0.001
//  Interval EWMA
#define S_DT_ALPHA 0.05

//  The tests: spike and noise on both forecasts, the level on the far one
//  (a point or a burst far off the far forecast is a level shift or a
//  drift the near one followed)
enum { S_SPIKE, S_LEVEL, S_NOISE, S_FAR_SPIKE, S_FAR_NOISE };
static const char *s_test_names[S_TESTS] = {LW_FAULT_SPIKE, LW_FAULT_LEVEL,
                                            LW_FAULT_NOISE, LW_FAULT_LEVEL,
                                            LW_FAULT_LEVEL};

//  A Holt forecast (level + trend) and the scale of its residuals
typedef struct {
    double alpha;   //  Level smoothing
    double beta;    //  Trend smoothing
    double level;   //  Level at point `at`
    double trend;   //  Trend per point
    long at;        //  Point the level belongs to
    long learned;   //  Points learned
    double scale;   //  Learned residual sigma
} s_forecast_t;

struct _lw_faults_t {
    double floor_abs;              //  Deviation floors (cfg)
    double floor_rel;
    double budget;                 //  False alerts per sensor-day
    long relearn;                  //  Flagged run after which it restarts
    bool seeded;                   //  The forecasts hold a level
    s_forecast_t near;             //  Spike and noise tests' forecast
    s_forecast_t far;              //  Level test's forecast
    long step;                     //  Points judged
    double mean;                   //  Level test: EWMA of z (far)
    double mean_var;               //  Its learned variance
    double var;                    //  Noise test: EWMA of z^2 (near)
    double var_mean;               //  Its learned mean
    double far_var;                //  The same on the far forecast
    double far_var_mean;
    double dt;                     //  EWMA of the sampling interval, s
    long flagged_run;              //  Consecutive flagged points
    double moderate;               //  Weight of learned moderate deviations
    double far_moderate;           //  (the far spike and noise tests')
    double weight;                 //  Weight of learned points
    double pending[S_FAR_DELAY];   //  Values not learned by far, a ring
    long pending_step[S_FAR_DELAY]; //  Their point numbers
    int pending_first;             //  Oldest in the ring
    int pending_count;             //  Values in the ring
    int top;                       //  Test behind the last judgement
    double tail;                   //  Its tail
};

//  --------------------------------------------------------------------------
//  Creates the fault tests of one sensor; see lw_faults.h.

lw_faults_t *
lw_faults_new (const lw_detect_cfg_t *cfg)
{
    assert (cfg);
    lw_faults_t *self = (lw_faults_t *)zmalloc (sizeof (lw_faults_t));
    if (self) {
        self->floor_abs = cfg->floor_abs;
        self->floor_rel = cfg->floor_rel;
        self->budget = cfg->fault_budget;
        self->relearn = cfg->relearn;
        self->near.alpha = S_NEAR_ALPHA;
        self->near.beta = S_NEAR_BETA;
        self->far.alpha = S_FAR_ALPHA;
        self->far.beta = S_FAR_BETA;
        self->tail = 1;
        self->weight = S_MODEL_PRIOR;
        self->moderate = S_MODEL_PRIOR * S_MODEL_TESTS * S_MODERATE;
        self->far_moderate =
            S_MODEL_PRIOR * (S_TESTS - S_MODEL_TESTS) * S_MODERATE;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys it; accepts NULL and sets the pointer to NULL.

void
lw_faults_destroy (lw_faults_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_faults_t *self = *self_p;
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Starts (or restarts) the forecasts at a value: level there, no trend,
//  nothing pending. Scales and the tests' spreads are kept when known.

static void
s_restart (lw_faults_t *self, double value, double noise)
{
    s_forecast_t *forecasts[2] = {&self->near, &self->far};
    for (int index = 0; index < 2; index++) {
        forecasts[index]->level = value;
        forecasts[index]->trend = 0;
        forecasts[index]->at = self->step;
        if (!self->seeded)
            forecasts[index]->scale = noise;
    }
    self->pending_count = 0;
    self->mean = 0;
    self->flagged_run = 0;
    if (!self->seeded) {
        self->mean_var = S_MEAN_ALPHA / (2 - S_MEAN_ALPHA);
        self->var_mean = 1;
        self->var = 1;
        self->far_var_mean = 1;
        self->far_var = 1;
        self->seeded = true;
    }
}

//  --------------------------------------------------------------------------
//  The forecast for point `step`.

static double
s_forecast (const s_forecast_t *forecast, long step)
{
    return forecast->level + (double)(step - forecast->at) * forecast->trend;
}

//  --------------------------------------------------------------------------
//  Holt update with the point `step` (after the level's point, perhaps
//  with skipped points between: the forecast spans them).

static void
s_learn (s_forecast_t *forecast, double value, long step)
{
    double ahead = (double)(step - forecast->at);
    double predicted = s_forecast (forecast, step);
    double residual = value - predicted;
    double clip = S_CLIP_Z * forecast->scale;
    if (residual > clip)
        residual = clip;
    else if (residual < -clip)
        residual = -clip;
    double level = predicted + forecast->alpha * residual;
    double slope = (level - forecast->level) / ahead;
    forecast->trend += forecast->beta * (slope - forecast->trend);
    forecast->level = level;
    forecast->at = step;
    forecast->learned++;
}

//  --------------------------------------------------------------------------
//  Learns the size of a residual into the forecast's scale (clipped).

static void
s_learn_scale (s_forecast_t *forecast, double residual)
{
    double deviation = fabs (residual);
    if (deviation > S_CLIP_Z * forecast->scale)
        deviation = S_CLIP_Z * forecast->scale;
    forecast->scale +=
        S_SCALE_ALPHA * (S_SIGMA_PER_ABSDEV * deviation - forecast->scale);
}

//  --------------------------------------------------------------------------
//  Upper tail of a chi-square with `dof` degrees of freedom at dof *
//  ratio (Wilson-Hilferty).

static double
s_chi2_tail (double ratio, double dof)
{
    if (ratio <= 0)
        return 1;
    double spread = 2 / (9 * dof);
    double z = (cbrt (ratio) - (1 - spread)) / sqrt (spread);
    return 0.5 * erfc (z / M_SQRT2);
}

//  --------------------------------------------------------------------------
//  Judges one point, then learns it unless flagged; see lw_faults.h.

bool
lw_faults_step (lw_faults_t *self, double value, const double *features)
{
    assert (self);
    assert (features);
    double quantum = features[LW_F_QUANTUM];
    double dt = features[LW_F_DT];
    if (dt > 0) {
        if (dt < S_DT_MIN)
            dt = S_DT_MIN;
        if (dt > S_DAY)
            dt = S_DAY;
        self->dt = self->dt > 0 ? self->dt + S_DT_ALPHA * (dt - self->dt) : dt;
    }
    self->top = S_SPIKE;
    self->tail = 1;
    if (!self->seeded) {
        s_restart (self, value, features[LW_F_DIFF_SD]);
        self->step++;
        return false;
    }

    //  The residuals against the delayed forecasts, on their learned
    //  scales floored: a floored scale counts floors, not noise, and
    //  never fires
    double near_residual = value - s_forecast (&self->near, self->step);
    double far_residual = value - s_forecast (&self->far, self->step);
    double floor = self->floor_abs;
    if (floor < self->floor_rel * fabs (value))
        floor = self->floor_rel * fabs (value);
    if (floor < quantum)
        floor = quantum;
    bool floored = self->near.scale < floor || self->far.scale < floor;
    double z = near_residual / (floored ? floor : self->near.scale);
    double far_z = far_residual / (floored ? floor : self->far.scale);
    double clipped = far_z > S_CLIP_Z    ? S_CLIP_Z
                     : far_z < -S_CLIP_Z ? -S_CLIP_Z
                                         : far_z;
    double square = z * z < S_VAR_CLIP ? z * z : S_VAR_CLIP;
    double far_square = far_z * far_z < S_VAR_CLIP ? far_z * far_z : S_VAR_CLIP;
    self->mean += S_MEAN_ALPHA * (clipped - self->mean);
    self->var += S_VAR_ALPHA * (square - self->var);
    self->far_var += S_VAR_ALPHA * (far_square - self->far_var);

    //  The tests' tails; the rarest one is the judgement
    double tails[S_TESTS];
    tails[S_SPIKE] = erfc (fabs (z) / M_SQRT2);
    tails[S_LEVEL] =
        erfc (fabs (self->mean) / (sqrt (self->mean_var) * M_SQRT2));
    tails[S_NOISE] = s_chi2_tail (self->var / self->var_mean,
                                  (2 - S_VAR_ALPHA) / S_VAR_ALPHA);
    tails[S_FAR_SPIKE] = erfc (fabs (far_z) / M_SQRT2);
    tails[S_FAR_NOISE] = s_chi2_tail (self->far_var / self->far_var_mean,
                                      (2 - S_VAR_ALPHA) / S_VAR_ALPHA);
    //  The tests assume noise near Gaussian around the forecasts: when a
    //  sensor's moderate deviations run at more than S_MODEL_MAX times
    //  the Gaussian rate (counts, bursty load, regime switches, a pattern
    //  the far forecast cannot follow), that group of tests is outside
    //  its model, and leaves the sensor's alerts to the calibrated score
    double model =
        self->moderate / (self->weight * S_MODEL_TESTS * S_MODERATE);
    double far_model = self->far_moderate /
                       (self->weight * (S_TESTS - S_MODEL_TESTS) * S_MODERATE);
    double moderate = 1, far_moderate = 1;
    for (int test = 0; test < S_TESTS; test++) {
        double *group = test < S_MODEL_TESTS ? &moderate : &far_moderate;
        if (tails[test] < *group)
            *group = tails[test];
        if ((test < S_MODEL_TESTS ? model : far_model) > S_MODEL_MAX)
            continue;
        if (tails[test] < self->tail) {
            self->tail = tails[test];
            self->top = test;
        }
    }
    //  The budget: false alerts per sensor-day, per point of this
    //  sensor's interval, shared by the tests
    double budget = self->budget * self->dt / S_DAY / S_TESTS;
    if (budget > S_POINT_TAIL_MAX)
        budget = S_POINT_TAIL_MAX;
    bool fault =
        !floored && self->far.learned >= S_READY && self->tail <= budget;

    //  Learn: an unflagged point waits, then teaches the near forecast
    //  S_NEAR_DELAY points later and the far one S_FAR_DELAY points
    //  later; a flagged one drops the waiting points too (the start of a
    //  drift is not learned either) and teaches nothing
    self->flagged_run = fault ? self->flagged_run + 1 : 0;
    if (fault && self->flagged_run > self->relearn)
        s_restart (self, value, 0);
    else if (fault)
        self->pending_count = 0;
    else {
        self->moderate = (1 - S_MODEL_ALPHA) * self->moderate +
                         (moderate <= S_MODERATE ? 1 : 0);
        self->far_moderate = (1 - S_MODEL_ALPHA) * self->far_moderate +
                             (far_moderate <= S_MODERATE ? 1 : 0);
        self->weight = (1 - S_MODEL_ALPHA) * self->weight + 1;
        if (!floored) {
            s_learn_scale (&self->near, near_residual);
            s_learn_scale (&self->far, far_residual);
            double white = S_MEAN_ALPHA / (2 - S_MEAN_ALPHA);
            double spread = self->mean * self->mean;
            if (spread > 9 * self->mean_var)
                spread = 9 * self->mean_var;
            self->mean_var += S_SPREAD_ALPHA * (spread - self->mean_var);
            if (self->mean_var < white)
                self->mean_var = white;
            self->var_mean += S_SPREAD_ALPHA * (square - self->var_mean);
            if (self->var_mean < 1)
                self->var_mean = 1;
            self->far_var_mean +=
                S_SPREAD_ALPHA * (far_square - self->far_var_mean);
            if (self->far_var_mean < 1)
                self->far_var_mean = 1;
        }
        if (self->pending_count == S_FAR_DELAY) {
            s_learn (&self->far, self->pending[self->pending_first],
                     self->pending_step[self->pending_first]);
            self->pending_first = (self->pending_first + 1) % S_FAR_DELAY;
            self->pending_count--;
        }
        int slot = (self->pending_first + self->pending_count) % S_FAR_DELAY;
        self->pending[slot] = value;
        self->pending_step[slot] = self->step;
        self->pending_count++;
        //  The near forecast learns the point S_NEAR_DELAY pushes back
        if (self->pending_count > S_NEAR_DELAY) {
            int near = (self->pending_first + self->pending_count - 1 -
                        S_NEAR_DELAY) % S_FAR_DELAY;
            s_learn (&self->near, self->pending[near],
                     self->pending_step[near]);
        }
    }
    self->step++;
    return fault;
}

//  --------------------------------------------------------------------------
//  Test behind the last judgement.

const char *
lw_faults_name (lw_faults_t *self)
{
    assert (self);
    return s_test_names[self->top];
}

//  --------------------------------------------------------------------------
//  Tail of the last judgement's rarest test.

double
lw_faults_tail (lw_faults_t *self)
{
    assert (self);
    return self->tail;
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
//  Self test helper: one point at 60 s intervals, with the features the
//  tests read (interval, quantum, noise from steps); returns the verdict.

static bool
s_feed (lw_faults_t *faults, double value, double quantum)
{
    double features[LW_DETECT_FEATURES] = {0};
    features[LW_F_DT] = 60;
    features[LW_F_QUANTUM] = quantum;
    features[LW_F_DIFF_SD] = 1;
    return lw_faults_step (faults, value, features);
}

//  --------------------------------------------------------------------------
//  Self test helper: `count` points of a sinusoid (a shift pattern of 3
//  sigma, period 480 points) plus N(0, 1) noise; returns how many were
//  flagged. *time counts the points.

static long
s_noise (lw_faults_t *faults, uint64_t *state, long *time, long count)
{
    long flagged = 0;
    for (long index = 0; index < count; index++, (*time)++) {
        double pattern = 100 + 3 * sin (2 * M_PI * (double)*time / 480);
        flagged += s_feed (faults, pattern + s_gauss (state), 0);
    }
    return flagged;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_faults_test (bool verbose)
{
    printf (" * lw_faults: ");
    if (verbose)
        printf ("\n");
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    assert (cfg.faults && cfg.fault_budget > 0);

    //  Gaussian noise on a pattern: within the budget (0.1 false alerts
    //  per sensor-day at 60 s is one flagged point in about 10 days;
    //  20 days here)
    lw_faults_t *faults = lw_faults_new (&cfg);
    assert (faults);
    uint64_t state = 7;
    long time = 0;
    long quiet = s_noise (faults, &state, &time, 28800);
    if (verbose)
        printf ("   noise: %ld of 28800 flagged\n", quiet);
    assert (quiet <= 10);

    //  Each fault type is flagged; after each, the noise settles again
    struct {
        const char *name;
        double size;  //  Sigmas
        long length;  //  Points
        int kind;     //  0 spike/shift (offset), 1 drift, 2 burst
    } cases[] = {{LW_FAULT_SPIKE, 8, 1, 0},
                 {LW_FAULT_LEVEL, 4, 120, 0},
                 {LW_FAULT_LEVEL, 10, 60, 1},
                 {LW_FAULT_NOISE, 4, 60, 2}};
    for (size_t index = 0; index < sizeof (cases) / sizeof (cases[0]);
         index++) {
        bool found = false;
        const char *name = NULL;
        for (long at = 0; at < cases[index].length; at++, time++) {
            double pattern = 100 + 3 * sin (2 * M_PI * (double)time / 480);
            double noise = s_gauss (&state);
            double value = pattern + noise + cases[index].size;
            if (cases[index].kind == 1)
                value = pattern + noise +
                        cases[index].size * (double)(at + 1) /
                            (double)cases[index].length;
            else if (cases[index].kind == 2)
                value = pattern + cases[index].size * noise;
            if (s_feed (faults, value, 0) && !found) {
                found = true;
                name = lw_faults_name (faults);
                assert (lw_faults_tail (faults) < 1e-5);
            }
        }
        if (verbose)
            printf ("   case %zu: %s\n", index, found ? name : "missed");
        //  (A shift also raises z^2 at once: its first flag may be the
        //  noise test's; a spike is the spike test's)
        assert (found);
        if (cases[index].length == 1)
            assert (streq (name, cases[index].name));
        s_noise (faults, &state, &time, 2000);
    }
    lw_faults_destroy (&faults);
    assert (faults == NULL);
    lw_faults_destroy (&faults);

    //  A floored scale never fires: a flat signal, then +1 (a floor of
    //  floor_rel * 100 = 0.1, so z = 10 in floors)
    faults = lw_faults_new (&cfg);
    assert (faults);
    for (long index = 0; index < 2000; index++)
        assert (!s_feed (faults, 100, 0));
    assert (!s_feed (faults, 101, 1));
    //  Nor do steps of a quantised signal's quantum
    for (long index = 0; index < 5000; index++)
        assert (!s_feed (faults, 100 + round (0.3 * s_gauss (&state)), 1));
    lw_faults_destroy (&faults);

    //  Heavy-tailed noise (Student t with 2 degrees of freedom) is outside
    //  the tests' noise model: they stay nearly silent
    faults = lw_faults_new (&cfg);
    assert (faults);
    long heavy = 0;
    for (long index = 0; index < 20000; index++) {
        double normal = s_gauss (&state);
        double first = s_gauss (&state), second = s_gauss (&state);
        double chi2 = first * first + second * second;
        heavy += s_feed (faults, 100 + normal / sqrt (chi2 / 2 + 1e-9), 0);
    }
    if (verbose)
        printf ("   heavy tails: %ld of 20000 flagged\n", heavy);
    assert (heavy <= 20);
    lw_faults_destroy (&faults);
    printf ("OK\n");
}
