/*  =========================================================================
    lw_modbus_map.c - a Modbus device's register map: points, reads, values

    Copyright (c) the linewatch authors. MIT license.

    Points live in one array; planning sorts it by (table, address) and
    walks it once, growing the current read while the next point starts
    within `gap` registers of its end and the read stays within the
    protocol's limit per request.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_cfg.h"
#include "lw_modbus_map.h"
#include "lw_msg.h"

#define S_PATH_MAX 512 //  Longest config path we build

struct _lw_modbus_map_t {
    lw_modbus_point_t *points; //  Sorted by (table, address) once planned
    size_t npoints;
    size_t points_size;      //  Capacity
    lw_modbus_read_t *reads; //  Planned reads
    size_t nreads;
};

static const char *s_tables[] = {"holding", "input", "coil", "discrete", NULL};
static const char *s_types[] = {"int16",  "uint16",  "int32",
                                "uint32", "float32", NULL};
static const char *s_orders[] = {"ABCD", "CDAB", "BADC", "DCBA", NULL};

//  --------------------------------------------------------------------------
//  Creates an empty map

lw_modbus_map_t *
lw_modbus_map_new (void)
{
    return (lw_modbus_map_t *)zmalloc (sizeof (lw_modbus_map_t));
}

//  --------------------------------------------------------------------------
//  Destroys a map

void
lw_modbus_map_destroy (lw_modbus_map_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        lw_modbus_map_t *self = *self_p;
        free (self->points);
        free (self->reads);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Registers (or bits) a type occupies

unsigned
lw_modbus_type_width (lw_modbus_type_t type)
{
    return type == LW_MODBUS_INT32 || type == LW_MODBUS_UINT32 ||
                   type == LW_MODBUS_FLOAT32
               ? 2
               : 1;
}

//  --------------------------------------------------------------------------
//  True for coils and discrete inputs

static bool
s_bit_table (lw_modbus_table_t table)
{
    return table == LW_MODBUS_COIL || table == LW_MODBUS_DISCRETE;
}

//  --------------------------------------------------------------------------
//  Adds a validated copy of a point

int
lw_modbus_map_add (lw_modbus_map_t *self, const lw_modbus_point_t *point,
                   const char *what)
{
    assert (self);
    assert (point);
    assert (what);
    const char *problem = NULL;
    size_t key_size = strnlen (point->sensor, sizeof (point->sensor));
    if (key_size == sizeof (point->sensor) ||
        !lw_key_valid (point->sensor, key_size))
        problem = "sensor is not a valid key";
    else if ((unsigned)point->table > LW_MODBUS_DISCRETE ||
             (unsigned)point->type > LW_MODBUS_BIT ||
             (unsigned)point->order > LW_MODBUS_DCBA)
        problem = "table, type or order out of range";
    else if (s_bit_table (point->table) != (point->type == LW_MODBUS_BIT))
        problem = "coils and discrete inputs are bits, registers are not";
    else if ((uint32_t)point->address + lw_modbus_type_width (point->type) >
             65536)
        problem = "the value runs past address 65535";
    else if (!isfinite (point->scale) || !isfinite (point->offset))
        problem = "scale and offset must be finite";
    else if (self->npoints == LW_MODBUS_POINTS_MAX)
        problem = "too many points on one device";
    if (problem) {
        zsys_error ("config: %s: %s", what, problem);
        return -1;
    }
    if (self->npoints == self->points_size) {
        size_t size = self->points_size ? self->points_size * 2 : 16;
        lw_modbus_point_t *points = (lw_modbus_point_t *)realloc (
            self->points, size * sizeof (lw_modbus_point_t));
        if (!points)
            return -1;
        self->points = points;
        self->points_size = size;
    }
    self->points[self->npoints++] = *point;
    free (self->reads); //  Any plan is stale now
    self->reads = NULL;
    self->nreads = 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  Loads one point section; 0 or -1 (logged)

static int
s_load_point (lw_modbus_map_t *self, zconfig_t *config, const char *path,
              const char *machine, const char *name)
{
    char key[S_PATH_MAX + 16]; //  path (< S_PATH_MAX) + "/<key>"
    lw_modbus_point_t point = {.scale = 1};
    const char *sensor;
    int table, type = 0, order;
    long address;
    int rc = 0;
    snprintf (key, sizeof (key), "%s/table", path);
    rc |= lw_cfg_choice (config, key, "holding", s_tables, &table);
    snprintf (key, sizeof (key), "%s/address", path);
    rc |= lw_cfg_int (config, key, -1, 0, 65535, &address);
    if (rc == 0 && address < 0) {
        zsys_error ("config: %s/address is missing", path);
        rc = -1;
    }
    if (rc == 0 && !s_bit_table ((lw_modbus_table_t)table)) {
        snprintf (key, sizeof (key), "%s/type", path);
        rc |= lw_cfg_choice (config, key, "uint16", s_types, &type);
    }
    snprintf (key, sizeof (key), "%s/order", path);
    rc |= lw_cfg_choice (config, key, "ABCD", s_orders, &order);
    snprintf (key, sizeof (key), "%s/scale", path);
    rc |= lw_cfg_double (config, key, 1, -1e300, 1e300, &point.scale);
    snprintf (key, sizeof (key), "%s/offset", path);
    rc |= lw_cfg_double (config, key, 0, -1e300, 1e300, &point.offset);
    snprintf (key, sizeof (key), "%s/sensor", path);
    rc |= lw_cfg_string (config, key, "", LW_KEY_MAX, &sensor);
    if (rc)
        return -1;
    if (*sensor)
        snprintf (point.sensor, sizeof (point.sensor), "%s", sensor);
    else if ((size_t)snprintf (point.sensor, sizeof (point.sensor), "%s/%s",
                               machine, name) >= sizeof (point.sensor)) {
        zsys_error ("config: %s: sensor key '%s/%s' is too long", path, machine,
                    name);
        return -1;
    }
    point.table = (lw_modbus_table_t)table;
    point.type =
        s_bit_table (point.table) ? LW_MODBUS_BIT : (lw_modbus_type_t)type;
    point.order = (lw_modbus_order_t)order;
    point.address = (uint16_t)address;
    return lw_modbus_map_add (self, &point, path);
}

//  --------------------------------------------------------------------------
//  Loads every point of a device section

int
lw_modbus_map_load (lw_modbus_map_t *self, zconfig_t *config, const char *path,
                    const char *machine)
{
    assert (self);
    assert (config);
    assert (path);
    assert (machine);
    char key[S_PATH_MAX];
    snprintf (key, sizeof (key), "%s/point", path);
    zconfig_t *section = zconfig_locate (config, key);
    zconfig_t *child = section ? zconfig_child (section) : NULL;
    for (; child; child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        if (!name || !*name || strlen (name) > LW_NAME_MAX) {
            zsys_error ("config: %s/point: a point name is empty or longer "
                        "than %d bytes",
                        path, LW_NAME_MAX);
            return -1;
        }
        snprintf (key, sizeof (key), "%s/point/%s", path, name);
        if (s_load_point (self, config, key, machine, name))
            return -1;
    }
    if (self->npoints == 0) {
        zsys_error ("config: %s has no point (point/<name>/address...)", path);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Sort order of points: table, then address, then width

static int
s_compare (const void *one, const void *two)
{
    const lw_modbus_point_t *a = (const lw_modbus_point_t *)one;
    const lw_modbus_point_t *b = (const lw_modbus_point_t *)two;
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    if (a->address != b->address)
        return a->address < b->address ? -1 : 1;
    unsigned wa = lw_modbus_type_width (a->type);
    unsigned wb = lw_modbus_type_width (b->type);
    return wa < wb ? -1 : wa > wb ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  Plans the reads

int
lw_modbus_map_plan (lw_modbus_map_t *self, uint16_t gap)
{
    assert (self);
    if (self->npoints == 0)
        return -1;
    qsort (self->points, self->npoints, sizeof (lw_modbus_point_t), s_compare);
    free (self->reads);
    //  At most one read per point
    self->reads =
        (lw_modbus_read_t *)calloc (self->npoints, sizeof (lw_modbus_read_t));
    self->nreads = 0;
    if (!self->reads)
        return -1;
    lw_modbus_read_t *read = NULL;
    uint32_t end = 0; //  One past the last register of the current read
    for (size_t index = 0; index < self->npoints; index++) {
        const lw_modbus_point_t *point = &self->points[index];
        uint32_t start = point->address;
        uint32_t stop = start + lw_modbus_type_width (point->type);
        uint32_t limit = s_bit_table (point->table) ? LW_MODBUS_BITS_MAX
                                                    : LW_MODBUS_REGS_MAX;
        bool joins = read && read->table == point->table &&
                     start <= end + gap &&
                     (stop > end ? stop : end) - read->address <= limit;
        if (!joins) {
            read = &self->reads[self->nreads++];
            read->table = point->table;
            read->address = point->address;
            read->first = index;
            read->npoints = 0;
            end = start;
        }
        if (stop > end)
            end = stop;
        read->count = (uint16_t)(end - read->address);
        read->npoints++;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Accessors

size_t
lw_modbus_map_points (lw_modbus_map_t *self)
{
    assert (self);
    return self->npoints;
}

const lw_modbus_point_t *
lw_modbus_map_point (lw_modbus_map_t *self, size_t index)
{
    assert (self);
    assert (index < self->npoints);
    return &self->points[index];
}

size_t
lw_modbus_map_reads (lw_modbus_map_t *self)
{
    assert (self);
    return self->nreads;
}

const lw_modbus_read_t *
lw_modbus_map_read (lw_modbus_map_t *self, size_t index)
{
    assert (self);
    assert (index < self->nreads);
    return &self->reads[index];
}

//  --------------------------------------------------------------------------
//  Swaps the bytes of a register word

static uint16_t
s_swap (uint16_t word)
{
    return (uint16_t)((word << 8) | (word >> 8));
}

//  --------------------------------------------------------------------------
//  Value of one point from the read's words or bits

double
lw_modbus_map_value (const lw_modbus_point_t *point,
                     const lw_modbus_read_t *read, const uint16_t *words,
                     const uint8_t *bits)
{
    assert (point && read);
    assert (point->table == read->table);
    assert (point->address >= read->address);
    size_t at = point->address - read->address;
    assert (at + lw_modbus_type_width (point->type) <= read->count);
    bool swap_bytes =
        point->order == LW_MODBUS_BADC || point->order == LW_MODBUS_DCBA;
    bool swap_words =
        point->order == LW_MODBUS_CDAB || point->order == LW_MODBUS_DCBA;
    double raw = 0;
    if (point->type == LW_MODBUS_BIT) {
        assert (bits);
        raw = bits[at] ? 1 : 0;
    }
    else if (lw_modbus_type_width (point->type) == 1) {
        assert (words);
        uint16_t word = swap_bytes ? s_swap (words[at]) : words[at];
        raw = point->type == LW_MODBUS_INT16 ? (double)(int16_t)word
                                             : (double)word;
    }
    else {
        assert (words);
        uint16_t high = words[at + (swap_words ? 1 : 0)];
        uint16_t low = words[at + (swap_words ? 0 : 1)];
        if (swap_bytes) {
            high = s_swap (high);
            low = s_swap (low);
        }
        uint32_t value = ((uint32_t)high << 16) | low;
        if (point->type == LW_MODBUS_INT32)
            raw = (double)(int32_t)value;
        else if (point->type == LW_MODBUS_UINT32)
            raw = (double)value;
        else {
            float number;
            memcpy (&number, &value, sizeof (number));
            raw = (double)number; //  NaN/Inf stay so: the sink drops them
        }
    }
    return raw * point->scale + point->offset;
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_modbus_map_test (bool verbose)
{
    printf (" * lw_modbus_map: ");
    if (verbose)
        printf ("\n");

    //  Decoding: 0x12345678 in every order, sign extension, float
    lw_modbus_read_t read = {LW_MODBUS_HOLDING, 100, 4, 0, 1};
    lw_modbus_point_t point = {.sensor = "m/x",
                               .table = LW_MODBUS_HOLDING,
                               .type = LW_MODBUS_UINT32,
                               .address = 100,
                               .scale = 1};
    uint16_t abcd[] = {0x1234, 0x5678, 0, 0};
    uint16_t cdab[] = {0x5678, 0x1234, 0, 0};
    uint16_t badc[] = {0x3412, 0x7856, 0, 0};
    uint16_t dcba[] = {0x7856, 0x3412, 0, 0};
    point.order = LW_MODBUS_ABCD;
    assert (lw_modbus_map_value (&point, &read, abcd, NULL) == 0x12345678);
    point.order = LW_MODBUS_CDAB;
    assert (lw_modbus_map_value (&point, &read, cdab, NULL) == 0x12345678);
    point.order = LW_MODBUS_BADC;
    assert (lw_modbus_map_value (&point, &read, badc, NULL) == 0x12345678);
    point.order = LW_MODBUS_DCBA;
    assert (lw_modbus_map_value (&point, &read, dcba, NULL) == 0x12345678);
    uint16_t minus[] = {0xFFFF, 0xFFFE, 0x8000, 0};
    point.order = LW_MODBUS_ABCD;
    point.type = LW_MODBUS_INT32;
    assert (lw_modbus_map_value (&point, &read, minus, NULL) == -2);
    point.type = LW_MODBUS_UINT32;
    assert (lw_modbus_map_value (&point, &read, minus, NULL) == 4294967294.0);
    point.type = LW_MODBUS_INT16;
    point.address = 102;
    assert (lw_modbus_map_value (&point, &read, minus, NULL) == -32768);
    point.type = LW_MODBUS_UINT16;
    assert (lw_modbus_map_value (&point, &read, minus, NULL) == 32768);
    point.order = LW_MODBUS_BADC; //  16-bit byte swap
    assert (lw_modbus_map_value (&point, &read, minus, NULL) == 0x80);
    float number = -12.5f;
    uint32_t bits32;
    memcpy (&bits32, &number, 4);
    uint16_t floats[] = {0, 0, (uint16_t)(bits32 >> 16), (uint16_t)bits32};
    point.type = LW_MODBUS_FLOAT32;
    point.order = LW_MODBUS_ABCD;
    point.scale = 2;
    point.offset = 1;
    assert (lw_modbus_map_value (&point, &read, floats, NULL) == -24);
    lw_modbus_read_t coils = {LW_MODBUS_COIL, 10, 3, 0, 1};
    lw_modbus_point_t coil = {.sensor = "m/c",
                              .table = LW_MODBUS_COIL,
                              .type = LW_MODBUS_BIT,
                              .address = 12,
                              .scale = 1};
    uint8_t bits[] = {0, 0, 1};
    assert (lw_modbus_map_value (&coil, &coils, NULL, bits) == 1);

    //  Validation
    lw_modbus_map_t *map = lw_modbus_map_new ();
    assert (map);
    assert (lw_modbus_map_plan (map, 8) == -1); //  Empty
    lw_modbus_point_t bad = point;
    strcpy (bad.sensor, "bad\001key");
    assert (lw_modbus_map_add (map, &bad, "test") == -1);
    bad = point;
    bad.address = 65535; //  A 32-bit value would run past the end
    assert (lw_modbus_map_add (map, &bad, "test") == -1);
    bad = point;
    bad.type = LW_MODBUS_BIT; //  A bit on a register table
    assert (lw_modbus_map_add (map, &bad, "test") == -1);
    bad = point;
    bad.scale = NAN;
    assert (lw_modbus_map_add (map, &bad, "test") == -1);
    assert (lw_modbus_map_points (map) == 0);

    //  Planning: 16 contiguous registers, a hole of 5 (bridged with
    //  gap 8), far registers, input registers, coils, and a run longer
    //  than 125 registers
    point.scale = 1;
    point.offset = 0;
    point.type = LW_MODBUS_UINT16;
    for (int index = 15; index >= 0; index--) { //  Unsorted on purpose
        snprintf (point.sensor, sizeof (point.sensor), "m/h%d", index);
        point.address = (uint16_t)index;
        assert (lw_modbus_map_add (map, &point, "test") == 0);
    }
    point.type = LW_MODBUS_FLOAT32;
    point.address = 21; //  Hole of 5 after register 15
    assert (lw_modbus_map_add (map, &point, "test") == 0);
    point.address = 1000; //  Far away
    assert (lw_modbus_map_add (map, &point, "test") == 0);
    point.table = LW_MODBUS_INPUT;
    point.address = 0;
    assert (lw_modbus_map_add (map, &point, "test") == 0);
    for (int index = 0; index < 200; index++) {
        point.table = LW_MODBUS_INPUT;
        point.type = LW_MODBUS_UINT16;
        point.address = (uint16_t)(2000 + index);
        assert (lw_modbus_map_add (map, &point, "test") == 0);
    }
    coil.address = 5;
    assert (lw_modbus_map_add (map, &coil, "test") == 0);
    coil.address = 7;
    assert (lw_modbus_map_add (map, &coil, "test") == 0);
    assert (lw_modbus_map_plan (map, 8) == 0);
    assert (lw_modbus_map_points (map) == 16 + 2 + 1 + 200 + 2);
    if (verbose)
        for (size_t index = 0; index < lw_modbus_map_reads (map); index++) {
            const lw_modbus_read_t *one = lw_modbus_map_read (map, index);
            printf ("   read table=%d address=%u count=%u points=%zu\n",
                    one->table, one->address, one->count, one->npoints);
        }
    assert (lw_modbus_map_reads (map) == 6);
    const lw_modbus_read_t *first = lw_modbus_map_read (map, 0);
    assert (first->table == LW_MODBUS_HOLDING && first->address == 0 &&
            first->count == 23 && first->npoints == 17 && first->first == 0);
    assert (lw_modbus_map_read (map, 1)->address == 1000);
    assert (lw_modbus_map_read (map, 1)->count == 2);
    assert (lw_modbus_map_read (map, 2)->table == LW_MODBUS_INPUT);
    assert (lw_modbus_map_read (map, 3)->address == 2000);
    assert (lw_modbus_map_read (map, 3)->count == 125);
    assert (lw_modbus_map_read (map, 4)->address == 2125);
    assert (lw_modbus_map_read (map, 4)->count == 75);
    const lw_modbus_read_t *last = lw_modbus_map_read (map, 5);
    assert (last->table == LW_MODBUS_COIL && last->address == 5 &&
            last->count == 3 && last->npoints == 2);
    //  Every point lies inside its read
    size_t covered = 0;
    for (size_t index = 0; index < lw_modbus_map_reads (map); index++) {
        const lw_modbus_read_t *one = lw_modbus_map_read (map, index);
        assert (one->first == covered);
        for (size_t at = one->first; at < one->first + one->npoints; at++) {
            const lw_modbus_point_t *member = lw_modbus_map_point (map, at);
            assert (member->table == one->table);
            assert (member->address >= one->address);
            assert (member->address + lw_modbus_type_width (member->type) <=
                    (uint32_t)one->address + one->count);
        }
        covered += one->npoints;
    }
    assert (covered == lw_modbus_map_points (map));
    //  Without bridging, the hole splits the first run
    assert (lw_modbus_map_plan (map, 0) == 0);
    assert (lw_modbus_map_reads (map) == 8); //  The coils split too
    lw_modbus_map_destroy (&map);

    //  From config
    zconfig_t *config = zconfig_new ("root", NULL);
    zconfig_put (config, "d/point/temp/address", "3");
    zconfig_put (config, "d/point/temp/type", "float32");
    zconfig_put (config, "d/point/temp/order", "CDAB");
    zconfig_put (config, "d/point/temp/scale", "0.1");
    zconfig_put (config, "d/point/run/table", "coil");
    zconfig_put (config, "d/point/run/address", "0");
    zconfig_put (config, "d/point/run/sensor", "line1/other/run");
    map = lw_modbus_map_new ();
    assert (lw_modbus_map_load (map, config, "d", "line1/plc") == 0);
    assert (lw_modbus_map_points (map) == 2);
    const lw_modbus_point_t *loaded = lw_modbus_map_point (map, 0);
    assert (streq (loaded->sensor, "line1/plc/temp"));
    assert (loaded->type == LW_MODBUS_FLOAT32 &&
            loaded->order == LW_MODBUS_CDAB && loaded->scale == 0.1);
    loaded = lw_modbus_map_point (map, 1);
    assert (streq (loaded->sensor, "line1/other/run"));
    assert (loaded->type == LW_MODBUS_BIT);
    lw_modbus_map_destroy (&map);
    //  Bad values name the key
    zconfig_put (config, "d/point/run/table", "register");
    map = lw_modbus_map_new ();
    assert (lw_modbus_map_load (map, config, "d", "line1/plc") == -1);
    lw_modbus_map_destroy (&map);
    zconfig_put (config, "d/point/run/table", "coil");
    zconfig_put (config, "d/point/temp/address", "65536");
    map = lw_modbus_map_new ();
    assert (lw_modbus_map_load (map, config, "d", "line1/plc") == -1);
    lw_modbus_map_destroy (&map);
    map = lw_modbus_map_new ();
    assert (lw_modbus_map_load (map, config, "none", "line1/plc") == -1);
    lw_modbus_map_destroy (&map);
    lw_modbus_map_destroy (&map);
    zconfig_destroy (&config);
    printf ("OK\n");
}
