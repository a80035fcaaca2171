#!/bin/sh
# Runs the fuzz targets `make fuzz-build` left in build-fuzz/fuzz/.
#
#   fuzz/run.sh fuzz SECONDS [TARGET...]   replay, then fuzz each target SECONDS
#   fuzz/run.sh regress [TARGET...]        replay only: fuzz/regressions/<target>/,
#                                          fuzz/corpus/<target>/ and the seeds
#                                          made from tests/golden (fuzz/seeds.py)
#
# Fuzzing grows build-fuzz/corpus/<target>/ (kept between runs) and writes a
# crashing input to build-fuzz/crashes/<target>/; one line per target gives
# the executions, the CPU time, the coverage (libFuzzer's "cov", edges, and
# "ft", features) and the crashes. Exit status 1 when anything crashed.
# FUZZ_JOBS=N (default 1) fuzzes N targets at a time.
set -u
cd "$(dirname "$0")/.."

mode=${1:-}
[ $# -gt 0 ] && shift
case $mode in
fuzz) secs=${1:?usage: fuzz/run.sh fuzz SECONDS [TARGET...]}; shift ;;
regress) ;;
*) echo "usage: fuzz/run.sh fuzz SECONDS [TARGET...] | regress [TARGET...]" >&2; exit 2 ;;
esac
bin=build-fuzz/fuzz
targets=$*
[ -n "$targets" ] || targets=$(for f in fuzz/fuzz_*.c; do basename "$f" .c; done)
# every UBSan report stops the run (the build has -fno-sanitize-recover too);
# LeakSanitizer checks each input
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# FUZZ_JOBS=N fuzzes N targets at a time: this script again on a share of them
jobs=${FUZZ_JOBS:-1}
if [ -z "${FUZZ_SHARE:-}" ]; then
    python3 fuzz/seeds.py build-fuzz/seeds || exit 2
    if [ "$mode" = fuzz ] && [ "$jobs" -gt 1 ]; then
        pids=
        j=0
        while [ $j -lt "$jobs" ]; do
            share=$(printf '%s\n' $targets | awk -v j=$j -v n="$jobs" '(NR - 1) % n == j')
            [ -n "$share" ] && { FUZZ_SHARE=1 "$0" fuzz "$secs" $share & pids="$pids $!"; }
            j=$((j + 1))
        done
        fail=0
        for p in $pids; do wait "$p" || fail=1; done
        exit $fail
    fi
fi

# The children's CPU time so far, in seconds (`times`, in this shell: not in
# a command substitution, whose children are others).
cpu() {
    times >build-fuzz/times.$$
    awk 'NR == 2 { split($0, t, /[ ms]+/); print t[1] * 60 + t[2] + t[3] * 60 + t[4] }' \
        build-fuzz/times.$$
}

fail=0
for t in $targets; do
    [ -x "$bin/$t" ] || { echo "$t: $bin/$t missing (make fuzz-build)" >&2; fail=1; continue; }
    # replay: every file once; the target's own output is hidden
    files=$(find "fuzz/regressions/$t" "fuzz/corpus/$t" "build-fuzz/seeds/$t" -type f \
        2>/dev/null | sort)
    n=$(printf '%s\n' "$files" | grep -c .)
    log=build-fuzz/$t.replay.log
    if [ "$n" -gt 0 ] && ! printf '%s\n' "$files" |
        xargs "$bin/$t" -close_fd_mask=2 >"$log" 2>&1; then
        echo "$t: replay FAILED (see $log)"
        grep -m 5 -E 'ERROR|runtime error|Running:' "$log" | tail -n 5
        fail=1
        continue
    fi
    [ "$mode" = regress ] && { echo "$t: $n inputs replayed, ok"; continue; }

    mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
    dict=
    [ -f "fuzz/$t.dict" ] && dict=-dict=fuzz/$t.dict
    log=build-fuzz/$t.log
    cpu >build-fuzz/cpu.$$
    read -r before <build-fuzz/cpu.$$
    "$bin/$t" -max_total_time="$secs" -close_fd_mask=2 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/crashes/$t/" $dict "build-fuzz/corpus/$t" \
        $(for d in "fuzz/corpus/$t" "build-fuzz/seeds/$t"; do [ -d "$d" ] && echo "$d"; done) \
        >"$log" 2>&1
    rc=$?
    cpu >build-fuzz/cpu.$$
    read -r after <build-fuzz/cpu.$$
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -E '^#[0-9]+' "$log" | grep -o 'cov: [0-9]* ft: [0-9]*' | tail -n 1)
    crashes=0
    if [ $rc != 0 ]; then
        crashes=1
        fail=1
    fi
    printf '%s: %s execs, %s CPU s, %s, crashes %s\n' "$t" "${execs:-?}" \
        "$(echo "$before $after" | awk '{ printf "%.1f", $2 - $1 }')" "${cov:-cov: ?}" "$crashes"
    if [ $rc != 0 ]; then
        grep -m 3 -E 'ERROR|runtime error|Test unit written' "$log"
        echo "  log: $log; keep the input in fuzz/regressions/$t/ once fixed"
    fi
done
rm -f build-fuzz/times.$$ build-fuzz/cpu.$$
exit $fail
