/*  =========================================================================
    sim_peer.c - peer groups on the simulator: one machine of eight drifts

    Copyright (c) the linewatch authors. MIT license.

    Eight identical machines (the simulator's `identical` option: sensor j
    of every machine has the same level, sigma and daily patterns), no
    injected faults; machine 3 drifts away slowly (2 sigma per hour from
    hour 2). Every reading goes through the live calls (lw_extract_update
    as lw-features; lw_detector_score and lw_rules_step with the episode
    as lw-scorer), and the members of the peer group "line1/m*" + "/s01" through
    lw_peer as the scorer that owns the group's partition does. The test
    asserts that the drifting sensor's own-history detector opens no more
    alerts during the drift than a healthy member's does (it does not see
    the drift), that its peer score opens one within two hours of drift,
    and that no other member raises a peer alert. -v lists the own
    alerts.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_cfg.h"
#include "lw_detect.h"
#include "lw_peer.h"
#include "lw_rules.h"
#include "lw_sim.h"
#include "lw_util.h"

#define S_MACHINES 8
#define S_SENSORS 2
#define S_HOURS 5
#define S_DRIFT_MACHINE 3
#define S_DRIFT_START_H 2

//  What the peer callback saw
typedef struct {
    int opens_drifter;      //  Peer OPENs of the drifting member
    int opens_others;       //  Peer OPENs of the others
    int64_t first_open;     //  Event time of the drifter's first, 0 = none
    double max_other;       //  Highest peer score of the others
    int64_t max_other_time; //  Its time
} s_seen_t;

//  --------------------------------------------------------------------------
//  Peer callback

static void
s_peer_fn (const lw_item_t *item, int change, lw_alert_t *alert, void *arg)
{
    s_seen_t *seen = (s_seen_t *)arg;
    bool drifter = streq (item->sensor, "line1/m003/s01");
    if (!drifter && item->score > seen->max_other) {
        seen->max_other = item->score;
        seen->max_other_time = item->time;
    }
    if (change != LW_ALERT_OPEN)
        return;
    assert (streq (alert->detectors[0], LW_DETECTOR_PEER));
    if (drifter) {
        seen->opens_drifter++;
        if (!seen->first_open)
            seen->first_open = alert->opened;
    }
    else
        seen->opens_others++;
}

//  --------------------------------------------------------------------------
//  The test; -v lists the own-history alerts. Asserts on failure.

int
main (int argc, char **argv)
{
    bool verbose = argc > 1 && streq (argv[1], "-v");
    zsys_init ();
    zconfig_t *config = lw_cfg_load (LW_DEFAULT_CONFIG);
    assert (config);
    lw_detect_cfg_t detect;
    int rc = lw_detect_cfg_load (config, &detect);
    assert (rc == 0);
    lw_rules_t *rules = lw_rules_new ();
    assert (rules && lw_rules_load (rules, config, "scorer/rule") == 0);
    lw_peers_t *peers = lw_peers_new ();
    assert (peers);
    int group = lw_peers_add (peers, "spindles", "line1/m*/s01", 0, 0.05, 6);
    assert (group == 0);
    lw_peer_t *peer = lw_peer_new (&detect, peers, 0);
    assert (peer);

    int64_t start = 1700000000LL * LW_NS_PER_SEC;
    int64_t drift_start = start + S_DRIFT_START_H * 3600 * LW_NS_PER_SEC;
    lw_sim_config_t sim_cfg = {.line = "line1",
                               .machines = S_MACHINES,
                               .sensors = S_SENSORS,
                               .interval = LW_NS_PER_SEC,
                               .faults = 0,
                               .seed = 3,
                               .start = start,
                               .identical = true,
                               .drift_machine = S_DRIFT_MACHINE,
                               .drift_rate = 2,
                               .drift_start = drift_start};
    lw_sim_t *sim = lw_sim_new (&sim_cfg);
    assert (sim);
    size_t nsensors = lw_sim_sensors (sim);
    lw_extract_t *extract[S_MACHINES * S_SENSORS];
    lw_detector_t *detector[S_MACHINES * S_SENSORS];
    lw_episode_t *episode[S_MACHINES * S_SENSORS];
    lw_rule_state_t rule_state[S_MACHINES * S_SENSORS];
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    for (size_t index = 0; index < nsensors; index++) {
        const char *key = lw_sim_key (sim, index);
        extract[index] = lw_extract_new (&detect);
        detector[index] = lw_detector_new (&detect);
        episode[index] = lw_episode_new (&detect, key);
        assert (extract[index] && detector[index] && episode[index]);
        lw_rule_t rule;
        lw_rules_resolve (rules, key, &rule);
        lw_rule_state_init (&rule_state[index], &rule);
    }
    size_t drifter = (S_DRIFT_MACHINE - 1) * S_SENSORS;
    assert (streq (lw_sim_key (sim, drifter), "line1/m003/s01"));

    s_seen_t seen = {0};
    int own_opens[S_MACHINES] = {0};
    double own_max_drifter = 0;
    int64_t end = start + S_HOURS * 3600 * LW_NS_PER_SEC;
    lw_sim_reading_t reading;
    while (true) {
        lw_sim_generate (sim, &reading, 1);
        if (reading.time >= end)
            break;
        size_t index = reading.sensor;
        const char *key = lw_sim_key (sim, index);
        lw_item_t item;
        memset (&item, 0, sizeof (item));
        item.sensor = key;
        item.time = reading.time;
        item.value = reading.value;
        lw_extract_update (extract[index], &item);
        //  The copy lw-features publishes under the group's partition
        lw_item_t copy = item;
        copy.quality |= LW_QUALITY_PEER;
        lw_detector_score (detector[index], &item);
        int change =
            lw_rules_step (&rule_state[index], episode[index], &detect, &item,
                           lw_detector_name (detector[index]), &alert);
        if (change == LW_ALERT_OPEN && verbose)
            printf ("   own alert %s at %.2f h score %.3f by %s\n", key,
                    (double)(alert.opened - start) / 3600e9, alert.score,
                    alert.detectors[0]);
        if (reading.time >= drift_start && index % S_SENSORS == 0) {
            //  The group's members during the drift: the drifter's own
            //  detector must see no more than its healthy peers' see
            if (change == LW_ALERT_OPEN)
                own_opens[index / S_SENSORS]++;
            if (index == drifter && item.score > own_max_drifter)
                own_max_drifter = item.score;
        }
        if (lw_peers_match (peers, key) == group)
            lw_peer_add (peer, key, &copy, s_peer_fn, &seen);
    }
    lw_peer_flush (peer, s_peer_fn, &seen);
    int own_opens_drifter = own_opens[S_DRIFT_MACHINE - 1];
    int own_opens_others = 0;
    for (int machine = 0; machine < S_MACHINES; machine++)
        if (machine != S_DRIFT_MACHINE - 1 &&
            own_opens[machine] > own_opens_others)
            own_opens_others = own_opens[machine];
    double after =
        seen.first_open ? (double)(seen.first_open - drift_start) / 3600e9 : -1;
    printf ("sim_peer: 8 identical machines, m003 drifts 2 sigma/h from "
            "hour %d; own-history during the drift: %d alerts on m003/s01 "
            "(max score %.3f), at most %d on a healthy member; peer: %d "
            "alerts on m003/s01, first %.2f h into the drift; other members: "
            "%d peer alerts (max peer score %.3f)\n",
            S_DRIFT_START_H, own_opens_drifter, own_max_drifter,
            own_opens_others, seen.opens_drifter, after, seen.opens_others,
            seen.max_other);
    if (verbose)
        printf ("   others' max peer score at %.2f h\n",
                (double)(seen.max_other_time - start) / 3600e9);
    assert (own_opens_drifter <= own_opens_others);
    assert (seen.opens_drifter >= 1);
    assert (after > 0 && after < 2.0);
    assert (seen.opens_others == 0);
    for (size_t index = 0; index < nsensors; index++) {
        lw_extract_destroy (&extract[index]);
        lw_detector_destroy (&detector[index]);
        lw_episode_destroy (&episode[index]);
    }
    lw_peer_destroy (&peer);
    lw_peers_destroy (&peers);
    lw_rules_destroy (&rules);
    lw_sim_destroy (&sim);
    zconfig_destroy (&config);
    printf ("OK\n");
    return 0;
}
