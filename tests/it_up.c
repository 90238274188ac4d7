/*  =========================================================================
    it_up.c - `lwctl up` starts a node, restarts a crashed process, and
              stops every process on SIGTERM

    Copyright (c) the linewatch authors. MIT license.

    Runs the real `lwctl up` on a temporary home and watches the node
    through the broker's STATUS (the same view `lwctl status` has):
      - every process of the default node (broker, ingest, features,
        scorer, feedback) reports alive;
      - a scorer killed with SIGKILL comes back with a new pid;
      - SIGTERM to lwctl up ends every child it started.
    Deadlines come from the config's heartbeat, not from guesses.
    =========================================================================
*/

#include "lw_testkit.h"
#include "lw_msg.h"

#include <signal.h>
#include <sys/types.h>

#define START_DEADLINE 20000    //  ms for the node to come up (ASan, 2 cores)

typedef struct {
    lw_testnode_t *node;        //  The node under test
    const char *groups[6];      //  Groups that must be alive
    pid_t scorer;               //  Scorer pid seen (out)
    pid_t not_scorer;           //  A scorer pid that must not be it
    pid_t pids[16];             //  Member pids seen (out)
    size_t npids;
} view_t;

//  --------------------------------------------------------------------------
//  True when every wanted group has an alive member, and the scorer's pid
//  differs from not_scorer

static bool
s_all_alive (void *arg)
{
    view_t *view = (view_t *) arg;
    zlistx_t *members = lw_test_members (view->node, 1000);
    if (!members)
        return false;
    bool complete = true;
    view->npids = 0;
    view->scorer = 0;
    for (int index = 0; view->groups[index]; index++) {
        bool found = false;
        for (lw_ctrl_t *member = (lw_ctrl_t *) zlistx_first (members);
             member; member = (lw_ctrl_t *) zlistx_next (members)) {
            if (!member->alive || !streq (member->group, view->groups[index]))
                continue;
            if (streq (member->group, "scorer")) {
                if (member->pid == view->not_scorer)
                    continue;
                view->scorer = (pid_t) member->pid;
            }
            found = true;
            if (view->npids < 16)
                view->pids[view->npids++] = (pid_t) member->pid;
        }
        complete &= found;
    }
    zlistx_destroy (&members);
    return complete;
}

//  --------------------------------------------------------------------------
//  True when none of the pids exists any more

static bool
s_all_gone (void *arg)
{
    view_t *view = (view_t *) arg;
    for (size_t index = 0; index < view->npids; index++)
        if (kill (view->pids[index], 0) == 0)
            return false;
    return true;
}

int
main (void)
{
    printf ("it_up: lwctl up supervises the node\n");
    const char *overrides[] = {"ingest/source/sim/rate=100", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    pid_t up = lw_testnode_spawn (node, "lwctl", "up", NULL);

    view_t view = {.node = node,
                   .groups = {"broker", "ingest", "features", "scorer",
                              "feedback", NULL}};
    assert (lw_test_wait (s_all_alive, &view, START_DEADLINE));
    assert (view.scorer > 0);
    printf ("it_up: all five processes alive, scorer pid %d\n",
            (int) view.scorer);

    //  A crash is restarted: a scorer with another pid comes back
    view.not_scorer = view.scorer;
    assert (kill (view.scorer, SIGKILL) == 0);
    const lw_node_t *settings = lw_testnode_node (node);
    int deadline = (int) (settings->heartbeat * (settings->misses + 2))
                   + START_DEADLINE;
    assert (lw_test_wait (s_all_alive, &view, deadline));
    assert (view.scorer != view.not_scorer);
    printf ("it_up: scorer restarted as pid %d\n", (int) view.scorer);

    //  SIGTERM stops the supervisor and every child
    int status = lw_testnode_kill (node, up, SIGTERM);
    assert (status != -1);
    assert (lw_test_wait (s_all_gone, &view, 10000));
    printf ("it_up: every process stopped\n");

    lw_testnode_destroy (&node);
    printf ("it_up: OK\n1 passed, 0 failed\n");
    return 0;
}
