/*  =========================================================================
    it_store_corrupt.c - corrupt LMDB values read back by lw-feedback

    Copyright (c) the linewatch authors. MIT license.

    Stores three alerts through lw-feedback, stops it, and overwrites
    records in its LMDB store directly (lw_store): `dd ff ff ff ff` under
    id 2, a truncated encoding under id 3, and a valid encoding of alert 1
    under id 4 (its id does not match its key). After a restart:
      - `lwctl alerts` lists only alert 1 and exits 0: the corrupt records
        are skipped, never trusted, and counted in store_corrupt;
      - `lwctl show 2` fails with a message (exit 1);
      - a new episode gets an id after the largest key and is listed.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_store.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <signal.h>

#define START_DEADLINE 20000    //  ms for a process to come up (ASan)
#define LWCTL_DEADLINE 10000    //  ms one lwctl run may take
#define SCORER_ID 55            //  Our fake scorer's publisher id

static const char *s_db_names [] = {"alerts", "alert_keys", "labels", "meta",
                                    NULL};

typedef struct {
    lw_testnode_t *node;
    zsock_t *xpub;              //  Fake scorer on the events stream
    uint64_t local_seq;         //  Episode to (re)publish while waiting
    char *output;               //  Last lwctl output
} probe_t;

//  --------------------------------------------------------------------------
//  Publishes the OPEN message of episode local_seq (after draining the
//  subscriptions the broker sends us)

static void
s_publish (zsock_t *xpub, uint64_t local_seq)
{
    while (zsock_events (xpub) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (xpub);
        zframe_destroy (&frame);
    }
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    alert.scorer = SCORER_ID;
    alert.local_seq = local_seq;
    alert.state = LW_ALERT_OPEN;
    snprintf (alert.sensor, sizeof (alert.sensor), "bad/m%d/s",
              (int) local_seq);
    alert.opened = 1767225600LL * LW_NS_PER_SEC;
    alert.updated = alert.opened;
    alert.score = 0.8;
    alert.ndetectors = 1;
    snprintf (alert.detectors [0], sizeof (alert.detectors [0]), "zscore");
    zframe_t *body = lw_msg_alert_encode (&alert);
    assert (body);
    assert (lw_msg_send (zsock_resolve (xpub), LW_TOPIC_ALERTS, &body, false)
            == 0);
}

//  --------------------------------------------------------------------------
//  Condition: publishes the probe's episode, true once it is listed

static bool
s_published_and_listed (void *arg)
{
    probe_t *probe = (probe_t *) arg;
    s_publish (probe->xpub, probe->local_seq);
    zstr_free (&probe->output);
    char sensor [64];
    snprintf (sensor, sizeof (sensor), "\"sensor\":\"bad/m%d/s\"",
              (int) probe->local_seq);
    return lw_testnode_lwctl (probe->node, LWCTL_DEADLINE, &probe->output,
                              "alerts", "--json", NULL) == 0
           && probe->output && strstr (probe->output, sensor);
}

//  --------------------------------------------------------------------------
//  Number of alerts in a JSON listing

static size_t
s_count (const char *json)
{
    size_t count = 0;
    for (const char *at = json; (at = strstr (at, "\"id\":")); at++)
        count++;
    return count;
}

//  --------------------------------------------------------------------------
//  lw-feedback's counter `name` through its STATS operation

static long long
s_feedback_counter (lw_testnode_t *node, const char *name)
{
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_STATS;
    zmsg_t *message = zmsg_new ();
    zframe_t *frame = lw_msg_request_encode (&request);
    zmsg_append (message, &frame);
    zmsg_t *reply =
        lw_test_call (lw_testnode_node (node)->api, &message, 5000);
    assert (reply && zmsg_size (reply) == 2);
    lw_ctrl_t *ctrl = (lw_ctrl_t *) zmalloc (sizeof (lw_ctrl_t));
    frame = zmsg_last (reply);
    assert (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                ctrl) == 0);
    long long value = (long long) lw_ctrl_stat (ctrl, name);
    free (ctrl);
    zmsg_destroy (&reply);
    return value;
}

//  --------------------------------------------------------------------------
//  Condition: lw-feedback answers its API

static bool
s_answers (void *arg)
{
    lw_testnode_t *node = (lw_testnode_t *) arg;
    return lw_testnode_lwctl (node, LWCTL_DEADLINE, NULL, "alerts", NULL)
           == 0;
}

int
main (void)
{
    printf ("it_store_corrupt: corrupt alert records are skipped, counted\n");
    lw_testnode_t *node = lw_testnode_new (NULL);
    const lw_node_t *settings = lw_testnode_node (node);
    lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t feedback = lw_testnode_spawn (node, "lw-feedback", NULL);
    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    assert (xpub);
    zsock_set_linger (xpub, 0);
    zsock_set_xpub_nodrop (xpub, 1);
    assert (zsock_connect (xpub, "%s", settings->events_in) == 0);
    probe_t probe = {node, xpub, 0, NULL};
    for (probe.local_seq = 1; probe.local_seq <= 3; probe.local_seq++)
        assert (lw_test_wait (s_published_and_listed, &probe,
                              START_DEADLINE));
    assert (s_count (probe.output) == 3);

    //  Stop it, then damage the store behind its back
    lw_testnode_kill (node, feedback, SIGTERM);
    char path [LW_PATH_MAX + 16];
    snprintf (path, sizeof (path), "%s/feedback", lw_testnode_home (node));
    lw_store_t *store = lw_store_new (path, 1 << 20, s_db_names);
    assert (store);
    uint8_t key [8], value [8192];
    lw_store_put_u64 (key, 1);
    long size = lw_store_get (store, 0, key, 8, value, sizeof (value));
    assert (size > 10 && size < (long) sizeof (value));
    uint8_t huge [] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    lw_store_put_u64 (key, 2);
    assert (lw_store_put (store, 0, key, 8, huge, sizeof (huge)) == 0);
    lw_store_put_u64 (key, 3);
    assert (lw_store_put (store, 0, key, 8, value, (size_t) size - 3) == 0);
    lw_store_put_u64 (key, 4);
    assert (lw_store_put (store, 0, key, 8, value, (size_t) size) == 0);
    lw_store_destroy (&store);

    feedback = lw_testnode_spawn (node, "lw-feedback", NULL);
    assert (lw_test_wait (s_answers, node, START_DEADLINE));
    char *output = NULL;
    assert (lw_testnode_lwctl (node, LWCTL_DEADLINE, &output, "alerts",
                               "--json", NULL) == 0);
    assert (output && s_count (output) == 1);
    assert (strstr (output, "\"sensor\":\"bad/m1/s\""));
    zstr_free (&output);
    long long corrupt = s_feedback_counter (node, "store_corrupt");
    printf ("it_store_corrupt: listed 1 of 4 records, store_corrupt=%lld\n",
            corrupt);
    assert (corrupt >= 3);
    assert (lw_testnode_lwctl (node, LWCTL_DEADLINE, &output, "show", "2",
                               NULL) == 1);
    zstr_free (&output);
    assert (lw_testnode_lwctl (node, LWCTL_DEADLINE, &output, "show", "1",
                               NULL) == 0);
    zstr_free (&output);

    //  New alerts get ids after the largest key and are listed
    probe.local_seq = 10;
    assert (lw_test_wait (s_published_and_listed, &probe, START_DEADLINE));
    assert (s_count (probe.output) == 2);
    assert (strstr (probe.output, "\"id\":5"));
    assert (lw_testnode_alive (node, feedback));

    zstr_free (&probe.output);
    zsock_destroy (&xpub);
    lw_testnode_destroy (&node);
    printf ("it_store_corrupt: OK\n");
    return 0;
}
