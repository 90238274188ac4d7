/*  =========================================================================
    lw_keymap.h - open-addressing hash map from sensor keys to pointers

    Copyright (c) the linewatch authors. MIT license.

    The per-reading lookup of hot paths (ingest cleaning, features, scorer):
    no allocation on lookup, one allocation per new key, grows by doubling
    at 50% load. Keys are copied; values are owned by the caller unless a
    destructor is given.
    =========================================================================
*/

#ifndef LW_KEYMAP_H_INCLUDED
#define LW_KEYMAP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _lw_keymap_t lw_keymap_t;
typedef void (lw_keymap_free_fn) (void **value_p);

lw_keymap_t *
    lw_keymap_new (lw_keymap_free_fn *destructor);
void
    lw_keymap_destroy (lw_keymap_t **self_p);
//  Value for key, or NULL
void *
    lw_keymap_lookup (lw_keymap_t *self, const char *key);
//  Inserts or replaces; returns 0, or -1 on allocation failure
int
    lw_keymap_insert (lw_keymap_t *self, const char *key, void *value);
//  Removes a key (destroying the value if a destructor was given)
void
    lw_keymap_delete (lw_keymap_t *self, const char *key);
size_t
    lw_keymap_size (lw_keymap_t *self);
//  Calls fn for every entry; key borrowed for the call
void
    lw_keymap_each (lw_keymap_t *self,
                    void (*fn) (const char *key, void *value, void *arg),
                    void *arg);

void
    lw_keymap_test (bool verbose);

#endif
