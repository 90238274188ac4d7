#!/usr/bin/env bash
#   it_config.sh - bad config keys, types, ranges and CLI arguments
#
#   Copyright (c) the linewatch authors. MIT license.
#
#   Runs every process and lwctl with a table of bad settings (through
#   --set, a config file, or bad arguments). Each case must: exit with
#   status 2, print a message naming the key (or option) and what is
#   allowed, and start nothing: no ipc socket file in its home and no
#   process left running (lwctl up: no process left running).
#   Env: LW_BIN_DIR (the executables), LW_SOURCE_DIR.
set -uo pipefail
bin=${LW_BIN_DIR:?LW_BIN_DIR not set}
source_dir=${LW_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
work=$(mktemp -d /tmp/lw-it-config.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
cases=0

#  Config files used by the table
printf 'common\n    partitions = 0\n' >"$work/bad-common.cfg"
printf 'ingest\n    batch = 0\n' >"$work/bad-ingest.cfg"
printf 'detect\n    window = 1\n' >"$work/bad-detect.cfg"
printf 'common\n  partitions = 8\n' >"$work/bad-indent.cfg"
printf 'common\n    hwm = 5\n' >"$work/bad-hwm.cfg"
printf 'timestamp,value\n2024-01-01T00:00:00Z,1\n' >"$work/data.csv"

#  check <name> <expected text...> -- <command...>
#  Runs the command with a fresh home (given as --home, or as
#  LINEWATCH_HOME for lwctl), then checks exit 2, every expected text in
#  its output, no socket file and no process of that home left.
check () {
    local name=$1
    shift
    local expect=()
    while [ "$1" != -- ]; do
        expect+=("$1")
        shift
    done
    shift
    cases=$((cases + 1))
    local home=$work/home-$cases
    mkdir -p "$home"
    local output=$work/output-$cases
    LINEWATCH_HOME=$home timeout 60 "$@" >"$output" 2>&1 </dev/null
    local status=$?
    local problems=()
    [ $status -eq 2 ] || problems+=("exit status $status, expected 2")
    for text in "${expect[@]}"; do
        grep -qF -- "$text" "$output" || problems+=("no '$text' in output")
    done
    local sockets
    sockets=$(find "$home" -type s 2>/dev/null | xargs -r -n1 basename \
              | tr '\n' ' ')
    if [ -n "$sockets" ] && [ -z "${ALLOW_SOCKETS:-}" ]; then
        problems+=("socket files left: $sockets")
    fi
    if pgrep -f -- "$home" >/dev/null; then
        problems+=("a process of this home is still running")
        pkill -KILL -f -- "$home"
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        echo "ok   $name"
    else
        failures=$((failures + 1))
        echo "FAIL $name: ${problems[*]}"
        sed 's/^/     | /' "$output" | head -n 8
    fi
}

h () { echo --home "$work/home-$((cases + 1))"; }

#  Every process: the shared checks of lw_main and lw_node_load
for process in lw-broker lw-ingest lw-features lw-scorer lw-feedback; do
    p=$bin/$process
    check "$process partitions out of range" "common/partitions" "[1, 1024]" \
        -- "$p" $(h) --set common/partitions=0
    check "$process heartbeat not a number" "common/heartbeat" \
        "[50, 10000]" -- "$p" $(h) --set common/heartbeat=12abc
    check "$process hwm in a config file" "common/hwm" "[10, 1000000]" \
        -- "$p" $(h) -c "$work/bad-hwm.cfg"
    check "$process verbose not a boolean" "common/log/verbose" "0/1" \
        -- "$p" $(h) --set common/log/verbose=maybe
    check "$process endpoint not loopback" "broker/readings_in" "127.0.0.1" \
        -- "$p" $(h) --set broker/readings_in=tcp://192.0.2.1:5555
    check "$process endpoint section" "common/partitions" "section" \
        -- "$p" $(h) --set common/partitions/x=1
    check "$process malformed --set" "nokey" -- "$p" $(h) --set nokey
    check "$process unknown option" "--bogus" -- "$p" $(h) --bogus
    check "$process option without value" "--config" -- "$p" $(h) --config
    check "$process bad --name" "--name" "letters, digits" \
        -- "$p" $(h) --name 'a b'
    check "$process missing config" "cannot read" "nonexistent.cfg" \
        -- "$p" $(h) -c "$work/nonexistent.cfg"
    check "$process unparsable config" "cannot parse" "ZPL" \
        -- "$p" $(h) -c "$work/bad-indent.cfg"
done

#  Each process's own section (refused in its CONFIGURE)
check "lw-broker batch" "broker/batch" "[1, 100000]" \
    -- "$bin/lw-broker" $(h) --set broker/batch=0
check "lw-ingest batch" "ingest/batch" "[1, 4096]" \
    -- "$bin/lw-ingest" $(h) --set ingest/batch=99999
check "lw-ingest flush" "ingest/flush" "[1, 1000]" \
    -- "$bin/lw-ingest" $(h) --set ingest/flush=x
check "lw-ingest lateness" "ingest/lateness" "[0, 86400000]" \
    -- "$bin/lw-ingest" $(h) --set ingest/lateness=-1
check "lw-ingest wait_ready" "ingest/wait_ready" "0/1" \
    -- "$bin/lw-ingest" $(h) --set ingest/wait_ready=2
check "lw-ingest gateway endpoint" "ingest/gateway" "127.0.0.1" \
    -- "$bin/lw-ingest" $(h) --set ingest/gateway=tcp://192.0.2.1:1
#  The gateway binds before the sources are made: a bad source must not
#  leave the gateway's socket file behind
check "lw-ingest bad source type" "ingest/source/x/type" "simulator" \
    -- "$bin/lw-ingest" $(h) --set ingest/source/x/type=bogus
check "lw-ingest bad source key" "ingest/source/x/rate" \
    -- "$bin/lw-ingest" $(h) --set ingest/source/x/type=simulator \
    --set ingest/source/x/rate=-5
check "lw-features window" "detect/window" "[8, 100000]" \
    -- "$bin/lw-features" $(h) --set detect/window=3
check "lw-scorer publish_scores" "scorer/publish_scores" "0/1" \
    -- "$bin/lw-scorer" $(h) --set scorer/publish_scores=maybe
check "lw-scorer open_threshold" "detect/open_threshold" "[0.01, 0.999]" \
    -- "$bin/lw-scorer" $(h) --set detect/open_threshold=2
check "lw-scorer z_scale not finite" "detect/z_scale" \
    -- "$bin/lw-scorer" $(h) --set detect/z_scale=nan
check "lw-feedback mapsize" "feedback/store/mapsize" \
    "[1048576, 1099511627776]" \
    -- "$bin/lw-feedback" $(h) --set feedback/store/mapsize=5
check "lw-feedback api endpoint" "feedback/api" "127.0.0.1" \
    -- "$bin/lw-feedback" $(h) --set feedback/api=tcp://192.0.2.1:5

#  lw-ingest restarted in the home of one that refused its config, then of
#  one that was killed (its socket file stays: a crash cannot clean up),
#  binds cleanly; stopped, it removes its socket file
#  wait_log <log> <text>: polls the log for the text, 20 s at most
wait_log () {
    local deadline=$((SECONDS + 20))
    while ! grep -qF -- "$2" "$1"; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}
#  wait_exit <pid>: waits for the process to end, 20 s at most; its status
wait_exit () {
    local deadline=$((SECONDS + 20))
    while kill -0 "$1" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            kill -KILL "$1"
            break
        fi
        sleep 0.1
    done
    { wait "$1"; } 2>/dev/null
}
restart_case () {
    cases=$((cases + 1))
    local home=$work/restart
    local problems=()
    mkdir -p "$home"
    "$bin/lw-ingest" --home "$home" --set ingest/source/x/type=bogus \
        >"$work/restart-1.log" 2>&1 </dev/null
    local status=$?
    [ $status -eq 2 ] || problems+=("refused run: exit $status, expected 2")
    [ -e "$home/gateway" ] && problems+=("refused run left $home/gateway")
    "$bin/lw-ingest" --home "$home" >"$work/restart-2.log" 2>&1 </dev/null &
    local pid=$!
    wait_log "$work/restart-2.log" "ingest: configured" ||
        problems+=("second run did not configure")
    [ -S "$home/gateway" ] || problems+=("second run: no gateway socket")
    kill -KILL $pid
    wait_exit $pid
    [ -S "$home/gateway" ] || problems+=("killed run: no stale socket file")
    "$bin/lw-ingest" --home "$home" >"$work/restart-3.log" 2>&1 </dev/null &
    pid=$!
    wait_log "$work/restart-3.log" "ingest: configured" ||
        problems+=("third run did not configure over the stale socket file")
    grep -qF "gateway bound endpoint=ipc://$home/gateway" \
        "$work/restart-3.log" || problems+=("third run: gateway not bound")
    kill -INT $pid
    wait_exit $pid
    status=$?
    [ $status -eq 0 ] || problems+=("third run: exit $status after SIGINT")
    [ -e "$home/gateway" ] && problems+=("stopped run left $home/gateway")
    if [ ${#problems[@]} -eq 0 ]; then
        echo "ok   lw-ingest restart after a refused config and a kill"
    else
        failures=$((failures + 1))
        echo "FAIL lw-ingest restart: ${problems[*]}"
        tail -n 5 "$work"/restart-*.log | sed 's/^/     | /'
    fi
}
restart_case

#  lwctl: arguments and config
c=$bin/lwctl
check "lwctl unknown command" "unknown command" -- "$c" bogus
check "lwctl timeout" "--timeout" "[1, 3600000]" -- "$c" --timeout abc status
check "lwctl limit" "--limit" "[1, 10000]" -- "$c" alerts --limit -3
check "lwctl label value" "anomaly or normal" -- "$c" label 1 maybe
check "lwctl label id" "not an alert id" -- "$c" label abc normal
check "lwctl bench rate" "--rate 1..1e8" -- "$c" bench --rate x
check "lwctl tail option" "usage: lwctl tail" -- "$c" tail --bogus
check "lwctl bad common key" "common/partitions" "[1, 1024]" \
    -- "$c" -c "$work/bad-common.cfg" status
check "lwctl missing config" "cannot read" -- "$c" -c "$work/none.cfg" status
check "lwctl score bad detect" "detect/window" "[8, 100000]" \
    -- "$c" -c "$work/bad-detect.cfg" score "$work/data.csv" --sensor a/b
#  lwctl up starts its processes together: when one refuses its config,
#  it stops them all and exits 2 (the others did bind for a moment, so
#  their stale socket files may stay; no process may be left running)
ALLOW_SOCKETS=1 check "lwctl up bad ingest key" "ingest/batch" "[1, 4096]" \
    "refused its config" -- "$c" -c "$work/bad-ingest.cfg" up

echo "$cases cases, $failures failed"
[ $failures -eq 0 ]
