/*  =========================================================================
    it_diskfull.c - lw-feedback with its store on a full disk

    Copyright (c) the linewatch authors. MIT license.

    Needs root: the test enters its own mount namespace (unshare -m) and
    mounts a small tmpfs for lw-feedback's LMDB store. Without root it
    prints why and exits 77 (ctest: skipped). Then, with lw-broker and
    lw-feedback running and a fake scorer publishing alert episodes:
      - a few alerts are stored and listed;
      - the tmpfs is filled with a file; new episodes are published until
        a commit fails: lw-feedback logs a clear error and counts
        store_error, keeps running and answering;
      - nothing committed is lost: every alert it counted as created is
        still listed, the first ones included;
      - after the file is removed, a new episode is stored and listed.
    =========================================================================
*/

#include "lw_msg.h"
#include "lw_testkit.h"
#include "lw_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#define START_DEADLINE 20000    //  ms for a process to come up (ASan)
#define LWCTL_DEADLINE 10000    //  ms one lwctl run may take
#define FULL_DEADLINE 60000     //  ms to reach a failed commit
#define SCORER_ID 99            //  Our fake scorer's publisher id
#define TMPFS_SIZE "size=2m"    //  The store's file system
#define EPISODES_MAX 9000       //  Bound on episodes published while full
#define SKIPPED 77              //  ctest SKIP_RETURN_CODE

typedef struct {
    lw_testnode_t *node;
    zsock_t *xpub;              //  Fake scorer on the events stream
    uint64_t local_seq;         //  Episode to (re)publish while waiting
    char *output;               //  Last lwctl output
} probe_t;

//  --------------------------------------------------------------------------
//  Publishes the OPEN message of episode local_seq

static void
s_publish (zsock_t *xpub, uint64_t local_seq)
{
    lw_alert_t alert;
    memset (&alert, 0, sizeof (alert));
    alert.scorer = SCORER_ID;
    alert.local_seq = local_seq;
    alert.state = LW_ALERT_OPEN;
    snprintf (alert.sensor, sizeof (alert.sensor), "full/m%d/s",
              (int) local_seq);
    alert.opened = 1767225600LL * LW_NS_PER_SEC;
    alert.updated = alert.opened;
    alert.score = 0.9;
    alert.ndetectors = 1;
    snprintf (alert.detectors [0], sizeof (alert.detectors [0]), "zscore");
    zframe_t *body = lw_msg_alert_encode (&alert);
    assert (body);
    assert (lw_msg_send (zsock_resolve (xpub), LW_TOPIC_ALERTS, &body, false)
            == 0);
}

//  --------------------------------------------------------------------------
//  Drains the subscription messages the broker sends our XPUB

static void
s_drain (zsock_t *xpub)
{
    while (zsock_events (xpub) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (xpub);
        zframe_destroy (&frame);
    }
}

//  --------------------------------------------------------------------------
//  Runs `lwctl alerts --json --limit 10000`; returns its exit status

static int
s_list (probe_t *probe)
{
    zstr_free (&probe->output);
    return lw_testnode_lwctl (probe->node, LWCTL_DEADLINE, &probe->output,
                              "alerts", "--json", "--limit", "10000", NULL);
}

//  --------------------------------------------------------------------------
//  Condition: publishes the probe's episode, true once it is listed

static bool
s_published_and_listed (void *arg)
{
    probe_t *probe = (probe_t *) arg;
    s_drain (probe->xpub);
    s_publish (probe->xpub, probe->local_seq);
    char sensor [64];
    snprintf (sensor, sizeof (sensor), "\"sensor\":\"full/m%d/s\"",
              (int) probe->local_seq);
    return s_list (probe) == 0 && probe->output
           && strstr (probe->output, sensor);
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
//  lw-feedback's counter `name` (its STATS operation); -1 when it does
//  not answer

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
    if (!reply)
        return -1;
    assert (zmsg_size (reply) == 2);
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
//  Fills the file system of `dir` with one file; returns the bytes written

static size_t
s_fill (const char *path)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert (fd >= 0);
    char block [4096];
    memset (block, 0xAA, sizeof (block));
    size_t total = 0;
    while (true) {
        ssize_t wrote = write (fd, block, sizeof (block));
        if (wrote <= 0) {
            assert (wrote == 0 || errno == ENOSPC);
            break;
        }
        total += (size_t) wrote;
    }
    close (fd);
    return total;
}

//  --------------------------------------------------------------------------
//  True when the file contains text

static bool
s_file_has (const char *path, const char *text)
{
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk)
        return false;
    zchunk_extend (chunk, "", 1);
    bool found = strstr ((char *) zchunk_data (chunk), text) != NULL;
    zchunk_destroy (&chunk);
    return found;
}

int
main (void)
{
    printf ("it_diskfull: lw-feedback with its store on a full tmpfs\n");
    if (geteuid () != 0) {
        printf ("it_diskfull: SKIPPED: needs root (unshare -m, mount tmpfs)\n");
        return SKIPPED;
    }
    if (unshare (CLONE_NEWNS) != 0
        || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf ("it_diskfull: SKIPPED: cannot make a mount namespace: %s\n",
                strerror (errno));
        return SKIPPED;
    }
    char mount_dir [] = "/tmp/lw-diskfull-XXXXXX";
    assert (mkdtemp (mount_dir));
    if (mount ("tmpfs", mount_dir, "tmpfs", 0, TMPFS_SIZE) != 0) {
        printf ("it_diskfull: SKIPPED: cannot mount tmpfs: %s\n",
                strerror (errno));
        rmdir (mount_dir);
        return SKIPPED;
    }
    char store_setting [128], filler [128];
    snprintf (store_setting, sizeof (store_setting),
              "feedback/store/path=%s/store", mount_dir);
    snprintf (filler, sizeof (filler), "%s/filler", mount_dir);
    const char *overrides [] = {store_setting,
                                "feedback/store/mapsize=1048576", NULL};
    lw_testnode_t *node = lw_testnode_new (overrides);
    const lw_node_t *settings = lw_testnode_node (node);
    lw_testnode_spawn (node, "lw-broker", NULL);
    pid_t feedback = lw_testnode_spawn (node, "lw-feedback", NULL);

    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    assert (xpub);
    zsock_set_linger (xpub, 0);
    zsock_set_xpub_nodrop (xpub, 1);
    assert (zsock_connect (xpub, "%s", settings->events_in) == 0);
    probe_t probe = {node, xpub, 0, NULL};

    //  A few alerts stored while there is room
    for (probe.local_seq = 1; probe.local_seq <= 3; probe.local_seq++)
        assert (lw_test_wait (s_published_and_listed, &probe,
                              START_DEADLINE));
    assert (s_count (probe.output) == 3);

    //  Disk full: publish new episodes until a commit fails
    size_t filled = s_fill (filler);
    printf ("it_diskfull: filled the tmpfs with %zu bytes\n", filled);
    uint64_t local_seq = 100;
    int64_t deadline = zclock_mono () + FULL_DEADLINE;
    long long errors = 0;
    while (errors <= 0) {
        assert (zclock_mono () < deadline);
        assert (local_seq < 100 + EPISODES_MAX);
        s_drain (xpub);
        for (int count = 0; count < 200; count++)
            s_publish (xpub, local_seq++);
        errors = s_feedback_counter (node, "store_error");
        assert (errors >= 0);   //  Still answering
    }
    long long created = s_feedback_counter (node, "alerts");
    printf ("it_diskfull: store_error=%lld after %d episodes, alerts "
            "created=%lld\n", errors, (int) (local_seq - 100), created);
    assert (lw_testnode_alive (node, feedback));

    //  A clear error in its log
    char log_path [512];
    snprintf (log_path, sizeof (log_path), "%s/lw-feedback-%d.log",
              lw_testnode_home (node), (int) feedback);
    assert (s_file_has (log_path, "could not store alerts"));
    assert (s_file_has (log_path, "No space left on device"));
    if (getenv ("LW_TEST_VERBOSE")) {
        char command [600];
        snprintf (command, sizeof (command), "grep -m 3 -E 'store|feedback: "
                  "could' %s", log_path);
        if (system (command)) {}
    }

    //  Nothing committed is lost: every created alert is listed
    assert (s_list (&probe) == 0);
    long long listed = (long long) s_count (probe.output);
    printf ("it_diskfull: listed=%lld created=%lld\n", listed, created);
    assert (listed >= created && created >= 3);
    assert (strstr (probe.output, "\"sensor\":\"full/m1/s\""));
    assert (strstr (probe.output, "\"sensor\":\"full/m3/s\""));

    //  Space returns: new alerts are stored again
    assert (unlink (filler) == 0);
    probe.local_seq = 50000;
    assert (lw_test_wait (s_published_and_listed, &probe, START_DEADLINE));
    assert ((long long) s_count (probe.output) > listed);
    assert (lw_testnode_alive (node, feedback));
    printf ("it_diskfull: recovered, listed=%zu\n", s_count (probe.output));

    zstr_free (&probe.output);
    zsock_destroy (&xpub);
    lw_testnode_destroy (&node);
    assert (umount (mount_dir) == 0);
    assert (rmdir (mount_dir) == 0);
    printf ("it_diskfull: OK\n");
    return 0;
}
