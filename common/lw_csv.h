/*  =========================================================================
    lw_csv.h - reader for sensor CSV files (narrow, long and wide)

    Copyright (c) the linewatch authors. MIT license.

    Used by `lwctl score` (offline scoring), `lwctl replay` and the CSV
    source of lw-ingest. The first line is a header. The delimiter (',' ';'
    or tab) is detected from it. Shapes:
      narrow  timestamp,value               one sensor
      long    timestamp,sensor,value        one reading per row
      wide    timestamp,<s1>,<s2>,...       one machine, a column per sensor
    Timestamps: anything lw_time_parse takes. A bad row (wrong field count,
    bad number or timestamp, line too long) is skipped, counted and
    described by lw_csv_error; reading goes on. Reads through a fixed
    buffer: no allocation per row.
    =========================================================================
*/

#ifndef LW_CSV_H_INCLUDED
#define LW_CSV_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    LW_CSV_NARROW = 1,
    LW_CSV_LONG = 2,
    LW_CSV_WIDE = 3
} lw_csv_shape_t;

#define LW_CSV_LINE_MAX 65536       //  Longest line accepted
#define LW_CSV_COLUMNS_MAX 1024     //  Most columns accepted

typedef struct _lw_csv_t lw_csv_t;

//  Opens a file ("-" = stdin) and reads its header. Returns NULL and
//  prints a message to stderr naming the file when it cannot be read or
//  its header makes no sense.
lw_csv_t *
    lw_csv_open (const char *path);
//  Same on a stream that is already open (not closed by destroy); `name`
//  names it in messages. For in-memory input (fmemopen), e.g. fuzzing.
lw_csv_t *
    lw_csv_open_stream (FILE *file, const char *name);
void
    lw_csv_destroy (lw_csv_t **self_p);

lw_csv_shape_t
    lw_csv_shape (lw_csv_t *self);
char
    lw_csv_delimiter (lw_csv_t *self);
//  Number of value columns (1 narrow, 1 long, N wide)
size_t
    lw_csv_values (lw_csv_t *self);
//  Name of value column i (wide: the sensor name; narrow/long: header name)
const char *
    lw_csv_value_name (lw_csv_t *self, size_t index);

//  Reads the next good row. Returns 1 with *time, *sensor (long shape:
//  the row's sensor, borrowed until the next call; others: NULL) and
//  values[0..lw_csv_values) (NaN for an empty wide cell); 0 at the end of
//  the file; -1 on a read error. Bad rows are skipped and counted.
int
    lw_csv_next (lw_csv_t *self, int64_t *time, const char **sensor,
                 double *values);
//  Raw text of the current row's timestamp field (borrowed until next call)
const char *
    lw_csv_time_text (lw_csv_t *self);
//  Raw text of value column `index` of the current row, unquoted and
//  trimmed (borrowed until the next call); "" for an empty cell
const char *
    lw_csv_value_text (lw_csv_t *self, size_t index);
//  Line number of the current row (header = 1)
size_t
    lw_csv_line (lw_csv_t *self);
//  Rows skipped as bad so far, and the last reason
size_t
    lw_csv_bad_rows (lw_csv_t *self);
const char *
    lw_csv_error (lw_csv_t *self);

void
    lw_csv_test (bool verbose);

#endif
