/*  =========================================================================
    lw_broker.h - the node's rendezvous: streams and group coordinator

    Copyright (c) the linewatch authors. MIT license.

    lw-broker binds, per stream (readings, features, events), an XSUB that
    publishers connect to and a NODROP XPUB that consumers subscribe to,
    and forwards only well-formed envelopes, counting the rest (one
    lw_forward actor per stream). Every events message is also copied to
    the lossy monitor XPUB for `lwctl tail`.

    Its coordinator (a ROUTER) keeps the members of the node: HELLO and
    HEARTBEAT (with the member's counters) register a member, BYE or
    silence for `misses` heartbeats removes it. The P partitions are split
    evenly and deterministically over the live members of the "features"
    and "scorer" groups (contiguous ranges, members sorted by name); every
    change bumps the epoch, REVOKEs lost partitions, then ASSIGNs the new
    sets. READY tells every member whether every partition of the readings
    and features streams has a subscriber. STATUS (from any DEALER) answers
    a reply frame and one MEMBER control frame for the broker and for each
    member; PING answers PONG. Malformed frames are dropped and counted.

    Pipe protocol: "CONFIGURE" binds everything and answers zsock_signal
    0 or 1; "$TERM" ends the actor. args is an lw_actor_args_t.
    =========================================================================
*/

#ifndef LW_BROKER_H_INCLUDED
#define LW_BROKER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  The broker actor; args is an lw_actor_args_t borrowed until it ends
void
    lw_broker_actor (zsock_t *pipe, void *args);

//  Self test: runs the broker in-process with members of lw_member
void
    lw_broker_test (bool verbose);

#endif
