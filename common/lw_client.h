/*  =========================================================================
    lw_client.h - the ZeroMQ gateway client: publish readings to lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    What a gateway (a PLC bridge, a historian exporter, a test rig) links
    to push readings into linewatch:

        lw_client_t *client = lw_client_new ();
        lw_client_connect (client, "tcp://127.0.0.1:5570");  //  ingest/gateway
        lw_client_add (client, "line1/press3/temp", time_ns, 71.5);
        ...
        lw_client_flush (client);
        lw_client_destroy (&client);    //  Flushes, waits up to `linger`

    Readings are batched (LW_MSG_READINGS bodies, the same as `lwctl
    replay` sends) on a ZeroMQ PUSH socket connected to lw-ingest's PULL.
    A batch goes out when it holds `batch` readings, or when its first
    reading is `flush_ms` old - checked on every add and flush (there is no
    background thread: call lw_client_flush when you stop adding).

    Reconnecting is libzmq's: the PUSH reconnects by itself (every 100 ms,
    backing off to 5 s) when lw-ingest restarts. The socket is
    ZMQ_IMMEDIATE, so nothing is queued for a peer that is not there.
    Messages already handed to a connection that then breaks are lost
    (PUSH has no acknowledgements); lw-ingest counts the batches it gets.

    The queue is bounded: `queue` messages in libzmq (its send HWM), plus
    one message waiting for room, plus the batch being filled. When all
    are full, lw_client_add does not take the reading: it waits up to
    `block_ms` for room (-1: as long as it takes, 0: not at all) and then
    returns -1 with errno EAGAIN; call it again later with the same
    reading. lw_client_flush behaves the same way.

    Only standard headers here: a gateway needs no czmq include to use it
    (it links lw_common, libczmq, libzmq and msgpack-c).
    =========================================================================
*/

#ifndef LW_CLIENT_H_INCLUDED
#define LW_CLIENT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _lw_client_t lw_client_t;

//  Defaults of the options
#define LW_CLIENT_BATCH 512      //  Readings per message, 1..4096
#define LW_CLIENT_FLUSH_MS 50    //  Longest wait of a partial batch, ms
#define LW_CLIENT_QUEUE 1000     //  Messages queued in libzmq
#define LW_CLIENT_BLOCK_MS 0     //  Wait for room on add/flush; -1 = forever
#define LW_CLIENT_LINGER_MS 2000 //  Wait to send at destroy

//  Creates a client; NULL on no memory
lw_client_t *lw_client_new (void);
//  Flushes what is batched, waits up to the linger time for it to leave,
//  and destroys the client
void lw_client_destroy (lw_client_t **self_p);

//  Options; set them before lw_client_connect. Each returns 0, or -1
//  with errno EINVAL when the value is out of range.
int lw_client_set_batch (lw_client_t *self, size_t readings);
int lw_client_set_flush_ms (lw_client_t *self, int ms);    //  1..3600000
int lw_client_set_queue (lw_client_t *self, int messages); //  1..1000000
int lw_client_set_block_ms (lw_client_t *self, int ms);    //  -1..3600000
int lw_client_set_linger_ms (lw_client_t *self, int ms);   //  0..3600000

//  Connects to lw-ingest's gateway endpoint (tcp://, ipc://). Returns 0,
//  or -1 with errno (EINVAL: malformed endpoint).
int lw_client_connect (lw_client_t *self, const char *endpoint);

//  Adds one reading: key "<machine>/<sensor>", event time in ns since
//  the epoch (UTC), a finite value. Returns 0 when taken; -1 with errno
//  EINVAL (bad key or value: counted, never retried), EAGAIN (queue full
//  for block_ms: retry later), ENOTCONN (not connected).
int lw_client_add (lw_client_t *self, const char *sensor, int64_t time,
                   double value);
//  Sends the partial batch now. 0, or -1 with errno EAGAIN (no room
//  within block_ms; nothing is lost, retry later).
int lw_client_flush (lw_client_t *self);

//  Readings handed to libzmq so far
uint64_t lw_client_sent (lw_client_t *self);
//  Readings taken but not yet handed to libzmq
size_t lw_client_pending (lw_client_t *self);
//  Readings refused with EINVAL
uint64_t lw_client_rejected (lw_client_t *self);

void lw_client_test (bool verbose);

#endif
