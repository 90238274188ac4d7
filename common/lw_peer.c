/*  =========================================================================
    lw_peer.c - peer groups: a sensor scored against its fleet at each moment

    Copyright (c) the linewatch authors. MIT license.

    See lw_peer.h. Members get an index on first sight (one allocation);
    the open row is per-member slots marked with the row number, and
    closing a row sorts two small scratch arrays (the members' residuals
    and their absolute deviations) for the medians.
    =========================================================================
*/

#include "lw_peer.h"
#include "lw_cfg.h"
#include "lw_keymap.h"
#include "lw_util.h"

#include <fnmatch.h>
#include <math.h>

//  MAD -> sigma for normal noise
#define S_SIGMA_PER_MAD 1.482602218505602
//  EWMA weight of a row's spread in the group's spread
#define S_SPREAD_ALPHA 0.01
//  Offsets learn from deviations clipped at this many spreads
#define S_OFFSET_CLIP 3.0
//  Expected range: the fleet's centre +- this many spreads
#define S_RANGE_SPREADS 3.0

//  One configured group
typedef struct {
    char name[LW_PEER_NAME_MAX + 1]; //  Group name
    char pattern[LW_KEY_MAX + 1];    //  fnmatch glob on keys
    long align;                      //  Row bucket, ms; 0 = exact time
    double smooth;                   //  EWMA factor of the deviation
    double z_scale;                  //  z at which the score is 0.5
} s_group_t;

struct _lw_peers_t {
    size_t count;                         //  Groups in use
    s_group_t groups[LW_PEER_GROUPS_MAX]; //  In config order
};

//  One member of a group
typedef struct {
    char key[LW_KEY_MAX + 1];      //  Member's sensor key
    lw_episode_t *episode;         //  Its peer alert episodes
    lw_alert_t alert;              //  Its last alert
    uint64_t serial[LW_PEER_ROWS]; //  Per row slot: serial of the row its
                                   //  value belongs to (0 = none)
    int64_t time[LW_PEER_ROWS];    //  Per row slot: reading time
    double value[LW_PEER_ROWS];    //  Per row slot: reading value
    bool seen;                     //  Reported at least once
    int64_t newest_bucket;         //  Bucket of its newest reading
    uint64_t heard;                //  Group's item count at its last item
    double offset;                 //  Usual difference from the fleet
    double deviation;              //  EWMA of the deviation from the fleet
    long rows;                     //  Rows judged in
} s_member_t;

//  A pending row (one time bucket)
typedef struct {
    int64_t bucket;  //  Its bucket
    uint64_t serial; //  Its serial (members' slots carry it)
    size_t count;    //  Members in it
} s_row_t;

struct _lw_peer_t {
    lw_detect_cfg_t detect;       //  Thresholds, floors, warm-up
    s_group_t group;              //  Settings
    lw_keymap_t *index;           //  Key -> s_member_t (not owned)
    s_member_t **members;         //  By index (owned)
    double *residuals;            //  Scratch, capacity doubles
    double *spreads;              //  Scratch, capacity doubles
    size_t count;                 //  Members shown
    size_t capacity;              //  Slots in members and the scratch arrays
    s_row_t rows[LW_PEER_ROWS];   //  Row slots
    int pending[LW_PEER_ROWS];    //  Slots of pending rows, by bucket
    size_t npending;              //  Pending rows
    int free_slots[LW_PEER_ROWS]; //  Free slots
    size_t nfree;                 //  Free slots
    uint64_t serial;              //  Serial of the last row opened
    bool closed_any;              //  A row was closed
    int64_t closed_bucket;        //  Bucket of the newest closed row
    uint64_t items;               //  Items added to the group
    s_member_t **present;         //  Scratch: members of a row
    double spread;                //  Group spread S, 0 until learned
};

//  --------------------------------------------------------------------------
//  Creates an empty set. Returns it (caller owns) or NULL.

lw_peers_t *
lw_peers_new (void)
{
    return (lw_peers_t *)zmalloc (sizeof (lw_peers_t));
}

//  --------------------------------------------------------------------------
//  Destroys the set; accepts NULL and sets the pointer to NULL.

void
lw_peers_destroy (lw_peers_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Adds a group; returns its index or -1.

int
lw_peers_add (lw_peers_t *self, const char *name, const char *pattern,
              long align, double smooth, double z_scale)
{
    assert (self);
    assert (name);
    assert (pattern);
    if (self->count >= LW_PEER_GROUPS_MAX || !*name ||
        strlen (name) > LW_PEER_NAME_MAX || !*pattern ||
        strlen (pattern) > LW_KEY_MAX || align < 0 || !(smooth > 0) ||
        smooth > 1 || !(z_scale > 0) || lw_peers_find (self, name) >= 0)
        return -1;
    s_group_t *group = &self->groups[self->count];
    snprintf (group->name, sizeof (group->name), "%s", name);
    snprintf (group->pattern, sizeof (group->pattern), "%s", pattern);
    group->align = align;
    group->smooth = smooth;
    group->z_scale = z_scale;
    return (int)self->count++;
}

//  --------------------------------------------------------------------------
//  Reads every child of `path` as a group; returns 0 or -1 (logged).

int
lw_peers_load (lw_peers_t *self, zconfig_t *cfg, const char *path)
{
    assert (self);
    assert (path);
    if (!cfg)
        return 0;
    zconfig_t *section = zconfig_locate (cfg, path);
    if (!section)
        return 0;
    int rc = 0;
    for (zconfig_t *child = zconfig_child (section); child;
         child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        if (!name || !*name || strlen (name) > LW_PEER_NAME_MAX) {
            zsys_error ("config: %s/%.40s: group name of 1 to %d bytes", path,
                        name ? name : "", LW_PEER_NAME_MAX);
            rc = -1;
            continue;
        }
        char key[LW_KEY_MAX + 128];
        const char *pattern;
        long align = 0;
        double smooth = 0.05;
        double z_scale = 6;
        snprintf (key, sizeof (key), "%s/%s/pattern", path, name);
        if (lw_cfg_string (cfg, key, "", LW_KEY_MAX, &pattern))
            rc = -1;
        else if (!*pattern) {
            zsys_error ("config: %s is missing (a glob on sensor keys)", key);
            rc = -1;
        }
        snprintf (key, sizeof (key), "%s/%s/align", path, name);
        if (lw_cfg_int (cfg, key, 0, 0, 86400000, &align))
            rc = -1;
        snprintf (key, sizeof (key), "%s/%s/smooth", path, name);
        if (lw_cfg_double (cfg, key, 0.05, 0.001, 1, &smooth))
            rc = -1;
        snprintf (key, sizeof (key), "%s/%s/z_scale", path, name);
        if (lw_cfg_double (cfg, key, 6, 0.5, 100, &z_scale))
            rc = -1;
        if (rc == 0 &&
            lw_peers_add (self, name, pattern, align, smooth, z_scale) < 0) {
            zsys_error ("config: %s/%s: more than %d groups or a duplicate",
                        path, name, LW_PEER_GROUPS_MAX);
            rc = -1;
        }
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Number of groups.

size_t
lw_peers_size (lw_peers_t *self)
{
    assert (self);
    return self->count;
}

//  --------------------------------------------------------------------------
//  First group matching a key, or -1.

int
lw_peers_match (lw_peers_t *self, const char *key)
{
    assert (self);
    assert (key);
    for (size_t index = 0; index < self->count; index++)
        if (fnmatch (self->groups[index].pattern, key, 0) == 0)
            return (int)index;
    return -1;
}

//  --------------------------------------------------------------------------
//  Group by name, or -1.

int
lw_peers_find (lw_peers_t *self, const char *name)
{
    assert (self);
    assert (name);
    for (size_t index = 0; index < self->count; index++)
        if (streq (self->groups[index].name, name))
            return (int)index;
    return -1;
}

//  --------------------------------------------------------------------------
//  Name of a group.

const char *
lw_peers_name (lw_peers_t *self, size_t index)
{
    assert (self);
    assert (index < self->count);
    return self->groups[index].name;
}

//  --------------------------------------------------------------------------
//  Partition of a group: fnv1a32 ("peer:" + name) mod partitions.

uint16_t
lw_peers_partition (lw_peers_t *self, size_t index, uint32_t partitions)
{
    assert (self);
    assert (index < self->count);
    assert (partitions > 0);
    char text[LW_PEER_NAME_MAX + 8];
    int size =
        snprintf (text, sizeof (text), "peer:%s", self->groups[index].name);
    return (uint16_t)(lw_fnv1a32 (text, (size_t)size) % partitions);
}

//  --------------------------------------------------------------------------
//  Creates a group's state; NULL when out of memory.

lw_peer_t *
lw_peer_new (const lw_detect_cfg_t *detect, lw_peers_t *peers, size_t index)
{
    assert (detect);
    assert (peers);
    assert (index < peers->count);
    lw_peer_t *self = (lw_peer_t *)zmalloc (sizeof (lw_peer_t));
    if (!self)
        return NULL;
    self->detect = *detect;
    self->group = peers->groups[index];
    for (int slot = 0; slot < LW_PEER_ROWS; slot++)
        self->free_slots[self->nfree++] = LW_PEER_ROWS - 1 - slot;
    self->index = lw_keymap_new (NULL);
    if (!self->index)
        lw_peer_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the state; accepts NULL and sets the pointer to NULL.

void
lw_peer_destroy (lw_peer_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_peer_t *self = *self_p;
        for (size_t index = 0; index < self->count; index++) {
            lw_episode_destroy (&self->members[index]->episode);
            free (self->members[index]);
        }
        free (self->members);
        free (self->residuals);
        free (self->spreads);
        free (self->present);
        lw_keymap_destroy (&self->index);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Bucket of an event time

static int64_t
s_bucket (lw_peer_t *self, int64_t time)
{
    if (self->group.align <= 0)
        return time;
    int64_t width = self->group.align * LW_NS_PER_MS;
    int64_t bucket = time / width;
    if (time % width < 0)
        bucket--;
    return bucket;
}

//  --------------------------------------------------------------------------
//  Grows the member and scratch arrays; 0 or -1.

static int
s_grow (lw_peer_t *self)
{
    size_t capacity = self->capacity ? 2 * self->capacity : 16;
    s_member_t **members = (s_member_t **)realloc (
        self->members, capacity * sizeof (s_member_t *));
    if (!members)
        return -1;
    self->members = members;
    double *residuals =
        (double *)realloc (self->residuals, capacity * sizeof (double));
    if (!residuals)
        return -1;
    self->residuals = residuals;
    double *spreads =
        (double *)realloc (self->spreads, capacity * sizeof (double));
    if (!spreads)
        return -1;
    self->spreads = spreads;
    s_member_t **present = (s_member_t **)realloc (
        self->present, capacity * sizeof (s_member_t *));
    if (!present)
        return -1;
    self->present = present;
    self->capacity = capacity;
    return 0;
}

//  --------------------------------------------------------------------------
//  The member of a key, added on first sight; NULL when full or no memory

static s_member_t *
s_member (lw_peer_t *self, const char *sensor)
{
    s_member_t *member = (s_member_t *)lw_keymap_lookup (self->index, sensor);
    if (member)
        return member;
    if (self->count >= LW_PEER_MEMBERS_MAX ||
        (self->count == self->capacity && s_grow (self)))
        return NULL;
    member = (s_member_t *)zmalloc (sizeof (s_member_t));
    if (!member)
        return NULL;
    snprintf (member->key, sizeof (member->key), "%s", sensor);
    member->episode = lw_episode_new (&self->detect, member->key);
    if (!member->episode || lw_keymap_insert (self->index, sensor, member)) {
        lw_episode_destroy (&member->episode);
        free (member);
        return NULL;
    }
    //  The fleet's centre moves with its membership: everyone learns
    //  their offset again
    for (size_t index = 0; index < self->count; index++) {
        self->members[index]->rows = 0;
        self->members[index]->deviation = 0;
    }
    self->members[self->count++] = member;
    return member;
}

//  --------------------------------------------------------------------------
//  Closes the oldest pending row: judges its members (when there are
//  enough) and frees its slot. Returns the members judged.

static size_t
s_close_oldest (lw_peer_t *self, lw_peer_fn *fn, void *arg)
{
    assert (self->npending > 0);
    int slot = self->pending[0];
    s_row_t *row = &self->rows[slot];
    memmove (self->pending, self->pending + 1,
             (self->npending - 1) * sizeof (int));
    self->npending--;
    self->free_slots[self->nfree++] = slot;
    self->closed_any = true;
    self->closed_bucket = row->bucket;
    size_t count = 0;
    for (size_t index = 0; index < self->count; index++) {
        s_member_t *member = self->members[index];
        if (member->serial[slot] == row->serial)
            self->present[count++] = member;
    }
    if (count < LW_PEER_MIN_MEMBERS)
        return 0;
    const lw_detect_cfg_t *detect = &self->detect;
    for (size_t index = 0; index < count; index++) {
        s_member_t *member = self->present[index];
        self->residuals[index] = member->value[slot] - member->offset;
    }
    double centre = lw_median (self->residuals, count);
    for (size_t index = 0; index < count; index++) {
        s_member_t *member = self->present[index];
        self->spreads[index] =
            fabs (member->value[slot] - member->offset - centre);
    }
    double row_spread = S_SIGMA_PER_MAD * lw_median (self->spreads, count);
    if (self->spread <= 0)
        self->spread = row_spread;
    else
        self->spread += S_SPREAD_ALPHA * (row_spread - self->spread);
    double spread = self->spread;
    if (spread < detect->floor_abs)
        spread = detect->floor_abs;
    if (spread < detect->floor_rel * fabs (centre))
        spread = detect->floor_rel * fabs (centre);
    if (!(spread > 0))
        spread = 1e-12;
    double smooth = self->group.smooth;
    double noise = spread * sqrt (smooth / (2 - smooth));
    long warmup =
        detect->warmup > LW_PEER_WARMUP ? detect->warmup : LW_PEER_WARMUP;

    for (size_t index = 0; index < count; index++) {
        s_member_t *member = self->present[index];
        double value = member->value[slot];
        double deviation = value - member->offset - centre;
        lw_item_t item;
        memset (&item, 0, sizeof (item));
        item.sensor = member->key;
        item.time = member->time[slot];
        item.value = value;
        item.expected_low = centre + member->offset - S_RANGE_SPREADS * spread;
        item.expected_high = centre + member->offset + S_RANGE_SPREADS * spread;
        if (member->rows < warmup) {
            //  Warm-up: the offset is the running mean of the deviation
            member->rows++;
            member->offset += deviation / (double)member->rows;
            item.flags |= LW_SCORE_WARMUP;
        }
        else {
            member->deviation += smooth * (deviation - member->deviation);
            double z = fabs (member->deviation) / noise;
            double ratio = z / self->group.z_scale;
            item.score = 1.0 - exp (-M_LN2 * ratio * ratio);
            if (item.score < detect->close_threshold) {
                double clip = S_OFFSET_CLIP * spread;
                double step = deviation > clip    ? clip
                              : deviation < -clip ? -clip
                                                  : deviation;
                member->offset += LW_PEER_OFFSET_RATE * step;
            }
            if (member->rows < LONG_MAX)
                member->rows++;
        }
        int change = lw_episode_update (member->episode, &item,
                                        LW_DETECTOR_PEER, &member->alert);
        if (fn)
            fn (&item, change, &member->alert, arg);
    }
    return count;
}

//  --------------------------------------------------------------------------
//  True when the oldest pending row has enough members and every live
//  member has reached it. A member is live while the group has received
//  fewer than LW_PEER_SILENT_ROWS items per member since its last one: a
//  machine's copies come in batches, so being behind in event time says
//  nothing; staying silent while the others send whole rows does.

static bool
s_oldest_ready (lw_peer_t *self)
{
    const s_row_t *row = &self->rows[self->pending[0]];
    if (row->count < LW_PEER_MIN_MEMBERS)
        return false; //  Too few to judge yet: wait (or overflow)
    int64_t bucket = row->bucket;
    uint64_t silence = (uint64_t)self->count * LW_PEER_SILENT_ROWS;
    for (size_t index = 0; index < self->count; index++) {
        s_member_t *member = self->members[index];
        if (member->newest_bucket < bucket &&
            self->items - member->heard < silence)
            return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Adds a member's item and closes the rows every live member passed; see
//  the header. Returns the members judged.

size_t
lw_peer_add (lw_peer_t *self, const char *sensor, const lw_item_t *item,
             lw_peer_fn *fn, void *arg)
{
    assert (self);
    assert (sensor);
    assert (item);
    if (!isfinite (item->value))
        return 0;
    int64_t bucket = s_bucket (self, item->time);
    s_member_t *member = s_member (self, sensor);
    if (!member)
        return 0;
    if (!member->seen || bucket > member->newest_bucket)
        member->newest_bucket = bucket;
    member->seen = true;
    member->heard = ++self->items;
    if (self->closed_any && bucket <= self->closed_bucket)
        return 0; //  Its row was judged already (the member now counts)
    size_t judged = 0;
    //  The pending row of this bucket (pending is sorted by bucket)
    size_t at = self->npending;
    while (at > 0 && self->rows[self->pending[at - 1]].bucket > bucket)
        at--;
    int slot;
    if (at > 0 && self->rows[self->pending[at - 1]].bucket == bucket)
        slot = self->pending[at - 1];
    else {
        if (self->nfree == 0) {
            judged += s_close_oldest (self, fn, arg);
            if (bucket <= self->closed_bucket)
                return judged;
            at--;
        }
        slot = self->free_slots[--self->nfree];
        memmove (self->pending + at + 1, self->pending + at,
                 (self->npending - at) * sizeof (int));
        self->pending[at] = slot;
        self->npending++;
        self->rows[slot].bucket = bucket;
        self->rows[slot].serial = ++self->serial;
        self->rows[slot].count = 0;
    }
    s_row_t *row = &self->rows[slot];
    if (member->serial[slot] != row->serial)
        row->count++;
    member->serial[slot] = row->serial;
    member->time[slot] = item->time;
    member->value[slot] = item->value;
    while (self->npending > 0 && s_oldest_ready (self))
        judged += s_close_oldest (self, fn, arg);
    return judged;
}

//  --------------------------------------------------------------------------
//  Closes every pending row, oldest first. Returns the members judged.

size_t
lw_peer_flush (lw_peer_t *self, lw_peer_fn *fn, void *arg)
{
    assert (self);
    size_t judged = 0;
    while (self->npending > 0)
        judged += s_close_oldest (self, fn, arg);
    return judged;
}

//  --------------------------------------------------------------------------
//  Rows waiting for members.

size_t
lw_peer_pending (lw_peer_t *self)
{
    assert (self);
    return self->npending;
}

//  --------------------------------------------------------------------------
//  Members shown.

size_t
lw_peer_members (lw_peer_t *self)
{
    assert (self);
    return self->count;
}

//  --------------------------------------------------------------------------
//  Self test: what the callback saw

typedef struct {
    int opens;         //  OPENs
    int opens_drifter; //  OPENs of the drifting member
    int first_open;    //  Row of the first OPEN of the drifter, -1 none
    int row;           //  Current row
    double max_other;  //  Highest score of the other members
} s_test_seen_t;

//  --------------------------------------------------------------------------
//  Self test: the peer callback, counting what it saw

static void
s_test_fn (const lw_item_t *item, int change, lw_alert_t *alert, void *arg)
{
    s_test_seen_t *seen = (s_test_seen_t *)arg;
    bool drifter = streq (item->sensor, "line1/m003/spindle");
    if (!drifter && item->score > seen->max_other)
        seen->max_other = item->score;
    if (change == LW_ALERT_OPEN) {
        seen->opens++;
        assert (streq (alert->detectors[0], LW_DETECTOR_PEER));
        assert (streq (alert->sensor, item->sensor));
        if (drifter) {
            seen->opens_drifter++;
            if (seen->first_open < 0)
                seen->first_open = seen->row;
        }
    }
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_peer_test (bool verbose)
{
    printf (" * lw_peer: ");
    if (verbose)
        printf ("\n");

    //  Config and matching
    zconfig_t *cfg = zconfig_new ("root", NULL);
    zconfig_put (cfg, "scorer/peer/spindles/pattern", "line1/m*/spindle");
    zconfig_put (cfg, "scorer/peer/temps/pattern", "line2/*/temp");
    zconfig_put (cfg, "scorer/peer/temps/align", "1000");
    lw_peers_t *peers = lw_peers_new ();
    assert (peers);
    assert (lw_peers_load (peers, cfg, "scorer/peer") == 0);
    assert (lw_peers_size (peers) == 2);
    assert (lw_peers_match (peers, "line1/m003/spindle") == 0);
    assert (lw_peers_match (peers, "line2/m1/temp") == 1);
    assert (lw_peers_match (peers, "line2/m1/vib") == -1);
    assert (lw_peers_find (peers, "temps") == 1);
    assert (streq (lw_peers_name (peers, 1), "temps"));
    uint16_t partition = lw_peers_partition (peers, 0, 64);
    assert (partition == lw_fnv1a32 ("peer:spindles", 13) % 64);
    assert (lw_peers_add (peers, "spindles", "x", 0, 0.05, 6) == -1);
    assert (lw_peers_add (peers, "bad", "x", 0, 0, 6) == -1);
    assert (lw_peers_add (peers, "bad", "x", 0, 0.05, 0) == -1);
    assert (lw_peers_add (peers, "bad", "x", -1, 0.05, 6) == -1);
    zconfig_destroy (&cfg);
    cfg = zconfig_new ("root", NULL);
    zconfig_put (cfg, "scorer/peer/g/pattern", "");
    lw_peers_t *bad = lw_peers_new ();
    assert (lw_peers_load (bad, cfg, "scorer/peer") == -1);
    zconfig_put (cfg, "scorer/peer/g/pattern", "*");
    zconfig_put (cfg, "scorer/peer/g/smooth", "2");
    assert (lw_peers_load (bad, cfg, "scorer/peer") == -1);
    lw_peers_destroy (&bad);
    zconfig_destroy (&cfg);

    //  Eight spindles with their own offsets, a common pattern and noise;
    //  m003 drifts slowly away from 2 hours on: its peer score alerts,
    //  the others stay quiet
    lw_detect_cfg_t detect;
    lw_detect_cfg_default (&detect);
    lw_peer_t *peer = lw_peer_new (&detect, peers, 0);
    assert (peer);
    s_test_seen_t seen = {.first_open = -1};
    enum { MACHINES = 8, ROWS = 5 * 3600, CHUNK = 100 };
    //  Copies arrive as lw-features sends them: a batch of one machine's
    //  rows, then the next machine's (here 100 rows at a time)
    uint64_t random = 88172645463325252ULL;
    static double values[MACHINES][CHUNK];
    size_t judged = 0;
    for (int first = 0; first < ROWS; first += CHUNK) {
        for (int row = first; row < first + CHUNK; row++) {
            double common = 50 + 5 * sin (row * 2 * M_PI / 3600.0);
            for (int machine = 0; machine < MACHINES; machine++) {
                //  xorshift noise, roughly uniform in [-1.7, 1.7] (sigma 1)
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                double noise =
                    ((double)(random >> 11) * 0x1.0p-53 - 0.5) * 3.46;
                double value = common + machine * 2.0 + noise;
                if (machine == 2 && row > 2 * 3600)
                    value += 2.0 * (row - 2 * 3600) / 3600.0; //  2 sigma/h
                values[machine][row - first] = value;
            }
        }
        for (int machine = 0; machine < MACHINES; machine++)
            for (int row = first; row < first + CHUNK; row++) {
                char key[64];
                snprintf (key, sizeof (key), "line1/m%03d/spindle",
                          machine + 1);
                lw_item_t item;
                memset (&item, 0, sizeof (item));
                item.time = (1700000000LL + row) * LW_NS_PER_SEC;
                item.value = values[machine][row - first];
                seen.row = row;
                judged += lw_peer_add (peer, key, &item, s_test_fn, &seen);
            }
        //  Every machine has reached the chunk's last row: all judged
        assert (lw_peer_pending (peer) == 0);
    }
    judged += lw_peer_flush (peer, s_test_fn, &seen);
    //  Members not seen yet are not waited for: in the first chunk, rows
    //  are judged as soon as three members reported them
    assert (judged >= (size_t)MACHINES * (ROWS - CHUNK));
    assert (judged < (size_t)MACHINES * ROWS);
    assert (lw_peer_pending (peer) == 0);
    if (verbose)
        printf ("   drifter first alert after %.2f h of drift; others' max "
                "score %.3f\n",
                (seen.first_open - 2 * 3600) / 3600.0, seen.max_other);
    assert (seen.opens_drifter >= 1);
    assert (seen.opens == seen.opens_drifter);
    assert (seen.first_open > 2 * 3600 && seen.first_open < 4 * 3600);
    assert (seen.max_other < detect.open_threshold);
    assert (lw_peer_members (peer) == MACHINES);
    //  A row already judged ignores late copies; a row with too few
    //  members is not judged
    lw_item_t item;
    memset (&item, 0, sizeof (item));
    item.time = (1700000000LL + 10) * LW_NS_PER_SEC;
    assert (lw_peer_add (peer, "line1/m001/spindle", &item, s_test_fn, &seen) ==
            0);
    assert (lw_peer_pending (peer) == 0);
    item.time = (1700000000LL + ROWS) * LW_NS_PER_SEC;
    lw_peer_add (peer, "line1/m001/spindle", &item, s_test_fn, &seen);
    assert (lw_peer_pending (peer) == 1);
    assert (lw_peer_flush (peer, s_test_fn, &seen) == 0);
    //  Members that stay silent while the others send whole rows stop
    //  holding rows back: three of eight keep going
    judged = 0;
    for (int row = ROWS + 1; row < ROWS + 1 + 2 * LW_PEER_ROWS; row++)
        for (int machine = 0; machine < 3; machine++) {
            char key[64];
            snprintf (key, sizeof (key), "line1/m%03d/spindle", machine + 1);
            item.time = (1700000000LL + row) * LW_NS_PER_SEC;
            judged += lw_peer_add (peer, key, &item, s_test_fn, &seen);
        }
    assert (judged >= 3 * LW_PEER_ROWS);
    assert (lw_peer_pending (peer) <= 1);
    lw_peer_destroy (&peer);
    lw_peer_destroy (&peer);
    lw_peers_destroy (&peers);
    printf ("OK\n");
}
