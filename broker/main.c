/*  =========================================================================
    main.c - lw-broker: the node's stream rendezvous and group coordinator

    Copyright (c) the linewatch authors. MIT license.

    A thin wrapper: lw_main_run parses the arguments, loads the config and
    runs lw_broker_actor until SIGINT/SIGTERM.
    =========================================================================
*/

#include "lw_broker.h"
#include "lw_main.h"

int
main (int argc, char *argv[])
{
    return lw_main_run (argc, argv, "lw-broker", "broker", lw_broker_actor);
}
