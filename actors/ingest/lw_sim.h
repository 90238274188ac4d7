/*  =========================================================================
    lw_sim.h - the line simulator: sensor signals with injected faults

    Copyright (c) the linewatch authors. MIT license.

    Simulates N machines x K sensors for demos, tests and benchmarks. Keys
    are "<line>/mNNN/sNN". Every sensor is a signal with its own base
    level, a shift pattern (8 h sinusoid of event time), a daily pattern
    (24 h sinusoid) and gaussian noise of its own sigma. Event time
    advances by one interval per sample for all sensors at once: one tick
    yields one reading per sensor, in sensor order. Faults are injected at
    a rate per sensor per simulated hour (spike, level shift, drift, stuck
    value, noise burst, dropout) and reported as ground truth.

    The output is a pure function of the config: the same seed gives the
    same readings however the caller chunks the generation. Generation
    does no allocation and no syscall per reading (truth rows are buffered
    stdio writes, one per fault).
    =========================================================================
*/

#ifndef LW_SIM_H_INCLUDED
#define LW_SIM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Fault types (0 = none)
typedef enum {
    LW_FAULT_NONE = 0,
    LW_FAULT_SPIKE = 1,  //  +-6 sigma for one sample
    LW_FAULT_SHIFT = 2,  //  +-4 sigma for LW_SIM_SHIFT_SAMPLES
    LW_FAULT_DRIFT = 3,  //  Ramp reaching +-4 sigma over one hour
    LW_FAULT_STUCK = 4,  //  Value frozen for LW_SIM_STUCK_SAMPLES
    LW_FAULT_NOISE = 5,  //  Noise of 4 sigma for LW_SIM_NOISE_SAMPLES
    LW_FAULT_DROPOUT = 6 //  No samples for LW_SIM_DROPOUT_SAMPLES
} lw_fault_type_t;
#define LW_FAULT_TYPES 6

#define LW_SIM_SPIKE_SIGMAS 6.0
#define LW_SIM_SHIFT_SIGMAS 4.0
#define LW_SIM_DRIFT_SIGMAS 4.0
#define LW_SIM_NOISE_SIGMAS 4.0
#define LW_SIM_SHIFT_SAMPLES 120
#define LW_SIM_STUCK_SAMPLES 60
#define LW_SIM_NOISE_SAMPLES 60
#define LW_SIM_DROPOUT_SAMPLES 10
#define LW_SIM_LINE_MAX 64 //  Longest line name (machine prefix)

typedef struct {
    const char *line;  //  Machine prefix, e.g. "line1"
    uint32_t machines; //  Machines, >= 1
    uint32_t sensors;  //  Sensors per machine, >= 1
    int64_t interval;  //  Event time between samples, ns, > 0
    double faults;     //  Faults per sensor per simulated hour
    uint64_t seed;     //  PRNG seed
    int64_t start;     //  Event time of the first sample, ns
    //  Peer-group scenarios (all off when zero):
    bool identical;         //  Sensor j of every machine has machine 1's
                            //  sensor j's level, sigma and patterns (only
                            //  the noise and faults differ)
    uint32_t drift_machine; //  Machine (1-based) that drifts away slowly
    double drift_rate;      //  Its drift, sigmas per simulated hour
    int64_t drift_start;    //  Event time the drift starts, ns
} lw_sim_config_t;

//  One generated reading
typedef struct {
    uint32_t sensor; //  Sensor index, < lw_sim_sensors ()
    int64_t time;    //  Event time, ns
    double value;    //  The reading
} lw_sim_reading_t;

//  One injected fault (ground truth)
typedef struct {
    uint32_t sensor;      //  Sensor index
    lw_fault_type_t type; //  What was injected
    int64_t start;        //  Event time of its first sample, ns
    int64_t end;          //  Event time of its last sample, ns
} lw_sim_fault_t;

typedef void (lw_sim_truth_fn) (const lw_sim_fault_t *fault, void *arg);

typedef struct _lw_sim_t lw_sim_t;

//  Creates a simulator. Returns NULL when the config is invalid (zero
//  machines/sensors/interval, negative or non-finite fault rate, a line
//  name that would make invalid keys) or memory runs out.
lw_sim_t *lw_sim_new (const lw_sim_config_t *config);
void lw_sim_destroy (lw_sim_t **self_p);

//  Number of sensors (machines x sensors)
size_t lw_sim_sensors (lw_sim_t *self);
//  Key of sensor `index`; borrowed for the simulator's lifetime
const char *lw_sim_key (lw_sim_t *self, size_t index);
//  Noise sigma of a sensor
double lw_sim_sigma (lw_sim_t *self, size_t index);
//  Fault-free, noise-free value of a sensor at event time `time`
double lw_sim_expected (lw_sim_t *self, size_t index, int64_t time);

//  Generates up to `max` readings into out. Returns how many (always max:
//  the simulation never ends).
size_t lw_sim_generate (lw_sim_t *self, lw_sim_reading_t *out, size_t max);
//  Event time of the tick being generated
int64_t lw_sim_time (lw_sim_t *self);
//  Faults injected so far
uint64_t lw_sim_faults (lw_sim_t *self);

//  Writes the ground truth as CSV "sensor,type,start,end" (RFC 3339) to
//  `path` (created or truncated). Returns 0, or -1 (logged) when the file
//  cannot be opened.
int lw_sim_set_truth (lw_sim_t *self, const char *path);
//  Calls fn for every fault as it starts (tests)
void lw_sim_set_truth_fn (lw_sim_t *self, lw_sim_truth_fn *fn, void *arg);
//  Flushes the truth file
void lw_sim_flush (lw_sim_t *self);

//  Name of a fault type ("spike", "level_shift", "drift", "stuck",
//  "noise_burst", "dropout")
const char *lw_sim_fault_name (int type);

void lw_sim_test (bool verbose);

#endif
