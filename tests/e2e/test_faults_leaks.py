"""Leak check with valgrind (issue 6 item 3): a fetch and a convert under
`valgrind --leak-check=full --error-exitcode=99` must report no memory error and no
leaked block.

The ASan+UBSan variant of the suite already runs every test with LeakSanitizer on;
valgrind cannot run an ASan binary (both replace malloc), so in that variant this
test checks the normal build (./waexport, which `make test` builds first).
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, ROOT
from fetch_helpers import ACCOUNT, fetch_env, mock_factory  # noqa: F401
from tools import roundtrip_data as rt


def plain_binary():
    """BIN, or ./waexport when BIN is a sanitizer build."""
    if b"__asan_init" not in Path(BIN).read_bytes():
        return BIN
    normal = ROOT / "waexport"
    assert normal.exists(), "./waexport is not built (make waexport)"
    assert b"__asan_init" not in normal.read_bytes()
    return str(normal)


def valgrind(tmp_path, tag, args, env=None):
    exe = shutil.which("valgrind")
    if not exe:
        pytest.fail("valgrind is missing: `scripts/deps.sh test` installs it")
    log = tmp_path / ("valgrind-%s.log" % tag)
    full_env = dict(os.environ)
    full_env.pop("WAEXPORT_API_KEY", None)
    for k in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"):
        full_env.pop(k, None)
    full_env.update(env or {})
    r = subprocess.run([exe, "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
                        "--errors-for-leak-kinds=definite,indirect,possible",
                        "--error-exitcode=99", "--track-fds=no", "--log-file=%s" % log,
                        plain_binary()] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, timeout=300)
    report = log.read_text()
    assert r.returncode != 99, "valgrind found errors or leaks:\n" + report[-6000:]
    assert r.returncode == 0, (r.returncode, r.stderr.decode())
    assert re.search(r"ERROR SUMMARY: 0 errors", report), report[-3000:]
    if "All heap blocks were freed" not in report:
        for kind in ("definitely", "indirectly", "possibly"):
            m = re.search(r"%s lost: ([\d,]+) bytes" % kind, report)
            assert m is None or m.group(1) == "0", report[-6000:]
    return r


def test_fetch_and_convert_under_valgrind(mock_factory, tmp_path):  # noqa: F811
    mock = mock_factory("--samples", ROOT / "samples", "--gzip")
    out, raw = tmp_path / "history.ndjson", tmp_path / "raw.jsonl.gz"
    valgrind(tmp_path, "fetch",
             ["fetch", "--from", ACCOUNT, "--url", mock.url, "--state", tmp_path / "state",
              "--save-raw", raw, "--tz", "Asia/Jerusalem", "-o", out], env=fetch_env())
    assert out.read_bytes().count(b"\n") == 320
    pages = rt.write_crafted(tmp_path)
    csv_out = tmp_path / "chats.csv.gz"
    valgrind(tmp_path, "convert",
             ["convert", "--excel", "--tz", "Asia/Jerusalem", "-o", csv_out, raw] + pages)
    assert csv_out.stat().st_size > 0
