#!/usr/bin/env bash
# Build the libFuzzer harness (tests/fuzz/fuzz_page.c) with clang, ASan and
# UBSan, and run it for SECONDS (default 60) on a working copy of the seed
# corpus. Fails (non-zero) on any crash, leak, timeout, out-of-memory or
# sanitizer report; ends with one line:
#   fuzz: N executions in S s, 0 crashes
# Usage: scripts/fuzz.sh [SECONDS]
# Environment: FUZZ_JOBS=N runs N processes in parallel (default 1);
#   FUZZ_TZ=<IANA zone> is the zone the writers use (default UTC);
#   FUZZ_ARGS adds libFuzzer options; FUZZ_CFLAGS adds compiler options.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
case "$secs" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 64 ;;
esac
jobs=${FUZZ_JOBS:-1}

out=build/fuzz
bin=$out/fuzz_page
mkdir -p "$out/artifacts" "$out/corpus"

# What the modules need (libcurl, zlib, libcsv, jsmn), then clang + libFuzzer.
scripts/deps.sh build

fuzzer_ok() {
	command -v clang >/dev/null 2>&1 || return 1
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$out/probe.c"
	clang -fsanitize=fuzzer,address,undefined -o "$out/probe" "$out/probe.c" >/dev/null 2>&1
}
if ! fuzzer_ok; then
	echo "fuzz: installing clang and libclang-rt-14-dev" >&2
	SUDO=
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		clang libclang-rt-14-dev >/dev/null
	fuzzer_ok || { echo "fuzz: clang cannot link libFuzzer" >&2; exit 69; }
fi

# Build: every module but main.c, instrumented, with the harness.
src=()
for f in src/*.c; do
	[ "$f" = src/main.c ] || src+=("$f")
done
# shellcheck disable=SC2206 # FUZZ_CFLAGS is a list of options
extra=(${FUZZ_CFLAGS:-})
# shellcheck disable=SC2046 # pkg-config output is meant to split
clang -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Isrc $(pkg-config --cflags libcurl zlib libcrypto xlsxwriter) "${extra[@]}" \
	-o "$bin" tests/fuzz/fuzz_page.c "${src[@]}" \
	$(pkg-config --libs libcurl zlib libcrypto xlsxwriter) -lcsv -lpthread -lm

# The working corpus: the committed seeds (edge cases written for the fuzzer),
# plus every page the tests and the demo already keep (fixtures and samples,
# taken where they are rather than copied into the repository twice). What the
# fuzzer adds stays under build/ (kept between runs, never committed).
cp -n tests/fuzz/corpus/* "$out/corpus/"
find tests/fixtures samples -type f \( -name '*.json' -o -name '*.jsonl' \) | while read -r f; do
	cp -n "$f" "$out/corpus/seed-$(printf '%s' "$f" | tr '/' '-')"
done
rm -f "$out"/artifacts/* "$out"/fuzz-*.log "$out/fuzz.log"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

args=(-max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
	-print_final_stats=1 -dict=tests/fuzz/json.dict
	-artifact_prefix="$out/artifacts/")
# shellcheck disable=SC2206 # FUZZ_ARGS is a list of options
[ -n "${FUZZ_ARGS:-}" ] && args+=($FUZZ_ARGS)

start=$(date +%s)
set +e
if [ "$jobs" -gt 1 ]; then
	# -fork keeps going after a crash only if told to; it is not told to.
	"$bin" "${args[@]}" -fork="$jobs" "$out/corpus" >"$out/fuzz.log" 2>&1
else
	"$bin" "${args[@]}" "$out/corpus" >"$out/fuzz.log" 2>&1
fi
rc=$?
set -e
elapsed=$(($(date +%s) - start))

execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$out/fuzz.log" | tail -n 1)
if [ -z "$execs" ]; then # -fork prints progress lines, not final stats
	execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$out/fuzz.log" | tail -n 1)
fi
execs=${execs:-0}

# Anything found: libFuzzer's exit code, an artifact, or a report in the log.
crashes=$(find "$out/artifacts" -type f | wc -l)
reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed|SUMMARY: (Address|Undefined|Leak)' "$out/fuzz.log" || true)
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ] || [ "$reports" -ne 0 ]; then
	[ "$crashes" -eq 0 ] && crashes=1
	grep -m1 -E -A40 "ERROR: |runtime error:|invariant failed" "$out/fuzz.log" >&2 || tail -n 40 "$out/fuzz.log" >&2
	echo "fuzz: artifacts (reproduce with $bin <file>):" >&2
	find "$out/artifacts" -type f >&2
	echo "fuzz: $execs executions in $elapsed s, $crashes crashes (exit $rc; log $out/fuzz.log)"
	exit 1
fi
echo "fuzz: $execs executions in $elapsed s, 0 crashes"
