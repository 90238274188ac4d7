/*  =========================================================================
    lw_util.h - small shared helpers: partition hash, time, node home

    Copyright (c) the linewatch authors. MIT license.

    Keys are "<machine>/<sensor>": the last '/'-separated component is the
    sensor, the rest the machine. A machine's partition is
    fnv1a32(machine) mod P. Time is int64 nanoseconds since the epoch, UTC.
    =========================================================================
*/

#ifndef LW_UTIL_H_INCLUDED
#define LW_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_NS_PER_SEC 1000000000LL
#define LW_NS_PER_MS 1000000LL

//  FNV-1a 32-bit hash of size bytes
uint32_t
    lw_fnv1a32 (const void *data, size_t size);

//  Length of the machine part of a key (bytes before the last '/'); the
//  whole key when it has no '/'
size_t
    lw_key_machine_len (const char *key);

//  Partition of a key: fnv1a32(machine) mod partitions
uint16_t
    lw_partition (const char *key, uint32_t partitions);

//  Wall clock, ns since the epoch
int64_t
    lw_time_now (void);
//  Monotonic clock, ns
int64_t
    lw_time_mono (void);

//  Parses a timestamp: ISO 8601 / RFC 3339 ("YYYY-MM-DD HH:MM:SS", 'T' or
//  ' ' separator, optional fraction up to ns, optional 'Z' or +hh:mm zone;
//  no zone = UTC) or a plain integer/decimal epoch in s, ms, us or ns
//  (chosen by magnitude). `size` bytes of text, not NUL-terminated.
//  Returns 0 and *out, or -1 on anything malformed or out of range.
int
    lw_time_parse (const char *text, size_t size, int64_t *out);

//  Formats ns as RFC 3339 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z" (fraction only
//  when nonzero, in ms/us/ns as needed). Returns out.
char *
    lw_time_format (int64_t ns, char *out, size_t out_size);
#define LW_TIME_TEXT_MAX 40

//  Resolves the node home: `arg` if given, else $LINEWATCH_HOME, else
//  $XDG_STATE_HOME/linewatch, else ~/.local/state/linewatch. Creates it
//  (mode 0700) with parents. Returns 0, or -1 (logged) if it cannot.
int
    lw_home_resolve (const char *arg, char *out, size_t out_size);

//  Creates a directory and its parents with mode; 0 or -1 (errno set)
int
    lw_mkdir_p (const char *path, int mode);

//  Parses a whole string as a base-10 long in [min, max]; 0 or -1
int
    lw_parse_long (const char *text, long min, long max, long *out);
//  Parses a whole string as a finite double in [min, max]; 0 or -1
int
    lw_parse_double (const char *text, double min, double max, double *out);

//  Random 64-bit id (publisher ids), never 0
uint64_t
    lw_random_id (void);

//  sigma = sqrt(pi/2) x mean absolute deviation, for normal noise, and
//  the inverse
#define LW_SIGMA_PER_ABSDEV 1.2533141373155003
#define LW_ABSDEV_PER_SIGMA 0.7978845608028654

//  Position of a time (ns, any int64, also before the epoch) in a period
//  (ns, > 0): returns the phase in [0, period) and sets *number (may be
//  NULL) to the period's number, floored (-1 just before the epoch)
static inline int64_t
lw_time_phase (int64_t time, int64_t period, int64_t *number)
{
    int64_t count = time / period;
    int64_t phase = time % period;
    if (phase < 0) {
        phase += period;
        count--;
    }
    if (number)
        *number = count;
    return phase;
}

//  Median of `count` (>= 1) finite values; sorts them in place
double
    lw_median (double *values, size_t count);

//  Standard normal draw from a seeded state (LCG + Box-Muller): the same
//  state gives the same sequence. For self tests and benches, not for ids
double
    lw_gauss (uint64_t *state);
//  Uniform draw in [0,1) from the same kind of seeded state
double
    lw_uniform (uint64_t *state);

void
    lw_util_test (bool verbose);

#endif
