/*  =========================================================================
    ctl_replay.c - `lwctl replay FILE`: feed a CSV into the running node

    Copyright (c) the linewatch authors. MIT license.

    lwctl acts as a gateway: it reads the CSV (narrow, long or wide), packs
    readings into msgpack batches and PUSHes them to lw-ingest's gateway
    socket, which cleans and publishes them like any other source. Event
    times are kept from the file. --speed X paces the replay at X times
    event time; the default (--asap) sends as fast as the node takes it
    (a full node blocks the sender: nothing is dropped).
    =========================================================================
*/

#include "lw_ctl.h"
#include "lw_csv.h"
#include "lw_msg.h"
#include "lw_util.h"

#include <math.h>
#include <time.h>

#define LW_REPLAY_BATCH 512     //  Readings per gateway message

typedef struct {
    zsock_t *push;              //  To lw-ingest's gateway
    lw_batch_t *batch;          //  Batch being filled
    uint64_t sequence;          //  Batches sent
    size_t sent;                //  Readings sent
    const char *endpoint;       //  For messages
    int timeout;                //  ms
} replay_t;

//  --------------------------------------------------------------------------
//  Sends the batch if it holds anything. Returns 0, or -1 when the node
//  did not take it within the timeout.

static int
s_flush (replay_t *self)
{
    size_t count = lw_batch_count (self->batch);
    if (count == 0)
        return 0;
    lw_batch_set_sequence (self->batch, ++self->sequence);
    lw_batch_set_ingest_time (self->batch, lw_time_now ());
    zframe_t *frame = lw_batch_encode (self->batch);
    if (!frame) {
        fprintf (stderr, "lwctl: cannot encode a batch\n");
        return -1;
    }
    if (zframe_send (&frame, self->push, 0)) {
        zframe_destroy (&frame);
        fprintf (stderr,
                 "lwctl: node did not take readings at %s within %d ms "
                 "(is `lwctl up` running?)\n", self->endpoint, self->timeout);
        return -1;
    }
    self->sent += count;
    lw_batch_reset (self->batch);
    return 0;
}

//  --------------------------------------------------------------------------
//  Adds one reading, flushing first when the batch is full

static int
s_add (replay_t *self, const char *key, int64_t time, double value)
{
    lw_item_t *item = lw_batch_add (self->batch, key);
    if (!item && lw_batch_full (self->batch)) {
        if (s_flush (self))
            return -1;
        item = lw_batch_add (self->batch, key);
    }
    if (!item)
        return 1;               //  Invalid key: skipped
    item->time = time;
    item->value = value;
    if (lw_batch_count (self->batch) >= LW_REPLAY_BATCH)
        return s_flush (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Sleeps until the wall-clock moment that event time `time` maps to

static void
s_pace (int64_t start_wall, int64_t start_event, int64_t time, double speed)
{
    int64_t target
        = start_wall + (int64_t) ((double) (time - start_event) / speed);
    int64_t left = target - lw_time_mono ();
    if (left > 0) {
        struct timespec pause = {left / LW_NS_PER_SEC, left % LW_NS_PER_SEC};
        nanosleep (&pause, NULL);
    }
}

int
lw_ctl_replay (lw_ctl_t *ctl, int argc, char **argv)
{
    const char *file = NULL;
    const char *sensor = NULL;
    double speed = 0;           //  0 = as fast as possible
    for (int argn = 1; argn < argc; argn++) {
        if (streq (argv[argn], "--sensor") && argn + 1 < argc)
            sensor = argv[++argn];
        else if (streq (argv[argn], "--speed") && argn + 1 < argc) {
            if (lw_parse_double (argv[++argn], 1e-6, 1e9, &speed)) {
                fprintf (stderr, "lwctl: --speed '%.64s' is not a number in "
                                 "[1e-6, 1e9]\n", argv[argn]);
                return LW_CTL_USAGE;
            }
        }
        else if (streq (argv[argn], "--asap"))
            speed = 0;
        else if (argv[argn][0] != '-' && !file)
            file = argv[argn];
        else {
            fprintf (stderr, "usage: lwctl replay FILE [--sensor S] "
                             "[--speed X | --asap]\n");
            return LW_CTL_USAGE;
        }
    }
    if (!file) {
        fprintf (stderr, "usage: lwctl replay FILE [--sensor S] "
                         "[--speed X | --asap]\n");
        return LW_CTL_USAGE;
    }
    lw_csv_t *csv = lw_csv_open (file);
    if (!csv)
        return LW_CTL_FAIL;
    lw_csv_shape_t shape = lw_csv_shape (csv);
    //  Narrow: the sensor key; wide: the machine the columns belong to
    //  The same defaults as `lwctl score`, so both name sensors alike
    const char *name = sensor ? sensor
                              : (shape == LW_CSV_WIDE ? "csv" : "csv/value");
    if (shape == LW_CSV_NARROW && !lw_key_valid (name, strlen (name))) {
        fprintf (stderr, "lwctl: --sensor '%.64s' is not a valid key\n",
                 name);
        lw_csv_destroy (&csv);
        return LW_CTL_USAGE;
    }

    replay_t replay = {.endpoint = ctl->node.gateway,
                       .timeout = ctl->timeout};
    replay.push = zsock_new (ZMQ_PUSH);
    replay.batch = lw_batch_new (LW_MSG_READINGS);
    assert (replay.push && replay.batch);
    lw_batch_set_publisher (replay.batch, lw_random_id ());
    zsock_set_sndhwm (replay.push, (int) ctl->node.hwm);
    zsock_set_sndtimeo (replay.push, ctl->timeout);
    zsock_set_linger (replay.push, ctl->timeout);
    int rc = LW_CTL_OK;
    if (zsock_connect (replay.push, "%s", ctl->node.gateway)) {
        fprintf (stderr, "lwctl: cannot connect to %s\n", ctl->node.gateway);
        rc = LW_CTL_FAIL;
        goto cleanup;
    }
    size_t columns = lw_csv_values (csv);
    double values[LW_CSV_COLUMNS_MAX];
    char key[LW_KEY_MAX + 1];
    int64_t time;
    const char *row_sensor;
    int64_t start_wall = lw_time_mono ();
    int64_t start_event = 0;
    bool first = true;
    size_t skipped = 0;
    int status;
    while ((status = lw_csv_next (csv, &time, &row_sensor, values)) == 1) {
        if (first) {
            start_event = time;
            first = false;
        }
        if (speed > 0) {
            //  Send what is due before waiting, so pacing adds no latency
            if (s_flush (&replay)) {
                rc = LW_CTL_FAIL;
                goto cleanup;
            }
            s_pace (start_wall, start_event, time, speed);
        }
        for (size_t column = 0; column < columns; column++) {
            const char *reading_key = name;
            if (shape == LW_CSV_LONG)
                reading_key = row_sensor;
            else if (shape == LW_CSV_WIDE) {
                if (isnan (values[column]))
                    continue;           //  Empty cell: no reading
                snprintf (key, sizeof (key), "%s/%s", name,
                          lw_csv_value_name (csv, column));
                reading_key = key;
            }
            int added = s_add (&replay, reading_key, time, values[column]);
            if (added < 0) {
                rc = LW_CTL_FAIL;
                goto cleanup;
            }
            skipped += added;
        }
    }
    if (status < 0 || s_flush (&replay)) {
        if (status < 0)
            fprintf (stderr, "lwctl: read error in %s\n", file);
        rc = LW_CTL_FAIL;
        goto cleanup;
    }
    if (ctl->json)
        printf ("{\"readings\":%zu,\"bad_rows\":%zu,\"bad_keys\":%zu}\n",
                replay.sent, lw_csv_bad_rows (csv), skipped);
    else
        printf ("replayed %zu readings from %s (%zu bad rows, %zu bad keys "
                "skipped)\n", replay.sent, file, lw_csv_bad_rows (csv),
                skipped);

cleanup:
    //  Linger delivers what is queued, bounded by the timeout
    zsock_destroy (&replay.push);
    lw_batch_destroy (&replay.batch);
    lw_csv_destroy (&csv);
    return rc;
}
