/*  =========================================================================
    fuzz_msg.c - libFuzzer target: every lw_msg decoder

    Copyright (c) the linewatch authors. MIT license.

    Each input is handed to every decoder (prescan, type, batch, gap,
    alert, label, control, request, reply) and, split at 0xfe bytes into
    frames, to lw_msg_envelope. What a decoder accepts is re-encoded and
    decoded again: the second encoding must equal the first (a decoder
    that accepts something its encoder cannot reproduce has a hole).
    =========================================================================
*/

#include "fuzz_util.h"
#include "lw_msg.h"

static lw_batch_t *s_batch = NULL;

//  --------------------------------------------------------------------------
//  Asserts that a frame decodes again to the same encoding.

#define ROUND_TRIP(type, decode, encode, first)                               \
    do {                                                                      \
        type again;                                                           \
        zframe_t *frame1 = encode (first);                                    \
        assert (frame1);                                                      \
        assert (decode (zframe_data (frame1), zframe_size (frame1), &again)  \
                == 0);                                                        \
        zframe_t *frame2 = encode (&again);                                   \
        assert (frame2);                                                      \
        assert (zframe_eq (frame1, frame2));                                  \
        zframe_destroy (&frame1);                                             \
        zframe_destroy (&frame2);                                             \
    } while (0)

//  --------------------------------------------------------------------------
//  Batch: decode, re-encode, decode, re-encode; both encodings equal.

static void
s_batch_round_trip (const uint8_t *data, size_t size)
{
    if (lw_batch_decode (s_batch, data, size) != 0) {
        assert (lw_batch_count (s_batch) == 0);
        return;
    }
    zframe_t *frame1 = lw_batch_encode (s_batch);
    assert (frame1);
    assert (lw_batch_decode (s_batch, zframe_data (frame1),
                             zframe_size (frame1)) == 0);
    zframe_t *frame2 = lw_batch_encode (s_batch);
    assert (frame2);
    assert (zframe_eq (frame1, frame2));
    zframe_destroy (&frame1);
    zframe_destroy (&frame2);
}

//  --------------------------------------------------------------------------
//  Splits the input into frames at 0xfe and checks the envelope.

static void
s_envelope (const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    assert (msg);
    size_t start = 0;
    for (size_t index = 0; index <= size; index++)
        if (index == size || data[index] == 0xfe) {
            zmsg_addmem (msg, data + start, index - start);
            start = index + 1;
        }
    uint16_t partition = 0;
    int rc = lw_msg_envelope (msg, &partition);
    assert (rc == 0 || rc == LW_MSG_ENVELOPE || rc == LW_MSG_TOO_BIG);
    if (rc == 0)
        assert (zmsg_size (msg) == 2);
    zmsg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Once, before the first input

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet ();
    s_batch = lw_batch_new (LW_MSG_READINGS);
    assert (s_batch);
    return 0;
}

//  --------------------------------------------------------------------------
//  One input

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    int rc = lw_msg_prescan (data, size);
    assert (rc <= 0 && rc > -LW_MSG_ERRORS);
    assert (lw_msg_strerror (rc) != NULL);
    if (rc == 0) {
        int type = lw_msg_type (data, size);
        assert (type != 0 && type > -LW_MSG_ERRORS);
    }
    s_batch_round_trip (data, size);

    lw_gap_t gap;
    if (lw_msg_gap_decode (data, size, &gap) == 0)
        ROUND_TRIP (lw_gap_t, lw_msg_gap_decode, lw_msg_gap_encode, &gap);
    lw_alert_t alert;
    if (lw_msg_alert_decode (data, size, &alert) == 0)
        ROUND_TRIP (lw_alert_t, lw_msg_alert_decode, lw_msg_alert_encode,
                    &alert);
    lw_label_t label;
    if (lw_msg_label_decode (data, size, &label) == 0)
        ROUND_TRIP (lw_label_t, lw_msg_label_decode, lw_msg_label_encode,
                    &label);
    lw_ctrl_t ctrl;
    if (lw_msg_ctrl_decode (data, size, &ctrl) == 0)
        ROUND_TRIP (lw_ctrl_t, lw_msg_ctrl_decode, lw_msg_ctrl_encode, &ctrl);
    lw_request_t request;
    if (lw_msg_request_decode (data, size, &request) == 0)
        ROUND_TRIP (lw_request_t, lw_msg_request_decode,
                    lw_msg_request_encode, &request);
    lw_reply_t reply;
    if (lw_msg_reply_decode (data, size, &reply) == 0)
        ROUND_TRIP (lw_reply_t, lw_msg_reply_decode, lw_msg_reply_encode,
                    &reply);

    bool sensor_ok = lw_key_valid ((const char *) data, size);
    (void) sensor_ok;
    s_envelope (data, size);
    return 0;
}
