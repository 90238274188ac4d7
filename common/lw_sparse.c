/*  =========================================================================
    lw_sparse.c - intermittent sensors

    Copyright (c) the linewatch authors. MIT license.

    See lw_sparse.h. The share is an EWMA of "this point equalled its
    floor" (a plain mean over the first `window` points); the silences are
    a ring of run lengths whose sum and sum of squares (the model's mean
    and spread) follow each silence added (at the start of a burst), and
    whose maximum is searched again only when the longest leaves the
    ring. The self test also
    runs whole detectors (lw_detect.h) on an intermittent signal, with and
    without the class.
    =========================================================================
*/

#include "lw_sparse.h"
#include "lw_calib.h"
#include "lw_detect.h"
#include "lw_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Burst sizes are learned in units of the median of the first
//  LW_SPARSE_BURSTS sizes over this (the calibrator's bins cover 40
//  octaves of 1 + size / unit; a median, so that one glitch among the
//  first bursts does not squeeze all later sizes into its lowest bins)
#define S_UNIT_DIVISOR 1024.0

struct _lw_sparse_t {
    long window;                   //  Points in the share's memory
    double share;                  //  Share at the floor that makes it active
    int silences;                  //  Silences needed before a record counts
    double ratio;                  //  Record: longer than ratio x the longest
    double rarity;                 //  ln (1 / the record's tail), 0 = no model
    long learned;                  //  Points learned
    double at_floor;               //  EWMA of "the point equalled its floor"
    bool active;                   //  Intermittent (as of the points learned)
    long run;                      //  Points at the floor in a row, up to now
    double unit;                   //  Unit of the burst sizes, 0 = none yet
    double first[LW_SPARSE_BURSTS]; //  The first burst sizes, until unit
    int firsts;                    //  How many first holds
    lw_calib_t *bursts;            //  Calibrator of the burst sizes
    long seen;                     //  Silences learned (all time)
    long ring[LW_SPARSE_SILENCES]; //  The last silences' lengths
    long longest;                  //  Their maximum
    double total;                  //  Their sum
    double squares;                //  Their sum of squares
};

//  --------------------------------------------------------------------------
//  Creates it; see lw_sparse.h.

lw_sparse_t *
lw_sparse_new (long window, double share, int silences, double ratio,
               double calib_alpha, double tail)
{
    assert (window >= 1);
    assert (share >= 0 && share <= 1);
    assert (silences >= 1 && silences <= LW_SPARSE_SILENCES);
    assert (ratio >= 1);
    assert (calib_alpha >= 0 && calib_alpha <= 0.5);
    assert (tail >= 0 && tail <= 1);
    lw_sparse_t *self = (lw_sparse_t *)calloc (1, sizeof (lw_sparse_t));
    if (!self)
        return NULL;
    self->window = window;
    self->share = share;
    self->silences = silences;
    self->ratio = ratio;
    //  A tail of waits falling off as exp (-(L - m) / s) is below `tail`
    //  beyond m + s ln (1 / tail)
    self->rarity = tail > 0 ? -log (tail) : 0;
    self->bursts = lw_calib_new (calib_alpha, LW_SPARSE_BURSTS);
    if (!self->bursts)
        lw_sparse_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys it; accepts NULL and sets the pointer to NULL.

void
lw_sparse_destroy (lw_sparse_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_sparse_t *self = *self_p;
        lw_calib_destroy (&self->bursts);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  True when the sensor is intermittent now.

bool
lw_sparse_active (lw_sparse_t *self)
{
    assert (self);
    return self->active;
}

//  --------------------------------------------------------------------------
//  Tail of a burst's size among the earlier bursts; see lw_sparse.h.

double
lw_sparse_burst_tail (lw_sparse_t *self, double value, double floor)
{
    assert (self);
    if (!self->active || !(value > floor) || self->unit == 0 ||
        lw_calib_learned (self->bursts) < LW_SPARSE_BURSTS)
        return 0;
    return lw_calib_tail (self->bursts, (value - floor) / self->unit);
}

//  --------------------------------------------------------------------------
//  True when value extends a silence to a record; see lw_sparse.h.

bool
lw_sparse_silence (lw_sparse_t *self, double value, double floor)
{
    assert (self);
    if (!self->active || value != floor || self->seen < self->silences)
        return false;
    //  Only the point where it becomes one: the rest of the silence is
    //  the same event (a constant alarm would open again each time the
    //  detector's onset filter let go of it)
    double record = self->ratio * (double)self->longest;
    //  ... and, once LW_SPARSE_MODEL silences were seen, rare by their
    //  own measure: beyond their mean, their tail falls off
    //  exponentially with their spread (the standard deviation, at most
    //  the mean: a memoryless wait's), so a silence is as rare as the
    //  caller's tail beyond mean + spread x ln (1 / tail). A record among
    //  many short, irregular silences is the usual growth of their
    //  maximum (about mean x ln n for n memoryless waits), not news; a
    //  record on a regular sensor is
    if (self->rarity > 0 && self->seen >= LW_SPARSE_MODEL) {
        long kept = self->seen < LW_SPARSE_SILENCES ? self->seen
                                                    : LW_SPARSE_SILENCES;
        double mean = self->total / (double)kept;
        double variance = self->squares / (double)kept - mean * mean;
        double spread = variance > 0 ? sqrt (variance) : 0;
        if (spread > mean)
            spread = mean;
        if (mean + self->rarity * spread > record)
            record = mean + self->rarity * spread;
    }
    return (double)(self->run + 1) > record && (double)self->run <= record;
}

//  --------------------------------------------------------------------------
//  Learns a point.

void
lw_sparse_learn (lw_sparse_t *self, double value, double floor)
{
    assert (self);
    if (!isfinite (value) || !isfinite (floor))
        return;
    bool at_floor = value == floor;
    if (self->active && value > floor) {
        //  A burst of an intermittent sensor: its size, and the silence
        //  it ends
        double size = value - floor;
        if (self->unit > 0)
            lw_calib_learn (self->bursts, size / self->unit);
        else if (isfinite (size)) {
            //  The first sizes wait for the unit, their median's
            self->first[self->firsts++] = size;
            if (self->firsts == LW_SPARSE_BURSTS) {
                double sorted[LW_SPARSE_BURSTS];
                memcpy (sorted, self->first, sizeof (sorted));
                self->unit =
                    lw_median (sorted, LW_SPARSE_BURSTS) / S_UNIT_DIVISOR;
                for (int index = 0; index < LW_SPARSE_BURSTS; index++)
                    lw_calib_learn (self->bursts, self->first[index] /
                                                      self->unit);
            }
        }
        if (self->run > 0) {
            //  The silence replaces the oldest of the ring (0 while it
            //  fills): sum and sum of squares follow exactly (integer
            //  lengths), the maximum is searched again only when the one
            //  leaving was it
            long *slot = &self->ring[self->seen % LW_SPARSE_SILENCES];
            double gone = (double)*slot;
            double length = (double)self->run;
            self->total += length - gone;
            self->squares += length * length - gone * gone;
            bool was_longest = *slot == self->longest;
            *slot = self->run;
            self->seen++;
            if (self->run >= self->longest)
                self->longest = self->run;
            else if (was_longest) {
                self->longest = 0;
                for (long index = 0; index < LW_SPARSE_SILENCES; index++)
                    if (self->ring[index] > self->longest)
                        self->longest = self->ring[index];
            }
        }
    }
    self->run = at_floor ? self->run + 1 : 0;
    //  Weight 1 / n for the first points (a plain mean), then 1 / window
    if (self->learned < self->window)
        self->learned++;
    self->at_floor += (at_floor ? 1.0 - self->at_floor : -self->at_floor) /
                      (double)self->learned;
    self->active =
        self->learned >= self->window && self->at_floor > self->share;
}

//  --------------------------------------------------------------------------
//  Self test helper: point `index` of an intermittent signal: 0, with
//  bursts of 3 points of about `size` (10 % noise from *state) after
//  silences of 19 to 39 points (two bursts every 64 points, 91 % of the
//  points at 0).

static double
s_signal (uint64_t *state, long index, double size)
{
    //  A new pseudo-random gap every 64 points; bursts at its start
    long cycle = index % 64;
    uint64_t seed = (uint64_t)(index / 64) * 2654435761ULL + 7;
    long gap = 20 + (long)((seed >> 3) % 20);
    if (cycle < 3 || (cycle >= gap + 3 && cycle < gap + 6))
        return size * (1 + 0.1 * lw_gauss (state));
    return 0;
}

//  --------------------------------------------------------------------------
//  Self test helper: runs a detector (the class on or off) over `points`
//  of the intermittent signal, then `quiet` points at 0 (a silence), then
//  one burst of `last` x the usual size. Returns the peak score of the
//  silence; *burst gets the last burst's score, *name the detector
//  behind the silence's peak.

static double
s_detector_run (bool sparse, long points, long quiet, double last,
                double *burst, const char **name)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.sparse = sparse;
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);
    uint64_t state = 3;
    double silence = 0;
    *burst = 0;
    *name = "";
    for (long index = 0; index < points + quiet + 1; index++) {
        lw_item_t item;
        memset (&item, 0, sizeof (item));
        item.time = (1700006400LL + 60 * index) * LW_NS_PER_SEC;
        if (index < points)
            item.value = s_signal (&state, index, 1000);
        else if (index < points + quiet)
            item.value = 0;
        else
            item.value = 1000 * last;
        lw_extract_update (extract, &item);
        lw_detector_score (detector, &item);
        if (index >= points && index < points + quiet && item.score > silence) {
            silence = item.score;
            *name = lw_detector_name (detector);
        }
        if (index == points + quiet)
            *burst = item.score;
    }
    lw_detector_destroy (&detector);
    lw_extract_destroy (&extract);
    return silence;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_sparse_test (bool verbose)
{
    printf (" * lw_sparse: ");
    if (verbose)
        printf ("\n");

    //  Gaussian noise is never intermittent: no opinion, ever
    lw_sparse_t *sparse = lw_sparse_new (64, 0.8, 5, 1.0, 0.0002, 0);
    assert (sparse);
    uint64_t state = 11;
    for (int index = 0; index < 2000; index++) {
        double value = lw_gauss (&state);
        assert (lw_sparse_burst_tail (sparse, value, -3) == 0);
        assert (!lw_sparse_silence (sparse, value, -3));
        lw_sparse_learn (sparse, value, -3);
    }
    assert (!lw_sparse_active (sparse));
    lw_sparse_destroy (&sparse);
    assert (sparse == NULL);

    //  An intermittent signal: active once `window` points are seen
    sparse = lw_sparse_new (64, 0.8, 5, 1.0, 0.0002, 0);
    assert (sparse);
    for (long index = 0; index < 63; index++)
        lw_sparse_learn (sparse, 0, 0);
    assert (!lw_sparse_active (sparse));
    //  ... and not before `silences` silences: a long silence is no
    //  record yet
    assert (!lw_sparse_silence (sparse, 0, 0));
    lw_sparse_learn (sparse, 0, 0);
    assert (lw_sparse_active (sparse));
    state = 5;
    long longest = 0;
    long run = 0;
    for (long index = 0; index < 5000; index++) {
        double value = s_signal (&state, index, 1000);
        if (value == 0)
            run++;
        else {
            if (run > longest && index > 64)
                longest = run;
            run = 0;
        }
        //  Once the longest possible silence was seen, no record
        if (longest == 39)
            assert (!lw_sparse_silence (sparse, value, 0));
        lw_sparse_learn (sparse, value, 0);
    }
    assert (lw_sparse_active (sparse));
    assert (longest == 39);
    //  A burst of the usual size is common among bursts; a burst 10 times
    //  as large is a record (about 1 in the number of bursts, less beyond)
    double usual = lw_sparse_burst_tail (sparse, 1000, 0);
    double large = lw_sparse_burst_tail (sparse, 10000, 0);
    if (verbose)
        printf ("   burst tails: usual %.3g, 10x %.3g\n", usual, large);
    assert (usual > 0.2 && usual <= 1);
    assert (large > 0 && large < 1e-3);
    //  The floor itself, or below it, is no burst
    assert (lw_sparse_burst_tail (sparse, 0, 0) == 0);
    assert (lw_sparse_burst_tail (sparse, -1, 0) == 0);
    //  A silence: no record until it is longer than the longest seen
    //  (the signal ended on a burst or in a silence: start a new one)
    lw_sparse_learn (sparse, 1000, 0);
    for (long index = 1; index <= longest; index++) {
        assert (!lw_sparse_silence (sparse, 0, 0));
        lw_sparse_learn (sparse, 0, 0);
    }
    assert (lw_sparse_silence (sparse, 0, 0));
    //  A value off the floor ends it
    assert (!lw_sparse_silence (sparse, 5, 0));
    //  Non-finite points are not learned
    lw_sparse_learn (sparse, NAN, 0);
    lw_sparse_learn (sparse, 0, INFINITY);
    assert (lw_sparse_silence (sparse, 0, 0));
    //  Only the point where it becomes a record: the rest of the silence
    //  is the same event
    for (long index = 0; index < 1000; index++) {
        lw_sparse_learn (sparse, 0, 0);
        assert (!lw_sparse_silence (sparse, 0, 0));
    }
    //  The record counts only the last LW_SPARSE_SILENCES silences: after
    //  that 1000-point silence, a silence of 2 x longest is no record; after
    //  that many silences of 20 points, 21 points are one again
    lw_sparse_learn (sparse, 1000, 0);
    for (long index = 0; index < 2 * longest; index++) {
        assert (!lw_sparse_silence (sparse, 0, 0));
        lw_sparse_learn (sparse, 0, 0);
    }
    for (long count = 0; count < LW_SPARSE_SILENCES; count++) {
        lw_sparse_learn (sparse, 1000, 0);
        for (long index = 0; index < 20; index++)
            lw_sparse_learn (sparse, 0, 0);
    }
    lw_sparse_learn (sparse, 1000, 0);
    for (long index = 0; index < 20; index++) {
        assert (!lw_sparse_silence (sparse, 0, 0));
        lw_sparse_learn (sparse, 0, 0);
    }
    assert (lw_sparse_silence (sparse, 0, 0));
    lw_sparse_destroy (&sparse);

    //  The unit of the sizes is the first bursts' median: a glitch as the
    //  very first burst (1e9 x the usual), or a size beyond the double's
    //  range (from values at its limits), does not blind the burst tail
    lw_sparse_t *glitched = lw_sparse_new (64, 0.8, 5, 1.0, 0.0002, 0);
    assert (glitched);
    for (long index = 0; index < 64; index++)
        lw_sparse_learn (glitched, 0, 0);
    lw_sparse_learn (glitched, 1e12, 0);
    lw_sparse_learn (glitched, 0, 0);
    lw_sparse_learn (glitched, 1e308, -1e308);
    lw_sparse_learn (glitched, 0, 0);
    state = 5;
    for (long index = 0; index < 5000; index++)
        lw_sparse_learn (glitched, s_signal (&state, index, 1000), 0);
    assert (lw_sparse_active (glitched));
    usual = lw_sparse_burst_tail (glitched, 1000, 0);
    large = lw_sparse_burst_tail (glitched, 10000, 0);
    if (verbose)
        printf ("   after a glitch: usual %.3g, 10x %.3g\n", usual, large);
    assert (usual > 0.2 && usual <= 1);
    assert (large > 0 && large < 1e-2);
    lw_sparse_destroy (&glitched);

    //  Half the points at the floor is not intermittent at share 0.8
    sparse = lw_sparse_new (64, 0.8, 5, 1.0, 0.0002, 0);
    assert (sparse);
    for (long index = 0; index < 2000; index++)
        lw_sparse_learn (sparse, index % 2 ? 0 : 7, 0);
    assert (!lw_sparse_active (sparse));
    lw_sparse_destroy (&sparse);

    //  The model of the silences. Fewer than LW_SPARSE_MODEL silences: the
    //  record alone, with and without it (a first silence of 64 points,
    //  six of 10: a silence of 65 is the record)
    lw_sparse_t *plain = lw_sparse_new (64, 0.8, 5, 1.0, 0.0002, 0);
    sparse = lw_sparse_new (64, 0.8, 5, 1.0, 0.0002, 2.5e-4);
    assert (plain && sparse);
    for (long index = 0; index < 64; index++) {
        lw_sparse_learn (plain, 0, 0);
        lw_sparse_learn (sparse, 0, 0);
    }
    for (int count = 0; count < 7; count++) {
        lw_sparse_learn (plain, 1000, 0);
        lw_sparse_learn (sparse, 1000, 0);
        long length = count < 6 ? 10 : 64;
        for (long index = 0; index < length; index++) {
            assert (!lw_sparse_silence (plain, 0, 0));
            assert (!lw_sparse_silence (sparse, 0, 0));
            lw_sparse_learn (plain, 0, 0);
            lw_sparse_learn (sparse, 0, 0);
        }
    }
    assert (lw_sparse_silence (plain, 0, 0));
    assert (lw_sparse_silence (sparse, 0, 0));
    lw_sparse_destroy (&plain);
    lw_sparse_destroy (&sparse);

    //  Many short, irregular silences (memoryless waits of mean 6, each
    //  ended by a one-point burst): the plain record fires one point past
    //  the longest of the last LW_SPARSE_SILENCES; with the model a
    //  silence is a record only beyond mean + spread x ln (1 / tail), on
    //  exactly one point
    plain = lw_sparse_new (64, 0.8, 5, 1.0, 0.0002, 0);
    sparse = lw_sparse_new (64, 0.8, 5, 1.0, 0.0002, 2.5e-4);
    assert (plain && sparse);
    for (long index = 0; index < 64; index++) {
        lw_sparse_learn (plain, 0, 0);
        lw_sparse_learn (sparse, 0, 0);
    }
    long waits[400];
    uint64_t mix = 0x9e3779b97f4a7c15ULL;
    for (int count = 0; count < 400; count++) {
        lw_sparse_learn (plain, 1000, 0);
        lw_sparse_learn (sparse, 1000, 0);
        //  A uniform in (0, 1) from a xorshift, then an exponential wait
        mix ^= mix << 13;
        mix ^= mix >> 7;
        mix ^= mix << 17;
        double uniform = ((double)(mix >> 11) + 0.5) / 9007199254740992.0;
        waits[count] = 1 + (long)(-6 * log (uniform));
        for (long index = 0; index < waits[count]; index++) {
            lw_sparse_learn (plain, 0, 0);
            lw_sparse_learn (sparse, 0, 0);
        }
    }
    lw_sparse_learn (plain, 1000, 0);
    lw_sparse_learn (sparse, 1000, 0);
    //  The model's bar, from the last LW_SPARSE_SILENCES waits
    double sum = 0, squares = 0;
    long longest_wait = 0;
    for (int count = 400 - LW_SPARSE_SILENCES; count < 400; count++) {
        sum += (double)waits[count];
        squares += (double)waits[count] * (double)waits[count];
        if (waits[count] > longest_wait)
            longest_wait = waits[count];
    }
    double mean = sum / LW_SPARSE_SILENCES;
    double spread = sqrt (squares / LW_SPARSE_SILENCES - mean * mean);
    if (spread > mean)
        spread = mean;
    double bar = mean + log (1 / 2.5e-4) * spread;
    if (verbose)
        printf ("   short silences: mean %.1f, spread %.1f, longest %ld, "
                "model's bar %.1f\n", mean, spread, longest_wait, bar);
    assert (bar > longest_wait + 1);
    long plain_at = 0, model_at = 0, models = 0;
    for (long run = 1; run <= 4 * (long)bar; run++) {
        if (lw_sparse_silence (plain, 0, 0) && !plain_at)
            plain_at = run;
        if (lw_sparse_silence (sparse, 0, 0)) {
            model_at = run;
            models++;
        }
        lw_sparse_learn (plain, 0, 0);
        lw_sparse_learn (sparse, 0, 0);
    }
    assert (plain_at == longest_wait + 1);
    assert (models == 1 && model_at == (long)bar + 1);
    lw_sparse_destroy (&plain);
    lw_sparse_destroy (&sparse);

    //  Through the detector: after 3011 points of the signal (silences of
    //  19 to 39 points; it ends on a burst), a silence of 120 points is a
    //  record (an alarm named "silence") and the burst after it, of the
    //  usual size, scores lower than without the class; without it the
    //  silence goes unnoticed. The model is on by default (detect/
    //  silence_model): these silences are regular (spread 6), so 120 is
    //  still news
    double burst_with, burst_without;
    const char *name_with, *name_without;
    double with = s_detector_run (true, 3011, 120, 1, &burst_with, &name_with);
    double without =
        s_detector_run (false, 3011, 120, 1, &burst_without, &name_without);
    if (verbose)
        printf ("   silence %.3f (%s) / %.3f without, burst after it "
                "%.3f / %.3f without\n",
                with, name_with, without, burst_with, burst_without);
    assert (with >= 0.7 && streq (name_with, LW_DETECTOR_SILENCE));
    assert (without < 0.4);
    assert (burst_with < burst_without);
    //  A silence within the usual lengths is no alarm either way, and a
    //  burst 20 times the usual size is one with the class too
    with = s_detector_run (true, 3011, 30, 20, &burst_with, &name_with);
    if (verbose)
        printf ("   usual silence %.3f, 20x burst %.3f\n", with, burst_with);
    assert (with < 0.4);
    assert (burst_with >= 0.7);
    printf ("OK\n");
}
