/*  =========================================================================
    lw_clean.c - per-sensor reading cleaning for lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    A bounded lw_keymap from key to lw_sensor_t. Each sensor is one
    allocation holding the struct and its key, made when the key is first
    seen; lookups allocate nothing. Limits are a list of glob patterns
    matched once per new key (fnmatch), never per reading.
    =========================================================================
*/

#include <czmq.h>
#include <float.h>
#include <fnmatch.h>
#include <math.h>

#include "lw_cfg.h"
#include "lw_clean.h"
#include "lw_keymap.h"
#include "lw_msg.h"
#include "lw_util.h"

typedef struct {
    char *pattern; //  Glob on keys
    double low;    //  Inclusive range
    double high;
    bool drop; //  Drop readings outside instead of flagging
} s_limit_t;

struct _lw_clean_t {
    lw_keymap_t *sensors; //  key -> lw_sensor_t (owned)
    s_limit_t *limits;    //  In config order; the first match applies
    lw_sensor_t *holding; //  Sensors holding readings (re-ordering)
    size_t nlimits;
    uint32_t partitions; //  P
    int64_t lateness;    //  Lateness bound, ns
    size_t max_sensors;  //  Table bound
    lw_sensor_t **all;   //  Every sensor, in order of arrival (sweeps)
    size_t all_size;     //  Capacity of `all`
    size_t cursor;       //  Next sensor a sliced sweep looks at
    double gap_factor;   //  Gaps: interval multiple, 0 = off
    int64_t watermark;   //  Newest reading time over all sensors
    int64_t cap;         //  Later readings do not move the watermark
};

//  --------------------------------------------------------------------------
//  Keymap destructor of a sensor

static void
s_sensor_free (void **value_p)
{
    lw_sensor_t *sensor = (lw_sensor_t *)*value_p;
    if (sensor)
        free (sensor->held);
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
        self->watermark = INT64_MIN;
        self->cap = INT64_MAX;
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
        free (self->all);
        for (size_t index = 0; index < self->nlimits; index++)
            free (self->limits[index].pattern);
        free (self->limits);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Adds an engineering limit; 0 or -1 (logged)

int
lw_clean_add_limit (lw_clean_t *self, const char *pattern, double low,
                    double high, bool drop)
{
    assert (self);
    assert (pattern);
    assert (lw_keymap_size (self->sensors) == 0); //  Contract: limits first
    size_t size = strnlen (pattern, LW_KEY_MAX + 1);
    if (size == 0 || size > LW_KEY_MAX) {
        zsys_error ("config: limit pattern is empty or longer than %d bytes",
                    LW_KEY_MAX);
        return -1;
    }
    if (isnan (low) || isnan (high) || low > high) {
        zsys_error ("config: limit '%s': low %g is above high %g", pattern, low,
                    high);
        return -1;
    }
    if (self->nlimits == LW_CLEAN_LIMITS_MAX) {
        zsys_error ("config: more than %d limits", LW_CLEAN_LIMITS_MAX);
        return -1;
    }
    s_limit_t *limits = (s_limit_t *)realloc (
        self->limits, (self->nlimits + 1) * sizeof (s_limit_t));
    if (!limits)
        return -1;
    self->limits = limits;
    s_limit_t *limit = &self->limits[self->nlimits];
    limit->pattern = strdup (pattern);
    if (!limit->pattern)
        return -1;
    limit->low = low;
    limit->high = high;
    limit->drop = drop;
    self->nlimits++;
    return 0;
}

//  --------------------------------------------------------------------------
//  Reads the limits under `path`; 0 or -1 (logged)

int
lw_clean_load_limits (lw_clean_t *self, zconfig_t *config, const char *path)
{
    assert (self);
    assert (config);
    assert (path);
    zconfig_t *section = zconfig_locate (config, path);
    zconfig_t *child = section ? zconfig_child (section) : NULL;
    for (; child; child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        if (!name || !*name || strlen (name) > LW_NAME_MAX) {
            zsys_error ("config: %s: a limit name is empty or longer than "
                        "%d bytes",
                        path, LW_NAME_MAX);
            return -1;
        }
        char key[LW_NAME_MAX + 256];
        const char *pattern;
        double low, high;
        bool drop;
        snprintf (key, sizeof (key), "%s/%s/pattern", path, name);
        int rc = lw_cfg_string (config, key, "", LW_KEY_MAX, &pattern);
        snprintf (key, sizeof (key), "%s/%s/low", path, name);
        rc |= lw_cfg_double (config, key, -INFINITY, -DBL_MAX, DBL_MAX, &low);
        snprintf (key, sizeof (key), "%s/%s/high", path, name);
        rc |= lw_cfg_double (config, key, INFINITY, -DBL_MAX, DBL_MAX, &high);
        snprintf (key, sizeof (key), "%s/%s/drop", path, name);
        rc |= lw_cfg_bool (config, key, false, &drop);
        if (rc)
            return -1;
        if (!*pattern) {
            zsys_error ("config: %s/%s/pattern is missing", path, name);
            return -1;
        }
        if (lw_clean_add_limit (self, pattern, low, high, drop)) {
            zsys_error ("config: %s/%s is invalid", path, name);
            return -1;
        }
        zsys_info ("ingest: limit name=%s pattern=%s low=%g high=%g drop=%d",
                   name, pattern, low, high, drop);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Number of limits

size_t
lw_clean_limits (lw_clean_t *self)
{
    assert (self);
    return self->nlimits;
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
    sensor->recent_next = 0;
    sensor->held = NULL;
    sensor->nheld = 0;
    sensor->released_any = false;
    sensor->released = 0;
    sensor->hold_next = NULL;
    sensor->hold_prev = NULL;
    sensor->interval = (lw_interval_t){0};
    sensor->mark = INT64_MIN;
    sensor->silent = false;
    sensor->limited = false;
    sensor->limit_drop = false;
    sensor->low = -INFINITY;
    sensor->high = INFINITY;
    for (size_t index = 0; index < self->nlimits; index++) {
        s_limit_t *limit = &self->limits[index];
        if (fnmatch (limit->pattern, copy, 0) == 0) {
            sensor->limited = true;
            sensor->limit_drop = limit->drop;
            sensor->low = limit->low;
            sensor->high = limit->high;
            break;
        }
    }
    //  Room in the list of all sensors first (doubling: a new sensor
    //  allocates anyway), so the insert cannot leave it out
    size_t count = lw_keymap_size (self->sensors);
    if (count == self->all_size) {
        size_t size = self->all_size ? self->all_size * 2 : 64;
        lw_sensor_t **all =
            (lw_sensor_t **)realloc (self->all, size * sizeof (lw_sensor_t *));
        if (!all) {
            free (sensor);
            *result = LW_CLEAN_TOO_MANY;
            return NULL;
        }
        self->all = all;
        self->all_size = size;
    }
    if (lw_keymap_insert (self->sensors, copy, sensor)) {
        free (sensor);
        *result = LW_CLEAN_TOO_MANY;
        return NULL;
    }
    self->all[count] = sensor;
    return sensor;
}

//  --------------------------------------------------------------------------
//  Holds a reading for re-ordering

int
lw_clean_hold (lw_clean_t *self, lw_sensor_t *sensor, int64_t time,
               double value, uint32_t quality, int64_t arrival)
{
    assert (self);
    assert (sensor);
    assert (sensor->nheld < LW_CLEAN_HOLD);
    if (sensor->released_any && time < sensor->released)
        return 0; //  Its successors are gone already
    if (!sensor->held) {
        //  Once per sensor, and only with re-ordering on
        sensor->held = (lw_held_t *)malloc (LW_CLEAN_HOLD * sizeof (lw_held_t));
        if (!sensor->held)
            return -1;
    }
    size_t slot = sensor->nheld;
    while (slot > 0 && sensor->held[slot - 1].time > time) {
        sensor->held[slot] = sensor->held[slot - 1];
        slot--;
    }
    sensor->held[slot] = (lw_held_t){.time = time,
                                     .arrival = arrival,
                                     .value = value,
                                     .quality = quality & ~LW_QUALITY_LATE};
    if (sensor->nheld++ == 0) {
        //  Joins the list of sensors holding readings
        sensor->hold_prev = NULL;
        sensor->hold_next = self->holding;
        if (self->holding)
            self->holding->hold_prev = sensor;
        self->holding = sensor;
    }
    return 1;
}

//  --------------------------------------------------------------------------
//  Pops the oldest held reading when it is due

bool
lw_clean_pop (lw_clean_t *self, lw_sensor_t *sensor, int64_t watermark,
              int64_t arrived_before, lw_held_t *out)
{
    assert (self);
    assert (sensor);
    assert (out);
    if (sensor->nheld == 0)
        return false;
    lw_held_t *oldest = &sensor->held[0];
    if (oldest->time > watermark && oldest->arrival > arrived_before)
        return false;
    *out = *oldest;
    sensor->nheld--;
    memmove (&sensor->held[0], &sensor->held[1],
             sensor->nheld * sizeof (lw_held_t));
    sensor->released_any = true;
    sensor->released = out->time;
    if (sensor->nheld == 0) {
        lw_sensor_t *prev = (lw_sensor_t *)sensor->hold_prev;
        lw_sensor_t *next = (lw_sensor_t *)sensor->hold_next;
        if (prev)
            prev->hold_next = next;
        else
            self->holding = next;
        if (next)
            next->hold_prev = prev;
        sensor->hold_next = NULL;
        sensor->hold_prev = NULL;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  First sensor holding readings

lw_sensor_t *
lw_clean_holding (lw_clean_t *self)
{
    assert (self);
    return self->holding;
}

//  --------------------------------------------------------------------------
//  Gaps: detection on (factor > 0) or off

void
lw_clean_set_gaps (lw_clean_t *self, double factor)
{
    assert (self);
    assert (factor >= 0);
    self->gap_factor = factor;
}

//  --------------------------------------------------------------------------
//  Readings stamped after `cap` do not move the watermark

void
lw_clean_set_cap (lw_clean_t *self, int64_t cap)
{
    assert (self);
    self->cap = cap;
}

//  --------------------------------------------------------------------------
//  After an accepted reading: watermark, mark, interval. True when the
//  reading ends a gap (a). Once per reading: a few compares, no allocation.

bool
lw_clean_track (lw_clean_t *self, lw_sensor_t *sensor, bool was_seen,
                int64_t previous, int64_t time)
{
    assert (self);
    assert (sensor);
    if (self->gap_factor <= 0)
        return false;
    if (time > self->watermark && time <= self->cap)
        self->watermark = time;
    if (!was_seen) {
        sensor->mark = self->watermark;
        return false;
    }
    if (time <= previous)
        return false; //  Out of order: says nothing about the interval
    sensor->mark = self->watermark;
    sensor->silent = false;
    return lw_interval_step (&sensor->interval,
                             (double)time - (double)previous, self->gap_factor);
}

//  --------------------------------------------------------------------------
//  Judges one sensor's silence; true when it just became silent

static bool
s_sweep_one (lw_clean_t *self, lw_sensor_t *sensor)
{
    if (!sensor->seen || sensor->silent || sensor->mark == INT64_MIN)
        return false;
    //  Doubles: the differences of two int64 may not fit one
    if ((double)sensor->mark - (double)sensor->newest > (double)LW_CLEAN_DOMAIN)
        return false; //  Another time domain
    double elapsed = (double)self->watermark - (double)sensor->mark;
    if (!lw_interval_exceeds (&sensor->interval, elapsed, self->gap_factor))
        return false;
    sensor->silent = true;
    return true;
}

//  --------------------------------------------------------------------------
//  Finds the sensors that became silent among the next 1/parts of them
//  (round robin); calls fn once per silence

size_t
lw_clean_sweep (lw_clean_t *self, size_t parts, lw_clean_silent_fn *fn,
                void *arg)
{
    assert (self);
    assert (parts > 0);
    assert (fn);
    size_t total = lw_keymap_size (self->sensors);
    if (self->gap_factor <= 0 || self->watermark == INT64_MIN || total == 0)
        return 0;
    size_t slice = (total + parts - 1) / parts;
    size_t found = 0;
    for (size_t index = 0; index < slice; index++) {
        if (self->cursor >= total)
            self->cursor = 0;
        lw_sensor_t *sensor = self->all[self->cursor++];
        if (s_sweep_one (self, sensor)) {
            found++;
            fn (sensor, self->watermark, arg);
        }
    }
    return found;
}

//  --------------------------------------------------------------------------
//  Newest reading time over all sensors

int64_t
lw_clean_watermark (lw_clean_t *self)
{
    assert (self);
    return self->watermark;
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
    case LW_CLEAN_LIMIT:
        return "limit";
    default:
        return "unknown";
    }
}

//  --------------------------------------------------------------------------
//  Self test helper: one reading through check and track, as lw-ingest
//  does; returns 1 when it ends a gap, 0 when not, -1 when rejected

static int
s_test_feed (lw_clean_t *clean, lw_sensor_t *sensor, int64_t seconds)
{
    bool was_seen = sensor->seen;
    int64_t previous = sensor->newest;
    uint32_t quality = 0;
    int64_t time = seconds * LW_NS_PER_SEC;
    if (lw_clean_check (lw_clean_lateness (clean), sensor, time, 1.0,
                        &quality) != LW_CLEAN_OK)
        return -1;
    return lw_clean_track (clean, sensor, was_seen, previous, time) ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  Self test helper: a silent sensor found by a sweep

static void
s_test_silent (lw_sensor_t *sensor, int64_t watermark, void *arg)
{
    lw_sensor_t **found = (lw_sensor_t **)arg;
    *found = sensor;
    assert (watermark >= sensor->newest);
}

//  --------------------------------------------------------------------------
//  Self test of gaps: (a) a reading after a long interval, (b) a sensor
//  silent while the others go on, once per silence; a finished stream,
//  another time domain and a clock set wrong make no sensor silent

static void
s_test_gaps (void)
{
    int64_t base = 1700000000;
    lw_clean_t *clean = lw_clean_new (64, 60 * LW_NS_PER_SEC, 10);
    assert (clean);
    int result;
    lw_sensor_t *one = lw_clean_sensor (clean, "m/one", &result);
    lw_sensor_t *two = lw_clean_sensor (clean, "m/two", &result);
    lw_sensor_t *late = lw_clean_sensor (clean, "old/replayed", &result);
    lw_sensor_t *found = NULL;
    assert (one && two && late);
    //  Off by default: nothing tracked, nothing found
    lw_sensor_t *off = lw_clean_sensor (clean, "m/off", &result);
    assert (off);
    assert (s_test_feed (clean, off, base) == 0);
    assert (s_test_feed (clean, off, base + 100) == 0);
    assert (lw_clean_watermark (clean) == INT64_MIN);
    assert (lw_clean_sweep (clean, 1, s_test_silent, &found) == 0);
    lw_clean_set_gaps (clean, 5);

    //  Two sensors at 1 s learn their interval; nothing is silent
    int64_t second = base + 200;
    for (; second < base + 220; second++) {
        assert (s_test_feed (clean, one, second) == 0);
        assert (s_test_feed (clean, two, second) == 0);
        assert (lw_clean_sweep (clean, 1, s_test_silent, &found) == 0);
    }
    assert (lw_clean_watermark (clean) == (second - 1) * LW_NS_PER_SEC);
    assert (one->interval.count >= LW_INTERVAL_WARMUP);
    //  one stops; two goes on: silent once 5 s of event time passed
    int64_t stopped = second - 1;
    for (; second <= stopped + 5; second++) {
        assert (s_test_feed (clean, two, second) == 0);
        assert (lw_clean_sweep (clean, 1, s_test_silent, &found) == 0);
    }
    assert (s_test_feed (clean, two, second) == 0); //  stopped + 6
    assert (lw_clean_sweep (clean, 1, s_test_silent, &found) == 1);
    assert (found == one && one->silent);
    assert (one->newest == stopped * LW_NS_PER_SEC);
    //  Reported once per silence
    for (second++; second < stopped + 20; second++) {
        assert (s_test_feed (clean, two, second) == 0);
        assert (lw_clean_sweep (clean, 1, s_test_silent, &found) == 0);
    }
    //  It comes back: the reading ends the gap (a) and the silence; the
    //  long interval is not learned
    double usual = one->interval.usual;
    assert (s_test_feed (clean, one, second) == 1);
    assert (!one->silent && one->interval.usual == usual);
    assert (s_test_feed (clean, one, second + 1) == 0);
    //  A late reading neither ends a silence nor teaches
    assert (s_test_feed (clean, one, second - 1) == 0);
    assert (one->interval.usual == usual);
    //  Sliced sweeps: one sensor in three per call; the three calls
    //  find the silent one once
    lw_clean_t *sliced = lw_clean_new (64, 60 * LW_NS_PER_SEC, 10);
    assert (sliced);
    lw_clean_set_gaps (sliced, 5);
    lw_sensor_t *trio[3];
    for (int index = 0; index < 3; index++) {
        char key[16];
        snprintf (key, sizeof key, "t/s%d", index);
        trio[index] = lw_clean_sensor (sliced, key, &result);
        assert (trio[index]);
    }
    for (int64_t at = base; at < base + 20; at++)
        for (int index = 0; index < 3; index++)
            assert (s_test_feed (sliced, trio[index], at) == 0);
    for (int64_t at = base + 20; at < base + 30; at++)
        for (int index = 1; index < 3; index++)
            assert (s_test_feed (sliced, trio[index], at) == 0);
    size_t silent = 0;
    for (int call = 0; call < 6; call++)
        silent += lw_clean_sweep (sliced, 3, s_test_silent, &found);
    assert (silent == 1 && found == trio[0]);
    lw_clean_destroy (&sliced);

    //  A gap found by the reading alone (no sweep in between)
    assert (s_test_feed (clean, two, second + 30) == 1);

    //  Another time domain: a replay two hours behind, stopped, is never
    //  judged silent while the others go on
    second += 31;
    assert (s_test_feed (clean, one, second) == 1);
    assert (s_test_feed (clean, two, second) == 0);
    second++;
    for (int64_t index = 0; index < 20; index++, second++) {
        assert (s_test_feed (clean, late, second - 7200) == 0);
        assert (s_test_feed (clean, one, second) == 0);
        assert (s_test_feed (clean, two, second) == 0);
    }
    for (int64_t index = 0; index < 30; index++, second++) {
        assert (s_test_feed (clean, one, second) == 0);
        assert (s_test_feed (clean, two, second) == 0);
        assert (lw_clean_sweep (clean, 1, s_test_silent, &found) == 0);
    }
    //  A finished stream: the watermark stays, so however often the sweep
    //  runs, nobody becomes silent
    for (int sweep = 0; sweep < 10; sweep++)
        assert (lw_clean_sweep (clean, 1, s_test_silent, &found) == 0);
    //  A clock set wrong beyond the cap does not move the watermark
    int64_t watermark = lw_clean_watermark (clean);
    lw_clean_set_cap (clean, watermark + 100 * LW_NS_PER_SEC);
    assert (s_test_feed (clean, two, base + 1000000) == 1); //  Its own gap
    assert (lw_clean_watermark (clean) == watermark);
    assert (lw_clean_sweep (clean, 1, s_test_silent, &found) == 0);
    lw_clean_destroy (&clean);
}

//  --------------------------------------------------------------------------
//  Self test helper: counts silent sensors

static void
s_bench_silent (lw_sensor_t *sensor, int64_t watermark, void *arg)
{
    (void)sensor;
    (void)watermark;
    (*(size_t *)arg)++;
}

//  --------------------------------------------------------------------------
//  Cost of a sweep (the once-a-second look for silent sensors) over a
//  million sensors, and of the per-reading tracking

static void
s_bench_sweep (void)
{
    enum { SENSORS = 1000000, ROUNDS = 10 };
    lw_clean_t *clean = lw_clean_new (64, 60 * LW_NS_PER_SEC, SENSORS);
    assert (clean);
    lw_clean_set_gaps (clean, 5);
    lw_sensor_t **sensors =
        (lw_sensor_t **)calloc (SENSORS, sizeof (lw_sensor_t *));
    assert (sensors);
    for (int index = 0; index < SENSORS; index++) {
        char key[32];
        snprintf (key, sizeof key, "bench/m%d/s%d", index / 10, index % 10);
        int result;
        sensors[index] = lw_clean_sensor (clean, key, &result);
        assert (sensors[index]);
    }
    int64_t base = 1700000000;
    int64_t started = zclock_usecs ();
    for (int64_t round = 0; round < ROUNDS; round++)
        for (int index = 0; index < SENSORS; index++)
            s_test_feed (clean, sensors[index], base + round);
    double track_ns =
        (double)(zclock_usecs () - started) * 1000.0 / (ROUNDS * SENSORS);
    size_t silent = 0;
    started = zclock_usecs ();
    for (int round = 0; round < ROUNDS; round++)
        lw_clean_sweep (clean, 1, s_bench_silent, &silent);
    double sweep_ms = (double)(zclock_usecs () - started) / 1000.0 / ROUNDS;
    started = zclock_usecs ();
    for (int round = 0; round < 10 * ROUNDS; round++)
        lw_clean_sweep (clean, 10, s_bench_silent, &silent);
    double tick_ms =
        (double)(zclock_usecs () - started) / 1000.0 / (10 * ROUNDS);
    assert (silent == 0);
    printf ("   gaps: check + track %.0f ns/reading; a look at all %d "
            "sensors %.1f ms, a tenth of them (one 100 ms tick) %.1f ms\n",
            track_ns, SENSORS, sweep_ms, tick_ms);
    free (sensors);
    lw_clean_destroy (&clean);
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

    //  Duplicates that are not the newest: found in the recent ring
    lw_clean_t *dups = lw_clean_new (64, lateness, 10);
    assert (dups);
    lw_sensor_t *dup = lw_clean_sensor (dups, "m/dup", &result);
    assert (dup);
    quality = 0;
    for (int64_t step = 0; step < 5; step++)
        assert (lw_clean_check (lateness, dup, base + step * 100, 1.0,
                                &quality) == LW_CLEAN_OK);
    assert (quality == 0);
    assert (lw_clean_check (lateness, dup, base + 200, 1.0, &quality) ==
            LW_CLEAN_DUPLICATE);
    assert (lw_clean_check (lateness, dup, base, 1.0, &quality) ==
            LW_CLEAN_DUPLICATE); //  The first, held in every slot
    //  Out of order, new: accepted once, then a duplicate
    assert (lw_clean_check (lateness, dup, base + 150, 1.0, &quality) ==
            LW_CLEAN_OK);
    assert (quality == LW_QUALITY_LATE);
    assert (lw_clean_check (lateness, dup, base + 150, 1.0, &quality) ==
            LW_CLEAN_DUPLICATE);
    //  Beyond the ring (8 accepted since): no longer recognised
    for (int64_t step = 5; step < 5 + LW_CLEAN_RECENT; step++)
        assert (lw_clean_check (lateness, dup, base + step * 100, 1.0,
                                &quality) == LW_CLEAN_OK);
    assert (lw_clean_check (lateness, dup, base + 100, 1.0, &quality) ==
            LW_CLEAN_OK);
    lw_clean_destroy (&dups);

    //  Limits: first matching pattern wins; flag or drop
    lw_clean_t *limits = lw_clean_new (64, lateness, 10);
    assert (limits);
    assert (lw_clean_add_limit (limits, "line1/*/temp", 0, 100, false) == 0);
    assert (lw_clean_add_limit (limits, "line1/press3/*", -5, 5, true) == 0);
    assert (lw_clean_add_limit (limits, "", 0, 1, false) == -1);
    assert (lw_clean_add_limit (limits, "x", 2, 1, false) == -1);
    assert (lw_clean_add_limit (limits, "x", NAN, 1, false) == -1);
    assert (lw_clean_limits (limits) == 2);
    lw_sensor_t *hot = lw_clean_sensor (limits, "line1/press3/temp", &result);
    lw_sensor_t *vib3 = lw_clean_sensor (limits, "line1/press3/vib", &result);
    lw_sensor_t *free_ = lw_clean_sensor (limits, "line2/press3/vib", &result);
    assert (hot && vib3 && free_);
    assert (hot->limited && !hot->limit_drop && hot->high == 100);
    assert (vib3->limited && vib3->limit_drop && vib3->low == -5);
    assert (!free_->limited);
    quality = 0;
    assert (lw_clean_check (lateness, hot, base, 50, &quality) == LW_CLEAN_OK);
    assert (quality == 0);
    assert (lw_clean_check (lateness, hot, base + 1, 100, &quality) ==
            LW_CLEAN_OK); //  Inclusive
    assert (quality == 0);
    assert (lw_clean_check (lateness, hot, base + 2, 100.5, &quality) ==
            LW_CLEAN_OK);
    assert (quality == LW_QUALITY_LIMIT);
    quality = 0;
    assert (lw_clean_check (lateness, hot, base + 3, -1, &quality) ==
            LW_CLEAN_OK);
    assert (quality == LW_QUALITY_LIMIT);
    quality = 0;
    assert (lw_clean_check (lateness, vib3, base, 6, &quality) ==
            LW_CLEAN_LIMIT);
    assert (!vib3->seen); //  A dropped reading leaves no trace
    assert (lw_clean_check (lateness, vib3, base, 4, &quality) == LW_CLEAN_OK);
    assert (lw_clean_check (lateness, free_, base, 1e300, &quality) ==
            LW_CLEAN_OK);
    assert (quality == 0);
    lw_clean_destroy (&limits);

    //  Re-ordering: 3, 1, 2 leave as 1, 2, 3 once due; a reading older
    //  than what left already cannot be put back
    lw_clean_t *order = lw_clean_new (64, lateness, 10);
    assert (order);
    lw_sensor_t *one = lw_clean_sensor (order, "m/one", &result);
    lw_sensor_t *two = lw_clean_sensor (order, "m/two", &result);
    assert (one && two);
    assert (lw_clean_holding (order) == NULL);
    lw_held_t held;
    assert (!lw_clean_pop (order, one, INT64_MAX, INT64_MAX, &held));
    assert (lw_clean_hold (order, one, base + 3, 3, 0, 100) == 1);
    assert (lw_clean_hold (order, two, base, 9, 0, 100) == 1);
    assert (lw_clean_hold (order, one, base + 1, 1, LW_QUALITY_LATE, 101) == 1);
    assert (lw_clean_hold (order, one, base + 2, 2, LW_QUALITY_LATE, 102) == 1);
    assert (one->nheld == 3 && two->nheld == 1);
    assert (lw_clean_holding (order) == two); //  Newest joiner first
    assert (two->hold_next == one && one->hold_prev == two);
    //  Not due: neither old enough in event time nor held long enough
    assert (!lw_clean_pop (order, one, base, 99, &held));
    //  Due by event time: the oldest two
    assert (lw_clean_pop (order, one, base + 2, 0, &held));
    assert (held.value == 1 && held.quality == 0); //  Late flag cleared
    assert (lw_clean_pop (order, one, base + 2, 0, &held));
    assert (held.value == 2);
    assert (!lw_clean_pop (order, one, base + 2, 0, &held));
    //  Older than what left: not held
    assert (lw_clean_hold (order, one, base + 1, 5, LW_QUALITY_LATE, 103) == 0);
    //  Due by arrival: the rest
    assert (lw_clean_pop (order, one, 0, 100, &held));
    assert (held.value == 3);
    assert (lw_clean_holding (order) == two);
    assert (lw_clean_pop (order, two, 0, 100, &held));
    assert (lw_clean_holding (order) == NULL);
    //  Full buffer: the caller pops before holding
    for (int index = 0; index < LW_CLEAN_HOLD; index++)
        assert (lw_clean_hold (order, two, base + 100 + index, index, 0, 0) ==
                1);
    assert (two->nheld == LW_CLEAN_HOLD);
    lw_clean_destroy (&order); //  Frees the held buffers

    //  Limits from config
    zconfig_t *config = zconfig_new ("root", NULL);
    zconfig_put (config, "ingest/limit/temps/pattern", "*/temp");
    zconfig_put (config, "ingest/limit/temps/high", "90");
    zconfig_put (config, "ingest/limit/press/pattern", "*/pressure");
    zconfig_put (config, "ingest/limit/press/low", "0");
    zconfig_put (config, "ingest/limit/press/drop", "1");
    limits = lw_clean_new (64, lateness, 10);
    assert (lw_clean_load_limits (limits, config, "ingest/limit") == 0);
    assert (lw_clean_limits (limits) == 2);
    hot = lw_clean_sensor (limits, "m/temp", &result);
    assert (hot->limited && hot->high == 90 && hot->low == -INFINITY);
    lw_clean_destroy (&limits);
    zconfig_put (config, "ingest/limit/press/low", "abc");
    limits = lw_clean_new (64, lateness, 10);
    assert (lw_clean_load_limits (limits, config, "ingest/limit") == -1);
    lw_clean_destroy (&limits);
    zconfig_put (config, "ingest/limit/press/low", "10");
    zconfig_put (config, "ingest/limit/press/high", "5");
    limits = lw_clean_new (64, lateness, 10);
    assert (lw_clean_load_limits (limits, config, "ingest/limit") == -1);
    lw_clean_destroy (&limits);
    zconfig_destroy (&config);

    s_test_gaps ();
    if (verbose)
        s_bench_sweep ();
    for (int code = 0; code < LW_CLEAN_RESULTS; code++)
        assert (strlen (lw_clean_reason (code)) > 0);
    assert (streq (lw_clean_reason (LW_CLEAN_LATE), "late"));
    lw_clean_destroy (&clean);
    lw_clean_destroy (&clean);
    assert (clean == NULL);
    printf ("OK\n");
}
