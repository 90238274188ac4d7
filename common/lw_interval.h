/*  =========================================================================
    lw_interval.h - a sensor's usual interval between readings

    Copyright (c) the linewatch authors. MIT license.

    The one definition of "a gap": an interval between two readings of a
    sensor (event time) longer than `factor` x its usual interval, where
    the usual interval is an EWMA (weight LW_INTERVAL_ALPHA) of the
    intervals it did not flag, each clipped to LW_INTERVAL_CLIP x the
    usual one, so one long pause does not teach the sensor that pauses
    are normal. Nothing is judged before LW_INTERVAL_WARMUP intervals were
    learned. Used by lw-ingest's cleaning (gap events, silent sensors) and
    by the scorer's gap rule (lw_rules), so both call the same thing a
    gap. Fixed-size state, inline: it runs once per reading.
    =========================================================================
*/

#ifndef LW_INTERVAL_H_INCLUDED
#define LW_INTERVAL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Intervals learned before gaps are judged
#define LW_INTERVAL_WARMUP 8
//  EWMA weight of a new interval in the usual interval
#define LW_INTERVAL_ALPHA 0.05
//  An interval learns at most this multiple of the usual one
#define LW_INTERVAL_CLIP 3.0

//  Usual interval of one sensor; zero-initialise before use
typedef struct {
    double usual;   //  Usual interval, ns (EWMA)
    uint32_t count; //  Intervals learned (saturates)
} lw_interval_t;

//  True when `elapsed` ns is more than factor x the usual interval, once
//  warmed up; never when factor <= 0 (off)
static inline bool
lw_interval_exceeds (const lw_interval_t *self, double elapsed, double factor)
{
    return factor > 0 && self->count >= LW_INTERVAL_WARMUP &&
           elapsed > factor * self->usual;
}

//  Judges one interval (ns, > 0) against the usual one, then learns it
//  unless it was a gap. Returns true when it was a gap.
static inline bool
lw_interval_step (lw_interval_t *self, double interval, double factor)
{
    if (lw_interval_exceeds (self, interval, factor))
        return true;
    if (self->count == 0)
        self->usual = interval;
    else {
        double clip = LW_INTERVAL_CLIP * self->usual;
        self->usual += LW_INTERVAL_ALPHA *
                       ((interval < clip ? interval : clip) - self->usual);
    }
    if (self->count < UINT32_MAX)
        self->count++;
    return false;
}

//  Sampling-interval probe: the first LW_PROBE_STEPS steps (forward in
//  time) between a sensor's readings, whose median is its sampling
//  interval. The season part bins the day by it; the time-of-day
//  calibration judges by it whether a sensor is sampled regularly.
//  Zero-initialise before use.
#define LW_PROBE_STEPS 31
typedef struct {
    bool started;                 //  `last` holds a reading's time
    int64_t last;                 //  Time of the previous reading
    int count;                    //  Steps collected
    int64_t step[LW_PROBE_STEPS]; //  The steps, ns
} lw_probe_t;

//  Adds a reading's time (ns; any int64, from outside). Returns true once
//  the probe holds LW_PROBE_STEPS steps (later times change nothing). A
//  step backwards, or too long for an int64 (centuries), is not one.
static inline bool
lw_probe_add (lw_probe_t *self, int64_t time)
{
    if (self->count == LW_PROBE_STEPS)
        return true;
    if (self->started && time > self->last) {
        uint64_t step = (uint64_t)time - (uint64_t)self->last;
        if (step <= (uint64_t)INT64_MAX)
            self->step[self->count++] = (int64_t)step;
    }
    self->started = true;
    self->last = time;
    return self->count == LW_PROBE_STEPS;
}

//  Median step of a full probe (ns). *close (may be NULL): how many steps
//  lie within tolerance x the median of it.
int64_t lw_probe_median (const lw_probe_t *self, double tolerance, int *close);

void lw_interval_test (bool verbose);

#endif
