/*  =========================================================================
    lw_source_sim.c - the simulator source: lw_sim paced into the sink

    Copyright (c) the linewatch authors. MIT license.

    Config (ingest/source/<name>): type = simulator, line, machines,
    sensors, interval (ms), rate (readings/s, 0 = as fast as the node
    takes), faults, seed, start (s since epoch, 0 = now), truth (CSV path
    under the home, empty = none).

    Pacing: a timer every S_TICK_MS produces rate x elapsed readings
    against a monotonic origin, so the average rate is exact whatever the
    timer jitter; a backlog after a stall is capped at one second's worth.
    At rate 0 the timer has no delay: the source produces a chunk on every
    loop iteration until the sink says stop (backpressure), then the
    timer ends until resume - no spinning while blocked.
    Readings generated but not taken yet stay in the buffer: a pause never
    loses or reorders them.
    =========================================================================
*/

#include <czmq.h>

#include "lw_sim.h"
#include "lw_source.h"
#include "lw_util.h"

#define S_TICK_MS 2    //  Pacing timer period at rate > 0
#define S_PATH_MAX 320 //  Longest config key path we build

typedef struct {
    zloop_t *loop;            //  The actor's loop
    lw_sink_t *sink;          //  Where readings go
    char *name;               //  Source name (logs)
    lw_sim_t *sim;            //  The simulator
    lw_sensor_t **sensors;    //  Sink sensor of each sim sensor
    lw_sim_reading_t *buffer; //  Generated, not yet taken readings
    size_t buffered;          //  Readings in the buffer
    size_t next;              //  Next one to hand to the sink
    long rate;                //  Readings/s, 0 = unpaced
    int timer_id;             //  Running timer, or -1
    bool paced;               //  Pacing origin is set
    int64_t origin;           //  Monotonic ns of the pacing origin
    uint64_t produced;        //  Readings handed over since the origin
    uint64_t faults;          //  Faults already flushed to the truth file
} s_sim_t;

//  --------------------------------------------------------------------------
//  Reads one integer key of the source's section

static int
s_int (const lw_source_env_t *env, const char *key, long dflt, long min,
       long max, long *out)
{
    char path[S_PATH_MAX];
    snprintf (path, sizeof (path), "%s/%s", env->path, key);
    return lw_cfg_int (env->config, path, dflt, min, max, out);
}

//  --------------------------------------------------------------------------
//  Destroys the source state

static void
s_destroy (void **state_p)
{
    s_sim_t *self = (s_sim_t *)*state_p;
    if (self) {
        if (self->timer_id != -1)
            zloop_timer_end (self->loop, self->timer_id);
        lw_sim_destroy (&self->sim);
        free (self->sensors);
        free (self->buffer);
        free (self->name);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Validates the config and builds the simulator; NULL (logged) if bad

static void *
s_create (const lw_source_env_t *env)
{
    long machines, sensors, interval, rate, seed, start;
    double faults;
    const char *line, *truth;
    char path[S_PATH_MAX];
    int rc = s_int (env, "machines", 10, 1, 100000, &machines);
    rc |= s_int (env, "sensors", 10, 1, 1000, &sensors);
    rc |= s_int (env, "interval", 1000, 1, 3600000, &interval);
    rc |= s_int (env, "rate", 1000, 0, 10000000, &rate);
    rc |= s_int (env, "seed", 1, 0, 4294967295L, &seed);
    rc |= s_int (env, "start", 0, 0, 9000000000L, &start);
    snprintf (path, sizeof (path), "%s/faults", env->path);
    rc |= lw_cfg_double (env->config, path, 1, 0, 1000, &faults);
    snprintf (path, sizeof (path), "%s/line", env->path);
    rc |= lw_cfg_string (env->config, path, "line1", LW_SIM_LINE_MAX, &line);
    snprintf (path, sizeof (path), "%s/truth", env->path);
    rc |= lw_cfg_string (env->config, path, "", LW_PATH_MAX - 1, &truth);
    if (rc)
        return NULL;
    if (machines * sensors > 10000000L) {
        zsys_error ("config: %s: machines x sensors = %ld is more than "
                    "10000000",
                    env->path, machines * sensors);
        return NULL;
    }
    lw_sim_config_t config = {.line = line,
                              .machines = (uint32_t)machines,
                              .sensors = (uint32_t)sensors,
                              .interval = interval * LW_NS_PER_MS,
                              .faults = faults,
                              .seed = (uint64_t)seed,
                              .start = start ? start * LW_NS_PER_SEC
                                             : lw_time_now ()};
    s_sim_t *self = (s_sim_t *)zmalloc (sizeof (s_sim_t));
    if (!self)
        return NULL;
    self->loop = env->loop;
    self->sink = env->sink;
    self->rate = rate;
    self->timer_id = -1;
    self->name = strdup (env->name);
    self->sim = lw_sim_new (&config);
    if (!self->sim)
        zsys_error ("config: %s/line='%.64s' makes invalid sensor keys",
                    env->path, line);
    self->buffer =
        (lw_sim_reading_t *)calloc (LW_SOURCE_CHUNK, sizeof (lw_sim_reading_t));
    size_t count = self->sim ? lw_sim_sensors (self->sim) : 0;
    self->sensors = (lw_sensor_t **)calloc (count + 1, sizeof (lw_sensor_t *));
    if (!self->name || !self->sim || !self->buffer || !self->sensors) {
        s_destroy ((void **)&self);
        return NULL;
    }
    for (size_t index = 0; index < count; index++) {
        self->sensors[index] =
            lw_sink_sensor (self->sink, lw_sim_key (self->sim, index));
        if (!self->sensors[index]) {
            zsys_error ("ingest: source=%s cannot register sensor %s "
                        "(ingest/sensors_max too small?)",
                        env->name, lw_sim_key (self->sim, index));
            s_destroy ((void **)&self);
            return NULL;
        }
    }
    if (*truth) {
        char *file = *truth == '/'
                         ? strdup (truth)
                         : zsys_sprintf ("%s/%s", env->node->home, truth);
        rc = file ? lw_sim_set_truth (self->sim, file) : -1;
        free (file);
        if (rc) {
            s_destroy ((void **)&self);
            return NULL;
        }
    }
    zsys_info ("ingest: source=%s type=simulator sensors=%zu rate=%ld "
               "interval=%ldms faults=%g seed=%ld",
               env->name, count, rate, interval, faults, seed);
    return self;
}

//  --------------------------------------------------------------------------
//  Hands buffered and new readings to the sink, at most `budget`.
//  Returns the number handed over; stops early when the sink says so.

static uint64_t
s_produce (s_sim_t *self, uint64_t budget)
{
    uint64_t handed = 0;
    while (handed < budget) {
        if (self->next == self->buffered) {
            uint64_t want = budget - handed;
            self->buffered = lw_sim_generate (
                self->sim, self->buffer,
                want < LW_SOURCE_CHUNK ? (size_t)want : LW_SOURCE_CHUNK);
            self->next = 0;
        }
        while (self->next < self->buffered && handed < budget) {
            lw_sim_reading_t *reading = &self->buffer[self->next++];
            handed++;
            if (!lw_sink_put (self->sink, self->sensors[reading->sensor],
                              reading->time, reading->value, 0))
                return handed;
        }
    }
    return handed;
}

//  --------------------------------------------------------------------------
//  Timer: produce what the pace allows

static int
s_handle_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    s_sim_t *self = (s_sim_t *)arg;
    if (timer_id != self->timer_id)
        return 0; //  A cancelled timer firing late
    uint64_t budget = LW_SOURCE_CHUNK;
    if (self->rate > 0) {
        int64_t now = lw_time_mono ();
        if (!self->paced) {
            self->paced = true;
            self->origin = now;
            self->produced = 0;
        }
        uint64_t due =
            (uint64_t)((double)(now - self->origin) * (double)self->rate / 1e9);
        budget = due > self->produced ? due - self->produced : 0;
        //  After a long stall, do not burst more than a second's worth
        if (budget > (uint64_t)self->rate) {
            self->produced += budget - (uint64_t)self->rate;
            budget = (uint64_t)self->rate;
        }
        if (budget > 4 * LW_SOURCE_CHUNK)
            budget = 4 * LW_SOURCE_CHUNK;
    }
    self->produced += s_produce (self, budget);
    if (lw_sim_faults (self->sim) != self->faults) {
        self->faults = lw_sim_faults (self->sim);
        lw_sim_flush (self->sim); //  Rare: once per tick with new faults
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
    s_sim_t *self = (s_sim_t *)state;
    if (self->timer_id != -1) {
        zloop_timer_end (self->loop, self->timer_id);
        self->timer_id = -1;
    }
}

//  --------------------------------------------------------------------------
//  Starts the timer

static void
s_resume (void *state)
{
    s_sim_t *self = (s_sim_t *)state;
    if (self->timer_id == -1) {
        self->timer_id =
            zloop_timer (self->loop, self->rate > 0 ? S_TICK_MS : 0, 0,
                         s_handle_timer, self);
        assert (self->timer_id != -1);
    }
}

const lw_source_ops_t lw_source_simulator = {.type = "simulator",
                                             .create = s_create,
                                             .destroy = s_destroy,
                                             .start = s_start,
                                             .pause = s_pause,
                                             .resume = s_resume,
                                             .done = NULL};
