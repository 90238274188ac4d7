/*  =========================================================================
    fuzz_alertdb.c - libFuzzer target: values read back from LMDB
    (lw_alertdb's read and merge paths)

    Copyright (c) the linewatch authors. MIT license.

    The input is a list of records that are written raw, through lw_store,
    into the four databases of an alert store (on /dev/shm, so commits
    are cheap), emptied first. Then lw_alertdb opens it and every read
    path runs over those bytes: the next ids from "meta", iteration of
    alerts and labels both ways, one alert by id, an UPDATE merged into a
    stored alert, a new OPEN, and a label on an alert. Nothing read back
    may be trusted.
    One LMDB environment serves every input (lw_alertdb_new_on_store):
    opening one costs LMDB ~3 MiB of buffers, which made this target
    ~800 inputs/s under ASan; what is fuzzed (the bytes read back) is the
    same.

    Record encoding (repeated to the end of the input):
      selector:u8   bits 0-1 database (alerts, alert_keys, labels, meta),
                    bits 2-7 key number n (0..63)
      length:u8     value length (cut at the end of the input)
      value         that many bytes
    Keys: alerts and labels use n as a u64 BE id (n >= 60: a key of
    n - 59 bytes, the wrong size); alert_keys uses scorer = n / 8,
    local_seq = n % 8; meta uses "next_alert" (n even) or "next_label".
    =========================================================================
*/

#include "fuzz_util.h"
#include "lw_alertdb.h"
#include "lw_store.h"

#include <unistd.h>

enum { DB_ALERTS, DB_KEYS, DB_LABELS, DB_META };
static const char *s_db_names[] = {"alerts", "alert_keys", "labels", "meta",
                                   NULL};
#define S_MAPSIZE (1 << 20)

static char s_dir[64];
static lw_store_t *s_store;     //  Open for the whole run

typedef struct {
    const uint8_t *data;
    size_t size;
} input_t;

//  --------------------------------------------------------------------------
//  Removes the store directory at exit.

static void
s_cleanup (void)
{
    lw_store_destroy (&s_store);
    char path[128];
    snprintf (path, sizeof (path), "%s/data.mdb", s_dir);
    unlink (path);
    snprintf (path, sizeof (path), "%s/lock.mdb", s_dir);
    unlink (path);
    rmdir (s_dir);
}

//  --------------------------------------------------------------------------
//  Empties every database and writes the input's records in one txn.

static int
s_write_records (MDB_txn *txn, MDB_dbi *dbis, void *arg)
{
    input_t *input = (input_t *) arg;
    for (int db = 0; db < 4; db++)
        if (mdb_drop (txn, dbis[db], 0))
            return -1;
    size_t offset = 0;
    while (offset + 2 <= input->size) {
        uint8_t selector = input->data[offset];
        size_t length = input->data[offset + 1];
        offset += 2;
        if (length > input->size - offset)
            length = input->size - offset;
        MDB_val value = {length, (void *) (input->data + offset)};
        offset += length;
        int db = selector & 3;
        uint64_t number = selector >> 2;
        uint8_t key_bytes[16];
        MDB_val key = {8, key_bytes};
        if (db == DB_ALERTS || db == DB_LABELS) {
            lw_store_put_u64 (key_bytes, number);
            if (number >= 60)
                key.mv_size = (size_t) (number - 59);
        }
        else if (db == DB_KEYS) {
            lw_store_put_u64 (key_bytes, number / 8);
            lw_store_put_u64 (key_bytes + 8, number % 8);
            key.mv_size = 16;
        }
        else {
            key.mv_data = (void *) (number % 2 ? "next_label" : "next_alert");
            key.mv_size = strlen ((const char *) key.mv_data);
        }
        int rc = mdb_put (txn, dbis[db], &key, &value, 0);
        if (rc && rc != MDB_BAD_VALSIZE)
            return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Iteration callbacks: look at every field a caller would use.

static int
s_alert_fn (const lw_alert_t *alert, void *arg)
{
    size_t *count = (size_t *) arg;
    assert (alert->id > 0);
    assert (strlen (alert->sensor) <= LW_KEY_MAX);
    assert (alert->ndetectors <= LW_DETECTORS_MAX);
    (*count)++;
    return 0;
}

static int
s_label_fn (const lw_label_t *label, void *arg)
{
    size_t *count = (size_t *) arg;
    assert (label->id > 0);
    assert (strlen (label->note) <= LW_NOTE_MAX);
    (*count)++;
    return 0;
}

//  --------------------------------------------------------------------------
//  Once, before the first input

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet ();
    const char *base = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf (s_dir, sizeof (s_dir), "%s/lw-fuzz-alertdb-XXXXXX", base);
    assert (mkdtemp (s_dir));
    atexit (s_cleanup);
    s_store = lw_store_new (s_dir, S_MAPSIZE, s_db_names);
    assert (s_store);
    return 0;
}

//  --------------------------------------------------------------------------
//  One input

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    input_t input = {data, size};
    int rc = lw_store_write (s_store, s_write_records, &input);
    if (rc)
        return 0;               //  Unwritable input (e.g. empty key)

    lw_stats_t *stats = lw_stats_new ();
    assert (stats);
    lw_alertdb_t *db = lw_alertdb_new_on_store (s_store, stats);
    assert (db);
    assert (lw_alertdb_next_alert (db) >= 1);
    assert (lw_alertdb_next_label (db) >= 1);
    size_t count = 0;
    assert (lw_alertdb_each_alert (db, true, s_alert_fn, &count) == 0);
    assert (lw_alertdb_each_alert (db, false, s_alert_fn, &count) == 0);
    assert (lw_alertdb_each_label (db, true, s_label_fn, &count) == 0);
    lw_alert_t alert;
    for (uint64_t id = 1; id <= 4; id++) {
        rc = lw_alertdb_alert (db, id, &alert);
        assert (rc == 0 || rc == LW_STORE_NOTFOUND || rc == LW_STORE_CORRUPT);
        if (rc == 0)
            assert (alert.id == id);
    }
    //  UPDATE and CLOSE of episodes that alert_keys may point anywhere
    lw_alert_t batch[3];
    memset (batch, 0, sizeof (batch));
    for (int index = 0; index < 3; index++) {
        batch[index].scorer = 0;
        batch[index].local_seq = (uint64_t) index + 1;
        batch[index].state = (uint8_t) (index + 1);
        strcpy (batch[index].sensor, "m/s");
        batch[index].opened = 1000;
        batch[index].updated = 2000;
        batch[index].score = 0.5 + index * 0.1;
        batch[index].ndetectors = 1;
        strcpy (batch[index].detectors[0], "zscore");
    }
    rc = lw_alertdb_apply (db, batch, 3);
    assert (rc >= 0 || rc == LW_STORE_FULL || rc == LW_STORE_ERROR);
    lw_label_t label;
    memset (&label, 0, sizeof (label));
    label.alert_id = 1;
    strcpy (label.sensor, "m/s");
    label.label = LW_LABEL_ANOMALY;
    rc = lw_alertdb_label (db, &label);
    assert (rc <= 0);
    lw_alertdb_destroy (&db);
    lw_stats_destroy (&stats);
    return 0;
}
