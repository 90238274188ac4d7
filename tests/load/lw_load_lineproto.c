/*  =========================================================================
    lw_load_lineproto.c - throughput of line protocol over TCP into lw-ingest

    Copyright (c) the linewatch authors. MIT license.

    Not a test: a load generator for the figures in the MQTT/line protocol
    note. Starts a private node (lw-broker, lw-features, lw-scorer,
    lw-ingest with one line protocol source on a free 127.0.0.1 port),
    waits until a probe line reaches lw-features, then writes N readings
    as fast as TCP takes them over C connections (lines of F fields,
    S distinct sensors, timestamps increasing per sensor) and polls the
    node's counters until lw-features has counted them all. Prints
    readings/s arriving at lw-features and `lost` (sequence gaps of every
    process + every drop_* counter), as `lwctl bench` defines it.

    Usage: lw_load_lineproto [readings] [sensors] [fields] [connections]
    Needs LW_BIN_DIR (the built executables) and LW_CONFIG_DIR.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_testsource.h"
#include "lw_util.h"

#include <signal.h>
#include <unistd.h>

#define CHUNK (256 * 1024) //  Bytes generated per write

//  Totals over the node's members at one moment
typedef struct {
    long long features_in; //  lw-features "in"
    long long lost;        //  gaps + drop_* of every member
} totals_t;

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
            if (streq (name, "gaps") || strncmp (name, "drop_", 5) == 0)
                totals->lost += value;
        }
    zlistx_destroy (&members);
    return true;
}

//  What the waits below look at
typedef struct {
    lw_testnode_t *node; //  The node
    int port;            //  Where to connect
    int fd;              //  The connection made
    totals_t totals;     //  Largest counters seen
    long long expect;    //  features "in" to reach
    long long last;      //  features "in" last seen
    int64_t last_change; //  When it last grew (zclock_usecs)
} wait_t;

//  --------------------------------------------------------------------------
//  True when a TCP connection to the source is made

static bool
s_connected (void *arg)
{
    wait_t *wait = (wait_t *)arg;
    wait->fd = lw_test_tcp_connect (wait->port);
    return wait->fd != -1;
}

//  --------------------------------------------------------------------------
//  Polls the counters (keeping the largest: a member whose heartbeat is
//  late under load can be missing from one answer). True when lw-features
//  has counted `expect`, or nothing moved for 10 s.

static bool
s_settled (void *arg)
{
    wait_t *wait = (wait_t *)arg;
    totals_t now;
    if (s_totals (wait->node, &now)) {
        if (now.lost > wait->totals.lost)
            wait->totals.lost = now.lost;
        if (now.features_in > wait->last) {
            wait->last = now.features_in;
            wait->totals.features_in = now.features_in;
            wait->last_change = zclock_usecs ();
        }
    }
    return wait->last >= wait->expect ||
           zclock_usecs () - wait->last_change > 10000000;
}

//  --------------------------------------------------------------------------
//  Writes all of a buffer

static void
s_write (int fd, const char *data, size_t size)
{
    while (size) {
        ssize_t sent = write (fd, data, size);
        assert (sent > 0);
        data += sent;
        size -= (size_t)sent;
    }
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

//  --------------------------------------------------------------------------
//  Appends a decimal number; returns the new end

static char *
s_number (char *out, uint64_t value)
{
    char digits[24];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (count)
        *out++ = digits[--count];
    return out;
}

int
main (int argc, char *argv[])
{
    long readings = argc > 1 ? strtol (argv[1], NULL, 10) : 5000000;
    long sensors = argc > 2 ? strtol (argv[2], NULL, 10) : 1000;
    long fields = argc > 3 ? strtol (argv[3], NULL, 10) : 1;
    long connections = argc > 4 ? strtol (argv[4], NULL, 10) : 1;
    assert (readings > 0 && sensors > 0 && fields > 0 && fields <= 100);
    assert (connections > 0 && connections <= 64);
    assert (sensors % fields == 0);
    zsys_init ();
    int port = lw_test_free_port (SOCK_STREAM);
    const char *overrides[] = {"common/heartbeat=100", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    zconfig_t *config = lw_testnode_zconfig (node);
    zconfig_t *sim = zconfig_locate (config, "ingest/source/sim");
    assert (sim);
    zconfig_set_name (sim, "lp");
    char value[64];
    zconfig_put (config, "ingest/source/lp/type", "lineproto");
    snprintf (value, sizeof (value), "127.0.0.1:%d", port);
    zconfig_put (config, "ingest/source/lp/tcp", value);
    assert (zconfig_save (config, lw_testnode_config (node)) == 0);
    lw_testnode_spawn (node, "lw-broker", NULL);
    lw_testnode_spawn (node, "lw-features", NULL);
    lw_testnode_spawn (node, "lw-scorer", NULL);
    pid_t ingest = lw_testnode_spawn (node, "lw-ingest", NULL);

    //  Connections, then a probe through to lw-features
    int fds[64];
    wait_t wait = {node, port, -1, {0, 0}, 1, -1, zclock_usecs ()};
    for (long index = 0; index < connections; index++) {
        assert (lw_test_wait (s_connected, &wait, 30000));
        fds[index] = wait.fd;
    }
    const char *probe = "probe,host=load v=1\n";
    s_write (fds[0], probe, strlen (probe));
    assert (lw_test_wait (s_settled, &wait, 30000) && wait.last >= 1);
    totals_t totals = wait.totals;
    long long base = totals.features_in;
    long long lost_base = totals.lost;
    double ingest_cpu = s_cpu_seconds (ingest);

    //  The load: line i carries `fields` fields of machine (i mod M)
    long machines = sensors / fields;
    long lines = readings / fields;
    char *chunk = (char *)malloc (CHUNK + 4096);
    assert (chunk);
    uint64_t start_ts = 1700000000000000000ULL;
    int64_t started = zclock_usecs ();
    char *end = chunk;
    long connection = 0;
    for (long line = 0; line < lines; line++) {
        long machine = line % machines;
        uint64_t round = (uint64_t)(line / machines);
        memcpy (end, "m,host=h", 8);
        end = s_number (end + 8, (uint64_t)machine);
        *end++ = ' ';
        for (long field = 0; field < fields; field++) {
            if (field)
                *end++ = ',';
            *end++ = 'f';
            end = s_number (end, (uint64_t)field);
            *end++ = '=';
            end = s_number (end, (round * 7 + (uint64_t)field) % 1000);
            *end++ = '.';
            *end++ = '5';
        }
        *end++ = ' ';
        end = s_number (end, start_ts + round * 1000000ULL);
        *end++ = '\n';
        if (end - chunk >= CHUNK) {
            s_write (fds[connection], chunk, (size_t)(end - chunk));
            connection = (connection + 1) % connections;
            end = chunk;
        }
    }
    s_write (fds[connection], chunk, (size_t)(end - chunk));
    int64_t sent = zclock_usecs ();
    wait.expect = base + lines * fields;
    wait.last_change = zclock_usecs ();
    assert (lw_test_wait (s_settled, &wait, 3600 * 1000));
    totals = wait.totals;
    long long last = wait.last;
    int64_t last_change = wait.last_change;
    ingest_cpu = s_cpu_seconds (ingest) - ingest_cpu;
    double seconds = (double)(last_change - started) / 1e6;
    long long arrived = last - base;
    printf ("lineproto tcp: readings=%ld sensors=%ld fields_per_line=%ld "
            "connections=%ld\n",
            lines * fields, sensors, fields, connections);
    printf ("  sent in %.2f s, arrived at lw-features: %lld in %.2f s = "
            "%.0f readings/s, lost=%lld\n",
            (double)(sent - started) / 1e6, arrived, seconds,
            (double)arrived / seconds, totals.lost - lost_base);
    printf ("  lw-ingest CPU %.2f s = %.0f readings per ingest CPU second\n",
            ingest_cpu, (double)arrived / ingest_cpu);
    for (long index = 0; index < connections; index++)
        close (fds[index]);
    free (chunk);
    lw_testnode_destroy (&node);
    return arrived == lines * fields && totals.lost == lost_base ? 0 : 1;
}
