/*  =========================================================================
    lw_clean.c - per-sensor reading cleaning for lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    A bounded lw_keymap from key to lw_sensor_t. Each sensor is one
    allocation holding the struct and its key, made when the key is first
    seen; lookups allocate nothing.
    =========================================================================
*/

#include <czmq.h>

#include "lw_clean.h"
#include "lw_keymap.h"
#include "lw_msg.h"
#include "lw_util.h"

struct _lw_clean_t {
    lw_keymap_t *sensors; //  key -> lw_sensor_t (owned)
    uint32_t partitions;  //  P
    int64_t lateness;     //  Lateness bound, ns
    size_t max_sensors;   //  Table bound
};

//  --------------------------------------------------------------------------
//  Keymap destructor of a sensor

static void
s_sensor_free (void **value_p)
{
    free (*value_p);
    *value_p = NULL;
}

//  --------------------------------------------------------------------------
//  Creates a table; NULL on no memory

lw_clean_t *
lw_clean_new (uint32_t partitions, int64_t lateness, size_t max_sensors)
{
    assert (partitions > 0 && partitions <= LW_PARTITIONS_MAX);
    assert (lateness >= 0);
    lw_clean_t *self = (lw_clean_t *)zmalloc (sizeof (lw_clean_t));
    if (self) {
        self->partitions = partitions;
        self->lateness = lateness;
        self->max_sensors = max_sensors;
        self->sensors = lw_keymap_new (s_sensor_free);
        if (!self->sensors)
            lw_clean_destroy (&self);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the table and every sensor in it

void
lw_clean_destroy (lw_clean_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_clean_t *self = *self_p;
        lw_keymap_destroy (&self->sensors);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Finds or adds a sensor; NULL with a reason when it cannot

lw_sensor_t *
lw_clean_sensor (lw_clean_t *self, const char *key, int *result)
{
    assert (self);
    assert (key);
    assert (result);
    lw_sensor_t *sensor = (lw_sensor_t *)lw_keymap_lookup (self->sensors, key);
    if (sensor)
        return sensor;
    size_t size = strnlen (key, LW_KEY_MAX + 1);
    if (!lw_key_valid (key, size)) {
        *result = LW_CLEAN_BAD_KEY;
        return NULL;
    }
    if (lw_keymap_size (self->sensors) >= self->max_sensors) {
        *result = LW_CLEAN_TOO_MANY;
        return NULL;
    }
    sensor = (lw_sensor_t *)malloc (sizeof (lw_sensor_t) + size + 1);
    if (!sensor) {
        *result = LW_CLEAN_TOO_MANY;
        return NULL;
    }
    char *copy = (char *)(sensor + 1);
    memcpy (copy, key, size + 1);
    sensor->key = copy;
    sensor->partition = lw_partition (copy, self->partitions);
    sensor->seen = false;
    sensor->newest = 0;
    if (lw_keymap_insert (self->sensors, copy, sensor)) {
        free (sensor);
        *result = LW_CLEAN_TOO_MANY;
        return NULL;
    }
    return sensor;
}

//  --------------------------------------------------------------------------
//  Number of sensors

size_t
lw_clean_size (lw_clean_t *self)
{
    assert (self);
    return lw_keymap_size (self->sensors);
}

//  --------------------------------------------------------------------------
//  Lateness bound, ns

int64_t
lw_clean_lateness (lw_clean_t *self)
{
    assert (self);
    return self->lateness;
}

//  --------------------------------------------------------------------------
//  Counter-friendly name of a verdict

const char *
lw_clean_reason (int result)
{
    switch (result) {
    case LW_CLEAN_OK:
        return "ok";
    case LW_CLEAN_NONFINITE:
        return "nonfinite";
    case LW_CLEAN_DUPLICATE:
        return "duplicate";
    case LW_CLEAN_LATE:
        return "late";
    case LW_CLEAN_BAD_KEY:
        return "bad_key";
    case LW_CLEAN_TOO_MANY:
        return "sensors_limit";
    default:
        return "unknown";
    }
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_clean_test (bool verbose)
{
    printf (" * lw_clean: ");
    if (verbose)
        printf ("\n");
    int64_t lateness = 10 * LW_NS_PER_SEC;
    lw_clean_t *clean = lw_clean_new (64, lateness, 3);
    assert (clean);
    assert (lw_clean_lateness (clean) == lateness);

    //  Keys: valid ones are added once, bad ones refused with a reason
    int result = LW_CLEAN_OK;
    lw_sensor_t *temp = lw_clean_sensor (clean, "line1/press3/temp", &result);
    assert (temp);
    assert (streq (temp->key, "line1/press3/temp"));
    assert (temp->partition == lw_partition ("line1/press3/temp", 64));
    assert (lw_clean_sensor (clean, "line1/press3/temp", &result) == temp);
    lw_sensor_t *vib = lw_clean_sensor (clean, "line1/press3/vib", &result);
    assert (vib && vib != temp);
    assert (vib->partition == temp->partition); //  Same machine
    assert (lw_clean_sensor (clean, "", &result) == NULL);
    assert (result == LW_CLEAN_BAD_KEY);
    assert (lw_clean_sensor (clean, "bad\001key", &result) == NULL);
    assert (result == LW_CLEAN_BAD_KEY);
    char long_key[LW_KEY_MAX + 10];
    memset (long_key, 'k', sizeof (long_key) - 1);
    long_key[sizeof (long_key) - 1] = 0;
    assert (lw_clean_sensor (clean, long_key, &result) == NULL);
    assert (result == LW_CLEAN_BAD_KEY);
    assert (lw_clean_sensor (clean, "m/third", &result));
    assert (lw_clean_size (clean) == 3);
    assert (lw_clean_sensor (clean, "m/fourth", &result) == NULL);
    assert (result == LW_CLEAN_TOO_MANY);
    assert (lw_clean_size (clean) == 3);

    //  Readings
    int64_t base = 1700000000 * LW_NS_PER_SEC;
    uint32_t quality = 0;
    assert (lw_clean_check (lateness, temp, base, 1.0, &quality) ==
            LW_CLEAN_OK);
    assert (quality == 0);
    assert (lw_clean_check (lateness, temp, base, 2.0, &quality) ==
            LW_CLEAN_DUPLICATE);
    assert (lw_clean_check (lateness, temp, base + 1, NAN, &quality) ==
            LW_CLEAN_NONFINITE);
    assert (lw_clean_check (lateness, temp, base + 1, INFINITY, &quality) ==
            LW_CLEAN_NONFINITE);
    assert (lw_clean_check (lateness, temp, base + LW_NS_PER_SEC, 2.0,
                            &quality) == LW_CLEAN_OK);
    //  Out of order within the bound: accepted, flagged, newest unchanged
    assert (lw_clean_check (lateness, temp, base + 1, 2.0, &quality) ==
            LW_CLEAN_OK);
    assert (quality == LW_QUALITY_LATE);
    assert (temp->newest == base + LW_NS_PER_SEC);
    //  Beyond the bound: dropped
    quality = 0;
    assert (lw_clean_check (lateness, temp, base - 10 * LW_NS_PER_SEC, 2.0,
                            &quality) == LW_CLEAN_LATE);
    assert (lw_clean_check (lateness, temp, INT64_MIN, 2.0, &quality) ==
            LW_CLEAN_LATE);
    assert (quality == 0);
    //  Exactly at the bound: still accepted
    assert (lw_clean_check (lateness, temp, base - 9 * LW_NS_PER_SEC, 2.0,
                            &quality) == LW_CLEAN_OK);
    //  Sensors are independent
    assert (lw_clean_check (lateness, vib, base, 2.0, &quality) == LW_CLEAN_OK);
    //  Extremes do not overflow
    lw_sensor_t *third = lw_clean_sensor (clean, "m/third", &result);
    assert (lw_clean_check (lateness, third, INT64_MAX, 1.0, &quality) ==
            LW_CLEAN_OK);
    assert (lw_clean_check (lateness, third, INT64_MIN, 1.0, &quality) ==
            LW_CLEAN_LATE);

    for (int code = 0; code < LW_CLEAN_RESULTS; code++)
        assert (strlen (lw_clean_reason (code)) > 0);
    assert (streq (lw_clean_reason (LW_CLEAN_LATE), "late"));
    lw_clean_destroy (&clean);
    lw_clean_destroy (&clean);
    assert (clean == NULL);
    printf ("OK\n");
}
