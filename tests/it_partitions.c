/*  =========================================================================
    it_partitions.c - scorers split the partitions and take over on death

    Copyright (c) the linewatch authors. MIT license.

    Starts lw-broker and one lw-scorer on a temporary home and checks, with
    the member status the broker reports (each member's own view, from its
    heartbeats):
      - the scorer comes to own all P partitions;
      - a second scorer: within 2 s (issue 2) the two own disjoint halves
        covering all P;
      - the broker killed with SIGKILL and started again: the same split
        is rebuilt from the members' heartbeats, nobody loses anything;
      - one scorer killed with SIGKILL: within misses x heartbeat + 1 s the
        other owns all P.
    Deadlines come from the node config, so they hold under ASan on 2
    cores.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <signal.h>

#define JOIN_DEADLINE 2000   //  ms, from issue 2
#define START_DEADLINE 20000 //  ms for a process to come up (ASan)
#define STATUS_TIMEOUT 1000  //  ms per STATUS call

typedef struct {
    lw_testnode_t *node; //  The node under test
    uint32_t partitions; //  P
    pid_t first;         //  A scorer
    pid_t second;        //  Another scorer, or 0
    uint16_t first_low;  //  Lowest partition of the first
    uint64_t min_epoch;  //  Both must be past this epoch
    uint64_t epoch;      //  First's epoch at the last split
} probe_t;

//  --------------------------------------------------------------------------
//  Finds a scorer member by pid in a status list; NULL when absent

static lw_ctrl_t *
s_find (zlistx_t *members, pid_t pid)
{
    for (lw_ctrl_t *member = (lw_ctrl_t *)zlistx_first (members); member;
         member = (lw_ctrl_t *)zlistx_next (members))
        if (streq (member->group, "scorer") && member->pid == (int64_t)pid)
            return member;
    return NULL;
}

//  --------------------------------------------------------------------------
//  True when the first scorer says it owns every partition

static bool
s_first_owns_all (void *arg)
{
    probe_t *probe = (probe_t *)arg;
    zlistx_t *members = lw_test_members (probe->node, STATUS_TIMEOUT);
    if (!members)
        return false;
    lw_ctrl_t *first = s_find (members, probe->first);
    bool owns = first && first->npartitions == probe->partitions;
    zlistx_destroy (&members);
    return owns;
}

//  --------------------------------------------------------------------------
//  True when the two scorers own disjoint halves covering every partition

static bool
s_split (void *arg)
{
    probe_t *probe = (probe_t *)arg;
    zlistx_t *members = lw_test_members (probe->node, STATUS_TIMEOUT);
    if (!members)
        return false;
    lw_ctrl_t *first = s_find (members, probe->first);
    lw_ctrl_t *second = s_find (members, probe->second);
    bool split =
        first && second && first->epoch > probe->min_epoch &&
        second->epoch > probe->min_epoch &&
        first->npartitions + second->npartitions == probe->partitions &&
        first->npartitions >= probe->partitions / 2 &&
        second->npartitions >= probe->partitions / 2;
    if (split) {
        bool *seen = (bool *)calloc (probe->partitions, sizeof (bool));
        assert (seen);
        lw_ctrl_t *both[2] = {first, second};
        for (int which = 0; which < 2 && split; which++)
            for (uint32_t index = 0; index < both[which]->npartitions;
                 index++) {
                uint16_t partition = both[which]->partitions[index];
                if (partition >= probe->partitions || seen[partition])
                    split = false;
                else
                    seen[partition] = true;
            }
        free (seen);
        if (split) {
            probe->first_low = first->partitions[0];
            probe->epoch = first->epoch;
        }
    }
    zlistx_destroy (&members);
    return split;
}

//  --------------------------------------------------------------------------
//  Milliseconds since a mono timestamp

static int64_t
s_elapsed_ms (int64_t since)
{
    return (lw_time_mono () - since) / LW_NS_PER_MS;
}

int
main (void)
{
    zsys_init ();
    const char *overrides[] = {NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    int heartbeat = (int)settings->heartbeat;
    int misses = (int)settings->misses;
    int failover = misses * heartbeat + 1000;
    //  A restarted broker waits two heartbeats (and a reconnect) before it
    //  splits; members notice its silence after misses heartbeats
    int rebuild = misses * heartbeat + 2 * heartbeat + 1000;
    probe_t probe = {node, (uint32_t)settings->partitions, 0, 0, 0, 0, 0};
    printf ("it_partitions: P=%u heartbeat=%d ms misses=%d\n", probe.partitions,
            heartbeat, misses);

    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    probe.first =
        lw_testnode_spawn (node, "lw-scorer", "--name", "scorer-a", NULL);
    assert (lw_test_wait (s_first_owns_all, &probe, START_DEADLINE));
    printf ("it_partitions: one scorer owns all %u\n", probe.partitions);

    //  A second scorer: disjoint halves within 2 s of its start
    int64_t started = lw_time_mono ();
    probe.second =
        lw_testnode_spawn (node, "lw-scorer", "--name", "scorer-b", NULL);
    assert (lw_test_wait (s_split, &probe, JOIN_DEADLINE));
    printf ("it_partitions: split after %" PRId64 " ms\n",
            s_elapsed_ms (started));
    uint16_t first_low = probe.first_low;

    //  The broker dies and comes back: the same split, rebuilt (the new
    //  broker's ASSIGNs carry a later epoch), with no partition moved
    lw_testnode_kill (node, broker, SIGKILL);
    probe.min_epoch = probe.epoch;
    started = lw_time_mono ();
    broker = lw_testnode_spawn (node, "lw-broker", NULL);
    assert (lw_test_wait (s_split, &probe, rebuild));
    assert (probe.first_low == first_low);
    printf ("it_partitions: split rebuilt by a new broker after %" PRId64
            " ms\n",
            s_elapsed_ms (started));

    //  A scorer dies: the other owns everything within the deadline
    lw_testnode_kill (node, probe.first, SIGKILL);
    started = lw_time_mono ();
    probe.first = probe.second;
    probe.second = 0;
    assert (lw_test_wait (s_first_owns_all, &probe, failover));
    printf ("it_partitions: failover after %" PRId64 " ms (deadline %d)\n",
            s_elapsed_ms (started), failover);

    assert (lw_testnode_alive (node, broker));
    assert (lw_testnode_alive (node, probe.first));
    lw_testnode_destroy (&node);
    printf ("it_partitions: OK\n");
    return 0;
}
