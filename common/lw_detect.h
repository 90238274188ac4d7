/*  =========================================================================
    lw_detect.h - detection library: features, detectors, alert episodes

    Copyright (c) the linewatch authors. MIT license.

    The one implementation of detection that both the live actors
    (lw-features computes features, lw-scorer scores them and runs the
    episodes) and `lwctl score` (all three in-process) use, so offline and
    live scores are identical for the same input.

    Per sensor: an lw_extract_t turns (time, value) into a feature vector
    (multi-scale: rolling window, EWMA, slow EWMA; robust: median, MAD),
    an lw_detector_t (an ensemble: robust z, short-vs-long shift,
    Half-Space Trees, each calibrated) turns the item with its features
    into a score in [0,1] with an expected range, and an lw_episode_t turns scores into alert
    episodes (open, update, close) with hysteresis, minimum duration and
    cooldown.
    =========================================================================
*/

#ifndef LW_DETECT_H_INCLUDED
#define LW_DETECT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_msg.h"

//  Detection settings, read from the config's `detect` section
typedef struct {
    long window;                //  Rolling window length (points)
    double ewma_alpha;          //  EWMA smoothing factor
    long warmup;                //  Points before a sensor is scored
    double floor_abs;           //  Absolute deviation floor
    double floor_rel;           //  Relative deviation floor (of |level|)
    double z_scale;             //  z at which the score reaches 0.5
    double open_threshold;      //  Score that opens an episode
    double close_threshold;     //  Score below which it may close
    long min_duration;          //  Points above open before it opens
    long close_after;           //  Points below close before it closes
    long cooldown;              //  Points after a close before a new open
    double update_margin;       //  Peak rise that emits an UPDATE
    //  The ensemble (lw_detector): each part can be switched off
    double slow_alpha;          //  Slow EWMA (long scale) smoothing factor
    double short_alpha;         //  Short EWMA (short scale), scorer side
    bool spike;                 //  Part: robust z of the value
    bool shift;                 //  Part: short vs long level (multi-scale)
    bool forest;                //  Part: Half-Space Trees on a context
    bool drift;                 //  Part: medium vs long level
    bool sustained;             //  Part: sustained shift of unknown size
                                //  (lw_glr)
    bool calibration;           //  Calibrate raw scores to tail probabilities
    long forest_trees;          //  Trees in the forest
    long forest_depth;          //  Depth of each tree
    long forest_window;         //  Points per forest mass window
    long seed;                  //  Seed of the forest (same seed, same trees)
    double calib_alpha;         //  Forgetting rate of the calibration
    double decades;             //  Tail probability 10^-decades scores 1
    long refractory;            //  Points the onset filter holds a maximum,
                                //  0 = off
    long relearn;               //  Flagged points in a row after which
                                //  they are learned (a lasting change)
    bool season;                //  Part: value against the time of day
    double season_period;       //  Its period (seconds)
    long season_bins;           //  Most bins of its profile (period /
                                //  sampling interval), else it abstains
    bool tod;                   //  Time-of-day calibration (lw_tod): an
                                //  event recurring at this time of day
                                //  on earlier days is ordinary
    bool sparse;                //  Intermittent sensors (lw_sparse): bursts
                                //  against earlier bursts, silences
                                //  against earlier silences
    bool silence_model;         //  ... a record silence must also be rare
                                //  by the earlier silences' mean and
                                //  spread (not many, short ones' record)
    double watch_penalty;       //  On a heavy-tailed sensor: tail x
                                //  (points scored / 2000) ^ this, points
                                //  held within 250..10000; 0 = off
    double watch_normal;        //  The same on a well-behaved sensor
    bool context;               //  Part: sequence novelty (lw_context)
    long context_bins;          //  Its value bins
    long context_order;         //  Its longest context (symbols)
    //  The live alert decision's fault tests (lw_faults.h)
    bool faults;                //  Fault tests open alerts (0 = score only)
    double fault_budget;        //  Their false alerts per sensor-day
} lw_detect_cfg_t;

//  Reads and validates the `detect` section (defaults for missing keys).
//  Returns 0 or -1 (logged, naming the key).
int
    lw_detect_cfg_load (zconfig_t *cfg, lw_detect_cfg_t *out);
//  Fills defaults
void
    lw_detect_cfg_default (lw_detect_cfg_t *out);

//  Feature vector written by lw_extract_update (item->features,
//  nfeatures = LW_DETECT_FEATURES). Every statistic describes the points
//  BEFORE this one (the baseline the value is judged against; 0 when none
//  was seen), so a detector compares item->value with them directly.
//  The vector carries everything a detector needs to score without the raw
//  history: lw-features computes it, lw-scorer (another process) scores
//  it. A detector seeds its own state from it, so a scorer that takes over
//  a sensor mid-stream scores from its first item on.
#define LW_F_SEEN 0             //  Points seen before this one
#define LW_F_MEAN 1             //  Rolling mean over `window` points
#define LW_F_STD 2              //  Rolling standard deviation (population)
#define LW_F_EWMA 3             //  EWMA of the value (ewma_alpha)
#define LW_F_EWSTD 4            //  Square root of the EWMA variance
#define LW_F_QUANTUM 5          //  Smallest non-zero |step| seen, 0 = none
#define LW_F_DT 6               //  Seconds since the previous point, 0 first
#define LW_F_LAST 7             //  Previous value
#define LW_F_LAST2 8            //  The value before the previous one
#define LW_F_MEDIAN 9           //  Rolling median over `window` points
#define LW_F_MAD 10             //  Rolling MAD, scaled to sigma (x1.4826)
#define LW_F_SLOW_MEAN 11       //  Slow EWMA of the value (slow_alpha)
#define LW_F_SLOW_STD 12        //  Square root of its EWMA variance
#define LW_F_DIFF_SD 13         //  Noise sigma from |steps| (EWMA)
#define LW_F_MIN 14             //  Rolling minimum
#define LW_F_MAX 15             //  Rolling maximum
#define LW_DETECT_FEATURES 16   //  Number of features in the vector

//  Detector names (alert->detectors): the ensemble's parts
#define LW_DETECTOR_ROBUST_Z "robust_z"     //  Spike: robust z of the value
#define LW_DETECTOR_SHIFT "shift"           //  Short vs long level
#define LW_DETECTOR_FOREST "forest"         //  Half-Space Trees
#define LW_DETECTOR_DRIFT "drift"           //  Medium vs long level
#define LW_DETECTOR_SEASON "season"         //  Value vs the time of day
#define LW_DETECTOR_CONTEXT "context"       //  Value out of its sequence
#define LW_DETECTOR_SUSTAINED "sustained"   //  Sustained shift, any size
#define LW_DETECTOR_SILENCE "silence"       //  Intermittent sensor silent
                                            //  longer than ever (lw_sparse)

//  Feature extraction state for one sensor. The _new functions below
//  return an object the caller owns (destroy it), or NULL when out of
//  memory; all state is fixed-size, allocated there once.
typedef struct _lw_extract_t lw_extract_t;
lw_extract_t *
    lw_extract_new (const lw_detect_cfg_t *cfg);
void
    lw_extract_destroy (lw_extract_t **self_p);
//  Writes item->features/nfeatures from the state (the points before this
//  one), then learns item->time/value. A non-finite value is not learned.
//  No allocation: the window is allocated by _new.
void
    lw_extract_update (lw_extract_t *self, lw_item_t *item);

//  Detector state for one sensor: an ensemble of seven parts, each
//  switchable (detect/spike, shift, drift, sustained, forest, season,
//  context), whose raw
//  scores are calibrated (detect/calibration) into tail probabilities
//  and combined:
//    robust_z  |value - L| / scale, L and scale learned from the value
//              clipped at 3 scales (a flagged point moves them a bounded
//              step), scale floored (floor_abs, floor_rel * |L|, quantum)
//    shift     |short EWMA (short_alpha, this value included) - slow
//              level (LW_F_SLOW_MEAN)| in units of the short mean's noise
//    drift     the same with the medium EWMA (ewma_alpha): slow changes
//    sustained lw_glr: a two-sided CUSUM (allowance 0.75 sigma) of the
//              value's deviation from the slow level in its sigmas,
//              clipped to +-3, whose open run is judged as one mean: the
//              z of a shift of unknown size since it may have started;
//              its runs restart when it flags a point (a chart restarts
//              once it has signalled)
//    forest    Half-Space Trees (lw_hst, seeded by detect/seed) on the
//              context (value, previous, one before) around the slow
//              level; raw = depth - log2 (density)
//    season    lw_season: the value against the same time of day on
//              earlier days (a daily peak that does not come); it scores
//              only a signal its day profile explains (else abstains),
//              and does not hold the warm-up
//    context   lw_context: novelty (bits) of the value's coarse bin after
//              the last context_order bins, from a bounded transition
//              table; off by default (NAB +0.2 only), never rarer than
//              0.002, silent on a heavy-tailed sensor, not a test
//  Each raw score's tail probability comes from its own histogram of past
//  raw scores (lw_calib); for the z parts (spike, shift, drift, sustained,
//  season) it is never below the fixed map (the normal tail of z / 1.5 on
//  a learned scale, exp (-ln2 (z / z_scale)^2) on a floored one), so the
//  deviation floors hold. The ensemble's p is the smallest part's times 2
//  (the z parts see one deviation at several scales: about two
//  independent tests); score =
//  1 - 2^(-(-log10 p) / decades). Multiple tests over time: p is
//  multiplied by lw_watch_factor (points scored, exponent), below 1 for
//  a young detector, above for an old one; the exponent is
//  watch_penalty on a heavy-tailed sensor (the spike part's own history
//  calls a 4-sigma deviation more common than the fixed map),
//  watch_normal elsewhere. With detect/tod (lw_tod),
//  on a regularly sampled sensor, p is calibrated against the same time
//  of day too: an event that came within an hour of this time on at
//  least 2 of the last 7 days more than at other times of day (a daily
//  job's burst), at most half a decade less rare, gets p = max (p, the
//  rate of such days among the points at this time of day): ordinary at
//  its hour, not elsewhere. With detect/sparse (lw_sparse), on an
//  intermittent sensor (more than 80 % of its recent points equal their
//  floor, the rolling minimum: a disk that writes now and then, a valve,
//  a batch pump), a burst's spike tail is no rarer than the share of
//  earlier bursts at least as large, and the point where a silence gets
//  longer than the longest of its last 128 silences p = 2.5e-4 (named
//  "silence"); with detect/silence_model, once 10 silences were seen, it
//  must also be longer than their mean + spread x ln (1 / 2.5e-4) (their
//  standard deviation, at most the mean: beyond its mean a silence's
//  tail falls off exponentially, so the record is as rare as p says).
//  An onset filter halves a score that does not beat the maximum of the
//  last `refractory` points, so a change scores high where it starts.
typedef struct _lw_detector_t lw_detector_t;
lw_detector_t *
    lw_detector_new (const lw_detect_cfg_t *cfg);
void
    lw_detector_destroy (lw_detector_t **self_p);
//  Scores an item carrying features: writes score, expected_low/high and
//  the LW_SCORE_WARMUP flag. Uses only item->value, item->time and
//  item->features, plus the detector's own state. Points whose ensemble
//  score reaches open_threshold (flagged) teach the forest nothing and
//  the levels a clipped step only, until `relearn` flagged points in a
//  row say the change lasts; the calibration learns the raw scores (it
//  models the score distribution, not the signal) except faults: a z
//  part's raw score that the fixed map calls rarer than 1e-3 while the
//  part's own history agrees (a well-behaved sensor, not a heavy tail)
//  is not learned, so past faults do not make the next one ordinary
//  (fault-aware memory). Deterministic: the
//  same seed and input give the same scores. An item with fewer than
//  LW_DETECT_FEATURES features or non-finite ones (a bad peer) scores 0
//  with LW_SCORE_WARMUP and teaches nothing; so does one whose LW_F_SEEN
//  is below `warmup` (lw-features restarted from scratch). With
//  detect/faults, the fault tests (lw_faults.h) also judge the point and
//  set LW_SCORE_FAULT when one is beyond detect/fault_budget: the episode
//  then opens (or stays open) whatever the score; the score is unchanged.
void
    lw_detector_score (lw_detector_t *self, lw_item_t *item);
//  Name of the part behind the last score (for alerts), or of the fault
//  test when one fired
const char *
    lw_detector_name (lw_detector_t *self);
//  Points still needed before it scores (0 = warmed up): the features'
//  warm-up (judged from LW_F_SEEN, so a fresh detector on a long-seen
//  sensor skips it), then `warmup` points for its levels to settle and
//  30 raw scores to calibrate on, or the forest's half window if longer.
//  Exact: it goes down by one per point.
long
    lw_detector_warmup_left (lw_detector_t *self);

//  Alert episode state for one sensor
typedef struct _lw_episode_t lw_episode_t;
lw_episode_t *
    lw_episode_new (const lw_detect_cfg_t *cfg, const char *sensor);
void
    lw_episode_destroy (lw_episode_t **self_p);
//  Feeds one scored item. Returns 0 when nothing changed, or
//  LW_ALERT_OPEN / _UPDATE / _CLOSE with *alert filled (state, sensor,
//  opened, updated, closed, peak score, value and expected range at the
//  peak, detectors[0] = detector). alert->id, scorer, local_seq and label
//  are left as the caller set them, so a caller that keeps one lw_alert_t
//  per sensor numbers an episode once, at OPEN. `opened` is the time of
//  the first point of the run that opened it; UPDATE is emitted only when
//  the peak rose by update_margin since the last OPEN/UPDATE. Sets
//  LW_SCORE_ALERT in item->flags while an episode is open (not on the
//  point that closes it).
int
    lw_episode_update (lw_episode_t *self, lw_item_t *item,
                       const char *detector, lw_alert_t *alert);

void
    lw_detect_test (bool verbose);

#endif
