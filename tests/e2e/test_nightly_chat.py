"""`-o 'DIR/{chat}.csv'` over a whole account of 300 contacts (SPEC §4.5): exactly
one file per conversation, each holding exactly that conversation's messages,
their union all messages; hostile contact ids stay inside DIR; the number of
chats is not bounded by open file descriptors; a nightly {chat} run writes
files only for the chats with news.
"""
import os
import resource
import subprocess
from collections import defaultdict

import pytest

from conftest import BIN
from fetch_helpers import (ACCOUNT, Mock, csv_rows, fetch_env, mock_factory)  # noqa: F401
from nightly_helpers import (FETCH, all_messages, counterpart, gen_history, grow, night,
                             settle, snapshot, tmp_leftovers, truth, write_samples)

# Hostile or odd contact ids; no two of them can reasonably share a file name.
HOSTILE = ["../x", "IL.123", "IL.1605856887361213", "..", "/abs/y", "a b", "-rf",
           "x\\y", "nul\u0000z", "\u05e9\u05dc\u05d5\u05dd", ".hidden", "CON"]


def norm(chat):
    """A chat id as it appears in the output (SPEC §4.1: U+0000 becomes U+FFFD)."""
    return chat.replace("\u0000", "\ufffd")


N_CONTACTS = 300
PER_CHAT = 3


def contacts():
    g = gen_history.History(21, ACCOUNT, N_CONTACTS - len(HOSTILE))
    nums = list(g.contacts)
    out = nums + HOSTILE
    assert len(set(out)) == N_CONTACTS
    return out


def history():
    """900 messages, 3 per contact, interleaved; newest first; both directions;
    a few with direction drifted to a number or unknown (chat = `to`)."""
    g = gen_history.History(21, ACCOUNT, 40)
    cs = contacts()
    msgs = []
    ts = gen_history.DEFAULT_END_EPOCH - 10 * 86400
    idx = 0
    for rnd in range(PER_CHAT):
        for i, c in enumerate(cs):
            ts += 37
            d = "1" if (i + rnd) % 2 else "2"
            m = g.make(idx, ts, contact=c, direction=d)
            if idx % 97 == 5:
                m["direction"] = int(d)             # type drift
            idx += 1
            msgs.append(m)
    msgs.reverse()
    return msgs


@pytest.fixture(scope="module")
def chat_env(tmp_path_factory):
    d = tmp_path_factory.mktemp("chat300")
    msgs = history()
    pages = write_samples(d / "pages.jsonl", msgs)
    m = Mock("--samples", pages)
    served = all_messages(m)
    assert [x["unique"] for x in served] == [x["unique"] for x in msgs]
    chats = defaultdict(list)
    for x in served:
        chats[norm(counterpart(x))].append(x)
    assert len(chats) == N_CONTACTS and all(len(v) == PER_CHAT for v in chats.values())
    yield m, served, chats
    m.stop()


def check_split(tmp_path, out_dir, served, chats, exact=("IL.123", "../x", "..")):
    """Every file holds exactly one chat's messages, each chat has one file.

    Rows are compared with one `convert` of the whole history (parsed CSV, by
    unique); the files of the chats named in `exact` byte for byte with a
    `convert` of just that chat."""
    work = tmp_path / "truth"
    work.mkdir(exist_ok=True)
    header, *all_rows = csv_rows_with_header(truth(work, served))
    by_unique = {r["unique"]: r for r in all_rows}
    files = sorted(out_dir.iterdir())
    assert all(p.is_file() for p in files), files
    assert len(files) == len(chats), "expected %d files, got %d" % (len(chats), len(files))
    seen_chats = {}
    union = []
    for f in files:
        assert f.suffix == ".csv" and f.parent == out_dir
        data = f.read_bytes()
        fheader, *rows = csv_rows_with_header(data)
        assert fheader == header, f.name
        assert rows, f.name
        cps = {counterpart(r) for r in rows}
        assert len(cps) == 1, (f.name, cps)
        chat = cps.pop()
        assert chat not in seen_chats, (chat, f.name, seen_chats.get(chat))
        seen_chats[chat] = f.name
        want = [by_unique[x["unique"]] for x in reversed(chats[chat])]   # oldest first
        assert rows == want, f.name
        if chat in exact:
            assert data == truth(work, chats[chat]), f.name
        union.extend(r["unique"] for r in rows)
    assert set(exact) <= set(seen_chats)
    assert sorted(union) == sorted(x["unique"] for x in served)
    assert len(set(union)) == len(served)
    return seen_chats


def csv_rows_with_header(data):
    rows = csv_rows(data)
    return [list(rows[0].keys()) if rows else None] + rows


def test_chat_300_contacts_exact_files(chat_env, tmp_path):
    mock, served, chats = chat_env
    settle(mock)
    mock.reset()
    out_dir = tmp_path / "out" / "chats"
    out_dir.mkdir(parents=True)
    before = snapshot(tmp_path)
    r = night(mock, tmp_path / "out" / "state", out_dir / "{chat}.csv")[0]
    assert r.returncode == 0, r.stderr
    names = check_split(tmp_path, out_dir, served, chats)
    # Plain ids keep their exact name.
    for c in map(norm, contacts()):
        if c.isdigit() or c.startswith("IL."):
            assert names[c] == c + ".csv", (c, names[c])
    # Hostile ids: a file inside DIR (checked above), nothing anywhere else.
    new = set(snapshot(tmp_path)) - set(before)
    stray = sorted(p for p in new if not p.startswith(("out/chats/", "truth")) and
                   p not in ("out/state", "out/state.lock"))
    assert stray == [], stray
    assert tmp_leftovers(out_dir) == []
    assert "300 files" in r.stderr.decode(), r.stderr


def test_chat_300_contacts_with_64_file_descriptors(chat_env, tmp_path):
    """SPEC §4.5: the number of chats is not bounded by open file descriptors."""
    mock, served, chats = chat_env
    settle(mock)
    mock.reset()
    out_dir = tmp_path / "chats"
    out_dir.mkdir()

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    r = subprocess.run([BIN] + FETCH + ["--url", mock.url, "-o", str(out_dir / "{chat}.csv")],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=limit, timeout=300)
    assert r.returncode == 0, r.stderr
    check_split(tmp_path, out_dir, served, chats)


def test_chat_files_stay_locked_until_they_are_renamed(tmp_path):
    """Files written per chat are all finished before any is renamed. Each stays locked as a
    live run's until then: a run on another state file that adds to one of them meanwhile
    is refused (75). Unlocked, that run took the finished file for a killed run's leftover,
    removed it, and the first run failed (73) at its rename; had it not removed it, it would
    have renamed its own file over the first run's rows."""
    import fcntl
    import json
    import time
    src = tmp_path / "chats.json"
    n = 3000
    with open(src, "w") as f:
        for page in range(n // 50):
            f.write(json.dumps([{"unique": f"u{page * 50 + i}", "timestamp": str(1700000000 + i),
                                 "direction": "2", "from": ACCOUNT, "to": f"9725{page * 50 + i:08d}",
                                 "message": "x"} for i in range(50)]) + "\n")
    out = tmp_path / "chats"
    out.mkdir()
    p = subprocess.Popen([BIN, "convert", "-q", "-o", str(out / "{chat}.csv"), str(src)],
                         stderr=subprocess.PIPE)
    seen, deadline = 0, time.monotonic() + 120
    try:
        while p.poll() is None and time.monotonic() < deadline:
            unlocked, temps = 0, [e for e in os.listdir(out) if ".tmp." in e]
            for name in temps:
                try:
                    fd = os.open(out / name, os.O_RDONLY)
                except FileNotFoundError:
                    continue  # renamed into place since
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    unlocked += 1  # the one just made may not be locked yet: one is allowed
                except BlockingIOError:
                    pass
                finally:
                    os.close(fd)
            assert unlocked <= 1, f"{unlocked} of {len(temps)} finished chat files unlocked"
            seen = max(seen, len(temps))
    finally:
        _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert seen >= 3, f"saw at most {seen} files before the renames: nothing was checked"
    assert len(os.listdir(out)) == n


def test_chat_ndjson_gz_split_with_date(chat_env, tmp_path):
    import gzip
    import json
    mock, served, chats = chat_env
    settle(mock)
    mock.reset()
    out_dir = tmp_path / "nd"
    out_dir.mkdir()
    r = night(mock, tmp_path / "state", out_dir / "{chat}-{date}.ndjson.gz", "-q")[0]
    assert r.returncode == 0, r.stderr
    files = sorted(out_dir.iterdir())
    assert len(files) == N_CONTACTS
    total = 0
    for f in files:
        assert f.name.endswith(".ndjson.gz")
        recs = [json.loads(x) for x in gzip.decompress(f.read_bytes()).decode().splitlines()]
        cps = {counterpart(x) for x in recs}
        assert len(cps) == 1
        assert sorted(x["unique"] for x in recs) == sorted(
            x["unique"] for x in chats[cps.pop()])
        total += len(recs)
    assert total == len(served)


def test_chat_nightly_second_night_only_chats_with_news(chat_env, tmp_path):
    mock, served, chats = chat_env
    settle(mock)
    mock.reset()
    state = tmp_path / "state"
    d1, d2 = tmp_path / "n1", tmp_path / "n2"
    d1.mkdir()
    d2.mkdir()
    r = night(mock, state, d1 / "{chat}.csv", "-q")[0]
    assert r.returncode == 0, r.stderr
    assert len(list(d1.iterdir())) == N_CONTACTS
    new = grow(mock, 7)
    by_chat = defaultdict(list)
    for x in new:
        by_chat[norm(counterpart(x))].append(x)
    r, reqs = night(mock, state, d2 / "{chat}.csv", "-q")
    assert r.returncode == 0, r.stderr
    files = sorted(d2.iterdir())
    assert len(files) == len(by_chat), [f.name for f in files]
    got = defaultdict(list)
    for f in files:
        for row in csv_rows(f.read_bytes()):
            got[counterpart(row)].append(row["unique"])
    assert {c: sorted(v) for c, v in got.items()} == \
        {c: sorted(x["unique"] for x in v) for c, v in by_chat.items()}
    assert len([e for e in reqs if e["page"] is not None]) <= 2
    settle(mock)
    mock.reset()


def test_chat_files_added_to_are_said_so(chat_env, tmp_path):
    """SPEC §4.4: a second run into the same day's {chat} files added to them; the summary
    said 'wrote 7 messages', as if the day's files held only those."""
    mock, served, chats = chat_env
    settle(mock)
    mock.reset()
    state, d = tmp_path / "state", tmp_path / "day"
    d.mkdir()
    r = night(mock, state, d / "{chat}.csv")[0]
    assert r.returncode == 0, r.stderr
    assert b"account %s: wrote " % ACCOUNT.encode() in r.stderr, r.stderr
    grow(mock, 7)
    r = night(mock, state, d / "{chat}.csv")[0]
    assert r.returncode == 0, r.stderr
    assert b"account %s: added 7 messages from " % ACCOUNT.encode() in r.stderr, r.stderr
    assert b" to %d file" % len({norm(counterpart(x)) for x in all_messages(mock)[:7]}) \
        in r.stderr, r.stderr
    settle(mock)
    mock.reset()


def test_two_runs_adding_to_the_same_chat_files_both_finish(mock_factory, tmp_path):
    """Two states whose --to lists name the same contacts in opposite orders, run together,
    {chat} files: each took its files in the order its chats came, so each held a finished
    file the other waited for, and one gave up after its wait (75) in nearly every trial.
    Taken in the order of the chats' ids, both finish at once, every message in the files
    once per state."""
    mock = mock_factory("--messages", 3000, "--seed", 8, "--contacts", 20)
    chats = sorted({counterpart(x) for x in all_messages(mock)})
    assert len(chats) >= 10
    out = tmp_path / "c"
    out.mkdir()

    def start(state, tos):
        args = FETCH + ["--url", mock.url, "--state", str(tmp_path / state), "-q",
                        "-o", str(out / "{chat}.csv")]
        for c in tos:
            args += ["--to", c]
        return subprocess.Popen([BIN] + args, env=fetch_env(), stderr=subprocess.PIPE)

    for state, tos in (("a", chats), ("b", chats[::-1])):  # both have the files first
        assert start(state, tos).wait(timeout=120) == 0
    for trial in range(3):
        grow(mock, 200)
        a, b = start("a", chats), start("b", chats[::-1])
        ea, eb = a.communicate(timeout=120)[1], b.communicate(timeout=120)[1]
        assert (a.returncode, b.returncode) == (0, 0), (trial, ea, eb)
    rows = [row["unique"] for f in out.iterdir() for row in csv_rows(f.read_bytes())]
    assert sorted(set(rows)) == sorted(x["unique"] for x in all_messages(mock)
                                       if counterpart(x) in chats)
    assert len(rows) == 2 * len(set(rows))


def colliding_history():
    """Chats whose ids sanitise to the same file name: a/b, a_b, a b, a:b."""
    g = gen_history.History(22, ACCOUNT, 40)
    ids = ["a/b", "a_b", "a b", "a:b", "972509876543"]
    msgs = []
    ts = gen_history.DEFAULT_END_EPOCH
    for i in range(20):
        msgs.append(g.make(i, ts - 60 * i, contact=ids[i % len(ids)],
                           direction="1" if i % 2 else "2"))
    return ids, msgs


def test_chat_ids_sharing_a_sanitised_name_lose_no_message(mock_factory, tmp_path):
    ids, msgs = colliding_history()
    m = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    out_dir = tmp_path / "c"
    out_dir.mkdir()
    r = night(m, tmp_path / "state", out_dir / "{chat}.csv", "-q")[0]
    assert r.returncode == 0, r.stderr
    union = []
    for f in out_dir.iterdir():
        union.extend(row["unique"] for row in csv_rows(f.read_bytes()))
    assert sorted(union) == sorted(x["unique"] for x in msgs), \
        "messages lost when chat ids collide after sanitising: %s" % \
        sorted(p.name for p in out_dir.iterdir())


def test_chat_ids_sharing_a_sanitised_name_get_one_file_each(mock_factory, tmp_path):
    """SPEC §4.5: one file per conversation, even when two ids sanitise alike."""
    ids, msgs = colliding_history()
    m = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    out_dir = tmp_path / "c"
    out_dir.mkdir()
    r = night(m, tmp_path / "state", out_dir / "{chat}.csv", "-q")[0]
    assert r.returncode == 0, r.stderr
    files = sorted(out_dir.iterdir())
    per_file = [{counterpart(row) for row in csv_rows(f.read_bytes())} for f in files]
    assert all(len(c) == 1 for c in per_file), \
        {f.name: sorted(c) for f, c in zip(files, per_file)}
    assert len(files) == len(ids), [f.name for f in files]
