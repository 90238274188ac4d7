/*  =========================================================================
    lw_nab.c - lw-nab: the NAB benchmark harness

    Copyright (c) the linewatch authors. MIT license.

    Runs `lwctl score` (the real executable) over every file of a
    NAB-layout corpus, two processes at a time, writes the outputs in NAB's
    results layout (OUT/results/<detector>/<category>/<detector>_<name>.csv)
    and scores them with lw_nabscore (SCORING.md): one threshold per
    profile optimised over the whole corpus, then normalised. It prints the
    three normalised scores, the scores per category, the NAB scores of the
    live alerting decision (the `alert` column as a detection on the row
    where an alert opens, no threshold sweep) and the wall time.

        build/tests/bench/lw-nab [--nab-dir DIR] [--out DIR] [-v] ...

    With --score-only it scores results already on disk, e.g. NAB's
    reference outputs: --score-only --results $NAB_DIR/reference/
    windowedGaussian --detector windowedGaussian.
    Exit status: 0, 1 on a failure (an lwctl run, a bad results file), 2 on
    bad usage or a missing corpus (77 instead with --skip-missing, for
    ctest, unless CI=true).
    =========================================================================
*/

#include "lw_nabscore.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_PATH_MAX 4096
#define S_JOBS_MAX 16
#define S_SKIP 77
#define S_USAGE_ERROR 2

#define S_USAGE                                                                \
    "usage: lw-nab [options]\n"                                                \
    "  --nab-dir DIR   NAB-layout corpus (default $NAB_DIR, else\n"            \
    "                  " LW_NAB_DIR ")\n"                                      \
    "  --out DIR       output directory (default nab-out); results go to\n"    \
    "                  "                                                       \
    "DIR/results/<detector>/<category>/<detector>_<name>.csv\n"                \
    "  --detector NAME detector name in the results (default linewatch)\n"     \
    "  --lwctl PATH    lwctl to run (default $LW_BIN_DIR/lwctl, else\n"        \
    "                  " LW_NAB_LWCTL ")\n"                                    \
    "  -c CONFIG       config for lwctl score (default\n"                      \
    "                  " LW_NAB_CONFIG ")\n"                                   \
    "  --jobs N        lwctl processes at once, 1..16 (default 2)\n"           \
    "  --files LIST    only these files: <category>/<name>.csv,...\n"          \
    "  --threshold T   score at T (or T1,T2,T3 per profile) instead of\n"      \
    "                  NAB's optimised threshold\n"                            \
    "  --score-only    do not run lwctl; score the results on disk\n"          \
    "  --results DIR   where the results are (default\n"                       \
    "                  OUT/results/<detector>)\n"                              \
    "  --skip-missing  exit 77 when the corpus is missing (unless CI=true)\n"  \
    "  -v              per-file table\n"

typedef struct {
    const char *nab_dir;                //  Corpus directory
    const char *out;                    //  Output directory
    const char *detector;               //  Detector name
    const char *lwctl;                  //  lwctl executable
    const char *config;                 //  Config for lwctl
    const char *files;                  //  Only these files, or NULL
    const char *results;                //  Results directory, or NULL = default
    long jobs;                          //  Parallel lwctl runs
    int nthresholds;                    //  Fixed thresholds given (0, 1 or 3)
    double thresholds[LW_NAB_PROFILES]; //  Fixed thresholds per profile
    bool score_only;                    //  Skip running lwctl
    bool skip_missing;                  //  Exit 77 on a missing corpus
    bool verbose;                       //  Per-file table
} s_args_t;

//  --------------------------------------------------------------------------
//  Formats a path; a path that does not fit is cut (and fails to open)

static void
s_path (char *path, size_t path_size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    int size = vsnprintf (path, path_size, format, args);
    va_end (args);
    if (size < 0 || (size_t)size >= path_size)
        fprintf (stderr, "lw-nab: path too long: %.64s...\n", path);
}

//  --------------------------------------------------------------------------
//  Seconds on the monotonic clock

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

//  --------------------------------------------------------------------------
//  mkdir -p; returns 0 or -1 with errno

static int
s_mkdir_p (const char *path)
{
    char buffer[S_PATH_MAX];
    if (snprintf (buffer, sizeof (buffer), "%s", path) >= (int)sizeof (buffer))
        return -1;
    for (char *slash = buffer + 1; *slash; slash++)
        if (*slash == '/') {
            *slash = 0;
            if (mkdir (buffer, 0755) && errno != EEXIST)
                return -1;
            *slash = '/';
        }
    if (mkdir (buffer, 0755) && errno != EEXIST)
        return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Parses the command line; returns 0, or -1 after printing why

static int
s_parse_args (int argc, char **argv, s_args_t *args)
{
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv[argn];
        const char **target = NULL;
        if (strcmp (arg, "--nab-dir") == 0)
            target = &args->nab_dir;
        else if (strcmp (arg, "--out") == 0)
            target = &args->out;
        else if (strcmp (arg, "--detector") == 0)
            target = &args->detector;
        else if (strcmp (arg, "--lwctl") == 0)
            target = &args->lwctl;
        else if (strcmp (arg, "-c") == 0 || strcmp (arg, "--config") == 0)
            target = &args->config;
        else if (strcmp (arg, "--files") == 0)
            target = &args->files;
        else if (strcmp (arg, "--results") == 0)
            target = &args->results;
        else if (strcmp (arg, "--jobs") == 0) {
            char *end = NULL;
            errno = 0;
            if (argn + 1 < argc)
                args->jobs = strtol (argv[++argn], &end, 10);
            if (!end || *end || errno || args->jobs < 1 ||
                args->jobs > S_JOBS_MAX) {
                fprintf (stderr, "lw-nab: --jobs needs 1..%d\n", S_JOBS_MAX);
                return -1;
            }
            continue;
        }
        else if (strcmp (arg, "--threshold") == 0) {
            const char *text = argn + 1 < argc ? argv[++argn] : "";
            args->nthresholds = 0;
            while (*text && args->nthresholds < LW_NAB_PROFILES) {
                char *end = NULL;
                errno = 0;
                double value = strtod (text, &end);
                if (end == text || errno || !(value >= 0 && value <= 1.1) ||
                    (*end != ',' && *end != 0))
                    break;
                args->thresholds[args->nthresholds++] = value;
                text = *end ? end + 1 : end;
            }
            if (*text || (args->nthresholds != 1 &&
                          args->nthresholds != LW_NAB_PROFILES)) {
                fprintf (stderr, "lw-nab: --threshold needs T or T1,T2,T3 "
                                 "in [0, 1.1]\n");
                return -1;
            }
            for (int profile = args->nthresholds; profile < LW_NAB_PROFILES;
                 profile++)
                args->thresholds[profile] = args->thresholds[0];
            continue;
        }
        else if (strcmp (arg, "--score-only") == 0) {
            args->score_only = true;
            continue;
        }
        else if (strcmp (arg, "--skip-missing") == 0) {
            args->skip_missing = true;
            continue;
        }
        else if (strcmp (arg, "-v") == 0 || strcmp (arg, "--verbose") == 0) {
            args->verbose = true;
            continue;
        }
        else if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0) {
            printf ("%s", S_USAGE);
            exit (0);
        }
        else {
            fprintf (stderr, "lw-nab: unknown argument '%.64s'\n%s", arg,
                     S_USAGE);
            return -1;
        }
        if (argn + 1 >= argc || !*argv[argn + 1]) {
            fprintf (stderr, "lw-nab: %s needs a value\n", arg);
            return -1;
        }
        *target = argv[++argn];
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Path of a file's results: RESULTS/<category>/<detector>_<name>.csv

static void
s_result_path (lw_nab_corpus_t *corpus, size_t file, const char *results,
               const char *detector, char *path, size_t path_size)
{
    s_path (path, path_size, "%s/%s/%s_%s", results,
            lw_nab_corpus_category (corpus, file), detector,
            lw_nab_corpus_base (corpus, file));
}

//  --------------------------------------------------------------------------
//  Starts `lwctl -c CONFIG --home HOME score DATA -o RESULT`, stderr to
//  log_fd. Returns the pid or -1.

static pid_t
s_spawn (const s_args_t *args, const char *home, const char *data,
         const char *result, int log_fd)
{
    pid_t pid = fork ();
    if (pid == 0) {
        int null_fd = open ("/dev/null", O_WRONLY);
        if (null_fd >= 0)
            dup2 (null_fd, STDOUT_FILENO);
        dup2 (log_fd, STDERR_FILENO);
        char *argv[] = {(char *)"lwctl",      (char *)"-c",
                        (char *)args->config, (char *)"--home",
                        (char *)home,         (char *)"score",
                        (char *)data,         (char *)"-o",
                        (char *)result,       NULL};
        execv (args->lwctl, argv);
        fprintf (stderr, "lw-nab: cannot run %s: %s\n", args->lwctl,
                 strerror (errno));
        _exit (127);
    }
    return pid;
}

//  --------------------------------------------------------------------------
//  Runs lwctl score over every file, jobs at a time. Returns the number
//  of failed runs, or -1 if nothing could start.

static int
s_run_lwctl (const s_args_t *args, lw_nab_corpus_t *corpus, const char *results)
{
    char home[S_PATH_MAX], log_path[S_PATH_MAX];
    s_path (home, sizeof (home), "%s/home", args->out);
    s_path (log_path, sizeof (log_path), "%s/lwctl.log", args->out);
    if (s_mkdir_p (home)) {
        fprintf (stderr, "lw-nab: cannot create %s: %s\n", home,
                 strerror (errno));
        return -1;
    }
    if (access (args->lwctl, X_OK)) {
        fprintf (stderr, "lw-nab: no lwctl at %s (build it, or --lwctl)\n",
                 args->lwctl);
        return -1;
    }
    int log_fd = open (log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (log_fd < 0) {
        fprintf (stderr, "lw-nab: cannot write %s: %s\n", log_path,
                 strerror (errno));
        return -1;
    }
    size_t nfiles = lw_nab_corpus_files (corpus);
    pid_t running[S_JOBS_MAX];
    size_t running_file[S_JOBS_MAX];
    long active = 0;
    size_t next = 0;
    int failures = 0;
    while (next < nfiles || active > 0) {
        while (next < nfiles && active < args->jobs) {
            char data[S_PATH_MAX], result[S_PATH_MAX], dir[S_PATH_MAX];
            s_path (data, sizeof (data), "%s/data/%s", args->nab_dir,
                    lw_nab_corpus_name (corpus, next));
            s_result_path (corpus, next, results, args->detector, result,
                           sizeof (result));
            s_path (dir, sizeof (dir), "%s/%s", results,
                    lw_nab_corpus_category (corpus, next));
            pid_t pid = -1;
            if (s_mkdir_p (dir) == 0)
                pid = s_spawn (args, home, data, result, log_fd);
            if (pid < 0) {
                fprintf (stderr, "lw-nab: cannot run lwctl for %s\n",
                         lw_nab_corpus_name (corpus, next));
                failures++;
            }
            else {
                running[active] = pid;
                running_file[active] = next;
                active++;
            }
            next++;
        }
        if (active == 0)
            break;
        int status;
        pid_t pid = waitpid (-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (long slot = 0; slot < active; slot++)
            if (running[slot] == pid) {
                if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
                    fprintf (stderr,
                             "lw-nab: lwctl score %s failed (status %d), "
                             "see %s\n",
                             lw_nab_corpus_name (corpus, running_file[slot]),
                             status, log_path);
                    failures++;
                }
                running[slot] = running[active - 1];
                running_file[slot] = running_file[active - 1];
                active--;
                break;
            }
    }
    close (log_fd);
    return failures;
}

//  --------------------------------------------------------------------------
//  Loads one column of every results file into a detector. Returns 0, or
//  -1 after printing why.

static int
s_load (lw_nab_det_t *det, lw_nab_corpus_t *corpus, const char *results,
        const char *detector, const char *column, bool opens, bool quiet)
{
    for (size_t file = 0; file < lw_nab_corpus_files (corpus); file++) {
        char path[S_PATH_MAX], error[S_PATH_MAX + 256];
        s_result_path (corpus, file, results, detector, path, sizeof (path));
        size_t mismatched = 0;
        if (lw_nab_det_load (det, file, path, column, opens, &mismatched, error,
                             sizeof (error))) {
            if (!quiet)
                fprintf (stderr, "lw-nab: %s\n", error);
            return -1;
        }
        if (mismatched && !quiet)
            printf ("note: %s: %zu rows' timestamps differ from the data "
                    "(matched by row, as NAB does)\n",
                    path, mismatched);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Writes NAB's per-profile table RESULTS/<det>_<profile>_scores.csv

static void
s_write_table (lw_nab_corpus_t *corpus, const char *results,
               const char *detector, int profile,
               const lw_nab_result_t *per_file, const lw_nab_result_t *total)
{
    char path[S_PATH_MAX];
    s_path (path, sizeof (path), "%s/%s_%s_scores.csv", results, detector,
            lw_nab_profiles[profile].name);
    FILE *file = fopen (path, "w");
    if (!file) {
        fprintf (stderr, "lw-nab: cannot write %s\n", path);
        return;
    }
    fprintf (file,
             "Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count\n");
    for (size_t index = 0; index < lw_nab_corpus_files (corpus); index++) {
        const lw_nab_result_t *result = &per_file[index];
        fprintf (file, "%s,%s,%s,%.12g,%.12g,%ld,%ld,%ld,%ld,%ld\n", detector,
                 lw_nab_profiles[profile].name,
                 lw_nab_corpus_name (corpus, index), result->threshold,
                 result->raw, result->tp, result->tn, result->fp, result->fn,
                 result->tp + result->tn + result->fp + result->fn);
    }
    fprintf (file, "Totals,,,,%.12g,%ld,%ld,%ld,%ld,%ld\n", total->raw,
             total->tp, total->tn, total->fp, total->fn,
             total->tp + total->tn + total->fp + total->fn);
    fclose (file);
}

//  --------------------------------------------------------------------------
//  Prints one result cell: the normalised score, or for a category
//  without windows the raw score (its false positives' cost)

static void
s_print_cell (const lw_nab_result_t *result)
{
    char text[64];
    if (isnan (result->normalised))
        snprintf (text, sizeof (text), "raw %.2f (%ld FP)", result->raw,
                  result->fp_events);
    else
        snprintf (text, sizeof (text), "%.2f", result->normalised);
    printf ("  %20s", text);
}

//  --------------------------------------------------------------------------
//  Scores a detector at the given thresholds (per profile) and prints the
//  corpus score, the windows found and false positives, and the scores per
//  category. per_file holds files x profiles results afterwards.

static void
s_report (lw_nab_det_t *det, lw_nab_corpus_t *corpus, const double *threshold,
          lw_nab_result_t *per_file, lw_nab_result_t *total)
{
    size_t nfiles = lw_nab_corpus_files (corpus);
    for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
        lw_nab_score (det, profile, threshold[profile], &total[profile],
                      per_file + (size_t)profile * nfiles);
    printf ("  %-28s", "score");
    for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
        printf ("  %20.2f", total[profile].normalised);
    printf ("\n  %-28s", "threshold");
    for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
        printf ("  %20.12g", threshold[profile]);
    printf ("\n  %-28s", "raw");
    for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
        printf ("  %20.6f", total[profile].raw);
    printf ("\n  %-28s", "windows detected");
    for (int profile = 0; profile < LW_NAB_PROFILES; profile++) {
        char text[32];
        snprintf (text, sizeof (text), "%ld/%ld", total[profile].detected,
                  total[profile].windows);
        printf ("  %20s", text);
    }
    printf ("\n  %-28s", "false positive rows");
    for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
        printf ("  %20ld", total[profile].fp_events);
    printf ("\n");
    //  Categories in order of first appearance
    for (size_t file = 0; file < nfiles; file++) {
        const char *category = lw_nab_corpus_category (corpus, file);
        bool seen = false;
        for (size_t earlier = 0; earlier < file && !seen; earlier++)
            seen = strcmp (lw_nab_corpus_category (corpus, earlier),
                           category) == 0;
        if (seen)
            continue;
        lw_nab_result_t sums[LW_NAB_PROFILES];
        memset (sums, 0, sizeof (sums));
        long files = 0;
        for (size_t other = file; other < nfiles; other++)
            if (strcmp (lw_nab_corpus_category (corpus, other), category) ==
                0) {
                files++;
                for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
                    lw_nab_result_add (
                        &sums[profile],
                        &per_file[(size_t)profile * nfiles + other]);
            }
        char label[96];
        snprintf (label, sizeof (label), "%.40s (%ld, %ldw)", category, files,
                  sums[0].windows);
        printf ("  %-28s", label);
        for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
            s_print_cell (&sums[profile]);
        printf ("\n");
    }
}

//  --------------------------------------------------------------------------
//  Per-file table: standard score, windows found, false positives

static void
s_print_files (lw_nab_corpus_t *corpus, const lw_nab_result_t *per_file)
{
    printf ("  %-56s %8s %8s %5s %6s\n", "file (standard profile)", "raw",
            "norm", "found", "FP");
    for (size_t file = 0; file < lw_nab_corpus_files (corpus); file++) {
        const lw_nab_result_t *result = &per_file[file];
        printf ("  %-56s %8.3f %8.2f %2ld/%-2ld %6ld\n",
                lw_nab_corpus_name (corpus, file), result->raw,
                result->normalised, result->detected, result->windows,
                result->fp_events);
    }
}

int
main (int argc, char **argv)
{
    double start = s_now ();
    s_args_t args = {.out = "nab-out", .detector = "linewatch", .jobs = 2};
    args.nab_dir = getenv ("NAB_DIR");
    if (!args.nab_dir || !*args.nab_dir)
        args.nab_dir = LW_NAB_DIR;
    static char lwctl[S_PATH_MAX];
    const char *bin_dir = getenv ("LW_BIN_DIR");
    if (bin_dir && *bin_dir) {
        snprintf (lwctl, sizeof (lwctl), "%s/lwctl", bin_dir);
        args.lwctl = lwctl;
    }
    else
        args.lwctl = LW_NAB_LWCTL;
    args.config = LW_NAB_CONFIG;
    if (s_parse_args (argc, argv, &args))
        return S_USAGE_ERROR;
    if (strchr (args.detector, '/') || strchr (args.detector, ',')) {
        fprintf (stderr, "lw-nab: bad detector name '%.64s'\n", args.detector);
        return S_USAGE_ERROR;
    }

    //  The corpus
    char windows[S_PATH_MAX];
    s_path (windows, sizeof (windows), "%s/combined_windows.json",
            args.nab_dir);
    if (access (windows, R_OK) != 0) {
        const char *ci = getenv ("CI");
        bool in_ci = ci && strcmp (ci, "true") == 0;
        fprintf (stderr,
                 "lw-nab: NAB corpus missing: no %s\n"
                 "lw-nab: put the corpus there (the shared folder beside "
                 "the source tree), or set NAB_DIR or --nab-dir\n",
                 windows);
        if (args.skip_missing && !in_ci) {
            printf ("lw-nab: SKIPPED (no corpus)\n");
            return S_SKIP;
        }
        return S_USAGE_ERROR;
    }
    lw_nab_corpus_t *corpus = lw_nab_corpus_new ();
    assert (corpus);
    char error[S_PATH_MAX + 256];
    int rc = 1;
    lw_nab_det_t *det = NULL, *live = NULL;
    lw_nab_result_t *per_file = NULL;
    if (lw_nab_corpus_load (corpus, args.nab_dir, args.files, error,
                            sizeof (error))) {
        fprintf (stderr, "lw-nab: %s\n", error);
        rc = S_USAGE_ERROR;
        goto cleanup;
    }
    size_t nfiles = lw_nab_corpus_files (corpus);
    if (args.files) {
        //  Every listed file must be in the corpus (no silent typo)
        size_t listed = 1;
        for (const char *comma = strchr (args.files, ','); comma;
             comma = strchr (comma + 1, ','))
            listed++;
        if (listed != nfiles) {
            fprintf (stderr,
                     "lw-nab: --files lists %zu files, %zu of them are in "
                     "%s/combined_windows.json\n",
                     listed, nfiles, args.nab_dir);
            rc = S_USAGE_ERROR;
            goto cleanup;
        }
    }
    char results[S_PATH_MAX];
    if (args.results)
        s_path (results, sizeof (results), "%s", args.results);
    else
        s_path (results, sizeof (results), "%s/results/%s", args.out,
                args.detector);
    printf ("NAB corpus: %s (%zu files, %zu rows, %zu windows)\n", args.nab_dir,
            nfiles, lw_nab_corpus_total_rows (corpus),
            lw_nab_corpus_total_windows (corpus));
    printf ("detector:   %s, results in %s\n", args.detector, results);

    //  Run lwctl score over the corpus
    double run_time = 0;
    if (!args.score_only) {
        printf ("scoring:    %s score, config %s, %ld at a time\n", args.lwctl,
                args.config, args.jobs);
        fflush (stdout);
        double run_start = s_now ();
        int failures = s_run_lwctl (&args, corpus, results);
        run_time = s_now () - run_start;
        if (failures) {
            fprintf (stderr, "lw-nab: %d lwctl runs failed\n", failures);
            goto cleanup;
        }
    }

    //  Score the anomaly_score column, thresholds optimised per profile
    double score_start = s_now ();
    det = lw_nab_det_new (corpus, args.detector);
    live = lw_nab_det_new (corpus, "live");
    per_file = (lw_nab_result_t *)calloc (nfiles * LW_NAB_PROFILES + 1,
                                          sizeof (lw_nab_result_t));
    assert (det && live && per_file);
    if (s_load (det, corpus, results, args.detector, "anomaly_score", false,
                false))
        goto cleanup;
    size_t at_top;
    size_t distinct = lw_nab_det_distinct (det, &at_top);
    printf ("anomaly_score: %zu distinct values after probation, %zu rows "
            "at the highest\n",
            distinct, at_top);
    double threshold[LW_NAB_PROFILES];
    for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
        threshold[profile] = args.nthresholds
                                 ? args.thresholds[profile]
                                 : lw_nab_optimise (det, profile, NULL);
    printf ("\n%-30s", args.nthresholds ? "NAB scores (fixed threshold)"
                                        : "NAB scores (optimised)");
    for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
        printf ("  %20s", lw_nab_profiles[profile].name);
    printf ("\n");
    lw_nab_result_t total[LW_NAB_PROFILES];
    s_report (det, corpus, threshold, per_file, total);
    if (!args.score_only)
        for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
            s_write_table (corpus, results, args.detector, profile,
                           per_file + (size_t)profile * nfiles,
                           &total[profile]);
    if (args.verbose)
        s_print_files (corpus, per_file);

    //  The live decision: a detection where an alert opens, no sweep
    if (s_load (live, corpus, results, args.detector, "alert", true, true) ==
        0) {
        double live_threshold[LW_NAB_PROFILES] = {1.0, 1.0, 1.0};
        printf ("\n%-30s", "live alerts (alert opens)");
        for (int profile = 0; profile < LW_NAB_PROFILES; profile++)
            printf ("  %20s", lw_nab_profiles[profile].name);
        printf ("\n");
        s_report (live, corpus, live_threshold, per_file, total);
        if (args.verbose)
            s_print_files (corpus, per_file);
    }
    else
        printf ("\nlive alerts: no `alert` column in the results\n");
    double score_time = s_now () - score_start;
    printf ("\nwall time: %.2f s (lwctl score %.2f s, NAB scoring %.2f s)\n",
            s_now () - start, run_time, score_time);
    rc = 0;

cleanup:
    free (per_file);
    lw_nab_det_destroy (&det);
    lw_nab_det_destroy (&live);
    lw_nab_corpus_destroy (&corpus);
    return rc;
}
