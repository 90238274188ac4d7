/*  =========================================================================
    lw_super.c - lwctl's process supervisor and `lwctl up`

    Copyright (c) the linewatch authors. MIT license.

    See lw_super.h. SIGCHLD is blocked and collected with sigtimedwait, so
    there is no race between a child's exit and the wait. SIGINT and
    SIGTERM go through czmq's handler (zsys_interrupted), which catches them
    on whichever thread the kernel picks. Children get the original signal
    mask back before execv.
    =========================================================================
*/

#include "lw_super.h"
#include "lw_limits.h"
#include "lw_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define LW_SUPER_CHILDREN_MAX 140   //  3 singletons + 2 x 64 workers
#define LW_SUPER_BACKOFF_MIN 100    //  ms before the first restart
#define LW_SUPER_BACKOFF_MAX 5000   //  ms at most between restarts
#define LW_SUPER_STABLE 10000       //  ms a child must run to reset backoff
#define LW_SUPER_STOP_GRACE 5000    //  ms between SIGTERM and SIGKILL

typedef struct {
    char *path;                 //  Executable path
    char name[LW_NAME_MAX + 1]; //  Member name given with --name
    pid_t pid;                  //  Running pid, 0 when not running
    int64_t started;            //  Monotonic ms when last started
    int64_t restart_at;         //  Monotonic ms of the next restart, 0 none
    int backoff;                //  Current backoff, ms
    bool tail;                  //  `lwctl tail --alerts` for `up --tail`
} child_t;

struct _lw_super_t {
    lw_ctl_t *ctl;                          //  Borrowed
    char *config_path;                      //  Config given to children
    char *home;                             //  Node home
    child_t children[LW_SUPER_CHILDREN_MAX];
    size_t nchildren;
    sigset_t blocked;                       //  Signals we take synchronously
    sigset_t original;                      //  Mask to restore in children
    bool stopping;                          //  No more restarts
    size_t restarts;                        //  Restart count
    const char *refused;                    //  Child that exited 2, or NULL
};

static int64_t
s_now_ms (void)
{
    return lw_time_mono () / LW_NS_PER_MS;
}

//  --------------------------------------------------------------------------
//  Path of a sibling executable: next to lwctl first, then on PATH.
//  Returns a new string or NULL.

char *
lw_ctl_find_executable (lw_ctl_t *ctl, const char *name)
{
    assert (name);
    char self_path[LW_PATH_MAX];
    ssize_t size = readlink ("/proc/self/exe", self_path,
                             sizeof (self_path) - 1);
    if (size > 0) {
        self_path[size] = 0;
        char *slash = strrchr (self_path, '/');
        if (slash) {
            *slash = 0;
            char *candidate = zsys_sprintf ("%s/%s", self_path, name);
            if (candidate && access (candidate, X_OK) == 0)
                return candidate;
            zstr_free (&candidate);
        }
    }
    (void) ctl;
    const char *path_env = getenv ("PATH");
    if (!path_env)
        return NULL;
    char *paths = strdup (path_env);
    char *found = NULL;
    char *saveptr = NULL;
    for (char *dir = strtok_r (paths, ":", &saveptr); dir && !found;
         dir = strtok_r (NULL, ":", &saveptr)) {
        char *candidate = zsys_sprintf ("%s/%s", *dir ? dir : ".", name);
        if (candidate && access (candidate, X_OK) == 0)
            found = candidate;
        else
            zstr_free (&candidate);
    }
    free (paths);
    return found;
}

//  --------------------------------------------------------------------------
//  Adds a child to start; returns -1 when its executable is missing

static int
s_add_child (lw_super_t *self, const char *exe, const char *name)
{
    assert (self->nchildren < LW_SUPER_CHILDREN_MAX);
    char *path = lw_ctl_find_executable (self->ctl, exe);
    if (!path) {
        fprintf (stderr, "lwctl: cannot find %s next to lwctl or on PATH\n",
                 exe);
        return -1;
    }
    child_t *child = &self->children[self->nchildren++];
    memset (child, 0, sizeof (*child));
    child->path = path;
    snprintf (child->name, sizeof (child->name), "%s", name);
    child->backoff = LW_SUPER_BACKOFF_MIN;
    return 0;
}

lw_super_t *
lw_super_new (lw_ctl_t *ctl, const char *config_path, const char *home)
{
    assert (ctl);
    assert (config_path);
    assert (home);
    long features = 1, scorers = 1;
    if (lw_cfg_int (ctl->config, "features/workers", 1, 0, 64, &features)
        || lw_cfg_int (ctl->config, "scorer/workers", 1, 0, 64, &scorers))
        return NULL;
    lw_super_t *self = (lw_super_t *) zmalloc (sizeof (lw_super_t));
    assert (self);
    self->ctl = ctl;
    self->config_path = strdup (config_path);
    self->home = strdup (home);
    int rc = s_add_child (self, "lw-broker", "broker");
    rc |= s_add_child (self, "lw-feedback", "feedback");
    char name[LW_NAME_MAX + 1];
    for (long index = 1; index <= features; index++) {
        snprintf (name, sizeof (name), "features-%ld", index);
        rc |= s_add_child (self, "lw-features", name);
    }
    for (long index = 1; index <= scorers; index++) {
        snprintf (name, sizeof (name), "scorer-%ld", index);
        rc |= s_add_child (self, "lw-scorer", name);
    }
    rc |= s_add_child (self, "lw-ingest", "ingest");
    if (rc)
        lw_super_destroy (&self);
    return self;
}

void
lw_super_destroy (lw_super_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_super_t *self = *self_p;
        lw_super_stop (self);
        for (size_t index = 0; index < self->nchildren; index++)
            free (self->children[index].path);
        free (self->config_path);
        free (self->home);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Forks and execs one child. Returns 0 or -1.

static int
s_spawn (lw_super_t *self, child_t *child)
{
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "lwctl: fork failed: %s\n", strerror (errno));
        return -1;
    }
    if (pid == 0) {
        //  Child: die with the supervisor, restore the signal mask, send
        //  a process's log to <home>/log/<name>.log (tail keeps the
        //  terminal), exec
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        sigprocmask (SIG_SETMASK, &self->original, NULL);
        if (!child->tail) {
            char log_path[LW_PATH_MAX];
            snprintf (log_path, sizeof (log_path), "%s/log/%s.log",
                      self->home, child->name);
            int log = open (log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (log >= 0) {
                dup2 (log, STDOUT_FILENO);
                dup2 (log, STDERR_FILENO);
                close (log);
            }
        }
        char *argv[] = {child->path, "-c", self->config_path, "--home",
                        self->home, "--name", child->name, NULL};
        char *tail_argv[] = {child->path, "tail", "--alerts", "-c",
                             self->config_path, "--home", self->home, NULL};
        execv (child->path, child->tail ? tail_argv : argv);
        fprintf (stderr, "lwctl: cannot exec %s: %s\n", child->path,
                 strerror (errno));
        _exit (127);
    }
    child->pid = pid;
    child->started = s_now_ms ();
    child->restart_at = 0;
    return 0;
}

int
lw_super_start (lw_super_t *self)
{
    assert (self);
    sigemptyset (&self->blocked);
    sigaddset (&self->blocked, SIGCHLD);
    sigprocmask (SIG_BLOCK, &self->blocked, &self->original);
    char *log_dir = zsys_sprintf ("%s/log", self->home);
    if (!log_dir || lw_mkdir_p (log_dir, 0700))
        fprintf (stderr, "lwctl: cannot create %s: %s (logs go to the "
                         "terminal)\n", log_dir ? log_dir : self->home,
                 strerror (errno));
    zstr_free (&log_dir);
    for (size_t index = 0; index < self->nchildren; index++)
        if (s_spawn (self, &self->children[index]))
            return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Copies the "config:" lines of a child's log to stderr, so that the
//  operator sees which key was refused without opening the log

static void
s_print_config_errors (const char *home, const char *name)
{
    char path[LW_PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/log/%s.log", home, name);
    FILE *file = fopen (path, "r");
    if (!file)
        return;
    char line[512];
    while (fgets (line, sizeof (line), file))
        if (strstr (line, "config:"))
            fputs (line, stderr);
    fclose (file);
}

//  --------------------------------------------------------------------------
//  Reaps every exited child and schedules its restart

static void
s_reap (lw_super_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        for (size_t index = 0; index < self->nchildren; index++) {
            child_t *child = &self->children[index];
            if (child->pid != pid)
                continue;
            child->pid = 0;
            if (self->stopping)
                break;
            //  Exit 2: it refused its config (logged naming the key).
            //  Restarting cannot help: the node stops (lwctl exits 2)
            if (WIFEXITED (status) && WEXITSTATUS (status) == 2) {
                fprintf (stderr,
                         "lwctl: %s refused its config (exit 2), see "
                         "%s/log/%s.log; stopping the node\n",
                         child->name, self->home, child->name);
                s_print_config_errors (self->home, child->name);
                self->refused = child->name;
                break;
            }
            int64_t ran = s_now_ms () - child->started;
            if (ran >= LW_SUPER_STABLE)
                child->backoff = LW_SUPER_BACKOFF_MIN;
            if (WIFSIGNALED (status))
                zsys_warning ("super: process died name=%s pid=%d signal=%d "
                              "restart_in_ms=%d", child->name, (int) pid,
                              WTERMSIG (status), child->backoff);
            else
                zsys_warning ("super: process exited name=%s pid=%d "
                              "status=%d restart_in_ms=%d", child->name,
                              (int) pid, WEXITSTATUS (status),
                              child->backoff);
            child->restart_at = s_now_ms () + child->backoff;
            child->backoff = child->backoff * 2 > LW_SUPER_BACKOFF_MAX
                                 ? LW_SUPER_BACKOFF_MAX
                                 : child->backoff * 2;
        }
    }
}

int
lw_super_poll (lw_super_t *self, int timeout_ms)
{
    assert (self);
    //  Wake up early for a restart that falls due
    int64_t now = s_now_ms ();
    for (size_t index = 0; index < self->nchildren; index++) {
        child_t *child = &self->children[index];
        if (child->restart_at && child->restart_at - now < timeout_ms)
            timeout_ms = (int) (child->restart_at > now
                                    ? child->restart_at - now
                                    : 0);
    }
    struct timespec timeout = {timeout_ms / 1000,
                               (long) (timeout_ms % 1000) * 1000000L};
    if (zsys_interrupted)
        return 1;
    sigtimedwait (&self->blocked, NULL, &timeout);
    if (zsys_interrupted)
        return 1;
    s_reap (self);
    if (self->refused)
        return 2;
    now = s_now_ms ();
    for (size_t index = 0; index < self->nchildren; index++) {
        child_t *child = &self->children[index];
        if (!self->stopping && child->pid == 0 && child->restart_at
            && child->restart_at <= now) {
            if (s_spawn (self, child) == 0) {
                self->restarts++;
                zsys_info ("super: restarted name=%s pid=%d", child->name,
                           (int) child->pid);
            }
            else
                child->restart_at = now + child->backoff;
        }
    }
    return 0;
}

void
lw_super_stop (lw_super_t *self)
{
    assert (self);
    self->stopping = true;
    for (size_t index = 0; index < self->nchildren; index++)
        if (self->children[index].pid > 0)
            kill (self->children[index].pid, SIGTERM);
    int64_t deadline = s_now_ms () + LW_SUPER_STOP_GRACE;
    while (true) {
        s_reap (self);
        size_t running = 0;
        for (size_t index = 0; index < self->nchildren; index++)
            running += self->children[index].pid > 0;
        if (running == 0)
            break;
        int64_t left = deadline - s_now_ms ();
        if (left <= 0) {
            for (size_t index = 0; index < self->nchildren; index++)
                if (self->children[index].pid > 0) {
                    zsys_warning ("super: killing name=%s pid=%d",
                                  self->children[index].name,
                                  (int) self->children[index].pid);
                    kill (self->children[index].pid, SIGKILL);
                }
            deadline = s_now_ms () + LW_SUPER_STOP_GRACE;
            continue;
        }
        sigset_t chld;
        sigemptyset (&chld);
        sigaddset (&chld, SIGCHLD);
        struct timespec timeout = {0, 50 * 1000000L};
        sigtimedwait (&chld, NULL, &timeout);
    }
}

int
lw_super_add_tail (lw_super_t *self)
{
    assert (self);
    if (s_add_child (self, "lwctl", "tail"))
        return -1;
    self->children[self->nchildren - 1].tail = true;
    return 0;
}

size_t
lw_super_restarts (lw_super_t *self)
{
    assert (self);
    return self->restarts;
}

//  --------------------------------------------------------------------------
//  lwctl up: start this node's processes and supervise them until
//  Ctrl-C / SIGTERM. One `up` per home, enforced with a lock file.

int
lw_ctl_up (lw_ctl_t *ctl, int argc, char **argv)
{
    bool tail = false;
    for (int argn = 1; argn < argc; argn++) {
        if (streq (argv[argn], "--tail"))
            tail = true;
        else {
            fprintf (stderr, "usage: lwctl up [--tail]\n");
            return LW_CTL_USAGE;
        }
    }
    char *lock_path = zsys_sprintf ("%s/up.lock", ctl->node.home);
    int lock = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    zstr_free (&lock_path);
    if (lock < 0 || flock (lock, LOCK_EX | LOCK_NB)) {
        fprintf (stderr, "lwctl: a node is already running in %s\n",
                 ctl->node.home);
        if (lock >= 0)
            close (lock);
        return LW_CTL_FAIL;
    }
    lw_super_t *super = lw_super_new (ctl, ctl->config_path, ctl->node.home);
    if (!super) {
        close (lock);
        return LW_CTL_FAIL;
    }
    int rc = LW_CTL_OK;
    if ((tail && lw_super_add_tail (super)) || lw_super_start (super))
        rc = LW_CTL_FAIL;
    else {
        printf ("linewatch: node up home=%s config=%s logs=%s/log\n"
                "  lwctl status | lwctl tail --alerts | lwctl alerts "
                "(Ctrl-C stops the node)\n%s",
                ctl->node.home, ctl->config_path, ctl->node.home,
                tail ? "alerts as they open, update and close:\n" : "");
        fflush (stdout);
        int polled;
        while ((polled = lw_super_poll (super, 200)) == 0)
            ;
        printf ("linewatch: stopping\n");
        if (polled == 2)
            rc = LW_CTL_USAGE;
    }
    lw_super_destroy (&super);
    close (lock);
    return rc;
}
