/*  =========================================================================
    lw_ctl.h - lwctl, the operator's and engineer's command line

    Copyright (c) the linewatch authors. MIT license.

    main.c takes the global options wherever they stand (-c CONFIG,
    --home DIR, --json, --timeout MS) and dispatches to one function per
    command. Each returns the exit status: 0 success, 1 failure, 2 bad
    usage or config. A node that does not answer within the timeout is an
    error (1), never a hang.
    =========================================================================
*/

#ifndef LW_CTL_H_INCLUDED
#define LW_CTL_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "lw_cfg.h"

#define LW_CTL_OK 0
#define LW_CTL_FAIL 1
#define LW_CTL_USAGE 2

typedef struct {
    const char *argv0;          //  How lwctl was invoked (to find siblings)
    const char *config_path;    //  Config file used
    zconfig_t *config;          //  Loaded, validated config
    lw_node_t node;             //  Home and endpoints
    bool json;                  //  --json: machine-readable output
    int timeout;                //  ms to wait for a node's answer
} lw_ctl_t;

//  Commands; argv[0] is the command name, the global options removed
int lw_ctl_up (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_status (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_tail (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_alerts (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_show (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_label (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_labels (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_replay (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_score (lw_ctl_t *ctl, int argc, char **argv);
int lw_ctl_bench (lw_ctl_t *ctl, int argc, char **argv);

//  Path of a sibling executable ("lw-broker"): next to lwctl first, then
//  on PATH. Returns a new string (caller frees) or NULL.
char *
    lw_ctl_find_executable (lw_ctl_t *ctl, const char *name);

//  One request/reply round trip with a DEALER to `endpoint`, bounded by
//  ctl->timeout. Sends `request` (taken), returns the reply (caller owns)
//  or NULL on timeout (logged to stderr).
zmsg_t *
    lw_ctl_call (lw_ctl_t *ctl, const char *endpoint, zmsg_t **request_p);

#endif
