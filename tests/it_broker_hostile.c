/*  =========================================================================
    it_broker_hostile.c - malformed input on every bound socket of lw-broker

    Copyright (c) the linewatch authors. MIT license.

    Starts lw-broker alone and, on each stream's XSUB (readings_in,
    features_in, events_in), sends: a lone truncated msgpack frame, the
    wrong frame counts (1 and 3), a 3-byte partition frame, an oversized
    frame (libzmq drops the connection: we reconnect with a fresh socket),
    and a flood of random garbage. Each stream's XPUB gets non-subscription
    frames. The coordinator ROUTER gets truncated msgpack, a wrong frame
    count, a bad frame, an oversized frame, control kinds it does not take,
    a HELLO without a name and a garbage flood. After each, the broker must
    still answer STATUS and PING, must have counted exactly the drops, and
    a valid message sent afterwards must still reach a subscriber.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <zmq.h>

#define START_DEADLINE 20000 //  ms for the broker to come up (ASan)
#define STATUS_TIMEOUT 2000  //  ms per STATUS call
#define COUNT_DEADLINE 5000  //  ms for a counter to be reported
#define FLOOD 1000           //  Garbage messages per socket

typedef struct {
    lw_testnode_t *node; //  The node under test
    const char *name;    //  Broker counter
    long long expect;    //  Value it must reach
    long long value;     //  Last value seen
} counter_t;

//  --------------------------------------------------------------------------
//  True when the broker answers STATUS

static bool
s_answers (void *arg)
{
    zlistx_t *members = lw_test_members ((lw_testnode_t *)arg, STATUS_TIMEOUT);
    bool answered = members != NULL;
    zlistx_destroy (&members);
    return answered;
}

//  --------------------------------------------------------------------------
//  Sum of the broker's counters whose name starts with prefix; -1 when it
//  does not answer

static long long
s_broker_sum (lw_testnode_t *node, const char *prefix)
{
    zlistx_t *members = lw_test_members (node, STATUS_TIMEOUT);
    if (!members)
        return -1;
    long long sum = 0;
    for (lw_ctrl_t *member = (lw_ctrl_t *)zlistx_first (members); member;
         member = (lw_ctrl_t *)zlistx_next (members))
        if (streq (member->group, "broker"))
            for (uint32_t index = 0; index < member->nstats; index++)
                if (strncmp (member->stats[index].name, prefix,
                             strlen (prefix)) == 0)
                    sum += (long long)member->stats[index].value;
    zlistx_destroy (&members);
    return sum;
}

//  --------------------------------------------------------------------------
//  True when the counter (prefix sum) has reached its expected value

static bool
s_counter_reached (void *arg)
{
    counter_t *counter = (counter_t *)arg;
    counter->value = s_broker_sum (counter->node, counter->name);
    return counter->value >= counter->expect;
}

//  --------------------------------------------------------------------------
//  Asserts that a counter reaches exactly `expect` (drops are counted once
//  each, and nothing else is counted as that reason)

static void
s_expect (lw_testnode_t *node, const char *name, long long expect)
{
    counter_t counter = {node, name, expect, 0};
    bool reached = lw_test_wait (s_counter_reached, &counter, COUNT_DEADLINE);
    if (!reached || counter.value != expect) {
        fprintf (stderr, "it_broker_hostile: %s=%lld, expected %lld\n", name,
                 counter.value, expect);
        assert (false);
    }
}

//  --------------------------------------------------------------------------
//  Sends frames as one message

static void
s_send (zsock_t *sock, int frames, const void **data, const size_t *sizes)
{
    for (int index = 0; index < frames; index++) {
        zframe_t *frame = zframe_new (data[index], sizes[index]);
        assert (frame);
        int rc =
            zframe_send (&frame, sock, index + 1 < frames ? ZFRAME_MORE : 0);
        assert (rc == 0);
    }
}

//  --------------------------------------------------------------------------
//  A publisher on a broker XSUB: an XPUB that has received the broker's
//  subscribe-to-everything (so nothing we send is filtered away)

static zsock_t *
s_publisher (const char *endpoint)
{
    zsock_t *pub = zsock_new (ZMQ_XPUB);
    assert (pub);
    zsock_set_xpub_nodrop (pub, 1);
    int rc = zsock_connect (pub, "%s", endpoint);
    assert (rc == 0);
    zpoller_t *poller = zpoller_new (pub, NULL);
    assert (poller);
    void *which = zpoller_wait (poller, START_DEADLINE);
    assert (which == pub);
    zpoller_destroy (&poller);
    zframe_t *frame = zframe_recv (pub);
    assert (frame && zframe_size (frame) == 1 && zframe_data (frame)[0] == 1);
    zframe_destroy (&frame);
    return pub;
}

//  --------------------------------------------------------------------------
//  Sends a valid message of partition 7 on pub until sub receives it (the
//  subscription travels asynchronously). Returns true when it arrived.

static bool
s_delivered (zsock_t *pub, zsock_t *sub, const char *body)
{
    const void *data[2] = {"\x00\x07", body};
    size_t sizes[2] = {2, strlen (body)};
    zpoller_t *poller = zpoller_new (sub, NULL);
    assert (poller);
    bool arrived = false;
    int64_t deadline = lw_time_mono () + COUNT_DEADLINE * LW_NS_PER_MS;
    while (!arrived && lw_time_mono () < deadline) {
        s_send (pub, 2, data, sizes);
        while (!arrived && zpoller_wait (poller, 100) == sub) {
            zmsg_t *msg = zmsg_recv (sub);
            arrived =
                zmsg_size (msg) == 2 && zframe_streq (zmsg_last (msg), body);
            zmsg_destroy (&msg);
        }
    }
    zpoller_destroy (&poller);
    return arrived;
}

//  --------------------------------------------------------------------------
//  A frame larger than LW_MAX_FRAME_SIZE; caller frees

static void *
s_oversized (size_t *size)
{
    *size = LW_MAX_FRAME_SIZE + 1;
    void *data = calloc (1, *size);
    assert (data);
    return data;
}

//  --------------------------------------------------------------------------
//  Every hostile case on one stream's XSUB and XPUB

static void
s_attack_stream (lw_testnode_t *node, const char *stream, const char *in,
                 const char *out)
{
    printf ("it_broker_hostile: stream %s\n", stream);
    char name[64];
    zsock_t *sub = zsock_new (ZMQ_SUB);
    assert (sub);
    zsock_set_rcvhwm (sub, 100000);
    int rc = zsock_connect (sub, "%s", out);
    assert (rc == 0);
    rc = zmq_setsockopt (zsock_resolve (sub), ZMQ_SUBSCRIBE, "\x00\x07", 2);
    assert (rc == 0);
    zsock_t *pub = s_publisher (in);
    assert (s_delivered (pub, sub, "before"));

    long long drops = 0;
    //  A lone truncated msgpack body (no partition frame)
    const void *truncated[1] = {"\x96\x01\x01\xcf"};
    size_t truncated_size[1] = {4};
    s_send (pub, 1, truncated, truncated_size);
    drops++;
    //  Wrong frame counts: 1 (partition only) and 3
    const void *lone[1] = {"\x00\x07"};
    size_t lone_size[1] = {2};
    s_send (pub, 1, lone, lone_size);
    drops++;
    const void *three[3] = {"\x00\x07", "\x91\x01", "extra"};
    size_t three_sizes[3] = {2, 2, 5};
    s_send (pub, 3, three, three_sizes);
    drops++;
    //  A 3-byte partition frame, and an empty one
    const void *wide[2] = {"\x00\x00\x07", "\x91\x01"};
    size_t wide_sizes[2] = {3, 2};
    s_send (pub, 2, wide, wide_sizes);
    drops++;
    const void *empty[2] = {"", "\x91\x01"};
    size_t empty_sizes[2] = {0, 2};
    s_send (pub, 2, empty, empty_sizes);
    drops++;
    snprintf (name, sizeof (name), "%s_drop_envelope", stream);
    s_expect (node, name, drops);
    assert (s_delivered (pub, sub, "after-envelope"));

    //  Oversized: libzmq drops the connection at ZMQ_MAXMSGSIZE; nothing
    //  reaches the broker, which keeps serving. A fresh socket after.
    size_t big_size;
    void *big = s_oversized (&big_size);
    const void *oversized[2] = {"\x00\x07", big};
    size_t oversized_sizes[2] = {2, big_size};
    s_send (pub, 2, oversized, oversized_sizes);
    free (big);
    assert (lw_test_wait (s_answers, node, STATUS_TIMEOUT));
    zsock_destroy (&pub);
    pub = s_publisher (in);
    assert (s_delivered (pub, sub, "after-oversized"));

    //  A flood of random messages: 1..4 frames of 0..40 random bytes.
    //  Exactly those with 2 frames and a 2-byte first frame are valid.
    for (int count = 0; count < FLOOD; count++) {
        int frames = 1 + randof (4);
        uint8_t bytes[4][40];
        const void *data[4];
        size_t sizes[4];
        for (int index = 0; index < frames; index++) {
            sizes[index] = (size_t)randof (41);
            for (size_t at = 0; at < sizes[index]; at++)
                bytes[index][at] = (uint8_t)randof (256);
            data[index] = bytes[index];
        }
        if (!(frames == 2 && sizes[0] == 2))
            drops++;
        s_send (pub, frames, data, sizes);
    }
    s_expect (node, name, drops);
    assert (s_delivered (pub, sub, "after-flood"));

    //  The XPUB side: a peer sending frames that are not (un)subscribe
    zsock_t *peer = zsock_new (ZMQ_XSUB);
    assert (peer);
    rc = zsock_connect (peer, "%s", out);
    assert (rc == 0);
    for (int count = 0; count < 10; count++) {
        const void *junk[1] = {"\x05junk"};
        size_t junk_size[1] = {5};
        s_send (peer, 1, junk, junk_size);
    }
    snprintf (name, sizeof (name), "%s_drop_subscription", stream);
    s_expect (node, name, 10);
    zsock_destroy (&peer);
    assert (s_delivered (pub, sub, "after-xpub"));

    zsock_destroy (&pub);
    zsock_destroy (&sub);
}

//  --------------------------------------------------------------------------
//  Sends a control message of `kind` with the given group and name

static void
s_send_ctrl (zsock_t *dealer, uint8_t kind, const char *group, const char *name)
{
    lw_ctrl_t *ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    ctrl->kind = kind;
    snprintf (ctrl->group, sizeof (ctrl->group), "%s", group);
    snprintf (ctrl->name, sizeof (ctrl->name), "%s", name);
    zframe_t *frame = lw_msg_ctrl_encode (ctrl);
    free (ctrl);
    assert (frame);
    int rc = zframe_send (&frame, dealer, 0);
    assert (rc == 0);
}

//  --------------------------------------------------------------------------
//  True when PING gets PONG on a fresh DEALER

static bool
s_pongs (const lw_node_t *settings)
{
    lw_ctrl_t *ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    ctrl->kind = LW_CTRL_PING;
    zframe_t *frame = lw_msg_ctrl_encode (ctrl);
    assert (frame);
    zmsg_t *request = zmsg_new ();
    zmsg_append (request, &frame);
    zmsg_t *reply =
        lw_test_call (settings->coordinator, &request, STATUS_TIMEOUT);
    bool pong = false;
    if (reply && zmsg_size (reply) == 1) {
        frame = zmsg_first (reply);
        pong = lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                   ctrl) == 0 &&
               ctrl->kind == LW_CTRL_PONG;
    }
    zmsg_destroy (&reply);
    free (ctrl);
    return pong;
}

//  --------------------------------------------------------------------------
//  Every hostile case on the coordinator ROUTER

static void
s_attack_coordinator (lw_testnode_t *node)
{
    printf ("it_broker_hostile: coordinator\n");
    const lw_node_t *settings = lw_testnode_node (node);
    zsock_t *dealer = zsock_new_dealer (settings->coordinator);
    assert (dealer);
    long long drops = 0;
    //  Truncated msgpack: a control array that ends early
    const void *truncated[1] = {"\x98\x01\x08\x01"};
    size_t truncated_size[1] = {4};
    s_send (dealer, 1, truncated, truncated_size);
    drops++;
    //  Wrong frame count (the ROUTER sees 3 frames)
    const void *two[2] = {"\x91\x01", "\x91\x01"};
    size_t two_sizes[2] = {2, 2};
    s_send (dealer, 2, two, two_sizes);
    drops++;
    //  A 3-byte frame that is not msgpack at all, and an empty frame
    const void *bad[1] = {"\xc1\xc1\xc1"};
    size_t bad_size[1] = {3};
    s_send (dealer, 1, bad, bad_size);
    drops++;
    const void *empty[1] = {""};
    size_t empty_size[1] = {0};
    s_send (dealer, 1, empty, empty_size);
    drops++;
    //  Valid controls the broker does not take, and a nameless HELLO
    s_send_ctrl (dealer, LW_CTRL_ASSIGN, "scorer", "x");
    s_send_ctrl (dealer, LW_CTRL_MEMBER, "scorer", "x");
    s_send_ctrl (dealer, LW_CTRL_HELLO, "scorer", "");
    drops += 3;
    s_expect (node, "coord_drop_", drops);
    s_expect (node, "coord_drop_bad_kind", 2);
    s_expect (node, "coord_drop_bad_member", 1);
    s_expect (node, "coord_drop_envelope", 1);
    assert (s_pongs (settings));

    //  Oversized: the connection is dropped; a fresh socket after
    size_t big_size;
    void *big = s_oversized (&big_size);
    const void *oversized[1] = {big};
    s_send (dealer, 1, oversized, &big_size);
    free (big);
    zsock_destroy (&dealer);
    assert (s_pongs (settings));
    dealer = zsock_new_dealer (settings->coordinator);
    assert (dealer);

    //  A flood of random frames (a control message is a 10-item
    //  fixarray, 0x9a: never start with it, so none can decode)
    for (int count = 0; count < FLOOD; count++) {
        uint8_t bytes[40];
        size_t size = 1 + (size_t)randof (40);
        for (size_t at = 0; at < size; at++)
            bytes[at] = (uint8_t)randof (256);
        if (bytes[0] == 0x9a)
            bytes[0] = 0xc1; //  Never a control message
        const void *data[1] = {bytes};
        s_send (dealer, 1, data, &size);
        drops++;
    }
    s_expect (node, "coord_drop_", drops);
    assert (s_pongs (settings));
    //  A real member can still join
    s_send_ctrl (dealer, LW_CTRL_HELLO, "ingest", "hostile-test");
    s_expect (node, "members", 1);
    zsock_destroy (&dealer);
}

int
main (void)
{
    zsys_init ();
    const char *overrides[] = {NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    assert (lw_test_wait (s_answers, node, START_DEADLINE));

    s_attack_stream (node, "readings", settings->readings_in,
                     settings->readings_out);
    s_attack_stream (node, "features", settings->features_in,
                     settings->features_out);
    s_attack_stream (node, "events", settings->events_in, settings->events_out);
    s_attack_coordinator (node);

    //  Nothing valid was ever dropped: every drop was a bad envelope or a
    //  bad coordinator frame, and the broker is still there
    assert (s_broker_sum (node, "readings_send_failed") == 0);
    assert (lw_testnode_alive (node, broker));
    assert (s_pongs (settings));
    lw_testnode_destroy (&node);
    printf ("it_broker_hostile: OK\n");
    return 0;
}
