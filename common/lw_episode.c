/*  =========================================================================
    lw_episode.c - alert episodes from scores (part of lw_detect)

    Copyright (c) the linewatch authors. MIT license.

    Turns a sensor's stream of scores into alert episodes, so that a fault
    gives one alert and not a thousand, and a second fault after the first
    is still a second alert:
      closed -> open    score >= open_threshold (or LW_SCORE_FAULT: a
                        fault test fired, lw_faults.h) for min_duration
                        consecutive points, and at least `cooldown` points
                        since the last close (points during the cooldown do
                        not count towards min_duration)
      open -> open      UPDATE when the peak score rose by update_margin
                        since the last OPEN or UPDATE
      open -> closed    close_after consecutive points below
                        close_threshold (hysteresis: close < open)
    Runs in lw-scorer live and in lwctl score offline. Fixed-size state, no
    allocation per point.
    =========================================================================
*/

#include "lw_detect.h"

#include <math.h>

struct _lw_episode_t {
    lw_detect_cfg_t cfg;         //  Thresholds and counts
    char sensor[LW_KEY_MAX + 1]; //  Key the alerts carry
    bool open;                   //  An episode is open
    long run;                    //  Closed: consecutive points >= open
    long below;                  //  Open: consecutive points < close
    long since_close;            //  Points since the last close
    bool closed_once;            //  A close happened (cooldown applies)
    int64_t opened;              //  First point of the run that opened it
    int64_t updated;             //  Time of the last OPEN/UPDATE/CLOSE
    double peak;                 //  Peak score of the run or episode
    double peak_value;           //  Value at the peak
    double peak_low;             //  Expected range at the peak
    double peak_high;            //  (its high end)
    double emitted;              //  Peak at the last OPEN or UPDATE
};

//  --------------------------------------------------------------------------
//  Creates the episode state for one sensor (key copied, truncated to
//  LW_KEY_MAX bytes). Returns it (caller owns) or NULL when out of memory.

lw_episode_t *
lw_episode_new (const lw_detect_cfg_t *cfg, const char *sensor)
{
    assert (cfg);
    assert (sensor);
    lw_episode_t *self = (lw_episode_t *)zmalloc (sizeof (lw_episode_t));
    if (self) {
        self->cfg = *cfg;
        snprintf (self->sensor, sizeof (self->sensor), "%s", sensor);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the state; accepts NULL and sets the pointer to NULL.

void
lw_episode_destroy (lw_episode_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Records the item as the peak of the run or episode.

static void
s_set_peak (lw_episode_t *self, const lw_item_t *item, double score)
{
    self->peak = score;
    self->peak_value = item->value;
    self->peak_low = item->expected_low;
    self->peak_high = item->expected_high;
}

//  --------------------------------------------------------------------------
//  Fills the fields of *alert the episode owns; returns the state.

static int
s_fill (lw_episode_t *self, int state, int64_t closed, const char *detector,
        lw_alert_t *alert)
{
    alert->state = (uint8_t)state;
    memcpy (alert->sensor, self->sensor, sizeof (alert->sensor));
    alert->opened = self->opened;
    alert->closed = closed;
    alert->updated = self->updated;
    alert->score = self->peak;
    alert->value = self->peak_value;
    alert->expected_low = self->peak_low;
    alert->expected_high = self->peak_high;
    alert->ndetectors = 1;
    snprintf (alert->detectors[0], sizeof (alert->detectors[0]), "%s",
              detector);
    return state;
}

//  --------------------------------------------------------------------------
//  Feeds one scored item; see lw_detect.h. Returns 0 or LW_ALERT_OPEN,
//  _UPDATE or _CLOSE with *alert filled.

int
lw_episode_update (lw_episode_t *self, lw_item_t *item, const char *detector,
                   lw_alert_t *alert)
{
    assert (self);
    assert (item);
    assert (detector);
    assert (alert);
    //  Scores come from our own detectors, but a NaN must not stick an
    //  episode open or open one: it counts as "nothing seen"
    double score = item->score;
    if (!(score >= 0))
        score = 0;
    else if (score > 1)
        score = 1;
    const lw_detect_cfg_t *cfg = &self->cfg;
    //  A fault test fired (LW_SCORE_FAULT): the point counts as one at
    //  open_threshold, whatever its calibrated score
    if ((item->flags & LW_SCORE_FAULT) && score < cfg->open_threshold)
        score = cfg->open_threshold;

    if (!self->open) {
        if (self->closed_once && self->since_close <= cfg->cooldown) {
            self->since_close++;
            if (self->since_close <= cfg->cooldown)
                return 0;
        }
        if (score < cfg->open_threshold) {
            self->run = 0;
            return 0;
        }
        if (self->run == 0) {
            self->opened = item->time;
            s_set_peak (self, item, score);
        }
        else if (score > self->peak)
            s_set_peak (self, item, score);
        self->run++;
        if (self->run < cfg->min_duration)
            return 0;
        self->open = true;
        self->below = 0;
        self->updated = item->time;
        self->emitted = self->peak;
        item->flags |= LW_SCORE_ALERT;
        return s_fill (self, LW_ALERT_OPEN, 0, detector, alert);
    }
    if (score > self->peak)
        s_set_peak (self, item, score);
    if (score < cfg->close_threshold)
        self->below++;
    else
        self->below = 0;
    if (self->below >= cfg->close_after) {
        self->open = false;
        self->run = 0;
        self->closed_once = true;
        self->since_close = 0;
        self->updated = item->time;
        return s_fill (self, LW_ALERT_CLOSE, item->time, detector, alert);
    }
    item->flags |= LW_SCORE_ALERT;
    if (self->peak >= self->emitted + cfg->update_margin &&
        self->peak > self->emitted) {
        self->emitted = self->peak;
        self->updated = item->time;
        return s_fill (self, LW_ALERT_UPDATE, 0, detector, alert);
    }
    return 0;
}
