"""An operator's tool (SPEC §2 --create-dirs and --log-file, §3, §6 progress):
directories made on request (else exit 73 naming them), a log file with a time
and the account on every line, a progress line that says why it waits, a
convert that recognises our own output, and the README's cron recipe run as
written."""
import os
import re
import stat

import pytest

from conftest import ROOT, run
from fetch_helpers import (ACCOUNT, SAMPLE_PAGES, fetch_env, mock_factory,  # noqa: F401
                           samples_mock, samples_server, stderr_lines)

FETCH = ["fetch", "--from", ACCOUNT]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ------------------------------------------------------------------ --create-dirs

def test_nested_template_without_create_dirs_is_73_naming_the_directory(samples_mock, tmp_path):
    r = run(FETCH + ["-o", "exports/{from}/{chat}-{date}.csv"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 73, r.stderr
    line, = stderr_lines(r)
    assert "exports/%s" % ACCOUNT in line, line
    assert "--create-dirs" in line, line
    assert samples_mock.requests() == [], "a missing directory is found before any page"
    assert os.listdir(tmp_path) == []


def test_nested_template_with_create_dirs_makes_them_0700(samples_mock, tmp_path):
    r = run(FETCH + ["--create-dirs", "-o", "exports/{from}/{chat}/{date}.csv"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    top = tmp_path / "exports" / ACCOUNT
    assert mode(tmp_path / "exports") == 0o700 and mode(top) == 0o700
    chats = [d for d in top.iterdir()]
    assert len(chats) > 3 and all(d.is_dir() and mode(d) == 0o700 for d in chats), chats
    assert all(len(list(d.glob("*.csv"))) == 1 for d in chats)
    assert not (top / "{chat}").exists(), "a directory named after the placeholder"


@pytest.mark.parametrize("option,name", [
    ("--save-raw", "raw/pages.jsonl"), ("--state", "state/night.state"),
    ("--metrics-file", "metrics/waexport.prom"), ("--manifest", "manifests/m.json"),
    ("--media-dir", "media/files")])
def test_every_path_the_run_writes_gets_its_directory(samples_mock, tmp_path, option, name):
    env = fetch_env(WAEXPORT_URL=samples_mock.url)
    args = FETCH + ["-o", "out.csv", option, "a/b/" + name]
    r = run(args, env=env, cwd=tmp_path)
    assert r.returncode == 73, r.stderr
    assert "--create-dirs" in r.stderr.decode() and option in r.stderr.decode(), r.stderr
    assert samples_mock.requests() == []
    r = run(args + ["--create-dirs"], env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    made = tmp_path / "a" / "b" / name
    assert mode(tmp_path / "a") == 0o700
    assert (made if option == "--media-dir" else made.parent).is_dir()
    if option != "--media-dir":
        assert made.exists(), option


def test_convert_creates_dirs_too(tmp_path):
    r = run(["convert", "--create-dirs", "-o", tmp_path / "x" / "y" / "out.ndjson",
             SAMPLE_PAGES[0]])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x" / "y" / "out.ndjson").stat().st_size > 0
    r = run(["convert", "-o", tmp_path / "p" / "out.csv", SAMPLE_PAGES[0]])
    assert r.returncode == 73 and b"--create-dirs" in r.stderr, r.stderr
