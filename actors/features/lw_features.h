/*  =========================================================================
    lw_features.h - lw-features: turns readings into feature vectors

    Copyright (c) the linewatch authors. MIT license.

    A member of the "features" group. It subscribes to the readings stream
    for the partitions the coordinator gives it, keeps one feature
    extractor (lw_detect.h) per sensor, and for every reading publishes a
    feature vector (sensor, time, value, quality, features) on the features
    stream: one output batch per input batch, in the same partition, with
    its own publisher id and per-partition sequence, and the input's
    ingest_time carried forward so the scorer can measure end-to-end
    latency. A sensor of a configured peer group (scorer/peer, lw_peer.h)
    is published twice: also as a copy flagged LW_QUALITY_PEER in a batch
    of the group's partition, fnv1a32 ("peer:" + group) mod P, under a
    second publisher id with its own sequences, so the one scorer that
    owns that partition sees the whole fleet.

    Counters: in, out, peer_out (copies to peer groups), gaps, drop_*.

    Pipe commands (besides $TERM): CONFIGURE (signal 0 or 1), and ASSIGN,
    REVOKE and STATS as in lw_worker.h.
    =========================================================================
*/

#ifndef LW_FEATURES_H_INCLUDED
#define LW_FEATURES_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  The actor; args is an lw_actor_args_t * (lw_main.h), borrowed until
//  the actor ends
void lw_features_actor (zsock_t *pipe, void *args);

//  Self test
void lw_features_test (bool verbose);

#endif
