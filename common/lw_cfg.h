/*  =========================================================================
    lw_cfg.h - typed, validating getters over a ZPL config (zconfig)

    Copyright (c) the linewatch authors. MIT license.

    Every getter validates its value and on failure logs one line naming
    the key, the bad value and what is allowed, e.g.
      config: scorer/heartbeat='12abc' is not an integer in [50, 10000]
    and returns -1. A missing key takes its default. Processes call them all
    at start and refuse to start (exit 2) on any error.
    =========================================================================
*/

#ifndef LW_CFG_H_INCLUDED
#define LW_CFG_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  Loads a ZPL file. Returns NULL (logged) when missing or unparsable.
zconfig_t *
    lw_cfg_load (const char *path);
//  Same on the text of a file already in memory (size bytes, no NUL
//  needed); `name` names it in messages. For the fuzz target and tests.
zconfig_t *
    lw_cfg_load_text (const void *data, size_t size, const char *name);

//  Integer in [min, max]
int
    lw_cfg_int (zconfig_t *cfg, const char *path, long dflt, long min,
                long max, long *out);
//  Finite double in [min, max]
int
    lw_cfg_double (zconfig_t *cfg, const char *path, double dflt, double min,
                   double max, double *out);
//  0/1 (also true/false, yes/no, on/off)
int
    lw_cfg_bool (zconfig_t *cfg, const char *path, bool dflt, bool *out);
//  String of at most max_len bytes; *out is borrowed from cfg
int
    lw_cfg_string (zconfig_t *cfg, const char *path, const char *dflt,
                   size_t max_len, const char **out);
//  One of a NULL-terminated list of choices; *out is the index
int
    lw_cfg_choice (zconfig_t *cfg, const char *path, const char *dflt,
                   const char **choices, int *out);
//  A ZeroMQ endpoint. "ipc://name" with a relative name is resolved under
//  `home`; the ipc path must fit LW_IPC_PATH_MAX. tcp:// on a non-loopback
//  address is refused (no CURVE yet). Writes the resolved endpoint into
//  out (out_size bytes).
int
    lw_cfg_endpoint (zconfig_t *cfg, const char *path, const char *dflt,
                     const char *home, char *out, size_t out_size);

//  Applies "path=value" overrides (as given with --set) to cfg; returns -1
//  (logged) on a malformed override.
int
    lw_cfg_override (zconfig_t *cfg, const char *assignment);

//  Warns (zsys_warning) about every leaf key of cfg that is not in
//  known_paths, a NULL-terminated list of paths where a "*" component
//  matches any one name ("ingest/source/*/type"). An unknown key is a
//  warning, not an error. Returns the number of unknown keys.
int
    lw_cfg_check_keys (zconfig_t *cfg, const char **known_paths);

#define LW_ENDPOINT_MAX 256
#define LW_PATH_MAX 4096

//  What every process of a node shares: the home, the `common` section and
//  the endpoints (all resolved against the home)
typedef struct {
    char home[LW_PATH_MAX];             //  Node home directory
    long partitions;                    //  common/partitions (P)
    long heartbeat;                     //  common/heartbeat, ms
    long misses;                        //  common/misses
    long hwm;                           //  common/hwm
    bool verbose;                       //  common/log/verbose
    bool syslog;                        //  common/log/syslog
    char readings_in[LW_ENDPOINT_MAX];  //  broker/readings_in (XSUB)
    char readings_out[LW_ENDPOINT_MAX]; //  broker/readings_out (XPUB)
    char features_in[LW_ENDPOINT_MAX];  //  broker/features_in
    char features_out[LW_ENDPOINT_MAX]; //  broker/features_out
    char events_in[LW_ENDPOINT_MAX];    //  broker/events_in
    char events_out[LW_ENDPOINT_MAX];   //  broker/events_out
    char monitor[LW_ENDPOINT_MAX];      //  broker/monitor
    char coordinator[LW_ENDPOINT_MAX];  //  broker/coordinator
    char gateway[LW_ENDPOINT_MAX];      //  ingest/gateway
    char api[LW_ENDPOINT_MAX];          //  feedback/api
} lw_node_t;

//  Loads and validates the shared part of the config for a node at
//  `home`. Returns 0, or -1 after logging every bad key.
int
    lw_node_load (zconfig_t *cfg, const char *home, lw_node_t *out);

void
    lw_cfg_test (bool verbose);

#endif
