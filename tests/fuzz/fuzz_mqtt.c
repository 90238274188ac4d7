/*  =========================================================================
    fuzz_mqtt.c - libFuzzer target: MQTT payload and topic decoding
    (lw_mqtt_payload, lw-ingest's MQTT source)

    Copyright (c) the linewatch authors. MIT license.

    Input: byte 0 picks the payload format (number, json, fields) and the
    time unit; up to the first '\n' is a topic (no '\n': empty), matched
    against a few topic maps; the rest is the payload. Both are copied to
    buffers of their exact size (ASan sees any read past them).
    =========================================================================
*/

#include "fuzz_util.h"
#include "lw_mqtt_payload.h"

#include <math.h>

static const char *s_patterns[] = {"plant/{machine}/{sensor}",
                                   "{machine}/{machine}/data/{sensor}/#",
                                   "site/+/{machine}", NULL};
static lw_mqtt_map_t s_maps[3];
static int s_nmaps = 0;

//  --------------------------------------------------------------------------
//  Once, before the first input

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet ();
    for (int index = 0; s_patterns[index]; index++)
        if (lw_mqtt_map_compile (&s_maps[s_nmaps], s_patterns[index]) == 0)
            s_nmaps++;
    return 0;
}

//  --------------------------------------------------------------------------
//  One input

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int64_t units[] = {0, 1, 1000, 1000000, 1000000000};
    lw_mqtt_payload_config_t config = {
        (lw_mqtt_format_t) (data[0] % 3), "value",
        (data[0] & 0x80) ? "" : "ts", units[(data[0] >> 2) % 5]};
    data++;
    size--;
    const uint8_t *newline = (const uint8_t *) memchr (data, '\n', size);
    size_t topic_size = newline ? (size_t) (newline - data) : 0;
    //  libmosquitto hands the source a C string (MQTT forbids U+0000 in
    //  topics): the topic ends at its first NUL, as lw_source_mqtt sees it
    const uint8_t *nul = (const uint8_t *) memchr (data, 0, topic_size);
    size_t topic_used = nul ? (size_t) (nul - data) : topic_size;
    //  Exactly topic_size bytes, no NUL: the map takes a length
    char *topic = (char *) malloc (topic_size ? topic_size : 1);
    assert (topic);
    memcpy (topic, data, topic_size);
    size_t offset = newline ? topic_size + 1 : 0;
    size_t payload_size = size - offset;
    uint8_t *payload = (uint8_t *) malloc (payload_size ? payload_size : 1);
    assert (payload);
    memcpy (payload, data + offset, payload_size);

    for (int index = 0; index < s_nmaps; index++) {
        char key[256];
        int rc = lw_mqtt_map_key (&s_maps[index], topic, topic_used, key,
                                  sizeof (key));
        assert (rc == LW_MQTT_NO_MATCH || (rc >= 0 && rc < (int) sizeof (key)));
        if (rc >= 0)
            assert (strlen (key) == (size_t) rc);
    }
    static lw_mqtt_decoded_t decoded;
    int rc = lw_mqtt_payload_decode (&config, payload, payload_size, &decoded);
    assert (rc <= 0 && rc >= LW_MQTT_NO_MATCH);
    assert (lw_mqtt_payload_reason (rc));
    if (rc == 0) {
        assert (decoded.count <= LW_MQTT_VALUES_MAX);
        for (size_t index = 0; index < decoded.count; index++) {
            assert (strlen (decoded.values[index].name) <= LW_MQTT_NAME_MAX);
            assert (!isnan (decoded.values[index].value)
                    || config.format != LW_MQTT_NUMBER);
        }
    }
    free (topic);
    free (payload);
    return 0;
}
