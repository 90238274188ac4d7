/*  =========================================================================
    lw_alertdb.h - lw-feedback's store of alerts and labels (LMDB)

    Copyright (c) the linewatch authors. MIT license.

    One LMDB environment (lw_store) with four named databases:
      alerts      id (u64 BE) -> lw_msg-encoded lw_alert_t
      alert_keys  scorer (u64 BE) + local_seq (u64 BE) -> id (u64 BE), so
                  the UPDATE and CLOSE of an episode find their alert
      labels      label id (u64 BE) -> lw_msg-encoded lw_label_t; an
                  append-only history, never rewritten
      meta        "next_alert", "next_label" -> u64 BE: the next ids, so
                  that ids keep growing across restarts
    Every alert record carries the latest label of that alert (its `label`
    field), written in the same transaction as the label itself.
    Everything read back is decoded as untrusted: a value that does not
    decode (or whose id does not match its key) is skipped and counted in
    the "store_corrupt" counter, never trusted.
    Used by the feedback actor only (one thread).
    =========================================================================
*/

#ifndef LW_ALERTDB_H_INCLUDED
#define LW_ALERTDB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lw_msg.h"
#include "lw_stats.h"
#include "lw_store.h"

typedef struct _lw_alertdb_t lw_alertdb_t;

//  Called per record of an iteration, newest or oldest first; the record
//  is borrowed for the call. Return 0 to go on, 1 to stop.
typedef int (lw_alertdb_alert_fn) (const lw_alert_t *alert, void *arg);
typedef int (lw_alertdb_label_fn) (const lw_label_t *label, void *arg);

//  Opens (creating) the store in directory `path`. `stats` (may be NULL)
//  is borrowed for the store's lifetime and gets the "store_corrupt"
//  counter. Returns NULL on failure (logged).
lw_alertdb_t *
    lw_alertdb_new (const char *path, size_t mapsize, lw_stats_t *stats);
//  Same over a store that is already open, borrowed (destroy does not
//  close it): it must hold the databases "alerts", "alert_keys", "labels"
//  and "meta", in that order. The next ids are recovered from it as by
//  _new. Returns NULL (logged) when the databases do not match. For the
//  fuzz target: one environment for all inputs.
lw_alertdb_t *
    lw_alertdb_new_on_store (lw_store_t *store, lw_stats_t *stats);
void
    lw_alertdb_destroy (lw_alertdb_t **self_p);

//  Applies `count` alert messages (OPEN, UPDATE, CLOSE) in one durable
//  transaction. A message of a known episode updates its alert (peak
//  score, value and range at the peak, latest update, close time, union
//  of detectors); one of an unknown episode creates an alert with the
//  next id. Writes each alert's id into alerts[i].id. Returns the number
//  of alerts created (>= 0) or a negative lw_store_error_t.
int
    lw_alertdb_apply (lw_alertdb_t *self, lw_alert_t *alerts, size_t count);

//  Reads alert `id` into *out. Returns 0, LW_STORE_NOTFOUND,
//  LW_STORE_CORRUPT (counted) or another negative lw_store_error_t.
int
    lw_alertdb_alert (lw_alertdb_t *self, uint64_t id, lw_alert_t *out);

//  Appends a label durably: assigns label->id, sets label->at to now when
//  it is 0, and when label->alert_id is set makes it that alert's latest
//  label (the alert must exist). Returns 0, LW_STORE_NOTFOUND (no such
//  alert) or another negative lw_store_error_t.
int
    lw_alertdb_label (lw_alertdb_t *self, lw_label_t *label);

//  Iterates alerts / labels by id; corrupt records are skipped (counted).
//  Returns 0 or a negative lw_store_error_t.
int
    lw_alertdb_each_alert (lw_alertdb_t *self, bool newest_first,
                           lw_alertdb_alert_fn *fn, void *arg);
int
    lw_alertdb_each_label (lw_alertdb_t *self, bool newest_first,
                           lw_alertdb_label_fn *fn, void *arg);

//  The ids the next alert and the next label will get
uint64_t
    lw_alertdb_next_alert (lw_alertdb_t *self);
uint64_t
    lw_alertdb_next_label (lw_alertdb_t *self);
//  Corrupt records met since the store was opened
uint64_t
    lw_alertdb_corrupt (lw_alertdb_t *self);

//  True if `key` matches the filter: an empty filter, the same key, or
//  a machine prefix of it (filter "line1/press3" matches
//  "line1/press3/temp").
bool
    lw_alertdb_sensor_match (const char *filter, const char *key);

void
    lw_alertdb_test (bool verbose);

#endif
