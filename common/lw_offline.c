/*  =========================================================================
    lw_offline.c - offline scoring of a CSV file (lwctl score)

    Copyright (c) the linewatch authors. MIT license.

    Reads a CSV with lw_csv, runs each reading through the live pipeline's
    calls (s_score: lw_extract_update, lw_detector_score, lw_rules_step
    with the episode; wide rows through lw_machine) and writes one result
    row per good input row. Speed:
    the input is read in large chunks and split in place (lw_csv), the
    output is assembled in a 1 MiB buffer written with one fwrite per MiB,
    texts are echoed rather than reformatted and scores are formatted by
    hand, so a 100,000-row file takes tens of milliseconds.
    =========================================================================
*/

#include "lw_offline.h"
#include "lw_csv.h"
#include "lw_keymap.h"
#include "lw_util.h"

#include <math.h>

//  Output buffer; flushed when a row might not fit
#define S_OUT_BUFFER (1024 * 1024)
//  Most bytes one output row takes: the input line's texts, a quoted key,
//  the score and the alert flag
#define S_ROW_MAX (LW_CSV_LINE_MAX + 2 * LW_KEY_MAX + 64)
//  Default sensor key (narrow) and machine (wide)
#define S_NARROW_DEFAULT "csv/value"
#define S_WIDE_DEFAULT "csv"

//  Buffered output
typedef struct {
    const char *path; //  For messages
    FILE *file;       //  The file, or stdout
    bool close_file;  //  False for stdout
    char *buffer;     //  S_OUT_BUFFER bytes
    size_t used;      //  Bytes waiting in buffer
    bool failed;      //  A write failed (errno kept in error)
    int error;        //  errno of the failure
} writer_t;

//  Live state of one sensor, as lw-features and lw-scorer keep it
typedef struct {
    lw_extract_t *extract;   //  lw-features' state
    lw_detector_t *detector; //  lw-scorer's detector
    lw_episode_t *episode;   //  lw-scorer's episodes; NULL for columns
    lw_alert_t alert;        //  Last alert of the episode
    lw_rule_state_t rules;   //  lw-scorer's rule detectors
    bool seen;               //  lw-ingest's cleaning: a reading accepted
    int64_t newest;          //  Newest event time accepted
    double last_score;       //  Score of the last reading scored
    uint32_t last_flags;     //  Its flags
} sensor_t;

//  One scoring run
typedef struct {
    const lw_detect_cfg_t *cfg; //  Detection settings
    lw_csv_t *csv;              //  Input
    writer_t *writer;           //  Output
    const char *sensor;         //  The --sensor option, or NULL
    double *values;             //  Values of the current row
    size_t rows;                //  Rows written
    size_t bad_keys;            //  Rows skipped for their sensor key
    size_t alerts;              //  Episodes opened
    int64_t lateness;           //  lw-ingest's lateness bound, ns
    lw_rules_t *rules;          //  Rule detectors, or NULL
    lw_machine_cfg_t machine;   //  Wide files' machine score
    size_t dropped;             //  Rows live ingest would drop
} run_t;

//  --------------------------------------------------------------------------
//  Destroys a sensor's state (a keymap destructor).

static void
s_sensor_destroy (void **self_p)
{
    sensor_t *self = (sensor_t *)*self_p;
    if (self) {
        lw_extract_destroy (&self->extract);
        lw_detector_destroy (&self->detector);
        lw_episode_destroy (&self->episode);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Creates a sensor's state; with_episode false for the columns of a wide
//  file (the episode runs on the machine). Returns it or NULL.

static sensor_t *
s_sensor_new (run_t *run, const char *key, bool with_episode)
{
    const lw_detect_cfg_t *cfg = run->cfg;
    sensor_t *self = (sensor_t *)zmalloc (sizeof (sensor_t));
    if (!self)
        return NULL;
    lw_rule_t rule;
    memset (&rule, 0, sizeof (rule));
    if (run->rules)
        lw_rules_resolve (run->rules, key, &rule);
    lw_rule_state_init (&self->rules, &rule);
    self->extract = lw_extract_new (cfg);
    self->detector = lw_detector_new (cfg);
    self->episode = with_episode ? lw_episode_new (cfg, key) : NULL;
    if (!self->extract || !self->detector || (with_episode && !self->episode)) {
        void *pointer = self;
        s_sensor_destroy (&pointer);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  One reading through the live pipeline, in its order: lw-ingest's
//  cleaning (the rule of lw_clean_check: a reading with the timestamp of
//  the sensor's newest, or older than newest - lateness, is dropped; an
//  older one within the bound is marked late), lw-features' extraction
//  into a zeroed batch item, then lw-scorer's detector (flags cleared
//  first) and episode. Returns the episode's change (0 or LW_ALERT_*; 0
//  for a sensor without episode), or -1 for a dropped reading, which
//  repeats the sensor's last score and flags in *item.

static int
s_score (run_t *run, sensor_t *sensor, const char *key, int64_t time,
         double value, lw_item_t *item)
{
    memset (item, 0, sizeof (*item));
    item->sensor = key;
    item->time = time;
    item->value = value;
    if (!sensor->seen || time > sensor->newest) {
        sensor->seen = true;
        sensor->newest = time;
    }
    else if (time == sensor->newest ||
             (uint64_t)sensor->newest - (uint64_t)time >
                 (uint64_t)run->lateness) {
        item->score = sensor->last_score;
        item->flags = sensor->last_flags;
        run->dropped++;
        return -1;
    }
    else
        item->quality |= LW_QUALITY_LATE;
    lw_extract_update (sensor->extract, item);
    item->flags = 0;
    lw_detector_score (sensor->detector, item);
    //  Rules, then the episode (none for a wide file's columns)
    int change =
        lw_rules_step (&sensor->rules, sensor->episode, run->cfg, item,
                       lw_detector_name (sensor->detector), &sensor->alert);
    sensor->last_score = item->score;
    sensor->last_flags = item->flags;
    return change;
}

//  --------------------------------------------------------------------------
//  Writes what the buffer holds. Returns 0 or -1 (the writer is failed).

static int
s_flush (writer_t *writer)
{
    if (writer->used > 0 && !writer->failed) {
        if (fwrite (writer->buffer, 1, writer->used, writer->file) !=
            writer->used) {
            writer->failed = true;
            writer->error = errno;
        }
    }
    writer->used = 0;
    return writer->failed ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Makes room for one row in the buffer.

static inline void
s_reserve (writer_t *writer)
{
    if (writer->used + S_ROW_MAX > S_OUT_BUFFER)
        s_flush (writer);
}

//  --------------------------------------------------------------------------
//  Appends text (after s_reserve: the row fits).

static inline void
s_put (writer_t *writer, const char *text)
{
    size_t size = strlen (text);
    memcpy (writer->buffer + writer->used, text, size);
    writer->used += size;
}

static inline void
s_put_char (writer_t *writer, char byte)
{
    writer->buffer[writer->used++] = byte;
}

//  --------------------------------------------------------------------------
//  Appends a key, quoted when it holds a comma or a quote.

static void
s_put_key (writer_t *writer, const char *key)
{
    if (!strpbrk (key, ",\"")) {
        s_put (writer, key);
        return;
    }
    s_put_char (writer, '"');
    for (const char *cursor = key; *cursor; cursor++) {
        if (*cursor == '"')
            s_put_char (writer, '"');
        s_put_char (writer, *cursor);
    }
    s_put_char (writer, '"');
}

//  --------------------------------------------------------------------------
//  Appends ",<score>,<alert>\n": the score in [0, 1] with up to 6
//  decimals (trailing zeros dropped), by hand since printf would dominate
//  the run time.

static void
s_put_tail (writer_t *writer, double score, bool alert)
{
    long micro = score > 0 ? lround (score * 1e6) : 0;
    s_put_char (writer, ',');
    if (micro <= 0)
        s_put_char (writer, '0');
    else if (micro >= 1000000)
        s_put_char (writer, '1');
    else {
        char digits[8] = "0.";
        for (int index = 7; index >= 2; index--) {
            digits[index] = (char)('0' + micro % 10);
            micro /= 10;
        }
        int size = 8;
        while (digits[size - 1] == '0')
            size--;
        memcpy (writer->buffer + writer->used, digits, (size_t)size);
        writer->used += (size_t)size;
    }
    s_put_char (writer, ',');
    s_put_char (writer, alert ? '1' : '0');
    s_put_char (writer, '\n');
}

//  --------------------------------------------------------------------------
//  Narrow file: one sensor.

static int
s_run_narrow (run_t *run)
{
    const char *key = run->sensor ? run->sensor : S_NARROW_DEFAULT;
    sensor_t *sensor = s_sensor_new (run, key, true);
    if (!sensor) {
        fprintf (stderr, "score: out of memory\n");
        return -1;
    }
    writer_t *writer = run->writer;
    s_put (writer, "timestamp,value,anomaly_score,alert\n");
    int64_t time;
    lw_item_t item;
    int rc;
    while ((rc = lw_csv_next (run->csv, &time, NULL, run->values)) == 1) {
        if (s_score (run, sensor, key, time, run->values[0], &item) ==
            LW_ALERT_OPEN)
            run->alerts++;
        s_reserve (writer);
        s_put (writer, lw_csv_time_text (run->csv));
        s_put_char (writer, ',');
        s_put (writer, lw_csv_value_text (run->csv, 0));
        s_put_tail (writer, item.score, item.flags & LW_SCORE_ALERT);
        run->rows++;
    }
    void *pointer = sensor;
    s_sensor_destroy (&pointer);
    return rc;
}

//  --------------------------------------------------------------------------
//  Long file: a state per sensor key, or only the --sensor one.

static int
s_run_long (run_t *run)
{
    lw_keymap_t *sensors = lw_keymap_new (s_sensor_destroy);
    if (!sensors) {
        fprintf (stderr, "score: out of memory\n");
        return -1;
    }
    writer_t *writer = run->writer;
    s_put (writer, "timestamp,sensor,value,anomaly_score,alert\n");
    int64_t time;
    const char *key;
    lw_item_t item;
    int rc;
    while ((rc = lw_csv_next (run->csv, &time, &key, run->values)) == 1) {
        if (run->sensor && !streq (key, run->sensor))
            continue;
        sensor_t *sensor = (sensor_t *)lw_keymap_lookup (sensors, key);
        if (!sensor) {
            if (!lw_key_valid (key, strlen (key)) ||
                lw_keymap_size (sensors) >= LW_OFFLINE_SENSORS_MAX) {
                run->bad_keys++;
                continue;
            }
            sensor = s_sensor_new (run, key, true);
            if (!sensor || lw_keymap_insert (sensors, key, sensor)) {
                void *pointer = sensor;
                s_sensor_destroy (&pointer);
                fprintf (stderr, "score: out of memory\n");
                rc = -1;
                break;
            }
        }
        if (s_score (run, sensor, key, time, run->values[0], &item) ==
            LW_ALERT_OPEN)
            run->alerts++;
        s_reserve (writer);
        s_put (writer, lw_csv_time_text (run->csv));
        s_put_char (writer, ',');
        s_put_key (writer, key);
        s_put_char (writer, ',');
        s_put (writer, lw_csv_value_text (run->csv, 0));
        s_put_tail (writer, item.score, item.flags & LW_SCORE_ALERT);
        run->rows++;
    }
    lw_keymap_destroy (&sensors);
    return rc;
}

//  --------------------------------------------------------------------------
//  Wide file: every column a sensor "<machine>/<column>"; each row is a
//  row of the machine, scored by lw_machine as lw-scorer scores it (one
//  episode on the machine score; its value and expected range are the top
//  column's).

static int
s_run_wide (run_t *run)
{
    const char *machine = run->sensor ? run->sensor : S_WIDE_DEFAULT;
    size_t count = lw_csv_values (run->csv);
    sensor_t **columns = (sensor_t **)calloc (count, sizeof (sensor_t *));
    char **keys = (char **)calloc (count, sizeof (char *));
    lw_machine_t *state = NULL;
    int rc = -1;
    if (!columns || !keys)
        goto nomem;
    for (size_t index = 0; index < count; index++) {
        const char *name = lw_csv_value_name (run->csv, index);
        size_t size = strlen (machine) + 1 + strlen (name);
        if (size > LW_KEY_MAX) {
            fprintf (stderr,
                     "score: the key of column %zu is longer than "
                     "%d bytes\n",
                     index + 2, LW_KEY_MAX);
            goto cleanup;
        }
        keys[index] = (char *)malloc (size + 1);
        if (!keys[index])
            goto nomem;
        size_t machine_size = strlen (machine);
        memcpy (keys[index], machine, machine_size);
        keys[index][machine_size] = '/';
        memcpy (keys[index] + machine_size + 1, name,
                size - machine_size); //  With the name's NUL
        if (!lw_key_valid (keys[index], size)) {
            fprintf (stderr,
                     "score: the name of column %zu does not make "
                     "a valid sensor key\n",
                     index + 2);
            goto cleanup;
        }
        columns[index] = s_sensor_new (run, keys[index], false);
        if (!columns[index])
            goto nomem;
    }
    state = lw_machine_new (run->cfg, &run->machine, machine, 1);
    if (!state)
        goto nomem;

    writer_t *writer = run->writer;
    s_put (writer, "timestamp,anomaly_score,alert\n");
    int64_t time;
    lw_item_t item, top, last;
    memset (&last, 0, sizeof (last));
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    while ((rc = lw_csv_next (run->csv, &time, NULL, run->values)) == 1) {
        bool admitted = false;
        for (size_t index = 0; index < count; index++) {
            if (isnan (run->values[index]))
                continue; //  Missing reading
            if (s_score (run, columns[index], keys[index], time,
                         run->values[index], &item) < 0)
                continue; //  As lw-ingest would drop it
            admitted = true;
            lw_machine_add (state, keys[index], &item);
        }
        if (!admitted) {
            //  Every reading of the row dropped or missing: the machine
            //  has no row, and repeats its last score
            top = last;
        }
        else if (lw_machine_close (state, &top, &alert) == LW_ALERT_OPEN)
            run->alerts++;
        last = top;
        s_reserve (writer);
        s_put (writer, lw_csv_time_text (run->csv));
        s_put_tail (writer, top.score, top.flags & LW_SCORE_ALERT);
        run->rows++;
    }
    goto cleanup;

nomem:
    fprintf (stderr, "score: out of memory\n");
cleanup:
    lw_machine_destroy (&state);
    for (size_t index = 0; index < count; index++) {
        if (columns) {
            void *pointer = columns[index];
            s_sensor_destroy (&pointer);
        }
        if (keys)
            free (keys[index]);
    }
    free (columns);
    free (keys);
    return rc;
}

//  --------------------------------------------------------------------------
//  Scores a CSV file with lw-ingest's default lateness; see lw_offline.h.
//  Returns 0 or -1 (printed).

int
lw_offline_score (const lw_detect_cfg_t *cfg, const char *in_path,
                  const char *sensor, const char *out_path)
{
    return lw_offline_score_lateness (cfg, LW_OFFLINE_LATENESS, in_path, sensor,
                                      out_path);
}

//  --------------------------------------------------------------------------
//  Scores a CSV file; see lw_offline.h. Returns 0 or -1 (printed).

int
lw_offline_score_lateness (const lw_detect_cfg_t *cfg, int64_t lateness,
                           const char *in_path, const char *sensor,
                           const char *out_path)
{
    lw_offline_opts_t opts = {.lateness = lateness};
    return lw_offline_score_opts (cfg, &opts, in_path, sensor, out_path);
}

//  --------------------------------------------------------------------------
//  Scores a CSV file with rules and machine settings; see lw_offline.h.
//  Returns 0 or -1 (printed).

int
lw_offline_score_opts (const lw_detect_cfg_t *cfg,
                       const lw_offline_opts_t *opts, const char *in_path,
                       const char *sensor, const char *out_path)
{
    assert (cfg);
    assert (opts);
    assert (opts->lateness >= 0);
    assert (in_path);
    int64_t lateness = opts->lateness;
    if (sensor && !lw_key_valid (sensor, strlen (sensor))) {
        fprintf (stderr,
                 "score: the sensor name is not a valid key (1 to "
                 "%d bytes of UTF-8, no control characters)\n",
                 LW_KEY_MAX);
        return -1;
    }
    int rc = -1;
    writer_t writer = {.path = out_path ? out_path : "-"};
    run_t run = {.cfg = cfg,
                 .writer = &writer,
                 .sensor = sensor,
                 .lateness = lateness,
                 .rules = opts->rules};
    if (opts->machine)
        run.machine = *opts->machine;
    else
        lw_machine_cfg_default (&run.machine);
    run.csv = lw_csv_open (in_path);
    if (!run.csv)
        goto cleanup;
    run.values = (double *)malloc (LW_CSV_COLUMNS_MAX * sizeof (double));
    writer.buffer = (char *)malloc (S_OUT_BUFFER);
    if (!run.values || !writer.buffer) {
        fprintf (stderr, "score: out of memory\n");
        goto cleanup;
    }
    if (streq (writer.path, "-"))
        writer.file = stdout;
    else {
        writer.file = fopen (writer.path, "wb");
        writer.close_file = true;
        if (!writer.file) {
            fprintf (stderr, "score: cannot write '%s': %s\n", writer.path,
                     strerror (errno));
            goto cleanup;
        }
    }
    lw_csv_shape_t shape = lw_csv_shape (run.csv);
    int read = shape == LW_CSV_NARROW ? s_run_narrow (&run)
               : shape == LW_CSV_LONG ? s_run_long (&run)
                                      : s_run_wide (&run);
    if (s_flush (&writer) == 0 && fflush (writer.file)) {
        writer.failed = true;
        writer.error = errno;
    }
    if (writer.failed)
        fprintf (stderr, "score: cannot write '%s': %s\n", writer.path,
                 strerror (writer.error));
    else if (read == 0)
        rc = 0;
    size_t bad = lw_csv_bad_rows (run.csv);
    if (bad > 0)
        fprintf (stderr, "score: skipped %zu bad rows of '%s' (last: %s)\n",
                 bad, in_path, lw_csv_error (run.csv));
    if (run.dropped > 0)
        fprintf (stderr,
                 "score: %zu rows of '%s' not scored (as lw-ingest drops "
                 "them: same timestamp as the sensor's newest, or older "
                 "by more than the lateness bound); they repeat the "
                 "previous score\n",
                 run.dropped, in_path);
    if (run.bad_keys > 0)
        fprintf (stderr,
                 "score: skipped %zu rows of '%s' with an invalid "
                 "sensor key or beyond %d sensors\n",
                 run.bad_keys, in_path, LW_OFFLINE_SENSORS_MAX);

cleanup:
    if (writer.file && writer.close_file && fclose (writer.file) && rc == 0) {
        fprintf (stderr, "score: cannot write '%s': %s\n", writer.path,
                 strerror (errno));
        rc = -1;
    }
    free (writer.buffer);
    free (run.values);
    lw_csv_destroy (&run.csv);
    return rc;
}

//  --------------------------------------------------------------------------
//  Self test helper: writes a CSV of `rows` rows; column c of row r is
//  s_value (c, r). Shapes: narrow (column 0 only), long (columns 0 and 1
//  interleaved as m/a and m/b), wide (columns 0 and 1).

static double
s_value (int column, int row)
{
    //  Deterministic noise, a spike in column 0, a shift in column 1
    uint32_t hash = (uint32_t)(row * 2654435761u + (uint32_t)column * 40503u);
    hash ^= hash >> 15;
    hash *= 2246822519u;
    hash ^= hash >> 13;
    double noise = (double)(hash % 2001) / 1000.0 - 1.0;
    double value = (column ? 50 : 10) + noise;
    if (column == 0 && row == 300)
        value += 25;
    if (column == 1 && row >= 600)
        value += 30;
    return value;
}

static const char *
s_make_file (const char *dir, const char *shape, int rows)
{
    static char path[512];
    snprintf (path, sizeof (path), "%s/%s.csv", dir, shape);
    FILE *file = fopen (path, "w");
    assert (file);
    if (streq (shape, "narrow") || streq (shape, "narrow1"))
        fprintf (file, "timestamp,value\n");
    else if (streq (shape, "long"))
        fprintf (file, "timestamp,sensor,value\n");
    else
        fprintf (file, "timestamp,a,b\n");
    int column = streq (shape, "narrow1") ? 1 : 0;
    for (int row = 0; row < rows; row++) {
        int64_t seconds = 1700000000 + row * 60;
        if (streq (shape, "narrow") || streq (shape, "narrow1"))
            fprintf (file, "%" PRId64 ",%.17g\n", seconds,
                     s_value (column, row));
        else if (streq (shape, "long"))
            fprintf (file, "%" PRId64 ",m/a,%.17g\n%" PRId64 ",m/b,%.17g\n",
                     seconds, s_value (0, row), seconds, s_value (1, row));
        else
            fprintf (file, "%" PRId64 ",%.17g,%.17g\n", seconds,
                     s_value (0, row), s_value (1, row));
    }
    if (streq (shape, "narrow"))
        fprintf (file, "garbage row\n");
    fclose (file);
    return path;
}

//  --------------------------------------------------------------------------
//  Self test helper: reads an output file: scores and alert flags of
//  column layout (score at field `score_field`). Returns the row count.

static int
s_read_output (const char *path, const char *header, int score_field,
               double *scores, int *alerts, int max)
{
    FILE *file = fopen (path, "r");
    assert (file);
    char line[512];
    assert (fgets (line, sizeof (line), file));
    assert (streq (line, header));
    int rows = 0;
    while (fgets (line, sizeof (line), file)) {
        assert (rows < max);
        char *fields[8];
        int count = 0;
        char *saveptr = NULL;
        for (char *token = strtok_r (line, ",\n", &saveptr); token && count < 8;
             token = strtok_r (NULL, ",\n", &saveptr))
            fields[count++] = token;
        assert (count == score_field + 2);
        scores[rows] = strtod (fields[score_field], NULL);
        assert (scores[rows] >= 0 && scores[rows] <= 1);
        assert (streq (fields[score_field + 1], "0") ||
                streq (fields[score_field + 1], "1"));
        alerts[rows] = fields[score_field + 1][0] == '1';
        rows++;
    }
    fclose (file);
    return rows;
}

//  --------------------------------------------------------------------------
//  Self test of lw_offline.

void
lw_offline_test (bool verbose)
{
    printf (" * lw_offline: ");
    if (verbose)
        printf ("\n");
    char dir[] = "/tmp/lw_offline_test.XXXXXX";
    assert (mkdtemp (dir));
    char out[600];
    snprintf (out, sizeof (out), "%s/out.csv", dir);
    lw_detect_cfg_t cfg;
    lw_detect_cfg_default (&cfg);
    enum { ROWS = 1000 };
    double *scores = (double *)calloc (4 * ROWS, sizeof (double));
    int *alerts = (int *)calloc (4 * ROWS, sizeof (int));
    double *expect = (double *)calloc (2 * ROWS, sizeof (double));
    assert (scores && alerts && expect);

    //  Narrow: one row per good row, the same scores as the library's
    //  calls in the live order, an alert open around the spike only
    const char *path = s_make_file (dir, "narrow", ROWS);
    assert (lw_offline_score (&cfg, path, NULL, out) == 0);
    int rows = s_read_output (out, "timestamp,value,anomaly_score,alert\n", 2,
                              scores, alerts, 4 * ROWS);
    assert (rows == ROWS);
    lw_extract_t *extract = lw_extract_new (&cfg);
    lw_detector_t *detector = lw_detector_new (&cfg);
    lw_episode_t *episode = lw_episode_new (&cfg, "csv/value");
    assert (extract && detector && episode);
    lw_alert_t alert;
    for (int row = 0; row < ROWS; row++) {
        lw_item_t item;
        memset (&item, 0, sizeof (item));
        item.time = (1700000000LL + row * 60) * LW_NS_PER_SEC;
        item.value = s_value (0, row);
        lw_extract_update (extract, &item);
        lw_detector_score (detector, &item);
        lw_episode_update (episode, &item, lw_detector_name (detector), &alert);
        assert (fabs (scores[row] - item.score) <= 0.5e-6);
        assert (alerts[row] == ((item.flags & LW_SCORE_ALERT) != 0));
        assert (alerts[row] == (row >= 300 && row < 310));
        expect[row] = scores[row];
    }
    assert (scores[300] > 0.99);
    lw_extract_destroy (&extract);
    lw_detector_destroy (&detector);
    lw_episode_destroy (&episode);

    //  The echoed texts, the sensor name and bad input
    FILE *file = fopen (out, "r");
    assert (file);
    char line[256];
    assert (fgets (line, sizeof (line), file));
    assert (fgets (line, sizeof (line), file));
    char text[64];
    snprintf (text, sizeof (text), "1700000000,%.17g,0,0\n", s_value (0, 0));
    assert (streq (line, text));
    fclose (file);
    assert (lw_offline_score (&cfg, path, "line1/press3/temp", out) == 0);
    assert (lw_offline_score (&cfg, path, "bad\001key", out) == -1);
    char missing[600];
    snprintf (missing, sizeof (missing), "%s/missing.csv", dir);
    assert (lw_offline_score (&cfg, missing, NULL, out) == -1);
    snprintf (missing, sizeof (missing), "%s/no/such/dir/out.csv", dir);
    assert (lw_offline_score (&cfg, path, NULL, missing) == -1);

    //  The second column alone, for the long and wide comparisons
    path = s_make_file (dir, "narrow1", ROWS);
    assert (lw_offline_score (&cfg, path, NULL, out) == 0);
    assert (s_read_output (out, "timestamp,value,anomaly_score,alert\n", 2,
                           scores, alerts, 4 * ROWS) == ROWS);
    for (int row = 0; row < ROWS; row++)
        expect[ROWS + row] = scores[row];

    //  Long: interleaved sensors are scored as if alone
    path = s_make_file (dir, "long", ROWS);
    assert (lw_offline_score (&cfg, path, NULL, out) == 0);
    rows = s_read_output (out, "timestamp,sensor,value,anomaly_score,alert\n",
                          3, scores, alerts, 4 * ROWS);
    assert (rows == 2 * ROWS);
    for (int row = 0; row < ROWS; row++) {
        assert (scores[2 * row] == expect[row]);
        assert (scores[2 * row + 1] == expect[ROWS + row]);
    }
    //  Long with one sensor chosen
    assert (lw_offline_score (&cfg, path, "m/b", out) == 0);
    rows = s_read_output (out, "timestamp,sensor,value,anomaly_score,alert\n",
                          3, scores, alerts, 4 * ROWS);
    assert (rows == ROWS);
    for (int row = 0; row < ROWS; row++)
        assert (scores[row] == expect[ROWS + row]);

    //  Wide: the machine score is the maximum of the column scores; one
    //  episode for the spike, one for the shift
    path = s_make_file (dir, "wide", ROWS);
    assert (lw_offline_score (&cfg, path, "line1/press3", out) == 0);
    rows = s_read_output (out, "timestamp,anomaly_score,alert\n", 1, scores,
                          alerts, 4 * ROWS);
    assert (rows == ROWS);
    int opens = 0;
    for (int row = 0; row < ROWS; row++) {
        double top = fmax (expect[row], expect[ROWS + row]);
        assert (scores[row] == top);
        if (alerts[row] && (row == 0 || !alerts[row - 1]))
            opens++;
    }
    assert (opens == 2);
    assert (alerts[300] && alerts[600]);
    assert (!alerts[ROWS - 1]);

    //  Rows lw-ingest would drop (a duplicate timestamp, a jump back
    //  beyond the lateness bound) are echoed, repeat the previous score
    //  and leave the state alone: the other rows score as without them
    path = s_make_file (dir, "narrow", 200);
    assert (lw_offline_score (&cfg, path, NULL, out) == 0);
    assert (s_read_output (out, "timestamp,value,anomaly_score,alert\n", 2,
                           expect, alerts, 4 * ROWS) == 200);
    snprintf (missing, sizeof (missing), "%s/dirty.csv", dir);
    file = fopen (missing, "w");
    assert (file);
    fprintf (file, "timestamp,value\n");
    for (int row = 0; row < 200; row++) {
        int64_t seconds = 1700000000 + row * 60;
        fprintf (file, "%" PRId64 ",%.17g\n", seconds, s_value (0, row));
        if (row == 100)
            fprintf (file, "%" PRId64 ",999\n", seconds);
        if (row == 150)
            fprintf (file, "%" PRId64 ",999\n", seconds - 61);
    }
    fclose (file);
    assert (lw_offline_score (&cfg, missing, NULL, out) == 0);
    assert (s_read_output (out, "timestamp,value,anomaly_score,alert\n", 2,
                           scores, alerts, 4 * ROWS) == 202);
    for (int row = 0; row < 202; row++) {
        int base = row <= 100 ? row : row <= 152 ? row - 1 : row - 2;
        if (row == 101 || row == 152)
            assert (scores[row] == scores[row - 1]);
        else
            assert (scores[row] == expect[base]);
    }
    //  With a longer lateness bound the late row is scored
    assert (lw_offline_score_lateness (&cfg, 3600 * LW_NS_PER_SEC, missing,
                                       NULL, out) == 0);
    assert (s_read_output (out, "timestamp,value,anomaly_score,alert\n", 2,
                           scores, alerts, 4 * ROWS) == 202);
    assert (scores[152] > 0.99);

    //  With the rules lw-scorer applies: a column stuck from row 500 and
    //  a column silent for rows 700..720 both raise the machine's score to
    //  1 (stuck on its 30th equal value, gap on the reading after the
    //  silence); with top = 1 the machine score is the columns' maximum
    snprintf (missing, sizeof (missing), "%s/rules.csv", dir);
    file = fopen (missing, "w");
    assert (file);
    fprintf (file, "timestamp,a,b\n");
    for (int row = 0; row < ROWS; row++) {
        int64_t seconds = 1700000000 + row * 60;
        double b = row >= 500 && row < 600 ? 50.5 : s_value (1, row);
        if (row >= 700 && row <= 720)
            fprintf (file, "%" PRId64 ",,%.17g\n", seconds, b);
        else
            fprintf (file, "%" PRId64 ",%.17g,%.17g\n", seconds,
                     s_value (0, row), b);
    }
    fclose (file);
    lw_rules_t *rules = lw_rules_new ();
    lw_rule_t rule = {.stuck = 30, .gap_factor = 5};
    assert (rules && lw_rules_add (rules, "all", "*",
                                   LW_RULE_STUCK | LW_RULE_GAP, &rule) == 0);
    lw_machine_cfg_t machine;
    lw_machine_cfg_default (&machine);
    machine.top = 1;
    lw_offline_opts_t opts = {
        .lateness = LW_OFFLINE_LATENESS, .rules = rules, .machine = &machine};
    assert (lw_offline_score_opts (&cfg, &opts, missing, "m", out) == 0);
    rows = s_read_output (out, "timestamp,anomaly_score,alert\n", 1, scores,
                          alerts, 4 * ROWS);
    assert (rows == ROWS);
    assert (scores[529] == 1.0 && alerts[529]);
    assert (scores[599] == 1.0);
    assert (scores[721] == 1.0 && alerts[721]);
    assert (!alerts[ROWS - 1]);
    //  Without rules neither fires
    assert (lw_offline_score (&cfg, missing, "m", out) == 0);
    assert (s_read_output (out, "timestamp,anomaly_score,alert\n", 1, scores,
                           alerts, 4 * ROWS) == ROWS);
    assert (scores[721] < 1.0);
    lw_rules_destroy (&rules);

    free (scores);
    free (alerts);
    free (expect);
    zdir_t *tree = zdir_new (dir, NULL);
    if (tree) {
        zdir_remove (tree, true);
        zdir_destroy (&tree);
    }
    printf ("OK\n");
}
