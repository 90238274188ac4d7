/*  =========================================================================
    lw_load_mqtt.c - throughput of the MQTT source against a plain client

    Copyright (c) the linewatch authors. MIT license.

    Not a test: a load generator for the figures in the MQTT/line protocol
    note. Starts mosquitto on a free 127.0.0.1 port and a private node
    whose lw-ingest has one MQTT source (QoS 0, bench/#), plus, in this
    process, a plain libmosquitto subscriber of the same filter (its own
    network thread, counting messages in on_message). After a probe has
    reached both, publishes M messages at QoS 0 as fast as the broker
    takes them: with fields = 1 a plain number to bench/m<i>/s<j>, with
    fields = F > 1 one JSON object of F sensor fields to bench/m<i>.
    Reports, from the same run: messages/s the plain subscriber got,
    messages/s lw-ingest's source got (mqtt_messages), readings/s that
    arrived at lw-features, their ratio, and `lost` (gaps + drop_*).

    Usage: lw_load_mqtt [messages] [fields] [machines]
    Needs LW_BIN_DIR (the built executables) and LW_CONFIG_DIR.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_testsource.h"
#include "lw_util.h"

#include <mosquitto.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

//  Totals over the node's members at one moment
typedef struct {
    long long features_in;   //  lw-features "in"
    long long mqtt_messages; //  lw-ingest "mqtt_messages"
    long long lost;          //  gaps + drop_* of every member
} totals_t;

//  The plain subscriber's count, written by its network thread
static atomic_llong s_plain_count;
static atomic_llong s_plain_last; //  zclock_usecs of the last message

//  --------------------------------------------------------------------------
//  Sums the counters of every member; false when the broker is silent

static bool
s_totals (lw_testnode_t *node, totals_t *totals)
{
    zlistx_t *members = lw_test_members (node, 2000);
    if (!members)
        return false;
    memset (totals, 0, sizeof (*totals));
    for (lw_ctrl_t *member = (lw_ctrl_t *)zlistx_first (members); member;
         member = (lw_ctrl_t *)zlistx_next (members))
        for (uint32_t index = 0; index < member->nstats; index++) {
            const char *name = member->stats[index].name;
            long long value = (long long)member->stats[index].value;
            if (streq (member->group, "features") && streq (name, "in"))
                totals->features_in += value;
            if (streq (name, "mqtt_messages"))
                totals->mqtt_messages += value;
            if (streq (name, "gaps") || strncmp (name, "drop_", 5) == 0)
                totals->lost += value;
        }
    zlistx_destroy (&members);
    return true;
}

//  --------------------------------------------------------------------------
//  The plain subscriber's message callback

static void
s_on_plain (struct mosquitto *mosq, void *arg,
            const struct mosquitto_message *message)
{
    (void)mosq;
    (void)arg;
    (void)message;
    atomic_fetch_add (&s_plain_count, 1);
    atomic_store (&s_plain_last, (long long)zclock_usecs ());
}

//  What the waits below look at
typedef struct {
    lw_testnode_t *node;      //  The node
    struct mosquitto *client; //  Client to connect
    int port;                 //  Broker port
    totals_t totals;          //  Largest counters seen
    long long plain;          //  Plain subscriber count last seen
    int64_t change;           //  When anything last moved (zclock_usecs)
    int64_t features_change;  //  When lw-features "in" last grew
    int64_t quiet;            //  How long nothing may move (us)
} wait_t;

//  --------------------------------------------------------------------------
//  True when the client connected to the broker (it may still start)

static bool
s_client_connected (void *arg)
{
    wait_t *wait = (wait_t *)arg;
    return mosquitto_connect (wait->client, "127.0.0.1", wait->port, 60) ==
           MOSQ_ERR_SUCCESS;
}

//  --------------------------------------------------------------------------
//  Polls the counters (keeping the largest: a member whose heartbeat is
//  late under load can be missing from one answer). True when neither
//  lw-features nor the plain subscriber moved for `quiet`.

static bool
s_quiet (void *arg)
{
    wait_t *wait = (wait_t *)arg;
    totals_t now;
    int64_t clock = zclock_usecs ();
    if (s_totals (wait->node, &now)) {
        if (now.mqtt_messages > wait->totals.mqtt_messages) {
            wait->totals.mqtt_messages = now.mqtt_messages;
            wait->change = clock;
        }
        if (now.lost > wait->totals.lost)
            wait->totals.lost = now.lost;
        if (now.features_in > wait->totals.features_in) {
            wait->totals.features_in = now.features_in;
            wait->change = clock;
            wait->features_change = clock;
        }
    }
    long long plain = atomic_load (&s_plain_count);
    if (plain != wait->plain) {
        wait->plain = plain;
        wait->change = clock;
    }
    return clock - wait->change >= wait->quiet;
}

//  --------------------------------------------------------------------------
//  CPU seconds a process used so far (utime + stime), from /proc

static double
s_cpu_seconds (pid_t pid)
{
    char path[64], text[1024];
    snprintf (path, sizeof (path), "/proc/%d/stat", (int)pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    size_t size = fread (text, 1, sizeof (text) - 1, file);
    fclose (file);
    text[size] = 0;
    char *rest = strrchr (text, ')');
    unsigned long utime = 0, stime = 0;
    if (rest)
        sscanf (rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                &utime, &stime);
    return (double)(utime + stime) / (double)sysconf (_SC_CLK_TCK);
}

int
main (int argc, char *argv[])
{
    long messages = argc > 1 ? strtol (argv[1], NULL, 10) : 300000;
    long fields = argc > 2 ? strtol (argv[2], NULL, 10) : 1;
    long machines = argc > 3 ? strtol (argv[3], NULL, 10) : 100;
    assert (messages > 0 && fields > 0 && fields <= 64 && machines > 0);
    zsys_init ();
    mosquitto_lib_init ();
    int port = lw_test_free_port (SOCK_STREAM);
    const char *overrides[] = {"common/heartbeat=100", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const char *home = lw_testnode_home (node);

    //  mosquitto
    char config_path[256], log[256];
    snprintf (config_path, sizeof (config_path), "%s/mosquitto.conf", home);
    snprintf (log, sizeof (log), "%s/mosquitto.log", home);
    FILE *file = fopen (config_path, "w");
    assert (file);
    fprintf (file,
             "listener %d 127.0.0.1\nallow_anonymous true\n"
             "persistence false\n%s",
             port, geteuid () == 0 ? "user root\n" : "");
    fclose (file);
    pid_t mosquitto = fork ();
    assert (mosquitto >= 0);
    if (mosquitto == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        FILE *out = freopen (log, "a", stdout);
        FILE *err = freopen (log, "a", stderr);
        (void)out;
        (void)err;
        execl ("/usr/sbin/mosquitto", "mosquitto", "-c", config_path,
               (char *)NULL);
        _exit (127);
    }

    //  The node
    zconfig_t *config = lw_testnode_zconfig (node);
    zconfig_t *sim = zconfig_locate (config, "ingest/source/sim");
    assert (sim);
    zconfig_set_name (sim, "mq");
    char port_text[16];
    snprintf (port_text, sizeof (port_text), "%d", port);
    zconfig_put (config, "ingest/source/mq/type", "mqtt");
    zconfig_put (config, "ingest/source/mq/port", port_text);
    zconfig_put (config, "ingest/source/mq/topics", "bench/#");
    zconfig_put (config, "ingest/source/mq/map",
                 fields == 1 ? "bench/{machine}/{sensor}" : "bench/{machine}");
    zconfig_put (config, "ingest/source/mq/payload",
                 fields == 1 ? "number" : "fields");
    assert (zconfig_save (config, lw_testnode_config (node)) == 0);
    lw_testnode_spawn (node, "lw-broker", NULL);
    lw_testnode_spawn (node, "lw-features", NULL);
    lw_testnode_spawn (node, "lw-scorer", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);

    //  Plain subscriber and publisher (mosquitto may still be starting)
    struct mosquitto *plain = mosquitto_new (NULL, true, NULL);
    struct mosquitto *pub = mosquitto_new (NULL, true, NULL);
    assert (plain && pub);
    mosquitto_message_callback_set (plain, s_on_plain);
    int64_t deadline = zclock_mono () + 30000;
    wait_t wait = {node, plain, port, {0, 0, 0}, 0, 0, 0, 0};
    assert (lw_test_wait (s_client_connected, &wait, 30000));
    assert (mosquitto_subscribe (plain, NULL, "bench/#", 0) ==
            MOSQ_ERR_SUCCESS);
    assert (mosquitto_loop_start (plain) == MOSQ_ERR_SUCCESS);
    assert (mosquitto_connect (pub, "127.0.0.1", port, 60) == MOSQ_ERR_SUCCESS);

    //  Probe until both consumers see messages
    totals_t totals = {0, 0, 0};
    const char *probe_topic = fields == 1 ? "bench/probe/x" : "bench/probe";
    const char *probe_payload = fields == 1 ? "1" : "{\"x\":1}";
    while (!s_totals (node, &totals) || totals.features_in < 1 ||
           atomic_load (&s_plain_count) < 1) {
        assert (zclock_mono () < deadline);
        mosquitto_publish (pub, NULL, probe_topic, (int)strlen (probe_payload),
                           probe_payload, 0, false);
        mosquitto_loop (pub, 100, 1);
    }
    //  Let the probes drain: the baseline is taken when nothing moves
    wait.quiet = 500000;
    wait.change = zclock_usecs ();
    assert (lw_test_wait (s_quiet, &wait, 30000));
    totals = wait.totals;
    totals_t base = totals;
    long long plain_base = atomic_load (&s_plain_count);
    double ingest_cpu = s_cpu_seconds (ingest);

    //  The load
    char topic[64], payload[4096];
    int64_t started = zclock_usecs ();
    for (long message = 0; message < messages; message++) {
        long machine = message % machines;
        long round = message / machines;
        int size;
        if (fields == 1) {
            snprintf (topic, sizeof (topic), "bench/m%ld/s%ld", machine,
                      round % 10);
            size = snprintf (payload, sizeof (payload), "%ld.5", round % 997);
        }
        else {
            snprintf (topic, sizeof (topic), "bench/m%ld", machine);
            size = snprintf (payload, sizeof (payload), "{\"ts\":%lld",
                             1700000000000LL + round);
            for (long field = 0; field < fields; field++)
                size +=
                    snprintf (payload + size, sizeof (payload) - (size_t)size,
                              ",\"f%ld\":%ld.5", field, (round + field) % 997);
            size +=
                snprintf (payload + size, sizeof (payload) - (size_t)size, "}");
        }
        int rc;
        while ((rc = mosquitto_publish (pub, NULL, topic, size, payload, 0,
                                        false)) != MOSQ_ERR_SUCCESS) {
            assert (rc == MOSQ_ERR_NOMEM || rc == MOSQ_ERR_OVERSIZE_PACKET ||
                    rc == MOSQ_ERR_ERRNO);
            mosquitto_loop (pub, 10, 1);
        }
        if (message % 64 == 0)
            mosquitto_loop (pub, 0, 1);
    }
    while (mosquitto_want_write (pub))
        mosquitto_loop (pub, 10, 1);
    int64_t sent = zclock_usecs ();

    //  Until both consumers stop moving for 3 s
    wait.quiet = 3000000;
    wait.change = zclock_usecs ();
    wait.features_change = wait.change;
    assert (lw_test_wait (s_quiet, &wait, 3600 * 1000));
    totals = wait.totals;
    int64_t features_change = wait.features_change;
    ingest_cpu = s_cpu_seconds (ingest) - ingest_cpu;
    long long plain_count = atomic_load (&s_plain_count) - plain_base;
    double plain_seconds =
        (double)(atomic_load (&s_plain_last) - started) / 1e6;
    long long ingest_messages = totals.mqtt_messages - base.mqtt_messages;
    long long arrived = totals.features_in - base.features_in;
    double features_seconds = (double)(features_change - started) / 1e6;
    printf ("mqtt qos0: messages=%ld fields_per_message=%ld machines=%ld "
            "published in %.2f s (%.0f msg/s)\n",
            messages, fields, machines, (double)(sent - started) / 1e6,
            (double)messages / ((double)(sent - started) / 1e6));
    printf ("  plain subscriber: %lld messages in %.2f s = %.0f msg/s\n",
            plain_count, plain_seconds, (double)plain_count / plain_seconds);
    printf ("  lw-ingest source: %lld messages (%.1f%% of plain); "
            "lw-ingest CPU %.2f s\n",
            ingest_messages,
            100.0 * (double)ingest_messages / (double)plain_count, ingest_cpu);
    printf ("  arrived at lw-features: %lld readings in %.2f s = %.0f "
            "readings/s = %.0f msg/s (%.1f%% of plain msg/s), lost=%lld\n",
            arrived, features_seconds, (double)arrived / features_seconds,
            (double)arrived / (double)fields / features_seconds,
            100.0 * ((double)arrived / (double)fields / features_seconds) /
                ((double)plain_count / plain_seconds),
            totals.lost - base.lost);
    mosquitto_disconnect (pub);
    mosquitto_destroy (pub);
    mosquitto_disconnect (plain);
    mosquitto_loop_stop (plain, false);
    mosquitto_destroy (plain);
    lw_testnode_destroy (&node);
    kill (mosquitto, SIGTERM);
    waitpid (mosquitto, NULL, 0);
    mosquitto_lib_cleanup ();
    return 0;
}
