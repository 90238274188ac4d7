/*  =========================================================================
    lw_nabscore.h - the Numenta Anomaly Benchmark (NAB v1.1) scorer

    Copyright (c) the linewatch authors. MIT license.

    A re-implementation of NAB's scoring, written from the corpus's
    SCORING.md (../shared/data/nab/SCORING.md): label windows as row
    indices, the scaled sigmoid, the three profiles, the probationary
    period, one threshold per profile optimised over the whole corpus
    (NAB's sweep, ties to the highest threshold), and normalisation with
    the null and perfect detectors. The harness (lw_nab.c) and its test
    (lw_nabscore_test.c) use it.

    A corpus is a list of files, each with its row count, the timestamps
    of its rows (to map label windows to rows and to check detector
    output) and its windows (L, R), both ends inclusive. A detector's
    output is one anomaly score in [0, 1] per row of every file.
    =========================================================================
*/

#ifndef LW_NABSCORE_H_INCLUDED
#define LW_NABSCORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Profiles, in NAB's order: standard, reward_low_FP_rate,
//  reward_low_FN_rate
#define LW_NAB_PROFILES 3

//  Most files, windows per file and rows per file a corpus may hold
//  (NAB: 58 files, at most 4 windows and 22,695 rows in a file)
#define LW_NAB_FILES_MAX 10000
#define LW_NAB_WINDOWS_MAX 1000
#define LW_NAB_ROWS_MAX 10000000

typedef struct {
    const char *name; //  NAB's profile name
    double a_tp;      //  Weight of a true positive
    double a_fp;      //  Weight of a false positive (positive)
    double a_fn;      //  Weight of a false negative (positive)
} lw_nab_profile_t;

//  The three profiles of NAB's config/profiles.json
extern const lw_nab_profile_t lw_nab_profiles[LW_NAB_PROFILES];

typedef struct _lw_nab_corpus_t lw_nab_corpus_t;
typedef struct _lw_nab_det_t lw_nab_det_t;

//  A score at one threshold: one file, a category or the corpus
typedef struct {
    double threshold;    //  Detection rule: score >= threshold
    double raw;          //  NAB's raw score (sum of file scores)
    double null_raw;     //  Raw score of the null detector
    double perfect;      //  Raw score of the perfect detector
    double normalised;   //  100 (raw - null) / (perfect - null);
                         //  NAN when perfect == null (no windows)
    long tp, tn, fp, fn; //  Row counts (non-probationary rows)
    long windows;        //  Label windows
    long detected;       //  Windows with at least one detection
    long fp_events;      //  Detections outside every window
} lw_nab_result_t;

//  An empty corpus. Returns NULL when out of memory.
lw_nab_corpus_t *lw_nab_corpus_new (void);
void lw_nab_corpus_destroy (lw_nab_corpus_t **self_p);

//  Loads a NAB-layout directory: combined_windows.json and every file it
//  names, data/<category>/<name>.csv (timestamps only). With only (a
//  comma-separated list of "<category>/<name>.csv", or NULL for all), loads
//  just those files. Returns 0, or -1 with a message in error (a missing
//  corpus, a malformed JSON, a window whose timestamp is not in its file).
int lw_nab_corpus_load (lw_nab_corpus_t *self, const char *nab_dir,
                        const char *only, char *error, size_t error_size);

//  Adds a file by hand: its name ("<category>/<name>.csv"), row count, and
//  nwindows windows as row indices (left[k] <= right[k] < rows, sorted, not
//  overlapping). No timestamps: detector output is matched by row count
//  only. Returns its index, or -1 on a bad argument (with a message).
int lw_nab_corpus_add (lw_nab_corpus_t *self, const char *name, size_t rows,
                       const size_t *left, const size_t *right, size_t nwindows,
                       char *error, size_t error_size);

//  Number of files; a file's name, category ("realTweets"), base name
//  ("Twitter_volume_AAPL.csv"), row count and window count. Strings are
//  borrowed for the corpus's lifetime.
size_t lw_nab_corpus_files (lw_nab_corpus_t *self);
const char *lw_nab_corpus_name (lw_nab_corpus_t *self, size_t file);
const char *lw_nab_corpus_category (lw_nab_corpus_t *self, size_t file);
const char *lw_nab_corpus_base (lw_nab_corpus_t *self, size_t file);
size_t lw_nab_corpus_rows (lw_nab_corpus_t *self, size_t file);
size_t lw_nab_corpus_windows (lw_nab_corpus_t *self, size_t file);
//  Total rows and windows of the corpus
size_t lw_nab_corpus_total_rows (lw_nab_corpus_t *self);
size_t lw_nab_corpus_total_windows (lw_nab_corpus_t *self);

//  The probationary length of a file of n rows: min(floor(0.15 n), 750)
size_t lw_nab_probation (size_t rows);
//  NAB's scaled sigmoid S(y)
double lw_nab_sigmoid (double y);
//  Writes sigma(i) for every row of a file under a profile (§4) into
//  sigma (rows entries)
void lw_nab_sigma (lw_nab_corpus_t *self, size_t file, int profile,
                   double *sigma);

//  A detector's output over a corpus (which must outlive it). Returns
//  NULL when out of memory.
lw_nab_det_t *lw_nab_det_new (lw_nab_corpus_t *corpus, const char *name);
void lw_nab_det_destroy (lw_nab_det_t **self_p);
const char *lw_nab_det_name (lw_nab_det_t *self);
//  Sets the scores of one file (rows values, each in [0, 1]). Returns 0,
//  or -1 with a message when the count or a value is wrong.
int lw_nab_det_set (lw_nab_det_t *self, size_t file, const double *scores,
                    size_t rows, char *error, size_t error_size);
//  Reads one file's scores from a results CSV (header line; column
//  `column`, e.g. "anomaly_score"). With opens, the column is an alert
//  flag (0/1) and the score is 1 on rows where it goes 0 -> 1, 0
//  elsewhere. Rows are matched to the data by position, as NAB does. When
//  the corpus has timestamps, the CSV's first column must repeat them row
//  by row: with mismatched NULL a difference is an error, else the rows
//  whose timestamp differs are counted in *mismatched (NAB's reference
//  output for machine_temperature_system_failure has 22: it is sorted by
//  time where the data jumps back).
//  Returns 0, or -1 with a message.
int lw_nab_det_load (lw_nab_det_t *self, size_t file, const char *path,
                     const char *column, bool opens, size_t *mismatched,
                     char *error, size_t error_size);
//  True when every file has its scores
bool lw_nab_det_complete (lw_nab_det_t *self);

//  Number of distinct scores over the non-probationary rows (the sweep's
//  candidate thresholds, besides 1.1), and in *at_top the rows holding
//  the highest score (a detector that saturates at 1 has many: the sweep
//  cannot take some of them without all)
size_t lw_nab_det_distinct (lw_nab_det_t *self, size_t *at_top);

//  Finds NAB's optimal threshold for a profile over the whole corpus
//  (§7: one sweep over every non-probationary row; ties go to the highest
//  threshold). Returns the threshold, and its raw score in *raw.
double lw_nab_optimise (lw_nab_det_t *self, int profile, double *raw);

//  Scores the detector at a threshold under a profile: the corpus total
//  in *total, and per file in per_file (lw_nab_corpus_files entries) if
//  not NULL.
void lw_nab_score (lw_nab_det_t *self, int profile, double threshold,
                   lw_nab_result_t *total, lw_nab_result_t *per_file);

//  Adds a file result into a sum (a category) and normalises the sum
void lw_nab_result_add (lw_nab_result_t *sum, const lw_nab_result_t *part);

#endif
