/*  =========================================================================
    make_corpus.c - writes the seed corpora of the fuzz targets

    Copyright (c) the linewatch authors. MIT license.

    Usage: make_corpus <tests/fuzz/corpus>. Writes a few valid encodings
    of every lw_msg type (msg/), alert store record lists (alertdb/), and
    CSV and config files (csv/, cfg/). Run it again after a schema change;
    the files are committed.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_store.h"

//  --------------------------------------------------------------------------
//  Writes bytes to <dir>/<name>.

static void
s_write (const char *dir, const char *name, const void *data, size_t size)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    assert (file);
    assert (fwrite (data, 1, size, file) == size || size == 0);
    fclose (file);
}

static void
s_write_frame (const char *dir, const char *name, zframe_t **frame_p)
{
    assert (*frame_p);
    s_write (dir, name, zframe_data (*frame_p), zframe_size (*frame_p));
    zframe_destroy (frame_p);
}

static void
s_write_text (const char *dir, const char *name, const char *text)
{
    s_write (dir, name, text, strlen (text));
}

//  --------------------------------------------------------------------------
//  Appends one alertdb record (see fuzz_alertdb.c) to buffer.

static size_t
s_record (uint8_t *buffer, size_t offset, int db, int number,
          const void *value, size_t size)
{
    assert (size <= 255);
    buffer[offset++] = (uint8_t) ((number << 2) | db);
    buffer[offset++] = (uint8_t) size;
    memcpy (buffer + offset, value, size);
    return offset + size;
}

static void
s_alert (lw_alert_t *alert, uint64_t id, uint64_t local_seq, uint8_t label)
{
    memset (alert, 0, sizeof (*alert));
    alert->id = id;
    alert->scorer = 0;
    alert->local_seq = local_seq;
    alert->state = LW_ALERT_OPEN;
    strcpy (alert->sensor, "line1/press3/temp");
    alert->opened = 1700000000000000000LL;
    alert->updated = alert->opened + 1000;
    alert->score = 0.93;
    alert->value = 81.5;
    alert->expected_low = 60;
    alert->expected_high = 70;
    alert->ndetectors = 2;
    strcpy (alert->detectors[0], "zscore");
    strcpy (alert->detectors[1], "ewma");
    alert->label = label;
}

int
main (int argc, char *argv[])
{
    if (argc != 2) {
        fprintf (stderr, "usage: make_corpus <corpus dir>\n");
        return 2;
    }
    char dir[512];
    const char *root = argv[1];

    //  msg: one of every type
    snprintf (dir, sizeof (dir), "%s/msg", root);
    zsys_dir_create (dir);
    lw_msg_type_t kinds[] = {LW_MSG_READINGS, LW_MSG_FEATURES, LW_MSG_SCORES};
    for (int kind = 0; kind < 3; kind++) {
        lw_batch_t *batch = lw_batch_new (kinds[kind]);
        lw_batch_set_publisher (batch, 42);
        lw_batch_set_partition (batch, 3);
        lw_batch_set_sequence (batch, 7);
        lw_batch_set_ingest_time (batch, 1700000000000000000LL);
        for (int index = 0; index < 3; index++) {
            char key[32];
            snprintf (key, sizeof (key), "m%d/s%d", index, index);
            lw_item_t *item = lw_batch_add (batch, key);
            item->time = 1700000000000000000LL + index;
            item->value = 1.5 * index;
            item->quality = (uint32_t) index & 1;
            item->score = 0.25;
            item->expected_low = 1;
            item->expected_high = 2;
            item->flags = LW_SCORE_WARMUP;
            item->nfeatures = kinds[kind] == LW_MSG_FEATURES ? 4 : 0;
            for (uint32_t feature = 0; feature < item->nfeatures; feature++)
                item->features[feature] = feature * 0.5;
        }
        char name[32];
        snprintf (name, sizeof (name), "batch-%d", kinds[kind]);
        zframe_t *frame = lw_batch_encode (batch);
        s_write_frame (dir, name, &frame);
        lw_batch_reset (batch);
        frame = lw_batch_encode (batch);
        snprintf (name, sizeof (name), "batch-%d-empty", kinds[kind]);
        s_write_frame (dir, name, &frame);
        lw_batch_destroy (&batch);
    }
    lw_gap_t gap = {"line1/press3/temp", 100, 200, false};
    zframe_t *frame = lw_msg_gap_encode (&gap);
    s_write_frame (dir, "gap", &frame);
    gap.silent = true;          //  The optional field
    frame = lw_msg_gap_encode (&gap);
    s_write_frame (dir, "gap-silent", &frame);
    lw_alert_t alert;
    s_alert (&alert, 5, 1, LW_LABEL_ANOMALY);
    frame = lw_msg_alert_encode (&alert);
    s_write_frame (dir, "alert", &frame);
    lw_label_t label = {3, 5, "line1/press3/temp", 10, 20, LW_LABEL_NORMAL,
                        "checked by hand", 30};
    frame = lw_msg_label_encode (&label);
    s_write_frame (dir, "label", &frame);
    lw_ctrl_t ctrl;
    memset (&ctrl, 0, sizeof (ctrl));
    ctrl.kind = LW_CTRL_HEARTBEAT;
    strcpy (ctrl.group, "scorer");
    strcpy (ctrl.name, "scorer-1");
    ctrl.pid = 1234;
    ctrl.epoch = 9;
    ctrl.alive = true;
    ctrl.npartitions = 3;
    ctrl.partitions[1] = 5;
    ctrl.partitions[2] = 63;
    lw_ctrl_stat_add (&ctrl, "in", 100);
    lw_ctrl_stat_add (&ctrl, "drop_truncated", 2);
    frame = lw_msg_ctrl_encode (&ctrl);
    s_write_frame (dir, "ctrl", &frame);
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_LABEL;
    request.alert_id = 5;
    strcpy (request.sensor, "line1");
    request.from = 1;
    request.to = 2;
    request.limit = 10;
    request.label = LW_LABEL_ANOMALY;
    strcpy (request.note, "x");
    frame = lw_msg_request_encode (&request);
    s_write_frame (dir, "request", &frame);
    lw_reply_t reply = {0, "ok", 2};
    frame = lw_msg_reply_encode (&reply);
    s_write_frame (dir, "reply", &frame);
    uint8_t hostile[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    s_write (dir, "array-4g", hostile, sizeof (hostile));

    //  alertdb: a consistent store, then one with a corrupt alert
    snprintf (dir, sizeof (dir), "%s/alertdb", root);
    zsys_dir_create (dir);
    uint8_t records[2048];
    size_t size = 0;
    for (uint64_t id = 1; id <= 3; id++) {
        s_alert (&alert, id, id, id == 1 ? LW_LABEL_ANOMALY : 0);
        frame = lw_msg_alert_encode (&alert);
        size = s_record (records, size, 0, (int) id, zframe_data (frame),
                         zframe_size (frame));
        zframe_destroy (&frame);
        uint8_t id_bytes[8];
        lw_store_put_u64 (id_bytes, id);
        size = s_record (records, size, 1, (int) id, id_bytes, 8);
    }
    label.id = 1;
    label.alert_id = 1;
    frame = lw_msg_label_encode (&label);
    size = s_record (records, size, 2, 1, zframe_data (frame),
                     zframe_size (frame));
    zframe_destroy (&frame);
    uint8_t next[8];
    lw_store_put_u64 (next, 4);
    size = s_record (records, size, 3, 0, next, 8);
    lw_store_put_u64 (next, 2);
    size = s_record (records, size, 3, 1, next, 8);
    s_write (dir, "store", records, size);
    size = s_record (records, size, 0, 2, hostile, sizeof (hostile));
    s_write (dir, "store-corrupt", records, size);

    //  csv: the three shapes, quoting, delimiters
    snprintf (dir, sizeof (dir), "%s/csv", root);
    zsys_dir_create (dir);
    s_write_text (dir, "narrow", "timestamp,value\n"
                  "2024-01-01T00:00:00Z,1.5\n2024-01-01T00:00:01Z,2\n"
                  "2024-01-01T00:00:02Z,bad\n");
    s_write_text (dir, "long", "time;sensor;value\n"
                  "1700000000;m1/s1;1\n1700000001;\"m1/s;2\";2e3\n"
                  "1700000002;m1/s1;-inf\n");
    s_write_text (dir, "wide", "timestamp\ttemp\tpressure\tflow\n"
                  "1700000000000\t1\t\t3\n1700000000001\t4\t5\t6\n"
                  "1700000000002\t7\t8\n");
    s_write_text (dir, "quoted", "\"timestamp\",\"a\",\"b\"\r\n"
                  "\"2024-01-01 00:00:00\",\"1,5\",\"2\"\"\"\r\n"
                  "\"2024-01-01 00:00:01\",\"multi\nline\",3\r\n");

    //  cfg: the shipped config is added by the CMake rule; a few small ones
    snprintf (dir, sizeof (dir), "%s/cfg", root);
    zsys_dir_create (dir);
    s_write_text (dir, "small", "common\n    partitions = 8\n"
                  "    heartbeat = 500\n    log\n        verbose = 1\n"
                  "broker\n    readings_in = \"ipc://r-in\"\n"
                  "detect\n    window = 100\n    z_scale = 3.5\n");
    s_write_text (dir, "comments", "#   comment\ncommon\n    hwm = 1000   # c\n"
                  "    truth =    # only a comment\n"
                  "ingest\n    gateway = tcp://127.0.0.1:5555\n"
                  "    source\n        a\n            type = csv\n");
    s_write_text (dir, "bad", "common\n   partitions = -1\n\tbroker = x\n");
    return 0;
}
