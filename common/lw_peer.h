/*  =========================================================================
    lw_peer.h - peer groups: a sensor scored against its fleet at each moment

    Copyright (c) the linewatch authors. MIT license.

    Sensors of the same kind on identical machines form a peer group,
    configured by a pattern on the keys:
        scorer
            peer
                spindles
                    pattern = line1/m0??/spindle_temp
    lw-features publishes each member's feature vector twice: under its
    machine's partition as always, and under the group's partition
    fnv1a32 ("peer:" + group) mod P with LW_QUALITY_PEER set, so the one
    lw-scorer that owns the group's partition sees the whole fleet. There
    the members' values are gathered into time-aligned rows (one event
    time, or one bucket of `align` ms). The copies arrive batch by batch,
    one machine's partition after another, so rows stay pending until
    every live member has reached them (a member that stays silent while
    the others send LW_PEER_SILENT_ROWS rows no longer holds them back). Then
    each member is compared with the fleet at that moment:
        r_i   = value_i - offset_i       offset_i: the member's usual
                                         difference from the fleet
        c     = median (r)               the fleet's robust centre
        d_i   = r_i - c
        S     = EWMA of 1.4826 * median |d| (robust spread), floored as
                the detect section's floors
        m_i   = EWMA (smooth) of d_i     a slow deviation, noise averaged
        z_i   = |m_i| / (S * sqrt (smooth / (2 - smooth)))
        score = 1 - exp (-ln2 * (z_i / z_scale)^2)
    The offsets are learned during a member's first LW_PEER_WARMUP rows
    (or detect/warmup if more)
    (running mean of d; every member starts again when a new member
    joins, as the centre moves with the membership), then only very
    slowly (LW_PEER_OFFSET_RATE per row) and only while the member's score
    is below the close threshold,
    so a member that drifts away from its fleet is not taught its drift:
    its own-history detector follows a slow drift (its score stays low),
    the peer score keeps growing. Each member has its own alert episode
    (key = the member, detector "peer") in that scorer.

    Rows need at least LW_PEER_MIN_MEMBERS members. Peer scores are not
    published as scores (the member's own score is), only as alerts.
    =========================================================================
*/

#ifndef LW_PEER_H_INCLUDED
#define LW_PEER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "lw_detect.h"
#include "lw_msg.h"

#define LW_DETECTOR_PEER "peer"
//  Quality flag of the copy of a vector published under a peer group's
//  partition (lw-features sets it; lw-scorer routes such items to the
//  group, never to the sensor's own detectors)
#define LW_QUALITY_PEER 0x100
//  Most groups, longest group name, most members of a group (each member
//  keeps LW_PEER_ROWS pending slots, 24 KB: the bound caps a hostile
//  publisher's made-up members at 24 MB per group)
#define LW_PEER_GROUPS_MAX 64
#define LW_PEER_NAME_MAX 63
#define LW_PEER_MEMBERS_MAX 1024
//  Fewest members in a row for it to be judged
#define LW_PEER_MIN_MEMBERS 3
//  Most rows pending at once (members' copies arrive batch by batch, one
//  machine's partition after another, so rows wait for the laggards)
#define LW_PEER_ROWS 1024
//  A member silent while the group received this many items per member
//  no longer holds rows back (one ingest batch can carry a machine's
//  readings for hundreds of rows ahead of the others')
#define LW_PEER_SILENT_ROWS 256
//  Fewest warm-up rows of a member (offset learned, not scored): more
//  if detect/warmup says so
#define LW_PEER_WARMUP 200
//  Offset learning rate after warm-up, per row
#define LW_PEER_OFFSET_RATE 0.0001

//  --------------------------------------------------------------------------
//  The configured groups

typedef struct _lw_peers_t lw_peers_t;

lw_peers_t *
    lw_peers_new (void);
void
    lw_peers_destroy (lw_peers_t **self_p);
//  Reads every child of `path` ("scorer/peer"): pattern (required), align
//  (ms, 0..86400000, default 0), smooth (0.001..1, default 0.05), z_scale
//  (0.5..100, default 6). Returns 0 or -1 (logged, naming the key).
int
    lw_peers_load (lw_peers_t *self, zconfig_t *cfg, const char *path);
//  Adds a group. Returns its index, or -1 (full, bad name or pattern)
int
    lw_peers_add (lw_peers_t *self, const char *name, const char *pattern,
                  long align, double smooth, double z_scale);
size_t
    lw_peers_size (lw_peers_t *self);
//  Index of the first group whose pattern matches the key, or -1
int
    lw_peers_match (lw_peers_t *self, const char *key);
//  Index of the group named `name`, or -1
int
    lw_peers_find (lw_peers_t *self, const char *name);
//  Name of group `index`
const char *
    lw_peers_name (lw_peers_t *self, size_t index);
//  Partition of group `index`: fnv1a32 ("peer:" + name) mod partitions
uint16_t
    lw_peers_partition (lw_peers_t *self, size_t index, uint32_t partitions);

//  --------------------------------------------------------------------------
//  One group's state (in the scorer that owns its partition)

typedef struct _lw_peer_t lw_peer_t;

//  Called by lw_peer_add and lw_peer_flush for each member of a row
//  judged: its item (sensor, time, value, peer score, expected range,
//  flags) and its episode's change (0 or LW_ALERT_*, with alert filled).
//  The alert is the member's own, kept between calls: a caller that
//  numbers it (local_seq) at OPEN finds the number again at its UPDATEs
//  and CLOSE. Both borrowed for the call.
typedef void (lw_peer_fn) (const lw_item_t *item, int change,
                           lw_alert_t *alert, void *arg);

//  Creates the state of group `index` of `peers` (settings copied).
//  Returns it (caller owns) or NULL when out of memory.
lw_peer_t *
    lw_peer_new (const lw_detect_cfg_t *detect, lw_peers_t *peers,
                 size_t index);
void
    lw_peer_destroy (lw_peer_t **self_p);
//  Adds a member's item (its value and time) to the pending row of its
//  time bucket, then closes, oldest first, every pending row that holds
//  LW_PEER_MIN_MEMBERS members and that each live member has reached (its
//  newest reading is in that row or later), judging the row's members and
//  calling fn for each. A member from which nothing came while the group
//  received LW_PEER_SILENT_ROWS items per member no longer holds rows
//  back; when LW_PEER_ROWS rows are pending the oldest is closed. An item
//  of a row already closed is ignored. Allocates only for a member never
//  seen. Returns the number of members judged.
size_t
    lw_peer_add (lw_peer_t *self, const char *sensor, const lw_item_t *item,
                 lw_peer_fn *fn, void *arg);
//  Closes every pending row, oldest first. Returns the members judged.
size_t
    lw_peer_flush (lw_peer_t *self, lw_peer_fn *fn, void *arg);
//  Rows waiting for members
size_t
    lw_peer_pending (lw_peer_t *self);
//  Members shown
size_t
    lw_peer_members (lw_peer_t *self);

void
    lw_peer_test (bool verbose);

#endif
