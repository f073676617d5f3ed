"""Sample data and ground truth for the consumer round-trip tests
(tests/e2e/test_roundtrip_*.py).

The inputs are samples/pages/*.json plus two crafted pages written here (in
PHP's json_encode style, like the real API) that stress what consumers get
wrong: Hebrew, emoji with skin tones, ZWJ sequences and flags, multi-line
messages (LF, CRLF, blank lines), commas and quotes, formula-looking text,
numbers that must stay text (leading zeros, 15+ digits, hidden-number ids),
media links, a present-but-empty `reason` next to absent ones.

Ground truth comes from helpers.py (computed from the input with Python's json
module, independently of the C code).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_history  # noqa: E402

SAMPLE_PAGES = sorted((ROOT / "samples" / "pages").glob("page-*.json"))
ACCOUNT = "972501234567"
HIDDEN = "IL.1605856887361213"

# Texts a spreadsheet would run as a formula (SPEC §4.2 triggers).
FORMULAS = ["=SUM(A1)", "=1+1", '=HYPERLINK("http://evil.example/x","click")',
            "=cmd|' /C calc'!A0", "+972501234567", "+1+1", "-5", "-2+3", "@home",
            "@SUM(1,2)"]


def _crafted():
    """Two pages of crafted messages, newest first; timestamps after the samples'."""
    ts = [1732100000 - 37 * i for i in range(200)]
    n = iter(range(1000))

    def m(direction, contact, mtype, state, text, **extra):
        i = next(n)
        d = {"unique": "RT%04d%s" % (i, "ABCDEF"[i % 6]), "timestamp": str(ts[i]),
             "direction": direction}
        if str(direction) == "1":
            d["from"], d["to"] = contact, ACCOUNT
        else:
            d["from"], d["to"] = ACCOUNT, contact
        d["type"] = mtype
        if state is not None:
            d["state"] = state
        d["message"] = text
        d.update(extra)
        return d

    page1 = [
        m("1", "972541112233", "chat", 0,
          "שלום לכולם \U0001F44B\U0001F3FD מה קורה? \U0001F468\u200d\U0001F469\u200d"
          "\U0001F467\u200d\U0001F466 \U0001F3F3\ufe0f\u200d\U0001F308 \U0001F469\U0001F3FD"
          "\u200d\U0001F4BB \U0001F1EE\U0001F1F1"),
        m("2", "972541112233", "text", 3, "\U0001F9D1\u200d\U0001F91d\u200d\U0001F9D1 ביחד"),
        m("1", "0541112233", "chat", 0, "number with a leading zero in from"),
        m("2", "00972541112233", "text", 1, "to with two leading zeros"),
        m("1", "123456789012345678", "chat", 0, "an 18-digit id (beyond a double's precision)"),
        m("1", HIDDEN, "chat", 0, "מספר מוסתר, hidden number"),
        m("2", "972541112233", "text", 2,
          "שורה ראשונה\nשורה שנייה\n\nאחרי שורה ריקה, and \"quotes\", commas"),
        m("1", "972541112233", "chat", 0, "crlf one\r\ncrlf two\r\n"),
        m("2", "972541112233", "text", 1, 'a "quoted" word, a comma, and ""double"" quotes'),
        m("1", "972541112233", "image", 0,
          "https://media.example.com/v1/media/abc123.jpg?token=x%2Fy&exp=1732100000"),
        m("1", "972541112233", "document", 0,
          "https://media.example.com/files/%D7%97%D7%A9%D7%91%D7%95%D7%A0%D7%99%D7%AA.pdf"),
        m("1", "972541112233", "location", 0, "32.0853,34.7818"),
        m("2", "972541112233", "text", 0, "failed with an empty reason", reason=""),
        m("2", "972541112233", "text", 0, "failed with a reason", reason="number not on WhatsApp"),
        m("2", "972541112233", "text", 1, ""),
    ]
    page2 = [m("1" if i % 2 else "2", "972541112233", "chat" if i % 2 else "text",
               0 if i % 2 else 1, text) for i, text in enumerate(FORMULAS)]
    page2 += [
        m("1", "972541112233", "chat", 0, "=\u05e9\u05dc\u05d5\u05dd starts with ="),
        m("1", "972541112233", "chat", 0, "\ttab first"),
        m("1", "972541112233", "chat", 0, "'already quoted"),
        m("2", "972541112233", "text", 1, "tab\tinside, and a trailing space "),
        m("1", "972541112233", "chat", 0, "back\\slash \\n not a newline \\\\ two"),
    ]
    return [page1, page2]


CRAFTED = _crafted()


def write_crafted(directory):
    """Write the crafted pages as rt-page-1.json, rt-page-2.json; returns the paths."""
    out = []
    for i, page in enumerate(CRAFTED, 1):
        p = Path(directory) / ("rt-page-%d.json" % i)
        p.write_text(gen_history.php_json(page) + "\n", encoding="ascii")
        out.append(p)
    return out


def inputs(directory):
    """Every input file, newest page first: the crafted pages, then the samples."""
    return write_crafted(directory) + SAMPLE_PAGES
