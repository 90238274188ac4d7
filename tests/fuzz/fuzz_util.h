/*  =========================================================================
    fuzz_util.h - shared set-up of the libFuzzer targets

    Copyright (c) the linewatch authors. MIT license.

    Rejections are logged through zsys_*: millions of such lines would
    slow the fuzzer down and hide its own output, so the targets send
    czmq's log to /dev/null once, before the first input. zconfig reports
    a parse error with zclock_log on stdout (a write per bad config: 1 GB
    of log in a 10-minute cfg run), so stdout goes there too (libFuzzer
    writes to stderr). FUZZ_VERBOSE=1 keeps both.
    =========================================================================
*/

#ifndef FUZZ_UTIL_H_INCLUDED
#define FUZZ_UTIL_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

//  --------------------------------------------------------------------------
//  Silences czmq's log (the stream stays open for the process lifetime).

static inline void
fuzz_quiet (void)
{
    static FILE *sink = NULL;
    if (!sink && !getenv ("FUZZ_VERBOSE")) {
        sink = fopen ("/dev/null", "w");
        if (sink)
            zsys_set_logstream (sink);
        if (!freopen ("/dev/null", "w", stdout))
            fprintf (stderr, "fuzz: cannot silence stdout\n");
    }
}

#endif
