#!/bin/sh
# Generates doc/flags.md and doc/config/<key>.md from the tables in the
# binary. With --check, fails when the committed files differ.
set -eu
cd "$(dirname "$0")/.."
bin=${PORTICO_BIN:-./portico}
check=false
[ "${1:-}" = --check ] && check=true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/config"
"$bin" docs flags >"$tmp/flags.md"
for key in $("$bin" docs keys); do
    "$bin" docs key "$key" >"$tmp/config/$key.md"
done

if $check; then
    fail=0
    diff -u doc/flags.md "$tmp/flags.md" || fail=1
    diff -ru doc/config "$tmp/config" || fail=1
    if [ $fail != 0 ]; then
        echo "doc/ is out of date: run make docs" >&2
        exit 1
    fi
    echo "docs: generated references are up to date"
    exit 0
fi
mkdir -p doc/config
cp "$tmp/flags.md" doc/flags.md
rm -f doc/config/*.md
cp "$tmp/config/"*.md doc/config/
echo "wrote doc/flags.md and doc/config/"
