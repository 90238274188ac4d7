/*  =========================================================================
    lw_main.h - the shared body of every process's main ()

    Copyright (c) the linewatch authors. MIT license.

    main.c of each process is a thin wrapper: lw_main_run parses
    `-c CONFIG`, `--home DIR`, `--name NAME`, `-v`, loads and validates the
    config and the node settings (exit 2 when bad), sets up logging, starts
    the actor with zactor_new, sends CONFIGURE and waits for its answer
    (exit 1 when it fails), then runs until SIGINT/SIGTERM or until the
    actor ends, and destroys it ($TERM handshake).

    The actor receives an lw_actor_args_t (borrowed until it returns).
    Protocol on the pipe: "CONFIGURE" -> the actor binds/connects/opens what
    it needs and answers with zsock_signal (pipe, 0 | 1).
    =========================================================================
*/

#ifndef LW_MAIN_H_INCLUDED
#define LW_MAIN_H_INCLUDED

#include <czmq.h>

#include "lw_cfg.h"

typedef struct {
    zconfig_t *config;          //  The whole validated config
    const lw_node_t *node;      //  Home, common settings, endpoints
    const char *name;           //  Member name ("scorer-1234" by default)
} lw_actor_args_t;

//  Runs a process around `actor`. `ident` is the log ident and executable
//  name ("lw-scorer"); `group` names the default member name prefix.
//  Returns the process exit code.
int
    lw_main_run (int argc, char *argv[], const char *ident, const char *group,
                 zactor_fn *actor);

#endif
