/*  =========================================================================
    lw_modbus_map.h - a Modbus device's register map: points, reads, values

    Copyright (c) the linewatch authors. MIT license.

    Pure (no I/O): the Modbus TCP source (lw_source_modbus.c) loads one
    map per device from the config, plans it, and decodes every response
    through it.

      load    ingest/source/<s>/device/<d>/point/<p>/...: sensor, table,
              address, type, order, scale, offset - every value validated
      plan    sorts the points by (table, address) and merges points whose
              registers are contiguous or at most `gap` registers apart
              into one read, up to the protocol's limit per request (125
              registers, 2000 bits), so 16 registers of a device cost one
              request, not 16
      decode  turns the registers (or bits) a read returned into each
              point's value: raw x scale + offset

    Register words arrive from libmodbus as host-order uint16 (the first
    byte on the wire is the high byte). For 32-bit types `order` names the
    four wire bytes of the value, A the most significant: ABCD (big-endian,
    the Modbus convention), CDAB (word swapped, common on PLCs), BADC (byte
    swapped), DCBA (little-endian). 16-bit types use the first half (AB, or
    BA for BADC/DCBA: byte swapped).
    =========================================================================
*/

#ifndef LW_MODBUS_MAP_H_INCLUDED
#define LW_MODBUS_MAP_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lw_limits.h"

//  Protocol limits per request (Modbus application protocol 1.1b3)
#define LW_MODBUS_REGS_MAX 125  //  Read holding/input registers
#define LW_MODBUS_BITS_MAX 2000 //  Read coils/discrete inputs
//  Most points of one device
#define LW_MODBUS_POINTS_MAX 4096

typedef enum {
    LW_MODBUS_HOLDING = 0, //  Holding registers (function 3)
    LW_MODBUS_INPUT = 1,   //  Input registers (function 4)
    LW_MODBUS_COIL = 2,    //  Coils (function 1)
    LW_MODBUS_DISCRETE = 3 //  Discrete inputs (function 2)
} lw_modbus_table_t;

typedef enum {
    LW_MODBUS_INT16 = 0,
    LW_MODBUS_UINT16 = 1,
    LW_MODBUS_INT32 = 2,
    LW_MODBUS_UINT32 = 3,
    LW_MODBUS_FLOAT32 = 4,
    LW_MODBUS_BIT = 5 //  Coils and discrete inputs (implied by table)
} lw_modbus_type_t;

typedef enum {
    LW_MODBUS_ABCD = 0,
    LW_MODBUS_CDAB = 1,
    LW_MODBUS_BADC = 2,
    LW_MODBUS_DCBA = 3
} lw_modbus_order_t;

//  One point: where a value lives and how to read it
typedef struct {
    char sensor[LW_KEY_MAX + 1]; //  Sensor key
    lw_modbus_table_t table;
    lw_modbus_type_t type;
    lw_modbus_order_t order;
    uint16_t address; //  First register (or bit), 0-based
    double scale;     //  value = raw x scale + offset
    double offset;
} lw_modbus_point_t;

//  One planned request: `count` registers (or bits) from `address`, and
//  the points it serves (points first .. first + npoints - 1)
typedef struct {
    lw_modbus_table_t table;
    uint16_t address;
    uint16_t count;
    size_t first;
    size_t npoints;
} lw_modbus_read_t;

typedef struct _lw_modbus_map_t lw_modbus_map_t;

lw_modbus_map_t *lw_modbus_map_new (void);
void lw_modbus_map_destroy (lw_modbus_map_t **self_p);

//  Adds a point (copied). Returns 0, or -1 (logged, naming `what`) when
//  it is invalid: bad key, a 32-bit value past address 65535, non-finite
//  scale/offset, a bit type on a register table, too many points.
int lw_modbus_map_add (lw_modbus_map_t *self, const lw_modbus_point_t *point,
                       const char *what);

//  Loads every child of <path>/point (path is a device section). Sensor
//  keys default to "<machine>/<point name>". Returns 0, or -1 (logged,
//  naming the key) on any bad value or when there is no point.
int lw_modbus_map_load (lw_modbus_map_t *self, zconfig_t *config,
                        const char *path, const char *machine);

//  Plans the reads, merging across holes of at most `gap` registers.
//  Reorders the points. Returns 0, or -1 when there is no point.
int lw_modbus_map_plan (lw_modbus_map_t *self, uint16_t gap);

size_t lw_modbus_map_points (lw_modbus_map_t *self);
const lw_modbus_point_t *lw_modbus_map_point (lw_modbus_map_t *self,
                                              size_t index);
size_t lw_modbus_map_reads (lw_modbus_map_t *self);
const lw_modbus_read_t *lw_modbus_map_read (lw_modbus_map_t *self,
                                            size_t index);

//  Value of one point of a read, from what the read returned: `words`
//  for register tables, `bits` (one byte per bit, 0/1) for coils and
//  discrete inputs. The point must belong to the read.
double lw_modbus_map_value (const lw_modbus_point_t *point,
                            const lw_modbus_read_t *read, const uint16_t *words,
                            const uint8_t *bits);

//  Registers (or bits) a type occupies
unsigned lw_modbus_type_width (lw_modbus_type_t type);

void lw_modbus_map_test (bool verbose);

#endif
