/*  =========================================================================
    lw_pipeline.h - in-process test of broker + lw-features + lw-scorer

    Copyright (c) the linewatch authors. MIT license.

    Not a class of its own: the self test that runs the real broker, a
    features actor and a scorer actor in one process (the coordinator
    assigns the partitions, the broker forwards the streams) and checks
    that readings with an obvious spike come out as one alert that opens
    and closes. It lives in its own file so that lw-scorer does not link
    the broker and features actors.
    =========================================================================
*/

#ifndef LW_PIPELINE_H_INCLUDED
#define LW_PIPELINE_H_INCLUDED

#include <stdbool.h>

//  Self test (needs lw_broker and lw_features linked: lw_selftest)
void lw_pipeline_test (bool verbose);

#endif
