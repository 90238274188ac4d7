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
} lw_detect_cfg_t;

//  Reads and validates the `detect` section (defaults for missing keys).
//  Returns 0 or -1 (logged, naming the key).
int
    lw_detect_cfg_load (zconfig_t *cfg, lw_detect_cfg_t *out);
//  Fills defaults
void
    lw_detect_cfg_default (lw_detect_cfg_t *out);

//  Feature extraction state for one sensor
typedef struct _lw_extract_t lw_extract_t;
lw_extract_t *
    lw_extract_new (const lw_detect_cfg_t *cfg);
void
    lw_extract_destroy (lw_extract_t **self_p);
//  Updates with item->time/value and writes item->features/nfeatures
void
    lw_extract_update (lw_extract_t *self, lw_item_t *item);

//  Detector state for one sensor
typedef struct _lw_detector_t lw_detector_t;
lw_detector_t *
    lw_detector_new (const lw_detect_cfg_t *cfg);
void
    lw_detector_destroy (lw_detector_t **self_p);
//  Scores an item carrying features: writes score, expected_low/high and
//  the LW_SCORE_WARMUP flag
void
    lw_detector_score (lw_detector_t *self, lw_item_t *item);
//  Name of the detector (for alerts)
const char *
    lw_detector_name (lw_detector_t *self);
//  Points still needed before it scores (0 = warmed up)
long
    lw_detector_warmup_left (lw_detector_t *self);

//  Alert episode state for one sensor
typedef struct _lw_episode_t lw_episode_t;
lw_episode_t *
    lw_episode_new (const lw_detect_cfg_t *cfg, const char *sensor);
void
    lw_episode_destroy (lw_episode_t **self_p);
//  Feeds one scored item. Returns 0 when nothing changed, or
//  LW_ALERT_OPEN / _UPDATE / _CLOSE with *alert filled (sensor, times,
//  peak score, value, range, detectors). Sets LW_SCORE_ALERT in
//  item->flags while an episode is open.
int
    lw_episode_update (lw_episode_t *self, lw_item_t *item,
                       const char *detector, lw_alert_t *alert);

void
    lw_detect_test (bool verbose);

#endif
