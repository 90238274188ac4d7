/*  =========================================================================
    lw_store.h - LMDB wrapper used by every linewatch process

    Copyright (c) the linewatch authors. MIT license.

    One environment per directory, opened once per process, with a fixed
    set of named databases opened in one committed transaction at start.
    Transactions are short and live inside one call. The only MDB_* to
    LW_STORE_* mapping is here. A full map is grown and the write retried;
    a full disk is an error returned to the caller, never a crash.
    Values are opaque bytes here; callers store lw_msg encodings and decode
    what they read back as untrusted.
    =========================================================================
*/

#ifndef LW_STORE_H_INCLUDED
#define LW_STORE_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _lw_store_t lw_store_t;

typedef enum {
    LW_STORE_OK = 0,
    LW_STORE_NOTFOUND = -1,     //  No such key
    LW_STORE_FULL = -2,         //  Map full and could not grow
    LW_STORE_ERROR = -3,        //  Anything else (logged), incl. disk full
    LW_STORE_CORRUPT = -4       //  A value read back failed validation
} lw_store_error_t;

//  Called inside a write transaction; returns 0 to commit, else aborts.
//  `dbis` are the named databases in the order given to lw_store_new.
typedef int (lw_store_write_fn) (MDB_txn *txn, MDB_dbi *dbis, void *arg);
//  Called for each record of an iteration, key and value borrowed until it
//  returns; return 0 to go on, 1 to stop, negative to fail.
typedef int (lw_store_each_fn) (const void *key, size_t key_size,
                                const void *value, size_t value_size,
                                void *arg);

//  Opens (creating it) the environment in directory `path` with named
//  databases `names` (NULL-terminated list). Returns NULL on failure,
//  logged with the reason.
lw_store_t *
    lw_store_new (const char *path, size_t mapsize, const char **names);
void
    lw_store_destroy (lw_store_t **self_p);

//  Index of a named database as given to lw_store_new, or -1
int
    lw_store_dbi_index (lw_store_t *self, const char *name);

//  Runs write_fn in one write transaction and commits it durably. On a
//  full map the map is doubled (up to the configured maximum) and the
//  whole write retried once. Returns 0 or a negative lw_store_error_t.
int
    lw_store_write (lw_store_t *self, lw_store_write_fn *write_fn, void *arg);

//  Convenience: puts one key/value in database `db` (index).
int
    lw_store_put (lw_store_t *self, int db, const void *key, size_t key_size,
                  const void *value, size_t value_size);

//  Reads one value into a caller buffer (copied before the txn ends).
//  Returns the value size (which may exceed buffer_size: then nothing is
//  copied), or a negative lw_store_error_t.
long
    lw_store_get (lw_store_t *self, int db, const void *key, size_t key_size,
                  void *buffer, size_t buffer_size);

//  Iterates database `db` in key order from `start_key` (NULL = first),
//  backwards if `reverse` (start NULL = last), in one read transaction.
//  Returns 0, or the first negative value of each_fn, or an error.
int
    lw_store_each (lw_store_t *self, int db, const void *start_key,
                   size_t start_size, bool reverse, lw_store_each_fn *each_fn,
                   void *arg);

//  Largest key of a database copied into buffer; returns its size, 0 when
//  empty, or a negative lw_store_error_t.
long
    lw_store_last_key (lw_store_t *self, int db, void *buffer,
                       size_t buffer_size);

//  Maps an LMDB return code to lw_store_error_t, logging real errors.
int
    lw_store_map_error (int rc, const char *what);

//  Current map size in bytes
size_t
    lw_store_mapsize (lw_store_t *self);

//  Big-endian helpers for fixed-width keys (byte order = numeric order)
void lw_store_put_u64 (uint8_t *dest, uint64_t value);
uint64_t lw_store_get_u64 (const uint8_t *source);

void
    lw_store_test (bool verbose);

#endif
