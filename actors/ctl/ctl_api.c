/*  =========================================================================
    ctl_api.c - lwctl commands that talk to a running node

    Copyright (c) the linewatch authors. MIT license.

    status (the broker's coordinator), tail (the broker's lossy monitor
    copy of the events stream), and alerts, show, label, labels (the
    lw-feedback operator API). Every request/reply goes through
    lw_ctl_call, which gives up after ctl->timeout ms: a node that does not
    answer is an error (exit 1), never a hang. Output is for people by
    default and JSON with --json (strings escaped, non-finite numbers as
    null, times as RFC 3339 UTC strings).
    =========================================================================
*/

#include <math.h>
#include <unistd.h>

#include "lw_ctl.h"
#include "lw_limits.h"
#include "lw_msg.h"
#include "lw_stats.h"
#include "lw_util.h"

//  Used when the caller did not set a timeout
#define CTL_TIMEOUT_DEFAULT 3000
//  Longest compact partition list shown ("0-15,32-47")
#define RANGES_TEXT_MAX 96
//  How often tail wakes up to check for Ctrl-C, ms
#define TAIL_POLL 500

//  A decoded API reply: header and the frames that follow
typedef struct {
    zmsg_t *msg;                //  The whole reply (owned)
    lw_reply_t header;          //  Decoded first frame
} api_reply_t;


//  --------------------------------------------------------------------------
//  One request/reply round trip with a DEALER; see lw_ctl.h

zmsg_t *
lw_ctl_call (lw_ctl_t *ctl, const char *endpoint, zmsg_t **request_p)
{
    assert (ctl);
    assert (endpoint);
    assert (request_p && *request_p);
    int timeout = ctl->timeout > 0 ? ctl->timeout : CTL_TIMEOUT_DEFAULT;
    zmsg_t *reply = NULL;
    zpoller_t *poller = NULL;
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer) {
        fprintf (stderr, "lwctl: cannot create a socket: %s\n",
                 zmq_strerror (zmq_errno ()));
        goto cleanup;
    }
    //  Never block at exit on an unsent request, never block on send
    zsock_set_linger (dealer, 0);
    zsock_set_sndtimeo (dealer, timeout);
    zsock_set_maxmsgsize (dealer, LW_MAX_FRAME_SIZE);
    if (zsock_connect (dealer, "%s", endpoint) == -1) {
        fprintf (stderr, "lwctl: cannot connect to %s: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        goto cleanup;
    }
    if (zmsg_send (request_p, dealer) != 0) {
        fprintf (stderr, "lwctl: no answer from %s within %d ms\n", endpoint,
                 timeout);
        goto cleanup;
    }
    poller = zpoller_new (dealer, NULL);
    assert (poller);
    if (zpoller_wait (poller, timeout) == dealer)
        reply = zmsg_recv (dealer);
    else
    if (zpoller_terminated (poller))
        fprintf (stderr, "lwctl: interrupted\n");
    else
        fprintf (stderr, "lwctl: no answer from %s within %d ms\n", endpoint,
                 timeout);
cleanup:
    zmsg_destroy (request_p);
    zpoller_destroy (&poller);
    zsock_destroy (&dealer);
    return reply;
}


//  --------------------------------------------------------------------------
//  JSON output helpers

//  Writes a JSON string literal, escaping quotes, backslashes and control
//  characters; other bytes (UTF-8) pass through
static void
s_json_string (FILE *out, const char *text)
{
    fputc ('"', out);
    for (const unsigned char *byte = (const unsigned char *) text; *byte;
         byte++) {
        switch (*byte) {
            case '"':  fputs ("\\\"", out); break;
            case '\\': fputs ("\\\\", out); break;
            case '\n': fputs ("\\n", out); break;
            case '\r': fputs ("\\r", out); break;
            case '\t': fputs ("\\t", out); break;
            case '\b': fputs ("\\b", out); break;
            case '\f': fputs ("\\f", out); break;
            default:
                if (*byte < 0x20 || *byte == 0x7F)
                    fprintf (out, "\\u%04x", *byte);
                else
                    fputc (*byte, out);
        }
    }
    fputc ('"', out);
}

//  Writes a number with the shortest %g that reads back exactly; JSON has
//  no NaN or infinity, so those are null
static void
s_json_number (FILE *out, double number)
{
    if (!isfinite (number)) {
        fputs ("null", out);
        return;
    }
    char text [40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf (text, sizeof (text), "%.*g", digits, number);
        if (strtod (text, NULL) == number)
            break;
    }
    fputs (text, out);
}

//  Writes a time as an RFC 3339 UTC string, or null when it is 0 (unset)
static void
s_json_time (FILE *out, int64_t ns)
{
    if (ns == 0) {
        fputs ("null", out);
        return;
    }
    char text [LW_TIME_TEXT_MAX];
    s_json_string (out, lw_time_format (ns, text, sizeof (text)));
}

//  Name of a label, or NULL for none
static const char *
s_label_name (uint8_t label)
{
    return label == LW_LABEL_ANOMALY ? "anomaly"
         : label == LW_LABEL_NORMAL ? "normal"
                                    : NULL;
}

static const char *
s_state_name (uint8_t state)
{
    return state == LW_ALERT_OPEN ? "open"
         : state == LW_ALERT_UPDATE ? "update"
         : state == LW_ALERT_CLOSE ? "close"
                                   : "unknown";
}

static void
s_json_label_value (FILE *out, uint8_t label)
{
    const char *name = s_label_name (label);
    if (name)
        s_json_string (out, name);
    else
        fputs ("null", out);
}

//  Writes the fields of an alert (without braces)
static void
s_json_alert_fields (FILE *out, const lw_alert_t *alert)
{
    fprintf (out, "\"id\":%" PRIu64 ",\"sensor\":", alert->id);
    s_json_string (out, alert->sensor);
    fputs (",\"opened\":", out);
    s_json_time (out, alert->opened);
    fputs (",\"closed\":", out);
    s_json_time (out, alert->state == LW_ALERT_CLOSE ? alert->closed : 0);
    fputs (",\"updated\":", out);
    s_json_time (out, alert->updated);
    fputs (",\"open\":", out);
    fputs (alert->state == LW_ALERT_CLOSE ? "false" : "true", out);
    fputs (",\"score\":", out);
    s_json_number (out, alert->score);
    fputs (",\"value\":", out);
    s_json_number (out, alert->value);
    fputs (",\"expected_low\":", out);
    s_json_number (out, alert->expected_low);
    fputs (",\"expected_high\":", out);
    s_json_number (out, alert->expected_high);
    fputs (",\"detectors\":[", out);
    for (uint32_t index = 0; index < alert->ndetectors; index++) {
        if (index)
            fputc (',', out);
        s_json_string (out, alert->detectors [index]);
    }
    fputs ("],\"label\":", out);
    s_json_label_value (out, alert->label);
}

static void
s_json_label (FILE *out, const lw_label_t *label)
{
    fprintf (out, "{\"id\":%" PRIu64 ",\"alert_id\":", label->id);
    if (label->alert_id)
        fprintf (out, "%" PRIu64, label->alert_id);
    else
        fputs ("null", out);
    fputs (",\"sensor\":", out);
    s_json_string (out, label->sensor);
    fputs (",\"from\":", out);
    s_json_time (out, label->from);
    fputs (",\"to\":", out);
    s_json_time (out, label->to);
    fputs (",\"label\":", out);
    s_json_label_value (out, label->label);
    fputs (",\"note\":", out);
    s_json_string (out, label->note);
    fputs (",\"at\":", out);
    s_json_time (out, label->at);
    fputc ('}', out);
}


//  --------------------------------------------------------------------------
//  Human output helpers

//  Prints text for a terminal: control characters become '?', so a note
//  cannot move the cursor or recolour the screen
static void
s_print_safe (FILE *out, const char *text)
{
    for (const unsigned char *byte = (const unsigned char *) text; *byte;
         byte++)
        fputc (*byte < 0x20 || *byte == 0x7F ? '?' : *byte, out);
}

//  Time for people: RFC 3339 UTC to the millisecond (at most 24
//  characters), or "-" when unset
static const char *
s_time_text (int64_t ns, char *text, size_t size)
{
    if (ns == 0)
        return "-";
    int64_t sub_ms = ns % LW_NS_PER_MS;
    if (sub_ms < 0)
        sub_ms += LW_NS_PER_MS;
    return lw_time_format (ns - sub_ms, text, size);
}

static void
s_print_alert_row (FILE *out, const lw_alert_t *alert)
{
    char opened [LW_TIME_TEXT_MAX];
    char closed [LW_TIME_TEXT_MAX];
    char expected [64];
    snprintf (expected, sizeof (expected), "[%.4g, %.4g]",
              alert->expected_low, alert->expected_high);
    fprintf (out, "%-6" PRIu64 " %-24s %-24s %-7.3f %-10.4g %-18s %-8s ",
             alert->id,
             s_time_text (alert->opened, opened, sizeof (opened)),
             alert->state == LW_ALERT_CLOSE
                 ? s_time_text (alert->closed, closed, sizeof (closed))
                 : "open",
             alert->score, alert->value, expected,
             s_label_name (alert->label) ? s_label_name (alert->label) : "-");
    s_print_safe (out, alert->sensor);
    fputs ("  ", out);
    for (uint32_t index = 0; index < alert->ndetectors; index++) {
        if (index)
            fputc (',', out);
        s_print_safe (out, alert->detectors [index]);
    }
    fputc ('\n', out);
}

static void
s_print_label_row (FILE *out, const lw_label_t *label)
{
    char from [LW_TIME_TEXT_MAX];
    char to [LW_TIME_TEXT_MAX];
    char at [LW_TIME_TEXT_MAX];
    char alert_text [24] = "-";
    if (label->alert_id)
        snprintf (alert_text, sizeof (alert_text), "%" PRIu64,
                  label->alert_id);
    fprintf (out, "%-6" PRIu64 " %-6s %-8s %-24s %-24s %-24s ", label->id,
             alert_text,
             s_label_name (label->label) ? s_label_name (label->label) : "?",
             s_time_text (label->from, from, sizeof (from)),
             s_time_text (label->to, to, sizeof (to)),
             s_time_text (label->at, at, sizeof (at)));
    s_print_safe (out, label->sensor);
    if (*label->note) {
        fputs ("  \"", out);
        s_print_safe (out, label->note);
        fputc ('"', out);
    }
    fputc ('\n', out);
}


//  --------------------------------------------------------------------------
//  Option parsing helpers

static int
s_usage (const char *line)
{
    fprintf (stderr, "usage: lwctl %s\n", line);
    return LW_CTL_USAGE;
}

//  Parses the value of option argv[*argn] as a long in [min, max]
static int
s_option_long (int argc, char **argv, int *argn, long min, long max,
               long *out)
{
    const char *name = argv [*argn];
    if (*argn + 1 >= argc) {
        fprintf (stderr, "lwctl: %s needs a value\n", name);
        return -1;
    }
    const char *text = argv [++*argn];
    if (lw_parse_long (text, min, max, out)) {
        fprintf (stderr, "lwctl: %s '%.64s' is not an integer in [%ld, %ld]\n",
                 name, text, min, max);
        return -1;
    }
    return 0;
}

//  Takes the string value of option argv[*argn]
static const char *
s_option_string (int argc, char **argv, int *argn)
{
    if (*argn + 1 >= argc) {
        fprintf (stderr, "lwctl: %s needs a value\n", argv [*argn]);
        return NULL;
    }
    return argv [++*argn];
}

//  Checks a sensor (or machine) filter given on the command line
static int
s_sensor_arg (const char *text, char *out, size_t out_size)
{
    if (!lw_key_valid (text, strlen (text)) || strlen (text) >= out_size) {
        fprintf (stderr, "lwctl: '%.64s' is not a valid sensor key "
                         "(1..%d bytes of UTF-8, no control characters)\n",
                 text, LW_KEY_MAX);
        return -1;
    }
    memcpy (out, text, strlen (text) + 1);
    return 0;
}

//  Parses an RFC 3339 or "YYYY-MM-DD HH:MM:SS" (UTC) time option
static int
s_time_arg (const char *name, const char *text, int64_t *out)
{
    if (lw_time_parse (text, strlen (text), out)) {
        fprintf (stderr, "lwctl: %s '%.64s' is not a time (RFC 3339 or "
                         "'YYYY-MM-DD HH:MM:SS', UTC)\n", name, text);
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Sends a request to lw-feedback and checks the reply's shape and status.
//  Returns 0 with reply->msg set (caller destroys), or LW_CTL_FAIL after
//  saying why.

static int
s_api_call (lw_ctl_t *ctl, const lw_request_t *request, api_reply_t *reply)
{
    memset (reply, 0, sizeof (*reply));
    zframe_t *frame = lw_msg_request_encode (request);
    if (!frame) {
        fprintf (stderr, "lwctl: cannot encode the request\n");
        return LW_CTL_FAIL;
    }
    zmsg_t *msg = zmsg_new ();
    assert (msg);
    zmsg_append (msg, &frame);
    reply->msg = lw_ctl_call (ctl, ctl->node.api, &msg);
    if (!reply->msg) {
        fprintf (stderr, "lwctl: lw-feedback is not answering (is the node "
                         "up? try lwctl status)\n");
        return LW_CTL_FAIL;
    }
    frame = zmsg_first (reply->msg);
    int rc = frame ? lw_msg_reply_decode (zframe_data (frame),
                                          zframe_size (frame), &reply->header)
                   : LW_MSG_ENVELOPE;
    if (rc == 0 && reply->header.count != zmsg_size (reply->msg) - 1)
        rc = LW_MSG_ENVELOPE;
    if (rc) {
        fprintf (stderr, "lwctl: malformed reply from %s (%s)\n",
                 ctl->node.api, lw_msg_strerror (rc));
        zmsg_destroy (&reply->msg);
        return LW_CTL_FAIL;
    }
    if (reply->header.status != 0) {
        fprintf (stderr, "lwctl: ");
        s_print_safe (stderr, reply->header.text);
        fprintf (stderr, "\n");
        zmsg_destroy (&reply->msg);
        return LW_CTL_FAIL;
    }
    return 0;
}

//  Decodes the next record frame of a reply as an alert or a label
static int
s_next_alert (api_reply_t *reply, lw_alert_t *alert)
{
    zframe_t *frame = zmsg_next (reply->msg);
    if (!frame || lw_msg_alert_decode (zframe_data (frame),
                                       zframe_size (frame), alert)) {
        fprintf (stderr, "lwctl: malformed alert in the reply\n");
        return -1;
    }
    return 0;
}

static int
s_next_label (api_reply_t *reply, lw_label_t *label)
{
    zframe_t *frame = zmsg_next (reply->msg);
    if (!frame || lw_msg_label_decode (zframe_data (frame),
                                       zframe_size (frame), label)) {
        fprintf (stderr, "lwctl: malformed label in the reply\n");
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  lwctl alerts [--open] [--sensor S] [--limit N] [--json]

#define ALERTS_USAGE "alerts [--open] [--sensor S] [--limit N] [--json]"

int
lw_ctl_alerts (lw_ctl_t *ctl, int argc, char **argv)
{
    assert (ctl);
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_ALERTS;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        long number;
        const char *text;
        if (streq (arg, "--open"))
            request.open_only = true;
        else
        if (streq (arg, "--json"))
            ctl->json = true;
        else
        if (streq (arg, "--sensor")) {
            if (!(text = s_option_string (argc, argv, &argn))
                || s_sensor_arg (text, request.sensor, sizeof (request.sensor)))
                return LW_CTL_USAGE;
        }
        else
        if (streq (arg, "--limit")) {
            if (s_option_long (argc, argv, &argn, 1, LW_REPLY_MAX, &number))
                return LW_CTL_USAGE;
            request.limit = (uint32_t) number;
        }
        else
            return s_usage (ALERTS_USAGE);
    }
    api_reply_t reply;
    int rc = s_api_call (ctl, &request, &reply);
    if (rc)
        return rc;
    if (ctl->json)
        fputc ('[', stdout);
    else
    if (reply.header.count == 0)
        printf ("no alerts\n");
    else
        printf ("%-6s %-24s %-24s %-7s %-10s %-18s %-8s %s\n", "ID", "OPENED",
                "CLOSED", "SCORE", "VALUE", "EXPECTED", "LABEL",
                "SENSOR  DETECTORS");
    for (uint32_t index = 0; index < reply.header.count; index++) {
        lw_alert_t alert;
        if (s_next_alert (&reply, &alert)) {
            rc = LW_CTL_FAIL;
            break;
        }
        if (ctl->json) {
            fputs (index ? ",{" : "{", stdout);
            s_json_alert_fields (stdout, &alert);
            fputc ('}', stdout);
        }
        else
            s_print_alert_row (stdout, &alert);
    }
    if (ctl->json)
        fputs ("]\n", stdout);
    zmsg_destroy (&reply.msg);
    return rc;
}


//  --------------------------------------------------------------------------
//  lwctl show ID [--json]

#define SHOW_USAGE "show ID [--json]"

//  Parses an alert id argument (a positive integer)
static int
s_alert_id_arg (const char *text, uint64_t *out)
{
    long number;
    if (lw_parse_long (text, 1, LONG_MAX, &number)) {
        fprintf (stderr, "lwctl: '%.64s' is not an alert id\n", text);
        return -1;
    }
    *out = (uint64_t) number;
    return 0;
}

int
lw_ctl_show (lw_ctl_t *ctl, int argc, char **argv)
{
    assert (ctl);
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_SHOW;
    for (int argn = 1; argn < argc; argn++) {
        if (streq (argv [argn], "--json"))
            ctl->json = true;
        else
        if (request.alert_id == 0 && argv [argn][0] != '-') {
            if (s_alert_id_arg (argv [argn], &request.alert_id))
                return LW_CTL_USAGE;
        }
        else
            return s_usage (SHOW_USAGE);
    }
    if (request.alert_id == 0)
        return s_usage (SHOW_USAGE);
    api_reply_t reply;
    int rc = s_api_call (ctl, &request, &reply);
    if (rc)
        return rc;
    lw_alert_t alert;
    if (reply.header.count < 1 || s_next_alert (&reply, &alert)) {
        zmsg_destroy (&reply.msg);
        return LW_CTL_FAIL;
    }
    if (ctl->json) {
        fputc ('{', stdout);
        s_json_alert_fields (stdout, &alert);
        fputs (",\"labels\":[", stdout);
    }
    else {
        char text [LW_TIME_TEXT_MAX];
        printf ("alert %" PRIu64 "  ", alert.id);
        s_print_safe (stdout, alert.sensor);
        printf ("\n  state      %s\n", alert.state == LW_ALERT_CLOSE
                                           ? "closed" : "open");
        printf ("  opened     %s\n",
                s_time_text (alert.opened, text, sizeof (text)));
        printf ("  closed     %s\n", alert.state == LW_ALERT_CLOSE
                    ? s_time_text (alert.closed, text, sizeof (text)) : "-");
        printf ("  updated    %s\n",
                s_time_text (alert.updated, text, sizeof (text)));
        printf ("  score      %.4g (peak)\n", alert.score);
        printf ("  value      %.6g, expected %.6g .. %.6g\n", alert.value,
                alert.expected_low, alert.expected_high);
        printf ("  detectors  ");
        for (uint32_t index = 0; index < alert.ndetectors; index++) {
            if (index)
                fputs (", ", stdout);
            s_print_safe (stdout, alert.detectors [index]);
        }
        printf ("\n  label      %s\n", s_label_name (alert.label)
                                           ? s_label_name (alert.label)
                                           : "-");
        printf ("  episode    scorer %016" PRIx64 " #%" PRIu64 "\n",
                alert.scorer, alert.local_seq);
        printf (reply.header.count > 1 ? "labels:\n" : "labels: none\n");
    }
    for (uint32_t index = 1; index < reply.header.count; index++) {
        lw_label_t label;
        if (s_next_label (&reply, &label)) {
            rc = LW_CTL_FAIL;
            break;
        }
        if (ctl->json) {
            if (index > 1)
                fputc (',', stdout);
            s_json_label (stdout, &label);
        }
        else {
            fputs ("  ", stdout);
            s_print_label_row (stdout, &label);
        }
    }
    if (ctl->json)
        fputs ("]}\n", stdout);
    zmsg_destroy (&reply.msg);
    return rc;
}


//  --------------------------------------------------------------------------
//  lwctl label ID anomaly|normal [--note TEXT]
//  lwctl label --sensor S --from T --to T anomaly|normal [--note TEXT]

#define LABEL_USAGE                                                          \
    "label ID anomaly|normal [--note TEXT]\n"                                \
    "       lwctl label --sensor S --from T --to T anomaly|normal "          \
    "[--note TEXT]\n"                                                        \
    "       (times: RFC 3339 or 'YYYY-MM-DD HH:MM:SS', UTC)"

int
lw_ctl_label (lw_ctl_t *ctl, int argc, char **argv)
{
    assert (ctl);
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_LABEL;
    const char *positional [2] = {NULL, NULL};
    int positionals = 0;
    bool has_from = false, has_to = false;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        const char *text;
        if (streq (arg, "--json"))
            ctl->json = true;
        else
        if (streq (arg, "--sensor")) {
            if (!(text = s_option_string (argc, argv, &argn))
                || s_sensor_arg (text, request.sensor, sizeof (request.sensor)))
                return LW_CTL_USAGE;
        }
        else
        if (streq (arg, "--from") || streq (arg, "--to")) {
            if (!(text = s_option_string (argc, argv, &argn)))
                return LW_CTL_USAGE;
            bool from = streq (arg, "--from");
            if (s_time_arg (arg, text, from ? &request.from : &request.to))
                return LW_CTL_USAGE;
            *(from ? &has_from : &has_to) = true;
        }
        else
        if (streq (arg, "--note")) {
            if (!(text = s_option_string (argc, argv, &argn)))
                return LW_CTL_USAGE;
            if (strlen (text) > LW_NOTE_MAX) {
                fprintf (stderr, "lwctl: --note is longer than %d bytes\n",
                         LW_NOTE_MAX);
                return LW_CTL_USAGE;
            }
            snprintf (request.note, sizeof (request.note), "%s", text);
        }
        else
        if (arg [0] != '-' && positionals < 2)
            positional [positionals++] = arg;
        else
            return s_usage (LABEL_USAGE);
    }
    bool range = *request.sensor || has_from || has_to;
    if (positionals != (range ? 1 : 2))
        return s_usage (LABEL_USAGE);
    if (range && !(*request.sensor && has_from && has_to)) {
        fprintf (stderr, "lwctl: a range label needs --sensor, --from and "
                         "--to\n");
        return LW_CTL_USAGE;
    }
    if (range && request.from > request.to) {
        fprintf (stderr, "lwctl: --from is after --to\n");
        return LW_CTL_USAGE;
    }
    if (!range && s_alert_id_arg (positional [0], &request.alert_id))
        return LW_CTL_USAGE;
    const char *word = positional [positionals - 1];
    if (streq (word, "anomaly"))
        request.label = LW_LABEL_ANOMALY;
    else
    if (streq (word, "normal"))
        request.label = LW_LABEL_NORMAL;
    else {
        fprintf (stderr, "lwctl: label '%.64s' must be anomaly or normal\n",
                 word);
        return LW_CTL_USAGE;
    }
    api_reply_t reply;
    int rc = s_api_call (ctl, &request, &reply);
    if (rc)
        return rc;
    //  The node replied only after committing the label durably
    lw_label_t label;
    if (reply.header.count != 1 || s_next_label (&reply, &label)) {
        zmsg_destroy (&reply.msg);
        return LW_CTL_FAIL;
    }
    if (ctl->json) {
        s_json_label (stdout, &label);
        fputc ('\n', stdout);
    }
    else {
        printf ("label %" PRIu64 " recorded: ", label.id);
        if (label.alert_id)
            printf ("alert %" PRIu64 " ", label.alert_id);
        s_print_safe (stdout, label.sensor);
        printf (" %s\n", s_label_name (label.label) ? s_label_name (label.label)
                                                    : "?");
    }
    zmsg_destroy (&reply.msg);
    return LW_CTL_OK;
}


//  --------------------------------------------------------------------------
//  lwctl labels [--sensor S] [--limit N] [--json]

#define LABELS_USAGE "labels [--sensor S] [--limit N] [--json]"

int
lw_ctl_labels (lw_ctl_t *ctl, int argc, char **argv)
{
    assert (ctl);
    lw_request_t request;
    memset (&request, 0, sizeof (request));
    request.op = LW_OP_LABELS;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        long number;
        const char *text;
        if (streq (arg, "--json"))
            ctl->json = true;
        else
        if (streq (arg, "--sensor")) {
            if (!(text = s_option_string (argc, argv, &argn))
                || s_sensor_arg (text, request.sensor, sizeof (request.sensor)))
                return LW_CTL_USAGE;
        }
        else
        if (streq (arg, "--limit")) {
            if (s_option_long (argc, argv, &argn, 1, LW_REPLY_MAX, &number))
                return LW_CTL_USAGE;
            request.limit = (uint32_t) number;
        }
        else
            return s_usage (LABELS_USAGE);
    }
    api_reply_t reply;
    int rc = s_api_call (ctl, &request, &reply);
    if (rc)
        return rc;
    if (ctl->json)
        fputc ('[', stdout);
    else
    if (reply.header.count == 0)
        printf ("no labels\n");
    else
        printf ("%-6s %-6s %-8s %-24s %-24s %-24s %s\n", "ID", "ALERT",
                "LABEL", "FROM", "TO", "AT", "SENSOR  NOTE");
    for (uint32_t index = 0; index < reply.header.count; index++) {
        lw_label_t label;
        if (s_next_label (&reply, &label)) {
            rc = LW_CTL_FAIL;
            break;
        }
        if (ctl->json) {
            if (index)
                fputc (',', stdout);
            s_json_label (stdout, &label);
        }
        else
            s_print_label_row (stdout, &label);
    }
    if (ctl->json)
        fputs ("]\n", stdout);
    zmsg_destroy (&reply.msg);
    return rc;
}


//  --------------------------------------------------------------------------
//  lwctl status [--json]

//  Sorts partition numbers
static int
s_compare_u16 (const void *left, const void *right)
{
    return (int) *(const uint16_t *) left - (int) *(const uint16_t *) right;
}

//  Compact, sorted range list of a member's partitions: "0-15,32,40-47"
static void
s_partition_ranges (const lw_ctrl_t *ctrl, char *text, size_t size)
{
    uint16_t sorted [LW_PARTITIONS_MAX];
    uint32_t count = ctrl->npartitions;
    if (count > LW_PARTITIONS_MAX)
        count = LW_PARTITIONS_MAX;
    memcpy (sorted, ctrl->partitions, count * sizeof (uint16_t));
    qsort (sorted, count, sizeof (uint16_t), s_compare_u16);
    size_t used = 0;
    text [0] = 0;
    for (uint32_t index = 0; index < count;) {
        uint32_t last = index;
        while (last + 1 < count && sorted [last + 1] <= sorted [last] + 1)
            last++;
        char piece [16];
        if (sorted [last] != sorted [index])
            snprintf (piece, sizeof (piece), "%s%u-%u", used ? "," : "",
                      sorted [index], sorted [last]);
        else
            snprintf (piece, sizeof (piece), "%s%u", used ? "," : "",
                      sorted [index]);
        if (used + strlen (piece) + 4 >= size) {
            snprintf (text + used, size - used, ",...");
            return;
        }
        memcpy (text + used, piece, strlen (piece) + 1);
        used += strlen (piece);
        index = last + 1;
    }
}

//  Latency quantiles in ms from the lat_NN counters; false when there
//  are none
static bool
s_latency (const lw_ctrl_t *ctrl, double *p50_ms, double *p99_ms)
{
    uint64_t buckets [LW_LATENCY_BUCKETS] = {0};
    uint64_t total = 0;
    for (uint32_t index = 0; index < ctrl->nstats; index++) {
        const char *name = ctrl->stats [index].name;
        long bucket;
        if (strncmp (name, "lat_", 4) == 0
            && lw_parse_long (name + 4, 0, LW_LATENCY_BUCKETS - 1, &bucket)
                   == 0) {
            buckets [bucket] += ctrl->stats [index].value;
            total += ctrl->stats [index].value;
        }
    }
    if (total == 0)
        return false;
    *p50_ms = (double) lw_stats_quantile (buckets, 0.5) / 1e6;
    *p99_ms = (double) lw_stats_quantile (buckets, 0.99) / 1e6;
    return true;
}

static void
s_status_json (FILE *out, const lw_ctrl_t *ctrl, bool first)
{
    fputs (first ? "{\"group\":" : ",{\"group\":", out);
    s_json_string (out, ctrl->group);
    fputs (",\"name\":", out);
    s_json_string (out, ctrl->name);
    //  The broker answered, so it is up; its "ready" counter says
    //  whether every readings partition has a subscriber
    bool broker = streq (ctrl->group, "broker");
    if (broker)
        fprintf (out, ",\"ready\":%s",
                 lw_ctrl_stat (ctrl, "ready") ? "true" : "false");
    fprintf (out, ",\"alive\":%s,\"pid\":%" PRId64 ",\"in\":%" PRIu64
                  ",\"out\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"drops\":{",
             ctrl->alive || broker ? "true" : "false", ctrl->pid,
             lw_ctrl_stat (ctrl, "in"), lw_ctrl_stat (ctrl, "out"),
             lw_ctrl_stat (ctrl, "gaps"));
    bool any = false;
    for (uint32_t index = 0; index < ctrl->nstats; index++) {
        const lw_stat_t *stat = &ctrl->stats [index];
        if (strncmp (stat->name, "drop_", 5) == 0 && stat->value) {
            if (any)
                fputc (',', out);
            s_json_string (out, stat->name + 5);
            fprintf (out, ":%" PRIu64, stat->value);
            any = true;
        }
    }
    fprintf (out, "},\"partitions\":%u,\"partition_list\":[",
             ctrl->npartitions);
    for (uint32_t index = 0; index < ctrl->npartitions; index++)
        fprintf (out, index ? ",%u" : "%u", ctrl->partitions [index]);
    fputs ("],\"latency_p50_ms\":", out);
    double p50, p99;
    bool latency = s_latency (ctrl, &p50, &p99);
    s_json_number (out, latency ? p50 : NAN);
    fputs (",\"latency_p99_ms\":", out);
    s_json_number (out, latency ? p99 : NAN);
    fputs (",\"stats\":{", out);
    for (uint32_t index = 0; index < ctrl->nstats; index++) {
        if (index)
            fputc (',', out);
        s_json_string (out, ctrl->stats [index].name);
        fprintf (out, ":%" PRIu64, ctrl->stats [index].value);
    }
    fputs ("}}", out);
}

static void
s_status_human (FILE *out, const lw_ctrl_t *ctrl)
{
    char who [2 * LW_NAME_MAX + 2];
    snprintf (who, sizeof (who), "%s/%s", ctrl->group, ctrl->name);
    fputs ("  ", out);
    s_print_safe (out, who);
    int pad = 30 - (int) strlen (who);
    fprintf (out, "%*s %-5s pid %-7" PRId64 " in %-10" PRIu64 " out %-10"
                  PRIu64 " gaps %-6" PRIu64,
             pad > 0 ? pad : 0, "",
             ctrl->alive || streq (ctrl->group, "broker") ? "up" : "DOWN",
             ctrl->pid,
             lw_ctrl_stat (ctrl, "in"), lw_ctrl_stat (ctrl, "out"),
             lw_ctrl_stat (ctrl, "gaps"));
    if (ctrl->npartitions) {
        char ranges [RANGES_TEXT_MAX];
        s_partition_ranges (ctrl, ranges, sizeof (ranges));
        fprintf (out, " partitions %u [%s]", ctrl->npartitions, ranges);
    }
    if (streq (ctrl->group, "broker") && !lw_ctrl_stat (ctrl, "ready"))
        fputs (" (not ready: a readings partition has no owner)", out);
    fputc ('\n', out);
    bool any = false;
    for (uint32_t index = 0; index < ctrl->nstats; index++) {
        const lw_stat_t *stat = &ctrl->stats [index];
        if (strncmp (stat->name, "drop_", 5) == 0 && stat->value) {
            fputs (any ? " " : "      drops:", out);
            fputc (' ', out);
            s_print_safe (out, stat->name + 5);
            fprintf (out, "=%" PRIu64, stat->value);
            any = true;
        }
    }
    if (any)
        fputc ('\n', out);
    //  Everything else a process counts (cleaning, source state such as
    //  mqtt_connected or modbus_down_<device>): non-zero values, and
    //  source states even at zero, since 0 there is the news
    any = false;
    for (uint32_t index = 0; index < ctrl->nstats; index++) {
        const lw_stat_t *stat = &ctrl->stats [index];
        const char *name = stat->name;
        if (streq (name, "in") || streq (name, "out") || streq (name, "gaps")
            || strncmp (name, "drop_", 5) == 0
            || strncmp (name, "lat_", 4) == 0)
            continue;
        bool state = strncmp (name, "mqtt_connected", 14) == 0
                     || strncmp (name, "modbus_down_", 12) == 0;
        if (stat->value == 0 && !state)
            continue;
        fputs (any ? " " : "      other:", out);
        fputc (' ', out);
        s_print_safe (out, name);
        fprintf (out, "=%" PRIu64, stat->value);
        any = true;
    }
    if (any)
        fputc ('\n', out);
    double p50, p99;
    if (s_latency (ctrl, &p50, &p99))
        fprintf (out, "      latency ingest->score: p50 %.3g ms, p99 %.3g ms\n",
                 p50, p99);
}

//  The processes `lwctl up` starts for this config, by group
typedef struct {
    const char *group;          //  Member group
    long expected;              //  Processes of that group
    long running;               //  Alive members seen
} expected_t;

//  A member of the status reply, for sorting
typedef struct {
    int rank;                   //  Pipeline stage of its group
    char group [LW_NAME_MAX + 1];   //  Group
    char name [LW_NAME_MAX + 1];    //  Member name
    zframe_t *frame;            //  Its frame in the reply (borrowed)
} member_t;

//  Pipeline order of a group: broker, ingest, features, scorer, feedback
static int
s_group_rank (const char *group)
{
    static const char *order [] = {"broker", "ingest", "features", "scorer",
                                   "feedback", NULL};
    int rank = 0;
    while (order [rank] && !streq (order [rank], group))
        rank++;
    return rank;
}

static int
s_compare_members (const void *left, const void *right)
{
    const member_t *one = (const member_t *) left;
    const member_t *other = (const member_t *) right;
    if (one->rank != other->rank)
        return one->rank - other->rank;
    int rc = strcmp (one->group, other->group);
    return rc ? rc : strcmp (one->name, other->name);
}

//  Fills the expected groups from the config; returns how many
static size_t
s_expected (lw_ctl_t *ctl, expected_t *expected)
{
    long features = 1, scorers = 1;
    if (ctl->config) {
        //  Validated by lw-features/lw-scorer; fall back to defaults here
        if (lw_cfg_int (ctl->config, "features/workers", 1, 0, 64, &features))
            features = 1;
        if (lw_cfg_int (ctl->config, "scorer/workers", 1, 0, 64, &scorers))
            scorers = 1;
    }
    expected [0] = (expected_t) {"ingest", 1, 0};
    expected [1] = (expected_t) {"features", features, 0};
    expected [2] = (expected_t) {"scorer", scorers, 0};
    expected [3] = (expected_t) {"feedback", 1, 0};
    return 4;
}

//  Asks the broker's coordinator for the members' status. Returns the
//  reply (caller destroys), or NULL after saying the node is down.
static zmsg_t *
s_status_call (lw_ctl_t *ctl)
{
    lw_ctrl_t *ctrl = (lw_ctrl_t *) zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    ctrl->kind = LW_CTRL_STATUS;
    snprintf (ctrl->group, sizeof (ctrl->group), "lwctl");
    snprintf (ctrl->name, sizeof (ctrl->name), "lwctl-%d", (int) getpid ());
    ctrl->pid = getpid ();
    zframe_t *frame = lw_msg_ctrl_encode (ctrl);
    free (ctrl);
    zmsg_t *request = zmsg_new ();
    if (!request || !frame) {
        fprintf (stderr, "lwctl: cannot encode the request\n");
        zframe_destroy (&frame);
        zmsg_destroy (&request);
        return NULL;
    }
    zmsg_append (request, &frame);
    zmsg_t *reply = lw_ctl_call (ctl, ctl->node.coordinator, &request);
    if (!reply)
        fprintf (stderr, "lwctl: the node is down (lw-broker does not "
                         "answer at %s)\n", ctl->node.coordinator);
    return reply;
}

int
lw_ctl_status (lw_ctl_t *ctl, int argc, char **argv)
{
    assert (ctl);
    for (int argn = 1; argn < argc; argn++) {
        if (streq (argv [argn], "--json"))
            ctl->json = true;
        else
            return s_usage ("status [--json]");
    }
    lw_ctrl_t *ctrl = (lw_ctrl_t *) zmalloc (sizeof (lw_ctrl_t));
    assert (ctrl);
    int rc = LW_CTL_FAIL;
    zframe_t *frame;
    zmsg_t *reply = s_status_call (ctl);
    if (!reply)
        goto cleanup;
    lw_reply_t header;
    frame = zmsg_first (reply);
    if (!frame
        || lw_msg_reply_decode (zframe_data (frame), zframe_size (frame),
                                &header)
        || header.count != zmsg_size (reply) - 1) {
        fprintf (stderr, "lwctl: malformed status reply from %s\n",
                 ctl->node.coordinator);
        goto cleanup;
    }
    if (header.status != 0) {
        fputs ("lwctl: ", stderr);
        s_print_safe (stderr, header.text);
        fputc ('\n', stderr);
        goto cleanup;
    }
    if (ctl->json)
        fputc ('[', stdout);
    else
        printf ("node %s: broker up, %u member%s\n", ctl->node.home,
                header.count, header.count == 1 ? "" : "s");
    rc = LW_CTL_OK;
    expected_t expected [4];
    size_t groups = s_expected (ctl, expected);
    //  Order members by pipeline stage, then name; the array is as long
    //  as the frames actually received
    member_t *members = (member_t *) calloc (header.count + 1,
                                             sizeof (member_t));
    assert (members);
    size_t count = 0;
    while ((frame = zmsg_next (reply))) {
        if (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                ctrl)) {
            fprintf (stderr, "lwctl: malformed member in the status reply\n");
            rc = LW_CTL_FAIL;
            continue;
        }
        members [count].frame = frame;
        members [count].rank = s_group_rank (ctrl->group);
        memcpy (members [count].group, ctrl->group, sizeof (ctrl->group));
        memcpy (members [count].name, ctrl->name, sizeof (ctrl->name));
        count++;
    }
    qsort (members, count, sizeof (member_t), s_compare_members);
    bool first = true;
    for (size_t index = 0; index < count; index++) {
        frame = members [index].frame;
        if (lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                ctrl))
            continue;                   //  Decoded fine above
        for (size_t group = 0; group < groups; group++)
            if (ctrl->alive && streq (ctrl->group, expected [group].group))
                expected [group].running++;
        if (ctl->json)
            s_status_json (stdout, ctrl, first);
        else
            s_status_human (stdout, ctrl);
        first = false;
    }
    //  A process that is not running has no member: say so
    for (size_t group = 0; group < groups; group++) {
        long missing = expected [group].expected - expected [group].running;
        for (long index = 0; index < missing; index++) {
            if (ctl->json)
                fprintf (stdout, "%s{\"group\":\"%s\",\"name\":null,"
                                 "\"alive\":false}",
                         first ? "" : ",", expected [group].group);
            else
                printf ("  %-30s DOWN  (not running: %ld of %ld up)\n",
                        expected [group].group, expected [group].running,
                        expected [group].expected);
            first = false;
        }
    }
    if (ctl->json)
        fputs ("]\n", stdout);
    free (members);
cleanup:
    zmsg_destroy (&reply);
    free (ctrl);
    return rc;
}


//  --------------------------------------------------------------------------
//  lwctl tail [--alerts|--scores] [--count N] [--json]

#define TAIL_USAGE "tail [--alerts|--scores] [--count N] [--json]"

static void
s_tail_alert (const lw_alert_t *alert, bool json)
{
    if (json) {
        fprintf (stdout, "{\"type\":\"alert\",\"state\":\"%s\",",
                 s_state_name (alert->state));
        s_json_alert_fields (stdout, alert);
        fprintf (stdout, ",\"scorer\":%" PRIu64 ",\"local_seq\":%" PRIu64
                         "}\n", alert->scorer, alert->local_seq);
        return;
    }
    char text [LW_TIME_TEXT_MAX];
    int64_t at = alert->state == LW_ALERT_CLOSE && alert->closed
                     ? alert->closed
                     : alert->updated ? alert->updated : alert->opened;
    printf ("%s  ALERT %-6s ", s_time_text (at, text, sizeof (text)),
            alert->state == LW_ALERT_OPEN     ? "OPEN"
            : alert->state == LW_ALERT_UPDATE ? "UPDATE"
                                              : "CLOSE");
    s_print_safe (stdout, alert->sensor);
    printf ("  score %.3f  value %.6g  expected [%.6g, %.6g]  ", alert->score,
            alert->value, alert->expected_low, alert->expected_high);
    for (uint32_t index = 0; index < alert->ndetectors; index++) {
        if (index)
            fputc (',', stdout);
        s_print_safe (stdout, alert->detectors [index]);
    }
    fputc ('\n', stdout);
}

static void
s_tail_score (const lw_item_t *item, bool json)
{
    if (json) {
        fputs ("{\"type\":\"score\",\"sensor\":", stdout);
        s_json_string (stdout, item->sensor);
        fputs (",\"time\":", stdout);
        s_json_time (stdout, item->time);
        fputs (",\"value\":", stdout);
        s_json_number (stdout, item->value);
        fputs (",\"score\":", stdout);
        s_json_number (stdout, item->score);
        fputs (",\"expected_low\":", stdout);
        s_json_number (stdout, item->expected_low);
        fputs (",\"expected_high\":", stdout);
        s_json_number (stdout, item->expected_high);
        fprintf (stdout, ",\"warmup\":%s,\"alert\":%s}\n",
                 item->flags & LW_SCORE_WARMUP ? "true" : "false",
                 item->flags & LW_SCORE_ALERT ? "true" : "false");
        return;
    }
    char text [LW_TIME_TEXT_MAX];
    printf ("%s  score %.3f  ", s_time_text (item->time, text, sizeof (text)),
            item->score);
    s_print_safe (stdout, item->sensor);
    printf ("  value %.6g  expected [%.6g, %.6g]%s%s\n", item->value,
            item->expected_low, item->expected_high,
            item->flags & LW_SCORE_WARMUP ? "  warmup" : "",
            item->flags & LW_SCORE_ALERT ? "  ALERT" : "");
}

int
lw_ctl_tail (lw_ctl_t *ctl, int argc, char **argv)
{
    assert (ctl);
    bool alerts = true, scores = true;
    long count = 0;                     //  0 = until Ctrl-C
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        if (streq (arg, "--json"))
            ctl->json = true;
        else
        if (streq (arg, "--alerts"))
            scores = false;
        else
        if (streq (arg, "--scores"))
            alerts = false;
        else
        if (streq (arg, "--count")) {
            if (s_option_long (argc, argv, &argn, 1, LONG_MAX, &count))
                return LW_CTL_USAGE;
        }
        else
            return s_usage (TAIL_USAGE);
    }
    if (!alerts && !scores)
        return s_usage (TAIL_USAGE " (--alerts and --scores exclude each "
                                   "other)");
    //  A stream never says it is down: ask the broker first, so that a
    //  node that is not running is an error, not an endless wait
    zmsg_t *status = s_status_call (ctl);
    if (!status)
        return LW_CTL_FAIL;
    zmsg_destroy (&status);
    int rc = LW_CTL_FAIL;
    zpoller_t *poller = NULL;
    lw_batch_t *batch = lw_batch_new (LW_MSG_SCORES);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!batch || !sub) {
        fprintf (stderr, "lwctl: out of memory\n");
        goto cleanup;
    }
    zsock_set_linger (sub, 0);
    zsock_set_maxmsgsize (sub, LW_MAX_FRAME_SIZE);
    zsock_set_rcvhwm (sub, (int) (ctl->node.hwm > 0 ? ctl->node.hwm
                                                    : LW_HWM_DEFAULT));
    if (scores)
        zmq_setsockopt (zsock_resolve (sub), ZMQ_SUBSCRIBE, "", 0);
    else {
        uint8_t topic [2] = {LW_TOPIC_ALERTS >> 8, LW_TOPIC_ALERTS & 0xFF};
        zmq_setsockopt (zsock_resolve (sub), ZMQ_SUBSCRIBE, topic,
                        sizeof (topic));
    }
    if (zsock_connect (sub, "%s", ctl->node.monitor) == -1) {
        fprintf (stderr, "lwctl: cannot connect to %s: %s\n",
                 ctl->node.monitor, zmq_strerror (zmq_errno ()));
        goto cleanup;
    }
    poller = zpoller_new (sub, NULL);
    assert (poller);
    long printed = 0;
    rc = LW_CTL_OK;
    while (count == 0 || printed < count) {
        if (zpoller_wait (poller, TAIL_POLL) != sub) {
            if (zpoller_terminated (poller) || zsys_interrupted)
                break;                  //  Ctrl-C: a normal end
            continue;
        }
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            break;
        uint16_t partition;
        zframe_t *body = zmsg_last (msg);
        //  The monitor is a lossy copy: skip what we cannot read
        if (lw_msg_envelope (msg, &partition) == 0
            && lw_msg_prescan (zframe_data (body), zframe_size (body)) == 0) {
            int type = lw_msg_type (zframe_data (body), zframe_size (body));
            lw_alert_t alert;
            if (type == LW_MSG_ALERT && alerts
                && lw_msg_alert_decode (zframe_data (body), zframe_size (body),
                                        &alert) == 0) {
                s_tail_alert (&alert, ctl->json);
                printed++;
            }
            else
            if (type == LW_MSG_SCORES && scores
                && lw_batch_decode (batch, zframe_data (body),
                                    zframe_size (body)) == 0) {
                size_t items = lw_batch_count (batch);
                for (size_t index = 0; index < items; index++) {
                    if (count && printed >= count)
                        break;
                    s_tail_score (lw_batch_item (batch, index), ctl->json);
                    printed++;
                }
            }
            fflush (stdout);
        }
        zmsg_destroy (&msg);
    }
cleanup:
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    lw_batch_destroy (&batch);
    return rc;
}
