#!/usr/bin/env bash
# Run every test twice — the normal build and the ASan+UBSan build — then the
# unit tests named in $TSAN_UNIT once more under ThreadSanitizer, and end
# with one line counting everything: "N passed, N failed".
# Usage: scripts/run_tests.sh test_a test_b ...   (the cmocka unit binaries)
set -uo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
export NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=exitcode=86
export TSAN_OPTIONS=halt_on_error=1:exitcode=86
mkdir -p build/test-logs
passed=0
failed=0
failures=()

run_unit() { # variant dir name
	local log="build/test-logs/$1-$3.tap" p f
	CMOCKA_MESSAGE_OUTPUT=TAP "$2/$3" >"$log" 2>&1
	local rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or sanitizer report outside any test
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		failures+=("$1 $3 (see $log)")
		grep -E '^not ok|ERROR|runtime error|Sanitizer' "$log" | head -20
	fi
	printf '  %-8s %-28s %3d passed, %d failed\n' "$1" "$3" "$p" "$f"
}

run_e2e() { # variant binary
	local xml="build/test-logs/e2e-$1.xml" log="build/test-logs/e2e-$1.log"
	WAEXPORT_BIN="$PWD/$2" $PY -m pytest -q -p no:cacheprovider --junitxml="$xml" tests/e2e >"$log" 2>&1
	local rc=$?
	read -r p f < <($PY - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
s = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - s, f)
PYEOF
)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		failures+=("$1 end-to-end (see $log)")
		grep -E '^(FAILED|ERROR)' "$log" | head -30
	fi
	printf '  %-8s %-28s %3d passed, %d failed\n' "$1" "end-to-end (pytest)" "$p" "$f"
}

for variant in normal asan; do
	if [ "$variant" = normal ]; then dir=build/unit bin=waexport; else dir=build/asan/unit bin=build/asan/waexport; fi
	echo "== $variant build"
	for t in "$@"; do
		run_unit "$variant" "$dir" "$t"
	done
	run_e2e "$variant" "$bin"
done

if [ -n "${TSAN_UNIT:-}" ]; then
	echo "== tsan build (threaded modules)"
	for t in $TSAN_UNIT; do
		run_unit tsan build/tsan/unit "$t"
	done
fi

if [ ${#failures[@]} -ne 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
