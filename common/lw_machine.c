/*  =========================================================================
    lw_machine.c - machine-level score over a machine's time-aligned sensors

    Copyright (c) the linewatch authors. MIT license.

    See lw_machine.h. Each sensor the machine shows gets an index (one
    allocation, once); the open row is a set of per-index slots marked
    with the row number, so opening a row costs nothing and closing one
    is a pass over the machine's sensors.
    =========================================================================
*/

#include "lw_machine.h"
#include "lw_cfg.h"
#include "lw_keymap.h"
#include "lw_util.h"

#include <math.h>

//  One sensor of the machine and its slot in the open row
typedef struct {
    char name[LW_NAME_MAX - 3]; //  Sensor part of the key (fits "top:")
    uint64_t row;               //  Row number of the slot's content
    double score;               //  Its score in that row
    double value;               //  Its value
    double expected_low;        //  Its expected range
    double expected_high;
    bool scored; //  Not warming up
} s_member_t;

struct _lw_machine_t {
    lw_detect_cfg_t detect;   //  Thresholds (episode)
    lw_machine_cfg_t cfg;     //  Settings
    char key[LW_KEY_MAX + 1]; //  The machine
    size_t min_sensors;       //  Sensors before the episode runs
    lw_episode_t *episode;    //  Alert episodes on the machine score
    lw_keymap_t *index;       //  Sensor key -> s_member_t (not owned)
    s_member_t **members;     //  By index (owned)
    size_t count;             //  Sensors shown
    size_t capacity;          //  Slots in members
    bool open;                //  A row is open
    uint64_t row;             //  Number of the open (or last) row
    int64_t row_bucket;       //  Its bucket
    int64_t row_time;         //  Newest time in it
    size_t row_count;         //  Sensors in it
    double peak;              //  Peak machine score of the run
    size_t ncontrib;          //  Contributors at the peak
    char contrib[LW_MACHINE_CONTRIBUTORS][LW_NAME_MAX + 1];
};

//  --------------------------------------------------------------------------
//  Fills the defaults (those config/linewatch.cfg shows).

void
lw_machine_cfg_default (lw_machine_cfg_t *out)
{
    assert (out);
    out->enabled = true;
    out->top = 2;
    out->floor = 0.6;
    out->align = 0;
}

//  --------------------------------------------------------------------------
//  Reads scorer/machine; returns 0 or -1 (logged).

int
lw_machine_cfg_load (zconfig_t *cfg, lw_machine_cfg_t *out)
{
    assert (out);
    lw_machine_cfg_default (out);
    if (!cfg)
        return 0;
    lw_machine_cfg_t dflt = *out;
    int rc = 0;
    if (lw_cfg_bool (cfg, "scorer/machine/enabled", dflt.enabled,
                     &out->enabled))
        rc = -1;
    if (lw_cfg_int (cfg, "scorer/machine/top", dflt.top, 1, 64, &out->top))
        rc = -1;
    if (lw_cfg_double (cfg, "scorer/machine/floor", dflt.floor, 0, 1,
                       &out->floor))
        rc = -1;
    if (lw_cfg_int (cfg, "scorer/machine/align", dflt.align, 0, 86400000,
                    &out->align))
        rc = -1;
    return rc;
}

//  --------------------------------------------------------------------------
//  Creates a machine's state; see the header. NULL when out of memory.

lw_machine_t *
lw_machine_new (const lw_detect_cfg_t *detect, const lw_machine_cfg_t *cfg,
                const char *key, size_t min_sensors)
{
    assert (detect);
    assert (cfg);
    assert (key);
    lw_machine_t *self = (lw_machine_t *)zmalloc (sizeof (lw_machine_t));
    if (!self)
        return NULL;
    self->detect = *detect;
    self->cfg = *cfg;
    snprintf (self->key, sizeof (self->key), "%s", key);
    self->min_sensors = min_sensors;
    self->peak = -1;
    self->episode = lw_episode_new (detect, self->key);
    self->index = lw_keymap_new (NULL);
    if (!self->episode || !self->index)
        lw_machine_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the state; accepts NULL and sets the pointer to NULL.

void
lw_machine_destroy (lw_machine_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_machine_t *self = *self_p;
        for (size_t index = 0; index < self->count; index++)
            free (self->members[index]);
        free (self->members);
        lw_keymap_destroy (&self->index);
        lw_episode_destroy (&self->episode);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Bucket of an event time

static int64_t
s_bucket (lw_machine_t *self, int64_t time)
{
    if (self->cfg.align <= 0)
        return time;
    int64_t width = self->cfg.align * LW_NS_PER_MS;
    int64_t bucket = time / width;
    if (time % width < 0)
        bucket--;
    return bucket;
}

//  --------------------------------------------------------------------------
//  True when `time` is of a later row than the open one.

bool
lw_machine_due (lw_machine_t *self, int64_t time)
{
    assert (self);
    return self->open && s_bucket (self, time) > self->row_bucket;
}

//  --------------------------------------------------------------------------
//  The member of a sensor key, added on first sight; NULL when the
//  machine is full or memory runs out.

static s_member_t *
s_member (lw_machine_t *self, const char *sensor)
{
    s_member_t *member = (s_member_t *)lw_keymap_lookup (self->index, sensor);
    if (member)
        return member;
    if (self->count >= LW_MACHINE_SENSORS_MAX)
        return NULL;
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? 2 * self->capacity : 8;
        s_member_t **members = (s_member_t **)realloc (
            self->members, capacity * sizeof (s_member_t *));
        if (!members)
            return NULL;
        self->members = members;
        self->capacity = capacity;
    }
    member = (s_member_t *)zmalloc (sizeof (s_member_t));
    if (!member)
        return NULL;
    const char *slash = strrchr (sensor, '/');
    snprintf (member->name, sizeof (member->name), "%s",
              slash ? slash + 1 : sensor);
    member->row = UINT64_MAX;
    if (lw_keymap_insert (self->index, sensor, member)) {
        free (member);
        return NULL;
    }
    self->members[self->count++] = member;
    return member;
}

//  --------------------------------------------------------------------------
//  Adds a scored item to the open row (opening one).

void
lw_machine_add (lw_machine_t *self, const char *sensor, const lw_item_t *item)
{
    assert (self);
    assert (sensor);
    assert (item);
    s_member_t *member = s_member (self, sensor);
    if (!self->open) {
        self->open = true;
        self->row++;
        self->row_bucket = s_bucket (self, item->time);
        self->row_time = item->time;
        self->row_count = 0;
    }
    if (item->time > self->row_time)
        self->row_time = item->time;
    if (!member)
        return;
    double score = item->score >= 0 && item->score <= 1 ? item->score
                   : item->score > 1                    ? 1
                                                        : 0;
    if (member->row == self->row && member->score >= score)
        return;
    if (member->row != self->row)
        self->row_count++;
    member->row = self->row;
    member->score = score;
    member->value = item->value;
    member->expected_low = item->expected_low;
    member->expected_high = item->expected_high;
    member->scored = !(item->flags & LW_SCORE_WARMUP);
}

//  --------------------------------------------------------------------------
//  True when every known sensor reported in the open row.

bool
lw_machine_complete (lw_machine_t *self)
{
    assert (self);
    return self->open && self->row_count >= self->count;
}

//  --------------------------------------------------------------------------
//  True when a row is open.

bool
lw_machine_open (lw_machine_t *self)
{
    assert (self);
    return self->open;
}

//  --------------------------------------------------------------------------
//  Closes the open row and runs the episode; see the header.

int
lw_machine_close (lw_machine_t *self, lw_item_t *out, lw_alert_t *alert)
{
    assert (self);
    assert (out);
    assert (alert);
    if (!self->open)
        return -1;
    self->open = false;
    //  The row's `top` highest scores, highest first (top is small)
    s_member_t *best[64];
    size_t nbest = 0;
    size_t top = (size_t)self->cfg.top;
    bool scored = false;
    for (size_t index = 0; index < self->count; index++) {
        s_member_t *member = self->members[index];
        if (member->row != self->row)
            continue;
        scored |= member->scored;
        size_t at = nbest < top ? nbest++ : top;
        if (at == top && member->score <= best[top - 1]->score)
            continue;
        if (at == top)
            at = top - 1;
        while (at > 0 && best[at - 1]->score < member->score) {
            best[at] = best[at - 1];
            at--;
        }
        best[at] = member;
    }
    memset (out, 0, sizeof (*out));
    out->sensor = self->key;
    out->time = self->row_time;
    if (nbest > 0) {
        double keep = 1.0;
        for (size_t index = 0; index < nbest; index++)
            if (best[index]->score >= self->cfg.floor)
                keep *= 1.0 - best[index]->score;
        double score = 1.0 - keep;
        out->score = score > best[0]->score ? score : best[0]->score;
        out->value = best[0]->value;
        out->expected_low = best[0]->expected_low;
        out->expected_high = best[0]->expected_high;
    }
    if (!scored)
        out->flags |= LW_SCORE_WARMUP;
    if (self->count < self->min_sensors)
        return -1;

    //  Contributors at the peak of the run or episode
    if (out->score > self->peak) {
        self->peak = out->score;
        self->ncontrib = 0;
        for (size_t index = 0;
             index < nbest && self->ncontrib < LW_MACHINE_CONTRIBUTORS; index++)
            if (index == 0 || best[index]->score >= self->cfg.floor)
                snprintf (self->contrib[self->ncontrib++],
                          sizeof (self->contrib[0]), "%s%s",
                          LW_MACHINE_TOP_PREFIX, best[index]->name);
    }
    int change =
        lw_episode_update (self->episode, out, LW_DETECTOR_MACHINE, alert);
    if (change) {
        alert->ndetectors = 1;
        for (size_t index = 0;
             index < self->ncontrib && alert->ndetectors < LW_DETECTORS_MAX;
             index++)
            memcpy (alert->detectors[alert->ndetectors++], self->contrib[index],
                    sizeof (self->contrib[0]));
    }
    if (!(out->flags & LW_SCORE_ALERT) &&
        (change == LW_ALERT_CLOSE || out->score < self->detect.open_threshold))
        self->peak = -1;
    return change;
}

//  --------------------------------------------------------------------------
//  Sensors shown.

size_t
lw_machine_sensors (lw_machine_t *self)
{
    assert (self);
    return self->count;
}

//  --------------------------------------------------------------------------
//  The machine's key.

const char *
lw_machine_key (lw_machine_t *self)
{
    assert (self);
    return self->key;
}

//  --------------------------------------------------------------------------
//  Self test helper: a scored item

static lw_item_t
s_item (int64_t time, double score)
{
    lw_item_t item;
    memset (&item, 0, sizeof (item));
    item.time = time;
    item.value = 10 + score;
    item.score = score;
    item.expected_low = 9;
    item.expected_high = 11;
    return item;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_machine_test (bool verbose)
{
    printf (" * lw_machine: ");
    if (verbose)
        printf ("\n");
    lw_detect_cfg_t detect;
    lw_detect_cfg_default (&detect);
    lw_machine_cfg_t cfg;
    lw_machine_cfg_default (&cfg);
    assert (cfg.top == 2 && cfg.floor == 0.6);
    cfg.top = 3;
    cfg.floor = 0.4;

    //  Config
    zconfig_t *config = zconfig_new ("root", NULL);
    zconfig_put (config, "scorer/machine/top", "2");
    zconfig_put (config, "scorer/machine/align", "1000");
    lw_machine_cfg_t loaded;
    assert (lw_machine_cfg_load (config, &loaded) == 0);
    assert (loaded.top == 2 && loaded.align == 1000 && loaded.enabled);
    zconfig_put (config, "scorer/machine/top", "0");
    assert (lw_machine_cfg_load (config, &loaded) == -1);
    zconfig_put (config, "scorer/machine/top", "3");
    zconfig_put (config, "scorer/machine/floor", "2");
    assert (lw_machine_cfg_load (config, &loaded) == -1);
    zconfig_destroy (&config);
    assert (lw_machine_cfg_load (NULL, &loaded) == 0);

    lw_machine_t *machine = lw_machine_new (&detect, &cfg, "line1/press3", 2);
    assert (machine);
    assert (streq (lw_machine_key (machine), "line1/press3"));
    const char *keys[] = {"line1/press3/temp", "line1/press3/vib",
                          "line1/press3/current", "line1/press3/cycle"};
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    lw_item_t out;
    assert (lw_machine_close (machine, &out, &alert) == -1);
    int opens = 0, closes = 0;
    for (int step = 0; step < 200; step++) {
        int64_t time = (1700000000LL + step) * LW_NS_PER_SEC;
        for (int sensor = 0; sensor < 4; sensor++) {
            //  Step 50: three sensors at 0.5 each (none alone alerts);
            //  step 120: one sensor at 0.95
            double score = 0.05;
            if (step == 50 && sensor < 3)
                score = 0.5;
            if (step == 120 && sensor == 1)
                score = 0.95;
            //  Sensor 3 misses step 80: the row waits for the next step
            if (step == 80 && sensor == 3)
                continue;
            lw_item_t item = s_item (time, score);
            assert (!lw_machine_due (machine, time));
            lw_machine_add (machine, keys[sensor], &item);
        }
        if (step == 80) {
            assert (!lw_machine_complete (machine));
            int64_t next = time + LW_NS_PER_SEC;
            assert (lw_machine_due (machine, next));
        }
        else
            assert (lw_machine_complete (machine));
        int change = lw_machine_close (machine, &out, &alert);
        assert (change >= 0);
        assert (!lw_machine_open (machine));
        assert (out.time == time);
        assert (streq (out.sensor, "line1/press3"));
        if (step == 50)
            assert (fabs (out.score - 0.875) < 1e-9);
        else if (step == 120)
            assert (fabs (out.score - 0.95) < 1e-9);
        else
            assert (out.score == 0.05);
        if (change == LW_ALERT_OPEN) {
            opens++;
            assert (step == 50 || step == 120);
            assert (streq (alert.sensor, "line1/press3"));
            assert (streq (alert.detectors[0], LW_DETECTOR_MACHINE));
            if (step == 50) {
                assert (alert.ndetectors == 4);
                assert (streq (alert.detectors[1], "top:temp"));
            }
            else {
                assert (alert.ndetectors == 2);
                assert (streq (alert.detectors[1], "top:vib"));
                assert (alert.value == 10.95);
            }
        }
        if (change == LW_ALERT_CLOSE) {
            closes++;
            assert (alert.ndetectors >= 2);
        }
    }
    assert (opens == 2 && closes == 2);
    assert (lw_machine_sensors (machine) == 4);
    lw_machine_destroy (&machine);
    lw_machine_destroy (&machine);

    //  One sensor shown: rows are scored but feed no episode; a sensor
    //  reported twice in a row keeps its higher score; align buckets
    cfg.align = 1000;
    machine = lw_machine_new (&detect, &cfg, "m", 2);
    assert (machine);
    lw_item_t item = s_item (LW_NS_PER_SEC, 0.9);
    lw_machine_add (machine, "m/a", &item);
    item = s_item (LW_NS_PER_SEC + 500 * LW_NS_PER_MS, 0.2);
    assert (!lw_machine_due (machine, item.time));
    lw_machine_add (machine, "m/a", &item);
    assert (lw_machine_due (machine, 2 * LW_NS_PER_SEC));
    assert (lw_machine_close (machine, &out, &alert) == -1);
    assert (out.score == 0.9);
    assert (out.time == LW_NS_PER_SEC + 500 * LW_NS_PER_MS);
    item = s_item (2 * LW_NS_PER_SEC, 0.1);
    item.flags = LW_SCORE_WARMUP;
    lw_machine_add (machine, "m/a", &item);
    assert (lw_machine_close (machine, &out, &alert) == -1);
    assert (out.flags & LW_SCORE_WARMUP);
    lw_machine_destroy (&machine);
    printf ("OK\n");
}
