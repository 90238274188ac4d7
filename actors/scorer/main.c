/*  =========================================================================
    main.c - lw-scorer process: the scorer actor under lw_main

    Copyright (c) the linewatch authors. MIT license.
    =========================================================================
*/

#include "lw_main.h"
#include "lw_scorer.h"

int
main (int argc, char *argv[])
{
    return lw_main_run (argc, argv, "lw-scorer", "scorer", lw_scorer_actor);
}
