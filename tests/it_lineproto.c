/*  =========================================================================
    it_lineproto.c - lw-ingest's line protocol source over real sockets

    Copyright (c) the linewatch authors. MIT license.

    Starts lw-broker, lw-features, lw-scorer and lw-ingest with two line
    protocol sources on free 127.0.0.1 ports ("lp": TCP + UDP, ns, the
    default key template; "lps": TCP, precision s, template
    {tag:line}/{measurement}/{field}, one connection at most) and checks,
    with a subscriber of the broker's readings XPUB (what lw-features
    gets):
      - every escaping rule, every value type, CRLF, comments, blank
        lines, a line split across two TCP writes, a missing timestamp
        (reception time), a UDP datagram of several lines;
      - each bad line is counted drop_lineproto_<reason> and the lines
        around it still arrive; an overlong line is skipped to its
        newline; string fields are counted, not readings;
      - precision s; a connection beyond `connections` is refused and
        counted.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_testsource.h"
#include "lw_util.h"

#include <signal.h>

#define START_DEADLINE 20000 //  ms for the node to come up (ASan)
#define COUNT_DEADLINE 5000  //  ms for a counter to be reported
#define T0 1700000000000000000LL

//  --------------------------------------------------------------------------
//  Tries one TCP connection to 127.0.0.1:port; true (and the fd) if made

typedef struct {
    int port; //  Where to connect
    int fd;   //  The connected socket
} connection_t;

static bool
s_try_connect (void *arg)
{
    connection_t *connection = (connection_t *)arg;
    connection->fd = lw_test_tcp_connect (connection->port);
    return connection->fd != -1;
}

//  --------------------------------------------------------------------------
//  Connects to 127.0.0.1:port (TCP), retrying until the deadline

static int
s_connect (int port, int timeout_ms)
{
    connection_t connection = {port, -1};
    assert (lw_test_wait (s_try_connect, &connection, timeout_ms));
    return connection.fd;
}

//  --------------------------------------------------------------------------
//  Writes all of text

static void
s_send (int fd, const char *text)
{
    size_t size = strlen (text);
    while (size) {
        ssize_t sent = write (fd, text, size);
        assert (sent > 0);
        text += sent;
        size -= (size_t)sent;
    }
}

int
main (void)
{
    zsys_init ();
    int tcp_port = lw_test_free_port (SOCK_STREAM);
    int udp_port = lw_test_free_port (SOCK_DGRAM);
    int seconds_port = lw_test_free_port (SOCK_STREAM);
    while (seconds_port == tcp_port)
        seconds_port = lw_test_free_port (SOCK_STREAM);
    const char *overrides[] = {"common/partitions=16", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    zconfig_t *config = lw_testnode_zconfig (node);
    //  The default simulator becomes source "lp"; a second source "lps"
    zconfig_t *sim = zconfig_locate (config, "ingest/source/sim");
    assert (sim);
    zconfig_set_name (sim, "lp");
    char value[64];
    zconfig_put (config, "ingest/source/lp/type", "lineproto");
    snprintf (value, sizeof (value), "127.0.0.1:%d", tcp_port);
    zconfig_put (config, "ingest/source/lp/tcp", value);
    snprintf (value, sizeof (value), "127.0.0.1:%d", udp_port);
    zconfig_put (config, "ingest/source/lp/udp", value);
    zconfig_put (config, "ingest/source/lp/line_max", "256");
    zconfig_put (config, "ingest/source/lps/type", "lineproto");
    snprintf (value, sizeof (value), "127.0.0.1:%d", seconds_port);
    zconfig_put (config, "ingest/source/lps/tcp", value);
    zconfig_put (config, "ingest/source/lps/precision", "s");
    zconfig_put (config, "ingest/source/lps/key",
                 "{tag:line}/{measurement}/{field}");
    zconfig_put (config, "ingest/source/lps/connections", "1");
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

    //  TCP: good lines around bad ones, in one stream
    int fd = s_connect (tcp_port, START_DEADLINE);
    char overlong[400];
    memset (overlong, '1', sizeof (overlong));
    memcpy (overlong, "cpu,host=gw1 f=", 15);
    overlong[sizeof (overlong) - 2] = '\n';
    overlong[sizeof (overlong) - 1] = 0;
    int64_t before = lw_time_now ();
    s_send (fd, "cpu,host=gw1 usage=12.5,count=3i,ok=t,big=7u,"
                "label=\"x \\\"y\\\" z\" 1700000000000000001\n"
                "# a comment, with=stuff\n"
                "\n"
                "my\\ meas,host=gw\\,2,x\\=y=z fi\\=eld\\ 1=-1.5e3,"
                "off=FALSE 1700000000000000002\n"
                "bad,host=gw1 f=nan 1700000000000000002\n"
                "bad,host gw1 f=1\n"
                "nohost,region=eu f=1\n"
                "cpu,host=gw1 f=1 12x\n"
                "cpu,host=gw1\n"
                "cpu,host=gw1 s=\"open\n"
                "cpu,host=gw1 =1\n");
    s_send (fd, overlong);
    s_send (fd, "cpu,host=gw1 after=1 1700000000000000003\n"
                "cpu,host=gw1 now=5\n"
                "cpu,host=gw1 spl");
    //  The rest of the split line comes in a later segment
    lw_test_expect_t first[] = {
        {"gw1/cpu_usage", T0 + 1, 12.5, false, 0},
        {"gw1/cpu_count", T0 + 1, 3, false, 0},
        {"gw1/cpu_ok", T0 + 1, 1, false, 0},
        {"gw1/cpu_big", T0 + 1, 7, false, 0},
        {"gw,2/my meas_fi=eld 1", T0 + 2, -1500, false, 0},
        {"gw,2/my meas_off", T0 + 2, 0, false, 0},
        {"gw1/cpu_after", T0 + 3, 1, false, 0},
        {"gw1/cpu_now", 0, 5, false, 0}};
    assert (lw_test_collect (sub, first, sizeof (first) / sizeof (first[0]),
                             START_DEADLINE));
    int64_t after = lw_time_now ();
    assert (first[7].got >= before && first[7].got <= after);
    s_send (fd, "it=42 1700000000000000004\r\n");
    lw_test_expect_t split[] = {{"gw1/cpu_split", T0 + 4, 42, false, 0}};
    assert (lw_test_collect (sub, split, 1, START_DEADLINE));
    lw_test_expect_counter (node, "drop_lineproto_bad_value", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_lineproto_bad_tag", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_lineproto_missing_tag", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_lineproto_bad_timestamp", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_lineproto_no_fields", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_lineproto_bad_string", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_lineproto_bad_field", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "drop_lineproto_too_long", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "lineproto_strings", 1, false,
                            COUNT_DEADLINE);
    lw_test_expect_counter (node, "lineproto_connections", 1, false,
                            COUNT_DEADLINE);

    //  UDP: one datagram, several lines, the last without its newline
    int udp = socket (AF_INET, SOCK_DGRAM, 0);
    assert (udp != -1);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t)udp_port)};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    const char *datagram = "udp,host=gw3 a=1 1700000000000000005\n"
                           "udp,host=gw3 b=bad 1700000000000000005\n"
                           "udp,host=gw3 c=3i 1700000000000000005";
    assert (sendto (udp, datagram, strlen (datagram), 0,
                    (struct sockaddr *)&address,
                    sizeof (address)) == (ssize_t)strlen (datagram));
    lw_test_expect_t udp_expects[] = {{"gw3/udp_a", T0 + 5, 1, false, 0},
                                      {"gw3/udp_c", T0 + 5, 3, false, 0}};
    assert (lw_test_collect (sub, udp_expects, 2, START_DEADLINE));
    lw_test_expect_counter (node, "drop_lineproto_bad_value", 2, false,
                            COUNT_DEADLINE);

    //  Precision s, a template with levels; one connection at most
    int seconds = s_connect (seconds_port, START_DEADLINE);
    s_send (seconds, "m,line=L1 v=2 1700000000\n");
    lw_test_expect_t seconds_expects[] = {{"L1/m/v", T0, 2, false, 0}};
    assert (lw_test_collect (sub, seconds_expects, 1, START_DEADLINE));
    int refused = s_connect (seconds_port, START_DEADLINE);
    lw_test_expect_counter (node, "drop_lineproto_refused", 1, false,
                            COUNT_DEADLINE);
    char byte;
    assert (read (refused, &byte, 1) == 0); //  Closed by lw-ingest
    close (refused);

    //  Still alive, nothing else rejected
    assert (lw_testnode_alive (node, ingest));
    lw_test_expect_counter (node, "drop_bad_key", 0, false, COUNT_DEADLINE);
    close (seconds);
    close (udp);
    close (fd);
    lw_test_expect_counter (node, "lineproto_connections", 0, true,
                            COUNT_DEADLINE);
    zsock_destroy (&sub);
    assert (lw_testnode_kill (node, ingest, SIGTERM) == 0);
    lw_testnode_kill (node, scorer, SIGTERM);
    lw_testnode_kill (node, features, SIGTERM);
    lw_testnode_kill (node, broker, SIGTERM);
    lw_testnode_destroy (&node);
    printf ("it_lineproto: OK\n");
    return 0;
}
