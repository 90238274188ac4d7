#!/usr/bin/env bash
#   it_bench.sh - lwctl bench measures what its node does
#
#   Copyright (c) the linewatch authors. MIT license.
#
#   Runs `lwctl bench --rate 2000` (a rate any machine keeps) on a small
#   simulator and checks the figures it reports for sense, not speed:
#   exit 0, every JSON key present, readings/s end to end near the rate
#   asked for (half to one and a half times: a counter that went missing
#   or backwards gives far less, or an absurd figure), latency quantiles
#   positive and ordered, nothing lost, no process restarted. Speed
#   figures are for tests/bench, not here.
#   Env: LW_BIN_DIR (the executables), LW_SOURCE_DIR.
set -uo pipefail
bin=${LW_BIN_DIR:?LW_BIN_DIR not set}
source_dir=${LW_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
json=$("$bin/lwctl" -c "$source_dir/config/linewatch.cfg" --json \
       bench --rate 2000 --seconds 3 --sensors 50)
status=$?
echo "it_bench: $json"
[ $status -eq 0 ] || { echo "it_bench: FAIL: exit $status"; exit 1; }

#  field <key>: the number after "key": in the JSON line
field () { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" <<<"$json"; }
failures=0
for key in readings_per_s latency_p50_ms latency_p99_ms latency_p999_ms \
           lost restarts; do
    [ -n "$(field "$key")" ] \
        || { echo "it_bench: FAIL: no $key"; failures=$((failures + 1)); }
done
check () {
    if awk "BEGIN {exit !($2)}"; then
        echo "it_bench: ok: $1"
    else
        echo "it_bench: FAIL: $1 ($2)"
        failures=$((failures + 1))
    fi
}
rate=$(field readings_per_s)
p50=$(field latency_p50_ms)
p99=$(field latency_p99_ms)
p999=$(field latency_p999_ms)
lost=$(field lost)
restarts=$(field restarts)
check "readings/s near the rate asked for" "${rate:-0} >= 1000 && ${rate:-0} <= 3000"
check "latency quantiles positive and ordered" \
      "${p50:-0} > 0 && ${p50:-0} <= ${p99:-0} && ${p99:-0} <= ${p999:-0}"
check "nothing lost" "${lost:-1} == 0"
check "no process restarted" "${restarts:-1} == 0"
[ $failures -eq 0 ] && echo "it_bench: PASS" || echo "it_bench: $failures failed"
exit $(( failures > 0 ))
