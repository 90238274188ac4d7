/*  =========================================================================
    lw_store.c - LMDB wrapper used by every linewatch process

    Copyright (c) the linewatch authors. MIT license.

    One environment per directory with a fixed set of named databases,
    opened in one committed transaction at start. Every transaction lives
    inside one call: a write runs the caller's function and commits
    durably (no MDB_NOSYNC, no MDB_WRITEMAP: a commit that returned 0 is on
    disk, which is what lets lw-feedback acknowledge a label after it).
    A full map is doubled and the write retried; a full disk is logged and
    returned as LW_STORE_ERROR. This is the only place that maps MDB_*
    codes to lw_store_error_t.

    The environment is opened with MDB_NOTLS so that read transactions
    belong to the transaction, not the thread: an each() callback may call
    get() on the same store. It must not call write(): growing the map
    needs every transaction of this process closed.
    =========================================================================
*/

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <czmq.h>

#include "lw_store.h"
#include "lw_util.h"

//  The map never grows past this (1 TiB); LMDB only reserves address
//  space for it, the file grows with the data
#define LW_STORE_MAPSIZE_MAX (1024ULL * 1024 * 1024 * 1024)
//  Smallest map accepted: LMDB needs a few pages for its meta and roots
#define LW_STORE_MAPSIZE_MIN (64 * 1024)
//  Free space under which a failed write is reported as a full disk
#define LW_STORE_LOW_SPACE (1024 * 1024)
//  Most named databases in one environment
#define LW_STORE_DBS_MAX 32
//  Times a transaction start is retried after another process grew the map
#define LW_STORE_RESIZED_RETRIES 8

struct _lw_store_t {
    char *path;                     //  Environment directory
    MDB_env *env;                   //  The LMDB environment
    size_t ndbs;                    //  Number of named databases
    char *names[LW_STORE_DBS_MAX];  //  Their names, as given to _new
    MDB_dbi dbis[LW_STORE_DBS_MAX]; //  Their handles, same order
};

//  --------------------------------------------------------------------------
//  Maps an LMDB (or errno) code to lw_store_error_t, logging real errors
//  with `what` and the store path when there is one. MDB_NOTFOUND is an
//  answer, not an error, and is not logged.

static int
s_map (int rc, const char *what, const char *path)
{
    if (rc == MDB_SUCCESS)
        return LW_STORE_OK;
    if (rc == MDB_NOTFOUND)
        return LW_STORE_NOTFOUND;
    int code = LW_STORE_ERROR;
    if (rc == MDB_MAP_FULL)
        code = LW_STORE_FULL;
    else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
             rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
        code = LW_STORE_CORRUPT;
    if (path)
        zsys_error ("store: %s failed path=%s reason=%s", what, path,
                    mdb_strerror (rc));
    else
        zsys_error ("store: %s failed reason=%s", what, mdb_strerror (rc));
    return code;
}

//  --------------------------------------------------------------------------
//  Maps an LMDB return code to lw_store_error_t, logging real errors.

int
lw_store_map_error (int rc, const char *what)
{
    assert (what);
    return s_map (rc, what, NULL);
}

//  --------------------------------------------------------------------------
//  Opens (creating it) the environment in directory path with the named
//  databases in names (NULL-terminated). Returns a new store (caller
//  destroys) or NULL, logged with the reason.

lw_store_t *
lw_store_new (const char *path, size_t mapsize, const char **names)
{
    assert (path);
    assert (names);
    lw_store_t *self = (lw_store_t *)zmalloc (sizeof (lw_store_t));
    if (!self)
        return NULL;
    self->path = strdup (path);
    if (!self->path)
        goto failed;
    while (names[self->ndbs]) {
        assert (self->ndbs < LW_STORE_DBS_MAX);
        self->names[self->ndbs] = strdup (names[self->ndbs]);
        if (!self->names[self->ndbs])
            goto failed;
        self->ndbs++;
    }
    if (mapsize < LW_STORE_MAPSIZE_MIN)
        mapsize = LW_STORE_MAPSIZE_MIN;
    if (mapsize > LW_STORE_MAPSIZE_MAX)
        mapsize = LW_STORE_MAPSIZE_MAX;

    if (lw_mkdir_p (path, 0700) != 0) {
        zsys_error ("store: open failed path=%s reason=%s", path,
                    strerror (errno));
        goto failed;
    }
    const char *step = "mdb_env_create";
    int rc = mdb_env_create (&self->env);
    if (rc == 0) {
        step = "mdb_env_set_mapsize";
        rc = mdb_env_set_mapsize (self->env, mapsize);
    }
    if (rc == 0) {
        step = "mdb_env_set_maxdbs";
        rc = mdb_env_set_maxdbs (self->env, (MDB_dbi)self->ndbs);
    }
    if (rc == 0) {
        step = "mdb_env_open";
        rc = mdb_env_open (self->env, path, MDB_NOTLS, 0600);
    }
    if (rc == 0) {
        //  Frees reader slots of processes that died holding a read
        //  transaction, which would otherwise pin old pages forever
        step = "mdb_reader_check";
        int dead = 0;
        rc = mdb_reader_check (self->env, &dead);
        if (rc == 0 && dead > 0)
            zsys_warning ("store: cleared stale readers path=%s count=%d", path,
                          dead);
    }
    MDB_txn *txn = NULL;
    if (rc == 0) {
        step = "mdb_txn_begin";
        rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    }
    for (size_t index = 0; rc == 0 && index < self->ndbs; index++) {
        step = "mdb_dbi_open";
        rc = mdb_dbi_open (txn, self->names[index], MDB_CREATE,
                           &self->dbis[index]);
    }
    if (txn) {
        if (rc == 0) {
            step = "mdb_txn_commit";
            rc = mdb_txn_commit (txn);
        }
        else
            mdb_txn_abort (txn);
    }
    if (rc != 0) {
        zsys_error ("store: open failed path=%s step=%s reason=%s", path, step,
                    mdb_strerror (rc));
        goto failed;
    }
    return self;

failed:
    lw_store_destroy (&self);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Closes the environment and frees the store; accepts NULL.

void
lw_store_destroy (lw_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_store_t *self = *self_p;
        if (self->env)
            mdb_env_close (self->env);
        for (size_t index = 0; index < self->ndbs; index++)
            free (self->names[index]);
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Index of a named database as given to lw_store_new, or -1

int
lw_store_dbi_index (lw_store_t *self, const char *name)
{
    assert (self);
    assert (name);
    for (size_t index = 0; index < self->ndbs; index++)
        if (streq (self->names[index], name))
            return (int)index;
    return -1;
}

//  --------------------------------------------------------------------------
//  Current map size in bytes

size_t
lw_store_mapsize (lw_store_t *self)
{
    assert (self);
    MDB_envinfo info;
    if (mdb_env_info (self->env, &info) != 0)
        return 0;
    return info.me_mapsize;
}

//  --------------------------------------------------------------------------
//  Starts a transaction. When another process has grown the map, LMDB
//  refuses with MDB_MAP_RESIZED until we adopt the new size (setting 0
//  means "the size in the file"), so adopt it and try again.

static int
s_txn_begin (lw_store_t *self, unsigned int flags, MDB_txn **txn_p)
{
    int rc = MDB_MAP_RESIZED;
    for (int attempt = 0;
         attempt < LW_STORE_RESIZED_RETRIES && rc == MDB_MAP_RESIZED;
         attempt++) {
        rc = mdb_txn_begin (self->env, NULL, flags, txn_p);
        if (rc == MDB_MAP_RESIZED) {
            int resized = mdb_env_set_mapsize (self->env, 0);
            if (resized != 0)
                return resized;
        }
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Doubles the map, up to LW_STORE_MAPSIZE_MAX. No transaction of this
//  process may be open. Returns 0, or LW_STORE_FULL (logged) when the map
//  cannot grow any more.

static int
s_grow (lw_store_t *self)
{
    size_t current = lw_store_mapsize (self);
    if (current == 0 || current >= LW_STORE_MAPSIZE_MAX) {
        zsys_error ("store: map full path=%s mapsize=%zu (at the maximum)",
                    self->path, current);
        return LW_STORE_FULL;
    }
    size_t grown = current > LW_STORE_MAPSIZE_MAX / 2
                       ? (size_t)LW_STORE_MAPSIZE_MAX
                       : current * 2;
    int rc = mdb_env_set_mapsize (self->env, grown);
    if (rc != 0) {
        zsys_error ("store: map full path=%s mapsize=%zu, cannot grow to "
                    "%zu reason=%s",
                    self->path, current, grown, mdb_strerror (rc));
        return LW_STORE_FULL;
    }
    zsys_info ("store: map grown path=%s mapsize=%zu", self->path, grown);
    return 0;
}

//  --------------------------------------------------------------------------
//  LMDB reports a short write as EIO ("filesystem full?"), which is what a
//  full disk usually gives. Returns ENOSPC for an EIO when the filesystem
//  of the store is (nearly) out of space, so the log says what to fix;
//  otherwise rc unchanged.

static int
s_disk_full (lw_store_t *self, int rc)
{
    struct statvfs usage;
    if (rc == EIO && statvfs (self->path, &usage) == 0 &&
        (uint64_t)usage.f_bavail * usage.f_frsize < LW_STORE_LOW_SPACE)
        return ENOSPC;
    return rc;
}

//  --------------------------------------------------------------------------
//  Runs write_fn in one write transaction and commits it durably. write_fn
//  returns 0 to commit, or else an lw_store_error_t or the LMDB/errno code
//  that failed (e.g. mdb_put's MDB_MAP_FULL), and the txn is aborted. A
//  full map (from write_fn or from the commit) is doubled and the whole
//  write retried, as long as the map can still grow. Returns 0 or a
//  negative lw_store_error_t.

int
lw_store_write (lw_store_t *self, lw_store_write_fn *write_fn, void *arg)
{
    assert (self);
    assert (write_fn);
    while (true) {
        MDB_txn *txn;
        int rc = s_txn_begin (self, 0, &txn);
        if (rc != 0)
            return s_map (rc, "write begin", self->path);
        rc = write_fn (txn, self->dbis, arg);
        if (rc == 0)
            rc = mdb_txn_commit (txn); //  Frees txn, success or not
        else {
            mdb_txn_abort (txn);
            if (rc <= LW_STORE_OK && rc >= LW_STORE_CORRUPT)
                return rc; //  The caller's own verdict
        }
        if (rc == 0)
            return LW_STORE_OK;
        if (rc != MDB_MAP_FULL)
            return s_map (s_disk_full (self, rc), "write", self->path);
        rc = s_grow (self);
        if (rc != 0)
            return rc;
    }
}

//  --------------------------------------------------------------------------
//  One key/value for lw_store_put

typedef struct {
    int db;        //  Database index
    MDB_val key;   //  Key bytes (borrowed)
    MDB_val value; //  Value bytes (borrowed)
} s_put_t;

//  --------------------------------------------------------------------------
//  write_fn of lw_store_put

static int
s_put (MDB_txn *txn, MDB_dbi *dbis, void *arg)
{
    s_put_t *put = (s_put_t *)arg;
    return mdb_put (txn, dbis[put->db], &put->key, &put->value, 0);
}

//  --------------------------------------------------------------------------
//  Puts one key/value in database db (index), durably. Returns 0 or a
//  negative lw_store_error_t.

int
lw_store_put (lw_store_t *self, int db, const void *key, size_t key_size,
              const void *value, size_t value_size)
{
    assert (self);
    assert (db >= 0 && (size_t)db < self->ndbs);
    assert (key);
    assert (value || value_size == 0);
    s_put_t put = {db, {key_size, (void *)key}, {value_size, (void *)value}};
    return lw_store_write (self, s_put, &put);
}

//  --------------------------------------------------------------------------
//  Reads one value into buffer (copied before the txn ends). Returns the
//  value size, which may exceed buffer_size (then nothing is copied), or a
//  negative lw_store_error_t.

long
lw_store_get (lw_store_t *self, int db, const void *key, size_t key_size,
              void *buffer, size_t buffer_size)
{
    assert (self);
    assert (db >= 0 && (size_t)db < self->ndbs);
    assert (key);
    assert (buffer || buffer_size == 0);
    MDB_txn *txn;
    int rc = s_txn_begin (self, MDB_RDONLY, &txn);
    if (rc != 0)
        return s_map (rc, "read begin", self->path);
    MDB_val mkey = {key_size, (void *)key};
    MDB_val mvalue;
    rc = mdb_get (txn, self->dbis[db], &mkey, &mvalue);
    long result;
    if (rc == 0) {
        if (mvalue.mv_size <= buffer_size && mvalue.mv_size > 0)
            memcpy (buffer, mvalue.mv_data, mvalue.mv_size);
        result = (long)mvalue.mv_size;
    }
    else
        result = s_map (rc, "get", self->path);
    mdb_txn_abort (txn);
    return result;
}

//  --------------------------------------------------------------------------
//  Compares two keys the way LMDB orders them by default (memcmp, then
//  shorter first)

static int
s_key_compare (const MDB_val *left, const void *right, size_t right_size)
{
    size_t common = left->mv_size < right_size ? left->mv_size : right_size;
    int order = common ? memcmp (left->mv_data, right, common) : 0;
    if (order != 0)
        return order;
    return left->mv_size < right_size ? -1 : left->mv_size > right_size;
}

//  --------------------------------------------------------------------------
//  Positions the cursor on the first record of an iteration: forwards,
//  the first key >= start; backwards, the last key <= start.

static int
s_cursor_start (MDB_cursor *cursor, const void *start_key, size_t start_size,
                bool reverse, MDB_val *key, MDB_val *value)
{
    if (!start_key)
        return mdb_cursor_get (cursor, key, value,
                               reverse ? MDB_LAST : MDB_FIRST);
    key->mv_size = start_size;
    key->mv_data = (void *)start_key;
    int rc = mdb_cursor_get (cursor, key, value, MDB_SET_RANGE);
    if (!reverse)
        return rc;
    if (rc == MDB_NOTFOUND) //  Every key is below start
        return mdb_cursor_get (cursor, key, value, MDB_LAST);
    if (rc == 0 && s_key_compare (key, start_key, start_size) > 0)
        return mdb_cursor_get (cursor, key, value, MDB_PREV);
    return rc;
}

//  --------------------------------------------------------------------------
//  Iterates database db in key order from start_key (NULL = first),
//  backwards if reverse (start NULL = last), in one read transaction.
//  Returns 0, or the first negative value of each_fn, or an error.

int
lw_store_each (lw_store_t *self, int db, const void *start_key,
               size_t start_size, bool reverse, lw_store_each_fn *each_fn,
               void *arg)
{
    assert (self);
    assert (db >= 0 && (size_t)db < self->ndbs);
    assert (each_fn);
    MDB_txn *txn;
    int rc = s_txn_begin (self, MDB_RDONLY, &txn);
    if (rc != 0)
        return s_map (rc, "read begin", self->path);
    MDB_cursor *cursor;
    rc = mdb_cursor_open (txn, self->dbis[db], &cursor);
    if (rc != 0) {
        mdb_txn_abort (txn);
        return s_map (rc, "cursor open", self->path);
    }
    MDB_val key, value;
    int result = 0;
    rc = s_cursor_start (cursor, start_key, start_size, reverse, &key, &value);
    while (rc == 0) {
        int verdict = each_fn (key.mv_data, key.mv_size, value.mv_data,
                               value.mv_size, arg);
        if (verdict != 0) {
            result = verdict < 0 ? verdict : 0;
            break;
        }
        rc = mdb_cursor_get (cursor, &key, &value,
                             reverse ? MDB_PREV : MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        result = s_map (rc, "each", self->path);
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    return result;
}

//  --------------------------------------------------------------------------
//  Largest key of a database copied into buffer; returns its size (which
//  may exceed buffer_size: then nothing is copied), 0 when the database is
//  empty, or a negative lw_store_error_t.

long
lw_store_last_key (lw_store_t *self, int db, void *buffer, size_t buffer_size)
{
    assert (self);
    assert (db >= 0 && (size_t)db < self->ndbs);
    assert (buffer || buffer_size == 0);
    MDB_txn *txn;
    int rc = s_txn_begin (self, MDB_RDONLY, &txn);
    if (rc != 0)
        return s_map (rc, "read begin", self->path);
    MDB_cursor *cursor;
    rc = mdb_cursor_open (txn, self->dbis[db], &cursor);
    if (rc != 0) {
        mdb_txn_abort (txn);
        return s_map (rc, "cursor open", self->path);
    }
    MDB_val key, value;
    long result = 0;
    rc = mdb_cursor_get (cursor, &key, &value, MDB_LAST);
    if (rc == 0) {
        if (key.mv_size <= buffer_size)
            memcpy (buffer, key.mv_data, key.mv_size);
        result = (long)key.mv_size;
    }
    else if (rc != MDB_NOTFOUND)
        result = s_map (rc, "last key", self->path);
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    return result;
}

//  --------------------------------------------------------------------------
//  Big-endian helpers for fixed-width keys (byte order = numeric order)

void
lw_store_put_u64 (uint8_t *dest, uint64_t value)
{
    assert (dest);
    for (int index = 7; index >= 0; index--) {
        dest[index] = (uint8_t)(value & 0xFF);
        value >>= 8;
    }
}

uint64_t
lw_store_get_u64 (const uint8_t *source)
{
    assert (source);
    uint64_t value = 0;
    for (int index = 0; index < 8; index++)
        value = (value << 8) | source[index];
    return value;
}

//  --------------------------------------------------------------------------
//  Self test helpers. What lw_store_each showed s_collect

typedef struct {
    uint64_t keys[16]; //  Keys seen, in order
    size_t count;      //  How many
    size_t stop_after; //  Return 1 after this many (0 = never)
    int fail_with;     //  Return this on the first key if nonzero
} s_seen_t;

//  --------------------------------------------------------------------------
//  each_fn of the self test: checks key == value and records the key

static int
s_collect (const void *key, size_t key_size, const void *value,
           size_t value_size, void *arg)
{
    s_seen_t *seen = (s_seen_t *)arg;
    assert (key_size == 8);
    assert (value_size == 8);
    assert (memcmp (key, value, 8) == 0);
    if (seen->fail_with)
        return seen->fail_with;
    assert (seen->count < 16);
    seen->keys[seen->count++] = lw_store_get_u64 ((const uint8_t *)key);
    if (seen->stop_after && seen->count == seen->stop_after)
        return 1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Runs an each () from start (negative = NULL) and checks the keys seen

static void
s_check_each (lw_store_t *store, int db, int64_t start, bool reverse,
              const uint64_t *expect, size_t expect_count)
{
    uint8_t key[8];
    lw_store_put_u64 (key, (uint64_t)start);
    s_seen_t seen = {{0}, 0, 0, 0};
    assert (lw_store_each (store, db, start < 0 ? NULL : key, 8, reverse,
                           s_collect, &seen) == 0);
    assert (seen.count == expect_count);
    for (size_t index = 0; index < expect_count; index++)
        assert (seen.keys[index] == expect[index]);
}

//  --------------------------------------------------------------------------
//  Writes `count` records of `size` bytes in one transaction

typedef struct {
    int db;         //  Database index
    uint64_t first; //  First key
    size_t count;   //  Records
    size_t size;    //  Bytes per value
    int calls;      //  Times the function ran (retries)
} s_bulk_t;

//  --------------------------------------------------------------------------
//  write_fn of the self test: the bulk write, counting its runs

static int
s_bulk (MDB_txn *txn, MDB_dbi *dbis, void *arg)
{
    s_bulk_t *bulk = (s_bulk_t *)arg;
    bulk->calls++;
    uint8_t *value = (uint8_t *)malloc (bulk->size);
    assert (value);
    int rc = 0;
    for (size_t index = 0; index < bulk->count && rc == 0; index++) {
        uint8_t key[8];
        lw_store_put_u64 (key, bulk->first + index);
        memset (value, (int)(index & 0xFF), bulk->size);
        MDB_val mkey = {8, key}, mvalue = {bulk->size, value};
        rc = mdb_put (txn, dbis[bulk->db], &mkey, &mvalue, 0);
    }
    free (value);
    return rc;
}

//  --------------------------------------------------------------------------
//  write_fn of the self test: puts a record, then returns *arg

static int
s_refuse (MDB_txn *txn, MDB_dbi *dbis, void *arg)
{
    MDB_val key = {3, "key"}, value = {5, "value"};
    assert (mdb_put (txn, dbis[0], &key, &value, 0) == 0);
    return *(int *)arg;
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_store_test (bool verbose)
{
    printf (" * lw_store: ");
    if (verbose)
        printf ("\n");

    char dir[] = "/tmp/lwstore-XXXXXX";
    assert (mkdtemp (dir));
    char path[64];
    snprintf (path, sizeof (path), "%s/env", dir);
    const char *names[] = {"alerts", "labels", NULL};

    //  Integer keys keep numeric order as bytes
    uint8_t bytes[8];
    lw_store_put_u64 (bytes, 0x0102030405060708ULL);
    assert (bytes[0] == 1 && bytes[7] == 8);
    assert (lw_store_get_u64 (bytes) == 0x0102030405060708ULL);

    //  Open (creating the directory), tiny map to force growth later
    lw_store_t *store = lw_store_new (path, LW_STORE_MAPSIZE_MIN, names);
    assert (store);
    struct stat info;
    assert (stat (path, &info) == 0 && S_ISDIR (info.st_mode));
    assert ((info.st_mode & 0777) == 0700);
    assert (lw_store_dbi_index (store, "alerts") == 0);
    assert (lw_store_dbi_index (store, "labels") == 1);
    assert (lw_store_dbi_index (store, "models") == -1);
    size_t initial = lw_store_mapsize (store);
    assert (initial >= LW_STORE_MAPSIZE_MIN);

    //  Put, get, not found, too small a buffer
    assert (lw_store_put (store, 0, "a", 1, "alpha", 5) == 0);
    char buffer[64];
    assert (lw_store_get (store, 0, "a", 1, buffer, sizeof (buffer)) == 5);
    assert (memcmp (buffer, "alpha", 5) == 0);
    memset (buffer, 0, sizeof (buffer));
    assert (lw_store_get (store, 0, "a", 1, buffer, 2) == 5);
    assert (buffer[0] == 0);
    assert (lw_store_get (store, 0, "b", 1, buffer, sizeof (buffer)) ==
            LW_STORE_NOTFOUND);
    assert (lw_store_get (store, 1, "a", 1, buffer, sizeof (buffer)) ==
            LW_STORE_NOTFOUND);
    assert (lw_store_put (store, 0, "a", 1, "", 0) == 0);
    assert (lw_store_get (store, 0, "a", 1, buffer, sizeof (buffer)) == 0);
    //  LMDB refuses empty and oversized keys: an error, not a crash
    assert (lw_store_put (store, 0, "", 0, "x", 1) == LW_STORE_ERROR);
    char huge_key[1024];
    memset (huge_key, 'k', sizeof (huge_key));
    assert (lw_store_put (store, 0, huge_key, sizeof (huge_key), "x", 1) ==
            LW_STORE_ERROR);

    //  Iteration over 10, 20, 30, 40, 50 (key == value)
    int db = lw_store_dbi_index (store, "labels");
    assert (lw_store_last_key (store, db, bytes, 8) == 0);
    for (uint64_t number = 10; number <= 50; number += 10) {
        lw_store_put_u64 (bytes, number);
        assert (lw_store_put (store, db, bytes, 8, bytes, 8) == 0);
    }
    uint64_t all[] = {10, 20, 30, 40, 50};
    uint64_t backwards[] = {50, 40, 30, 20, 10};
    s_check_each (store, db, -1, false, all, 5);
    s_check_each (store, db, -1, true, backwards, 5);
    s_check_each (store, db, 30, false, all + 2, 3);
    s_check_each (store, db, 25, false, all + 2, 3);
    s_check_each (store, db, 60, false, NULL, 0);
    s_check_each (store, db, 30, true, backwards + 2, 3);
    s_check_each (store, db, 35, true, backwards + 2, 3);
    s_check_each (store, db, 99, true, backwards, 5);
    s_check_each (store, db, 5, true, NULL, 0);
    s_check_each (store, db, 5, false, all, 5);
    //  Stopping early, and a callback failure passed through
    s_seen_t seen = {{0}, 0, 2, 0};
    assert (lw_store_each (store, db, NULL, 0, false, s_collect, &seen) == 0);
    assert (seen.count == 2 && seen.keys[1] == 20);
    seen = (s_seen_t){{0}, 0, 0, -7};
    assert (lw_store_each (store, db, NULL, 0, true, s_collect, &seen) == -7);
    //  Empty database: each sees nothing
    s_check_each (store, 0, 10, true, NULL, 0);
    //  Last key
    assert (lw_store_last_key (store, db, bytes, 8) == 8);
    assert (lw_store_get_u64 (bytes) == 50);
    assert (lw_store_last_key (store, db, bytes, 4) == 8);

    //  A write function that refuses: nothing is committed
    int verdict = LW_STORE_CORRUPT;
    assert (lw_store_write (store, s_refuse, &verdict) == LW_STORE_CORRUPT);
    verdict = EINVAL;
    assert (lw_store_write (store, s_refuse, &verdict) == LW_STORE_ERROR);
    assert (lw_store_get (store, 0, "key", 3, buffer, sizeof (buffer)) ==
            LW_STORE_NOTFOUND);

    //  A full map grows: 5 MiB in one transaction, then 5 MiB more in
    //  100 KiB writes, starting from a 64 KiB map
    s_bulk_t bulk = {0, 1000, 1000, 5 * 1024, 0};
    assert (lw_store_write (store, s_bulk, &bulk) == 0);
    assert (bulk.calls > 1); //  Retried after growing
    for (int index = 0; index < 50; index++) {
        bulk = (s_bulk_t){0, 5000 + index, 1, 100 * 1024, 0};
        assert (lw_store_write (store, s_bulk, &bulk) == 0);
    }
    size_t grown = lw_store_mapsize (store);
    assert (grown >= 10 * 1024 * 1024);
    if (verbose)
        zsys_info ("store test: map grew from %zu to %zu", initial, grown);
    lw_store_put_u64 (bytes, 1999);
    char *large = (char *)malloc (100 * 1024);
    assert (large);
    assert (lw_store_get (store, 0, bytes, 8, large, 100 * 1024) == 5 * 1024);
    assert ((uint8_t)large[0] == (999 & 0xFF));
    lw_store_destroy (&store);
    assert (store == NULL);
    lw_store_destroy (&store);

    //  Reopen with a map smaller than the data: all is still there
    store = lw_store_new (path, LW_STORE_MAPSIZE_MIN, names);
    assert (store);
    assert (lw_store_mapsize (store) >= 10 * 1024 * 1024);
    s_check_each (store, db, -1, false, all, 5);
    lw_store_put_u64 (bytes, 5049);
    assert (lw_store_get (store, 0, bytes, 8, large, 100 * 1024) == 100 * 1024);
    assert (lw_store_get (store, 0, "a", 1, buffer, sizeof (buffer)) == 0);

    //  Disk full: the file size limit stands in for a full disk (writes
    //  fail with EFBIG rather than ENOSPC); the write fails cleanly, the
    //  store stays usable, the committed data stays intact
    struct rlimit saved;
    assert (getrlimit (RLIMIT_FSIZE, &saved) == 0);
    void (*old_handler) (int) = signal (SIGXFSZ, SIG_IGN);
    struct rlimit limited = {16 * 1024 * 1024, saved.rlim_max};
    if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max > limited.rlim_cur) {
        assert (setrlimit (RLIMIT_FSIZE, &limited) == 0);
        bulk = (s_bulk_t){0, 9000, 100, 100 * 1024, 0};
        int rc = lw_store_write (store, s_bulk, &bulk);
        assert (setrlimit (RLIMIT_FSIZE, &saved) == 0);
        assert (rc == LW_STORE_ERROR);
        lw_store_put_u64 (bytes, 9000);
        assert (lw_store_get (store, 0, bytes, 8, large, 100 * 1024) ==
                LW_STORE_NOTFOUND);
        assert (lw_store_put (store, 0, "after", 5, "ok", 2) == 0);
    }
    signal (SIGXFSZ, old_handler);
    free (large);
    lw_store_destroy (&store);

    //  Bad paths fail cleanly: a file where the directory should be, and
    //  a directory holding garbage instead of an environment
    char file[64];
    snprintf (file, sizeof (file), "%s/file", dir);
    FILE *handle = fopen (file, "w");
    assert (handle);
    fclose (handle);
    assert (lw_store_new (file, 0, names) == NULL);
    snprintf (path, sizeof (path), "%s/file/env", dir);
    assert (lw_store_new (path, 0, names) == NULL);
    snprintf (path, sizeof (path), "%s/garbage", dir);
    assert (mkdir (path, 0700) == 0);
    snprintf (file, sizeof (file), "%s/garbage/data.mdb", dir);
    handle = fopen (file, "w");
    assert (handle);
    for (int index = 0; index < 4096; index++)
        fputc ('x', handle);
    fclose (handle);
    assert (lw_store_new (path, 0, names) == NULL);

    char command[128];
    snprintf (command, sizeof (command), "rm -rf %s", dir);
    assert (system (command) == 0);
    printf ("OK\n");
}
