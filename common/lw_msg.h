/*  =========================================================================
    lw_msg.h - every linewatch message, encoded as msgpack

    Copyright (c) the linewatch authors. MIT license.

    This is the only module that knows msgpack. Every message body is one
    msgpack array [version, type, fields...]. Decoders treat every frame as
    untrusted: size check, a pre-scan of all declared lengths and of nesting
    depth before msgpack-c allocates anything, then a typed walk with exact
    array sizes and range checks. Each rejection has its own error code so
    that it can be counted by reason.

    Grammar (version 1; u = unsigned int, i = signed int, f = any number,
    s = str, [..] = array of exactly these fields, *x = array of x):

      readings  = [1, 1, publisher:u64, partition:u16, sequence:u64,
                   ingest_time:i64, *reading]
      reading   = [sensor:s, time:i64, value:f, quality:u32]
      gap       = [1, 2, sensor:s, last_time:i64, time:i64, ?silent:bool]
                  (silent absent = false; encoded only when true)
      features  = [1, 3, publisher, partition, sequence, ingest_time, *vector]
      vector    = [sensor:s, time:i64, value:f, quality:u32, *feature:f]
      scores    = [1, 4, publisher, partition, sequence, ingest_time, *score]
      score     = [sensor:s, time:i64, value:f, score:f, expected_low:f,
                   expected_high:f, flags:u32]
      alert     = [1, 5, id:u64, scorer:u64, local_seq:u64, state:u8,
                   sensor:s, opened:i64, closed:i64, updated:i64, score:f,
                   value:f, expected_low:f, expected_high:f, *detector:s,
                   label:u8]
      label     = [1, 6, id:u64, alert_id:u64, sensor:s, from:i64, to:i64,
                   label:u8, note:s, at:i64]
      model     = [1, 7, key:s, version:u64, blob:bin]        (reserved)
      control   = [1, 8, kind:u8, group:s, name:s, pid:i64, epoch:u64,
                   alive:bool, *partition:u16, *[name:s, value:u64]]
      request   = [1, 9, op:u8, alert_id:u64, sensor:s, from:i64, to:i64,
                   open_only:bool, limit:u32, label:u8, note:s]
      reply     = [1, 10, status:i32, text:s, count:u32]
                  followed in the same zmsg by `count` frames, each an alert,
                  a label or a control message.

    Every stream message is two frames: a 2-byte big-endian partition (or
    an LW_TOPIC_* value) and the body.
    =========================================================================
*/

#ifndef LW_MSG_H_INCLUDED
#define LW_MSG_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_limits.h"

#define LW_MSG_VERSION 1

typedef enum {
    LW_MSG_READINGS = 1,
    LW_MSG_GAP = 2,
    LW_MSG_FEATURES = 3,
    LW_MSG_SCORES = 4,
    LW_MSG_ALERT = 5,
    LW_MSG_LABEL = 6,
    LW_MSG_MODEL = 7,
    LW_MSG_CONTROL = 8,
    LW_MSG_REQUEST = 9,
    LW_MSG_REPLY = 10
} lw_msg_type_t;

//  Rejection reasons; decoders return 0 or one of these (negative)
typedef enum {
    LW_MSG_OK = 0,
    LW_MSG_TOO_BIG = -1,        //  Frame larger than LW_MAX_FRAME_SIZE
    LW_MSG_TRUNCATED = -2,      //  Frame ends inside a msgpack object
    LW_MSG_TRAILING = -3,       //  Bytes after the top-level object
    LW_MSG_TOO_DEEP = -4,       //  Nesting deeper than LW_MSG_MAX_DEPTH
    LW_MSG_BAD_LENGTH = -5,     //  A declared count exceeds the bytes left
    LW_MSG_BAD_VERSION = -6,    //  Unknown schema version
    LW_MSG_BAD_TYPE = -7,       //  Unknown or unexpected message type
    LW_MSG_WRONG_TYPE = -8,     //  A field has the wrong msgpack type/arity
    LW_MSG_BAD_RANGE = -9,      //  A value is out of its range
    LW_MSG_BAD_KEY = -10,       //  Sensor key empty, too long, or has controls
    LW_MSG_TOO_MANY = -11,      //  More items than the batch may hold
    LW_MSG_ENVELOPE = -12,      //  Wrong frame count or partition frame
    LW_MSG_NOMEM = -13          //  Allocation failed while decoding
} lw_msg_error_t;
#define LW_MSG_ERRORS 14        //  Number of codes including LW_MSG_OK

//  Reading quality flags
#define LW_QUALITY_LIMIT 0x01   //  Outside its engineering limits
#define LW_QUALITY_LATE 0x02    //  Arrived out of order within lateness bound

//  Score flags
#define LW_SCORE_WARMUP 0x01    //  Detector still warming up
#define LW_SCORE_ALERT 0x02     //  An alert episode is open on this sensor
#define LW_SCORE_FAULT 0x04     //  A fault test fired (opens an alert)

//  Alert states
#define LW_ALERT_OPEN 1
#define LW_ALERT_UPDATE 2
#define LW_ALERT_CLOSE 3

//  Labels
#define LW_LABEL_NONE 0
#define LW_LABEL_ANOMALY 1
#define LW_LABEL_NORMAL 2

//  Control kinds
typedef enum {
    LW_CTRL_HELLO = 1,          //  worker -> broker: join group
    LW_CTRL_HEARTBEAT = 2,      //  worker -> broker: alive, with stats
    LW_CTRL_ASSIGN = 3,         //  broker -> worker: you own these now
    LW_CTRL_REVOKE = 4,         //  broker -> worker: release these
    LW_CTRL_STATUS = 5,         //  lwctl -> broker: who is there
    LW_CTRL_PING = 6,           //  anyone -> anyone: are you alive
    LW_CTRL_PONG = 7,           //  answer to ping
    LW_CTRL_MEMBER = 8,         //  broker -> lwctl: one member's status
    LW_CTRL_BYE = 9,            //  worker -> broker: leaving
    LW_CTRL_READY = 10          //  broker -> members: every partition of the
                                //  readings stream has a subscriber (alive)
} lw_ctrl_kind_t;

//  Operator API operations
typedef enum {
    LW_OP_PING = 1,
    LW_OP_ALERTS = 2,           //  list alerts (open_only, sensor, limit)
    LW_OP_SHOW = 3,             //  one alert by id, with its labels
    LW_OP_LABEL = 4,            //  add a label (alert_id or sensor+from+to)
    LW_OP_LABELS = 5,           //  list labels (sensor, limit)
    LW_OP_STATS = 6             //  the feedback process's own counters
} lw_op_t;

//  One reading, feature vector or score: the item of every batch type.
//  Fields a batch kind does not carry are zero.
typedef struct {
    const char *sensor;         //  Key, NUL-terminated; owned by the batch
    int64_t time;               //  Event time, ns since the epoch, UTC
    double value;               //  The reading
    uint32_t quality;           //  LW_QUALITY_* flags
    double score;               //  SCORES: anomaly score in [0, 1]
    double expected_low;        //  SCORES: low end of the expected range
    double expected_high;       //  SCORES: high end of the expected range
    uint32_t flags;             //  SCORES: LW_SCORE_* flags
    uint32_t nfeatures;         //  FEATURES: number of features used
    double features[LW_FEATURES_MAX];   //  FEATURES: the vector
} lw_item_t;

typedef struct _lw_batch_t lw_batch_t;

typedef struct {
    char sensor[LW_KEY_MAX + 1];    //  Sensor key
    int64_t last_time;              //  Last reading before the gap
    int64_t time;                   //  First reading after the gap; when
                                    //  silent, the event time the sensor
                                    //  was found still silent at
    bool silent;                    //  No reading has ended the gap yet
} lw_gap_t;

typedef struct {
    uint64_t id;                    //  Assigned by lw-feedback; 0 until then
    uint64_t scorer;                //  Publisher id of the scorer
    uint64_t local_seq;             //  Scorer-local alert number
    uint8_t state;                  //  LW_ALERT_OPEN, _UPDATE or _CLOSE
    char sensor[LW_KEY_MAX + 1];    //  Sensor key (or machine key)
    int64_t opened;                 //  Event time the episode opened
    int64_t closed;                 //  Event time it closed; 0 while open
    int64_t updated;                //  Event time of the latest update
    double score;                   //  Peak score of the episode
    double value;                   //  Value at the peak
    double expected_low;            //  Expected range at the peak
    double expected_high;
    uint32_t ndetectors;            //  Detectors that fired
    char detectors[LW_DETECTORS_MAX][LW_NAME_MAX + 1];
    uint8_t label;                  //  Latest LW_LABEL_*; set by lw-feedback
} lw_alert_t;

typedef struct {
    uint64_t id;                    //  Position in the label history
    uint64_t alert_id;              //  Labelled alert, 0 for a range label
    char sensor[LW_KEY_MAX + 1];    //  Sensor key
    int64_t from;                   //  Range start, ns
    int64_t to;                     //  Range end, ns
    uint8_t label;                  //  LW_LABEL_ANOMALY or LW_LABEL_NORMAL
    char note[LW_NOTE_MAX + 1];     //  Operator's note, may be empty
    int64_t at;                     //  Wall time it was recorded, ns
} lw_label_t;

typedef struct {
    char name[LW_STAT_NAME_MAX + 1];
    uint64_t value;
} lw_stat_t;

typedef struct {
    uint8_t kind;                   //  LW_CTRL_*
    char group[LW_NAME_MAX + 1];    //  "broker", "ingest", "features"...
    char name[LW_NAME_MAX + 1];     //  Member name, unique in the group
    int64_t pid;                    //  Process id
    uint64_t epoch;                 //  Assignment epoch
    bool alive;                     //  MEMBER: heard from recently
    uint32_t npartitions;
    uint16_t partitions[LW_PARTITIONS_MAX];
    uint32_t nstats;
    lw_stat_t stats[LW_STATS_MAX];
} lw_ctrl_t;

typedef struct {
    uint8_t op;                     //  LW_OP_*
    uint64_t alert_id;              //  SHOW, LABEL: the alert; 0 = none
    char sensor[LW_KEY_MAX + 1];    //  Filter or range label sensor; "" = any
    int64_t from;                   //  LABEL range start
    int64_t to;                     //  LABEL range end
    bool open_only;                 //  ALERTS: only open ones
    uint32_t limit;                 //  ALERTS, LABELS: most records, 0 = all
    uint8_t label;                  //  LABEL: LW_LABEL_*
    char note[LW_NOTE_MAX + 1];     //  LABEL: note
} lw_request_t;

typedef struct {
    int32_t status;                 //  0 ok, else an error (see text)
    char text[LW_TEXT_MAX + 1];     //  Error message or comment
    uint32_t count;                 //  Frames that follow this one
} lw_reply_t;

//  --------------------------------------------------------------------------
//  Common

//  Short, counter-friendly name of an error code ("truncated", "too_big"...)
const char *
    lw_msg_strerror (int code);

//  Validates raw bytes without allocating: size, declared lengths, depth,
//  trailing bytes. Returns 0 or a negative lw_msg_error_t.
int
    lw_msg_prescan (const uint8_t *data, size_t size);

//  Reads version and type of a body after a prescan. Returns the type
//  (> 0) or a negative lw_msg_error_t.
int
    lw_msg_type (const uint8_t *data, size_t size);

//  Checks a stream envelope: exactly two frames, first of 2 bytes, body
//  under the size limit. Stores the partition. Returns 0 or LW_MSG_ENVELOPE
//  or LW_MSG_TOO_BIG.
int
    lw_msg_envelope (zmsg_t *msg, uint16_t *partition);

//  Sends a two-frame stream message [partition, body]; takes the body.
//  With dontwait, returns -1 with errno EAGAIN when the socket is full, and
//  the body is not consumed (*body_p stays valid). Returns 0 on success.
int
    lw_msg_send (void *socket, uint16_t partition, zframe_t **body_p,
                 bool dontwait);

//  --------------------------------------------------------------------------
//  Batches: readings, features and scores

//  Creates an empty batch of kind LW_MSG_READINGS, _FEATURES or _SCORES.
lw_batch_t *
    lw_batch_new (lw_msg_type_t kind);
void
    lw_batch_destroy (lw_batch_t **self_p);
//  Empties the batch, keeping its memory. Header fields are kept.
void
    lw_batch_reset (lw_batch_t *self);
lw_msg_type_t
    lw_batch_kind (lw_batch_t *self);
size_t
    lw_batch_count (lw_batch_t *self);
//  True when no further item may be added
bool
    lw_batch_full (lw_batch_t *self);
//  Returns item `index` (< count); owned by the batch until reset/decode.
lw_item_t *
    lw_batch_item (lw_batch_t *self, size_t index);
//  Appends a zeroed item whose sensor is a copy of `sensor`. Returns it,
//  or NULL when the batch is full or the key is invalid.
lw_item_t *
    lw_batch_add (lw_batch_t *self, const char *sensor);

uint64_t lw_batch_publisher (lw_batch_t *self);
void lw_batch_set_publisher (lw_batch_t *self, uint64_t publisher);
uint16_t lw_batch_partition (lw_batch_t *self);
void lw_batch_set_partition (lw_batch_t *self, uint16_t partition);
uint64_t lw_batch_sequence (lw_batch_t *self);
void lw_batch_set_sequence (lw_batch_t *self, uint64_t sequence);
int64_t lw_batch_ingest_time (lw_batch_t *self);
void lw_batch_set_ingest_time (lw_batch_t *self, int64_t ingest_time);

//  Encodes the batch. Returns a new frame owned by the caller, or NULL.
zframe_t *
    lw_batch_encode (lw_batch_t *self);
//  Decodes an untrusted body into self (any batch kind; the kind changes
//  to that of the frame). Returns 0 or a negative lw_msg_error_t; on error
//  the batch is left empty.
int
    lw_batch_decode (lw_batch_t *self, const uint8_t *data, size_t size);

//  --------------------------------------------------------------------------
//  Single messages: encode returns a new frame (caller owns) or NULL;
//  decode fills *out from an untrusted body and returns 0 or a negative
//  lw_msg_error_t.

zframe_t *lw_msg_gap_encode (const lw_gap_t *gap);
int lw_msg_gap_decode (const uint8_t *data, size_t size, lw_gap_t *out);
zframe_t *lw_msg_alert_encode (const lw_alert_t *alert);
int lw_msg_alert_decode (const uint8_t *data, size_t size, lw_alert_t *out);
zframe_t *lw_msg_label_encode (const lw_label_t *label);
int lw_msg_label_decode (const uint8_t *data, size_t size, lw_label_t *out);
zframe_t *lw_msg_ctrl_encode (const lw_ctrl_t *ctrl);
int lw_msg_ctrl_decode (const uint8_t *data, size_t size, lw_ctrl_t *out);
zframe_t *lw_msg_request_encode (const lw_request_t *request);
int lw_msg_request_decode (const uint8_t *data, size_t size,
                           lw_request_t *out);
zframe_t *lw_msg_reply_encode (const lw_reply_t *reply);
int lw_msg_reply_decode (const uint8_t *data, size_t size, lw_reply_t *out);

//  Adds a counter to a control message; false when it is full.
bool
    lw_ctrl_stat_add (lw_ctrl_t *ctrl, const char *name, uint64_t value);
//  Finds a counter by name; returns its value or 0.
uint64_t
    lw_ctrl_stat (const lw_ctrl_t *ctrl, const char *name);

//  Checks a sensor key: 1..LW_KEY_MAX bytes, valid UTF-8, no control
//  characters. Returns true if it is valid.
bool
    lw_key_valid (const char *key, size_t size);

//  Self test
void
    lw_msg_test (bool verbose);

#endif
