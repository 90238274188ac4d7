/*  =========================================================================
    lw_rules.c - rule detectors: stuck sensor, missing data, engineering limits

    Copyright (c) the linewatch authors. MIT license.

    See lw_rules.h. A rule set is a small array scanned once per sensor
    (when its state is made), never per reading; the per-reading check is
    a handful of comparisons on a fixed-size state.
    =========================================================================
*/

#include "lw_rules.h"
#include "lw_cfg.h"
#include "lw_util.h"

#include <fnmatch.h>
#include <math.h>

//  The statistical detector's bit in lw_rule_state_t.mask
#define S_STAT_BIT 0x100
//  lw_rule_state_t.mask: an episode is open
#define S_OPEN_BIT 0x80000000u

//  One configured rule
typedef struct {
    char name[LW_RULES_NAME_MAX + 1]; //  Its config name
    char pattern[LW_KEY_MAX + 1];     //  fnmatch glob on keys
    uint32_t names;                   //  LW_RULE_STUCK/GAP it sets
    lw_rule_t rule;                   //  The values
} s_rule_t;

struct _lw_rules_t {
    size_t count;                 //  Rules in use
    s_rule_t rules[LW_RULES_MAX]; //  In config order
};

//  --------------------------------------------------------------------------
//  Creates an empty set. Returns it (caller owns) or NULL.

lw_rules_t *
lw_rules_new (void)
{
    return (lw_rules_t *)zmalloc (sizeof (lw_rules_t));
}

//  --------------------------------------------------------------------------
//  Destroys the set; accepts NULL and sets the pointer to NULL.

void
lw_rules_destroy (lw_rules_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Adds a rule; see the header. Returns 0 or -1.

int
lw_rules_add (lw_rules_t *self, const char *name, const char *pattern,
              uint32_t names, const lw_rule_t *rule)
{
    assert (self);
    assert (name);
    assert (pattern);
    assert (rule);
    if (self->count >= LW_RULES_MAX || strlen (name) > LW_RULES_NAME_MAX ||
        strlen (pattern) > LW_KEY_MAX || !*pattern)
        return -1;
    s_rule_t *entry = &self->rules[self->count++];
    snprintf (entry->name, sizeof (entry->name), "%s", name);
    snprintf (entry->pattern, sizeof (entry->pattern), "%s", pattern);
    entry->names = names & (LW_RULE_STUCK | LW_RULE_GAP);
    entry->rule = *rule;
    return 0;
}

//  --------------------------------------------------------------------------
//  Reads an optional limit: absent or empty = not set. Returns 0 or -1.

static int
s_load_limit (zconfig_t *cfg, const char *path, bool *has, double *out)
{
    const char *text;
    if (lw_cfg_string (cfg, path, "", 64, &text))
        return -1;
    *has = false;
    if (!*text)
        return 0;
    if (lw_parse_double (text, -1e300, 1e300, out)) {
        zsys_error ("config: %s='%s' is not a number (or empty for none)", path,
                    text);
        return -1;
    }
    *has = true;
    return 0;
}

//  --------------------------------------------------------------------------
//  Reads every child of `path` as a rule; see the header. Returns 0 or -1.

int
lw_rules_load (lw_rules_t *self, zconfig_t *cfg, const char *path)
{
    assert (self);
    assert (path);
    if (!cfg)
        return 0;
    zconfig_t *section = zconfig_locate (cfg, path);
    if (!section)
        return 0;
    int rc = 0;
    for (zconfig_t *child = zconfig_child (section); child;
         child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        char key[LW_KEY_MAX + 128];
        if (!name || strlen (name) > LW_RULES_NAME_MAX) {
            zsys_error ("config: %s/%.40s: rule name longer than %d bytes",
                        path, name ? name : "", LW_RULES_NAME_MAX);
            rc = -1;
            continue;
        }
        lw_rule_t rule;
        memset (&rule, 0, sizeof (rule));
        uint32_t names = 0;
        const char *pattern;
        snprintf (key, sizeof (key), "%s/%s/pattern", path, name);
        if (lw_cfg_string (cfg, key, "", LW_KEY_MAX, &pattern))
            rc = -1;
        else if (!*pattern) {
            zsys_error ("config: %s is missing (a glob on sensor keys)", key);
            rc = -1;
        }
        snprintf (key, sizeof (key), "%s/%s/stuck", path, name);
        if (zconfig_locate (cfg, key))
            names |= LW_RULE_STUCK;
        if (lw_cfg_int (cfg, key, 0, 0, 100000000, &rule.stuck))
            rc = -1;
        else if (rule.stuck == 1) {
            zsys_error ("config: %s=1: a run needs at least 2 points", key);
            rc = -1;
        }
        snprintf (key, sizeof (key), "%s/%s/stuck_tolerance", path, name);
        if (lw_cfg_double (cfg, key, 0, 0, 1e300, &rule.stuck_tolerance))
            rc = -1;
        snprintf (key, sizeof (key), "%s/%s/gap_factor", path, name);
        if (zconfig_locate (cfg, key))
            names |= LW_RULE_GAP;
        if (lw_cfg_double (cfg, key, 0, 0, 1e9, &rule.gap_factor))
            rc = -1;
        else if (rule.gap_factor > 0 && rule.gap_factor < 1.5) {
            zsys_error ("config: %s=%g: 0 (off) or at least 1.5", key,
                        rule.gap_factor);
            rc = -1;
        }
        snprintf (key, sizeof (key), "%s/%s/low", path, name);
        if (s_load_limit (cfg, key, &rule.has_low, &rule.low))
            rc = -1;
        snprintf (key, sizeof (key), "%s/%s/high", path, name);
        if (s_load_limit (cfg, key, &rule.has_high, &rule.high))
            rc = -1;
        if (rule.has_low && rule.has_high && !(rule.low <= rule.high)) {
            zsys_error ("config: %s/%s: low=%g is above high=%g", path, name,
                        rule.low, rule.high);
            rc = -1;
        }
        if (rc == 0 && lw_rules_add (self, name, pattern, names, &rule)) {
            zsys_error ("config: %s: more than %d rules", path, LW_RULES_MAX);
            rc = -1;
        }
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Number of rules.

size_t
lw_rules_size (lw_rules_t *self)
{
    assert (self);
    return self->count;
}

//  --------------------------------------------------------------------------
//  Resolves a key's settings: per setting, the first matching rule that
//  names it.

void
lw_rules_resolve (lw_rules_t *self, const char *key, lw_rule_t *out)
{
    assert (self);
    assert (key);
    assert (out);
    memset (out, 0, sizeof (*out));
    bool stuck = false, gap = false;
    for (size_t index = 0; index < self->count; index++) {
        const s_rule_t *entry = &self->rules[index];
        if (fnmatch (entry->pattern, key, 0) != 0)
            continue;
        if (!stuck && (entry->names & LW_RULE_STUCK)) {
            stuck = true;
            out->stuck = entry->rule.stuck;
            out->stuck_tolerance = entry->rule.stuck_tolerance;
        }
        if (!gap && (entry->names & LW_RULE_GAP)) {
            gap = true;
            out->gap_factor = entry->rule.gap_factor;
        }
        if (!out->has_low && entry->rule.has_low) {
            out->has_low = true;
            out->low = entry->rule.low;
        }
        if (!out->has_high && entry->rule.has_high) {
            out->has_high = true;
            out->high = entry->rule.high;
        }
    }
}

//  --------------------------------------------------------------------------
//  Starts a sensor's state.

void
lw_rule_state_init (lw_rule_state_t *state, const lw_rule_t *rule)
{
    assert (state);
    assert (rule);
    memset (state, 0, sizeof (*state));
    state->rule = *rule;
}

//  --------------------------------------------------------------------------
//  Checks one reading; see the header. Returns the LW_RULE_* bits fired.

uint32_t
lw_rule_check (lw_rule_state_t *state, const lw_item_t *item, int64_t *gap_from)
{
    assert (state);
    assert (item);
    assert (gap_from);
    const lw_rule_t *rule = &state->rule;
    double value = item->value;
    uint32_t fired = 0;
    if ((item->quality & LW_QUALITY_LIMIT) ||
        (rule->has_low && value < rule->low) ||
        (rule->has_high && value > rule->high))
        fired |= LW_RULE_LIMIT;
    if (!isfinite (value))
        return fired;
    if (!state->seen) {
        state->seen = true;
        state->anchor = value;
        state->run = 1;
        state->last_time = item->time;
        return fired;
    }
    //  A late reading (older than the newest) says nothing about the
    //  current run or interval
    if (item->time <= state->last_time)
        return fired;

    //  Gap: the interval, judged against the usual one before learning it
    double interval = (double)item->time - (double)state->last_time;
    if (lw_interval_step (&state->interval, interval, rule->gap_factor)) {
        fired |= LW_RULE_GAP;
        *gap_from = state->last_time;
    }
    state->last_time = item->time;

    //  Stuck: the run of values within tolerance of its first value
    if (fabs (value - state->anchor) <= rule->stuck_tolerance)
        state->run++;
    else {
        if (!state->run_fired && state->run > state->max_run)
            state->max_run = state->run;
        state->changes++;
        state->anchor = value;
        state->run = 1;
        state->run_fired = false;
    }
    if (rule->stuck > 0 && state->changes >= LW_RULES_STUCK_CHANGES &&
        state->run >= rule->stuck && state->run > 2 * state->max_run) {
        fired |= LW_RULE_STUCK;
        state->run_fired = true;
    }
    return fired;
}

//  --------------------------------------------------------------------------
//  Fills the alert's detectors from the episode's mask: the statistical
//  detector, then the rules, in a fixed order.

static void
s_fill_detectors (uint32_t mask, const char *detector, lw_alert_t *alert)
{
    alert->ndetectors = 0;
    const char *names[4] = {NULL, NULL, NULL, NULL};
    size_t count = 0;
    if (mask & S_STAT_BIT)
        names[count++] = detector;
    if (mask & LW_RULE_STUCK)
        names[count++] = LW_DETECTOR_STUCK;
    if (mask & LW_RULE_GAP)
        names[count++] = LW_DETECTOR_GAP;
    if (mask & LW_RULE_LIMIT)
        names[count++] = LW_DETECTOR_LIMIT;
    if (count == 0)
        names[count++] = detector;
    for (size_t index = 0; index < count && index < LW_DETECTORS_MAX; index++) {
        snprintf (alert->detectors[index], sizeof (alert->detectors[index]),
                  "%s", names[index]);
        alert->ndetectors++;
    }
}

static int s_step_episode (lw_rule_state_t *state, lw_episode_t *episode,
                           const lw_detect_cfg_t *cfg, lw_item_t *item,
                           uint32_t fired, int64_t gap_from,
                           const char *detector, lw_alert_t *alert);

//  --------------------------------------------------------------------------
//  The scorer's step after the statistical detector; see the header.
//  Returns the episode's change.

int
lw_rules_step (lw_rule_state_t *state, lw_episode_t *episode,
               const lw_detect_cfg_t *cfg, lw_item_t *item,
               const char *detector, lw_alert_t *alert)
{
    assert (state);
    assert (cfg);
    assert (item);
    assert (detector);
    int64_t gap_from = 0;
    uint32_t fired = lw_rule_check (state, item, &gap_from);
    state->stat_score = item->score;
    state->fired = fired;
    if (fired)
        item->score = 1.0;
    if (!episode)
        return 0;
    assert (alert);
    return s_step_episode (state, episode, cfg, item, fired, gap_from,
                           detector, alert);
}

//  --------------------------------------------------------------------------
//  A gap event from lw-ingest; see the header. Returns the episode's
//  change.

int
lw_rules_gap (lw_rule_state_t *state, lw_episode_t *episode,
              const lw_detect_cfg_t *cfg, int64_t last_time, int64_t time,
              double value, const char *detector, lw_alert_t *alert)
{
    assert (state);
    assert (episode);
    assert (cfg);
    assert (detector);
    assert (alert);
    //  The sensor's rule, as lwctl score would judge the same silence
    if (state->rule.gap_factor <= 0)
        return -1;
    if (state->interval.count >= LW_INTERVAL_WARMUP &&
        !lw_interval_exceeds (&state->interval,
                              (double)time - (double)last_time,
                              state->rule.gap_factor))
        return -1;
    lw_item_t item;
    memset (&item, 0, sizeof (item));
    item.time = time;
    item.value = value;
    item.expected_low = value;
    item.expected_high = value;
    item.score = 1.0;
    //  Not a reading: the statistical detector's part of the mask stays
    //  as the last real item left it
    double stat_score = state->stat_score;
    state->stat_score = 0;
    int change = s_step_episode (state, episode, cfg, &item, LW_RULE_GAP,
                                 last_time, detector, alert);
    state->stat_score = stat_score;
    return change;
}

//  --------------------------------------------------------------------------
//  The episode part of a step: `fired` rules (gap_from set when the gap
//  rule is among them) and the statistical score in state->stat_score.
//  Returns the episode's change.

static int
s_step_episode (lw_rule_state_t *state, lw_episode_t *episode,
                const lw_detect_cfg_t *cfg, lw_item_t *item, uint32_t fired,
                int64_t gap_from, const char *detector, lw_alert_t *alert)
{
    bool was_open = (state->mask & S_OPEN_BIT) != 0;
    uint32_t mask = fired;
    if (state->stat_score >= cfg->open_threshold)
        mask |= S_STAT_BIT;
    if (mask) {
        state->mask |= mask;
        if ((fired & LW_RULE_GAP) && !was_open &&
            (state->gap_from == 0 || gap_from < state->gap_from))
            state->gap_from = gap_from;
    }
    int change = lw_episode_update (episode, item, detector, alert);
    if (change) {
        s_fill_detectors (state->mask, detector, alert);
        if (state->gap_from && state->gap_from < alert->opened)
            alert->opened = state->gap_from;
    }
    if (item->flags & LW_SCORE_ALERT)
        state->mask |= S_OPEN_BIT; //  Keep the mask for the episode
    else if (change == LW_ALERT_CLOSE || item->score < cfg->open_threshold) {
        //  Closed, or a run towards opening broken: start again
        state->mask = 0;
        state->gap_from = 0;
    }
    return change;
}

//  --------------------------------------------------------------------------
//  Self test helper: one item

static lw_item_t
s_item (int64_t seconds, double value)
{
    lw_item_t item;
    memset (&item, 0, sizeof (item));
    item.sensor = "m/s";
    item.time = seconds * LW_NS_PER_SEC;
    item.value = value;
    return item;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_rules_test (bool verbose)
{
    printf (" * lw_rules: ");
    if (verbose)
        printf ("\n");

    //  Config: a specific rule before a catch-all overrides what it names
    zconfig_t *cfg = zconfig_new ("root", NULL);
    assert (cfg);
    zconfig_put (cfg, "scorer/rule/temps/pattern", "line1/*/temp");
    zconfig_put (cfg, "scorer/rule/temps/low", "-20");
    zconfig_put (cfg, "scorer/rule/temps/high", "120");
    zconfig_put (cfg, "scorer/rule/temps/stuck", "0");
    zconfig_put (cfg, "scorer/rule/default/pattern", "*");
    zconfig_put (cfg, "scorer/rule/default/stuck", "30");
    zconfig_put (cfg, "scorer/rule/default/stuck_tolerance", "0.001");
    zconfig_put (cfg, "scorer/rule/default/gap_factor", "5");
    zconfig_put (cfg, "scorer/rule/default/low", "");
    lw_rules_t *rules = lw_rules_new ();
    assert (rules);
    assert (lw_rules_load (rules, cfg, "scorer/rule") == 0);
    assert (lw_rules_size (rules) == 2);
    lw_rule_t rule;
    lw_rules_resolve (rules, "line1/press3/temp", &rule);
    assert (rule.stuck == 0 && rule.gap_factor == 5);
    assert (rule.has_low && rule.low == -20 && rule.has_high &&
            rule.high == 120);
    lw_rules_resolve (rules, "line1/press3/vib", &rule);
    assert (rule.stuck == 30 && rule.stuck_tolerance == 0.001);
    assert (rule.gap_factor == 5 && !rule.has_low && !rule.has_high);
    lw_rules_destroy (&rules);
    //  Nothing configured: everything off
    rules = lw_rules_new ();
    assert (lw_rules_load (rules, NULL, "scorer/rule") == 0);
    assert (lw_rules_load (rules, cfg, "scorer/none") == 0);
    lw_rules_resolve (rules, "a/b", &rule);
    assert (rule.stuck == 0 && rule.gap_factor == 0 && !rule.has_low);
    lw_rules_destroy (&rules);
    lw_rules_destroy (&rules);
    zconfig_destroy (&cfg);

    //  Bad config values are refused, each naming its key
    const char *bad[][2] = {{"stuck", "1"},      {"stuck", "x"},
                            {"gap_factor", "1"}, {"low", "abc"},
                            {"high", "-30"},     {"pattern", ""}};
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++) {
        cfg = zconfig_new ("root", NULL);
        zconfig_put (cfg, "scorer/rule/r/pattern", "*");
        zconfig_put (cfg, "scorer/rule/r/low", "-20");
        char path[64];
        snprintf (path, sizeof (path), "scorer/rule/r/%s", bad[index][0]);
        zconfig_put (cfg, path, bad[index][1]);
        rules = lw_rules_new ();
        assert (lw_rules_load (rules, cfg, "scorer/rule") == -1);
        lw_rules_destroy (&rules);
        zconfig_destroy (&cfg);
    }
    rules = lw_rules_new ();
    memset (&rule, 0, sizeof (rule));
    for (int index = 0; index < LW_RULES_MAX; index++)
        assert (lw_rules_add (rules, "r", "*", 0, &rule) == 0);
    assert (lw_rules_add (rules, "r", "*", 0, &rule) == -1);
    lw_rules_destroy (&rules);

    //  Stuck: a varying sensor whose value freezes fires at the 30th
    //  equal point and for as long as it stays frozen
    lw_rule_t stuck = {.stuck = 30, .gap_factor = 5};
    lw_rule_state_t state;
    lw_rule_state_init (&state, &stuck);
    int64_t gap_from = 0;
    int64_t second = 0;
    for (; second < 100; second++) {
        lw_item_t item = s_item (second, sin (second * 0.3));
        assert (lw_rule_check (&state, &item, &gap_from) == 0);
    }
    int first_fired = -1;
    for (int index = 0; index < 60; index++, second++) {
        lw_item_t item = s_item (second, 0.5);
        uint32_t fired = lw_rule_check (&state, &item, &gap_from);
        if (fired && first_fired < 0)
            first_fired = index;
        assert (fired == 0 || fired == LW_RULE_STUCK);
        if (first_fired >= 0)
            assert (fired == LW_RULE_STUCK);
    }
    assert (first_fired == 29);
    //  A constant sensor is never stuck: it never varied
    lw_rule_state_init (&state, &stuck);
    for (second = 0; second < 200; second++) {
        lw_item_t item = s_item (second, 7);
        assert (lw_rule_check (&state, &item, &gap_from) == 0);
    }
    //  A setpoint that moves every 100 points learned its runs
    lw_rule_state_init (&state, &stuck);
    for (second = 0; second < 3000; second++) {
        lw_item_t item = s_item (second, (double)(second / 100));
        assert ((lw_rule_check (&state, &item, &gap_from) & LW_RULE_STUCK) ==
                    0 ||
                second < 1000);
    }

    //  Gap: 11 s of silence on a 1 s sensor fires on the next reading,
    //  naming the last reading before it; the interval is not learned
    lw_rule_state_init (&state, &stuck);
    for (second = 0; second < 20; second++) {
        lw_item_t item = s_item (second, second % 3);
        assert (lw_rule_check (&state, &item, &gap_from) == 0);
    }
    lw_item_t item = s_item (30, 1);
    assert (lw_rule_check (&state, &item, &gap_from) == LW_RULE_GAP);
    assert (gap_from == 19 * LW_NS_PER_SEC);
    item = s_item (31, 2);
    assert (lw_rule_check (&state, &item, &gap_from) == 0);
    item = s_item (35, 0); //  4 s: below 5 x 1 s
    assert (lw_rule_check (&state, &item, &gap_from) == 0);
    //  A late reading neither fires nor teaches
    item = s_item (33, 2);
    assert (lw_rule_check (&state, &item, &gap_from) == 0);

    //  Limits: configured range, and lw-ingest's quality flag
    lw_rule_t limits = {
        .has_low = true, .low = -20, .has_high = true, .high = 120};
    lw_rule_state_init (&state, &limits);
    item = s_item (1, 50);
    assert (lw_rule_check (&state, &item, &gap_from) == 0);
    item = s_item (2, 121);
    assert (lw_rule_check (&state, &item, &gap_from) == LW_RULE_LIMIT);
    item = s_item (3, -21);
    assert (lw_rule_check (&state, &item, &gap_from) == LW_RULE_LIMIT);
    item = s_item (4, 50);
    item.quality = LW_QUALITY_LIMIT;
    assert (lw_rule_check (&state, &item, &gap_from) == LW_RULE_LIMIT);

    //  The step: a rule firing opens an episode that names it; a gap
    //  alert opens at the start of the silence
    lw_detect_cfg_t detect;
    lw_detect_cfg_default (&detect);
    lw_episode_t *episode = lw_episode_new (&detect, "m/s");
    assert (episode);
    lw_rule_state_init (&state, &stuck);
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    int opens = 0, closes = 0;
    for (second = 0; second < 300; second++) {
        int64_t at = second < 100 ? second : second + 20; //  Gap at 100
        item = s_item (at, sin (second * 0.3));
        item.score = 0.1;
        int change =
            lw_rules_step (&state, episode, &detect, &item, "robust_z", &alert);
        if (change == LW_ALERT_OPEN) {
            opens++;
            assert (second == 100);
            assert (alert.opened == 99 * LW_NS_PER_SEC);
            assert (alert.ndetectors == 1);
            assert (streq (alert.detectors[0], LW_DETECTOR_GAP));
            assert (item.score == 1.0);
        }
        if (change == LW_ALERT_CLOSE) {
            closes++;
            assert (alert.opened == 99 * LW_NS_PER_SEC);
            assert (streq (alert.detectors[0], LW_DETECTOR_GAP));
        }
    }
    assert (opens == 1 && closes == 1);
    //  The statistical detector and a limit in one episode: both named
    lw_rule_t both = {.has_high = true, .high = 10};
    lw_rule_state_init (&state, &both);
    for (second = 0; second < 60; second++) {
        item = s_item (second, second == 40 ? 11 : 5);
        item.score = second == 41 ? 0.95 : 0.0;
        int change =
            lw_rules_step (&state, episode, &detect, &item, "robust_z", &alert);
        if (change == LW_ALERT_UPDATE || change == LW_ALERT_OPEN)
            assert (second == 40);
        if (change == LW_ALERT_OPEN)
            assert (alert.ndetectors == 1 &&
                    streq (alert.detectors[0], LW_DETECTOR_LIMIT));
        if (change == LW_ALERT_CLOSE) {
            assert (alert.ndetectors == 2);
            assert (streq (alert.detectors[0], "robust_z"));
            assert (streq (alert.detectors[1], LW_DETECTOR_LIMIT));
            closes++;
        }
    }
    assert (closes == 2);
    //  Without an episode (a wide file's column) only the score changes
    item = s_item (100, 50);
    item.score = 0.2;
    assert (lw_rules_step (&state, NULL, &detect, &item, "robust_z", NULL) ==
            0);
    assert (item.score == 1.0 && state.fired == LW_RULE_LIMIT);
    assert (state.stat_score == 0.2);

    //  A gap event (lw-ingest saw the sensor silent) opens the episode at
    //  the last reading before the silence; the gap rule firing on the
    //  reading after it joins that episode: one OPEN, one CLOSE
    lw_episode_t *silent = lw_episode_new (&detect, "m/s");
    assert (silent);
    lw_rule_state_init (&state, &stuck);
    opens = closes = 0;
    for (second = 0; second < 50; second++) {
        item = s_item (second, sin (second * 0.3));
        item.score = 0.1;
        assert (lw_rules_step (&state, silent, &detect, &item, "robust_z",
                               &alert) == 0);
    }
    int change = lw_rules_gap (&state, silent, &detect, 49 * LW_NS_PER_SEC,
                               60 * LW_NS_PER_SEC, 0.5, "robust_z", &alert);
    assert (change == LW_ALERT_OPEN);
    assert (alert.opened == 49 * LW_NS_PER_SEC);
    assert (alert.ndetectors == 1 && streq (alert.detectors[0], "gap"));
    assert (alert.value == 0.5);
    //  Another sensor's rule: no gap rule, or a silence too short for it
    lw_rule_t no_gap = {.stuck = 30};
    lw_rule_state_t other;
    lw_rule_state_init (&other, &no_gap);
    lw_episode_t *quiet = lw_episode_new (&detect, "m/q");
    assert (quiet);
    assert (lw_rules_gap (&other, quiet, &detect, 0, 100 * LW_NS_PER_SEC, 0,
                          "robust_z", &alert) == -1);
    lw_rule_t wide = {.gap_factor = 30};
    lw_rule_state_init (&other, &wide);
    for (second = 0; second < 20; second++) {
        item = s_item (second, 1);
        lw_rule_check (&other, &item, &gap_from);
    }
    assert (lw_rules_gap (&other, quiet, &detect, 19 * LW_NS_PER_SEC,
                          40 * LW_NS_PER_SEC, 0, "robust_z", &alert) == -1);
    assert (lw_rules_gap (&other, quiet, &detect, 19 * LW_NS_PER_SEC,
                          50 * LW_NS_PER_SEC, 0, "robust_z",
                          &alert) == LW_ALERT_OPEN);
    lw_episode_destroy (&quiet);
    //  Still silent: a second event joins the open episode
    assert (lw_rules_gap (&state, silent, &detect, 49 * LW_NS_PER_SEC,
                          70 * LW_NS_PER_SEC, 0.5, "robust_z", &alert) == 0);
    for (second = 80; second < 120; second++) {
        item = s_item (second, sin (second * 0.3));
        item.score = 0.1;
        change =
            lw_rules_step (&state, silent, &detect, &item, "robust_z", &alert);
        if (second == 80)
            assert (state.fired == LW_RULE_GAP); //  The rule saw it too
        assert (change != LW_ALERT_OPEN);
        if (change == LW_ALERT_CLOSE) {
            closes++;
            assert (alert.opened == 49 * LW_NS_PER_SEC);
            assert (second == 80 + detect.close_after);
        }
    }
    assert (closes == 1);
    lw_episode_destroy (&silent);
    lw_episode_destroy (&episode);
    printf ("OK\n");
}
