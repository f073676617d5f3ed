"""Spreadsheet workbooks (SPEC §4.6, issue 15): `--format xlsx` / `-o NAME.xlsx`.

The workbook is read back two ways, independently of libxlsxwriter: our own reader
(zipfile + xml.etree: inline and shared strings, cell types, number formats, the
frozen pane, the autofilter, no <f> formula anywhere) and python3-openpyxl; both are
compared cell by cell with ground truth derived from the input pages (helpers.py).
Text is compared after the OOXML `_xHHHH_` unescaping every spreadsheet applies
(ECMA-376 Part 1 §22.9.2.19), which openpyxl leaves to its caller. LibreOffice
headless then converts the workbook to CSV: ids keep their leading zeros and every
digit, Hebrew and emoji are exact, times are dates.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import BIN, PY, ROOT, run
from fetch_helpers import (ACCOUNT, fetch_env, mock_factory, samples_mock,  # noqa: F401
                           samples_server)
from helpers import COLUMNS, OneOf, epoch_of, int_code, json_text, ordered, state_label

TZ = "Asia/Jerusalem"
NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RNS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
SAMPLE_PAGES = sorted((ROOT / "samples" / "pages").glob("page-*.json"))
LONG = "L" + "".join(chr(0x61 + i % 26) for i in range(39998)) + "E"   # 40,000 characters
EMOJI_LONG = "\U0001F600" * 20000                                       # 40,000 UTF-16 units
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f]")

CRAFTED = [
    {"unique": "00123", "timestamp": "1614198777", "direction": "1", "from": "0501234567",
     "to": "12345678901234567890", "type": "text", "state": "0",
     "message": "=1+1 _x0041_ \ufffe\uffff \u0001 tab\there\nline שלום 😀"},
    {"unique": "12345678901234567890", "timestamp": 1614198778, "direction": 2,
     "from": "+972501234567", "to": "-x", "type": "TRUE", "state": 1, "message": LONG,
     "reason": "@x"},
    {"unique": "0000000000000000000001", "timestamp": 1614198779, "direction": 2,
     "from": 972501234567, "to": "972509876543", "type": "text", "state": 3,
     "message": "50%"},
    {"unique": "m4", "timestamp": 1614198780, "direction": 1, "from": "972509876543",
     "to": "972501234567", "type": "image", "state": 0, "message": "1/2"},
    {"unique": "m5", "timestamp": 1614198781, "direction": 1, "from": "972509876543",
     "to": "972501234567", "type": "text", "state": 0, "message": EMOJI_LONG},
    {"unique": "m6", "timestamp": "soon", "direction": 2, "from": "972501234567",
     "to": "972509876543", "type": "text", "state": "x", "message": "-x @x TRUE"},
]


def unescape(s):
    """What a spreadsheet shows for stored text: _xHHHH_ is the character U+HHHH."""
    if not isinstance(s, str):
        return s
    out = re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), s)
    # Two escaped UTF-16 halves make one character.
    return out.encode("utf-16", "surrogatepass").decode("utf-16")


def col_index(ref):
    n = 0
    for ch in re.match(r"[A-Z]+", ref).group(0):
        n = n * 26 + ord(ch) - 64
    return n - 1


class Book:
    """Our own reader: every sheet of an .xlsx, in workbook order."""

    def __init__(self, path):
        z = zipfile.ZipFile(path)
        self.xml = {n: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith((".xml", ".rels"))}
        strings = []
        if "xl/sharedStrings.xml" in self.xml:
            for si in ET.fromstring(self.xml["xl/sharedStrings.xml"]).iter(NS + "si"):
                strings.append("".join(t.text or "" for t in si.iter(NS + "t")))
        styles = ET.fromstring(self.xml["xl/styles.xml"])
        numfmts = styles.find(NS + "numFmts")
        codes = {int(n.get("numFmtId")): n.get("formatCode") for n in numfmts} \
            if numfmts is not None else {}
        xfs = [int(x.get("numFmtId", 0)) for x in styles.find(NS + "cellXfs")]
        fonts = [f.find(NS + "b") is not None for f in styles.find(NS + "fonts")]
        bold = [fonts[int(x.get("fontId", 0))] for x in styles.find(NS + "cellXfs")]
        wb = ET.fromstring(self.xml["xl/workbook.xml"])
        rels = {r.get("Id"): r.get("Target")
                for r in ET.fromstring(self.xml["xl/_rels/workbook.xml.rels"])}
        self.sheets = []
        for s in wb.find(NS + "sheets"):
            name = "xl/" + rels[s.get(RNS + "id")]
            root = ET.fromstring(self.xml[name])
            rows = []
            for row in root.find(NS + "sheetData"):
                cells = {}
                for c in row:
                    t = c.get("t", "n")
                    v, inline = c.find(NS + "v"), c.find(NS + "is")
                    if t == "s":
                        value = strings[int(v.text)]
                    elif t == "inlineStr":
                        value = "".join(x.text or "" for x in inline.iter(NS + "t"))
                    else:
                        value = v.text if v is not None else None
                    style = int(c.get("s", 0))
                    cells[col_index(c.get("r"))] = {
                        "t": t, "value": value, "fmt": codes.get(xfs[style], ""),
                        "bold": bold[style]}
                rows.append(cells)
            self.sheets.append({"name": s.get("name"), "xml": self.xml[name], "rows": rows,
                                "root": root})


def excel_serial(ts, tz=TZ):
    """The date-time serial a spreadsheet stores for epoch ts, local time in tz."""
    local = datetime.fromtimestamp(ts, ZoneInfo(tz)).replace(tzinfo=None)
    return (local - datetime(1899, 12, 30)).total_seconds() / 86400


def expected_cells(msg):
    """{column: (kind, value)} for one message; kind is text, number, date or none."""
    def text(k):
        v = msg.get(k)
        return ("none", None) if v is None or json_text(v) == "" else ("text", json_text(v))

    def code(k):
        c = int_code(msg.get(k))
        if c is not None:
            return ("number", c)
        return text(k)

    ts = epoch_of(msg.get("timestamp"))
    d = int_code(msg.get("direction"))
    label = state_label(msg)
    out = {k: text(k) for k in ("unique", "from", "to", "type", "reason", "message")}
    out["timestamp"] = code("timestamp")
    out["direction_code"] = code("direction")
    out["state_code"] = code("state")
    out["time"] = ("date", ts) if ts is not None else ("none", None)
    out["direction"] = ("text", {1: "incoming", 2: "outgoing"}.get(d, "unknown"))
    if isinstance(label, str):
        out["state"] = ("none", None) if label == "" else ("text", label)
    else:
        out["state"] = ("label", label)   # where SPEC leaves the label open (helpers.py)
    return out


def joined_message(cells, first, parts):
    """The message column and its message_N continuations, joined."""
    return "".join(unescape(cells[first + i]["value"]) for i in range(parts)
                   if first + i in cells and cells[first + i]["value"] is not None)


def check_row(cells, header, msg):
    exp = expected_cells(msg)
    parts = sum(1 for h in header if re.fullmatch(r"message(_\d+)?", h))
    for name, (kind, want) in exp.items():
        if name not in header:
            continue
        i = header.index(name)
        cell = cells.get(i)
        where = "%s of %s" % (name, msg.get("unique"))
        if name == "message" and kind == "text":
            assert joined_message(cells, i, parts) == want, where
            assert all(cells[k]["t"] == "inlineStr" for k in range(i, i + parts) if k in cells)
            continue
        if kind == "label":
            assert want == ("" if cell is None else unescape(cell["value"]) or ""), where
        elif kind == "none":
            assert cell is None or cell["value"] in (None, ""), (where, cell)
        elif kind == "text":
            assert cell is not None and cell["t"] in ("inlineStr", "s", "str"), (where, cell)
            assert unescape(cell["value"]) == want, where
        elif kind == "number":
            assert cell["t"] == "n" and float(cell["value"]) == want, (where, cell)
        else:
            assert cell["t"] == "n" and cell["fmt"] == "yyyy-mm-dd hh:mm:ss", (where, cell)
            assert abs(float(cell["value"]) - excel_serial(want)) < 1e-6, where


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    d = tmp_path_factory.mktemp("xlsx")
    src = d / "crafted.json"
    # newest first, as the API pages it (a page whose times only rise is warned about)
    src.write_text(json.dumps(CRAFTED[::-1], ensure_ascii=False), encoding="utf-8")
    out = d / "chats.xlsx"
    r = run(["convert", "--tz", TZ, "-o", out, src] + SAMPLE_PAGES)
    assert r.returncode == 0, r.stderr.decode()
    truth = ordered([src] + SAMPLE_PAGES)
    return {"dir": d, "path": out, "book": Book(out), "truth": truth, "src": src, "run": r}


def test_every_cell_matches_ground_truth_with_its_type(crafted):
    sheet = crafted["book"].sheets[0]
    header = [sheet["rows"][0][i]["value"] for i in sorted(sheet["rows"][0])]
    assert header == COLUMNS + ["message_2"]
    assert len(sheet["rows"]) == len(crafted["truth"]) + 1
    for cells, msg in zip(sheet["rows"][1:], crafted["truth"]):
        check_row(cells, header, msg)


def test_header_is_bold_frozen_filtered_and_nothing_is_a_formula(crafted):
    book = crafted["book"]
    sheet = book.sheets[0]
    assert sheet["name"] == "history"
    assert all(c["bold"] and c["t"] == "inlineStr" for c in sheet["rows"][0].values())
    pane = sheet["root"].find(".//" + NS + "pane")
    assert pane.get("ySplit") == "1" and pane.get("state") == "frozen"
    af = sheet["root"].find(NS + "autoFilter")
    assert af.get("ref") == "A1:M%d" % (len(crafted["truth"]) + 1)
    assert all("<f>" not in x and "<f " not in x for x in book.xml.values())
    cols = sheet["root"].find(NS + "cols")
    assert cols is not None and len(cols) == 13
    core = book.xml["docProps/core.xml"]
    assert "waexport" in core
    assert "waexport 0.1.0" in core or "waexport 0.1.0" in book.xml.get("docProps/app.xml", "")


def test_long_message_splits_and_joins_back_exactly(crafted):
    sheet = crafted["book"].sheets[0]
    header = [sheet["rows"][0][i]["value"] for i in sorted(sheet["rows"][0])]
    m = header.index("message")
    found = {}
    for cells in sheet["rows"][1:]:
        u = cells[0]["value"]
        if u in ("12345678901234567890", "m5"):
            found[u] = [cells.get(m), cells.get(m + 1)]
    assert len(unescape(found["12345678901234567890"][0]["value"])) == 32767
    assert joined_message({0: found["12345678901234567890"][0],
                           1: found["12345678901234567890"][1]}, 0, 2) == LONG
    emoji = [unescape(c["value"]) for c in found["m5"]]
    assert all(len(p.encode("utf-16-le")) // 2 <= 32767 for p in emoji)
    assert "".join(emoji) == EMOJI_LONG
    err = crafted["run"].stderr.decode()
    assert err.count("continues in column message_2") == 2


def test_openpyxl_reads_every_cell_as_ground_truth(crafted):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.load_workbook(crafted["path"], read_only=True)
    assert wb.sheetnames == ["history"]
    rows = list(wb["history"].iter_rows(values_only=True))
    header = list(rows[0])
    assert header == COLUMNS + ["message_2"]
    m = header.index("message")
    for row, msg in zip(rows[1:], crafted["truth"]):
        exp = expected_cells(msg)
        for name, (kind, want) in exp.items():
            got = row[header.index(name)]
            if name == "message" and kind == "text":
                got = "".join(unescape(v) for v in row[m:m + 2] if v is not None)
                assert got == want
            elif kind == "label":
                assert want == (got or ""), (name, got)
            elif kind == "none":
                assert got in (None, ""), (name, msg.get("unique"), got)
            elif kind == "text":
                assert isinstance(got, str) and unescape(got) == want, (name, got)
            elif kind == "number":
                assert isinstance(got, (int, float)) and not isinstance(got, bool)
                assert got == want
            else:
                local = datetime.fromtimestamp(want, ZoneInfo(TZ)).replace(tzinfo=None)
                assert got == local, (name, got, local)
    ws = openpyxl.load_workbook(crafted["path"])["history"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:M%d" % (len(crafted["truth"]) + 1)


def soffice():
    for cand in (shutil.which("soffice"), shutil.which("libreoffice"),
                 "/usr/lib/libreoffice/program/soffice"):
        if cand and Path(cand).exists():
            return cand
    pytest.fail("LibreOffice is missing: `scripts/deps.sh test` installs libreoffice-calc-nogui")


def test_libreoffice_keeps_ids_text_and_dates_dates(crafted):
    """LibreOffice headless converts the workbook to CSV (UTF-8, every cell as shown)."""
    import csv
    import io
    out = crafted["dir"] / "lo"
    profile = Path(tempfile.mkdtemp(prefix="waexport-lo-profile-"))
    try:
        r = subprocess.run([soffice(), "--headless", "--norestore", "--nolockcheck",
                            "-env:UserInstallation=" + profile.as_uri(), "--convert-to",
                            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,"
                            "false,false", "--outdir", str(out), str(crafted["path"])],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    path = out / "chats.csv"
    assert path.exists(), (r.stdout, r.stderr)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    header = rows[0]
    assert header == COLUMNS + ["message_2"]
    for row, msg in zip(rows[1:], crafted["truth"]):
        cells = dict(zip(header, row))
        for k in ("unique", "from", "to", "type", "reason"):
            v = msg.get(k)
            assert cells[k] == ("" if v is None else json_text(v)), (k, cells[k])
        if isinstance(msg.get("message"), str):
            # C0 controls but TAB and LF are the CSV filter's business, CR LF reads as LF.
            got = CONTROLS.sub("", (cells["message"] + cells["message_2"]).replace("\r\n", "\n"))
            assert got == CONTROLS.sub("", msg["message"].replace("\r\n", "\n"))
        ts = epoch_of(msg.get("timestamp"))
        if ts is not None:
            local = datetime.fromtimestamp(ts, ZoneInfo(TZ))
            assert cells["time"] == local.strftime("%Y-%m-%d %H:%M:%S")
            assert cells["timestamp"] == str(ts)
    ids = {r[0] for r in rows[1:]}
    assert {"00123", "12345678901234567890", "0000000000000000000001"} <= ids


def read_first_sheet(path):
    book = Book(path)
    sheet = book.sheets[0]
    header = [sheet["rows"][0][i]["value"] for i in sorted(sheet["rows"][0])]
    return header, [{header[i]: unescape(c["value"]) for i, c in cells.items()}
                    for cells in sheet["rows"][1:]]


def test_order_newest_reverses_and_columns_choose(tmp_path):
    old, new = tmp_path / "old.xlsx", tmp_path / "new.xlsx"
    assert run(["convert", "-q", "-o", old] + SAMPLE_PAGES).returncode == 0
    assert run(["convert", "-q", "--order", "newest", "-o", new] + SAMPLE_PAGES).returncode == 0
    _, a = read_first_sheet(old)
    _, b = read_first_sheet(new)
    assert [r["unique"] for r in a] == [m["unique"] for m in ordered(SAMPLE_PAGES)]
    assert [r["unique"] for r in b] == [r["unique"] for r in reversed(a)]
    cols = tmp_path / "cols.xlsx"
    r = run(["convert", "-q", "--format", "xlsx", "--columns", "message,unique,time", "-o", cols]
            + SAMPLE_PAGES)
    assert r.returncode == 0, r.stderr
    header, rows = read_first_sheet(cols)
    assert header == ["message", "unique", "time"]
    assert [x["unique"] for x in rows] == [x["unique"] for x in a]


def test_any_long_text_column_continues_next_to_it(tmp_path):
    """Nothing is cut: a `type`, `reason` or raw timestamp over one cell continues in
    type_2 … right after its column, as the message does in message_2."""
    long_type = "T" + "\u05e9" * 40000 + "E"                   # Hebrew: 40,002 units
    long_reason = "r" * 70000                                   # three cells
    page = [{"unique": "a", "timestamp": 1614198777, "type": long_type, "message": "hi",
             "reason": long_reason},
            {"unique": "b", "timestamp": "x" * 33000, "type": "text", "message": "yo"}]
    src = tmp_path / "p.json"
    src.write_text(json.dumps(page), encoding="utf-8")
    out = tmp_path / "o.xlsx"
    r = run(["convert", "--columns", "unique,timestamp,type,reason,message", "-o", out, src])
    assert r.returncode == 0, r.stderr
    header, rows = read_first_sheet(out)
    assert header == ["unique", "timestamp", "timestamp_2", "type", "type_2", "reason",
                      "reason_2", "reason_3", "message"]
    first, second = sorted(rows, key=lambda x: x["unique"])
    assert first["type"] + first["type_2"] == long_type
    assert first["reason"] + first["reason_2"] + first["reason_3"] == long_reason
    assert first["message"] == "hi" and "timestamp_2" not in first
    assert second["timestamp"] + second["timestamp_2"] == "x" * 33000
    assert second["type"] == "text" and "type_2" not in second
    err = r.stderr.decode()
    for col, n in (("type", 2), ("reason", 2), ("reason", 3), ("timestamp", 2)):
        assert err.count("continues in column %s_%d" % (col, n)) == 1, err
    assert "was cut" not in err
    openpyxl = pytest.importorskip("openpyxl")
    ws = openpyxl.load_workbook(out, read_only=True)["history"]
    got = list(ws.iter_rows(values_only=True))
    assert list(got[0]) == header
    assert all(len(v.encode("utf-16-le")) // 2 <= 32767 for row in got for v in row
               if isinstance(v, str))


def test_stdout_gets_the_same_workbook(tmp_path):
    r = run(["convert", "-q", "--format", "xlsx", "-o", "-"] + SAMPLE_PAGES,
            env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    (tmp_path / "s.xlsx").write_bytes(r.stdout)
    f = tmp_path / "f.xlsx"
    assert run(["convert", "-q", "-o", f] + SAMPLE_PAGES).returncode == 0
    assert read_first_sheet(tmp_path / "s.xlsx") == read_first_sheet(f)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.xlsx", "s.xlsx"]


def test_file_is_0600_atomic_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "h.xlsx"
    os.umask(0o022)
    assert run(["convert", "-q", "-o", out] + SAMPLE_PAGES).returncode == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["h.xlsx"]
    before = out.read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text('[{"unique":"x"')
    r = run(["convert", "-q", "-o", out, bad])
    assert r.returncode != 0
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "h.xlsx"]


def test_chat_placeholder_gives_one_workbook_per_chat(tmp_path):
    r = run(["convert", "-q", "-o", tmp_path / "chat-{chat}.xlsx"] + SAMPLE_PAGES)
    assert r.returncode == 0, r.stderr
    files = sorted(tmp_path.glob("chat-*.xlsx"))
    msgs = ordered(SAMPLE_PAGES)

    def chat(m):
        return json_text(m["from"] if int_code(m.get("direction")) == 1 else m["to"])

    chats = {chat(m) for m in msgs}
    assert len(files) == len(chats) > 1
    total = 0
    for f in files:
        _, rows = read_first_sheet(f)
        c = f.name[len("chat-"):-len(".xlsx")]
        assert [x["unique"] for x in rows] == [m["unique"] for m in msgs if chat(m) == c]
        total += len(rows)
    assert total == len(msgs)


@pytest.mark.parametrize("args", [["-o", "{d}/h.xlsx"], ["--format", "xlsx", "-o", "{d}/h.out"]],
                         ids=["by-extension", "by-format"])
def test_manifest_says_the_format_is_xlsx(tmp_path, args):
    """SPEC §4.7: `format` is the file's; a workbook was reported as ndjson or csv."""
    r = run(["convert", "-q", "--manifest", tmp_path / "m.json"] +
            [a.replace("{d}", str(tmp_path)) for a in args] + SAMPLE_PAGES)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert (m["format"], m["gzip"]) == ("xlsx", False)
    (f,) = m["files"]
    assert f["rows"] == len(ordered(SAMPLE_PAGES))
    assert zipfile.is_zipfile(tmp_path / Path(f["path"]).name)


def test_workbook_to_stdout_has_its_sum_in_the_manifest(tmp_path):
    """SPEC §4.6 stdout works, §4.7 the manifest: the sum of the bytes sent (was exit 70)."""
    import hashlib
    r = run(["convert", "-q", "--format", "xlsx", "--manifest", tmp_path / "m.json"] +
            SAMPLE_PAGES)
    assert r.returncode == 0, r.stderr
    assert r.stdout[:2] == b"PK"
    m = json.loads((tmp_path / "m.json").read_text())
    (f,) = m["files"]
    assert (m["format"], f["path"], f["bytes"]) == ("xlsx", "-", len(r.stdout))
    assert f["sha256"] == hashlib.sha256(r.stdout).hexdigest()


@pytest.mark.parametrize("args,why", [
    (["-o", "{d}/out.xlsx", "--gzip"], "--gzip"),
    (["-o", "{d}/out.xlsx", "--gzip-level", "3"], "--gzip"),
    (["-o", "{d}/out.xlsx.gz"], ".xlsx.gz"),
    (["--format", "xlsx", "-o", "{d}/out.gz"], "--gzip"),
    (["-o", "{d}/out.xlsx", "--excel"], "--excel"),
    (["--format", "xlsx", "--excel", "-o", "-"], "--excel"),
    (["-o", "{d}/out.json"], ".xlsx"),
    (["--format", "xls", "-o", "-"], "xlsx"),
])
def test_usage_errors_name_why(tmp_path, args, why):
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    r = run(["convert"] + args + SAMPLE_PAGES)
    assert r.returncode == 64, r.stderr
    assert why in r.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_state_refuses_an_existing_workbook_before_any_request(samples_mock, tmp_path):  # noqa: F811
    out = tmp_path / "night-{date}.xlsx"
    state = tmp_path / "state"
    env = fetch_env()
    r = run(["fetch", "-q", "--from", ACCOUNT, "--url", samples_mock.url, "--state", state,
             "-o", out], env=env)
    assert r.returncode == 0, r.stderr
    written = list(tmp_path.glob("night-*.xlsx"))
    assert len(written) == 1
    before = written[0].read_bytes()
    samples_mock.reset()
    r = run(["fetch", "-q", "--from", ACCOUNT, "--url", samples_mock.url, "--state", state,
             "-o", out], env=env)
    assert r.returncode == 73, r.stderr
    err = r.stderr.decode()
    assert written[0].name in err and "{date}" in err
    assert samples_mock.requests() == []
    assert written[0].read_bytes() == before


def test_peak_memory_of_200000_messages_stays_under_32_mib(tmp_path):
    src = tmp_path / "h.jsonl"
    subprocess.run([PY, str(ROOT / "scripts" / "gen_history.py"), "--messages", "200000",
                    "--out", str(src)], check=True)
    out = tmp_path / "h.xlsx"
    r = subprocess.run(["/usr/bin/time", "-f", "%M", str(ROOT / "waexport"), "convert", "-q",
                        "-o", str(out), str(src)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600)
    assert r.returncode == 0, r.stderr
    peak_kib = int(r.stderr.decode().strip().splitlines()[-1])
    assert peak_kib <= 32 * 1024, "peak RSS %d KiB" % peak_kib
    with zipfile.ZipFile(out) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    assert sheet.count(b"<row ") == 200001


def fetch_with_media(mock_factory, tmp_path, image_unique, media, out):  # noqa: F811
    """A workbook of one image message (image_unique) and one text message m1, its
    media downloaded into `media`: the workbook's first sheet and its header."""
    from test_nightly_media import MediaServer, blob, msg
    from nightly_helpers import write_samples
    srv = MediaServer({"/files/photo.jpg": blob("IMG")})
    try:
        msgs = [msg(image_unique, "image", srv.url("/files/photo.jpg"), 1731990010),
                msg("m1", "text", "hello", 1731990000)]
        mock = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
        out.parent.mkdir(exist_ok=True)
        r = run(["fetch", "-q", "--from", ACCOUNT, "--url", mock.url, "--media-dir", media,
                 "-o", out], env=fetch_env())
        assert r.returncode == 0, r.stderr
    finally:
        srv.stop()
    book = Book(out)
    sheet = book.sheets[0]
    return book, sheet, [sheet["rows"][0][i]["value"] for i in sorted(sheet["rows"][0])]


def test_media_file_is_a_hyperlink_relative_to_the_workbook(mock_factory, tmp_path):  # noqa: F811
    from test_nightly_media import blob
    book, sheet, header = fetch_with_media(mock_factory, tmp_path, "m2", tmp_path / "media",
                                           tmp_path / "book" / "h.xlsx")
    out = tmp_path / "book" / "h.xlsx"
    assert header[-1] == "media_file"
    rows = {c[0]["value"]: c for c in sheet["rows"][1:]}
    name = rows["m2"][len(header) - 1]["value"]
    assert (tmp_path / "media" / name).read_bytes() == blob("IMG")
    assert len(header) - 1 not in rows["m1"]
    link = sheet["root"].find(NS + "hyperlinks")[0]
    assert link.get("ref") == "M3"   # oldest first: m1, then m2
    rels = ET.fromstring(book.xml["xl/worksheets/_rels/sheet1.xml.rels"])
    target = [x for x in rels if x.get("Id") == link.get(RNS + "id")][0]
    assert target.get("TargetMode") == "External"
    assert target.get("Target") == "../media/" + name
    assert (out.parent / target.get("Target")).resolve() == (tmp_path / "media" / name).resolve()


def test_media_link_is_percent_encoded(mock_factory, tmp_path):  # noqa: F811
    """A link is a URI: a file name holding "%40" (the '@' of a WhatsApp id, as media
    names keep it) must not open "@", and a '#' or a space in the media directory must
    not cut the link or be taken for an anchor."""
    from urllib.parse import unquote
    from test_nightly_media import blob
    book, sheet, header = fetch_with_media(mock_factory, tmp_path,
                                           "true_972509876543@c.us_3EB0C767",
                                           tmp_path / "media #2", tmp_path / "h.xlsx")
    name = sheet["rows"][2][len(header) - 1]["value"]   # oldest first: m1, then the image
    assert (tmp_path / "media #2" / name).read_bytes() == blob("IMG")
    link = sheet["root"].find(NS + "hyperlinks")[0]
    assert link.get("location") is None, link.attrib
    rels = ET.fromstring(book.xml["xl/worksheets/_rels/sheet1.xml.rels"])
    target = [x for x in rels if x.get("Id") == link.get(RNS + "id")][0].get("Target")
    assert "#" not in target and " " not in target, target
    assert unquote(target) == "media #2/" + name
    assert (tmp_path / unquote(target)).read_bytes() == blob("IMG")


def test_a_killed_workbook_run_leaves_nothing_behind_the_next(mock_factory, tmp_path):  # noqa: F811
    """A workbook is built in a directory of the run's, mode 0700 (libxlsxwriter reopens the
    file by name, and no one else can swap in a link there: SPEC §5.6). A run killed with
    SIGKILL leaves it; the next run under --state on that target clears it once it is two
    hours old (younger, it may be another state's finished workbook waiting for its rename),
    as it does the temporary files of CSV and NDJSON (an adversarial pass found workbooks
    left for good)."""
    mock = mock_factory("--messages", 400, "--seed", 3)
    mock.control(latency_ms=300)
    args = [BIN, "fetch", "--from", ACCOUNT, "--url", mock.url, "--state", str(tmp_path / "st"),
            "--concurrency", "1", "-q", "-o", str(tmp_path / "night-{date}.xlsx")]
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not [n for n in os.listdir(tmp_path) if ".xlsx.tmp." in n]:
            assert time.monotonic() < deadline and p.poll() is None, "no workbook begun"
            time.sleep(0.02)
        [work] = [tmp_path / n for n in os.listdir(tmp_path) if ".xlsx.tmp." in n]
        assert work.is_dir() and (work.stat().st_mode & 0o777) == 0o700, "built in the open"
        while not (work / "workbook.xlsx").exists():  # made in it an instant later
            assert time.monotonic() < deadline and p.poll() is None, "no workbook begun"
            time.sleep(0.02)
    finally:
        p.kill()
        p.wait()
    mock.control(latency_ms=0)
    last_night = time.time() - 3 * 3600
    os.utime(work, (last_night, last_night))
    r = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert [n for n in os.listdir(tmp_path) if ".tmp." in n] == []
    [book] = [n for n in os.listdir(tmp_path) if n.endswith(".xlsx")]
    assert zipfile.is_zipfile(tmp_path / book)
