#!/usr/bin/python3
"""Build samples/pages/page-NNN.json, the sample history `make demo` exports.

The history is gen_history.py's output (fixed seed) with hand-written edge
cases spliced in at fixed places, so the samples are reproducible:

    /usr/bin/python3 scripts/make_samples.py            # (re)write samples/pages
    /usr/bin/python3 scripts/make_samples.py --check    # exit 1 if they differ
    /usr/bin/python3 scripts/make_samples.py --out DIR  # write elsewhere

Each page file is exactly the body the API answers for that page: one
PHP-encoded JSON array (50 messages, the last page fewer), newest first,
followed by "\\n".
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_history  # noqa: E402

TOTAL = 320                     # 6 full pages and one of 20
SEED = 7
CONTACTS = 12
ACCOUNT = gen_history.DEFAULT_ACCOUNT
END_EPOCH = gen_history.DEFAULT_END_EPOCH
HIDDEN_ID = "IL.1605856887361213"


def edge_cases(h):
    """(position in the final newest-first list, message) pairs.

    Positions put some cases on page boundaries (49/50, 149/150, 249/250) and
    one on the short last page.  "timestamp" is filled in by the splice.
    """
    acc = h.account
    c = h.contacts
    out = "2"
    inc = "1"

    def m(direction, contact, mtype, state, text, **extra):
        d = {"unique": None, "timestamp": None, "direction": direction}
        if str(direction) == "1":
            d["from"], d["to"] = contact, acc
        else:
            d["from"], d["to"] = acc, contact
        d["type"] = mtype
        if state is not None:
            d["state"] = state
        d["message"] = text
        d.update(extra)
        return d

    cases = [
        (2, m(inc, c[0], "chat", 0,
              "שלום! \U0001F600 ההזמנה שלך מוכנה \U0001F44D\U0001F3FD "
              "תודה \u2764\ufe0f \U0001F468\u200d\U0001F469\u200d\U0001F467")),
        (11, m(inc, c[1], "chat", 0, "=SUM(A1)")),
        (23, m(inc, c[0], "chat", 0, "+972 50-123-4567 is my new number")),
        (37, m(inc, c[2], "chat", 0, "-5 degrees here tonight")),
        (49, m(out, c[1], "text", 3, "@home, call me later")),
        (50, m(inc, c[0], "chat", 0, "\tindented after a tab")),
        (68, m(inc, c[3], "chat", 0,
               "first line\r\nsecond line\r\nשורה שלישית")),
        (85, m(out, c[0], "text", 2,
               'He said "yes, tomorrow", then "no, Sunday", ok?')),
        (102, m(inc, c[4], "chat", 0,
                "line\u2028separator and paragraph\u2029separator")),
        (119, m(inc, c[1], "chat", 0, "broken \ud800 surrogate")),
        (136, m(inc, c[2], "chat", 0, "nul\u0000inside")),
        (149, m(inc, HIDDEN_ID, "chat", 0,
                "היי, המספר שלי מוסתר \U0001F648")),
        (150, m(out, c[5], "text", 0, "Your appointment is confirmed",
                reason="number not on WhatsApp")),
        (171, m(out, c[6], "text", 0, "תזכורת: התור שלך מחר ב-9:30",
                reason=131026)),
        (190, m(inc, c[0], "chat", 0, "timestamp sent as a JSON number")),
        (212, m(2, c[1], "text", 1, "direction sent as a JSON number")),
        (233, m(out, c[3], "text", "3", "state sent as a string")),
        (249, m(inc, c[4], "chat", 1, "forwarded with a quote",
                isForwarded=True,
                context={"quotedId": "3EB0A1B2C3D4E5F60718",
                         "quotedFrom": acc})),
        (250, m(inc, c[2], "poll", 0, "Which day works? Sun / Mon / Tue")),
        (268, m(inc, c[7], "chat", None, "no state field on this one")),
        (305, m(out, c[0], "text", 3,
                "\n".join(["הודעה ארוכה: שורה %d מתוך 50, עם פסיקים, "
                           "\"מרכאות\" ואמוג'י \U0001F680" % i
                           for i in range(1, 51)]))),
    ]
    return cases


def build():
    """Return the whole sample history, newest first."""
    h = gen_history.History(SEED, ACCOUNT, CONTACTS, END_EPOCH)
    cases = edge_cases(h)
    generated = list(h.iter_messages(TOTAL - len(cases)))
    at = dict(cases)
    hist, g = [], 0
    for pos in range(TOTAL):
        if pos not in at:
            hist.append(generated[g])
            g += 1
            continue
        msg = at[pos]
        newer = int(hist[-1]["timestamp"]) if hist else None
        older = int(generated[g]["timestamp"]) if g < len(generated) else None
        if newer is None:
            ts = older + 17
        elif older is None:
            ts = newer - 61
        else:
            ts = (newer + older) // 2
        msg["unique"] = h.unique(1000000 + pos)
        msg["timestamp"] = ts if msg["message"].startswith("timestamp sent") \
            else str(ts)
        hist.append(msg)
    assert g == len(generated)
    return hist


def render():
    """Return {file name: bytes} for every page."""
    return {"page-%03d.json" % (i + 1): (gen_history.php_json(p) + "\n").encode("ascii")
            for i, p in enumerate(gen_history.pages(build()))}


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Write or check samples/pages.")
    ap.add_argument("--out", default=os.path.join(here, "..", "samples", "pages"),
                    metavar="DIR", help="default: samples/pages")
    ap.add_argument("--check", action="store_true",
                    help="compare with DIR instead of writing; exit 1 on a difference")
    a = ap.parse_args(argv)
    files = render()
    if a.check:
        present = sorted(f for f in os.listdir(a.out) if f.endswith(".json"))
        bad = sorted(set(present) ^ set(files))
        for name, data in files.items():
            path = os.path.join(a.out, name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    if f.read() != data:
                        bad.append(name)
        if bad:
            print("make_samples: %s differ from the generator: %s"
                  % (a.out, ", ".join(bad)), file=sys.stderr)
            return 1
        return 0
    os.makedirs(a.out, exist_ok=True)
    for old in os.listdir(a.out):
        if old.startswith("page-") and old.endswith(".json") and old not in files:
            os.unlink(os.path.join(a.out, old))
    for name, data in files.items():
        tmp = os.path.join(a.out, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(a.out, name))
    print("make_samples: wrote %d pages to %s" % (len(files), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
