/*  =========================================================================
    lw_client.c - the ZeroMQ gateway client: publish readings to lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    Three stages, each bounded: the batch being filled (lw_batch), one
    encoded message that libzmq had no room for (`stalled`), and libzmq's
    own queue (send HWM). A full batch is encoded and moved to `stalled`
    only when `stalled` is free, so memory never grows with an absent
    peer; the reading that finds everything full is refused with EAGAIN.
    =========================================================================
*/

#include <czmq.h>
#include <errno.h>
#include <math.h>

#include "lw_client.h"
#include "lw_msg.h"
#include "lw_util.h"

struct _lw_client_t {
    void *push;             //  libzmq PUSH socket (zsock_t underneath)
    zsock_t *sock;          //  Its owner
    bool connected;         //  lw_client_connect succeeded
    lw_batch_t *batch;      //  Being filled
    int64_t first;          //  Monotonic ns of the batch's first reading
    zframe_t *stalled;      //  Encoded, waiting for room
    uint32_t stalled_count; //  Readings in it
    uint64_t sequence;      //  Messages made
    uint64_t sent;          //  Readings handed to libzmq
    uint64_t rejected;      //  Readings refused (EINVAL)
    size_t batch_size;      //  Options
    int64_t flush_ns;
    int queue;
    int block_ms;
    int linger_ms;
};

//  --------------------------------------------------------------------------
//  Creates a client

lw_client_t *
lw_client_new (void)
{
    lw_client_t *self = (lw_client_t *)zmalloc (sizeof (lw_client_t));
    if (!self)
        return NULL;
    self->batch_size = LW_CLIENT_BATCH;
    self->flush_ns = LW_CLIENT_FLUSH_MS * LW_NS_PER_MS;
    self->queue = LW_CLIENT_QUEUE;
    self->block_ms = LW_CLIENT_BLOCK_MS;
    self->linger_ms = LW_CLIENT_LINGER_MS;
    self->batch = lw_batch_new (LW_MSG_READINGS);
    self->sock = zsock_new (ZMQ_PUSH);
    if (!self->batch || !self->sock) {
        lw_batch_destroy (&self->batch);
        zsock_destroy (&self->sock);
        free (self);
        return NULL;
    }
    self->push = zsock_resolve (self->sock);
    lw_batch_set_publisher (self->batch, lw_random_id ());
    return self;
}

//  --------------------------------------------------------------------------
//  Tries to hand the stalled message to libzmq, waiting up to `wait_ms`
//  (-1 forever) for room. Returns 0 when nothing is stalled any more.

static int
s_send_stalled (lw_client_t *self, int wait_ms)
{
    if (!self->stalled)
        return 0;
    int64_t deadline = lw_time_mono () + (int64_t)wait_ms * LW_NS_PER_MS;
    while (true) {
        if (zmq_send (self->push, zframe_data (self->stalled),
                      zframe_size (self->stalled), ZMQ_DONTWAIT) != -1) {
            self->sent += self->stalled_count;
            zframe_destroy (&self->stalled);
            self->stalled_count = 0;
            return 0;
        }
        if (zmq_errno () != EAGAIN && zmq_errno () != EINTR)
            return -1; //  Context terminated: errno says why
        long timeout = -1;
        if (wait_ms >= 0) {
            int64_t left = deadline - lw_time_mono ();
            if (left <= 0) {
                errno = EAGAIN;
                return -1;
            }
            timeout = (long)((left + LW_NS_PER_MS - 1) / LW_NS_PER_MS);
        }
        zmq_pollitem_t item = {self->push, 0, ZMQ_POLLOUT, 0};
        zmq_poll (&item, 1, timeout);
    }
}

//  --------------------------------------------------------------------------
//  Moves the batch to the stalled slot (encoded) and tries to send it.
//  Returns 0 when the batch is empty afterwards, -1 (EAGAIN) when it is
//  still full because the stalled slot stayed taken.

static int
s_push_batch (lw_client_t *self, int wait_ms)
{
    if (s_send_stalled (self, wait_ms))
        return -1;
    size_t count = lw_batch_count (self->batch);
    if (count == 0)
        return 0;
    lw_batch_set_sequence (self->batch, ++self->sequence);
    lw_batch_set_ingest_time (self->batch, lw_time_now ());
    zframe_t *frame = lw_batch_encode (self->batch);
    if (!frame) {
        errno = ENOMEM;
        return -1;
    }
    lw_batch_reset (self->batch);
    self->stalled = frame;
    self->stalled_count = (uint32_t)count;
    s_send_stalled (self, 0); //  Stays stalled if no room: still taken
    return 0;
}

//  --------------------------------------------------------------------------
//  Destroys the client, sending what is batched within the linger time

void
lw_client_destroy (lw_client_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_client_t *self = *self_p;
        if (self->connected) {
            s_push_batch (self, self->linger_ms);
            s_send_stalled (self, self->linger_ms);
            zsock_set_linger (self->sock, self->linger_ms);
        }
        zframe_destroy (&self->stalled);
        zsock_destroy (&self->sock);
        lw_batch_destroy (&self->batch);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Options

int
lw_client_set_batch (lw_client_t *self, size_t readings)
{
    assert (self);
    if (readings < 1 || readings > LW_BATCH_MAX) {
        errno = EINVAL;
        return -1;
    }
    self->batch_size = readings;
    return 0;
}

int
lw_client_set_flush_ms (lw_client_t *self, int ms)
{
    assert (self);
    if (ms < 1 || ms > 3600000) {
        errno = EINVAL;
        return -1;
    }
    self->flush_ns = ms * LW_NS_PER_MS;
    return 0;
}

int
lw_client_set_queue (lw_client_t *self, int messages)
{
    assert (self);
    if (messages < 1 || messages > 1000000 || self->connected) {
        errno = EINVAL;
        return -1;
    }
    self->queue = messages;
    return 0;
}

int
lw_client_set_block_ms (lw_client_t *self, int ms)
{
    assert (self);
    if (ms < -1 || ms > 3600000) {
        errno = EINVAL;
        return -1;
    }
    self->block_ms = ms;
    return 0;
}

int
lw_client_set_linger_ms (lw_client_t *self, int ms)
{
    assert (self);
    if (ms < 0 || ms > 3600000) {
        errno = EINVAL;
        return -1;
    }
    self->linger_ms = ms;
    return 0;
}

//  --------------------------------------------------------------------------
//  Connects the PUSH socket

int
lw_client_connect (lw_client_t *self, const char *endpoint)
{
    assert (self);
    assert (endpoint);
    if (self->connected || strnlen (endpoint, 1024) >= 1024) {
        errno = EINVAL;
        return -1;
    }
    zsock_set_sndhwm (self->sock, self->queue);
    zsock_set_immediate (self->sock, 1);
    zsock_set_reconnect_ivl (self->sock, 100);
    zsock_set_reconnect_ivl_max (self->sock, 5000);
    zsock_set_linger (self->sock, 0);
    if (zmq_connect (self->push, endpoint) == -1)
        return -1; //  errno from libzmq
    self->connected = true;
    return 0;
}

//  --------------------------------------------------------------------------
//  Adds one reading

int
lw_client_add (lw_client_t *self, const char *sensor, int64_t time,
               double value)
{
    assert (self);
    if (!self->connected) {
        errno = ENOTCONN;
        return -1;
    }
    if (!sensor || !isfinite (value) ||
        !lw_key_valid (sensor, strnlen (sensor, LW_KEY_MAX + 1))) {
        self->rejected++;
        errno = EINVAL;
        return -1;
    }
    //  A full batch left from a refused add: make room first
    if (lw_batch_count (self->batch) >= self->batch_size &&
        s_push_batch (self, self->block_ms))
        return -1;
    lw_item_t *item = lw_batch_add (self->batch, sensor);
    assert (item); //  Room was made and the key is valid
    item->time = time;
    item->value = value;
    int64_t now = lw_time_mono ();
    if (lw_batch_count (self->batch) == 1)
        self->first = now;
    if (lw_batch_count (self->batch) >= self->batch_size ||
        now - self->first >= self->flush_ns)
        s_push_batch (self, 0); //  The reading is taken either way
    return 0;
}

//  --------------------------------------------------------------------------
//  Sends the partial batch now

int
lw_client_flush (lw_client_t *self)
{
    assert (self);
    if (!self->connected) {
        errno = ENOTCONN;
        return -1;
    }
    if (s_push_batch (self, self->block_ms))
        return -1;
    return s_send_stalled (self, self->block_ms);
}

//  --------------------------------------------------------------------------
//  Counters

uint64_t
lw_client_sent (lw_client_t *self)
{
    assert (self);
    return self->sent;
}

size_t
lw_client_pending (lw_client_t *self)
{
    assert (self);
    return lw_batch_count (self->batch) + self->stalled_count;
}

uint64_t
lw_client_rejected (lw_client_t *self)
{
    assert (self);
    return self->rejected;
}

//  --------------------------------------------------------------------------
//  Receives one message on a PULL (bounded wait) and appends its readings'
//  values to `values`; returns the number of readings, -1 on timeout

static int
s_test_recv (zsock_t *pull, lw_batch_t *batch, double *values, size_t *count,
             int timeout)
{
    zpoller_t *poller = zpoller_new (pull, NULL);
    assert (poller);
    void *which = zpoller_wait (poller, timeout);
    zpoller_destroy (&poller);
    if (which != pull)
        return -1;
    zframe_t *frame = zframe_recv (pull);
    assert (frame);
    assert (lw_batch_decode (batch, zframe_data (frame), zframe_size (frame)) ==
            0);
    assert (lw_batch_kind (batch) == LW_MSG_READINGS);
    zframe_destroy (&frame);
    for (size_t index = 0; index < lw_batch_count (batch); index++)
        values[(*count)++] = lw_batch_item (batch, index)->value;
    return (int)lw_batch_count (batch);
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_client_test (bool verbose)
{
    printf (" * lw_client: ");
    if (verbose)
        printf ("\n");
    char dir[] = "/tmp/lw_client_test.XXXXXX";
    assert (mkdtemp (dir));
    char *endpoint = zsys_sprintf ("ipc://%s/gateway", dir);
    assert (endpoint);
    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    double values[2000];
    size_t count = 0;

    //  Options are validated
    lw_client_t *client = lw_client_new ();
    assert (client);
    assert (lw_client_set_batch (client, 0) == -1 && errno == EINVAL);
    assert (lw_client_set_batch (client, LW_BATCH_MAX + 1) == -1);
    assert (lw_client_set_flush_ms (client, 0) == -1);
    assert (lw_client_set_block_ms (client, -2) == -1);
    assert (lw_client_set_queue (client, 0) == -1);
    assert (lw_client_set_linger_ms (client, -1) == -1);
    assert (lw_client_add (client, "m/s", 1, 1.0) == -1 && errno == ENOTCONN);
    assert (lw_client_connect (client, "nonsense") == -1);

    //  Batches by size: 1000 readings in batches of 100
    zsock_t *pull = zsock_new (ZMQ_PULL);
    assert (pull);
    assert (zsock_bind (pull, "%s", endpoint) == 0);
    assert (lw_client_set_batch (client, 100) == 0);
    assert (lw_client_set_flush_ms (client, 3600000) == 0);
    assert (lw_client_connect (client, endpoint) == 0);
    int64_t base = 1700000000 * LW_NS_PER_SEC;
    //  Until the connection is up, an add may find no room: wait for it
    assert (lw_client_set_block_ms (client, 5000) == 0);
    for (int index = 0; index < 1000; index++)
        assert (lw_client_add (client, "line1/m1/temp",
                               base + index * LW_NS_PER_MS, index) == 0);
    for (int message = 0; message < 10; message++)
        assert (s_test_recv (pull, batch, values, &count, 5000) == 100);
    for (size_t index = 0; index < count; index++)
        assert (values[index] == (double)index); //  In order
    assert (lw_client_sent (client) == 1000);
    assert (lw_client_pending (client) == 0);

    //  Bad readings are refused and counted, never sent
    assert (lw_client_add (client, "", base, 1) == -1 && errno == EINVAL);
    assert (lw_client_add (client, "bad\001key", base, 1) == -1);
    assert (lw_client_add (client, NULL, base, 1) == -1);
    assert (lw_client_add (client, "m/s", base, NAN) == -1);
    assert (lw_client_add (client, "m/s", base, INFINITY) == -1);
    assert (lw_client_rejected (client) == 5);

    //  Flush: explicit, and by age on the next add
    count = 0;
    assert (lw_client_add (client, "line1/m1/temp", base, 7) == 0);
    assert (lw_client_pending (client) == 1);
    assert (lw_client_flush (client) == 0);
    assert (s_test_recv (pull, batch, values, &count, 5000) == 1);
    assert (lw_client_set_flush_ms (client, 2) == 0);
    assert (lw_client_add (client, "line1/m1/temp", base + 1, 8) == 0);
    int64_t until = lw_time_mono () + 3 * LW_NS_PER_MS;
    while (lw_time_mono () < until)
        ; //  The age bound is what is tested: let it pass
    assert (lw_client_add (client, "line1/m1/temp", base + 2, 9) == 0);
    assert (s_test_recv (pull, batch, values, &count, 5000) == 2);
    assert (values[1] == 8 && values[2] == 9);
    lw_client_destroy (&client);
    zsock_destroy (&pull);

    //  Bounded queue: nobody there, so nothing has room (ZMQ_IMMEDIATE).
    //  A fresh endpoint: the PULL just closed may still be listening.
    zstr_free (&endpoint);
    endpoint = zsys_sprintf ("ipc://%s/later", dir);
    assert (endpoint);
    client = lw_client_new ();
    assert (client);
    assert (lw_client_set_batch (client, 2) == 0);
    assert (lw_client_set_queue (client, 1) == 0);
    assert (lw_client_connect (client, endpoint) == 0);
    assert (lw_client_add (client, "m/s", base + 1, 1) == 0);
    assert (lw_client_add (client, "m/s", base + 2, 2) == 0); //  -> stalled
    assert (lw_client_add (client, "m/s", base + 3, 3) == 0);
    assert (lw_client_add (client, "m/s", base + 4, 4) == 0); //  Batch full
    assert (lw_client_pending (client) == 4);
    assert (lw_client_add (client, "m/s", base + 5, 5) == -1);
    assert (errno == EAGAIN);
    assert (lw_client_flush (client) == -1 && errno == EAGAIN);
    assert (lw_client_pending (client) == 4);
    //  lw-ingest appears: the client connects by itself and nothing
    //  taken was lost
    pull = zsock_new (ZMQ_PULL);
    assert (pull);
    assert (zsock_bind (pull, "%s", endpoint) == 0);
    assert (lw_client_set_block_ms (client, 10000) == 0);
    assert (lw_client_add (client, "m/s", base + 5, 5) == 0);
    assert (lw_client_flush (client) == 0);
    count = 0;
    while (count < 5)
        assert (s_test_recv (pull, batch, values, &count, 5000) > 0);
    for (size_t index = 0; index < 5; index++)
        assert (values[index] == (double)(index + 1));
    assert (lw_client_sent (client) == 5);
    //  Destroy sends what is left
    assert (lw_client_add (client, "m/s", base + 6, 6) == 0);
    lw_client_destroy (&client);
    assert (client == NULL);
    lw_client_destroy (&client);
    count = 0;
    assert (s_test_recv (pull, batch, values, &count, 5000) == 1);
    assert (values[0] == 6);

    zsock_destroy (&pull);
    lw_batch_destroy (&batch);
    const char *names[] = {"gateway", "later"};
    for (size_t index = 0; index < 2; index++) {
        char *path = zsys_sprintf ("%s/%s", dir, names[index]);
        unlink (path);
        zstr_free (&path);
    }
    rmdir (dir);
    zstr_free (&endpoint);
    printf ("OK\n");
}
