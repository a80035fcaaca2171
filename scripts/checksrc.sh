#!/bin/sh
# Source rules a compiler cannot check: include directions between modules,
# banned calls, and util/banned.h last in every .c file.
set -eu
cd "$(dirname "$0")/.."
fail=0
err() { echo "checksrc: $*" >&2; fail=1; }

inc() { grep -h '^#include "' "$@" 2>/dev/null | sed 's/#include "\([^"]*\)".*/\1/' | sort -u; }

for f in src/util/*.[ch]; do
    inc "$f" | grep -v '^util/' | while read -r h; do echo "$f includes $h"; done
done | while read -r l; do err "$l (util/ includes no other module)"; done

for f in src/model/*.[ch]; do
    for h in $(inc "$f"); do
        case $h in util/* | model/* | store/objects-t.h | store/objects.h | store/store.h) ;;
        *) err "$f includes $h (model/ sees only util/, model/ and store types)" ;;
        esac
    done
    grep -q 'jansson\|curl/' "$f" && err "$f uses JSON or libcurl"
done

for f in src/haproxy/*.[ch]; do
    for h in $(inc "$f"); do
        case $h in kube/* | source/*) err "$f includes $h (haproxy/ never includes kube/)" ;; esac
    done
done

# every .c file, the fuzz targets too: util/banned.h last, no system() or popen()
for f in src/*/*.c src/main.c fuzz/*.c; do
    last=$(grep '^#include' "$f" | tail -n 1)
    [ "$last" = '#include "util/banned.h"' ] || err "$f: util/banned.h must be the last include"
    if grep -nE '(^|[^_a-z])(system|popen)\(' "$f"; then
        err "$f calls system() or popen()"
    fi
done

# HAProxy text is produced in haproxy/ only: nothing else may use its escaping
for f in src/*/*.c src/main.c; do
    case $f in src/haproxy/*) continue ;; esac
    grep -q '#include "haproxy/escape.h"' "$f" && err "$f uses HAProxy escaping outside haproxy/"
done

[ $fail = 0 ] && echo "checksrc: ok"
exit $fail
