/*  =========================================================================
    lw_sockmon.h - counts the connections libzmq drops on a bound socket

    Copyright (c) the linewatch authors. MIT license.

    A frame over ZMQ_MAXMSGSIZE never reaches the application: libzmq
    closes that peer's connection itself. The only trace is a socket
    monitor event, ZMQ_EVENT_DISCONNECTED. This class attaches a monitor
    (zmq_socket_monitor over inproc) to a bound socket and calls back once
    per disconnect from the owner's zloop, so a process can count them
    ("disconnects" in its heartbeat counters). libzmq gives no reason with
    the event: a peer that simply closes its socket is counted too, so the
    counter is "connections closed", of which oversized frames are one
    cause. Only disconnects are monitored: no per-message cost.
    =========================================================================
*/

#ifndef LW_SOCKMON_H_INCLUDED
#define LW_SOCKMON_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _lw_sockmon_t lw_sockmon_t;

//  Called from the loop once per connection that was closed
typedef void (lw_sockmon_fn) (void *arg);

//  Starts monitoring `socket` (borrowed; it must outlive the monitor) and
//  registers a reader on `loop`; `fn` (may be NULL) is called per
//  disconnect. Returns NULL (logged) on failure.
lw_sockmon_t *
    lw_sockmon_new (zsock_t *socket, zloop_t *loop, lw_sockmon_fn *fn,
                    void *arg);
//  Stops monitoring; call BEFORE destroying the monitored socket.
void
    lw_sockmon_destroy (lw_sockmon_t **self_p);
//  Disconnects seen so far
uint64_t
    lw_sockmon_disconnects (lw_sockmon_t *self);

void
    lw_sockmon_test (bool verbose);

#endif
