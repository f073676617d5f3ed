"""Shared fixtures for the end-to-end tests: the binary under test and helpers."""
import os
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("WAEXPORT_BIN", str(ROOT / "waexport"))
PY = "/usr/bin/python3"

# A suite started in the background of a script (SIGINT ignored) or under nohup (SIGHUP
# ignored) would hand that to every run it starts, and waexport rightly keeps a signal
# its parent ignores: the tests that send SIGINT or SIGHUP would see it ignored. Runs
# start with the terminal's dispositions, as a user's do (a test that wants one ignored
# says so in its own preexec_fn).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


# Many tests run several nights into `{date}` files and expect them in one day's file (the
# README's cron recipe): one that straddles midnight (UTC, or Jerusalem's, the zone the
# tests use with --tz) rightly writes two files and fails. A test that would start in
# the last minute of such a day waits for the next one instead (at most a minute, once
# in a run of the suite).
MIDNIGHT_MARGIN_S = 60


def _seconds_to_midnight(zone):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    now = datetime.now(ZoneInfo(zone))
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


@pytest.fixture(autouse=True)
def _not_across_midnight():
    import time
    left = min(_seconds_to_midnight(z) for z in ("UTC", "Asia/Jerusalem"))
    if left < MIDNIGHT_MARGIN_S:
        time.sleep(left + 1)


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
