/*  =========================================================================
    lw_feedback.h - lw-feedback: stores alerts and labels, serves lwctl

    Copyright (c) the linewatch authors. MIT license.

    The feedback actor subscribes to the alerts topic of the events stream
    (LW_TOPIC_ALERTS on the broker's events XPUB), gives every new alert
    episode a monotonic id and keeps it, updated by the episode's UPDATE
    and CLOSE messages, in LMDB (lw_alertdb). It answers the operator API
    (lwctl) on a ROUTER: list and show alerts, add labels (committed
    durably before they are acknowledged), list labels, and its own
    counters. It is a member of the node (group "feedback") so that lwctl
    status sees its counters.

    API: every request is one lw_request_t frame (after the DEALER
    identity); every reply is one zmsg: an lw_reply_t frame (status 0 or
    one of LW_FEEDBACK_E*, text, count) and `count` frames that follow:
      PING    -> no frames
      ALERTS  -> alerts, oldest first by id (with limit N: the newest N)
      SHOW    -> the alert, then its labels oldest first
      LABEL   -> the label as stored (its id assigned)
      LABELS  -> labels, oldest first (with limit N: the newest N)
      STATS   -> one control frame (LW_CTRL_MEMBER) with the counters
    Alerts in replies carry `label` = the latest label of that alert.
    =========================================================================
*/

#ifndef LW_FEEDBACK_H_INCLUDED
#define LW_FEEDBACK_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  Reply statuses of the operator API (besides 0 = ok). A request that
//  failed to decode gets its negative lw_msg_error_t as status.
#define LW_FEEDBACK_EINVAL 1        //  Request is well-formed but invalid
#define LW_FEEDBACK_ENOTFOUND 2     //  No such alert
#define LW_FEEDBACK_ESTORE 3        //  The store failed (logged)
#define LW_FEEDBACK_EOP 4           //  Unknown operation

//  The actor; args is an lw_actor_args_t * (lw_main.h), borrowed until
//  the actor ends. Pipe commands: "CONFIGURE" (opens the store, binds the
//  API, connects to the events stream; answers zsock_signal 0 or 1),
//  "$TERM".
void
    lw_feedback_actor (zsock_t *pipe, void *args);

void
    lw_feedback_test (bool verbose);

#endif
