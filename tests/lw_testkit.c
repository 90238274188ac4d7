/*  =========================================================================
    lw_testkit.c - helpers for integration tests that run real processes

    Copyright (c) the linewatch authors. MIT license.

    Being written; see tests/lw_testkit.h for the interface.
    =========================================================================
*/

#include "lw_testkit.h"
