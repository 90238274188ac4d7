/*  =========================================================================
    lw_mqtt_payload.c - MQTT payload and topic decoding (pure functions)

    Copyright (c) the linewatch authors. MIT license.

    A small strict JSON reader over a bounded byte range: one pass, no
    allocation, no recursion (nested values are skipped with a bracket
    stack of LW_MQTT_DEPTH_MAX). Numbers follow RFC 8259's grammar before
    strtod sees a terminated copy, so "nan", "inf", hex and blanks never
    become readings.
    =========================================================================
*/

#include <czmq.h>
#include <math.h>

#include "lw_mqtt_payload.h"
#include "lw_util.h"

#define S_NUMBER_MAX 63 //  Longest number we parse
#define S_TIME_MAX 63   //  Longest time string we parse

//  Level kinds of a topic map
enum { S_LITERAL, S_MACHINE, S_SENSOR, S_PLUS, S_HASH };

//  JSON cursor
typedef struct {
    const char *text; //  Payload
    size_t size;      //  Its length
    size_t pos;       //  Next byte
} s_json_t;

//  --------------------------------------------------------------------------
//  Skips JSON whitespace; true if anything is left

static inline bool
s_ws (s_json_t *json)
{
    while (json->pos < json->size &&
           (json->text[json->pos] == ' ' || json->text[json->pos] == '\t' ||
            json->text[json->pos] == '\n' || json->text[json->pos] == '\r'))
        json->pos++;
    return json->pos < json->size;
}

//  --------------------------------------------------------------------------
//  Scans an RFC 8259 number at pos. Returns its length, or 0.

static size_t
s_number_span (const char *text, size_t size)
{
    size_t pos = 0;
    if (pos < size && text[pos] == '-')
        pos++;
    if (pos < size && text[pos] == '0')
        pos++;
    else if (pos < size && text[pos] >= '1' && text[pos] <= '9')
        while (pos < size && text[pos] >= '0' && text[pos] <= '9')
            pos++;
    else
        return 0;
    if (pos < size && text[pos] == '.') {
        size_t digits = ++pos;
        while (pos < size && text[pos] >= '0' && text[pos] <= '9')
            pos++;
        if (pos == digits)
            return 0;
    }
    if (pos < size && (text[pos] == 'e' || text[pos] == 'E')) {
        pos++;
        if (pos < size && (text[pos] == '+' || text[pos] == '-'))
            pos++;
        size_t digits = pos;
        while (pos < size && text[pos] >= '0' && text[pos] <= '9')
            pos++;
        if (pos == digits)
            return 0;
    }
    return pos;
}

//  --------------------------------------------------------------------------
//  Converts a number span to a finite double. 0 or -1.

static int
s_number_value (const char *text, size_t size, double *out)
{
    if (size == 0 || size > S_NUMBER_MAX)
        return -1;
    char copy[S_NUMBER_MAX + 1];
    memcpy (copy, text, size);
    copy[size] = 0;
    char *end;
    double value = strtod (copy, &end);
    if (end != copy + size || !isfinite (value))
        return -1;
    *out = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Appends one byte to a bounded buffer; clears *fits when it is full

static inline void
s_put (char *out, size_t out_size, size_t *length, bool *fits, char c)
{
    if (*length + 1 < out_size)
        out[(*length)++] = c;
    else
        *fits = false;
}

//  --------------------------------------------------------------------------
//  Reads 4 hex digits. Returns the code unit or -1.

static long
s_hex4 (s_json_t *json)
{
    if (json->size - json->pos < 4)
        return -1;
    long code = 0;
    for (int digit = 0; digit < 4; digit++) {
        char c = json->text[json->pos++];
        code <<= 4;
        if (c >= '0' && c <= '9')
            code |= c - '0';
        else if (c >= 'a' && c <= 'f')
            code |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            code |= c - 'A' + 10;
        else
            return -1;
    }
    return code;
}

//  --------------------------------------------------------------------------
//  Reads a string at pos (a '"'), decoding escapes into out (NUL-
//  terminated; *fits false when it was cut). Returns 0 or -1.

static int
s_string (s_json_t *json, char *out, size_t out_size, bool *fits)
{
    size_t length = 0;
    *fits = true;
    json->pos++;
    while (json->pos < json->size) {
        unsigned char c = (unsigned char)json->text[json->pos++];
        if (c == '"') {
            out[length] = 0;
            return 0;
        }
        if (c < 0x20)
            return -1; //  Control characters must be escaped
        if (c != '\\') {
            s_put (out, out_size, &length, fits, (char)c);
            continue;
        }
        if (json->pos >= json->size)
            return -1;
        char escape = json->text[json->pos++];
        long code;
        switch (escape) {
        case '"':
        case '\\':
        case '/':
            code = escape;
            break;
        case 'b':
            code = '\b';
            break;
        case 'f':
            code = '\f';
            break;
        case 'n':
            code = '\n';
            break;
        case 'r':
            code = '\r';
            break;
        case 't':
            code = '\t';
            break;
        case 'u':
            code = s_hex4 (json);
            if (code < 0)
                return -1;
            if (code >= 0xD800 && code <= 0xDBFF) {
                //  A high surrogate needs its low half
                if (json->size - json->pos < 6 ||
                    json->text[json->pos] != '\\' ||
                    json->text[json->pos + 1] != 'u')
                    return -1;
                json->pos += 2;
                long low = s_hex4 (json);
                if (low < 0xDC00 || low > 0xDFFF)
                    return -1;
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            }
            else if (code >= 0xDC00 && code <= 0xDFFF)
                return -1;
            break;
        default:
            return -1;
        }
        //  UTF-8 encoding of the code point
        if (code < 0x80)
            s_put (out, out_size, &length, fits, (char)code);
        else if (code < 0x800) {
            s_put (out, out_size, &length, fits, (char)(0xC0 | (code >> 6)));
            s_put (out, out_size, &length, fits, (char)(0x80 | (code & 0x3F)));
        }
        else if (code < 0x10000) {
            s_put (out, out_size, &length, fits, (char)(0xE0 | (code >> 12)));
            s_put (out, out_size, &length, fits,
                   (char)(0x80 | ((code >> 6) & 0x3F)));
            s_put (out, out_size, &length, fits, (char)(0x80 | (code & 0x3F)));
        }
        else {
            s_put (out, out_size, &length, fits, (char)(0xF0 | (code >> 18)));
            s_put (out, out_size, &length, fits,
                   (char)(0x80 | ((code >> 12) & 0x3F)));
            s_put (out, out_size, &length, fits,
                   (char)(0x80 | ((code >> 6) & 0x3F)));
            s_put (out, out_size, &length, fits, (char)(0x80 | (code & 0x3F)));
        }
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  True when the literal word is at pos (and consumes it)

static bool
s_word (s_json_t *json, const char *word)
{
    size_t size = strlen (word);
    if (json->size - json->pos < size ||
        memcmp (json->text + json->pos, word, size) != 0)
        return false;
    json->pos += size;
    return true;
}

//  --------------------------------------------------------------------------
//  Skips a nested object or array at pos, checking bracket pairs and
//  strings, at most LW_MQTT_DEPTH_MAX deep. 0 or -1.

static int
s_skip_nested (s_json_t *json)
{
    char stack[LW_MQTT_DEPTH_MAX];
    size_t depth = 0;
    while (json->pos < json->size) {
        char c = json->text[json->pos];
        if (c == '"') {
            char ignored[1];
            bool fits;
            if (s_string (json, ignored, sizeof (ignored), &fits))
                return -1;
            continue;
        }
        json->pos++;
        if (c == '{' || c == '[') {
            if (depth == LW_MQTT_DEPTH_MAX)
                return -1;
            stack[depth++] = c == '{' ? '}' : ']';
        }
        else if (c == '}' || c == ']') {
            if (depth == 0 || stack[depth - 1] != c)
                return -1;
            if (--depth == 0)
                return 0;
        }
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Converts a numeric timestamp span. 0 or -1.

static int
s_time_number (const char *text, size_t size, int64_t unit, int64_t *out)
{
    if (unit == 0)
        return lw_time_parse (text, size, out);
    double value;
    if (s_number_value (text, size, &value))
        return -1;
    double ns = value * (double)unit;
    if (!(ns > -9.2e18 && ns < 9.2e18))
        return -1;
    bool integral = memchr (text, '.', size) == NULL &&
                    memchr (text, 'e', size) == NULL &&
                    memchr (text, 'E', size) == NULL;
    if (integral && size < 19) {
        //  Exact for integers: no double rounding of ns. The span is not
        //  NUL-terminated (it may end the payload): copy it (fuzz finding)
        char digits[20];
        memcpy (digits, text, size);
        digits[size] = 0;
        long long whole = strtoll (digits, NULL, 10);
        *out = (int64_t)whole * unit;
    }
    else
        *out = (int64_t)ns;
    return 0;
}

//  --------------------------------------------------------------------------
//  Adds a value to the result. 0 or LW_MQTT_TOO_MANY.

static int
s_add (lw_mqtt_decoded_t *out, const char *name, double value)
{
    if (out->count == LW_MQTT_VALUES_MAX)
        return LW_MQTT_TOO_MANY;
    lw_mqtt_value_t *slot = &out->values[out->count++];
    snprintf (slot->name, sizeof (slot->name), "%s", name);
    slot->value = value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Decodes a payload; see the header

int
lw_mqtt_payload_decode (const lw_mqtt_payload_config_t *config,
                        const void *data, size_t size, lw_mqtt_decoded_t *out)
{
    assert (config);
    assert (out);
    assert (data || size == 0);
    out->count = 0;
    out->has_time = false;
    out->time = 0;
    out->ignored = 0;
    s_json_t json = {(const char *)data, size, 0};
    if (config->format == LW_MQTT_NUMBER) {
        if (!s_ws (&json))
            return LW_MQTT_BAD_NUMBER;
        size_t start = json.pos;
        size_t span = s_number_span (json.text + start, size - start);
        json.pos += span;
        double value;
        if (span == 0 || s_ws (&json) ||
            s_number_value (json.text + start, span, &value))
            return LW_MQTT_BAD_NUMBER;
        return s_add (out, "", value);
    }

    const char *time_field = config->time_field ? config->time_field : "";
    const char *value_field = config->value_field ? config->value_field : "";
    bool fields = config->format == LW_MQTT_FIELDS;
    bool have_value = false;
    double value = 0;
    if (!s_ws (&json) || json.text[json.pos] != '{')
        return LW_MQTT_BAD_JSON;
    json.pos++;
    if (!s_ws (&json))
        return LW_MQTT_BAD_JSON;
    if (json.text[json.pos] == '}')
        json.pos++;
    else
        while (true) {
            char name[LW_MQTT_NAME_MAX + 1];
            bool fits;
            if (json.text[json.pos] != '"' ||
                s_string (&json, name, sizeof (name), &fits))
                return LW_MQTT_BAD_JSON;
            if (!s_ws (&json) || json.text[json.pos] != ':')
                return LW_MQTT_BAD_JSON;
            json.pos++;
            if (!s_ws (&json))
                return LW_MQTT_BAD_JSON;
            bool is_time = fits && *time_field && streq (name, time_field);
            bool is_value = fits && !fields && streq (name, value_field);
            char c = json.text[json.pos];
            if (c == '"') {
                char text[S_TIME_MAX + 1];
                bool text_fits;
                if (s_string (&json, text, sizeof (text), &text_fits))
                    return LW_MQTT_BAD_JSON;
                if (is_time) {
                    if (!text_fits ||
                        lw_time_parse (text, strlen (text), &out->time))
                        return LW_MQTT_BAD_TIME;
                    out->has_time = true;
                }
                else if (fields)
                    out->ignored++;
            }
            else if (c == '-' || (c >= '0' && c <= '9')) {
                size_t start = json.pos;
                size_t span = s_number_span (json.text + start, size - start);
                if (span == 0)
                    return LW_MQTT_BAD_JSON;
                json.pos += span;
                double number;
                int bad = s_number_value (json.text + start, span, &number);
                if (is_time) {
                    if (s_time_number (json.text + start, span,
                                       config->time_unit, &out->time))
                        return LW_MQTT_BAD_TIME;
                    out->has_time = true;
                }
                else if (is_value) {
                    if (bad)
                        return LW_MQTT_NO_VALUE;
                    have_value = true;
                    value = number;
                }
                else if (fields) {
                    if (bad || !fits)
                        out->ignored++;
                    else if (s_add (out, name, number))
                        return LW_MQTT_TOO_MANY;
                }
            }
            else if (c == 't' || c == 'f') {
                bool truth = c == 't';
                if (!s_word (&json, truth ? "true" : "false"))
                    return LW_MQTT_BAD_JSON;
                if (is_time)
                    return LW_MQTT_BAD_TIME;
                if (is_value) {
                    have_value = true;
                    value = truth;
                }
                else if (fields) {
                    if (!fits)
                        out->ignored++;
                    else if (s_add (out, name, truth))
                        return LW_MQTT_TOO_MANY;
                }
            }
            else if (c == 'n') {
                if (!s_word (&json, "null"))
                    return LW_MQTT_BAD_JSON;
                if (fields && !is_time)
                    out->ignored++;
            }
            else if (c == '{' || c == '[') {
                if (s_skip_nested (&json))
                    return LW_MQTT_BAD_JSON;
                if (is_time)
                    return LW_MQTT_BAD_TIME;
                if (fields)
                    out->ignored++;
            }
            else
                return LW_MQTT_BAD_JSON;
            if (!s_ws (&json))
                return LW_MQTT_BAD_JSON;
            c = json.text[json.pos++];
            if (c == '}')
                break;
            if (c != ',' || !s_ws (&json))
                return LW_MQTT_BAD_JSON;
        }
    if (s_ws (&json))
        return LW_MQTT_BAD_JSON; //  Trailing bytes
    if (!fields) {
        if (!have_value)
            return LW_MQTT_NO_VALUE;
        return s_add (out, "", value);
    }
    return out->count ? LW_MQTT_OK : LW_MQTT_NO_VALUE;
}

//  --------------------------------------------------------------------------
//  Compiles a topic map

int
lw_mqtt_map_compile (lw_mqtt_map_t *map, const char *pattern)
{
    assert (map);
    assert (pattern);
    memset (map, 0, sizeof (*map));
    const char *level = pattern;
    while (true) {
        const char *slash = strchr (level, '/');
        size_t size = slash ? (size_t)(slash - level) : strlen (level);
        if (map->nlevels == LW_MQTT_LEVELS_MAX)
            return -1;
        size_t index = map->nlevels++;
        if (size == 9 && memcmp (level, "{machine}", 9) == 0) {
            map->kinds[index] = S_MACHINE;
            map->machines++;
        }
        else if (size == 8 && memcmp (level, "{sensor}", 8) == 0) {
            if (map->has_sensor)
                return -1;
            map->kinds[index] = S_SENSOR;
            map->has_sensor = true;
        }
        else if (size == 1 && *level == '+')
            map->kinds[index] = S_PLUS;
        else if (size == 1 && *level == '#') {
            if (slash)
                return -1;
            map->kinds[index] = S_HASH;
        }
        else {
            if (size == 0 || memchr (level, '{', size) ||
                memchr (level, '}', size) || memchr (level, '+', size) ||
                memchr (level, '#', size))
                return -1;
            map->kinds[index] = S_LITERAL;
        }
        map->texts[index] = level;
        map->sizes[index] = size;
        if (!slash)
            break;
        level = slash + 1;
    }
    return map->machines > 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Matches a topic and writes the key (prefix); see the header

int
lw_mqtt_map_key (const lw_mqtt_map_t *map, const char *topic, size_t topic_size,
                 char *key, size_t key_size)
{
    assert (map);
    assert (topic || topic_size == 0);
    assert (key && key_size > 0);
    const char *spans[LW_MQTT_LEVELS_MAX];
    size_t sizes[LW_MQTT_LEVELS_MAX];
    size_t pos = 0;
    bool done = false; //  Every topic level consumed
    for (size_t index = 0; index < map->nlevels; index++) {
        if (map->kinds[index] == S_HASH) {
            pos = topic_size;
            done = true;
            break;
        }
        if (done)
            return LW_MQTT_NO_MATCH; //  Pattern has more levels
        const char *slash =
            (const char *)memchr (topic + pos, '/', topic_size - pos);
        size_t end = slash ? (size_t)(slash - topic) : topic_size;
        spans[index] = topic + pos;
        sizes[index] = end - pos;
        if (map->kinds[index] == S_LITERAL &&
            (sizes[index] != map->sizes[index] ||
             memcmp (spans[index], map->texts[index], sizes[index]) != 0))
            return LW_MQTT_NO_MATCH;
        if ((map->kinds[index] == S_MACHINE || map->kinds[index] == S_SENSOR) &&
            sizes[index] == 0)
            return LW_MQTT_NO_MATCH;
        if (slash)
            pos = end + 1;
        else {
            pos = topic_size;
            done = true;
        }
    }
    if (!done)
        return LW_MQTT_NO_MATCH; //  Topic has more levels
    size_t length = 0;
    size_t sensor = 0;
    for (size_t index = 0; index < map->nlevels; index++) {
        if (map->kinds[index] == S_SENSOR)
            sensor = index;
        if (map->kinds[index] != S_MACHINE)
            continue;
        if (length + sizes[index] + 1 >= key_size)
            return LW_MQTT_NO_MATCH;
        memcpy (key + length, spans[index], sizes[index]);
        length += sizes[index];
        key[length++] = '/';
    }
    if (map->has_sensor) {
        if (length + sizes[sensor] >= key_size)
            return LW_MQTT_NO_MATCH;
        memcpy (key + length, spans[sensor], sizes[sensor]);
        length += sizes[sensor];
    }
    key[length] = 0;
    return (int)length;
}

//  --------------------------------------------------------------------------
//  Counter-friendly name of a result

const char *
lw_mqtt_payload_reason (int result)
{
    switch (result) {
    case LW_MQTT_OK:
        return "ok";
    case LW_MQTT_BAD_NUMBER:
        return "bad_number";
    case LW_MQTT_BAD_JSON:
        return "bad_json";
    case LW_MQTT_NO_VALUE:
        return "no_value";
    case LW_MQTT_BAD_TIME:
        return "bad_time";
    case LW_MQTT_TOO_MANY:
        return "too_many";
    case LW_MQTT_NO_MATCH:
        return "no_match";
    default:
        return "unknown";
    }
}

//  --------------------------------------------------------------------------
//  Self test helper: decode a C string

static int
s_decode (lw_mqtt_format_t format, const char *text, lw_mqtt_decoded_t *out)
{
    lw_mqtt_payload_config_t config = {format, "value", "ts", 0};
    return lw_mqtt_payload_decode (&config, text, strlen (text), out);
}

//  --------------------------------------------------------------------------
//  Self test

void
lw_mqtt_payload_test (bool verbose)
{
    (void)verbose;
    printf (" * lw_mqtt_payload: ");
    lw_mqtt_decoded_t *out =
        (lw_mqtt_decoded_t *)malloc (sizeof (lw_mqtt_decoded_t));
    assert (out);

    //  Plain numbers
    assert (s_decode (LW_MQTT_NUMBER, "21.5", out) == 0);
    assert (out->count == 1 && out->values[0].value == 21.5);
    assert (!out->has_time);
    assert (s_decode (LW_MQTT_NUMBER, " -3e2\r\n", out) == 0);
    assert (out->values[0].value == -300);
    const char *bad_numbers[] = {"",      " ",     "nan",   "inf", "0x10",
                                 "1e999", "12abc", "1 2",   "+1",  ".5",
                                 "01",    "-",     "\"1\"", NULL};
    for (size_t index = 0; bad_numbers[index]; index++)
        assert (s_decode (LW_MQTT_NUMBER, bad_numbers[index], out) ==
                LW_MQTT_BAD_NUMBER);

    //  JSON value + timestamp in every form
    assert (s_decode (LW_MQTT_JSON, "{\"value\": 7.25, \"ts\": 1700000000}",
                      out) == 0);
    assert (out->count == 1 && out->values[0].value == 7.25);
    assert (out->has_time && out->time == 1700000000LL * 1000000000LL);
    assert (s_decode (LW_MQTT_JSON,
                      "{\"ts\":\"2023-11-14T22:13:20.5Z\",\"unit\":\"C\","
                      "\"meta\":{\"a\":[1,{\"b\":\"]\"}]},\"value\":-1}",
                      out) == 0);
    assert (out->values[0].value == -1);
    assert (out->time == 1700000000LL * 1000000000LL + 500000000LL);
    assert (s_decode (LW_MQTT_JSON, "{\"value\":true}", out) == 0);
    assert (out->values[0].value == 1 && !out->has_time);
    assert (s_decode (LW_MQTT_JSON, "{\"value\":1,\"ts\":1700000000123}",
                      out) == 0);
    assert (out->time == 1700000000123LL * 1000000LL);
    lw_mqtt_payload_config_t seconds = {LW_MQTT_JSON, "v", "t", 1000000000LL};
    const char *text = "{\"v\":2,\"t\":17}";
    assert (lw_mqtt_payload_decode (&seconds, text, strlen (text), out) == 0);
    assert (out->time == 17000000000LL && out->values[0].value == 2);
    text = "{\"v\":2,\"t\":1.5}";
    assert (lw_mqtt_payload_decode (&seconds, text, strlen (text), out) == 0);
    assert (out->time == 1500000000LL);
    //  A numeric time that ends the buffer (unterminated): read in bounds
    char *cut = (char *)malloc (13);
    assert (cut);
    memcpy (cut, "{\"v\":2,\"t\":17", 13);
    assert (lw_mqtt_payload_decode (&seconds, cut, 13, out) ==
            LW_MQTT_BAD_JSON);
    free (cut);
    assert (s_decode (LW_MQTT_JSON, "{\"value\":1,\"ts\":\"yesterday\"}",
                      out) == LW_MQTT_BAD_TIME);
    assert (s_decode (LW_MQTT_JSON, "{\"value\":1,\"ts\":[1]}", out) ==
            LW_MQTT_BAD_TIME);
    assert (s_decode (LW_MQTT_JSON, "{\"value\":1,\"ts\":1e9}", out) ==
            LW_MQTT_BAD_TIME);
    assert (s_decode (LW_MQTT_JSON, "{\"val\":1}", out) == LW_MQTT_NO_VALUE);
    assert (s_decode (LW_MQTT_JSON, "{\"value\":\"1\"}", out) ==
            LW_MQTT_NO_VALUE);
    assert (s_decode (LW_MQTT_JSON, "{}", out) == LW_MQTT_NO_VALUE);
    //  Escaped member names match after decoding
    assert (s_decode (LW_MQTT_JSON, "{\"va\\u006cue\":3}", out) == 0);
    assert (out->values[0].value == 3);

    //  Several sensor fields
    assert (s_decode (LW_MQTT_FIELDS,
                      "{\"temp\":21.5,\"rpm\":1200,\"ts\":1700000000000,"
                      "\"state\":\"run\",\"on\":false,\"x\":null,"
                      "\"\\u00e9t\\u00e9\":1,\"nested\":{\"a\":1}}",
                      out) == 0);
    assert (out->count == 4);
    assert (streq (out->values[0].name, "temp") &&
            out->values[0].value == 21.5);
    assert (streq (out->values[1].name, "rpm") && out->values[1].value == 1200);
    assert (streq (out->values[2].name, "on") && out->values[2].value == 0);
    assert (streq (out->values[3].name, "\xc3\xa9t\xc3\xa9"));
    assert (out->ignored == 3);
    assert (out->time == 1700000000000LL * 1000000LL);
    char many[4096];
    size_t length = (size_t)snprintf (many, sizeof (many), "{\"f0\":1");
    for (int field = 1; field <= LW_MQTT_VALUES_MAX; field++)
        length += (size_t)snprintf (many + length, sizeof (many) - length,
                                    ",\"f%d\":1", field);
    snprintf (many + length, sizeof (many) - length, "}");
    assert (s_decode (LW_MQTT_FIELDS, many, out) == LW_MQTT_TOO_MANY);
    assert (s_decode (LW_MQTT_FIELDS, "{\"s\":\"x\"}", out) ==
            LW_MQTT_NO_VALUE);

    //  Malformed JSON
    const char *bad_json[] = {"",
                              "[1]",
                              "{",
                              "{\"a\"",
                              "{\"a\":}",
                              "{\"a\":1,}",
                              "{\"a\":1}x",
                              "{a:1}",
                              "{\"a\":tru}",
                              "{\"a\":01}",
                              "{\"a\":1 \"b\":2}",
                              "{\"a\":\"\\x\"}",
                              "{\"a\":\"\\ud800\"}",
                              "{\"a\":{\"b\":1]}",
                              "{\"a\":\"tab\there\"}",
                              "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                              "[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
                              NULL};
    for (size_t index = 0; bad_json[index]; index++)
        assert (s_decode (LW_MQTT_FIELDS, bad_json[index], out) ==
                LW_MQTT_BAD_JSON);

    //  Topic maps
    lw_mqtt_map_t map;
    char key[300];
    assert (lw_mqtt_map_compile (&map, "plant/{machine}/{sensor}") == 0);
    assert (lw_mqtt_map_key (&map, "plant/press3/temp", 17, key,
                             sizeof (key)) == 11);
    assert (streq (key, "press3/temp"));
    assert (lw_mqtt_map_key (&map, "plant/press3", 12, key, sizeof (key)) ==
            LW_MQTT_NO_MATCH);
    assert (lw_mqtt_map_key (&map, "plant/press3/temp/x", 19, key,
                             sizeof (key)) == LW_MQTT_NO_MATCH);
    assert (lw_mqtt_map_key (&map, "other/press3/temp", 17, key,
                             sizeof (key)) == LW_MQTT_NO_MATCH);
    assert (lw_mqtt_map_key (&map, "plant//temp", 11, key, sizeof (key)) ==
            LW_MQTT_NO_MATCH);
    assert (lw_mqtt_map_key (&map, "plant/press3/temp", 17, key, 8) ==
            LW_MQTT_NO_MATCH);
    assert (lw_mqtt_map_compile (&map, "{machine}/+/{machine}/{sensor}/#") ==
            0);
    assert (lw_mqtt_map_key (&map, "line1/x/press3/temp/a/b", 23, key,
                             sizeof (key)) > 0);
    assert (streq (key, "line1/press3/temp"));
    assert (lw_mqtt_map_compile (&map, "plant/{machine}") == 0);
    assert (!map.has_sensor);
    assert (lw_mqtt_map_key (&map, "plant/m1", 8, key, sizeof (key)) == 3);
    assert (streq (key, "m1/"));
    assert (lw_mqtt_map_compile (&map, "plant/{sensor}") == -1);
    assert (lw_mqtt_map_compile (&map, "{machine}/{sensor}/{sensor}") == -1);
    assert (lw_mqtt_map_compile (&map, "{machine}/#/x") == -1);
    assert (lw_mqtt_map_compile (&map, "{machine}/a{b}") == -1);
    assert (lw_mqtt_map_compile (&map, "{machine}//x") == -1);

    //  Random bytes never crash
    uint64_t state = 7;
    const char alphabet[] = "{}[]\":,0123456789.eE-+tfnul\\ abc";
    lw_mqtt_payload_config_t fields = {LW_MQTT_FIELDS, "value", "ts", 0};
    for (int round = 0; round < 20000; round++) {
        char input[48];
        size_t size = (size_t)(round % 48);
        for (size_t index = 0; index < size; index++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            input[index] = alphabet[(state >> 33) % (sizeof (alphabet) - 1)];
        }
        if (size)
            input[0] = '{';
        char *exact = (char *)malloc (size + 1);
        assert (exact);
        memcpy (exact, input, size);
        int rc = lw_mqtt_payload_decode (&fields, exact, size, out);
        assert (rc <= 0 && rc >= LW_MQTT_NO_MATCH);
        fields.format = (lw_mqtt_format_t)((round + 1) % 3);
        lw_mqtt_map_compile (&map, "{machine}/{sensor}");
        lw_mqtt_map_key (&map, exact, size, key, sizeof (key));
        free (exact);
    }
    for (int result = LW_MQTT_NO_MATCH; result <= 0; result++)
        assert (!streq (lw_mqtt_payload_reason (result), "unknown"));
    free (out);
    printf ("OK\n");
}
