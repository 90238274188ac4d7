/*  =========================================================================
    lw_clean.h - per-sensor reading cleaning for lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    Keeps one lw_sensor_t per sensor key (its partition and the newest
    event time accepted) and judges each reading against it, in event time:
      - non-finite value                         -> LW_CLEAN_NONFINITE
      - same timestamp as the newest             -> LW_CLEAN_DUPLICATE
      - older than newest - lateness             -> LW_CLEAN_LATE
      - older, within lateness                   -> accepted, LW_QUALITY_LATE
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

//  Verdicts; LW_CLEAN_OK accepts the reading
typedef enum {
    LW_CLEAN_OK = 0,
    LW_CLEAN_NONFINITE = 1, //  NaN or infinite value
    LW_CLEAN_DUPLICATE = 2, //  Same timestamp as the sensor's newest
    LW_CLEAN_LATE = 3,      //  Older than the lateness bound allows
    LW_CLEAN_BAD_KEY = 4,   //  Key fails lw_key_valid
    LW_CLEAN_TOO_MANY = 5   //  Sensor table full
} lw_clean_result_t;
#define LW_CLEAN_RESULTS 6

//  One sensor's cleaning state
typedef struct {
    const char *key;    //  Key, NUL-terminated; owned by the table
    uint16_t partition; //  lw_partition (key, P)
    bool seen;          //  A reading was accepted
    int64_t newest;     //  Newest event time accepted, ns
} lw_sensor_t;

typedef struct _lw_clean_t lw_clean_t;

//  Creates a table for `partitions` partitions, a lateness bound in ns
//  and at most max_sensors sensors. Returns NULL on no memory.
lw_clean_t *lw_clean_new (uint32_t partitions, int64_t lateness,
                          size_t max_sensors);
void lw_clean_destroy (lw_clean_t **self_p);

//  Finds or adds the sensor of `key`. Returns it (valid for the table's
//  lifetime), or NULL with *result set to LW_CLEAN_BAD_KEY or
//  LW_CLEAN_TOO_MANY (also on no memory).
lw_sensor_t *lw_clean_sensor (lw_clean_t *self, const char *key, int *result);

//  Judges one reading. On LW_CLEAN_OK the sensor's newest time is updated
//  and LW_QUALITY_LATE is or-ed into *quality when it was out of order.
static inline int lw_clean_check (int64_t lateness, lw_sensor_t *sensor,
                                  int64_t time, double value,
                                  uint32_t *quality);

//  Sensors in the table
size_t lw_clean_size (lw_clean_t *self);
//  Lateness bound, ns
int64_t lw_clean_lateness (lw_clean_t *self);

//  Counter-friendly name of a verdict ("nonfinite", "duplicate", "late",
//  "bad_key", "sensors_limit"; "ok")
const char *lw_clean_reason (int result);

void lw_clean_test (bool verbose);

//  --------------------------------------------------------------------------
//  Inline because it runs once per reading

#include "lw_msg.h"
#include <math.h>

static inline int
lw_clean_check (int64_t lateness, lw_sensor_t *sensor, int64_t time,
                double value, uint32_t *quality)
{
    if (!isfinite (value))
        return LW_CLEAN_NONFINITE;
    if (!sensor->seen || time > sensor->newest) {
        sensor->seen = true;
        sensor->newest = time;
        return LW_CLEAN_OK;
    }
    if (time == sensor->newest)
        return LW_CLEAN_DUPLICATE;
    //  newest > time here, so the unsigned difference is exact
    if ((uint64_t)sensor->newest - (uint64_t)time > (uint64_t)lateness)
        return LW_CLEAN_LATE;
    *quality |= LW_QUALITY_LATE;
    return LW_CLEAN_OK;
}

#endif
