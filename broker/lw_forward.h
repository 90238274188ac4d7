/*  =========================================================================
    lw_forward.h - one stream of the broker: XSUB in, XPUB out, checked

    Copyright (c) the linewatch authors. MIT license.

    The broker runs one forwarder actor per stream (readings, features,
    events) so that a slow subscriber of one stream stalls only that
    stream: the XPUB is NODROP and the forwarder's send blocks, which
    propagates backpressure to the publishers. A single thread forwarding
    every stream with blocking sends would deadlock the pipeline (features
    blocked publishing vectors while the broker waits to hand it readings).

    The forwarder reads whole messages from the XSUB, forwards only valid
    envelopes (lw_msg_envelope) and counts the rest by reason. It tracks the
    subscriptions arriving on its XPUB so the coordinator knows whether
    every partition has a subscriber. The events forwarder also copies every
    message to the lossy monitor XPUB. It reports to its parent over the
    pipe: "REPORT" + one frame holding an lw_forward_report_t, whenever the
    coverage changes and at most every LW_FORWARD_REPORT_MS otherwise.
    =========================================================================
*/

#ifndef LW_FORWARD_H_INCLUDED
#define LW_FORWARD_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_cfg.h"
#include "lw_msg.h"

//  Period of the counter reports to the parent, ms
#define LW_FORWARD_REPORT_MS 50

typedef struct {
    const char *name;                   //  Stream name ("readings")
    char in[LW_ENDPOINT_MAX];           //  XSUB endpoint (bound)
    char out[LW_ENDPOINT_MAX];          //  XPUB endpoint (bound)
    char monitor[LW_ENDPOINT_MAX];      //  Lossy copy XPUB, "" = none
    int hwm;                            //  Send/receive HWM, messages
    int batch;                          //  Messages forwarded per wake-up
    uint32_t partitions;                //  P, for subscription coverage
} lw_forward_cfg_t;

//  What a forwarder reports to its parent (in-process, raw bytes)
typedef struct {
    uint64_t forwarded;                 //  Messages sent to the XPUB
    uint64_t drops[LW_MSG_ERRORS];      //  Rejected, by -lw_msg_error_t
    uint64_t send_failed;               //  Forward aborted (shutdown)
    uint64_t monitor_sent;              //  Copies sent to the monitor
    uint64_t monitor_dropped;           //  Copies the monitor refused
    uint64_t bad_subscriptions;         //  XPUB frames not (un)subscribe
    uint64_t disconnects;               //  XSUB connections closed (a
                                        //  frame over the limit, or a
                                        //  publisher leaving)
    uint32_t covered;                   //  Partitions with a subscriber
    bool complete;                      //  covered == partitions
} lw_forward_report_t;

//  The forwarder actor; args is an lw_forward_cfg_t borrowed until the
//  actor ends. Pipe commands: "START" binds the sockets and answers with
//  zsock_signal 0 (ok) or 1 (failed, logged); "$TERM".
void
    lw_forward_actor (zsock_t *pipe, void *args);

#endif
