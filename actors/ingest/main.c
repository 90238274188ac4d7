/*  =========================================================================
    main.c - lw-ingest: reads sources, cleans and publishes readings

    Copyright (c) the linewatch authors. MIT license.

    A thin wrapper: lw_main_run parses the arguments, loads the config and
    runs lw_ingest_actor until SIGINT/SIGTERM.
    =========================================================================
*/

#include "lw_ingest.h"
#include "lw_main.h"

int
main (int argc, char *argv[])
{
    return lw_main_run (argc, argv, "lw-ingest", "ingest", lw_ingest_actor);
}
