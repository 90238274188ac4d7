/*  =========================================================================
    lw_super.h - lwctl's process supervisor: starts and keeps a node alive

    Copyright (c) the linewatch authors. MIT license.

    Starts each process of the node as a direct child (fork + execv, no
    shell between): lw-broker, lw-ingest, lw-feedback, and the configured
    numbers of lw-features and lw-scorer workers. A child that exits
    without being asked to is restarted after a backoff that doubles from
    100 ms to 5 s and resets once the child has run for 10 s. Stopping
    sends SIGTERM to every child, waits up to 5 s, then SIGKILLs the rest.
    Used by `lwctl up` (in the foreground) and `lwctl bench` (a private node).
    =========================================================================
*/

#ifndef LW_SUPER_H_INCLUDED
#define LW_SUPER_H_INCLUDED

#include "lw_ctl.h"

typedef struct _lw_super_t lw_super_t;

//  Prepares a supervisor for the node at `home` using `config_path`.
//  Finds every executable (next to lwctl, then PATH); returns NULL with a
//  message when one is missing.
lw_super_t *
    lw_super_new (lw_ctl_t *ctl, const char *config_path, const char *home);
void
    lw_super_destroy (lw_super_t **self_p);

//  Blocks SIGCHLD for the caller (taken with sigtimedwait in
//  lw_super_poll) and starts every process. Call after zsys_init, whose
//  handler turns SIGINT/SIGTERM into zsys_interrupted.
//  Returns 0, or -1 when a process could not be started.
int
    lw_super_start (lw_super_t *self);

//  Waits up to timeout_ms for a signal or a child exit, reaps and restarts
//  children as due. Returns 1 when SIGINT or SIGTERM arrived (the caller
//  should stop), 2 when a child exited with status 2 (it refused its
//  config: the caller should stop and exit 2), else 0.
int
    lw_super_poll (lw_super_t *self, int timeout_ms);

//  Stops every child: SIGTERM, up to 5 s, then SIGKILL. Idempotent.
void
    lw_super_stop (lw_super_t *self);

//  Adds `lwctl tail --alerts` on the node as a supervised child (for
//  `lwctl up --tail`). Call before lw_super_start. Returns 0 or -1.
int
    lw_super_add_tail (lw_super_t *self);

//  Number of restarts so far
size_t
    lw_super_restarts (lw_super_t *self);

#endif
