/*  =========================================================================
    lw_rules.h - rule detectors: stuck sensor, missing data, engineering limits

    Copyright (c) the linewatch authors. MIT license.

    The detectors an engineer configures rather than the ones that learn:
      stuck  the value has not changed (within `stuck_tolerance`) for
             `stuck` points although the sensor normally varies: it has
             changed at least LW_RULES_STUCK_CHANGES times before, and the
             run is longer than twice the longest unflagged run seen
      gap    the reading arrives more than `gap_factor` x the sensor's
             usual interval (an EWMA of the intervals it did not flag)
             after the previous one; judged in event time on the reading
             after the silence, and the alert's `opened` is the previous
             reading's time, so the alert covers the silence. A sensor that
             stops for good sends no next reading: lw-ingest's gap events
             (lw_rules_gap) open the alert while it is silent, and this
             rule joins that episode when the sensor comes back
      limit  the value is outside [low, high] configured for the sensor, or
             the reading carries LW_QUALITY_LIMIT (lw-ingest's own limits)
    Rules are configured per sensor pattern (fnmatch glob on the key, `*`
    also matching '/'):
      scorer
          rule
              default
                  pattern = *
                  stuck = 30
                  gap_factor = 5
              temps
                  pattern = line1/press*
                  low = -20
                  high = 120
    For each setting, the first rule in file order whose pattern matches
    the key and that names the setting gives its value: a specific rule
    placed before a catch-all overrides only what it names.

    A rule that fires gives the item a score of 1: lw_rules_step runs the
    episode on max (statistical score, rule score) and names in the alert
    the statistical detector (when its own score reached open_threshold)
    and every rule that fired during the episode. lw-scorer and lwctl score
    both call lw_rules_step, so live and offline agree.
    =========================================================================
*/

#ifndef LW_RULES_H_INCLUDED
#define LW_RULES_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_detect.h"
#include "lw_interval.h"
#include "lw_msg.h"

//  Rule detector names (alert->detectors) and their bits
#define LW_RULE_STUCK 0x01
#define LW_RULE_GAP 0x02
#define LW_RULE_LIMIT 0x04
#define LW_DETECTOR_STUCK "stuck"
#define LW_DETECTOR_GAP "gap"
#define LW_DETECTOR_LIMIT "limit"
//  Most rules in a config
#define LW_RULES_MAX 64
//  Longest rule name
#define LW_RULES_NAME_MAX 63
//  Changed steps a sensor must have shown before it can be called stuck
#define LW_RULES_STUCK_CHANGES 8
//  Intervals learned before the gap rule judges
#define LW_RULES_GAP_WARMUP LW_INTERVAL_WARMUP

//  The settings one sensor gets (resolved from the patterns)
typedef struct {
    long stuck;             //  Points unchanged that fire, 0 = off
    double stuck_tolerance; //  |change| at most this counts as unchanged
    double gap_factor;      //  Interval multiple that fires, 0 = off
    bool has_low;           //  low is set
    double low;             //  Lowest allowed value
    bool has_high;          //  high is set
    double high;            //  Highest allowed value
} lw_rule_t;

//  Per-sensor state, embedded in the caller's sensor state (no
//  allocation); lw_rule_state_init before use
typedef struct {
    lw_rule_t rule;       //  The sensor's settings
    bool seen;            //  A reading was checked
    double anchor;        //  Stuck: first value of the current run
    long run;             //  Stuck: points in the current run
    long max_run;         //  Stuck: longest run that did not fire
    uint64_t changes;     //  Stuck: changed steps seen
    bool run_fired;       //  Stuck: the current run fired
    int64_t last_time;    //  Gap: newest reading's time
    lw_interval_t interval; //  Gap: usual interval (lw_interval.h)
    uint32_t mask;        //  Episode: detectors that fired (LW_RULE_*,
                          //  0x100 the statistical one; top bit: open)
    int64_t gap_from;     //  Episode: start of a gap that opened it, 0 none
    double stat_score;    //  Statistical score of the last item stepped
    uint32_t fired;       //  Rules that fired on the last item stepped
} lw_rule_state_t;

typedef struct _lw_rules_t lw_rules_t;

//  Creates an empty rule set. Returns it (caller owns) or NULL.
lw_rules_t *
    lw_rules_new (void);
void
    lw_rules_destroy (lw_rules_t **self_p);
//  Reads every child of `path` (e.g. "scorer/rule") and adds it. Returns
//  0, or -1 after logging every bad key (the set is then partial).
int
    lw_rules_load (lw_rules_t *self, zconfig_t *cfg, const char *path);
//  Adds a rule: a pattern and the settings it names: stuck (with its
//  tolerance) when `names` has LW_RULE_STUCK, gap_factor when it has
//  LW_RULE_GAP, low and high when rule->has_low / has_high. Returns 0, or
//  -1 when the set is full or the name or pattern too long.
int
    lw_rules_add (lw_rules_t *self, const char *name, const char *pattern,
                  uint32_t names, const lw_rule_t *rule);
//  Number of rules
size_t
    lw_rules_size (lw_rules_t *self);
//  Resolves the settings of a sensor key (all off when nothing matches)
void
    lw_rules_resolve (lw_rules_t *self, const char *key, lw_rule_t *out);

//  Starts a sensor's state with its settings
void
    lw_rule_state_init (lw_rule_state_t *state, const lw_rule_t *rule);
//  Checks one reading (time, value, quality) and learns from it. Returns
//  the LW_RULE_* bits that fired; *gap_from is the previous reading's
//  time when the gap rule fired. No allocation.
uint32_t
    lw_rule_check (lw_rule_state_t *state, const lw_item_t *item,
                   int64_t *gap_from);
//  A gap event from lw-ingest (LW_MSG_GAP, forwarded by lw-features):
//  the sensor sent nothing between last_time and `time` (a silence it is
//  still in, or one the reading at `time` ended). The sensor's own gap
//  rule decides: with gap_factor 0 (no rule names it for this sensor), or
//  once it has learned the usual interval, a silence not longer than
//  gap_factor x it, the event is not alerted on (returns -1). Else opens
//  or joins the sensor's episode with one point of score 1 at `time`
//  carrying `value` (the last value seen), names "gap" and opens at
//  last_time, as the gap rule does; the rule firing again on the reading
//  after the silence joins the same episode, so one silence gives one
//  alert. The episode closes as usual once readings come back
//  (close_after points below close_threshold). Learns nothing from the
//  event. Returns the episode's change (0, LW_ALERT_*), or -1.
int
    lw_rules_gap (lw_rule_state_t *state, lw_episode_t *episode,
                  const lw_detect_cfg_t *cfg, int64_t last_time, int64_t time,
                  double value, const char *detector, lw_alert_t *alert);
//  The scorer's step after lw_detector_score: checks the rules, raises
//  item->score to 1 when one fired, runs the episode and names the
//  detectors that fired during the episode in *alert (the statistical
//  `detector` first). Returns the episode's change (0, LW_ALERT_*).
//  episode may be NULL (wide-file columns): then only the rules run.
int
    lw_rules_step (lw_rule_state_t *state, lw_episode_t *episode,
                   const lw_detect_cfg_t *cfg, lw_item_t *item,
                   const char *detector, lw_alert_t *alert);

void
    lw_rules_test (bool verbose);

#endif
