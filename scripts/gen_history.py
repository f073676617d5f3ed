#!/usr/bin/python3
"""Deterministic generator of a realistic 99digital WhatsApp getHistory history.

Used as a module (by mock_api.py, make_samples.py and the tests) and as a CLI
(by the benchmarks).  The shape follows SPEC section 1: every message is a dict
with the keys `unique`, `timestamp`, `direction`, `from`, `to`, `type`,
`state`, `message` and, for some failed outgoing messages, `reason`.  About 1%
of the records drift the way live data may: numbers instead of strings (or the
reverse), a missing `state` or `reason`, an extra unknown field.

Module API
    messages(n, seed=1, account=..., contacts=40, end_epoch=1732000000)
        -> list of n dicts, newest first
    iter_messages(...)      same, as an iterator (constant memory)
    php_json(obj)           exactly the text PHP's json_encode() gives
    pages(msgs, size=50)    -> list of lists
    History(...)            the generator object; History.make(idx, ts) builds
                            one more message (mock_api.py uses it to grow)

CLI
    /usr/bin/python3 scripts/gen_history.py --messages N [--seed S]
        [--account NUM] [--contacts K] [--end-epoch T] [--page-size 50]
        [--out PATH|-]
    writes one PHP-encoded JSON array per line, one line per page, newest first.

Same arguments, same bytes: everything comes from random.Random(seed); nothing
depends on the clock, the locale or hash randomization.
"""

import argparse
import bisect
import json
import random
import re
import sys
import time

DEFAULT_ACCOUNT = "972501234567"
DEFAULT_END_EPOCH = 1732000000          # 2024-11-19T07:06:40Z
PAGE_SIZE = 50
HISTORY_DAYS = 340                      # the API keeps one year; stay inside it

# --------------------------------------------------------------------------
# PHP json_encode

_ESCAPE_DEL = re.compile(r'\\\\|\\u007f')


def _keep_del(m):
    return m.group(0) if m.group(0) == '\\\\' else '\x7f'


def php_json(obj):
    """Return the text PHP's json_encode($obj) gives with default flags.

    Compact, every non-ASCII character as a lower-case \\u escape with four
    hex digits ("\\u05e9"; astral characters as surrogate pairs), "/" as
    "\\/", control characters as \\b \\f \\n \\r \\t or "\\u001f".  PHP
    leaves DEL (0x7f) raw where Python escapes it.  A lone surrogate in a
    Python str comes out as its escape, "\\ud800" (PHP
    would refuse such a string; the samples use this on purpose).
    """
    s = json.dumps(obj, ensure_ascii=True, separators=(',', ':'))
    s = s.replace('/', '\\/')
    if '\\u007f' in s:
        s = _ESCAPE_DEL.sub(_keep_del, s)
    return s


def pages(msgs, size=PAGE_SIZE):
    """Split a newest-first list into pages of `size` (the last may be short)."""
    return [msgs[i:i + size] for i in range(0, len(msgs), size)]


# --------------------------------------------------------------------------
# Text material.  Real Hebrew and English chat lines; {placeholders} are
# filled per message.

HE_LINES = [
    "שלום, מה שלומך?",
    "תודה רבה!",
    "אני בדרך, אגיע בעוד עשר דקות",
    "אפשר לקבוע פגישה למחר בבוקר?",
    "ההזמנה שלך נשלחה ותגיע תוך 3 ימי עסקים",
    "מה המחיר של המוצר?",
    "בוקר טוב",
    "לילה טוב",
    "שבת שלום",
    "חג שמח לכל המשפחה",
    "מזל טוב!",
    "אני לא יכול לדבר עכשיו, אחזור אליך אחר כך",
    "איפה אתה?",
    "נתראה בערב",
    "כן, בסדר גמור",
    "לא, תודה",
    "אפשר לקבל חשבונית?",
    "המשלוח הגיע היום, הכל תקין",
    "יש לכם סניף בתל אביב?",
    "מתי אתם פתוחים ביום שישי?",
    "שלחתי לך את הקובץ במייל",
    "הפגישה נדחתה ליום ראשון",
    "בבקשה תתקשר אליי כשתוכל",
    "התשלום התקבל, תודה",
    "מספר ההזמנה שלך הוא {num}",
    "השעה {time} מתאימה לך?",
    "אני מחכה למטה",
    "קיבלתי, תודה",
    "איך אפשר לבטל את המנוי?",
    "הקוד שלך הוא {code}",
    "רציתי לשאול לגבי ההצעה ששלחתם",
    "סליחה על האיחור",
    "אין בעיה",
    "מה נשמע?",
    "הכל טוב, ואצלך?",
    "צריך עוד משהו?",
    "תזכורת: התור שלך מחר ב-{time}",
    "המחיר הוא {price} ש\"ח כולל מע\"מ",
    "המבצע בתוקף עד סוף החודש",
    "אפשר לשלם בביט?",
    "תשלח לי מיקום",
    "הנה הכתובת: רחוב הרצל {small}, ראשון לציון",
    "שלחתי לך את ה-PDF, תבדוק בבקשה",
    "ה-Wi-Fi בחדר {small} לא עובד",
    "הלינק לא נפתח לי, אפשר לשלוח שוב?",
    "יש לך WhatsApp Web במחשב?",
    "אפשר לשלוח את זה ב-email?",
    "הטכנאי יגיע בין {time} ל-{time2}",
    "{name}, תודה על הסבלנות",
    "היי {name}, ההזמנה מוכנה לאיסוף",
    "אני אצל הרופא, אחזור אליך בצהריים",
    "תודה על השירות המעולה",
    "מישהו יכול לעזור לי עם ההזמנה?",
    "הגעתי, אני ליד הכניסה",
    "יום הולדת שמח! שתהיה שנה מדהימה",
    "אפשר להחליף מידה? הזמנתי M וצריך L",
    "המוצר אזל מהמלאי, יחזור בשבוע הבא",
    "קבעתי לך תור ל-{date} בשעה {time}",
    "הקבלה מצורפת",
    "תעדכן אותי כשזה מוכן",
    "בדיוק יצאתי מהעבודה",
    "אל תשכח להביא תעודת זהות",
    "סגרנו על {price} ש\"ח, נכון?",
    "הנהג בדרך אליך, מספר משלוח {num}",
]

EN_LINES = [
    "Hi, how are you?",
    "Thanks a lot!",
    "On my way, be there in 10 minutes",
    "Can we meet tomorrow morning?",
    "Your order has shipped and will arrive within 3 business days",
    "How much does it cost?",
    "Good morning",
    "Good night",
    "Sounds good to me",
    "No, thank you",
    "Could you send me the invoice?",
    "The delivery arrived today, everything is fine",
    "Do you have a branch in Tel Aviv?",
    "What are your opening hours on Friday?",
    "I sent you the file by email",
    "The meeting moved to Sunday",
    "Please call me when you can",
    "Payment received, thanks",
    "Your order number is {num}",
    "Does {time} work for you?",
    "Your verification code is {code}",
    "Sorry for the delay",
    "No problem",
    "Anything else I can help with?",
    "Reminder: your appointment is tomorrow at {time}",
    "The price is {price} ILS including VAT",
    "The offer is valid until the end of the month",
    "Send me your location please",
    "The address is 12 Herzl St, Rishon LeZion",
    "Hey {name}, your order is ready for pickup",
    "{name}, thanks for your patience",
    "I'm at the doctor, will get back to you at noon",
    "Great service, thank you!",
    "Can someone help me with my order?",
    "I'm here, waiting at the entrance",
    "Happy birthday! Have an amazing year",
    "Can I exchange the size? I ordered M and need L",
    "The item is out of stock, back next week",
    "Booked you for {date} at {time}",
    "Receipt attached",
    "Let me know when it's ready",
    "Just left the office",
    "Don't forget to bring your ID",
    "We agreed on {price} ILS, right?",
    "The driver is on the way, tracking number {num}",
    "See https://99digital.co.il/help/faq for details",
    "Is the 50% discount still on?",
    "The technician will come between {time} and {time2}",
    "He said \"tomorrow\", but I doubt it",
    "Items: shirt, pants, socks",
    "ok",
    "👍",
    "lol",
    "yes",
]

NAMES = [
    "Dana", "Yossi", "Michal", "Avi", "Noa", "Ron", "Tamar", "Omer", "Maya",
    "David", "Sarah", "Eli", "Shira", "Itai", "Yael", "Moshe",
    "דנה", "יוסי", "מיכל", "אבי", "נועה", "רון", "תמר", "עומר", "מאיה",
    "דוד", "שרה", "אלי", "שירה", "איתי", "יעל", "משה",
]

EN_WORDS = ["OK", "PDF", "Zoom", "Gmail", "iPhone", "WhatsApp", "Google Maps",
            "Bit", "PayBox", "link", "SMS", "QR", "Excel", "Wolt"]

EMOJI = [
    "\U0001F600",                       # grinning face
    "\U0001F602",                       # tears of joy
    "\u2764\ufe0f",                     # red heart + VS16
    "\U0001F44D",                       # thumbs up
    "\U0001F44D\U0001F3FD",             # thumbs up, medium skin tone
    "\U0001F64F",                       # folded hands
    "\U0001F64F\U0001F3FB",             # folded hands, light skin tone
    "\U0001F389",                       # party popper
    "\U0001F468\u200d\U0001F469\u200d\U0001F467",   # family: man, woman, girl
    "\U0001F3F3\ufe0f\u200d\U0001F308", # rainbow flag
    "\U0001F469\U0001F3FB\u200d\U0001F4BB",         # woman technologist
    "\U0001F1EE\U0001F1F1",             # flag: Israel
    "\u2705",                           # check mark
    "\U0001F525",                       # fire
    "\U0001F60D",                       # heart eyes
    "\U0001F914",                       # thinking
    "\u2600\ufe0f",                     # sun
    "\U0001F355",                       # pizza
    "\u2721\ufe0f",                     # star of David
    "\U0001F382",                       # birthday cake
    "\U0001F60A",                       # smiling eyes
    "\U0001F923",                       # rolling on the floor laughing
]

REACTIONS = ["\U0001F44D", "\u2764\ufe0f", "\U0001F602", "\U0001F62E",
             "\U0001F622", "\U0001F64F", ""]

BUTTONS = ["כן, אני מאשר", "לא תודה", "Confirm", "Cancel appointment",
           "דברו איתי", "Talk to an agent"]

LIST_ROWS = ["אפשרות 2: משלוח עד הבית", "Option 1: store pickup",
             "שעות פתיחה", "Track my order"]

FAIL_REASONS = [
    "number not on WhatsApp", "invalid phone number", "message undeliverable",
    "re-engagement message: more than 24 hours since the customer last replied",
    "media download failed", "rate limit hit",
]
FAIL_CODES = [131026, 131047, 131051, 470]

INCOMING_TYPES = [                      # (type, weight)
    ("chat", 46), ("text", 20), ("image", 9), ("ptt", 6), ("audio", 2),
    ("video", 3), ("document", 3), ("location", 2), ("sticker", 3),
    ("reaction", 2), ("button", 1.5), ("contacts", 0.7), ("list", 0.5),
    ("order", 0.3),
]
OUTGOING_TYPES = [("text", 86), ("file", 8), ("location", 2), ("ptt", 4)]

MEDIA_EXT = {
    "image": ["jpg", "jpg", "jpeg", "png", "webp"],
    "audio": ["mp3", "m4a", "ogg"],
    "ptt": ["ogg", "oga"],
    "video": ["mp4", "mp4", "3gp"],
    "document": ["pdf", "pdf", "docx", "xlsx", "txt"],
    "sticker": ["webp"],
    "file": ["pdf", "jpg", "png", "docx", "xlsx"],
}


_STOPS = frozenset(".!?:)\u2764\ufe0f\U0001F44D")


def _cum(pairs):
    total, out = 0.0, []
    for _, w in pairs:
        total += w
        out.append(total)
    return [p[0] for p in pairs], [c / total for c in out]


_IN_T, _IN_C = _cum(INCOMING_TYPES)
_OUT_T, _OUT_C = _cum(OUTGOING_TYPES)

_MASK64 = (1 << 64) - 1
_UNIQUE_PREFIXES = ["3EB0", "3EB0", "3EB0", "BAE5", "3A1F", "4A90", "5D2C"]


def _mix64(x):
    """splitmix64 finaliser: a bijection on 64-bit integers."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
    return x ^ (x >> 31)


class History:
    """A seeded history source.  make(idx, ts) builds message number idx."""

    def __init__(self, seed=1, account=DEFAULT_ACCOUNT, contacts=40,
                 end_epoch=DEFAULT_END_EPOCH):
        self.seed = seed
        self.account = str(account)
        self.end_epoch = int(end_epoch)
        setup = random.Random("waexport-setup-%s" % (seed,))
        self.rng = random.Random("waexport-msgs-%s" % (seed,))
        self.key = setup.getrandbits(64)
        nums, seen = [], {self.account}
        while len(nums) < max(1, int(contacts)):
            num = "9725%d%07d" % (setup.choice([0, 0, 2, 3, 4, 5, 8]),
                                  setup.randrange(10 ** 7))
            if num not in seen:
                seen.add(num)
                nums.append(num)
        self.contacts = nums
        # A few contacts write a lot, most write little (Zipf-like).
        acc, self.contact_cum = 0.0, []
        for i in range(len(nums)):
            acc += 1.0 / (i + 1) ** 0.8
            self.contact_cum.append(acc)
        self.contact_total = acc
        self.hidden = ["IL.%d" % setup.randrange(10 ** 15, 10 ** 16)
                       for _ in range(1 + len(nums) // 15)]

    def use_contacts(self, contacts):
        """Draw counterparts from `contacts` from now on (hidden ids included)."""
        nums = [c for c in contacts if not c.startswith("IL.")]
        hidden = [c for c in contacts if c.startswith("IL.")]
        if nums:
            self.contacts = nums
            acc, self.contact_cum = 0.0, []
            for i in range(len(nums)):
                acc += 1.0 / (i + 1) ** 0.8
                self.contact_cum.append(acc)
            self.contact_total = acc
        if hidden:
            self.hidden = hidden

    # -- pieces -----------------------------------------------------------

    def unique(self, idx):
        x = _mix64((idx * 0x9E3779B97F4A7C15 + self.key) & _MASK64)
        return "%s%016X" % (_UNIQUE_PREFIXES[x % 7], x)

    def pick_contact(self):
        r = self.rng
        if r.random() < 0.02:
            return r.choice(self.hidden)
        i = bisect.bisect_left(self.contact_cum, r.random() * self.contact_total)
        return self.contacts[min(i, len(self.contacts) - 1)]

    def _fill(self, s):
        if '{' not in s:
            return s
        r = self.rng
        if '{num}' in s:
            s = s.replace('{num}', str(r.randrange(100000, 9999999)))
        if '{code}' in s:
            s = s.replace('{code}', "%06d" % r.randrange(10 ** 6))
        if '{price}' in s:
            s = s.replace('{price}', r.choice(["49.90", "120", "1,250", "399",
                                               "89.50", "2,400"]))
        if '{time}' in s:
            hour = r.randrange(8, 19)
            s = s.replace('{time}', "%d:%02d" % (hour, r.choice([0, 15, 30, 45])))
            s = s.replace('{time2}', "%d:00" % (hour + r.randrange(2, 5)))
        if '{date}' in s:
            s = s.replace('{date}', "%d/%d" % (r.randrange(1, 29),
                                               r.randrange(1, 13)))
        if '{small}' in s:
            s = s.replace('{small}', str(r.randrange(1, 120)))
        if '{name}' in s:
            s = s.replace('{name}', r.choice(NAMES))
        return s

    def text(self, hebrew):
        r = self.rng
        x = r.random()
        lines = HE_LINES if hebrew else EN_LINES
        if x < 0.0006:                  # a rare long one, about 5 KB
            n, limit = 0, r.randrange(4500, 5500)
            parts = []
            while n < limit:
                p = self._fill(r.choice(lines))
                parts.append(p)
                n += len(p.encode('utf-8')) + 1
            return "\n".join(parts)
        if x < 0.03:                    # emoji only
            return "".join(r.choice(EMOJI) for _ in range(r.randrange(1, 4)))
        count = 1 if x < 0.62 else 2 if x < 0.86 else 3 if x < 0.96 \
            else r.randrange(4, 12)
        parts = [self._fill(p) for p in r.sample(lines, count)]
        if count > 1:
            y = r.random()
            if y < 0.7:                 # one paragraph: end each sentence
                s = " ".join(p if p[-1] in _STOPS else p + "."
                             for p in parts[:-1]) + " " + parts[-1]
            else:
                s = ("\n" if y < 0.93 else "\n\n").join(parts)
        else:
            s = parts[0]
        y = r.random()
        if hebrew and y < 0.12:         # Hebrew mixed with an English word
            s = "%s %s" % (s, r.choice(EN_WORDS))
        elif y < 0.14:
            s = "%s %s" % (s, r.choice(["#" + str(r.randrange(100, 99999)),
                                        "050-%07d" % r.randrange(10 ** 7),
                                        "14:30", "3/4", "(2)"]))
        if r.random() < 0.22:
            s = s + ("" if r.random() < 0.4 else " ") + "".join(
                r.choice(EMOJI) for _ in range(1 if r.random() < 0.7 else 2))
        return s

    def media_link(self, ts, kind):
        r = self.rng
        tm = time.gmtime(ts)
        name = "%x" % r.getrandbits(r.choice([24, 48, 64]))
        return "https://media.99digital.co.il/files/%04d/%02d/%s.%s" % (
            tm.tm_year, tm.tm_mon, name, r.choice(MEDIA_EXT[kind]))

    def location(self):
        r = self.rng
        d = r.randrange(4, 8)
        return "%.*f,%.*f" % (d, r.uniform(29.55, 33.25), d, r.uniform(34.3, 35.85))

    def body(self, mtype, ts):
        r = self.rng
        if mtype in ("chat", "text"):
            return self.text(r.random() < 0.43)
        if mtype in MEDIA_EXT:
            return self.media_link(ts, mtype)
        if mtype == "location":
            return self.location()
        if mtype == "reaction":
            return r.choice(REACTIONS)
        if mtype == "button":
            return r.choice(BUTTONS)
        if mtype == "list":
            return r.choice(LIST_ROWS)
        if mtype == "contacts":
            name = r.choice(NAMES)
            num = r.choice(self.contacts)
            return ("BEGIN:VCARD\nVERSION:3.0\nFN:%s\nTEL;type=CELL;waid=%s:"
                    "+%s %s-%s-%s\nEND:VCARD" % (name, num, num[:3], num[3:5],
                                                 num[5:8], num[8:]))
        return "Order #%d: %d items, total %s ILS" % (
            r.randrange(1000, 99999), r.randrange(1, 6),
            r.choice(["89.90", "249.00", "1,020.50"]))

    # -- one message --------------------------------------------------------

    def make(self, idx, ts, contact=None, direction=None):
        """Build message number idx (any int; distinct idx -> distinct unique)."""
        r = self.rng
        if contact is None:
            contact = self.pick_contact()
        if direction is None:
            direction = "1" if r.random() < 0.55 else "2"
        if direction == "1":
            mtype = _IN_T[bisect.bisect_left(_IN_C, r.random())]
            frm, to = contact, self.account
            state = 0 if r.random() < 0.9 else 1
        else:
            mtype = _OUT_T[bisect.bisect_left(_OUT_C, r.random())]
            frm, to = self.account, contact
            age = self.end_epoch - ts
            y = r.random()
            if y < 0.025:
                state = 0
            elif age > 2 * 86400:
                state = 3 if y < 0.82 else 2 if y < 0.95 else 1
            else:
                state = 3 if y < 0.4 else 2 if y < 0.75 else 1
        msg = {
            "unique": self.unique(idx),
            "timestamp": str(ts),
            "direction": direction,
            "from": frm,
            "to": to,
            "type": mtype,
            "state": state,
            "message": self.body(mtype, ts),
        }
        if direction == "2" and state == 0:
            msg["reason"] = (r.choice(FAIL_CODES) if r.random() < 0.2
                             else r.choice(FAIL_REASONS))
        if r.random() < 0.01:
            self.oddity(msg)
        return msg

    def oddity(self, msg):
        """Drift one record the way live data may (SPEC section 1, last line)."""
        r = self.rng
        k = r.randrange(7)
        if k == 0:
            msg["timestamp"] = int(msg["timestamp"])
        elif k == 1:
            msg["direction"] = int(msg["direction"])
        elif k == 2:
            msg["state"] = str(msg["state"])
        elif k == 3:
            del msg["state"]
        elif k == 4:
            if "reason" in msg:
                del msg["reason"]
            else:
                msg["edited"] = 1
        elif k == 5:
            msg["quoted"] = self.text(r.random() < 0.43)
        else:
            msg["edited"] = 1

    # -- a whole history ----------------------------------------------------

    def _gaps(self, n):
        """Yield (starts_a_conversation, gap in seconds) for n messages.

        Conversations of about 5 messages a few seconds to minutes apart,
        separated by gaps of hours to days.  Drawn from their own RNG so the
        sequence can be replayed: once to add it up, once to use it.
        """
        r = random.Random("waexport-time-%s" % (self.seed,))
        mean_gap = HISTORY_DAYS * 86400.0 / n
        within = max(1.0, min(180.0, mean_gap / 2.0))
        between = max(1.0, 5.5 * mean_gap - 4.5 * within)
        left = 0
        for idx in range(n):
            if left <= 0:
                left = 1 + int(r.expovariate(0.2))
                yield True, (r.expovariate(1.0 / between) if idx else 0.0)
            else:
                yield False, r.expovariate(1.0 / within)
            left -= 1

    def iter_messages(self, n):
        """Yield n messages, newest first, timestamps never increasing.

        The gaps are scaled so that the n messages span HISTORY_DAYS exactly
        (constant memory: the gap sequence is replayed, not stored).
        """
        n = int(n)
        if n <= 0:
            return
        newest = self.end_epoch - random.Random(
            "waexport-start-%s" % (self.seed,)).randrange(0, 120)
        total = sum(g for _, g in self._gaps(n))
        scale = HISTORY_DAYS * 86400.0 / total if total > 0 else 0.0
        cum = 0.0
        contact = None
        for idx, (new_conv, gap) in enumerate(self._gaps(n)):
            if new_conv:
                contact = self.pick_contact()
            cum += gap
            yield self.make(idx, newest - int(cum * scale), contact)


def iter_messages(n, seed=1, account=DEFAULT_ACCOUNT, contacts=40,
                  end_epoch=DEFAULT_END_EPOCH):
    return History(seed, account, contacts, end_epoch).iter_messages(n)


def messages(n, seed=1, account=DEFAULT_ACCOUNT, contacts=40,
             end_epoch=DEFAULT_END_EPOCH):
    """Return n message dicts, newest first."""
    return list(iter_messages(n, seed, account, contacts, end_epoch))


def write_pages(out, n, seed=1, account=DEFAULT_ACCOUNT, contacts=40,
                end_epoch=DEFAULT_END_EPOCH, size=PAGE_SIZE):
    """Write n messages to the text stream `out`, one JSON array per page."""
    page, buf = [], []
    for m in iter_messages(n, seed, account, contacts, end_epoch):
        page.append(m)
        if len(page) == size:
            buf.append(php_json(page))
            page = []
            if len(buf) >= 64:
                out.write("\n".join(buf) + "\n")
                buf = []
    if page:
        buf.append(php_json(page))
    if buf:
        out.write("\n".join(buf) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Generate a deterministic 99digital getHistory history: "
                    "one PHP-encoded JSON array per line, one line per page, "
                    "newest first.")
    ap.add_argument("--messages", type=int, required=True, metavar="N")
    ap.add_argument("--seed", type=int, default=1, metavar="S")
    ap.add_argument("--account", default=DEFAULT_ACCOUNT, metavar="NUM")
    ap.add_argument("--contacts", type=int, default=40, metavar="K")
    ap.add_argument("--end-epoch", type=int, default=DEFAULT_END_EPOCH,
                    metavar="T", help="newest message time (default %(default)s)")
    ap.add_argument("--page-size", type=int, default=PAGE_SIZE, metavar="N")
    ap.add_argument("--out", default="-", metavar="PATH|-")
    a = ap.parse_args(argv)
    if a.messages < 0 or a.contacts < 1 or a.page_size < 1:
        ap.error("--messages must be >= 0, --contacts and --page-size >= 1")
    if a.out == "-":
        out = open(sys.stdout.fileno(), "w", encoding="ascii", newline="\n",
                   buffering=1 << 20, closefd=False)
    else:
        out = open(a.out, "w", encoding="ascii", newline="\n",
                   buffering=1 << 20)
    try:
        write_pages(out, a.messages, a.seed, a.account, a.contacts,
                    a.end_epoch, a.page_size)
        out.flush()
    except BrokenPipeError:
        return 141
    finally:
        try:
            out.close()
        except BrokenPipeError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
