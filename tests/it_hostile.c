/*  =========================================================================
    it_hostile.c - hostile input on every bound socket, with the data sent
                   before and after it all processed

    Copyright (c) the linewatch authors. MIT license.

    Fills what it_broker_hostile, it_ingest and it_feedback leave out.
    Starts lw-broker, lw-ingest (a tiny simulator, wait_ready off) and
    lw-feedback on a temporary home, then:
      - ingest gateway: 200 readings, then each hostile case (truncated,
        trailing bytes, dd ff ff ff ff, 33-deep nesting, wrong types,
        unknown version, another batch kind, wrong frame count), each
        counted once under its reason; an oversized frame, counted in
        "disconnects" through lw-ingest's socket monitor; a flood of
        10,000 garbage frames at full speed, all counted; then 200
        readings on a fresh connection. Every one of the 400 readings
        reaches a subscriber of the broker, and lw-ingest still answers.
      - broker: an oversized frame on the readings XSUB and on the
        coordinator ROUTER, each counted (readings_disconnects,
        coord_disconnects) while the broker keeps answering STATUS.
      - feedback API: wrong types, unknown version, an oversized request
        (disconnects), a garbage flood at full speed, all counted by
        reason; the alert stored before is still listed and one published
        after is stored.
    Counters are read on one long-lived connection, so that the reading
    itself opens and closes no connection that would be counted.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <zmq.h>

#define START_DEADLINE 20000    //  ms for the node to come up (ASan)
#define COUNT_DEADLINE 10000    //  ms for a counter to be reported
#define CALL_TIMEOUT 5000       //  ms per request
#define READINGS 200            //  Readings before, and after
#define FLOOD 10000             //  Garbage frames per socket

typedef struct {
    lw_testnode_t *node;
    zsock_t *coordinator;       //  Long-lived DEALER to the broker
    zsock_t *api;               //  Long-lived DEALER to lw-feedback
    const char *group;          //  Member group, "broker" or "api"
    const char *name;           //  Counter name, or prefix with '*'
    long long expect;           //  Value to reach
    long long value;            //  Last value read
} counter_t;

//  --------------------------------------------------------------------------
//  Sends a request on a long-lived DEALER and returns the reply (bounded
//  wait), or NULL

static zmsg_t *
s_call (zsock_t *dealer, zmsg_t **request_p)
{
    assert (zmsg_send (request_p, dealer) == 0);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    zmsg_t *reply = NULL;
    if (zpoller_wait (poller, CALL_TIMEOUT) == dealer)
        reply = zmsg_recv (dealer);
    zpoller_destroy (&poller);
    return reply;
}

//  --------------------------------------------------------------------------
//  Sum of the counters matching `name` (exact, or a prefix ending in '*')
//  in one control message

static long long
s_ctrl_sum (const lw_ctrl_t *ctrl, const char *name)
{
    size_t length = strlen (name);
    bool prefix = length > 0 && name[length - 1] == '*';
    long long sum = 0;
    for (uint32_t index = 0; index < ctrl->nstats; index++)
        if (prefix ? strncmp (ctrl->stats[index].name, name, length - 1) == 0
                   : streq (ctrl->stats[index].name, name))
            sum += (long long) ctrl->stats[index].value;
    return sum;
}

//  --------------------------------------------------------------------------
//  A counter of a member (group "broker", "ingest") via the broker's
//  STATUS, or of lw-feedback (group "api") via its STATS; -1 when there
//  is no answer

static long long
s_read (counter_t *counter)
{
    lw_ctrl_t *ctrl = (lw_ctrl_t *) zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    zmsg_t *request = zmsg_new ();
    zframe_t *frame;
    zsock_t *dealer;
    if (streq (counter->group, "api")) {
        lw_request_t op;
        memset (&op, 0, sizeof (op));
        op.op = LW_OP_STATS;
        frame = lw_msg_request_encode (&op);
        dealer = counter->api;
    }
    else {
        ctrl->kind = LW_CTRL_STATUS;
        frame = lw_msg_ctrl_encode (ctrl);
        dealer = counter->coordinator;
    }
    zmsg_append (request, &frame);
    zmsg_t *reply = s_call (dealer, &request);
    long long value = -1;
    if (reply) {
        value = 0;
        zframe_t *part = zmsg_first (reply);
        bool header = true;
        for (; part; part = zmsg_next (reply)) {
            if (header) {       //  The lw_reply_t frame
                header = false;
                continue;
            }
            if (lw_msg_ctrl_decode (zframe_data (part), zframe_size (part),
                                    ctrl) != 0)
                continue;
            if (streq (counter->group, "api")
                || streq (ctrl->group, counter->group))
                value += s_ctrl_sum (ctrl, counter->name);
        }
        zmsg_destroy (&reply);
    }
    free (ctrl);
    return value;
}

//  --------------------------------------------------------------------------
//  Condition: the counter has reached its expected value

static bool
s_reached (void *arg)
{
    counter_t *counter = (counter_t *) arg;
    counter->value = s_read (counter);
    return counter->value >= counter->expect;
}

//  --------------------------------------------------------------------------
//  Asserts that a counter goes from `before` up by exactly `delta`

static void
s_expect (counter_t *counter, const char *group, const char *name,
          long long before, long long delta)
{
    counter->group = group;
    counter->name = name;
    counter->expect = before + delta;
    bool reached = lw_test_wait (s_reached, counter, COUNT_DEADLINE);
    printf ("it_hostile: %s %s %lld -> %lld (expected +%lld)\n", group, name,
            before, counter->value, delta);
    if (!reached) {
        char *output = NULL;
        lw_testnode_lwctl (counter->node, CALL_TIMEOUT, &output, "status",
                           "--json", NULL);
        printf ("it_hostile: status: %s\n", output ? output : "none");
        zstr_free (&output);
    }
    assert (reached);
    assert (counter->value == before + delta);
}

//  --------------------------------------------------------------------------
//  Current value of a counter (asserting an answer)

static long long
s_now (counter_t *counter, const char *group, const char *name)
{
    counter->group = group;
    counter->name = name;
    long long value = s_read (counter);
    assert (value >= 0);
    return value;
}

//  --------------------------------------------------------------------------
//  Sends one message of `frames` frames

static void
s_send (zsock_t *sock, int frames, const void *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    for (int frame = 0; frame < frames; frame++)
        zmsg_addmem (msg, data, size);
    assert (zmsg_send (&msg, sock) == 0);
}

//  --------------------------------------------------------------------------
//  A batch of `count` readings of `sensor` from time `start`, 1 ms apart

static zframe_t *
s_batch (lw_msg_type_t kind, const char *sensor, int64_t start, int count)
{
    lw_batch_t *batch = lw_batch_new (kind);
    assert (batch);
    for (int index = 0; index < count; index++) {
        lw_item_t *item = lw_batch_add (batch, sensor);
        assert (item);
        item->time = start + index * LW_NS_PER_MS;
        item->value = index;
    }
    zframe_t *frame = lw_batch_encode (batch);
    assert (frame);
    lw_batch_destroy (&batch);
    return frame;
}

//  --------------------------------------------------------------------------
//  Random garbage of 1..64 bytes that is never a valid message (the first
//  byte is not the fixarray header of any message)

static size_t
s_garbage (uint64_t *state, uint8_t *bytes)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t size = 1 + (size_t) (*state >> 58);
    for (size_t index = 0; index < size; index++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        bytes[index] = (uint8_t) (*state >> 56);
    }
    if ((bytes[0] & 0xf0) == 0x90)
        bytes[0] = 0xc1;        //  "never used" in msgpack
    return size;
}

//  --------------------------------------------------------------------------
//  Receives readings from the broker until `expect` readings of sensors
//  starting with `prefix` were seen (or the deadline passes); returns
//  the count

static int
s_receive (zsock_t *sub, const char *prefix, int expect)
{
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    int seen = 0;
    int64_t deadline = zclock_mono () + START_DEADLINE;
    zpoller_t *poller = zpoller_new (sub, NULL);
    while (seen < expect && zclock_mono () < deadline) {
        if (zpoller_wait (poller, 500) != sub)
            continue;
        zmsg_t *msg = zmsg_recv (sub);
        assert (msg);
        zframe_t *body = zmsg_last (msg);
        if (lw_batch_decode (batch, zframe_data (body), zframe_size (body))
            == 0)
            for (size_t index = 0; index < lw_batch_count (batch); index++)
                if (strncmp (lw_batch_item (batch, index)->sensor, prefix,
                             strlen (prefix))
                    == 0)
                    seen++;
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    lw_batch_destroy (&batch);
    return seen;
}

//  One hostile message and the counter it must raise by one
typedef struct {
    const char *reason;         //  Counter, "drop_<reason>"
    const void *data;           //  Frame bytes
    size_t size;
    int frames;                 //  Sent as this many copies of the frame
} hostile_case_t;

//  --------------------------------------------------------------------------
//  The ingest gateway

static void
s_attack_gateway (lw_testnode_t *node, counter_t *counter, zsock_t *sub)
{
    const lw_node_t *settings = lw_testnode_node (node);
    int64_t now = lw_time_now ();
    zsock_t *push = zsock_new_push (settings->gateway);
    assert (push);
    //  Readings before: two batches of 100
    for (int half = 0; half < 2; half++) {
        zframe_t *frame = s_batch (LW_MSG_READINGS, "hostile/before",
                                   now + half * 100 * LW_NS_PER_MS,
                                   READINGS / 2);
        assert (zframe_send (&frame, push, 0) == 0);
    }
    assert (s_receive (sub, "hostile/before", READINGS) == READINGS);

    //  Each case counted once under its reason
    zframe_t *good = s_batch (LW_MSG_READINGS, "hostile/x", now, 1);
    size_t size = zframe_size (good);
    uint8_t *bytes = (uint8_t *) malloc (size + 1);
    assert (bytes);
    memcpy (bytes, zframe_data (good), size);
    bytes[size] = 0xc0;
    hostile_case_t cases[10];
    int ncases = 0;
    uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    uint8_t deep[34];
    memset (deep, 0x91, 33);
    deep[33] = 0x01;
    uint8_t *version = (uint8_t *) malloc (size);
    uint8_t *types = (uint8_t *) malloc (size);
    assert (version && types);
    memcpy (version, bytes, size);
    memcpy (types, bytes, size);
    assert (bytes[0] == 0x97 && bytes[1] == 0x01);
    version[1] = 0x02;          //  Version 2
    types[2] = 0xa1;            //  Type is a one-byte string: "\x01"...
    zframe_t *features = s_batch (LW_MSG_FEATURES, "hostile/x", now, 1);
    cases[ncases++] = (hostile_case_t) {"drop_truncated", bytes, size - 1, 1};
    cases[ncases++] = (hostile_case_t) {"drop_trailing", bytes, size + 1, 1};
    cases[ncases++] = (hostile_case_t) {"drop_bad_length", huge, 5, 1};
    cases[ncases++] = (hostile_case_t) {"drop_too_deep", deep, 34, 1};
    cases[ncases++] = (hostile_case_t) {"drop_bad_version", version, size, 1};
    cases[ncases++] = (hostile_case_t) {"drop_bad_type",
                                           zframe_data (features),
                                           zframe_size (features), 1};
    cases[ncases++] = (hostile_case_t) {"drop_envelope", bytes, size, 3};
    for (int index = 0; index < ncases; index++) {
        long long before = s_now (counter, "ingest", cases[index].reason);
        s_send (push, cases[index].frames, cases[index].data,
                cases[index].size);
        s_expect (counter, "ingest", cases[index].reason, before, 1);
    }
    //  Wrong types: counted as wrong_type or a neighbouring reason, once
    long long before = s_now (counter, "ingest", "drop_*");
    s_send (push, 1, types, size);
    s_expect (counter, "ingest", "drop_*", before, 1);

    //  Oversized: libzmq drops the connection; the monitor counts it
    before = s_now (counter, "ingest", "disconnects");
    zsock_t *big = zsock_new_push (settings->gateway);
    assert (big);
    zchunk_t *chunk = zchunk_new (NULL, LW_MAX_FRAME_SIZE + 1);
    memset (zchunk_data (chunk), 0x90, LW_MAX_FRAME_SIZE + 1);
    s_send (big, 1, zchunk_data (chunk), LW_MAX_FRAME_SIZE + 1);
    zchunk_destroy (&chunk);
    s_expect (counter, "ingest", "disconnects", before, 1);

    //  Garbage flood at full speed (PUSH blocks at the HWM: backpressure)
    before = s_now (counter, "ingest", "drop_*");
    uint64_t state = 0x5eed;
    uint8_t garbage[64];
    for (int count = 0; count < FLOOD; count++)
        s_send (push, 1, garbage, s_garbage (&state, garbage));
    s_expect (counter, "ingest", "drop_*", before, FLOOD);

    //  Readings after, on a fresh connection
    zsock_t *after = zsock_new_push (settings->gateway);
    assert (after);
    for (int half = 0; half < 2; half++) {
        zframe_t *frame = s_batch (LW_MSG_READINGS, "hostile/after",
                                   lw_time_now () + half * 100 * LW_NS_PER_MS,
                                   READINGS / 2);
        assert (zframe_send (&frame, after, 0) == 0);
    }
    assert (s_receive (sub, "hostile/after", READINGS) == READINGS);
    printf ("it_hostile: gateway: %d readings before and %d after all "
            "received\n", READINGS, READINGS);

    zsock_destroy (&after);
    zsock_destroy (&big);
    zsock_destroy (&push);
    zframe_destroy (&good);
    zframe_destroy (&features);
    free (bytes);
    free (version);
    free (types);
}

//  --------------------------------------------------------------------------
//  The broker: oversized frames on the readings XSUB and the coordinator

static void
s_attack_broker (lw_testnode_t *node, counter_t *counter)
{
    const lw_node_t *settings = lw_testnode_node (node);
    zchunk_t *chunk = zchunk_new (NULL, LW_MAX_FRAME_SIZE + 1);
    memset (zchunk_data (chunk), 0x90, LW_MAX_FRAME_SIZE + 1);

    long long before = s_now (counter, "broker", "readings_disconnects");
    zsock_t *pub = zsock_new (ZMQ_XPUB);
    assert (pub);
    assert (zsock_connect (pub, "%s", settings->readings_in) == 0);
    //  The broker's XSUB subscribes to everything once connected
    zframe_t *subscription = zframe_recv (pub);
    assert (subscription);
    zframe_destroy (&subscription);
    uint8_t partition[2] = {0, 1};
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, partition, 2);
    zmsg_addmem (msg, zchunk_data (chunk), LW_MAX_FRAME_SIZE + 1);
    assert (zmsg_send (&msg, pub) == 0);
    s_expect (counter, "broker", "readings_disconnects", before, 1);

    before = s_now (counter, "broker", "coord_disconnects");
    zsock_t *dealer = zsock_new_dealer (settings->coordinator);
    assert (dealer);
    s_send (dealer, 1, zchunk_data (chunk), LW_MAX_FRAME_SIZE + 1);
    s_expect (counter, "broker", "coord_disconnects", before, 1);
    zsock_destroy (&dealer);
    zsock_destroy (&pub);
    zchunk_destroy (&chunk);
}

//  --------------------------------------------------------------------------
//  Publishes the OPEN message of an alert episode

static void
s_publish (zsock_t *xpub, uint64_t local_seq)
{
    while (zsock_events (xpub) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (xpub);
        zframe_destroy (&frame);
    }
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    alert.scorer = 42;
    alert.local_seq = local_seq;
    alert.state = LW_ALERT_OPEN;
    snprintf (alert.sensor, sizeof (alert.sensor), "hostile/alert%d",
              (int) local_seq);
    alert.opened = lw_time_now ();
    alert.updated = alert.opened;
    alert.score = 0.9;
    zframe_t *body = lw_msg_alert_encode (&alert);
    assert (lw_msg_send (zsock_resolve (xpub), LW_TOPIC_ALERTS, &body, false)
            == 0);
}

typedef struct {
    lw_testnode_t *node;
    zsock_t *xpub;
    uint64_t local_seq;
} alert_probe_t;

//  --------------------------------------------------------------------------
//  Condition: publishes the episode, true once lwctl lists it

static bool
s_alert_listed (void *arg)
{
    alert_probe_t *probe = (alert_probe_t *) arg;
    s_publish (probe->xpub, probe->local_seq);
    char *output = NULL;
    char sensor[64];
    snprintf (sensor, sizeof (sensor), "hostile/alert%d",
              (int) probe->local_seq);
    bool listed = lw_testnode_lwctl (probe->node, CALL_TIMEOUT, &output,
                                     "alerts", "--json", NULL) == 0
                  && output && strstr (output, sensor);
    zstr_free (&output);
    return listed;
}

//  --------------------------------------------------------------------------
//  The feedback API

static void
s_attack_api (lw_testnode_t *node, counter_t *counter)
{
    const lw_node_t *settings = lw_testnode_node (node);
    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    assert (xpub);
    zsock_set_xpub_nodrop (xpub, 1);
    assert (zsock_connect (xpub, "%s", settings->events_in) == 0);
    alert_probe_t probe = {node, xpub, 1};
    assert (lw_test_wait (s_alert_listed, &probe, START_DEADLINE));

    //  Wrong types and an unknown version, each answered and counted
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_ALERTS;
    zframe_t *frame = lw_msg_request_encode (&request);
    size_t size = zframe_size (frame);
    uint8_t *bytes = (uint8_t *) malloc (size);
    memcpy (bytes, zframe_data (frame), size);
    zframe_destroy (&frame);
    assert (bytes[0] == 0x9b && bytes[1] == 0x01);
    bytes[1] = 0x07;            //  Version 7
    long long before = s_now (counter, "api", "drop_api_bad_version");
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, bytes, size);
    zmsg_t *reply = s_call (counter->api, &msg);
    assert (reply);
    zmsg_destroy (&reply);
    s_expect (counter, "api", "drop_api_bad_version", before, 1);
    bytes[1] = 0x01;
    bytes[2] = 0xc3;            //  Type is `true`
    before = s_now (counter, "api", "drop_api_*");
    msg = zmsg_new ();
    zmsg_addmem (msg, bytes, size);
    reply = s_call (counter->api, &msg);
    assert (reply);
    zmsg_destroy (&reply);
    s_expect (counter, "api", "drop_api_*", before, 1);
    free (bytes);

    //  Oversized: libzmq drops the connection; the monitor counts it
    before = s_now (counter, "api", "disconnects");
    zsock_t *big = zsock_new_dealer (settings->api);
    assert (big);
    zchunk_t *chunk = zchunk_new (NULL, LW_MAX_FRAME_SIZE + 1);
    memset (zchunk_data (chunk), 0x90, LW_MAX_FRAME_SIZE + 1);
    s_send (big, 1, zchunk_data (chunk), LW_MAX_FRAME_SIZE + 1);
    zchunk_destroy (&chunk);
    s_expect (counter, "api", "disconnects", before, 1);

    //  Garbage flood at full speed on another connection; its replies
    //  are left unread (the ROUTER drops what a full peer cannot take)
    before = s_now (counter, "api", "drop_api_*");
    zsock_t *flood = zsock_new_dealer (settings->api);
    assert (flood);
    uint64_t state = 0xf100d;
    uint8_t garbage[64];
    for (int count = 0; count < FLOOD; count++)
        s_send (flood, 1, garbage, s_garbage (&state, garbage));
    s_expect (counter, "api", "drop_api_*", before, FLOOD);

    //  The alert from before is still there, and a new one is stored
    probe.local_seq = 2;
    assert (lw_test_wait (s_alert_listed, &probe, START_DEADLINE));
    char *output = NULL;
    assert (lw_testnode_lwctl (node, CALL_TIMEOUT, &output, "alerts",
                               "--json", NULL) == 0);
    assert (strstr (output, "hostile/alert1") && strstr (output,
                                                         "hostile/alert2"));
    zstr_free (&output);
    printf ("it_hostile: api: alerts before and after listed\n");
    zsock_destroy (&flood);
    zsock_destroy (&big);
    zsock_destroy (&xpub);
}

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);     //  Lines survive an abort
    printf ("it_hostile: hostile input on the gateway, broker and API\n");
    zsys_init ();
    const char *overrides[] = {
        "ingest/source/sim/machines=1", "ingest/source/sim/sensors=1",
        "ingest/source/sim/rate=10", "ingest/wait_ready=0",
        "common/partitions=8", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);
    pid_t feedback = lw_testnode_spawn (node, "lw-feedback", NULL);

    counter_t counter;
    memset (&counter, 0, sizeof (counter));
    counter.node = node;
    counter.coordinator = zsock_new_dealer (settings->coordinator);
    counter.api = zsock_new_dealer (settings->api);
    assert (counter.coordinator && counter.api);
    //  Wait until lw-ingest reports (its counters exist)
    s_expect (&counter, "ingest", "disconnects", 0, 0);

    zsock_t *sub = zsock_new_sub (settings->readings_out, "");
    assert (sub);
    //  Until the subscription is through, readings may pass us by: wait
    //  for the simulator's readings first
    assert (s_receive (sub, "line1/", 1) == 1);

    s_attack_gateway (node, &counter, sub);
    s_attack_broker (node, &counter);
    s_attack_api (node, &counter);

    assert (lw_testnode_alive (node, broker));
    assert (lw_testnode_alive (node, ingest));
    assert (lw_testnode_alive (node, feedback));
    zsock_destroy (&sub);
    zsock_destroy (&counter.coordinator);
    zsock_destroy (&counter.api);
    lw_testnode_destroy (&node);
    printf ("it_hostile: OK\n");
    return 0;
}
