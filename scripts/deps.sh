#!/usr/bin/env bash
# Install the Debian packages a target needs, only when one is missing.
# Usage: scripts/deps.sh build|test|bench
set -euo pipefail

build=(make gcc pkg-config libcurl4-openssl-dev libjsmn-dev libcsv-dev zlib1g-dev libssl-dev libxlsxwriter-dev tzdata)
test=(clang-format libcmocka-dev python3 python3-pytest python3-openpyxl sqlite3 curl gzip jq libreoffice-calc-nogui postgresql valgrind mount time strace zstd)

case "${1:-build}" in
build) want=("${build[@]}") ;;
test) want=("${build[@]}" "${test[@]}") ;;
bench) want=("${build[@]}" jq time python3-openpyxl) ;;
*) echo "usage: $0 build|test|bench" >&2; exit 64 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "waexport: installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
# Another apt-get or unattended-upgrades may hold the dpkg lock: wait for it (up to 10
# minutes) instead of failing at once with "Could not get lock".
lock=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${lock[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${lock[@]}" install -y -qq --no-install-recommends \
	"${missing[@]}" >/dev/null
