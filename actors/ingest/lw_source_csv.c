/*  =========================================================================
    lw_source_csv.c - the CSV replay source

    Copyright (c) the linewatch authors. MIT license.

    Config (ingest/source/<name>): type = csv, path (under the home unless
    absolute), sensor (the key of a narrow file's values), machine (prefix
    of a wide file's column names: key = machine/column), speed (replay
    speed factor of event time: 1 = as recorded, 10 = ten times faster,
    0 = as fast as the node takes), loop (1: replay again at the end, the
    timestamps shifted past the previous pass so nothing is a duplicate).

    Long files carry full keys per row; a row whose key is invalid is
    counted drop_bad_key, a row lw_csv cannot parse drop_bad_row.
    Timestamps are kept (event time): replay of a year-old export behaves
    like live data. Pacing follows event time against a monotonic origin.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_csv.h"
#include "lw_source.h"
#include "lw_util.h"

#define S_TICK_MS 1    //  Pacing timer period at speed > 0
#define S_PATH_MAX 320 //  Longest config key path we build

typedef struct {
    zloop_t *loop;          //  The actor's loop
    lw_sink_t *sink;        //  Where readings go
    char *name;             //  Source name (logs)
    char *file;             //  Resolved file path
    char *sensor;           //  Narrow: the key, else NULL
    char *machine;          //  Wide: key prefix ("" = none)
    double speed;           //  Event time per wall time, 0 = unpaced
    bool loop_file;         //  Replay again at the end
    lw_csv_t *csv;          //  The open file
    size_t columns;         //  Value columns
    char **keys;            //  Wide: key of each column
    lw_sensor_t **sensors;  //  Sink sensor per column (NULL if bad)
    double *values;         //  The current row's values
    bool have_row;          //  A row is read and not yet handed over
    int64_t row_time;       //  Its time, offset applied
    const char *row_sensor; //  Long: its key (borrowed from csv)
    int64_t first_time;     //  Time of the first row of the first pass
    int64_t last_time;      //  Time of the last row read
    int64_t step;           //  First positive gap between rows
    int64_t offset;         //  Added to the file's times (loop passes)
    size_t bad_rows;        //  lw_csv_bad_rows already counted
    int timer_id;           //  Running timer, or -1
    bool started;           //  Pacing origin is set
    int64_t origin;         //  Monotonic ns of the origin
    bool done;              //  End of the file, no loop
    bool reopened;          //  A new pass began in this timer tick
} s_csv_t;

//  --------------------------------------------------------------------------
//  Frees the per-file column tables

static void
s_columns_free (s_csv_t *self)
{
    if (self->keys)
        for (size_t index = 0; index < self->columns; index++)
            free (self->keys[index]);
    free (self->keys);
    free (self->sensors);
    free (self->values);
    self->keys = NULL;
    self->sensors = NULL;
    self->values = NULL;
}

//  --------------------------------------------------------------------------
//  Destroys the source state

static void
s_destroy (void **state_p)
{
    s_csv_t *self = (s_csv_t *)*state_p;
    if (self) {
        if (self->timer_id != -1)
            zloop_timer_end (self->loop, self->timer_id);
        lw_csv_destroy (&self->csv);
        s_columns_free (self);
        free (self->name);
        free (self->file);
        free (self->sensor);
        free (self->machine);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Opens (or reopens) the file and builds the column tables

static int
s_open (s_csv_t *self)
{
    lw_csv_destroy (&self->csv);
    s_columns_free (self);
    self->bad_rows = 0;
    self->csv = lw_csv_open (self->file);
    if (!self->csv) {
        zsys_error ("ingest: source=%s cannot read CSV path=%s", self->name,
                    self->file);
        return -1;
    }
    lw_csv_shape_t shape = lw_csv_shape (self->csv);
    if (shape == LW_CSV_NARROW && !self->sensor) {
        zsys_error ("ingest: source=%s: %s is a narrow CSV "
                    "(timestamp,value): set `sensor`",
                    self->name, self->file);
        return -1;
    }
    self->columns = lw_csv_values (self->csv);
    self->values = (double *)calloc (self->columns + 1, sizeof (double));
    self->keys = (char **)calloc (self->columns + 1, sizeof (char *));
    self->sensors =
        (lw_sensor_t **)calloc (self->columns + 1, sizeof (lw_sensor_t *));
    if (!self->values || !self->keys || !self->sensors)
        return -1;
    for (size_t index = 0; index < self->columns; index++) {
        if (shape == LW_CSV_NARROW)
            self->keys[index] = strdup (self->sensor);
        else if (shape == LW_CSV_WIDE && *self->machine)
            self->keys[index] = zsys_sprintf (
                "%s/%s", self->machine, lw_csv_value_name (self->csv, index));
        else
            self->keys[index] = strdup (lw_csv_value_name (self->csv, index));
        if (!self->keys[index])
            return -1;
        //  A bad column name stays NULL: its readings count drop_bad_key
        self->sensors[index] = lw_sink_sensor (self->sink, self->keys[index]);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Validates the config and opens the file; NULL (logged) if bad

static void *
s_create (const lw_source_env_t *env)
{
    const char *file, *sensor, *machine;
    double speed;
    bool loop_file;
    char path[S_PATH_MAX];
    snprintf (path, sizeof (path), "%s/path", env->path);
    int rc = lw_cfg_string (env->config, path, "", LW_PATH_MAX - 1, &file);
    snprintf (path, sizeof (path), "%s/sensor", env->path);
    rc |= lw_cfg_string (env->config, path, "", LW_KEY_MAX, &sensor);
    snprintf (path, sizeof (path), "%s/machine", env->path);
    rc |= lw_cfg_string (env->config, path, "", LW_KEY_MAX - 1, &machine);
    snprintf (path, sizeof (path), "%s/speed", env->path);
    rc |= lw_cfg_double (env->config, path, 1, 0, 1e6, &speed);
    snprintf (path, sizeof (path), "%s/loop", env->path);
    rc |= lw_cfg_bool (env->config, path, false, &loop_file);
    if (rc)
        return NULL;
    if (!*file) {
        zsys_error ("config: %s/path is required for a csv source", env->path);
        return NULL;
    }
    if (*sensor && !lw_key_valid (sensor, strlen (sensor))) {
        zsys_error ("config: %s/sensor='%.64s' is not a valid sensor key",
                    env->path, sensor);
        return NULL;
    }
    s_csv_t *self = (s_csv_t *)zmalloc (sizeof (s_csv_t));
    if (!self)
        return NULL;
    self->loop = env->loop;
    self->sink = env->sink;
    self->speed = speed;
    self->loop_file = loop_file;
    self->timer_id = -1;
    self->name = strdup (env->name);
    self->file = *file == '/' ? strdup (file)
                              : zsys_sprintf ("%s/%s", env->node->home, file);
    self->sensor = *sensor ? strdup (sensor) : NULL;
    self->machine = strdup (machine);
    if (!self->name || !self->file || (*sensor && !self->sensor) ||
        !self->machine || s_open (self)) {
        s_destroy ((void **)&self);
        return NULL;
    }
    zsys_info ("ingest: source=%s type=csv path=%s columns=%zu speed=%g "
               "loop=%d",
               env->name, self->file, self->columns, speed, loop_file);
    return self;
}

//  --------------------------------------------------------------------------
//  Reads the next row into the source. Returns 1, 0 at the (final) end,
//  -1 on a read error.

static int
s_read_row (s_csv_t *self)
{
    int64_t time;
    int rc = lw_csv_next (self->csv, &time, &self->row_sensor, self->values);
    size_t bad = lw_csv_bad_rows (self->csv);
    if (bad > self->bad_rows) {
        lw_sink_drop (self->sink, "bad_row", bad - self->bad_rows);
        self->bad_rows = bad;
    }
    if (rc == 0 && self->loop_file && self->started) {
        //  Next pass: shift its times past this one's by the file's step
        if (s_open (self))
            return -1;
        self->reopened = true;
        self->offset = self->last_time - self->first_time +
                       (self->step > 0 ? self->step : LW_NS_PER_SEC);
        rc = lw_csv_next (self->csv, &time, &self->row_sensor, self->values);
    }
    if (rc != 1)
        return rc;
    int64_t shifted = time + self->offset;
    if (!self->started) {
        self->started = true;
        self->first_time = shifted;
        self->last_time = shifted;
    }
    if (self->step == 0 && shifted > self->last_time)
        self->step = shifted - self->last_time;
    if (shifted > self->last_time)
        self->last_time = shifted;
    self->row_time = shifted;
    self->have_row = true;
    return 1;
}

//  --------------------------------------------------------------------------
//  Hands the current row's readings to the sink. Returns false when the
//  sink says stop (the row is still handed over whole).

static bool
s_emit_row (s_csv_t *self)
{
    bool more = true;
    self->have_row = false;
    if (lw_csv_shape (self->csv) == LW_CSV_LONG) {
        if (self->row_sensor)
            more = lw_sink_put_key (self->sink, self->row_sensor,
                                    self->row_time, self->values[0], 0);
        return more;
    }
    for (size_t index = 0; index < self->columns; index++) {
        if (lw_csv_shape (self->csv) == LW_CSV_WIDE &&
            isnan (self->values[index]))
            continue; //  An empty cell is no reading
        bool taken =
            self->sensors[index]
                ? lw_sink_put (self->sink, self->sensors[index], self->row_time,
                               self->values[index], 0)
                : lw_sink_put_key (self->sink, self->keys[index],
                                   self->row_time, self->values[index], 0);
        more = more && taken;
    }
    return more;
}

//  --------------------------------------------------------------------------
//  Timer: replay the rows that are due

static int
s_handle_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    s_csv_t *self = (s_csv_t *)arg;
    if (timer_id != self->timer_id)
        return 0; //  A cancelled timer firing late
    int64_t now = lw_time_mono ();
    size_t rows = 0;
    //  At most one pass per tick: a tiny looping file must not spend the
    //  tick reopening itself
    self->reopened = false;
    while (rows < LW_SOURCE_CHUNK && !self->reopened) {
        if (!self->have_row) {
            int rc = s_read_row (self);
            if (rc != 1) {
                if (rc == -1)
                    zsys_error ("ingest: source=%s read error path=%s",
                                self->name, self->file);
                zsys_info ("ingest: source=%s finished path=%s", self->name,
                           self->file);
                if (lw_csv_bad_rows (self->csv))
                    zsys_warning ("ingest: source=%s skipped bad rows=%zu "
                                  "last='%.64s'",
                                  self->name, lw_csv_bad_rows (self->csv),
                                  lw_csv_error (self->csv));
                self->done = true;
                zloop_timer_end (self->loop, self->timer_id);
                self->timer_id = -1;
                return 0;
            }
            if (rows == 0 && self->origin == 0)
                self->origin = now;
        }
        if (self->speed > 0) {
            double elapsed = (double)(now - self->origin) * self->speed;
            if ((double)(self->row_time - self->first_time) > elapsed)
                break; //  Not due yet
        }
        rows++;
        if (!s_emit_row (self))
            break;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Born paused: nothing to register yet

static int
s_start (void *state)
{
    (void)state;
    return 0;
}

//  --------------------------------------------------------------------------
//  Ends the timer

static void
s_pause (void *state)
{
    s_csv_t *self = (s_csv_t *)state;
    if (self->timer_id != -1) {
        zloop_timer_end (self->loop, self->timer_id);
        self->timer_id = -1;
    }
}

//  --------------------------------------------------------------------------
//  Starts the timer unless the file is done

static void
s_resume (void *state)
{
    s_csv_t *self = (s_csv_t *)state;
    if (self->timer_id == -1 && !self->done) {
        self->timer_id =
            zloop_timer (self->loop, self->speed > 0 ? S_TICK_MS : 0, 0,
                         s_handle_timer, self);
        assert (self->timer_id != -1);
    }
}

//  --------------------------------------------------------------------------
//  True at the end of a file that does not loop

static bool
s_done (void *state)
{
    return ((s_csv_t *)state)->done;
}

const lw_source_ops_t lw_source_csv = {.type = "csv",
                                       .create = s_create,
                                       .destroy = s_destroy,
                                       .start = s_start,
                                       .pause = s_pause,
                                       .resume = s_resume,
                                       .done = s_done};
