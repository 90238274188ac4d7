/*  =========================================================================
    lw_util.c - small shared helpers: partition hash, time, node home

    Copyright (c) the linewatch authors. MIT license.

    Helpers every process uses: the FNV-1a hash that maps a machine to its
    partition, clocks, a fast timestamp parser for CSV replay and line
    protocol (one call per row, so it does no allocation, no locale and no
    timegm: calendar arithmetic is done with days-from-civil), RFC 3339
    formatting, the node home directory and strict number parsing for
    config and CLI values.
    =========================================================================
*/

#include "lw_util.h"
#include "lw_limits.h"

#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

#define SECS_PER_DAY 86400LL
//  Whole seconds that still fit in int64 ns
#define SECS_MAX (INT64_MAX / LW_NS_PER_SEC)
#define SECS_MIN (INT64_MIN / LW_NS_PER_SEC)
//  Longest fraction we accept (nanoseconds)
#define FRACTION_DIGITS_MAX 9
//  Epoch magnitude thresholds (integer part): s, ms, us, else ns
#define EPOCH_S_BELOW 100000000000ULL
#define EPOCH_MS_BELOW 100000000000000ULL
#define EPOCH_US_BELOW 100000000000000000ULL

//  --------------------------------------------------------------------------
//  FNV-1a 32-bit hash of size bytes

uint32_t
lw_fnv1a32 (const void *data, size_t size)
{
    assert (data || size == 0);
    const uint8_t *bytes = (const uint8_t *)data;
    uint32_t hash = FNV_OFFSET;
    for (size_t index = 0; index < size; index++) {
        hash ^= bytes[index];
        hash *= FNV_PRIME;
    }
    return hash;
}

//  --------------------------------------------------------------------------
//  Length of the machine part of a key: bytes before the last '/', or the
//  whole key when there is no '/'

size_t
lw_key_machine_len (const char *key)
{
    assert (key);
    const char *slash = strrchr (key, '/');
    return slash ? (size_t)(slash - key) : strlen (key);
}

//  --------------------------------------------------------------------------
//  Partition of a key: fnv1a32(machine) mod partitions

uint16_t
lw_partition (const char *key, uint32_t partitions)
{
    assert (key);
    assert (partitions > 0 && partitions <= LW_PARTITIONS_MAX);
    return (uint16_t)(lw_fnv1a32 (key, lw_key_machine_len (key)) % partitions);
}

//  --------------------------------------------------------------------------
//  Wall clock, ns since the epoch

int64_t
lw_time_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * LW_NS_PER_SEC + now.tv_nsec;
}

//  --------------------------------------------------------------------------
//  Monotonic clock, ns

int64_t
lw_time_mono (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * LW_NS_PER_SEC + now.tv_nsec;
}

//  --------------------------------------------------------------------------
//  Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
//  days_from_civil): pure arithmetic, thread safe, no timegm.

static int64_t
s_days_from_civil (int64_t year, unsigned month, unsigned day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    unsigned year_of_era = (unsigned)(year - era * 400);
    unsigned day_of_year =
        (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    unsigned day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + (int64_t)day_of_era - 719468;
}

//  --------------------------------------------------------------------------
//  The inverse: civil date of a day count since 1970-01-01

static void
s_civil_from_days (int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned day_of_era = (unsigned)(days - era * 146097);
    unsigned year_of_era = (day_of_era - day_of_era / 1460 +
                            day_of_era / 36524 - day_of_era / 146096) /
                           365;
    unsigned day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    unsigned month_index = (5 * day_of_year + 2) / 153;
    *day = day_of_year - (153 * month_index + 2) / 5 + 1;
    *month = month_index < 10 ? month_index + 3 : month_index - 9;
    *year = (int64_t)year_of_era + era * 400 + (*month <= 2);
}

//  --------------------------------------------------------------------------
//  Reads exactly `count` decimal digits at text[*pos]; -1 if any is missing

static int
s_digits (const char *text, size_t size, size_t *pos, int count, unsigned *out)
{
    if (*pos + (size_t)count > size)
        return -1;
    unsigned value = 0;
    for (int digit = 0; digit < count; digit++) {
        char c = text[*pos + (size_t)digit];
        if (c < '0' || c > '9')
            return -1;
        value = value * 10 + (unsigned)(c - '0');
    }
    *pos += (size_t)count;
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Reads an optional fraction ".ddd" (1..9 digits) as nanoseconds

static int
s_fraction (const char *text, size_t size, size_t *pos, int64_t *nanos)
{
    *nanos = 0;
    if (*pos >= size || (text[*pos] != '.' && text[*pos] != ','))
        return 0;
    (*pos)++;
    int digits = 0;
    int64_t value = 0;
    while (*pos < size && text[*pos] >= '0' && text[*pos] <= '9') {
        if (++digits > FRACTION_DIGITS_MAX)
            return -1;
        value = value * 10 + (text[*pos] - '0');
        (*pos)++;
    }
    if (digits == 0)
        return -1;
    for (int scale = digits; scale < FRACTION_DIGITS_MAX; scale++)
        value *= 10;
    *nanos = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Combines seconds and nanoseconds into int64 ns, -1 on overflow

static int
s_combine (int64_t seconds, int64_t nanos, int64_t *out)
{
    //  nanos is in [0, 1e9): a negative seconds value borrows one second
    //  at the lower edge, so check the range with that in mind
    if (seconds > SECS_MAX || seconds < SECS_MIN - 1)
        return -1;
    if (seconds == SECS_MAX && nanos > INT64_MAX % LW_NS_PER_SEC)
        return -1;
    if (seconds == SECS_MIN - 1) {
        //  (SECS_MIN - 1) * 1e9 + nanos >= INT64_MIN ?
        int64_t floor_ns = SECS_MIN * LW_NS_PER_SEC;
        if (nanos < LW_NS_PER_SEC - (floor_ns - INT64_MIN))
            return -1;
        *out = floor_ns - (LW_NS_PER_SEC - nanos);
        return 0;
    }
    *out = seconds * LW_NS_PER_SEC + nanos;
    return 0;
}

//  --------------------------------------------------------------------------
//  Parses a plain epoch number: digits, optional '.' and digits. The unit
//  comes from the magnitude of the integer part.

static int
s_parse_epoch (const char *text, size_t size, int64_t *out)
{
    size_t pos = 0;
    bool negative = false;
    if (pos < size && (text[pos] == '-' || text[pos] == '+')) {
        negative = text[pos] == '-';
        pos++;
    }
    size_t start = pos;
    uint64_t whole = 0;
    while (pos < size && text[pos] >= '0' && text[pos] <= '9') {
        unsigned digit = (unsigned)(text[pos] - '0');
        if (whole > (UINT64_MAX - digit) / 10)
            return -1;
        whole = whole * 10 + digit;
        pos++;
    }
    if (pos == start)
        return -1;
    //  Fraction digits: keep the first 9 (ns resolution even for seconds),
    //  ignore the rest
    uint64_t fraction = 0;
    int fraction_digits = 0;
    if (pos < size && text[pos] == '.') {
        pos++;
        size_t fraction_start = pos;
        while (pos < size && text[pos] >= '0' && text[pos] <= '9') {
            if (fraction_digits < FRACTION_DIGITS_MAX) {
                fraction = fraction * 10 + (uint64_t)(text[pos] - '0');
                fraction_digits++;
            }
            pos++;
        }
        if (pos == fraction_start)
            return -1;
    }
    if (pos != size)
        return -1;

    int64_t unit;
    if (whole < EPOCH_S_BELOW)
        unit = LW_NS_PER_SEC;
    else if (whole < EPOCH_MS_BELOW)
        unit = LW_NS_PER_MS;
    else if (whole < EPOCH_US_BELOW)
        unit = 1000;
    else
        unit = 1;
    //  Sub-unit part in ns, truncated: fraction < 1e9 and unit <= 1e9, so
    //  the product fits in 64 bits
    uint64_t scale = 1;
    for (int digit = 0; digit < fraction_digits; digit++)
        scale *= 10;
    uint64_t sub = fraction * (uint64_t)unit / scale;
    if (whole > (uint64_t)INT64_MAX / (uint64_t)unit)
        return -1;
    uint64_t total = whole * (uint64_t)unit;
    if (total > (uint64_t)INT64_MAX - sub)
        return -1;
    total += sub;
    *out = negative ? -(int64_t)total : (int64_t)total;
    return 0;
}

//  --------------------------------------------------------------------------
//  Parses an ISO 8601 / RFC 3339 timestamp or a plain epoch number.
//  Returns 0 and *out, or -1 on anything malformed or out of range.

int
lw_time_parse (const char *text, size_t size, int64_t *out)
{
    assert (out);
    if (!text)
        return -1;
    //  Tolerate surrounding blanks (CSV cells often have them)
    while (size > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        size--;
    }
    while (size > 0 && (text[size - 1] == ' ' || text[size - 1] == '\t' ||
                        text[size - 1] == '\r'))
        size--;
    if (size == 0)
        return -1;
    //  A date has '-' at offset 4; anything else must be an epoch number
    if (size < 10 || text[4] != '-')
        return s_parse_epoch (text, size, out);

    size_t pos = 0;
    unsigned year, month, day, hour = 0, minute = 0, second = 0;
    if (s_digits (text, size, &pos, 4, &year) || pos >= size ||
        text[pos++] != '-' || s_digits (text, size, &pos, 2, &month) ||
        pos >= size || text[pos++] != '-' ||
        s_digits (text, size, &pos, 2, &day))
        return -1;
    if (month < 1 || month > 12 || day < 1)
        return -1;
    static const uint8_t month_days[12] = {31, 29, 31, 30, 31, 30,
                                           31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > month_days[month - 1] || (month == 2 && day == 29 && !leap))
        return -1;

    int64_t nanos = 0;
    int64_t offset = 0; //  Zone offset in seconds east of UTC
    if (pos < size) {
        char separator = text[pos++];
        if (separator != 'T' && separator != 't' && separator != ' ')
            return -1;
        if (s_digits (text, size, &pos, 2, &hour) || pos >= size ||
            text[pos++] != ':' || s_digits (text, size, &pos, 2, &minute) ||
            pos >= size || text[pos++] != ':' ||
            s_digits (text, size, &pos, 2, &second))
            return -1;
        //  Second 60 is a leap second (RFC 3339); it rolls into the next
        if (hour > 23 || minute > 59 || second > 60)
            return -1;
        if (s_fraction (text, size, &pos, &nanos))
            return -1;
        if (pos < size) {
            char zone = text[pos++];
            if (zone == 'Z' || zone == 'z') {
                if (pos != size)
                    return -1;
            }
            else if (zone == '+' || zone == '-') {
                unsigned zone_hours, zone_minutes = 0;
                if (s_digits (text, size, &pos, 2, &zone_hours))
                    return -1;
                //  +hh, +hhmm or +hh:mm
                bool colon = pos < size && text[pos] == ':';
                if (colon)
                    pos++;
                if ((colon || pos < size) &&
                    s_digits (text, size, &pos, 2, &zone_minutes))
                    return -1;
                if (pos != size || zone_hours > 23 || zone_minutes > 59)
                    return -1;
                offset = (int64_t)(zone_hours * 3600 + zone_minutes * 60);
                if (zone == '-')
                    offset = -offset;
            }
            else
                return -1;
        }
    }
    int64_t seconds = s_days_from_civil (year, month, day) * SECS_PER_DAY +
                      hour * 3600 + minute * 60 + second - offset;
    return s_combine (seconds, nanos, out);
}

//  --------------------------------------------------------------------------
//  Formats ns as RFC 3339 UTC; the fraction has 3, 6 or 9 digits, as few
//  as represent it exactly, and is left out when zero. Returns out.

char *
lw_time_format (int64_t ns, char *out, size_t out_size)
{
    assert (out);
    assert (out_size > 0);
    int64_t seconds = ns / LW_NS_PER_SEC;
    int64_t nanos = ns % LW_NS_PER_SEC;
    if (nanos < 0) {
        nanos += LW_NS_PER_SEC;
        seconds--;
    }
    int64_t days = seconds / SECS_PER_DAY;
    int64_t day_secs = seconds % SECS_PER_DAY;
    if (day_secs < 0) {
        day_secs += SECS_PER_DAY;
        days--;
    }
    int64_t year;
    unsigned month, day;
    s_civil_from_days (days, &year, &month, &day);
    int hour = (int)(day_secs / 3600);
    int minute = (int)(day_secs / 60 % 60);
    int second = (int)(day_secs % 60);
    char fraction[12] = "";
    if (nanos % LW_NS_PER_MS == 0 && nanos)
        snprintf (fraction, sizeof (fraction), ".%03d",
                  (int)(nanos / LW_NS_PER_MS));
    else if (nanos % 1000 == 0 && nanos)
        snprintf (fraction, sizeof (fraction), ".%06d", (int)(nanos / 1000));
    else if (nanos)
        snprintf (fraction, sizeof (fraction), ".%09d", (int)nanos);
    snprintf (out, out_size, "%04d-%02u-%02uT%02d:%02d:%02d%sZ", (int)year,
              month, day, hour, minute, second, fraction);
    return out;
}

//  --------------------------------------------------------------------------
//  Creates a directory and its parents with mode; 0 or -1 (errno set)

int
lw_mkdir_p (const char *path, int mode)
{
    assert (path);
    size_t length = strlen (path);
    if (length == 0 || length >= PATH_MAX) {
        errno = length ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    char buffer[PATH_MAX];
    memcpy (buffer, path, length + 1);
    //  Create each prefix that ends before a '/', then the whole path
    for (size_t index = 1; index <= length; index++) {
        if (buffer[index] != '/' && buffer[index] != 0)
            continue;
        char saved = buffer[index];
        buffer[index] = 0;
        if (mkdir (buffer, (mode_t)mode) && errno != EEXIST)
            return -1;
        buffer[index] = saved;
    }
    struct stat info;
    if (stat (path, &info))
        return -1;
    if (!S_ISDIR (info.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Resolves the node home: `arg`, $LINEWATCH_HOME, $XDG_STATE_HOME/linewatch
//  or ~/.local/state/linewatch, and creates it (mode 0700)

int
lw_home_resolve (const char *arg, char *out, size_t out_size)
{
    assert (out);
    assert (out_size > 0);
    int written = -1;
    const char *env;
    if (arg && *arg)
        written = snprintf (out, out_size, "%s", arg);
    else if ((env = getenv ("LINEWATCH_HOME")) && *env)
        written = snprintf (out, out_size, "%s", env);
    else if ((env = getenv ("XDG_STATE_HOME")) && *env == '/')
        written = snprintf (out, out_size, "%s/linewatch", env);
    else if ((env = getenv ("HOME")) && *env)
        written = snprintf (out, out_size, "%s/.local/state/linewatch", env);
    else {
        zsys_error ("util: no home: set --home or LINEWATCH_HOME");
        return -1;
    }
    if (written < 0 || (size_t)written >= out_size) {
        zsys_error ("util: home path too long length=%d", written);
        return -1;
    }
    //  Drop trailing slashes so paths joined below it stay canonical
    while (written > 1 && out[written - 1] == '/')
        out[--written] = 0;
    if (lw_mkdir_p (out, 0700)) {
        zsys_error ("util: cannot create home path=%.*s error=%s", 64, out,
                    strerror (errno));
        return -1;
    }
    //  Make it absolute: ipc:// endpoints and LMDB paths under the home
    //  must mean the same to every process, whatever its working directory
    if (out[0] != '/') {
        char absolute[PATH_MAX];
        if (!realpath (out, absolute) || strlen (absolute) >= out_size) {
            zsys_error ("util: cannot resolve home path=%.*s", 64, out);
            return -1;
        }
        strcpy (out, absolute);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Parses a whole string as a base-10 long in [min, max]; 0 or -1

int
lw_parse_long (const char *text, long min, long max, long *out)
{
    assert (out);
    if (!text || !*text || isspace ((unsigned char)*text))
        return -1;
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || *end || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Parses a whole string as a finite double in [min, max]; 0 or -1

int
lw_parse_double (const char *text, double min, double max, double *out)
{
    assert (out);
    if (!text || !*text || isspace ((unsigned char)*text))
        return -1;
    char *end;
    errno = 0;
    double value = strtod (text, &end);
    if (errno || *end || !isfinite (value) || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  qsort order of doubles

static int
s_double_compare (const void *left, const void *right)
{
    double a = *(const double *)left, b = *(const double *)right;
    return a < b ? -1 : a > b ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  Median of values (sorted in place); see lw_util.h.

double
lw_median (double *values, size_t count)
{
    assert (values && count > 0);
    qsort (values, count, sizeof (double), s_double_compare);
    return count % 2 ? values[count / 2]
                     : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

//  --------------------------------------------------------------------------
//  Standard normal draw from a seeded state (LCG + Box-Muller)

double
lw_gauss (uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    double u1 = ((double)(*state >> 11) + 1) / 9007199254740993.0;
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    double u2 = (double)(*state >> 11) / 9007199254740992.0;
    return sqrt (-2 * log (u1)) * cos (2 * M_PI * u2);
}

//  --------------------------------------------------------------------------
//  Uniform draw in [0,1) from a seeded state (the same LCG)

double
lw_uniform (uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / 9007199254740992.0;
}

//  --------------------------------------------------------------------------
//  Random 64-bit id, never 0: getrandom, else /dev/urandom, else a mix of
//  clocks and pid (only if the kernel gives us no entropy at all)

uint64_t
lw_random_id (void)
{
    uint64_t id = 0;
    for (int attempt = 0; attempt < 8 && id == 0; attempt++) {
        ssize_t got = getrandom (&id, sizeof (id), 0);
        if (got != (ssize_t)sizeof (id)) {
            id = 0;
            FILE *file = fopen ("/dev/urandom", "rb");
            if (file) {
                if (fread (&id, sizeof (id), 1, file) != 1)
                    id = 0;
                fclose (file);
            }
        }
    }
    if (id == 0) {
        id = (uint64_t)lw_time_now () ^ ((uint64_t)lw_time_mono () << 17) ^
             ((uint64_t)getpid () << 40);
        id = lw_fnv1a32 (&id, sizeof (id)) | ((uint64_t)1 << 63) | id << 32;
    }
    return id;
}

//  --------------------------------------------------------------------------
//  Self test

static int64_t
s_parse (const char *text)
{
    int64_t value = 0;
    int rc = lw_time_parse (text, strlen (text), &value);
    assert (rc == 0);
    return value;
}

static bool
s_rejects (const char *text)
{
    int64_t value = 12345;
    int rc = lw_time_parse (text, strlen (text), &value);
    return rc == -1 && value == 12345;
}

void
lw_util_test (bool verbose)
{
    printf (" * lw_util: ");
    if (verbose)
        printf ("\n");

    //  FNV-1a reference vectors
    assert (lw_fnv1a32 ("", 0) == 0x811c9dc5u);
    assert (lw_fnv1a32 ("a", 1) == 0xe40c292cu);
    assert (lw_fnv1a32 ("foobar", 6) == 0xbf9cf968u);

    //  Machine part and partitions
    assert (lw_key_machine_len ("line1/press3/temp") == 12);
    assert (lw_key_machine_len ("temp") == 4);
    assert (lw_key_machine_len ("/temp") == 0);
    assert (lw_partition ("line1/press3/temp", 64) ==
            lw_partition ("line1/press3/vib", 64));
    assert (lw_partition ("line1/press3/temp", 64) ==
            lw_fnv1a32 ("line1/press3", 12) % 64);
    assert (lw_partition ("a/b", 1) == 0);
    for (int index = 0; index < 100; index++) {
        char key[32];
        snprintf (key, sizeof (key), "m%d/s", index);
        assert (lw_partition (key, 7) < 7);
    }

    //  Clocks
    int64_t now = lw_time_now ();
    assert (now > 1600000000LL * LW_NS_PER_SEC);
    int64_t mono = lw_time_mono ();
    assert (lw_time_mono () >= mono);

    //  ISO 8601 / RFC 3339
    assert (s_parse ("1970-01-01T00:00:00Z") == 0);
    assert (s_parse ("1970-01-01 00:00:00") == 0);
    assert (s_parse ("1970-01-01") == 0);
    assert (s_parse ("2024-02-29T12:34:56Z") == 1709210096LL * LW_NS_PER_SEC);
    assert (s_parse ("2024-02-29 12:34:56.5") ==
            1709210096LL * LW_NS_PER_SEC + 500000000);
    assert (s_parse ("2024-02-29T12:34:56.123456789Z") ==
            1709210096LL * LW_NS_PER_SEC + 123456789);
    assert (s_parse ("2024-02-29T14:34:56+02:00") ==
            1709210096LL * LW_NS_PER_SEC);
    assert (s_parse ("2024-02-29T10:04:56-0230") ==
            1709210096LL * LW_NS_PER_SEC);
    assert (s_parse (" 2024-02-29t12:34:56z \r") ==
            1709210096LL * LW_NS_PER_SEC);
    assert (s_parse ("1969-12-31T23:59:59.9Z") == -100000000);
    assert (s_parse ("2262-04-11T23:47:16.854775807Z") == INT64_MAX);
    assert (s_parse ("1677-09-21T00:12:43.145224192Z") == INT64_MIN);
    assert (s_rejects ("2262-04-11T23:47:16.854775808Z"));
    assert (s_rejects ("1677-09-21T00:12:43.145224191Z"));
    assert (s_rejects ("2024-13-01T00:00:00Z"));
    assert (s_rejects ("2024-00-01T00:00:00Z"));
    assert (s_rejects ("2024-01-32T00:00:00Z"));
    assert (s_rejects ("2023-02-29T00:00:00Z"));
    assert (s_rejects ("1900-02-29T00:00:00Z"));
    assert (s_parse ("2000-02-29T00:00:00Z") == 951782400LL * LW_NS_PER_SEC);
    assert (s_rejects ("2024-04-31T00:00:00Z"));
    assert (s_rejects ("2024-01-01T25:00:00Z"));
    assert (s_rejects ("2024-01-01T24:00:00Z"));
    assert (s_rejects ("2024-01-01T00:60:00Z"));
    assert (s_rejects ("2024-01-01T00:00:61Z"));
    assert (s_rejects ("2024-01-01T00:00Z"));
    assert (s_rejects ("2024-01-01X00:00:00Z"));
    assert (s_rejects ("2024-01-01T00:00:00.Z"));
    assert (s_rejects ("2024-01-01T00:00:00.1234567890Z"));
    assert (s_rejects ("2024-01-01T00:00:00ZZ"));
    assert (s_rejects ("2024-01-01T00:00:00+2"));
    assert (s_rejects ("2024-01-01T00:00:00+01:"));
    assert (s_rejects ("2024-01-01T00:00:00+01:3"));
    assert (s_rejects ("2024-01-01T00:00:00+013"));
    assert (s_parse ("1970-01-01T01:00:00+01") == 0);
    assert (s_rejects ("2024-01-01T00:00:00+24:00"));
    assert (s_rejects ("2024-01-01T00:00:00+01:60"));
    assert (s_rejects ("2024-01-01T00:00:00+01:00x"));
    assert (s_rejects ("2024-1-01T00:00:00Z"));
    assert (s_rejects ("2O24-01-01T00:00:00Z"));
    assert (s_rejects (""));
    assert (s_rejects ("   "));
    int64_t value = 7;
    assert (lw_time_parse (NULL, 0, &value) == -1 && value == 7);
    //  Not NUL-terminated: only `size` bytes count
    assert (lw_time_parse ("2024-02-29T12:34:56Zjunk", 20, &value) == 0);
    assert (value == 1709210096LL * LW_NS_PER_SEC);

    //  Epoch numbers by magnitude
    assert (s_parse ("1709210096") == 1709210096LL * LW_NS_PER_SEC);
    assert (s_parse ("1709210096.25") ==
            1709210096LL * LW_NS_PER_SEC + 250000000);
    assert (s_parse ("1709210096123") == 1709210096123LL * LW_NS_PER_MS);
    assert (s_parse ("1709210096123456") == 1709210096123456LL * 1000);
    assert (s_parse ("1709210096123456789") == 1709210096123456789LL);
    assert (s_parse ("0") == 0);
    assert (s_parse ("-1.5") == -1500000000);
    assert (s_rejects ("99999999999999999999"));
    assert (s_rejects ("9999999999")); //  s: beyond 2262
    assert (s_rejects ("12a"));
    assert (s_rejects ("1."));
    assert (s_rejects ("."));
    assert (s_rejects ("-"));
    assert (s_rejects ("1e9"));

    //  Formatting and round trips
    char text[LW_TIME_TEXT_MAX];
    assert (streq (lw_time_format (0, text, sizeof (text)),
                   "1970-01-01T00:00:00Z"));
    assert (streq (lw_time_format (1709210096LL * LW_NS_PER_SEC + 500000000,
                                   text, sizeof (text)),
                   "2024-02-29T12:34:56.500Z"));
    assert (streq (lw_time_format (1709210096LL * LW_NS_PER_SEC + 1000, text,
                                   sizeof (text)),
                   "2024-02-29T12:34:56.000001Z"));
    assert (streq (lw_time_format (-1, text, sizeof (text)),
                   "1969-12-31T23:59:59.999999999Z"));
    int64_t samples[] = {0,
                         1,
                         -1,
                         INT64_MAX,
                         INT64_MIN,
                         951782400123000000LL,
                         1709210096123456789LL,
                         -86400LL * LW_NS_PER_SEC};
    for (size_t index = 0; index < sizeof (samples) / sizeof (samples[0]);
         index++) {
        lw_time_format (samples[index], text, sizeof (text));
        assert (s_parse (text) == samples[index]);
    }
    //  Every day over 800 years round-trips through civil and back
    for (int64_t days = -100000; days < 200000; days += 7) {
        int64_t year;
        unsigned month, day;
        s_civil_from_days (days, &year, &month, &day);
        assert (s_days_from_civil (year, month, day) == days);
    }

    //  Speed: 100k CSV-row timestamps must parse in well under 100 ms
    const int rows = 100000;
    const size_t stride = 32;
    char *stamps = (char *)malloc ((size_t)rows * stride);
    int *lengths = (int *)malloc ((size_t)rows * sizeof (int));
    assert (stamps && lengths);
    for (int row = 0; row < rows; row++)
        lengths[row] =
            snprintf (stamps + (size_t)row * stride, stride,
                      "2024-03-%02d %02d:%02d:%02d.%03d", row % 28 + 1,
                      row % 24, row % 60, (row / 60) % 60, row % 1000);
    int64_t started = lw_time_mono ();
    int64_t checksum = 0;
    for (int row = 0; row < rows; row++) {
        int64_t parsed;
        int rc = lw_time_parse (stamps + (size_t)row * stride,
                                (size_t)lengths[row], &parsed);
        assert (rc == 0);
        checksum ^= parsed;
    }
    int64_t elapsed = lw_time_mono () - started;
    assert (checksum != 0);
    if (verbose)
        printf ("   %d timestamps parsed in %.1f ms\n", rows, elapsed / 1e6);
    free (stamps);
    free (lengths);

    //  Number parsing
    long number;
    double real;
    assert (lw_parse_long ("42", 0, 100, &number) == 0 && number == 42);
    assert (lw_parse_long ("-5", -10, 10, &number) == 0 && number == -5);
    assert (lw_parse_long ("101", 0, 100, &number) == -1);
    assert (lw_parse_long ("12abc", 0, 100, &number) == -1);
    assert (lw_parse_long ("", 0, 100, &number) == -1);
    assert (lw_parse_long (" 1", 0, 100, &number) == -1);
    assert (lw_parse_long (NULL, 0, 100, &number) == -1);
    assert (lw_parse_long ("99999999999999999999999", LONG_MIN, LONG_MAX,
                           &number) == -1);
    assert (lw_parse_double ("0.25", 0, 1, &real) == 0 && real == 0.25);
    assert (lw_parse_double ("1.5", 0, 1, &real) == -1);
    assert (lw_parse_double ("nan", -1e300, 1e300, &real) == -1);
    assert (lw_parse_double ("inf", -INFINITY, INFINITY, &real) == -1);
    assert (lw_parse_double ("1e999", -INFINITY, INFINITY, &real) == -1);
    assert (lw_parse_double ("2x", 0, 10, &real) == -1);
    assert (lw_parse_double ("", 0, 10, &real) == -1);

    //  Random ids
    uint64_t first = lw_random_id ();
    uint64_t second = lw_random_id ();
    assert (first != 0 && second != 0 && first != second);

    //  Directories and the home
    char base[] = "/tmp/lw_util_test.XXXXXX";
    assert (mkdtemp (base));
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/a/b/c", base);
    assert (lw_mkdir_p (path, 0700) == 0);
    assert (lw_mkdir_p (path, 0700) == 0); //  Idempotent
    struct stat info;
    assert (stat (path, &info) == 0 && S_ISDIR (info.st_mode));
    char file_path[PATH_MAX];
    snprintf (file_path, sizeof (file_path), "%s/file", base);
    FILE *file = fopen (file_path, "w");
    assert (file);
    fclose (file);
    snprintf (path, sizeof (path), "%s/file/sub", base);
    assert (lw_mkdir_p (path, 0700) == -1);
    assert (lw_mkdir_p (file_path, 0700) == -1 && errno == ENOTDIR);

    char home[PATH_MAX];
    snprintf (path, sizeof (path), "%s/home1/", base);
    assert (lw_home_resolve (path, home, sizeof (home)) == 0);
    snprintf (path, sizeof (path), "%s/home1", base);
    assert (streq (home, path));
    assert (stat (home, &info) == 0 && (info.st_mode & 0777) == 0700);
    //  Environment fallbacks: save and restore what the caller had
    char *saved_home = getenv ("LINEWATCH_HOME");
    saved_home = saved_home ? strdup (saved_home) : NULL;
    char *saved_xdg = getenv ("XDG_STATE_HOME");
    saved_xdg = saved_xdg ? strdup (saved_xdg) : NULL;
    snprintf (path, sizeof (path), "%s/home2", base);
    setenv ("LINEWATCH_HOME", path, 1);
    assert (lw_home_resolve (NULL, home, sizeof (home)) == 0);
    assert (streq (home, path));
    unsetenv ("LINEWATCH_HOME");
    snprintf (path, sizeof (path), "%s/xdg", base);
    setenv ("XDG_STATE_HOME", path, 1);
    assert (lw_home_resolve ("", home, sizeof (home)) == 0);
    snprintf (path, sizeof (path), "%s/xdg/linewatch", base);
    assert (streq (home, path));
    //  A relative home becomes absolute
    char cwd[PATH_MAX];
    assert (getcwd (cwd, sizeof (cwd)));
    assert (chdir (base) == 0);
    assert (lw_home_resolve ("home2", home, sizeof (home)) == 0);
    assert (chdir (cwd) == 0);
    snprintf (path, sizeof (path), "%s/home2", base);
    char real_path[PATH_MAX];
    assert (realpath (path, real_path));
    assert (streq (home, real_path));
    //  Too small an output buffer and an uncreatable path fail cleanly
    char tiny[8];
    assert (lw_home_resolve (path, tiny, sizeof (tiny)) == -1);
    assert (lw_home_resolve (file_path, home, sizeof (home)) == -1);
    if (saved_home)
        setenv ("LINEWATCH_HOME", saved_home, 1);
    if (saved_xdg)
        setenv ("XDG_STATE_HOME", saved_xdg, 1);
    else
        unsetenv ("XDG_STATE_HOME");
    free (saved_home);
    free (saved_xdg);

    //  Clean up the temp tree
    const char *cleanup[] = {"a/b/c", "a/b",           "a",  "home1",
                             "home2", "xdg/linewatch", "xdg"};
    for (size_t index = 0; index < sizeof (cleanup) / sizeof (cleanup[0]);
         index++) {
        snprintf (path, sizeof (path), "%s/%s", base, cleanup[index]);
        assert (rmdir (path) == 0);
    }
    assert (unlink (file_path) == 0);
    assert (rmdir (base) == 0);

    //  Medians: odd and even counts, sorted in place
    double odd[] = {5, 1, 4, 2, 3};
    assert (lw_median (odd, 5) == 3);
    assert (odd[0] == 1 && odd[4] == 5);
    double even[] = {10, -2, 7, 1};
    assert (lw_median (even, 4) == 4);
    double one[] = {42};
    assert (lw_median (one, 1) == 42);
    //  Phases: floored, before the epoch too
    int64_t period_number = 0;
    assert (lw_time_phase (250, 100, &period_number) == 50 &&
            period_number == 2);
    assert (lw_time_phase (-1, 100, &period_number) == 99 && period_number == -1);
    assert (lw_time_phase (-100, 100, &period_number) == 0 && period_number == -1);
    assert (lw_time_phase (-101, 100, &period_number) == 99 && period_number == -2);
    assert (lw_time_phase (0, 100, NULL) == 0);
    assert (lw_time_phase (INT64_MIN, 1000, &period_number) >= 0 && period_number < 0);
    //  Uniform draws: in [0,1), the same from the same state
    uint64_t draw = 3, again = 3;
    double sum = 0;
    for (int index = 0; index < 10000; index++) {
        double value = lw_uniform (&draw);
        assert (value >= 0 && value < 1 && value == lw_uniform (&again));
        sum += value;
    }
    assert (fabs (sum / 10000 - 0.5) < 0.02);

    printf ("OK\n");
}
