/*  =========================================================================
    lw_detect_test.c - self test of the detection library (lw_detect.h)

    Copyright (c) the linewatch authors. MIT license.

    The self tests of lw_extract, lw_detector, lw_episode and the `detect`
    config section, moved out of lw_detect.c to keep that file short; they
    use the public API only.
    =========================================================================
*/

#include "lw_detect.h"
#include "lw_cfg.h"
#include "lw_util.h"

#include <math.h>

//  --------------------------------------------------------------------------
//  Self test helper: exact rolling statistics over the last `size` values
//  of `values[0..count)`, computed the slow way.

static void
s_exact (const double *values, long count, long size, double *mean, double *std)
{
    long first = count > size ? count - size : 0;
    long number = count - first;
    double sum = 0;
    for (long index = first; index < count; index++)
        sum += values[index];
    *mean = sum / (double)number;
    double m2 = 0;
    for (long index = first; index < count; index++)
        m2 += (values[index] - *mean) * (values[index] - *mean);
    *std = sqrt (m2 / (double)number);
}

//  --------------------------------------------------------------------------
//  Self test of lw_extract.

static void
s_test_extract (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.window = 16;
    cfg.ewma_alpha = 0.1;
    lw_extract_t *extract = lw_extract_new (&cfg);
    assert (extract);

    //  Before any point: all zeros
    lw_item_t item;
    memset (&item, 0, sizeof (item));
    item.time = 1000 * LW_NS_PER_SEC;
    item.value = 5;
    lw_extract_update (extract, &item);
    assert (item.nfeatures == LW_DETECT_FEATURES);
    for (int index = 0; index < LW_DETECT_FEATURES; index++)
        assert (item.features[index] == 0);

    //  Rolling stats match an exact computation over a large offset
    //  (catastrophic cancellation would show here) through many wraps
    enum { POINTS = 5000 };
    double *values = (double *)malloc (POINTS * sizeof (double));
    assert (values);
    values[0] = 5;
    uint32_t state = 1;
    for (long index = 1; index < POINTS; index++) {
        state = state * 1664525u + 1013904223u;
        values[index] = 1e9 + (double)(state >> 8) / (double)(1 << 24);
        memset (&item, 0, sizeof (item));
        item.time = (1000 + index) * LW_NS_PER_SEC;
        item.value = values[index];
        lw_extract_update (extract, &item);
        assert (item.features[LW_F_SEEN] == (double)index);
        assert (item.features[LW_F_LAST] == values[index - 1]);
        assert (item.features[LW_F_DT] == 1.0);
        double mean, std;
        s_exact (values, index, cfg.window, &mean, &std);
        assert (fabs (item.features[LW_F_MEAN] - mean) < 1e-6);
        if (index > cfg.window * 2)
            assert (fabs (item.features[LW_F_STD] - std) < 1e-3 * std + 1e-6);
    }
    //  EWMA tracks the level; its deviation is near the uniform's 0.29
    assert (fabs (item.features[LW_F_EWMA] - (1e9 + 0.5)) < 0.2);
    assert (item.features[LW_F_EWSTD] > 0.15 &&
            item.features[LW_F_EWSTD] < 0.45);
    free (values);

    //  A non-finite value is reported on but not learned
    memset (&item, 0, sizeof (item));
    item.value = NAN;
    item.time = 9000 * LW_NS_PER_SEC;
    lw_extract_update (extract, &item);
    double seen = item.features[LW_F_SEEN];
    item.value = 1e9;
    lw_extract_update (extract, &item);
    assert (item.features[LW_F_SEEN] == seen);
    lw_extract_destroy (&extract);
    assert (extract == NULL);
    lw_extract_destroy (&extract);

    //  Quantum: the smallest non-zero step; a constant signal has std 0
    extract = lw_extract_new (&cfg);
    assert (extract);
    const double steps[] = {10, 10, 10.5, 10.5, 11.5, 10, 10, 10, 10};
    for (size_t index = 0; index < sizeof (steps) / sizeof (steps[0]);
         index++) {
        memset (&item, 0, sizeof (item));
        item.value = steps[index];
        lw_extract_update (extract, &item);
    }
    assert (item.features[LW_F_QUANTUM] == 0.5);
    for (int index = 0; index < 40; index++) {
        memset (&item, 0, sizeof (item));
        item.value = 10;
        lw_extract_update (extract, &item);
    }
    assert (item.features[LW_F_MEAN] == 10);
    assert (item.features[LW_F_STD] == 0);
    assert (item.features[LW_F_QUANTUM] == 0.5);
    lw_extract_destroy (&extract);
    if (verbose)
        printf ("   extract: rolling, EWMA, quantum OK\n");
}


//  --------------------------------------------------------------------------
//  Self test helper: one point through extraction and detection, the way
//  lw-features and lw-scorer chain them.

static void
s_feed (lw_extract_t *extract, lw_detector_t *detector, lw_item_t *item,
        int64_t time, double value)
{
    memset (item, 0, sizeof (*item));
    item->time = time;
    item->value = value;
    lw_extract_update (extract, item);
    lw_detector_score (detector, item);
}

//  --------------------------------------------------------------------------
//  Self test helper: a 0/1 switch of the `detect` section that defaults to
//  on (dflt) reads 0 into *loaded (a field of *cfg), refuses 2 and -1,
//  and is left at 1.

static void
s_test_switch (zconfig_t *root, lw_detect_cfg_t *cfg, const char *key,
               bool dflt, const bool *loaded)
{
    assert (dflt);
    zconfig_put (root, key, "0");
    assert (lw_detect_cfg_load (root, cfg) == 0);
    assert (!*loaded);
    zconfig_put (root, key, "2");
    assert (lw_detect_cfg_load (root, cfg) == -1);
    zconfig_put (root, key, "-1");
    assert (lw_detect_cfg_load (root, cfg) == -1);
    zconfig_put (root, key, "1");
    assert (lw_detect_cfg_load (root, cfg) == 0);
    assert (*loaded);
}

//  --------------------------------------------------------------------------
//  Self test of the `detect` section reader.

static void
s_test_cfg (bool verbose)
{
    lw_detect_cfg_t cfg;
    assert (lw_detect_cfg_load (NULL, &cfg) == 0);
    lw_detect_cfg_t dflt;
    lw_detect_cfg_default (&dflt);
    assert (memcmp (&cfg, &dflt, sizeof (cfg)) == 0);

    zconfig_t *root = zconfig_new ("root", NULL);
    assert (root);
    zconfig_put (root, "detect/window", "32");
    zconfig_put (root, "detect/open_threshold", "0.8");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    assert (cfg.window == 32);
    assert (cfg.open_threshold == 0.8);
    assert (cfg.warmup == dflt.warmup);
    //  Relations: close must stay below open
    zconfig_put (root, "detect/close_threshold", "0.8");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/close_threshold", "0.3");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    //  Ranges and syntax
    zconfig_put (root, "detect/window", "7");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/window", "64x");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/window", "64");
    zconfig_put (root, "detect/z_scale", "nan");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/z_scale", "4");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    assert (cfg.z_scale == 4);
    //  The fault tests' keys, and a bad key before them still refused
    zconfig_put (root, "detect/faults", "0");
    zconfig_put (root, "detect/fault_budget", "0.5");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    assert (!cfg.faults && cfg.fault_budget == 0.5);
    zconfig_put (root, "detect/watch_penalty", "5");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/watch_penalty", "0.5");
    assert (dflt.watch_normal > 0 && dflt.watch_normal < dflt.watch_penalty);
    zconfig_put (root, "detect/watch_normal", "-0.1");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/watch_normal", "0");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    assert (cfg.watch_normal == 0);
    zconfig_put (root, "detect/watch_normal", "0.25");
    //  The context part's keys
    assert (!dflt.context);
    zconfig_put (root, "detect/context", "1");
    zconfig_put (root, "detect/context_bins", "6");
    zconfig_put (root, "detect/context_order", "2");
    assert (lw_detect_cfg_load (root, &cfg) == 0);
    assert (cfg.context && cfg.context_bins == 6 && cfg.context_order == 2);
    zconfig_put (root, "detect/context_order", "9");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/context_order", "2");
    zconfig_put (root, "detect/context_bins", "1");
    assert (lw_detect_cfg_load (root, &cfg) == -1);
    zconfig_put (root, "detect/context_bins", "6");
    //  The switches that default to on: the time-of-day calibration,
    //  the sustained part, intermittent sensors (lw_sparse) and their
    //  model of the earlier silences
    s_test_switch (root, &cfg, "detect/tod", dflt.tod, &cfg.tod);
    s_test_switch (root, &cfg, "detect/sustained", dflt.sustained,
                   &cfg.sustained);
    s_test_switch (root, &cfg, "detect/sparse", dflt.sparse, &cfg.sparse);
    s_test_switch (root, &cfg, "detect/silence_model", dflt.silence_model,
                   &cfg.silence_model);
    zconfig_destroy (&root);
    if (verbose)
        printf ("   cfg: defaults, keys, ranges, relations OK\n");
}

//  --------------------------------------------------------------------------
//  Self test helper: feeds `count` points of N(100, 1) noise from the
//  given state; returns how many scored at or above open_threshold.

static long
s_noise (lw_extract_t *extract, lw_detector_t *detector, uint64_t *state,
         int64_t *time, long count, double open)
{
    lw_item_t item;
    long high = 0;
    for (long index = 0; index < count; index++) {
        s_feed (extract, detector, &item, (*time)++, 100 + lw_gauss (state));
        if (item.score >= open)
            high++;
    }
    return high;
}

//  --------------------------------------------------------------------------
//  Self test helper: runs a detector (context part on or off) over a
//  sequence of three lows, three highs, ... with a little noise, where
//  point `slip` repeats the low level once too often (in range, out of
//  sequence, and beyond the forest's context of three points); returns the slip's score and the part behind it in *name.

static double
s_slip (bool context, long slip, const char **name)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.context = context;
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);
    uint64_t state = 3;
    lw_item_t item;
    double score = 0;
    long phase = 0;
    for (long index = 0; index <= slip; index++) {
        bool high = (phase++ / 3) % 2 == 1;
        if (index == slip) {
            high = false;           //  A fourth low where a high is due
            assert ((phase - 1) % 6 == 3);
        }
        s_feed (extract, detector, &item, index,
                (high ? 110 : 100) + 0.3 * lw_gauss (&state));
        assert (item.score >= 0 && item.score <= 1);
    }
    score = item.score;
    *name = lw_detector_name (detector);
    lw_detector_destroy (&detector);
    lw_extract_destroy (&extract);
    return score;
}

//  --------------------------------------------------------------------------
//  Self test of the context part through the detector: a value in range
//  but out of its usual sequence scores higher with the part, and is
//  named after it.

static void
s_test_context (bool verbose)
{
    const char *off_name, *on_name;
    double off = s_slip (false, 4203, &off_name);
    double on = s_slip (true, 4203, &on_name);
    if (verbose)
        printf ("   context: slip scores %.3f (%s) without, %.3f (%s) with "
                "the part\n", off, off_name, on, on_name);
    fflush (stdout);
    assert (on > off);
    assert (streq (on_name, LW_DETECTOR_CONTEXT));
}

//  --------------------------------------------------------------------------
//  Self test helper: a detector (sustained part on or off) on N(100, 1)
//  noise for 3000 points, then a shift of `shift` sigmas; returns the
//  first point after the shift that scores at or above open_threshold
//  (-1: none in `within` points) and the part behind it in *name.

static long
s_shifted (bool sustained, double shift, long within, const char **name)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.sustained = sustained;
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);
    uint64_t state = 11;
    int64_t time = 0;
    s_noise (extract, detector, &state, &time, 3000, 2);
    long found = -1;
    *name = NULL;
    lw_item_t item;
    for (long index = 0; index < within && found < 0; index++) {
        s_feed (extract, detector, &item, time++,
                100 + shift + lw_gauss (&state));
        if (item.score >= cfg.open_threshold) {
            found = index;
            *name = lw_detector_name (detector);
        }
    }
    lw_detector_destroy (&detector);
    lw_extract_destroy (&extract);
    return found;
}

//  --------------------------------------------------------------------------
//  Self test of the sustained part through the detector: a small lasting
//  shift, which the EWMAs average away for a while, is found sooner with
//  the part, and named after it.

static void
s_test_sustained (bool verbose)
{
    const char *off_name, *on_name;
    long off = s_shifted (false, 0.75, 400, &off_name);
    long on = s_shifted (true, 0.75, 400, &on_name);
    if (verbose)
        printf ("   sustained: a 0.75 sigma shift opens after %ld points "
                "(%s) without, %ld (%s) with the part\n",
                off, off_name ? off_name : "-", on, on_name ? on_name : "-");
    assert (on >= 0);
    assert (off < 0 || on < off);
    assert (streq (on_name, LW_DETECTOR_SUSTAINED));
}

//  --------------------------------------------------------------------------
//  Self test of lw_detector.

static void
s_test_detector (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);

    //  Explicit warm-up: the features' warm-up (flagged, unscored), then
    //  the calibration and the forest (flagged, scored by the parts that
    //  are ready); the count goes down by one per point
    uint64_t state = 1;
    lw_item_t item;
    long warmup = lw_detector_warmup_left (detector);
    //  features, then the levels settle and 30 raw scores calibrate,
    //  while the forest fills half a window
    long parts_need = cfg.warmup + 30 > cfg.forest_window / 2
                          ? cfg.warmup + 30
                          : cfg.forest_window / 2;
    assert (warmup == cfg.warmup + parts_need);
    for (long index = 0; index < warmup; index++) {
        s_feed (extract, detector, &item, index, 100 + lw_gauss (&state));
        assert (item.flags & LW_SCORE_WARMUP);
        if (index < cfg.warmup)
            assert (item.score == 0);
        assert (item.score < cfg.open_threshold);
        assert (lw_detector_warmup_left (detector) == warmup - index - 1);
    }
    assert (lw_detector_warmup_left (detector) == 0);

    //  Normal noise: scored, rarely at the open threshold
    long high = 0;
    double total = 0;
    for (long index = warmup; index < 5000; index++) {
        s_feed (extract, detector, &item, index, 100 + lw_gauss (&state));
        assert (!(item.flags & LW_SCORE_WARMUP));
        assert (item.score >= 0 && item.score < 1);
        assert (item.expected_low < item.expected_high);
        if (item.score >= cfg.open_threshold)
            high++;
        total += item.score;
    }
    if (verbose)
        printf ("   noise: %ld of 5000 at open, mean score %.3f\n", high,
                total / 5000);
    assert (high < 25);
    assert (total / 5000 < 0.3);

    //  A 15-sigma spike scores high, above the expected range, and
    //  teaches the spike level little
    double low = item.expected_low;
    s_feed (extract, detector, &item, 5000, 115);
    assert (item.score >= cfg.open_threshold);
    assert (item.value > item.expected_high);
    s_feed (extract, detector, &item, 5001, 100);
    assert (item.score < cfg.close_threshold);
    assert (fabs (item.expected_low - low) < 1.5);

    //  Right after it, the onset filter damps what does not beat the
    //  spike's score (one fault, one alarm); once that hold is over, a
    //  lasting level shift alerts at once, then is learned: the score
    //  falls below close_threshold and stays mostly there
    int64_t time = 5002;
    s_noise (extract, detector, &state, &time, 1000, 1);
    s_feed (extract, detector, &item, time, 120 + lw_gauss (&state));
    assert (item.score >= cfg.open_threshold);
    long learned = 0, later_high = 0;
    for (long index = 1; index < 1500; index++) {
        s_feed (extract, detector, &item, time + index,
                120 + lw_gauss (&state));
        if (learned == 0 && item.score < cfg.close_threshold)
            learned = index;
        if (index > 1000 && item.score >= cfg.open_threshold)
            later_high++;
    }
    if (verbose)
        printf ("   shift: learned after %ld points\n", learned);
    assert (learned > 0 && learned < 200);
    assert (later_high < 5);
    assert (item.expected_low < 120 && item.expected_high > 120);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);

    //  Deterministic: the same seed and input give the same scores bit
    //  for bit; another seed changes the forest, so some score differs
    lw_detect_cfg_t seeded = cfg;
    seeded.seed = 2;
    lw_extract_t *extracts[3];
    lw_detector_t *detectors[3];
    for (int index = 0; index < 3; index++) {
        extracts[index] = lw_extract_new (&cfg);
        detectors[index] = lw_detector_new (index == 2 ? &seeded : &cfg);
        assert (extracts[index] && detectors[index]);
    }
    bool differs = false;
    state = 11;
    for (long index = 0; index < 3000; index++) {
        double value = 10 * sin (index * 0.05) + lw_gauss (&state);
        if (index == 2000)
            value += 8;
        lw_item_t items[3];
        for (int which = 0; which < 3; which++)
            s_feed (extracts[which], detectors[which], &items[which], index,
                    value);
        assert (items[0].score == items[1].score);
        assert (items[0].expected_low == items[1].expected_low);
        if (items[2].score != items[0].score)
            differs = true;
    }
    assert (differs);
    for (int index = 0; index < 3; index++) {
        lw_extract_destroy (&extracts[index]);
        lw_detector_destroy (&detectors[index]);
    }

    //  Every part can be switched off, and the detector still scores a
    //  15-sigma spike high (it alerts while the spike part runs; without
    //  it, the shift part sees a quarter of it)
    const char *parts[] = {"spike", "shift", "forest", "drift",
                           "calibration"};
    for (int part = 0; part < 5; part++) {
        lw_detect_cfg_t ablated = cfg;
        ablated.spike = part != 0;
        ablated.shift = part != 1;
        ablated.forest = part != 2;
        ablated.drift = part != 3;
        ablated.calibration = part != 4;
        extract = lw_extract_new (&ablated);
        detector = lw_detector_new (&ablated);
        assert (extract && detector);
        time = 0;
        state = 21;
        s_noise (extract, detector, &state, &time, 2000, 1);
        s_feed (extract, detector, &item, time++, 115);
        if (verbose)
            printf ("   without %s: spike scores %.3f\n", parts[part],
                    item.score);
        assert (item.score >= (part == 0 ? 0.6 : cfg.open_threshold));
        lw_extract_destroy (&extract);
        lw_detector_destroy (&detector);
    }

    //  Not learning from flagged points: a spike repeated every 50 points
    //  keeps alerting in the detectors themselves (calibration and onset
    //  filter off, so their raw view shows): the forest and the levels do
    //  not take it as normal. With the whole ensemble the first alerts,
    //  the ones after are judged against the score history (a sensor
    //  that spikes every 50 points is not surprised by its 20th spike)
    for (int whole = 0; whole < 2; whole++) {
        lw_detect_cfg_t raw_cfg = cfg;
        if (!whole) {
            raw_cfg.calibration = false;
            raw_cfg.refractory = 0;
        }
        extract = lw_extract_new (&raw_cfg);
        detector = lw_detector_new (&raw_cfg);
        assert (extract && detector);
        time = 0;
        state = 5;
        s_noise (extract, detector, &state, &time, 1000, 1);
        long alerted = 0;
        double low_first = 0;
        for (int spike = 0; spike < 20; spike++) {
            s_noise (extract, detector, &state, &time, 49, 1);
            s_feed (extract, detector, &item, time++, 125);
            if (item.score >= cfg.open_threshold)
                alerted++;
            if (spike == 0) {
                assert (item.score >= cfg.open_threshold);
                low_first = item.expected_low;
            }
        }
        if (verbose)
            printf ("   repeated spike (%s): %ld of 20 alert\n",
                    whole ? "ensemble" : "raw", alerted);
        if (!whole)
            assert (alerted == 20);
        assert (fabs (item.expected_low - low_first) < 1.5);
        lw_extract_destroy (&extract);
        lw_detector_destroy (&detector);
    }

    //  Fault-aware calibration memory: on a well-behaved sensor, past
    //  faults do not make the next one ordinary; a 7-sigma spike every
    //  400 points (a fault every few hours) keeps opening alerts (11 of
    //  15 here; 5 when the calibration learned every fault)
    extract = lw_extract_new (&cfg);
    detector = lw_detector_new (&cfg);
    assert (extract && detector);
    time = 0;
    state = 11;
    s_noise (extract, detector, &state, &time, 1000, 1);
    long repeated = 0;
    for (int spike = 0; spike < 15; spike++) {
        s_noise (extract, detector, &state, &time, 399, 1);
        s_feed (extract, detector, &item, time++, 107);
        if (item.score >= cfg.open_threshold)
            repeated++;
    }
    if (verbose)
        printf ("   fault memory: %ld of 15 repeated faults alert\n",
                repeated);
    assert (repeated >= 9);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);

    //  Sensitivity on a clean signal (N(100,1), 10 seeds): a 10-sigma
    //  spike opens every time, a lasting 5-sigma shift nearly always
    int spikes = 0, shifts = 0;
    for (int seed = 1; seed <= 10; seed++) {
        for (int kind = 0; kind < 2; kind++) {
            extract = lw_extract_new (&cfg);
            detector = lw_detector_new (&cfg);
            assert (extract && detector);
            time = 0;
            state = (uint64_t)seed;
            s_noise (extract, detector, &state, &time, 2000, 1);
            double best = 0;
            for (int index = 0; index < (kind ? 100 : 1); index++) {
                s_feed (extract, detector, &item, time++,
                        100 + (kind ? 5 : 10) + (kind ? lw_gauss (&state) : 0));
                if (item.score > best)
                    best = item.score;
            }
            if (best >= cfg.open_threshold)
                *(kind ? &shifts : &spikes) += 1;
            lw_extract_destroy (&extract);
            lw_detector_destroy (&detector);
        }
    }
    if (verbose)
        printf ("   clean signal: 10-sigma spike %d/10, 5-sigma shift %d/10\n",
                spikes, shifts);
    assert (spikes == 10);
    assert (shifts >= 8);

    //  Quantised signal: steps of its quantum do not alarm
    extract = lw_extract_new (&cfg);
    detector = lw_detector_new (&cfg);
    assert (extract && detector);
    high = 0;
    for (long index = 0; index < 5000; index++) {
        double value = 100 + round (0.3 * lw_gauss (&state));
        s_feed (extract, detector, &item, index, value);
        if (item.score >= cfg.open_threshold)
            high++;
    }
    if (verbose)
        printf ("   quantised: %ld of 5000 at open\n", high);
    assert (high < 5);
    assert (item.features[LW_F_QUANTUM] == 1);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);

    //  Flat signal then +1: the floors keep it from a maximal alarm
    //  (calibration alone would call any change on a flat signal a
    //  record); +10 on the same history is a full alarm
    double step_scores[2];
    for (int size = 0; size < 2; size++) {
        extract = lw_extract_new (&cfg);
        detector = lw_detector_new (&cfg);
        assert (extract && detector);
        for (long index = 0; index < 2000; index++)
            s_feed (extract, detector, &item, index, 100);
        assert (item.score == 0);
        s_feed (extract, detector, &item, 2000, size ? 110 : 101);
        step_scores[size] = item.score;
        lw_extract_destroy (&extract);
        lw_detector_destroy (&detector);
    }
    if (verbose)
        printf ("   flat: +1 scores %.3f, +10 %.3f\n", step_scores[0],
                step_scores[1]);
    assert (step_scores[0] > 0.1 && step_scores[0] < cfg.open_threshold);
    assert (step_scores[1] > 0.95);

    //  Bad features from a peer score 0 and teach nothing
    detector = lw_detector_new (&cfg);
    assert (detector);
    long fresh = lw_detector_warmup_left (detector);
    memset (&item, 0, sizeof (item));
    item.value = 1;
    item.nfeatures = 3;
    item.features[LW_F_SEEN] = 1000;
    lw_detector_score (detector, &item);
    assert (item.score == 0 && (item.flags & LW_SCORE_WARMUP));
    item.nfeatures = LW_DETECT_FEATURES;
    item.features[LW_F_MEAN] = NAN;
    item.flags = 0;
    lw_detector_score (detector, &item);
    assert (item.score == 0 && (item.flags & LW_SCORE_WARMUP));
    item.features[LW_F_MEAN] = 50;
    item.features[LW_F_STD] = -1;
    item.flags = 0;
    lw_detector_score (detector, &item);
    assert (item.score == 0 && (item.flags & LW_SCORE_WARMUP));
    assert (lw_detector_warmup_left (detector) == fresh);

    //  A fresh detector on a long-seen sensor seeds from the features:
    //  its own warm-up (calibration, forest) is all that is left
    item.features[LW_F_STD] = 2;
    item.features[LW_F_SLOW_MEAN] = 50;
    item.features[LW_F_SLOW_STD] = 2;
    item.features[LW_F_EWMA] = 50;
    item.features[LW_F_LAST] = 50;
    item.features[LW_F_LAST2] = 50;
    item.value = 50;
    item.flags = 0;
    lw_detector_score (detector, &item);
    assert (item.flags & LW_SCORE_WARMUP);
    assert (lw_detector_warmup_left (detector) == fresh - cfg.warmup - 1);
    assert (fabs (item.expected_low + item.expected_high - 100) < 1e-9);
    lw_detector_destroy (&detector);
    assert (detector == NULL);

    //  lw-features restarted from scratch under a warm detector: its
    //  warm-up holds again (no score from empty long-scale features), and
    //  a spike right after it alerts
    extract = lw_extract_new (&cfg);
    detector = lw_detector_new (&cfg);
    assert (extract && detector);
    time = 0;
    state = 17;
    s_noise (extract, detector, &state, &time, 1000, 1);
    assert (lw_detector_warmup_left (detector) == 0);
    lw_extract_destroy (&extract);
    extract = lw_extract_new (&cfg);
    assert (extract);
    for (long index = 0; index < cfg.warmup; index++) {
        s_feed (extract, detector, &item, time++, 100 + lw_gauss (&state));
        assert ((item.flags & LW_SCORE_WARMUP) && item.score == 0);
        assert (lw_detector_warmup_left (detector) == cfg.warmup - index - 1);
    }
    s_feed (extract, detector, &item, time++, 115);
    assert (!(item.flags & LW_SCORE_WARMUP));
    assert (item.score >= cfg.open_threshold);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);
    lw_detector_destroy (&detector);
    if (verbose)
        printf ("   detector: warm-up, noise, spike, shift, seed, ablation, "
                "flagged, floors OK\n");
}

//  --------------------------------------------------------------------------
//  Self test of the fault tests through the detector on heavy-tailed
//  noise (Student t with 2 degrees of freedom): the spike part's
//  calibration tells them the noise is outside their model, so they flag
//  (nearly) nothing from the start (their own noise-model check alone
//  needs a few hundred points of evidence first, lw_faults.c; without
//  the calibration's word, 25 of these points were flagged), while on
//  Gaussian noise the same detector's fault tests keep to their budget
//  and find a 7-sigma spike. 60 s a point, the budget's interval.

static void
s_test_heavy (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    long flagged = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        lw_extract_t *extract = lw_extract_new (&cfg);
        lw_detector_t *detector = lw_detector_new (&cfg);
        assert (extract && detector);
        uint64_t state = seed;
        lw_item_t item;
        for (long index = 0; index < 20000; index++) {
            double normal = lw_gauss (&state);
            double first = lw_gauss (&state), second = lw_gauss (&state);
            double chi2 = first * first + second * second;
            s_feed (extract, detector, &item, index * 60 * LW_NS_PER_SEC,
                    100 + normal / sqrt (chi2 / 2 + 1e-9));
            flagged += (item.flags & LW_SCORE_FAULT) != 0;
        }
        lw_extract_destroy (&extract);
        lw_detector_destroy (&detector);
    }
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    assert (extract && detector);
    uint64_t state = 5;
    lw_item_t item;
    long gaussian = 0;
    for (long index = 0; index < 3000; index++) {
        s_feed (extract, detector, &item, index * 60 * LW_NS_PER_SEC,
                100 + lw_gauss (&state));
        gaussian += (item.flags & LW_SCORE_FAULT) != 0;
    }
    assert (gaussian <= 3);
    s_feed (extract, detector, &item, 3000 * 60 * LW_NS_PER_SEC, 107);
    assert (item.flags & LW_SCORE_FAULT);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);
    if (verbose)
        printf ("   heavy tails: %ld of 60000 points fault-flagged (Gaussian: "
                "%ld of 3000)\n",
                flagged, gaussian);
    assert (flagged <= 3);
}

//  --------------------------------------------------------------------------
//  Self test helper: feeds a bare score to an episode.

static int
s_episode_feed (lw_episode_t *episode, lw_item_t *item, int64_t time,
                double score, lw_alert_t *alert)
{
    memset (item, 0, sizeof (*item));
    item->time = time;
    item->value = 10 * score;
    item->score = score;
    item->expected_low = -1;
    item->expected_high = 1;
    return lw_episode_update (episode, item, "robust_z", alert);
}

//  --------------------------------------------------------------------------
//  Self test of lw_episode.

static void
s_test_episode (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    cfg.min_duration = 2;
    cfg.close_after = 3;
    cfg.cooldown = 5;
    cfg.update_margin = 0.05;
    lw_episode_t *episode = lw_episode_new (&cfg, "line1/press3/temp");
    assert (episode);
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    alert.local_seq = 42; //  The caller's: left alone
    lw_item_t item;

    //  min_duration: one point above is not enough, the run restarts
    assert (s_episode_feed (episode, &item, 0, 0.8, &alert) == 0);
    assert (!(item.flags & LW_SCORE_ALERT));
    assert (s_episode_feed (episode, &item, 1, 0.1, &alert) == 0);
    assert (s_episode_feed (episode, &item, 2, 0.8, &alert) == 0);
    assert (s_episode_feed (episode, &item, 3, 0.75, &alert) == LW_ALERT_OPEN);
    assert (item.flags & LW_SCORE_ALERT);
    assert (alert.state == LW_ALERT_OPEN);
    assert (streq (alert.sensor, "line1/press3/temp"));
    assert (alert.opened == 2 && alert.updated == 3 && alert.closed == 0);
    assert (alert.score == 0.8 && alert.value == 8);
    assert (alert.expected_low == -1 && alert.expected_high == 1);
    assert (alert.ndetectors == 1 && streq (alert.detectors[0], "robust_z"));
    assert (alert.local_seq == 42);

    //  UPDATE only when the peak rose by the margin
    assert (s_episode_feed (episode, &item, 4, 0.82, &alert) == 0);
    assert (item.flags & LW_SCORE_ALERT);
    assert (s_episode_feed (episode, &item, 5, 0.9, &alert) == LW_ALERT_UPDATE);
    assert (alert.score == 0.9 && alert.updated == 5 && alert.opened == 2);
    assert (s_episode_feed (episode, &item, 6, 0.92, &alert) == 0);

    //  Hysteresis: close_after consecutive points below close_threshold
    assert (s_episode_feed (episode, &item, 7, 0.3, &alert) == 0);
    assert (s_episode_feed (episode, &item, 8, 0.5, &alert) == 0);
    assert (s_episode_feed (episode, &item, 9, 0.1, &alert) == 0);
    assert (s_episode_feed (episode, &item, 10, NAN, &alert) == 0);
    assert (item.flags & LW_SCORE_ALERT);
    assert (s_episode_feed (episode, &item, 11, 0.1, &alert) == LW_ALERT_CLOSE);
    assert (!(item.flags & LW_SCORE_ALERT));
    assert (alert.state == LW_ALERT_CLOSE);
    assert (alert.closed == 11 && alert.opened == 2);
    assert (alert.score == 0.92 && fabs (alert.value - 9.2) < 1e-9);

    //  Cooldown: `cooldown` points after a close cannot open
    for (int64_t time = 12; time <= 16; time++) {
        assert (s_episode_feed (episode, &item, time, 0.9, &alert) == 0);
        assert (!(item.flags & LW_SCORE_ALERT));
    }
    assert (s_episode_feed (episode, &item, 17, 0.9, &alert) == 0);
    assert (s_episode_feed (episode, &item, 18, 0.95, &alert) == LW_ALERT_OPEN);
    assert (alert.opened == 17 && alert.score == 0.95);
    lw_episode_destroy (&episode);

    //  A fault test's flag opens an episode whatever the score, and keeps
    //  it open; without the flag the same low score opens nothing
    episode = lw_episode_new (&cfg, "line1/press3/temp");
    assert (episode);
    for (int64_t time = 0; time < 4; time++) {
        s_episode_feed (episode, &item, time, 0.1, &alert);
        assert (!(item.flags & LW_SCORE_ALERT));
    }
    int opened = 0;
    for (int64_t time = 4; time < 6; time++) {
        memset (&item, 0, sizeof (item));
        item.time = time;
        item.score = 0.1;
        item.flags = LW_SCORE_FAULT;
        opened += lw_episode_update (episode, &item, "fault_spike", &alert) ==
                  LW_ALERT_OPEN;
    }
    assert (opened == 1 && (item.flags & LW_SCORE_ALERT));
    assert (alert.opened == 4 && streq (alert.detectors[0], "fault_spike"));
    lw_episode_destroy (&episode);
    assert (episode == NULL);
    lw_episode_destroy (&episode);
    if (verbose)
        printf ("   episode: duration, update, hysteresis, cooldown OK\n");
}

//  --------------------------------------------------------------------------
//  Self test of the whole chain: features sent through a batch score as
//  they do in-process; a spike and a level shift in noise give exactly two
//  alerts, and the shift's alert closes once it is learned.

static void
s_test_chain (bool verbose)
{
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    lw_episode_t *episode = lw_episode_new (&cfg, "m/s");
    assert (extract && detector && episode);
    //  The live split: features cross a process boundary in a batch, and
    //  a detector on the far side must score them exactly the same
    lw_detector_t *remote = lw_detector_new (&cfg);
    lw_batch_t *sent = lw_batch_new (LW_MSG_FEATURES);
    lw_batch_t *received = lw_batch_new (LW_MSG_FEATURES);
    assert (remote && sent && received);
    uint64_t state = 3;
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    int64_t opens[4] = {0};
    int nopens = 0, ncloses = 0;
    lw_item_t item;
    for (int64_t index = 0; index < 4000; index++) {
        double value = 50 + lw_gauss (&state);
        if (index == 1000)
            value += 12;
        if (index >= 2000)
            value += 15;
        lw_batch_reset (sent);
        lw_item_t *vector = lw_batch_add (sent, "m/s");
        assert (vector);
        vector->time = index;
        vector->value = value;
        lw_extract_update (extract, vector);
        item = *vector;
        lw_detector_score (detector, &item);
        zframe_t *frame = lw_batch_encode (sent);
        assert (frame);
        assert (lw_batch_decode (received, zframe_data (frame),
                                 zframe_size (frame)) == 0);
        zframe_destroy (&frame);
        lw_item_t *far = lw_batch_item (received, 0);
        far->flags = 0;
        lw_detector_score (remote, far);
        assert (far->score == item.score);
        assert (far->expected_low == item.expected_low);
        assert (far->expected_high == item.expected_high);
        assert (far->flags == item.flags);
        int event = lw_episode_update (episode, &item,
                                       lw_detector_name (detector), &alert);
        if (event == LW_ALERT_OPEN && nopens < 4)
            opens[nopens++] = alert.opened;
        if (event == LW_ALERT_CLOSE)
            ncloses++;
    }
    if (verbose)
        printf ("   chain: %d opens (%lld, %lld, %lld), %d closes\n", nopens,
                (long long)opens[0], (long long)opens[1], (long long)opens[2], ncloses);
    assert (nopens == 2 && ncloses == 2);
    assert (opens[0] == 1000);
    //  (A shift no larger than the spike, 1000 points later, would be
    //  less rare than the spike was: the calibration remembers it)
    assert (opens[1] >= 2000 && opens[1] <= 2002);
    assert (!(item.flags & LW_SCORE_ALERT));
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);
    lw_detector_destroy (&remote);
    lw_episode_destroy (&episode);
    lw_batch_destroy (&sent);
    lw_batch_destroy (&received);
    if (verbose)
        printf ("   chain: split scoring identical, two alerts OK\n");
}

//  --------------------------------------------------------------------------
//  Self test of the detection library.

void
lw_detect_test (bool verbose)
{
    printf (" * lw_detect: ");
    if (verbose)
        printf ("\n");
    s_test_cfg (verbose);
    s_test_extract (verbose);
    s_test_detector (verbose);
    s_test_context (verbose);
    s_test_sustained (verbose);
    s_test_heavy (verbose);
    s_test_episode (verbose);
    s_test_chain (verbose);
    printf ("OK\n");
}
