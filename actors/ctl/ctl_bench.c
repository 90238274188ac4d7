/*  =========================================================================
    ctl_bench.c - `lwctl bench`: end-to-end throughput, latency and loss

    Copyright (c) the linewatch authors. MIT license.

    Starts a private node under a temporary home with the default config
    (or -c CONFIG), its simulator as the only load, supervises it like
    `lwctl up`, and measures over --seconds S after a warm-up:
      readings_per_s   readings scored (lw-scorer "out") per second
      latency_*_ms     ingest -> score, from the scorers' histograms
      lost             sequence gaps + drops of every process
    Counters come from the members' heartbeats via the broker's STATUS,
    so the bench measures the node exactly as `lwctl status` sees it.
    The heartbeat is set to 100 ms so the counters are fresh, with 15
    misses before a member counts as dead (the default node's 1.5 s);
    nothing on the data path depends on them.
    =========================================================================
*/

#include "lw_ctl.h"
#include "lw_msg.h"
#include "lw_stats.h"
#include "lw_super.h"
#include "lw_util.h"

#include <ftw.h>
#include <unistd.h>

#define LW_BENCH_START_TIMEOUT 30000    //  ms for the node to start moving
#define LW_BENCH_WARMUP 2000            //  ms before measuring
#define LW_BENCH_HEARTBEAT "100"        //  ms between counter updates
//  Missed heartbeats before a member counts as dead: 15 x 100 ms is the
//  default node's 1.5 s (3 x 500 ms). With 3 (300 ms), busy members were
//  taken for dead at --max and their partitions moved in the middle of
//  the measurement
#define LW_BENCH_MISSES "15"

#define LW_BENCH_MEMBERS 64               //  Members a bench node tracks

//  One member's counters at one moment
typedef struct {
    char group[LW_NAME_MAX + 1];
    char name[LW_NAME_MAX + 1];
    int64_t pid;
    uint64_t ingested;                          //  ingest "out"
    uint64_t scored;                            //  scorer "out"
    uint64_t lost;                              //  gaps + drop_*
    uint64_t latency[LW_LATENCY_BUCKETS];       //  scorer histogram
} member_t;

//  Every member of a node at one moment. Totals are taken member by
//  member (see s_delta): a member missing from one answer, or restarted
//  with fresh counters, must not turn a difference of sums negative.
typedef struct {
    int64_t at;                                 //  Monotonic ns
    size_t members;                             //  Members listed
    member_t member[LW_BENCH_MEMBERS];
} snapshot_t;

//  What happened between two snapshots
typedef struct {
    uint64_t ingested;
    uint64_t scored;
    uint64_t lost;
    uint64_t latency[LW_LATENCY_BUCKETS];
} delta_t;

//  --------------------------------------------------------------------------
//  Asks the broker for every member's counters and sums them. Returns 0,
//  or -1 when the broker does not answer.

static int
s_snapshot (lw_ctl_t *ctl, snapshot_t *snapshot)
{
    memset (snapshot, 0, sizeof (*snapshot));
    lw_ctrl_t *ctrl = (lw_ctrl_t *) zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    ctrl->kind = LW_CTRL_STATUS;
    zmsg_t *request = zmsg_new ();
    zframe_t *frame = lw_msg_ctrl_encode (ctrl);
    assert (frame);
    zmsg_append (request, &frame);
    zmsg_t *reply = lw_ctl_call (ctl, ctl->node.coordinator, &request);
    snapshot->at = lw_time_mono ();
    int rc = -1;
    if (!reply)
        goto cleanup;
    frame = zmsg_first (reply);
    lw_reply_t header;
    if (!frame
        || lw_msg_reply_decode (zframe_data (frame), zframe_size (frame),
                                &header)
        || header.status != 0)
        goto cleanup;
    while ((frame = zmsg_next (reply))) {
        //  A member listed as down still counts with its last report:
        //  dropping it would lose its work in the window
        if (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                ctrl))
            continue;
        if (snapshot->members == LW_BENCH_MEMBERS)
            break;
        member_t *member = &snapshot->member[snapshot->members++];
        snprintf (member->group, sizeof (member->group), "%s", ctrl->group);
        snprintf (member->name, sizeof (member->name), "%s", ctrl->name);
        member->pid = ctrl->pid;
        for (uint32_t index = 0; index < ctrl->nstats; index++) {
            const char *name = ctrl->stats[index].name;
            uint64_t value = ctrl->stats[index].value;
            if (streq (name, "gaps") || strncmp (name, "drop_", 5) == 0)
                member->lost += value;
            else if (streq (ctrl->group, "ingest") && streq (name, "out"))
                member->ingested += value;
            else if (streq (ctrl->group, "scorer")) {
                if (streq (name, "out"))
                    member->scored += value;
                else if (strncmp (name, "lat_", 4) == 0) {
                    long bucket;
                    if (lw_parse_long (name + 4, 0, LW_LATENCY_BUCKETS - 1,
                                       &bucket) == 0)
                        member->latency[bucket] += value;
                }
            }
        }
    }
    rc = 0;
cleanup:
    zmsg_destroy (&reply);
    free (ctrl);
    return rc;
}

//  --------------------------------------------------------------------------
//  A counter's growth; a counter that went down was reset by a restart,
//  so all of its new value is growth.

static uint64_t
s_growth (uint64_t before, uint64_t after)
{
    return after >= before ? after - before : after;
}

//  --------------------------------------------------------------------------
//  Sums what every member of end did since start. A member is the same
//  one when group, name and pid match; one that is new at the end counts
//  from zero. Returns how many members of start are missing at the end
//  (their work in the window is not counted).

static size_t
s_delta (const snapshot_t *start, const snapshot_t *end, delta_t *delta)
{
    memset (delta, 0, sizeof (*delta));
    size_t matched = 0;
    for (size_t index = 0; index < end->members; index++) {
        const member_t *after = &end->member[index];
        static const member_t zero;
        const member_t *before = &zero;
        for (size_t other = 0; other < start->members; other++) {
            const member_t *candidate = &start->member[other];
            if (candidate->pid == after->pid
                && streq (candidate->group, after->group)
                && streq (candidate->name, after->name)) {
                before = candidate;
                matched++;
                break;
            }
        }
        delta->ingested += s_growth (before->ingested, after->ingested);
        delta->scored += s_growth (before->scored, after->scored);
        delta->lost += s_growth (before->lost, after->lost);
        for (int bucket = 0; bucket < LW_LATENCY_BUCKETS; bucket++)
            delta->latency[bucket] += s_growth (before->latency[bucket],
                                                after->latency[bucket]);
    }
    return start->members - matched;
}

//  --------------------------------------------------------------------------
//  Readings scored so far by every scorer of a snapshot

static uint64_t
s_scored (const snapshot_t *snapshot)
{
    uint64_t scored = 0;
    for (size_t index = 0; index < snapshot->members; index++)
        scored += snapshot->member[index].scored;
    return scored;
}

static int
s_remove_entry (const char *path, const struct stat *info, int flag,
                struct FTW *ftw)
{
    (void) info;
    (void) flag;
    (void) ftw;
    return remove (path);
}

//  --------------------------------------------------------------------------
//  Runs the supervisor loop for ms milliseconds; returns 1 on Ctrl-C

static int
s_run_for (lw_super_t *super, int64_t ms)
{
    int64_t deadline = lw_time_mono () + ms * LW_NS_PER_MS;
    int64_t left;
    while ((left = (deadline - lw_time_mono ()) / LW_NS_PER_MS) > 0)
        if (lw_super_poll (super, left > 100 ? 100 : (int) left))
            return 1;
    return 0;
}

int
lw_ctl_bench (lw_ctl_t *ctl, int argc, char **argv)
{
    long rate = 0, seconds = 10, sensors = 1000;
    bool have_rate = false, have_max = false;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv[argn];
        const char *value = argn + 1 < argc ? argv[argn + 1] : NULL;
        if (streq (arg, "--max"))
            have_max = true;
        else if (streq (arg, "--rate") && value
                 && lw_parse_long (value, 1, 100000000, &rate) == 0) {
            have_rate = true;
            argn++;
        }
        else if (streq (arg, "--seconds") && value
                 && lw_parse_long (value, 1, 86400, &seconds) == 0)
            argn++;
        else if (streq (arg, "--sensors") && value
                 && lw_parse_long (value, 1, 10000000, &sensors) == 0)
            argn++;
        else {
            fprintf (stderr, "usage: lwctl bench [--rate N | --max] "
                             "[--seconds S] [--sensors N] [--json]\n"
                             "  --rate 1..1e8, --seconds 1..86400, "
                             "--sensors 1..1e7\n");
            return LW_CTL_USAGE;
        }
    }
    if (have_rate && have_max) {
        fprintf (stderr, "lwctl: give --rate N or --max, not both\n");
        return LW_CTL_USAGE;
    }
    if (!have_rate)
        rate = 0;               //  --max is the default

    //  A private node: temp home, config with the bench's load
    char home[] = "/tmp/lwbench-XXXXXX";
    if (!mkdtemp (home)) {
        fprintf (stderr, "lwctl: cannot make a temporary home: %s\n",
                 strerror (errno));
        return LW_CTL_FAIL;
    }
    const char *base = ctl->config_path ? ctl->config_path
                                        : LW_DEFAULT_CONFIG;
    zconfig_t *config = lw_cfg_load (base);
    lw_ctl_t bench = *ctl;
    int rc = LW_CTL_FAIL;
    lw_super_t *super = NULL;
    //  Snapshots are large (every member's latency histogram): heap
    snapshot_t *start = (snapshot_t *) zmalloc (sizeof (snapshot_t));
    snapshot_t *end = (snapshot_t *) zmalloc (sizeof (snapshot_t));
    assert (start && end);
    char *config_path = zsys_sprintf ("%s/linewatch.cfg", home);
    if (!config)
        goto cleanup;
    long per_machine = sensors < 10 ? sensors : 10;
    char text[32];
    zconfig_put (config, "common/heartbeat", LW_BENCH_HEARTBEAT);
    zconfig_put (config, "common/misses", LW_BENCH_MISSES);
    zconfig_put (config, "ingest/source/sim/type", "simulator");
    snprintf (text, sizeof (text), "%ld", sensors / per_machine);
    zconfig_put (config, "ingest/source/sim/machines", text);
    snprintf (text, sizeof (text), "%ld", per_machine);
    zconfig_put (config, "ingest/source/sim/sensors", text);
    snprintf (text, sizeof (text), "%ld", rate);
    zconfig_put (config, "ingest/source/sim/rate", text);
    if (zconfig_save (config, config_path)) {
        fprintf (stderr, "lwctl: cannot write %s\n", config_path);
        goto cleanup;
    }
    bench.config = config;
    bench.config_path = config_path;
    if (lw_node_load (config, home, &bench.node))
        goto cleanup;
    super = lw_super_new (&bench, config_path, home);
    if (!super || lw_super_start (super))
        goto cleanup;

    //  Wait until readings are flowing end to end
    int64_t deadline = lw_time_mono ()
                       + LW_BENCH_START_TIMEOUT * LW_NS_PER_MS;
    bench.timeout = 1000;
    while (true) {
        if (s_run_for (super, 100))
            goto cleanup;
        if (s_snapshot (&bench, start) == 0 && s_scored (start) > 0)
            break;
        if (lw_time_mono () > deadline) {
            fprintf (stderr, "lwctl: the bench node scored nothing within "
                             "%d s (logs: run lwctl up --home %s)\n",
                     LW_BENCH_START_TIMEOUT / 1000, home);
            goto cleanup;
        }
    }
    if (s_run_for (super, LW_BENCH_WARMUP) || s_snapshot (&bench, start)
        || s_run_for (super, seconds * 1000) || s_snapshot (&bench, end)) {
        fprintf (stderr, "lwctl: bench interrupted or node not answering\n");
        goto cleanup;
    }
    delta_t delta;
    size_t missing = s_delta (start, end, &delta);
    if (missing)
        fprintf (stderr, "lwctl: %zu process(es) restarted or left during "
                         "the run; their work before that is not counted\n",
                 missing);
    double elapsed = (double) (end->at - start->at) / LW_NS_PER_SEC;
    double scored_rate = (double) delta.scored / elapsed;
    double ingested_rate = (double) delta.ingested / elapsed;
    double p50 = (double) lw_stats_quantile (delta.latency, 0.50) / 1e6;
    double p99 = (double) lw_stats_quantile (delta.latency, 0.99) / 1e6;
    double p999 = (double) lw_stats_quantile (delta.latency, 0.999) / 1e6;
    uint64_t lost = delta.lost;
    if (ctl->json)
        printf ("{\"readings_per_s\":%.0f,\"ingested_per_s\":%.0f,"
                "\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,"
                "\"latency_p999_ms\":%.3f,\"lost\":%llu,\"seconds\":%.2f,"
                "\"sensors\":%ld,\"rate\":%ld,\"restarts\":%zu}\n",
                scored_rate, ingested_rate, p50, p99, p999,
                (unsigned long long) lost, elapsed, sensors, rate,
                lw_super_restarts (super));
    else
        printf ("bench: %ld sensors, %s, %.1f s measured\n"
                "  readings/s end to end  %.0f (ingested %.0f/s)\n"
                "  latency ingest->score  p50 %.3f ms  p99 %.3f ms  "
                "p99.9 %.3f ms\n"
                "  lost                   %llu (sequence gaps + drops)\n",
                sensors, rate ? "fixed rate" : "max rate", elapsed,
                scored_rate, ingested_rate, p50, p99, p999,
                (unsigned long long) lost);
    rc = LW_CTL_OK;

cleanup:
    free (start);
    free (end);
    lw_super_destroy (&super);
    zconfig_destroy (&config);
    zstr_free (&config_path);
    nftw (home, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
