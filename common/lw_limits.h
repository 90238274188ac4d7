/*  =========================================================================
    lw_limits.h - hard limits shared by every linewatch process

    Copyright (c) the linewatch authors. MIT license.

    Every size a peer, a file or an operator can influence is bounded by one
    of these constants. Decoders reject anything beyond them; nothing is
    allocated by a length a peer claims.
    =========================================================================
*/

#ifndef LW_LIMITS_H_INCLUDED
#define LW_LIMITS_H_INCLUDED

//  Largest frame any socket accepts (also set as ZMQ_MAXMSGSIZE)
#define LW_MAX_FRAME_SIZE (4 * 1024 * 1024)
//  Deepest msgpack nesting a decoder accepts
#define LW_MSG_MAX_DEPTH 32
//  Longest sensor key "<machine>/<sensor>" in bytes, without the NUL
#define LW_KEY_MAX 255
//  Most readings (or vectors, or scores) in one batch message
#define LW_BATCH_MAX 4096
//  Most features in one feature vector
#define LW_FEATURES_MAX 16
//  Most partitions of a deployment (P), and the default
#define LW_PARTITIONS_MAX 1024
#define LW_PARTITIONS_DEFAULT 64
//  Partition-frame values at and above this are topics, not partitions
#define LW_TOPIC_ALERTS 0xFFF0
#define LW_TOPIC_MODELS 0xFFF1
//  Most detectors named in one alert, and the longest detector name
#define LW_DETECTORS_MAX 8
#define LW_NAME_MAX 63
//  Longest operator note on a label, and longest error text in a reply
#define LW_NOTE_MAX 1023
#define LW_TEXT_MAX 255
//  Most named counters in one stats message, longest counter name
#define LW_STATS_MAX 160
#define LW_STAT_NAME_MAX 47
//  Most records in one operator API reply
#define LW_REPLY_MAX 10000
//  Longest ipc:// endpoint path (sun_path is 108 bytes with the NUL)
#define LW_IPC_PATH_MAX 107
//  Buckets of the latency histogram: four per power of two of
//  microseconds, bucket 0 everything below 1 us; the last one (from about
//  2^27.75 us = 230 s) is open-ended
#define LW_LATENCY_BUCKETS 112
//  Default HWM (messages) of data sockets
#define LW_HWM_DEFAULT 1000

#endif
