/*  =========================================================================
    main.c - lwctl: the operator's and engineer's command line

    Copyright (c) the linewatch authors. MIT license.

    Takes the global options wherever they stand on the command line
    (-c CONFIG, --home DIR, --json, --timeout MS), loads and validates the
    config, and runs one command. Exit status: 0 success, 1 failure,
    2 bad usage or config.
    =========================================================================
*/

#include "lw_ctl.h"
#include "lw_util.h"

typedef struct {
    const char *name;                               //  Command word
    int (*run) (lw_ctl_t *ctl, int argc, char **argv);
    bool needs_node;                                //  Loads config + home
    const char *usage;                              //  One line of help
} command_t;

static command_t s_commands[] = {
    {"up", lw_ctl_up, true, "up [--tail]             start this node, supervise it (--tail: print alerts)"},
    {"status", lw_ctl_status, true, "status                  processes, counters, partitions"},
    {"tail", lw_ctl_tail, true, "tail [--alerts|--scores] [--count N]   live stream"},
    {"alerts", lw_ctl_alerts, true, "alerts [--open] [--sensor S] [--limit N]"},
    {"show", lw_ctl_show, true, "show ID                 one alert and its labels"},
    {"label", lw_ctl_label, true, "label ID anomaly|normal [--note TEXT]\n"
     "  lwctl label --sensor S --from T --to T anomaly|normal [--note TEXT]"},
    {"labels", lw_ctl_labels, true, "labels [--sensor S]     label history"},
    {"replay", lw_ctl_replay, true, "replay FILE [--sensor S] [--speed X | --asap]"},
    {"score", lw_ctl_score, true, "score FILE [--sensor S] [-o OUT]   offline scoring"},
    {"bench", lw_ctl_bench, false, "bench [--rate N | --max] [--seconds S] [--sensors N]"},
    {NULL, NULL, false, NULL}
};

//  --------------------------------------------------------------------------
//  Prints usage to stderr

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: lwctl [-c CONFIG] [--home DIR] [--json] [--timeout MS] "
             "COMMAND [ARGS]\n\ncommands:\n");
    for (command_t *command = s_commands; command->name; command++)
        fprintf (stderr, "  lwctl %s\n", command->usage);
    fprintf (stderr,
             "\nThe home (LMDB files, ipc sockets) is --home, else "
             "$LINEWATCH_HOME, else\n$XDG_STATE_HOME/linewatch, else "
             "~/.local/state/linewatch. The config is -c,\nelse "
             "<home>/linewatch.cfg if present, else the default one.\n");
}

//  --------------------------------------------------------------------------
//  Picks the config file: -c, else <home>/linewatch.cfg, else the default

static const char *
s_config_path (const char *given, const char *home, char *buffer,
               size_t buffer_size)
{
    if (given)
        return given;
    int size = snprintf (buffer, buffer_size, "%s/linewatch.cfg", home);
    if (size > 0 && (size_t) size < buffer_size && zsys_file_exists (buffer))
        return buffer;
    return LW_DEFAULT_CONFIG;
}

int
main (int argc, char *argv[])
{
    lw_ctl_t ctl = {.argv0 = argv[0], .timeout = 3000};
    const char *config_arg = NULL;
    const char *home_arg = NULL;
    char **rest = (char **) calloc ((size_t) argc + 1, sizeof (char *));
    assert (rest);
    int restc = 0;
    int rc = LW_CTL_USAGE;

    //  Global options may stand before or after the command name
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv[argn];
        bool has_value = argn + 1 < argc;
        if ((streq (arg, "-c") || streq (arg, "--config")) && has_value)
            config_arg = argv[++argn];
        else if (streq (arg, "--home") && has_value)
            home_arg = argv[++argn];
        else if (streq (arg, "--json"))
            ctl.json = true;
        else if (streq (arg, "--timeout") && has_value) {
            long timeout;
            if (lw_parse_long (argv[++argn], 1, 3600000, &timeout)) {
                fprintf (stderr, "lwctl: --timeout '%.64s' is not a number "
                                 "of ms in [1, 3600000]\n", argv[argn]);
                goto cleanup;
            }
            ctl.timeout = (int) timeout;
        }
        else if (streq (arg, "-h") || streq (arg, "--help")) {
            s_usage ();
            rc = LW_CTL_OK;
            goto cleanup;
        }
        else if (streq (arg, "-c") || streq (arg, "--config")
                 || streq (arg, "--home") || streq (arg, "--timeout")) {
            fprintf (stderr, "lwctl: %s needs a value\n", arg);
            goto cleanup;
        }
        else
            rest[restc++] = argv[argn];
    }
    if (restc == 0) {
        s_usage ();
        goto cleanup;
    }
    command_t *command = s_commands;
    while (command->name && !streq (command->name, rest[0]))
        command++;
    if (!command->name) {
        fprintf (stderr, "lwctl: unknown command '%.64s'\n", rest[0]);
        s_usage ();
        goto cleanup;
    }
    zsys_init ();
    zsys_set_logident ("lwctl");
    //  lwctl talks to people: only warnings and errors on stderr
    zsys_set_logstream (stderr);

    char home[LW_PATH_MAX];
    char config_buffer[LW_PATH_MAX];
    if (command->needs_node || home_arg || config_arg) {
        if (lw_home_resolve (home_arg, home, sizeof (home)))
            goto cleanup;
        ctl.config_path
            = s_config_path (config_arg, home, config_buffer,
                             sizeof (config_buffer));
        ctl.config = lw_cfg_load (ctl.config_path);
        if (!ctl.config || lw_node_load (ctl.config, home, &ctl.node))
            goto cleanup;
    }
    rc = command->run (&ctl, restc, rest);

cleanup:
    zconfig_destroy (&ctl.config);
    free (rest);
    return rc;
}
