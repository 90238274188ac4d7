/*  =========================================================================
    lw_sockmon.c - counts the connections libzmq drops on a bound socket

    Copyright (c) the linewatch authors. MIT license.

    See lw_sockmon.h. The monitor PAIR lives in the owner's thread and is
    read by its zloop; a monitor event is two frames (16-bit event, 32-bit
    value; then the endpoint), and only ZMQ_EVENT_DISCONNECTED is
    requested, so the pipe carries nothing per message.
    =========================================================================
*/

#include "lw_sockmon.h"

#include <zmq.h>

struct _lw_sockmon_t {
    zsock_t *socket;            //  Monitored, borrowed
    zloop_t *loop;              //  Owner's loop, borrowed
    zsock_t *pair;              //  Receives the monitor events
    lw_sockmon_fn *fn;          //  Per disconnect, or NULL
    void *arg;
    uint64_t disconnects;       //  Seen so far
};

//  --------------------------------------------------------------------------
//  Reads every pending monitor event and calls back per disconnect

static int
s_handle_pair (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    lw_sockmon_t *self = (lw_sockmon_t *) arg;
    while (zsock_events (reader) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;
        zframe_t *event = zmsg_first (msg);
        if (event && zframe_size (event) >= 2) {
            uint16_t kind;
            memcpy (&kind, zframe_data (event), sizeof (kind));
            if (kind == ZMQ_EVENT_DISCONNECTED) {
                self->disconnects++;
                if (self->fn)
                    self->fn (self->arg);
            }
        }
        zmsg_destroy (&msg);
    }
    return 0;
}

//  --------------------------------------------------------------------------

lw_sockmon_t *
lw_sockmon_new (zsock_t *socket, zloop_t *loop, lw_sockmon_fn *fn, void *arg)
{
    assert (socket);
    assert (loop);
    lw_sockmon_t *self = (lw_sockmon_t *) zmalloc (sizeof (lw_sockmon_t));
    if (!self)
        return NULL;
    self->socket = socket;
    self->loop = loop;
    self->fn = fn;
    self->arg = arg;
    //  One inproc endpoint per monitor: the address is unique in-process
    char endpoint[64];
    snprintf (endpoint, sizeof (endpoint), "inproc://lw-sockmon-%p",
              (void *) self);
    if (zmq_socket_monitor (zsock_resolve (socket), endpoint,
                            ZMQ_EVENT_DISCONNECTED)
        != 0) {
        zsys_error ("sockmon: cannot monitor socket: %s",
                    zmq_strerror (zmq_errno ()));
        free (self);
        return NULL;
    }
    self->pair = zsock_new (ZMQ_PAIR);
    if (!self->pair || zsock_connect (self->pair, "%s", endpoint) != 0
        || zloop_reader (loop, self->pair, s_handle_pair, self) != 0) {
        zsys_error ("sockmon: cannot read monitor endpoint=%s", endpoint);
        lw_sockmon_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------

void
lw_sockmon_destroy (lw_sockmon_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_sockmon_t *self = *self_p;
        zmq_socket_monitor (zsock_resolve (self->socket), NULL, 0);
        if (self->pair) {
            zloop_reader_end (self->loop, self->pair);
            zsock_destroy (&self->pair);
        }
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

uint64_t
lw_sockmon_disconnects (lw_sockmon_t *self)
{
    assert (self);
    return self->disconnects;
}

//  --------------------------------------------------------------------------
//  Self test: an oversized frame and a plain close are both counted

static void
s_test_count (void *arg)
{
    (*(int *) arg)++;
}

static int
s_test_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    lw_sockmon_t *self = (lw_sockmon_t *) arg;
    //  End the loop once the expected count is reached
    return lw_sockmon_disconnects (self) >= 2 ? -1 : 0;
}

void
lw_sockmon_test (bool verbose)
{
    printf (" * lw_sockmon: ");
    char dir[] = "/tmp/lw_sockmon_test.XXXXXX";
    assert (mkdtemp (dir));
    char endpoint[128];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/pull", dir);

    zloop_t *loop = zloop_new ();
    assert (loop);
    zsock_t *pull = zsock_new (ZMQ_PULL);
    assert (pull);
    zsock_set_maxmsgsize (pull, 100);
    assert (zsock_bind (pull, "%s", endpoint) == 0);
    int calls = 0;
    lw_sockmon_t *monitor = lw_sockmon_new (pull, loop, s_test_count, &calls);
    assert (monitor);
    assert (lw_sockmon_disconnects (monitor) == 0);

    //  An oversized frame: libzmq drops the connection
    zsock_t *push = zsock_new_push (endpoint);
    assert (push);
    char big[200];
    memset (big, 'x', sizeof (big));
    assert (zmq_send (zsock_resolve (push), big, sizeof (big), 0) == 200);
    //  A good peer that leaves
    zsock_t *good = zsock_new_push (endpoint);
    assert (good);
    zstr_send (good, "hello");
    char *text = zstr_recv (pull);
    assert (text && streq (text, "hello"));
    zstr_free (&text);
    zsock_destroy (&good);

    //  Both disconnects arrive through the loop (bounded: 10 s)
    zloop_timer (loop, 10, 1000, s_test_timer, monitor);
    zloop_start (loop);
    assert (lw_sockmon_disconnects (monitor) == 2);
    assert (calls == 2);
    if (verbose)
        printf ("disconnects=%d ", calls);

    lw_sockmon_destroy (&monitor);
    assert (monitor == NULL);
    zsock_destroy (&push);
    zsock_destroy (&pull);
    zloop_destroy (&loop);
    zsys_dir_delete (dir);
    printf ("OK\n");
}
