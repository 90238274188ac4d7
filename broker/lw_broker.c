/*  =========================================================================
    lw_broker.c - the node's rendezvous: streams and group coordinator

    Copyright (c) the linewatch authors. MIT license.

    See lw_broker.h. This thread runs the coordinator ROUTER and the member
    table; each stream runs in its own lw_forward actor (see lw_forward.h
    for why), which reports counters and subscription coverage back here.
    The coordinator never waits on a peer: ROUTER sends drop when a peer's
    queue is full, and every decode failure is counted and ignored.
    =========================================================================
*/

#include <unistd.h>
#include <zmq.h>

#include "lw_broker.h"
#include "lw_forward.h"
#include "lw_main.h"
#include "lw_member.h"
#include "lw_msg.h"
#include "lw_sockmon.h"
#include "lw_stats.h"
#include "lw_util.h"

//  Streams, in the order of the lw_node_t endpoints
#define S_STREAMS 3
enum { S_READINGS, S_FEATURES, S_EVENTS };
static const char *s_stream_names[S_STREAMS] = {"readings", "features",
                                                "events"};

//  Groups whose members get partitions
#define S_GROUPS 2
static const char *s_group_names[S_GROUPS] = {"features", "scorer"};

//  Default of broker/batch: messages forwarded per wake-up per stream
#define S_BATCH_DEFAULT 256
//  Coordinator frames handled per wake-up
#define S_ROUTER_BATCH 256
//  Shortest period of the expiry check, ms
#define S_CHECK_MIN_MS 10
//  libzmq's default reconnect interval (ZMQ_RECONNECT_IVL), ms
#define S_RECONNECT_MS 100
//  Most members the coordinator keeps (a node runs a few dozen at most)
#define S_MEMBERS_MAX 4096
//  Members that fell silent stay listed (alive false) this long, ms, and
//  at most this many of them
#define S_GONE_KEEP_MS (10 * 60 * 1000)
#define S_GONE_MAX 64
//  At most one warning about bad peer input per this many ms
#define S_WARN_INTERVAL_MS 1000

//  Coordinator drop reasons beyond the lw_msg error codes
enum { S_DROP_BAD_KIND = LW_MSG_ERRORS, S_DROP_BAD_MEMBER, S_DROP_REASONS };

typedef struct {
    zframe_t *identity;            //  ROUTER routing id of the peer
    int group;                     //  Index in s_group_names or -1
    int64_t last_seen;             //  Mono ns of its last frame
    uint64_t epoch;                //  Epoch of the last ASSIGN sent
    bool owned[LW_PARTITIONS_MAX]; //  Our view of what it owns
    lw_ctrl_t *report;             //  Its last HELLO/HEARTBEAT
    bool pending;                  //  Its ASSIGN waits for releases
    int64_t pending_since;         //  Mono ns it started waiting
} member_t;

//  A member that fell silent, still listed by STATUS as down
typedef struct {
    lw_ctrl_t report; //  Its last report, alive false, no partitions
    int64_t since;    //  Mono ns it was declared dead
} gone_t;

typedef struct {
    zsock_t *pipe;                          //  Actor pipe
    zloop_t *loop;                          //  Reactor of this thread
    const lw_actor_args_t *args;            //  Config, node, name (borrowed)
    bool configured;                        //  CONFIGURE succeeded
    uint32_t partitions;                    //  P
    int heartbeat;                          //  ms
    int misses;                             //  Heartbeats before death
    zsock_t *router;                        //  Coordinator
    lw_forward_cfg_t streams[S_STREAMS];    //  Forwarder settings
    zactor_t *forwarders[S_STREAMS];        //  One actor per stream
    lw_forward_report_t reports[S_STREAMS]; //  Their latest reports
    zhashx_t *members;                      //  Hex routing id -> member_t
    zlistx_t *gone;                         //  gone_t, oldest first
    uint64_t epoch;                         //  Assignment epoch
    bool ready;                             //  Readings and features covered
    bool dirty[S_GROUPS];                   //  Group needs a rebalance
    int64_t settle_until;                   //  Mono ns: no rebalance before
    uint64_t drops[S_DROP_REASONS];         //  Coordinator drops by reason
    uint64_t requests;                      //  Coordinator frames received
    lw_sockmon_t *router_monitor;           //  Coordinator disconnects
    int64_t last_warn;                      //  Mono ns of the last warning
    uint64_t unwarned;                      //  Drops since that warning
    lw_ctrl_t *request;                     //  Decode scratch
    lw_ctrl_t *reply;                       //  Encode scratch
} self_t;

//  --------------------------------------------------------------------------
//  Destroys a member entry (zhashx destructor).

static void
s_member_destroy (void **item_p)
{
    member_t *member = (member_t *)*item_p;
    if (member) {
        zframe_destroy (&member->identity);
        free (member->report);
        free (member);
        *item_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Destroys a gone entry (zlistx destructor).

static void
s_gone_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  --------------------------------------------------------------------------
//  Creates the actor state (infallible parts only).

static self_t *
s_self_new (zsock_t *pipe, const lw_actor_args_t *args)
{
    self_t *self = (self_t *)zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->args = args;
    self->loop = zloop_new ();
    self->members = zhashx_new ();
    self->gone = zlistx_new ();
    assert (self->gone);
    zlistx_set_destructor (self->gone, s_gone_destroy);
    self->request = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    self->reply = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    assert (self->loop && self->members && self->request && self->reply);
    zhashx_set_destructor (self->members, s_member_destroy);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the actor state: forwarders first ($TERM handshake), so no
//  report arrives for a loop that is gone.

static void
s_self_destroy (self_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        self_t *self = *self_p;
        for (int stream = 0; stream < S_STREAMS; stream++)
            zactor_destroy (&self->forwarders[stream]);
        lw_sockmon_destroy (&self->router_monitor); //  Uses loop, router
        zloop_destroy (&self->loop);
        zsock_destroy (&self->router);
        zhashx_destroy (&self->members);
        zlistx_destroy (&self->gone);
        free (self->request);
        free (self->reply);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Index of a partitioned group, or -1.

static int
s_group_index (const char *group)
{
    for (int index = 0; index < S_GROUPS; index++)
        if (streq (group, s_group_names[index]))
            return index;
    return -1;
}

//  --------------------------------------------------------------------------
//  Counts a rejected coordinator frame; warns at most once per interval.

static void
s_drop (self_t *self, int reason)
{
    assert (reason >= 0 && reason < S_DROP_REASONS);
    self->drops[reason]++;
    self->unwarned++;
    int64_t now = lw_time_mono ();
    if (now - self->last_warn >= S_WARN_INTERVAL_MS * LW_NS_PER_MS) {
        const char *text = reason == S_DROP_BAD_KIND ? "bad_kind"
                           : reason == S_DROP_BAD_MEMBER
                               ? "bad_member"
                               : lw_msg_strerror (-reason);
        zsys_warning ("broker: dropped coordinator frames count=%" PRIu64
                      " last_reason=%s",
                      self->unwarned, text);
        self->last_warn = now;
        self->unwarned = 0;
    }
}

//  --------------------------------------------------------------------------
//  Next epoch: strictly increasing, and above any epoch a previous broker
//  of this node gave out (it follows the wall clock in ms), so members
//  accept the assignments of a restarted broker.

static uint64_t
s_next_epoch (self_t *self)
{
    int64_t now_ms = lw_time_now () / LW_NS_PER_MS;
    uint64_t epoch = self->epoch + 1;
    if (now_ms > 0 && (uint64_t)now_ms > epoch)
        epoch = (uint64_t)now_ms;
    self->epoch = epoch;
    return epoch;
}

//  --------------------------------------------------------------------------
//  Sends a control message to one peer. ROUTER drops (never blocks) when
//  the peer is gone or its queue is full: heartbeats repair that.

static void
s_send_to (self_t *self, zframe_t *identity, const lw_ctrl_t *ctrl)
{
    zframe_t *body = lw_msg_ctrl_encode (ctrl);
    if (!body) {
        zsys_error ("broker: cannot encode control kind=%d", ctrl->kind);
        return;
    }
    zmsg_t *msg = zmsg_new ();
    assert (msg);
    zframe_t *address = zframe_dup (identity);
    assert (address);
    zmsg_append (msg, &address);
    zmsg_append (msg, &body);
    zmsg_send (&msg, self->router);
    zmsg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Starts a control message to a member in the reply scratch.

static lw_ctrl_t *
s_reply_start (self_t *self, uint8_t kind, const member_t *member,
               uint64_t epoch)
{
    lw_ctrl_t *ctrl = self->reply;
    memset (ctrl, 0, sizeof (lw_ctrl_t));
    ctrl->kind = kind;
    if (member) {
        strcpy (ctrl->group, member->report->group);
        strcpy (ctrl->name, member->report->name);
    }
    ctrl->pid = (int64_t)getpid ();
    ctrl->epoch = epoch;
    ctrl->alive = self->ready;
    return ctrl;
}

//  --------------------------------------------------------------------------
//  Sends ASSIGN with the member's whole owned set at its epoch.

static void
s_send_assign (self_t *self, member_t *member)
{
    lw_ctrl_t *ctrl =
        s_reply_start (self, LW_CTRL_ASSIGN, member, member->epoch);
    for (uint32_t partition = 0; partition < self->partitions; partition++)
        if (member->owned[partition])
            ctrl->partitions[ctrl->npartitions++] = (uint16_t)partition;
    s_send_to (self, member->identity, ctrl);
}

//  --------------------------------------------------------------------------
//  Sends the ASSIGNs that may go now. A partition is revoked from its old
//  owner before the new owner gets it: an ASSIGN waits while another
//  member of the group still says (in its last heartbeat) that it owns a
//  partition the broker took from it. Members acknowledge a REVOKE with
//  an immediate heartbeat, so the wait is one round trip; a member that
//  never acknowledges is dead after misses heartbeats, and the ASSIGN goes
//  out after that long in any case.

static void
s_flush_assigns (self_t *self)
{
    bool releasing[S_GROUPS][LW_PARTITIONS_MAX];
    memset (releasing, 0, sizeof (releasing));
    bool waiting = false;
    for (member_t *member = (member_t *)zhashx_first (self->members); member;
         member = (member_t *)zhashx_next (self->members)) {
        if (member->group < 0)
            continue;
        waiting |= member->pending;
        for (uint32_t index = 0; index < member->report->npartitions; index++) {
            uint16_t partition = member->report->partitions[index];
            if (partition < LW_PARTITIONS_MAX && !member->owned[partition])
                releasing[member->group][partition] = true;
        }
    }
    if (!waiting)
        return;
    int64_t now = lw_time_mono ();
    int64_t limit = (int64_t)self->misses * self->heartbeat * LW_NS_PER_MS;
    for (member_t *member = (member_t *)zhashx_first (self->members); member;
         member = (member_t *)zhashx_next (self->members)) {
        if (!member->pending)
            continue;
        bool blocked = false;
        for (uint32_t partition = 0; partition < self->partitions && !blocked;
             partition++)
            blocked =
                member->owned[partition] && releasing[member->group][partition];
        if (blocked && now - member->pending_since < limit)
            continue;
        if (blocked)
            zsys_warning ("broker: assigning before release group=%s name=%s "
                          "epoch=%" PRIu64,
                          member->report->group, member->report->name,
                          member->epoch);
        member->pending = false;
        s_send_assign (self, member);
    }
}

//  --------------------------------------------------------------------------
//  Orders members by name, then by routing id, so the split is the same
//  whichever broker computes it.

static int
s_member_compare (const void *left, const void *right)
{
    const member_t *one = *(const member_t *const *)left;
    const member_t *two = *(const member_t *const *)right;
    int rc = strcmp (one->report->name, two->report->name);
    if (rc == 0) {
        size_t size = zframe_size (one->identity);
        if (size != zframe_size (two->identity))
            return size < zframe_size (two->identity) ? -1 : 1;
        rc = memcmp (zframe_data (one->identity), zframe_data (two->identity),
                     size);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Splits the P partitions of a group over its live members: member i of
//  n (sorted) owns [i*P/n, (i+1)*P/n). Revokes lost partitions from every
//  member first, then sends ASSIGN to every member whose set changed.

static void
s_rebalance (self_t *self, int group)
{
    self->dirty[group] = false;
    size_t count = 0;
    member_t **sorted = (member_t **)calloc (zhashx_size (self->members) + 1,
                                             sizeof (member_t *));
    assert (sorted);
    for (member_t *member = (member_t *)zhashx_first (self->members); member;
         member = (member_t *)zhashx_next (self->members))
        if (member->group == group)
            sorted[count++] = member;
    if (count == 0) {
        free (sorted);
        zsys_info ("broker: group has no member group=%s",
                   s_group_names[group]);
        return;
    }
    qsort (sorted, count, sizeof (member_t *), s_member_compare);
    uint64_t epoch = s_next_epoch (self);
    uint32_t partitions = self->partitions;

    bool *shrunk = (bool *)calloc (count, sizeof (bool));
    assert (shrunk);
    for (size_t index = 0; index < count; index++) {
        member_t *member = sorted[index];
        uint32_t low = (uint32_t)(index * partitions / count);
        uint32_t high = (uint32_t)((index + 1) * partitions / count);
        lw_ctrl_t *revoke = s_reply_start (self, LW_CTRL_REVOKE, member, epoch);
        for (uint32_t partition = 0; partition < LW_PARTITIONS_MAX; partition++)
            if (member->owned[partition] &&
                (partition < low || partition >= high)) {
                member->owned[partition] = false;
                revoke->partitions[revoke->npartitions++] = (uint16_t)partition;
            }
        if (revoke->npartitions > 0) {
            s_send_to (self, member->identity, revoke);
            shrunk[index] = true;
        }
    }
    for (size_t index = 0; index < count; index++) {
        member_t *member = sorted[index];
        uint32_t low = (uint32_t)(index * partitions / count);
        uint32_t high = (uint32_t)((index + 1) * partitions / count);
        bool changed = shrunk[index];
        for (uint32_t partition = low; partition < high; partition++)
            if (!member->owned[partition]) {
                member->owned[partition] = true;
                changed = true;
            }
        if (changed || member->epoch == 0) {
            member->epoch = epoch;
            member->pending = true;
            member->pending_since = lw_time_mono ();
        }
        zsys_info ("broker: assigned group=%s name=%s epoch=%" PRIu64
                   " partitions=%u..%u",
                   s_group_names[group], member->report->name, member->epoch,
                   low, high > low ? high - 1 : low);
    }
    free (shrunk);
    free (sorted);
    s_flush_assigns (self);
}

//  --------------------------------------------------------------------------
//  Rebalances every group that changed, unless the broker is still
//  settling: right after a (re)start it waits two heartbeats (and a
//  reconnect) so that every live member has spoken before it splits
//  anything; otherwise the first member heard would take every partition
//  for a moment.

static void
s_rebalance_dirty (self_t *self)
{
    if (lw_time_mono () < self->settle_until)
        return;
    for (int group = 0; group < S_GROUPS; group++)
        if (self->dirty[group])
            s_rebalance (self, group);
}

//  --------------------------------------------------------------------------
//  Sends READY with the current state to every member.

static void
s_broadcast_ready (self_t *self)
{
    for (member_t *member = (member_t *)zhashx_first (self->members); member;
         member = (member_t *)zhashx_next (self->members)) {
        lw_ctrl_t *ctrl =
            s_reply_start (self, LW_CTRL_READY, member, member->epoch);
        s_send_to (self, member->identity, ctrl);
    }
}

//  --------------------------------------------------------------------------
//  Forgets gone entries of group+name (NULL name: those past their time).

static void
s_gone_purge (self_t *self, const char *group, const char *name)
{
    int64_t oldest = lw_time_mono () - S_GONE_KEEP_MS * LW_NS_PER_MS;
    gone_t *gone = (gone_t *)zlistx_first (self->gone);
    while (gone) {
        bool purge = name ? streq (gone->report.group, group) &&
                                streq (gone->report.name, name)
                          : gone->since < oldest;
        if (purge)
            zlistx_delete (self->gone, zlistx_cursor (self->gone));
        gone = (gone_t *)zlistx_next (self->gone);
    }
}

//  --------------------------------------------------------------------------
//  Removes a member and marks its group for a rebalance. A member that
//  fell silent (crashed, hung) stays listed as down, so `lwctl status`
//  shows it; one that said BYE or was replaced does not.

static void
s_member_remove (self_t *self, const char *key, const char *why)
{
    member_t *member = (member_t *)zhashx_lookup (self->members, key);
    if (!member)
        return;
    zsys_info ("broker: member left group=%s name=%s pid=%" PRId64 " why=%s",
               member->report->group, member->report->name, member->report->pid,
               why);
    if (member->group >= 0)
        self->dirty[member->group] = true;
    if (streq (why, "silent")) {
        s_gone_purge (self, member->report->group, member->report->name);
        if (zlistx_size (self->gone) >= S_GONE_MAX) {
            zlistx_first (self->gone); //  The oldest goes
            zlistx_delete (self->gone, zlistx_cursor (self->gone));
        }
        gone_t *gone = (gone_t *)zmalloc (sizeof (gone_t));
        assert (gone);
        memcpy (&gone->report, member->report, sizeof (lw_ctrl_t));
        gone->report.kind = LW_CTRL_MEMBER;
        gone->report.alive = false;
        gone->report.npartitions = 0;
        gone->since = lw_time_mono ();
        zlistx_add_end (self->gone, gone);
    }
    zhashx_delete (self->members, key);
}

//  --------------------------------------------------------------------------
//  Names are unique in a group: a new connection with the name of a known
//  member is that member restarted (by lwctl up) or reconnected, so the
//  old entry goes now rather than holding partitions until it expires.

static void
s_replace_namesake (self_t *self, const char *key, const lw_ctrl_t *request)
{
    char *stale = NULL;
    for (member_t *member = (member_t *)zhashx_first (self->members);
         member && !stale; member = (member_t *)zhashx_next (self->members))
        if (streq (member->report->group, request->group) &&
            streq (member->report->name, request->name) &&
            !streq ((const char *)zhashx_cursor (self->members), key))
            stale = strdup ((const char *)zhashx_cursor (self->members));
    if (stale) {
        s_member_remove (self, stale, "replaced");
        free (stale);
    }
}

//  --------------------------------------------------------------------------
//  HELLO or HEARTBEAT: registers the member if new (a restarted broker
//  learns the node from heartbeats), stores its counters, answers with a
//  HEARTBEAT (epoch, READY state) and re-sends ASSIGN when its epoch is
//  stale.

static void
s_handle_member (self_t *self, zframe_t *identity, const char *key)
{
    lw_ctrl_t *request = self->request;
    if (!*request->group || !*request->name) {
        s_drop (self, S_DROP_BAD_MEMBER);
        return;
    }
    int group = s_group_index (request->group);
    member_t *member = (member_t *)zhashx_lookup (self->members, key);
    if (member && (member->group != group ||
                   !streq (member->report->group, request->group))) {
        //  Same connection, another group: treat as leave and join
        s_member_remove (self, key, "regroup");
        member = NULL;
    }
    bool fresh = member == NULL;
    if (fresh)
        s_replace_namesake (self, key, request);
    if (fresh && zhashx_size (self->members) >= S_MEMBERS_MAX) {
        //  Bounded: a peer making up names cannot grow the table forever
        s_drop (self, -LW_MSG_TOO_MANY);
        return;
    }
    if (fresh) {
        s_gone_purge (self, request->group, request->name);
        member = (member_t *)zmalloc (sizeof (member_t));
        assert (member);
        member->identity = zframe_dup (identity);
        member->report = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
        assert (member->identity && member->report);
        member->group = group;
        //  Take what it says it owns: if another member owns the same
        //  partitions now, the rebalance revokes them from one of them
        if (group >= 0)
            for (uint32_t index = 0; index < request->npartitions; index++)
                if (request->partitions[index] < self->partitions)
                    member->owned[request->partitions[index]] = true;
        zhashx_insert (self->members, key, member);
        zsys_info ("broker: member joined group=%s name=%s pid=%" PRId64
                   " kind=%s",
                   request->group, request->name, request->pid,
                   request->kind == LW_CTRL_HELLO ? "hello" : "heartbeat");
        if (group >= 0)
            self->dirty[group] = true;
    }
    else if (group >= 0 && !streq (member->report->name, request->name))
        self->dirty[group] = true; //  Name decides the order
    memcpy (member->report, request, sizeof (lw_ctrl_t));
    member->last_seen = lw_time_mono ();

    lw_ctrl_t *reply =
        s_reply_start (self, LW_CTRL_HEARTBEAT, member, member->epoch);
    s_send_to (self, member->identity, reply);
    if (!fresh && group >= 0 && member->epoch > 0 && !member->pending &&
        (request->kind == LW_CTRL_HELLO || request->epoch < member->epoch))
        s_send_assign (self, member);
    //  Its report may have released what another member waits for
    s_flush_assigns (self);
}

//  --------------------------------------------------------------------------
//  STATUS: one reply frame, then a MEMBER frame for the broker and for
//  each member. Counters the broker reports: per stream "<stream>_fwd" and
//  "<stream>_drop_<reason>", coordinator "coord_drop_<reason>", and
//  "drop_<reason>" summed over all of them.

static void
s_handle_status (self_t *self, zframe_t *identity)
{
    lw_ctrl_t *ctrl = s_reply_start (self, LW_CTRL_MEMBER, NULL, self->epoch);
    strcpy (ctrl->group, "broker");
    snprintf (ctrl->name, sizeof (ctrl->name), "%s", self->args->name);
    ctrl->alive = true; //  It answers; READY is a counter
    char name[LW_STAT_NAME_MAX + 1];
    uint64_t total_in = 0;
    uint64_t total_out = 0;
    uint64_t totals[S_DROP_REASONS] = {0};
    for (int stream = 0; stream < S_STREAMS; stream++) {
        const lw_forward_report_t *report = &self->reports[stream];
        snprintf (name, sizeof (name), "%s_fwd", s_stream_names[stream]);
        lw_ctrl_stat_add (ctrl, name, report->forwarded);
        total_out += report->forwarded;
        total_in += report->forwarded;
        for (int reason = 1; reason < LW_MSG_ERRORS; reason++)
            if (report->drops[reason]) {
                snprintf (name, sizeof (name), "%s_drop_%s",
                          s_stream_names[stream], lw_msg_strerror (-reason));
                lw_ctrl_stat_add (ctrl, name, report->drops[reason]);
                totals[reason] += report->drops[reason];
                total_in += report->drops[reason];
            }
        if (report->bad_subscriptions) {
            snprintf (name, sizeof (name), "%s_drop_subscription",
                      s_stream_names[stream]);
            lw_ctrl_stat_add (ctrl, name, report->bad_subscriptions);
        }
        if (report->send_failed) {
            snprintf (name, sizeof (name), "%s_send_failed",
                      s_stream_names[stream]);
            lw_ctrl_stat_add (ctrl, name, report->send_failed);
        }
        snprintf (name, sizeof (name), "%s_covered", s_stream_names[stream]);
        lw_ctrl_stat_add (ctrl, name, report->covered);
        snprintf (name, sizeof (name), "%s_disconnects",
                  s_stream_names[stream]);
        lw_ctrl_stat_add (ctrl, name, report->disconnects);
    }
    lw_ctrl_stat_add (ctrl, "coord_disconnects",
                      self->router_monitor
                          ? lw_sockmon_disconnects (self->router_monitor)
                          : 0);
    lw_ctrl_stat_add (ctrl, "monitor_sent",
                      self->reports[S_EVENTS].monitor_sent);
    lw_ctrl_stat_add (ctrl, "monitor_dropped",
                      self->reports[S_EVENTS].monitor_dropped);
    lw_ctrl_stat_add (ctrl, "in", total_in);
    lw_ctrl_stat_add (ctrl, "out", total_out);
    lw_ctrl_stat_add (ctrl, "coord_in", self->requests);
    lw_ctrl_stat_add (ctrl, "members", zhashx_size (self->members));
    lw_ctrl_stat_add (ctrl, "gone", zlistx_size (self->gone));
    lw_ctrl_stat_add (ctrl, "ready", self->ready);
    for (int reason = 1; reason < S_DROP_REASONS; reason++) {
        const char *text = reason == S_DROP_BAD_KIND ? "bad_kind"
                           : reason == S_DROP_BAD_MEMBER
                               ? "bad_member"
                               : lw_msg_strerror (-reason);
        if (self->drops[reason]) {
            snprintf (name, sizeof (name), "coord_drop_%s", text);
            lw_ctrl_stat_add (ctrl, name, self->drops[reason]);
            totals[reason] += self->drops[reason];
        }
        if (totals[reason]) {
            snprintf (name, sizeof (name), "drop_%s", text);
            lw_ctrl_stat_add (ctrl, name, totals[reason]);
        }
    }

    zmsg_t *msg = zmsg_new ();
    assert (msg);
    zframe_t *address = zframe_dup (identity);
    zmsg_append (msg, &address);
    lw_reply_t reply = {0};
    reply.count =
        (uint32_t)(1 + zhashx_size (self->members) + zlistx_size (self->gone));
    zframe_t *head = lw_msg_reply_encode (&reply);
    zframe_t *frame = lw_msg_ctrl_encode (ctrl);
    if (!head || !frame) {
        zframe_destroy (&head);
        zframe_destroy (&frame);
        zmsg_destroy (&msg);
        zsys_error ("broker: cannot encode status");
        return;
    }
    zmsg_append (msg, &head);
    zmsg_append (msg, &frame);
    for (member_t *member = (member_t *)zhashx_first (self->members); member;
         member = (member_t *)zhashx_next (self->members)) {
        //  The member's own view (its last heartbeat): what it owns is
        //  what it said it owns, which is what matters for failover
        memcpy (ctrl, member->report, sizeof (lw_ctrl_t));
        ctrl->kind = LW_CTRL_MEMBER;
        ctrl->alive = true;
        frame = lw_msg_ctrl_encode (ctrl);
        if (!frame) {
            zmsg_destroy (&msg);
            zsys_error ("broker: cannot encode member status");
            return;
        }
        zmsg_append (msg, &frame);
    }
    for (gone_t *gone = (gone_t *)zlistx_first (self->gone); gone;
         gone = (gone_t *)zlistx_next (self->gone)) {
        frame = lw_msg_ctrl_encode (&gone->report);
        if (!frame) {
            zmsg_destroy (&msg);
            zsys_error ("broker: cannot encode member status");
            return;
        }
        zmsg_append (msg, &frame);
    }
    zmsg_send (&msg, self->router);
    zmsg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Handles one coordinator message [identity, body]; never fails on
//  bad input.

static void
s_handle_request (self_t *self, zmsg_t *msg)
{
    self->requests++;
    zframe_t *identity = zmsg_first (msg);
    zframe_t *body = zmsg_next (msg);
    if (zmsg_size (msg) != 2 || !identity || !body) {
        s_drop (self, -LW_MSG_ENVELOPE);
        return;
    }
    int rc = lw_msg_ctrl_decode (zframe_data (body), zframe_size (body),
                                 self->request);
    if (rc < 0) {
        s_drop (self, rc > -LW_MSG_ERRORS ? -rc : -LW_MSG_ENVELOPE);
        return;
    }
    char *key = zframe_strhex (identity);
    assert (key);
    switch (self->request->kind) {
    case LW_CTRL_HELLO:
    case LW_CTRL_HEARTBEAT:
        s_handle_member (self, identity, key);
        break;
    case LW_CTRL_BYE:
        s_member_remove (self, key, "bye");
        break;
    case LW_CTRL_STATUS:
        s_handle_status (self, identity);
        break;
    case LW_CTRL_PING: {
        lw_ctrl_t *reply =
            s_reply_start (self, LW_CTRL_PONG, NULL, self->epoch);
        strcpy (reply->group, "broker");
        snprintf (reply->name, sizeof (reply->name), "%s", self->args->name);
        s_send_to (self, identity, reply);
        break;
    }
    default:
        s_drop (self, S_DROP_BAD_KIND);
        break;
    }
    free (key);
}

//  --------------------------------------------------------------------------
//  Coordinator ROUTER: a bounded number of frames per wake-up.

static int
s_handle_router (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    self_t *self = (self_t *)arg;
    for (int count = 0; count < S_ROUTER_BATCH; count++) {
        if (!(zsock_events (self->router) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (self->router);
        if (!msg)
            break;
        s_handle_request (self, msg);
        zmsg_destroy (&msg);
    }
    s_rebalance_dirty (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Expiry timer: a member silent for misses x heartbeat is dead.

static int
s_handle_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    self_t *self = (self_t *)arg;
    int64_t now = lw_time_mono ();
    int64_t limit = (int64_t)self->misses * self->heartbeat * LW_NS_PER_MS;
    zlistx_t *dead = zlistx_new ();
    assert (dead);
    zlistx_set_destructor (dead, (zlistx_destructor_fn *)zstr_free);
    for (member_t *member = (member_t *)zhashx_first (self->members); member;
         member = (member_t *)zhashx_next (self->members))
        if (now - member->last_seen > limit)
            zlistx_add_end (
                dead, strdup ((const char *)zhashx_cursor (self->members)));
    for (char *key = (char *)zlistx_first (dead); key;
         key = (char *)zlistx_next (dead))
        s_member_remove (self, key, "silent");
    zlistx_destroy (&dead);
    s_gone_purge (self, NULL, NULL);
    s_rebalance_dirty (self);
    s_flush_assigns (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  A forwarder's report: counters, and subscription coverage, from which
//  READY follows.

static int
s_handle_forwarder (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    zmsg_t *msg = zmsg_recv (reader);
    if (!msg)
        return 0;
    int stream = 0;
    while (stream < S_STREAMS &&
           zactor_sock (self->forwarders[stream]) != reader)
        stream++;
    char *command = zmsg_popstr (msg);
    zframe_t *frame = zmsg_first (msg);
    if (stream < S_STREAMS && command && streq (command, "REPORT") && frame &&
        zframe_size (frame) == sizeof (lw_forward_report_t))
        memcpy (&self->reports[stream], zframe_data (frame),
                sizeof (lw_forward_report_t));
    zstr_free (&command);
    zmsg_destroy (&msg);

    bool ready = self->reports[S_READINGS].complete &&
                 self->reports[S_FEATURES].complete;
    if (ready != self->ready) {
        self->ready = ready;
        zsys_info ("broker: ready=%d readings_covered=%u "
                   "features_covered=%u",
                   ready, self->reports[S_READINGS].covered,
                   self->reports[S_FEATURES].covered);
        s_broadcast_ready (self);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  CONFIGURE: reads the settings, starts the forwarders, binds the
//  coordinator. Returns 0 or -1 (logged).

static int
s_configure (self_t *self)
{
    if (self->configured) {
        zsys_error ("broker: configured twice");
        return -1;
    }
    const lw_node_t *node = self->args->node;
    self->partitions = (uint32_t)node->partitions;
    self->heartbeat = (int)node->heartbeat;
    self->misses = (int)node->misses;
    long batch = S_BATCH_DEFAULT;
    if (lw_cfg_int (self->args->config, "broker/batch", S_BATCH_DEFAULT, 1,
                    100000, &batch) != 0)
        return -1;
    const char *endpoints[S_STREAMS][2] = {
        {node->readings_in, node->readings_out},
        {node->features_in, node->features_out},
        {node->events_in, node->events_out}};
    for (int stream = 0; stream < S_STREAMS; stream++) {
        lw_forward_cfg_t *cfg = &self->streams[stream];
        cfg->name = s_stream_names[stream];
        snprintf (cfg->in, sizeof (cfg->in), "%s", endpoints[stream][0]);
        snprintf (cfg->out, sizeof (cfg->out), "%s", endpoints[stream][1]);
        if (stream == S_EVENTS)
            snprintf (cfg->monitor, sizeof (cfg->monitor), "%s", node->monitor);
        cfg->hwm = (int)node->hwm;
        cfg->batch = (int)batch;
        cfg->partitions = self->partitions;
        self->forwarders[stream] = zactor_new (lw_forward_actor, cfg);
        assert (self->forwarders[stream]);
        if (zstr_send (self->forwarders[stream], "START") != 0 ||
            zsock_wait (self->forwarders[stream]) != 0)
            return -1;
        zloop_reader (self->loop, zactor_sock (self->forwarders[stream]),
                      s_handle_forwarder, self);
    }
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    zsock_set_maxmsgsize (self->router, LW_MAX_FRAME_SIZE);
    zsock_set_rcvhwm (self->router, (int)node->hwm);
    zsock_set_sndhwm (self->router, (int)node->hwm);
    zsock_set_linger (self->router, 0);
    if (zsock_bind (self->router, "%s", node->coordinator) < 0) {
        zsys_error ("broker: bind failed endpoint=%s error='%s'",
                    node->coordinator, zmq_strerror (zmq_errno ()));
        return -1;
    }
    //  A frame over LW_MAX_FRAME_SIZE never reaches us: libzmq drops the
    //  peer, and only a socket monitor sees it (coord_disconnects)
    self->router_monitor = lw_sockmon_new (self->router, self->loop, NULL,
                                           NULL);
    if (!self->router_monitor)
        return -1;
    zloop_reader (self->loop, self->router, s_handle_router, self);
    int period = self->heartbeat / 4;
    if (period < S_CHECK_MIN_MS)
        period = S_CHECK_MIN_MS;
    zloop_timer (self->loop, (size_t)period, 0, s_handle_timer, self);
    //  Every live member heartbeats within one interval, plus the time
    //  its DEALER takes to reconnect to a restarted broker
    self->settle_until =
        lw_time_mono () +
        ((int64_t)self->heartbeat * 2 + S_RECONNECT_MS) * LW_NS_PER_MS;
    self->epoch = s_next_epoch (self);
    self->configured = true;
    zsys_info ("broker: started partitions=%u heartbeat=%d misses=%d "
               "coordinator=%s",
               self->partitions, self->heartbeat, self->misses,
               node->coordinator);
    return 0;
}

//  --------------------------------------------------------------------------
//  Commands from main or a test.

static int
s_handle_pipe (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    char *command = zstr_recv (reader);
    if (!command)
        return -1;
    int rc = 0;
    if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "CONFIGURE"))
        zsock_signal (self->pipe, s_configure (self) == 0 ? 0 : 1);
    else
        zsys_error ("broker: unknown command '%s'", command);
    zstr_free (&command);
    return rc;
}

//  --------------------------------------------------------------------------
//  The broker actor.

void
lw_broker_actor (zsock_t *pipe, void *args)
{
    assert (pipe);
    assert (args);
    self_t *self = s_self_new (pipe, (const lw_actor_args_t *)args);
    zloop_reader (self->loop, pipe, s_handle_pipe, self);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    s_self_destroy (&self);
}
