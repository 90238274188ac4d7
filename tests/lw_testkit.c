/*  =========================================================================
    lw_testkit.c - helpers for integration tests that run real processes

    Copyright (c) the linewatch authors. MIT license.

    A test node is a short temporary home under /tmp (ipc socket paths must
    fit 107 bytes) holding the config the processes read. Children are
    started with fork/execv, each in its own process group with its output
    in <home>/<exe>-<pid>.log, and die with the test even when it aborts
    (PR_SET_PDEATHSIG). Destroying the node stops them (SIGTERM, then
    SIGKILL after 2 s), prints their logs when LW_TEST_VERBOSE is set, and
    removes the home. Test code may assert: a failed assertion is a failed
    test, and the children die with it.
    =========================================================================
*/

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lw_msg.h"
#include "lw_testkit.h"

//  Most processes one node spawns over its life, and most args of one
#define LW_TEST_CHILDREN_MAX 64
#define LW_TEST_ARGS_MAX 32
//  How long destroy lets children stop after SIGTERM before SIGKILL
#define LW_TEST_TERM_MS 2000
//  Bounded waits of lw_testnode_kill: SIGTERM lets a process (an ASan
//  build of lwctl up stopping its children) shut down cleanly
#define LW_TEST_KILL_TERM_MS 15000
#define LW_TEST_KILL_KILL_MS 5000
//  Interval of the condition polls
#define LW_TEST_POLL_MS 5
//  Most lwctl output kept
#define LW_TEST_OUTPUT_MAX (16 * 1024 * 1024)

typedef struct {
    pid_t pid;    //  Child process id
    char exe[64]; //  Executable name, for its log file
    bool reaped;  //  waitpid has collected it
    int status;   //  Its wait status once reaped
} s_child_t;

struct _lw_testnode_t {
    char home[64];         //  Temporary node home
    char config_path[128]; //  <home>/linewatch.cfg
    zconfig_t *config;     //  The config written there
    lw_node_t node;        //  Its node settings (endpoints resolved)
    s_child_t children[LW_TEST_CHILDREN_MAX]; //  Processes spawned
    size_t nchildren;                         //  How many
};

//  --------------------------------------------------------------------------
//  Milliseconds on the monotonic clock

static int64_t
s_now_ms (void)
{
    return zclock_mono ();
}

//  --------------------------------------------------------------------------
//  Creates a node home under /tmp with the default config and the given
//  NULL-terminated overrides. Asserts on failure.

lw_testnode_t *
lw_testnode_new (const char **overrides)
{
    zsys_init ();
    //  A child that dies while we write to its pipe must not kill the test
    signal (SIGPIPE, SIG_IGN);
    lw_testnode_t *self = (lw_testnode_t *)zmalloc (sizeof (lw_testnode_t));
    assert (self);
    strcpy (self->home, "/tmp/lwtest-XXXXXX");
    assert (mkdtemp (self->home));
    snprintf (self->config_path, sizeof (self->config_path), "%s/linewatch.cfg",
              self->home);

    char source[LW_PATH_MAX];
    const char *config_dir = getenv ("LW_CONFIG_DIR");
    if (config_dir)
        snprintf (source, sizeof (source), "%s/linewatch.cfg", config_dir);
    else
        snprintf (source, sizeof (source), "%s", LW_DEFAULT_CONFIG);
    self->config = lw_cfg_load (source);
    assert (self->config);
    for (size_t index = 0; overrides && overrides[index]; index++)
        assert (lw_cfg_override (self->config, overrides[index]) == 0);
    assert (zconfig_save (self->config, self->config_path) == 0);
    assert (lw_node_load (self->config, self->home, &self->node) == 0);
    return self;
}

//  --------------------------------------------------------------------------
//  Finds a child record by pid, or NULL

static s_child_t *
s_child (lw_testnode_t *self, pid_t pid)
{
    for (size_t index = 0; index < self->nchildren; index++)
        if (self->children[index].pid == pid)
            return &self->children[index];
    return NULL;
}

//  --------------------------------------------------------------------------
//  Collects a child if it has exited (without blocking). True when it is
//  reaped, now or before.

static bool
s_reap (s_child_t *child)
{
    if (child->reaped)
        return true;
    int status;
    pid_t rc = waitpid (child->pid, &status, WNOHANG);
    if (rc == child->pid) {
        child->reaped = true;
        child->status = status;
    }
    else if (rc < 0 && errno == ECHILD) {
        child->reaped = true; //  Collected elsewhere
        child->status = -1;
    }
    return child->reaped;
}

//  --------------------------------------------------------------------------
//  Waits up to timeout_ms for a child to exit. True when it is reaped.

static bool
s_reap_within (s_child_t *child, int timeout_ms)
{
    int64_t deadline = s_now_ms () + timeout_ms;
    while (!s_reap (child)) {
        if (s_now_ms () >= deadline)
            return false;
        zclock_sleep (LW_TEST_POLL_MS);
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Removes one path (nftw callback, depth first)

static int
s_remove (const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    (void)info;
    (void)flag;
    (void)walk;
    if (remove (path) != 0)
        fprintf (stderr, "lw_testkit: cannot remove %s: %s\n", path,
                 strerror (errno));
    return 0;
}

//  --------------------------------------------------------------------------
//  Copies a child's log to stderr

static void
s_print_log (lw_testnode_t *self, s_child_t *child)
{
    char path[256];
    snprintf (path, sizeof (path), "%s/%s-%d.log", self->home, child->exe,
              (int)child->pid);
    FILE *log = fopen (path, "r");
    if (!log)
        return;
    fprintf (stderr, "---- %s (pid %d) ----\n", child->exe, (int)child->pid);
    char line[1024];
    while (fgets (line, sizeof (line), log))
        fputs (line, stderr);
    fclose (log);
}

//  --------------------------------------------------------------------------
//  Stops every child still running (SIGTERM to its process group, then
//  SIGKILL after LW_TEST_TERM_MS), prints logs if LW_TEST_VERBOSE is set,
//  removes the home and frees the node.

void
lw_testnode_destroy (lw_testnode_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_testnode_t *self = *self_p;
        //  Signal the whole group: lwctl up's own children are in it
        for (size_t index = 0; index < self->nchildren; index++) {
            s_child_t *child = &self->children[index];
            if (!s_reap (child)) {
                kill (-child->pid, SIGTERM);
                kill (child->pid, SIGTERM);
            }
        }
        int64_t deadline = s_now_ms () + LW_TEST_TERM_MS;
        for (size_t index = 0; index < self->nchildren; index++) {
            s_child_t *child = &self->children[index];
            int64_t left = deadline - s_now_ms ();
            if (!s_reap_within (child, left > 0 ? (int)left : 0)) {
                fprintf (stderr,
                         "lw_testkit: %s pid %d ignored SIGTERM, "
                         "killing it\n",
                         child->exe, (int)child->pid);
                kill (-child->pid, SIGKILL);
                kill (child->pid, SIGKILL);
                int status;
                if (waitpid (child->pid, &status, 0) == child->pid) {
                    child->reaped = true;
                    child->status = status;
                }
            }
            else
                kill (-child->pid, SIGKILL); //  Leftover grandchildren
        }
        if (getenv ("LW_TEST_VERBOSE"))
            for (size_t index = 0; index < self->nchildren; index++)
                s_print_log (self, &self->children[index]);
        nftw (self->home, s_remove, 16, FTW_DEPTH | FTW_PHYS);
        zconfig_destroy (&self->config);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Accessors

const char *
lw_testnode_home (lw_testnode_t *self)
{
    assert (self);
    return self->home;
}

const char *
lw_testnode_config (lw_testnode_t *self)
{
    assert (self);
    return self->config_path;
}

zconfig_t *
lw_testnode_zconfig (lw_testnode_t *self)
{
    assert (self);
    return self->config;
}

const lw_node_t *
lw_testnode_node (lw_testnode_t *self)
{
    assert (self);
    return &self->node;
}

//  --------------------------------------------------------------------------
//  Builds argv for $LW_BIN_DIR/<exe> -c CONFIG --home HOME extra...
//  into argv (LW_TEST_ARGS_MAX + 1 entries); path receives the binary.

static void
s_build_argv (lw_testnode_t *self, const char *exe, char *path,
              size_t path_size, const char **argv, va_list extra)
{
    const char *bin_dir = getenv ("LW_BIN_DIR");
    if (!bin_dir) {
        fprintf (stderr, "lw_testkit: LW_BIN_DIR is not set\n");
        assert (bin_dir);
    }
    assert ((size_t)snprintf (path, path_size, "%s/%s", bin_dir, exe) <
            path_size);
    if (access (path, X_OK) != 0) {
        fprintf (stderr, "lw_testkit: cannot run %s: %s\n", path,
                 strerror (errno));
        assert (false);
    }
    size_t argc = 0;
    argv[argc++] = path;
    argv[argc++] = "-c";
    argv[argc++] = self->config_path;
    argv[argc++] = "--home";
    argv[argc++] = self->home;
    const char *arg;
    while ((arg = va_arg (extra, const char *))) {
        assert (argc < LW_TEST_ARGS_MAX);
        argv[argc++] = arg;
    }
    argv[argc] = NULL;
}

//  --------------------------------------------------------------------------
//  Forks and execs argv with stdout on stdout_fd and stderr on stderr_fd
//  (-1 = inherit). The child gets its own process group and dies with the
//  calling thread (PR_SET_PDEATHSIG), so call this from the test's main
//  thread. Only async-signal-safe calls run between fork and exec.

static pid_t
s_fork_exec (const char **argv, int stdout_fd, int stderr_fd, int close_fd)
{
    pid_t parent = getpid ();
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
            _exit (126);
        setpgid (0, 0);
        if (close_fd >= 0)
            close (close_fd);
        if (stdout_fd >= 0 && dup2 (stdout_fd, STDOUT_FILENO) < 0)
            _exit (126);
        if (stderr_fd >= 0 && dup2 (stderr_fd, STDERR_FILENO) < 0)
            _exit (126);
        execv (argv[0], (char **)argv);
        static const char message[] = "lw_testkit: execv failed\n";
        if (write (STDERR_FILENO, message, sizeof (message) - 1) < 0)
            _exit (127);
        _exit (127);
    }
    return pid;
}

//  --------------------------------------------------------------------------
//  Spawns $LW_BIN_DIR/<exe> with -c/--home and the extra NULL-terminated
//  args; stdout/stderr go to <home>/<exe>-<pid>.log. Returns the pid.

pid_t
lw_testnode_spawn (lw_testnode_t *self, const char *exe, ...)
{
    assert (self);
    assert (exe);
    assert (strlen (exe) < sizeof (self->children[0].exe));
    assert (self->nchildren < LW_TEST_CHILDREN_MAX);
    char path[LW_PATH_MAX];
    const char *argv[LW_TEST_ARGS_MAX + 1];
    va_list extra;
    va_start (extra, exe);
    s_build_argv (self, exe, path, sizeof (path), argv, extra);
    va_end (extra);

    //  The log is opened before fork (the child must not format strings)
    //  and renamed to carry the pid once it is known
    char spawning[256], log[256];
    snprintf (spawning, sizeof (spawning), "%s/%s-spawning.log", self->home,
              exe);
    int log_fd =
        open (spawning, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert (log_fd >= 0);
    pid_t pid = s_fork_exec (argv, log_fd, log_fd, -1);
    close (log_fd);
    snprintf (log, sizeof (log), "%s/%s-%d.log", self->home, exe, (int)pid);
    assert (rename (spawning, log) == 0);

    s_child_t *child = &self->children[self->nchildren++];
    child->pid = pid;
    snprintf (child->exe, sizeof (child->exe), "%s", exe);
    child->reaped = false;
    return pid;
}

//  --------------------------------------------------------------------------
//  Sends a signal and, for SIGKILL/SIGTERM, reaps the child (bounded
//  wait). Returns the exit status as waitpid gives it, or -1.

int
lw_testnode_kill (lw_testnode_t *self, pid_t pid, int signal)
{
    assert (self);
    s_child_t *child = s_child (self, pid);
    assert (child); //  Not one of ours: a test bug
    if (s_reap (child))
        return child->status;
    if (kill (pid, signal) != 0)
        return -1;
    if (signal != SIGKILL && signal != SIGTERM)
        return 0;
    int timeout =
        signal == SIGKILL ? LW_TEST_KILL_KILL_MS : LW_TEST_KILL_TERM_MS;
    if (!s_reap_within (child, timeout))
        return -1;
    return child->status;
}

//  --------------------------------------------------------------------------
//  True while the child is running

bool
lw_testnode_alive (lw_testnode_t *self, pid_t pid)
{
    assert (self);
    s_child_t *child = s_child (self, pid);
    assert (child);
    return !s_reap (child);
}

//  --------------------------------------------------------------------------
//  Runs lwctl with -c/--home and the NULL-terminated args, at most
//  timeout_ms (then it is killed and the assertion fails). Returns its
//  exit status (128 + signal if a signal ended it); *output (if not NULL)
//  gets its stdout, NUL-terminated (caller frees).

int
lw_testnode_lwctl (lw_testnode_t *self, int timeout_ms, char **output, ...)
{
    assert (self);
    assert (timeout_ms > 0);
    char path[LW_PATH_MAX];
    const char *argv[LW_TEST_ARGS_MAX + 1];
    va_list extra;
    va_start (extra, output);
    s_build_argv (self, "lwctl", path, sizeof (path), argv, extra);
    va_end (extra);

    int pipe_fds[2];
    assert (pipe2 (pipe_fds, O_CLOEXEC) == 0);
    pid_t pid = s_fork_exec (argv, pipe_fds[1], -1, pipe_fds[0]);
    close (pipe_fds[1]);

    size_t size = 0, limit = 4096;
    char *text = (char *)malloc (limit);
    assert (text);
    int64_t deadline = s_now_ms () + timeout_ms;
    bool reading = true;
    while (reading) {
        int64_t left = deadline - s_now_ms ();
        if (left <= 0)
            break;
        struct pollfd item = {pipe_fds[0], POLLIN, 0};
        int rc = poll (&item, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        assert (rc >= 0);
        if (rc == 0)
            continue;
        if (size + 1 >= limit) {
            assert (limit < LW_TEST_OUTPUT_MAX);
            limit *= 2;
            text = (char *)realloc (text, limit);
            assert (text);
        }
        ssize_t got = read (pipe_fds[0], text + size, limit - size - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            reading = false;
        else
            size += (size_t)got;
    }
    close (pipe_fds[0]);
    text[size] = '\0';

    s_child_t child = {pid, "lwctl", false, 0};
    int64_t left = deadline - s_now_ms ();
    if (reading || !s_reap_within (&child, left > 0 ? (int)left : 0)) {
        kill (-pid, SIGKILL);
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        fprintf (stderr,
                 "lw_testkit: lwctl %s did not finish within %d ms; "
                 "output so far:\n%s\n",
                 argv[5] ? argv[5] : "", timeout_ms, text);
        assert (false);
    }
    if (output)
        *output = text;
    else
        free (text);
    if (WIFEXITED (child.status))
        return WEXITSTATUS (child.status);
    if (WIFSIGNALED (child.status))
        return 128 + WTERMSIG (child.status);
    return -1;
}

//  --------------------------------------------------------------------------
//  Polls cond(arg) every few ms until it is true or timeout_ms passes.
//  Returns true if it became true.

bool
lw_test_wait (bool (*cond) (void *arg), void *arg, int timeout_ms)
{
    assert (cond);
    int64_t deadline = s_now_ms () + timeout_ms;
    while (true) {
        if (cond (arg))
            return true;
        if (s_now_ms () >= deadline || zsys_interrupted)
            return false;
        zclock_sleep (LW_TEST_POLL_MS);
    }
}

//  --------------------------------------------------------------------------
//  One request/reply to a ROUTER endpoint with a DEALER, bounded wait.
//  Takes the request. Returns the reply (caller destroys) or NULL on
//  timeout.

zmsg_t *
lw_test_call (const char *endpoint, zmsg_t **request_p, int timeout_ms)
{
    assert (endpoint);
    assert (request_p && *request_p);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert (dealer);
    zsock_set_linger (dealer, 0);
    zsock_set_sndtimeo (dealer, timeout_ms);
    zsock_set_maxmsgsize (dealer, LW_MAX_FRAME_SIZE);
    zmsg_t *reply = NULL;
    if (zsock_connect (dealer, "%s", endpoint) != 0) {
        fprintf (stderr, "lw_testkit: cannot connect to %s\n", endpoint);
        zmsg_destroy (request_p);
        goto cleanup;
    }
    if (zmsg_send (request_p, dealer) != 0) {
        zmsg_destroy (request_p);
        goto cleanup;
    }
    zpoller_t *poller = zpoller_new (dealer, NULL);
    assert (poller);
    if (zpoller_wait (poller, timeout_ms) == dealer)
        reply = zmsg_recv (dealer);
    zpoller_destroy (&poller);
cleanup:
    zsock_destroy (&dealer);
    return reply;
}

//  --------------------------------------------------------------------------
//  Destructor of the lw_ctrl_t items of a members list

static void
s_ctrl_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  --------------------------------------------------------------------------
//  Asks the broker's coordinator for every member's status: a STATUS
//  control frame out; a reply frame then `count` MEMBER control frames
//  back. Returns a list of lw_ctrl_t * (caller destroys the list, which
//  frees the items), or NULL on timeout or a malformed answer (reported).

zlistx_t *
lw_test_members (lw_testnode_t *self, int timeout_ms)
{
    assert (self);
    lw_ctrl_t *request = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
    assert (request);
    request->kind = LW_CTRL_STATUS;
    strcpy (request->group, "test");
    snprintf (request->name, sizeof (request->name), "test-%d", (int)getpid ());
    request->pid = getpid ();
    zframe_t *frame = lw_msg_ctrl_encode (request);
    free (request);
    assert (frame);
    zmsg_t *message = zmsg_new ();
    assert (message);
    zmsg_append (message, &frame);
    zmsg_t *reply = lw_test_call (self->node.coordinator, &message, timeout_ms);
    if (!reply)
        return NULL;

    zlistx_t *members = zlistx_new ();
    assert (members);
    zlistx_set_destructor (members, s_ctrl_destroy);
    lw_reply_t header;
    frame = zmsg_first (reply);
    int rc = frame ? lw_msg_reply_decode (zframe_data (frame),
                                          zframe_size (frame), &header)
                   : LW_MSG_ENVELOPE;
    const char *problem = NULL;
    if (rc != 0)
        problem = lw_msg_strerror (rc);
    else if (header.status != 0)
        problem = header.text;
    else if (zmsg_size (reply) != 1 + (size_t)header.count)
        problem = "frame count differs from the reply's count";
    while (!problem && (frame = zmsg_next (reply))) {
        lw_ctrl_t *member = (lw_ctrl_t *)zmalloc (sizeof (lw_ctrl_t));
        assert (member);
        rc = lw_msg_ctrl_decode (zframe_data (frame), zframe_size (frame),
                                 member);
        if (rc != 0 || member->kind != LW_CTRL_MEMBER) {
            problem = rc ? lw_msg_strerror (rc) : "not a MEMBER frame";
            free (member);
        }
        else
            zlistx_add_end (members, member);
    }
    zmsg_destroy (&reply);
    if (problem) {
        fprintf (stderr, "lw_testkit: bad STATUS reply from %s: %s\n",
                 self->node.coordinator, problem);
        zlistx_destroy (&members);
    }
    return members;
}

//  --------------------------------------------------------------------------
//  Sum of a counter over the alive members of a group (NULL = all), or -1
//  on timeout

long long
lw_test_counter (lw_testnode_t *self, const char *group, const char *name,
                 int timeout_ms)
{
    assert (self);
    assert (name);
    zlistx_t *members = lw_test_members (self, timeout_ms);
    if (!members)
        return -1;
    long long sum = 0;
    for (lw_ctrl_t *member = (lw_ctrl_t *)zlistx_first (members); member;
         member = (lw_ctrl_t *)zlistx_next (members))
        if (member->alive && (!group || streq (member->group, group)))
            sum += (long long)lw_ctrl_stat (member, name);
    zlistx_destroy (&members);
    return sum;
}
