/*  =========================================================================
    lw_source.h - the source interface of lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    A source is anything that produces readings: the line simulator, CSV
    replay, the ZeroMQ gateway, and later MQTT, Modbus TCP and InfluxDB
    line protocol. Each type is one lw_source_ops_t; the registry in
    lw_source.c maps the config's `type = ...` to it. Adding a source type
    is one new file with its ops plus one line in the registry.

    Life cycle, all on the ingest actor's thread and zloop:
      create  reads and validates its config section (env->path), opens
              files and sockets; NULL (logged) refuses the whole config
      start   registers its readers/pollers/timers; a source is born
              paused and must produce nothing until resume
      pause   ingest cannot take more (the broker is not READY, or the
              publisher pushes back): stop producing (end timers, stop
              reading sockets - letting TCP/ZeroMQ push back upstream)
      resume  produce again; pause and resume are idempotent
      destroy ends its timers/readers and frees everything

    A source hands readings to the sink (lw-ingest's cleaning and
    batching). lw_sink_put never loses a reading it is given; it returns
    false when the source should stop for now (pause follows). A push
    source may finish the message in hand: the sink queues what it is
    given.
    =========================================================================
*/

#ifndef LW_SOURCE_H_INCLUDED
#define LW_SOURCE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_cfg.h"
#include "lw_clean.h"

//  Most readings a pull source produces per loop iteration, so the loop
//  stays responsive to pipe commands and the publisher
#define LW_SOURCE_CHUNK 8192

//  lw-ingest's intake, implemented by lw_ingest.c
typedef struct _lw_sink_t lw_sink_t;

//  Resolves a key to its sensor state, to keep and use with lw_sink_put.
//  Returns NULL when the key is invalid or the sensor table is full (not
//  counted: lw_sink_put_key counts such readings).
lw_sensor_t *lw_sink_sensor (lw_sink_t *sink, const char *key);
//  Takes one reading of a resolved sensor: counts it "in", cleans it
//  (drop_* by reason) and batches it. Returns false when the source
//  should stop producing for now.
bool lw_sink_put (lw_sink_t *sink, lw_sensor_t *sensor, int64_t time,
                  double value, uint32_t quality);
//  The same by key (a hash lookup); a bad key is counted drop_bad_key
bool lw_sink_put_key (lw_sink_t *sink, const char *key, int64_t time,
                      double value, uint32_t quality);
//  True when the sink takes readings now (READY and no backpressure)
bool lw_sink_open (lw_sink_t *sink);
//  Counts a rejection that is not a reading (a bad frame, a bad CSV row)
//  as "drop_<reason>"
void lw_sink_drop (lw_sink_t *sink, const char *reason, uint64_t count);
//  A source's own counter or gauge in lw-ingest's heartbeat counters
//  (e.g. "modbus_requests"): registers it and returns its index, or -1
//  when the counter table is nearly full (then lw_sink_count ignores it).
//  Call at create, not per reading.
int lw_sink_counter (lw_sink_t *sink, const char *name);
//  Adds `amount` (may be negative for a gauge) to a counter
void lw_sink_count (lw_sink_t *sink, int counter, int64_t amount);

//  What a source gets at creation; borrowed for the source's lifetime
typedef struct {
    zloop_t *loop;         //  The ingest actor's loop
    lw_sink_t *sink;       //  Where readings go
    zconfig_t *config;     //  The whole config
    const char *path;      //  The source's section, "ingest/source/x"
    const char *name;      //  The source's name, "x"
    const lw_node_t *node; //  Home (relative paths), endpoints, hwm
} lw_source_env_t;

typedef struct {
    const char *type;                             //  Config `type` value
    void *(*create) (const lw_source_env_t *env); //  State, or NULL
    void (*destroy) (void **state_p);
    int (*start) (void *state); //  0 or -1
    void (*pause) (void *state);
    void (*resume) (void *state);
    bool (*done) (void *state); //  Nothing more to give
} lw_source_ops_t;

//  The built-in types
extern const lw_source_ops_t lw_source_simulator; //  "simulator"
extern const lw_source_ops_t lw_source_csv;       //  "csv"
extern const lw_source_ops_t lw_source_gateway;   //  "gateway" (always on)
extern const lw_source_ops_t lw_source_modbus;    //  "modbus"

typedef struct _lw_source_t lw_source_t;

//  Creates a source of the type its config section names (`type`), or
//  of `ops` when not NULL. Returns NULL (logged) on an unknown type or a
//  bad config.
lw_source_t *lw_source_new (const lw_source_env_t *env,
                            const lw_source_ops_t *ops);
void lw_source_destroy (lw_source_t **self_p);
int lw_source_start (lw_source_t *self);
void lw_source_pause (lw_source_t *self);
void lw_source_resume (lw_source_t *self);
bool lw_source_done (lw_source_t *self);
const char *lw_source_name (lw_source_t *self);
const char *lw_source_type (lw_source_t *self);

//  Names of the registered types, NULL-terminated (for config messages)
const char **lw_source_types (void);

#endif
