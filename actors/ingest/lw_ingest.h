/*  =========================================================================
    lw_ingest.h - lw-ingest: sources in, clean batches per partition out

    Copyright (c) the linewatch authors. MIT license.

    The actor reads its sources (ingest/source/<name>: simulator, csv; and
    the always-on gateway PULL at ingest/gateway), cleans every reading per
    sensor (lw_clean: non-finite, duplicate, late), and publishes batches
    per partition on an XPUB (ZMQ_XPUB_NODROP) connected to the broker's
    readings XSUB. A batch goes out when it holds ingest/batch readings or
    its oldest reading is ingest/flush ms old; it carries the publisher id,
    its partition, a per-partition sequence (1, 2, 3...) and ingest_time
    (wall clock ns when its first reading was taken).

    Nothing is dropped for lack of room: a send that would block is kept
    and retried every millisecond while all sources pause. Sources also
    wait until every partition has a subscriber - the broker says READY
    (ingest/wait_ready = 1) and the XPUB has seen a subscription covering
    every partition - because a publisher with no subscriber for a
    partition drops its messages silently.

    It is a member of group "ingest" (lw_member): heartbeats carry the
    counters "in", "out", "batches", "late" (accepted out of order) and
    "drop_<reason>" (nonfinite, duplicate, late, bad_key, sensors_limit,
    bad_row, and the lw_msg_strerror names of bad gateway frames).

    Pipe protocol: "CONFIGURE" -> zsock_signal 0 | 1; "COUNTER" name ->
    the counter's value as a decimal string; "$TERM".
    =========================================================================
*/

#ifndef LW_INGEST_H_INCLUDED
#define LW_INGEST_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  The actor; args is an lw_actor_args_t * (lw_main.h)
void lw_ingest_actor (zsock_t *pipe, void *args);

void lw_ingest_test (bool verbose);

#endif
