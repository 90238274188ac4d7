/*  =========================================================================
    lw_testsource.h - helpers for tests and load tools of ingest sources

    Copyright (c) the linewatch authors. MIT license.

    Shared by it_mqtt, it_lineproto and tests/load: a free 127.0.0.1 port,
    a TCP connection, waiting for an lw-ingest counter, and collecting
    expected readings from a subscriber of the broker's readings XPUB
    (what lw-features gets). Header-only (static inline) so each test
    stays one file; asserts on failure, like the tests themselves.
    =========================================================================
*/

#ifndef LW_TESTSOURCE_H_INCLUDED
#define LW_TESTSOURCE_H_INCLUDED

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lw_msg.h"
#include "lw_testkit.h"

//  --------------------------------------------------------------------------
//  A free port on 127.0.0.1 for the socket type (bound to 0, then closed)

static inline int
lw_test_free_port (int type)
{
    int fd = socket (AF_INET, type, 0);
    assert (fd != -1);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert (bind (fd, (struct sockaddr *)&address, sizeof (address)) == 0);
    socklen_t size = sizeof (address);
    assert (getsockname (fd, (struct sockaddr *)&address, &size) == 0);
    close (fd);
    return ntohs (address.sin_port);
}

//  --------------------------------------------------------------------------
//  One TCP connection to 127.0.0.1:port; the fd, or -1

static inline int
lw_test_tcp_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd != -1);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t)port)};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *)&address, sizeof (address)) == 0)
        return fd;
    close (fd);
    return -1;
}

//  An lw-ingest counter to wait for
typedef struct {
    lw_testnode_t *node; //  The node under test
    const char *name;    //  lw-ingest counter
    long long expect;    //  Value it must reach (or equal)
    long long value;     //  Last value seen
    bool exact;          //  Wait for equality (gauges go down too)
} lw_test_counter_t;

//  --------------------------------------------------------------------------
//  True when the counter has reached (or equals) its expected value

static inline bool
lw_test_counter_reached (void *arg)
{
    lw_test_counter_t *counter = (lw_test_counter_t *)arg;
    counter->value =
        lw_test_counter (counter->node, "ingest", counter->name, 1000);
    return counter->exact ? counter->value == counter->expect
                          : counter->value >= counter->expect;
}

//  --------------------------------------------------------------------------
//  Asserts that an lw-ingest counter becomes exactly `expect` within
//  timeout_ms (exact: waits for equality; else for >= and then checks ==)

static inline void
lw_test_expect_counter (lw_testnode_t *node, const char *name,
                        long long expect, bool exact, int timeout_ms)
{
    lw_test_counter_t counter = {node, name, expect, 0, exact};
    bool reached = lw_test_wait (lw_test_counter_reached, &counter, timeout_ms);
    if (!reached || counter.value != expect)
        fprintf (stderr, "counter %s = %lld, expected %lld\n", name,
                 counter.value, expect);
    assert (reached && counter.value == expect);
}

//  One reading a test expects at the subscriber
typedef struct {
    const char *key; //  Sensor key
    int64_t time;    //  Timestamp, or 0 = any (reception time)
    double value;    //  Value
    bool seen;       //  Arrived
    int64_t got;     //  Its timestamp as it arrived
} lw_test_expect_t;

//  --------------------------------------------------------------------------
//  Receives reading batches on sub until every expected reading arrived
//  or timeout_ms passed. Asserts values and fixed timestamps of those
//  that arrive. Returns true when all came (missing ones are printed).

static inline bool
lw_test_collect (zsock_t *sub, lw_test_expect_t *expects, size_t count,
                 int timeout_ms)
{
    zpoller_t *poller = zpoller_new (sub, NULL);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    assert (poller && batch);
    int64_t deadline = zclock_mono () + timeout_ms;
    size_t missing = 0;
    for (size_t index = 0; index < count; index++)
        missing += !expects[index].seen;
    while (missing && zclock_mono () < deadline) {
        if (zpoller_wait (poller, 50) != sub)
            continue;
        zmsg_t *msg = zmsg_recv (sub);
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
        for (size_t item_nbr = 0; item_nbr < lw_batch_count (batch);
             item_nbr++) {
            lw_item_t *item = lw_batch_item (batch, item_nbr);
            for (size_t index = 0; index < count; index++) {
                lw_test_expect_t *expect = &expects[index];
                if (expect->seen || !streq (expect->key, item->sensor))
                    continue;
                if (item->value != expect->value ||
                    (expect->time && item->time != expect->time))
                    fprintf (stderr, "reading %s = %g at %lld\n",
                             item->sensor, item->value,
                             (long long)item->time);
                assert (item->value == expect->value);
                assert (!expect->time || item->time == expect->time);
                expect->seen = true;
                expect->got = item->time;
                missing--;
            }
        }
        zmsg_destroy (&msg);
    }
    lw_batch_destroy (&batch);
    zpoller_destroy (&poller);
    for (size_t index = 0; missing && index < count; index++)
        if (!expects[index].seen)
            fprintf (stderr, "missing reading %s\n", expects[index].key);
    return missing == 0;
}

#endif
