"""Round trip through LibreOffice Calc (SPEC §4.2: "CSV that Excel, LibreOffice and
Google Sheets open correctly, Hebrew and emoji included, dates recognised as dates,
no formula injection").

`waexport convert --excel --tz Asia/Jerusalem` of samples/pages plus the crafted
pages of tools/roundtrip_data.py is opened by headless LibreOffice with the import a
user gets by opening the file (comma, double quote, UTF-8, "detect special numbers"
on, "evaluate formulas" left at its default) and saved as .xlsx; the sheet XML is
then read back with zipfile + ElementTree and compared cell by cell with ground
truth from helpers.py.

CSV import filter options (token: meaning), LibreOffice 7.4:
  44: field separator ","   34: text delimiter '"'   76: UTF-8   1: first line
  (empty): no per-column formats (every column "Standard", as on double-click)
  1033: language en-US (not the machine's locale, for repeatable number detection)
  false: "format quoted field as text" off (default)
  true: "detect special numbers" on (so the time column becomes dates)
  token 13, "evaluate formulas", is left out: its default is true, the worst case,
  and the control file below proves that with these options a cell starting with
  "=" does become a formula.

What LibreOffice does to waexport's cells, as checked here:
  * formula-looking text stays text with the leading ' visible (Calc's CSV import
    keeps the apostrophe as part of the text; it is not stripped);
  * line breaks inside a cell are stored as LF (a CR LF in the message reads back
    as LF): the comparison normalises CR LF to LF, nothing else;
  * an empty CSV field is no cell at all.
"""
import re
import shutil
import subprocess
import tempfile
import zipfile
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import run
from helpers import COLUMNS, EXCEL_TRIGGERS, OneOf, expected_csv, ordered
from tools import roundtrip_data as rt

TZ = "Asia/Jerusalem"
# Tokens: separator ',', quote '"', UTF-8, from line 1, no column types, en-US,
# quoted fields as text (waexport --excel quotes every text cell), detect dates.
FILTER = "CSV:44,34,76,1,,1033,true,true"
NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
TEXT_COLUMNS = ["unique", "direction", "type", "state", "reason", "message"]
NUMBER_COLUMNS = ["timestamp", "direction_code", "state_code"]
# Control sheet: the same formula-looking texts without waexport's prefix.
# Unquoted in the control file (with "quoted field as text" on, a quoted one
# would stay text), so none may need quoting.
CONTROL_FORMULAS = ["=SUM(A1)", "=1+1", "=A1*2"]


def soffice():
    for cand in (shutil.which("soffice"), shutil.which("libreoffice"),
                 "/usr/lib/libreoffice/program/soffice"):
        if cand and Path(cand).exists():
            return cand
    pytest.fail("LibreOffice (soffice) is missing: `scripts/deps.sh test` installs "
                "libreoffice-calc-nogui")


def col_index(ref):
    letters = re.match(r"[A-Z]+", ref).group(0)
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


class Sheet:
    """The first sheet of an .xlsx: rows of {column index: Cell}."""

    def __init__(self, path):
        z = zipfile.ZipFile(path)
        strings = []
        if "xl/sharedStrings.xml" in z.namelist():
            for si in ET.fromstring(z.read("xl/sharedStrings.xml")).iter(NS + "si"):
                strings.append("".join(t.text or "" for t in si.iter(NS + "t")))
        styles = ET.fromstring(z.read("xl/styles.xml"))
        codes = {}
        numfmts = styles.find(NS + "numFmts")
        if numfmts is not None:
            codes = {int(n.get("numFmtId")): n.get("formatCode") for n in numfmts}
        xfs = [int(x.get("numFmtId", 0)) for x in styles.find(NS + "cellXfs")]
        sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
        self.rows = []
        for row in sheet.find(NS + "sheetData"):
            cells = {}
            for c in row:
                t = c.get("t", "n")
                v, f, inline = c.find(NS + "v"), c.find(NS + "f"), c.find(NS + "is")
                if t == "s":
                    value = strings[int(v.text)]
                elif t == "inlineStr":
                    value = "".join(x.text or "" for x in inline.iter(NS + "t"))
                else:
                    value = v.text if v is not None else None
                fmt_id = xfs[int(c.get("s", 0))]
                cells[col_index(c.get("r"))] = Cell(
                    t, value, f.text if f is not None else None, fmt_id,
                    codes.get(fmt_id, BUILTIN_FORMATS.get(fmt_id, "")))
            self.rows.append(cells)


# Excel's built-in number formats that are dates or times (ECMA-376 §18.8.30).
BUILTIN_FORMATS = {14: "mm-dd-yy", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM",
                   19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss", 22: "m/d/yy h:mm"}


class Cell:
    def __init__(self, t, value, formula, fmt_id, fmt):
        self.t, self.value, self.formula, self.fmt_id, self.fmt = t, value, formula, fmt_id, fmt

    @property
    def is_text(self):
        return self.t in ("s", "str", "inlineStr")

    @property
    def is_date(self):
        code = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", self.fmt.lower())
        return self.t == "n" and "y" in code and "d" in code

    def __repr__(self):
        return "Cell(t=%r, value=%r, formula=%r, format=%r)" % (
            self.t, self.value, self.formula, self.fmt)


@pytest.fixture(scope="module")
def calc(tmp_path_factory):
    """One soffice call converting waexport's CSV and the control CSV to .xlsx."""
    d = tmp_path_factory.mktemp("libreoffice")
    paths = rt.inputs(d)
    csv_path = d / "chats.csv"
    p = run(["convert", "-q", "--excel", "--tz", TZ, "-o", csv_path] + paths)
    assert p.returncode == 0, p.stderr.decode()
    control = d / "control.csv"
    control.write_bytes(b"a,b\r\n" + b"".join(
        b"%d,%s\r\n" % (i, f.encode()) for i, f in enumerate(CONTROL_FORMULAS)))
    exe = soffice()
    profile = Path(tempfile.mkdtemp(prefix="waexport-lo-profile-"))
    out = d / "xlsx"
    try:
        r = subprocess.run([exe, "--headless", "--norestore", "--nolockcheck",
                            "-env:UserInstallation=" + profile.as_uri(),
                            "--infilter=" + FILTER, "--convert-to", "xlsx",
                            "--outdir", str(out), str(csv_path), str(control)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                           cwd=d)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    for name in ("chats.xlsx", "control.xlsx"):
        assert (out / name).exists(), "soffice wrote no %s: %s %s" % (name, r.stdout, r.stderr)
    truth = [expected_csv(m, tz=TZ, excel=True) for m in ordered(paths)]
    return {"sheet": Sheet(out / "chats.xlsx"), "control": Sheet(out / "control.xlsx"),
            "truth": truth, "paths": paths}


def lf(s):
    return s.replace("\r\n", "\n") if isinstance(s, str) else s


def text_of(cell):
    """What a person sees in a text cell; None for no cell."""
    return None if cell is None else cell.value


def rows_by_unique(calc):
    """(truth row, sheet row) pairs, matched by position; the unique column must agree."""
    sheet = calc["sheet"].rows
    assert len(sheet) == len(calc["truth"]) + 1, (len(sheet), len(calc["truth"]))
    for i, expected in enumerate(calc["truth"]):
        got = sheet[i + 1]
        assert text_of(got.get(0)) == expected[0], "row %d: unique" % (i + 2)
        yield i + 2, dict(zip(COLUMNS, expected)), got


# ---------------------------------------------------------------- the tests

def test_header_row_and_row_count(calc):
    header = calc["sheet"].rows[0]
    assert [header[i].value for i in range(len(COLUMNS))] == COLUMNS
    assert all(header[i].is_text for i in range(len(COLUMNS)))
    assert len(calc["sheet"].rows) == len(calc["truth"]) + 1 == 351


def test_text_cells_equal_ground_truth(calc):
    """Every text cell (Hebrew, emoji, quotes, commas, multi-line, media links) reads back
    as the CSV ground truth. An empty field is no cell. A reason the API sent as a number
    may come back as a number cell, but with every digit."""
    bad = []
    for rowno, exp, got in rows_by_unique(calc):
        for name in TEXT_COLUMNS:
            want, cell = lf(exp[name]), got.get(COLUMNS.index(name))
            if want == "":
                ok = cell is None or cell.value == ""
            elif cell is None:
                ok = False
            elif cell.is_text:
                ok = cell.value == want
            else:
                ok = name == "reason" and cell.t == "n" and cell.value == want
            if not ok:
                bad.append((rowno, name, want, cell))
    assert bad == [], "%d cells differ, first: %r" % (len(bad), bad[:10])


def test_hebrew_and_emoji_intact(calc):
    """The crafted Hebrew + ZWJ/skin-tone/flag messages and the samples' long Hebrew
    message come back character for character (code points compared)."""
    crafted = {m["unique"] for page in rt.CRAFTED for m in page
               if re.search("[\u0590-\u05ff]|[\U0001F000-\U0001FFFF]", m["message"])}
    assert len(crafted) >= 4
    want, seen = {}, {}
    for rowno, exp, got in rows_by_unique(calc):
        if exp["unique"] in crafted:
            want[exp["unique"]] = lf(exp["message"])
            seen[exp["unique"]] = text_of(got.get(COLUMNS.index("message")))
        if len(exp["message"]) > 4000:          # samples 7/6: ~5 KB of Hebrew, 50 lines
            assert text_of(got.get(COLUMNS.index("message"))) == lf(exp["message"])
    for u, text in want.items():
        assert [hex(ord(c)) for c in seen[u]] == [hex(ord(c)) for c in text], u


def test_formula_looking_messages_stay_text(calc):
    """No cell of waexport's file became a formula; each formula-looking message is a
    text cell showing the leading ' (Calc keeps it) followed by the message."""
    formulas = [(r, c) for r in calc["sheet"].rows for c in r.values() if c.formula]
    assert formulas == [], formulas[:5]
    checked = 0
    for rowno, exp, got in rows_by_unique(calc):
        msg = exp["message"]
        if isinstance(msg, str) and msg.startswith("'") and msg[1:].startswith(EXCEL_TRIGGERS):
            cell = got.get(COLUMNS.index("message"))
            assert cell is not None and cell.is_text, (rowno, cell)
            assert cell.value == lf(msg), (rowno, cell)
            assert cell.value.startswith("'")
            checked += 1
    assert checked >= len(rt.FORMULAS) + 4
    crafted = {text_of(r.get(COLUMNS.index("message"))) for r in calc["sheet"].rows}
    for f in rt.FORMULAS:
        assert "'" + f in crafted, f


def test_control_file_shows_these_options_evaluate_formulas(calc):
    """Without the ' prefix the same import runs the cell as a formula: the test above
    would catch a missing prefix."""
    rows = calc["control"].rows[1:]
    assert len(rows) == len(CONTROL_FORMULAS)
    for row, text in zip(rows, CONTROL_FORMULAS):
        assert row[1].formula is not None, (text, row[1])


def test_time_cells_are_dates(calc):
    """--excel's `YYYY-MM-DD HH:MM:SS` (in --tz) is recognised: a number with a date
    format whose value is that local date-time."""
    epoch = datetime(1899, 12, 30)
    bad = []
    for rowno, exp, got in rows_by_unique(calc):
        cell = got.get(COLUMNS.index("time"))
        if exp["time"] == "":
            continue
        if cell is None or not cell.is_date:
            bad.append((rowno, exp["time"], cell))
            continue
        when = epoch + timedelta(days=float(cell.value))
        when = when.replace(microsecond=0) + timedelta(seconds=round(when.microsecond / 1e6))
        if when.strftime("%Y-%m-%d %H:%M:%S") != exp["time"]:
            bad.append((rowno, exp["time"], cell))
    assert bad == [], "%d time cells are not the right dates, first: %r" % (len(bad), bad[:5])


def test_generated_numbers_are_numbers(calc):
    bad = []
    for rowno, exp, got in rows_by_unique(calc):
        for name in NUMBER_COLUMNS:
            want, cell = exp[name], got.get(COLUMNS.index(name))
            if want == "" or isinstance(want, OneOf):
                continue
            if cell is None or cell.t != "n" or float(cell.value) != int(want):
                bad.append((rowno, name, want, cell))
    assert bad == [], bad[:10]


def test_from_and_to_kept_as_text_exactly(calc):
    """`from`/`to` are identifiers, not quantities (SPEC §4.1: text, never reformat
    numbers): each must read back as a text cell with exactly the API's characters —
    leading zeros, 18 digits, the hidden-number id.

    Seen with LibreOffice 7.4 and waexport's current --excel output: every all-digit
    from/to becomes a number cell (972501234567 keeps its value, 0541112233 becomes
    541112233, 123456789012345678 becomes 1.23456789012346E+17). Calc's CSV import
    keeps a leading ' as visible text, so the formula prefix is no way out; what
    could be is quoting these cells and importing with "format quoted field as
    text" (filter token 7), or columns typed Text by the user (token 5)."""
    bad = []
    for rowno, exp, got in rows_by_unique(calc):
        for name in ("from", "to"):
            want, cell = exp[name], got.get(COLUMNS.index(name))
            if want == "":
                continue
            if cell is None or not cell.is_text or cell.value != want:
                bad.append((name, want, cell))
    kinds = sorted({(n, w, c.t if c else None, c.value if c else None) for n, w, c in bad},
                   key=lambda k: (k[1] == k[3], k))
    assert bad == [], ("%d from/to cells are not text equal to the API's value; "
                       "distinct values (field, expected, cell type, cell value): %r"
                       % (len(bad), kinds[:12]))
