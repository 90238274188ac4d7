/*  =========================================================================
    lw_cfg.c - typed, validating getters over a ZPL config (zconfig)

    Copyright (c) the linewatch authors. MIT license.

    A config file is operator input: every value is validated here, and a
    bad one is reported with the key, the value and what is allowed, so a
    process refuses to start with a message that says what to fix. Nothing
    here asserts on a value from the file; asserts guard only the caller's
    contract (NULL arguments, min > max).
    =========================================================================
*/

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lw_cfg.h"
#include "lw_limits.h"

//  Longest config path we build while walking a tree ("a/b/c")
#define LW_CFG_KEY_MAX 256
//  Largest config file accepted
#define LW_CFG_FILE_MAX (1024 * 1024)

//  --------------------------------------------------------------------------
//  Looks up the value at path: *value is NULL when the key is absent.
//  Returns -1 (logged) when the path names a section, which holds keys,
//  not a value. zconfig 4.2 keeps a trailing comment as the value of an
//  otherwise empty key ("truth =    # comment"); such a value means
//  "empty", so it reads as "".

static int
s_value (zconfig_t *cfg, const char *path, const char **value)
{
    *value = NULL;
    zconfig_t *item = zconfig_locate (cfg, path);
    if (!item)
        return 0;
    if (zconfig_child (item)) {
        zsys_error ("config: %s is a section, where a value is expected", path);
        return -1;
    }
    *value = zconfig_value (item);
    if (*value && **value == '#')
        *value = "";
    return 0;
}

//  --------------------------------------------------------------------------
//  Walks the tree and blanks values that are only a stray comment (see
//  s_value), so that a config saved back to a file stays correct.

static void
s_strip_comments (zconfig_t *item)
{
    for (; item; item = zconfig_next (item)) {
        const char *value = zconfig_value (item);
        if (value && *value == '#')
            zconfig_set_value (item, "%s", "");
        s_strip_comments (zconfig_child (item));
    }
}

//  --------------------------------------------------------------------------
//  Loads a ZPL file. Returns a new config (caller destroys) or NULL after
//  logging why, naming the file.

zconfig_t *
lw_cfg_load (const char *path)
{
    assert (path);
    if (access (path, R_OK) != 0) {
        zsys_error ("config: cannot read file=%s reason=%s", path,
                    strerror (errno));
        return NULL;
    }
    //  Read the file ourselves: zconfig_load leaks its zfile when the
    //  text does not parse, and this way a huge file is refused up front
    zchunk_t *chunk = zchunk_slurp (path, LW_CFG_FILE_MAX + 1);
    if (!chunk) {
        zsys_error ("config: cannot read file=%s", path);
        return NULL;
    }
    zconfig_t *cfg =
        lw_cfg_load_text (zchunk_data (chunk), zchunk_size (chunk), path);
    zchunk_destroy (&chunk);
    return cfg;
}

//  --------------------------------------------------------------------------
//  Parses the text of a ZPL file (what lw_cfg_load read); `name` names it
//  in messages. Returns a new config (caller destroys) or NULL, logged.

zconfig_t *
lw_cfg_load_text (const void *data, size_t size, const char *name)
{
    assert (data || size == 0);
    assert (name);
    if (size > LW_CFG_FILE_MAX) {
        zsys_error ("config: file=%s is larger than %d bytes", name,
                    LW_CFG_FILE_MAX);
        return NULL;
    }
    zchunk_t *chunk = zchunk_new (data, size);
    if (!chunk) {
        zsys_error ("config: cannot read file=%s", name);
        return NULL;
    }
    zconfig_t *cfg = zconfig_chunk_load (chunk);
    zchunk_destroy (&chunk);
    if (!cfg) {
        zsys_error ("config: cannot parse file=%s (ZPL syntax: 4-space "
                    "indents, key = value)",
                    name);
        return NULL;
    }
    s_strip_comments (zconfig_child (cfg));
    return cfg;
}

//  --------------------------------------------------------------------------
//  Parses a whole string as a base-10 long in [min, max]: 0 or -1.

static int
s_parse_long (const char *text, long min, long max, long *out)
{
    while (isspace ((unsigned char)*text))
        text++;
    if (*text == '\0')
        return -1;
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno != 0 || end == text)
        return -1;
    while (isspace ((unsigned char)*end))
        end++;
    if (*end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Parses a whole string as a finite double in [min, max]: 0 or -1.

static int
s_parse_double (const char *text, double min, double max, double *out)
{
    while (isspace ((unsigned char)*text))
        text++;
    if (*text == '\0')
        return -1;
    char *end;
    errno = 0;
    double value = strtod (text, &end);
    if (errno != 0 || end == text)
        return -1;
    while (isspace ((unsigned char)*end))
        end++;
    if (*end != '\0' || !isfinite (value) || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Integer in [min, max]; missing key -> dflt. Returns 0 or -1 (logged).

int
lw_cfg_int (zconfig_t *cfg, const char *path, long dflt, long min, long max,
            long *out)
{
    assert (cfg);
    assert (path);
    assert (min <= max);
    assert (out);
    const char *value;
    if (s_value (cfg, path, &value) != 0)
        return -1;
    if (!value) {
        *out = dflt;
        return 0;
    }
    if (s_parse_long (value, min, max, out) == 0)
        return 0;
    zsys_error ("config: %s='%s' is not an integer in [%ld, %ld]", path, value,
                min, max);
    return -1;
}

//  --------------------------------------------------------------------------
//  Finite double in [min, max]; missing key -> dflt. Returns 0 or -1.

int
lw_cfg_double (zconfig_t *cfg, const char *path, double dflt, double min,
               double max, double *out)
{
    assert (cfg);
    assert (path);
    assert (min <= max);
    assert (out);
    const char *value;
    if (s_value (cfg, path, &value) != 0)
        return -1;
    if (!value) {
        *out = dflt;
        return 0;
    }
    if (s_parse_double (value, min, max, out) == 0)
        return 0;
    zsys_error ("config: %s='%s' is not a number in [%g, %g]", path, value, min,
                max);
    return -1;
}

//  --------------------------------------------------------------------------
//  Boolean: 0/1, true/false, yes/no, on/off (any case). Returns 0 or -1.

int
lw_cfg_bool (zconfig_t *cfg, const char *path, bool dflt, bool *out)
{
    assert (cfg);
    assert (path);
    assert (out);
    const char *value;
    if (s_value (cfg, path, &value) != 0)
        return -1;
    if (!value) {
        *out = dflt;
        return 0;
    }
    static const char *yes[] = {"1", "true", "yes", "on", NULL};
    static const char *no[] = {"0", "false", "no", "off", NULL};
    for (int index = 0; yes[index]; index++) {
        if (strcasecmp (value, yes[index]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp (value, no[index]) == 0) {
            *out = false;
            return 0;
        }
    }
    zsys_error ("config: %s='%s' is not a boolean (0/1, true/false, "
                "yes/no, on/off)",
                path, value);
    return -1;
}

//  --------------------------------------------------------------------------
//  String of at most max_len bytes without control characters; missing
//  key -> dflt. *out is borrowed from cfg (or is dflt) for cfg's lifetime.

int
lw_cfg_string (zconfig_t *cfg, const char *path, const char *dflt,
               size_t max_len, const char **out)
{
    assert (cfg);
    assert (path);
    assert (out);
    const char *value;
    if (s_value (cfg, path, &value) != 0)
        return -1;
    if (!value) {
        *out = dflt;
        return 0;
    }
    size_t length = strlen (value);
    if (length > max_len) {
        zsys_error ("config: %s='%.40s...' is longer than %zu bytes", path,
                    value, max_len);
        return -1;
    }
    for (size_t index = 0; index < length; index++) {
        if ((unsigned char)value[index] < 0x20 ||
            (unsigned char)value[index] == 0x7F) {
            zsys_error ("config: %s has a control character at byte %zu", path,
                        index);
            return -1;
        }
    }
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  One of a NULL-terminated list of choices; *out is its index. A missing
//  key takes dflt, which must be one of the choices.

int
lw_cfg_choice (zconfig_t *cfg, const char *path, const char *dflt,
               const char **choices, int *out)
{
    assert (cfg);
    assert (path);
    assert (dflt);
    assert (choices);
    assert (out);
    const char *value;
    if (s_value (cfg, path, &value) != 0)
        return -1;
    if (!value)
        value = dflt;
    for (int index = 0; choices[index]; index++) {
        if (streq (value, choices[index])) {
            *out = index;
            return 0;
        }
    }
    assert (value != dflt); //  Caller bug: default not a choice
    char allowed[256] = "";
    size_t used = 0;
    for (int index = 0; choices[index] && used < sizeof (allowed); index++)
        used += snprintf (allowed + used, sizeof (allowed) - used, "%s%s",
                          index ? ", " : "", choices[index]);
    zsys_error ("config: %s='%s' is not one of: %s", path, value, allowed);
    return -1;
}

//  --------------------------------------------------------------------------
//  Checks the host:port part of a tcp:// endpoint: the host must be a
//  loopback address (no CURVE yet, so nothing may leave the machine in
//  clear text), the port a number in [1, 65535]. Returns NULL when it is
//  fine, else what is wrong.

static const char *
s_check_tcp (const char *address)
{
    const char *colon = strrchr (address, ':');
    if (!colon)
        return "has no port (tcp://127.0.0.1:PORT)";
    size_t host_len = colon - address;
    bool loopback = (host_len == 9 && memcmp (address, "127.0.0.1", 9) == 0) ||
                    (host_len == 9 && memcmp (address, "localhost", 9) == 0) ||
                    (host_len == 5 && memcmp (address, "[::1]", 5) == 0);
    if (!loopback)
        return "is a tcp endpoint on a non-loopback address, which needs "
               "CURVE (not implemented yet): use ipc:// or 127.0.0.1, "
               "localhost or [::1]";
    long port;
    if (s_parse_long (colon + 1, 1, 65535, &port) != 0)
        return "has no valid port (1..65535)";
    return NULL;
}

//  --------------------------------------------------------------------------
//  A ZeroMQ endpoint, resolved into out. "ipc://name" with a relative name
//  lives under home; the socket path must fit LW_IPC_PATH_MAX. Abstract
//  ipc sockets ("ipc://@x") are refused: they ignore file permissions,
//  which is what protects a single node. Returns 0 or -1 (logged).

int
lw_cfg_endpoint (zconfig_t *cfg, const char *path, const char *dflt,
                 const char *home, char *out, size_t out_size)
{
    assert (cfg);
    assert (path);
    assert (dflt);
    assert (out);
    assert (out_size > 0);
    const char *value;
    if (s_value (cfg, path, &value) != 0)
        return -1;
    if (!value)
        value = dflt;
    const char *problem = NULL;
    char resolved[LW_ENDPOINT_MAX + LW_PATH_MAX];

    for (const char *scan = value; *scan; scan++) {
        if ((unsigned char)*scan <= 0x20 || (unsigned char)*scan == 0x7F) {
            problem = "has a space or control character";
            goto failed;
        }
    }
    if (strncmp (value, "ipc://", 6) == 0) {
        const char *name = value + 6;
        if (*name == '\0') {
            problem = "has an empty ipc path";
            goto failed;
        }
        if (*name == '@') {
            problem = "is an abstract ipc socket, which ignores file "
                      "permissions: use a path";
            goto failed;
        }
        size_t length;
        if (*name == '/')
            length = snprintf (resolved, sizeof (resolved), "%s", value);
        else {
            if (!home || !*home) {
                problem = "is a relative ipc path but there is no home";
                goto failed;
            }
            length =
                snprintf (resolved, sizeof (resolved), "ipc://%s%s%s", home,
                          home[strlen (home) - 1] == '/' ? "" : "/", name);
        }
        if (length >= sizeof (resolved) || length - 6 > LW_IPC_PATH_MAX) {
            zsys_error ("config: %s='%s' resolves to an ipc path of %zu "
                        "bytes, more than %d (sun_path): use a shorter "
                        "home or name",
                        path, value, length - 6, LW_IPC_PATH_MAX);
            return -1;
        }
    }
    else if (strncmp (value, "tcp://", 6) == 0) {
        problem = s_check_tcp (value + 6);
        if (problem)
            goto failed;
        snprintf (resolved, sizeof (resolved), "%s", value);
    }
    else {
        problem = "is not an ipc:// or tcp:// endpoint";
        goto failed;
    }
    if (strlen (resolved) >= out_size || strlen (resolved) >= LW_ENDPOINT_MAX) {
        problem = "is too long once resolved";
        goto failed;
    }
    strcpy (out, resolved);
    return 0;

failed:
    zsys_error ("config: %s='%s' %s", path, value, problem);
    return -1;
}

//  --------------------------------------------------------------------------
//  Applies one "path=value" override (from --set). The path is one or
//  more '/'-separated names of letters, digits, '_', '-' and '.'; the
//  value may be empty. Returns 0 or -1 (logged).

int
lw_cfg_override (zconfig_t *cfg, const char *assignment)
{
    assert (cfg);
    assert (assignment);
    const char *equals = strchr (assignment, '=');
    size_t path_len = equals ? (size_t)(equals - assignment) : 0;
    bool valid = equals && path_len > 0 && path_len < LW_CFG_KEY_MAX &&
                 assignment[0] != '/' && assignment[path_len - 1] != '/';
    for (size_t index = 0; valid && index < path_len; index++) {
        char letter = assignment[index];
        if (letter == '/')
            valid = assignment[index + 1] != '/';
        else
            valid = isalnum ((unsigned char)letter) || letter == '_' ||
                    letter == '-' || letter == '.';
    }
    for (const char *scan = equals ? equals + 1 : ""; valid && *scan; scan++)
        valid = (unsigned char)*scan >= 0x20 && (unsigned char)*scan != 0x7F;
    if (!valid) {
        zsys_error ("config: override '%s' is not section/key=value",
                    assignment);
        return -1;
    }
    char path[LW_CFG_KEY_MAX];
    memcpy (path, assignment, path_len);
    path[path_len] = '\0';
    zconfig_put (cfg, path, equals + 1);
    return 0;
}

//  --------------------------------------------------------------------------
//  True when a config path matches a known path, where a known component
//  "*" matches any one component.

static bool
s_path_matches (const char *known, const char *path)
{
    while (*known && *path) {
        if (*known == '*' && (known[1] == '/' || known[1] == '\0')) {
            known++;
            while (*path && *path != '/')
                path++;
        }
        else if (*known == *path) {
            known++;
            path++;
        }
        else
            return false;
    }
    return *known == '\0' && *path == '\0';
}

//  --------------------------------------------------------------------------
//  Recursion of lw_cfg_check_keys: prefix holds the parent's path.

static int
s_check_keys (zconfig_t *item, char *prefix, size_t prefix_len,
              const char **known_paths)
{
    int unknown = 0;
    for (; item; item = zconfig_next (item)) {
        const char *name = zconfig_name (item);
        int length = snprintf (prefix + prefix_len, LW_CFG_KEY_MAX - prefix_len,
                               "%s%s", prefix_len ? "/" : "", name ? name : "");
        if (length < 0 || prefix_len + length >= LW_CFG_KEY_MAX) {
            zsys_warning ("config: key path too long under '%s' (ignored)",
                          prefix);
            unknown++;
            continue;
        }
        zconfig_t *child = zconfig_child (item);
        if (child)
            unknown +=
                s_check_keys (child, prefix, prefix_len + length, known_paths);
        else {
            bool known = false;
            for (int index = 0; known_paths[index] && !known; index++)
                known = s_path_matches (known_paths[index], prefix);
            if (!known) {
                zsys_warning ("config: unknown key %s (ignored)", prefix);
                unknown++;
            }
        }
        prefix[prefix_len] = '\0';
    }
    return unknown;
}

//  --------------------------------------------------------------------------
//  Warns about every leaf key not in known_paths (NULL-terminated; a "*"
//  component matches any name). An unknown key is a warning, not an error:
//  it is usually a typo the operator should see. Returns how many there
//  were.

int
lw_cfg_check_keys (zconfig_t *cfg, const char **known_paths)
{
    assert (cfg);
    assert (known_paths);
    char prefix[LW_CFG_KEY_MAX] = "";
    return s_check_keys (zconfig_child (cfg), prefix, 0, known_paths);
}

//  --------------------------------------------------------------------------
//  Loads and validates the shared part of the config for a node at home.
//  Every key is checked even after a failure so the operator sees all
//  problems at once. Returns 0, or -1 after logging every bad key.

int
lw_node_load (zconfig_t *cfg, const char *home, lw_node_t *out)
{
    assert (cfg);
    assert (home);
    assert (out);
    memset (out, 0, sizeof (*out));
    int errors = 0;
    if (strlen (home) >= sizeof (out->home)) {
        zsys_error ("config: home '%.40s...' is longer than %zu bytes", home,
                    sizeof (out->home) - 1);
        errors++;
    }
    else
        strcpy (out->home, home);

    errors += lw_cfg_int (cfg, "common/partitions", LW_PARTITIONS_DEFAULT, 1,
                          LW_PARTITIONS_MAX, &out->partitions) != 0;
    errors += lw_cfg_int (cfg, "common/heartbeat", 500, 50, 10000,
                          &out->heartbeat) != 0;
    errors += lw_cfg_int (cfg, "common/misses", 3, 2, 20, &out->misses) != 0;
    errors += lw_cfg_int (cfg, "common/hwm", LW_HWM_DEFAULT, 10, 1000000,
                          &out->hwm) != 0;
    errors +=
        lw_cfg_bool (cfg, "common/log/verbose", false, &out->verbose) != 0;
    errors += lw_cfg_bool (cfg, "common/log/syslog", false, &out->syslog) != 0;

    struct {
        const char *path; //  Config key
        const char *dflt; //  Default endpoint
        char *out;        //  Where the resolved one goes
    } endpoints[] = {
        {"broker/readings_in", "ipc://readings-in", out->readings_in},
        {"broker/readings_out", "ipc://readings-out", out->readings_out},
        {"broker/features_in", "ipc://features-in", out->features_in},
        {"broker/features_out", "ipc://features-out", out->features_out},
        {"broker/events_in", "ipc://events-in", out->events_in},
        {"broker/events_out", "ipc://events-out", out->events_out},
        {"broker/monitor", "ipc://monitor", out->monitor},
        {"broker/coordinator", "ipc://coordinator", out->coordinator},
        {"ingest/gateway", "ipc://gateway", out->gateway},
        {"feedback/api", "ipc://api", out->api}};
    size_t count = sizeof (endpoints) / sizeof (endpoints[0]);
    for (size_t index = 0; index < count; index++)
        errors += lw_cfg_endpoint (cfg, endpoints[index].path,
                                   endpoints[index].dflt, out->home,
                                   endpoints[index].out, LW_ENDPOINT_MAX) != 0;
    //  Every endpoint is bound by one socket: two keys naming the same
    //  endpoint would make the second bind fail at run time instead
    for (size_t index = 0; index < count; index++) {
        if (!*endpoints[index].out)
            continue;
        for (size_t other = index + 1; other < count; other++) {
            if (streq (endpoints[index].out, endpoints[other].out)) {
                zsys_error ("config: %s and %s are the same endpoint '%s'",
                            endpoints[index].path, endpoints[other].path,
                            endpoints[index].out);
                errors++;
            }
        }
    }
    return errors ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_cfg_test (bool verbose)
{
    printf (" * lw_cfg: ");
    if (verbose)
        printf ("\n");

    zconfig_t *cfg =
        zconfig_str_load ("common\n"
                          "    partitions = 32   #  a comment\n"
                          "    heartbeat = 12abc\n"
                          "    empty =\n"
                          "    commented =        #  only a comment\n"
                          "    ratio = 0.25\n"
                          "    flag = yes\n"
                          "    name = \"hello world\"\n"
                          "    kind = csv\n"
                          "    spaced = \" 42 \"\n"
                          "    big = 99999999999999999999999\n"
                          "    nan = nan\n"
                          "broker\n"
                          "    a = ipc://coordinator\n"
                          "    b = ipc:///run/lw/api\n"
                          "    c = tcp://127.0.0.1:5555\n"
                          "    d = tcp://localhost:1\n"
                          "    e = \"tcp://[::1]:65535\"\n"
                          "    f = tcp://10.0.0.1:5555\n"
                          "    g = ipc://@abstract\n"
                          "    h = tcp://127.0.0.1:0\n"
                          "    i = tcp://127.0.0.1\n"
                          "    j = inproc://x\n"
                          "    k = ipc://\n"
                          "    l = tcp://127.0.0.1:80x\n"
                          "    m = tcp://*:5555\n");
    assert (cfg);

    //  Integers
    long number = 0;
    double real = 0;
    const char *text = NULL;
    assert (lw_cfg_int (cfg, "common/partitions", 64, 1, 1024, &number) == 0);
    assert (number == 32);
    assert (lw_cfg_int (cfg, "common/missing", 64, 1, 1024, &number) == 0);
    assert (number == 64);
    assert (lw_cfg_int (cfg, "common/partitions", 64, 1, 16, &number) == -1);
    assert (lw_cfg_int (cfg, "common/heartbeat", 500, 50, 10000, &number) ==
            -1);
    assert (lw_cfg_int (cfg, "common/empty", 1, 0, 10, &number) == -1);
    assert (lw_cfg_int (cfg, "common/commented", 1, 0, 10, &number) == -1);
    assert (lw_cfg_int (cfg, "common/ratio", 1, 0, 10, &number) == -1);
    assert (lw_cfg_int (cfg, "common/spaced", 1, 0, 100, &number) == 0);
    assert (number == 42);
    assert (lw_cfg_int (cfg, "common/big", 1, 0, LONG_MAX, &number) == -1);
    //  A section is not a value
    assert (lw_cfg_int (cfg, "common", 7, 0, 10, &number) == -1);
    assert (lw_cfg_string (cfg, "broker", "x", 10, &text) == -1);

    //  Doubles
    real = 0;
    assert (lw_cfg_double (cfg, "common/ratio", 1, 0, 1, &real) == 0);
    assert (real == 0.25);
    assert (lw_cfg_double (cfg, "common/ratio", 1, 0.5, 1, &real) == -1);
    assert (lw_cfg_double (cfg, "common/nan", 1, -1e300, 1e300, &real) == -1);
    assert (lw_cfg_double (cfg, "common/heartbeat", 1, 0, 1e9, &real) == -1);
    assert (lw_cfg_double (cfg, "common/partitions", 1, 0, 100, &real) == 0);
    assert (real == 32);
    assert (lw_cfg_double (cfg, "common/none", 0.5, 0, 1, &real) == 0);
    assert (real == 0.5);

    //  Booleans
    bool flag = false;
    assert (lw_cfg_bool (cfg, "common/flag", false, &flag) == 0);
    assert (flag);
    assert (lw_cfg_bool (cfg, "common/none", true, &flag) == 0);
    assert (flag);
    assert (lw_cfg_bool (cfg, "common/kind", true, &flag) == -1);
    assert (lw_cfg_bool (cfg, "common/partitions", true, &flag) == -1);

    //  Strings and choices
    assert (lw_cfg_string (cfg, "common/name", "x", 64, &text) == 0);
    assert (streq (text, "hello world"));
    assert (lw_cfg_string (cfg, "common/name", "x", 5, &text) == -1);
    assert (lw_cfg_string (cfg, "common/none", "dflt", 64, &text) == 0);
    assert (streq (text, "dflt"));
    assert (lw_cfg_string (cfg, "common/commented", "dflt", 64, &text) == 0);
    assert (streq (text, ""));
    assert (lw_cfg_string (cfg, "common/empty", "dflt", 64, &text) == 0);
    assert (streq (text, ""));
    const char *kinds[] = {"simulator", "csv", NULL};
    int choice = -1;
    assert (lw_cfg_choice (cfg, "common/kind", "simulator", kinds, &choice) ==
            0);
    assert (choice == 1);
    assert (lw_cfg_choice (cfg, "common/none", "simulator", kinds, &choice) ==
            0);
    assert (choice == 0);
    assert (lw_cfg_choice (cfg, "common/name", "simulator", kinds, &choice) ==
            -1);

    //  Endpoints
    char endpoint[LW_ENDPOINT_MAX];
    assert (lw_cfg_endpoint (cfg, "broker/a", "ipc://x", "/tmp/home", endpoint,
                             sizeof (endpoint)) == 0);
    assert (streq (endpoint, "ipc:///tmp/home/coordinator"));
    assert (lw_cfg_endpoint (cfg, "broker/a", "ipc://x", "/tmp/home/", endpoint,
                             sizeof (endpoint)) == 0);
    assert (streq (endpoint, "ipc:///tmp/home/coordinator"));
    assert (lw_cfg_endpoint (cfg, "broker/none", "ipc://x", "/tmp/home",
                             endpoint, sizeof (endpoint)) == 0);
    assert (streq (endpoint, "ipc:///tmp/home/x"));
    assert (lw_cfg_endpoint (cfg, "broker/b", "ipc://x", "/tmp/home", endpoint,
                             sizeof (endpoint)) == 0);
    assert (streq (endpoint, "ipc:///run/lw/api"));
    assert (lw_cfg_endpoint (cfg, "broker/c", "ipc://x", "/tmp/home", endpoint,
                             sizeof (endpoint)) == 0);
    assert (streq (endpoint, "tcp://127.0.0.1:5555"));
    assert (lw_cfg_endpoint (cfg, "broker/d", "ipc://x", "/tmp/home", endpoint,
                             sizeof (endpoint)) == 0);
    assert (lw_cfg_endpoint (cfg, "broker/e", "ipc://x", "/tmp/home", endpoint,
                             sizeof (endpoint)) == 0);
    assert (streq (endpoint, "tcp://[::1]:65535"));
    const char *refused[] = {"broker/f",    "broker/g", "broker/h", "broker/i",
                             "broker/j",    "broker/k", "broker/l", "broker/m",
                             "common/name", NULL};
    for (int index = 0; refused[index]; index++)
        assert (lw_cfg_endpoint (cfg, refused[index], "ipc://x", "/tmp/home",
                                 endpoint, sizeof (endpoint)) == -1);
    //  The ipc path must fit sun_path: 107 bytes is the most
    char home[LW_PATH_MAX];
    memset (home, 'h', sizeof (home));
    home[0] = '/';
    home[LW_IPC_PATH_MAX - strlen ("/coordinator")] = '\0';
    assert (lw_cfg_endpoint (cfg, "broker/a", "ipc://x", home, endpoint,
                             sizeof (endpoint)) == 0);
    assert (strlen (endpoint) == 6 + LW_IPC_PATH_MAX);
    home[LW_IPC_PATH_MAX - strlen ("/coordinator")] = 'h';
    home[LW_IPC_PATH_MAX - strlen ("/coordinator") + 1] = '\0';
    assert (lw_cfg_endpoint (cfg, "broker/a", "ipc://x", home, endpoint,
                             sizeof (endpoint)) == -1);
    //  A relative path needs a home
    assert (lw_cfg_endpoint (cfg, "broker/a", "ipc://x", NULL, endpoint,
                             sizeof (endpoint)) == -1);
    //  Too small an output buffer is refused, not truncated
    assert (lw_cfg_endpoint (cfg, "broker/c", "ipc://x", "/tmp", endpoint, 8) ==
            -1);

    //  Overrides
    assert (lw_cfg_override (cfg, "common/partitions=16") == 0);
    assert (lw_cfg_int (cfg, "common/partitions", 64, 1, 1024, &number) == 0);
    assert (number == 16);
    assert (lw_cfg_override (cfg, "new/section/key=a=b") == 0);
    assert (streq (zconfig_get (cfg, "new/section/key", ""), "a=b"));
    assert (lw_cfg_override (cfg, "common/empty=") == 0);
    const char *bad_overrides[] = {"nokey",  "=value", "/a=1",     "a/=1",
                                   "a//b=1", "a b=1",  "a/b=\x01", NULL};
    for (int index = 0; bad_overrides[index]; index++)
        assert (lw_cfg_override (cfg, bad_overrides[index]) == -1);
    zconfig_destroy (&cfg);

    //  Unknown keys
    cfg = zconfig_str_load ("a\n    b = 1\n    c = 2\n"
                            "src\n    one\n        type = x\n"
                            "    two\n        typo = y\n");
    assert (cfg);
    const char *known[] = {"a/b", "a/c", "src/*/type", NULL};
    assert (lw_cfg_check_keys (cfg, known) == 1);
    const char *fewer[] = {"a/b", NULL};
    assert (lw_cfg_check_keys (cfg, fewer) == 3);
    zconfig_destroy (&cfg);

    //  Files: a missing and a malformed one fail cleanly
    char dir[] = "/tmp/lwcfg-XXXXXX";
    assert (mkdtemp (dir));
    char file[64];
    snprintf (file, sizeof (file), "%s/missing.cfg", dir);
    assert (lw_cfg_load (file) == NULL);
    snprintf (file, sizeof (file), "%s/bad.cfg", dir);
    FILE *handle = fopen (file, "w");
    assert (handle);
    fprintf (handle, "a\n  b = 1\n");
    fclose (handle);
    assert (lw_cfg_load (file) == NULL);
    //  A file with trailing comments and an empty value loads right, and
    //  survives a save and a reload
    handle = fopen (file, "w");
    assert (handle);
    fprintf (handle, "common\n    partitions = 8    #  P\n"
                     "    truth =       #  optional\n");
    fclose (handle);
    cfg = lw_cfg_load (file);
    assert (cfg);
    assert (streq (zconfig_get (cfg, "common/truth", "x"), ""));
    assert (zconfig_save (cfg, file) == 0);
    zconfig_destroy (&cfg);
    cfg = lw_cfg_load (file);
    assert (cfg);
    assert (streq (zconfig_get (cfg, "common/truth", "x"), ""));
    assert (streq (zconfig_get (cfg, "common/partitions", "x"), "8"));
    //  The same text from memory (no NUL), a malformed and a huge one
    const char *zpl = "common\n    partitions = 4    #  P\nrest";
    zconfig_t *memory = lw_cfg_load_text (zpl, strlen (zpl) - 4, "mem");
    assert (memory);
    assert (streq (zconfig_get (memory, "common/partitions", "x"), "4"));
    assert (zconfig_locate (memory, "rest") == NULL);
    zconfig_destroy (&memory);
    assert (lw_cfg_load_text ("a\n  b = 1\n", 10, "mem") == NULL);
    char *huge = (char *)zmalloc (LW_CFG_FILE_MAX + 1);
    assert (huge);
    memset (huge, '\n', LW_CFG_FILE_MAX + 1);
    assert (lw_cfg_load_text (huge, LW_CFG_FILE_MAX + 1, "mem") == NULL);
    free (huge);

    //  Node settings: defaults, then every bad key reported
    lw_node_t node;
    assert (lw_node_load (cfg, dir, &node) == 0);
    assert (node.partitions == 8);
    assert (node.heartbeat == 500);
    assert (node.misses == 3);
    assert (node.hwm == LW_HWM_DEFAULT);
    assert (!node.verbose && !node.syslog);
    assert (streq (node.home, dir));
    char expect[LW_ENDPOINT_MAX];
    snprintf (expect, sizeof (expect), "ipc://%s/coordinator", dir);
    assert (streq (node.coordinator, expect));
    snprintf (expect, sizeof (expect), "ipc://%s/api", dir);
    assert (streq (node.api, expect));
    zconfig_destroy (&cfg);

    cfg = zconfig_str_load ("common\n    heartbeat = 1\n    misses = x\n"
                            "broker\n    monitor = ipc://@x\n"
                            "    events_out = ipc://coordinator\n");
    assert (cfg);
    assert (lw_node_load (cfg, dir, &node) == -1);
    zconfig_destroy (&cfg);

    //  The shipped default config is valid
    char shipped[LW_PATH_MAX] = "";
    const char *config_dir = getenv ("LW_CONFIG_DIR");
    if (config_dir)
        snprintf (shipped, sizeof (shipped), "%s/linewatch.cfg", config_dir);
#ifdef LW_DEFAULT_CONFIG
    else
        snprintf (shipped, sizeof (shipped), "%s", LW_DEFAULT_CONFIG);
#endif
    if (*shipped) {
        cfg = lw_cfg_load (shipped);
        assert (cfg);
        assert (lw_node_load (cfg, dir, &node) == 0);
        assert (node.partitions == 64);
        assert (node.heartbeat == 500);
        assert (streq (zconfig_get (cfg, "ingest/source/sim/truth", "x"), ""));
        zconfig_destroy (&cfg);
    }

    snprintf (file, sizeof (file), "%s/bad.cfg", dir);
    assert (unlink (file) == 0);
    assert (rmdir (dir) == 0);
    printf ("OK\n");
}
