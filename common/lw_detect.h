/*  =========================================================================
    lw_detect.h - detection library: features, detectors, alert episodes

    Copyright (c) the linewatch authors. MIT license.

    The one implementation of detection that both the live actors
    (lw-features computes features, lw-scorer scores them and runs the
    episodes) and `lwctl score` (all three in-process) use, so offline and
    live scores are identical for the same input.

    Per sensor: an lw_extract_t turns (time, value) into a feature vector,
    an lw_detector_t turns the item with its features into a score in [0,1]
    with an expected range, and an lw_episode_t turns scores into alert
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
#define LW_DETECT_FEATURES 8    //  Number of features in the vector

//  Detector names (alert->detectors)
#define LW_DETECTOR_ROBUST_Z "robust_z"

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

//  Detector state for one sensor
typedef struct _lw_detector_t lw_detector_t;
lw_detector_t *
    lw_detector_new (const lw_detect_cfg_t *cfg);
void
    lw_detector_destroy (lw_detector_t **self_p);
//  Scores an item carrying features: writes score, expected_low/high and
//  the LW_SCORE_WARMUP flag. Uses only item->value, item->time and
//  item->features; keeps its own robust level and scale, which it updates
//  with a clipped value so that points it flags do not teach it (a
//  lasting level shift is still learned, slowly). An item with fewer than
//  LW_DETECT_FEATURES features or non-finite ones (a bad peer) scores 0
//  with LW_SCORE_WARMUP and teaches nothing.
void
    lw_detector_score (lw_detector_t *self, lw_item_t *item);
//  Name of the detector (for alerts)
const char *
    lw_detector_name (lw_detector_t *self);
//  Points still needed before it scores (0 = warmed up); judged from
//  LW_F_SEEN, so it is 0 from the first item on a long-seen sensor
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
