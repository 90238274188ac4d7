/*  =========================================================================
    main.c - lw-features process: the features actor under lw_main

    Copyright (c) the linewatch authors. MIT license.
    =========================================================================
*/

#include "lw_features.h"
#include "lw_main.h"

int
main (int argc, char *argv[])
{
    return lw_main_run (argc, argv, "lw-features", "features",
                        lw_features_actor);
}
