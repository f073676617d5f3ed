"""The C sources are laid out as the repository's .clang-format says (STYLE.md):
formatting debates are settled by the tool, and this test keeps it applied."""
import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATTERNS = ("src/*.c", "src/*.h", "tests/unit/*.c", "tests/unit/*.h", "tests/fuzz/*.c")


def c_sources():
    files = []
    for pattern in PATTERNS:
        files.extend(sorted(glob.glob(os.path.join(ROOT, pattern))))
    return files


def test_every_c_file_is_formatted():
    tool = shutil.which("clang-format")
    if tool is None:
        pytest.fail("clang-format is missing: scripts/deps.sh test installs it")
    files = c_sources()
    assert len(files) > 100, "the sources were not found"
    res = subprocess.run([tool, "--dry-run", "--Werror", *files], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    unformatted = sorted({line.split(":", 1)[0] for line in res.stderr.splitlines()
                          if "warning:" in line or "error:" in line})
    assert res.returncode == 0, "not laid out as .clang-format says (run `make format`): " + \
        ", ".join(os.path.relpath(f, ROOT) for f in unformatted)
