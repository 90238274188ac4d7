/*  =========================================================================
    it_ingest.c - lw-ingest as a process: READY, no gaps, hostile gateway

    Copyright (c) the linewatch authors. MIT license.

    Starts lw-broker, lw-features and lw-scorer (the subscribers the
    broker needs before it says READY) and lw-ingest with a small paced
    simulator on a temporary home, and checks:
      - readings arrive at a subscriber of the broker's readings XPUB with
        one publisher, per-partition sequences without gaps, every reading
        in its key's partition;
      - the gateway PULL survives hostile input: a truncated frame,
        trailing bytes, `dd ff ff ff ff`, 33-deep nesting, an unknown
        version, wrong types, another batch kind, wrong frame counts, a
        bad partition frame, an oversized frame (libzmq drops that peer;
        we reconnect) and a garbage flood. Each is counted by reason in
        lw-ingest's heartbeat counters, the process stays up, and a good
        batch sent afterwards reaches the subscriber.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <signal.h>

#define START_DEADLINE 20000 //  ms for the node to come up (ASan)
#define RECV_TIMEOUT 5000    //  ms per batch at the subscriber
#define COUNT_DEADLINE 5000  //  ms for a counter to be reported
#define FLOOD 500            //  Garbage messages

typedef struct {
    lw_testnode_t *node; //  The node under test
    const char *name;    //  lw-ingest counter
    long long expect;    //  Value it must reach
    long long value;     //  Last value seen
} counter_t;

//  --------------------------------------------------------------------------
//  True when the ingest counter has reached its expected value

static bool
s_counter_reached (void *arg)
{
    counter_t *counter = (counter_t *)arg;
    counter->value =
        lw_test_counter (counter->node, "ingest", counter->name, 1000);
    return counter->value >= counter->expect;
}

//  --------------------------------------------------------------------------
//  True when the sum of lw-ingest's counters named drop_* has reached
//  the expected value

static bool
s_drops_reached (void *arg)
{
    counter_t *counter = (counter_t *)arg;
    zlistx_t *members = lw_test_members (counter->node, 1000);
    if (!members)
        return false;
    long long sum = 0;
    for (lw_ctrl_t *member = (lw_ctrl_t *)zlistx_first (members); member;
         member = (lw_ctrl_t *)zlistx_next (members))
        if (streq (member->group, "ingest"))
            for (uint32_t index = 0; index < member->nstats; index++)
                if (strncmp (member->stats[index].name, counter->name,
                             strlen (counter->name)) == 0)
                    sum += (long long)member->stats[index].value;
    zlistx_destroy (&members);
    counter->value = sum;
    return sum >= counter->expect;
}

//  --------------------------------------------------------------------------
//  Asserts that an ingest counter reaches exactly `expect`

static void
s_expect_counter (lw_testnode_t *node, const char *name, long long expect)
{
    counter_t counter = {node, name, expect, 0};
    bool reached = lw_test_wait (s_counter_reached, &counter, COUNT_DEADLINE);
    if (!reached || counter.value != expect)
        fprintf (stderr, "it_ingest: counter %s = %lld, expected %lld\n", name,
                 counter.value, expect);
    assert (reached && counter.value == expect);
}

//  --------------------------------------------------------------------------
//  Sends raw bytes as one frame

static void
s_push_bytes (zsock_t *push, const void *data, size_t size)
{
    zframe_t *frame = zframe_new (data, size);
    assert (frame);
    assert (zframe_send (&frame, push, 0) == 0);
}

//  --------------------------------------------------------------------------
//  Encodes a one-reading batch of `kind`; caller destroys the frame

static zframe_t *
s_encode_one (lw_msg_type_t kind, const char *sensor, int64_t time,
              double value)
{
    lw_batch_t *batch = lw_batch_new (kind);
    assert (batch);
    lw_item_t *item = lw_batch_add (batch, sensor);
    assert (item);
    item->time = time;
    item->value = value;
    zframe_t *frame = lw_batch_encode (batch);
    assert (frame);
    lw_batch_destroy (&batch);
    return frame;
}

int
main (void)
{
    zsys_init ();
    const char *overrides[] = {
        "ingest/source/sim/machines=4", "ingest/source/sim/sensors=5",
        "ingest/source/sim/rate=2000", "common/partitions=16", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t features = lw_testnode_spawn (node, "lw-features", NULL);
    pid_t scorer = lw_testnode_spawn (node, "lw-scorer", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);
    assert (broker > 0 && features > 0 && scorer > 0 && ingest > 0);

    //  Everything published reaches a subscriber of every partition
    zsock_t *sub = zsock_new (ZMQ_SUB);
    assert (sub);
    zsock_set_rcvhwm (sub, 100000);
    zsock_set_subscribe (sub, "");
    assert (zsock_connect (sub, "%s", settings->readings_out) == 0);
    zpoller_t *poller = zpoller_new (sub, NULL);
    assert (poller);

    //  Readings flow once the broker is READY, without gaps
    uint64_t sequences[16] = {0};
    uint64_t publisher = 0;
    size_t received = 0;
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (batch);
    int64_t deadline = zclock_mono () + START_DEADLINE;
    while (received < 2000) {
        assert (zclock_mono () < deadline);
        if (zpoller_wait (poller, RECV_TIMEOUT) != sub)
            continue;
        zmsg_t *msg = zmsg_recv (sub);
        assert (msg);
        uint16_t partition;
        assert (lw_msg_envelope (msg, &partition) == 0);
        assert (partition < 16);
        zframe_t *body = zmsg_last (msg);
        //  Gap events (lw-ingest's sensor_gaps) share the readings stream
        lw_gap_t gap;
        if (lw_msg_gap_decode (zframe_data (body), zframe_size (body), &gap) ==
            0) {
            zmsg_destroy (&msg);
            continue;
        }
        assert (lw_batch_decode (batch, zframe_data (body),
                                 zframe_size (body)) == 0);
        if (publisher == 0)
            publisher = lw_batch_publisher (batch);
        assert (lw_batch_publisher (batch) == publisher);
        //  The subscriber may join after the first batches went out
        if (sequences[partition])
            assert (lw_batch_sequence (batch) == sequences[partition] + 1);
        sequences[partition] = lw_batch_sequence (batch);
        for (size_t index = 0; index < lw_batch_count (batch); index++)
            assert (lw_partition (lw_batch_item (batch, index)->sensor, 16) ==
                    partition);
        received += lw_batch_count (batch);
        zmsg_destroy (&msg);
    }

    //  Hostile input on the gateway
    zsock_t *push = zsock_new_push (settings->gateway);
    assert (push);
    int64_t now = lw_time_now ();
    zframe_t *good = s_encode_one (LW_MSG_READINGS, "it/gw/x", now, 1.0);
    size_t size = zframe_size (good);
    uint8_t *bytes = (uint8_t *)malloc (size + 1);
    assert (bytes);
    memcpy (bytes, zframe_data (good), size);
    bytes[size] = 0xc0;
    s_push_bytes (push, bytes, size - 1);            //  truncated
    s_push_bytes (push, bytes, size + 1);            //  trailing
    uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff}; //  bad_length
    s_push_bytes (push, huge, sizeof (huge));
    uint8_t deep[40]; //  too_deep
    memset (deep, 0x91, 33);
    deep[33] = 0x01;
    s_push_bytes (push, deep, 34);
    assert (bytes[0] == 0x97 && bytes[1] == 0x01); //  [1, 1, ...]
    bytes[1] = 0x02;                               //  bad_version
    s_push_bytes (push, bytes, size);
    bytes[1] = 0xc2; //  Version is a bool
    s_push_bytes (push, bytes, size);
    free (bytes);
    zframe_t *features_batch =
        s_encode_one (LW_MSG_FEATURES, "it/gw/x", now, 1.0);
    assert (zframe_send (&features_batch, push, 0) == 0); //  bad_type
    zmsg_t *msg = zmsg_new ();                            //  envelope: 3 frames
    zmsg_addstr (msg, "a");
    zmsg_addstr (msg, "b");
    zmsg_addstr (msg, "c");
    assert (zmsg_send (&msg, push) == 0);
    msg = zmsg_new (); //  envelope: prefix
    zmsg_addstr (msg, "abc");
    zmsg_addstr (msg, "body");
    assert (zmsg_send (&msg, push) == 0);
    s_expect_counter (node, "drop_truncated", 1);
    s_expect_counter (node, "drop_trailing", 1);
    s_expect_counter (node, "drop_too_deep", 1);
    s_expect_counter (node, "drop_envelope", 2);
    //  Nine bad messages, each counted once under some drop_ reason
    counter_t drops = {node, "drop_", 9, 0};
    assert (lw_test_wait (s_drops_reached, &drops, COUNT_DEADLINE));
    assert (drops.value == 9);

    //  Oversized: libzmq drops the connection; use a fresh socket after
    zsock_t *big = zsock_new_push (settings->gateway);
    assert (big);
    zchunk_t *chunk = zchunk_new (NULL, LW_MAX_FRAME_SIZE + 1);
    assert (chunk);
    memset (zchunk_data (chunk), 0x90, LW_MAX_FRAME_SIZE + 1);
    s_push_bytes (big, zchunk_data (chunk), LW_MAX_FRAME_SIZE + 1);
    zchunk_destroy (&chunk);

    //  Garbage flood
    uint64_t state = 0x12345678;
    for (int count = 0; count < FLOOD; count++) {
        uint8_t garbage[64];
        for (size_t index = 0; index < sizeof (garbage); index++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            garbage[index] = (uint8_t)(state >> 56);
        }
        s_push_bytes (push, garbage, 1 + (size_t)(state % 63));
    }

    //  Still alive, and a good batch still gets through
    assert (zframe_send (&good, push, 0) == 0);
    bool seen = false;
    deadline = zclock_mono () + START_DEADLINE;
    while (!seen) {
        assert (zclock_mono () < deadline);
        if (zpoller_wait (poller, RECV_TIMEOUT) != sub)
            continue;
        msg = zmsg_recv (sub);
        assert (msg);
        zframe_t *body = zmsg_last (msg);
        //  Gap events (lw-ingest's sensor_gaps) share the readings stream
        lw_gap_t gap;
        if (lw_msg_gap_decode (zframe_data (body), zframe_size (body), &gap) ==
            0) {
            zmsg_destroy (&msg);
            continue;
        }
        assert (lw_batch_decode (batch, zframe_data (body),
                                 zframe_size (body)) == 0);
        for (size_t index = 0; index < lw_batch_count (batch); index++)
            if (streq (lw_batch_item (batch, index)->sensor, "it/gw/x"))
                seen = true;
        zmsg_destroy (&msg);
    }
    assert (lw_testnode_alive (node, ingest));
    long long in = lw_test_counter (node, "ingest", "in", 1000);
    long long out = lw_test_counter (node, "ingest", "out", 1000);
    assert (in > 0 && out > 0);

    lw_batch_destroy (&batch);
    zsock_destroy (&big);
    zsock_destroy (&push);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    assert (lw_testnode_kill (node, ingest, SIGTERM) == 0);
    lw_testnode_kill (node, scorer, SIGTERM);
    lw_testnode_kill (node, features, SIGTERM);
    lw_testnode_kill (node, broker, SIGTERM);
    lw_testnode_destroy (&node);
    printf ("it_ingest: OK\n");
    return 0;
}
