/*  =========================================================================
    fuzz_lineproto.c - libFuzzer target: InfluxDB line protocol parser
    (lw_lineproto, lw-ingest's line protocol source)

    Copyright (c) the linewatch authors. MIT license.

    The input is split at '\n' like the source frames it; each line is
    copied into a buffer of its exact size (so ASan sees any read past
    it) and parsed with a scratch buffer of exactly `size` bytes, with
    the four timestamp precisions in turn. Every view a parsed line holds
    must lie inside the line or the scratch buffer.
    =========================================================================
*/

#include "fuzz_util.h"
#include "lw_lineproto.h"

static const int64_t s_precisions[] = {1, 1000, 1000000, 1000000000};

//  --------------------------------------------------------------------------
//  True when a view lies inside the line or the scratch buffer

static bool
s_inside (lw_lp_text_t view, const char *line, const char *scratch,
          size_t size)
{
    if (view.size > size)
        return false;
    if (view.size == 0)
        return true;
    bool in_line = view.data >= line && view.data + view.size <= line + size;
    bool in_scratch =
        view.data >= scratch && view.data + view.size <= scratch + size;
    return in_line || in_scratch;
}

//  --------------------------------------------------------------------------
//  Once, before the first input

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet ();
    return 0;
}

//  --------------------------------------------------------------------------
//  One input

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static lw_lp_line_t parsed;
    size_t start = 0;
    int index = 0;
    while (start <= size) {
        const uint8_t *newline =
            (const uint8_t *) memchr (data + start, '\n', size - start);
        size_t end = newline ? (size_t) (newline - data) : size;
        size_t length = end - start;
        char *line = (char *) malloc (length ? length : 1);
        char *scratch = (char *) malloc (length ? length : 1);
        assert (line && scratch);
        memcpy (line, data + start, length);
        int rc = lw_lineproto_parse (line, length, s_precisions[index % 4],
                                     &parsed, scratch, length);
        assert (rc >= LW_LP_TOO_MANY && rc <= LW_LP_SKIP);
        assert (lw_lineproto_reason (rc));
        if (rc == LW_LP_OK) {
            assert (parsed.nfields >= 1 && parsed.nfields <= LW_LP_FIELDS_MAX);
            assert (parsed.ntags <= LW_LP_TAGS_MAX);
            assert (parsed.measurement.size > 0);
            assert (s_inside (parsed.measurement, line, scratch, length));
            for (size_t tag = 0; tag < parsed.ntags; tag++) {
                assert (s_inside (parsed.tag_keys[tag], line, scratch, length));
                assert (
                    s_inside (parsed.tag_values[tag], line, scratch, length));
                lw_lp_text_t value;
                assert (lw_lineproto_tag (&parsed, parsed.tag_keys[tag].data,
                                          parsed.tag_keys[tag].size, &value));
            }
            for (size_t field = 0; field < parsed.nfields; field++) {
                assert (s_inside (parsed.fields[field].key, line, scratch,
                                  length));
                double value = parsed.fields[field].value;
                assert (value == value);    //  Never NaN
            }
        }
        free (line);
        free (scratch);
        if (!newline)
            break;
        start = end + 1;
        index++;
    }
    return 0;
}
