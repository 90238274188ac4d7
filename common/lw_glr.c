/*  =========================================================================
    lw_glr.c - a sustained shift of unknown size (see lw_glr.h)

    Copyright (c) the linewatch authors. MIT license.
    =========================================================================
*/

#include "lw_glr.h"
#include "lw_util.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

//  --------------------------------------------------------------------------
//  Starts the test; see lw_glr.h.

void
lw_glr_init (lw_glr_t *self, double k, double clip)
{
    assert (self);
    assert (k >= 0 && clip > 0);
    self->k = k;
    self->clip = clip;
    self->up = 0;
    self->down = 0;
    self->run_up = 0;
    self->run_down = 0;
}

//  --------------------------------------------------------------------------
//  The z of a run: its sum of deviations over the square root of its
//  length; 0 when no run is open.

static double
s_run_z (double sum, long run, double k)
{
    if (run == 0)
        return 0;
    return (sum + k * (double)run) / sqrt ((double)run);
}

//  --------------------------------------------------------------------------
//  Adds a deviation; see lw_glr.h.

double
lw_glr_step (lw_glr_t *self, double deviation)
{
    assert (self);
    if (!isfinite (deviation))
        return 0;
    double u = deviation;
    if (u > self->clip)
        u = self->clip;
    else if (u < -self->clip)
        u = -self->clip;
    self->up += u - self->k;
    if (self->up > 0)
        self->run_up++;
    else {
        self->up = 0;
        self->run_up = 0;
    }
    self->down += -u - self->k;
    if (self->down > 0)
        self->run_down++;
    else {
        self->down = 0;
        self->run_down = 0;
    }
    double up = s_run_z (self->up, self->run_up, self->k);
    double down = s_run_z (self->down, self->run_down, self->k);
    return up > down ? up : down;
}

//  --------------------------------------------------------------------------
//  Self test.

void
lw_glr_test (bool verbose)
{
    printf (" * lw_glr: ");
    if (verbose)
        printf ("\n");
    uint64_t state = 7;

    //  Noise: z is about a normal deviate at its largest, so z > 4 is rare
    lw_glr_t glr;
    lw_glr_init (&glr, 0.75, 3);
    long above = 0;
    double largest = 0;
    for (long index = 0; index < 100000; index++) {
        double z = lw_glr_step (&glr, lw_gauss (&state));
        assert (z >= 0 && isfinite (z));
        above += z > 4;
        if (z > largest)
            largest = z;
    }
    if (verbose)
        printf ("   noise: z > 4 at %ld of 100000 points, largest %.2f\n",
                above, largest);
    assert (above < 100);

    //  A sustained shift of 1 sigma up, then one down: each side builds up
    //  the evidence point by point, beyond anything the noise gave
    for (int sign = -1; sign <= 1; sign += 2) {
        lw_glr_init (&glr, 0.75, 3);
        for (int index = 0; index < 2000; index++)
            lw_glr_step (&glr, lw_gauss (&state));
        int found = -1;
        for (int index = 0; index < 200 && found < 0; index++)
            if (lw_glr_step (&glr, sign + lw_gauss (&state)) > 6)
                found = index;
        if (verbose)
            printf ("   shift of %+d sigma: z > 6 after %d points\n", sign,
                    found);
        assert (found >= 0 && found < 120);
    }
    //  A single burst counts at most `clip`: one point of 100 sigmas is a
    //  z of 3 (the spike part's business), not an alarm
    lw_glr_init (&glr, 0.75, 3);
    double z = lw_glr_step (&glr, 100);
    assert (fabs (z - 3) < 1e-12);
    assert (glr.run_up == 1 && glr.run_down == 0);
    //  ... and back to the level: the run ends once its sum is spent
    for (int index = 0; index < 10; index++)
        z = lw_glr_step (&glr, 0);
    assert (z == 0 && glr.run_up == 0);
    //  Non-finite input changes nothing
    lw_glr_step (&glr, 2);
    lw_glr_t before = glr;
    assert (lw_glr_step (&glr, NAN) == 0);
    assert (lw_glr_step (&glr, INFINITY) == 0);
    assert (glr.up == before.up && glr.run_up == before.run_up);
    printf ("OK\n");
}
