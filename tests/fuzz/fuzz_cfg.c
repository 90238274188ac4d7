/*  =========================================================================
    fuzz_cfg.c - libFuzzer target: config loading (lw_cfg, lw_node,
    lw_detect_cfg)

    Copyright (c) the linewatch authors. MIT license.

    The input is a config file's text, loaded with lw_cfg_load_text: what
    lw_cfg_load does with a file once it has read it (size check,
    zconfig's ZPL parser, comment stripping), without a file write and
    read per input. Then it is read with lw_node_load,
    lw_detect_cfg_load, lw_cfg_check_keys and a few overrides.
    Everything must fail cleanly or succeed; the getters must return only
    values within their ranges.
    =========================================================================
*/

#include "fuzz_util.h"
#include "lw_cfg.h"
#include "lw_detect.h"
#include "lw_limits.h"

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
    zconfig_t *cfg = lw_cfg_load_text (data, size, "fuzz");
    if (!cfg)
        return 0;
    lw_node_t node;
    if (lw_node_load (cfg, "/tmp/lw-fuzz-home", &node) == 0) {
        assert (node.partitions >= 1 && node.partitions <= LW_PARTITIONS_MAX);
        assert (strlen (node.readings_in) < LW_ENDPOINT_MAX);
    }
    lw_detect_cfg_t detect;
    if (lw_detect_cfg_load (cfg, &detect) == 0)
        assert (detect.window >= 1);

    long number;
    if (lw_cfg_int (cfg, "common/partitions", 8, 1, 64, &number) == 0)
        assert (number >= 1 && number <= 64);
    double real;
    if (lw_cfg_double (cfg, "detect/z_scale", 3, 0.1, 100, &real) == 0)
        assert (real >= 0.1 && real <= 100);
    bool flag;
    lw_cfg_bool (cfg, "common/log/verbose", false, &flag);
    const char *text;
    if (lw_cfg_string (cfg, "ingest/source/sim/type", "sim", 16, &text) == 0)
        assert (strlen (text) <= 16);
    const char *choices[] = {"sim", "csv", "gateway", NULL};
    int choice;
    if (lw_cfg_choice (cfg, "ingest/source/a/type", "sim", choices, &choice)
        == 0)
        assert (choice >= 0 && choice < 3);
    char endpoint[LW_ENDPOINT_MAX];
    lw_cfg_endpoint (cfg, "ingest/gateway", "ipc://gateway", "/tmp/h",
                     endpoint, sizeof (endpoint));
    const char *known[] = {"common/*", "broker/*", "detect/*",
                           "ingest/source/*/type", NULL};
    lw_cfg_check_keys (cfg, known);

    //  The first line of the input as a --set override
    char line[256];
    size_t length = 0;
    while (length < size && length < sizeof (line) - 1 && data[length] != '\n')
        length++;
    memcpy (line, data, length);
    line[length] = 0;
    lw_cfg_override (cfg, line);
    zconfig_destroy (&cfg);
    return 0;
}
