"""Shared fixtures for the end-to-end tests: the binary under test and helpers."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("WAEXPORT_BIN", str(ROOT / "waexport"))
PY = "/usr/bin/python3"


def run(args, input=None, env=None, timeout=120, cwd=None):
    """Run waexport with args; returns CompletedProcess with bytes stdout/stderr."""
    full_env = dict(os.environ)
    full_env.pop("WAEXPORT_API_KEY", None)
    if env:
        full_env.update(env)
    return subprocess.run([BIN] + [str(a) for a in args], input=input, env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, cwd=cwd)


@pytest.fixture
def waexport():
    return run
