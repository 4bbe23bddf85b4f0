#!/bin/sh
# tests/bench/run.sh BUILD_DIR [burst_bench.py options]
# tests/bench/run.sh BUILD_DIR --only burst|emulator|arrival|scale [that bench's options]
# What `make bench` runs: installs the peers from Debian when they are
# missing (as root; else prints the command and measures the tools that are
# there), then runs burst_bench.py (with the options given) and
# emulator_bench.py (with its defaults) against the binaries in
# BUILD_DIR/bin; `--only` runs one of them. arrival_bench.py runs only with
# `--only arrival` (it also needs BUILD_DIR/bench/rx_server and floor, built
# from tests/bench/*.c with the rest of BUILD_DIR); scale_bench.py only with
# `--only scale` (it needs no peer). The Markdown tables go to
# stdout, the JSON reports to BUILD_DIR/bench/<bench>.json.
# Not part of ctest: it measures time, it asserts nothing.
set -eu
usage="usage: tests/bench/run.sh BUILD_DIR [--only burst|emulator|arrival|scale] [options of that bench]"
if [ $# -lt 1 ]; then
    echo "$usage" >&2
    exit 2
fi
build=$1
shift
only=all
if [ $# -ge 1 ] && [ "$1" = "--only" ]; then
    if [ $# -lt 2 ] || { [ "$2" != burst ] && [ "$2" != emulator ] && [ "$2" != arrival ] &&
        [ "$2" != scale ]; }; then
        echo "$usage" >&2
        exit 2
    fi
    only=$2
    shift 2
fi
here=$(cd "$(dirname "$0")" && pwd)

# The scale benchmark uses no peer: nothing to install.
if [ "$only" = scale ]; then
    mkdir -p "$build/bench"
    exec python3 "$here/scale_bench.py" --bin "$build/bin" --out "$build/bench/scale_bench.json" "$@"
fi

missing=""
command -v hey >/dev/null 2>&1 || missing="$missing hey"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v ab >/dev/null 2>&1 || missing="$missing apache2-utils"
if ! command -v locust >/dev/null 2>&1 && ! /usr/bin/python3 -c 'import locust' 2>/dev/null; then
    missing="$missing python3-locust"
fi
[ -x /usr/bin/time ] || missing="$missing time"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "bench: installing$missing"
        apt-get update -qq
        # $missing is a list of package names: split on purpose.
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    else
        echo "bench: peers missing; install them with:"
        echo "  sudo apt-get install -y hey wrk apache2-utils python3-locust time"
        echo "bench: measuring the tools that are installed"
    fi
fi

mkdir -p "$build/bench"
case $only in
burst)
    exec python3 "$here/burst_bench.py" --bin "$build/bin" --out "$build/bench/burst_bench.json" "$@"
    ;;
emulator)
    exec python3 "$here/emulator_bench.py" --bin "$build/bin" --out "$build/bench/emulator_bench.json" "$@"
    ;;
arrival)
    exec python3 "$here/arrival_bench.py" --bin "$build/bin" --bench-bin "$build/bench" \
        --out "$build/bench/arrival_bench.json" "$@"
    ;;
esac
python3 "$here/burst_bench.py" --bin "$build/bin" --out "$build/bench/burst_bench.json" "$@"
exec python3 "$here/emulator_bench.py" --bin "$build/bin" --out "$build/bench/emulator_bench.json"
