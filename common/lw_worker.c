/*  =========================================================================
    lw_worker.c - the shared body of a partitioned stream worker

    Copyright (c) the linewatch authors. MIT license.

    See lw_worker.h. The receive path works on zmq_msg_t directly so that a
    batch costs no allocation before it is decoded into the one reused
    lw_batch_t; the per-sensor states hang off a keymap (found by key) and
    off one singly linked list per partition (dropped by partition).
    =========================================================================
*/

#include "lw_worker.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "lw_keymap.h"
#include "lw_util.h"

//  Publishers whose sequence we remember per partition; a stream with more
//  (restarts, hostile ids) recycles the least recently seen slot, so a
//  peer cannot make us allocate by inventing publisher ids
#define LW_WORKER_PUBLISHERS 8
//  Messages handled per wake-up of the input reader before zloop looks at
//  the other sockets again (fairness against the pipe and the member)
#define LW_WORKER_DRAIN 64
//  One POLLOUT wait while the output queue is full, in ms
#define LW_WORKER_SEND_WAIT 100
//  Least ms between two warnings about bad peer input
#define LW_WORKER_WARN_MS 5000

//  Sequence bookkeeping of one (publisher, partition)
typedef struct {
    uint64_t publisher; //  0 = free slot
    uint64_t sequence;  //  Last sequence seen
    uint64_t used;      //  Batch counter when last seen (for LRU)
} s_seen_t;

//  One sensor's state and its place in its partition's list
typedef struct _s_entry_t {
    void *state;             //  Made by the state new function
    uint16_t partition;      //  Partition the sensor arrived in
    struct _s_entry_t *next; //  Next entry of the same partition
    char sensor[];           //  The key, NUL-terminated
} s_entry_t;

struct _lw_worker_t {
    const lw_node_t *node;               //  Borrowed node settings
    lw_stats_t *stats;                   //  Borrowed counters
    lw_member_t *member;                 //  Membership in the group
    zsock_t *input;                      //  SUB to the input stream's XPUB
    zsock_t *output;                     //  XPUB (NODROP) to the output XSUB
    zsock_t *pipe;                       //  Actor pipe, borrowed (see send)
    lw_msg_type_t input_kind;            //  Batch kind accepted on input
    lw_batch_t *batch;                   //  Reused input batch
    lw_batch_t *out;                     //  Reused output batch
    uint64_t publisher;                  //  Our publisher id
    uint64_t batches;                    //  Batches accepted so far
    bool owned[LW_PARTITIONS_MAX];       //  Partitions owned now
    size_t nowned;                       //  How many are owned
    uint64_t out_seq[LW_PARTITIONS_MAX]; //  Last sequence sent
    s_seen_t *seen;                      //  partitions x LW_WORKER_PUBLISHERS
    s_entry_t *heads[LW_PARTITIONS_MAX]; //  States per partition
    lw_keymap_t *states;                 //  sensor -> s_entry_t
    lw_worker_batch_fn *batch_fn;        //  Actor's batch handler
    lw_worker_change_fn *change_fn;      //  Actor's partition handler
    lw_worker_gap_fn *gap_fn;            //  Actor's gap event handler
    int sensor_gaps_index;               //  Counter "sensor_gaps", -1 unused
    void *arg;                           //  Argument of both
    lw_worker_state_new_fn *state_new;   //  Makes a sensor state
    lw_worker_state_free_fn *state_free; //  Destroys one
    void *state_arg;                     //  Argument of state_new
    int in_index;                        //  Counter "in"
    int gaps_index;                      //  Counter "gaps"
    int not_owned_index;                 //  Counter "drop_not_owned"
    int stalled_index;                   //  Counter "drop_stalled"
    int drop_index[LW_MSG_ERRORS];       //  "drop_<reason>", -1 until first use
    int64_t warned_at;                   //  Monotonic ms of the last warning
    bool subscribed;                     //  Output has seen a subscription
};

static void s_member_changed (lw_member_t *member, int kind,
                              const uint16_t *partitions, size_t count,
                              void *arg);

//  --------------------------------------------------------------------------
//  Creates a socket of `type` connected to `endpoint` with the node's HWM
//  and the frame size limit. Returns NULL (logged) on failure.

static zsock_t *
s_connect (int type, const char *endpoint, int hwm)
{
    zsock_t *sock = zsock_new (type);
    if (!sock)
        return NULL;
    zsock_set_sndhwm (sock, hwm);
    zsock_set_rcvhwm (sock, hwm);
    zsock_set_maxmsgsize (sock, LW_MAX_FRAME_SIZE);
    zsock_set_linger (sock, 0);
    if (type == ZMQ_XPUB)
        zsock_set_xpub_nodrop (sock, 1);
    if (zsock_connect (sock, "%s", endpoint)) {
        zsys_error ("worker: cannot connect endpoint=%s error=%s", endpoint,
                    zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

//  --------------------------------------------------------------------------
//  Creates a worker; see the header.

lw_worker_t *
lw_worker_new (const lw_node_t *node, const char *group, const char *name,
               const char *input, lw_msg_type_t input_kind, const char *output,
               lw_msg_type_t output_kind, lw_stats_t *stats)
{
    assert (node);
    assert (group);
    assert (name);
    assert (input);
    assert (output);
    assert (stats);
    assert (node->partitions > 0 && node->partitions <= LW_PARTITIONS_MAX);

    lw_worker_t *self = (lw_worker_t *)zmalloc (sizeof (lw_worker_t));
    if (!self)
        return NULL;
    self->node = node;
    self->stats = stats;
    self->input_kind = input_kind;
    self->publisher = lw_random_id ();
    for (int code = 0; code < LW_MSG_ERRORS; code++)
        self->drop_index[code] = -1;
    self->in_index = lw_stats_counter (stats, "in");
    self->gaps_index = lw_stats_counter (stats, "gaps");
    self->not_owned_index = lw_stats_counter (stats, "drop_not_owned");
    self->stalled_index = lw_stats_counter (stats, "drop_stalled");
    self->batch = lw_batch_new (input_kind);
    self->out = lw_batch_new (output_kind);
    self->states = lw_keymap_new (NULL);
    self->seen = (s_seen_t *)calloc (
        (size_t)node->partitions * LW_WORKER_PUBLISHERS, sizeof (s_seen_t));
    int hwm = (int)node->hwm;
    self->input = s_connect (ZMQ_SUB, input, hwm);
    self->output = s_connect (ZMQ_XPUB, output, hwm);
    self->member = lw_member_new (node->coordinator, group, name,
                                  (int)node->heartbeat, stats);
    if (!self->batch || !self->out || !self->states || !self->seen ||
        !self->input || !self->output || !self->member) {
        zsys_error ("worker: cannot start group=%s name=%s", group, name);
        lw_worker_destroy (&self);
        return NULL;
    }
    lw_member_set_handler (self->member, s_member_changed, self);
    lw_member_set_misses (self->member, (int)node->misses);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys every state of one partition's list.

static void
s_drop_partition (lw_worker_t *self, uint16_t partition)
{
    s_entry_t *entry = self->heads[partition];
    while (entry) {
        s_entry_t *next = entry->next;
        lw_keymap_delete (self->states, entry->sensor);
        if (self->state_free)
            self->state_free (&entry->state);
        free (entry);
        entry = next;
    }
    self->heads[partition] = NULL;
}

//  --------------------------------------------------------------------------
//  Destroys a worker; accepts NULL and sets the pointer to NULL.

void
lw_worker_destroy (lw_worker_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_worker_t *self = *self_p;
        for (int partition = 0; partition < LW_PARTITIONS_MAX; partition++)
            if (self->states)
                s_drop_partition (self, (uint16_t)partition);
        //  The member says BYE on destroy, so the coordinator moves our
        //  partitions at once instead of waiting for missed heartbeats
        lw_member_destroy (&self->member);
        zsock_destroy (&self->input);
        zsock_destroy (&self->output);
        lw_keymap_destroy (&self->states);
        lw_batch_destroy (&self->batch);
        lw_batch_destroy (&self->out);
        free (self->seen);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Registers the actor's handlers.

void
lw_worker_set_handlers (lw_worker_t *self, lw_worker_batch_fn *batch_fn,
                        lw_worker_change_fn *change_fn, void *arg)
{
    assert (self);
    self->batch_fn = batch_fn;
    self->change_fn = change_fn;
    self->arg = arg;
}

//  --------------------------------------------------------------------------
//  Registers the per-sensor state functions.

void
lw_worker_set_state_fns (lw_worker_t *self, lw_worker_state_new_fn *new_fn,
                         lw_worker_state_free_fn *free_fn, void *arg)
{
    assert (self);
    self->state_new = new_fn;
    self->state_free = free_fn;
    self->state_arg = arg;
}

//  --------------------------------------------------------------------------
//  Registers the actor's gap event handler.

void
lw_worker_set_gap_handler (lw_worker_t *self, lw_worker_gap_fn *gap_fn)
{
    assert (self);
    self->gap_fn = gap_fn;
    self->sensor_gaps_index = lw_stats_counter (self->stats, "sensor_gaps");
}

//  --------------------------------------------------------------------------
//  Counts a rejected input by lw_msg error code, registering the counter
//  on first use (rejections are off the hot path), and warns at most
//  every LW_WORKER_WARN_MS.

static void
s_reject (lw_worker_t *self, int code, uint16_t partition)
{
    if (code >= 0 || code <= -LW_MSG_ERRORS)
        code = LW_MSG_WRONG_TYPE; //  Not a decoder code: our bug, still count
    int slot = -code;
    if (self->drop_index[slot] < 0) {
        char name[LW_STAT_NAME_MAX + 1];
        snprintf (name, sizeof name, "drop_%s", lw_msg_strerror (code));
        self->drop_index[slot] = lw_stats_counter (self->stats, name);
    }
    lw_stats_add (self->stats, self->drop_index[slot], 1);
    int64_t now = zclock_mono ();
    if (self->warned_at == 0 || now - self->warned_at >= LW_WORKER_WARN_MS) {
        self->warned_at = now;
        zsys_warning ("worker: bad input dropped reason=%s partition=%u"
                      " (warnings limited to one per %d ms)",
                      lw_msg_strerror (code), (unsigned)partition,
                      LW_WORKER_WARN_MS);
    }
}

//  --------------------------------------------------------------------------
//  Accounts the batch's sequence for (publisher, partition): counts
//  missing sequence numbers in "gaps". The first batch seen from a
//  publisher on a partition only sets the baseline: a partition taken over
//  mid-stream is not a loss of this worker's.

static void
s_account (lw_worker_t *self, uint64_t publisher, uint16_t partition,
           uint64_t sequence)
{
    s_seen_t *slots = self->seen + (size_t)partition * LW_WORKER_PUBLISHERS;
    s_seen_t *victim = NULL;
    for (int slot = 0; slot < LW_WORKER_PUBLISHERS; slot++) {
        s_seen_t *seen = slots + slot;
        if (seen->publisher == publisher) {
            if (sequence > seen->sequence + 1)
                lw_stats_add (self->stats, self->gaps_index,
                              sequence - seen->sequence - 1);
            //  A sequence at or below the last one cannot come from a
            //  well-behaved publisher (ZeroMQ keeps order per pipe); take
            //  it as the new baseline so one bad batch cannot hide gaps
            seen->sequence = sequence;
            seen->used = self->batches;
            return;
        }
        //  Prefer a free slot, else the least recently seen publisher
        if (!victim || (victim->publisher != 0 &&
                        (seen->publisher == 0 || seen->used < victim->used)))
            victim = seen;
    }
    victim->publisher = publisher;
    victim->sequence = sequence;
    victim->used = self->batches;
}

//  --------------------------------------------------------------------------
//  A body of another kind than a batch, on an owned partition: a gap event
//  when it decodes as one (off the hot path: gaps are rare). Everything
//  about it is untrusted.

static void
s_handle_gap (lw_worker_t *self, uint16_t partition, zmq_msg_t *body)
{
    lw_gap_t gap;
    int rc = lw_msg_gap_decode ((const uint8_t *)zmq_msg_data (body),
                                zmq_msg_size (body), &gap);
    if (rc == 0 &&
        lw_partition (gap.sensor, (uint32_t)self->node->partitions) !=
            partition)
        rc = LW_MSG_ENVELOPE;
    if (rc != 0) {
        s_reject (self, rc, partition);
        return;
    }
    lw_stats_add (self->stats, self->sensor_gaps_index, 1);
    self->gap_fn (self, partition, &gap, self->arg);
}

//  --------------------------------------------------------------------------
//  Handles one received stream message (two frames). Everything about it
//  is untrusted: envelope, body, kind, partition.

static void
s_handle_message (lw_worker_t *self, zmq_msg_t *head, zmq_msg_t *body)
{
    if (zmq_msg_size (head) != 2) {
        s_reject (self, LW_MSG_ENVELOPE, 0);
        return;
    }
    const uint8_t *prefix = (const uint8_t *)zmq_msg_data (head);
    uint16_t partition = (uint16_t)((prefix[0] << 8) | prefix[1]);
    if (zmq_msg_size (body) > LW_MAX_FRAME_SIZE) {
        s_reject (self, LW_MSG_TOO_BIG, partition);
        return;
    }
    if (partition >= self->node->partitions || !self->owned[partition]) {
        //  Still in flight from before a REVOKE, or not a partition at all
        lw_stats_add (self->stats, self->not_owned_index, 1);
        return;
    }
    int rc = lw_batch_decode (self->batch, (const uint8_t *)zmq_msg_data (body),
                              zmq_msg_size (body));
    if (rc == LW_MSG_BAD_TYPE && self->gap_fn) {
        s_handle_gap (self, partition, body);
        return;
    }
    if (rc == 0 && lw_batch_kind (self->batch) != self->input_kind)
        rc = LW_MSG_BAD_TYPE;
    if (rc == 0 && lw_batch_partition (self->batch) != partition)
        rc = LW_MSG_ENVELOPE;
    if (rc == 0 && lw_batch_sequence (self->batch) == 0)
        rc = LW_MSG_BAD_RANGE;
    if (rc != 0) {
        s_reject (self, rc, partition);
        return;
    }
    self->batches++;
    s_account (self, lw_batch_publisher (self->batch), partition,
               lw_batch_sequence (self->batch));
    lw_stats_add (self->stats, self->in_index, lw_batch_count (self->batch));
    if (self->batch_fn)
        self->batch_fn (self, self->batch, self->arg);
}

//  --------------------------------------------------------------------------
//  zloop reader of the input SUB: handles up to LW_WORKER_DRAIN messages
//  per wake-up. Never ends the loop for bad input.

static int
s_handle_input (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    lw_worker_t *self = (lw_worker_t *)arg;
    void *handle = zsock_resolve (reader);
    zmq_msg_t head, body;
    zmq_msg_init (&head);
    zmq_msg_init (&body);
    for (int msg_nbr = 0; msg_nbr < LW_WORKER_DRAIN; msg_nbr++) {
        if (zmq_msg_recv (&head, handle, ZMQ_DONTWAIT) < 0)
            break;
        if (!zmq_msg_more (&head)) {
            s_reject (self, LW_MSG_ENVELOPE, 0);
            continue;
        }
        if (zmq_msg_recv (&body, handle, ZMQ_DONTWAIT) < 0)
            break; //  Cannot happen: parts arrive atomically
        if (zmq_msg_more (&body)) {
            //  Too many frames: drain the rest of this message
            while (zmq_msg_more (&body) &&
                   zmq_msg_recv (&body, handle, ZMQ_DONTWAIT) >= 0)
                ;
            s_reject (self, LW_MSG_ENVELOPE, 0);
            continue;
        }
        s_handle_message (self, &head, &body);
        if (zsys_interrupted)
            break;
    }
    zmq_msg_close (&head);
    zmq_msg_close (&body);
    return 0;
}

//  --------------------------------------------------------------------------
//  zloop reader of the output XPUB: it receives the subscriptions the
//  broker forwards; we publish everything anyway, so they are read only
//  to keep that queue empty.

static int
s_handle_output (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    lw_worker_t *self = (lw_worker_t *)arg;
    void *handle = zsock_resolve (reader);
    uint8_t buffer[16];
    for (int msg_nbr = 0; msg_nbr < LW_WORKER_DRAIN; msg_nbr++) {
        int size = zmq_recv (handle, buffer, sizeof buffer, ZMQ_DONTWAIT);
        if (size < 0)
            break;
        //  XPUB drops what nobody subscribed to: until the broker's XSUB
        //  has subscribed, our output goes nowhere. It is our only
        //  subscriber: its subscription goes when it does (a broker
        //  restart) and comes back with the new one.
        if (size >= 1 && (buffer[0] == 0 || buffer[0] == 1))
            self->subscribed = buffer[0] == 1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Adds the sockets and the member to the loop.

int
lw_worker_attach (lw_worker_t *self, zloop_t *loop, zsock_t *pipe)
{
    assert (self);
    assert (loop);
    self->pipe = pipe;
    if (zloop_reader (loop, self->input, s_handle_input, self) ||
        zloop_reader (loop, self->output, s_handle_output, self) ||
        lw_member_attach (self->member, loop)) {
        lw_worker_detach (self, loop);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Removes the sockets and the member from the loop.

void
lw_worker_detach (lw_worker_t *self, zloop_t *loop)
{
    assert (self);
    assert (loop);
    zloop_reader_end (loop, self->input);
    zloop_reader_end (loop, self->output);
    lw_member_detach (self->member);
}

//  --------------------------------------------------------------------------
//  (Un)subscribes the 2-byte big-endian prefix of a partition. The prefix
//  may contain NUL bytes, so this uses zmq_setsockopt with an explicit
//  length (czmq's string setters would stop at the NUL and subscribe to
//  everything).

static void
s_subscribe (lw_worker_t *self, uint16_t partition, bool subscribe)
{
    uint8_t prefix[2] = {(uint8_t)(partition >> 8), (uint8_t)partition};
    int option = subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE;
    int rc = zmq_setsockopt (zsock_resolve (self->input), option, prefix, 2);
    assert (rc == 0); //  Only fails on a bad socket: our bug
}

//  --------------------------------------------------------------------------
//  Takes or releases partitions; see the header.

void
lw_worker_change (lw_worker_t *self, int kind, const uint16_t *partitions,
                  size_t count)
{
    assert (self);
    assert (kind == LW_CTRL_ASSIGN || kind == LW_CTRL_REVOKE);
    assert (partitions || count == 0);
    uint16_t changed[LW_PARTITIONS_MAX];
    size_t nchanged = 0;
    for (size_t index = 0; index < count; index++) {
        uint16_t partition = partitions[index];
        if (partition >= self->node->partitions) {
            zsys_warning ("worker: ignored partition=%u (P=%ld)",
                          (unsigned)partition, self->node->partitions);
            continue;
        }
        bool take = kind == LW_CTRL_ASSIGN;
        if (self->owned[partition] == take)
            continue; //  Repeated assign or revoke: nothing to do
        self->owned[partition] = take;
        self->nowned += take ? 1 : -1;
        s_subscribe (self, partition, take);
        //  A partition that comes back starts a fresh sequence baseline
        memset (self->seen + (size_t)partition * LW_WORKER_PUBLISHERS, 0,
                LW_WORKER_PUBLISHERS * sizeof (s_seen_t));
        if (!take)
            s_drop_partition (self, partition);
        changed[nchanged++] = partition;
    }
    if (nchanged && self->change_fn)
        self->change_fn (self, kind, changed, nchanged, self->arg);
}

//  --------------------------------------------------------------------------
//  Member handler: ASSIGN/REVOKE from the coordinator.

static void
s_member_changed (lw_member_t *member, int kind, const uint16_t *partitions,
                  size_t count, void *arg)
{
    (void)member;
    lw_worker_t *self = (lw_worker_t *)arg;
    if (kind == LW_CTRL_ASSIGN || kind == LW_CTRL_REVOKE)
        lw_worker_change (self, kind, partitions, count);
}

//  --------------------------------------------------------------------------
//  True when the partition is owned.

bool
lw_worker_owns (lw_worker_t *self, uint16_t partition)
{
    assert (self);
    return partition < LW_PARTITIONS_MAX && self->owned[partition];
}

//  --------------------------------------------------------------------------
//  Number of owned partitions.

size_t
lw_worker_owned (lw_worker_t *self)
{
    assert (self);
    return self->nowned;
}

//  --------------------------------------------------------------------------
//  Finds or creates the state of a sensor; see the header. One allocation
//  per new sensor (the entry with its key inline), none on lookup.

void *
lw_worker_state (lw_worker_t *self, const char *sensor, uint16_t partition)
{
    assert (self);
    assert (sensor);
    assert (partition < LW_PARTITIONS_MAX);
    s_entry_t *entry = (s_entry_t *)lw_keymap_lookup (self->states, sensor);
    if (entry)
        return entry->state;
    if (!self->state_new)
        return NULL;
    size_t size = strlen (sensor) + 1;
    entry = (s_entry_t *)malloc (sizeof (s_entry_t) + size);
    if (!entry)
        return NULL;
    memcpy (entry->sensor, sensor, size);
    entry->partition = partition;
    entry->state = self->state_new (sensor, self->state_arg);
    if (!entry->state || lw_keymap_insert (self->states, sensor, entry)) {
        if (entry->state && self->state_free)
            self->state_free (&entry->state);
        free (entry);
        return NULL;
    }
    entry->next = self->heads[partition];
    self->heads[partition] = entry;
    return entry->state;
}

//  --------------------------------------------------------------------------
//  Number of sensor states held.

size_t
lw_worker_states (lw_worker_t *self)
{
    assert (self);
    return lw_keymap_size (self->states);
}

//  --------------------------------------------------------------------------
//  Starts the output batch for an input batch.

lw_batch_t *
lw_worker_output (lw_worker_t *self, lw_batch_t *input)
{
    assert (self);
    assert (input);
    lw_batch_reset (self->out);
    lw_batch_set_publisher (self->out, self->publisher);
    lw_batch_set_partition (self->out, lw_batch_partition (input));
    lw_batch_set_ingest_time (self->out, lw_batch_ingest_time (input));
    return self->out;
}

//  --------------------------------------------------------------------------
//  Publishes the output batch with the partition's next sequence.

int
lw_worker_publish (lw_worker_t *self)
{
    assert (self);
    if (lw_batch_count (self->out) == 0)
        return 0;
    uint16_t partition = lw_batch_partition (self->out);
    assert (partition < LW_PARTITIONS_MAX);
    lw_batch_set_sequence (self->out, self->out_seq[partition] + 1);
    zframe_t *body = lw_batch_encode (self->out);
    if (!body) {
        zsys_error ("worker: cannot encode batch partition=%u",
                    (unsigned)partition);
        s_reject (self, LW_MSG_NOMEM, partition);
        return -1;
    }
    //  The sequence advances even if the send fails: a lost batch must
    //  show up as a gap downstream
    self->out_seq[partition]++;
    return lw_worker_send (self, partition, &body);
}

//  --------------------------------------------------------------------------
//  Sends [partition, body], waiting on POLLOUT while the queue is full.

int
lw_worker_send (lw_worker_t *self, uint16_t partition, zframe_t **body_p)
{
    assert (self);
    assert (body_p && *body_p);
    void *handle = zsock_resolve (self->output);
    while (true) {
        if (lw_msg_send (self->output, partition, body_p, true) == 0)
            return 0;
        if (errno != EAGAIN || zsys_interrupted)
            break;
        zmq_pollitem_t items[] = {
            {handle, 0, ZMQ_POLLOUT, 0},
            {self->pipe ? zsock_resolve (self->pipe) : NULL, 0, ZMQ_POLLIN, 0}};
        int nitems = self->pipe ? 2 : 1;
        if (zmq_poll (items, nitems, LW_WORKER_SEND_WAIT) < 0)
            break;
        //  The loop is not running while we wait: keep heartbeating so a
        //  long stall is not mistaken for death
        lw_member_tick (self->member);
        //  A pending command is almost always $TERM: do not hold it
        //  behind a broker that may never drain
        if (nitems == 2 && (items[1].revents & ZMQ_POLLIN))
            break;
    }
    zframe_destroy (body_p);
    lw_stats_add (self->stats, self->stalled_index, 1);
    zsys_error ("worker: message dropped partition=%u error=%s",
                (unsigned)partition,
                zsys_interrupted ? "interrupted" : zmq_strerror (errno));
    return -1;
}

//  --------------------------------------------------------------------------
//  True once a subscription arrived on the output socket.

bool
lw_worker_ready (lw_worker_t *self)
{
    assert (self);
    return self->subscribed;
}

//  --------------------------------------------------------------------------
//  Publisher id.

uint64_t
lw_worker_publisher (lw_worker_t *self)
{
    assert (self);
    return self->publisher;
}

//  --------------------------------------------------------------------------
//  The worker's stats.

lw_stats_t *
lw_worker_stats (lw_worker_t *self)
{
    assert (self);
    return self->stats;
}

//  --------------------------------------------------------------------------
//  Handles the worker's pipe commands; see the header.

int
lw_worker_command (lw_worker_t *self, const char *command, zmsg_t *msg,
                   zsock_t *pipe)
{
    assert (self);
    assert (command);
    assert (msg);
    assert (pipe);
    if (streq (command, "ASSIGN") || streq (command, "REVOKE")) {
        uint16_t partitions[LW_PARTITIONS_MAX];
        size_t count = 0;
        char *text;
        while ((text = zmsg_popstr (msg))) {
            long partition;
            if (count < LW_PARTITIONS_MAX &&
                lw_parse_long (text, 0, LW_PARTITIONS_MAX - 1, &partition) == 0)
                partitions[count++] = (uint16_t)partition;
            free (text);
        }
        lw_worker_change (
            self, streq (command, "ASSIGN") ? LW_CTRL_ASSIGN : LW_CTRL_REVOKE,
            partitions, count);
        zsock_signal (pipe, 0);
        return 0;
    }
    if (streq (command, "STATS")) {
        lw_ctrl_t *ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
        assert (ctrl);
        ctrl->kind = LW_CTRL_HEARTBEAT;
        ctrl->pid = getpid ();
        lw_stats_fill (self->stats, ctrl);
        lw_ctrl_stat_add (ctrl, "owned", self->nowned);
        lw_ctrl_stat_add (ctrl, "sensors", lw_worker_states (self));
        lw_ctrl_stat_add (ctrl, "ready", self->subscribed ? 1 : 0);
        lw_ctrl_stat_add (ctrl, "node_ready",
                          lw_member_ready (self->member) ? 1 : 0);
        zframe_t *frame = lw_msg_ctrl_encode (ctrl);
        free (ctrl);
        if (!frame)
            frame = zframe_new_empty ();
        zframe_send (&frame, pipe, 0);
        return 0;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Self test: the state table and partition changes, without a broker
//  (the socket paths are covered by lw_features_test and lw_scorer_test).

static void *
s_test_state_new (const char *sensor, void *arg)
{
    (void)arg;
    return strdup (sensor);
}

//  --------------------------------------------------------------------------
//  Test state destructor.

static void
s_test_state_free (void **state_p)
{
    free (*state_p);
    *state_p = NULL;
}

//  --------------------------------------------------------------------------
//  Test partition handler: counts partitions taken minus released.

static void
s_test_changed (lw_worker_t *worker, int kind, const uint16_t *partitions,
                size_t count, void *arg)
{
    (void)worker;
    (void)partitions;
    int *changes = (int *)arg;
    *changes += kind == LW_CTRL_ASSIGN ? (int)count : -(int)count;
}

//  --------------------------------------------------------------------------
//  Test batch handler: counts accepted batches.

static void
s_test_batch (lw_worker_t *worker, lw_batch_t *batch, void *arg)
{
    (void)worker;
    assert (lw_batch_count (batch) == 1);
    (*(int *)arg)++;
}

//  --------------------------------------------------------------------------
//  Feeds one [envelope partition, batch] message to the message path

static void
s_test_message (lw_worker_t *worker, uint16_t envelope, uint16_t partition,
                lw_msg_type_t kind, uint64_t sequence)
{
    lw_batch_t *batch = lw_batch_new (kind);
    assert (batch);
    lw_batch_set_publisher (batch, 5);
    lw_batch_set_partition (batch, partition);
    lw_batch_set_sequence (batch, sequence);
    assert (lw_batch_add (batch, "m1/a"));
    zframe_t *body = lw_batch_encode (batch);
    assert (body);
    uint8_t prefix[2] = {(uint8_t)(envelope >> 8), (uint8_t)envelope};
    zmq_msg_t head_msg, body_msg;
    int rc = zmq_msg_init_size (&head_msg, 2);
    assert (rc == 0);
    memcpy (zmq_msg_data (&head_msg), prefix, 2);
    rc = zmq_msg_init_size (&body_msg, zframe_size (body));
    assert (rc == 0);
    memcpy (zmq_msg_data (&body_msg), zframe_data (body), zframe_size (body));
    s_handle_message (worker, &head_msg, &body_msg);
    zmq_msg_close (&head_msg);
    zmq_msg_close (&body_msg);
    zframe_destroy (&body);
    lw_batch_destroy (&batch);
}

//  --------------------------------------------------------------------------
//  Feeds one [envelope partition, body] message to the message path

static void
s_test_body (lw_worker_t *worker, uint16_t envelope, const void *data,
             size_t size)
{
    uint8_t prefix[2] = {(uint8_t)(envelope >> 8), (uint8_t)envelope};
    zmq_msg_t head_msg, body_msg;
    int rc = zmq_msg_init_size (&head_msg, 2);
    assert (rc == 0);
    memcpy (zmq_msg_data (&head_msg), prefix, 2);
    rc = zmq_msg_init_size (&body_msg, size);
    assert (rc == 0);
    memcpy (zmq_msg_data (&body_msg), data, size);
    s_handle_message (worker, &head_msg, &body_msg);
    zmq_msg_close (&head_msg);
    zmq_msg_close (&body_msg);
}

//  --------------------------------------------------------------------------
//  Test gap handler: keeps the last gap it was given

static void
s_test_gap (lw_worker_t *worker, uint16_t partition, const lw_gap_t *gap,
            void *arg)
{
    (void)worker;
    assert (partition == 2);
    *(lw_gap_t *)arg = *gap;
}

//  --------------------------------------------------------------------------
//  Gap events through the message path: dropped as a wrong kind without a
//  handler; with one, passed on when they decode and belong to their
//  partition, else counted by reason

static void
s_test_gaps (lw_worker_t *worker, lw_stats_t *stats)
{
    //  Keys of a machine in partition 2 and of one elsewhere (P = 4)
    char here[32] = "", there[32] = "";
    for (int index = 0; !*here || !*there; index++) {
        char key[32];
        snprintf (key, sizeof key, "m%d/s", index);
        if (lw_partition (key, 4) == 2)
            memcpy (here, key, sizeof key);
        else
            memcpy (there, key, sizeof key);
    }
    lw_gap_t gap = {.last_time = 10, .time = 20, .silent = true};
    snprintf (gap.sensor, sizeof gap.sensor, "%s", here);
    zframe_t *frame = lw_msg_gap_encode (&gap);
    assert (frame);
    uint64_t bad_type = lw_stats_value (stats, "drop_bad_type");
    s_test_body (worker, 2, zframe_data (frame), zframe_size (frame));
    assert (lw_stats_value (stats, "drop_bad_type") == bad_type + 1);

    lw_gap_t seen;
    memset (&seen, 0, sizeof seen);
    lw_worker_set_handlers (worker, NULL, NULL, &seen);
    lw_worker_set_gap_handler (worker, s_test_gap);
    s_test_body (worker, 2, zframe_data (frame), zframe_size (frame));
    assert (lw_stats_value (stats, "sensor_gaps") == 1);
    assert (streq (seen.sensor, here) && seen.silent);
    assert (seen.last_time == 10 && seen.time == 20);
    //  Not owned; another machine's sensor under this partition
    uint64_t not_owned = lw_stats_value (stats, "drop_not_owned");
    s_test_body (worker, 1, zframe_data (frame), zframe_size (frame));
    assert (lw_stats_value (stats, "drop_not_owned") == not_owned + 1);
    zframe_destroy (&frame);
    snprintf (gap.sensor, sizeof gap.sensor, "%s", there);
    frame = lw_msg_gap_encode (&gap);
    assert (frame);
    uint64_t envelope = lw_stats_value (stats, "drop_envelope");
    s_test_body (worker, 2, zframe_data (frame), zframe_size (frame));
    assert (lw_stats_value (stats, "drop_envelope") == envelope + 1);
    //  Truncated, or a silent field that is not a bool
    uint64_t truncated = lw_stats_value (stats, "drop_truncated");
    s_test_body (worker, 2, zframe_data (frame), zframe_size (frame) - 1);
    assert (lw_stats_value (stats, "drop_truncated") == truncated + 1);
    zframe_destroy (&frame);
    uint8_t bad_silent[] = {0x96, 0x01, 0x02, 0xa3, 'm', '/', 's',
                            0x01, 0x02, 0x07};
    uint64_t wrong = lw_stats_value (stats, "drop_wrong_type");
    s_test_body (worker, 2, bad_silent, sizeof bad_silent);
    assert (lw_stats_value (stats, "drop_wrong_type") == wrong + 1);
    //  Reading batches still go through the batch path
    assert (lw_stats_value (stats, "sensor_gaps") == 1);
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_worker_test (bool verbose)
{
    printf (" * lw_worker: ");
    if (verbose)
        printf ("\n");
    char dir[] = "/tmp/lw_worker_XXXXXX";
    assert (mkdtemp (dir));
    lw_node_t *node = (lw_node_t *)zmalloc (sizeof (lw_node_t));
    assert (node);
    node->partitions = 4;
    node->heartbeat = 500;
    node->misses = 3;
    node->hwm = 100;
    snprintf (node->coordinator, sizeof node->coordinator,
              "ipc://%s/coordinator", dir);
    char input[LW_ENDPOINT_MAX], output[LW_ENDPOINT_MAX];
    snprintf (input, sizeof input, "ipc://%s/in", dir);
    snprintf (output, sizeof output, "ipc://%s/out", dir);

    lw_stats_t *stats = lw_stats_new ();
    assert (stats);
    lw_worker_t *worker =
        lw_worker_new (node, "test", "test-1", input, LW_MSG_READINGS, output,
                       LW_MSG_FEATURES, stats);
    assert (worker);
    assert (lw_worker_publisher (worker) != 0);
    assert (lw_worker_stats (worker) == stats);
    int changes = 0;
    lw_worker_set_handlers (worker, NULL, s_test_changed, &changes);
    lw_worker_set_state_fns (worker, s_test_state_new, s_test_state_free, NULL);

    uint16_t take[] = {0, 2, 9}; //  9 is outside P = 4: ignored
    lw_worker_change (worker, LW_CTRL_ASSIGN, take, 3);
    assert (changes == 2);
    assert (lw_worker_owned (worker) == 2);
    assert (lw_worker_owns (worker, 0) && lw_worker_owns (worker, 2));
    assert (!lw_worker_owns (worker, 1) && !lw_worker_owns (worker, 9));
    lw_worker_change (worker, LW_CTRL_ASSIGN, take, 2);
    assert (changes == 2); //  Repeated assign changes nothing

    char *first = (char *)lw_worker_state (worker, "m1/a", 0);
    assert (first && streq (first, "m1/a"));
    assert (lw_worker_state (worker, "m1/a", 0) == first);
    assert (lw_worker_state (worker, "m1/b", 0));
    assert (lw_worker_state (worker, "m2/a", 2));
    assert (lw_worker_states (worker) == 3);

    uint16_t give[] = {0};
    lw_worker_change (worker, LW_CTRL_REVOKE, give, 1);
    assert (changes == 1);
    assert (!lw_worker_owns (worker, 0));
    assert (lw_worker_states (worker) == 1);
    assert (lw_keymap_lookup (worker->states, "m1/a") == NULL);
    assert (lw_keymap_lookup (worker->states, "m2/a") != NULL);

    //  Sequence accounting: baseline, gap of 2, reorder as new baseline
    s_account (worker, 77, 2, 5);
    s_account (worker, 77, 2, 6);
    s_account (worker, 77, 2, 9);
    assert (lw_stats_value (stats, "gaps") == 2);
    s_account (worker, 77, 2, 3);
    s_account (worker, 77, 2, 4);
    assert (lw_stats_value (stats, "gaps") == 2);
    //  More publishers than slots recycle the oldest without allocating
    for (uint64_t publisher = 100; publisher < 100 + 3 * LW_WORKER_PUBLISHERS;
         publisher++)
        s_account (worker, publisher, 2, 1000);
    assert (lw_stats_value (stats, "gaps") == 2);

    //  Bad input counters are named after the lw_msg reason
    s_reject (worker, LW_MSG_TRUNCATED, 2);
    s_reject (worker, LW_MSG_TRUNCATED, 2);
    assert (lw_stats_value (stats, "drop_truncated") == 2);

    //  The message path, without sockets: what is accepted reaches the
    //  handler; each rejection is counted by its reason
    int accepted = 0;
    lw_worker_set_handlers (worker, s_test_batch, s_test_changed, &accepted);
    s_test_message (worker, 2, 2, LW_MSG_READINGS, 1);
    assert (accepted == 1);
    assert (lw_stats_value (stats, "in") == 1);
    s_test_message (worker, 1, 1, LW_MSG_READINGS, 1); //  Not owned
    s_test_message (worker, 9, 9, LW_MSG_READINGS, 1); //  Not at all
    assert (lw_stats_value (stats, "drop_not_owned") == 2);
    s_test_message (worker, 2, 3, LW_MSG_READINGS, 2); //  Mismatch
    assert (lw_stats_value (stats, "drop_envelope") == 1);
    s_test_message (worker, 2, 2, LW_MSG_SCORES, 3); //  Wrong kind
    assert (lw_stats_value (stats, "drop_bad_type") == 1);
    s_test_message (worker, 2, 2, LW_MSG_READINGS, 0); //  Sequence 0
    assert (lw_stats_value (stats, "drop_bad_range") == 1);
    assert (accepted == 1);
    s_test_message (worker, 2, 2, LW_MSG_READINGS, 3); //  Gap of 1
    assert (accepted == 2);
    assert (lw_stats_value (stats, "gaps") == 3);
    s_test_gaps (worker, stats);

    lw_worker_destroy (&worker);
    lw_worker_destroy (&worker);
    lw_stats_destroy (&stats);
    free (node);
    zsys_dir_delete (dir);
    printf ("OK\n");
}
