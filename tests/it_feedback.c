/*  =========================================================================
    it_feedback.c - lw-feedback and the lwctl commands that talk to it,
                    as real processes

    Copyright (c) the linewatch authors. MIT license.

    Starts lw-broker and lw-feedback on a temporary home, publishes alert
    episodes the way a scorer does (an XPUB connected to the broker's
    events XSUB), and checks through the real lwctl:
      - `lwctl alerts --json` lists them with every documented field;
        `--open`, `--sensor` and `--limit` filter;
      - `lwctl label ID ...` and a range label are acknowledged, and shown
        by `lwctl show` and `lwctl labels --json` (JSON strings escaped);
      - bad usage exits 2; an unknown alert exits 1 with a message;
      - hostile requests on the API socket are answered with an error,
        counted, and the process still answers;
      - after SIGKILL and a restart, alerts and labels are still there and
        new alerts get the next id;
      - `lwctl status` reports the feedback member; `lwctl tail --alerts`
        prints live alerts from the broker's monitor stream;
      - with lw-feedback down, lwctl fails (exit 1) after its timeout,
        never hangs.
    =========================================================================
*/

#include "lw_testkit.h"
#include "lw_msg.h"
#include "lw_util.h"

#include <signal.h>
#include <sys/wait.h>

#define START_DEADLINE 20000    //  ms for a process to come up (ASan)
#define LWCTL_DEADLINE 10000    //  ms one lwctl run may take
#define SCORER_ID 77            //  Our fake scorer's publisher id

typedef struct {
    lw_testnode_t *node;        //  The node under test
    zsock_t *xpub;              //  Fake scorer, connected to events_in
    const char *args [8];       //  lwctl args, NULL-terminated
    const char *expect;         //  Substring the output must contain
    char *output;               //  Last lwctl stdout
    uint64_t local_seq;         //  Episode to (re)publish while waiting
    uint8_t state;              //  Its state
} probe_t;

//  --------------------------------------------------------------------------
//  Runs lwctl with the probe's args; returns the exit status

static int
s_lwctl (probe_t *probe)
{
    zstr_free (&probe->output);
    const char **args = probe->args;
    return lw_testnode_lwctl (probe->node, LWCTL_DEADLINE, &probe->output,
                              args [0], args [1], args [2], args [3], args [4],
                              args [5], args [6], args [7], NULL);
}

//  --------------------------------------------------------------------------
//  Publishes one alert message of episode `local_seq`

static void
s_publish (zsock_t *xpub, uint64_t local_seq, uint8_t state, double score)
{
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    alert.scorer = SCORER_ID;
    alert.local_seq = local_seq;
    alert.state = state;
    snprintf (alert.sensor, sizeof (alert.sensor), "line1/press%d/temp",
              (int) local_seq);
    alert.opened = 1767225600LL * LW_NS_PER_SEC;     //  2026-01-01
    alert.updated = alert.opened + 10 * (int64_t) state * LW_NS_PER_SEC;
    alert.closed = state == LW_ALERT_CLOSE ? alert.updated : 0;
    alert.score = score;
    alert.value = 80.5;
    alert.expected_low = 19.5;
    alert.expected_high = 20.5;
    alert.ndetectors = 1;
    snprintf (alert.detectors [0], sizeof (alert.detectors [0]), "zscore");
    zframe_t *body = lw_msg_alert_encode (&alert);
    assert (body);
    assert (lw_msg_send (zsock_resolve (xpub), LW_TOPIC_ALERTS, &body, false)
            == 0);
}

//  --------------------------------------------------------------------------
//  Condition: (re)publishes the probe's episode message (idempotent: the
//  same episode merges into one alert), then true when lwctl succeeds
//  and prints the expected text. Publishing inside the poll covers the
//  time the subscription takes to reach us through the broker.

static bool
s_published_and_listed (void *arg)
{
    probe_t *probe = (probe_t *) arg;
    //  Drain subscription messages the broker forwards to us
    while (zsock_events (probe->xpub) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (probe->xpub);
        zframe_destroy (&frame);
    }
    if (probe->local_seq)
        s_publish (probe->xpub, probe->local_seq, probe->state, 0.9);
    return s_lwctl (probe) == 0 && probe->output
           && strstr (probe->output, probe->expect);
}

//  --------------------------------------------------------------------------
//  Reads the integer after "key": in a JSON text; -1 when absent

static long long
s_json_int (const char *json, const char *key)
{
    char pattern [64];
    snprintf (pattern, sizeof (pattern), "\"%s\":", key);
    const char *found = strstr (json, pattern);
    if (!found)
        return -1;
    return strtoll (found + strlen (pattern), NULL, 10);
}

//  --------------------------------------------------------------------------
//  Sends raw frames to the API and returns the reply's status; asserts
//  that a well-formed reply arrives

static int
s_api_raw (lw_testnode_t *node, const void *first, size_t first_size,
           const void *second, size_t second_size)
{
    zmsg_t *request = zmsg_new ();
    zmsg_addmem (request, first, first_size);
    if (second)
        zmsg_addmem (request, second, second_size);
    zmsg_t *reply = lw_test_call (lw_testnode_node (node)->api, &request,
                                  5000);
    assert (reply);
    lw_reply_t header;
    zframe_t *frame = zmsg_first (reply);
    assert (lw_msg_reply_decode (zframe_data (frame), zframe_size (frame),
                                 &header) == 0);
    assert (header.count == zmsg_size (reply) - 1);
    zmsg_destroy (&reply);
    return header.status;
}

//  --------------------------------------------------------------------------
//  The feedback process's counter `name` via its STATS operation

static uint64_t
s_feedback_counter (lw_testnode_t *node, const char *name)
{
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_STATS;
    zmsg_t *message = zmsg_new ();
    zframe_t *frame = lw_msg_request_encode (&request);
    zmsg_append (message, &frame);
    zmsg_t *reply = lw_test_call (lw_testnode_node (node)->api, &message,
                                  5000);
    assert (reply && zmsg_size (reply) == 2);
    lw_ctrl_t *ctrl = (lw_ctrl_t *) zmalloc (sizeof (lw_ctrl_t));
    frame = zmsg_last (reply);
    assert (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                ctrl) == 0);
    uint64_t value = lw_ctrl_stat (ctrl, name);
    free (ctrl);
    zmsg_destroy (&reply);
    return value;
}

typedef struct {
    lw_testnode_t *node;        //  The node under test
    zsock_t *xpub;              //  Fake scorer
    pid_t tail;                 //  lwctl tail
} tail_probe_t;

//  Condition: publishes an alert; true once lwctl tail has exited
static bool
s_tail_done (void *arg)
{
    tail_probe_t *probe = (tail_probe_t *) arg;
    while (zsock_events (probe->xpub) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (probe->xpub);
        zframe_destroy (&frame);
    }
    s_publish (probe->xpub, 5, LW_ALERT_OPEN, 0.8);
    return !lw_testnode_alive (probe->node, probe->tail);
}

static void
s_args (probe_t *probe, const char *a0, const char *a1, const char *a2,
        const char *a3, const char *a4, const char *a5)
{
    const char *args [] = {a0, a1, a2, a3, a4, a5, NULL, NULL};
    memcpy (probe->args, args, sizeof (args));
}

int
main (void)
{
    printf ("it_feedback: alerts, labels and lwctl against lw-feedback\n");
    lw_testnode_t *node = lw_testnode_new (NULL);
    const lw_node_t *settings = lw_testnode_node (node);
    lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t feedback = lw_testnode_spawn (node, "lw-feedback", NULL);

    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    assert (xpub);
    zsock_set_linger (xpub, 0);
    zsock_set_xpub_nodrop (xpub, 1);
    assert (zsock_connect (xpub, "%s", settings->events_in) == 0);

    probe_t probe;
    memset (&probe, 0, sizeof (probe));
    probe.node = node;
    probe.xpub = xpub;

    //  Episode 1 opens, then closes; episode 2 opens
    s_args (&probe, "alerts", "--json", NULL, NULL, NULL, NULL);
    probe.local_seq = 1;
    probe.state = LW_ALERT_OPEN;
    probe.expect = "\"sensor\":\"line1/press1/temp\"";
    assert (lw_test_wait (s_published_and_listed, &probe, START_DEADLINE));
    probe.state = LW_ALERT_CLOSE;
    probe.expect = "\"closed\":\"2026-01-01T00:00:30Z\"";
    assert (lw_test_wait (s_published_and_listed, &probe, START_DEADLINE));
    probe.local_seq = 2;
    probe.state = LW_ALERT_OPEN;
    probe.expect = "\"sensor\":\"line1/press2/temp\"";
    assert (lw_test_wait (s_published_and_listed, &probe, START_DEADLINE));
    probe.local_seq = 0;
    const char *listed = probe.output;
    assert (listed [0] == '[');
    assert (s_json_int (listed, "id") == 1);
    assert (strstr (listed, "\"opened\":\"2026-01-01T00:00:00Z\""));
    assert (strstr (listed, "\"closed\":null"));
    assert (strstr (listed, "\"score\":0.9"));
    assert (strstr (listed, "\"value\":80.5"));
    assert (strstr (listed, "\"expected_low\":19.5"));
    assert (strstr (listed, "\"expected_high\":20.5"));
    assert (strstr (listed, "\"detectors\":[\"zscore\"]"));
    assert (strstr (listed, "\"label\":null"));
    //  Oldest first
    assert (strstr (listed, "press1") < strstr (listed, "press2"));

    //  Filters
    s_args (&probe, "alerts", "--json", "--open", NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 0);
    assert (!strstr (probe.output, "press1") && strstr (probe.output, "press2"));
    s_args (&probe, "alerts", "--json", "--sensor", "line1/press1", NULL,
            NULL);
    assert (s_lwctl (&probe) == 0);
    assert (strstr (probe.output, "press1") && !strstr (probe.output, "press2"));
    s_args (&probe, "alerts", "--json", "--limit", "1", NULL, NULL);
    assert (s_lwctl (&probe) == 0);
    assert (!strstr (probe.output, "press1") && strstr (probe.output, "press2"));
    s_args (&probe, "alerts", NULL, NULL, NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 0);
    assert (strstr (probe.output, "line1/press1/temp"));

    //  Labels: on an alert, and on a range; the note needs escaping
    s_args (&probe, "label", "1", "normal", "--note", "warm-up \"A\"\\1",
            NULL);
    assert (s_lwctl (&probe) == 0);
    assert (strstr (probe.output, "label 1"));
    s_args (&probe, "label", "--sensor", "line1/press3/temp", "--from",
            "2026-01-01 00:00:00", "--to");
    probe.args [6] = "2026-01-01T01:00:00Z";
    probe.args [7] = "anomaly";
    assert (s_lwctl (&probe) == 0);
    s_args (&probe, "labels", "--json", NULL, NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 0);
    assert (strstr (probe.output, "\"alert_id\":1,"));
    assert (strstr (probe.output, "\"alert_id\":null"));
    assert (strstr (probe.output, "\"note\":\"warm-up \\\"A\\\"\\\\1\""));
    assert (strstr (probe.output, "\"from\":\"2026-01-01T00:00:00Z\""));
    assert (strstr (probe.output, "\"to\":\"2026-01-01T01:00:00Z\""));
    assert (strstr (probe.output, "\"label\":\"anomaly\""));
    assert (strstr (probe.output, "\"at\":\""));
    s_args (&probe, "show", "1", "--json", NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 0);
    assert (strstr (probe.output, "\"label\":\"normal\",\"labels\":[{"));
    s_args (&probe, "show", "1", NULL, NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 0);
    assert (strstr (probe.output, "line1/press1/temp"));

    //  Refusals: bad usage exits 2, an unknown alert 1
    s_args (&probe, "label", "1", "maybe", NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 2);
    s_args (&probe, "label", "x1", "normal", NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 2);
    s_args (&probe, "label", "--sensor", "line1/press3/temp", "--from",
            "2026-01-02T00:00:00Z", "--to");
    probe.args [6] = "2026-01-01T00:00:00Z";
    probe.args [7] = "normal";
    assert (s_lwctl (&probe) == 2);
    s_args (&probe, "alerts", "--limit", "zero", NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 2);
    s_args (&probe, "label", "999", "normal", NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 1);
    s_args (&probe, "show", "999", NULL, NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 1);

    //  Hostile requests: answered with an error, counted, still serving
    uint8_t huge_count [] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    uint8_t truncated [] = {0x9b, 0x01, 0x09};
    uint8_t trailing [] = {0x93, 0x01, 0x09, 0x01, 0xc0};
    uint8_t bad_version [] = {0x9b, 0x63, 0x09, 0x01, 0x00, 0xa0, 0x00, 0x00,
                              0xc2, 0x00, 0x00, 0xa0};
    uint8_t deep [40];
    memset (deep, 0x91, sizeof (deep));
    deep [sizeof (deep) - 1] = 0x01;
    assert (s_api_raw (node, huge_count, sizeof (huge_count), NULL, 0) < 0);
    assert (s_api_raw (node, truncated, sizeof (truncated), NULL, 0) < 0);
    assert (s_api_raw (node, trailing, sizeof (trailing), NULL, 0) < 0);
    assert (s_api_raw (node, bad_version, sizeof (bad_version), NULL, 0) < 0);
    assert (s_api_raw (node, deep, sizeof (deep), NULL, 0) < 0);
    assert (s_api_raw (node, "a", 1, "b", 1) == LW_MSG_ENVELOPE);
    assert (s_feedback_counter (node, "drop_api_too_big")
            + s_feedback_counter (node, "drop_api_bad_length") >= 1);
    assert (s_feedback_counter (node, "drop_api_envelope") == 1);
    assert (s_feedback_counter (node, "drop_api_too_deep") == 1);
    //  Hostile alerts on the stream: dropped and counted
    uint8_t topic [2] = {LW_TOPIC_ALERTS >> 8, LW_TOPIC_ALERTS & 0xFF};
    zmsg_t *bad = zmsg_new ();
    zmsg_addmem (bad, topic, 2);
    zmsg_addmem (bad, huge_count, sizeof (huge_count));
    assert (zmsg_send (&bad, xpub) == 0);
    s_args (&probe, "alerts", "--json", NULL, NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 0);

    //  Crash and restart: everything acknowledged is still there
    lw_testnode_kill (node, feedback, SIGKILL);
    feedback = lw_testnode_spawn (node, "lw-feedback", NULL);
    probe.expect = "\"label\":\"normal\"";
    assert (lw_test_wait (s_published_and_listed, &probe, START_DEADLINE));
    s_args (&probe, "labels", "--json", NULL, NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 0);
    assert (s_json_int (probe.output, "id") == 1);
    assert (strstr (probe.output, "\"id\":2,"));
    //  A new episode gets the next id
    s_args (&probe, "alerts", "--json", "--sensor", "line1/press4/temp",
            NULL, NULL);
    probe.local_seq = 4;
    probe.state = LW_ALERT_OPEN;
    probe.expect = "\"id\":3,";
    assert (lw_test_wait (s_published_and_listed, &probe, START_DEADLINE));
    probe.local_seq = 0;

    //  The broker lists the feedback member
    s_args (&probe, "status", "--json", NULL, NULL, NULL, NULL);
    probe.expect = "\"group\":\"feedback\"";
    assert (lw_test_wait (s_published_and_listed, &probe, START_DEADLINE));
    s_args (&probe, "status", NULL, NULL, NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 0);
    assert (strstr (probe.output, "feedback/"));

    //  lwctl tail --alerts prints the live alerts (the monitor is lossy:
    //  publish until it has printed what it was asked for)
    pid_t tail = lw_testnode_spawn (node, "lwctl", "tail", "--alerts",
                                    "--json", "--count", "2", NULL);
    tail_probe_t tail_probe = {node, xpub, tail};
    assert (lw_test_wait (s_tail_done, &tail_probe, START_DEADLINE));
    int status = lw_testnode_kill (node, tail, SIGTERM);
    assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    char log_path [256];
    snprintf (log_path, sizeof (log_path), "%s/lwctl-%d.log",
              lw_testnode_home (node), (int) tail);
    zfile_t *log = zfile_new (NULL, log_path);
    assert (log && zfile_input (log) == 0);
    zchunk_t *chunk = zfile_read (log, 65536, 0);
    assert (chunk);
    char *text = zchunk_strdup (chunk);
    assert (strstr (text, "{\"type\":\"alert\",\"state\":\"open\""));
    assert (strstr (text, "\"sensor\":\"line1/press5/temp\""));
    zstr_free (&text);
    zchunk_destroy (&chunk);
    zfile_destroy (&log);

    //  lw-feedback down: a bounded failure, not a hang
    lw_testnode_kill (node, feedback, SIGKILL);
    s_args (&probe, "--timeout", "300", "alerts", NULL, NULL, NULL);
    assert (s_lwctl (&probe) == 1);
    s_args (&probe, "--timeout", "300", "label", "1", "anomaly", NULL);
    assert (s_lwctl (&probe) == 1);

    zstr_free (&probe.output);
    zsock_destroy (&xpub);
    lw_testnode_destroy (&node);
    printf ("it_feedback: OK\n");
    return 0;
}
