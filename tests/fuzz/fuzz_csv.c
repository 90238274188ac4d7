/*  =========================================================================
    fuzz_csv.c - libFuzzer target: the CSV reader (lw_csv)

    Copyright (c) the linewatch authors. MIT license.

    The input is a whole file, read through fmemopen by lw_csv_open_stream:
    header, shape detection, every row, and the accessors on each row.
    =========================================================================
*/

#include "fuzz_util.h"
#include "lw_csv.h"

#include <math.h>

//  --------------------------------------------------------------------------
//  Once, before the first input

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet ();
    return 0;
}

//  --------------------------------------------------------------------------
//  One input

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;               //  fmemopen refuses an empty buffer
    FILE *file = fmemopen ((void *) data, size, "rb");
    if (!file)
        return 0;
    //  lw_csv prints why a header is refused: keep the fuzzer's log clean
    FILE *saved = stderr;
    static FILE *sink = NULL;
    if (!sink)
        sink = fopen ("/dev/null", "w");
    if (sink && !getenv ("FUZZ_VERBOSE"))
        stderr = sink;
    lw_csv_t *csv = lw_csv_open_stream (file, "fuzz");
    if (csv) {
        size_t values = lw_csv_values (csv);
        assert (values >= 1 && values <= LW_CSV_COLUMNS_MAX);
        for (size_t index = 0; index < values; index++)
            assert (lw_csv_value_name (csv, index));
        assert (lw_csv_delimiter (csv));
        double row[LW_CSV_COLUMNS_MAX];
        int64_t time;
        const char *sensor;
        size_t rows = 0;
        int rc;
        while ((rc = lw_csv_next (csv, &time, &sensor, row)) == 1) {
            rows++;
            assert (lw_csv_time_text (csv));
            if (lw_csv_shape (csv) == LW_CSV_LONG)
                assert (sensor && strlen (sensor) > 0);
            for (size_t index = 0; index < values; index++) {
                const char *text = lw_csv_value_text (csv, index);
                assert (text);
                //  A value is finite, or NaN only for an empty wide cell
                assert (isfinite (row[index]) || isnan (row[index]));
            }
        }
        assert (rc == 0 || rc == -1);
        assert (rows + lw_csv_bad_rows (csv) <= size);
        assert (lw_csv_error (csv));
        lw_csv_destroy (&csv);
    }
    stderr = saved;
    fclose (file);
    return 0;
}
