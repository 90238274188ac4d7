/*  =========================================================================
    lw_stats.c - named counters and a latency histogram for one actor

    Copyright (c) the linewatch authors. MIT license.

    Each actor owns one lw_stats_t. Counters are registered by name at
    start and bumped by index on the hot path (an array add: no lookup, no
    allocation). Latencies go into LW_LATENCY_BUCKETS log buckets, four per
    power of two of microseconds; the bucket is computed from the bit length
    of the value plus the next two bits, so there is no log () per sample.
    lw_stats_fill copies everything into a heartbeat's control message.
    =========================================================================
*/

#include "lw_stats.h"
#include "lw_util.h"

#include <czmq.h>

#define NS_PER_US 1000
//  Bucket 0 holds everything under 1 us; the last bucket everything above
//  its lower bound (it is the overflow bucket)
#define BUCKET_LAST (LW_LATENCY_BUCKETS - 1)

struct _lw_stats_t {
    int ncounters;                                  //  Registered counters
    char names[LW_STATS_MAX][LW_STAT_NAME_MAX + 1]; //  Counter names
    uint64_t values[LW_STATS_MAX];                  //  Counter values
    uint64_t buckets[LW_LATENCY_BUCKETS];           //  Latency histogram
};

//  --------------------------------------------------------------------------
//  Creates an empty set of counters

lw_stats_t *
lw_stats_new (void)
{
    return (lw_stats_t *)zmalloc (sizeof (lw_stats_t));
}

//  --------------------------------------------------------------------------
//  Destroys the set

void
lw_stats_destroy (lw_stats_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Registers (or finds) a counter by name; returns its index. Names are
//  our own constants, so an overlong name or too many counters is a
//  programming error and asserts.

int
lw_stats_counter (lw_stats_t *self, const char *name)
{
    assert (self);
    assert (name);
    assert (*name && strlen (name) <= LW_STAT_NAME_MAX);
    for (int index = 0; index < self->ncounters; index++)
        if (streq (self->names[index], name))
            return index;
    assert (self->ncounters < LW_STATS_MAX);
    int index = self->ncounters++;
    strcpy (self->names[index], name);
    self->values[index] = 0;
    return index;
}

//  --------------------------------------------------------------------------
//  Adds amount to a counter

void
lw_stats_add (lw_stats_t *self, int index, uint64_t amount)
{
    assert (self);
    assert (index >= 0 && index < self->ncounters);
    self->values[index] += amount;
}

//  --------------------------------------------------------------------------
//  Value of a counter by index

uint64_t
lw_stats_get (lw_stats_t *self, int index)
{
    assert (self);
    assert (index >= 0 && index < self->ncounters);
    return self->values[index];
}

//  --------------------------------------------------------------------------
//  Value of a counter by name, 0 when not registered

uint64_t
lw_stats_value (lw_stats_t *self, const char *name)
{
    assert (self);
    assert (name);
    for (int index = 0; index < self->ncounters; index++)
        if (streq (self->names[index], name))
            return self->values[index];
    return 0;
}

//  --------------------------------------------------------------------------
//  Bucket of a latency: 0 below 1 us, else floor (4 * log2 (us)) + 1 with
//  the quarter-octave taken linearly from the two bits after the leading
//  one (a cheap, monotonic approximation of the log), clamped to the last
//  bucket.

int
lw_stats_bucket (int64_t ns)
{
    if (ns < NS_PER_US)
        return 0;
    uint64_t us = (uint64_t)ns / NS_PER_US;
    int bits = 63 - __builtin_clzll (us); //  floor (log2 (us))
    int quarter = bits >= 2 ? (int)((us >> (bits - 2)) & 3)
                            : (int)((us << (2 - bits)) & 3);
    int bucket = 4 * bits + quarter + 1;
    return bucket > BUCKET_LAST ? BUCKET_LAST : bucket;
}

//  --------------------------------------------------------------------------
//  Exclusive upper bound of a bucket in ns: every latency in the bucket is
//  below it. The last bucket is open-ended: INT64_MAX.

int64_t
lw_stats_bucket_upper (int bucket)
{
    assert (bucket >= 0 && bucket < LW_LATENCY_BUCKETS);
    if (bucket == 0)
        return NS_PER_US;
    if (bucket == BUCKET_LAST)
        return INT64_MAX;
    int octave = (bucket - 1) / 4;
    int quarter = (bucket - 1) % 4;
    //  Microseconds are whole, so the bound rounds up: ceil ((5+q) 2^o / 4)
    int64_t scaled = (int64_t)(5 + quarter) << octave;
    return (scaled + 3) / 4 * NS_PER_US;
}

//  --------------------------------------------------------------------------
//  Records `count` samples of latency `ns`

void
lw_stats_latency (lw_stats_t *self, int64_t ns, uint64_t count)
{
    assert (self);
    self->buckets[lw_stats_bucket (ns)] += count;
}

//  --------------------------------------------------------------------------
//  Quantile q (0..1) in ns from bucket counts: the upper bound of the
//  bucket holding it, or for the open-ended last bucket its lower bound
//  (the quantile is at least that). 0 when there are no samples.

int64_t
lw_stats_quantile (const uint64_t *buckets, double q)
{
    assert (buckets);
    uint64_t total = 0;
    for (int bucket = 0; bucket < LW_LATENCY_BUCKETS; bucket++)
        total += buckets[bucket];
    if (total == 0)
        return 0;
    if (!(q > 0)) //  Also catches NaN
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)ceil (q * (double)total);
    if (rank < 1)
        rank = 1;
    if (rank > total)
        rank = total;
    uint64_t seen = 0;
    for (int bucket = 0; bucket < LW_LATENCY_BUCKETS; bucket++) {
        seen += buckets[bucket];
        if (seen >= rank)
            return bucket == BUCKET_LAST
                       ? lw_stats_bucket_upper (BUCKET_LAST - 1)
                       : lw_stats_bucket_upper (bucket);
    }
    return lw_stats_bucket_upper (BUCKET_LAST - 1);
}

//  --------------------------------------------------------------------------
//  Appends all counters, then the non-empty histogram buckets as "lat_NN",
//  to ctrl->stats; stops quietly when the message is full

void
lw_stats_fill (lw_stats_t *self, lw_ctrl_t *ctrl)
{
    assert (self);
    assert (ctrl);
    for (int index = 0; index < self->ncounters; index++)
        if (!lw_ctrl_stat_add (ctrl, self->names[index], self->values[index]))
            return;
    for (int bucket = 0; bucket < LW_LATENCY_BUCKETS; bucket++) {
        if (self->buckets[bucket] == 0)
            continue;
        char name[8];
        snprintf (name, sizeof (name), "lat_%02d", bucket);
        if (!lw_ctrl_stat_add (ctrl, name, self->buckets[bucket]))
            return;
    }
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_stats_test (bool verbose)
{
    printf (" * lw_stats: ");
    if (verbose)
        printf ("\n");

    lw_stats_t *stats = lw_stats_new ();
    assert (stats);
    int in = lw_stats_counter (stats, "in");
    int out = lw_stats_counter (stats, "out");
    assert (in != out);
    assert (lw_stats_counter (stats, "in") == in);
    lw_stats_add (stats, in, 5);
    lw_stats_add (stats, in, 7);
    lw_stats_add (stats, out, 1);
    assert (lw_stats_get (stats, in) == 12);
    assert (lw_stats_get (stats, out) == 1);
    assert (lw_stats_value (stats, "in") == 12);
    assert (lw_stats_value (stats, "drop_truncated") == 0);
    int drops = lw_stats_counter (stats, "drop_truncated");
    assert (lw_stats_get (stats, drops) == 0);

    //  Buckets: boundaries, monotonicity and consistency with the bounds
    assert (lw_stats_bucket (-5) == 0);
    assert (lw_stats_bucket (0) == 0);
    assert (lw_stats_bucket (999) == 0);
    assert (lw_stats_bucket (1000) == 1);
    assert (lw_stats_bucket (1999) == 1);
    assert (lw_stats_bucket (2000) == 5);
    assert (lw_stats_bucket (4000) == 9);
    assert (lw_stats_bucket (5000) == 10);
    assert (lw_stats_bucket (1000000) == 4 * 9 + 3 + 1); //  1 ms
    assert (lw_stats_bucket (INT64_MAX) == LW_LATENCY_BUCKETS - 1);
    assert (lw_stats_bucket_upper (0) == 1000);
    assert (lw_stats_bucket_upper (1) == 2000);
    assert (lw_stats_bucket_upper (LW_LATENCY_BUCKETS - 1) == INT64_MAX);
    int previous = 0;
    for (int64_t ns = 0; ns < 100000000; ns += ns / 50 + 1) {
        int bucket = lw_stats_bucket (ns);
        assert (bucket >= previous);
        assert (ns < lw_stats_bucket_upper (bucket));
        if (bucket > 0)
            assert (ns >= lw_stats_bucket_upper (bucket - 1));
        previous = bucket;
    }
    for (int bucket = 1; bucket < LW_LATENCY_BUCKETS; bucket++)
        assert (lw_stats_bucket_upper (bucket) >=
                lw_stats_bucket_upper (bucket - 1));
    //  Four buckets per octave above a few microseconds
    assert (lw_stats_bucket (8000) + 4 == lw_stats_bucket (16000));

    //  Histogram and quantiles
    uint64_t empty[LW_LATENCY_BUCKETS] = {0};
    assert (lw_stats_quantile (empty, 0.5) == 0);
    lw_stats_latency (stats, 500, 10);                 //  bucket 0
    lw_stats_latency (stats, 1500000, 80);             //  1.5 ms
    lw_stats_latency (stats, 40000000, 9);             //  40 ms
    lw_stats_latency (stats, 1000LL * LW_NS_PER_SEC, 1); //  overflow bucket
    uint64_t buckets[LW_LATENCY_BUCKETS] = {0};
    buckets[0] = 10;
    buckets[lw_stats_bucket (1500000)] = 80;
    buckets[lw_stats_bucket (40000000)] = 9;
    buckets[LW_LATENCY_BUCKETS - 1] = 1;
    assert (lw_stats_quantile (buckets, 0.05) == 1000);
    assert (lw_stats_quantile (buckets, 0) == 1000);
    int64_t median = lw_stats_quantile (buckets, 0.5);
    assert (median > 1500000 && median <= 1500000 * 5 / 4 + 1000);
    int64_t p99 = lw_stats_quantile (buckets, 0.99);
    assert (p99 > 40000000 && p99 <= 50000000);
    int64_t max = lw_stats_quantile (buckets, 1.0);
    assert (max == lw_stats_bucket_upper (LW_LATENCY_BUCKETS - 2));
    assert (lw_stats_quantile (buckets, 7.0) == max);
    assert (lw_stats_quantile (buckets, -1) == 1000);
    assert (lw_stats_quantile (buckets, NAN) == 1000);
    if (verbose)
        printf ("   p50=%lld ns p99=%lld ns max>=%lld ns\n", (long long)median,
                (long long)p99, (long long)max);

    //  Fill: counters first, then non-empty buckets
    lw_ctrl_t *ctrl = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    lw_stats_fill (stats, ctrl);
    assert (ctrl->nstats == 3 + 4);
    assert (streq (ctrl->stats[0].name, "in"));
    assert (ctrl->stats[0].value == 12);
    assert (streq (ctrl->stats[2].name, "drop_truncated"));
    assert (streq (ctrl->stats[3].name, "lat_00"));
    assert (ctrl->stats[3].value == 10);
    char name[8];
    snprintf (name, sizeof (name), "lat_%02d", lw_stats_bucket (1500000));
    assert (lw_ctrl_stat (ctrl, name) == 80);
    snprintf (name, sizeof (name), "lat_%02d", LW_LATENCY_BUCKETS - 1);
    assert (lw_ctrl_stat (ctrl, name) == 1);
    assert (lw_ctrl_stat (ctrl, "out") == 1);

    //  A full control message stops the fill without overflowing
    lw_stats_t *many = lw_stats_new ();
    assert (many);
    for (int index = 0; index < LW_STATS_MAX; index++) {
        snprintf (name, sizeof (name), "c%d", index);
        lw_stats_add (many, lw_stats_counter (many, name), (uint64_t)index);
    }
    lw_stats_latency (many, 5000, 1);
    memset (ctrl, 0, sizeof (lw_ctrl_t));
    lw_stats_fill (many, ctrl);
    assert (ctrl->nstats == LW_STATS_MAX);
    assert (lw_ctrl_stat (ctrl, "c159") == 159);
    lw_stats_destroy (&many);
    free (ctrl);

    lw_stats_destroy (&stats);
    assert (stats == NULL);
    lw_stats_destroy (&stats);
    printf ("OK\n");
}
