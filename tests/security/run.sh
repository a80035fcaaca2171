#!/bin/sh
# Runs the hostile-input corpus (README.md here) against PORTICO_BIN
# (default: ./portico of the repository). Extra arguments go to pytest.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PORTICO_BIN=${PORTICO_BIN:-$repo/portico}
export PORTICO_BIN
cd "$repo"
exec python3 -m pytest -q -p no:cacheprovider tests/security "$@"
