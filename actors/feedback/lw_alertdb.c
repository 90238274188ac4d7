/*  =========================================================================
    lw_alertdb.c - lw-feedback's store of alerts and labels (LMDB)

    Copyright (c) the linewatch authors. MIT license.

    See lw_alertdb.h. Writes go through lw_store_write, whose callback runs
    inside one LMDB write transaction and may be run twice (the store
    retries once after growing a full map), so the callbacks start from
    the committed state every time and the in-memory next ids advance only
    after a successful commit.
    =========================================================================
*/

#include "lw_alertdb.h"

#include <czmq.h>
#include <limits.h>
#include <math.h>

#include "lw_store.h"
#include "lw_util.h"

//  Database indexes, in the order given to lw_store_new
enum { DB_ALERTS, DB_KEYS, DB_LABELS, DB_META };
static const char *s_db_names [] = {"alerts", "alert_keys", "labels", "meta",
                                    NULL};

#define META_NEXT_ALERT "next_alert"
#define META_NEXT_LABEL "next_label"
//  An encoded alert or label is well under this; anything bigger that we
//  read back is not ours (corrupt)
#define RECORD_MAX 8192

struct _lw_alertdb_t {
    lw_store_t *store;          //  The LMDB environment
    bool own_store;             //  Opened by us (else borrowed)
    lw_stats_t *stats;          //  Borrowed counters, may be NULL
    int corrupt_counter;        //  Index of "store_corrupt" in stats
    uint64_t corrupt;           //  Corrupt records met
    uint64_t next_alert;        //  Id of the next new alert (>= 1)
    uint64_t next_label;        //  Id of the next label (>= 1)
};

//  State of one apply () transaction
typedef struct {
    lw_alertdb_t *self;         //  The store
    lw_alert_t *alerts;         //  Messages to apply; ids written back
    size_t count;               //  Number of messages
    uint64_t next_alert;        //  Next id within this transaction
    int created;                //  Alerts created in this transaction
    uint64_t corrupt;           //  Corrupt records met in it
} apply_t;

//  State of one label () transaction
typedef struct {
    lw_alertdb_t *self;         //  The store
    lw_label_t *label;          //  Label to append (id assigned)
} label_write_t;


//  --------------------------------------------------------------------------
//  Counts one corrupt record

static void
s_count_corrupt (lw_alertdb_t *self, uint64_t amount)
{
    if (amount == 0)
        return;
    self->corrupt += amount;
    if (self->stats)
        lw_stats_add (self->stats, self->corrupt_counter, amount);
}


//  --------------------------------------------------------------------------
//  Reads a u64 meta value, or 0 when it is missing or malformed

static uint64_t
s_meta_get (lw_alertdb_t *self, const char *name)
{
    uint8_t buffer [8];
    long size = lw_store_get (self->store, DB_META, name, strlen (name),
                              buffer, sizeof (buffer));
    if (size == LW_STORE_NOTFOUND || size < 0)
        return 0;
    if (size != 8) {
        zsys_warning ("alertdb: corrupt meta value key=%s size=%ld", name,
                      size);
        s_count_corrupt (self, 1);
        return 0;
    }
    return lw_store_get_u64 (buffer);
}


//  --------------------------------------------------------------------------
//  The id after the largest key of a database (1 when empty)

static uint64_t
s_after_last (lw_alertdb_t *self, int db)
{
    uint8_t buffer [8];
    long size = lw_store_last_key (self->store, db, buffer, sizeof (buffer));
    if (size == 8)
        return lw_store_get_u64 (buffer) + 1;
    return 1;
}


//  --------------------------------------------------------------------------
//  A new alertdb over `store` (owned or not): recovers the next ids

static lw_alertdb_t *
s_alertdb_new (lw_store_t *store, bool own_store, lw_stats_t *stats)
{
    lw_alertdb_t *self = (lw_alertdb_t *) zmalloc (sizeof (lw_alertdb_t));
    assert (self);
    self->store = store;
    self->own_store = own_store;
    self->stats = stats;
    if (stats)
        self->corrupt_counter = lw_stats_counter (stats, "store_corrupt");
    //  Meta holds the next ids; the largest key is a cross-check in case
    //  meta was lost or is behind (never reuse an id)
    self->next_alert = s_meta_get (self, META_NEXT_ALERT);
    uint64_t after = s_after_last (self, DB_ALERTS);
    if (self->next_alert < after)
        self->next_alert = after;
    self->next_label = s_meta_get (self, META_NEXT_LABEL);
    after = s_after_last (self, DB_LABELS);
    if (self->next_label < after)
        self->next_label = after;
    return self;
}


//  --------------------------------------------------------------------------
//  Opens the store and recovers the next ids

lw_alertdb_t *
lw_alertdb_new (const char *path, size_t mapsize, lw_stats_t *stats)
{
    assert (path);
    lw_store_t *store = lw_store_new (path, mapsize, s_db_names);
    if (!store)
        return NULL;
    return s_alertdb_new (store, true, stats);
}


//  --------------------------------------------------------------------------
//  Same over a store that is already open (borrowed); it must have been
//  opened with our databases in our order

lw_alertdb_t *
lw_alertdb_new_on_store (lw_store_t *store, lw_stats_t *stats)
{
    assert (store);
    for (int index = 0; s_db_names [index]; index++)
        if (lw_store_dbi_index (store, s_db_names [index]) != index) {
            zsys_error ("alertdb: store lacks database name=%s at index=%d",
                        s_db_names [index], index);
            return NULL;
        }
    return s_alertdb_new (store, false, stats);
}


//  --------------------------------------------------------------------------
//  Closes the store

void
lw_alertdb_destroy (lw_alertdb_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_alertdb_t *self = *self_p;
        if (self->own_store)
            lw_store_destroy (&self->store);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Puts an encoded record (frame) under a u64 key in a write txn

static int
s_put_frame (MDB_txn *txn, MDB_dbi dbi, uint64_t id, zframe_t **frame_p)
{
    zframe_t *frame = *frame_p;
    if (!frame)
        return ENOMEM;                  //  Encoding failed: abort the txn
    uint8_t key_bytes [8];
    lw_store_put_u64 (key_bytes, id);
    MDB_val key = {sizeof (key_bytes), key_bytes};
    MDB_val value = {zframe_size (frame), zframe_data (frame)};
    int rc = mdb_put (txn, dbi, &key, &value, 0);
    zframe_destroy (frame_p);
    return rc;
}


//  --------------------------------------------------------------------------
//  Puts a u64 meta value in a write txn

static int
s_put_meta (MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t number)
{
    uint8_t bytes [8];
    lw_store_put_u64 (bytes, number);
    MDB_val key = {strlen (name), (void *) name};
    MDB_val value = {sizeof (bytes), bytes};
    return mdb_put (txn, dbi, &key, &value, 0);
}


//  --------------------------------------------------------------------------
//  Reads and decodes alert `id` inside a txn. Returns 0, MDB_NOTFOUND,
//  another LMDB error, or 1 when the record is corrupt.

static int
s_txn_alert (MDB_txn *txn, MDB_dbi dbi, uint64_t id, lw_alert_t *out)
{
    uint8_t key_bytes [8];
    lw_store_put_u64 (key_bytes, id);
    MDB_val key = {sizeof (key_bytes), key_bytes};
    MDB_val value;
    int rc = mdb_get (txn, dbi, &key, &value);
    if (rc)
        return rc;
    //  The value is borrowed until the txn ends: decode (copy) it now
    if (value.mv_size > RECORD_MAX
        || lw_msg_alert_decode ((const uint8_t *) value.mv_data,
                                value.mv_size, out) != 0
        || out->id != id)
        return 1;
    return 0;
}


//  --------------------------------------------------------------------------
//  Merges an UPDATE or CLOSE message into the stored alert

static void
s_merge (lw_alert_t *stored, const lw_alert_t *message)
{
    if (message->state == LW_ALERT_CLOSE) {
        stored->state = LW_ALERT_CLOSE;
        stored->closed = message->closed? message->closed: message->updated;
        if (stored->closed == 0)
            stored->closed = stored->updated? stored->updated: stored->opened;
    }
    else
    if (stored->state != LW_ALERT_CLOSE)
        //  A late OPEN or UPDATE never reopens a closed episode
        stored->state = message->state;
    if (message->opened && (!stored->opened || message->opened < stored->opened))
        stored->opened = message->opened;
    if (message->updated > stored->updated)
        stored->updated = message->updated;
    //  The alert shows the episode's peak: take the message's figures
    //  when its score is at least the stored one (or the stored one is
    //  not a number)
    if (message->score >= stored->score || isnan (stored->score)) {
        stored->score = message->score;
        stored->value = message->value;
        stored->expected_low = message->expected_low;
        stored->expected_high = message->expected_high;
    }
    for (uint32_t index = 0; index < message->ndetectors; index++) {
        bool known = false;
        for (uint32_t other = 0; other < stored->ndetectors; other++)
            if (streq (stored->detectors [other],
                       message->detectors [index]))
                known = true;
        if (!known && stored->ndetectors < LW_DETECTORS_MAX) {
            memcpy (stored->detectors [stored->ndetectors],
                    message->detectors [index], LW_NAME_MAX + 1);
            stored->ndetectors++;
        }
    }
}


//  --------------------------------------------------------------------------
//  Write callback of apply (): one txn for the whole batch

static int
s_write_alerts (MDB_txn *txn, MDB_dbi *dbis, void *arg)
{
    apply_t *apply = (apply_t *) arg;
    //  Reset: the store may run us a second time after growing the map
    apply->next_alert = apply->self->next_alert;
    apply->created = 0;
    apply->corrupt = 0;
    for (size_t index = 0; index < apply->count; index++) {
        lw_alert_t *message = &apply->alerts [index];
        uint8_t episode [16];
        lw_store_put_u64 (episode, message->scorer);
        lw_store_put_u64 (episode + 8, message->local_seq);
        MDB_val key = {sizeof (episode), episode};
        MDB_val value;
        uint64_t id = 0;
        int rc = mdb_get (txn, dbis [DB_KEYS], &key, &value);
        if (rc == 0 && value.mv_size == 8)
            id = lw_store_get_u64 ((const uint8_t *) value.mv_data);
        else
        if (rc == 0)
            apply->corrupt++;           //  Not an id: give a new one
        else
        if (rc != MDB_NOTFOUND)
            return rc;

        lw_alert_t stored;
        bool found = false;
        if (id) {
            rc = s_txn_alert (txn, dbis [DB_ALERTS], id, &stored);
            if (rc == 0)
                found = true;
            else
            if (rc == 1)
                apply->corrupt++;       //  Rewritten from this message
            else
            if (rc != MDB_NOTFOUND)
                return rc;
        }
        if (found)
            s_merge (&stored, message);
        else {
            if (!id) {
                id = apply->next_alert++;
                apply->created++;
            }
            stored = *message;
            stored.id = id;
            stored.label = LW_LABEL_NONE;
            if (stored.state == LW_ALERT_CLOSE && stored.closed == 0)
                stored.closed = stored.updated? stored.updated: stored.opened;
        }
        message->id = id;
        zframe_t *frame = lw_msg_alert_encode (&stored);
        rc = s_put_frame (txn, dbis [DB_ALERTS], id, &frame);
        if (rc)
            return rc;
        uint8_t id_bytes [8];
        lw_store_put_u64 (id_bytes, id);
        MDB_val id_value = {sizeof (id_bytes), id_bytes};
        rc = mdb_put (txn, dbis [DB_KEYS], &key, &id_value, 0);
        if (rc)
            return rc;
    }
    return s_put_meta (txn, dbis [DB_META], META_NEXT_ALERT,
                       apply->next_alert);
}


//  --------------------------------------------------------------------------
//  Applies a batch of alert messages; see the header

int
lw_alertdb_apply (lw_alertdb_t *self, lw_alert_t *alerts, size_t count)
{
    assert (self);
    assert (alerts || count == 0);
    if (count == 0)
        return 0;
    apply_t apply = {self, alerts, count, 0, 0, 0};
    int rc = lw_store_write (self->store, s_write_alerts, &apply);
    if (rc)
        return rc;
    self->next_alert = apply.next_alert;
    s_count_corrupt (self, apply.corrupt);
    return apply.created;
}


//  --------------------------------------------------------------------------
//  Reads one alert by id

int
lw_alertdb_alert (lw_alertdb_t *self, uint64_t id, lw_alert_t *out)
{
    assert (self);
    assert (out);
    uint8_t key [8];
    lw_store_put_u64 (key, id);
    uint8_t *buffer = (uint8_t *) malloc (RECORD_MAX);
    if (!buffer)
        return LW_STORE_ERROR;
    long size = lw_store_get (self->store, DB_ALERTS, key, sizeof (key),
                              buffer, RECORD_MAX);
    int rc = 0;
    if (size < 0)
        rc = (int) size;
    else
    if (size > RECORD_MAX
        || lw_msg_alert_decode (buffer, (size_t) size, out) != 0
        || out->id != id) {
        zsys_warning ("alertdb: corrupt alert record id=%" PRIu64, id);
        s_count_corrupt (self, 1);
        rc = LW_STORE_CORRUPT;
    }
    free (buffer);
    return rc;
}


//  --------------------------------------------------------------------------
//  Write callback of label (): the label, the alert's latest label, meta

static int
s_write_label (MDB_txn *txn, MDB_dbi *dbis, void *arg)
{
    label_write_t *write = (label_write_t *) arg;
    lw_label_t *label = write->label;
    label->id = write->self->next_label;
    if (label->alert_id) {
        lw_alert_t alert;
        int rc = s_txn_alert (txn, dbis [DB_ALERTS], label->alert_id, &alert);
        if (rc == 1)
            rc = MDB_NOTFOUND;          //  Checked before; treat as gone
        if (rc)
            return rc;
        alert.label = label->label;
        zframe_t *frame = lw_msg_alert_encode (&alert);
        rc = s_put_frame (txn, dbis [DB_ALERTS], alert.id, &frame);
        if (rc)
            return rc;
    }
    zframe_t *frame = lw_msg_label_encode (label);
    int rc = s_put_frame (txn, dbis [DB_LABELS], label->id, &frame);
    if (rc)
        return rc;
    return s_put_meta (txn, dbis [DB_META], META_NEXT_LABEL, label->id + 1);
}


//  --------------------------------------------------------------------------
//  Appends a label durably; see the header

int
lw_alertdb_label (lw_alertdb_t *self, lw_label_t *label)
{
    assert (self);
    assert (label);
    if (label->alert_id) {
        //  Refuse to label an alert we cannot read; counts corruption
        lw_alert_t alert;
        int rc = lw_alertdb_alert (self, label->alert_id, &alert);
        if (rc)
            return rc;
    }
    if (label->at == 0)
        label->at = lw_time_now ();
    label_write_t write = {self, label};
    int rc = lw_store_write (self->store, s_write_label, &write);
    if (rc)
        return rc;
    self->next_label = label->id + 1;
    return 0;
}


//  --------------------------------------------------------------------------
//  Iteration helpers: decode each record as untrusted, skip corrupt ones

typedef struct {
    lw_alertdb_t *self;         //  The store
    lw_alertdb_alert_fn *alert_fn;  //  Callback for alerts, or
    lw_alertdb_label_fn *label_fn;  //  callback for labels
    void *arg;                  //  Callback argument
} each_t;

static int
s_each_record (const void *key, size_t key_size, const void *value,
               size_t value_size, void *arg)
{
    each_t *each = (each_t *) arg;
    uint64_t id = key_size == 8? lw_store_get_u64 ((const uint8_t *) key): 0;
    if (each->alert_fn) {
        lw_alert_t alert;
        if (id == 0 || value_size > RECORD_MAX
            || lw_msg_alert_decode ((const uint8_t *) value, value_size,
                                    &alert) != 0
            || alert.id != id) {
            s_count_corrupt (each->self, 1);
            return 0;
        }
        return each->alert_fn (&alert, each->arg) ? 1 : 0;
    }
    else {
        lw_label_t label;
        if (id == 0 || value_size > RECORD_MAX
            || lw_msg_label_decode ((const uint8_t *) value, value_size,
                                    &label) != 0
            || label.id != id) {
            s_count_corrupt (each->self, 1);
            return 0;
        }
        return each->label_fn (&label, each->arg) ? 1 : 0;
    }
}

int
lw_alertdb_each_alert (lw_alertdb_t *self, bool newest_first,
                       lw_alertdb_alert_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    each_t each = {self, fn, NULL, arg};
    int rc = lw_store_each (self->store, DB_ALERTS, NULL, 0, newest_first,
                            s_each_record, &each);
    return rc == LW_STORE_NOTFOUND? 0: rc;
}

int
lw_alertdb_each_label (lw_alertdb_t *self, bool newest_first,
                       lw_alertdb_label_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    each_t each = {self, NULL, fn, arg};
    int rc = lw_store_each (self->store, DB_LABELS, NULL, 0, newest_first,
                            s_each_record, &each);
    return rc == LW_STORE_NOTFOUND? 0: rc;
}


//  --------------------------------------------------------------------------
//  Accessors

uint64_t
lw_alertdb_next_alert (lw_alertdb_t *self)
{
    assert (self);
    return self->next_alert;
}

uint64_t
lw_alertdb_next_label (lw_alertdb_t *self)
{
    assert (self);
    return self->next_label;
}

uint64_t
lw_alertdb_corrupt (lw_alertdb_t *self)
{
    assert (self);
    return self->corrupt;
}


//  --------------------------------------------------------------------------
//  Sensor filter: empty, exact key, or machine prefix

bool
lw_alertdb_sensor_match (const char *filter, const char *key)
{
    assert (filter);
    assert (key);
    if (*filter == 0)
        return true;
    size_t size = strlen (filter);
    if (strncmp (filter, key, size) != 0)
        return false;
    return key [size] == 0 || key [size] == '/';
}


//  --------------------------------------------------------------------------
//  Self test

static int
s_test_count (const lw_alert_t *alert, void *arg)
{
    (void) alert;
    (*(int *) arg)++;
    return 0;
}

static int
s_test_first (const lw_alert_t *alert, void *arg)
{
    *(uint64_t *) arg = alert->id;
    return 1;                           //  Stop after the first
}

static int
s_test_label_count (const lw_label_t *label, void *arg)
{
    (void) label;
    (*(int *) arg)++;
    return 0;
}

static void
s_test_alert (lw_alert_t *alert, uint64_t scorer, uint64_t local_seq,
              uint8_t state, double score)
{
    memset (alert, 0, sizeof (*alert));
    alert->scorer = scorer;
    alert->local_seq = local_seq;
    alert->state = state;
    strcpy (alert->sensor, "line1/press3/temp");
    alert->opened = 1000 * LW_NS_PER_SEC;
    alert->updated = alert->opened + (int64_t) local_seq * LW_NS_PER_SEC;
    alert->closed = state == LW_ALERT_CLOSE? alert->updated + 1: 0;
    alert->score = score;
    alert->value = score * 100;
    alert->expected_low = 1;
    alert->expected_high = 2;
    alert->ndetectors = 1;
    strcpy (alert->detectors [0], state == LW_ALERT_UPDATE? "zscore2": "zscore");
}

void
lw_alertdb_test (bool verbose)
{
    printf (" * lw_alertdb: ");
    if (verbose)
        printf ("\n");
    char dir [] = "/tmp/lw-alertdb-XXXXXX";
    assert (mkdtemp (dir));
    char path [PATH_MAX];
    snprintf (path, sizeof (path), "%s/db", dir);
    lw_stats_t *stats = lw_stats_new ();
    assert (stats);

    lw_alertdb_t *db = lw_alertdb_new (path, 1 << 20, stats);
    assert (db);
    assert (lw_alertdb_next_alert (db) == 1);
    assert (lw_alertdb_next_label (db) == 1);

    //  OPEN, then UPDATE with a higher score and CLOSE in one batch
    lw_alert_t batch [3];
    s_test_alert (&batch [0], 7, 1, LW_ALERT_OPEN, 0.8);
    assert (lw_alertdb_apply (db, batch, 1) == 1);
    assert (batch [0].id == 1);
    s_test_alert (&batch [0], 7, 1, LW_ALERT_UPDATE, 0.95);
    s_test_alert (&batch [1], 7, 2, LW_ALERT_OPEN, 0.75);
    s_test_alert (&batch [2], 7, 1, LW_ALERT_CLOSE, 0.5);
    assert (lw_alertdb_apply (db, batch, 3) == 1);
    assert (batch [0].id == 1 && batch [1].id == 2 && batch [2].id == 1);

    lw_alert_t alert;
    assert (lw_alertdb_alert (db, 1, &alert) == 0);
    assert (alert.state == LW_ALERT_CLOSE);
    assert (alert.closed == batch [2].closed);
    assert (alert.score == 0.95 && alert.value == 95);
    assert (alert.ndetectors == 2);
    assert (alert.label == LW_LABEL_NONE);
    assert (lw_alertdb_alert (db, 3, &alert) == LW_STORE_NOTFOUND);

    //  A CLOSE of an unknown episode still becomes an alert
    s_test_alert (&batch [0], 9, 1, LW_ALERT_CLOSE, 0.9);
    assert (lw_alertdb_apply (db, batch, 1) == 1);
    assert (batch [0].id == 3);

    int count = 0;
    assert (lw_alertdb_each_alert (db, false, s_test_count, &count) == 0);
    assert (count == 3);
    uint64_t newest = 0;
    assert (lw_alertdb_each_alert (db, true, s_test_first, &newest) == 0);
    assert (newest == 3);

    //  Labels: on an alert (becomes its latest label), on a range, and on
    //  an alert that does not exist
    lw_label_t label = {0};
    label.alert_id = 1;
    strcpy (label.sensor, "line1/press3/temp");
    label.label = LW_LABEL_NORMAL;
    strcpy (label.note, "planned warm-up");
    assert (lw_alertdb_label (db, &label) == 0);
    assert (label.id == 1 && label.at > 0);
    label.alert_id = 1;
    label.label = LW_LABEL_ANOMALY;
    label.at = 0;
    assert (lw_alertdb_label (db, &label) == 0);
    assert (label.id == 2);
    assert (lw_alertdb_alert (db, 1, &alert) == 0);
    assert (alert.label == LW_LABEL_ANOMALY);
    label.alert_id = 0;
    label.from = 1;
    label.to = 2;
    assert (lw_alertdb_label (db, &label) == 0);
    assert (label.id == 3);
    label.alert_id = 99;
    assert (lw_alertdb_label (db, &label) == LW_STORE_NOTFOUND);
    assert (lw_alertdb_next_label (db) == 4);

    //  An UPDATE after the label keeps the label
    s_test_alert (&batch [0], 7, 1, LW_ALERT_UPDATE, 0.99);
    assert (lw_alertdb_apply (db, batch, 1) == 0);
    assert (lw_alertdb_alert (db, 1, &alert) == 0);
    assert (alert.label == LW_LABEL_ANOMALY);
    assert (alert.state == LW_ALERT_CLOSE);
    assert (alert.score == 0.99);

    //  A corrupt record is skipped and counted, never trusted
    lw_alertdb_destroy (&db);
    assert (db == NULL);
    lw_store_t *store = lw_store_new (path, 1 << 20, s_db_names);
    assert (store);
    uint8_t key [8];
    lw_store_put_u64 (key, 4);
    uint8_t junk [] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    assert (lw_store_put (store, DB_ALERTS, key, 8, junk, sizeof (junk)) == 0);
    lw_store_destroy (&store);

    //  Reopen: ids continue after the largest key, even the corrupt one
    db = lw_alertdb_new (path, 1 << 20, stats);
    assert (db);
    assert (lw_alertdb_next_alert (db) == 5);
    assert (lw_alertdb_next_label (db) == 4);
    count = 0;
    assert (lw_alertdb_each_alert (db, false, s_test_count, &count) == 0);
    assert (count == 3);
    assert (lw_alertdb_corrupt (db) == 1);
    assert (lw_alertdb_alert (db, 4, &alert) == LW_STORE_CORRUPT);
    assert (lw_stats_value (stats, "store_corrupt") == 2);
    count = 0;
    assert (lw_alertdb_each_label (db, true, s_test_label_count, &count) == 0);
    assert (count == 3);

    assert (lw_alertdb_sensor_match ("", "a/b"));
    assert (lw_alertdb_sensor_match ("a/b", "a/b"));
    assert (lw_alertdb_sensor_match ("a", "a/b"));
    assert (!lw_alertdb_sensor_match ("a/", "a/b"));
    assert (!lw_alertdb_sensor_match ("a/bc", "a/b"));
    assert (!lw_alertdb_sensor_match ("a/b", "a/bc"));

    lw_alertdb_destroy (&db);
    lw_alertdb_destroy (&db);

    //  Over a store that is already open: same ids and records, the store
    //  stays open after destroy; a store with other databases is refused
    store = lw_store_new (path, 1 << 20, s_db_names);
    assert (store);
    db = lw_alertdb_new_on_store (store, NULL);
    assert (db);
    assert (lw_alertdb_next_alert (db) == 5);
    assert (lw_alertdb_alert (db, 4, &alert) == LW_STORE_CORRUPT);
    lw_alertdb_destroy (&db);
    assert (lw_store_get (store, DB_ALERTS, key, 8, junk, sizeof (junk))
            == sizeof (junk));
    lw_store_destroy (&store);
    const char *other_names [] = {"alerts", "labels", "alert_keys", "meta",
                                  NULL};
    snprintf (path, sizeof (path), "%s/other", dir);
    store = lw_store_new (path, 1 << 20, other_names);
    assert (store);
    assert (lw_alertdb_new_on_store (store, NULL) == NULL);
    lw_store_destroy (&store);

    lw_stats_destroy (&stats);
    zdir_t *tree = zdir_new (dir, NULL);
    assert (tree);
    zdir_remove (tree, true);
    zdir_destroy (&tree);
    printf ("OK\n");
}
