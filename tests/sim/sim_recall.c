/*  =========================================================================
    sim_recall.c - recall per fault type and false alerts on the simulator

    Copyright (c) the linewatch authors. MIT license.

    The fixed scenario of issue 3: 100 sensors (10 machines x 10), 7
    simulated days, the simulator's faults (sizes relative to each
    sensor's noise sigma: spike 6, level shift 4, drift to 4 over one hour,
    stuck for 60 samples, noise burst of 4 for 60 samples, dropout of 10
    intervals). Every reading goes in-process through the calls the live
    pipeline makes, in its order (lw_extract_update as lw-features,
    lw_detector_score, lw_rules_step with the episode as lw-scorer, then
    the machine's row, lw_machine), with the default configuration
    (config/linewatch.cfg, or --config). Alerts are matched to the ground
    truth:
      detected      a sensor alert of the faulty sensor opens between one
                    interval before the fault's first sample and its last
                    sample (a dropout's gap alert opens at the reading
                    before the silence)
      fault-related an alert that opens after the fault, within --grace
                    intervals of its end (a level shift's return, say):
                    neither a detection nor a false alert
      false         every other alert
    It prints recall per type and false alerts per sensor-day, and the
    same for the machine-level alerts (a fault counts for the machine when
    an alert of its machine opens in the same window with the faulty
    sensor as its top contributor; false alerts per machine-day).

    usage: sim_recall [--days D] [--interval S] [--faults R] [--seed N]
                      [--grace G] [--config PATH] [--check [TYPES]]
    --check exits 1 unless every recall >= 0.9 and false alerts per
    sensor-day <= 1 (the target); --check stuck,dropout checks the
    recall of those types only (the ctest sim_recall_rules does), and
    --check drift:0.5,spike checks drift against 0.5 instead of 0.9. A
    name that is no fault type exits 2 before the run.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_cfg.h"
#include "lw_detect.h"
#include "lw_machine.h"
#include "lw_rules.h"
#include "lw_sim.h"
#include "lw_util.h"

#define S_MACHINES 10
#define S_SENSORS 10

//  One sensor's live state, as lw-features and lw-scorer keep it
typedef struct {
    lw_extract_t *extract;   //  lw-features
    lw_detector_t *detector; //  lw-scorer
    lw_episode_t *episode;
    lw_rule_state_t rules;
    lw_alert_t alert;
} s_sensor_t;

//  One alert opened
typedef struct {
    uint32_t sensor;    //  Sensor index, or machine index for machines
    int64_t opened;     //  Its opened time
    uint32_t detectors; //  Sensors: bits 1 statistical, 2 stuck, 4 gap,
                        //  8 limit; machines: top sensor number (1..)
    int matched;        //  0 false, 1 detection, 2 fault-related
} s_alert_t;

//  A growing array
typedef struct {
    void *items;
    size_t count;
    size_t capacity;
    size_t size;
} s_array_t;

//  --------------------------------------------------------------------------
//  Appends an item to an array; aborts when out of memory (a bench)

static void *
s_append (s_array_t *array)
{
    if (array->count == array->capacity) {
        array->capacity = array->capacity ? 2 * array->capacity : 1024;
        array->items = realloc (array->items, array->capacity * array->size);
        assert (array->items);
    }
    return (char *)array->items + array->size * array->count++;
}

//  --------------------------------------------------------------------------
//  Truth callback: keeps every fault

static void
s_truth (const lw_sim_fault_t *fault, void *arg)
{
    *(lw_sim_fault_t *)s_append ((s_array_t *)arg) = *fault;
}

//  --------------------------------------------------------------------------
//  Detector bits of an alert

static uint32_t
s_detectors (const lw_alert_t *alert)
{
    uint32_t bits = 0;
    for (uint32_t index = 0; index < alert->ndetectors; index++) {
        const char *name = alert->detectors[index];
        bits |= streq (name, LW_DETECTOR_STUCK)   ? 2
                : streq (name, LW_DETECTOR_GAP)   ? 4
                : streq (name, LW_DETECTOR_LIMIT) ? 8
                : strncmp (name, "top:", 4) == 0  ? 0
                                                  : 1;
    }
    return bits;
}

//  --------------------------------------------------------------------------
//  Parses a numeric option value or exits

static double
s_number (const char *text, double min, double max, const char *option)
{
    double value;
    if (!text || lw_parse_double (text, min, max, &value)) {
        fprintf (stderr, "sim_recall: %s needs a number in [%g, %g]\n", option,
                 min, max);
        exit (2);
    }
    return value;
}

//  --------------------------------------------------------------------------
//  Parses --check's list (comma-separated TYPE or TYPE:MIN; NULL = every
//  type at 0.9) into minimum[type], -1 for a type not checked. Exits 2 on
//  a name that is no fault type or a bad minimum, before the run.

static void
s_parse_check (const char *list, double *minimum)
{
    for (int type = 1; type <= LW_FAULT_TYPES; type++)
        minimum[type] = list ? -1 : 0.9;
    while (list && *list) {
        size_t length = strcspn (list, ",");
        char item[64];
        if (length >= sizeof (item)) {
            fprintf (stderr, "sim_recall: --check item too long\n");
            exit (2);
        }
        snprintf (item, sizeof (item), "%.*s", (int)length, list);
        char *colon = strchr (item, ':');
        if (colon)
            *colon = 0;
        int found = 0;
        for (int type = 1; type <= LW_FAULT_TYPES && !found; type++)
            if (streq (item, lw_sim_fault_name (type)))
                found = type;
        if (!found) {
            fprintf (stderr, "sim_recall: --check: '%s' is no fault type\n",
                     item);
            exit (2);
        }
        minimum[found] =
            colon ? s_number (colon + 1, 0, 1, "--check TYPE:MIN") : 0.9;
        list += length;
        if (*list == ',')
            list++;
    }
}

//  --------------------------------------------------------------------------
//  Runs the scenario and prints the table; exit 0, 1 (--check failed) or 2
//  (bad usage or config)

int
main (int argc, char **argv)
{
    double days = 7, interval_s = 60, rate = 0.05, grace = 60;
    uint64_t seed = 1;
    const char *config_path = LW_DEFAULT_CONFIG;
    bool check = false;
    const char *check_types = NULL; //  Comma-separated, NULL = all
    double minimum[LW_FAULT_TYPES + 1]; //  Recall checked per type, -1 = none
    s_parse_check (NULL, minimum);
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv[argn];
        const char *value = argn + 1 < argc ? argv[argn + 1] : NULL;
        if (streq (arg, "--days"))
            days = s_number (value, 0.01, 365, arg), argn++;
        else if (streq (arg, "--interval"))
            interval_s = s_number (value, 0.001, 3600, arg), argn++;
        else if (streq (arg, "--faults"))
            rate = s_number (value, 0, 100, arg), argn++;
        else if (streq (arg, "--grace"))
            grace = s_number (value, 0, 1e6, arg), argn++;
        else if (streq (arg, "--seed"))
            seed = (uint64_t)s_number (value, 0, 4294967295.0, arg), argn++;
        else if (streq (arg, "--config") && value)
            config_path = argv[++argn];
        else if (streq (arg, "--check")) {
            check = true;
            if (value && value[0] != '-')
                check_types = argv[++argn];
            s_parse_check (check_types, minimum);
        }
        else {
            fprintf (stderr,
                     "usage: sim_recall [--days D] [--interval S] [--faults "
                     "R] [--seed N] [--grace G] [--config PATH] [--check "
                     "[TYPES]]\n");
            return 2;
        }
    }
    zsys_init ();
    zconfig_t *config = lw_cfg_load (config_path);
    lw_detect_cfg_t detect;
    lw_machine_cfg_t machine_cfg;
    lw_rules_t *rules = lw_rules_new ();
    assert (rules);
    if (!config || lw_detect_cfg_load (config, &detect) ||
        lw_machine_cfg_load (config, &machine_cfg) ||
        lw_rules_load (rules, config, "scorer/rule")) {
        fprintf (stderr, "sim_recall: bad config %s\n", config_path);
        return 2;
    }
    int64_t interval = (int64_t)llround (interval_s * 1e9);
    lw_sim_config_t sim_cfg = {.line = "line1",
                               .machines = S_MACHINES,
                               .sensors = S_SENSORS,
                               .interval = interval,
                               .faults = rate,
                               .seed = seed,
                               .start = 1700000000LL * LW_NS_PER_SEC};
    lw_sim_t *sim = lw_sim_new (&sim_cfg);
    assert (sim);
    s_array_t faults = {.size = sizeof (lw_sim_fault_t)};
    s_array_t alerts = {.size = sizeof (s_alert_t)};
    s_array_t machine_alerts = {.size = sizeof (s_alert_t)};
    lw_sim_set_truth_fn (sim, s_truth, &faults);
    size_t nsensors = lw_sim_sensors (sim);
    s_sensor_t *sensors = (s_sensor_t *)calloc (nsensors, sizeof (s_sensor_t));
    lw_machine_t *machines[S_MACHINES];
    assert (sensors);
    for (size_t index = 0; index < nsensors; index++) {
        s_sensor_t *sensor = &sensors[index];
        const char *key = lw_sim_key (sim, index);
        sensor->extract = lw_extract_new (&detect);
        sensor->detector = lw_detector_new (&detect);
        sensor->episode = lw_episode_new (&detect, key);
        assert (sensor->extract && sensor->detector && sensor->episode);
        lw_rule_t rule;
        lw_rules_resolve (rules, key, &rule);
        lw_rule_state_init (&sensor->rules, &rule);
    }
    for (int machine = 0; machine < S_MACHINES; machine++) {
        char key[32];
        snprintf (key, sizeof (key), "line1/m%03d", machine + 1);
        machines[machine] = lw_machine_new (&detect, &machine_cfg, key, 2);
        assert (machines[machine]);
    }

    //  The run, reading by reading in the simulator's order (tick by
    //  tick, sensor by sensor), as lw-scorer sees them
    int64_t ticks = (int64_t)(days * 86400e9 / (double)interval);
    int64_t end_time = sim_cfg.start + ticks * interval;
    enum { CHUNK = 4096 };
    lw_sim_reading_t *readings =
        (lw_sim_reading_t *)calloc (CHUNK, sizeof (lw_sim_reading_t));
    assert (readings);
    int64_t started = zclock_usecs ();
    uint64_t points = 0;
    lw_alert_t machine_alert;
    memset (&machine_alert, 0, sizeof (machine_alert));
    bool done = false;
    while (!done) {
        size_t count = lw_sim_generate (sim, readings, CHUNK);
        for (size_t at = 0; at < count && !done; at++) {
            lw_sim_reading_t *reading = &readings[at];
            if (reading->time >= end_time) {
                done = true;
                break;
            }
            s_sensor_t *sensor = &sensors[reading->sensor];
            const char *key = lw_sim_key (sim, reading->sensor);
            lw_item_t item;
            memset (&item, 0, sizeof (item));
            item.sensor = key;
            item.time = reading->time;
            item.value = reading->value;
            lw_extract_update (sensor->extract, &item);
            item.flags = 0;
            lw_detector_score (sensor->detector, &item);
            int change = lw_rules_step (
                &sensor->rules, sensor->episode, &detect, &item,
                lw_detector_name (sensor->detector), &sensor->alert);
            points++;
            if (change == LW_ALERT_OPEN) {
                s_alert_t *alert = (s_alert_t *)s_append (&alerts);
                alert->sensor = reading->sensor;
                alert->opened = sensor->alert.opened;
                alert->detectors = s_detectors (&sensor->alert);
                alert->matched = 0;
            }
            //  The machine's row, closed as lw-scorer closes it
            uint32_t machine = reading->sensor / S_SENSORS;
            lw_machine_t *state = machines[machine];
            for (int pass = 0; pass < 2; pass++) {
                lw_item_t row;
                bool close = pass == 0 ? lw_machine_due (state, item.time)
                                       : lw_machine_complete (state);
                if (close && lw_machine_close (state, &row, &machine_alert) ==
                                 LW_ALERT_OPEN) {
                    s_alert_t *alert = (s_alert_t *)s_append (&machine_alerts);
                    alert->sensor = machine;
                    alert->opened = machine_alert.opened;
                    alert->matched = 0;
                    //  The top contributor ("top:sNN"), 0 when none
                    alert->detectors = 0;
                    long top;
                    if (machine_alert.ndetectors > 1 &&
                        strncmp (machine_alert.detectors[1], "top:s", 5) == 0 &&
                        lw_parse_long (machine_alert.detectors[1] + 5, 0,
                                       UINT32_MAX, &top) == 0)
                        alert->detectors = (uint32_t)top;
                }
                if (pass == 0)
                    lw_machine_add (state, key, &item);
            }
        }
    }
    double elapsed = (double)(zclock_usecs () - started) / 1e6;

    //  Matching, per fault: detections; per alert: related or false
    size_t per_type[LW_FAULT_TYPES + 1] = {0};
    size_t found[LW_FAULT_TYPES + 1] = {0};
    size_t by_rule[LW_FAULT_TYPES + 1] = {0};
    size_t by_machine[LW_FAULT_TYPES + 1] = {0};
    lw_sim_fault_t *truth = (lw_sim_fault_t *)faults.items;
    s_alert_t *opened = (s_alert_t *)alerts.items;
    s_alert_t *machine_opened = (s_alert_t *)machine_alerts.items;
    int64_t slack = (int64_t)(grace * (double)interval);
    size_t counted_faults = 0;
    for (size_t index = 0; index < faults.count; index++) {
        lw_sim_fault_t *fault = &truth[index];
        if (fault->end >= end_time)
            continue; //  Ended after the run
        counted_faults++;
        per_type[fault->type]++;
        bool detected = false;
        bool rule_only = true;
        for (size_t at = 0; at < alerts.count; at++) {
            s_alert_t *alert = &opened[at];
            if (alert->sensor != fault->sensor)
                continue;
            if (alert->opened >= fault->start - interval &&
                alert->opened <= fault->end) {
                alert->matched = 1;
                if (!detected && (alert->detectors & 1))
                    rule_only = false;
                detected = true;
            }
            else if (alert->opened > fault->end &&
                     alert->opened <= fault->end + slack && !alert->matched)
                alert->matched = 2;
        }
        bool machine_detected = false;
        for (size_t at = 0; at < machine_alerts.count; at++) {
            s_alert_t *alert = &machine_opened[at];
            if (alert->sensor == fault->sensor / S_SENSORS &&
                alert->opened >= fault->start - interval &&
                alert->opened <= fault->end + slack) {
                alert->matched = 1;
                //  A detection when the faulty sensor led the machine's
                //  score (another sensor's fault in the same window is a
                //  coincidence, not a detection)
                if (alert->opened <= fault->end &&
                    alert->detectors == fault->sensor % S_SENSORS + 1)
                    machine_detected = true;
            }
        }
        if (machine_detected)
            by_machine[fault->type]++;
        if (detected) {
            found[fault->type]++;
            if (rule_only)
                by_rule[fault->type]++;
        }
    }
    size_t false_alerts = 0, related = 0, false_machine = 0;
    for (size_t at = 0; at < alerts.count; at++) {
        false_alerts += opened[at].matched == 0;
        related += opened[at].matched == 2;
    }
    for (size_t at = 0; at < machine_alerts.count; at++)
        false_machine += machine_opened[at].matched == 0;

    printf ("sim_recall: %zu sensors (%d machines x %d), %.2f days at %.3g s "
            "(%" PRId64 " ticks), faults %.3g per sensor-hour, seed %" PRIu64
            ", config %s\n",
            nsensors, S_MACHINES, S_SENSORS, days, interval_s, ticks, rate,
            seed, config_path);
    printf ("  %" PRIu64 " readings scored in %.2f s (%.0f readings/s)\n",
            points, elapsed, (double)points / elapsed);
    printf ("  %-12s %7s %9s %7s %11s %15s\n", "fault", "faults", "detected",
            "recall", "rules only", "machine recall");
    bool ok = true;
    for (int type = 1; type <= LW_FAULT_TYPES; type++) {
        double recall =
            per_type[type] ? (double)found[type] / (double)per_type[type] : 0;
        double machine_recall =
            per_type[type] ? (double)by_machine[type] / (double)per_type[type]
                           : 0;
        printf ("  %-12s %7zu %9zu %7.3f %11zu %15.3f\n",
                lw_sim_fault_name (type), per_type[type], found[type], recall,
                by_rule[type], machine_recall);
        if (minimum[type] >= 0 && recall < minimum[type])
            ok = false;
    }
    double sensor_days = (double)nsensors * days;
    double machine_days = (double)S_MACHINES * days;
    printf ("  faults %zu; sensor alerts %zu: false %zu = %.3f per "
            "sensor-day, fault-related after the end %zu\n",
            counted_faults, alerts.count, false_alerts,
            (double)false_alerts / sensor_days, related);
    printf ("  machine alerts %zu: false %zu = %.3f per machine-day\n",
            machine_alerts.count, false_machine,
            (double)false_machine / machine_days);
    if ((double)false_alerts / sensor_days > 1.0)
        ok = false;
    printf ("  target (recall >= 0.9 per type%s%s, <= 1 false alert per "
            "sensor-day): %s\n",
            check_types ? " of " : "", check_types ? check_types : "",
            ok ? "met" : "NOT met");

    for (size_t index = 0; index < nsensors; index++) {
        lw_extract_destroy (&sensors[index].extract);
        lw_detector_destroy (&sensors[index].detector);
        lw_episode_destroy (&sensors[index].episode);
    }
    for (int machine = 0; machine < S_MACHINES; machine++)
        lw_machine_destroy (&machines[machine]);
    free (sensors);
    free (readings);
    free (faults.items);
    free (alerts.items);
    free (machine_alerts.items);
    lw_sim_destroy (&sim);
    lw_rules_destroy (&rules);
    zconfig_destroy (&config);
    return check && !ok ? 1 : 0;
}
