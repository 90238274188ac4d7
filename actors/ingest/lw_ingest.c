/*  =========================================================================
    lw_ingest.c - lw-ingest: sources in, clean batches per partition out

    Copyright (c) the linewatch authors. MIT license.

    The actor's state is also the sink every source writes to (struct
    _lw_sink_t): lw_sink_put is the per-reading hot path - one cleaning
    check, one batch append, no allocation, no syscall (two clock reads
    per batch, not per reading).

    Flow control has two inputs and one output. Inputs: can_send (every
    partition subscribed, and READY from the broker when wait_ready) and
    the pending queue (encoded batches a dontwait send could not place).
    Output: `open` = can_send and nothing pending; when it changes, every
    source is paused or resumed. A batch that fills while not open is
    encoded and queued in order, so a source finishing its message in
    hand costs memory bounded by that message, never a reading.
    =========================================================================
*/

#include <czmq.h>

#include "lw_clean.h"
#include "lw_ingest.h"
#include "lw_main.h"
#include "lw_member.h"
#include "lw_msg.h"
#include "lw_source.h"
#include "lw_stats.h"
#include "lw_util.h"

#define S_FLUSH_TICK_MAX_MS 50 //  Longest flush timer period
#define S_READY_TICK_MS 20     //  How often READY is checked when idle
#define S_SOURCES_MAX 64       //  Most configured sources
#define S_DRAIN_MS 1000        //  Bounded wait for unsent batches at exit
#define S_REJECT_LOG_FIRST 10  //  Rejected readings logged one by one
#define S_REJECT_SUMMARY_NS (60 * LW_NS_PER_SEC) //  Then a summary per minute
#define S_SWEEP_MS 100         //  A tenth of the sensors is looked at for
#define S_SWEEP_PARTS 10       //  silence every 100 ms: each once a second
//  Readings stamped further ahead of the wall clock than this do not move
//  the gap watermark (a clock set wrong)
#define S_WATERMARK_AHEAD_NS (86400 * LW_NS_PER_SEC)

//  An encoded batch waiting for room on the publisher
typedef struct {
    zframe_t *body;     //  Encoded batch
    uint16_t partition; //  Its partition
    uint32_t count;     //  Readings in it
} s_pending_t;

typedef struct _lw_sink_t self_t;

struct _lw_sink_t {
    zsock_t *pipe;         //  Actor pipe
    zloop_t *loop;         //  Reactor
    lw_actor_args_t *args; //  Config, node, name (borrowed)
    bool configured;       //  CONFIGURE succeeded
    lw_stats_t *stats;     //  Counters, sent with heartbeats
    int c_in;              //  Counter indices
    int c_out;
    int c_batches;
    int c_late;
    int c_limit;                  //  Accepted outside limits (flagged)
    int c_reordered;              //  Out of order, put back in order
    int c_drop[LW_CLEAN_RESULTS]; //  By lw_clean verdict
    int c_sensor_gaps;            //  Gap events published
    int c_sensor_silent;          //  ...of which silences (no reading yet)
    int c_gap_sweeps;             //  Looks for silent sensors so far
    size_t sweep_ticks;           //  Sweep timer ticks (parts of a look)
    double gap_factor;            //  ingest/gap_factor, 0 = off
    uint64_t rejects_logged;      //  Rejections logged one by one
    uint64_t suppressed[LW_CLEAN_RESULTS]; //  Not logged since summary
    int64_t summary_time;         //  Monotonic ns of the last summary
    lw_clean_t *clean;            //  Per-sensor state
    int64_t lateness;             //  Lateness bound, ns
    int64_t reorder;              //  Re-order window, ns (0 = off)
    size_t batch_size;            //  ingest/batch
    int64_t flush;                //  ingest/flush, ns
    bool wait_ready;              //  ingest/wait_ready
    uint32_t partitions;          //  P
    uint64_t publisher;           //  Our publisher id
    lw_batch_t **batches;         //  One per partition
    int64_t *first;               //  Monotonic ns of each batch's first
    uint64_t *sequences;          //  Last sequence sent per partition
    zsock_t *pub;                 //  XPUB to the broker's readings XSUB
    void *pub_handle;             //  Its libzmq handle
    s_pending_t *pending;         //  Ring of batches waiting for room
    size_t pending_head;          //  Index of the oldest
    size_t pending_count;         //  Number waiting
    size_t pending_size;          //  Ring capacity
    bool sub_all;                 //  An empty prefix is subscribed
    bool sub_high[256];           //  One-byte prefixes subscribed
    bool *sub_exact;              //  Two-byte prefixes (partitions)
    size_t subscribed;            //  Partitions covered by subscriptions
    lw_member_t *member;          //  Group "ingest"
    lw_source_t *sources[S_SOURCES_MAX + 1]; //  Gateway + configured
    size_t nsources;                         //  Sources in use
    bool can_send;     //  Subscribed and (READY or not waited)
    bool open;         //  Sources are running
    size_t flush_tick; //  Flush timer period, ms
    int flush_timer;   //  Flush/retry timer while busy, or -1
    size_t nonempty;   //  Batches holding readings
};

//  --------------------------------------------------------------------------
//  Creates the infallible part of the state

static self_t *
s_self_new (zsock_t *pipe, lw_actor_args_t *args)
{
    self_t *self = (self_t *)zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->args = args;
    self->loop = zloop_new ();
    self->stats = lw_stats_new ();
    assert (self->loop && self->stats);
    self->flush_timer = -1;
    self->c_in = lw_stats_counter (self->stats, "in");
    self->c_out = lw_stats_counter (self->stats, "out");
    self->c_batches = lw_stats_counter (self->stats, "batches");
    self->c_late = lw_stats_counter (self->stats, "late");
    self->c_limit = lw_stats_counter (self->stats, "limit");
    self->c_reordered = lw_stats_counter (self->stats, "reordered");
    self->c_sensor_gaps = lw_stats_counter (self->stats, "sensor_gaps");
    self->c_sensor_silent = lw_stats_counter (self->stats, "sensor_silent");
    self->c_gap_sweeps = lw_stats_counter (self->stats, "gap_sweeps");
    for (int verdict = 1; verdict < LW_CLEAN_RESULTS; verdict++) {
        char name[LW_STAT_NAME_MAX + 1];
        snprintf (name, sizeof (name), "drop_%s", lw_clean_reason (verdict));
        self->c_drop[verdict] = lw_stats_counter (self->stats, name);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the state: sources first (they use the loop and the sink)

static void
s_self_destroy (self_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        self_t *self = *self_p;
        for (size_t index = 0; index < self->nsources; index++)
            lw_source_destroy (&self->sources[index]);
        lw_member_destroy (&self->member);
        while (self->pending_count) {
            zframe_destroy (&self->pending[self->pending_head].body);
            self->pending_head = (self->pending_head + 1) % self->pending_size;
            self->pending_count--;
        }
        free (self->pending);
        zsock_destroy (&self->pub);
        if (self->batches)
            for (uint32_t partition = 0; partition < self->partitions;
                 partition++)
                lw_batch_destroy (&self->batches[partition]);
        free (self->batches);
        free (self->first);
        free (self->sequences);
        free (self->sub_exact);
        lw_clean_destroy (&self->clean);
        zloop_destroy (&self->loop);
        lw_stats_destroy (&self->stats);
        free (self);
        *self_p = NULL;
    }
}

static void s_flush_timer_start (self_t *self);

//  --------------------------------------------------------------------------
//  Appends an encoded batch to the pending ring (grows it: only while
//  blocked, so never per reading in steady state)

static void
s_pending_push (self_t *self, uint16_t partition, uint32_t count,
                zframe_t *body)
{
    if (self->pending_count == self->pending_size) {
        size_t size = self->pending_size ? self->pending_size * 2 : 64;
        s_pending_t *ring = (s_pending_t *)malloc (size * sizeof (s_pending_t));
        assert (ring);
        for (size_t index = 0; index < self->pending_count; index++)
            ring[index] = self->pending[(self->pending_head + index) %
                                        self->pending_size];
        free (self->pending);
        self->pending = ring;
        self->pending_head = 0;
        self->pending_size = size;
    }
    s_pending_t *slot =
        &self->pending[(self->pending_head + self->pending_count) %
                       self->pending_size];
    slot->body = body;
    slot->partition = partition;
    slot->count = count;
    self->pending_count++;
    s_flush_timer_start (self);
}

//  --------------------------------------------------------------------------
//  Sends one encoded batch without blocking. Returns 0 when it went out
//  (or failed for good, logged), -1 on EAGAIN with the body kept.

static int
s_send (self_t *self, uint16_t partition, uint32_t count, zframe_t **body_p)
{
    if (lw_msg_send (self->pub_handle, partition, body_p, true) == 0) {
        lw_stats_add (self->stats, self->c_out, count);
        if (count)
            lw_stats_add (self->stats, self->c_batches, 1); //  Not a gap
        return 0;
    }
    if (zmq_errno () == EAGAIN)
        return -1;
    zsys_error ("ingest: send failed partition=%u readings=%u error=%s",
                partition, count, zmq_strerror (zmq_errno ()));
    zframe_destroy (body_p);
    lw_sink_drop (self, "send", count);
    return 0;
}

//  --------------------------------------------------------------------------
//  Sends pending batches, oldest first, while there is room

static void
s_drain (self_t *self)
{
    while (self->pending_count && self->can_send) {
        s_pending_t *slot = &self->pending[self->pending_head];
        if (s_send (self, slot->partition, slot->count, &slot->body))
            break; //  Still no room
        self->pending_head = (self->pending_head + 1) % self->pending_size;
        self->pending_count--;
    }
}

//  --------------------------------------------------------------------------
//  Recomputes can_send and open; pauses or resumes every source on change

static void
s_update (self_t *self)
{
    bool can_send = self->subscribed == self->partitions &&
                    (!self->wait_ready || lw_member_ready (self->member));
    if (can_send != self->can_send) {
        self->can_send = can_send;
        if (can_send)
            zsys_info ("ingest: ready to publish partitions=%u",
                       self->partitions);
        else
            zsys_info ("ingest: waiting subscribed=%zu/%u broker_ready=%d",
                       self->subscribed, self->partitions,
                       lw_member_ready (self->member));
        s_drain (self);
    }
    bool open = self->can_send && self->pending_count == 0;
    if (open != self->open) {
        self->open = open;
        for (size_t index = 0; index < self->nsources; index++)
            if (open)
                lw_source_resume (self->sources[index]);
            else
                lw_source_pause (self->sources[index]);
    }
}

//  --------------------------------------------------------------------------
//  Closes a partition's batch: stamps and encodes it, then sends it or
//  queues it behind what is pending

static void
s_flush (self_t *self, uint16_t partition)
{
    lw_batch_t *batch = self->batches[partition];
    uint32_t count = (uint32_t)lw_batch_count (batch);
    if (count == 0)
        return;
    lw_batch_set_sequence (batch, ++self->sequences[partition]);
    zframe_t *body = lw_batch_encode (batch);
    lw_batch_reset (batch);
    assert (self->nonempty > 0);
    self->nonempty--;
    if (!body) {
        //  Shows downstream as a sequence gap; never expected
        zsys_error ("ingest: cannot encode batch partition=%u", partition);
        lw_sink_drop (self, "encode", count);
        return;
    }
    if (self->pending_count == 0 && self->can_send &&
        s_send (self, partition, count, &body) == 0)
        return;
    s_pending_push (self, partition, count, body);
    s_update (self);
}

//  --------------------------------------------------------------------------
//  Publishes a gap event under the sensor's partition, behind the
//  readings batched before it (the partition's batch goes first), so
//  consumers see it in event order. Rare: gaps only.

static void
s_gap (self_t *self, lw_sensor_t *sensor, int64_t last_time, int64_t time,
       bool silent)
{
    s_flush (self, sensor->partition);
    lw_gap_t gap = {.last_time = last_time, .time = time, .silent = silent};
    snprintf (gap.sensor, sizeof (gap.sensor), "%s", sensor->key);
    zframe_t *body = lw_msg_gap_encode (&gap);
    if (!body) {
        zsys_error ("ingest: cannot encode gap sensor=%.64s", sensor->key);
        lw_sink_drop (self, "encode", 1);
        return;
    }
    lw_stats_add (self->stats, self->c_sensor_gaps, 1);
    if (silent)
        lw_stats_add (self->stats, self->c_sensor_silent, 1);
    if (self->pending_count == 0 && self->can_send &&
        s_send (self, sensor->partition, 0, &body) == 0)
        return;
    s_pending_push (self, sensor->partition, 0, body);
    s_update (self);
}

//  --------------------------------------------------------------------------
//  Sweep: a sensor found silent (b)

static void
s_silent (lw_sensor_t *sensor, int64_t watermark, void *arg)
{
    s_gap ((self_t *)arg, sensor, sensor->newest, watermark, true);
}

//  --------------------------------------------------------------------------
//  Timer, with gap detection on: looks for silent sensors, a tenth of
//  them every 100 ms, so every sensor once a second without stalling the
//  loop for all of them at once (a million sensors: ~5 ms a tick, Debug
//  build). Event time decides (lw_clean); the wall clock only caps how far
//  ahead of it a reading may move the watermark.

static int
s_handle_sweep (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    self_t *self = (self_t *)arg;
    lw_clean_set_cap (self->clean, lw_time_now () + S_WATERMARK_AHEAD_NS);
    lw_clean_sweep (self->clean, S_SWEEP_PARTS, s_silent, self);
    if (++self->sweep_ticks % S_SWEEP_PARTS == 0)
        lw_stats_add (self->stats, self->c_gap_sweeps, 1);
    return 0;
}

//  --------------------------------------------------------------------------
//  Sink: resolves a key to its sensor state

lw_sensor_t *
lw_sink_sensor (lw_sink_t *self, const char *key)
{
    assert (self);
    assert (key);
    int result;
    return lw_clean_sensor (self->clean, key, &result);
}

//  --------------------------------------------------------------------------
//  Logs a rejected reading: the first few one by one, then only counted
//  for the summary (s_reject_summary). Off the hot path: rejections only.

static void
s_reject (self_t *self, int verdict, const char *key, int64_t time,
          double value)
{
    if (self->rejects_logged < S_REJECT_LOG_FIRST) {
        self->rejects_logged++;
        char text[LW_TIME_TEXT_MAX];
        zsys_warning ("ingest: rejected reading reason=%s sensor=%.64s "
                      "time=%s value=%g%s",
                      lw_clean_reason (verdict), key ? key : "(invalid)",
                      lw_time_format (time, text, sizeof (text)), value,
                      self->rejects_logged == S_REJECT_LOG_FIRST
                          ? " (further rejections: a summary per minute)"
                          : "");
    }
    else
        self->suppressed[verdict]++;
}

//  --------------------------------------------------------------------------
//  Logs the rejections not logged one by one, at most once a minute

static void
s_reject_summary (self_t *self, bool force)
{
    int64_t now = lw_time_mono ();
    if (!force && now - self->summary_time < S_REJECT_SUMMARY_NS)
        return;
    self->summary_time = now;
    char text[256] = "";
    size_t used = 0;
    for (int verdict = 1; verdict < LW_CLEAN_RESULTS; verdict++)
        if (self->suppressed[verdict] && used < sizeof (text)) {
            used += (size_t)snprintf (
                text + used, sizeof (text) - used, " %s=%llu",
                lw_clean_reason (verdict),
                (unsigned long long)self->suppressed[verdict]);
            self->suppressed[verdict] = 0;
        }
    if (used)
        zsys_warning ("ingest: rejected readings since the last summary:%s",
                      text);
}

//  --------------------------------------------------------------------------
//  Appends one clean reading to its partition's batch

static inline void
s_emit (self_t *self, lw_sensor_t *sensor, int64_t time, double value,
        uint32_t quality)
{
    if (quality & LW_QUALITY_LATE)
        lw_stats_add (self->stats, self->c_late, 1);
    if (quality & LW_QUALITY_LIMIT)
        lw_stats_add (self->stats, self->c_limit, 1);
    uint16_t partition = sensor->partition;
    lw_batch_t *batch = self->batches[partition];
    if (lw_batch_count (batch) == 0) {
        self->first[partition] = lw_time_mono ();
        lw_batch_set_ingest_time (batch, lw_time_now ());
        if (self->nonempty++ == 0)
            s_flush_timer_start (self);
    }
    lw_item_t *item = lw_batch_add (batch, sensor->key);
    assert (item); //  Valid key, and never full: see below
    item->time = time;
    item->value = value;
    item->quality = quality;
    if (lw_batch_count (batch) >= self->batch_size)
        s_flush (self, partition);
}

//  --------------------------------------------------------------------------
//  Re-ordering: holds a clean reading in its sensor's buffer and emits
//  what is due (ingest/reorder > 0)

static void
s_hold (self_t *self, lw_sensor_t *sensor, int64_t time, double value,
        uint32_t quality)
{
    int64_t now = lw_time_mono ();
    lw_held_t held;
    if (sensor->nheld == LW_CLEAN_HOLD &&
        lw_clean_pop (self->clean, sensor, INT64_MAX, INT64_MAX, &held))
        s_emit (self, sensor, held.time, held.value, held.quality);
    int rc = lw_clean_hold (self->clean, sensor, time, value, quality, now);
    if (rc <= 0)
        s_emit (self, sensor, time, value, quality); //  Too late to re-order
    else if (quality & LW_QUALITY_LATE)
        lw_stats_add (self->stats, self->c_reordered, 1);
    //  newest >= reorder's worth of ns above INT64_MIN: no overflow
    int64_t watermark = sensor->newest < INT64_MIN + self->reorder
                            ? INT64_MIN
                            : sensor->newest - self->reorder;
    while (lw_clean_pop (self->clean, sensor, watermark, now - self->reorder,
                         &held))
        s_emit (self, sensor, held.time, held.value, held.quality);
}

//  --------------------------------------------------------------------------
//  Re-ordering: emits every held reading that has waited the window (or
//  every one, at exit)

static void
s_release_held (self_t *self, bool all)
{
    int64_t before = all ? INT64_MAX : lw_time_mono () - self->reorder;
    lw_sensor_t *sensor = lw_clean_holding (self->clean);
    while (sensor) {
        lw_sensor_t *next = (lw_sensor_t *)sensor->hold_next;
        lw_held_t held;
        while (lw_clean_pop (self->clean, sensor, INT64_MIN, before, &held))
            s_emit (self, sensor, held.time, held.value, held.quality);
        sensor = next;
    }
}

//  --------------------------------------------------------------------------
//  Sink: takes one reading. The hot path.

bool
lw_sink_put (lw_sink_t *self, lw_sensor_t *sensor, int64_t time, double value,
             uint32_t quality)
{
    lw_stats_add (self->stats, self->c_in, 1);
    bool was_seen = sensor->seen;
    int64_t previous = sensor->newest;
    int verdict =
        lw_clean_check (self->lateness, sensor, time, value, &quality);
    if (verdict != LW_CLEAN_OK) {
        lw_stats_add (self->stats, self->c_drop[verdict], 1);
        s_reject (self, verdict, sensor->key, time, value);
        return self->open;
    }
    if (self->gap_factor > 0 &&
        lw_clean_track (self->clean, sensor, was_seen, previous, time))
        s_gap (self, sensor, previous, time, false);
    if (self->reorder)
        s_hold (self, sensor, time, value, quality);
    else
        s_emit (self, sensor, time, value, quality);
    return self->open;
}

//  --------------------------------------------------------------------------
//  Sink: takes one reading by key

bool
lw_sink_put_key (lw_sink_t *self, const char *key, int64_t time, double value,
                 uint32_t quality)
{
    assert (self);
    int result;
    lw_sensor_t *sensor = lw_clean_sensor (self->clean, key, &result);
    if (sensor)
        return lw_sink_put (self, sensor, time, value, quality);
    lw_stats_add (self->stats, self->c_in, 1);
    lw_stats_add (self->stats, self->c_drop[result], 1);
    //  An invalid key is not logged: it may hold anything
    s_reject (self, result, result == LW_CLEAN_BAD_KEY ? NULL : key, time,
              value);
    return self->open;
}

//  --------------------------------------------------------------------------
//  Sink: true while sources may produce

bool
lw_sink_open (lw_sink_t *self)
{
    assert (self);
    return self->open;
}

//  --------------------------------------------------------------------------
//  Sink: counts a rejection as drop_<reason> (rare: a lookup by name)

void
lw_sink_drop (lw_sink_t *self, const char *reason, uint64_t count)
{
    assert (self);
    assert (reason);
    char name[LW_STAT_NAME_MAX + 1];
    snprintf (name, sizeof (name), "drop_%s", reason);
    lw_stats_add (self->stats, lw_stats_counter (self->stats, name), count);
}

//  --------------------------------------------------------------------------
//  Sink: registers a source's counter; -1 when the table is nearly full
//  (room is kept for drop_<reason> counters registered later)

int
lw_sink_counter (lw_sink_t *self, const char *name)
{
    assert (self);
    assert (name);
    if (lw_stats_value (self->stats, name) == 0) {
        lw_ctrl_t *ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
        assert (ctrl);
        lw_stats_fill (self->stats, ctrl);
        uint32_t used = ctrl->nstats;
        free (ctrl);
        if (used + 32 >= LW_STATS_MAX)
            return -1;
    }
    return lw_stats_counter (self->stats, name);
}

//  --------------------------------------------------------------------------
//  Sink: adds to a source's counter (a negative amount lowers a gauge)

void
lw_sink_count (lw_sink_t *self, int counter, int64_t amount)
{
    assert (self);
    if (counter >= 0)
        lw_stats_add (self->stats, counter, (uint64_t)amount);
}

//  --------------------------------------------------------------------------
//  Applies one subscription message the XPUB passed up

static void
s_subscription (self_t *self, const uint8_t *data, size_t size)
{
    if (size < 1 || data[0] > 1)
        return; //  Not a subscription message
    bool on = data[0] == 1;
    if (size == 1)
        self->sub_all = on;
    else if (size == 2)
        self->sub_high[data[1]] = on;
    else if (size == 3) {
        uint32_t partition = ((uint32_t)data[1] << 8) | data[2];
        if (partition < self->partitions)
            self->sub_exact[partition] = on;
    }
    //  Longer prefixes match no 2-byte partition frame: ignored
    size_t covered = 0;
    for (uint32_t partition = 0; partition < self->partitions; partition++)
        if (self->sub_all || self->sub_high[partition >> 8] ||
            self->sub_exact[partition])
            covered++;
    self->subscribed = covered;
}

//  --------------------------------------------------------------------------
//  Reader: subscription messages from the broker's XSUB

static int
s_handle_pub (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    zframe_t *frame = zframe_recv (reader);
    if (frame && self->configured) {
        s_subscription (self, zframe_data (frame), zframe_size (frame));
        s_update (self);
    }
    zframe_destroy (&frame);
    return 0;
}

//  --------------------------------------------------------------------------
//  Timer, while anything is batched or pending: flushes batches that are
//  old enough and retries pending sends; ends itself when idle so an idle
//  ingest does not wake every millisecond

static int
s_handle_flush (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    if (timer_id != self->flush_timer)
        return 0; //  A cancelled timer firing late
    int64_t now = lw_time_mono ();
    for (uint32_t partition = 0; partition < self->partitions; partition++)
        if (lw_batch_count (self->batches[partition]) &&
            now - self->first[partition] >= self->flush)
            s_flush (self, (uint16_t)partition);
    s_drain (self);
    s_update (self);
    if (self->nonempty == 0 && self->pending_count == 0) {
        zloop_timer_end (self->loop, self->flush_timer);
        self->flush_timer = -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Starts the flush timer unless it runs

static void
s_flush_timer_start (self_t *self)
{
    if (self->flush_timer == -1) {
        self->flush_timer =
            zloop_timer (self->loop, self->flush_tick, 0, s_handle_flush, self);
        assert (self->flush_timer != -1);
    }
}

//  --------------------------------------------------------------------------
//  Timer, always: follows the broker's READY

static int
s_handle_ready (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    self_t *self = (self_t *)arg;
    s_drain (self);
    s_update (self);
    s_reject_summary (self, false);
    if (self->reorder)
        s_release_held (self, false);
    return 0;
}

//  --------------------------------------------------------------------------
//  Creates one source and adds it to the list; -1 (logged) on failure

static int
s_add_source (self_t *self, const char *name, const char *path,
              const lw_source_ops_t *ops)
{
    if (self->nsources == S_SOURCES_MAX) {
        zsys_error ("config: more than %d sources under ingest/source",
                    S_SOURCES_MAX - 1);
        return -1;
    }
    lw_source_env_t env = {.loop = self->loop,
                           .sink = self,
                           .config = self->args->config,
                           .path = path,
                           .name = name,
                           .node = self->args->node};
    lw_source_t *source = lw_source_new (&env, ops);
    if (!source || lw_source_start (source)) {
        lw_source_destroy (&source);
        return -1;
    }
    self->sources[self->nsources++] = source;
    return 0;
}

//  --------------------------------------------------------------------------
//  CONFIGURE: reads the ingest section, connects, binds, makes sources.
//  Returns 0 or -1 (logged).

static int
s_configure (self_t *self)
{
    if (self->configured) {
        zsys_error ("ingest: CONFIGURE twice");
        return -1;
    }
    zconfig_t *config = self->args->config;
    const lw_node_t *node = self->args->node;
    long batch, flush, lateness, sensors_max, reorder;
    double gap_factor;
    bool wait_ready;
    int rc = lw_cfg_int (config, "ingest/batch", 512, 1, LW_BATCH_MAX, &batch);
    rc |= lw_cfg_int (config, "ingest/flush", 5, 1, 1000, &flush);
    rc |= lw_cfg_int (config, "ingest/lateness", 60000, 0, 86400000, &lateness);
    rc |= lw_cfg_int (config, "ingest/sensors_max", 1000000, 1, 100000000,
                      &sensors_max);
    rc |= lw_cfg_bool (config, "ingest/wait_ready", true, &wait_ready);
    rc |= lw_cfg_int (config, "ingest/reorder", 0, 0, 60000, &reorder);
    rc |= lw_cfg_double (config, "ingest/gap_factor", 5, 0, 1000000,
                         &gap_factor);
    if (rc)
        return -1;
    if (gap_factor > 0 && gap_factor < 1.5) {
        zsys_error ("config: ingest/gap_factor=%g: 0 (off) or at least 1.5",
                    gap_factor);
        return -1;
    }
    if (reorder > lateness) {
        zsys_error ("config: ingest/reorder=%ld is more than "
                    "ingest/lateness=%ld",
                    reorder, lateness);
        return -1;
    }
    if (node->partitions < 1 || node->partitions > LW_PARTITIONS_MAX) {
        zsys_error ("ingest: bad partition count %ld", node->partitions);
        return -1;
    }
    self->batch_size = (size_t)batch;
    self->flush = flush * LW_NS_PER_MS;
    self->lateness = lateness * LW_NS_PER_MS;
    self->reorder = reorder * LW_NS_PER_MS;
    self->wait_ready = wait_ready;
    self->gap_factor = gap_factor;
    self->partitions = (uint32_t)node->partitions;
    self->publisher = lw_random_id ();

    self->clean =
        lw_clean_new (self->partitions, self->lateness, (size_t)sensors_max);
    if (self->clean &&
        lw_clean_load_limits (self->clean, config, "ingest/limit"))
        return -1;
    self->batches =
        (lw_batch_t **)calloc (self->partitions, sizeof (lw_batch_t *));
    self->first = (int64_t *)calloc (self->partitions, sizeof (int64_t));
    self->sequences = (uint64_t *)calloc (self->partitions, sizeof (uint64_t));
    self->sub_exact = (bool *)calloc (self->partitions, sizeof (bool));
    if (!self->clean || !self->batches || !self->first || !self->sequences ||
        !self->sub_exact)
        return -1;
    lw_clean_set_gaps (self->clean, gap_factor);
    lw_clean_set_cap (self->clean, lw_time_now () + S_WATERMARK_AHEAD_NS);
    for (uint32_t partition = 0; partition < self->partitions; partition++) {
        lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
        if (!batch)
            return -1;
        lw_batch_set_publisher (batch, self->publisher);
        lw_batch_set_partition (batch, (uint16_t)partition);
        self->batches[partition] = batch;
    }

    //  Publisher: XPUB with NODROP, so a full pipe is EAGAIN, not loss
    self->pub = zsock_new (ZMQ_XPUB);
    if (!self->pub)
        return -1;
    self->pub_handle = zsock_resolve (self->pub);
    zsock_set_xpub_nodrop (self->pub, 1);
    zsock_set_sndhwm (self->pub, (int)node->hwm);
    zsock_set_rcvhwm (self->pub, (int)node->hwm);
    zsock_set_maxmsgsize (self->pub, LW_MAX_FRAME_SIZE);
    zsock_set_linger (self->pub, 0);
    if (zsock_connect (self->pub, "%s", node->readings_in) == -1) {
        zsys_error ("ingest: cannot connect readings endpoint=%s error=%s",
                    node->readings_in, zmq_strerror (zmq_errno ()));
        return -1;
    }
    if (zloop_reader (self->loop, self->pub, s_handle_pub, self))
        return -1;

    self->member = lw_member_new (node->coordinator, "ingest", self->args->name,
                                  (int)node->heartbeat, self->stats);
    if (!self->member || lw_member_attach (self->member, self->loop))
        return -1;

    //  The gateway first, then every configured source
    if (s_add_source (self, "gateway", "ingest", &lw_source_gateway))
        return -1;
    zconfig_t *section = zconfig_locate (config, "ingest/source");
    zconfig_t *child = section ? zconfig_child (section) : NULL;
    for (; child; child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        if (!name || strlen (name) == 0 || strlen (name) > LW_NAME_MAX) {
            zsys_error ("config: ingest/source/%.64s: bad source name",
                        name ? name : "");
            return -1;
        }
        for (size_t index = 0; index < self->nsources; index++)
            if (streq (lw_source_name (self->sources[index]), name)) {
                zsys_error ("config: ingest/source/%s: duplicate source "
                            "name",
                            name);
                return -1;
            }
        char path[LW_NAME_MAX + 32];
        snprintf (path, sizeof (path), "ingest/source/%s", name);
        if (s_add_source (self, name, path, NULL))
            return -1;
    }
    long period = flush / 4;
    if (period < 1)
        period = 1;
    if (period > S_FLUSH_TICK_MAX_MS)
        period = S_FLUSH_TICK_MAX_MS;
    self->flush_tick = (size_t)period;
    if (zloop_timer (self->loop, S_READY_TICK_MS, 0, s_handle_ready, self) ==
        -1)
        return -1;
    if (gap_factor > 0 &&
        zloop_timer (self->loop, S_SWEEP_MS, 0, s_handle_sweep, self) == -1)
        return -1;
    self->configured = true;
    zsys_info ("ingest: configured publisher=%016llx sources=%zu "
               "partitions=%u batch=%zu flush=%ldms lateness=%ldms "
               "reorder=%ldms limits=%zu wait_ready=%d gap_factor=%g",
               (unsigned long long)self->publisher, self->nsources,
               self->partitions, self->batch_size, flush, lateness, reorder,
               lw_clean_limits (self->clean), wait_ready, gap_factor);
    return 0;
}

//  --------------------------------------------------------------------------
//  At exit: sends what is batched, waiting a bounded time for room

static void
s_shutdown (self_t *self)
{
    if (!self->configured)
        return;
    for (size_t index = 0; index < self->nsources; index++)
        lw_source_pause (self->sources[index]);
    if (self->reorder)
        s_release_held (self, true);
    for (uint32_t partition = 0; partition < self->partitions; partition++)
        s_flush (self, (uint16_t)partition);
    int64_t deadline = zclock_mono () + S_DRAIN_MS;
    s_drain (self);
    while (self->pending_count && self->can_send && zclock_mono () < deadline) {
        //  Wait for room; reading subscriptions on the way
        zmq_pollitem_t item = {self->pub_handle, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 5) == 1) {
            zframe_t *frame = zframe_recv (self->pub);
            zframe_destroy (&frame);
        }
        s_drain (self);
    }
    uint64_t unsent = 0;
    for (size_t index = 0; index < self->pending_count; index++)
        unsent +=
            self->pending[(self->pending_head + index) % self->pending_size]
                .count;
    if (unsent)
        zsys_warning ("ingest: stopping with unsent readings=%llu",
                      (unsigned long long)unsent);
    s_reject_summary (self, true);
    //  Give libzmq time to hand over what it queued
    zsock_set_linger (self->pub, S_DRAIN_MS);
    zsys_info ("ingest: stopped in=%llu out=%llu",
               (unsigned long long)lw_stats_get (self->stats, self->c_in),
               (unsigned long long)lw_stats_get (self->stats, self->c_out));
}

//  --------------------------------------------------------------------------
//  Pipe: CONFIGURE, COUNTER, $TERM

static int
s_handle_pipe (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    self_t *self = (self_t *)arg;
    zmsg_t *msg = zmsg_recv (reader);
    if (!msg)
        return -1; //  Interrupted
    char *command = zmsg_popstr (msg);
    int rc = 0;
    if (!command)
        ;
    else if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "CONFIGURE")) {
        int result = s_configure (self);
        zsock_signal (self->pipe, result == 0 ? 0 : 1);
    }
    else if (streq (command, "COUNTER")) {
        char *name = zmsg_popstr (msg);
        zstr_sendf (self->pipe, "%llu",
                    name
                        ? (unsigned long long)lw_stats_value (self->stats, name)
                        : 0ULL);
        zstr_free (&name);
    }
    else
        zsys_error ("ingest: unknown pipe command '%s'", command);
    zstr_free (&command);
    zmsg_destroy (&msg);
    return rc;
}

//  --------------------------------------------------------------------------
//  The actor

void
lw_ingest_actor (zsock_t *pipe, void *args)
{
    assert (args);
    self_t *self = s_self_new (pipe, (lw_actor_args_t *)args);
    zloop_reader (self->loop, pipe, s_handle_pipe, self);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    s_shutdown (self);
    s_self_destroy (&self);
}
