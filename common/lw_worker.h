/*  =========================================================================
    lw_worker.h - the shared body of a partitioned stream worker

    Copyright (c) the linewatch authors. MIT license.

    lw-features and lw-scorer are the same machine around different maths:
    a SUB socket connected to the broker's XPUB for the input stream,
    subscribed to exactly the partitions the coordinator gave this member;
    every batch decoded into one reused lw_batch_t, rejected and counted by
    reason ("drop_<lw_msg_strerror>"), ignored when its partition is not
    owned ("drop_not_owned"), and its sequence checked per (publisher,
    partition) so that loss shows up in the "gaps" counter; per-sensor
    state that can be found by key on the hot path and dropped by
    partition when the coordinator revokes one; and an XPUB with NODROP
    connected to the broker's XSUB for the output stream, where a full
    queue means wait (backpressure), never a silent drop. Output batches
    carry this worker's publisher id and a sequence per partition.

    Rejections, each counted: a first frame that is not 2 bytes, or not
    exactly two frames ("drop_envelope"); a body lw_batch_decode refuses
    ("drop_<reason>"); a batch of another kind ("drop_bad_type"); a body
    whose partition differs from its envelope's ("drop_envelope"); a
    sequence of 0 ("drop_bad_range"); a partition not owned
    ("drop_not_owned"). Gaps are counted within one owner's tenure: the
    first batch of a (publisher, partition) after an ASSIGN only sets the
    baseline, so a batch lost while a partition changed hands is not seen
    until snapshots carry the last sequence (later issue).

    Gap events (LW_MSG_GAP, lw-ingest's "sensor sent nothing") travel on
    the same streams under the sensor's partition. With a gap handler
    set, they are decoded and passed to it ("sensor_gaps" counted); one
    that does not decode is dropped as "drop_<reason>", one whose sensor
    does not belong to its envelope's partition as "drop_envelope", one
    of a partition not owned as "drop_not_owned". Without a handler, they
    are "drop_bad_type" like any other kind.

    The worker lives inside one actor thread: the actor creates it in its
    CONFIGURE handler and attaches it to its zloop.
    =========================================================================
*/

#ifndef LW_WORKER_H_INCLUDED
#define LW_WORKER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_cfg.h"
#include "lw_member.h"
#include "lw_msg.h"
#include "lw_stats.h"

typedef struct _lw_worker_t lw_worker_t;

//  Called for every accepted batch: right kind, owned partition, sequence
//  accounted, "in" counted. The batch is borrowed for the call only; the
//  handler may modify its items.
typedef void (lw_worker_batch_fn) (lw_worker_t *worker, lw_batch_t *batch,
                                   void *arg);
//  Called for every accepted gap event: owned partition, the sensor's own
//  partition, "sensor_gaps" counted. The gap is borrowed for the call.
typedef void (lw_worker_gap_fn) (lw_worker_t *worker, uint16_t partition,
                                 const lw_gap_t *gap, void *arg);
//  Called after the worker (un)subscribed partitions on ASSIGN or REVOKE
//  (kind is LW_CTRL_ASSIGN or LW_CTRL_REVOKE). On REVOKE the states of the
//  partitions' sensors are already destroyed.
typedef void (lw_worker_change_fn) (lw_worker_t *worker, int kind,
                                    const uint16_t *partitions, size_t count,
                                    void *arg);
//  Creates the per-sensor state of a new sensor; NULL on failure
typedef void *(lw_worker_state_new_fn)(const char *sensor, void *arg);
//  Destroys a per-sensor state and sets *state_p to NULL
typedef void (lw_worker_state_free_fn) (void **state_p);

//  Creates a worker of `group` named `name`: connects a SUB to `input`
//  (the broker XPUB of the input stream) that accepts batches of
//  `input_kind`, an XPUB (NODROP) to `output` (the broker XSUB of the
//  output stream) whose output batches are of `output_kind`, and a
//  member to node->coordinator. `node` and `stats` are borrowed for the
//  worker's lifetime. Returns NULL on failure (logged).
lw_worker_t *lw_worker_new (const lw_node_t *node, const char *group,
                            const char *name, const char *input,
                            lw_msg_type_t input_kind, const char *output,
                            lw_msg_type_t output_kind, lw_stats_t *stats);
void lw_worker_destroy (lw_worker_t **self_p);

//  Registers the batch and partition-change handlers
void lw_worker_set_handlers (lw_worker_t *self, lw_worker_batch_fn *batch_fn,
                             lw_worker_change_fn *change_fn, void *arg);
//  Registers the gap event handler (its arg is that of the handlers)
void lw_worker_set_gap_handler (lw_worker_t *self, lw_worker_gap_fn *gap_fn);
//  Registers how per-sensor states are made and destroyed
void lw_worker_set_state_fns (lw_worker_t *self, lw_worker_state_new_fn *new_fn,
                              lw_worker_state_free_fn *free_fn, void *arg);

//  Adds the sockets and the member to the actor's loop. `pipe` is the
//  actor pipe: a blocked send gives up when a command is waiting on it
//  (shutdown), so $TERM is never stuck behind a dead broker.
int lw_worker_attach (lw_worker_t *self, zloop_t *loop, zsock_t *pipe);
//  Removes them again. Destroy a worker only after its loop stopped, or
//  after detaching it.
void lw_worker_detach (lw_worker_t *self, zloop_t *loop);

//  Takes (LW_CTRL_ASSIGN) or releases (LW_CTRL_REVOKE) partitions: the
//  member handler calls this; tests may call it directly. Partitions
//  outside [0, node->partitions) are ignored (logged).
void lw_worker_change (lw_worker_t *self, int kind, const uint16_t *partitions,
                       size_t count);
//  True when the partition is owned
bool lw_worker_owns (lw_worker_t *self, uint16_t partition);
//  Number of partitions owned
size_t lw_worker_owned (lw_worker_t *self);

//  State of `sensor` in `partition`, created with the state function on
//  first sight. Returns NULL when it cannot be created. Borrowed until
//  the partition is revoked or the worker destroyed.
void *lw_worker_state (lw_worker_t *self, const char *sensor,
                       uint16_t partition);
//  Number of sensor states held
size_t lw_worker_states (lw_worker_t *self);

//  Starts the output batch for `input`: empties it and copies partition
//  and ingest_time from the input batch. Returns the output batch
//  (owned by the worker).
lw_batch_t *lw_worker_output (lw_worker_t *self, lw_batch_t *input);
//  Publishes the output batch (when not empty) with this worker's
//  publisher id and the partition's next sequence number. Returns 0, or
//  -1 when it could not be sent (counted).
int lw_worker_publish (lw_worker_t *self);
//  Sends [partition, body] on the output socket; takes the body. Waits
//  on POLLOUT while the broker is full (backpressure) and only gives up
//  on interrupt or when a pipe command is pending (counted as
//  "drop_stalled"). Returns 0 or -1.
int lw_worker_send (lw_worker_t *self, uint16_t partition, zframe_t **body_p);

//  True once the output socket has seen a subscription from the broker:
//  before that, XPUB discards what we publish (nobody listens yet)
bool lw_worker_ready (lw_worker_t *self);

//  Handles the pipe commands every worker actor shares (the actor has
//  popped `command`; msg holds the rest):
//    ASSIGN p...  -> takes partitions without a coordinator; signal 0
//    REVOKE p...  -> releases partitions; signal 0
//    STATS        -> one frame: an lw_msg control message with the actor's
//                    counters plus "owned", "sensors", "ready" (output
//                    subscribed) and "node_ready" (lw_member_ready)
//  Returns 0 when handled, -1 when the command is not one of these.
int lw_worker_command (lw_worker_t *self, const char *command, zmsg_t *msg,
                       zsock_t *pipe);

//  This worker's publisher id (random, never 0)
uint64_t lw_worker_publisher (lw_worker_t *self);
//  The stats the worker counts into
lw_stats_t *lw_worker_stats (lw_worker_t *self);

//  Self test
void lw_worker_test (bool verbose);

#endif
