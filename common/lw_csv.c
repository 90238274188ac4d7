/*  =========================================================================
    lw_csv.c - reader for sensor CSV files (narrow, long and wide)

    Copyright (c) the linewatch authors. MIT license.

    Used by `lwctl score`, `lwctl replay` and the CSV source of lw-ingest.
    Speed matters (lwctl score reads 100,000 rows in a few tens of ms), so
    the file is read in 96 KiB chunks into one buffer and rows are split in
    place: fields are NUL-terminated where their delimiter was, quoted
    fields are unescaped in place (the text only shrinks). A row never
    allocates. A line (a quoted field may span physical lines) longer than
    LW_CSV_LINE_MAX is skipped and counted, so a file without newlines
    cannot make the reader grow.
    =========================================================================
*/

#include "lw_csv.h"
#include "lw_util.h"

#include <czmq.h>
#include <math.h>

//  Bytes read per fread; above LW_CSV_LINE_MAX, so a whole line always
//  fits once the buffer is compacted. A larger one reads no faster (1 M
//  long-shape rows, -O2: 104-119 ms with 1 MiB, 108-118 ms with this),
//  and under ASan (CI, fuzzing) a buffer over 128 KiB costs an mmap and
//  its shadow per reader: the CSV fuzz target ran 6x slower with 1 MiB.
#define S_BUFFER_SIZE (LW_CSV_LINE_MAX + LW_CSV_LINE_MAX / 2)
//  Longest text quoted from a bad row in an error message
#define S_QUOTE_MAX 32

//  One field of the current row, NUL-terminated in the buffer
typedef struct {
    char *text;  //  Start of the (unquoted, trimmed) text
    size_t size; //  Bytes, without the NUL
} field_t;

struct _lw_csv_t {
    char *path;           //  File name for messages
    FILE *file;           //  The file, or stdin
    bool close_file;      //  False for stdin
    char *buffer;         //  S_BUFFER_SIZE + 1 bytes (room for a NUL)
    size_t start;         //  First unread byte
    size_t end;           //  End of the data read
    bool eof;             //  fread reached the end of the file
    size_t next_line_nbr; //  Physical line number at `start`
    size_t line_nbr;      //  Line number of the current row
    lw_csv_shape_t shape; //  Narrow, long or wide
    char delimiter;       //  ',' ';' or '\t'
    size_t columns;       //  Fields per row, from the header
    size_t values;        //  Value columns
    size_t first_value;   //  Field index of value column 0
    char **names;         //  Names of the value columns
    field_t *fields;      //  Fields of the current row
    bool have_row;        //  A good row was returned
    size_t bad_rows;      //  Rows skipped as bad
    char error[256];      //  Why the last bad row was skipped
};

//  --------------------------------------------------------------------------
//  Counts a bad row and records why.

static void
s_bad (lw_csv_t *self, const char *format, ...)
{
    self->bad_rows++;
    int size = snprintf (self->error, sizeof (self->error),
                         "line %zu: ", self->line_nbr);
    va_list args;
    va_start (args, format);
    vsnprintf (self->error + size, sizeof (self->error) - (size_t)size, format,
               args);
    va_end (args);
}

//  --------------------------------------------------------------------------
//  Finds the end of the line that starts at `from`: the first newline not
//  inside double quotes. Returns it, or NULL when [from, to) holds none.
//  Counts the newlines inside quotes into *inner.

static char *
s_line_end (char *from, char *to, size_t *inner)
{
    char *newline = (char *)memchr (from, '\n', (size_t)(to - from));
    char *stop = newline ? newline : to;
    if (!memchr (from, '"', (size_t)(stop - from)))
        return newline;
    //  A quote before the newline: scan quote-aware ("" toggles twice)
    bool quoted = false;
    *inner = 0;
    for (char *cursor = from; cursor < to; cursor++) {
        if (*cursor == '"')
            quoted = !quoted;
        else if (*cursor == '\n') {
            if (!quoted)
                return cursor;
            (*inner)++;
        }
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Reads more of the file after the unread bytes. Returns 0, or -1 on a
//  read error (printed).

static int
s_fill (lw_csv_t *self)
{
    size_t pending = self->end - self->start;
    memmove (self->buffer, self->buffer + self->start, pending);
    self->start = 0;
    self->end = pending;
    size_t got = fread (self->buffer + self->end, 1, S_BUFFER_SIZE - self->end,
                        self->file);
    if (got == 0) {
        if (ferror (self->file)) {
            fprintf (stderr, "csv: cannot read '%s': %s\n", self->path,
                     strerror (errno));
            return -1;
        }
        self->eof = true;
    }
    self->end += got;
    return 0;
}

//  --------------------------------------------------------------------------
//  Drops a line that is too long: everything up to the next newline.
//  Returns 0, or -1 on a read error.

static int
s_skip_line (lw_csv_t *self)
{
    while (true) {
        char *from = self->buffer + self->start;
        char *newline = (char *)memchr (from, '\n', self->end - self->start);
        if (newline) {
            self->start = (size_t)(newline + 1 - self->buffer);
            self->next_line_nbr++;
            return 0;
        }
        self->start = self->end;
        if (self->eof)
            return 0;
        if (s_fill (self))
            return -1;
    }
}

//  --------------------------------------------------------------------------
//  Reads the next line (without its "\r\n", NUL-terminated in the
//  buffer). Returns 1 with *line_p and *size_p, 0 at the end of the file,
//  or -1 on a read error. Lines over LW_CSV_LINE_MAX are counted as bad
//  rows and skipped.

static int
s_read_line (lw_csv_t *self, char **line_p, size_t *size_p)
{
    while (true) {
        char *from = self->buffer + self->start;
        char *to = self->buffer + self->end;
        size_t inner = 0;
        char *stop = s_line_end (from, to, &inner);
        if (!stop && self->eof) {
            if (from == to)
                return 0;
            stop = to; //  Last line without a newline
        }
        if (stop) {
            size_t size = (size_t)(stop - from);
            self->start =
                stop == to ? self->end : (size_t)(stop + 1 - self->buffer);
            self->line_nbr = self->next_line_nbr;
            self->next_line_nbr += inner + 1;
            if (size > LW_CSV_LINE_MAX) {
                s_bad (self, "longer than %d bytes", LW_CSV_LINE_MAX);
                continue;
            }
            if (size > 0 && from[size - 1] == '\r')
                size--;
            from[size] = 0; //  The buffer has a spare byte at the end
            *line_p = from;
            *size_p = size;
            return 1;
        }
        if (self->end - self->start > LW_CSV_LINE_MAX) {
            self->line_nbr = self->next_line_nbr;
            s_bad (self, "longer than %d bytes", LW_CSV_LINE_MAX);
            if (s_skip_line (self))
                return -1;
            continue;
        }
        if (s_fill (self))
            return -1;
    }
}

//  --------------------------------------------------------------------------
//  Splits a NUL-terminated line into at most `max` fields, in place.
//  Returns the number of fields, or max + 1 when there are more.

static size_t
s_split (char *line, size_t size, char delimiter, field_t *fields, size_t max)
{
    char *cursor = line;
    char *limit = line + size;
    size_t count = 0;
    while (true) {
        if (count == max)
            return max + 1;
        while (cursor < limit && *cursor == ' ')
            cursor++;
        char *start = cursor;
        char *stop;
        if (cursor < limit && *cursor == '"') {
            //  Unescape in place: the text only shrinks
            char *write = cursor;
            char *read = cursor + 1;
            while (read < limit) {
                if (*read == '"') {
                    if (read + 1 < limit && read[1] == '"') {
                        *write++ = '"';
                        read += 2;
                    }
                    else {
                        read++;
                        break;
                    }
                }
                else
                    *write++ = *read++;
            }
            //  Blanks after the closing quote are dropped, other text
            //  before the delimiter is kept
            while (read < limit && *read == ' ')
                read++;
            while (read < limit && *read != delimiter)
                *write++ = *read++;
            stop = write;
            cursor = read;
        }
        else {
            //  cursor <= limit always; the guard also tells GCC so (it
            //  warns about a huge bound under ASan otherwise)
            size_t left = cursor < limit ? (size_t)(limit - cursor) : 0;
            char *found = (char *)memchr (cursor, delimiter, left);
            cursor = found ? found : limit;
            stop = cursor;
            while (stop > start && stop[-1] == ' ')
                stop--;
        }
        bool more = cursor < limit;
        *stop = 0; //  At or before the delimiter, or at the NUL
        fields[count].text = start;
        fields[count].size = (size_t)(stop - start);
        count++;
        if (!more)
            return count;
        cursor++;
    }
}

//  --------------------------------------------------------------------------
//  The delimiter of a header line: the most frequent of , ; and tab
//  outside quotes (',' on a tie or when there is none).

static char
s_detect_delimiter (const char *line, size_t size)
{
    size_t commas = 0, semicolons = 0, tabs = 0;
    bool quoted = false;
    for (size_t index = 0; index < size; index++) {
        char byte = line[index];
        if (byte == '"')
            quoted = !quoted;
        else if (!quoted) {
            commas += byte == ',';
            semicolons += byte == ';';
            tabs += byte == '\t';
        }
    }
    if (semicolons > commas && semicolons >= tabs)
        return ';';
    if (tabs > commas && tabs > semicolons)
        return '\t';
    return ',';
}

//  --------------------------------------------------------------------------
//  True when a long-shape middle column is named like a sensor column.

static bool
s_is_sensor_column (const char *name)
{
    const char *names[] = {"sensor", "key", "name", "tag", "id", NULL};
    for (int index = 0; names[index]; index++)
        if (strcasecmp (name, names[index]) == 0)
            return true;
    return false;
}

//  --------------------------------------------------------------------------
//  Reads and interprets the header. Returns 0, or -1 (printed).

static int
s_read_header (lw_csv_t *self)
{
    char *line;
    size_t size;
    int rc;
    do
        rc = s_read_line (self, &line, &size);
    while (rc == 1 && size == 0 && self->bad_rows == 0);
    if (rc < 0)
        return -1;
    if (self->bad_rows > 0) {
        fprintf (stderr, "csv: '%s': header line longer than %d bytes\n",
                 self->path, LW_CSV_LINE_MAX);
        return -1;
    }
    if (rc == 0) {
        fprintf (stderr, "csv: '%s' is empty (expected a header line)\n",
                 self->path);
        return -1;
    }
    if (size >= 3 && memcmp (line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3; //  UTF-8 byte order mark
        size -= 3;
    }
    self->delimiter = s_detect_delimiter (line, size);
    size_t count =
        s_split (line, size, self->delimiter, self->fields, LW_CSV_COLUMNS_MAX);
    if (count > LW_CSV_COLUMNS_MAX) {
        fprintf (stderr, "csv: '%s': more than %d columns\n", self->path,
                 LW_CSV_COLUMNS_MAX);
        return -1;
    }
    if (count < 2) {
        fprintf (stderr,
                 "csv: '%s': header has one column; expected "
                 "timestamp,value or timestamp,sensor,value or "
                 "timestamp,<sensor>,...\n",
                 self->path);
        return -1;
    }
    self->columns = count;
    if (count == 2) {
        self->shape = LW_CSV_NARROW;
        self->values = 1;
        self->first_value = 1;
    }
    else if (count == 3 && s_is_sensor_column (self->fields[1].text)) {
        self->shape = LW_CSV_LONG;
        self->values = 1;
        self->first_value = 2;
    }
    else {
        self->shape = LW_CSV_WIDE;
        self->values = count - 1;
        self->first_value = 1;
    }
    self->names = (char **)calloc (self->values, sizeof (char *));
    if (!self->names)
        return -1;
    for (size_t index = 0; index < self->values; index++) {
        size_t column = self->first_value + index;
        char fallback[32];
        const char *name = self->fields[column].text;
        if (*name == 0) {
            snprintf (fallback, sizeof (fallback), "column%zu", column + 1);
            name = fallback;
        }
        self->names[index] = strdup (name);
        if (!self->names[index])
            return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Opens a file ("-" = stdin) and reads its header. Returns the reader
//  (caller owns) or NULL after printing why to stderr.

lw_csv_t *
lw_csv_open (const char *path)
{
    assert (path);
    return lw_csv_open_stream (NULL, path);
}

//  --------------------------------------------------------------------------
//  Reads from an open stream (e.g. fmemopen: the fuzz target and tests use
//  it), or opens `path` when file is NULL. The stream is not closed.

lw_csv_t *
lw_csv_open_stream (FILE *file, const char *path)
{
    assert (path);
    lw_csv_t *self = (lw_csv_t *)zmalloc (sizeof (lw_csv_t));
    if (!self)
        return NULL;
    self->path = strdup (path);
    self->buffer = (char *)malloc (S_BUFFER_SIZE + 1);
    self->fields = (field_t *)calloc (LW_CSV_COLUMNS_MAX + 1, sizeof (field_t));
    self->next_line_nbr = 1;
    if (!self->path || !self->buffer || !self->fields) {
        fprintf (stderr, "csv: out of memory opening '%s'\n", path);
        goto failed;
    }
    if (file)
        self->file = file;
    else if (streq (path, "-"))
        self->file = stdin;
    else {
        self->file = fopen (path, "rb");
        self->close_file = true;
        if (!self->file) {
            fprintf (stderr, "csv: cannot open '%s': %s\n", path,
                     strerror (errno));
            goto failed;
        }
    }
    if (s_read_header (self))
        goto failed;
    return self;

failed:
    lw_csv_destroy (&self);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Closes the file and frees the reader; accepts NULL, sets it to NULL.

void
lw_csv_destroy (lw_csv_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_csv_t *self = *self_p;
        if (self->file && self->close_file)
            fclose (self->file);
        if (self->names)
            for (size_t index = 0; index < self->values; index++)
                free (self->names[index]);
        free (self->names);
        free (self->fields);
        free (self->buffer);
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Shape, delimiter, value columns and their names.

lw_csv_shape_t
lw_csv_shape (lw_csv_t *self)
{
    assert (self);
    return self->shape;
}

char
lw_csv_delimiter (lw_csv_t *self)
{
    assert (self);
    return self->delimiter;
}

size_t
lw_csv_values (lw_csv_t *self)
{
    assert (self);
    return self->values;
}

const char *
lw_csv_value_name (lw_csv_t *self, size_t index)
{
    assert (self);
    assert (index < self->values);
    return self->names[index];
}

//  --------------------------------------------------------------------------
//  Parses a value cell. Returns 0 with *out, 1 for a missing value (empty
//  or NaN), -1 when it is not a finite number.

static int
s_parse_value (const field_t *field, double *out)
{
    if (field->size == 0)
        return 1;
    char *end;
    double value = strtod (field->text, &end);
    if (end != field->text + field->size)
        return -1;
    if (isnan (value))
        return 1;
    if (!isfinite (value))
        return -1;
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Reads the next good row; see lw_csv.h. Returns 1, 0 at the end, or -1
//  on a read error.

int
lw_csv_next (lw_csv_t *self, int64_t *time, const char **sensor, double *values)
{
    assert (self);
    assert (time);
    assert (values);
    field_t *fields = self->fields;
    while (true) {
        char *line;
        size_t size;
        int rc = s_read_line (self, &line, &size);
        if (rc <= 0)
            return rc;
        if (size == 0)
            continue; //  Blank lines are not rows
        size_t count =
            s_split (line, size, self->delimiter, fields, self->columns);
        if (count != self->columns) {
            if (count == 1 && fields[0].size == 0)
                continue; //  Only blanks
            if (count > self->columns)
                s_bad (self, "more than %zu fields", self->columns);
            else
                s_bad (self, "%zu fields, expected %zu", count, self->columns);
            continue;
        }
        if (lw_time_parse (fields[0].text, fields[0].size, time)) {
            s_bad (self, "bad timestamp '%.*s'", S_QUOTE_MAX, fields[0].text);
            continue;
        }
        if (self->shape == LW_CSV_WIDE) {
            size_t index;
            for (index = 0; index < self->values; index++) {
                field_t *field = &fields[index + 1];
                int parsed = s_parse_value (field, &values[index]);
                if (parsed == 1)
                    values[index] = NAN;
                else if (parsed < 0)
                    break;
            }
            if (index < self->values) {
                s_bad (self, "bad number '%.*s' in column %zu", S_QUOTE_MAX,
                       fields[index + 1].text, index + 2);
                continue;
            }
            if (sensor)
                *sensor = NULL;
        }
        else {
            field_t *field = &fields[self->first_value];
            if (s_parse_value (field, &values[0])) {
                s_bad (self, "bad number '%.*s'", S_QUOTE_MAX, field->text);
                continue;
            }
            if (self->shape == LW_CSV_LONG) {
                if (fields[1].size == 0) {
                    s_bad (self, "empty sensor");
                    continue;
                }
                //  A NUL byte inside the field would make the key read as
                //  another (shorter) one downstream: refuse it (found by
                //  fuzzing). Other key rules are the consumer's to apply.
                if (memchr (fields[1].text, 0, fields[1].size)) {
                    s_bad (self, "NUL byte in sensor '%.*s'", S_QUOTE_MAX,
                           fields[1].text);
                    continue;
                }
                if (sensor)
                    *sensor = fields[1].text;
            }
            else if (sensor)
                *sensor = NULL;
        }
        self->have_row = true;
        return 1;
    }
}

//  --------------------------------------------------------------------------
//  Raw texts of the current row, line number, bad rows and last reason.

const char *
lw_csv_time_text (lw_csv_t *self)
{
    assert (self);
    return self->have_row ? self->fields[0].text : "";
}

const char *
lw_csv_value_text (lw_csv_t *self, size_t index)
{
    assert (self);
    assert (index < self->values);
    return self->have_row ? self->fields[self->first_value + index].text : "";
}

size_t
lw_csv_line (lw_csv_t *self)
{
    assert (self);
    return self->line_nbr;
}

size_t
lw_csv_bad_rows (lw_csv_t *self)
{
    assert (self);
    return self->bad_rows;
}

const char *
lw_csv_error (lw_csv_t *self)
{
    assert (self);
    return self->error;
}

//  --------------------------------------------------------------------------
//  Self test helper: writes `text` to dir/name and returns the path
//  (static buffer, valid until the next call).

static const char *
s_write_file (const char *dir, const char *name, const char *text)
{
    static char path[512];
    snprintf (path, sizeof (path), "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    assert (file);
    assert (fwrite (text, 1, strlen (text), file) == strlen (text));
    fclose (file);
    return path;
}

//  --------------------------------------------------------------------------
//  Self test of lw_csv.

void
lw_csv_test (bool verbose)
{
    printf (" * lw_csv: ");
    if (verbose)
        printf ("\n");
    char dir[] = "/tmp/lw_csv_test.XXXXXX";
    assert (mkdtemp (dir));
    int64_t time;
    const char *sensor;
    double values[8];

    //  Narrow: BOM, CRLF, quotes, blank lines and bad rows, which are
    //  skipped, counted and explained
    const char *path = s_write_file (dir, "narrow.csv",
                                     "\xEF\xBB\xBFtimestamp,value\r\n"
                                     "2024-01-01 00:00:00,1.5\r\n"
                                     "\r\n"
                                     "\"2024-01-01 00:00:01\", \"2\" \r\n"
                                     "2024-01-01 00:00:02,abc\r\n"
                                     "not a time,3\r\n"
                                     "2024-01-01 00:00:03,4,5\r\n"
                                     "2024-01-01 00:00:04\r\n"
                                     "2024-01-01 00:00:05,inf\r\n"
                                     "1704067206,-7e-3");
    lw_csv_t *csv = lw_csv_open (path);
    assert (csv);
    assert (lw_csv_shape (csv) == LW_CSV_NARROW);
    assert (lw_csv_delimiter (csv) == ',');
    assert (lw_csv_values (csv) == 1);
    assert (streq (lw_csv_value_name (csv, 0), "value"));
    assert (streq (lw_csv_time_text (csv), ""));
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (time == 1704067200LL * LW_NS_PER_SEC && values[0] == 1.5);
    assert (sensor == NULL);
    assert (streq (lw_csv_time_text (csv), "2024-01-01 00:00:00"));
    assert (streq (lw_csv_value_text (csv, 0), "1.5"));
    assert (lw_csv_line (csv) == 2);
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (time == 1704067201LL * LW_NS_PER_SEC && values[0] == 2);
    assert (streq (lw_csv_time_text (csv), "2024-01-01 00:00:01"));
    assert (lw_csv_line (csv) == 4);
    assert (lw_csv_bad_rows (csv) == 0);
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (time == 1704067206LL * LW_NS_PER_SEC && values[0] == -7e-3);
    assert (lw_csv_line (csv) == 10);
    assert (lw_csv_bad_rows (csv) == 5);
    assert (strstr (lw_csv_error (csv), "line 9:"));
    assert (strstr (lw_csv_error (csv), "bad number 'inf'"));
    assert (lw_csv_next (csv, &time, &sensor, values) == 0);
    assert (lw_csv_next (csv, &time, &sensor, values) == 0);
    lw_csv_destroy (&csv);
    assert (csv == NULL);
    lw_csv_destroy (&csv);

    //  Long: sensor column (any case), ';' delimiter, quoted delimiter
    //  and "" escapes, a newline inside quotes
    path = s_write_file (dir, "long.csv",
                         "time;ID;value\n"
                         "2024-01-01T00:00:00Z;m1/temp;20\n"
                         "2024-01-01T00:00:00Z;\"m;2/\"\"p\"\"\";21.5\n"
                         "2024-01-01T00:00:01Z;\"a\nb\";22\n"
                         "2024-01-01T00:00:02Z;;23\n"
                         "2024-01-01T00:00:03Z;m1/temp;24\n");
    csv = lw_csv_open (path);
    assert (csv);
    assert (lw_csv_shape (csv) == LW_CSV_LONG);
    assert (lw_csv_delimiter (csv) == ';');
    assert (lw_csv_values (csv) == 1);
    assert (streq (lw_csv_value_name (csv, 0), "value"));
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (streq (sensor, "m1/temp") && values[0] == 20);
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (streq (sensor, "m;2/\"p\"") && values[0] == 21.5);
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (streq (sensor, "a\nb") && values[0] == 22);
    assert (lw_csv_line (csv) == 4);
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (streq (sensor, "m1/temp") && values[0] == 24);
    assert (lw_csv_line (csv) == 7);
    assert (lw_csv_bad_rows (csv) == 1);
    assert (strstr (lw_csv_error (csv), "empty sensor"));
    assert (lw_csv_next (csv, &time, &sensor, values) == 0);
    lw_csv_destroy (&csv);

    //  Wide: tab delimiter, empty and NaN cells are missing values
    path = s_write_file (dir, "wide.csv",
                         "timestamp\ttemp\tpressure\t\n"
                         "1700000000000\t1\t2\t3\n"
                         "1700000001000\t\tNaN\t6\n"
                         "1700000002000\t7\tx\t9\n");
    csv = lw_csv_open (path);
    assert (csv);
    assert (lw_csv_shape (csv) == LW_CSV_WIDE);
    assert (lw_csv_delimiter (csv) == '\t');
    assert (lw_csv_values (csv) == 3);
    assert (streq (lw_csv_value_name (csv, 0), "temp"));
    assert (streq (lw_csv_value_name (csv, 1), "pressure"));
    assert (streq (lw_csv_value_name (csv, 2), "column4"));
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (time == 1700000000LL * LW_NS_PER_SEC);
    assert (values[0] == 1 && values[1] == 2 && values[2] == 3);
    assert (sensor == NULL);
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (isnan (values[0]) && isnan (values[1]) && values[2] == 6);
    assert (streq (lw_csv_value_text (csv, 0), ""));
    assert (lw_csv_next (csv, &time, &sensor, values) == 0);
    assert (lw_csv_bad_rows (csv) == 1);
    assert (strstr (lw_csv_error (csv), "column 3"));
    lw_csv_destroy (&csv);

    //  Three columns without a sensor-like middle name are wide
    path = s_write_file (dir, "wide3.csv", "t,a,b\n0,1,2\n");
    csv = lw_csv_open (path);
    assert (csv && lw_csv_shape (csv) == LW_CSV_WIDE);
    lw_csv_destroy (&csv);

    //  Unreadable or senseless files are refused
    char missing[600];
    snprintf (missing, sizeof (missing), "%s/missing.csv", dir);
    assert (lw_csv_open (missing) == NULL);
    assert (lw_csv_open (s_write_file (dir, "empty.csv", "")) == NULL);
    assert (lw_csv_open (s_write_file (dir, "blank.csv", "\n\n")) == NULL);
    assert (lw_csv_open (s_write_file (dir, "one.csv", "value\n1\n")) == NULL);

    //  Too many columns, and a header too long, are refused; a row too
    //  long is skipped and reading goes on
    size_t big = LW_CSV_LINE_MAX * 3;
    char *text = (char *)malloc (big + 200);
    assert (text);
    char *cursor = text;
    cursor += sprintf (cursor, "t");
    for (int index = 0; index <= LW_CSV_COLUMNS_MAX; index++)
        cursor += sprintf (cursor, ",c%d", index);
    sprintf (cursor, "\n");
    assert (lw_csv_open (s_write_file (dir, "columns.csv", text)) == NULL);
    memset (text, 'x', big);
    text[big] = 0;
    assert (lw_csv_open (s_write_file (dir, "header.csv", text)) == NULL);
    cursor = text + sprintf (text, "t,v\n0,1\n\"");
    memset (cursor, 'y', big);
    sprintf (cursor + big, "\n3,4\n");
    csv = lw_csv_open (s_write_file (dir, "longline.csv", text));
    assert (csv);
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (values[0] == 1);
    assert (lw_csv_next (csv, &time, &sensor, values) == 1);
    assert (values[0] == 4 && lw_csv_line (csv) == 4);
    assert (lw_csv_bad_rows (csv) == 1);
    assert (strstr (lw_csv_error (csv), "longer than"));
    assert (lw_csv_next (csv, &time, &sensor, values) == 0);
    lw_csv_destroy (&csv);
    free (text);

    //  Many buffers' worth of rows: every row read once, in order
    snprintf (missing, sizeof (missing), "%s/many.csv", dir);
    FILE *file = fopen (missing, "wb");
    assert (file);
    fprintf (file, "timestamp,value\n");
    const long rows = 150000;
    for (long index = 0; index < rows; index++)
        fprintf (file, "2024-01-01 00:%02ld:%02ld.%03ld,%ld.25\n",
                 (index / 60000) % 60, (index / 1000) % 60, index % 1000,
                 index);
    fclose (file);
    csv = lw_csv_open (missing);
    assert (csv);
    long count = 0;
    int64_t previous = INT64_MIN;
    while (lw_csv_next (csv, &time, &sensor, values) == 1) {
        assert (values[0] == (double)count + 0.25);
        assert (time > previous);
        previous = time;
        count++;
    }
    assert (count == rows);
    assert (lw_csv_bad_rows (csv) == 0);
    assert (lw_csv_line (csv) == (size_t)rows + 1);
    lw_csv_destroy (&csv);

    zdir_t *tree = zdir_new (dir, NULL);
    if (tree) {
        zdir_remove (tree, true);
        zdir_destroy (&tree);
    }
    printf ("OK\n");
}
