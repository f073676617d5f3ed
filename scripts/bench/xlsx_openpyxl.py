#!/usr/bin/python3
"""The same workbook waexport writes, with python3-openpyxl in write-only mode.

Usage: xlsx_openpyxl.py PAGES.jsonl OUT.xlsx
PAGES.jsonl holds one API page (a JSON array, newest first) per line, as
scripts/gen_history.py writes. Rows are written oldest first, deduplicated by
unique, typed as SPEC §4.6 says: ids and text as text, timestamp and codes as
numbers, time as a date-time (UTC) with the yyyy-mm-dd hh:mm:ss format, a bold
frozen header and an autofilter. The benchmark (scripts/bench.sh) times it
against `waexport convert -o OUT.xlsx`; it is a fair, plain use of openpyxl,
not a tuned one.
"""
import json
import sys
from datetime import datetime, timezone

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

COLUMNS = ["unique", "timestamp", "time", "direction", "direction_code", "from", "to",
           "type", "state", "state_code", "reason", "message"]
DIRECTION = {1: "incoming", 2: "outgoing"}
STATE = {0: "failed", 1: "sent", 2: "delivered", 3: "read"}
EPOCH = datetime(1970, 1, 1)


def code(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.lstrip("-").isdigit():
        return int(v)
    return None


def text(v):
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v)


def row_of(m):
    ts, d, s = code(m.get("timestamp")), code(m.get("direction")), code(m.get("state"))
    state = None if d == 1 else STATE.get(s, "unknown") if d == 2 else "unknown"
    when = datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None) if ts is not None \
        else None
    return [text(m.get("unique")), ts if ts is not None else text(m.get("timestamp")), when,
            DIRECTION.get(d, "unknown"), d, text(m.get("from")), text(m.get("to")),
            text(m.get("type")), state, s if s is not None else text(m.get("state")),
            text(m.get("reason")), text(m.get("message"))]


def main():
    src, out = sys.argv[1], sys.argv[2]
    pages = []
    with open(src, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                pages.append(json.loads(line))
    seen, msgs = set(), []
    for page in pages:
        for m in page:
            if m.get("unique") not in seen:
                seen.add(m.get("unique"))
                msgs.append(m)
    wb = Workbook(write_only=True)
    wb.properties.creator = "openpyxl bench"
    ws = wb.create_sheet("history")
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = "A1:L%d" % (len(msgs) + 1)
    bold = Font(bold=True)
    head = []
    for name in COLUMNS:
        c = WriteOnlyCell(ws, value=name)
        c.font = bold
        head.append(c)
    ws.append(head)
    for m in reversed(msgs):
        row = row_of(m)
        if row[2] is not None:
            c = WriteOnlyCell(ws, value=row[2])
            c.number_format = "yyyy-mm-dd hh:mm:ss"
            row[2] = c
        ws.append(row)
    wb.save(out)


if __name__ == "__main__":
    main()
