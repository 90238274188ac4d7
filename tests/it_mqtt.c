/*  =========================================================================
    it_mqtt.c - lw-ingest's MQTT source against a real mosquitto broker

    Copyright (c) the linewatch authors. MIT license.

    Starts /usr/sbin/mosquitto on a free 127.0.0.1 port (allow_anonymous,
    `user root` when we are root: mosquitto 2.x drops privileges
    otherwise), then lw-broker, lw-features, lw-scorer and lw-ingest with
    four MQTT sources:
      mq   plant/# -> plant/{machine}/{sensor}, plain numbers, QoS 0
      mqj  json/+/+ -> json/{machine}/{sensor}, JSON value + ts, QoS 1
      mqf  multi/+ -> multi/{machine}, one object of several fields
      mqs  secure/+/+ on a second listener that wants TLS with a client
           certificate (tests/mqtt-tls: a test CA valid to 2126, server
           and client certificates) and a username/password
    publishes with libmosquitto and checks, with a subscriber of the
    broker's readings XPUB (what lw-features gets), names, values and
    timestamps (given, ISO 8601, epoch ms and s, or reception time); bad
    payloads count drop_mqtt_payload and unmatched topics drop_mqtt_topic.
    Then mosquitto is killed and started again on the same port: the
    sources say so (mqtt_connected, mqtt_disconnects, mqtt_reconnects)
    and messages published afterwards arrive.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_testsource.h"
#include "lw_util.h"

#include <mosquitto.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define START_DEADLINE 20000 //  ms for the node to come up (ASan)
#define COUNT_DEADLINE 10000 //  ms for a counter to be reported
#define T0 1700000000000000000LL

//  --------------------------------------------------------------------------
//  True when something accepts TCP connections on 127.0.0.1:*port

static bool
s_listening (void *arg)
{
    int fd = lw_test_tcp_connect (*(int *)arg);
    if (fd != -1)
        close (fd);
    return fd != -1;
}

//  --------------------------------------------------------------------------
//  Starts mosquitto with the config file; waits until it listens

static pid_t
s_mosquitto_start (const char *home, const char *config, int port)
{
    char log[256];
    snprintf (log, sizeof (log), "%s/mosquitto.log", home);
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        FILE *out = freopen (log, "a", stdout);
        FILE *err = freopen (log, "a", stderr);
        (void)out;
        (void)err;
        execl ("/usr/sbin/mosquitto", "mosquitto", "-c", config, (char *)NULL);
        _exit (127);
    }
    assert (lw_test_wait (s_listening, &port, START_DEADLINE));
    return pid;
}

//  --------------------------------------------------------------------------
//  Runs a program with 5 arguments and asserts it exits 0

static void
s_run (const char *program, const char *a1, const char *a2, const char *a3,
       const char *a4, const char *a5)
{
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        execl (program, program, a1, a2, a3, a4, a5, (char *)NULL);
        _exit (127);
    }
    int status;
    assert (waitpid (pid, &status, 0) == pid);
    assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

//  --------------------------------------------------------------------------
//  Stops mosquitto and reaps it

static void
s_mosquitto_stop (pid_t pid)
{
    kill (pid, SIGTERM);
    int status;
    assert (waitpid (pid, &status, 0) == pid);
}

//  --------------------------------------------------------------------------
//  A connected publisher with its network thread

static struct mosquitto *
s_publisher (int port)
{
    struct mosquitto *pub = mosquitto_new (NULL, true, NULL);
    assert (pub);
    assert (mosquitto_connect (pub, "127.0.0.1", port, 30) == MOSQ_ERR_SUCCESS);
    assert (mosquitto_loop_start (pub) == MOSQ_ERR_SUCCESS);
    return pub;
}

static void
s_publisher_destroy (struct mosquitto **pub_p)
{
    mosquitto_disconnect (*pub_p);
    mosquitto_loop_stop (*pub_p, false);
    mosquitto_destroy (*pub_p);
    *pub_p = NULL;
}

//  --------------------------------------------------------------------------
//  Publishes one message at QoS 1

static void
s_publish (struct mosquitto *pub, const char *topic, const char *payload)
{
    assert (mosquitto_publish (pub, NULL, topic, (int)strlen (payload), payload,
                               1, false) == MOSQ_ERR_SUCCESS);
}

//  --------------------------------------------------------------------------
//  Publishes a probe to a topic until its reading arrives: the source is
//  connected, subscribed and reading

static void
s_probe (zsock_t *sub, struct mosquitto *pub, const char *topic,
         const char *payload, const char *key, double value)
{
    int64_t deadline = zclock_mono () + START_DEADLINE;
    while (true) {
        s_publish (pub, topic, payload);
        lw_test_expect_t expect = {key, 0, value, false, 0};
        if (lw_test_collect (sub, &expect, 1, 300))
            return;
        assert (zclock_mono () < deadline);
    }
}

int
main (void)
{
    zsys_init ();
    mosquitto_lib_init ();
    int port = lw_test_free_port (SOCK_STREAM);
    const char *overrides[] = {"common/partitions=16", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const char *home = lw_testnode_home (node);

    //  The broker's config
    char mosquitto_config[256];
    snprintf (mosquitto_config, sizeof (mosquitto_config), "%s/mosquitto.conf",
              home);
    FILE *file = fopen (mosquitto_config, "w");
    assert (file);
    const char *source_dir = getenv ("LW_SOURCE_DIR");
    assert (source_dir);
    char tls[512];
    snprintf (tls, sizeof (tls), "%s/tests/mqtt-tls", source_dir);
    int tls_port = lw_test_free_port (SOCK_STREAM);
    while (tls_port == port)
        tls_port = lw_test_free_port (SOCK_STREAM);
    char passwords[256];
    snprintf (passwords, sizeof (passwords), "%s/passwd", home);
    fprintf (file,
             "per_listener_settings true\npersistence false\n%s"
             "listener %d 127.0.0.1\nallow_anonymous true\n"
             "listener %d 127.0.0.1\nallow_anonymous false\n"
             "password_file %s\ncafile %s/ca.pem\ncertfile %s/server.pem\n"
             "keyfile %s/server.key\nrequire_certificate true\n",
             geteuid () == 0 ? "user root\n" : "", port, tls_port, passwords,
             tls, tls, tls);
    fclose (file);
    s_run ("/usr/bin/mosquitto_passwd", "-c", "-b", passwords, "lw",
           "s3cret pass");
    pid_t mosquitto = s_mosquitto_start (home, mosquitto_config, port);

    //  Three MQTT sources: the default simulator becomes "mq"
    zconfig_t *config = lw_testnode_zconfig (node);
    zconfig_t *sim = zconfig_locate (config, "ingest/source/sim");
    assert (sim);
    zconfig_set_name (sim, "mq");
    char port_text[16];
    snprintf (port_text, sizeof (port_text), "%d", port);
    const char *sources[][8] = {
        {"mq", "plant/#", "plant/{machine}/{sensor}", "number", "0"},
        {"mqj", "json/+/+", "json/{machine}/{sensor}", "json", "1"},
        {"mqf", "multi/+", "multi/{machine}", "fields", "0"}};
    for (size_t index = 0; index < 3; index++) {
        char path[128];
        const char *keys[] = {"type",          "port",         "topics",
                              "map",           "payload",      "qos",
                              "reconnect_min", "reconnect_max"};
        const char *values[] = {"mqtt",
                                port_text,
                                sources[index][1],
                                sources[index][2],
                                sources[index][3],
                                sources[index][4],
                                "50",
                                "500"};
        for (size_t key = 0; key < 8; key++) {
            snprintf (path, sizeof (path), "ingest/source/%s/%s",
                      sources[index][0], keys[key]);
            zconfig_put (config, path, values[key]);
        }
    }
    char path[640];
    const char *secure[][2] = {{"type", "mqtt"},
                               {"topics", "secure/+/+"},
                               {"map", "secure/{machine}/{sensor}"},
                               {"username", "lw"},
                               {"password", "s3cret pass"},
                               {"reconnect_min", "50"},
                               {"reconnect_max", "500"}};
    for (size_t index = 0; index < 7; index++) {
        snprintf (path, sizeof (path), "ingest/source/mqs/%s",
                  secure[index][0]);
        zconfig_put (config, path, secure[index][1]);
    }
    snprintf (port_text, sizeof (port_text), "%d", tls_port);
    zconfig_put (config, "ingest/source/mqs/port", port_text);
    const char *files[][2] = {{"cafile", "ca.pem"},
                              {"certfile", "client.pem"},
                              {"keyfile", "client.key"}};
    for (size_t index = 0; index < 3; index++) {
        char file_path[600];
        snprintf (path, sizeof (path), "ingest/source/mqs/%s", files[index][0]);
        snprintf (file_path, sizeof (file_path), "%s/%s", tls, files[index][1]);
        zconfig_put (config, path, file_path);
    }
    assert (zconfig_save (config, lw_testnode_config (node)) == 0);
    const lw_node_t *settings = lw_testnode_node (node);

    pid_t broker = lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t features = lw_testnode_spawn (node, "lw-features", NULL);
    pid_t scorer = lw_testnode_spawn (node, "lw-scorer", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);
    assert (broker > 0 && features > 0 && scorer > 0 && ingest > 0);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    assert (sub);
    zsock_set_rcvhwm (sub, 100000);
    zsock_set_subscribe (sub, "");
    assert (zsock_connect (sub, "%s", settings->readings_out) == 0);
    lw_test_expect_counter (node, "mqtt_connected", 4, true, COUNT_DEADLINE);

    //  Each source reads (subscribed, ingest READY)
    struct mosquitto *pub = s_publisher (port);
    s_probe (sub, pub, "plant/probe/a", "1", "probe/a", 1);
    s_probe (sub, pub, "json/probe/b", "{\"value\":2}", "probe/b", 2);
    s_probe (sub, pub, "multi/probe", "{\"c\":3}", "probe/c", 3);
    //  Published on the plain listener, delivered over TLS to mqs
    s_probe (sub, pub, "secure/probe/d", "5", "probe/d", 5);

    //  Good and bad messages of every kind
    int64_t before = lw_time_now ();
    s_publish (pub, "plant/press3/temp", "21.5");
    s_publish (pub, "plant/press3/rpm", " 1200 \n");
    s_publish (pub, "plant/press3/bad", "abc");
    s_publish (pub, "plant/press3/temp/extra", "1");
    s_publish (pub, "json/m1/temp",
               "{\"value\": 7.5, \"ts\": \"2023-11-14T22:13:20Z\"}");
    s_publish (pub, "json/m1/pres", "{\"ts\":1700000001000,\"value\":2}");
    s_publish (pub, "json/m1/bad", "{\"val\":1}");
    s_publish (pub, "json/m1/bad", "{\"value\":1,\"ts\":\"never\"}");
    s_publish (pub, "multi/m2",
               "{\"temp\":21.5,\"rpm\":1200,\"ts\":1700000002,"
               "\"state\":\"run\",\"on\":true}");
    s_publish (pub, "multi/m2", "garbage{");
    lw_test_expect_t expects[] = {
        {"press3/temp", 0, 21.5, false, 0},
        {"press3/rpm", 0, 1200, false, 0},
        {"m1/temp", T0, 7.5, false, 0},
        {"m1/pres", T0 + 1000000000LL, 2, false, 0},
        {"m2/temp", T0 + 2000000000LL, 21.5, false, 0},
        {"m2/rpm", T0 + 2000000000LL, 1200, false, 0},
        {"m2/on", T0 + 2000000000LL, 1, false, 0}};
    assert (lw_test_collect (
        sub, expects, sizeof (expects) / sizeof (expects[0]), START_DEADLINE));
    int64_t after = lw_time_now ();
    assert (expects[0].got >= before && expects[0].got <= after);
    assert (expects[1].got > expects[0].got);
    lw_test_expect_counter (node, "drop_mqtt_payload", 4, true, COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_mqtt_topic", 1, true, COUNT_DEADLINE);
    lw_test_expect_counter (node, "mqtt_fields_ignored", 1, true,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_bad_key", 0, true, COUNT_DEADLINE);

    //  Broker restart on the same port: the sources notice and come back
    s_publisher_destroy (&pub);
    s_mosquitto_stop (mosquitto);
    lw_test_expect_counter (node, "mqtt_connected", 0, true, COUNT_DEADLINE);
    lw_test_expect_counter (node, "mqtt_disconnects", 4, true, COUNT_DEADLINE);
    mosquitto = s_mosquitto_start (home, mosquitto_config, port);
    lw_test_expect_counter (node, "mqtt_connected", 4, true, COUNT_DEADLINE);
    lw_test_expect_counter (node, "mqtt_reconnects", 4, true, COUNT_DEADLINE);
    pub = s_publisher (port);
    s_probe (sub, pub, "plant/probe/a", "4", "probe/a", 4);
    s_publish (pub, "plant/press3/temp", "22.5");
    s_publish (pub, "multi/m2", "{\"temp\":23.5,\"ts\":1700000003}");
    s_publish (pub, "secure/m9/t", "9.5");
    lw_test_expect_t again[] = {{"press3/temp", 0, 22.5, false, 0},
                                {"m2/temp", T0 + 3000000000LL, 23.5, false, 0},
                                {"m9/t", 0, 9.5, false, 0}};
    assert (lw_test_collect (sub, again, 3, START_DEADLINE));
    assert (lw_testnode_alive (node, ingest));

    s_publisher_destroy (&pub);
    zsock_destroy (&sub);
    assert (lw_testnode_kill (node, ingest, SIGTERM) == 0);
    lw_testnode_kill (node, scorer, SIGTERM);
    lw_testnode_kill (node, features, SIGTERM);
    lw_testnode_kill (node, broker, SIGTERM);
    s_mosquitto_stop (mosquitto);
    lw_testnode_destroy (&node);
    mosquitto_lib_cleanup ();
    printf ("it_mqtt: OK\n");
    return 0;
}
