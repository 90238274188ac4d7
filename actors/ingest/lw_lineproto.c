/*  =========================================================================
    lw_lineproto.c - InfluxDB line protocol parser (one line, no allocation)

    Copyright (c) the linewatch authors. MIT license.

    One forward pass over the line with a cursor. Names are views into
    the input unless they hold escapes; then they are unescaped into the
    caller's scratch (each region of scratch is shorter than the region
    of the line it came from, so `size` bytes of scratch always suffice).
    Numbers are checked against the grammar before strtod sees them (so
    "nan", "inf", hex floats and blanks are rejected) and copied to a
    small stack buffer first, because strtod needs a terminator.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_lineproto.h"

#define S_NUMBER_MAX 63 //  Longest numeric token we parse

//  Parse state over one line
typedef struct {
    const char *text; //  The line
    size_t size;      //  Its length
    size_t pos;       //  Next byte
    char *scratch;    //  Unescaped names go here
    size_t used;      //  Bytes of scratch used
} s_cursor_t;

//  --------------------------------------------------------------------------
//  True when a backslash before c is an escape: ',' ' ' and '\' always,
//  '=' in keys and tag values

static inline bool
s_escapable (char c, bool names)
{
    return c == ',' || c == ' ' || c == '\\' || (names && c == '=');
}

//  --------------------------------------------------------------------------
//  Scans a name up to an unescaped ',' or ' ' (or '=' when stop_equals),
//  or the end. Returns its unescaped view.

static lw_lp_text_t
s_name (s_cursor_t *cursor, bool names, bool stop_equals)
{
    const char *text = cursor->text;
    size_t start = cursor->pos;
    size_t pos = start;
    bool escaped = false;
    while (pos < cursor->size) {
        char c = text[pos];
        if (c == '\\' && pos + 1 < cursor->size &&
            s_escapable (text[pos + 1], names)) {
            escaped = true;
            pos += 2;
            continue;
        }
        if (c == ',' || c == ' ' || (stop_equals && c == '='))
            break;
        pos++;
    }
    cursor->pos = pos;
    lw_lp_text_t view = {text + start, pos - start};
    if (escaped) {
        char *dest = cursor->scratch + cursor->used;
        size_t length = 0;
        for (size_t index = start; index < pos; index++) {
            if (text[index] == '\\' && index + 1 < pos &&
                s_escapable (text[index + 1], names))
                index++;
            dest[length++] = text[index];
        }
        cursor->used += length;
        view.data = dest;
        view.size = length;
    }
    return view;
}

//  --------------------------------------------------------------------------
//  Skips spaces; returns true if anything is left

static inline bool
s_skip_spaces (s_cursor_t *cursor)
{
    while (cursor->pos < cursor->size && cursor->text[cursor->pos] == ' ')
        cursor->pos++;
    return cursor->pos < cursor->size;
}

//  --------------------------------------------------------------------------
//  True when text[0..size) is exactly word

static inline bool
s_is (const char *text, size_t size, const char *word)
{
    return strlen (word) == size && memcmp (text, word, size) == 0;
}

//  --------------------------------------------------------------------------
//  Parses unsigned decimal digits (all of text) without overflow. Returns
//  0 and *out, or -1.

static int
s_digits (const char *text, size_t size, uint64_t *out)
{
    if (size == 0)
        return -1;
    uint64_t value = 0;
    for (size_t index = 0; index < size; index++) {
        if (text[index] < '0' || text[index] > '9')
            return -1;
        unsigned digit = (unsigned)(text[index] - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Parses a signed integer (optional '+'/'-') into int64. 0 or -1.

static int
s_int64 (const char *text, size_t size, int64_t *out)
{
    bool negative = size > 0 && text[0] == '-';
    if (size > 0 && (text[0] == '-' || text[0] == '+')) {
        text++;
        size--;
    }
    uint64_t magnitude;
    if (s_digits (text, size, &magnitude))
        return -1;
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN
                                                    : -(int64_t)magnitude;
    }
    else {
        if (magnitude > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)magnitude;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  True when text is a decimal float: [+-] digits [. digits] [e [+-]
//  digits], at least one mantissa digit

static bool
s_float_grammar (const char *text, size_t size)
{
    size_t pos = 0, digits = 0;
    if (pos < size && (text[pos] == '+' || text[pos] == '-'))
        pos++;
    while (pos < size && text[pos] >= '0' && text[pos] <= '9') {
        pos++;
        digits++;
    }
    if (pos < size && text[pos] == '.') {
        pos++;
        while (pos < size && text[pos] >= '0' && text[pos] <= '9') {
            pos++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (pos < size && (text[pos] == 'e' || text[pos] == 'E')) {
        pos++;
        if (pos < size && (text[pos] == '+' || text[pos] == '-'))
            pos++;
        size_t exponent = pos;
        while (pos < size && text[pos] >= '0' && text[pos] <= '9')
            pos++;
        if (pos == exponent)
            return false;
    }
    return pos == size;
}

//  --------------------------------------------------------------------------
//  Parses an unquoted field value. Returns 0 or LW_LP_BAD_VALUE.

static int
s_value (const char *text, size_t size, lw_lp_field_t *field)
{
    if (size == 0)
        return LW_LP_BAD_VALUE;
    if (s_is (text, size, "t") || s_is (text, size, "T") ||
        s_is (text, size, "true") || s_is (text, size, "True") ||
        s_is (text, size, "TRUE")) {
        field->type = LW_LP_BOOLEAN;
        field->value = 1;
        return 0;
    }
    if (s_is (text, size, "f") || s_is (text, size, "F") ||
        s_is (text, size, "false") || s_is (text, size, "False") ||
        s_is (text, size, "FALSE")) {
        field->type = LW_LP_BOOLEAN;
        field->value = 0;
        return 0;
    }
    char last = text[size - 1];
    if (last == 'i') {
        int64_t value;
        if (s_int64 (text, size - 1, &value))
            return LW_LP_BAD_VALUE;
        field->type = LW_LP_INTEGER;
        field->value = (double)value;
        return 0;
    }
    if (last == 'u') {
        uint64_t value;
        if (s_digits (text, size - 1, &value))
            return LW_LP_BAD_VALUE;
        field->type = LW_LP_UNSIGNED;
        field->value = (double)value;
        return 0;
    }
    if (size > S_NUMBER_MAX || !s_float_grammar (text, size))
        return LW_LP_BAD_VALUE;
    char copy[S_NUMBER_MAX + 1];
    memcpy (copy, text, size);
    copy[size] = 0;
    char *end;
    double value = strtod (copy, &end);
    if (end != copy + size || !isfinite (value))
        return LW_LP_BAD_VALUE; //  1e999 overflows to infinity
    field->type = LW_LP_FLOAT;
    field->value = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Parses one line; see the header

int
lw_lineproto_parse (const char *text, size_t size, int64_t precision,
                    lw_lp_line_t *line, char *scratch, size_t scratch_size)
{
    assert (text || size == 0);
    assert (line);
    assert (scratch || size == 0);
    assert (scratch_size >= size);
    assert (precision >= 1);
    if (size > 0 && text[size - 1] == '\r')
        size--;
    s_cursor_t cursor = {text, size, 0, scratch, 0};
    line->ntags = 0;
    line->nfields = 0;
    line->has_time = false;
    line->time = 0;
    while (cursor.pos < size &&
           (text[cursor.pos] == ' ' || text[cursor.pos] == '\t'))
        cursor.pos++;
    if (cursor.pos == size || text[cursor.pos] == '#')
        return LW_LP_SKIP;

    //  Measurement, then tags while a ',' follows
    line->measurement = s_name (&cursor, false, false);
    if (line->measurement.size == 0)
        return LW_LP_BAD_MEASUREMENT;
    while (cursor.pos < size && text[cursor.pos] == ',') {
        cursor.pos++;
        if (line->ntags == LW_LP_TAGS_MAX)
            return LW_LP_TOO_MANY;
        lw_lp_text_t key = s_name (&cursor, true, true);
        if (key.size == 0 || cursor.pos == size || text[cursor.pos] != '=')
            return LW_LP_BAD_TAG;
        cursor.pos++;
        lw_lp_text_t value = s_name (&cursor, true, false);
        if (value.size == 0)
            return LW_LP_BAD_TAG;
        line->tag_keys[line->ntags] = key;
        line->tag_values[line->ntags] = value;
        line->ntags++;
    }

    //  Field set: key=value[,key=value...]
    if (!s_skip_spaces (&cursor))
        return LW_LP_NO_FIELDS;
    while (true) {
        if (line->nfields == LW_LP_FIELDS_MAX)
            return LW_LP_TOO_MANY;
        lw_lp_field_t *field = &line->fields[line->nfields];
        field->key = s_name (&cursor, true, true);
        if (field->key.size == 0 || cursor.pos == size ||
            text[cursor.pos] != '=')
            return LW_LP_BAD_FIELD;
        cursor.pos++;
        if (cursor.pos < size && text[cursor.pos] == '"') {
            //  A string: to the closing quote, over \" and \\ escapes
            size_t pos = cursor.pos + 1;
            while (pos < size && text[pos] != '"')
                pos += (text[pos] == '\\' && pos + 1 < size) ? 2 : 1;
            if (pos >= size)
                return LW_LP_BAD_STRING;
            cursor.pos = pos + 1;
            if (cursor.pos < size && text[cursor.pos] != ',' &&
                text[cursor.pos] != ' ')
                return LW_LP_BAD_STRING;
            field->type = LW_LP_STRING;
            field->value = 0;
        }
        else {
            size_t start = cursor.pos;
            while (cursor.pos < size && text[cursor.pos] != ',' &&
                   text[cursor.pos] != ' ')
                cursor.pos++;
            int rc = s_value (text + start, cursor.pos - start, field);
            if (rc)
                return rc;
        }
        line->nfields++;
        if (cursor.pos < size && text[cursor.pos] == ',') {
            cursor.pos++;
            continue;
        }
        break;
    }

    //  Optional timestamp, then only blanks
    if (!s_skip_spaces (&cursor))
        return LW_LP_OK;
    size_t start = cursor.pos;
    while (cursor.pos < size && text[cursor.pos] != ' ')
        cursor.pos++;
    int64_t stamp;
    if (s_int64 (text + start, cursor.pos - start, &stamp))
        return LW_LP_BAD_TIMESTAMP;
    if (s_skip_spaces (&cursor))
        return LW_LP_BAD_TIMESTAMP; //  Something after the timestamp
    if (stamp > INT64_MAX / precision || stamp < INT64_MIN / precision)
        return LW_LP_BAD_TIMESTAMP;
    line->has_time = true;
    line->time = stamp * precision;
    return LW_LP_OK;
}

//  --------------------------------------------------------------------------
//  Counter-friendly name of a result

const char *
lw_lineproto_reason (int result)
{
    switch (result) {
    case LW_LP_OK:
        return "ok";
    case LW_LP_SKIP:
        return "skip";
    case LW_LP_BAD_MEASUREMENT:
        return "bad_measurement";
    case LW_LP_BAD_TAG:
        return "bad_tag";
    case LW_LP_NO_FIELDS:
        return "no_fields";
    case LW_LP_BAD_FIELD:
        return "bad_field";
    case LW_LP_BAD_VALUE:
        return "bad_value";
    case LW_LP_BAD_STRING:
        return "bad_string";
    case LW_LP_BAD_TIMESTAMP:
        return "bad_timestamp";
    case LW_LP_TOO_MANY:
        return "too_many";
    default:
        return "unknown";
    }
}

//  --------------------------------------------------------------------------
//  Finds a tag's value by key

bool
lw_lineproto_tag (const lw_lp_line_t *line, const char *key, size_t key_size,
                  lw_lp_text_t *value)
{
    assert (line);
    assert (key);
    assert (value);
    for (size_t index = 0; index < line->ntags; index++)
        if (line->tag_keys[index].size == key_size &&
            memcmp (line->tag_keys[index].data, key, key_size) == 0) {
            *value = line->tag_values[index];
            return true;
        }
    return false;
}

//  --------------------------------------------------------------------------
//  Self test helpers: parse a C string

static int
s_parse (const char *text, int64_t precision, lw_lp_line_t *line)
{
    static char scratch[4096];
    size_t size = strlen (text);
    assert (size <= sizeof (scratch));
    return lw_lineproto_parse (text, size, precision, line, scratch,
                               sizeof (scratch));
}

static bool
s_text_is (lw_lp_text_t text, const char *expect)
{
    return text.size == strlen (expect) &&
           memcmp (text.data, expect, text.size) == 0;
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_lineproto_test (bool verbose)
{
    (void)verbose;
    printf (" * lw_lineproto: ");
    lw_lp_line_t *line = (lw_lp_line_t *)malloc (sizeof (lw_lp_line_t));
    assert (line);

    //  The plain case
    assert (s_parse ("cpu,host=gw1,region=eu usage=12.5,count=3i "
                     "1700000000000000000",
                     1, line) == LW_LP_OK);
    assert (s_text_is (line->measurement, "cpu"));
    assert (line->ntags == 2);
    assert (s_text_is (line->tag_keys[0], "host"));
    assert (s_text_is (line->tag_values[0], "gw1"));
    assert (s_text_is (line->tag_values[1], "eu"));
    assert (line->nfields == 2);
    assert (s_text_is (line->fields[0].key, "usage"));
    assert (line->fields[0].type == LW_LP_FLOAT);
    assert (line->fields[0].value == 12.5);
    assert (line->fields[1].type == LW_LP_INTEGER);
    assert (line->fields[1].value == 3);
    assert (line->has_time && line->time == 1700000000000000000LL);
    lw_lp_text_t value;
    assert (lw_lineproto_tag (line, "region", 6, &value));
    assert (s_text_is (value, "eu"));
    assert (!lw_lineproto_tag (line, "regio", 5, &value));

    //  Escapes in every position
    assert (s_parse ("my\\ meas\\,ure=x,ta\\ g\\=k=v\\,a\\ l\\=ue "
                     "fi\\,el\\=d\\ k=1",
                     1, line) == LW_LP_OK);
    assert (s_text_is (line->measurement, "my meas,ure=x"));
    assert (s_text_is (line->tag_keys[0], "ta g=k"));
    assert (s_text_is (line->tag_values[0], "v,a l=ue"));
    assert (s_text_is (line->fields[0].key, "fi,el=d k"));
    //  In a measurement '\=' is no escape; backslashes per the reference
    assert (s_parse ("a\\=b f=1", 1, line) == LW_LP_OK);
    assert (s_text_is (line->measurement, "a\\=b"));
    assert (s_parse ("a\\b f=1", 1, line) == LW_LP_OK);
    assert (s_text_is (line->measurement, "a\\b"));
    assert (s_parse ("a\\\\b f=1", 1, line) == LW_LP_OK);
    assert (s_text_is (line->measurement, "a\\b"));
    assert (s_parse ("a\\\\\\b f=1", 1, line) == LW_LP_OK);
    assert (s_text_is (line->measurement, "a\\\\b"));
    //  An escaped space does not end a tag value; a trailing backslash
    //  is literal
    assert (s_parse ("m,t=v\\ f=1", 1, line) == LW_LP_NO_FIELDS);
    assert (s_parse ("m,t=v\\ f=1 x=2\\", 1, line) == LW_LP_BAD_VALUE);
    assert (s_parse ("m,t=v f=2 1\\", 1, line) == LW_LP_BAD_TIMESTAMP);
    assert (s_parse ("m,t=v\\ f x\\\\=2", 1, line) == LW_LP_OK);
    assert (s_text_is (line->fields[0].key, "x\\"));
    assert (s_parse ("m,t=v\\ f=1 x=2", 1, line) == LW_LP_OK);
    assert (s_text_is (line->fields[0].key, "x"));

    //  Strings with escaped quotes and backslashes, kept as STRING
    assert (s_parse ("m s=\"a \\\"quoted\\\" b\\\\\",x=1 5", 1, line) ==
            LW_LP_OK);
    assert (line->nfields == 2);
    assert (line->fields[0].type == LW_LP_STRING);
    assert (line->fields[1].value == 1 && line->time == 5);
    assert (s_parse ("m s=\"a, b=c d\" 7", 1, line) == LW_LP_OK);
    assert (line->nfields == 1 && line->time == 7);
    assert (s_parse ("m s=\"open", 1, line) == LW_LP_BAD_STRING);
    assert (s_parse ("m s=\"open\\\"", 1, line) == LW_LP_BAD_STRING);
    assert (s_parse ("m s=\"a\"b", 1, line) == LW_LP_BAD_STRING);

    //  Types
    assert (s_parse ("m a=-5i,b=18446744073709551615u,c=t,d=FALSE,e=True,"
                     "f=-1.5e3,g=.5,h=1.,i=9223372036854775807i,"
                     "j=-9223372036854775808i,k=1",
                     1, line) == LW_LP_OK);
    assert (line->nfields == 11);
    assert (line->fields[0].type == LW_LP_INTEGER &&
            line->fields[0].value == -5);
    assert (line->fields[1].type == LW_LP_UNSIGNED &&
            line->fields[1].value == 18446744073709551615.0);
    assert (line->fields[2].type == LW_LP_BOOLEAN &&
            line->fields[2].value == 1);
    assert (line->fields[3].value == 0 && line->fields[4].value == 1);
    assert (line->fields[5].value == -1500 && line->fields[6].value == 0.5);
    assert (line->fields[7].value == 1 && line->fields[10].value == 1);
    assert (!line->has_time);
    const char *bad_values[] = {"m a=nan",
                                "m a=inf",
                                "m a=-Inf",
                                "m a=0x10",
                                "m a=1e999",
                                "m a=1e",
                                "m a=12ii",
                                "m a=-1u",
                                "m a=18446744073709551616u",
                                "m a=9223372036854775808i",
                                "m a=i",
                                "m a=tru",
                                "m a=",
                                "m a=,b=1",
                                "m a=1.2.3",
                                NULL};
    for (size_t index = 0; bad_values[index]; index++)
        assert (s_parse (bad_values[index], 1, line) == LW_LP_BAD_VALUE);

    //  Structure errors
    assert (s_parse ("", 1, line) == LW_LP_SKIP);
    assert (s_parse ("   \t ", 1, line) == LW_LP_SKIP);
    assert (s_parse ("# a comment, with=stuff 1", 1, line) == LW_LP_SKIP);
    assert (s_parse ("  # indented comment", 1, line) == LW_LP_SKIP);
    assert (s_parse ("\r", 1, line) == LW_LP_SKIP);
    assert (s_parse (",t=v f=1", 1, line) == LW_LP_BAD_MEASUREMENT);
    assert (s_parse ("m", 1, line) == LW_LP_NO_FIELDS);
    assert (s_parse ("m   ", 1, line) == LW_LP_NO_FIELDS);
    assert (s_parse ("m,t=v", 1, line) == LW_LP_NO_FIELDS);
    assert (s_parse ("m,t f=1", 1, line) == LW_LP_BAD_TAG);
    assert (s_parse ("m,=v f=1", 1, line) == LW_LP_BAD_TAG);
    assert (s_parse ("m,t= f=1", 1, line) == LW_LP_BAD_TAG);
    assert (s_parse ("m,t=v, f=1", 1, line) == LW_LP_BAD_TAG);
    assert (s_parse ("m f", 1, line) == LW_LP_BAD_FIELD);
    assert (s_parse ("m =1", 1, line) == LW_LP_BAD_FIELD);
    assert (s_parse ("m f=1,", 1, line) == LW_LP_BAD_FIELD);
    assert (s_parse ("m f=1 12x", 1, line) == LW_LP_BAD_TIMESTAMP);
    assert (s_parse ("m f=1 12 13", 1, line) == LW_LP_BAD_TIMESTAMP);
    assert (s_parse ("m f=1 99999999999999999999", 1, line) ==
            LW_LP_BAD_TIMESTAMP);
    assert (s_parse ("m f=1 9300000000", 1000000000, line) ==
            LW_LP_BAD_TIMESTAMP);

    //  Precision, negative timestamps, CRLF and trailing blanks
    assert (s_parse ("m f=1 1700000000  \r", 1000000000, line) == LW_LP_OK);
    assert (line->time == 1700000000LL * 1000000000LL);
    assert (s_parse ("m f=1 1700000000123", 1000000, line) == LW_LP_OK);
    assert (line->time == 1700000000123LL * 1000000LL);
    assert (s_parse ("m f=1 -5", 1000, line) == LW_LP_OK);
    assert (line->time == -5000);
    assert (s_parse ("m  f=1   3", 1, line) == LW_LP_OK);
    assert (line->time == 3);

    //  Limits
    char big[4096];
    size_t length = (size_t)snprintf (big, sizeof (big), "m");
    for (int tag = 0; tag <= LW_LP_TAGS_MAX; tag++)
        length += (size_t)snprintf (big + length, sizeof (big) - length,
                                    ",t%d=v", tag);
    snprintf (big + length, sizeof (big) - length, " f=1");
    assert (s_parse (big, 1, line) == LW_LP_TOO_MANY);
    length = (size_t)snprintf (big, sizeof (big), "m f0=1");
    for (int field = 1; field <= LW_LP_FIELDS_MAX; field++)
        length += (size_t)snprintf (big + length, sizeof (big) - length,
                                    ",f%d=1", field);
    assert (s_parse (big, 1, line) == LW_LP_TOO_MANY);

    //  Every prefix of a valid line and random bytes never crash, and
    //  scratch never overflows (ASan checks the bound of a tight buffer)
    const char *full = "m\\ x,t\\=a=b\\,c f\\ 1=1.5,s=\"q\\\"\",b=t 1234";
    size_t full_size = strlen (full);
    for (size_t cut = 0; cut <= full_size; cut++) {
        char *copy = (char *)malloc (cut + 1);
        char *tight = (char *)malloc (cut + 1);
        assert (copy && tight);
        memcpy (copy, full, cut);
        lw_lineproto_parse (copy, cut, 1, line, tight, cut);
        free (copy);
        free (tight);
    }
    uint64_t state = 42;
    const char alphabet[] = "ab,= \\\"#1.e-it\r";
    for (int round = 0; round < 20000; round++) {
        char input[64];
        char tight[64];
        size_t size = (size_t)(round % 64);
        for (size_t index = 0; index < size; index++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            input[index] = alphabet[(state >> 33) % (sizeof (alphabet) - 1)];
        }
        int rc = lw_lineproto_parse (input, size, 1000, line, tight, size);
        assert (rc <= LW_LP_SKIP && rc >= LW_LP_TOO_MANY);
        if (rc == LW_LP_OK)
            assert (line->nfields > 0);
    }
    for (int result = LW_LP_TOO_MANY; result <= LW_LP_SKIP; result++)
        assert (strcmp (lw_lineproto_reason (result), "unknown") != 0);
    free (line);
    printf ("OK\n");
}
