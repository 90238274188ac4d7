/*  =========================================================================
    lw_scorer.h - lw-scorer: scores feature vectors and raises alerts

    Copyright (c) the linewatch authors. MIT license.

    A member of the "scorer" group. It subscribes to the features stream
    for the partitions the coordinator gives it and keeps, per sensor, a
    detector, its rule detectors (stuck, gap, limit: lw_rules.h) and an
    alert episode (lw_detect.h). Every vector is scored with
    lw_detector_score, then lw_rules_step (rules, then the episode on the
    maximum of the two scores), in exactly the order lwctl score uses
    offline, so live and offline agree. Each scored vector then joins its
    machine's time-aligned row (lw_machine.h: machine score, episode on
    the machine key, top sensors in the alert; machines of two sensors or
    more). Copies flagged LW_QUALITY_PEER (lw-features publishes them
    under a peer group's partition) go to the group's rows (lw_peer.h),
    never to the sensor's own detectors. Machine and peer group states are
    per-key states of the worker, in the partition they arrive in (the
    "sensors" counter counts them too). It publishes on the events stream:
      - one scores batch per input batch (partition frame = partition),
        when scorer/publish_scores = 1;
      - every alert change (OPEN, UPDATE, CLOSE) as an alert message under
        LW_TOPIC_ALERTS, with scorer = its publisher id and local_seq = its
        own alert number (the same for the OPEN, UPDATEs and CLOSE of one
        episode). Alerts are sent waiting out backpressure: never dropped
        while the process runs.
    Counters: in, out (readings scored), alerts (episodes opened: sensor,
    machine and peer), gaps, warmup (items scored while still warming up),
    peer (peer copies judged), drop_peer (copies of no group or under the
    wrong partition), drop_*; latency
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
