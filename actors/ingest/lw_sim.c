/*  =========================================================================
    lw_sim.c - the line simulator: sensor signals with injected faults

    Copyright (c) the linewatch authors. MIT license.

    One xorshift64* stream (seeded through splitmix64) drives everything,
    consumed in a fixed order (tick by tick, sensor by sensor), so output
    depends only on the config. The periodic patterns cost four trig calls
    per tick, shared by all sensors: sin(a + phase) is expanded with each
    sensor's precomputed sin/cos of its phase. Noise uses Marsaglia's polar
    method (no trig), keeping the spare value.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_msg.h"
#include "lw_sim.h"
#include "lw_util.h"

#define S_SHIFT_PERIOD (8 * 3600 * LW_NS_PER_SEC)
#define S_DAY_PERIOD (24 * 3600 * LW_NS_PER_SEC)
#define S_HOUR (3600 * LW_NS_PER_SEC)
#define S_KEY_STRIDE (LW_SIM_LINE_MAX + 32)
#define S_TWO_PI 6.283185307179586

//  Per-sensor signal parameters and fault state
typedef struct {
    double base;      //  Base level
    double sigma;     //  Noise sigma
    double amp_shift; //  Amplitude of the 8 h pattern
    double amp_day;   //  Amplitude of the 24 h pattern
    double shift_sin; //  sin/cos of the 8 h pattern's phase
    double shift_cos;
    double day_sin; //  sin/cos of the 24 h pattern's phase
    double day_cos;
    int64_t next_fault;    //  Tick at which the next fault starts
    int64_t fault_start;   //  Tick of the active fault's first sample
    int64_t fault_end;     //  Tick of its last sample
    double fault_sign;     //  +1 or -1
    double stuck_value;    //  STUCK: the frozen value
    lw_fault_type_t fault; //  Active fault, or LW_FAULT_NONE
} s_sensor_t;

struct _lw_sim_t {
    lw_sim_config_t config;         //  Copy of the config (line copied too)
    char line[LW_SIM_LINE_MAX + 1]; //  Line name
    size_t nsensors;                //  machines x sensors
    s_sensor_t *sensors;            //  Per-sensor state
    char *keys;                     //  nsensors keys, S_KEY_STRIDE apart
    uint64_t prng;                  //  xorshift64* state, never 0
    bool has_spare;                 //  Polar method keeps a second value
    double spare;                   //  ...which is this
    double mean_gap;                //  Mean ticks between faults per sensor
    int64_t tick;                   //  Current tick (sample number)
    size_t cursor;                  //  Next sensor within the tick
    double tick_shift_sin;          //  Pattern phase of the current tick
    double tick_shift_cos;
    double tick_day_sin;
    double tick_day_cos;
    uint64_t faults;           //  Faults injected so far
    FILE *truth;               //  Ground truth CSV, or NULL
    lw_sim_truth_fn *truth_fn; //  Ground truth callback, or NULL
    void *truth_arg;           //  Its argument
};

//  --------------------------------------------------------------------------
//  splitmix64: expands the seed into a well-mixed, nonzero PRNG state

static uint64_t
s_splitmix64 (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

//  --------------------------------------------------------------------------
//  xorshift64*: the simulator's only source of randomness

static inline uint64_t
s_next (lw_sim_t *self)
{
    uint64_t x = self->prng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->prng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

//  --------------------------------------------------------------------------
//  Uniform double in [0, 1)

static inline double
s_uniform (lw_sim_t *self)
{
    return (double)(s_next (self) >> 11) * 0x1.0p-53;
}

//  --------------------------------------------------------------------------
//  Standard normal deviate (Marsaglia polar method)

static inline double
s_gauss (lw_sim_t *self)
{
    if (self->has_spare) {
        self->has_spare = false;
        return self->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * s_uniform (self) - 1.0;
        v = 2.0 * s_uniform (self) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double scale = sqrt (-2.0 * log (s) / s);
    self->spare = v * scale;
    self->has_spare = true;
    return u * scale;
}

//  --------------------------------------------------------------------------
//  Ticks until a sensor's next fault: exponential with the configured mean

static int64_t
s_fault_gap (lw_sim_t *self)
{
    if (self->mean_gap <= 0)
        return INT64_MAX / 4;
    double gap = -log (1.0 - s_uniform (self)) * self->mean_gap;
    if (gap > (double)(INT64_MAX / 8))
        return INT64_MAX / 4;
    return 1 + (int64_t)gap;
}

//  --------------------------------------------------------------------------
//  Phase (sin, cos) of a periodic pattern at event time `time`

static void
s_phase (int64_t time, int64_t period, double *sin_out, double *cos_out)
{
    int64_t offset = time % period;
    if (offset < 0)
        offset += period;
    double angle = S_TWO_PI * (double)offset / (double)period;
    *sin_out = sin (angle);
    *cos_out = cos (angle);
}

//  --------------------------------------------------------------------------
//  Event time of tick `tick`

static inline int64_t
s_tick_time (lw_sim_t *self, int64_t tick)
{
    return self->config.start + tick * self->config.interval;
}

//  --------------------------------------------------------------------------
//  Prepares the shared pattern phases of the current tick

static void
s_tick_begin (lw_sim_t *self)
{
    int64_t time = s_tick_time (self, self->tick);
    s_phase (time, S_SHIFT_PERIOD, &self->tick_shift_sin,
             &self->tick_shift_cos);
    s_phase (time, S_DAY_PERIOD, &self->tick_day_sin, &self->tick_day_cos);
}

//  --------------------------------------------------------------------------
//  Number of digits of a positive number, at least `min`

static int
s_digits (uint32_t value, int min)
{
    int digits = 1;
    while (value >= 10) {
        value /= 10;
        digits++;
    }
    return digits < min ? min : digits;
}

//  --------------------------------------------------------------------------
//  Creates a simulator; NULL on a bad config or no memory

lw_sim_t *
lw_sim_new (const lw_sim_config_t *config)
{
    assert (config);
    const char *line = config->line ? config->line : "line1";
    if (config->machines == 0 || config->sensors == 0 ||
        config->interval <= 0 || !isfinite (config->faults) ||
        config->faults < 0 || strlen (line) == 0 ||
        strlen (line) > LW_SIM_LINE_MAX ||
        (uint64_t)config->machines * config->sensors > 100000000ULL ||
        config->drift_machine > config->machines ||
        !isfinite (config->drift_rate))
        return NULL;
    lw_sim_t *self = (lw_sim_t *)zmalloc (sizeof (lw_sim_t));
    if (!self)
        return NULL;
    self->config = *config;
    strcpy (self->line, line);
    self->config.line = self->line;
    self->nsensors = (size_t)config->machines * config->sensors;
    self->sensors = (s_sensor_t *)calloc (self->nsensors, sizeof (s_sensor_t));
    self->keys = (char *)calloc (self->nsensors, S_KEY_STRIDE);
    if (!self->sensors || !self->keys) {
        lw_sim_destroy (&self);
        return NULL;
    }
    uint64_t seed_state = config->seed;
    do
        self->prng = s_splitmix64 (&seed_state);
    while (self->prng == 0);

    if (config->faults > 0)
        self->mean_gap =
            (double)S_HOUR / (config->faults * (double)config->interval);
    int machine_width = s_digits (config->machines, 3);
    int sensor_width = s_digits (config->sensors, 2);
    size_t index = 0;
    for (uint32_t machine = 1; machine <= config->machines; machine++)
        for (uint32_t sensor = 1; sensor <= config->sensors; sensor++) {
            char *key = self->keys + index * S_KEY_STRIDE;
            snprintf (key, S_KEY_STRIDE, "%s/m%0*u/s%0*u", self->line,
                      machine_width, machine, sensor_width, sensor);
            if (!lw_key_valid (key, strlen (key))) {
                lw_sim_destroy (&self);
                return NULL;
            }
            s_sensor_t *state = &self->sensors[index];
            state->base = 20.0 + 80.0 * s_uniform (self);
            state->sigma = state->base * (0.005 + 0.015 * s_uniform (self));
            state->amp_shift = state->sigma * (0.5 + 1.5 * s_uniform (self));
            state->amp_day = state->sigma * (1.0 + 2.0 * s_uniform (self));
            double phase = S_TWO_PI * s_uniform (self);
            state->shift_sin = sin (phase);
            state->shift_cos = cos (phase);
            phase = S_TWO_PI * s_uniform (self);
            state->day_sin = sin (phase);
            state->day_cos = cos (phase);
            state->next_fault = s_fault_gap (self);
            if (config->identical && machine > 1) {
                //  The PRNG was consumed as without the option, so the
                //  noise and faults stay those of the same seed
                const s_sensor_t *first = &self->sensors[sensor - 1];
                int64_t next_fault = state->next_fault;
                *state = *first;
                state->next_fault = next_fault;
            }
            index++;
        }
    s_tick_begin (self);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the simulator, closing the truth file

void
lw_sim_destroy (lw_sim_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_sim_t *self = *self_p;
        if (self->truth)
            fclose (self->truth);
        free (self->sensors);
        free (self->keys);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Number of sensors

size_t
lw_sim_sensors (lw_sim_t *self)
{
    assert (self);
    return self->nsensors;
}

//  --------------------------------------------------------------------------
//  Key of a sensor; borrowed for the simulator's lifetime

const char *
lw_sim_key (lw_sim_t *self, size_t index)
{
    assert (self);
    assert (index < self->nsensors);
    return self->keys + index * S_KEY_STRIDE;
}

//  --------------------------------------------------------------------------
//  Noise sigma of a sensor

double
lw_sim_sigma (lw_sim_t *self, size_t index)
{
    assert (self);
    assert (index < self->nsensors);
    return self->sensors[index].sigma;
}

//  --------------------------------------------------------------------------
//  Pattern value of a sensor from the phases of its tick

static inline double
s_pattern (const s_sensor_t *state, double shift_sin, double shift_cos,
           double day_sin, double day_cos)
{
    //  sin (a + p) = sin a cos p + cos a sin p
    return state->base +
           state->amp_shift *
               (shift_sin * state->shift_cos + shift_cos * state->shift_sin) +
           state->amp_day *
               (day_sin * state->day_cos + day_cos * state->day_sin);
}

//  --------------------------------------------------------------------------
//  Fault-free, noise-free value of a sensor at an event time

double
lw_sim_expected (lw_sim_t *self, size_t index, int64_t time)
{
    assert (self);
    assert (index < self->nsensors);
    double shift_sin, shift_cos, day_sin, day_cos;
    s_phase (time, S_SHIFT_PERIOD, &shift_sin, &shift_cos);
    s_phase (time, S_DAY_PERIOD, &day_sin, &day_cos);
    return s_pattern (&self->sensors[index], shift_sin, shift_cos, day_sin,
                      day_cos);
}

//  --------------------------------------------------------------------------
//  Length in samples of a fault type

static int64_t
s_fault_samples (lw_sim_t *self, lw_fault_type_t type)
{
    switch (type) {
    case LW_FAULT_SPIKE:
        return 1;
    case LW_FAULT_SHIFT:
        return LW_SIM_SHIFT_SAMPLES;
    case LW_FAULT_DRIFT: {
        int64_t samples = S_HOUR / self->config.interval;
        return samples < 1 ? 1 : samples;
    }
    case LW_FAULT_STUCK:
        return LW_SIM_STUCK_SAMPLES;
    case LW_FAULT_NOISE:
        return LW_SIM_NOISE_SAMPLES;
    case LW_FAULT_DROPOUT:
        return LW_SIM_DROPOUT_SAMPLES;
    default:
        assert (false);
        return 1;
    }
}

//  --------------------------------------------------------------------------
//  Starts a fault on a sensor at the current tick and reports it

static void
s_fault_start (lw_sim_t *self, uint32_t index, s_sensor_t *state)
{
    lw_fault_type_t type =
        (lw_fault_type_t)(1 + s_next (self) % LW_FAULT_TYPES);
    state->fault = type;
    state->fault_start = self->tick;
    state->fault_end = self->tick + s_fault_samples (self, type) - 1;
    state->fault_sign = (s_next (self) & 1) ? 1.0 : -1.0;
    self->faults++;

    lw_sim_fault_t fault = {.sensor = index,
                            .type = type,
                            .start = s_tick_time (self, state->fault_start),
                            .end = s_tick_time (self, state->fault_end)};
    if (self->truth_fn)
        self->truth_fn (&fault, self->truth_arg);
    if (self->truth) {
        char start[LW_TIME_TEXT_MAX], end[LW_TIME_TEXT_MAX];
        fprintf (self->truth, "%s,%s,%s,%s\n",
                 self->keys + (size_t)index * S_KEY_STRIDE,
                 lw_sim_fault_name (type),
                 lw_time_format (fault.start, start, sizeof (start)),
                 lw_time_format (fault.end, end, sizeof (end)));
    }
}

//  --------------------------------------------------------------------------
//  Generates up to max readings

size_t
lw_sim_generate (lw_sim_t *self, lw_sim_reading_t *out, size_t max)
{
    assert (self);
    assert (out || max == 0);
    size_t count = 0;
    while (count < max) {
        if (self->cursor == self->nsensors) {
            self->cursor = 0;
            self->tick++;
            s_tick_begin (self);
        }
        uint32_t index = (uint32_t)self->cursor++;
        s_sensor_t *state = &self->sensors[index];
        if (state->fault && self->tick > state->fault_end) {
            state->fault = LW_FAULT_NONE;
            state->next_fault = self->tick + s_fault_gap (self);
        }
        if (!state->fault && self->tick >= state->next_fault)
            s_fault_start (self, index, state);

        double noise = s_gauss (self);
        if (state->fault == LW_FAULT_DROPOUT)
            continue; //  No sample this tick
        double value =
            s_pattern (state, self->tick_shift_sin, self->tick_shift_cos,
                       self->tick_day_sin, self->tick_day_cos);
        switch (state->fault) {
        case LW_FAULT_NONE:
            value += state->sigma * noise;
            break;
        case LW_FAULT_SPIKE:
            value += state->sigma * noise +
                     state->fault_sign * LW_SIM_SPIKE_SIGMAS * state->sigma;
            break;
        case LW_FAULT_SHIFT:
            value += state->sigma * noise +
                     state->fault_sign * LW_SIM_SHIFT_SIGMAS * state->sigma;
            break;
        case LW_FAULT_DRIFT: {
            double done = (double)(self->tick - state->fault_start + 1) /
                          (double)(state->fault_end - state->fault_start + 1);
            value += state->sigma * noise + state->fault_sign *
                                                LW_SIM_DRIFT_SIGMAS *
                                                state->sigma * done;
            break;
        }
        case LW_FAULT_STUCK:
            if (self->tick == state->fault_start)
                state->stuck_value = value + state->sigma * noise;
            value = state->stuck_value;
            break;
        case LW_FAULT_NOISE:
            value += LW_SIM_NOISE_SIGMAS * state->sigma * noise;
            break;
        case LW_FAULT_DROPOUT:
            break;
        }
        if (self->config.drift_machine &&
            index / self->config.sensors == self->config.drift_machine - 1) {
            int64_t since =
                s_tick_time (self, self->tick) - self->config.drift_start;
            if (since > 0)
                value += self->config.drift_rate * state->sigma *
                         (double)since / (double)S_HOUR;
        }
        out[count].sensor = index;
        out[count].time = s_tick_time (self, self->tick);
        out[count].value = value;
        count++;
    }
    return count;
}

//  --------------------------------------------------------------------------
//  Event time of the current tick

int64_t
lw_sim_time (lw_sim_t *self)
{
    assert (self);
    return s_tick_time (self, self->tick);
}

//  --------------------------------------------------------------------------
//  Faults injected so far

uint64_t
lw_sim_faults (lw_sim_t *self)
{
    assert (self);
    return self->faults;
}

//  --------------------------------------------------------------------------
//  Opens the ground truth CSV

int
lw_sim_set_truth (lw_sim_t *self, const char *path)
{
    assert (self);
    assert (path);
    if (self->truth)
        fclose (self->truth);
    self->truth = fopen (path, "w");
    if (!self->truth) {
        zsys_error ("sim: cannot write truth path=%s error=%s", path,
                    strerror (errno));
        return -1;
    }
    fprintf (self->truth, "sensor,type,start,end\n");
    return 0;
}

//  --------------------------------------------------------------------------
//  Registers a ground truth callback

void
lw_sim_set_truth_fn (lw_sim_t *self, lw_sim_truth_fn *fn, void *arg)
{
    assert (self);
    self->truth_fn = fn;
    self->truth_arg = arg;
}

//  --------------------------------------------------------------------------
//  Flushes the truth file so readers see every fault so far

void
lw_sim_flush (lw_sim_t *self)
{
    assert (self);
    if (self->truth)
        fflush (self->truth);
}

//  --------------------------------------------------------------------------
//  Name of a fault type

const char *
lw_sim_fault_name (int type)
{
    switch (type) {
    case LW_FAULT_SPIKE:
        return "spike";
    case LW_FAULT_SHIFT:
        return "level_shift";
    case LW_FAULT_DRIFT:
        return "drift";
    case LW_FAULT_STUCK:
        return "stuck";
    case LW_FAULT_NOISE:
        return "noise_burst";
    case LW_FAULT_DROPOUT:
        return "dropout";
    default:
        return "none";
    }
}

//  --------------------------------------------------------------------------
//  Self test

#define S_TEST_FAULTS_MAX 4096

typedef struct {
    size_t count;
    lw_sim_fault_t faults[S_TEST_FAULTS_MAX];
} s_truth_t;

static void
s_test_truth (const lw_sim_fault_t *fault, void *arg)
{
    s_truth_t *truth = (s_truth_t *)arg;
    if (truth->count < S_TEST_FAULTS_MAX)
        truth->faults[truth->count++] = *fault;
}

void
lw_sim_test (bool verbose)
{
    printf (" * lw_sim: ");
    if (verbose)
        printf ("\n");

    //  Invalid configs are refused
    lw_sim_config_t config = {.line = "line1",
                              .machines = 0,
                              .sensors = 4,
                              .interval = 100 * LW_NS_PER_MS,
                              .faults = 1,
                              .seed = 1,
                              .start = 1700000000 * LW_NS_PER_SEC};
    assert (lw_sim_new (&config) == NULL);
    config.machines = 3;
    config.interval = 0;
    assert (lw_sim_new (&config) == NULL);
    config.interval = 100 * LW_NS_PER_MS;
    config.faults = NAN;
    assert (lw_sim_new (&config) == NULL);
    config.faults = 1;
    config.line = "bad\nline";
    assert (lw_sim_new (&config) == NULL);
    config.line = "line1";

    //  Keys and sizes
    lw_sim_t *sim = lw_sim_new (&config);
    assert (sim);
    assert (lw_sim_sensors (sim) == 12);
    assert (streq (lw_sim_key (sim, 0), "line1/m001/s01"));
    assert (streq (lw_sim_key (sim, 11), "line1/m003/s04"));
    assert (lw_sim_sigma (sim, 0) > 0);

    //  Determinism: same seed, different chunking, same readings
    lw_sim_t *twin = lw_sim_new (&config);
    assert (twin);
    size_t total = 100000;
    lw_sim_reading_t *first =
        (lw_sim_reading_t *)calloc (total, sizeof (lw_sim_reading_t));
    lw_sim_reading_t *second =
        (lw_sim_reading_t *)calloc (total, sizeof (lw_sim_reading_t));
    assert (first && second);
    assert (lw_sim_generate (sim, first, total) == total);
    size_t done = 0;
    size_t chunk = 1;
    while (done < total) {
        size_t want = chunk < total - done ? chunk : total - done;
        assert (lw_sim_generate (twin, second + done, want) == want);
        done += want;
        chunk = chunk * 3 + 1;
    }
    assert (memcmp (first, second, total * sizeof (lw_sim_reading_t)) == 0);
    lw_sim_destroy (&twin);

    //  Another seed gives other readings
    config.seed = 2;
    twin = lw_sim_new (&config);
    assert (twin);
    assert (lw_sim_generate (twin, second, 100) == 100);
    assert (memcmp (first, second, 100 * sizeof (lw_sim_reading_t)) != 0);
    lw_sim_destroy (&twin);
    lw_sim_destroy (&sim);
    config.seed = 1;

    //  Event time advances one interval per tick; per sensor, strictly
    for (size_t index = 12; index < 1000; index++)
        assert (first[index].time >= first[index - 1].time);
    assert (first[0].time == config.start);

    //  Faults: a high rate so every type shows up; check each against
    //  its effect on the values
    config.machines = 2;
    config.sensors = 5;
    config.faults = 60; //  One a minute per sensor
    config.interval = 1000 * LW_NS_PER_MS;
    sim = lw_sim_new (&config);
    assert (sim);
    s_truth_t *truth = (s_truth_t *)zmalloc (sizeof (s_truth_t));
    assert (truth);
    lw_sim_set_truth_fn (sim, s_test_truth, truth);
    char *dir = zsys_sprintf ("/tmp/lw_sim_test.XXXXXX");
    assert (dir && mkdtemp (dir));
    char *truth_path = zsys_sprintf ("%s/truth.csv", dir);
    assert (lw_sim_set_truth (sim, truth_path) == 0);
    assert (lw_sim_set_truth (sim, "/nonexistent/dir/truth.csv") == -1);
    assert (lw_sim_set_truth (sim, truth_path) == 0);

    //  Generation speed, on the side
    int64_t started = zclock_usecs ();
    assert (lw_sim_generate (sim, first, total) == total);
    int64_t elapsed = zclock_usecs () - started;
    if (verbose)
        printf ("   generated %zu readings in %lld us (%.2f M/s), "
                "%llu faults\n",
                total, (long long)elapsed,
                elapsed > 0 ? (double)total / (double)elapsed : 0.0,
                (unsigned long long)lw_sim_faults (sim));
    assert (lw_sim_faults (sim) == truth->count);
    lw_sim_flush (sim);

    //  Index the readings by (sensor, tick)
    size_t nsensors = lw_sim_sensors (sim);
    int64_t ticks = (int64_t)(total / nsensors) - 2;
    double *grid =
        (double *)malloc (nsensors * (size_t)(ticks + 2) * sizeof (double));
    assert (grid);
    for (size_t index = 0; index < nsensors * (size_t)(ticks + 2); index++)
        grid[index] = NAN;
    for (size_t index = 0; index < total; index++) {
        int64_t tick = (first[index].time - config.start) / config.interval;
        if (tick < ticks + 2)
            grid[(size_t)tick * nsensors + first[index].sensor] =
                first[index].value;
    }
    int seen[LW_FAULT_TYPES + 1] = {0};
    for (size_t fault_nbr = 0; fault_nbr < truth->count; fault_nbr++) {
        lw_sim_fault_t *fault = &truth->faults[fault_nbr];
        int64_t from = (fault->start - config.start) / config.interval;
        int64_t to = (fault->end - config.start) / config.interval;
        if (to >= ticks)
            continue; //  Not fully generated
        double sigma = lw_sim_sigma (sim, fault->sensor);
        double sum = 0, sum2 = 0, last = 0;
        bool constant = true, missing = true;
        double previous = NAN;
        for (int64_t tick = from; tick <= to; tick++) {
            double value = grid[(size_t)tick * nsensors + fault->sensor];
            if (!isnan (value))
                missing = false;
            double deviation =
                value - lw_sim_expected (sim, fault->sensor,
                                         config.start + tick * config.interval);
            sum += deviation;
            sum2 += deviation * deviation;
            last = deviation;
            if (tick > from && value != previous)
                constant = false;
            previous = value;
        }
        double samples = (double)(to - from + 1);
        switch (fault->type) {
        case LW_FAULT_SPIKE:
            assert (fabs (last) > 3 * sigma);
            break;
        case LW_FAULT_SHIFT:
            assert (fabs (sum / samples) > 3 * sigma);
            break;
        case LW_FAULT_DRIFT:
            //  Hourly drifts exceed this test's horizon at 1 s ticks
            break;
        case LW_FAULT_STUCK:
            assert (constant);
            break;
        case LW_FAULT_NOISE:
            assert (sqrt (sum2 / samples) > 2.5 * sigma);
            break;
        case LW_FAULT_DROPOUT:
            assert (missing);
            //  The samples around it are there
            assert (!isnan (grid[(size_t)(to + 1) * nsensors + fault->sensor]));
            break;
        default:
            assert (false);
        }
        seen[fault->type]++;
    }
    for (int type = 1; type <= LW_FAULT_TYPES; type++) {
        if (verbose)
            printf ("   %s: %d\n", lw_sim_fault_name (type), seen[type]);
        assert (type == LW_FAULT_DRIFT || seen[type] > 0);
    }
    lw_sim_destroy (&sim);
    free (grid);

    //  Drift reaches 4 sigma at its end: one sensor, many faults
    config.machines = 1;
    config.sensors = 1;
    config.interval = 10 * LW_NS_PER_SEC; //  360 samples per hour
    config.faults = 2;
    sim = lw_sim_new (&config);
    assert (sim);
    truth->count = 0;
    lw_sim_set_truth_fn (sim, s_test_truth, truth);
    assert (lw_sim_generate (sim, first, total) == total);
    double *series = (double *)malloc (total * sizeof (double));
    assert (series);
    for (size_t index = 0; index < total; index++)
        series[index] = NAN;
    for (size_t index = 0; index < total; index++) {
        int64_t tick = (first[index].time - config.start) / config.interval;
        if (tick < (int64_t)total)
            series[tick] = first[index].value -
                           lw_sim_expected (sim, 0, first[index].time);
    }
    int drifts = 0;
    for (size_t fault_nbr = 0; fault_nbr < truth->count; fault_nbr++) {
        lw_sim_fault_t *fault = &truth->faults[fault_nbr];
        if (fault->type != LW_FAULT_DRIFT)
            continue;
        int64_t to = (fault->end - config.start) / config.interval;
        if (to >= (int64_t)total / 2)
            continue;
        //  Mean deviation of the last 20 samples of the ramp
        double sum = 0;
        for (int64_t tick = to - 19; tick <= to; tick++)
            sum += series[tick];
        assert (fabs (sum / 20) > 3 * lw_sim_sigma (sim, 0));
        assert (fault->end - fault->start == S_HOUR - config.interval);
        drifts++;
    }
    free (series);
    assert (drifts > 0);
    if (verbose)
        printf ("   drifts checked: %d\n", drifts);
    lw_sim_destroy (&sim);

    //  The truth file has a header and one row per fault
    FILE *file = fopen (truth_path, "r");
    assert (file);
    char line[256];
    assert (fgets (line, sizeof (line), file));
    assert (streq (line, "sensor,type,start,end\n"));
    size_t rows = 0;
    while (fgets (line, sizeof (line), file)) {
        assert (strncmp (line, "line1/m00", 9) == 0);
        rows++;
    }
    fclose (file);
    assert (rows > 0);
    unlink (truth_path);
    rmdir (dir);
    zstr_free (&truth_path);
    zstr_free (&dir);
    free (truth);
    free (first);
    free (second);

    //  Identical machines: sensor j of every machine follows machine 1's
    //  sensor j (same sigma, same expected value); machine 2 drifts by
    //  3 sigma per hour from the start
    memset (&config, 0, sizeof (config));
    config.line = "line1";
    config.machines = 3;
    config.sensors = 4;
    config.interval = 100 * LW_NS_PER_MS;
    config.seed = 7;
    config.start = 1700000000 * LW_NS_PER_SEC;
    config.identical = true;
    config.drift_machine = 2;
    config.drift_rate = 3;
    config.drift_start = config.start;
    sim = lw_sim_new (&config);
    assert (sim);
    for (size_t index = 4; index < 12; index++) {
        assert (lw_sim_sigma (sim, index) == lw_sim_sigma (sim, index % 4));
        assert (lw_sim_expected (sim, index, config.start) ==
                lw_sim_expected (sim, index % 4, config.start));
    }
    lw_sim_reading_t readings[12];
    double drifted = 0, steady = 0;
    for (int tick = 0; tick < 36000; tick++) {
        assert (lw_sim_generate (sim, readings, 12) == 12);
        if (tick == 35999)
            for (int index = 0; index < 12; index++) {
                double excess = (readings[index].value -
                                 lw_sim_expected (sim, (size_t)index,
                                                  readings[index].time)) /
                                lw_sim_sigma (sim, (size_t)index);
                if (index / 4 == 1)
                    drifted += excess / 4;
                else
                    steady += excess / 8;
            }
    }
    //  One hour at 100 ms: about 3 sigma above, the others about 0
    assert (drifted > 1.5 && drifted < 4.5);
    assert (fabs (steady) < 1.5);
    lw_sim_destroy (&sim);
    config.drift_machine = 4;
    assert (lw_sim_new (&config) == NULL);
    printf ("OK\n");
}
