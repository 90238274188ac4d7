/*  =========================================================================
    main.c - lw-feedback: stores alerts and labels, serves lwctl

    Copyright (c) the linewatch authors. MIT license.

    A thin wrapper: lw_main_run parses the arguments, loads the config,
    runs the feedback actor until SIGINT/SIGTERM and returns the exit code.
    =========================================================================
*/

#include "lw_feedback.h"
#include "lw_main.h"

int
main (int argc, char *argv [])
{
    return lw_main_run (argc, argv, "lw-feedback", "feedback",
                        lw_feedback_actor);
}
