/*  =========================================================================
    lw_scorer.h - lw-scorer: scores feature vectors and raises alerts

    Copyright (c) the linewatch authors. MIT license.

    A member of the "scorer" group. It subscribes to the features stream
    for the partitions the coordinator gives it and keeps, per sensor, a
    detector and an alert episode (lw_detect.h). Every vector is scored
    with lw_detector_score, then fed to lw_episode_update, in exactly the
    order lwctl score uses offline, so live and offline agree. It
    publishes on the events stream:
      - one scores batch per input batch (partition frame = partition),
        when scorer/publish_scores = 1;
      - every alert change (OPEN, UPDATE, CLOSE) as an alert message under
        LW_TOPIC_ALERTS, with scorer = its publisher id and local_seq = its
        own alert number (the same for the OPEN, UPDATEs and CLOSE of one
        episode). Alerts are sent waiting out backpressure: never dropped
        while the process runs.
    Counters: in, out (readings scored), alerts (episodes opened), gaps,
    warmup (items scored while still warming up), drop_*; latency
    ingest -> score per batch in the histogram.

    Pipe commands (besides $TERM): CONFIGURE (signal 0 or 1), and ASSIGN,
    REVOKE and STATS as in lw_worker.h.
    =========================================================================
*/

#ifndef LW_SCORER_H_INCLUDED
#define LW_SCORER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  The actor; args is an lw_actor_args_t * (lw_main.h), borrowed until
//  the actor ends
void lw_scorer_actor (zsock_t *pipe, void *args);

//  Self test
void lw_scorer_test (bool verbose);

#endif
