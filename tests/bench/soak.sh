#!/usr/bin/env bash
#   soak.sh - runs a node at a fixed rate for a long time and checks that
#   memory stays flat and nothing is lost.
#
#   Copyright (c) the linewatch authors. MIT license.
#
#   Starts `lwctl up` on a temporary home with the simulator as the load,
#   at half of `lwctl bench --max` (measured first, or SOAK_RATE), for
#   SOAK_SECONDS (default 600). Samples each process's RssAnon (anonymous
#   resident memory, from /proc/<pid>/status: LMDB's file-backed map
#   inflates plain RSS) every 10 s and reports its peak over the first and
#   over the last minute after the warm-up, the growth between them
#   (target: within 5%), readings scored, and lost = gaps + drops of
#   every process from `lwctl status --json` (target: 0).
#   Usage: tests/bench/soak.sh
#   Env: SOAK_SECONDS (600), SOAK_WARMUP (s, default 180, or a quarter of a
#        shorter soak), SOAK_RATE (readings/s; default measured),
#        SOAK_SENSORS (1000), LW_BIN_DIR (default build/bin).
#   Exit status 0 when every process stayed within 5% and lost = 0.
set -uo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LW_BIN_DIR:-$source_dir/build/bin}
lwctl=$bin/lwctl
seconds=${SOAK_SECONDS:-600}
warmup=${SOAK_WARMUP:-$(( seconds >= 600 ? 180 : seconds / 4 ))}
sensors=${SOAK_SENSORS:-1000}
[ -x "$lwctl" ] || { echo "soak: no $lwctl (set LW_BIN_DIR)"; exit 2; }
home=$(mktemp -d /tmp/lw-soak.XXXXXX)
up_pid=
cleanup () {
    [ -n "$up_pid" ] && kill -TERM "$up_pid" 2>/dev/null && wait "$up_pid"
    rm -rf "$home"
}
trap cleanup EXIT

rate=${SOAK_RATE:-}
if [ -z "$rate" ]; then
    echo "soak: measuring the maximum rate (lwctl bench --max --seconds 10)"
    max_json=$("$lwctl" --json bench --max --seconds 10 --sensors "$sensors")
    echo "soak: bench: $max_json"
    max=$(sed -n 's/.*"readings_per_s":\([0-9]*\).*/\1/p' <<<"$max_json")
    ingested=$(sed -n 's/.*"ingested_per_s":\([0-9]*\).*/\1/p' <<<"$max_json")
    #  Scored can only be at most what was ingested; a larger figure is a
    #  bench counting error: take the ingest rate then
    if [ -n "$ingested" ] && { [ -z "$max" ] || [ ${#max} -gt 12 ] \
           || [ "$max" -gt $(( ingested * 2 )) ]; }; then
        echo "soak: readings_per_s=$max is not plausible, using" \
             "ingested_per_s=$ingested"
        max=$ingested
    fi
    [ -n "$max" ] && [ "$max" -gt 0 ] || { echo "soak: bench failed"; exit 1; }
    rate=$(( max / 2 ))
fi
per_machine=10
machines=$(( (sensors + per_machine - 1) / per_machine ))
sed -E -e "s/^( +rate = )[0-9]+/\1$rate/" \
       -e "s/^( +machines = )[0-9]+/\1$machines/" \
       -e "s/^( +sensors = )[0-9]+/\1$per_machine/" \
       "$source_dir/config/linewatch.cfg" >"$home/linewatch.cfg"
echo "soak: rate=$rate readings/s sensors=$((machines * per_machine))" \
     "seconds=$seconds warmup=$warmup home=$home"

#  rss <pid>: RssAnon in kB
rss () { awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
#  counters: prints "scored lost" from lwctl status --json
counters () {
    local json
    json=$("$lwctl" --home "$home" -c "$home/linewatch.cfg" --json status) \
        || return 1
    local scored lost
    scored=$(grep -o '"group":"scorer"[^{]*"out":[0-9]*' <<<"$json" \
             | sed 's/.*"out"://' | awk '{s += $1} END {print s + 0}')
    lost=$(grep -o '"gaps":[0-9]*,"drops":{[^}]*}' <<<"$json" \
           | grep -o '[0-9]\+' | awk '{s += $1} END {print s + 0}')
    echo "$scored $lost"
}

"$lwctl" --home "$home" -c "$home/linewatch.cfg" up >"$home/up.log" 2>&1 &
up_pid=$!
#  The node is up when every process reports and readings are scored
for attempt in $(seq 60); do
    if ! kill -0 "$up_pid" 2>/dev/null; then
        echo "soak: lwctl up ended:"; cat "$home/up.log"; exit 1
    fi
    read -r scored lost < <(counters 2>/dev/null) || true
    [ "${scored:-0}" -gt 0 ] && break
    sleep 1
done
[ "${scored:-0}" -gt 0 ] || { echo "soak: nothing scored in 60 s"; exit 1; }

sleep "$warmup"
declare -A name_of warm_peak end_peak
for pid in $(pgrep -P "$up_pid"); do
    name_of[$pid]=$(tr -d '\0' <"/proc/$pid/comm")
done
read -r scored_start lost_start < <(counters) || true
echo "soak: after warm-up: scored=${scored_start:-?} lost=${lost_start:-?}"
#  RssAnon is sampled every 10 s. A process's memory moves with what its
#  bounded ZeroMQ pipes hold at that instant (up to HWM batches per pipe),
#  so one sample against another is noise of several percent; a leak is a
#  rising envelope. Compared: the peak of the first window after warm-up
#  against the peak of the last window (SOAK_WINDOW s each, default 60).
#  A line of figures every SOAK_SAMPLE seconds (default 60).
window=${SOAK_WINDOW:-60}
sample=${SOAK_SAMPLE:-60}
measured=$(( seconds - warmup ))
[ $(( 2 * window )) -le "$measured" ] || window=$(( measured / 2 ))
elapsed=0
while [ $elapsed -lt "$measured" ]; do
    sleep 10
    elapsed=$(( elapsed + 10 ))
    line="soak: t=$(( warmup + elapsed ))s RssAnon kB:"
    for pid in "${!name_of[@]}"; do
        now=$(rss "$pid")
        [ -n "$now" ] || now=0
        line+=" ${name_of[$pid]}=$now"
        if [ $elapsed -le "$window" ]; then
            [ "$now" -gt "${warm_peak[$pid]:-0}" ] && warm_peak[$pid]=$now
        elif [ $elapsed -gt $(( measured - window )) ]; then
            [ "$now" -gt "${end_peak[$pid]:-0}" ] && end_peak[$pid]=$now
        fi
    done
    [ $(( elapsed % sample )) -eq 0 ] && echo "$line"
done
read -r scored_end lost_end < <(counters) || true

status=0
echo "soak: RssAnon peaks of the first and the last ${window} s after warm-up"
printf '%-12s %8s %12s %12s %8s\n' process pid rss_warm_kB rss_end_kB growth
for pid in "${!name_of[@]}"; do
    end=$(rss "$pid")
    if [ -z "$end" ]; then
        printf '%-12s %8s %12s %12s %8s\n' "${name_of[$pid]}" "$pid" \
            "${warm_peak[$pid]:-?}" gone -
        status=1
        continue
    fi
    a=${warm_peak[$pid]:-0}
    b=${end_peak[$pid]:-$end}
    growth=$(awk -v a="$a" -v b="$b" \
             'BEGIN {printf "%.1f%%", a ? (b - a) * 100 / a : 0}')
    printf '%-12s %8s %12s %12s %8s\n' "${name_of[$pid]}" "$pid" \
        "$a" "$b" "$growth"
    awk -v a="$a" -v b="$b" 'BEGIN {exit !(b <= a * 1.05)}' || status=1
done
echo "soak: scored=${scored_end:-?} readings" \
     "($(( (${scored_end:-0} - ${scored_start:-0}) / (measured > 0 ? measured : 1) ))/s" \
     "after warm-up, target $rate/s) lost=${lost_end:-?}"
[ "${lost_end:-1}" = 0 ] || status=1
restarts=$(grep -c "restarted name=" "$home/up.log" || true)
echo "soak: restarts=$restarts; result: $([ $status = 0 ] && echo PASS || echo FAIL)"
[ "$restarts" = 0 ] || status=1
exit $status
