/*  =========================================================================
    lw_nabscore.c - the Numenta Anomaly Benchmark (NAB v1.1) scorer

    Copyright (c) the linewatch authors. MIT license.

    Follows SCORING.md of the corpus section by section; the comments
    name the section. Everything read from disk (the windows JSON, data
    and results CSVs) is validated and rejected with a message; nothing
    from a file is asserted on.

    Floating point follows NAB's order where it is cheap to: sigma is
    computed with NAB's formulas in NAB's operation order, the rows are
    swept in Python's stable descending order, a score is summed as
    NAB sums its dict of parts ("fp" first, then the windows in order).
    The corpus total adds the files in corpus order (pandas' pairwise sum
    in NAB's file order can differ in the last bits, ~1e-14).
    =========================================================================
*/

#include "lw_nabscore.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Largest CSV or JSON file read whole (NAB's largest is ~1 MB)
#define S_FILE_MAX (1024L * 1024 * 1024)
//  Longest file name in the windows JSON
#define S_NAME_MAX 1024

const lw_nab_profile_t lw_nab_profiles[LW_NAB_PROFILES] = {
    {"standard", 1.0, 0.11, 1.0},
    {"reward_low_FP_rate", 1.0, 0.22, 1.0},
    {"reward_low_FN_rate", 1.0, 0.11, 2.0},
};

//  One file of the corpus
typedef struct {
    char *name;         //  "<category>/<name>.csv"
    char *category;     //  "<category>"
    const char *base;   //  "<name>.csv", inside name
    size_t rows;        //  Data rows
    int64_t *stamps;    //  Row timestamps (us), or NULL
    size_t nwindows;    //  Label windows
    size_t *left;       //  First row of each window
    size_t *right;      //  Last row of each window (inclusive)
    size_t window_base; //  Corpus-wide index of its first window
} s_file_t;

struct _lw_nab_corpus_t {
    s_file_t *files;      //  The files, in load order
    size_t nfiles;        //  Files held
    size_t total_rows;    //  Sum of rows
    size_t total_windows; //  Sum of windows
};

//  One non-probationary row, as the sweep sees it
typedef struct {
    double score;                  //  Detector's anomaly score
    double sigma[LW_NAB_PROFILES]; //  sigma(i) per profile (§4)
    int32_t window;                //  Corpus-wide window index, or -1
    uint32_t file;                 //  File index
    uint32_t order;                //  Position in the unsorted list
} s_row_t;

struct _lw_nab_det_t {
    lw_nab_corpus_t *corpus; //  Borrowed
    char *name;              //  Detector name
    double **scores;         //  Per file, rows scores (NULL until set)
    s_row_t *rows;           //  Sorted rows (built on demand)
    size_t nrows;            //  Rows in rows
    size_t *file_start;      //  Per file, offset of its rows in by_file
    uint32_t *by_file;       //  Row indices grouped by file, each group
                             //  in sorted order
};

//  --------------------------------------------------------------------------
//  Formats a message into error (if not NULL)

static void
s_error (char *error, size_t error_size, const char *format, ...)
{
    if (!error || error_size == 0)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (error, error_size, format, args);
    va_end (args);
}

//  --------------------------------------------------------------------------
//  Reads a whole file into a NUL-terminated buffer (caller frees). Returns
//  NULL with a message when it cannot be read or is too large.

static char *
s_read_file (const char *path, size_t *size_p, char *error, size_t error_size)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        s_error (error, error_size, "cannot open %s: %s", path,
                 strerror (errno));
        return NULL;
    }
    char *buffer = NULL;
    long size = -1;
    if (fseek (file, 0, SEEK_END) == 0)
        size = ftell (file);
    if (size < 0 || size > S_FILE_MAX || fseek (file, 0, SEEK_SET) != 0) {
        s_error (error, error_size, "cannot read %s (size %ld)", path, size);
        goto cleanup;
    }
    buffer = (char *)malloc ((size_t)size + 1);
    if (!buffer) {
        s_error (error, error_size, "out of memory reading %s", path);
        goto cleanup;
    }
    if (fread (buffer, 1, (size_t)size, file) != (size_t)size) {
        s_error (error, error_size, "short read on %s", path);
        free (buffer);
        buffer = NULL;
        goto cleanup;
    }
    buffer[size] = 0;
    *size_p = (size_t)size;
cleanup:
    fclose (file);
    return buffer;
}

//  --------------------------------------------------------------------------
//  Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
//  days_from_civil)

static int64_t
s_days_from_civil (int64_t year, int64_t month, int64_t day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

//  --------------------------------------------------------------------------
//  Reads n decimal digits; returns -1 if one is not a digit

static int64_t
s_digits (const char *text, int count)
{
    int64_t value = 0;
    for (int digit = 0; digit < count; digit++) {
        if (text[digit] < '0' || text[digit] > '9')
            return -1;
        value = value * 10 + (text[digit] - '0');
    }
    return value;
}

//  --------------------------------------------------------------------------
//  Parses "YYYY-MM-DD HH:MM:SS" with an optional fraction (".ffffff", 1 to
//  9 digits, kept to microseconds as pandas does for NAB's labels) into
//  microseconds since the epoch. Returns 0, or -1 if text (size bytes, not
//  terminated) is not exactly that.

static int
s_parse_stamp (const char *text, size_t size, int64_t *stamp)
{
    if (size < 19 || text[4] != '-' || text[7] != '-' ||
        (text[10] != ' ' && text[10] != 'T') || text[13] != ':' ||
        text[16] != ':')
        return -1;
    int64_t year = s_digits (text, 4), month = s_digits (text + 5, 2);
    int64_t day = s_digits (text + 8, 2), hour = s_digits (text + 11, 2);
    int64_t minute = s_digits (text + 14, 2);
    int64_t second = s_digits (text + 17, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 ||
        hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
        second > 60)
        return -1;
    int64_t micros = 0;
    if (size > 19) {
        size_t digits = size - 20;
        if (text[19] != '.' || digits < 1 || digits > 9)
            return -1;
        int64_t fraction = s_digits (text + 20, (int)digits);
        if (fraction < 0)
            return -1;
        for (size_t digit = digits; digit < 6; digit++)
            fraction *= 10;
        for (size_t digit = 6; digit < digits; digit++)
            fraction /= 10;
        micros = fraction;
    }
    int64_t days = s_days_from_civil (year, month, day);
    *stamp = ((days * 24 + hour) * 60 + minute) * 60 * 1000000LL +
             second * 1000000LL + micros;
    return 0;
}

//  --------------------------------------------------------------------------
//  A line reader over a NUL-terminated buffer: sets *line and *size to the
//  next line without its "\n" or "\r\n"; returns false at the end

static bool
s_next_line (char **cursor, char **line, size_t *size)
{
    char *start = *cursor;
    if (*start == 0)
        return false;
    char *end = strchr (start, '\n');
    char *next = end ? end + 1 : start + strlen (start);
    if (!end)
        end = next;
    if (end > start && end[-1] == '\r')
        end--;
    *line = start;
    *size = (size_t)(end - start);
    *cursor = next;
    return true;
}

//  --------------------------------------------------------------------------
//  corpus

lw_nab_corpus_t *
lw_nab_corpus_new (void)
{
    return (lw_nab_corpus_t *)calloc (1, sizeof (lw_nab_corpus_t));
}

void
lw_nab_corpus_destroy (lw_nab_corpus_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_nab_corpus_t *self = *self_p;
        for (size_t file = 0; file < self->nfiles; file++) {
            free (self->files[file].name);
            free (self->files[file].category);
            free (self->files[file].stamps);
            free (self->files[file].left);
            free (self->files[file].right);
        }
        free (self->files);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Adds a file with its windows (validated); takes ownership of stamps
//  (freed on failure too). Returns the index or -1.

static int
s_add (lw_nab_corpus_t *self, const char *name, size_t rows, int64_t *stamps,
       const size_t *left, const size_t *right, size_t nwindows, char *error,
       size_t error_size)
{
    const char *slash = strchr (name, '/');
    if (!slash || slash == name || slash[1] == 0 || strchr (slash + 1, '/') ||
        strlen (name) >= S_NAME_MAX) {
        s_error (error, error_size,
                 "file name '%.64s' is not <category>/<name>", name);
        goto failed;
    }
    if (self->nfiles >= LW_NAB_FILES_MAX || rows > LW_NAB_ROWS_MAX ||
        nwindows > LW_NAB_WINDOWS_MAX) {
        s_error (error, error_size, "%s: too many files, rows or windows",
                 name);
        goto failed;
    }
    for (size_t file = 0; file < self->nfiles; file++)
        if (strcmp (self->files[file].name, name) == 0) {
            s_error (error, error_size, "%s: listed twice", name);
            goto failed;
        }
    for (size_t window = 0; window < nwindows; window++)
        if (left[window] > right[window] || right[window] >= rows ||
            (window > 0 && left[window] <= right[window - 1])) {
            s_error (error, error_size,
                     "%s: window %zu [%zu, %zu] is out of order or range", name,
                     window, left[window], right[window]);
            goto failed;
        }
    s_file_t *files = (s_file_t *)realloc (self->files, (self->nfiles + 1) *
                                                            sizeof (s_file_t));
    if (!files)
        goto nomem;
    self->files = files;
    s_file_t *file = &files[self->nfiles];
    memset (file, 0, sizeof (*file));
    file->name = strdup (name);
    file->category = strndup (name, (size_t)(slash - name));
    file->left = (size_t *)malloc ((nwindows + 1) * sizeof (size_t));
    file->right = (size_t *)malloc ((nwindows + 1) * sizeof (size_t));
    if (!file->name || !file->category || !file->left || !file->right) {
        free (file->name);
        free (file->category);
        free (file->left);
        free (file->right);
        goto nomem;
    }
    file->base = file->name + (slash - name) + 1;
    file->rows = rows;
    file->stamps = stamps;
    file->nwindows = nwindows;
    if (nwindows) {
        memcpy (file->left, left, nwindows * sizeof (size_t));
        memcpy (file->right, right, nwindows * sizeof (size_t));
    }
    file->window_base = self->total_windows;
    self->total_rows += rows;
    self->total_windows += nwindows;
    return (int)self->nfiles++;

nomem:
    s_error (error, error_size, "out of memory");
failed:
    free (stamps);
    return -1;
}

int
lw_nab_corpus_add (lw_nab_corpus_t *self, const char *name, size_t rows,
                   const size_t *left, const size_t *right, size_t nwindows,
                   char *error, size_t error_size)
{
    assert (self);
    assert (name);
    assert (nwindows == 0 || (left && right));
    return s_add (self, name, rows, NULL, left, right, nwindows, error,
                  error_size);
}

//  --------------------------------------------------------------------------
//  Reads the timestamps of a data CSV (header, then timestamp,value rows).
//  Returns an array (caller frees) and its length, or NULL with a message.

static int64_t *
s_read_stamps (const char *path, size_t *rows_p, char *error, size_t error_size)
{
    size_t size;
    char *text = s_read_file (path, &size, error, error_size);
    if (!text)
        return NULL;
    size_t capacity = size / 20 + 1; //  A row is at least 20 bytes
    int64_t *stamps = (int64_t *)malloc (capacity * sizeof (int64_t));
    size_t rows = 0;
    char *cursor = text, *line;
    size_t line_size;
    if (!stamps) {
        s_error (error, error_size, "out of memory");
        goto failed;
    }
    if (!s_next_line (&cursor, &line, &line_size) || line_size < 10 ||
        strncmp (line, "timestamp,", 10) != 0) {
        s_error (error, error_size, "%s: header is not timestamp,value", path);
        goto failed;
    }
    while (s_next_line (&cursor, &line, &line_size)) {
        char *comma = (char *)memchr (line, ',', line_size);
        if (line_size == 0 && *cursor == 0)
            break; //  Blank last line
        if (rows >= capacity || rows >= LW_NAB_ROWS_MAX || !comma ||
            s_parse_stamp (line, (size_t)(comma - line), &stamps[rows])) {
            s_error (error, error_size, "%s: row %zu: bad timestamp", path,
                     rows + 1);
            goto failed;
        }
        rows++;
    }
    free (text);
    *rows_p = rows;
    return stamps;
failed:
    free (text);
    free (stamps);
    return NULL;
}

//  --------------------------------------------------------------------------
//  A strict reader for the one shape of combined_windows.json:
//  { "<name>": [ [ "<start>", "<end>" ], ... ], ... }. Strings hold no
//  escapes. Whitespace is JSON's.

typedef struct {
    const char *text; //  The JSON text
    size_t pos;       //  Read position
    size_t size;      //  Text length
} s_json_t;

static void
s_json_space (s_json_t *json)
{
    while (json->pos < json->size &&
           strchr (" \t\r\n", json->text[json->pos]) && json->text[json->pos])
        json->pos++;
}

//  Skips whitespace and consumes the character c; returns false if absent
static bool
s_json_char (s_json_t *json, char c)
{
    s_json_space (json);
    if (json->pos < json->size && json->text[json->pos] == c) {
        json->pos++;
        return true;
    }
    return false;
}

//  Reads a string without escapes or control characters into dest
static int
s_json_string (s_json_t *json, char *dest, size_t dest_size)
{
    if (!s_json_char (json, '"'))
        return -1;
    size_t length = 0;
    while (json->pos < json->size && json->text[json->pos] != '"') {
        unsigned char c = (unsigned char)json->text[json->pos++];
        if (c < 0x20 || c == '\\' || length + 1 >= dest_size)
            return -1;
        dest[length++] = (char)c;
    }
    if (json->pos >= json->size)
        return -1;
    json->pos++;
    dest[length] = 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  True when name is in the comma-separated list (NULL = everything)

static bool
s_listed (const char *list, const char *name)
{
    if (!list)
        return true;
    size_t length = strlen (name);
    for (const char *item = list; item;) {
        const char *comma = strchr (item, ',');
        size_t item_size = comma ? (size_t)(comma - item) : strlen (item);
        if (item_size == length && strncmp (item, name, length) == 0)
            return true;
        item = comma ? comma + 1 : NULL;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Maps a window timestamp to the first row holding it; -1 if none

static long
s_find_stamp (const int64_t *stamps, size_t rows, int64_t stamp)
{
    for (size_t row = 0; row < rows; row++)
        if (stamps[row] == stamp)
            return (long)row;
    return -1;
}

int
lw_nab_corpus_load (lw_nab_corpus_t *self, const char *nab_dir,
                    const char *only, char *error, size_t error_size)
{
    assert (self);
    assert (nab_dir);
    char path[4096];
    snprintf (path, sizeof (path), "%s/combined_windows.json", nab_dir);
    size_t size;
    char *text = s_read_file (path, &size, error, error_size);
    if (!text)
        return -1;
    int rc = -1;
    size_t *left = (size_t *)malloc (LW_NAB_WINDOWS_MAX * sizeof (size_t));
    size_t *right = (size_t *)malloc (LW_NAB_WINDOWS_MAX * sizeof (size_t));
    if (!left || !right) {
        s_error (error, error_size, "out of memory");
        goto cleanup;
    }
    s_json_t json = {text, 0, size};
    char name[S_NAME_MAX], start[64], end[64];
    if (!s_json_char (&json, '{'))
        goto malformed;
    bool first = true;
    while (!s_json_char (&json, '}')) {
        if (!first && !s_json_char (&json, ','))
            goto malformed;
        first = false;
        if (s_json_string (&json, name, sizeof (name)) ||
            !s_json_char (&json, ':') || !s_json_char (&json, '['))
            goto malformed;
        bool wanted = s_listed (only, name);
        int64_t *stamps = NULL;
        size_t rows = 0;
        if (wanted) {
            if (strstr (name, "..") || name[0] == '/') {
                s_error (error, error_size, "%s: bad file name '%.64s'", path,
                         name);
                goto cleanup;
            }
            char data_path[4096 + S_NAME_MAX];
            snprintf (data_path, sizeof (data_path), "%s/data/%s", nab_dir,
                      name);
            stamps = s_read_stamps (data_path, &rows, error, error_size);
            if (!stamps)
                goto cleanup;
        }
        size_t nwindows = 0;
        bool first_window = true;
        while (!s_json_char (&json, ']')) {
            if ((!first_window && !s_json_char (&json, ',')) ||
                !s_json_char (&json, '[') ||
                s_json_string (&json, start, sizeof (start)) ||
                !s_json_char (&json, ',') ||
                s_json_string (&json, end, sizeof (end)) ||
                !s_json_char (&json, ']')) {
                free (stamps);
                goto malformed;
            }
            first_window = false;
            int64_t start_stamp, end_stamp;
            if (nwindows >= LW_NAB_WINDOWS_MAX ||
                s_parse_stamp (start, strlen (start), &start_stamp) ||
                s_parse_stamp (end, strlen (end), &end_stamp)) {
                s_error (error, error_size, "%s: %s: bad window [%s, %s]", path,
                         name, start, end);
                free (stamps);
                goto cleanup;
            }
            if (wanted) {
                long first_row = s_find_stamp (stamps, rows, start_stamp);
                long last_row = s_find_stamp (stamps, rows, end_stamp);
                if (first_row < 0 || last_row < 0) {
                    //  NAB's loader raises ValueError here too
                    s_error (error, error_size,
                             "%s: window [%s, %s] is not in the data", name,
                             start, end);
                    free (stamps);
                    goto cleanup;
                }
                left[nwindows] = (size_t)first_row;
                right[nwindows] = (size_t)last_row;
            }
            nwindows++;
        }
        if (wanted && s_add (self, name, rows, stamps, left, right, nwindows,
                             error, error_size) < 0)
            goto cleanup;
    }
    s_json_space (&json);
    if (json.pos != json.size)
        goto malformed;
    if (self->nfiles == 0) {
        s_error (error, error_size, "%s: no file selected", path);
        goto cleanup;
    }
    rc = 0;
    goto cleanup;

malformed:
    s_error (error, error_size, "%s: malformed near byte %zu", path, json.pos);
cleanup:
    free (left);
    free (right);
    free (text);
    return rc;
}

size_t
lw_nab_corpus_files (lw_nab_corpus_t *self)
{
    assert (self);
    return self->nfiles;
}

const char *
lw_nab_corpus_name (lw_nab_corpus_t *self, size_t file)
{
    assert (self);
    assert (file < self->nfiles);
    return self->files[file].name;
}

const char *
lw_nab_corpus_category (lw_nab_corpus_t *self, size_t file)
{
    assert (self);
    assert (file < self->nfiles);
    return self->files[file].category;
}

const char *
lw_nab_corpus_base (lw_nab_corpus_t *self, size_t file)
{
    assert (self);
    assert (file < self->nfiles);
    return self->files[file].base;
}

size_t
lw_nab_corpus_rows (lw_nab_corpus_t *self, size_t file)
{
    assert (self);
    assert (file < self->nfiles);
    return self->files[file].rows;
}

size_t
lw_nab_corpus_windows (lw_nab_corpus_t *self, size_t file)
{
    assert (self);
    assert (file < self->nfiles);
    return self->files[file].nwindows;
}

size_t
lw_nab_corpus_total_rows (lw_nab_corpus_t *self)
{
    assert (self);
    return self->total_rows;
}

size_t
lw_nab_corpus_total_windows (lw_nab_corpus_t *self)
{
    assert (self);
    return self->total_windows;
}

//  --------------------------------------------------------------------------
//  §2: probLen = min(floor(0.15 N), 0.15 * 5000)

size_t
lw_nab_probation (size_t rows)
{
    double length = floor (0.15 * (double)rows);
    return (size_t)(length < 0.15 * 5000 ? length : 0.15 * 5000);
}

//  --------------------------------------------------------------------------
//  §3: S(y) = -1 if y > 3, else 2 sigmoid(-5 y) - 1, sigmoid(x) =
//  1 / (1 + exp(-x)), in NAB's operation order

double
lw_nab_sigmoid (double y)
{
    if (y > 3.0)
        return -1.0;
    double x = -5 * y;
    return 2 * (1 / (1 + exp (-x))) - 1.0;
}

//  --------------------------------------------------------------------------
//  §4 and §8: sigma(i) for every row of a file

void
lw_nab_sigma (lw_nab_corpus_t *self, size_t file_index, int profile,
              double *sigma)
{
    assert (self);
    assert (file_index < self->nfiles);
    assert (profile >= 0 && profile < LW_NAB_PROFILES);
    assert (sigma);
    const s_file_t *file = &self->files[file_index];
    const lw_nab_profile_t *weights = &lw_nab_profiles[profile];
    double max_tp = lw_nab_sigmoid (-1.0);
    size_t next = 0;          //  Next window to enter
    long current = -1;        //  Window we are in, or -1
    long previous_right = -1; //  Right end of the last window
    long previous_width = 0;  //  Its width
    for (size_t row = 0; row < file->rows; row++) {
        if (next < file->nwindows && row == file->left[next])
            current = (long)next++;
        if (current >= 0) {
            long width = (long)(file->right[current] - file->left[current]) + 1;
            double y = -(double)((long)file->right[current] - (long)row + 1) /
                       (double)width;
            sigma[row] = weights->a_tp * lw_nab_sigmoid (y) / max_tp;
        }
        else if (previous_right < 0)
            sigma[row] = -1.0 * weights->a_fp;
        else {
            //  A one-row window would divide by zero: NAB's windows are
            //  29 rows or more, treat it as far away
            double y = previous_width > 1
                           ? (double)labs ((long)row - previous_right) /
                                 (double)(previous_width - 1)
                           : 4.0;
            sigma[row] = weights->a_fp * lw_nab_sigmoid (y);
        }
        if (current >= 0 && row == file->right[current]) {
            previous_right = (long)file->right[current];
            previous_width =
                (long)(file->right[current] - file->left[current]) + 1;
            current = -1;
        }
    }
}

//  --------------------------------------------------------------------------
//  detector

lw_nab_det_t *
lw_nab_det_new (lw_nab_corpus_t *corpus, const char *name)
{
    assert (corpus);
    assert (name);
    lw_nab_det_t *self = (lw_nab_det_t *)calloc (1, sizeof (lw_nab_det_t));
    if (self) {
        self->corpus = corpus;
        self->name = strdup (name);
        self->scores =
            (double **)calloc (corpus->nfiles + 1, sizeof (double *));
        if (!self->name || !self->scores)
            lw_nab_det_destroy (&self);
    }
    return self;
}

void
lw_nab_det_destroy (lw_nab_det_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_nab_det_t *self = *self_p;
        if (self->scores)
            for (size_t file = 0; file < self->corpus->nfiles; file++)
                free (self->scores[file]);
        free (self->scores);
        free (self->rows);
        free (self->file_start);
        free (self->by_file);
        free (self->name);
        free (self);
        *self_p = NULL;
    }
}

const char *
lw_nab_det_name (lw_nab_det_t *self)
{
    assert (self);
    return self->name;
}

//  --------------------------------------------------------------------------
//  Forgets the sorted rows (scores changed)

static void
s_det_invalidate (lw_nab_det_t *self)
{
    free (self->rows);
    free (self->file_start);
    free (self->by_file);
    self->rows = NULL;
    self->file_start = NULL;
    self->by_file = NULL;
    self->nrows = 0;
}

int
lw_nab_det_set (lw_nab_det_t *self, size_t file, const double *scores,
                size_t rows, char *error, size_t error_size)
{
    assert (self);
    assert (file < self->corpus->nfiles);
    assert (scores || rows == 0);
    const s_file_t *data = &self->corpus->files[file];
    if (rows != data->rows) {
        s_error (error, error_size, "%s: %zu scores for %zu rows", data->name,
                 rows, data->rows);
        return -1;
    }
    for (size_t row = 0; row < rows; row++)
        if (!(scores[row] >= 0.0 && scores[row] <= 1.0)) {
            s_error (error, error_size, "%s: row %zu: score %g not in [0, 1]",
                     data->name, row + 1, scores[row]);
            return -1;
        }
    double *copy = (double *)malloc ((rows + 1) * sizeof (double));
    if (!copy) {
        s_error (error, error_size, "out of memory");
        return -1;
    }
    if (rows)
        memcpy (copy, scores, rows * sizeof (double));
    free (self->scores[file]);
    self->scores[file] = copy;
    s_det_invalidate (self);
    return 0;
}

int
lw_nab_det_load (lw_nab_det_t *self, size_t file, const char *path,
                 const char *column, bool opens, size_t *mismatched,
                 char *error, size_t error_size)
{
    assert (self);
    assert (file < self->corpus->nfiles);
    assert (path);
    assert (column);
    const s_file_t *data = &self->corpus->files[file];
    size_t size;
    char *text = s_read_file (path, &size, error, error_size);
    if (!text)
        return -1;
    int rc = -1;
    double *scores = (double *)malloc ((data->rows + 1) * sizeof (double));
    if (!scores) {
        s_error (error, error_size, "out of memory");
        goto cleanup;
    }
    char *cursor = text, *line;
    size_t line_size;
    //  Find the column in the header
    long wanted = -1;
    if (s_next_line (&cursor, &line, &line_size)) {
        long index = 0;
        size_t column_size = strlen (column);
        for (size_t pos = 0; pos <= line_size; index++) {
            char *comma = (char *)memchr (line + pos, ',', line_size - pos);
            size_t end = comma ? (size_t)(comma - line) : line_size;
            if (end - pos == column_size &&
                strncmp (line + pos, column, column_size) == 0) {
                wanted = index;
                break;
            }
            pos = end + 1;
        }
    }
    if (wanted <= 0) {
        s_error (error, error_size, "%s: no column '%s' after the timestamp",
                 path, column);
        goto cleanup;
    }
    size_t rows = 0;
    bool was_open = false;
    while (s_next_line (&cursor, &line, &line_size)) {
        if (line_size == 0 && *cursor == 0)
            break;
        if (rows >= data->rows) {
            s_error (error, error_size, "%s: more rows than the data's %zu",
                     path, data->rows);
            goto cleanup;
        }
        //  Fields: the timestamp, then up to the wanted column
        char *comma = (char *)memchr (line, ',', line_size);
        int64_t stamp;
        if (!comma || s_parse_stamp (line, (size_t)(comma - line), &stamp)) {
            s_error (error, error_size, "%s: row %zu: bad timestamp", path,
                     rows + 1);
            goto cleanup;
        }
        if (data->stamps && stamp != data->stamps[rows]) {
            if (!mismatched) {
                s_error (error, error_size,
                         "%s: row %zu: timestamp is not the data's", path,
                         rows + 1);
                goto cleanup;
            }
            (*mismatched)++;
        }
        char *field = line;
        char *line_end = line + line_size;
        for (long index = 0; index < wanted && field; index++) {
            char *next =
                (char *)memchr (field, ',', (size_t)(line_end - field));
            field = next ? next + 1 : NULL;
        }
        char field_text[64];
        size_t field_size = 0;
        if (field) {
            char *end = (char *)memchr (field, ',', (size_t)(line_end - field));
            field_size = (size_t)((end ? end : line_end) - field);
        }
        char *parsed_end = NULL;
        double value = NAN;
        if (field && field_size > 0 && field_size < sizeof (field_text)) {
            memcpy (field_text, field, field_size);
            field_text[field_size] = 0;
            errno = 0;
            value = strtod (field_text, &parsed_end);
            if (errno || parsed_end != field_text + field_size)
                value = NAN;
        }
        if (opens) {
            if (value != 0.0 && value != 1.0) {
                s_error (error, error_size, "%s: row %zu: %s is not 0 or 1",
                         path, rows + 1, column);
                goto cleanup;
            }
            bool open = value == 1.0;
            scores[rows] = open && !was_open ? 1.0 : 0.0;
            was_open = open;
        }
        else if (!(value >= 0.0 && value <= 1.0)) {
            s_error (error, error_size, "%s: row %zu: %s is not in [0, 1]",
                     path, rows + 1, column);
            goto cleanup;
        }
        else
            scores[rows] = value;
        rows++;
    }
    rc = lw_nab_det_set (self, file, scores, rows, error, error_size);
cleanup:
    free (scores);
    free (text);
    return rc;
}

bool
lw_nab_det_complete (lw_nab_det_t *self)
{
    assert (self);
    for (size_t file = 0; file < self->corpus->nfiles; file++)
        if (!self->scores[file])
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Python's sorted (..., key=score, reverse=True) is stable: descending
//  score, then the original order

static int
s_compare_rows (const void *left, const void *right)
{
    const s_row_t *a = (const s_row_t *)left;
    const s_row_t *b = (const s_row_t *)right;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

//  --------------------------------------------------------------------------
//  Builds the non-probationary rows of every file with their sigma per
//  profile, sorted once (§5 step 1, §7 step 2), and the same rows grouped
//  by file in that order. Asserts on out of memory (a test tool).

static void
s_det_prepare (lw_nab_det_t *self)
{
    if (self->rows)
        return;
    assert (lw_nab_det_complete (self));
    lw_nab_corpus_t *corpus = self->corpus;
    size_t capacity = corpus->total_rows + 1;
    self->rows = (s_row_t *)malloc (capacity * sizeof (s_row_t));
    self->file_start = (size_t *)calloc (corpus->nfiles + 1, sizeof (size_t));
    size_t longest = 1;
    for (size_t file = 0; file < corpus->nfiles; file++)
        if (corpus->files[file].rows > longest)
            longest = corpus->files[file].rows;
    double *sigma =
        (double *)malloc (LW_NAB_PROFILES * longest * sizeof (double));
    assert (self->rows && self->file_start && sigma);
    size_t count = 0;
    for (size_t file_index = 0; file_index < corpus->nfiles; file_index++) {
        const s_file_t *file = &corpus->files[file_index];
        for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
            lw_nab_sigma (corpus, file_index, profile,
                          sigma + (size_t)profile * longest);
        size_t probation = lw_nab_probation (file->rows);
        size_t window = 0;
        for (size_t row = probation; row < file->rows; row++) {
            while (window < file->nwindows && file->right[window] < row)
                window++;
            s_row_t *item = &self->rows[count];
            item->score = self->scores[file_index][row];
            for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
                item->sigma[profile] = sigma[(size_t)profile * longest + row];
            item->window = window < file->nwindows && file->left[window] <= row
                               ? (int32_t)(file->window_base + window)
                               : -1;
            item->file = (uint32_t)file_index;
            item->order = (uint32_t)count;
            count++;
        }
        self->file_start[file_index + 1] = count;
    }
    free (sigma);
    self->nrows = count;
    qsort (self->rows, count, sizeof (s_row_t), s_compare_rows);
    //  Group by file, keeping the sorted order within each file
    self->by_file = (uint32_t *)malloc ((count + 1) * sizeof (uint32_t));
    size_t *fill = (size_t *)malloc ((corpus->nfiles + 1) * sizeof (size_t));
    assert (self->by_file && fill);
    memcpy (fill, self->file_start, corpus->nfiles * sizeof (size_t));
    for (size_t index = 0; index < count; index++)
        self->by_file[fill[self->rows[index].file]++] = (uint32_t)index;
    free (fill);
}

size_t
lw_nab_det_distinct (lw_nab_det_t *self, size_t *at_top)
{
    assert (self);
    s_det_prepare (self);
    size_t distinct = 0, top = 0;
    for (size_t index = 0; index < self->nrows; index++) {
        if (index == 0 ||
            self->rows[index].score != self->rows[index - 1].score)
            distinct++;
        if (self->rows[index].score == self->rows[0].score)
            top++;
    }
    if (at_top)
        *at_top = top;
    return distinct;
}

//  --------------------------------------------------------------------------
//  True when a window has a non-probationary row (NAB scores only those)

static bool
s_scorable (const s_file_t *file, size_t window)
{
    return file->right[window] >= lw_nab_probation (file->rows);
}

//  --------------------------------------------------------------------------
//  Sum of the parts in NAB's dict order: "fp", then the windows

static double
s_sum_parts (double fp, const double *parts, const bool *present, size_t count)
{
    double sum = 0;
    sum += fp;
    for (size_t window = 0; window < count; window++)
        if (present[window])
            sum += parts[window];
    return sum;
}

double
lw_nab_optimise (lw_nab_det_t *self, int profile, double *raw)
{
    assert (self);
    assert (profile >= 0 && profile < LW_NAB_PROFILES);
    s_det_prepare (self);
    lw_nab_corpus_t *corpus = self->corpus;
    const lw_nab_profile_t *weights = &lw_nab_profiles[profile];
    size_t nwindows = corpus->total_windows;
    double *parts = (double *)malloc ((nwindows + 1) * sizeof (double));
    bool *present = (bool *)calloc (nwindows + 1, sizeof (bool));
    assert (parts && present);
    for (size_t file = 0; file < corpus->nfiles; file++)
        for (size_t window = 0; window < corpus->files[file].nwindows;
             window++) {
            size_t index = corpus->files[file].window_base + window;
            present[index] = s_scorable (&corpus->files[file], window);
            parts[index] = -weights->a_fn;
        }
    //  §5 step 3 over the whole corpus: an entry (t, sum) before each new
    //  score value, and one at the end; the first best entry wins, which
    //  is the highest threshold among equal scores
    double fp = 0;
    double threshold = 1.1;
    double best_threshold = threshold;
    double best = -INFINITY;
    for (size_t index = 0; index < self->nrows; index++) {
        const s_row_t *row = &self->rows[index];
        if (row->score != threshold) {
            double sum = s_sum_parts (fp, parts, present, nwindows);
            if (sum > best) {
                best = sum;
                best_threshold = threshold;
            }
            threshold = row->score;
        }
        double sigma = row->sigma[profile];
        if (row->window >= 0) {
            if (sigma > parts[row->window])
                parts[row->window] = sigma;
        }
        else
            fp += sigma;
    }
    double sum = s_sum_parts (fp, parts, present, nwindows);
    if (sum > best) {
        best = sum;
        best_threshold = threshold;
    }
    free (parts);
    free (present);
    if (raw)
        *raw = best;
    return best_threshold;
}

//  --------------------------------------------------------------------------
//  Normalises a result: 100 (raw - null) / (perfect - null)

static void
s_normalise (lw_nab_result_t *result)
{
    double span = result->perfect - result->null_raw;
    result->normalised =
        span != 0 ? 100 * (result->raw - result->null_raw) / span : NAN;
}

void
lw_nab_result_add (lw_nab_result_t *sum, const lw_nab_result_t *part)
{
    assert (sum);
    assert (part);
    sum->threshold = part->threshold;
    sum->raw += part->raw;
    sum->null_raw += part->null_raw;
    sum->perfect += part->perfect;
    sum->tp += part->tp;
    sum->tn += part->tn;
    sum->fp += part->fp;
    sum->fn += part->fn;
    sum->windows += part->windows;
    sum->detected += part->detected;
    sum->fp_events += part->fp_events;
    s_normalise (sum);
}

void
lw_nab_score (lw_nab_det_t *self, int profile, double threshold,
              lw_nab_result_t *total, lw_nab_result_t *per_file)
{
    assert (self);
    assert (profile >= 0 && profile < LW_NAB_PROFILES);
    assert (total);
    s_det_prepare (self);
    lw_nab_corpus_t *corpus = self->corpus;
    const lw_nab_profile_t *weights = &lw_nab_profiles[profile];
    memset (total, 0, sizeof (*total));
    total->threshold = threshold;
    double *parts =
        (double *)malloc ((LW_NAB_WINDOWS_MAX + 1) * sizeof (double));
    bool *present = (bool *)calloc (LW_NAB_WINDOWS_MAX + 1, sizeof (bool));
    bool *hit = (bool *)calloc (LW_NAB_WINDOWS_MAX + 1, sizeof (bool));
    assert (parts && present && hit);
    for (size_t file_index = 0; file_index < corpus->nfiles; file_index++) {
        const s_file_t *file = &corpus->files[file_index];
        lw_nab_result_t result = {.threshold = threshold};
        for (size_t window = 0; window < file->nwindows; window++) {
            present[window] = s_scorable (file, window);
            parts[window] = -weights->a_fn;
            hit[window] = false;
            if (present[window])
                result.null_raw += -weights->a_fn;
        }
        result.windows = (long)file->nwindows;
        result.perfect = (double)file->nwindows * weights->a_tp;
        //  Rows inside and outside windows (non-probationary)
        size_t start = self->file_start[file_index];
        size_t end = self->file_start[file_index + 1];
        long inside = 0;
        for (size_t index = start; index < end; index++)
            inside += self->rows[self->by_file[index]].window >= 0;
        long outside = (long)(end - start) - inside;
        //  Detections in sorted order, as NAB's sweep takes them
        double fp = 0;
        for (size_t index = start; index < end; index++) {
            const s_row_t *row = &self->rows[self->by_file[index]];
            if (!(row->score >= threshold))
                break;
            double sigma = row->sigma[profile];
            if (row->window >= 0) {
                size_t window = (size_t)row->window - file->window_base;
                if (sigma > parts[window])
                    parts[window] = sigma;
                hit[window] = true;
                result.tp++;
            }
            else {
                fp += sigma;
                result.fp++;
            }
        }
        result.fn = inside - result.tp;
        result.tn = outside - result.fp;
        result.fp_events = result.fp;
        for (size_t window = 0; window < file->nwindows; window++)
            result.detected += hit[window];
        result.raw = s_sum_parts (fp, parts, present, file->nwindows);
        s_normalise (&result);
        if (per_file)
            per_file[file_index] = result;
        lw_nab_result_add (total, &result);
    }
    free (parts);
    free (present);
    free (hit);
}
