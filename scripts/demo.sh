#!/usr/bin/env bash
# make demo: the main job on the bundled sample. Starts the mock getHistory
# API on a loopback port serving samples/pages, runs `waexport fetch` into
# out/ as CSV (spreadsheet dialect), NDJSON, gzip CSV and an xlsx workbook,
# then stops the mock.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
KEY=demo-key-not-secret
ACCOUNT=972501234567
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

mkdir -p out build
portfile=$(mktemp build/demo-port.XXXXXX)
$PY scripts/mock_api.py --samples samples/pages --account "$ACCOUNT" --api-key "$KEY" \
	--port 0 --port-file "$portfile" --latency-ms 20 >/dev/null &
mock=$!
trap 'kill "$mock" 2>/dev/null; wait "$mock" 2>/dev/null; rm -f "$portfile"' EXIT
for _ in $(seq 100); do
	[ -s "$portfile" ] && break
	sleep 0.05
done
[ -s "$portfile" ] || { echo "demo: the mock API did not start" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$portfile")/whatsapp/v2/getHistory"
echo "mock getHistory API serving samples/pages at $url"
echo

export WAEXPORT_API_KEY=$KEY WAEXPORT_URL=$url
set -x
./waexport fetch --from "$ACCOUNT" --tz Asia/Jerusalem --excel -o out/history.csv
./waexport fetch --from "$ACCOUNT" -o out/history.ndjson --save-raw out/raw-pages.jsonl.gz
./waexport fetch --from "$ACCOUNT" --concurrency 8 -o out/history.csv.gz
./waexport fetch --from "$ACCOUNT" --tz Asia/Jerusalem -o out/history.xlsx
{ set +x; } 2>/dev/null

echo
echo "Files written:"
ls -l out/history.csv out/history.ndjson out/history.csv.gz out/history.xlsx out/raw-pages.jsonl.gz | sed 's/^/  /'
echo
echo "First rows of out/history.csv (--excel, times in Asia/Jerusalem):"
head -4 out/history.csv | cut -c1-160 | sed 's/^/  /'
echo
echo "Open out/history.xlsx (typed cells) or out/history.csv in a spreadsheet; load out/history.ndjson into a warehouse;"
echo "'./waexport convert out/raw-pages.jsonl.gz' turns the saved pages into any of them again."
