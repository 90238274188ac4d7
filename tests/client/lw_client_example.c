/*  =========================================================================
    lw_client_example.c - a gateway that publishes readings with lw_client

    Copyright (c) the linewatch authors. MIT license.

    Usage:
      lw_client_example [--endpoint E | -c CONFIG --home HOME]
                        [--machine M] [--sensors N] [--rate R] [--count C]

    Publishes readings of sensors <machine>/s0..s<N-1> (value = the
    reading's sequence number, time = now) at R readings/s to lw-ingest's
    gateway - the endpoint given, or ingest/gateway of the node config -
    until C readings are taken (0 = until SIGINT/SIGTERM), then flushes
    and exits. If lw-ingest is away, lw_client_add waits (block_ms) and
    the gateway simply tries again: nothing it took is dropped by the
    client.
    =========================================================================
*/

#include <czmq.h>
#include <errno.h>
#include <time.h>

#include "lw_cfg.h"
#include "lw_client.h"
#include "lw_limits.h"
#include "lw_util.h"

//  --------------------------------------------------------------------------
//  Prints usage; returns the exit code for bad usage

static int
s_usage (void)
{
    fprintf (stderr, "usage: lw_client_example [--endpoint E | -c CONFIG "
                     "--home HOME] [--machine M] [--sensors N] [--rate R] "
                     "[--count C]\n");
    return 2;
}

int
main (int argc, char **argv)
{
    const char *endpoint = NULL, *config_path = NULL, *home = NULL;
    const char *machine = "example/gw1";
    long sensors = 4, rate = 100, count = 0;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv[argn];
        const char *value = argn + 1 < argc ? argv[argn + 1] : NULL;
        if (!value)
            return s_usage ();
        argn++;
        if (streq (arg, "--endpoint"))
            endpoint = value;
        else if (streq (arg, "-c"))
            config_path = value;
        else if (streq (arg, "--home"))
            home = value;
        else if (streq (arg, "--machine"))
            machine = value;
        else if (streq (arg, "--sensors")) {
            if (lw_parse_long (value, 1, 10000, &sensors))
                return s_usage ();
        }
        else if (streq (arg, "--rate")) {
            if (lw_parse_long (value, 1, 10000000, &rate))
                return s_usage ();
        }
        else if (streq (arg, "--count")) {
            if (lw_parse_long (value, 0, 1000000000000L, &count))
                return s_usage ();
        }
        else
            return s_usage ();
    }
    zsys_init ();
    lw_node_t *node = (lw_node_t *)zmalloc (sizeof (lw_node_t));
    if (!endpoint) {
        zconfig_t *config = config_path ? lw_cfg_load (config_path) : NULL;
        if (!config || !home || lw_node_load (config, home, node)) {
            zconfig_destroy (&config);
            free (node);
            return s_usage ();
        }
        zconfig_destroy (&config);
        endpoint = node->gateway;
    }
    lw_client_t *client = lw_client_new ();
    if (!client || lw_client_set_block_ms (client, 100) ||
        lw_client_connect (client, endpoint)) {
        fprintf (stderr, "lw_client_example: cannot connect to %s: %s\n",
                 endpoint, strerror (errno));
        lw_client_destroy (&client);
        free (node);
        return 1;
    }
    printf ("lw_client_example: publishing to %s\n", endpoint);
    fflush (stdout);
    char key[LW_KEY_MAX + 1];
    int64_t start = lw_time_mono ();
    long taken = 0;
    uint64_t waits = 0;
    while (!zsys_interrupted && (count == 0 || taken < count)) {
        //  Pace: reading n is due at start + n / rate
        int64_t due = start + (int64_t)((double)taken * 1e9 / (double)rate);
        int64_t left = due - lw_time_mono ();
        if (left > 0) {
            struct timespec pause = {left / LW_NS_PER_SEC,
                                     left % LW_NS_PER_SEC};
            nanosleep (&pause, NULL);
            continue;
        }
        snprintf (key, sizeof (key), "%s/s%ld", machine, taken % sensors);
        if (lw_client_add (client, key, lw_time_now (), (double)taken) == 0)
            taken++;
        else if (errno == EAGAIN)
            waits++; //  lw-ingest away or full: the same reading again
        else {
            fprintf (stderr, "lw_client_example: %s: %s\n", key,
                     strerror (errno));
            break;
        }
    }
    while (lw_client_flush (client) == -1 && errno == EAGAIN &&
           !zsys_interrupted)
        waits++;
    printf ("lw_client_example: taken=%ld sent=%llu waits=%llu\n", taken,
            (unsigned long long)lw_client_sent (client),
            (unsigned long long)waits);
    lw_client_destroy (&client);
    free (node);
    return 0;
}
