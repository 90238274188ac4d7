/*  =========================================================================
    lw_lineproto.h - InfluxDB line protocol parser (one line, no allocation)

    Copyright (c) the linewatch authors. MIT license.

    Parses one line of InfluxDB line protocol, as Telegraf and many
    collectors emit it:

        measurement[,tag=value...] field=value[,field=value...] [timestamp]

    A pure function over bytes from outside the process, so it can be
    fuzzed: it never allocates, never reads past `size`, and rejects
    anything malformed with a reason (lw_lineproto_reason gives the
    counter-friendly name). Escaping follows the line protocol reference:
      - measurement: `\,` `\ ` (and `\\`) stand for the character;
      - tag keys, tag values, field keys: `\,` `\=` `\ ` (and `\\`);
      - string field values (double-quoted): `\"` and `\\`;
      - any other backslash is a literal backslash.
    Field values: float (1, -1.5, 1e3), integer (12i), unsigned (12u),
    boolean (t T true True TRUE f F false False FALSE; 1 and 0), string
    ("..."; kept as LW_LP_STRING with value 0, the caller skips them).
    NaN and infinities are not line protocol and are rejected. The optional
    timestamp is an integer in the given precision, converted to ns.
    Blank lines and comments (first non-blank byte '#') are LW_LP_SKIP.
    A newline inside a string field value is not supported (the framing
    is one line per '\n').

    Names come back as views: into `text` when they had no escapes, else
    into the caller's scratch buffer (unescaped text is never longer than
    the line, so scratch of `size` bytes always suffices).
    =========================================================================
*/

#ifndef LW_LINEPROTO_H_INCLUDED
#define LW_LINEPROTO_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_LP_TAGS_MAX 32    //  Most tags on one line
#define LW_LP_FIELDS_MAX 128 //  Most fields on one line

//  Results: 0 a line with fields, 1 nothing to take, negative a rejection
typedef enum {
    LW_LP_OK = 0,
    LW_LP_SKIP = 1,             //  Blank line or comment
    LW_LP_BAD_MEASUREMENT = -1, //  Empty measurement
    LW_LP_BAD_TAG = -2,         //  Tag without '=', empty key or value
    LW_LP_NO_FIELDS = -3,       //  No field set
    LW_LP_BAD_FIELD = -4,       //  Field without '=', or empty key
    LW_LP_BAD_VALUE = -5,       //  Unparsable or out-of-range value
    LW_LP_BAD_STRING = -6,      //  Unterminated string value
    LW_LP_BAD_TIMESTAMP = -7,   //  Not an integer, or out of range
    LW_LP_TOO_MANY = -8         //  More tags or fields than the maxima
} lw_lp_result_t;

typedef enum {
    LW_LP_FLOAT,
    LW_LP_INTEGER,
    LW_LP_UNSIGNED,
    LW_LP_BOOLEAN,
    LW_LP_STRING
} lw_lp_type_t;

//  A view of unescaped text (not NUL-terminated)
typedef struct {
    const char *data; //  First byte
    size_t size;      //  Bytes
} lw_lp_text_t;

typedef struct {
    lw_lp_text_t key;  //  Field key
    lw_lp_type_t type; //  Value type as written
    double value;      //  Value (boolean 1/0; string 0); int64 and uint64
                       //  values beyond 2^53 lose precision
} lw_lp_field_t;

//  One parsed line; views valid while `text` and `scratch` are
typedef struct {
    lw_lp_text_t measurement;                //  Measurement name
    size_t ntags;                            //  Tags
    lw_lp_text_t tag_keys[LW_LP_TAGS_MAX];   //  Tag keys
    lw_lp_text_t tag_values[LW_LP_TAGS_MAX]; //  Tag values
    size_t nfields;                          //  Fields (at least one)
    lw_lp_field_t fields[LW_LP_FIELDS_MAX];  //  Fields in line order
    bool has_time;                           //  A timestamp was given
    int64_t time;                            //  It, in ns since the epoch
} lw_lp_line_t;

//  Parses `size` bytes of one line (without its '\n'; a trailing '\r' is
//  ignored). precision = ns per timestamp unit (1, 1000, 1000000,
//  1000000000). scratch must hold at least `size` bytes. Returns LW_LP_OK,
//  LW_LP_SKIP or a negative lw_lp_result_t.
int lw_lineproto_parse (const char *text, size_t size, int64_t precision,
                        lw_lp_line_t *line, char *scratch, size_t scratch_size);

//  Counter-friendly name of a result ("bad_tag", ...; "ok", "skip")
const char *lw_lineproto_reason (int result);

//  Finds a tag's value by key; true and *value when present
bool lw_lineproto_tag (const lw_lp_line_t *line, const char *key,
                       size_t key_size, lw_lp_text_t *value);

void lw_lineproto_test (bool verbose);

#endif
