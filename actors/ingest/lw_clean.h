/*  =========================================================================
    lw_clean.h - per-sensor reading cleaning for lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    Keeps one lw_sensor_t per sensor key (its partition, the newest event
    time accepted, a ring of the last LW_CLEAN_RECENT accepted times, and
    its engineering limits) and judges each reading, in event time:
      - non-finite value                         -> LW_CLEAN_NONFINITE
      - outside its limits, limit says drop      -> LW_CLEAN_LIMIT
      - outside its limits                       -> accepted, LW_QUALITY_LIMIT
      - same timestamp as the newest             -> LW_CLEAN_DUPLICATE
      - older than newest - lateness             -> LW_CLEAN_LATE
      - older, within lateness, and the same
        time as one of the recent accepted ones  -> LW_CLEAN_DUPLICATE
      - older, within lateness                   -> accepted, LW_QUALITY_LATE
    A duplicate older than the last LW_CLEAN_RECENT accepted readings of
    its sensor is not recognised (it is accepted, flagged late): the ring
    keeps the cost per sensor fixed.
    Limits come from the config (ingest/limit/<name>: pattern, low, high,
    drop): the first limit whose glob pattern (fnmatch, '*' also matches
    '/') matches a key applies to that sensor, decided once when the key
    is first seen, so the per-reading cost is two compares.
    Re-ordering (ingest/reorder > 0): lw-ingest holds each accepted
    reading in its sensor's small buffer (LW_CLEAN_HOLD readings, sorted
    by time) and emits it once the sensor has seen a reading `reorder`
    newer in event time, or it has been held `reorder` of wall time, or
    the buffer is full - so readings that arrive out of order by less
    than the window leave in order, unflagged. One older than what the
    sensor already emitted cannot be put back: it leaves at once, flagged
    LW_QUALITY_LATE (as with reorder = 0, where nothing is held).
    Gaps (lw_clean_set_gaps, ingest/gap_factor > 0): per sensor the usual
    interval between its in-order readings is learned (lw_interval.h, the
    scorer's gap rule uses the same), and
      (a) a reading more than gap_factor x the usual interval after the
          sensor's newest one ends a gap (lw_clean_track says so);
      (b) a sensor is silent when the watermark (the newest reading time
          seen over all sensors, event time) has run more than
          gap_factor x its usual interval past the watermark at its own
          newest reading (its `mark`): lw_clean_sweep finds those, once
          per silence. Measuring from the mark, not from the reading's
          own time, absorbs a steady lag (a gateway that sends a minute
          at a time, a clock a little behind). A sensor whose newest
          reading was more than LW_CLEAN_DOMAIN behind the watermark
          when it came lives in another time domain (a replay beside live
          data, a clock set wrong): it is not judged silent, only (a).
    Readings stamped after the cap (lw_clean_set_cap: lw-ingest keeps it a
    day ahead of the wall clock) do not move the watermark, so one clock
    set to 2100 cannot make every other sensor silent. Nothing here reads
    a clock: a finished replay leaves the watermark where it was, so no
    sensor of it becomes silent.
    Sources resolve a key to its lw_sensor_t once (a hash lookup) and may
    keep the pointer: it stays valid for the table's lifetime. The table is
    bounded (max_sensors) because keys come from outside the process.
    =========================================================================
*/

#ifndef LW_CLEAN_H_INCLUDED
#define LW_CLEAN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "lw_interval.h"

//  Accepted times remembered per sensor to find older duplicates
#define LW_CLEAN_RECENT 8
//  Most limits in the config
#define LW_CLEAN_LIMITS_MAX 1024
//  Readings held per sensor for re-ordering
#define LW_CLEAN_HOLD 8
//  A sensor this far behind the watermark is not judged silent (ns)
#define LW_CLEAN_DOMAIN (3600LL * 1000000000LL)

//  A reading held for re-ordering
typedef struct {
    int64_t time;    //  Event time, ns
    int64_t arrival; //  Monotonic ns it was taken
    double value;
    uint32_t quality;
} lw_held_t;

//  Verdicts; LW_CLEAN_OK accepts the reading
typedef enum {
    LW_CLEAN_OK = 0,
    LW_CLEAN_NONFINITE = 1, //  NaN or infinite value
    LW_CLEAN_DUPLICATE = 2, //  Same timestamp as the sensor's newest
    LW_CLEAN_LATE = 3,      //  Older than the lateness bound allows
    LW_CLEAN_BAD_KEY = 4,   //  Key fails lw_key_valid
    LW_CLEAN_TOO_MANY = 5,  //  Sensor table full
    LW_CLEAN_LIMIT = 6      //  Outside limits that say drop
} lw_clean_result_t;
#define LW_CLEAN_RESULTS 7

//  One sensor's cleaning state
typedef struct {
    const char *key;     //  Key, NUL-terminated; owned by the table
    uint16_t partition;  //  lw_partition (key, P)
    bool seen;           //  A reading was accepted
    bool limited;        //  Has engineering limits
    bool limit_drop;     //  ...and readings outside them are dropped
    uint8_t recent_next; //  Next slot of the recent ring
    int64_t newest;      //  Newest event time accepted, ns
    double low;          //  Engineering limits, inclusive
    double high;
    int64_t recent[LW_CLEAN_RECENT]; //  Last accepted times (ring)
    //  Re-ordering (lw_clean_hold); unused while ingest/reorder = 0
    lw_held_t *held;   //  LW_CLEAN_HOLD slots, sorted by time; lazily
    uint8_t nheld;     //  Readings held
    bool released_any; //  A held reading was emitted
    int64_t released;  //  Time of the newest emitted from the buffer
    void *hold_next;   //  List of sensors holding readings
    void *hold_prev;
    //  Gaps (lw_clean_track, lw_clean_sweep); unused while gap_factor = 0
    lw_interval_t interval; //  Usual interval between in-order readings
    int64_t mark;           //  Watermark when `newest` was accepted
    bool silent;            //  Reported silent; its next reading ends it
} lw_sensor_t;

//  Called by lw_clean_sweep for a sensor found silent (borrowed)
typedef void (lw_clean_silent_fn) (lw_sensor_t *sensor, int64_t watermark,
                                   void *arg);

typedef struct _lw_clean_t lw_clean_t;

//  Creates a table for `partitions` partitions, a lateness bound in ns
//  and at most max_sensors sensors. Returns NULL on no memory.
lw_clean_t *lw_clean_new (uint32_t partitions, int64_t lateness,
                          size_t max_sensors);
void lw_clean_destroy (lw_clean_t **self_p);

//  Adds an engineering limit: keys matching the glob `pattern` must lie
//  in [low, high]; drop = true drops readings outside instead of flagging
//  them. Call before any sensor is added (limits are resolved per sensor
//  when its key is first seen). Returns 0, or -1 (logged) on a bad
//  pattern, low > high or too many limits.
int lw_clean_add_limit (lw_clean_t *self, const char *pattern, double low,
                        double high, bool drop);
//  Reads every child of `path` (ingest/limit): pattern, low (default
//  -inf), high (default +inf), drop (0). Returns 0, or -1 (logged).
int lw_clean_load_limits (lw_clean_t *self, zconfig_t *config,
                          const char *path);
//  Number of limits
size_t lw_clean_limits (lw_clean_t *self);

//  Finds or adds the sensor of `key`. Returns it (valid for the table's
//  lifetime), or NULL with *result set to LW_CLEAN_BAD_KEY or
//  LW_CLEAN_TOO_MANY (also on no memory).
lw_sensor_t *lw_clean_sensor (lw_clean_t *self, const char *key, int *result);

//  Judges one reading. On LW_CLEAN_OK the sensor's times are updated,
//  LW_QUALITY_LATE is or-ed into *quality when it was out of order and
//  LW_QUALITY_LIMIT when it is outside the sensor's limits.
static inline int lw_clean_check (int64_t lateness, lw_sensor_t *sensor,
                                  int64_t time, double value,
                                  uint32_t *quality);

//  Re-ordering. Holds an accepted reading in its sensor's buffer, which
//  must have room (pop first when nheld == LW_CLEAN_HOLD). Returns 1 when
//  held (LW_QUALITY_LATE is cleared: it will leave in order), 0 when it
//  is older than what the sensor already emitted (emit it now, flagged
//  late), -1 on no memory (emit it now).
int lw_clean_hold (lw_clean_t *self, lw_sensor_t *sensor, int64_t time,
                   double value, uint32_t quality, int64_t arrival);
//  Pops the sensor's oldest held reading into *out when its time is at or
//  before `watermark` or it arrived at or before `arrived_before`.
//  Returns true when one was popped.
bool lw_clean_pop (lw_clean_t *self, lw_sensor_t *sensor, int64_t watermark,
                   int64_t arrived_before, lw_held_t *out);
//  First sensor holding readings (then sensor->hold_next), or NULL
lw_sensor_t *lw_clean_holding (lw_clean_t *self);

//  Gaps: turns detection on with `factor` (> 0; 0 = off, the default)
void lw_clean_set_gaps (lw_clean_t *self, double factor);
//  Readings stamped after `cap` do not move the watermark (default: no
//  cap)
void lw_clean_set_cap (lw_clean_t *self, int64_t cap);
//  After lw_clean_check accepted a reading at `time` (LW_CLEAN_OK) of a
//  sensor that had a reading before (was_seen) whose newest time was
//  `previous`: moves the watermark, the sensor's mark, learns its
//  interval and ends its silence. Returns true when the reading ends a
//  gap (a): previous .. time is more than factor x its usual interval.
//  Does nothing (false) while detection is off. No allocation.
bool lw_clean_track (lw_clean_t *self, lw_sensor_t *sensor, bool was_seen,
                     int64_t previous, int64_t time);
//  Finds the sensors that became silent (b) among the next 1/parts of
//  the sensors (round robin: `parts` calls look at every sensor once) and
//  calls fn for each, once per silence, marking it silent. O(sensors /
//  parts). Returns how many.
size_t lw_clean_sweep (lw_clean_t *self, size_t parts, lw_clean_silent_fn *fn,
                       void *arg);
//  Newest reading time seen over all sensors (INT64_MIN before any)
int64_t lw_clean_watermark (lw_clean_t *self);

//  Sensors in the table
size_t lw_clean_size (lw_clean_t *self);
//  Lateness bound, ns
int64_t lw_clean_lateness (lw_clean_t *self);

//  Counter-friendly name of a verdict ("nonfinite", "duplicate", "late",
//  "bad_key", "sensors_limit", "limit"; "ok")
const char *lw_clean_reason (int result);

void lw_clean_test (bool verbose);

//  --------------------------------------------------------------------------
//  Inline because it runs once per reading

#include "lw_msg.h"
#include <math.h>

static inline void
lw_clean_remember (lw_sensor_t *sensor, int64_t time)
{
    sensor->recent[sensor->recent_next] = time;
    sensor->recent_next =
        (uint8_t)((sensor->recent_next + 1) % LW_CLEAN_RECENT);
}

static inline int
lw_clean_check (int64_t lateness, lw_sensor_t *sensor, int64_t time,
                double value, uint32_t *quality)
{
    if (!isfinite (value))
        return LW_CLEAN_NONFINITE;
    uint32_t flags = 0;
    if (sensor->limited && (value < sensor->low || value > sensor->high)) {
        if (sensor->limit_drop)
            return LW_CLEAN_LIMIT;
        flags = LW_QUALITY_LIMIT;
    }
    if (!sensor->seen) {
        //  The ring starts full of the first time: no empty slot matches
        sensor->seen = true;
        sensor->newest = time;
        for (int slot = 0; slot < LW_CLEAN_RECENT; slot++)
            sensor->recent[slot] = time;
        *quality |= flags;
        return LW_CLEAN_OK;
    }
    if (time > sensor->newest) {
        sensor->newest = time;
        lw_clean_remember (sensor, time);
        *quality |= flags;
        return LW_CLEAN_OK;
    }
    if (time == sensor->newest)
        return LW_CLEAN_DUPLICATE;
    //  newest > time here, so the unsigned difference is exact
    if ((uint64_t)sensor->newest - (uint64_t)time > (uint64_t)lateness)
        return LW_CLEAN_LATE;
    for (int slot = 0; slot < LW_CLEAN_RECENT; slot++)
        if (sensor->recent[slot] == time)
            return LW_CLEAN_DUPLICATE;
    lw_clean_remember (sensor, time);
    *quality |= flags | LW_QUALITY_LATE;
    return LW_CLEAN_OK;
}

#endif
