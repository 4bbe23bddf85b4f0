#!/bin/sh
# tests/fuzz/run.sh [SECONDS] [BUILD_DIR] — coverage-guided fuzzing of every
# target in tests/fuzz with libFuzzer (clang, ASan + UBSan), SECONDS each
# (default 30). Each target starts from a scratch copy of its checked-in
# corpus, so the repository is not modified; a crash stops the script with
# the reproducer's path and a non-zero exit. `make fuzz` runs it; CI runs it
# briefly.
set -eu
seconds=${1:-30}
build=${2:-build-fuzz}
top=$(cd "$(dirname "$0")/../.." && pwd)

CC=clang cmake -S "$top" -B "$build" -DSTAMPEDE_FUZZ=ON -DSTAMPEDE_WERROR=ON -DSTAMPEDE_ASAN=ON \
    -DSTAMPEDE_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
targets=""
for f in "$top"/tests/fuzz/fuzz_*.c; do
    t=${f##*/fuzz_}
    targets="$targets ${t%.c}"
done
for t in $targets; do
    cmake --build "$build" -j "$(nproc)" --target "${t}_fuzz" >/dev/null
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $targets; do
    mkdir -p "$work/$t"
    cp "$top/tests/fuzz/corpus/$t/"* "$work/$t/" 2>/dev/null || true
    echo "fuzz: $t for ${seconds}s"
    if ! (cd "$work" && ASAN_OPTIONS=detect_leaks=1 \
            "$top/$build/bin/${t}_fuzz" -max_total_time="$seconds" -max_len=65536 \
            -print_final_stats=1 "$work/$t" >"$work/$t.log" 2>&1); then
        tail -40 "$work/$t.log"
        mkdir -p "$top/$build/fuzz-crashes"
        cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$top/$build/fuzz-crashes/" 2>/dev/null || true
        echo "fuzz: $t FAILED; reproducers in $build/fuzz-crashes/" >&2
        exit 1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$t.log" | tr '\n' ' '
    echo
done
echo "fuzz: every target ran ${seconds}s without a finding"
