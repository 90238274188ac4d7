/*  =========================================================================
    lw_tod.c - time-of-day calibration

    Copyright (c) the linewatch authors. MIT license.

    See lw_tod.h. The memory is a ring of bins x (days + 1) slots, one
    per time-of-day bin of each day, indexed by the absolute bin number
    (day x bins + bin of the day) and tagged with it, so a slot of an
    older day is recognised as stale without clearing anything. The
    extra day keeps the earliest day read (days x bins + reach bins back)
    from being overwritten by today's bins.
    The self test also runs whole detectors (lw_detect.h) on a signal with
    a daily burst, with and without the part.
    =========================================================================
*/

#include "lw_tod.h"
#include "lw_interval.h"
#include "lw_detect.h"
#include "lw_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Rarest tail, as decades, that a tail of 0 counts as
#define S_DECADES_MAX 300.0
//  A regular signal: this fraction of the probe steps lie within
//  S_REGULAR_TOLERANCE of the median step
#define S_REGULAR_SHARE 0.8
#define S_REGULAR_TOLERANCE 0.1

struct _lw_tod_t {
    int64_t period;           //  Period, ns
    int bins;                 //  Time-of-day bins per period
    int reach;                //  Neighbour bins on each side
    int days;                 //  Earlier periods read
    int excess;               //  Earlier days an event must recur on,
                              //  beyond the background
    double margin;            //  Decades an earlier event may be less rare
    lw_probe_t probe;         //  Sampling interval probe
    bool regular;             //  ... and found a regular interval
    double points;            //  Points per day within the reach
    //  Memory
    int64_t newest;           //  Newest absolute bin learned
    long slots;               //  bins x (days + 1)
    int64_t *tag;             //  Per slot: its absolute bin, -1 = empty
    float *rarest;            //  Per slot: rarest tail seen, decades
};

//  --------------------------------------------------------------------------
//  Creates it; see lw_tod.h.

lw_tod_t *
lw_tod_new (double period, int bins, int reach, int days, int excess,
            double margin)
{
    assert (period >= 1e-6 && period <= 1e9);
    assert (bins >= 1 && bins <= LW_TOD_BINS_MAX);
    assert (reach >= 0 && 2 * reach + 1 < bins + (bins == 1));
    assert (days >= 1 && days <= LW_TOD_DAYS_MAX);
    assert (excess >= 1 && excess <= days);
    assert (margin >= 0);
    lw_tod_t *self = (lw_tod_t *)calloc (1, sizeof (lw_tod_t));
    if (!self)
        return NULL;
    self->period = (int64_t)llround (period * 1e9);
    self->bins = bins;
    self->reach = reach;
    self->days = days;
    self->excess = excess;
    self->margin = margin;
    self->newest = INT64_MIN;
    self->slots = (long)bins * (days + 1);
    self->tag = (int64_t *)malloc ((size_t)self->slots * sizeof (int64_t));
    self->rarest = (float *)calloc ((size_t)self->slots, sizeof (float));
    if (!self->tag || !self->rarest)
        lw_tod_destroy (&self);
    else
        for (long slot = 0; slot < self->slots; slot++)
            self->tag[slot] = -1;
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys it; accepts NULL and sets the pointer to NULL.

void
lw_tod_destroy (lw_tod_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_tod_t *self = *self_p;
        free (self->tag);
        free (self->rarest);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Absolute bin of a time: day x bins + its time-of-day bin (floored, so
//  times before the epoch count too).

static int64_t
s_absolute (lw_tod_t *self, int64_t time)
{
    int64_t day;
    int64_t phase = lw_time_phase (time, self->period, &day);
    int bin = (int)((double)phase / (double)self->period * self->bins);
    if (bin >= self->bins)
        bin = self->bins - 1;
    return day * self->bins + bin;
}

//  --------------------------------------------------------------------------
//  Slot of an absolute bin.

static long
s_slot (lw_tod_t *self, int64_t absolute)
{
    long slot = (long)(absolute % self->slots);
    return slot < 0 ? slot + self->slots : slot;
}

//  --------------------------------------------------------------------------
//  A tail probability as decades of rarity.

static double
s_decades (double tail)
{
    if (!(tail > 0))
        return S_DECADES_MAX;
    double decades = -log10 (tail);
    return decades < S_DECADES_MAX ? decades : S_DECADES_MAX;
}

//  --------------------------------------------------------------------------
//  Learns the sampling interval from the first steps: the median step, if
//  most steps are close to it and a bin holds at least one.

static void
s_probe (lw_tod_t *self, int64_t time)
{
    if (!lw_probe_add (&self->probe, time))
        return;
    int close = 0;
    double median =
        (double)lw_probe_median (&self->probe, S_REGULAR_TOLERANCE, &close);
    double width = (double)self->period / self->bins;
    self->regular = close >= S_REGULAR_SHARE * LW_PROBE_STEPS &&
                    median <= width;
    self->points = (2 * self->reach + 1) * width / median;
}

//  --------------------------------------------------------------------------
//  Counts the earlier days, before absolute bin `now`, that had points
//  within the reach of its time of day (*seen) and the days among them
//  whose rarest such point was at least `decades` - margin rare (*hits).

static void
s_count (lw_tod_t *self, int64_t now, double decades, int *hits, int *seen)
{
    *hits = 0;
    *seen = 0;
    for (int day = 1; day <= self->days; day++) {
        //  That day's rarest point within the reach, if it had any
        double rarest = -1;
        for (int offset = -self->reach; offset <= self->reach; offset++) {
            int64_t absolute = now - (int64_t)day * self->bins + offset;
            long slot = s_slot (self, absolute);
            if (self->tag[slot] == absolute && self->rarest[slot] > rarest)
                rarest = self->rarest[slot];
        }
        if (rarest >= 0) {
            (*seen)++;
            if (rarest >= decades - self->margin)
                (*hits)++;
        }
    }
}

//  --------------------------------------------------------------------------
//  Time-of-day tail of a point; see lw_tod.h.

double
lw_tod_tail (lw_tod_t *self, int64_t time, double tail)
{
    assert (self);
    if (!self->regular || !isfinite (tail))
        return 0;
    //  The rate below is at most 1 / points (hits <= seen): a tail that
    //  common gets no opinion, without counting (most points)
    if (!(tail * self->points < 1))
        return 0;
    double decades = s_decades (tail);
    int64_t now = s_absolute (self, time);
    int hits, seen;
    s_count (self, now, decades, &hits, &seen);
    if (hits < self->excess)
        return 0;
    double rate = hits / (seen * self->points);
    if (!(rate > tail))
        return 0;
    //  The background: days with such an event at other times of day,
    //  per day seen there (a sensor whose events come at any hour has no
    //  time of day for them)
    double background = 0;
    int windows = 0;
    for (int index = 1; index <= LW_TOD_BACKGROUND; index++) {
        int64_t other =
            now - (int64_t)index * self->bins / (LW_TOD_BACKGROUND + 1);
        int other_hits, other_seen;
        s_count (self, other, decades, &other_hits, &other_seen);
        if (other_seen > 0) {
            background += (double)other_hits / other_seen;
            windows++;
        }
    }
    if (windows > 0)
        background /= windows;
    if (hits - background * seen < self->excess)
        return 0;
    return rate;
}

//  --------------------------------------------------------------------------
//  Learns a point; see lw_tod.h.

void
lw_tod_learn (lw_tod_t *self, int64_t time, double tail)
{
    assert (self);
    if (self->probe.count < LW_PROBE_STEPS) {
        s_probe (self, time);
        return;
    }
    if (!self->regular || isnan (tail))
        return;
    int64_t now = s_absolute (self, time);
    //  Times that go backwards would overwrite newer days' slots
    if (now < self->newest)
        return;
    self->newest = now;
    long slot = s_slot (self, now);
    double decades = isfinite (tail) ? s_decades (tail) : 0;
    if (self->tag[slot] != now) {
        self->tag[slot] = now;
        self->rarest[slot] = (float)decades;
    }
    else if (decades > self->rarest[slot])
        self->rarest[slot] = (float)decades;
}

//  --------------------------------------------------------------------------
//  Self test helper: runs a detector (time-of-day calibration on or off)
//  over `days` days of 5-minute points: heavy-tailed noise (5 % of the
//  points at 8x) plus a burst of `size` noise scales for 3 points at
//  03:00 every day, and on the last day a burst of the same size at 15:00.
//  Returns the peak score of the last day's 03:00 burst; *other gets the
//  15:00 one's.

static double
s_daily_run (bool tod, int days, double size, double *other)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.tod = tod;
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);
    uint64_t state = 21;
    long per_day = 288;
    double daily = 0;
    *other = 0;
    for (long index = 0; index < days * per_day; index++) {
        double noise = lw_gauss (&state);
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((state >> 59) == 0)
            noise *= 8;
        long minute = (index % per_day) * 5;
        bool last = index / per_day == days - 1;
        bool at_three = minute >= 180 && minute < 195;
        bool at_fifteen = last && minute >= 900 && minute < 915;
        lw_item_t item;
        memset (&item, 0, sizeof (item));
        item.time = (1700006400LL + 300 * index) * LW_NS_PER_SEC;
        item.value = 100 + noise + (at_three || at_fifteen ? size : 0);
        lw_extract_update (extract, &item);
        lw_detector_score (detector, &item);
        if (last && at_three && item.score > daily)
            daily = item.score;
        if (at_fifteen && item.score > *other)
            *other = item.score;
    }
    lw_detector_destroy (&detector);
    lw_extract_destroy (&extract);
    return daily;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_tod_test (bool verbose)
{
    printf (" * lw_tod: ");
    if (verbose)
        printf ("\n");
    int64_t second = LW_NS_PER_SEC;
    int64_t start = 1700006400LL * second;      //  A midnight (UTC)
    int64_t step = 300 * second;
    long per_day = 288;

    //  A daily event at 03:00, 3 decades rare; noise 0.3 decades
    lw_tod_t *tod = lw_tod_new (86400, 24, 1, 7, 2, 0.5);
    assert (tod);
    //  Not regular yet: no opinion
    assert (lw_tod_tail (tod, start, 1e-9) == 0);
    for (long index = 0; index < 3 * per_day; index++) {
        int64_t time = start + index * step;
        bool event = index % per_day == 36;
        lw_tod_learn (tod, time, event ? 1e-3 : 0.5);
    }
    //  Day 4, 03:00: an event as rare recurs, on 3 of 3 earlier days:
    //  q = 3 / (3 days x 36 points from 02:00 to 05:00)
    int64_t three = start + (3 * per_day + 36) * step;
    double tail = lw_tod_tail (tod, three, 1e-3);
    double points = 3 * 12;
    assert (fabs (tail - 3 / (3 * points)) < 1e-12);
    //  ... and half a decade rarer still does, one more decade not
    assert (lw_tod_tail (tod, three, 10 * 1e-3 / 31) > 0);
    assert (lw_tod_tail (tod, three, 1e-3 / 10 / 1.01) == 0);
    //  ... within an hour of 03:00 too, not at 15:00
    assert (lw_tod_tail (tod, three + 3600 * second, 1e-3) > 0);
    assert (lw_tod_tail (tod, three + 2 * 3600 * second, 1e-3) == 0);
    assert (lw_tod_tail (tod, three + 12 * 3600 * second, 1e-3) == 0);
    //  A tail no rarer than the rate at this time of day: no opinion
    assert (lw_tod_tail (tod, three, 0.5) == 0);
    assert (lw_tod_tail (tod, three, NAN) == 0);
    assert (lw_tod_tail (tod, three, 0) == 0);

    //  Times going backwards are not learned (they would overwrite newer
    //  slots): two rarer events on earlier days do not recur
    lw_tod_learn (tod, start + (per_day + 36) * step, 1e-30);
    lw_tod_learn (tod, start + (2 * per_day + 36) * step, 1e-30);
    assert (lw_tod_tail (tod, three, 1e-30) == 0);
    assert (lw_tod_tail (tod, three, 1e-3) > 0);
    //  Eight days without the event: it no longer recurs
    for (long index = 3 * per_day; index < 11 * per_day; index++)
        lw_tod_learn (tod, start + index * step, 0.5);
    assert (lw_tod_tail (tod, start + (11 * per_day + 36) * step, 1e-3) ==
            0);
    //  A day with no points around 03:00 is not seen: with 7 earlier days
    //  of which 2 had the event and 5 had nothing there, q = 2 / (2 x 36)
    for (long index = 11 * per_day; index < 18 * per_day; index++) {
        long at = index % per_day;
        bool event = at == 36 && index >= 16 * per_day;
        if (index < 16 * per_day && at >= 12 && at < 72)
            continue;
        lw_tod_learn (tod, start + index * step, event ? 1e-3 : 0.5);
    }
    tail = lw_tod_tail (tod, start + (18 * per_day + 36) * step, 1e-3);
    assert (fabs (tail - 2 / (2 * points)) < 1e-12);
    lw_tod_learn (tod, start + 18 * per_day * step, NAN);
    lw_tod_destroy (&tod);
    lw_tod_destroy (&tod);

    //  Events at any hour (every two hours): no time of day for them,
    //  though they come near 03:00 every day
    tod = lw_tod_new (86400, 24, 1, 7, 2, 0.5);
    assert (tod);
    for (long index = 0; index < 3 * per_day; index++)
        lw_tod_learn (tod, start + index * step,
                      index % 24 == 0 ? 1e-3 : 0.5);
    assert (lw_tod_tail (tod, three, 1e-3) == 0);
    //  ... but one at 03:00 beyond them (2 decades rarer) on each day does
    for (long index = 3 * per_day; index < 6 * per_day; index++)
        lw_tod_learn (tod, start + index * step,
                      index % per_day == 36  ? 1e-5
                      : index % 24 == 0 ? 1e-3 : 0.5);
    assert (lw_tod_tail (tod, three + 3 * per_day * step, 1e-3) == 0);
    assert (lw_tod_tail (tod, three + 3 * per_day * step, 1e-5) > 0);
    lw_tod_destroy (&tod);

    //  Irregular sampling: never an opinion
    tod = lw_tod_new (86400, 24, 1, 7, 2, 0.5);
    assert (tod);
    int64_t time = start;
    for (long index = 0; index < 10 * per_day; index++) {
        time += (index % 3 == 0 ? 60 : 540) * second;
        lw_tod_learn (tod, time, index % 100 == 0 ? 1e-3 : 0.5);
    }
    assert (lw_tod_tail (tod, time, 1e-3) == 0);
    assert (lw_tod_tail (tod, time, 0.5) == 0);
    lw_tod_destroy (&tod);

    //  Sampled less often than the bins: never an opinion
    tod = lw_tod_new (86400, 24, 1, 7, 2, 0.5);
    assert (tod);
    for (long index = 0; index < 200; index++)
        lw_tod_learn (tod, start + index * 7200 * second, 1e-3);
    assert (lw_tod_tail (tod, start + 200 * 7200 * second, 1e-3) == 0);
    lw_tod_destroy (&tod);

    //  Times before the epoch: the same arithmetic, floored
    tod = lw_tod_new (86400, 24, 0, 3, 2, 0);
    assert (tod);
    int64_t before = -10 * 86400 * second;
    for (long index = 0; index < 5 * per_day; index++)
        lw_tod_learn (tod, before + index * step,
                      index % per_day == 36 ? 1e-3 : 0.5);
    assert (lw_tod_tail (tod, before + (5 * per_day + 36) * step, 1e-3) > 0);
    assert (lw_tod_tail (tod, before + (5 * per_day + 60) * step, 1e-3) == 0);
    lw_tod_destroy (&tod);

    //  Through the detector, on a heavy-tailed signal with a burst at
    //  03:00 every day: after two weeks the burst is ordinary at 03:00
    //  with the calibration and still alarms (open_threshold 0.7)
    //  without it; the same burst at 15:00, a first, scores the same
    //  with and without it
    double with_other, without_other;
    double with = s_daily_run (true, 14, 200, &with_other);
    double without = s_daily_run (false, 14, 200, &without_other);
    if (verbose)
        printf ("   daily burst: %.3f with, %.3f without; at 15:00 %.3f "
                "with, %.3f without\n",
                with, without, with_other, without_other);
    assert (without >= 0.7);
    assert (with < 0.6);
    assert (with_other == without_other);
    assert (with_other > 0.9);
    printf ("OK\n");
}
