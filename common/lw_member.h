/*  =========================================================================
    lw_member.h - a process's membership in the node: the coordinator client

    Copyright (c) the linewatch authors. MIT license.

    Every linewatch process (ingest, features, scorer, feedback) connects a
    DEALER to the broker's coordination ROUTER, says HELLO with its group and
    name, and sends a HEARTBEAT with its counters every heartbeat interval.
    For the worker groups (features, scorer) the broker answers with ASSIGN
    and REVOKE carrying an epoch and a partition list; this class keeps the
    owned set and calls the actor's handler so it can (un)subscribe. When
    the broker falls silent for 3 heartbeats the member says HELLO again,
    so a restarted broker rebuilds its view without anyone restarting.
    The broker also tells members with READY whether every partition of the
    readings stream has a subscribed owner; sources wait for it.
    =========================================================================
*/

#ifndef LW_MEMBER_H_INCLUDED
#define LW_MEMBER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_msg.h"
#include "lw_stats.h"

typedef struct _lw_member_t lw_member_t;

//  Called on ASSIGN (LW_CTRL_ASSIGN) and REVOKE (LW_CTRL_REVOKE) with the
//  partitions that changed hands. The member acknowledges a REVOKE (with a
//  heartbeat) only after the handler returns, and the broker sends the
//  new owner its ASSIGN only after that acknowledgement: state the handler
//  saves on REVOKE is there for the next owner to restore.
typedef void (lw_member_fn) (lw_member_t *member, int kind,
                             const uint16_t *partitions, size_t count,
                             void *arg);

//  Creates a member of `group` named `name`, connected to the broker's
//  coordinator endpoint. `stats` is borrowed for the member's lifetime and
//  sent with every heartbeat. Returns NULL on failure (logged).
lw_member_t *
    lw_member_new (const char *endpoint, const char *group, const char *name,
                   int heartbeat_ms, lw_stats_t *stats);
void
    lw_member_destroy (lw_member_t **self_p);

//  Registers the ASSIGN/REVOKE handler
void
    lw_member_set_handler (lw_member_t *self, lw_member_fn *handler,
                           void *arg);

//  Adds the member's socket and heartbeat timer to an actor's loop
int
    lw_member_attach (lw_member_t *self, zloop_t *loop);

//  True when this member owns the partition now
bool
    lw_member_owns (lw_member_t *self, uint16_t partition);
//  Number of partitions owned
size_t
    lw_member_owned (lw_member_t *self);
//  Assignment epoch last seen
uint64_t
    lw_member_epoch (lw_member_t *self);
//  True when the broker said every readings partition has a subscriber
bool
    lw_member_ready (lw_member_t *self);

//  Sends a heartbeat now if one is due, without reading replies: for a
//  caller blocked outside its loop (e.g. waiting on a full output queue)
void
    lw_member_tick (lw_member_t *self);

//  Says BYE to the broker (a graceful stop); destroy does it too.
void
    lw_member_bye (lw_member_t *self);

//  Silent heartbeats after which the broker counts as gone and the member
//  says HELLO again (common/misses; default 3)
void
    lw_member_set_misses (lw_member_t *self, int misses);

//  Removes the member's socket and timer from its loop, without a BYE.
//  lw_member_destroy does not touch the loop: destroy after the loop has
//  stopped, or detach first. The self test of this class is in
//  lw_broker_test (it needs the broker).
void
    lw_member_detach (lw_member_t *self);

#endif
