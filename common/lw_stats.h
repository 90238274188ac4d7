/*  =========================================================================
    lw_stats.h - named counters and a latency histogram for one actor

    Copyright (c) the linewatch authors. MIT license.

    Counters are registered by name once at start (lw_stats_counter) and
    then bumped by index on the hot path without allocation. The whole set
    is copied into every heartbeat so lwctl status and the broker's metrics
    see it. The latency histogram has LW_LATENCY_BUCKETS log buckets
    (4 per power of two, in microseconds), published as counters
    "lat_00".."lat_63".
    =========================================================================
*/

#ifndef LW_STATS_H_INCLUDED
#define LW_STATS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "lw_msg.h"

typedef struct _lw_stats_t lw_stats_t;

lw_stats_t *
    lw_stats_new (void);
void
    lw_stats_destroy (lw_stats_t **self_p);
//  Registers (or finds) a counter; returns its index. Asserts when more
//  than LW_STATS_MAX are registered (a programming error).
int
    lw_stats_counter (lw_stats_t *self, const char *name);
void
    lw_stats_add (lw_stats_t *self, int index, uint64_t amount);
uint64_t
    lw_stats_get (lw_stats_t *self, int index);
//  Value by name, 0 when not registered
uint64_t
    lw_stats_value (lw_stats_t *self, const char *name);
//  Records `count` samples of latency `ns` in the histogram
void
    lw_stats_latency (lw_stats_t *self, int64_t ns, uint64_t count);
//  Appends all counters (and non-empty histogram buckets) to ctrl->stats
void
    lw_stats_fill (lw_stats_t *self, lw_ctrl_t *ctrl);

//  Bucket index of a latency, and the upper bound of a bucket in ns
int
    lw_stats_bucket (int64_t ns);
int64_t
    lw_stats_bucket_upper (int bucket);
//  Quantile q (0..1) in ns from bucket counts; upper bucket bound
int64_t
    lw_stats_quantile (const uint64_t *buckets, double q);

void
    lw_stats_test (bool verbose);

#endif
