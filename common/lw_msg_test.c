/*  =========================================================================
    lw_msg_test.c - self test of lw_msg (split from lw_msg.c for size)

    Copyright (c) the linewatch authors. MIT license.

    Round trips of every message type, the encode/decode rate of a batch,
    and one hostile input per rejection reason: truncated, trailing,
    `dd ff ff ff ff`, 33-deep nesting, wrong types, unknown versions and
    types, oversized frames, too many items, bad keys, bad envelopes. It
    builds hostile frames with msgpack-c directly, so it lives in common/
    next to lw_msg.c, the only other file that knows msgpack.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_util.h"

#include <math.h>
#include <msgpack.h>

//  Wire arities (see the grammar in lw_msg.h)
#define FIELDS_BATCH 7
#define FIELDS_READING 4
#define FIELDS_VECTOR 5
#define FIELDS_GAP 5

//  --------------------------------------------------------------------------
//  Packs a string of size bytes

static int
s_pack_str (msgpack_packer *packer, const char *text, size_t size)
{
    return msgpack_pack_str (packer, size) |
           msgpack_pack_str_body (packer, text, size);
}

//  --------------------------------------------------------------------------
//  A raw msgpack writer for hostile frames
typedef struct {
    msgpack_sbuffer buffer; //  Bytes written so far
    msgpack_packer packer;  //  Packs into buffer
} raw_t;

//  --------------------------------------------------------------------------
//  Starts an empty raw frame

static void
s_raw_init (raw_t *raw)
{
    msgpack_sbuffer_init (&raw->buffer);
    msgpack_packer_init (&raw->packer, &raw->buffer, msgpack_sbuffer_write);
}

//  --------------------------------------------------------------------------
//  Packs a batch header with `items` items to follow

static int
s_raw_batch (raw_t *raw, int version, int type, size_t items)
{
    msgpack_packer *packer = &raw->packer;
    return msgpack_pack_array (packer, FIELDS_BATCH) |
           msgpack_pack_int (packer, version) |
           msgpack_pack_int (packer, type) | msgpack_pack_uint64 (packer, 42) |
           msgpack_pack_uint16 (packer, 3) | msgpack_pack_uint64 (packer, 1) |
           msgpack_pack_int64 (packer, 1000) |
           msgpack_pack_array (packer, items);
}

//  --------------------------------------------------------------------------
//  Packs one reading whose key is key_size bytes of key

static int
s_raw_reading (raw_t *raw, const char *key, size_t key_size)
{
    msgpack_packer *packer = &raw->packer;
    return msgpack_pack_array (packer, FIELDS_READING) |
           s_pack_str (packer, key, key_size) | msgpack_pack_int64 (packer, 5) |
           msgpack_pack_double (packer, 1.5) | msgpack_pack_uint32 (packer, 0);
}

//  --------------------------------------------------------------------------
//  Decodes raw as a readings batch and returns the result

static int
s_raw_decode (raw_t *raw, lw_batch_t *batch)
{
    int rc = lw_batch_decode (batch, (const uint8_t *)raw->buffer.data,
                              raw->buffer.size);
    msgpack_sbuffer_destroy (&raw->buffer);
    return rc;
}

//  --------------------------------------------------------------------------
//  A one-reading batch whose sensor key is key_size bytes of key

static int
s_decode_key (lw_batch_t *batch, const char *key, size_t key_size)
{
    raw_t raw;
    s_raw_init (&raw);
    int rc = s_raw_batch (&raw, 1, LW_MSG_READINGS, 1) |
             s_raw_reading (&raw, key, key_size);
    assert (rc == 0);
    return s_raw_decode (&raw, batch);
}

//  --------------------------------------------------------------------------
//  Key validation, directly and through the decoder and lw_batch_add

static void
s_test_keys (lw_batch_t *batch)
{
    char long_key[LW_KEY_MAX + 2];
    memset (long_key, 'k', sizeof (long_key));
    long_key[LW_KEY_MAX + 1] = 0;
    assert (lw_key_valid ("line1/press3/temp", 17));
    assert (lw_key_valid ("halle/presse/température", 25));
    assert (lw_key_valid ("\xf0\x9f\x94\xa5/x", 6)); //  U+1F525
    assert (lw_key_valid (long_key, LW_KEY_MAX));
    assert (!lw_key_valid (long_key, LW_KEY_MAX + 1));
    assert (!lw_key_valid ("", 0));
    assert (!lw_key_valid (NULL, 3));
    assert (!lw_key_valid ("a\tb", 3));
    assert (!lw_key_valid ("a\nb", 3));
    assert (!lw_key_valid ("a\x7f", 2));
    assert (!lw_key_valid ("a\0b", 3));
    assert (!lw_key_valid ("a\xc2\x85", 3));        //  C1 NEL
    assert (!lw_key_valid ("\xc0\xaf", 2));         //  Overlong
    assert (!lw_key_valid ("\xe0\x80\xaf", 3));     //  Overlong
    assert (!lw_key_valid ("\xed\xa0\x80", 3));     //  Surrogate
    assert (!lw_key_valid ("\xf4\x90\x80\x80", 4)); //  > U+10FFFF
    assert (!lw_key_valid ("\xff", 1));
    assert (!lw_key_valid ("\x80", 1));
    assert (!lw_key_valid ("ab\xc3", 3)); //  Cut short
    assert (!lw_key_valid ("\xe2\x82", 2));

    //  Each bad key is rejected by the decoder as BAD_KEY
    assert (s_decode_key (batch, "a/b", 3) == 0);
    assert (s_decode_key (batch, "", 0) == LW_MSG_BAD_KEY);
    assert (s_decode_key (batch, long_key, LW_KEY_MAX + 1) == LW_MSG_BAD_KEY);
    assert (s_decode_key (batch, long_key, LW_KEY_MAX) == 0);
    assert (s_decode_key (batch, "a/\x01", 3) == LW_MSG_BAD_KEY);
    assert (s_decode_key (batch, "a/\xfe", 3) == LW_MSG_BAD_KEY);
    assert (lw_batch_count (batch) == 0);
    //  ... and by lw_batch_add
    lw_batch_reset (batch);
    assert (lw_batch_add (batch, "") == NULL);
    assert (lw_batch_add (batch, long_key) == NULL);
    assert (lw_batch_add (batch, "a/\x1b[2J") == NULL);
    assert (lw_batch_add (batch, "a/\xc3\x28") == NULL);
    assert (lw_batch_count (batch) == 0);
}

//  --------------------------------------------------------------------------
//  Fills a batch of `kind` with count items derived from their index

static void
s_fill_batch (lw_batch_t *batch, size_t count)
{
    lw_batch_reset (batch);
    lw_batch_set_publisher (batch, 0xfedcba9876543210ULL);
    lw_batch_set_partition (batch, 63);
    lw_batch_set_sequence (batch, UINT64_MAX);
    lw_batch_set_ingest_time (batch, 1709210096123456789LL);
    for (size_t index = 0; index < count; index++) {
        char key[64];
        snprintf (key, sizeof (key), "line1/press%zu/temp", index % 13);
        lw_item_t *item = lw_batch_add (batch, key);
        assert (item);
        item->time = 1709210096000000000LL + (int64_t)index;
        item->value = (double)index * 0.5 - 100;
        item->quality = (uint32_t)index % 4;
        item->score = 1.0 / (double)(index + 1);
        item->expected_low = -1e300;
        item->expected_high = 1e300;
        item->flags = LW_SCORE_WARMUP;
        item->nfeatures = (uint32_t)(index % (LW_FEATURES_MAX + 1));
        for (uint32_t feature = 0; feature < item->nfeatures; feature++)
            item->features[feature] = feature * 1.25;
    }
}

//  --------------------------------------------------------------------------
//  Checks that decoded matches what s_fill_batch produced

static void
s_check_batch (lw_batch_t *batch, lw_msg_type_t kind, size_t count)
{
    assert (lw_batch_kind (batch) == kind);
    assert (lw_batch_count (batch) == count);
    assert (lw_batch_publisher (batch) == 0xfedcba9876543210ULL);
    assert (lw_batch_partition (batch) == 63);
    assert (lw_batch_sequence (batch) == UINT64_MAX);
    assert (lw_batch_ingest_time (batch) == 1709210096123456789LL);
    for (size_t index = 0; index < count; index++) {
        lw_item_t *item = lw_batch_item (batch, index);
        char key[64];
        snprintf (key, sizeof (key), "line1/press%zu/temp", index % 13);
        assert (streq (item->sensor, key));
        assert (item->time == 1709210096000000000LL + (int64_t)index);
        assert (item->value == (double)index * 0.5 - 100);
        if (kind == LW_MSG_READINGS || kind == LW_MSG_FEATURES)
            assert (item->quality == (uint32_t)index % 4);
        if (kind == LW_MSG_SCORES) {
            assert (item->score == 1.0 / (double)(index + 1));
            assert (item->expected_low == -1e300);
            assert (item->expected_high == 1e300);
            assert (item->flags == LW_SCORE_WARMUP);
        }
        else
            assert (item->score == 0 && item->flags == 0);
        if (kind == LW_MSG_FEATURES) {
            assert (item->nfeatures == index % (LW_FEATURES_MAX + 1));
            for (uint32_t feature = 0; feature < item->nfeatures; feature++)
                assert (item->features[feature] == feature * 1.25);
        }
        else
            assert (item->nfeatures == 0);
    }
}

//  --------------------------------------------------------------------------
//  Round trips of every batch kind and size, numbers of every msgpack
//  type, and the encode/decode rate

static void
s_test_batches (lw_batch_t *batch, lw_batch_t *copy, bool verbose)
{
    lw_msg_type_t kinds[] = {LW_MSG_READINGS, LW_MSG_FEATURES, LW_MSG_SCORES};
    for (size_t kind_nbr = 0; kind_nbr < 3; kind_nbr++) {
        lw_batch_t *source = lw_batch_new (kinds[kind_nbr]);
        assert (source);
        size_t sizes[] = {0, 1, 100, LW_BATCH_MAX};
        for (size_t size_nbr = 0; size_nbr < 4; size_nbr++) {
            s_fill_batch (source, sizes[size_nbr]);
            zframe_t *frame = lw_batch_encode (source);
            assert (frame);
            assert (lw_msg_type (zframe_data (frame), zframe_size (frame)) ==
                    (int)kinds[kind_nbr]);
            assert (lw_batch_decode (copy, zframe_data (frame),
                                     zframe_size (frame)) == 0);
            s_check_batch (copy, kinds[kind_nbr], sizes[size_nbr]);
            //  Wrong decoder for a batch
            lw_gap_t gap;
            assert (lw_msg_gap_decode (zframe_data (frame), zframe_size (frame),
                                       &gap) == LW_MSG_BAD_TYPE);
            zframe_destroy (&frame);
        }
        //  A full batch refuses more items
        assert (lw_batch_full (source));
        assert (lw_batch_add (source, "a/b") == NULL);
        lw_batch_reset (source);
        assert (!lw_batch_full (source) && lw_batch_count (source) == 0);
        assert (lw_batch_publisher (source) == 0xfedcba9876543210ULL);
        lw_batch_destroy (&source);
    }

    //  The encoder refuses items no receiver would accept
    lw_batch_t *features = lw_batch_new (LW_MSG_FEATURES);
    assert (features);
    lw_item_t *vector = lw_batch_add (features, "m/s");
    assert (vector);
    vector->nfeatures = LW_FEATURES_MAX + 1;
    assert (lw_batch_encode (features) == NULL);
    vector->nfeatures = LW_FEATURES_MAX;
    vector->sensor = "";
    assert (lw_batch_encode (features) == NULL);
    vector->sensor = "m/t";
    zframe_t *vector_frame = lw_batch_encode (features);
    assert (vector_frame);
    zframe_destroy (&vector_frame);
    lw_batch_destroy (&features);

    //  Non-finite values and integer values decode as numbers
    lw_batch_reset (batch);
    lw_batch_set_partition (batch, 1);
    lw_item_t *item = lw_batch_add (batch, "m/nan");
    item->value = NAN;
    item = lw_batch_add (batch, "m/inf");
    item->value = -INFINITY;
    item->time = INT64_MIN;
    zframe_t *frame = lw_batch_encode (batch);
    assert (frame);
    assert (lw_batch_decode (copy, zframe_data (frame), zframe_size (frame)) ==
            0);
    assert (isnan (lw_batch_item (copy, 0)->value));
    assert (isinf (lw_batch_item (copy, 1)->value));
    assert (lw_batch_item (copy, 1)->time == INT64_MIN);
    zframe_destroy (&frame);
    raw_t raw;
    s_raw_init (&raw);
    int rc = s_raw_batch (&raw, 1, LW_MSG_READINGS, 3);
    msgpack_packer *packer = &raw.packer;
    rc |= msgpack_pack_array (packer, 4) | s_pack_str (packer, "m/i", 3) |
          msgpack_pack_int64 (packer, -5) | msgpack_pack_int64 (packer, -7) |
          msgpack_pack_uint8 (packer, 1);
    rc |= msgpack_pack_array (packer, 4) | s_pack_str (packer, "m/u", 3) |
          msgpack_pack_int8 (packer, 5) | msgpack_pack_uint64 (packer, 9) |
          msgpack_pack_uint8 (packer, 0);
    rc |= msgpack_pack_array (packer, 4) | s_pack_str (packer, "m/f", 3) |
          msgpack_pack_int64 (packer, 0) | msgpack_pack_float (packer, 0.5f) |
          msgpack_pack_uint8 (packer, 0);
    assert (rc == 0);
    assert (s_raw_decode (&raw, copy) == 0);
    assert (lw_batch_item (copy, 0)->value == -7);
    assert (lw_batch_item (copy, 0)->time == -5);
    assert (lw_batch_item (copy, 0)->quality == 1);
    assert (lw_batch_item (copy, 1)->value == 9);
    assert (lw_batch_item (copy, 1)->time == 5);
    assert (lw_batch_item (copy, 2)->value == 0.5);

    //  Speed: 512-reading batches, encode and decode
    lw_batch_t *readings = lw_batch_new (LW_MSG_READINGS);
    assert (readings);
    s_fill_batch (readings, 512);
    const int rounds = 200;
    int64_t started = lw_time_mono ();
    size_t frame_size = 0;
    for (int round = 0; round < rounds; round++) {
        frame = lw_batch_encode (readings);
        assert (frame);
        frame_size = zframe_size (frame);
        zframe_destroy (&frame);
    }
    int64_t encode_ns = lw_time_mono () - started;
    frame = lw_batch_encode (readings);
    started = lw_time_mono ();
    for (int round = 0; round < rounds; round++)
        assert (lw_batch_decode (copy, zframe_data (frame),
                                 zframe_size (frame)) == 0);
    int64_t decode_ns = lw_time_mono () - started;
    zframe_destroy (&frame);
    s_check_batch (copy, LW_MSG_READINGS, 512);
    if (verbose)
        printf ("   512-reading batch (%zu bytes): encode %.0f ns/reading, "
                "decode %.0f ns/reading\n",
                frame_size, (double)encode_ns / rounds / 512,
                (double)decode_ns / rounds / 512);
    lw_batch_destroy (&readings);
}

//  --------------------------------------------------------------------------
//  Round trips of gap, alert, label, control, request and reply

static void
s_test_singles (void)
{
    //  Gap
    lw_gap_t gap = {.last_time = -3, .time = INT64_MAX};
    strcpy (gap.sensor, "line1/press3/temp");
    zframe_t *frame = lw_msg_gap_encode (&gap);
    assert (frame);
    assert (lw_msg_type (zframe_data (frame), zframe_size (frame)) ==
            LW_MSG_GAP);
    lw_gap_t gap_copy;
    assert (lw_msg_gap_decode (zframe_data (frame), zframe_size (frame),
                               &gap_copy) == 0);
    assert (memcmp (&gap, &gap_copy, sizeof (gap)) == 0);
    assert (!gap_copy.silent);
    //  A silence still going on: the optional sixth field
    gap.silent = true;
    zframe_t *silent = lw_msg_gap_encode (&gap);
    assert (silent && zframe_size (silent) == zframe_size (frame) + 1);
    assert (lw_msg_gap_decode (zframe_data (silent), zframe_size (silent),
                               &gap_copy) == 0);
    assert (gap_copy.silent && gap_copy.time == INT64_MAX);
    assert (streq (gap_copy.sensor, gap.sensor));
    zframe_destroy (&silent);
    gap.silent = false;
    lw_alert_t alert_wrong;
    assert (lw_msg_alert_decode (zframe_data (frame), zframe_size (frame),
                                 &alert_wrong) == LW_MSG_BAD_TYPE);
    zframe_destroy (&frame);

    //  Alert
    lw_alert_t alert = {.id = 8812,
                        .scorer = UINT64_MAX,
                        .local_seq = 7,
                        .state = LW_ALERT_UPDATE,
                        .opened = 100,
                        .closed = 0,
                        .updated = 200,
                        .score = 0.97,
                        .value = 81.5,
                        .expected_low = 60,
                        .expected_high = 75,
                        .ndetectors = 2,
                        .label = LW_LABEL_NORMAL};
    strcpy (alert.sensor, "line1/press3/temp");
    strcpy (alert.detectors[0], "zscore");
    strcpy (alert.detectors[1], "forest");
    frame = lw_msg_alert_encode (&alert);
    assert (frame);
    lw_alert_t alert_copy;
    assert (lw_msg_alert_decode (zframe_data (frame), zframe_size (frame),
                                 &alert_copy) == 0);
    assert (memcmp (&alert, &alert_copy, sizeof (alert)) == 0);
    zframe_destroy (&frame);
    alert.ndetectors = LW_DETECTORS_MAX + 1;
    assert (lw_msg_alert_encode (&alert) == NULL);
    alert.ndetectors = 0;
    alert.state = 9; //  Encodes, but is out of range
    frame = lw_msg_alert_encode (&alert);
    assert (lw_msg_alert_decode (zframe_data (frame), zframe_size (frame),
                                 &alert_copy) == LW_MSG_BAD_RANGE);
    zframe_destroy (&frame);

    //  Label
    lw_label_t label = {.id = 1,
                        .alert_id = 0,
                        .from = 10,
                        .to = 20,
                        .label = LW_LABEL_ANOMALY,
                        .at = 30};
    strcpy (label.sensor, "line1/press3/temp");
    strcpy (label.note, "planned warm-up\nsecond line");
    frame = lw_msg_label_encode (&label);
    assert (frame);
    lw_label_t label_copy;
    assert (lw_msg_label_decode (zframe_data (frame), zframe_size (frame),
                                 &label_copy) == 0);
    assert (memcmp (&label, &label_copy, sizeof (label)) == 0);
    zframe_destroy (&frame);

    //  Control, with full partition and stats arrays
    lw_ctrl_t *ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    lw_ctrl_t *ctrl_copy = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl && ctrl_copy);
    ctrl->kind = LW_CTRL_HEARTBEAT;
    strcpy (ctrl->group, "scorer");
    strcpy (ctrl->name, "scorer-1");
    ctrl->pid = 4242;
    ctrl->epoch = 17;
    ctrl->alive = true;
    ctrl->npartitions = LW_PARTITIONS_MAX;
    for (uint32_t index = 0; index < LW_PARTITIONS_MAX; index++)
        ctrl->partitions[index] = (uint16_t)(LW_PARTITIONS_MAX - 1 - index);
    for (uint32_t index = 0; index < LW_STATS_MAX; index++) {
        char name[LW_STAT_NAME_MAX + 1];
        snprintf (name, sizeof (name), "counter_%u", index);
        assert (lw_ctrl_stat_add (ctrl, name, (uint64_t)index << 40));
    }
    assert (!lw_ctrl_stat_add (ctrl, "one_too_many", 1));
    assert (lw_ctrl_stat (ctrl, "counter_159") == (uint64_t)159 << 40);
    assert (lw_ctrl_stat (ctrl, "missing") == 0);
    frame = lw_msg_ctrl_encode (ctrl);
    assert (frame);
    memset (ctrl_copy, 0xa5, sizeof (lw_ctrl_t));
    assert (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                ctrl_copy) == 0);
    assert (ctrl_copy->kind == ctrl->kind);
    assert (streq (ctrl_copy->group, ctrl->group));
    assert (streq (ctrl_copy->name, ctrl->name));
    assert (ctrl_copy->pid == ctrl->pid && ctrl_copy->epoch == ctrl->epoch);
    assert (ctrl_copy->alive && ctrl_copy->nstats == ctrl->nstats);
    assert (ctrl_copy->npartitions == ctrl->npartitions);
    assert (memcmp (ctrl->partitions, ctrl_copy->partitions,
                    sizeof (ctrl->partitions)) == 0);
    for (uint32_t index = 0; index < LW_STATS_MAX; index++) {
        assert (streq (ctrl->stats[index].name, ctrl_copy->stats[index].name));
        assert (ctrl->stats[index].value == ctrl_copy->stats[index].value);
    }
    zframe_destroy (&frame);
    //  An empty ping
    memset (ctrl, 0, sizeof (lw_ctrl_t));
    ctrl->kind = LW_CTRL_PING;
    frame = lw_msg_ctrl_encode (ctrl);
    assert (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                ctrl_copy) == 0);
    assert (ctrl_copy->kind == LW_CTRL_PING && ctrl_copy->nstats == 0);
    assert (ctrl_copy->group[0] == 0 && !ctrl_copy->alive);
    zframe_destroy (&frame);
    char long_name[LW_STAT_NAME_MAX + 2];
    memset (long_name, 'n', sizeof (long_name) - 1);
    long_name[LW_STAT_NAME_MAX + 1] = 0;
    assert (!lw_ctrl_stat_add (ctrl, long_name, 1));
    assert (!lw_ctrl_stat_add (ctrl, "", 1));
    ctrl->nstats = LW_STATS_MAX + 1;
    assert (lw_msg_ctrl_encode (ctrl) == NULL);
    ctrl->nstats = 0;
    ctrl->npartitions = 1;
    ctrl->partitions[0] = LW_PARTITIONS_MAX; //  Not a partition
    frame = lw_msg_ctrl_encode (ctrl);
    assert (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                ctrl_copy) == LW_MSG_BAD_RANGE);
    assert (ctrl_copy->npartitions == 0);
    zframe_destroy (&frame);

    //  Request
    lw_request_t request = {.op = LW_OP_LABEL,
                            .alert_id = 8812,
                            .from = -1,
                            .to = 1,
                            .open_only = true,
                            .limit = UINT32_MAX,
                            .label = LW_LABEL_NORMAL};
    strcpy (request.note, "planned warm-up");
    frame = lw_msg_request_encode (&request);
    assert (frame);
    lw_request_t request_copy;
    assert (lw_msg_request_decode (zframe_data (frame), zframe_size (frame),
                                   &request_copy) == 0);
    assert (memcmp (&request, &request_copy, sizeof (request)) == 0);
    zframe_destroy (&frame);
    request.op = 0;
    frame = lw_msg_request_encode (&request);
    assert (lw_msg_request_decode (zframe_data (frame), zframe_size (frame),
                                   &request_copy) == LW_MSG_BAD_RANGE);
    zframe_destroy (&frame);

    //  Reply
    lw_reply_t reply = {.status = -2, .count = LW_REPLY_MAX};
    strcpy (reply.text, "no such alert");
    frame = lw_msg_reply_encode (&reply);
    assert (frame);
    lw_reply_t reply_copy;
    assert (lw_msg_reply_decode (zframe_data (frame), zframe_size (frame),
                                 &reply_copy) == 0);
    assert (memcmp (&reply, &reply_copy, sizeof (reply)) == 0);
    zframe_destroy (&frame);
    reply.count = LW_REPLY_MAX + 1;
    frame = lw_msg_reply_encode (&reply);
    assert (lw_msg_reply_decode (zframe_data (frame), zframe_size (frame),
                                 &reply_copy) == LW_MSG_TOO_MANY);
    zframe_destroy (&frame);

    free (ctrl);
    free (ctrl_copy);
}

//  --------------------------------------------------------------------------
//  One hostile input per rejection reason, each with its own code

static void
s_test_hostile (lw_batch_t *batch)
{
    lw_gap_t gap;
    //  A good frame to mutilate
    lw_batch_t *source = lw_batch_new (LW_MSG_READINGS);
    assert (source);
    s_fill_batch (source, 50);
    zframe_t *frame = lw_batch_encode (source);
    assert (frame);
    const uint8_t *good = zframe_data (frame);
    size_t good_size = zframe_size (frame);
    assert (lw_batch_decode (batch, good, good_size) == 0);

    //  Truncated at every length: always rejected, leaves the batch empty
    for (size_t cut = 0; cut < good_size; cut++) {
        int rc = lw_batch_decode (batch, good, cut);
        assert (rc == LW_MSG_TRUNCATED || rc == LW_MSG_BAD_LENGTH);
        assert (lw_batch_count (batch) == 0);
    }
    assert (lw_batch_decode (batch, good, good_size - 1) == LW_MSG_TRUNCATED);
    assert (lw_batch_decode (batch, good, good_size / 2) == LW_MSG_TRUNCATED);
    assert (lw_batch_decode (batch, good, 0) == LW_MSG_TRUNCATED);
    assert (lw_batch_decode (batch, NULL, 0) == LW_MSG_TRUNCATED);
    //  The header fields survive a failed decode
    assert (lw_batch_publisher (batch) == 0xfedcba9876543210ULL);

    //  Trailing bytes
    uint8_t *longer = (uint8_t *)malloc (good_size + 1);
    assert (longer);
    memcpy (longer, good, good_size);
    longer[good_size] = 0xc0;
    assert (lw_batch_decode (batch, longer, good_size + 1) == LW_MSG_TRAILING);
    assert (lw_msg_prescan (longer, good_size + 1) == LW_MSG_TRAILING);
    free (longer);
    zframe_destroy (&frame);
    lw_batch_destroy (&source);

    //  Declared lengths beyond the frame: the 128 GiB allocation attack,
    //  and a map, str, bin and ext that claim more than there is
    uint8_t huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    assert (lw_batch_decode (batch, huge_array, sizeof (huge_array)) ==
            LW_MSG_BAD_LENGTH);
    assert (lw_msg_gap_decode (huge_array, sizeof (huge_array), &gap) ==
            LW_MSG_BAD_LENGTH);
    uint8_t huge_map[] = {0xdf, 0x80, 0x00, 0x00, 0x00, 0xc0, 0xc0};
    assert (lw_msg_prescan (huge_map, sizeof (huge_map)) == LW_MSG_BAD_LENGTH);
    uint8_t two_maps[] = {0x81, 0xc0}; //  Map of 1 needs 2 objects
    assert (lw_msg_prescan (two_maps, sizeof (two_maps)) == LW_MSG_BAD_LENGTH);
    uint8_t array16[] = {0xdc, 0x00, 0x03, 0xc0, 0xc0};
    assert (lw_msg_prescan (array16, sizeof (array16)) == LW_MSG_BAD_LENGTH);
    uint8_t huge_str[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    assert (lw_msg_prescan (huge_str, sizeof (huge_str)) == LW_MSG_TRUNCATED);
    uint8_t huge_bin[] = {0xc6, 0x7f, 0xff, 0xff, 0xff};
    assert (lw_msg_prescan (huge_bin, sizeof (huge_bin)) == LW_MSG_TRUNCATED);
    uint8_t huge_ext[] = {0xc9, 0x00, 0x00, 0x00, 0x01, 0x05};
    assert (lw_msg_prescan (huge_ext, sizeof (huge_ext)) == LW_MSG_TRUNCATED);
    uint8_t cut_header[] = {0xdd, 0x00, 0x00};
    assert (lw_msg_prescan (cut_header, sizeof (cut_header)) ==
            LW_MSG_TRUNCATED);

    //  Every other format byte is walked correctly: one array holding
    //  each kind of object, then a reserved byte
    uint8_t every[] = {
        0xdc, 0x00, 0x22,             //  array16 of 34
        0x05, 0xe0, 0xc0, 0xc2, 0xc3, //  fixints, nil, bools
        0xa1, 'x',  0xd9, 0x01, 'y',  0xda, 0x00, 0x00, 0xdb, 0,    0, 0,
        0,    0xc4, 0x01, 0x00, 0xc5, 0x00, 0x00, 0xc6, 0,    0,    0, 0,
        0xc7, 0x01, 0x01, 0x00, 0xc8, 0x00, 0x00, 0x01, 0xc9, 0,    0, 0,
        0,    1,    0xca, 0,    0,    0,    0,    0xcb, 0,    0,    0, 0,
        0,    0,    0,    0,    0xcc, 1,    0xcd, 0,    1,    0xce, 0, 0,
        0,    1,    0xcf, 0,    0,    0,    0,    0,    0,    0,    1, 0xd0,
        0xff, 0xd1, 0,    1,    0xd2, 0,    0,    0,    1,    0xd3, 0, 0,
        0,    0,    0,    0,    0,    1,    0xd4, 1,    0,    0xd5, 1, 0,
        0,    0xd6, 1,    0,    0,    0,    0,    0xd7, 1,    0,    0, 0,
        0,    0,    0,    0,    0,    0xd8, 1,    0,    0,    0,    0, 0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0, 0x80,
        0xde, 0x00, 0x00, 0xdf, 0,    0,    0,    0,    0x90};
    assert (lw_msg_prescan (every, sizeof (every)) == 0);
    //  The same must unpack (msgpack-c agrees with the scan) and be
    //  rejected by the walk (its "version" is 5)
    assert (lw_batch_decode (batch, every, sizeof (every)) ==
            LW_MSG_BAD_VERSION);
    uint8_t reserved[] = {0x92, 0x01, 0xc1};
    assert (lw_msg_prescan (reserved, sizeof (reserved)) == LW_MSG_WRONG_TYPE);
    assert (lw_batch_decode (batch, reserved, sizeof (reserved)) ==
            LW_MSG_WRONG_TYPE);

    //  Nesting: 32 levels pass the scan, 33 do not
    uint8_t nested[LW_MSG_MAX_DEPTH + 1];
    memset (nested, 0x91, sizeof (nested));
    nested[LW_MSG_MAX_DEPTH - 1] = 0x90;
    assert (lw_msg_prescan (nested, LW_MSG_MAX_DEPTH) == 0);
    assert (lw_batch_decode (batch, nested, LW_MSG_MAX_DEPTH) ==
            LW_MSG_WRONG_TYPE);
    nested[LW_MSG_MAX_DEPTH - 1] = 0x91;
    nested[LW_MSG_MAX_DEPTH] = 0x90;
    assert (lw_msg_prescan (nested, sizeof (nested)) == LW_MSG_TOO_DEEP);
    assert (lw_batch_decode (batch, nested, sizeof (nested)) ==
            LW_MSG_TOO_DEEP);
    assert (lw_msg_gap_decode (nested, sizeof (nested), &gap) ==
            LW_MSG_TOO_DEEP);

    //  Oversized frame
    size_t big_size = (size_t)LW_MAX_FRAME_SIZE + 1;
    uint8_t *big = (uint8_t *)calloc (1, big_size);
    assert (big);
    assert (lw_batch_decode (batch, big, big_size) == LW_MSG_TOO_BIG);
    assert (lw_msg_gap_decode (big, big_size, &gap) == LW_MSG_TOO_BIG);
    assert (lw_msg_type (big, big_size) == LW_MSG_TOO_BIG);
    free (big);

    //  Versions and types
    raw_t raw;
    s_raw_init (&raw);
    assert (s_raw_batch (&raw, 2, LW_MSG_READINGS, 0) == 0);
    assert (lw_msg_type ((const uint8_t *)raw.buffer.data, raw.buffer.size) ==
            LW_MSG_BAD_VERSION);
    assert (s_raw_decode (&raw, batch) == LW_MSG_BAD_VERSION);
    s_raw_init (&raw);
    assert (s_raw_batch (&raw, 0, LW_MSG_READINGS, 0) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_BAD_VERSION);
    s_raw_init (&raw);
    assert (s_raw_batch (&raw, -1, LW_MSG_READINGS, 0) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_WRONG_TYPE);
    s_raw_init (&raw);
    assert (s_raw_batch (&raw, 1, 99, 0) == 0);
    assert (lw_msg_type ((const uint8_t *)raw.buffer.data, raw.buffer.size) ==
            LW_MSG_BAD_TYPE);
    assert (s_raw_decode (&raw, batch) == LW_MSG_BAD_TYPE);
    s_raw_init (&raw);
    assert (s_raw_batch (&raw, 1, LW_MSG_ALERT, 0) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_BAD_TYPE);
    uint8_t short_array[] = {0x91, 0x01};
    assert (lw_msg_type (short_array, sizeof (short_array)) ==
            LW_MSG_WRONG_TYPE);
    assert (lw_batch_decode (batch, short_array, sizeof (short_array)) ==
            LW_MSG_WRONG_TYPE);
    uint8_t not_array[] = {0x81, 0x01, 0x01};
    assert (lw_msg_type (not_array, sizeof (not_array)) == LW_MSG_WRONG_TYPE);
    assert (lw_batch_decode (batch, not_array, sizeof (not_array)) ==
            LW_MSG_WRONG_TYPE);
    uint8_t wide_header[] = {0xdc, 0x00, 0x02, 0xd0, 0x01, 0xcf, 0,
                             0,    0,    0,    0,    0,    0,    0x06};
    assert (lw_msg_type (wide_header, sizeof (wide_header)) == LW_MSG_LABEL);
    assert (lw_msg_type (wide_header, 4) == LW_MSG_TRUNCATED);
    assert (lw_msg_type (wide_header, 0) == LW_MSG_TRUNCATED);

    //  Wrong types and arities
    s_raw_init (&raw); //  Extra header field
    assert ((s_raw_batch (&raw, 1, LW_MSG_READINGS, 0) |
             msgpack_pack_nil (&raw.packer)) == 0);
    raw.buffer.data[0] = (char)(0x90 | (FIELDS_BATCH + 1));
    assert (s_raw_decode (&raw, batch) == LW_MSG_WRONG_TYPE);
    s_raw_init (&raw); //  Sensor is an integer
    assert ((s_raw_batch (&raw, 1, LW_MSG_READINGS, 1) |
             msgpack_pack_array (&raw.packer, 4) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1)) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_WRONG_TYPE);
    s_raw_init (&raw); //  Value is a string
    assert ((s_raw_batch (&raw, 1, LW_MSG_READINGS, 1) |
             msgpack_pack_array (&raw.packer, 4) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1) |
             s_pack_str (&raw.packer, "1.5", 3) |
             msgpack_pack_int (&raw.packer, 1)) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_WRONG_TYPE);
    s_raw_init (&raw); //  Reading with 5 fields
    assert ((s_raw_batch (&raw, 1, LW_MSG_READINGS, 1) |
             msgpack_pack_array (&raw.packer, 5) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1)) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_WRONG_TYPE);
    s_raw_init (&raw); //  Items is a map
    assert ((s_raw_batch (&raw, 1, LW_MSG_READINGS, 0)) == 0);
    raw.buffer.data[raw.buffer.size - 1] = (char)0x80;
    assert (s_raw_decode (&raw, batch) == LW_MSG_WRONG_TYPE);

    //  Ranges
    s_raw_init (&raw); //  Time beyond int64
    assert ((s_raw_batch (&raw, 1, LW_MSG_READINGS, 1) |
             msgpack_pack_array (&raw.packer, 4) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_uint64 (&raw.packer, (uint64_t)INT64_MAX + 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1)) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_BAD_RANGE);
    s_raw_init (&raw); //  Negative quality
    assert ((s_raw_batch (&raw, 1, LW_MSG_READINGS, 1) |
             msgpack_pack_array (&raw.packer, 4) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, -1)) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_BAD_RANGE);
    s_raw_init (&raw); //  Partition beyond 16 bits
    assert ((msgpack_pack_array (&raw.packer, FIELDS_BATCH) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, LW_MSG_READINGS) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_uint32 (&raw.packer, 70000) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_array (&raw.packer, 0)) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_BAD_RANGE);
    s_raw_init (&raw); //  Quality beyond 32 bits
    assert ((s_raw_batch (&raw, 1, LW_MSG_READINGS, 1) |
             msgpack_pack_array (&raw.packer, 4) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_uint64 (&raw.packer, 1ULL << 32)) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_BAD_RANGE);

    //  Too many items, and too many features
    s_raw_init (&raw);
    assert (s_raw_batch (&raw, 1, LW_MSG_READINGS, LW_BATCH_MAX + 1) == 0);
    for (size_t index = 0; index < LW_BATCH_MAX + 1; index++)
        assert (s_raw_reading (&raw, "a/b", 3) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_TOO_MANY);
    s_raw_init (&raw);
    assert ((s_raw_batch (&raw, 1, LW_MSG_FEATURES, 1) |
             msgpack_pack_array (&raw.packer, FIELDS_VECTOR) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 0) |
             msgpack_pack_array (&raw.packer, LW_FEATURES_MAX + 1)) == 0);
    for (size_t index = 0; index < LW_FEATURES_MAX + 1; index++)
        assert (msgpack_pack_double (&raw.packer, 1) == 0);
    assert (s_raw_decode (&raw, batch) == LW_MSG_TOO_MANY);
    assert (lw_batch_count (batch) == 0);
    //  Any container beyond LW_BATCH_MAX, and more objects in all than a
    //  full feature batch holds, are refused before msgpack-c allocates
    s_raw_init (&raw);
    assert (msgpack_pack_array (&raw.packer, LW_BATCH_MAX + 1) == 0);
    for (size_t index = 0; index < LW_BATCH_MAX + 1; index++)
        assert (msgpack_pack_nil (&raw.packer) == 0);
    assert (lw_msg_prescan ((const uint8_t *)raw.buffer.data,
                            raw.buffer.size) == LW_MSG_TOO_MANY);
    msgpack_sbuffer_destroy (&raw.buffer);
    s_raw_init (&raw);
    assert (msgpack_pack_array (&raw.packer, 30) == 0);
    for (size_t outer = 0; outer < 30; outer++) {
        assert (msgpack_pack_array (&raw.packer, LW_BATCH_MAX) == 0);
        for (size_t index = 0; index < LW_BATCH_MAX; index++)
            assert (msgpack_pack_nil (&raw.packer) == 0);
    }
    assert (lw_msg_prescan ((const uint8_t *)raw.buffer.data,
                            raw.buffer.size) == LW_MSG_TOO_MANY);
    assert (s_raw_decode (&raw, batch) == LW_MSG_TOO_MANY);

    //  Single messages: wrong arity, bad keys, bad text
    s_raw_init (&raw);
    assert ((msgpack_pack_array (&raw.packer, FIELDS_GAP - 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, LW_MSG_GAP) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1)) == 0);
    assert (lw_msg_gap_decode ((const uint8_t *)raw.buffer.data,
                               raw.buffer.size, &gap) == LW_MSG_WRONG_TYPE);
    msgpack_sbuffer_destroy (&raw.buffer);
    s_raw_init (&raw);
    assert ((msgpack_pack_array (&raw.packer, FIELDS_GAP) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, LW_MSG_GAP) |
             s_pack_str (&raw.packer, "", 0) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 2)) == 0);
    assert (lw_msg_gap_decode ((const uint8_t *)raw.buffer.data,
                               raw.buffer.size, &gap) == LW_MSG_BAD_KEY);
    msgpack_sbuffer_destroy (&raw.buffer);
    //  The optional silent field: a bool, and nothing after it
    s_raw_init (&raw);
    assert ((msgpack_pack_array (&raw.packer, FIELDS_GAP + 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, LW_MSG_GAP) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 2) |
             msgpack_pack_int (&raw.packer, 1)) == 0);
    assert (lw_msg_gap_decode ((const uint8_t *)raw.buffer.data,
                               raw.buffer.size, &gap) == LW_MSG_WRONG_TYPE);
    msgpack_sbuffer_destroy (&raw.buffer);
    s_raw_init (&raw);
    assert ((msgpack_pack_array (&raw.packer, FIELDS_GAP + 2) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, LW_MSG_GAP) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 2) |
             msgpack_pack_true (&raw.packer) |
             msgpack_pack_true (&raw.packer)) == 0);
    assert (lw_msg_gap_decode ((const uint8_t *)raw.buffer.data,
                               raw.buffer.size, &gap) == LW_MSG_WRONG_TYPE);
    msgpack_sbuffer_destroy (&raw.buffer);
    s_raw_init (&raw);
    assert ((msgpack_pack_array (&raw.packer, FIELDS_GAP + 1) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, LW_MSG_GAP) |
             s_pack_str (&raw.packer, "a/b", 3) |
             msgpack_pack_int (&raw.packer, 1) |
             msgpack_pack_int (&raw.packer, 2) |
             msgpack_pack_false (&raw.packer)) == 0);
    assert (lw_msg_gap_decode ((const uint8_t *)raw.buffer.data,
                               raw.buffer.size, &gap) == 0);
    assert (!gap.silent && gap.time == 2 && streq (gap.sensor, "a/b"));
    msgpack_sbuffer_destroy (&raw.buffer);
    lw_label_t label = {.label = LW_LABEL_NORMAL};
    lw_label_t label_copy;
    label.note[0] = 'a';
    zframe_t *label_frame = lw_msg_label_encode (&label);
    assert (label_frame);
    //  Patch the note "a" into "\0": a NUL inside text is rejected
    uint8_t *bytes = zframe_data (label_frame);
    size_t label_size = zframe_size (label_frame);
    for (size_t index = 0; index + 1 < label_size; index++)
        if (bytes[index] == 0xa1 && bytes[index + 1] == 'a')
            bytes[index + 1] = 0;
    assert (lw_msg_label_decode (bytes, label_size, &label_copy) ==
            LW_MSG_BAD_RANGE);
    zframe_destroy (&label_frame);

    //  Every error has its own name
    for (int code = 0; code > -LW_MSG_ERRORS; code--)
        for (int other = code - 1; other > -LW_MSG_ERRORS; other--)
            assert (!streq (lw_msg_strerror (code), lw_msg_strerror (other)));
    assert (streq (lw_msg_strerror (LW_MSG_OK), "ok"));
    assert (streq (lw_msg_strerror (LW_MSG_TRUNCATED), "truncated"));
    assert (streq (lw_msg_strerror (LW_MSG_NOMEM), "nomem"));
    assert (streq (lw_msg_strerror (-LW_MSG_ERRORS), "unknown"));
    assert (streq (lw_msg_strerror (1), "unknown"));
}

//  --------------------------------------------------------------------------
//  lw_msg_send (incl. EAGAIN with dontwait) and lw_msg_envelope

static void
s_test_envelope (void)
{
    //  A PUSH socket without a peer: dontwait sends fail with EAGAIN and
    //  leave the body with the caller
    char endpoint[64];
    snprintf (endpoint, sizeof (endpoint), "inproc://lw_msg_test-%llx",
              (unsigned long long)lw_random_id ());
    zsock_t *push = zsock_new (ZMQ_PUSH);
    assert (push);
    zsock_set_sndhwm (push, 10);
    assert (zsock_bind (push, "%s", endpoint) == 0);
    lw_gap_t gap = {.last_time = 1, .time = 2};
    strcpy (gap.sensor, "m/s");
    zframe_t *body = lw_msg_gap_encode (&gap);
    assert (body);
    errno = 0;
    assert (lw_msg_send (push, 0x1234, &body, true) == -1);
    assert (errno == EAGAIN);
    assert (body && zframe_size (body) > 0);

    zsock_t *pull = zsock_new (ZMQ_PULL);
    assert (pull);
    zsock_set_rcvtimeo (pull, 5000);
    assert (zsock_connect (pull, "%s", endpoint) == 0);
    assert (lw_msg_send (push, 0x1234, &body, false) == 0);
    assert (body == NULL);
    zmsg_t *msg = zmsg_recv (pull);
    assert (msg);
    uint16_t partition = 0;
    assert (lw_msg_envelope (msg, &partition) == 0);
    assert (partition == 0x1234);
    zframe_t *received = zmsg_last (msg);
    lw_gap_t gap_copy;
    assert (lw_msg_gap_decode (zframe_data (received), zframe_size (received),
                               &gap_copy) == 0);
    assert (streq (gap_copy.sensor, "m/s") && gap_copy.time == 2);

    //  Wrong frame counts and partition frame sizes
    zmsg_t *bad = zmsg_new ();
    assert (lw_msg_envelope (bad, &partition) == LW_MSG_ENVELOPE);
    zmsg_addmem (bad, "\x00\x01", 2);
    assert (lw_msg_envelope (bad, &partition) == LW_MSG_ENVELOPE);
    zmsg_addmem (bad, "body", 4);
    assert (lw_msg_envelope (bad, &partition) == 0 && partition == 1);
    zmsg_addmem (bad, "more", 4);
    assert (lw_msg_envelope (bad, &partition) == LW_MSG_ENVELOPE);
    zmsg_destroy (&bad);
    bad = zmsg_new ();
    zmsg_addmem (bad, "\x00\x01\x02", 3);
    zmsg_addmem (bad, "body", 4);
    assert (lw_msg_envelope (bad, &partition) == LW_MSG_ENVELOPE);
    zmsg_destroy (&bad);
    bad = zmsg_new ();
    zmsg_addmem (bad, "", 0);
    zmsg_addmem (bad, "body", 4);
    assert (lw_msg_envelope (bad, &partition) == LW_MSG_ENVELOPE);
    zmsg_destroy (&bad);
    //  Oversized body
    bad = zmsg_new ();
    zmsg_addmem (bad, "\xff\xf0", 2);
    zframe_t *huge = zframe_new (NULL, (size_t)LW_MAX_FRAME_SIZE + 1);
    assert (huge);
    zmsg_append (bad, &huge);
    assert (lw_msg_envelope (bad, &partition) == LW_MSG_TOO_BIG);
    zmsg_destroy (&bad);

    //  Topic partitions pass the envelope (they are not partitions)
    body = lw_msg_gap_encode (&gap);
    assert (lw_msg_send (push, LW_TOPIC_ALERTS, &body, true) == 0);
    zmsg_destroy (&msg);
    msg = zmsg_recv (pull);
    assert (msg);
    assert (lw_msg_envelope (msg, &partition) == 0);
    assert (partition == LW_TOPIC_ALERTS);
    zmsg_destroy (&msg);
    zsock_destroy (&pull);
    zsock_destroy (&push);
}

//  --------------------------------------------------------------------------
//  Random mutations of valid frames: every decoder returns 0 or one of
//  our codes and never crashes (run under ASan), and whenever the
//  pre-scan passes, msgpack-c agrees that the frame is one whole object

static void
s_test_mutations (lw_batch_t *batch, bool verbose)
{
    lw_alert_t alert = {.state = LW_ALERT_OPEN, .ndetectors = 1};
    strcpy (alert.sensor, "line1/press3/temp");
    strcpy (alert.detectors[0], "zscore");
    lw_ctrl_t *ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    ctrl->kind = LW_CTRL_ASSIGN;
    ctrl->npartitions = 3;
    lw_ctrl_stat_add (ctrl, "in", 5);
    lw_request_t request = {.op = LW_OP_ALERTS};
    lw_batch_t *source = lw_batch_new (LW_MSG_FEATURES);
    assert (source);
    s_fill_batch (source, 20);
    zframe_t *frames[] = {
        lw_batch_encode (source), lw_msg_alert_encode (&alert),
        lw_msg_ctrl_encode (ctrl), lw_msg_request_encode (&request)};
    size_t nframes = sizeof (frames) / sizeof (frames[0]);
    uint32_t seed = 2166136261u;
    size_t accepted = 0, tried = 0;
    for (size_t frame_nbr = 0; frame_nbr < nframes; frame_nbr++) {
        assert (frames[frame_nbr]);
        size_t size = zframe_size (frames[frame_nbr]);
        uint8_t *bytes = (uint8_t *)malloc (size + 8);
        assert (bytes);
        for (int round = 0; round < 1500; round++) {
            memcpy (bytes, zframe_data (frames[frame_nbr]), size);
            size_t mutated_size = size;
            int edits = 1 + round % 4;
            for (int edit = 0; edit < edits; edit++) {
                seed = seed * 1103515245u + 12345u;
                size_t where = (seed >> 8) % size;
                seed = seed * 1103515245u + 12345u;
                uint8_t what = (uint8_t)(seed >> 16);
                if (round % 7 == 0)
                    mutated_size = where + 1; //  Cut it short
                else if (round % 11 == 0 && mutated_size < size + 8)
                    bytes[mutated_size++] = what; //  Append a byte
                else
                    bytes[where] = what;
            }
            int rc = lw_msg_prescan (bytes, mutated_size);
            assert (rc <= 0 && rc > -LW_MSG_ERRORS);
            if (rc == 0) {
                msgpack_unpacked unpacked;
                msgpack_unpacked_init (&unpacked);
                size_t offset = 0;
                assert (msgpack_unpack_next (&unpacked, (const char *)bytes,
                                             mutated_size, &offset) ==
                        MSGPACK_UNPACK_SUCCESS);
                assert (offset == mutated_size);
                msgpack_unpacked_destroy (&unpacked);
            }
            int type = lw_msg_type (bytes, mutated_size);
            assert (type > -LW_MSG_ERRORS && type <= LW_MSG_REPLY);
            lw_gap_t gap;
            lw_alert_t alert_copy;
            lw_label_t label;
            lw_request_t request_copy;
            lw_reply_t reply;
            int results[] = {
                lw_batch_decode (batch, bytes, mutated_size),
                lw_msg_gap_decode (bytes, mutated_size, &gap),
                lw_msg_alert_decode (bytes, mutated_size, &alert_copy),
                lw_msg_label_decode (bytes, mutated_size, &label),
                lw_msg_ctrl_decode (bytes, mutated_size, ctrl),
                lw_msg_request_decode (bytes, mutated_size, &request_copy),
                lw_msg_reply_decode (bytes, mutated_size, &reply)};
            for (size_t index = 0; index < 7; index++) {
                assert (results[index] <= 0 && results[index] > -LW_MSG_ERRORS);
                accepted += results[index] == 0;
            }
            //  A decoded batch holds only valid keys
            for (size_t index = 0; index < lw_batch_count (batch); index++) {
                const char *key = lw_batch_item (batch, index)->sensor;
                assert (lw_key_valid (key, strlen (key)));
            }
            tried++;
        }
        free (bytes);
        zframe_destroy (&frames[frame_nbr]);
    }
    if (verbose)
        printf ("   %zu mutated frames, %zu decodes accepted\n", tried,
                accepted);
    lw_batch_destroy (&source);
    free (ctrl);
}

//  --------------------------------------------------------------------------
//  Self test of the whole lw_msg class

void
lw_msg_test (bool verbose)
{
    printf (" * lw_msg: ");
    if (verbose)
        printf ("\n");

    lw_batch_t *batch = lw_batch_new (LW_MSG_READINGS);
    lw_batch_t *copy = lw_batch_new (LW_MSG_SCORES);
    assert (batch && copy);
    assert (lw_batch_kind (batch) == LW_MSG_READINGS);
    assert (lw_batch_count (batch) == 0);
    s_test_keys (batch);
    s_test_batches (batch, copy, verbose);
    s_test_singles ();
    s_test_hostile (copy);
    s_test_envelope ();
    s_test_mutations (copy, verbose);
    lw_batch_destroy (&batch);
    lw_batch_destroy (&copy);
    assert (batch == NULL);
    lw_batch_destroy (&batch);

    printf ("OK\n");
}
