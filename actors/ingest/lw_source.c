/*  =========================================================================
    lw_source.c - the source interface of lw-ingest, and the registry

    Copyright (c) the linewatch authors. MIT license.

    lw_source_t wraps one source's ops and state, and keeps pause/resume
    idempotent so the types need not track it. The built-in types live in
    lw_source_sim.c, lw_source_csv.c and lw_source_gateway.c.
    =========================================================================
*/

#include <czmq.h>

#include "lw_source.h"

//  Every known type, and its config name in the same position: a new
//  source type adds one line to each
extern const lw_source_ops_t lw_source_lineproto; //  lw_source_lineproto.c
extern const lw_source_ops_t lw_source_mqtt;      //  lw_source_mqtt.c
static const lw_source_ops_t *s_registry[] = {
    &lw_source_simulator, &lw_source_csv, &lw_source_modbus,
    &lw_source_lineproto, &lw_source_mqtt, NULL};
static const char *s_type_names[] = {"simulator", "csv", "modbus",
                                     "lineproto", "mqtt", NULL};

struct _lw_source_t {
    const lw_source_ops_t *ops; //  The type's functions
    void *state;                //  The type's state
    char *name;                 //  Source name (config section name)
    bool paused;                //  Paused now (every source starts so)
};

//  --------------------------------------------------------------------------
//  Names of the types a config may name, NULL-terminated

const char **
lw_source_types (void)
{
    return s_type_names;
}

//  --------------------------------------------------------------------------
//  Creates a source; NULL (logged) on an unknown type or a bad config

lw_source_t *
lw_source_new (const lw_source_env_t *env, const lw_source_ops_t *ops)
{
    assert (env);
    assert (env->loop && env->sink && env->config && env->path && env->name &&
            env->node);
    if (!ops) {
        char path[256];
        snprintf (path, sizeof (path), "%s/type", env->path);
        int choice;
        if (lw_cfg_choice (env->config, path, "simulator", lw_source_types (),
                           &choice))
            return NULL;
        ops = s_registry[choice];
        assert (streq (ops->type, s_type_names[choice]));
    }
    lw_source_t *self = (lw_source_t *)zmalloc (sizeof (lw_source_t));
    if (!self)
        return NULL;
    self->ops = ops;
    self->paused = true;
    self->name = strdup (env->name);
    if (self->name)
        self->state = ops->create (env);
    if (!self->state) {
        lw_source_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys a source

void
lw_source_destroy (lw_source_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_source_t *self = *self_p;
        if (self->state)
            self->ops->destroy (&self->state);
        free (self->name);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Registers the source in the loop, paused

int
lw_source_start (lw_source_t *self)
{
    assert (self);
    return self->ops->start (self->state);
}

//  --------------------------------------------------------------------------
//  Stops producing for now

void
lw_source_pause (lw_source_t *self)
{
    assert (self);
    if (!self->paused) {
        self->paused = true;
        self->ops->pause (self->state);
    }
}

//  --------------------------------------------------------------------------
//  Produces again

void
lw_source_resume (lw_source_t *self)
{
    assert (self);
    if (self->paused) {
        self->paused = false;
        self->ops->resume (self->state);
    }
}

//  --------------------------------------------------------------------------
//  True when the source has nothing more to give

bool
lw_source_done (lw_source_t *self)
{
    assert (self);
    return self->ops->done ? self->ops->done (self->state) : false;
}

//  --------------------------------------------------------------------------
//  Name and type

const char *
lw_source_name (lw_source_t *self)
{
    assert (self);
    return self->name;
}

const char *
lw_source_type (lw_source_t *self)
{
    assert (self);
    return self->ops->type;
}
