/*  =========================================================================
    lw_member.c - a process's membership in the node: the coordinator client

    Copyright (c) the linewatch authors. MIT license.

    See lw_member.h. The member never gives up partitions because the broker
    is silent: a restarted broker computes the same deterministic split from
    the members' HELLOs (which carry what each member owns), so ownership
    moves only on an explicit REVOKE or ASSIGN. Every frame from the broker
    is decoded as untrusted; a bad one is counted ("drop_ctrl_<reason>")
    and ignored. The self test of this class is lw_broker_test, which runs
    the real broker in-process.
    =========================================================================
*/

#include <unistd.h>
#include <zmq.h>

#include "lw_member.h"
#include "lw_util.h"

//  Broker silence, in heartbeats, before we say HELLO again (default)
#define S_MISSES_DEFAULT 3
//  Frames handled per wake-up, so one member cannot starve the actor
#define S_READ_BATCH 64
//  Control messages queued towards the broker; heartbeats are periodic, so
//  dropping them while the broker is away loses nothing
#define S_SNDHWM 32
//  How long a BYE may wait in the socket at destroy, ms
#define S_BYE_LINGER_MS 100

struct _lw_member_t {
    zsock_t *dealer;                     //  To the broker's coordinator
    char group[LW_NAME_MAX + 1];         //  Our group ("scorer"...)
    char name[LW_NAME_MAX + 1];          //  Our name, unique in the group
    int64_t pid;                         //  Our process id
    int heartbeat;                       //  Heartbeat interval, ms
    int misses;                          //  Silent heartbeats before HELLO
    lw_stats_t *stats;                   //  Borrowed; sent with heartbeats
    lw_member_fn *handler;               //  ASSIGN/REVOKE callback or NULL
    void *handler_arg;                   //  Its argument
    zloop_t *loop;                       //  Loop we are attached to or NULL
    int timer_id;                        //  Heartbeat timer in that loop
    uint64_t epoch;                      //  Epoch of the last ASSIGN/REVOKE
    bool ready;                          //  Broker's READY state
    bool rejoining;                      //  Said HELLO after broker silence
    bool silent;                         //  Broker silent now (logged once)
    bool said_bye;                       //  BYE sent already
    bool owned[LW_PARTITIONS_MAX];       //  Partitions we own now
    size_t nowned;                       //  How many
    int64_t last_heard;                  //  Mono ns of the last broker frame
    int64_t last_hello;                  //  Mono ns of the last HELLO
    int64_t last_beat;                   //  Mono ns of the last heartbeat
    lw_ctrl_t *ctrl;                     //  Encode/decode scratch
    uint16_t changed[LW_PARTITIONS_MAX]; //  Scratch for handler calls
};

//  --------------------------------------------------------------------------
//  Creates a member; see the header. Returns NULL (logged) on failure.

lw_member_t *
lw_member_new (const char *endpoint, const char *group, const char *name,
               int heartbeat_ms, lw_stats_t *stats)
{
    assert (endpoint);
    assert (group);
    assert (name);
    assert (heartbeat_ms > 0);
    if (strlen (group) == 0 || strlen (group) > LW_NAME_MAX ||
        strlen (name) == 0 || strlen (name) > LW_NAME_MAX) {
        zsys_error ("member: bad group or name group='%s' name='%s'", group,
                    name);
        return NULL;
    }
    lw_member_t *self = (lw_member_t *)zmalloc (sizeof (lw_member_t));
    if (!self)
        return NULL;
    strcpy (self->group, group);
    strcpy (self->name, name);
    self->pid = (int64_t)getpid ();
    self->heartbeat = heartbeat_ms;
    self->misses = S_MISSES_DEFAULT;
    self->stats = stats;
    self->timer_id = -1;
    self->ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->ctrl || !self->dealer) {
        lw_member_destroy (&self);
        return NULL;
    }
    zsock_set_maxmsgsize (self->dealer, LW_MAX_FRAME_SIZE);
    zsock_set_sndhwm (self->dealer, S_SNDHWM);
    zsock_set_rcvhwm (self->dealer, LW_HWM_DEFAULT);
    zsock_set_linger (self->dealer, 0);
    if (zsock_connect (self->dealer, "%s", endpoint) < 0) {
        zsys_error ("member: cannot connect endpoint=%s error='%s'", endpoint,
                    zmq_strerror (zmq_errno ()));
        lw_member_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Counts a rejected broker frame as drop_ctrl_<reason>.

static void
s_count_drop (lw_member_t *self, const char *reason)
{
    if (!self->stats)
        return;
    char name[LW_STAT_NAME_MAX + 1];
    snprintf (name, sizeof (name), "drop_ctrl_%s", reason);
    lw_stats_add (self->stats, lw_stats_counter (self->stats, name), 1);
}

//  --------------------------------------------------------------------------
//  Sends one control message of `kind` to the broker without waiting: when
//  the broker is away the message is dropped, the next heartbeat follows.

static void
s_send (lw_member_t *self, uint8_t kind, bool with_stats)
{
    lw_ctrl_t *ctrl = self->ctrl;
    memset (ctrl, 0, sizeof (lw_ctrl_t));
    ctrl->kind = kind;
    strcpy (ctrl->group, self->group);
    strcpy (ctrl->name, self->name);
    ctrl->pid = self->pid;
    ctrl->epoch = self->epoch;
    ctrl->alive = true;
    //  What we own: a restarted broker rebuilds its view from this
    for (size_t partition = 0; partition < LW_PARTITIONS_MAX; partition++)
        if (self->owned[partition])
            ctrl->partitions[ctrl->npartitions++] = (uint16_t)partition;
    if (with_stats && self->stats)
        lw_stats_fill (self->stats, ctrl);
    zframe_t *frame = lw_msg_ctrl_encode (ctrl);
    if (!frame) {
        zsys_error ("member: cannot encode control kind=%d", kind);
        return;
    }
    if (zframe_send (&frame, self->dealer, ZFRAME_DONTWAIT) != 0)
        zframe_destroy (&frame);
}

//  --------------------------------------------------------------------------
//  Says HELLO (at start, and again after broker silence).

static void
s_send_hello (lw_member_t *self)
{
    self->last_hello = lw_time_mono ();
    s_send (self, LW_CTRL_HELLO, false);
}

//  --------------------------------------------------------------------------
//  Calls the handler with the partitions collected in self->changed.

static void
s_notify (lw_member_t *self, int kind, size_t count)
{
    if (count > 0 && self->handler)
        self->handler (self, kind, self->changed, count, self->handler_arg);
}

//  --------------------------------------------------------------------------
//  Checks that every partition of a control message is in range. The
//  decoder bounds the count; the values are ours to check.

static bool
s_partitions_valid (const lw_ctrl_t *ctrl)
{
    for (uint32_t index = 0; index < ctrl->npartitions; index++)
        if (ctrl->partitions[index] >= LW_PARTITIONS_MAX)
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  ASSIGN: the list is our whole set from now on. Revokes first, so the
//  actor never briefly owns more than the broker gave it.

static void
s_handle_assign (lw_member_t *self, const lw_ctrl_t *ctrl)
{
    if (ctrl->epoch < self->epoch && !self->rejoining) {
        s_count_drop (self, "stale");
        return;
    }
    if (!s_partitions_valid (ctrl)) {
        s_count_drop (self, lw_msg_strerror (LW_MSG_BAD_RANGE));
        return;
    }
    bool wanted[LW_PARTITIONS_MAX] = {false};
    for (uint32_t index = 0; index < ctrl->npartitions; index++)
        wanted[ctrl->partitions[index]] = true;
    self->epoch = ctrl->epoch;
    self->rejoining = false;

    size_t count = 0;
    for (size_t partition = 0; partition < LW_PARTITIONS_MAX; partition++)
        if (self->owned[partition] && !wanted[partition]) {
            self->owned[partition] = false;
            self->nowned--;
            self->changed[count++] = (uint16_t)partition;
        }
    s_notify (self, LW_CTRL_REVOKE, count);
    size_t revoked = count;

    count = 0;
    for (size_t partition = 0; partition < LW_PARTITIONS_MAX; partition++)
        if (wanted[partition] && !self->owned[partition]) {
            self->owned[partition] = true;
            self->nowned++;
            self->changed[count++] = (uint16_t)partition;
        }
    s_notify (self, LW_CTRL_ASSIGN, count);
    //  Tell the broker at once what we own now: lwctl status and the
    //  failover deadlines see the change without waiting a heartbeat
    if (revoked + count > 0)
        s_send (self, LW_CTRL_HEARTBEAT, true);
}

//  --------------------------------------------------------------------------
//  REVOKE: release the listed partitions (the ASSIGN that follows carries
//  the full set).

static void
s_handle_revoke (lw_member_t *self, const lw_ctrl_t *ctrl)
{
    if (ctrl->epoch < self->epoch && !self->rejoining) {
        s_count_drop (self, "stale");
        return;
    }
    if (!s_partitions_valid (ctrl)) {
        s_count_drop (self, lw_msg_strerror (LW_MSG_BAD_RANGE));
        return;
    }
    self->epoch = ctrl->epoch;
    size_t count = 0;
    for (uint32_t index = 0; index < ctrl->npartitions; index++) {
        uint16_t partition = ctrl->partitions[index];
        if (self->owned[partition]) {
            self->owned[partition] = false;
            self->nowned--;
            self->changed[count++] = partition;
        }
    }
    s_notify (self, LW_CTRL_REVOKE, count);
    if (count > 0)
        s_send (self, LW_CTRL_HEARTBEAT, true);
}

//  --------------------------------------------------------------------------
//  Handles one frame from the broker.

static void
s_handle_message (lw_member_t *self, zmsg_t *msg)
{
    zframe_t *frame = zmsg_first (msg);
    if (zmsg_size (msg) != 1 || !frame) {
        s_count_drop (self, lw_msg_strerror (LW_MSG_ENVELOPE));
        return;
    }
    lw_ctrl_t *ctrl = self->ctrl;
    int rc =
        lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame), ctrl);
    if (rc < 0) {
        s_count_drop (self, lw_msg_strerror (rc));
        return;
    }
    self->last_heard = lw_time_mono ();
    if (self->silent) {
        zsys_info ("member: broker answers again group=%s name=%s", self->group,
                   self->name);
        self->silent = false;
    }
    switch (ctrl->kind) {
    case LW_CTRL_ASSIGN:
        s_handle_assign (self, ctrl);
        break;
    case LW_CTRL_REVOKE:
        s_handle_revoke (self, ctrl);
        break;
    case LW_CTRL_READY:
    case LW_CTRL_HEARTBEAT:
        if (self->ready != ctrl->alive)
            zsys_info ("member: ready=%d group=%s name=%s", ctrl->alive,
                       self->group, self->name);
        self->ready = ctrl->alive;
        break;
    case LW_CTRL_PONG:
        break;
    default:
        s_count_drop (self, "bad_kind");
        break;
    }
}

//  --------------------------------------------------------------------------
//  Reads what the broker sent, a bounded number of frames per wake-up.

static int
s_handle_dealer (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    lw_member_t *self = (lw_member_t *)arg;
    for (int count = 0; count < S_READ_BATCH; count++) {
        if (!(zsock_events (self->dealer) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (self->dealer);
        if (!msg)
            break;
        s_handle_message (self, msg);
        zmsg_destroy (&msg);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Heartbeat timer: a HEARTBEAT with our counters, or HELLO again when the
//  broker has been silent for `misses` heartbeats (it may have restarted).

static int
s_handle_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    lw_member_t *self = (lw_member_t *)arg;
    if (self->said_bye)
        return 0; //  Gone: a heartbeat would rejoin
    int64_t now = lw_time_mono ();
    self->last_beat = now;
    int64_t silence = (int64_t)self->misses * self->heartbeat * LW_NS_PER_MS;
    if (now - self->last_heard > silence) {
        if (now - self->last_hello > silence) {
            if (!self->silent)
                zsys_warning ("member: broker silent, saying hello again "
                              "group=%s name=%s",
                              self->group, self->name);
            self->silent = true;
            self->rejoining = true;
            s_send_hello (self);
        }
        else
            s_send (self, LW_CTRL_HEARTBEAT, true);
    }
    else
        s_send (self, LW_CTRL_HEARTBEAT, true);
    return 0;
}

//  --------------------------------------------------------------------------
//  Sends a heartbeat if one is due. For a caller blocked outside its loop
//  (a worker waiting for a full broker to drain): the broker keeps seeing
//  it alive. Replies are left queued for the loop, so no ASSIGN or REVOKE
//  runs in the middle of the caller's work.

void
lw_member_tick (lw_member_t *self)
{
    assert (self);
    int64_t now = lw_time_mono ();
    if (self->said_bye || now - self->last_beat < self->heartbeat * LW_NS_PER_MS)
        return;
    self->last_beat = now;
    s_send (self, LW_CTRL_HEARTBEAT, true);
}

//  --------------------------------------------------------------------------
//  Destroys the member; says BYE first (a graceful stop). Does not touch
//  the loop it was attached to: detach first if that loop runs on.

void
lw_member_destroy (lw_member_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_member_t *self = *self_p;
        if (self->dealer && self->ctrl) {
            lw_member_bye (self);
            //  Give the BYE a moment to leave; bounded, never a hang
            zsock_set_linger (self->dealer, S_BYE_LINGER_MS);
        }
        zsock_destroy (&self->dealer);
        free (self->ctrl);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Registers the ASSIGN/REVOKE handler.

void
lw_member_set_handler (lw_member_t *self, lw_member_fn *handler, void *arg)
{
    assert (self);
    self->handler = handler;
    self->handler_arg = arg;
}

//  --------------------------------------------------------------------------
//  Sets how many silent heartbeats make the broker count as gone.

void
lw_member_set_misses (lw_member_t *self, int misses)
{
    assert (self);
    assert (misses > 0);
    self->misses = misses;
}

//  --------------------------------------------------------------------------
//  Adds the socket and the heartbeat timer to a loop and says HELLO.
//  Returns 0 or -1.

int
lw_member_attach (lw_member_t *self, zloop_t *loop)
{
    assert (self);
    assert (loop);
    assert (!self->loop);
    if (zloop_reader (loop, self->dealer, s_handle_dealer, self))
        return -1;
    self->timer_id =
        zloop_timer (loop, (size_t)self->heartbeat, 0, s_handle_timer, self);
    if (self->timer_id < 0) {
        zloop_reader_end (loop, self->dealer);
        return -1;
    }
    self->loop = loop;
    self->last_heard = lw_time_mono ();
    s_send_hello (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Removes the socket and timer from the loop (no BYE: to the broker this
//  looks like a dead process, which is what tests use it for).

void
lw_member_detach (lw_member_t *self)
{
    assert (self);
    if (self->loop) {
        zloop_reader_end (self->loop, self->dealer);
        zloop_timer_end (self->loop, self->timer_id);
        self->loop = NULL;
        self->timer_id = -1;
    }
}

//  --------------------------------------------------------------------------
//  True when this member owns the partition now.

bool
lw_member_owns (lw_member_t *self, uint16_t partition)
{
    assert (self);
    return partition < LW_PARTITIONS_MAX && self->owned[partition];
}

//  --------------------------------------------------------------------------
//  Number of partitions owned.

size_t
lw_member_owned (lw_member_t *self)
{
    assert (self);
    return self->nowned;
}

//  --------------------------------------------------------------------------
//  Assignment epoch last seen.

uint64_t
lw_member_epoch (lw_member_t *self)
{
    assert (self);
    return self->epoch;
}

//  --------------------------------------------------------------------------
//  True when the broker said every readings partition has a subscriber.

bool
lw_member_ready (lw_member_t *self)
{
    assert (self);
    return self->ready;
}

//  --------------------------------------------------------------------------
//  Says BYE once.

void
lw_member_bye (lw_member_t *self)
{
    assert (self);
    if (!self->said_bye) {
        s_send (self, LW_CTRL_BYE, false);
        self->said_bye = true;
    }
}
