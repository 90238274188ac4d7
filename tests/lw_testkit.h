/*  =========================================================================
    lw_testkit.h - helpers for integration tests that run real processes

    Copyright (c) the linewatch authors. MIT license.

    A test node is a temporary home with a config file written into it
    (config/linewatch.cfg from the source tree, with overrides), and the
    processes the test spawned from $LW_BIN_DIR, each with
    `-c <home>/linewatch.cfg --home <home>`. Destroying the node kills
    what is still running (SIGKILL) and removes the home.
    Waits poll a condition until a deadline; nothing sleeps blindly.
    =========================================================================
*/

#ifndef LW_TESTKIT_H_INCLUDED
#define LW_TESTKIT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lw_cfg.h"

typedef struct _lw_testnode_t lw_testnode_t;

//  Creates a node home under /tmp with the default config and the given
//  NULL-terminated overrides ("scorer/workers=2", ...). Asserts on failure
//  (a test-environment problem).
lw_testnode_t *
    lw_testnode_new (const char **overrides);
void
    lw_testnode_destroy (lw_testnode_t **self_p);

const char *
    lw_testnode_home (lw_testnode_t *self);
//  Path of the config written into the home
const char *
    lw_testnode_config (lw_testnode_t *self);
//  The loaded config and node settings (endpoints resolved)
zconfig_t *
    lw_testnode_zconfig (lw_testnode_t *self);
const lw_node_t *
    lw_testnode_node (lw_testnode_t *self);

//  Spawns $LW_BIN_DIR/<exe> with -c/--home and the extra NULL-terminated
//  args; stdout/stderr go to <home>/<exe>-<pid>.log. Returns the pid.
pid_t
    lw_testnode_spawn (lw_testnode_t *self, const char *exe, ...);
//  Sends a signal and, for SIGKILL/SIGTERM, reaps the child (bounded wait).
//  Returns the exit status as waitpid gives it, or -1.
int
    lw_testnode_kill (lw_testnode_t *self, pid_t pid, int signal);
//  True while the child is running
bool
    lw_testnode_alive (lw_testnode_t *self, pid_t pid);

//  Runs lwctl with -c/--home and the NULL-terminated args, waits for it
//  (at most timeout_ms, then kills it and fails the assertion), returns its
//  exit status; *output (if not NULL) gets its stdout (caller frees).
int
    lw_testnode_lwctl (lw_testnode_t *self, int timeout_ms, char **output,
                       ...);

//  Polls cond(arg) every few ms until it is true or timeout_ms passes.
//  Returns true if it became true.
bool
    lw_test_wait (bool (*cond) (void *arg), void *arg, int timeout_ms);

//  One request/reply to a ROUTER endpoint with a DEALER, bounded wait.
//  Returns the reply or NULL on timeout.
zmsg_t *
    lw_test_call (const char *endpoint, zmsg_t **request_p, int timeout_ms);

//  Asks the broker's coordinator for the status of every member (the
//  MEMBER control frames). Returns a list of lw_ctrl_t * (caller destroys
//  the list; items freed with it), or NULL on timeout.
zlistx_t *
    lw_test_members (lw_testnode_t *self, int timeout_ms);

//  Sum of a counter over the members of a group (NULL = all), or -1 on
//  timeout
long long
    lw_test_counter (lw_testnode_t *self, const char *group, const char *name,
                     int timeout_ms);

#endif
