#!/bin/sh
# Golden tests: tests/golden/NNN-name/ holds objects.yaml (manifests), an
# optional `flags` file (one extra portico flag per line; blank lines and
# lines starting with '#' are ignored) and the expected output:
#
#   expected.txt         stdout of `portico render --manifests=<case> --disable-ipv6 --spare-backends=0 <flags>`
#   expected-issues.txt  its stderr, `ts=` field removed, sorted (LC_ALL=C)
#
# For each case the runner renders, diffs against the expected files, renders
# again with --output-dir into a temporary directory, checks that the files
# written there are the ones printed, and runs `haproxy -c` on them.
#
#   tests/golden/run.sh [CASE...]          CASE: directory name or path
#   UPDATE_GOLDEN=1 tests/golden/run.sh    rewrite the expected files
#
# A case with a file named BUG documents a known bug: its expected files
# were written by hand to show the correct output, so the case fails until
# the bug is fixed. UPDATE_GOLDEN=1 does not rewrite such a case (it is
# compared as usual); delete BUG once the fix is in.
#
# Environment: PORTICO_BIN (default <repo>/portico), HAPROXY_BIN (default
# haproxy from PATH, else /usr/sbin/haproxy).
#
# Without haproxy the `haproxy -c` check cannot run: each case that passes
# everything else is then counted as skipped, not passed, and a skipped case
# fails the run unless PORTICO_ALLOW_SKIP=1. The last lines are the totals,
# `N passed, N failed, N skipped`, then the names of the failed and skipped
# cases; the exit status is 0 only when nothing failed and nothing was skipped
# (or skips are allowed).
#
# The self-signed default certificate is made at random on every run and
# its size can change by a few bytes, so the byte count printed for
# certs/default.pem is replaced by NNN unless the case sets
# --default-ssl-certificate.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${PORTICO_BIN:-$repo/portico}
haproxy_bin=${HAPROXY_BIN:-haproxy}
update=${UPDATE_GOLDEN:-0}
allow_skip=${PORTICO_ALLOW_SKIP:-0}
LC_ALL=C
export LC_ALL

if [ ! -x "$bin" ]; then
    echo "run.sh: $bin is not an executable (build it with make, or set PORTICO_BIN)" >&2
    exit 2
fi
# Debian installs haproxy in /usr/sbin, which a user's PATH may not hold.
if [ -z "${HAPROXY_BIN:-}" ] && ! command -v haproxy >/dev/null 2>&1 &&
    [ -x /usr/sbin/haproxy ]; then
    haproxy_bin=/usr/sbin/haproxy
fi
have_haproxy=1
if ! command -v "$haproxy_bin" >/dev/null 2>&1; then
    have_haproxy=0
    echo "$haproxy_bin not found: no case can run haproxy -c (install haproxy or set HAPROXY_BIN)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/portico-golden.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# Replaces the byte count of the random self-signed default certificate.
normalize_stdout() {
    if [ "$2" = 1 ]; then
        cat "$1"
    else
        awk 'prev == "### certs/default.pem" && /^\([0-9]+ bytes of key and certificate, not shown\)$/ {
                 sub(/^\([0-9]+/, "(NNN")
             }
             { print; prev = $0 }' "$1"
    fi
}

# Drops the timestamp and the case directory from file names in messages.
normalize_stderr() {
    sed -e 's/^ts=[^ ]* //' -e "s|$2/||g" "$1" | sort
}

# Rebuilds the printed form from the files written by --output-dir, in the
# order of the headers in <stdout>, so both modes can be compared.
reassemble() {
    stdout=$1 dir=$2
    grep '^### ' "$stdout" | while IFS= read -r line; do
        name=${line#\#\#\# }
        printf '%s\n' "$line"
        if [ ! -f "$dir/$name" ]; then
            printf '(missing from --output-dir)\n'
        else
            case $name in
            *.pem) printf '(%s bytes of key and certificate, not shown)\n' \
                "$(wc -c <"$dir/$name" | tr -d ' ')" ;;
            *) cat "$dir/$name" ;;
            esac
        fi
    done
}

if [ $# -eq 0 ]; then
    set --
    for d in "$here"/[0-9][0-9][0-9]-*/; do
        [ -d "$d" ] && set -- "$@" "${d%/}"
    done
fi

passed=0
failed=0
skipped=0
failed_names=
skipped_names=
for arg in "$@"; do
    case $arg in
    */*) dir=$arg ;;
    *) dir=$here/$arg ;;
    esac
    dir=${dir%/}
    name=$(basename "$dir")
    if [ ! -f "$dir/objects.yaml" ]; then
        echo "FAIL $name: no objects.yaml in $dir"
        failed=$((failed + 1))
        failed_names="$failed_names $name"
        continue
    fi

    # flags: one per line, so a flag value may hold spaces
    set --
    own_cert=0
    if [ -f "$dir/flags" ]; then
        while IFS= read -r flag || [ -n "$flag" ]; do
            case $flag in
            '' | '#'*) continue ;;
            --default-ssl-certificate=*) own_cert=1 ;;
            esac
            set -- "$@" "$flag"
        done <"$dir/flags"
    fi

    work=$tmp/$name
    mkdir -p "$work/out"
    ok=1
    msgs=

    "$bin" render --manifests="$dir" --disable-ipv6 --spare-backends=0 "$@" >"$work/stdout.raw" 2>"$work/stderr.raw"
    rc=$?
    normalize_stdout "$work/stdout.raw" "$own_cert" >"$work/stdout"
    normalize_stderr "$work/stderr.raw" "$dir" >"$work/issues"
    if [ "$rc" -ne 0 ]; then
        ok=0
        msgs="$msgs
portico render exited with status $rc; stderr:
$(cat "$work/stderr.raw")"
    fi

    if [ "$update" = 1 ] && [ ! -f "$dir/BUG" ]; then
        cp "$work/stdout" "$dir/expected.txt"
        cp "$work/issues" "$dir/expected-issues.txt"
    else
        for pair in "expected.txt stdout" "expected-issues.txt issues"; do
            exp=${pair% *} got=${pair#* }
            if [ ! -f "$dir/$exp" ]; then
                ok=0
                msgs="$msgs
$exp is missing (generate it with UPDATE_GOLDEN=1, then read it)"
            elif ! diff -u --label "$name/$exp" --label "$name/$exp (actual)" \
                "$dir/$exp" "$work/$got" >"$work/$got.diff"; then
                ok=0
                msgs="$msgs
$(cat "$work/$got.diff")"
            fi
        done
    fi

    if "$bin" render --manifests="$dir" --disable-ipv6 --spare-backends=0 "$@" --output-dir="$work/out" \
        >"$work/od.stdout" 2>"$work/od.stderr"; then
        reassemble "$work/stdout.raw" "$work/out" >"$work/reassembled.raw"
        normalize_stdout "$work/reassembled.raw" "$own_cert" >"$work/reassembled"
        # the self-signed certificate differs between the two runs
        if ! diff -u --label "$name: printed" --label "$name: written by --output-dir" \
            "$work/stdout" "$work/reassembled" >"$work/od.diff"; then
            ok=0
            msgs="$msgs
--output-dir wrote other files than render printed:
$(cat "$work/od.diff")"
        fi
        if [ "$have_haproxy" = 1 ] &&
            ! "$haproxy_bin" -c -f "$work/out/haproxy.cfg" -f "$work/out/backends" \
                >"$work/check" 2>&1; then
            ok=0
            msgs="$msgs
haproxy -c -f haproxy.cfg -f backends failed:
$(cat "$work/check")"
        fi
    else
        ok=0
        msgs="$msgs
portico render --output-dir failed; stderr:
$(cat "$work/od.stderr")"
    fi

    if [ "$ok" = 1 ]; then
        if [ "$update" = 1 ] && [ ! -f "$dir/BUG" ]; then
            note=" (expected files rewritten)"
        else
            note=
        fi
        if [ "$have_haproxy" = 1 ]; then
            echo "ok   $name$note"
            passed=$((passed + 1))
        else
            echo "SKIP $name$note: haproxy -c not run ($haproxy_bin not found)"
            skipped=$((skipped + 1))
            skipped_names="$skipped_names $name"
        fi
    else
        if [ -f "$dir/BUG" ]; then
            msgs="$msgs
known bug ($name/BUG): $(head -n 1 "$dir/BUG")"
        fi
        printf "FAIL %s%s\n" "$name" "$msgs"
        failed=$((failed + 1))
        failed_names="$failed_names $name"
    fi
done

echo "$passed passed, $failed failed, $skipped skipped"
status=0
if [ "$failed" -ne 0 ]; then
    echo "failed:$failed_names"
    status=1
fi
if [ "$skipped" -ne 0 ]; then
    echo "skipped:$skipped_names"
    if [ "$allow_skip" = 1 ]; then
        echo "skipped cases allowed (PORTICO_ALLOW_SKIP=1)"
    else
        echo "a skipped case fails the run (set PORTICO_ALLOW_SKIP=1 to allow skips)"
        status=1
    fi
fi
exit $status
