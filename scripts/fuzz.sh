#!/usr/bin/env bash
# Build the libFuzzer harnesses (tests/fuzz/fuzz_NAME.c: page, source, state,
# journal, decode) with clang, ASan and UBSan, and run them one after the other on
# working copies of their seed corpora (tests/fuzz/corpus-NAME/), SECONDS in
# all (default 60) split evenly between them. Fails (non-zero) on any crash,
# leak, timeout, out-of-memory or sanitizer report; prints one line per
# harness and ends with one line (the sums):
#   fuzz: N executions in S s, 0 crashes
# Usage: scripts/fuzz.sh [SECONDS] [NAME...]   (NAME: only these harnesses,
#   the time split between them)
# Environment: FUZZ_JOBS=N runs N processes in parallel (default 1);
#   FUZZ_TZ=<IANA zone> is the zone the page writers use (default UTC);
#   FUZZ_ARGS adds libFuzzer options; FUZZ_CFLAGS adds compiler options.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(page source state journal decode)
secs=${1:-60}
case "$secs" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS] [${all[*]}]..." >&2; exit 64 ;;
esac
[ $# -gt 0 ] && shift
names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${all[@]}")
for n in "${names[@]}"; do
	[ -f "tests/fuzz/fuzz_$n.c" ] || { echo "$0: no harness tests/fuzz/fuzz_$n.c" >&2; exit 64; }
done
jobs=${FUZZ_JOBS:-1}

out=build/fuzz
mkdir -p "$out/obj"
# What the modules need (libcurl, zlib, libcrypto, libcsv, jsmn), then clang + libFuzzer.
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

# Build: every module but main.c, instrumented, compiled once into objects
# (-MMD: rebuilt when a header they include changes), then each harness.
# shellcheck disable=SC2206 # FUZZ_CFLAGS is a list of options
extra=(${FUZZ_CFLAGS:-})
# shellcheck disable=SC2207 # pkg-config output is meant to split
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
	-fsanitize=address -fsanitize=undefined -fno-sanitize-recover=all
	-Wall -Wextra -Werror -Isrc $(pkg-config --cflags libcurl zlib libcrypto xlsxwriter) "${extra[@]}")
printf '%s\n' "${cflags[*]}" >"$out/obj/flags.new"
cmp -s "$out/obj/flags.new" "$out/obj/flags" || rm -f "$out"/obj/*.o
mv "$out/obj/flags.new" "$out/obj/flags"
objs=()
stale() { # no object yet, or older than its source or a header it includes
	local d
	[ -f "$1" ] && [ -f "${1%.o}.d" ] || return 0
	# shellcheck disable=SC2013 # the .d file is a list of words
	for d in $(sed -e 's/^[^:]*://' -e 's/\\$//' "${1%.o}.d"); do
		[ "$d" -nt "$1" ] && return 0
	done
	return 1
}
for f in src/*.c; do
	[ "$f" = src/main.c ] && continue
	o=$out/obj/$(basename "${f%.c}").o
	objs+=("$o")
	if stale "$o"; then
		clang "${cflags[@]}" -fsanitize=fuzzer-no-link -MMD -c -o "$o" "$f"
	fi
done
for n in "${names[@]}"; do
	# shellcheck disable=SC2046 # pkg-config output is meant to split
	clang "${cflags[@]}" -fsanitize=fuzzer -o "$out/fuzz_$n" "tests/fuzz/fuzz_$n.c" \
		"${objs[@]}" $(pkg-config --libs libcurl zlib libcrypto xlsxwriter) -lcsv -lpthread -lm
done

# The working corpora: the committed seeds (cases written for the fuzzer),
# plus, for the page harness, every page the tests and the demo already keep
# (fixtures and samples, taken where they are rather than copied into the
# repository twice). What the fuzzer adds stays under build/ (kept between
# runs, never committed).
for n in "${names[@]}"; do
	mkdir -p "$out/corpus-$n" "$out/artifacts-$n"
	cp -n "tests/fuzz/corpus-$n"/* "$out/corpus-$n/"
	rm -f "$out/artifacts-$n"/* "$out/fuzz-$n.log"
done
if [ -d "$out/corpus-page" ]; then
	find tests/fixtures samples -type f \( -name '*.json' -o -name '*.jsonl' \) | while read -r f; do
		cp -n "$f" "$out/corpus-page/seed-$(printf '%s' "$f" | tr '/' '-')"
	done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One harness for $2 seconds; its executions on stdout. Non-zero: it found something.
run_one() {
	local n=$1 t=$2 log=$out/fuzz-$1.log rc execs dict
	dict=tests/fuzz/$n.dict
	[ -f "$dict" ] || dict=tests/fuzz/json.dict
	local args=(-max_total_time="$t" -max_len=65536 -timeout=10 -rss_limit_mb=2048
		-print_final_stats=1 -dict="$dict" -artifact_prefix="$out/artifacts-$n/")
	# shellcheck disable=SC2206 # FUZZ_ARGS is a list of options
	[ -n "${FUZZ_ARGS:-}" ] && args+=($FUZZ_ARGS)
	set +e
	if [ "$jobs" -gt 1 ]; then
		# -fork keeps going after a crash only if told to; it is not told to.
		"$out/fuzz_$n" "${args[@]}" -fork="$jobs" "$out/corpus-$n" >"$log" 2>&1
	else
		"$out/fuzz_$n" "${args[@]}" "$out/corpus-$n" >"$log" 2>&1
	fi
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ -z "$execs" ]; then # -fork prints progress lines, not final stats
		execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	fi
	echo "${execs:-0}"
	[ "$rc" -eq 0 ] &&
		[ -z "$(find "$out/artifacts-$n" -type f)" ] &&
		! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed|SUMMARY: (Address|Undefined|Leak)' "$log"
}

# The time left is shared by the harnesses left, less a second each for
# starting and stopping, so that the whole stays within SECONDS.
total=0 crashes=0 start=$(date +%s) left=${#names[@]}
for n in "${names[@]}"; do
	t0=$(date +%s)
	each=$(((start + secs - t0) / left - 1))
	[ "$each" -lt 1 ] && each=1
	left=$((left - 1))
	if execs=$(run_one "$n" "$each"); then
		found=0
	else
		found=$(find "$out/artifacts-$n" -type f | wc -l)
		[ "$found" -eq 0 ] && found=1
		grep -m1 -E -A40 "ERROR: |runtime error:|invariant failed" "$out/fuzz-$n.log" >&2 ||
			tail -n 40 "$out/fuzz-$n.log" >&2
		echo "fuzz_$n: artifacts (reproduce with $out/fuzz_$n <file>):" >&2
		find "$out/artifacts-$n" -type f >&2
	fi
	echo "fuzz_$n: $execs executions in $(($(date +%s) - t0)) s, $found crashes (log $out/fuzz-$n.log)"
	total=$((total + execs))
	crashes=$((crashes + found))
done
elapsed=$(($(date +%s) - start))
echo "fuzz: $total executions in $elapsed s, $crashes crashes"
[ "$crashes" -eq 0 ]
