/*  =========================================================================
    lw_keymap.c - open-addressing hash map from sensor keys to pointers

    Copyright (c) the linewatch authors. MIT license.

    The per-reading lookup of every hot path (ingest cleaning, features,
    scorer) goes through this map, so a lookup hashes once (FNV-1a), probes
    linearly through a power-of-two table and never allocates. The table
    doubles when it would pass 50% load, which keeps probe runs short.
    Deletion uses backward shift instead of tombstones, so the table never
    fills up with dead slots under churn (partitions moving in and out).
    =========================================================================
*/

#include "lw_keymap.h"
#include "lw_util.h"

#include <czmq.h>

#define KEYMAP_INITIAL 16

typedef struct {
    char *key;     //  Owned copy of the key; NULL = empty slot
    void *value;   //  Caller's value
    uint32_t hash; //  Cached FNV-1a of the key
} slot_t;

struct _lw_keymap_t {
    slot_t *slots;                 //  capacity slots, power of two
    size_t capacity;               //  Number of slots
    size_t size;                   //  Occupied slots
    lw_keymap_free_fn *destructor; //  Destroys values, or NULL
};

//  --------------------------------------------------------------------------
//  Creates an empty map. The destructor, if given, is called on values
//  that are deleted, replaced or left in the map at destroy time.

lw_keymap_t *
lw_keymap_new (lw_keymap_free_fn *destructor)
{
    lw_keymap_t *self = (lw_keymap_t *)zmalloc (sizeof (lw_keymap_t));
    if (self) {
        self->destructor = destructor;
        self->capacity = KEYMAP_INITIAL;
        self->slots = (slot_t *)calloc (self->capacity, sizeof (slot_t));
        if (!self->slots)
            lw_keymap_destroy (&self);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroys the map, its keys and (with a destructor) its values

void
lw_keymap_destroy (lw_keymap_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_keymap_t *self = *self_p;
        if (self->slots) {
            for (size_t index = 0; index < self->capacity; index++) {
                slot_t *slot = &self->slots[index];
                if (!slot->key)
                    continue;
                if (self->destructor)
                    self->destructor (&slot->value);
                free (slot->key);
            }
            free (self->slots);
        }
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Index of the slot holding key, or of the empty slot where it would go

static size_t
s_find (lw_keymap_t *self, const char *key, uint32_t hash)
{
    size_t mask = self->capacity - 1;
    size_t index = hash & mask;
    //  The load factor is at most 50%, so an empty slot always exists
    while (self->slots[index].key) {
        slot_t *slot = &self->slots[index];
        if (slot->hash == hash && streq (slot->key, key))
            break;
        index = (index + 1) & mask;
    }
    return index;
}

//  --------------------------------------------------------------------------
//  Value for key, or NULL. Does not allocate.

void *
lw_keymap_lookup (lw_keymap_t *self, const char *key)
{
    assert (self);
    assert (key);
    uint32_t hash = lw_fnv1a32 (key, strlen (key));
    slot_t *slot = &self->slots[s_find (self, key, hash)];
    return slot->key ? slot->value : NULL;
}

//  --------------------------------------------------------------------------
//  Doubles the table; returns 0 or -1 (the map is unchanged on failure)

static int
s_grow (lw_keymap_t *self)
{
    size_t old_capacity = self->capacity;
    slot_t *old_slots = self->slots;
    slot_t *slots = (slot_t *)calloc (old_capacity * 2, sizeof (slot_t));
    if (!slots)
        return -1;
    self->slots = slots;
    self->capacity = old_capacity * 2;
    size_t mask = self->capacity - 1;
    for (size_t index = 0; index < old_capacity; index++) {
        if (!old_slots[index].key)
            continue;
        size_t target = old_slots[index].hash & mask;
        while (slots[target].key)
            target = (target + 1) & mask;
        slots[target] = old_slots[index];
    }
    free (old_slots);
    return 0;
}

//  --------------------------------------------------------------------------
//  Inserts or replaces (a replaced value goes to the destructor, if any).
//  Returns 0, or -1 on allocation failure (the map is unchanged).

int
lw_keymap_insert (lw_keymap_t *self, const char *key, void *value)
{
    assert (self);
    assert (key);
    uint32_t hash = lw_fnv1a32 (key, strlen (key));
    size_t index = s_find (self, key, hash);
    slot_t *slot = &self->slots[index];
    if (slot->key) {
        if (self->destructor && slot->value != value)
            self->destructor (&slot->value);
        slot->value = value;
        return 0;
    }
    //  Keep load at or below 50%: grow before the insert would pass it
    if ((self->size + 1) * 2 > self->capacity) {
        if (s_grow (self))
            return -1;
        index = s_find (self, key, hash);
        slot = &self->slots[index];
    }
    char *copy = strdup (key);
    if (!copy)
        return -1;
    slot->key = copy;
    slot->value = value;
    slot->hash = hash;
    self->size++;
    return 0;
}

//  --------------------------------------------------------------------------
//  Removes a key (destroying the value if a destructor was given). Uses
//  backward-shift deletion: later entries of the same probe run move up,
//  so no tombstones are needed.

void
lw_keymap_delete (lw_keymap_t *self, const char *key)
{
    assert (self);
    assert (key);
    uint32_t hash = lw_fnv1a32 (key, strlen (key));
    size_t hole = s_find (self, key, hash);
    slot_t *slot = &self->slots[hole];
    if (!slot->key)
        return;
    if (self->destructor)
        self->destructor (&slot->value);
    free (slot->key);
    slot->key = NULL;
    slot->value = NULL;
    self->size--;

    size_t mask = self->capacity - 1;
    size_t next = (hole + 1) & mask;
    while (self->slots[next].key) {
        size_t home = self->slots[next].hash & mask;
        //  Move the entry into the hole unless its home lies cyclically
        //  in (hole, next]: then the hole is not on its probe path
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            self->slots[hole] = self->slots[next];
            self->slots[next].key = NULL;
            self->slots[next].value = NULL;
            hole = next;
        }
        next = (next + 1) & mask;
    }
}

//  --------------------------------------------------------------------------
//  Number of entries

size_t
lw_keymap_size (lw_keymap_t *self)
{
    assert (self);
    return self->size;
}

//  --------------------------------------------------------------------------
//  Calls fn for every entry, in table order; key borrowed for the call.
//  fn must not insert into or delete from the map.

void
lw_keymap_each (lw_keymap_t *self,
                void (*fn) (const char *key, void *value, void *arg), void *arg)
{
    assert (self);
    assert (fn);
    for (size_t index = 0; index < self->capacity; index++) {
        slot_t *slot = &self->slots[index];
        if (slot->key)
            fn (slot->key, slot->value, arg);
    }
}

//  --------------------------------------------------------------------------
//  Self test

static void
s_free_value (void **value_p)
{
    free (*value_p);
    *value_p = NULL;
}

static void
s_sum_values (const char *key, void *value, void *arg)
{
    assert (key);
    *(size_t *)arg += *(size_t *)value;
}

void
lw_keymap_test (bool verbose)
{
    printf (" * lw_keymap: ");
    if (verbose)
        printf ("\n");

    //  Without destructor: caller owns values
    lw_keymap_t *map = lw_keymap_new (NULL);
    assert (map);
    assert (lw_keymap_size (map) == 0);
    assert (lw_keymap_lookup (map, "line1/press3/temp") == NULL);
    int first = 1, second = 2;
    assert (lw_keymap_insert (map, "line1/press3/temp", &first) == 0);
    assert (lw_keymap_insert (map, "line1/press3/vib", &second) == 0);
    assert (lw_keymap_size (map) == 2);
    assert (lw_keymap_lookup (map, "line1/press3/temp") == &first);
    assert (lw_keymap_lookup (map, "line1/press3/vib") == &second);
    assert (lw_keymap_lookup (map, "line1/press3") == NULL);
    //  Replace keeps the size
    assert (lw_keymap_insert (map, "line1/press3/temp", &second) == 0);
    assert (lw_keymap_size (map) == 2);
    assert (lw_keymap_lookup (map, "line1/press3/temp") == &second);
    //  The empty key is a key like any other
    assert (lw_keymap_insert (map, "", &first) == 0);
    assert (lw_keymap_lookup (map, "") == &first);
    lw_keymap_delete (map, "");
    lw_keymap_delete (map, "missing");
    assert (lw_keymap_size (map) == 2);
    lw_keymap_delete (map, "line1/press3/temp");
    assert (lw_keymap_lookup (map, "line1/press3/temp") == NULL);
    assert (lw_keymap_lookup (map, "line1/press3/vib") == &second);
    assert (lw_keymap_size (map) == 1);
    lw_keymap_destroy (&map);
    assert (map == NULL);
    lw_keymap_destroy (&map);

    //  With destructor, many keys, growth and churn checked against a
    //  reference array
    map = lw_keymap_new (s_free_value);
    assert (map);
    const size_t count = 20000;
    char key[64];
    for (size_t index = 0; index < count; index++) {
        size_t *value = (size_t *)malloc (sizeof (size_t));
        assert (value);
        *value = index;
        snprintf (key, sizeof (key), "line%zu/machine%zu/s%zu", index % 7,
                  index % 113, index);
        assert (lw_keymap_insert (map, key, value) == 0);
    }
    assert (lw_keymap_size (map) == count);
    //  Replacing frees the old value through the destructor
    size_t *replacement = (size_t *)malloc (sizeof (size_t));
    assert (replacement);
    *replacement = 0;
    assert (lw_keymap_insert (map, "line0/machine0/s0", replacement) == 0);
    assert (lw_keymap_size (map) == count);

    size_t sum = 0;
    lw_keymap_each (map, s_sum_values, &sum);
    assert (sum == count * (count - 1) / 2);

    //  Delete every third key; the others must stay reachable (this
    //  exercises backward shift across wrapped probe runs)
    for (size_t index = 0; index < count; index += 3) {
        snprintf (key, sizeof (key), "line%zu/machine%zu/s%zu", index % 7,
                  index % 113, index);
        lw_keymap_delete (map, key);
    }
    size_t expected = count - (count + 2) / 3;
    assert (lw_keymap_size (map) == expected);
    for (size_t index = 0; index < count; index++) {
        snprintf (key, sizeof (key), "line%zu/machine%zu/s%zu", index % 7,
                  index % 113, index);
        size_t *value = (size_t *)lw_keymap_lookup (map, key);
        if (index % 3 == 0)
            assert (value == NULL);
        else {
            assert (value);
            assert (*value == index);
        }
    }
    //  Lookup speed (no allocation, one hash per call)
    int64_t started = lw_time_mono ();
    size_t found = 0;
    for (size_t round = 0; round < 5; round++)
        for (size_t index = 0; index < count; index++) {
            snprintf (key, sizeof (key), "line%zu/machine%zu/s%zu", index % 7,
                      index % 113, index);
            found += lw_keymap_lookup (map, key) != NULL;
        }
    int64_t elapsed = lw_time_mono () - started;
    assert (found == 5 * expected);
    if (verbose)
        printf ("   %zu lookups (with snprintf) in %.2f ms\n", 5 * count,
                elapsed / 1e6);
    lw_keymap_destroy (&map);

    //  A tiny table with forced collisions and wrap-around: brute-force
    //  insert/delete sequences against a reference
    map = lw_keymap_new (NULL);
    assert (map);
    static int present[64];
    memset (present, 0, sizeof (present));
    uint32_t seed = 12345;
    for (int step = 0; step < 20000; step++) {
        seed = seed * 1103515245u + 12345u;
        int which = (int)((seed >> 16) % 64);
        snprintf (key, sizeof (key), "k%d", which);
        if ((seed >> 8) & 1) {
            assert (lw_keymap_insert (map, key, &present[which]) == 0);
            present[which] = 1;
        }
        else {
            lw_keymap_delete (map, key);
            present[which] = 0;
        }
        if (step % 97 == 0) {
            size_t live = 0;
            for (int index = 0; index < 64; index++) {
                snprintf (key, sizeof (key), "k%d", index);
                void *value = lw_keymap_lookup (map, key);
                assert ((value != NULL) == (present[index] != 0));
                live += present[index];
            }
            assert (lw_keymap_size (map) == live);
        }
    }
    lw_keymap_destroy (&map);

    printf ("OK\n");
}
