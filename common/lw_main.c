/*  =========================================================================
    lw_main.c - the shared body of every process's main ()

    Copyright (c) the linewatch authors. MIT license.

    Every linewatch process is the same shell around a different actor:
    arguments, config, node settings, logging, the actor's CONFIGURE
    handshake, then waiting for a signal or for the actor to end. Keeping
    it in one place means every process validates its input and exits with
    the same codes: 0 after a clean stop, 1 when the actor failed after it
    started, 2 on bad usage or config (also when the actor refuses its
    CONFIGURE: nothing was started).
    =========================================================================
*/

#include <ctype.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lw_cfg.h"
#include "lw_limits.h"
#include "lw_main.h"
#include "lw_util.h"

#define LW_EXIT_OK 0
#define LW_EXIT_FAIL 1
#define LW_EXIT_USAGE 2

//  How long the wait loop sleeps in zpoller_wait before it looks at
//  zsys_interrupted again (a signal also wakes it earlier)
#define LW_MAIN_POLL_MS 500
//  After the actor ended on its own, the bound on the $TERM handshake
//  that zactor_destroy still attempts
#define LW_MAIN_TERM_MS 1000
//  Most --set overrides on one command line
#define LW_MAIN_OVERRIDES_MAX 64

//  --------------------------------------------------------------------------
//  Prints the usage text to stderr.

static void
s_usage (const char *ident)
{
    fprintf (
        stderr,
        "usage: %s [-c|--config FILE] [--home DIR] [--name NAME] [-v]\n"
        "       [--set section/key=value]... [-h|--help]\n"
        "  -c, --config FILE  config file (default <home>/linewatch.cfg if\n"
        "                     it exists, else the shipped default)\n"
        "  --home DIR         node home: ipc sockets and LMDB files\n"
        "                     (default $LINEWATCH_HOME, then\n"
        "                     $XDG_STATE_HOME/linewatch)\n"
        "  --name NAME        member name (default <group>-<pid>)\n"
        "  -v, --verbose      debug logging\n"
        "  --set KEY=VALUE    override one config key (repeatable)\n",
        ident);
}

//  --------------------------------------------------------------------------
//  True when a member name is 1..LW_NAME_MAX bytes of letters, digits,
//  '_', '-' and '.': it travels in control messages and shows in logs.

static bool
s_name_valid (const char *name)
{
    size_t length = strlen (name);
    if (length == 0 || length > LW_NAME_MAX)
        return false;
    for (size_t index = 0; index < length; index++) {
        char letter = name[index];
        if (!isalnum ((unsigned char)letter) && letter != '_' &&
            letter != '-' && letter != '.')
            return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Runs a process around actor. Returns the process exit code.

int
lw_main_run (int argc, char *argv[], const char *ident, const char *group,
             zactor_fn *actor)
{
    assert (argv);
    assert (ident);
    assert (group);
    assert (actor);

    const char *config_arg = NULL;
    const char *home_arg = NULL;
    const char *name_arg = NULL;
    bool verbose = false;
    const char *overrides[LW_MAIN_OVERRIDES_MAX];
    size_t override_nbr = 0;

    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv[argn];
        bool has_value = argn + 1 < argc;
        if (streq (arg, "-h") || streq (arg, "--help")) {
            s_usage (ident);
            return LW_EXIT_OK;
        }
        else if (streq (arg, "-v") || streq (arg, "--verbose"))
            verbose = true;
        else if ((streq (arg, "-c") || streq (arg, "--config")) && has_value)
            config_arg = argv[++argn];
        else if (streq (arg, "--home") && has_value)
            home_arg = argv[++argn];
        else if (streq (arg, "--name") && has_value)
            name_arg = argv[++argn];
        else if (streq (arg, "--set") && has_value) {
            if (override_nbr == LW_MAIN_OVERRIDES_MAX) {
                fprintf (stderr, "%s: more than %d --set options\n", ident,
                         LW_MAIN_OVERRIDES_MAX);
                return LW_EXIT_USAGE;
            }
            overrides[override_nbr++] = argv[++argn];
        }
        else {
            fprintf (stderr, "%s: unknown or incomplete option '%s'\n", ident,
                     arg);
            s_usage (ident);
            return LW_EXIT_USAGE;
        }
    }
    if (name_arg && !s_name_valid (name_arg)) {
        fprintf (stderr,
                 "%s: --name '%s' must be 1..%d letters, digits, "
                 "'_', '-' or '.'\n",
                 ident, name_arg, LW_NAME_MAX);
        return LW_EXIT_USAGE;
    }

    //  A peer that goes away must not kill us with SIGPIPE; czmq's own
    //  SIGINT/SIGTERM handler (installed by zsys_init) sets
    //  zsys_interrupted, which ends every zloop and our wait below
    signal (SIGPIPE, SIG_IGN);
    zsys_init ();
    zsys_set_logident (ident);
    zsys_set_logstream (stderr);

    int exit_code = LW_EXIT_USAGE;
    zconfig_t *config = NULL;
    zactor_t *running = NULL;
    zpoller_t *poller = NULL;
    lw_node_t *node = (lw_node_t *)zmalloc (sizeof (lw_node_t));
    char *home = (char *)zmalloc (LW_PATH_MAX);
    char *config_path = (char *)zmalloc (LW_PATH_MAX);
    assert (node && home && config_path);

    if (lw_home_resolve (home_arg, home, LW_PATH_MAX) != 0)
        goto cleanup;
    if (config_arg)
        snprintf (config_path, LW_PATH_MAX, "%s", config_arg);
    else {
        int length =
            snprintf (config_path, LW_PATH_MAX, "%s/linewatch.cfg", home);
        if (length >= LW_PATH_MAX || access (config_path, F_OK) != 0)
            snprintf (config_path, LW_PATH_MAX, "%s", LW_DEFAULT_CONFIG);
    }
    config = lw_cfg_load (config_path);
    if (!config)
        goto cleanup;
    for (size_t index = 0; index < override_nbr; index++)
        if (lw_cfg_override (config, overrides[index]) != 0)
            goto cleanup;
    if (lw_node_load (config, home, node) != 0) {
        zsys_error ("main: invalid config file=%s", config_path);
        goto cleanup;
    }
    if (verbose)
        node->verbose = true;
    if (node->syslog)
        zsys_set_logsystem (true);

    char name[LW_NAME_MAX + 1];
    if (name_arg)
        snprintf (name, sizeof (name), "%s", name_arg);
    else
        snprintf (name, sizeof (name), "%s-%d", group, (int)getpid ());
    lw_actor_args_t args = {config, node, name};

    zsys_info ("main: starting name=%s home=%s config=%s", name, node->home,
               config_path);
    exit_code = LW_EXIT_FAIL;
    running = zactor_new (actor, &args);
    if (!running) {
        zsys_error ("main: cannot start the actor");
        goto cleanup;
    }
    if (zstr_send (running, "CONFIGURE") != 0 || zsock_wait (running) != 0) {
        //  The actor refused its settings (a bad key of its own section,
        //  logged naming the key) or could not bind: nothing is running,
        //  so this is a refusal to start, like a bad common key (exit 2)
        zsys_error ("main: configure failed name=%s", name);
        exit_code = LW_EXIT_USAGE;
        goto cleanup;
    }

    //  Run until a signal, or until the actor ends: when its thread
    //  returns, zactor's shim sends one last signal, which wakes us
    poller = zpoller_new (running, NULL);
    assert (poller);
    bool ended = false;
    while (!zsys_interrupted && !ended) {
        void *which = zpoller_wait (poller, LW_MAIN_POLL_MS);
        if (which == running)
            ended = true;
        else if (zpoller_terminated (poller))
            break;
    }
    if (ended && !zsys_interrupted) {
        zsys_error ("main: actor ended on its own name=%s", name);
        //  Its thread may be gone: bound the $TERM handshake
        zsock_set_rcvtimeo (zactor_sock (running), LW_MAIN_TERM_MS);
        exit_code = LW_EXIT_FAIL;
    }
    else {
        zsys_info ("main: stopping name=%s", name);
        exit_code = LW_EXIT_OK;
    }

cleanup:
    zpoller_destroy (&poller);
    zactor_destroy (&running);
    zconfig_destroy (&config);
    free (node);
    free (home);
    free (config_path);
    return exit_code;
}
