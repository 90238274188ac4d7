/*  =========================================================================
    lw_msg.c - every linewatch message, encoded as msgpack

    Copyright (c) the linewatch authors. MIT license.

    The only code that knows msgpack. Every frame from outside the process
    is decoded in four steps (STYLE §9): a size check; a pre-scan of the
    raw bytes that walks every msgpack object without allocating, so that
    every declared container count is backed by real bytes and nesting is
    bounded (msgpack-c allocates count × 24 bytes for a container before it
    reads a single element: `dd ff ff ff ff` would ask for 128 GiB); then
    msgpack_unpack_next, which after the pre-scan allocates at most in
    proportion to the frame; then a typed walk with exact array sizes and
    range checks. Each rejection has its own lw_msg_error_t, so consumers
    count drops by reason.

    Batches (readings, features, scores) are the hot path: a batch owns
    its items array and a key arena, both allocated once in lw_batch_new,
    and a reusable pack buffer, so encoding and decoding allocate nothing
    per item (msgpack-c's unpack zone is one allocation per frame).
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_util.h"

#include <msgpack.h>

//  Fields of each message, version and type included
#define FIELDS_BATCH 7
#define FIELDS_READING 4
#define FIELDS_VECTOR 5
#define FIELDS_SCORE 7
#define FIELDS_GAP 5
#define FIELDS_ALERT 16
#define FIELDS_LABEL 10
#define FIELDS_CTRL 10
#define FIELDS_STAT 2
#define FIELDS_REQUEST 11
#define FIELDS_REPLY 5
//  Every key fits in one arena slot, so the arena never moves
#define ARENA_SLOT (LW_KEY_MAX + 1)
//  Most objects a valid message holds: a full feature batch has 6 + up to
//  LW_FEATURES_MAX objects per item. msgpack-c allocates 24 bytes per
//  object, so this caps a hostile frame's unpack at ~2.4 MB instead of
//  ~100 MB (4 MiB of nils in one array).
#define OBJECTS_MAX (LW_BATCH_MAX * (6 + LW_FEATURES_MAX) + 64)
//  Largest container a valid message holds (the items of a batch)
#define CONTAINER_MAX LW_BATCH_MAX

struct _lw_batch_t {
    lw_msg_type_t kind;     //  READINGS, FEATURES or SCORES
    uint64_t publisher;     //  Publisher id (lw_random_id)
    uint16_t partition;     //  Partition of every item
    uint64_t sequence;      //  Per (publisher, partition) sequence
    int64_t ingest_time;    //  Wall ns when ingest accepted the first
    size_t count;           //  Items in use
    lw_item_t *items;       //  LW_BATCH_MAX items
    char *arena;            //  Keys: LW_BATCH_MAX slots of ARENA_SLOT
    size_t arena_used;      //  Bytes of the arena in use
    msgpack_sbuffer buffer; //  Reused by every encode
};

//  --------------------------------------------------------------------------
//  Short, counter-friendly name of an error code

const char *
lw_msg_strerror (int code)
{
    static const char *names[LW_MSG_ERRORS] = {
        "ok",         "too_big",     "truncated", "trailing",   "too_deep",
        "bad_length", "bad_version", "bad_type",  "wrong_type", "bad_range",
        "bad_key",    "too_many",    "envelope",  "nomem"};
    if (code > 0 || code <= -LW_MSG_ERRORS)
        return "unknown";
    return names[-code];
}

//  --------------------------------------------------------------------------
//  Checks a sensor key: 1..LW_KEY_MAX bytes of valid UTF-8 (no overlong
//  forms, no surrogates, nothing above U+10FFFF) without C0 or C1 control
//  characters or DEL.

bool
lw_key_valid (const char *key, size_t size)
{
    if (!key || size == 0 || size > LW_KEY_MAX)
        return false;
    const uint8_t *bytes = (const uint8_t *)key;
    size_t index = 0;
    while (index < size) {
        uint8_t byte = bytes[index];
        if (byte < 0x80) {
            if (byte < 0x20 || byte == 0x7f)
                return false;
            index++;
            continue;
        }
        size_t extra;
        uint32_t point;
        if (byte >= 0xc2 && byte <= 0xdf) {
            extra = 1;
            point = byte & 0x1f;
        }
        else if (byte >= 0xe0 && byte <= 0xef) {
            extra = 2;
            point = byte & 0x0f;
        }
        else if (byte >= 0xf0 && byte <= 0xf4) {
            extra = 3;
            point = byte & 0x07;
        }
        else
            return false; //  Continuation, 0xc0/c1, > 0xf4
        if (size - index <= extra)
            return false; //  Sequence cut by the end
        for (size_t next = 1; next <= extra; next++) {
            uint8_t continuation = bytes[index + next];
            if ((continuation & 0xc0) != 0x80)
                return false;
            point = (point << 6) | (continuation & 0x3f);
        }
        if ((extra == 2 && point < 0x800) ||
            (extra == 3 && (point < 0x10000 || point > 0x10ffff)) ||
            (point >= 0xd800 && point <= 0xdfff) ||
            (point >= 0x80 && point <= 0x9f))
            return false; //  Overlong, surrogate or C1
        index += extra + 1;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Reads a big-endian unsigned integer of `width` bytes

static inline uint64_t
s_be (const uint8_t *bytes, int width)
{
    uint64_t value = 0;
    for (int index = 0; index < width; index++)
        value = (value << 8) | bytes[index];
    return value;
}

//  --------------------------------------------------------------------------
//  Validates raw bytes without allocating: size, that every object is
//  complete, that every container count can be backed by the bytes left
//  (each element takes at least one byte), nesting depth, and exactly one
//  top-level object. Containers larger than any valid message needs (more
//  than LW_BATCH_MAX elements, or more objects in all than a full feature
//  batch) are TOO_MANY. Returns 0 or a negative lw_msg_error_t.

int
lw_msg_prescan (const uint8_t *data, size_t size)
{
    assert (data || size == 0);
    if (size > LW_MAX_FRAME_SIZE)
        return LW_MSG_TOO_BIG;
    //  pending[d] = objects still to read at depth d; depth 0 is the
    //  top level, which holds exactly one object
    uint64_t pending[LW_MSG_MAX_DEPTH + 1];
    int depth = 0;
    pending[0] = 1;
    size_t pos = 0;
    size_t objects = 0;
    while (true) {
        if (pending[depth] == 0) {
            if (depth == 0)
                break;
            depth--;
            continue;
        }
        pending[depth]--;
        if (pos >= size)
            return LW_MSG_TRUNCATED;
        if (++objects > OBJECTS_MAX)
            return LW_MSG_TOO_MANY;
        uint8_t format = data[pos++];
        size_t left = size - pos;
        //  Scalars: `fixed` bytes after the format byte; strings, bins and
        //  exts: a `width`-byte length (plus 1 type byte for ext), then
        //  that many bytes; containers: a count (doubled for maps)
        size_t fixed = 0;
        int width = 0;
        size_t ext_type = 0;
        uint64_t count = 0;
        bool container = false;
        bool is_map = false;
        if (format <= 0x7f || format >= 0xe0)
            fixed = 0; //  fixint
        else if (format <= 0x8f) {
            container = is_map = true;
            count = format & 0x0f;
        }
        else if (format <= 0x9f) {
            container = true;
            count = format & 0x0f;
        }
        else if (format <= 0xbf)
            fixed = format & 0x1f; //  fixstr
        else {
            switch (format) {
            case 0xc0:
            case 0xc2:
            case 0xc3:
                break; //  nil, false, true
            case 0xc1:
                return LW_MSG_WRONG_TYPE; //  Reserved: never valid
            case 0xc4:
            case 0xd9:
                width = 1;
                break;
            case 0xc5:
            case 0xda:
                width = 2;
                break;
            case 0xc6:
            case 0xdb:
                width = 4;
                break;
            case 0xc7:
                width = 1;
                ext_type = 1;
                break;
            case 0xc8:
                width = 2;
                ext_type = 1;
                break;
            case 0xc9:
                width = 4;
                ext_type = 1;
                break;
            case 0xca:
                fixed = 4;
                break; //  float32
            case 0xcb:
                fixed = 8;
                break; //  float64
            case 0xcc:
            case 0xd0:
                fixed = 1;
                break;
            case 0xcd:
            case 0xd1:
                fixed = 2;
                break;
            case 0xce:
            case 0xd2:
                fixed = 4;
                break;
            case 0xcf:
            case 0xd3:
                fixed = 8;
                break;
            case 0xd4:
                fixed = 2;
                break; //  fixext 1 (+ type)
            case 0xd5:
                fixed = 3;
                break;
            case 0xd6:
                fixed = 5;
                break;
            case 0xd7:
                fixed = 9;
                break;
            case 0xd8:
                fixed = 17;
                break;
            case 0xdc:
            case 0xdd:
            case 0xde:
            case 0xdf: {
                int count_width = (format & 1) ? 4 : 2;
                if (left < (size_t)count_width)
                    return LW_MSG_TRUNCATED;
                count = s_be (data + pos, count_width);
                pos += (size_t)count_width;
                left -= (size_t)count_width;
                container = true;
                is_map = format >= 0xde;
                break;
            }
            default:
                return LW_MSG_WRONG_TYPE; //  Not reached: all covered
            }
        }
        if (width) {
            if (left < (size_t)width)
                return LW_MSG_TRUNCATED;
            fixed = (size_t)s_be (data + pos, width) + ext_type;
            pos += (size_t)width;
            left -= (size_t)width;
        }
        if (container) {
            uint64_t elements = is_map ? count * 2 : count;
            if (elements > left)
                return LW_MSG_BAD_LENGTH;
            if (count > CONTAINER_MAX)
                return LW_MSG_TOO_MANY;
            if (depth + 1 > LW_MSG_MAX_DEPTH)
                return LW_MSG_TOO_DEEP;
            pending[++depth] = elements;
        }
        else {
            if (fixed > left)
                return LW_MSG_TRUNCATED;
            pos += fixed;
        }
    }
    return pos == size ? LW_MSG_OK : LW_MSG_TRAILING;
}

//  --------------------------------------------------------------------------
//  Reads a non-negative msgpack integer of any width from raw bytes (used
//  by lw_msg_type, which peeks without unpacking)

static int
s_peek_uint (const uint8_t *data, size_t size, size_t *pos, uint64_t *out)
{
    if (*pos >= size)
        return LW_MSG_TRUNCATED;
    uint8_t format = data[(*pos)++];
    int width;
    if (format <= 0x7f) {
        *out = format;
        return 0;
    }
    if (format >= 0xcc && format <= 0xcf)
        width = 1 << (format - 0xcc);
    else if (format >= 0xd0 && format <= 0xd3)
        width = 1 << (format - 0xd0);
    else
        return LW_MSG_WRONG_TYPE;
    if (size - *pos < (size_t)width)
        return LW_MSG_TRUNCATED;
    uint64_t value = s_be (data + *pos, width);
    *pos += (size_t)width;
    //  A signed format holding a negative number is not a version or type
    if (format >= 0xd0 && (value >> (8 * width - 1)) & 1)
        return LW_MSG_WRONG_TYPE;
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Reads version and type of a body (after a prescan). Returns the type
//  (> 0) or a negative lw_msg_error_t.

int
lw_msg_type (const uint8_t *data, size_t size)
{
    assert (data || size == 0);
    if (size > LW_MAX_FRAME_SIZE)
        return LW_MSG_TOO_BIG;
    if (size == 0)
        return LW_MSG_TRUNCATED;
    size_t pos = 1;
    uint64_t count;
    uint8_t format = data[0];
    if (format >= 0x90 && format <= 0x9f)
        count = format & 0x0f;
    else if (format == 0xdc || format == 0xdd) {
        size_t width = format == 0xdc ? 2 : 4;
        if (size - pos < width)
            return LW_MSG_TRUNCATED;
        count = s_be (data + pos, (int)width);
        pos += width;
    }
    else
        return LW_MSG_WRONG_TYPE;
    if (count < 2)
        return LW_MSG_WRONG_TYPE;
    uint64_t version, type;
    int rc = s_peek_uint (data, size, &pos, &version);
    if (rc)
        return rc;
    if (version != LW_MSG_VERSION)
        return LW_MSG_BAD_VERSION;
    rc = s_peek_uint (data, size, &pos, &type);
    if (rc)
        return rc;
    if (type < LW_MSG_READINGS || type > LW_MSG_REPLY)
        return LW_MSG_BAD_TYPE;
    return (int)type;
}

//  --------------------------------------------------------------------------
//  Checks a stream envelope: two frames, a 2-byte partition, a body under
//  the size limit. Returns 0 (and *partition) or an error.

int
lw_msg_envelope (zmsg_t *msg, uint16_t *partition)
{
    assert (msg);
    assert (partition);
    if (zmsg_size (msg) != 2)
        return LW_MSG_ENVELOPE;
    zframe_t *head = zmsg_first (msg);
    zframe_t *body = zmsg_next (msg);
    if (zframe_size (head) != 2)
        return LW_MSG_ENVELOPE;
    if (zframe_size (body) > LW_MAX_FRAME_SIZE)
        return LW_MSG_TOO_BIG;
    *partition = (uint16_t)s_be (zframe_data (head), 2);
    return 0;
}

//  --------------------------------------------------------------------------
//  Sends [partition, body]; takes the body on success. With dontwait a
//  full socket fails the first frame with EAGAIN and the body stays with
//  the caller. Once the first frame is accepted zmq accepts the rest of the
//  message atomically, so the body send does not fail for a full queue.

int
lw_msg_send (void *socket, uint16_t partition, zframe_t **body_p, bool dontwait)
{
    assert (socket);
    assert (body_p && *body_p);
    uint8_t prefix[2] = {(uint8_t)(partition >> 8), (uint8_t)partition};
    zframe_t *head = zframe_new (prefix, sizeof (prefix));
    if (!head) {
        errno = ENOMEM;
        return -1;
    }
    int wait_flag = dontwait ? ZFRAME_DONTWAIT : 0;
    if (zframe_send (&head, socket, ZFRAME_MORE | wait_flag)) {
        int saved = errno;
        zframe_destroy (&head); //  zframe_send keeps it on failure
        errno = saved;
        return -1;
    }
    if (zframe_send (body_p, socket, wait_flag)) {
        zsys_error ("msg: body send failed after partition frame error=%s",
                    zmq_strerror (errno));
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Typed readers for the walk. Each returns 0 or the error to report:
//  WRONG_TYPE for the wrong msgpack type, BAD_RANGE for a value outside
//  the field's range.

static int
s_get_uint (const msgpack_object *obj, uint64_t max, uint64_t *out)
{
    if (obj->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (obj->via.u64 > max)
            return LW_MSG_BAD_RANGE;
        *out = obj->via.u64;
        return 0;
    }
    return obj->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? LW_MSG_BAD_RANGE
                                                        : LW_MSG_WRONG_TYPE;
}

static int
s_get_u64 (const msgpack_object *obj, uint64_t *out)
{
    return s_get_uint (obj, UINT64_MAX, out);
}

static int
s_get_u32 (const msgpack_object *obj, uint32_t max, uint32_t *out)
{
    uint64_t value;
    int rc = s_get_uint (obj, max, &value);
    if (rc == 0)
        *out = (uint32_t)value;
    return rc;
}

static int
s_get_u8 (const msgpack_object *obj, uint8_t min, uint8_t max, uint8_t *out)
{
    uint64_t value;
    int rc = s_get_uint (obj, max, &value);
    if (rc == 0 && value < min)
        rc = LW_MSG_BAD_RANGE;
    if (rc == 0)
        *out = (uint8_t)value;
    return rc;
}

static int
s_get_int (const msgpack_object *obj, int64_t min, int64_t max, int64_t *out)
{
    if (obj->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (max < 0 || obj->via.u64 > (uint64_t)max)
            return LW_MSG_BAD_RANGE;
        *out = (int64_t)obj->via.u64;
        return 0;
    }
    if (obj->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (obj->via.i64 < min || obj->via.i64 > max)
            return LW_MSG_BAD_RANGE;
        *out = obj->via.i64;
        return 0;
    }
    return LW_MSG_WRONG_TYPE;
}

static int
s_get_i64 (const msgpack_object *obj, int64_t *out)
{
    return s_get_int (obj, INT64_MIN, INT64_MAX, out);
}

//  Any msgpack number; NaN and infinities pass (cleaning is ingest's job)
static int
s_get_number (const msgpack_object *obj, double *out)
{
    switch (obj->type) {
    case MSGPACK_OBJECT_FLOAT64:
    case MSGPACK_OBJECT_FLOAT32:
        *out = obj->via.f64;
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)obj->via.u64;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)obj->via.i64;
        return 0;
    default:
        return LW_MSG_WRONG_TYPE;
    }
}

static int
s_get_bool (const msgpack_object *obj, bool *out)
{
    if (obj->type != MSGPACK_OBJECT_BOOLEAN)
        return LW_MSG_WRONG_TYPE;
    *out = obj->via.boolean;
    return 0;
}

//  An array of at most `max` elements (TOO_MANY beyond)
static int
s_get_array (const msgpack_object *obj, uint32_t max,
             const msgpack_object **items, uint32_t *count)
{
    if (obj->type != MSGPACK_OBJECT_ARRAY)
        return LW_MSG_WRONG_TYPE;
    if (obj->via.array.size > max)
        return LW_MSG_TOO_MANY;
    *items = obj->via.array.ptr;
    *count = obj->via.array.size;
    return 0;
}

//  A sensor key, validated, copied into dest (LW_KEY_MAX + 1 bytes). The
//  empty string passes only when allow_empty (a filter meaning "any").
static int
s_get_key (const msgpack_object *obj, char *dest, bool allow_empty)
{
    if (obj->type != MSGPACK_OBJECT_STR)
        return LW_MSG_WRONG_TYPE;
    uint32_t size = obj->via.str.size;
    if (size == 0 && allow_empty) {
        dest[0] = 0;
        return 0;
    }
    if (!lw_key_valid (obj->via.str.ptr, size))
        return LW_MSG_BAD_KEY;
    memcpy (dest, obj->via.str.ptr, size);
    dest[size] = 0; //  msgpack strings are not terminated
    return 0;
}

//  A name (group, member, detector, counter): at most dest_size - 1 bytes,
//  UTF-8 without control characters; empty only when allow_empty
static int
s_get_name (const msgpack_object *obj, char *dest, size_t dest_size,
            bool allow_empty)
{
    if (obj->type != MSGPACK_OBJECT_STR)
        return LW_MSG_WRONG_TYPE;
    uint32_t size = obj->via.str.size;
    if (size >= dest_size || (size == 0 && !allow_empty))
        return LW_MSG_BAD_RANGE;
    if (size > 0 && !lw_key_valid (obj->via.str.ptr, size))
        return LW_MSG_BAD_RANGE;
    if (size > 0) //  msgpack-c gives "" a NULL ptr
        memcpy (dest, obj->via.str.ptr, size);
    dest[size] = 0;
    return 0;
}

//  Free text (notes, reply text): bounded, no NUL bytes (they would cut
//  the C string short and hide what follows)
static int
s_get_text (const msgpack_object *obj, char *dest, size_t dest_size)
{
    if (obj->type != MSGPACK_OBJECT_STR)
        return LW_MSG_WRONG_TYPE;
    uint32_t size = obj->via.str.size;
    if (size >= dest_size)
        return LW_MSG_BAD_RANGE;
    if (size > 0 && memchr (obj->via.str.ptr, 0, size))
        return LW_MSG_BAD_RANGE;
    if (size > 0)
        memcpy (dest, obj->via.str.ptr, size);
    dest[size] = 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  Checks [version, type, ...] and returns the type (> 0) or an error
//  (the callers check the array's size for the type).

static int
s_check_header (const msgpack_object *root)
{
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2)
        return LW_MSG_WRONG_TYPE;
    const msgpack_object *field = root->via.array.ptr;
    uint64_t version, type;
    int rc = s_get_u64 (&field[0], &version);
    if (rc)
        return LW_MSG_WRONG_TYPE;
    if (version != LW_MSG_VERSION)
        return LW_MSG_BAD_VERSION;
    rc = s_get_u64 (&field[1], &type);
    if (rc)
        return LW_MSG_WRONG_TYPE;
    if (type < LW_MSG_READINGS || type > LW_MSG_REPLY)
        return LW_MSG_BAD_TYPE;
    return (int)type;
}

//  --------------------------------------------------------------------------
//  Size check, pre-scan and unpack of an untrusted body. On success the
//  caller owns *unpacked (destroy it) and root is its top-level array
//  after the header check; on error nothing is left to free.

static int
s_unpack (const uint8_t *data, size_t size, msgpack_unpacked *unpacked)
{
    int rc = lw_msg_prescan (data, size);
    if (rc)
        return rc;
    msgpack_unpacked_init (unpacked);
    size_t offset = 0;
    msgpack_unpack_return ret =
        msgpack_unpack_next (unpacked, (const char *)data, size, &offset);
    if (ret == MSGPACK_UNPACK_SUCCESS && offset == size)
        return 0;
    //  The pre-scan should have caught anything but an allocation failure;
    //  map the rest anyway rather than trust it
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
        rc = LW_MSG_NOMEM;
    else if (ret == MSGPACK_UNPACK_CONTINUE)
        rc = LW_MSG_TRUNCATED;
    else if (ret == MSGPACK_UNPACK_SUCCESS || ret == MSGPACK_UNPACK_EXTRA_BYTES)
        rc = LW_MSG_TRAILING;
    else
        rc = LW_MSG_WRONG_TYPE;
    msgpack_unpacked_destroy (unpacked);
    return rc;
}

//  --------------------------------------------------------------------------
//  Decodes a single message of `type` with `fields` fields, or up to
//  `optional` more at its end: the walk function reads the `nfields` fields
//  into out. Returns 0 or an error.

typedef int (s_walk_fn) (const msgpack_object *field, uint32_t nfields,
                         void *out);

static int
s_decode (const uint8_t *data, size_t size, int type, uint32_t fields,
          uint32_t optional, s_walk_fn *walk, void *out)
{
    msgpack_unpacked unpacked;
    int rc = s_unpack (data, size, &unpacked);
    if (rc)
        return rc;
    rc = s_check_header (&unpacked.data);
    uint32_t count = rc > 0 ? unpacked.data.via.array.size : 0;
    if (rc > 0 && rc != type)
        rc = LW_MSG_BAD_TYPE;
    else if (rc > 0 && (count < fields || count > fields + optional))
        rc = LW_MSG_WRONG_TYPE;
    else if (rc > 0)
        rc = walk (unpacked.data.via.array.ptr, count, out);
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}

//  --------------------------------------------------------------------------
//  Encoding helpers. The pack functions return 0 or -1; callers OR them.

static int
s_pack_str (msgpack_packer *packer, const char *text, size_t size)
{
    return msgpack_pack_str (packer, size) |
           msgpack_pack_str_body (packer, text, size);
}

//  A string field of a fixed-size struct member: never reads past it
#define PACK_FIELD(packer, member)                                             \
    s_pack_str ((packer), (member), strnlen ((member), sizeof (member) - 1))

static int
s_pack_header (msgpack_packer *packer, size_t fields, lw_msg_type_t type)
{
    return msgpack_pack_array (packer, fields) |
           msgpack_pack_uint8 (packer, LW_MSG_VERSION) |
           msgpack_pack_uint8 (packer, (uint8_t)type);
}

//  Turns a filled buffer into a frame (NULL on a pack error or when the
//  result would be refused by every receiver) and empties the buffer
static zframe_t *
s_frame (msgpack_sbuffer *buffer, int rc)
{
    zframe_t *frame = NULL;
    if (rc == 0 && buffer->size <= LW_MAX_FRAME_SIZE)
        frame = zframe_new (buffer->data, buffer->size);
    msgpack_sbuffer_destroy (buffer);
    return frame;
}

//  --------------------------------------------------------------------------
//  Gap event

zframe_t *
lw_msg_gap_encode (const lw_gap_t *gap)
{
    assert (gap);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    //  The optional `silent` goes out only when true: a gap ended by a
    //  reading is encoded as before the field existed
    int rc = s_pack_header (&packer, FIELDS_GAP + (gap->silent ? 1 : 0),
                            LW_MSG_GAP) |
             PACK_FIELD (&packer, gap->sensor) |
             msgpack_pack_int64 (&packer, gap->last_time) |
             msgpack_pack_int64 (&packer, gap->time);
    if (gap->silent)
        rc |= msgpack_pack_true (&packer);
    return s_frame (&buffer, rc);
}

static int
s_walk_gap (const msgpack_object *field, uint32_t nfields, void *arg)
{
    lw_gap_t *gap = (lw_gap_t *)arg;
    int rc;
    if ((rc = s_get_key (&field[2], gap->sensor, false)) ||
        (rc = s_get_i64 (&field[3], &gap->last_time)) ||
        (rc = s_get_i64 (&field[4], &gap->time)))
        return rc;
    if (nfields > FIELDS_GAP)
        return s_get_bool (&field[FIELDS_GAP], &gap->silent);
    return 0;
}

int
lw_msg_gap_decode (const uint8_t *data, size_t size, lw_gap_t *out)
{
    assert (out);
    memset (out, 0, sizeof (*out));
    //  FIELDS_GAP fields, or one more: the optional `silent`
    int rc = s_decode (data, size, LW_MSG_GAP, FIELDS_GAP, 1, s_walk_gap, out);
    if (rc)
        memset (out, 0, sizeof (*out));
    return rc;
}

//  --------------------------------------------------------------------------
//  Alert

zframe_t *
lw_msg_alert_encode (const lw_alert_t *alert)
{
    assert (alert);
    if (alert->ndetectors > LW_DETECTORS_MAX)
        return NULL;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    int rc = s_pack_header (&packer, FIELDS_ALERT, LW_MSG_ALERT) |
             msgpack_pack_uint64 (&packer, alert->id) |
             msgpack_pack_uint64 (&packer, alert->scorer) |
             msgpack_pack_uint64 (&packer, alert->local_seq) |
             msgpack_pack_uint8 (&packer, alert->state) |
             PACK_FIELD (&packer, alert->sensor) |
             msgpack_pack_int64 (&packer, alert->opened) |
             msgpack_pack_int64 (&packer, alert->closed) |
             msgpack_pack_int64 (&packer, alert->updated) |
             msgpack_pack_double (&packer, alert->score) |
             msgpack_pack_double (&packer, alert->value) |
             msgpack_pack_double (&packer, alert->expected_low) |
             msgpack_pack_double (&packer, alert->expected_high) |
             msgpack_pack_array (&packer, alert->ndetectors);
    for (uint32_t index = 0; index < alert->ndetectors; index++)
        rc |= PACK_FIELD (&packer, alert->detectors[index]);
    rc |= msgpack_pack_uint8 (&packer, alert->label);
    return s_frame (&buffer, rc);
}

static int
s_walk_alert (const msgpack_object *field, uint32_t nfields, void *arg)
{
    (void)nfields;
    lw_alert_t *alert = (lw_alert_t *)arg;
    const msgpack_object *detectors;
    int rc;
    if ((rc = s_get_u64 (&field[2], &alert->id)) ||
        (rc = s_get_u64 (&field[3], &alert->scorer)) ||
        (rc = s_get_u64 (&field[4], &alert->local_seq)) ||
        (rc = s_get_u8 (&field[5], LW_ALERT_OPEN, LW_ALERT_CLOSE,
                        &alert->state)) ||
        (rc = s_get_key (&field[6], alert->sensor, false)) ||
        (rc = s_get_i64 (&field[7], &alert->opened)) ||
        (rc = s_get_i64 (&field[8], &alert->closed)) ||
        (rc = s_get_i64 (&field[9], &alert->updated)) ||
        (rc = s_get_number (&field[10], &alert->score)) ||
        (rc = s_get_number (&field[11], &alert->value)) ||
        (rc = s_get_number (&field[12], &alert->expected_low)) ||
        (rc = s_get_number (&field[13], &alert->expected_high)) ||
        (rc = s_get_array (&field[14], LW_DETECTORS_MAX, &detectors,
                           &alert->ndetectors)) ||
        (rc = s_get_u8 (&field[15], LW_LABEL_NONE, LW_LABEL_NORMAL,
                        &alert->label)))
        return rc;
    for (uint32_t index = 0; index < alert->ndetectors; index++)
        if ((rc = s_get_name (&detectors[index], alert->detectors[index],
                              sizeof (alert->detectors[index]), false)))
            return rc;
    return 0;
}

int
lw_msg_alert_decode (const uint8_t *data, size_t size, lw_alert_t *out)
{
    assert (out);
    memset (out, 0, sizeof (*out));
    return s_decode (data, size, LW_MSG_ALERT, FIELDS_ALERT, 0, s_walk_alert,
                     out);
}

//  --------------------------------------------------------------------------
//  Label

zframe_t *
lw_msg_label_encode (const lw_label_t *label)
{
    assert (label);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    int rc = s_pack_header (&packer, FIELDS_LABEL, LW_MSG_LABEL) |
             msgpack_pack_uint64 (&packer, label->id) |
             msgpack_pack_uint64 (&packer, label->alert_id) |
             PACK_FIELD (&packer, label->sensor) |
             msgpack_pack_int64 (&packer, label->from) |
             msgpack_pack_int64 (&packer, label->to) |
             msgpack_pack_uint8 (&packer, label->label) |
             PACK_FIELD (&packer, label->note) |
             msgpack_pack_int64 (&packer, label->at);
    return s_frame (&buffer, rc);
}

static int
s_walk_label (const msgpack_object *field, uint32_t nfields, void *arg)
{
    (void)nfields;
    lw_label_t *label = (lw_label_t *)arg;
    int rc;
    //  The sensor may be empty when the label names an alert by id
    if ((rc = s_get_u64 (&field[2], &label->id)) ||
        (rc = s_get_u64 (&field[3], &label->alert_id)) ||
        (rc = s_get_key (&field[4], label->sensor, true)) ||
        (rc = s_get_i64 (&field[5], &label->from)) ||
        (rc = s_get_i64 (&field[6], &label->to)) ||
        (rc = s_get_u8 (&field[7], LW_LABEL_NONE, LW_LABEL_NORMAL,
                        &label->label)) ||
        (rc = s_get_text (&field[8], label->note, sizeof (label->note))) ||
        (rc = s_get_i64 (&field[9], &label->at)))
        return rc;
    return 0;
}

int
lw_msg_label_decode (const uint8_t *data, size_t size, lw_label_t *out)
{
    assert (out);
    memset (out, 0, sizeof (*out));
    return s_decode (data, size, LW_MSG_LABEL, FIELDS_LABEL, 0, s_walk_label,
                     out);
}

//  --------------------------------------------------------------------------
//  Control message

zframe_t *
lw_msg_ctrl_encode (const lw_ctrl_t *ctrl)
{
    assert (ctrl);
    if (ctrl->npartitions > LW_PARTITIONS_MAX || ctrl->nstats > LW_STATS_MAX)
        return NULL;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    int rc = s_pack_header (&packer, FIELDS_CTRL, LW_MSG_CONTROL) |
             msgpack_pack_uint8 (&packer, ctrl->kind) |
             PACK_FIELD (&packer, ctrl->group) |
             PACK_FIELD (&packer, ctrl->name) |
             msgpack_pack_int64 (&packer, ctrl->pid) |
             msgpack_pack_uint64 (&packer, ctrl->epoch) |
             (ctrl->alive ? msgpack_pack_true (&packer)
                          : msgpack_pack_false (&packer)) |
             msgpack_pack_array (&packer, ctrl->npartitions);
    for (uint32_t index = 0; index < ctrl->npartitions; index++)
        rc |= msgpack_pack_uint16 (&packer, ctrl->partitions[index]);
    rc |= msgpack_pack_array (&packer, ctrl->nstats);
    for (uint32_t index = 0; index < ctrl->nstats; index++)
        rc |= msgpack_pack_array (&packer, FIELDS_STAT) |
              PACK_FIELD (&packer, ctrl->stats[index].name) |
              msgpack_pack_uint64 (&packer, ctrl->stats[index].value);
    return s_frame (&buffer, rc);
}

static int
s_walk_ctrl (const msgpack_object *field, uint32_t nfields, void *arg)
{
    (void)nfields;
    lw_ctrl_t *ctrl = (lw_ctrl_t *)arg;
    const msgpack_object *partitions, *stats;
    int rc;
    if ((rc =
             s_get_u8 (&field[2], LW_CTRL_HELLO, LW_CTRL_READY, &ctrl->kind)) ||
        (rc =
             s_get_name (&field[3], ctrl->group, sizeof (ctrl->group), true)) ||
        (rc = s_get_name (&field[4], ctrl->name, sizeof (ctrl->name), true)) ||
        (rc = s_get_i64 (&field[5], &ctrl->pid)) ||
        (rc = s_get_u64 (&field[6], &ctrl->epoch)) ||
        (rc = s_get_bool (&field[7], &ctrl->alive)) ||
        (rc = s_get_array (&field[8], LW_PARTITIONS_MAX, &partitions,
                           &ctrl->npartitions)) ||
        (rc = s_get_array (&field[9], LW_STATS_MAX, &stats, &ctrl->nstats)))
        return rc;
    for (uint32_t index = 0; index < ctrl->npartitions; index++) {
        uint64_t partition;
        if ((rc = s_get_uint (&partitions[index], LW_PARTITIONS_MAX - 1,
                              &partition)))
            return rc;
        ctrl->partitions[index] = (uint16_t)partition;
    }
    for (uint32_t index = 0; index < ctrl->nstats; index++) {
        const msgpack_object *pair = &stats[index];
        lw_stat_t *stat = &ctrl->stats[index];
        if (pair->type != MSGPACK_OBJECT_ARRAY ||
            pair->via.array.size != FIELDS_STAT)
            return LW_MSG_WRONG_TYPE;
        if ((rc = s_get_name (&pair->via.array.ptr[0], stat->name,
                              sizeof (stat->name), false)) ||
            (rc = s_get_u64 (&pair->via.array.ptr[1], &stat->value)))
            return rc;
    }
    return 0;
}

int
lw_msg_ctrl_decode (const uint8_t *data, size_t size, lw_ctrl_t *out)
{
    assert (out);
    //  Only the fixed part is cleared: the arrays are filled up to their
    //  counts, and clearing 11 KB per heartbeat buys nothing
    out->kind = 0;
    out->group[0] = out->name[0] = 0;
    out->pid = 0;
    out->epoch = 0;
    out->alive = false;
    out->npartitions = out->nstats = 0;
    int rc =
        s_decode (data, size, LW_MSG_CONTROL, FIELDS_CTRL, 0, s_walk_ctrl, out);
    if (rc)
        out->npartitions = out->nstats = 0;
    return rc;
}

//  --------------------------------------------------------------------------
//  Adds a counter to a control message; false when it is full or the name
//  is empty or too long

bool
lw_ctrl_stat_add (lw_ctrl_t *ctrl, const char *name, uint64_t value)
{
    assert (ctrl);
    assert (name);
    size_t size = strlen (name);
    if (ctrl->nstats >= LW_STATS_MAX || size == 0 || size > LW_STAT_NAME_MAX)
        return false;
    lw_stat_t *stat = &ctrl->stats[ctrl->nstats++];
    memcpy (stat->name, name, size + 1);
    stat->value = value;
    return true;
}

//  --------------------------------------------------------------------------
//  Finds a counter by name; its value, or 0

uint64_t
lw_ctrl_stat (const lw_ctrl_t *ctrl, const char *name)
{
    assert (ctrl);
    assert (name);
    uint32_t count = ctrl->nstats <= LW_STATS_MAX ? ctrl->nstats : LW_STATS_MAX;
    for (uint32_t index = 0; index < count; index++)
        if (streq (ctrl->stats[index].name, name))
            return ctrl->stats[index].value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Operator request

zframe_t *
lw_msg_request_encode (const lw_request_t *request)
{
    assert (request);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    int rc = s_pack_header (&packer, FIELDS_REQUEST, LW_MSG_REQUEST) |
             msgpack_pack_uint8 (&packer, request->op) |
             msgpack_pack_uint64 (&packer, request->alert_id) |
             PACK_FIELD (&packer, request->sensor) |
             msgpack_pack_int64 (&packer, request->from) |
             msgpack_pack_int64 (&packer, request->to) |
             (request->open_only ? msgpack_pack_true (&packer)
                                 : msgpack_pack_false (&packer)) |
             msgpack_pack_uint32 (&packer, request->limit) |
             msgpack_pack_uint8 (&packer, request->label) |
             PACK_FIELD (&packer, request->note);
    return s_frame (&buffer, rc);
}

static int
s_walk_request (const msgpack_object *field, uint32_t nfields, void *arg)
{
    (void)nfields;
    lw_request_t *request = (lw_request_t *)arg;
    int rc;
    if ((rc = s_get_u8 (&field[2], LW_OP_PING, LW_OP_STATS, &request->op)) ||
        (rc = s_get_u64 (&field[3], &request->alert_id)) ||
        (rc = s_get_key (&field[4], request->sensor, true)) ||
        (rc = s_get_i64 (&field[5], &request->from)) ||
        (rc = s_get_i64 (&field[6], &request->to)) ||
        (rc = s_get_bool (&field[7], &request->open_only)) ||
        (rc = s_get_u32 (&field[8], UINT32_MAX, &request->limit)) ||
        (rc = s_get_u8 (&field[9], LW_LABEL_NONE, LW_LABEL_NORMAL,
                        &request->label)) ||
        (rc = s_get_text (&field[10], request->note, sizeof (request->note))))
        return rc;
    return 0;
}

int
lw_msg_request_decode (const uint8_t *data, size_t size, lw_request_t *out)
{
    assert (out);
    memset (out, 0, sizeof (*out));
    return s_decode (data, size, LW_MSG_REQUEST, FIELDS_REQUEST, 0,
                     s_walk_request, out);
}

//  --------------------------------------------------------------------------
//  Operator reply (the header frame; `count` records follow it)

zframe_t *
lw_msg_reply_encode (const lw_reply_t *reply)
{
    assert (reply);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    int rc = s_pack_header (&packer, FIELDS_REPLY, LW_MSG_REPLY) |
             msgpack_pack_int32 (&packer, reply->status) |
             PACK_FIELD (&packer, reply->text) |
             msgpack_pack_uint32 (&packer, reply->count);
    return s_frame (&buffer, rc);
}

static int
s_walk_reply (const msgpack_object *field, uint32_t nfields, void *arg)
{
    (void)nfields;
    lw_reply_t *reply = (lw_reply_t *)arg;
    int64_t status;
    uint64_t count;
    int rc;
    if ((rc = s_get_int (&field[2], INT32_MIN, INT32_MAX, &status)) ||
        (rc = s_get_text (&field[3], reply->text, sizeof (reply->text))))
        return rc;
    rc = s_get_uint (&field[4], UINT32_MAX, &count);
    if (rc)
        return rc;
    if (count > LW_REPLY_MAX)
        return LW_MSG_TOO_MANY;
    reply->status = (int32_t)status;
    reply->count = (uint32_t)count;
    return 0;
}

int
lw_msg_reply_decode (const uint8_t *data, size_t size, lw_reply_t *out)
{
    assert (out);
    memset (out, 0, sizeof (*out));
    return s_decode (data, size, LW_MSG_REPLY, FIELDS_REPLY, 0, s_walk_reply,
                     out);
}

//  --------------------------------------------------------------------------
//  Creates an empty batch of kind READINGS, FEATURES or SCORES. The items
//  (~770 KB) and the key arena (1 MiB) are allocated once, here, and not
//  cleared: items are zeroed one by one as they are added or decoded, so
//  pages a batch never uses are never touched and cost no memory (ingest
//  keeps one batch per partition).

lw_batch_t *
lw_batch_new (lw_msg_type_t kind)
{
    assert (kind == LW_MSG_READINGS || kind == LW_MSG_FEATURES ||
            kind == LW_MSG_SCORES);
    lw_batch_t *self = (lw_batch_t *)zmalloc (sizeof (lw_batch_t));
    if (self) {
        self->kind = kind;
        msgpack_sbuffer_init (&self->buffer);
        self->items = (lw_item_t *)malloc (LW_BATCH_MAX * sizeof (lw_item_t));
        self->arena = (char *)malloc ((size_t)LW_BATCH_MAX * ARENA_SLOT);
        if (!self->items || !self->arena)
            lw_batch_destroy (&self);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys a batch

void
lw_batch_destroy (lw_batch_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_batch_t *self = *self_p;
        msgpack_sbuffer_destroy (&self->buffer);
        free (self->items);
        free (self->arena);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Empties the batch, keeping its memory and header fields

void
lw_batch_reset (lw_batch_t *self)
{
    assert (self);
    self->count = 0;
    self->arena_used = 0;
}

//  --------------------------------------------------------------------------
//  Accessors

lw_msg_type_t
lw_batch_kind (lw_batch_t *self)
{
    assert (self);
    return self->kind;
}

size_t
lw_batch_count (lw_batch_t *self)
{
    assert (self);
    return self->count;
}

bool
lw_batch_full (lw_batch_t *self)
{
    assert (self);
    return self->count >= LW_BATCH_MAX;
}

lw_item_t *
lw_batch_item (lw_batch_t *self, size_t index)
{
    assert (self);
    assert (index < self->count);
    return &self->items[index];
}

uint64_t
lw_batch_publisher (lw_batch_t *self)
{
    assert (self);
    return self->publisher;
}

void
lw_batch_set_publisher (lw_batch_t *self, uint64_t publisher)
{
    assert (self);
    self->publisher = publisher;
}

uint16_t
lw_batch_partition (lw_batch_t *self)
{
    assert (self);
    return self->partition;
}

void
lw_batch_set_partition (lw_batch_t *self, uint16_t partition)
{
    assert (self);
    self->partition = partition;
}

uint64_t
lw_batch_sequence (lw_batch_t *self)
{
    assert (self);
    return self->sequence;
}

void
lw_batch_set_sequence (lw_batch_t *self, uint64_t sequence)
{
    assert (self);
    self->sequence = sequence;
}

int64_t
lw_batch_ingest_time (lw_batch_t *self)
{
    assert (self);
    return self->ingest_time;
}

void
lw_batch_set_ingest_time (lw_batch_t *self, int64_t ingest_time)
{
    assert (self);
    self->ingest_time = ingest_time;
}

//  --------------------------------------------------------------------------
//  Copies a key of `size` bytes into the arena; returns the copy. The
//  arena has one maximal slot per item, so this never fails or moves.

static const char *
s_arena_copy (lw_batch_t *self, const char *key, size_t size)
{
    char *copy = self->arena + self->arena_used;
    memcpy (copy, key, size);
    copy[size] = 0;
    self->arena_used += size + 1;
    return copy;
}

//  --------------------------------------------------------------------------
//  Appends a zeroed item whose sensor is a copy of `sensor`. Returns it,
//  or NULL when the batch is full or the key is invalid.

lw_item_t *
lw_batch_add (lw_batch_t *self, const char *sensor)
{
    assert (self);
    assert (sensor);
    if (self->count >= LW_BATCH_MAX)
        return NULL;
    size_t size = strnlen (sensor, LW_KEY_MAX + 1);
    if (!lw_key_valid (sensor, size))
        return NULL;
    lw_item_t *item = &self->items[self->count++];
    memset (item, 0, sizeof (*item));
    item->sensor = s_arena_copy (self, sensor, size);
    return item;
}

//  --------------------------------------------------------------------------
//  Encodes the batch into the reused buffer. Returns a new frame owned by
//  the caller, or NULL (pack failure, or an item whose sensor is not a
//  1..LW_KEY_MAX byte string or with more than LW_FEATURES_MAX features).

zframe_t *
lw_batch_encode (lw_batch_t *self)
{
    assert (self);
    msgpack_sbuffer_clear (&self->buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &self->buffer, msgpack_sbuffer_write);
    int rc = s_pack_header (&packer, FIELDS_BATCH, self->kind) |
             msgpack_pack_uint64 (&packer, self->publisher) |
             msgpack_pack_uint16 (&packer, self->partition) |
             msgpack_pack_uint64 (&packer, self->sequence) |
             msgpack_pack_int64 (&packer, self->ingest_time) |
             msgpack_pack_array (&packer, self->count);
    for (size_t index = 0; index < self->count && rc == 0; index++) {
        const lw_item_t *item = &self->items[index];
        size_t fields = self->kind == LW_MSG_READINGS   ? FIELDS_READING
                        : self->kind == LW_MSG_FEATURES ? FIELDS_VECTOR
                                                        : FIELDS_SCORE;
        //  Items come from lw_batch_add, but the struct is public: never
        //  put a key on the wire that every receiver would reject
        size_t key_size =
            item->sensor ? strnlen (item->sensor, LW_KEY_MAX + 1) : 0;
        if (key_size == 0 || key_size > LW_KEY_MAX ||
            item->nfeatures > LW_FEATURES_MAX)
            return NULL;
        rc |= msgpack_pack_array (&packer, fields) |
              s_pack_str (&packer, item->sensor, key_size) |
              msgpack_pack_int64 (&packer, item->time) |
              msgpack_pack_double (&packer, item->value);
        if (self->kind == LW_MSG_READINGS)
            rc |= msgpack_pack_uint32 (&packer, item->quality);
        else if (self->kind == LW_MSG_FEATURES) {
            rc |= msgpack_pack_uint32 (&packer, item->quality) |
                  msgpack_pack_array (&packer, item->nfeatures);
            for (uint32_t feature = 0; feature < item->nfeatures; feature++)
                rc |= msgpack_pack_double (&packer, item->features[feature]);
        }
        else
            rc |= msgpack_pack_double (&packer, item->score) |
                  msgpack_pack_double (&packer, item->expected_low) |
                  msgpack_pack_double (&packer, item->expected_high) |
                  msgpack_pack_uint32 (&packer, item->flags);
    }
    if (rc || self->buffer.size > LW_MAX_FRAME_SIZE)
        return NULL;
    return zframe_new (self->buffer.data, self->buffer.size);
}

//  --------------------------------------------------------------------------
//  Reads one item of a batch of `kind` into item (already zeroed)

static int
s_walk_item (lw_batch_t *self, lw_msg_type_t kind, const msgpack_object *obj,
             lw_item_t *item)
{
    uint32_t fields = kind == LW_MSG_READINGS   ? FIELDS_READING
                      : kind == LW_MSG_FEATURES ? FIELDS_VECTOR
                                                : FIELDS_SCORE;
    if (obj->type != MSGPACK_OBJECT_ARRAY || obj->via.array.size != fields)
        return LW_MSG_WRONG_TYPE;
    const msgpack_object *field = obj->via.array.ptr;
    if (field[0].type != MSGPACK_OBJECT_STR)
        return LW_MSG_WRONG_TYPE;
    if (!lw_key_valid (field[0].via.str.ptr, field[0].via.str.size))
        return LW_MSG_BAD_KEY;
    item->sensor =
        s_arena_copy (self, field[0].via.str.ptr, field[0].via.str.size);
    int rc;
    if ((rc = s_get_i64 (&field[1], &item->time)) ||
        (rc = s_get_number (&field[2], &item->value)))
        return rc;
    if (kind == LW_MSG_READINGS)
        return s_get_u32 (&field[3], UINT32_MAX, &item->quality);
    if (kind == LW_MSG_FEATURES) {
        const msgpack_object *features;
        if ((rc = s_get_u32 (&field[3], UINT32_MAX, &item->quality)) ||
            (rc = s_get_array (&field[4], LW_FEATURES_MAX, &features,
                               &item->nfeatures)))
            return rc;
        for (uint32_t index = 0; index < item->nfeatures; index++)
            if ((rc = s_get_number (&features[index], &item->features[index])))
                return rc;
        return 0;
    }
    if ((rc = s_get_number (&field[3], &item->score)) ||
        (rc = s_get_number (&field[4], &item->expected_low)) ||
        (rc = s_get_number (&field[5], &item->expected_high)) ||
        (rc = s_get_u32 (&field[6], UINT32_MAX, &item->flags)))
        return rc;
    return 0;
}

//  --------------------------------------------------------------------------
//  Decodes an untrusted batch body into self (the kind becomes that of the
//  frame). Returns 0 or an error; on error the batch is left empty and its
//  header fields unchanged.

int
lw_batch_decode (lw_batch_t *self, const uint8_t *data, size_t size)
{
    assert (self);
    lw_batch_reset (self);
    msgpack_unpacked unpacked;
    int rc = s_unpack (data, size, &unpacked);
    if (rc)
        return rc;
    const msgpack_object *field = NULL;
    const msgpack_object *items = NULL;
    uint32_t count = 0;
    uint64_t publisher = 0, partition = 0, sequence = 0;
    int64_t ingest_time = 0;
    int type = s_check_header (&unpacked.data);
    if (type < 0) {
        rc = type;
        goto cleanup;
    }
    if (type != LW_MSG_READINGS && type != LW_MSG_FEATURES &&
        type != LW_MSG_SCORES) {
        rc = LW_MSG_BAD_TYPE;
        goto cleanup;
    }
    if (unpacked.data.via.array.size != FIELDS_BATCH) {
        rc = LW_MSG_WRONG_TYPE;
        goto cleanup;
    }
    field = unpacked.data.via.array.ptr;
    if ((rc = s_get_u64 (&field[2], &publisher)) ||
        (rc = s_get_uint (&field[3], UINT16_MAX, &partition)) ||
        (rc = s_get_u64 (&field[4], &sequence)) ||
        (rc = s_get_i64 (&field[5], &ingest_time)) ||
        (rc = s_get_array (&field[6], LW_BATCH_MAX, &items, &count)))
        goto cleanup;
    for (uint32_t index = 0; index < count; index++) {
        lw_item_t *item = &self->items[index];
        memset (item, 0, sizeof (*item));
        if ((rc = s_walk_item (self, (lw_msg_type_t)type, &items[index], item)))
            goto cleanup;
    }
    self->kind = (lw_msg_type_t)type;
    self->publisher = publisher;
    self->partition = (uint16_t)partition;
    self->sequence = sequence;
    self->ingest_time = ingest_time;
    self->count = count;

cleanup:
    msgpack_unpacked_destroy (&unpacked);
    if (rc)
        lw_batch_reset (self);
    return rc;
}
