/*  =========================================================================
    it_modbus.c - the Modbus TCP source against real libmodbus servers

    Copyright (c) the linewatch authors. MIT license.

    Forks two Modbus TCP servers written with libmodbus's server API
    (modbus_tcp_listen, modbus_receive, modbus_reply on a
    modbus_mapping_t), each on a free port of 127.0.0.1, serving the same
    known registers: int16, uint16, int32 (ABCD), uint32 (CDAB), float32
    (BADC and DCBA), an input register and two coils. Each server counts
    the requests it answers, by function, and the quantity asked, in
    memory shared with the test. Then runs lw-broker, lw-features, lw-scorer
    (READY needs both streams subscribed) and lw-ingest with a modbus source
   polling both as devices plcA and plcB (100 ms), and checks at a subscriber of
   the broker's readings XPUB:
      - names, values (scale and offset applied) and timestamps (taken
        when polled, strictly increasing per sensor);
      - the ten contiguous holding registers are read in ONE request per
        poll (every holding request asks for 10), three requests a poll
        (plcA four: it also asks for an input register the server does
        not have, which the server refuses - counted modbus_exceptions,
        the rest of the poll unaffected);
      - engineering limits: a point above its limit arrives flagged
        LW_QUALITY_LIMIT; one with drop = 1 never arrives (drop_limit);
      - a hostile device (junk): a plain TCP server answering every
        request with a framed reply of the wrong transaction id: rejected
        (modbus_errors), marked down (modbus_down_junk), no reading from
        it, the others unaffected;
      - a dead device: plcB's server is stopped with SIGSTOP. plcB is
        marked down (modbus_down_plcB = 1, modbus_timeouts counted; its
        timeout is 2 s) while plcA's readings keep arriving at their
        100 ms interval, not one per timeout; after SIGCONT
        plcB is up again and its readings arrive.
    With --bench (not run by ctest) it measures instead: 30 devices (30
    server processes) x 16 uint16 holding registers polled every 100 ms,
    once contiguous (one request per poll) and once spread 200 registers
    apart (16 requests per poll), and prints the mean poll cycle, requests
    and readings/s that arrive at the subscriber; then again with servers
    that answer 5 ms late, like a busy PLC.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <math.h>
#include <modbus/modbus.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_DEADLINE 30000 //  ms for readings to flow (ASan)
#define PORT_DEADLINE 5000   //  ms for the forked servers to listen
#define COUNT_DEADLINE 10000 //  ms for a counter to be reported
#define INTERVAL 100         //  ms between polls
#define WATCH_MS 3000        //  ms plcA is watched while plcB is down
#define BENCH_DEVICES 30     //  --bench: devices (server processes)
#define BENCH_POINTS 16      //  --bench: registers per device
#define BENCH_MS 5000        //  --bench: measuring time per layout

//  What a server shares with the test
typedef struct {
    volatile int port;          //  Its port, once listening
    volatile uint32_t requests; //  Requests answered
    volatile uint32_t holding;  //  ...of them, read holding registers
    volatile uint32_t qty_min;  //  Smallest holding quantity asked
    volatile uint32_t qty_max;  //  Largest
    volatile uint32_t delay_us; //  --bench: answer this late (a slow PLC)
    int ready[2];               //  Pipe: the server writes a byte once
                                //  `port` is set
} shared_t;

//  One expected point
typedef struct {
    const char *name;  //  Point name (key = it/<device>/<name>)
    const char *table; //  Config table
    int address;
    const char *type; //  Config type, NULL for bits
    const char *order;
    const char *scale;
    const char *offset;
    double expect; //  Expected value
} point_t;

static point_t s_points[] = {
    {"i16", "holding", 0, "int16", "ABCD", "0.1", "0", -123.4},
    {"u16", "holding", 1, "uint16", "ABCD", "1", "-1000", 49000},
    {"i32", "holding", 2, "int32", "ABCD", "1", "0", -100000},
    {"u32", "holding", 4, "uint32", "CDAB", "1", "0", 3000000000.0},
    {"f_badc", "holding", 6, "float32", "BADC", "1", "0", 21.5},
    {"f_dcba", "holding", 8, "float32", "DCBA", "2", "1", -5.5},
    {"in", "input", 0, "uint16", "ABCD", "1", "0", 777},
    {"coil_on", "coil", 3, NULL, "ABCD", "1", "0", 1},
    {"coil_off", "coil", 4, NULL, "ABCD", "1", "0", 0},
};
#define POINTS (sizeof (s_points) / sizeof (s_points[0]))

//  --------------------------------------------------------------------------
//  In a server child: tells the parent that `port` is set

static void
s_listening (shared_t *shared)
{
    char byte = 1;
    if (write (shared->ready[1], &byte, 1) != 1)
        _exit (5);
    close (shared->ready[1]);
}

//  --------------------------------------------------------------------------
//  Writes a 32-bit value into two registers in the given wire order

static void
s_put32 (uint16_t *words, uint32_t value, const char *order)
{
    uint8_t a = (uint8_t)(value >> 24), b = (uint8_t)(value >> 16);
    uint8_t c = (uint8_t)(value >> 8), d = (uint8_t)value;
    uint8_t wire[4];
    for (int index = 0; index < 4; index++)
        wire[index] = order[index] == 'A'   ? a
                      : order[index] == 'B' ? b
                      : order[index] == 'C' ? c
                                            : d;
    words[0] = (uint16_t)((wire[0] << 8) | wire[1]);
    words[1] = (uint16_t)((wire[2] << 8) | wire[3]);
}

//  --------------------------------------------------------------------------
//  The server (a forked child): answers every connection until killed

static void
s_server (shared_t *shared)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    modbus_t *context = modbus_new_tcp ("127.0.0.1", 0);
    modbus_mapping_t *mapping = modbus_mapping_new (16, 16, 4000, 16);
    if (!context || !mapping)
        _exit (2);
    uint16_t *words = mapping->tab_registers;
    for (int address = 32; address < 4000; address++)
        words[address] = (uint16_t)address; //  --bench reads these
    words[0] = (uint16_t)(int16_t)-1234;
    words[1] = 50000;
    s_put32 (words + 2, (uint32_t)(int32_t)-100000, "ABCD");
    s_put32 (words + 4, 3000000000U, "CDAB");
    float number = 21.5f;
    uint32_t bits;
    memcpy (&bits, &number, 4);
    s_put32 (words + 6, bits, "BADC");
    number = -3.25f;
    memcpy (&bits, &number, 4);
    s_put32 (words + 8, bits, "DCBA");
    mapping->tab_input_registers[0] = 777;
    mapping->tab_bits[3] = 1;
    mapping->tab_bits[4] = 0;

    int listener = modbus_tcp_listen (context, 16);
    if (listener == -1)
        _exit (3);
    struct sockaddr_in address;
    socklen_t length = sizeof (address);
    if (getsockname (listener, (struct sockaddr *)&address, &length))
        _exit (4);
    shared->qty_min = UINT32_MAX;
    shared->port = ntohs (address.sin_port);
    s_listening (shared);
    fd_set all;
    FD_ZERO (&all);
    FD_SET (listener, &all);
    int top = listener;
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    int header = modbus_get_header_length (context);
    while (true) {
        fd_set ready = all;
        if (select (top + 1, &ready, NULL, NULL, NULL) == -1)
            continue;
        for (int fd = 0; fd <= top; fd++) {
            if (!FD_ISSET (fd, &ready))
                continue;
            if (fd == listener) {
                int client = accept (listener, NULL, NULL);
                if (client >= 0 && client < FD_SETSIZE) {
                    FD_SET (client, &all);
                    if (client > top)
                        top = client;
                }
                else if (client >= 0)
                    close (client);
                continue;
            }
            modbus_set_socket (context, fd);
            int size = modbus_receive (context, query);
            if (size > 0) {
                shared->requests++;
                if (query[header] == 0x03) {
                    uint32_t quantity =
                        ((uint32_t)query[header + 3] << 8) | query[header + 4];
                    shared->holding++;
                    if (quantity < shared->qty_min)
                        shared->qty_min = quantity;
                    if (quantity > shared->qty_max)
                        shared->qty_max = quantity;
                }
                if (shared->delay_us)
                    usleep (shared->delay_us);
                modbus_reply (context, query, size, mapping);
            }
            else if (size == -1) {
                close (fd);
                FD_CLR (fd, &all);
            }
        }
    }
}

//  --------------------------------------------------------------------------
//  A hostile "device" (a forked child): answers every request on every
//  connection with a well-framed Modbus TCP reply of the wrong
//  transaction id

static void
s_junk_server (shared_t *shared)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    int listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t length = sizeof (address);
    if (listener < 0 || bind (listener, (struct sockaddr *)&address, length) ||
        listen (listener, 16) ||
        getsockname (listener, (struct sockaddr *)&address, &length))
        _exit (3);
    shared->port = ntohs (address.sin_port);
    s_listening (shared);
    fd_set all;
    FD_ZERO (&all);
    FD_SET (listener, &all);
    int top = listener;
    //  MBAP: transaction 0xBEEF (never the one asked), protocol 0,
    //  length 5, unit 1; read holding registers, 2 bytes: well framed,
    //  so libmodbus reads it whole and rejects it (EMBBADDATA)
    const uint8_t junk[] = {0xBE, 0xEF, 0, 0, 0, 5, 1, 3, 2, 0x12, 0x34};
    while (true) {
        fd_set ready = all;
        if (select (top + 1, &ready, NULL, NULL, NULL) == -1)
            continue;
        for (int fd = 0; fd <= top; fd++) {
            if (!FD_ISSET (fd, &ready))
                continue;
            if (fd == listener) {
                int client = accept (listener, NULL, NULL);
                if (client >= 0 && client < FD_SETSIZE) {
                    FD_SET (client, &all);
                    if (client > top)
                        top = client;
                }
                else if (client >= 0)
                    close (client);
                continue;
            }
            uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
            ssize_t size = read (fd, query, sizeof (query));
            if (size <= 0 || write (fd, junk, sizeof (junk)) < 0) {
                close (fd);
                FD_CLR (fd, &all);
            }
            else
                shared->requests++;
        }
    }
}

//  --------------------------------------------------------------------------
//  Forks a server (junk: the hostile one); returns its pid

static pid_t
s_server_start (shared_t *shared, bool junk)
{
    int rc = pipe (shared->ready);
    assert (rc == 0);
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        close (shared->ready[0]);
        if (junk)
            s_junk_server (shared);
        else
            s_server (shared);
    }
    close (shared->ready[1]);
    return pid;
}

//  --------------------------------------------------------------------------
//  Waits until `count` servers listen (each writes a byte to its pipe)

static void
s_servers_wait (shared_t *shared, int count)
{
    int64_t deadline = zclock_mono () + PORT_DEADLINE;
    for (int device = 0; device < count; device++) {
        struct pollfd item = {shared[device].ready[0], POLLIN, 0};
        int64_t left = deadline - zclock_mono ();
        int rc = left > 0 ? poll (&item, 1, (int)left) : 0;
        assert (rc == 1);
        char byte;
        ssize_t got = read (shared[device].ready[0], &byte, 1);
        assert (got == 1 && shared[device].port);
        close (shared[device].ready[0]);
    }
}

typedef struct {
    lw_testnode_t *node;
    const char *name;
    long long expect;
    long long value;
} counter_t;

//  --------------------------------------------------------------------------
//  True when the ingest counter equals its expected value

static bool
s_counter_is (void *arg)
{
    counter_t *counter = (counter_t *)arg;
    counter->value =
        lw_test_counter (counter->node, "ingest", counter->name, 1000);
    return counter->value == counter->expect;
}

//  --------------------------------------------------------------------------
//  Waits until an ingest counter equals `expect`

static void
s_expect_counter (lw_testnode_t *node, const char *name, long long expect)
{
    counter_t counter = {node, name, expect, 0};
    bool reached = lw_test_wait (s_counter_is, &counter, COUNT_DEADLINE);
    if (!reached)
        fprintf (stderr, "it_modbus: counter %s = %lld, expected %lld\n", name,
                 counter.value, expect);
    assert (reached);
}

//  What the subscriber has seen
typedef struct {
    zsock_t *sub;
    zpoller_t *poller;
    lw_batch_t *batch;
    size_t seen[2][POINTS];      //  Readings per device and point
    int64_t last[2][POINTS];     //  Newest time per device and point
    int64_t max_delta[2];        //  Largest step of i16's timestamps
    int64_t min_delta[2];        //  Smallest
    uint32_t quality[2][POINTS]; //  Or of the quality flags
    int64_t start;               //  Wall clock at test start
    int64_t since;               //  Count i16 readings stamped after this
    size_t since_count[2];       //  ...per device
} watch_t;

//  --------------------------------------------------------------------------
//  Receives for up to `ms`, checking every modbus reading

static void
s_watch (watch_t *self, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline) {
        if (zpoller_wait (self->poller, 50) != self->sub)
            continue;
        zmsg_t *msg = zmsg_recv (self->sub);
        assert (msg);
        uint16_t partition;
        assert (lw_msg_envelope (msg, &partition) == 0);
        zframe_t *body = zmsg_last (msg);
        //  Gap events travel here too: the stopped device's points go
        //  silent while the other's go on (lw-ingest's sensor_gaps)
        lw_gap_t gap;
        if (lw_msg_gap_decode (zframe_data (body), zframe_size (body), &gap) ==
            0) {
            zmsg_destroy (&msg);
            continue;
        }
        assert (lw_batch_decode (self->batch, zframe_data (body),
                                 zframe_size (body)) == 0);
        for (size_t index = 0; index < lw_batch_count (self->batch); index++) {
            lw_item_t *item = lw_batch_item (self->batch, index);
            int device = strncmp (item->sensor, "it/plcA/", 8) == 0   ? 0
                         : strncmp (item->sensor, "it/plcB/", 8) == 0 ? 1
                                                                      : -1;
            if (device < 0)
                continue;
            size_t point = 0;
            while (point < POINTS &&
                   !streq (item->sensor + 8, s_points[point].name))
                point++;
            if (point == POINTS) {
                fprintf (stderr, "it_modbus: unexpected sensor %s\n",
                         item->sensor);
                assert (false);
            }
            if (fabs (item->value - s_points[point].expect) >
                1e-9 * fabs (s_points[point].expect) + 1e-9) {
                fprintf (stderr, "it_modbus: %s = %.17g, expected %.17g\n",
                         item->sensor, item->value, s_points[point].expect);
                assert (false);
            }
            //  Stamped when polled: after the test started, not later
            //  than now, and each sensor's times strictly increasing
            assert (item->time >= self->start);
            assert (item->time <= lw_time_now ());
            if (self->seen[device][point]) {
                int64_t delta = item->time - self->last[device][point];
                assert (delta > 0);
                if (point == 0) {
                    if (delta > self->max_delta[device])
                        self->max_delta[device] = delta;
                    if (!self->min_delta[device] ||
                        delta < self->min_delta[device])
                        self->min_delta[device] = delta;
                }
            }
            if (point == 0 && self->since && item->time >= self->since)
                self->since_count[device]++;
            self->last[device][point] = item->time;
            self->seen[device][point]++;
            self->quality[device][point] |= item->quality;
        }
        zmsg_destroy (&msg);
    }
}

//  --------------------------------------------------------------------------
//  Readings of a device's i16 point so far

static size_t
s_cycles (watch_t *watch, int device)
{
    return watch->seen[device][0];
}

//  --------------------------------------------------------------------------
//  --bench: readings of the bench devices seen at the subscriber for `ms`

static size_t
s_bench_count (watch_t *self, int ms, bool *seen)
{
    size_t count = 0;
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline) {
        if (zpoller_wait (self->poller, 50) != self->sub)
            continue;
        zmsg_t *msg = zmsg_recv (self->sub);
        assert (msg);
        zframe_t *body = zmsg_last (msg);
        assert (lw_batch_decode (self->batch, zframe_data (body),
                                 zframe_size (body)) == 0);
        for (size_t index = 0; index < lw_batch_count (self->batch); index++) {
            lw_item_t *item = lw_batch_item (self->batch, index);
            unsigned device, point;
            if (sscanf (item->sensor, "bench/d%u/p%u", &device, &point) == 2 &&
                device < BENCH_DEVICES && point < BENCH_POINTS) {
                count++;
                if (seen)
                    seen[device * BENCH_POINTS + point] = true;
            }
        }
        zmsg_destroy (&msg);
    }
    return count;
}

//  --------------------------------------------------------------------------
//  --bench: one layout (registers `stride` apart) against the servers

static void
s_bench (shared_t *shared, int stride, uint32_t delay_us)
{
    for (int device = 0; device < BENCH_DEVICES; device++)
        shared[device].delay_us = delay_us;
    zlistx_t *strings = zlistx_new ();
    zlistx_set_destructor (strings, (czmq_destructor *)zstr_free);
    zlistx_add_end (strings, strdup ("common/partitions=16"));
    zlistx_add_end (strings, strdup ("ingest/source/sim/rate=1"));
    zlistx_add_end (strings, strdup ("ingest/source/sim/machines=1"));
    zlistx_add_end (strings, strdup ("ingest/source/sim/sensors=1"));
    zlistx_add_end (strings, strdup ("ingest/source/mb/type=modbus"));
    for (int device = 0; device < BENCH_DEVICES; device++) {
        char *base = zsys_sprintf ("ingest/source/mb/device/d%d", device);
        zlistx_add_end (strings, zsys_sprintf ("%s/host=127.0.0.1", base));
        zlistx_add_end (strings,
                        zsys_sprintf ("%s/port=%d", base, shared[device].port));
        zlistx_add_end (strings,
                        zsys_sprintf ("%s/interval=%d", base, INTERVAL));
        zlistx_add_end (strings,
                        zsys_sprintf ("%s/machine=bench/d%d", base, device));
        for (int point = 0; point < BENCH_POINTS; point++)
            zlistx_add_end (strings,
                            zsys_sprintf ("%s/point/p%d/address=%d", base,
                                          point, 32 + point * stride));
        zstr_free (&base);
    }
    const char **overrides =
        (const char **)calloc (zlistx_size (strings) + 1, sizeof (char *));
    assert (overrides);
    size_t count = 0;
    for (char *text = (char *)zlistx_first (strings); text;
         text = (char *)zlistx_next (strings))
        overrides[count++] = text;
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t features = lw_testnode_spawn (node, "lw-features", NULL);
    pid_t scorer = lw_testnode_spawn (node, "lw-scorer", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);
    watch_t watch = {.start = lw_time_now ()};
    watch.sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (watch.sub, 100000);
    zsock_set_subscribe (watch.sub, "");
    assert (zsock_connect (watch.sub, "%s", settings->readings_out) == 0);
    watch.poller = zpoller_new (watch.sub, NULL);
    watch.batch = lw_batch_new (LW_MSG_READINGS);
    //  Every sensor arrives, then measure
    bool seen[BENCH_DEVICES * BENCH_POINTS] = {false};
    int64_t deadline = zclock_mono () + START_DEADLINE;
    size_t missing = BENCH_DEVICES * BENCH_POINTS;
    while (missing) {
        assert (zclock_mono () < deadline);
        s_bench_count (&watch, 200, seen);
        missing = 0;
        for (size_t index = 0; index < BENCH_DEVICES * BENCH_POINTS; index++)
            missing += !seen[index];
    }
    long long polls = lw_test_counter (node, "ingest", "modbus_polls", 1000);
    long long cycle = lw_test_counter (node, "ingest", "modbus_cycle_us", 1000);
    long long requests =
        lw_test_counter (node, "ingest", "modbus_requests", 1000);
    long long timeouts =
        lw_test_counter (node, "ingest", "modbus_timeouts", 1000);
    size_t readings = s_bench_count (&watch, BENCH_MS, NULL);
    polls = lw_test_counter (node, "ingest", "modbus_polls", 1000) - polls;
    cycle = lw_test_counter (node, "ingest", "modbus_cycle_us", 1000) - cycle;
    requests =
        lw_test_counter (node, "ingest", "modbus_requests", 1000) - requests;
    timeouts =
        lw_test_counter (node, "ingest", "modbus_timeouts", 1000) - timeouts;
    printf ("it_modbus --bench: %d devices x %d registers %s, device "
            "latency %u us: polls=%lld "
            "requests/poll=%.1f mean poll cycle=%.0f us timeouts=%lld "
            "readings/s at subscriber=%.0f (expected %d)\n",
            BENCH_DEVICES, BENCH_POINTS,
            stride == 1 ? "contiguous" : "spread 200 apart", delay_us, polls,
            polls ? (double)requests / (double)polls : 0,
            polls ? (double)cycle / (double)polls : 0, timeouts,
            (double)readings * 1000.0 / BENCH_MS,
            BENCH_DEVICES * BENCH_POINTS * 1000 / INTERVAL);
    lw_batch_destroy (&watch.batch);
    zpoller_destroy (&watch.poller);
    zsock_destroy (&watch.sub);
    lw_testnode_kill (node, ingest, SIGTERM);
    lw_testnode_kill (node, scorer, SIGTERM);
    lw_testnode_kill (node, features, SIGTERM);
    lw_testnode_kill (node, broker, SIGTERM);
    lw_testnode_destroy (&node);
    free (overrides);
    zlistx_destroy (&strings);
}

//  --------------------------------------------------------------------------
//  --bench: forks the servers and measures both layouts

static int
s_bench_main (void)
{
    shared_t *shared = (shared_t *)mmap (
        NULL, BENCH_DEVICES * sizeof (shared_t), PROT_READ | PROT_WRITE,
        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert (shared != MAP_FAILED);
    memset (shared, 0, BENCH_DEVICES * sizeof (shared_t));
    pid_t servers[BENCH_DEVICES];
    for (int device = 0; device < BENCH_DEVICES; device++)
        servers[device] = s_server_start (&shared[device], false);
    s_servers_wait (shared, BENCH_DEVICES);
    s_bench (shared, 1, 0);
    s_bench (shared, 200, 0);
    s_bench (shared, 1, 5000);
    s_bench (shared, 200, 5000);
    for (int device = 0; device < BENCH_DEVICES; device++) {
        kill (servers[device], SIGKILL);
        waitpid (servers[device], NULL, 0);
    }
    munmap (shared, BENCH_DEVICES * sizeof (shared_t));
    return 0;
}

int
main (int argc, char **argv)
{
    setvbuf (stdout, NULL, _IOLBF, 0); //  Figures survive a failed assert
    if (argc > 1 && streq (argv[1], "--bench"))
        return s_bench_main ();
    //  Servers first: fork before any ZeroMQ thread exists
    shared_t *shared =
        (shared_t *)mmap (NULL, 3 * sizeof (shared_t), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert (shared != MAP_FAILED);
    memset (shared, 0, 3 * sizeof (shared_t));
    pid_t servers[3] = {s_server_start (&shared[0], false),
                        s_server_start (&shared[1], false),
                        s_server_start (&shared[2], true)};
    s_servers_wait (shared, 3);

    //  Config: both devices, every point, limits
    zlistx_t *strings = zlistx_new ();
    zlistx_set_destructor (strings, (czmq_destructor *)zstr_free);
    const char *fixed[] = {"common/partitions=16",
                           "ingest/source/sim/machines=1",
                           "ingest/source/sim/sensors=1",
                           "ingest/source/sim/rate=10",
                           "ingest/source/mb/type=modbus",
                           "ingest/limit/hot/pattern=it/plcA/f_*",
                           "ingest/limit/hot/low=-10",
                           "ingest/limit/hot/high=10",
                           "ingest/limit/gone/pattern=it/plcB/coil_on",
                           "ingest/limit/gone/high=0.5",
                           "ingest/limit/gone/drop=1",
                           NULL};
    for (size_t index = 0; fixed[index]; index++)
        zlistx_add_end (strings, strdup (fixed[index]));
    const char *devices[] = {"plcA", "plcB"};
    for (int device = 0; device < 2; device++) {
        const char *name = devices[device];
        char *base = zsys_sprintf ("ingest/source/mb/device/%s", name);
        zlistx_add_end (strings, zsys_sprintf ("%s/host=127.0.0.1", base));
        zlistx_add_end (strings,
                        zsys_sprintf ("%s/port=%d", base, shared[device].port));
        zlistx_add_end (strings,
                        zsys_sprintf ("%s/interval=%d", base, INTERVAL));
        zlistx_add_end (strings, zsys_sprintf ("%s/timeout=2000", base));
        zlistx_add_end (strings, zsys_sprintf ("%s/backoff_max=2000", base));
        zlistx_add_end (strings, zsys_sprintf ("%s/machine=it/%s", base, name));
        for (size_t index = 0; index < POINTS; index++) {
            point_t *point = &s_points[index];
            char *at = zsys_sprintf ("%s/point/%s", base, point->name);
            zlistx_add_end (strings,
                            zsys_sprintf ("%s/table=%s", at, point->table));
            zlistx_add_end (strings,
                            zsys_sprintf ("%s/address=%d", at, point->address));
            if (point->type)
                zlistx_add_end (strings,
                                zsys_sprintf ("%s/type=%s", at, point->type));
            zlistx_add_end (strings,
                            zsys_sprintf ("%s/order=%s", at, point->order));
            zlistx_add_end (strings,
                            zsys_sprintf ("%s/scale=%s", at, point->scale));
            zlistx_add_end (strings,
                            zsys_sprintf ("%s/offset=%s", at, point->offset));
            zstr_free (&at);
        }
        if (device == 0) {
            //  Not in the server's map: an exception response
            zlistx_add_end (strings, zsys_sprintf ("%s/point/missing/table="
                                                   "input",
                                                   base));
            zlistx_add_end (strings, zsys_sprintf ("%s/point/missing/"
                                                   "address=100",
                                                   base));
        }
        zstr_free (&base);
    }
    //  The hostile device
    const char *base = "ingest/source/mb/device/junk";
    zlistx_add_end (strings, zsys_sprintf ("%s/host=127.0.0.1", base));
    zlistx_add_end (strings, zsys_sprintf ("%s/port=%d", base, shared[2].port));
    zlistx_add_end (strings, zsys_sprintf ("%s/interval=%d", base, INTERVAL));
    zlistx_add_end (strings, zsys_sprintf ("%s/timeout=300", base));
    zlistx_add_end (strings, zsys_sprintf ("%s/backoff_max=300", base));
    zlistx_add_end (strings, zsys_sprintf ("%s/machine=it/junk", base));
    zlistx_add_end (strings, zsys_sprintf ("%s/point/x/address=0", base));
    const char **overrides =
        (const char **)calloc (zlistx_size (strings) + 1, sizeof (char *));
    assert (overrides);
    size_t count = 0;
    for (char *text = (char *)zlistx_first (strings); text;
         text = (char *)zlistx_next (strings))
        overrides[count++] = text;

    watch_t watch = {.start = lw_time_now ()};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t features = lw_testnode_spawn (node, "lw-features", NULL);
    pid_t scorer = lw_testnode_spawn (node, "lw-scorer", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);
    assert (broker > 0 && features > 0 && scorer > 0 && ingest > 0);
    watch.sub = zsock_new (ZMQ_SUB);
    assert (watch.sub);
    zsock_set_rcvhwm (watch.sub, 100000);
    zsock_set_subscribe (watch.sub, "");
    assert (zsock_connect (watch.sub, "%s", settings->readings_out) == 0);
    watch.poller = zpoller_new (watch.sub, NULL);
    watch.batch = lw_batch_new (LW_MSG_READINGS);
    assert (watch.poller && watch.batch);

    //  Both devices' readings arrive with the right names and values
    int64_t deadline = zclock_mono () + START_DEADLINE;
    while (s_cycles (&watch, 0) < 10 || s_cycles (&watch, 1) < 10) {
        assert (zclock_mono () < deadline);
        s_watch (&watch, 200);
    }
    for (int device = 0; device < 2; device++)
        for (size_t point = 0; point < POINTS; point++) {
            bool dropped =
                device == 1 && streq (s_points[point].name, "coil_on");
            if (dropped)
                assert (watch.seen[device][point] == 0);
            else
                assert (watch.seen[device][point] > 0);
            //  Limits: plcA's floats are above 10 or below -10... only
            //  f_badc (21.5) is outside [-10, 10]; f_dcba (-5.5) is in
            bool outside =
                device == 0 && streq (s_points[point].name, "f_badc");
            assert (((watch.quality[device][point] & LW_QUALITY_LIMIT) != 0) ==
                    outside);
        }
    assert (lw_test_counter (node, "ingest", "drop_limit", 1000) > 0);
    assert (lw_test_counter (node, "ingest", "limit", 1000) > 0);
    //  Polled at the interval (fixed rate: a late poll is followed by one
    //  on schedule, so the smallest step shows jitter, not bursts)
    printf ("it_modbus: plcA i16 time step min=%.1fms max=%.1fms\n",
            (double)watch.min_delta[0] / 1e6, (double)watch.max_delta[0] / 1e6);

    //  One request per contiguous block: 10 holding registers per read,
    //  3 requests (holding, input, coils) per poll
    for (int device = 0; device < 2; device++) {
        uint32_t holding = shared[device].holding;
        uint32_t requests = shared[device].requests;
        printf ("it_modbus: server %d requests=%u holding=%u quantity=%u..%u"
                "\n",
                device, requests, holding, shared[device].qty_min,
                shared[device].qty_max);
        assert (shared[device].qty_min == 10 && shared[device].qty_max == 10);
        assert (holding >= 10);
        uint32_t per_poll = device == 0 ? 4 : 3;
        assert (requests + 3 >= per_poll * holding &&
                requests <= per_poll * holding + 3);
    }
    assert (lw_test_counter (node, "ingest", "modbus_exceptions", 1000) > 0);
    //  The junk device answers nonsense: rejected by libmodbus, counted,
    //  marked down, nothing from it arrives, nothing crashes
    s_expect_counter (node, "modbus_down_junk", 1);
    s_expect_counter (node, "modbus_down", 1);
    assert (lw_test_counter (node, "ingest", "modbus_errors", 1000) > 0);
    assert (shared[2].requests > 0);

    //  A dead device: plcB stops answering; plcA goes on at its pace
    assert (kill (servers[1], SIGSTOP) == 0);
    s_expect_counter (node, "modbus_down_plcB", 1);
    s_expect_counter (node, "modbus_down", 2);
    assert (lw_test_counter (node, "ingest", "modbus_timeouts", 1000) >= 1);
    s_watch (&watch, 300); //  What was queued before
    watch.max_delta[0] = 0;
    watch.since = lw_time_now ();
    size_t b_before = s_cycles (&watch, 1);
    s_watch (&watch, WATCH_MS);
    //  Polls stamped in the watched period (the last may still travel)
    size_t during = watch.since_count[0];
    printf ("it_modbus: while plcB is down, plcA polls=%zu in %d ms, "
            "max step=%.1fms\n",
            during, WATCH_MS, (double)watch.max_delta[0] / 1e6);
    //  30 expected. Were plcA's polls stuck behind plcB's 2 s timeouts
    //  there would be at most 2 or 3, with steps of 2 s. The bounds are
    //  loose because the test machine may be loaded (2 cores, many
    //  processes): scheduling jitter of a few hundred ms happens.
    assert (during >= 12 && during <= 31);
    assert (watch.max_delta[0] < 1500 * LW_NS_PER_MS);
    //  plcB: at most what was in flight when it stopped
    assert (s_cycles (&watch, 1) - b_before <= 2);
    assert (lw_test_counter (node, "ingest", "modbus_down_plcB", 1000) == 1);

    //  It answers again: marked up, readings flow
    assert (kill (servers[1], SIGCONT) == 0);
    s_expect_counter (node, "modbus_down_plcB", 0);
    s_expect_counter (node, "modbus_down", 1); //  The junk one
    size_t b_after = s_cycles (&watch, 1);
    deadline = zclock_mono () + START_DEADLINE;
    while (s_cycles (&watch, 1) < b_after + 5) {
        assert (zclock_mono () < deadline);
        s_watch (&watch, 200);
    }
    assert (lw_testnode_alive (node, ingest));
    long long timeouts =
        lw_test_counter (node, "ingest", "modbus_timeouts", 1000);
    long long requests =
        lw_test_counter (node, "ingest", "modbus_requests", 1000);
    printf ("it_modbus: ingest modbus_requests=%lld modbus_timeouts=%lld\n",
            requests, timeouts);

    lw_batch_destroy (&watch.batch);
    zpoller_destroy (&watch.poller);
    zsock_destroy (&watch.sub);
    assert (lw_testnode_kill (node, ingest, SIGTERM) == 0);
    lw_testnode_kill (node, scorer, SIGTERM);
    lw_testnode_kill (node, features, SIGTERM);
    lw_testnode_kill (node, broker, SIGTERM);
    lw_testnode_destroy (&node);
    for (int device = 0; device < 3; device++) {
        kill (servers[device], SIGKILL);
        waitpid (servers[device], NULL, 0);
    }
    munmap (shared, 3 * sizeof (shared_t));
    free (overrides);
    zlistx_destroy (&strings);
    printf ("it_modbus: OK\n");
    return 0;
}
