/*  =========================================================================
    lw_mqtt_payload.h - MQTT payload and topic decoding (pure functions)

    Copyright (c) the linewatch authors. MIT license.

    What lw_source_mqtt.c does with a message, without the network, so it
    can be tested and fuzzed on bytes alone. Nothing here allocates.

    Topic map: a pattern of '/'-separated levels matched against a topic:
      {machine}  one level, part of the machine (several are joined by '/')
      {sensor}   one level, the sensor
      +          any one level, ignored
      #          (last level only) any remaining levels, ignored
      text       this level exactly
    key = <machine levels joined by '/'> + "/" + <sensor>.

    Payload formats:
      number  the whole payload is a number ("21.5", blanks around ok)
      json    an object; value_field holds the value (a number, or
              true/false as 1/0), time_field the optional timestamp
      fields  an object; every numeric (or boolean) member except
              time_field is one sensor: key = <machine>/<member name>;
              other members (strings, null, objects, arrays) are skipped
              and counted in `ignored`
    A timestamp is an epoch number (unit by magnitude, or time_unit) or a
    string lw_time_parse accepts (ISO 8601 / RFC 3339, or epoch digits).
    JSON is parsed strictly at the top level (RFC 8259 numbers, strings
    with escapes); nested values are skipped by a bounded scan (depth at
    most LW_MQTT_DEPTH_MAX).
    =========================================================================
*/

#ifndef LW_MQTT_PAYLOAD_H_INCLUDED
#define LW_MQTT_PAYLOAD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_MQTT_LEVELS_MAX 16 //  Most levels of a topic map
#define LW_MQTT_VALUES_MAX 64 //  Most readings from one message
#define LW_MQTT_NAME_MAX 64   //  Longest member name kept (bytes)
#define LW_MQTT_DEPTH_MAX 32  //  Deepest nesting skipped in JSON

typedef enum {
    LW_MQTT_NUMBER = 0,
    LW_MQTT_JSON = 1,
    LW_MQTT_FIELDS = 2
} lw_mqtt_format_t;

//  Decoding results; negative = rejected
typedef enum {
    LW_MQTT_OK = 0,
    LW_MQTT_BAD_NUMBER = -1, //  Not a number (number format)
    LW_MQTT_BAD_JSON = -2,   //  Not a JSON object, or malformed
    LW_MQTT_NO_VALUE = -3,   //  value_field missing or not a number
    LW_MQTT_BAD_TIME = -4,   //  time_field present but unparsable
    LW_MQTT_TOO_MANY = -5,   //  More than LW_MQTT_VALUES_MAX readings
    LW_MQTT_NO_MATCH = -6    //  Topic does not fit the map, or key too long
} lw_mqtt_result_t;

typedef struct {
    lw_mqtt_format_t format; //  Payload format
    const char *value_field; //  json: member holding the value
    const char *time_field;  //  json, fields: member holding the time
                             //  ("" = never look)
    int64_t time_unit;       //  ns per unit of a numeric time, 0 = auto
} lw_mqtt_payload_config_t;

//  One decoded value
typedef struct {
    char name[LW_MQTT_NAME_MAX + 1]; //  fields: member name; else ""
    double value;                    //  The value
} lw_mqtt_value_t;

//  What one payload holds
typedef struct {
    size_t count;                               //  Values
    lw_mqtt_value_t values[LW_MQTT_VALUES_MAX]; //  In payload order
    bool has_time;                              //  A timestamp was given
    int64_t time;                               //  It, ns since the epoch
    size_t ignored;                             //  fields: members skipped
} lw_mqtt_decoded_t;

//  Decodes a payload. Returns LW_MQTT_OK or a negative lw_mqtt_result_t.
int lw_mqtt_payload_decode (const lw_mqtt_payload_config_t *config,
                            const void *data, size_t size,
                            lw_mqtt_decoded_t *out);

//  A compiled topic map
typedef struct {
    uint8_t kinds[LW_MQTT_LEVELS_MAX];     //  Level kinds (private)
    const char *texts[LW_MQTT_LEVELS_MAX]; //  Literal levels (in pattern)
    size_t sizes[LW_MQTT_LEVELS_MAX];      //  Their lengths
    size_t nlevels;                        //  Levels
    size_t machines;                       //  {machine} levels
    bool has_sensor;                       //  A {sensor} level
} lw_mqtt_map_t;

//  Compiles a pattern (borrowed: must outlive the map). Returns 0, or -1
//  when it is malformed (no {machine}, more than one {sensor}, '#' not
//  last, more than LW_MQTT_LEVELS_MAX levels, a level mixing text and
//  braces).
int lw_mqtt_map_compile (lw_mqtt_map_t *map, const char *pattern);

//  Matches a topic and writes the key prefix into key (key_size bytes):
//  "<machine>/<sensor>" when the map has {sensor}, else "<machine>/".
//  Returns the key length, or LW_MQTT_NO_MATCH.
int lw_mqtt_map_key (const lw_mqtt_map_t *map, const char *topic,
                     size_t topic_size, char *key, size_t key_size);

//  Counter-friendly name of a result
const char *lw_mqtt_payload_reason (int result);

void lw_mqtt_payload_test (bool verbose);

#endif
