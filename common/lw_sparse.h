/*  =========================================================================
    lw_sparse.h - intermittent sensors: bursts judged against earlier
    bursts, silences against earlier silences

    Copyright (c) the linewatch authors. MIT license.

    Some sensors sit at a floor value most of the time and leave it in
    bursts: a disk that writes now and then (reads 0 in between), a valve
    that opens now and then, a batch pump, a reject counter, night-time
    traffic. There the rolling MAD is 0 and the EWMA scale decays in every
    silence, so each burst is a z of 1e4..1e6 and its tail probability
    says more about how long the silence was than about the burst. This
    class tells such a sensor (causally) and judges it on its own terms.

    - Intermittent: the floor is the rolling minimum of the points before
      (lw_detect's LW_F_MIN); a sensor is intermittent once it has seen
      `window` points and more than `share` of its recent points (an EWMA
      of rate 1 / window) equalled their floor exactly. Otherwise the class
      gives no opinion.
    - A burst (a value above the floor) is judged by its size, value -
      floor, against the sizes of the earlier bursts: a calibrator
      (lw_calib, forgetting rate `calib_alpha`) of the sizes in units of
      the first LW_SPARSE_BURSTS sizes' median (/ 1024), learned from
      every burst of the intermittent sensor. Its tail is the share of earlier bursts at
      least as large: lw_detect makes the spike part's tail no rarer than
      that (a burst as large as bursts usually are is no spike).
    - A silence (the run of consecutive points at the floor, this one
      included) is judged against the earlier silences (the runs that a
      burst ended while the sensor was intermittent): it becomes a
      *record*, once `silences` of them were seen, at the point where it
      gets longer than `ratio` times the longest of the last
      LW_SPARSE_SILENCES (a disk that stopped writing, a valve that no
      longer opens). That point only: the rest of the silence is the same
      event. lw_detect gives a record a fixed rare tail.
    - A record must also be as rare as that tail says by the earlier
      silences' own measure (`tail` > 0, once LW_SPARSE_MODEL silences
      were seen; before that the record alone): beyond their mean m, their
      tail falls off exponentially with their spread s (the standard
      deviation of the last LW_SPARSE_SILENCES, at most m: a memoryless
      wait's, whose chance to last beyond L is exp (-L / m)), so the
      silence must be longer than m + s ln (1 / tail). A sensor whose
      silences are many, short and irregular (night-time counts: dozens a
      night, mean 8 points) sets a new record every few nights by chance
      (the longest of n memoryless waits grows as m ln n): no news. On a
      regular sensor (silences of 20 to 39 points) 4 times the usual
      silence still is. `tail` = 0: the record alone.
    Memory: a calibrator (2.6 KB) and a ring of LW_SPARSE_SILENCES run
    lengths (1 KB), allocated once by _new; judging is O(1) (the burst
    tail O(calibrator bins)), learning O(1), and O(LW_SPARSE_SILENCES) at
    the end of a silence only when the longest leaves the ring. No
    allocation. Deterministic.
    =========================================================================
*/

#ifndef LW_SPARSE_H_INCLUDED
#define LW_SPARSE_H_INCLUDED

#include <stdbool.h>

//  Earlier silences remembered (their longest is the record to beat)
#define LW_SPARSE_SILENCES 128
//  Burst sizes learned before the burst tail gives an opinion
#define LW_SPARSE_BURSTS 10
//  Silences seen before their model judges a record (before: the record
//  alone)
#define LW_SPARSE_MODEL 10

typedef struct _lw_sparse_t lw_sparse_t;

//  Creates it. window: points in the share's memory and before it
//  decides (>= 1), share: part of the recent points at the floor above
//  which the sensor is intermittent (0..1), silences: earlier silences
//  needed before a record counts (1..LW_SPARSE_SILENCES), ratio: how many
//  times the longest earlier silence a record must exceed (>= 1),
//  calib_alpha: forgetting rate of the burst sizes (0..0.5), tail: the
//  tail the caller gives a record, which the memoryless model of the
//  earlier silences must grant (0..1, 0 = no such test). Returns it
//  (caller owns, lw_sparse_destroy) or NULL when out of memory.
lw_sparse_t *
    lw_sparse_new (long window, double share, int silences, double ratio,
                   double calib_alpha, double tail);
void
    lw_sparse_destroy (lw_sparse_t **self_p);
//  True when the sensor is intermittent now (judged on the points
//  learned so far)
bool
    lw_sparse_active (lw_sparse_t *self);
//  Tail of a burst: the share of earlier bursts at least as large as
//  value - floor (with one pseudo-count), in (0, 1]; 0 = no opinion (not
//  intermittent, not above the floor, fewer than LW_SPARSE_BURSTS bursts
//  learned). Pure.
double
    lw_sparse_burst_tail (lw_sparse_t *self, double value, double floor);
//  True when value is at the floor and the silence it extends (this
//  point included) becomes a record with it: longer than ratio x the
//  longest of the last LW_SPARSE_SILENCES silences and, with tail > 0,
//  than their mean + spread x ln (1 / tail) (see above). Pure.
bool
    lw_sparse_silence (lw_sparse_t *self, double value, double floor);
//  Learns a point and its floor (non-finite ones are not learned)
void
    lw_sparse_learn (lw_sparse_t *self, double value, double floor);

void
    lw_sparse_test (bool verbose);

#endif
