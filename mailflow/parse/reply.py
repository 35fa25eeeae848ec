"""The new text of a reply: what the sender wrote in this message, without the quoted history.

Mailflow records every message of a case in its diary; the diary shows what each sender *added*.
``extract_reply`` removes from a plain-text body

* quoted history: ``>`` blocks that end the message, "On <date>, <name> wrote:" attributions in
  many languages (also split over several lines), Outlook "-----Original Message-----" separators
  and "From: / Sent: / To: / Subject:" header blocks (localised), forward markers, and
  "reply above this line" markers of ticketing systems;
* signatures: the ``-- `` delimiter and what follows, mobile footers ("Sent from my iPhone",
  "Von meinem iPhone gesendet", "Get Outlook for iOS", ...), and short footers under a line of
  ``_`` / ``-`` / ``=`` characters;

and keeps the sender's own lines. Conventions, where the reply parsers in the wild disagree:

* top-posting: everything from the first quote header, separator or trailing quote on is history;
* interleaved answers: a ``>`` block with the sender's text below it is kept as context for that
  text (its "On ... wrote:" line is dropped); a block that only trails the message is removed;
* bottom-posting: a single attributed quote at the very top followed by the answer is dropped;
* a body that *starts* with a header block or forward marker (a forward without comment, a
  client that puts the attribution first) keeps what follows the header;
* a body that is only a quote yields "";
* sign-offs ("Thanks,", "Best regards", "-Ann") are the sender's words and are kept;
* trailing whitespace is trimmed on every line, leading and trailing blank lines are dropped.

Every step is line based: each line is looked at a bounded number of times with anchored,
non-nested patterns on at most ``_SCAN`` characters, so a 700 KB single-line quote or a
regex-DoS body costs linear time.

No message content is ever logged here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mailflow.mime import separators
from mailflow.mime.html import html_to_quoted_text

if TYPE_CHECKING:
    from mailflow.parse.message import ParsedMessage

__all__ = ["extract_reply", "extract_reply_html", "reply_text"]

# How much of a line the classifiers look at; longer lines are judged by their start.
_SCAN = 2000
# A quote attribution may be wrapped over this many lines (Polymail: 5, with one blank line).
_ATTR_MAX_LINES = 5
_ATTR_MAX_CHARS = 600
# A separator line (____, ----, ====) ends the text when at most this many lines of text follow it.
_FOOTER_MAX_LINES = 12
# "-----Original Message-----" and its kin are short lines.
_SEP_MAX_CHARS = 200
# A line between two quoted lines is a re-wrapped quote tail when the line above it is this long.
_WRAPPED_QUOTE_MIN = 50

# Line kinds.
EMPTY, TEXT, QUOTE, SIG, DELIM, ATTR, HEADER, SEP, ABOVE = range(9)
_CUTS = frozenset({SIG, ATTR, HEADER, SEP, ABOVE})

_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\u00ad]")
_FENCE = re.compile(r"^\s*```")
_QUOTE = re.compile(r"^[ \t]*>")
_SIG_DASHES = re.compile(r"^--[ \t]*$")
_DELIM_CHARS = frozenset("-_=~*+#\u2014\u2013\u1427")

# ---------------------------------------------------------------- "Original Message" / forwards

_SEP_DASHED = separators.DASHED_LINE
_SEP_PLAIN = separators.PLAIN_LINE
# Ticketing systems: "## Please type your reply above this line ##" and friends.
_ABOVE_WORDS = ("line", "zeile", "ligne", "l\u00ednea", "linea", "regel", "riga", "linha")
_ABOVE = re.compile(
    r"^\W{0,10}.{0,60}\b(?:above this line|oberhalb dieser zeile|au-dessus de cette ligne"
    r"|por encima de esta l[ií]nea|boven deze regel|sopra questa riga|acima desta linha)\b.{0,40}$",
    re.IGNORECASE,
)

# ------------------------------------------------------------------------- header blocks

_LABEL = re.compile(
    r"^[ \t]*[*_]{0,2}[ \t]*(?P<label>"
    + "|".join(
        (
            separators.FROM_LABELS,
            separators.DATE_LABELS,
            separators.TO_LABELS,
            separators.SUBJECT_LABELS,
            separators.OTHER_LABELS,
        )
    )
    + r")[ \t]*[*_]{0,2}[ \t]*[:\uff1a]",
    re.IGNORECASE,
)
_LABEL_KIND = {
    "from": re.compile(r"^(?:" + separators.FROM_LABELS + r")$", re.IGNORECASE),
    "date": re.compile(r"^(?:" + separators.DATE_LABELS + r")$", re.IGNORECASE),
    "to": re.compile(r"^(?:" + separators.TO_LABELS + r")$", re.IGNORECASE),
    "subject": re.compile(r"^(?:" + separators.SUBJECT_LABELS + r")$", re.IGNORECASE),
}

# ---------------------------------------------------------------------- attributions

_VERBS = frozenset(
    (
        *("wrote", "writes", "said", "says", "sent"),
        *("schrieb", "geschreven", "schreef", "het volgende", "het volgende geschreven"),
        *("a écrit", "a ecrit", "écrit", "ecrit", "escribió", "escribio", "ha escrit", "escrigué"),
        *("ha scritto", "scritto", "scrisse", "escreveu"),
        *("napisał(a)", "napisała", "napisał", "napisal", "pisze", "napsal(a)", "napsal", "napísal"),
        *("написал(а)", "написала", "написал", "написав", "пише"),  # noqa: RUF001 - Cyrillic
        *("skrev", "kirjoitti", "írta", "yazdı", "έγραψε", "đã viết", "skrifaði", "rašė"),  # noqa: RUF001
    )
)
_CJK_VERBS = ("写道", "寫道", "のメッセージ", "작성")
_VERB_SPLIT = re.compile(r"[\s,.\"'>]+")


def _ends_with_verb(text: str) -> bool:
    """Whether text ends with a "wrote" verb ("wrote:", "a écrit :", "napisał(a):", "写道")."""
    tail = text[-_VERB_TAIL:].rstrip(" \t:\uff1a-*").lower()
    if tail.endswith(_CJK_VERBS):
        return True
    words = [w for w in _VERB_SPLIT.split(tail) if w]
    return any(" ".join(words[-k:]) in _VERBS for k in (1, 2, 3) if len(words) >= k)


# Verbs that sit in the middle: "Am <date> schrieb <name>:", "<name> schrieb am <date>:".
_WROTE_MID = re.compile(
    r"(?:^|\s)(?:schrieb|schreef|skrev|napisał|пользователь|kirjoitti|wrote)(?:\s|$)", re.IGNORECASE
)
_LEAD = re.compile(
    r"^(?:on|at|in message|am|le|el|il|in data|em|op|w dniu|dnia|dňa|den|på|vào|dne|na|στις|lúc|in)\s",
    re.IGNORECASE,
)
_LEAD_CJK = re.compile(r"^(?:在|於)")
_DATEISH = re.compile(r"\d{1,4}[-/.:]\d{1,2}|\b(?:19|20)\d\d\b|\d{1,2}\s*[:.]\s*\d\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ENDS_WITH_ADDRESS = re.compile(r"(?:<[^<>\s]*@[^<>\s]*>|\([^()\s]*@[^()\s]*\))\s*[:\uff1a]?$|@[\w.-]+>\s*[:\uff1a]$")
_FULLWIDTH_COLON = "\uff1a"
# The longest verb phrase ("het volgende geschreven:") fits in this many trailing characters.
_VERB_TAIL = 40
_ADDRESS_TAIL = 160
_GMAIL_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2} GMT[+-]\d{1,2}:\d{2}\b")
_DASH_WRAPPED = re.compile(r"^-{2,}(.{1,300}?)-{2,}$")

# ------------------------------------------------------------------------- signatures

_MOBILE = re.compile(
    r"^[\s(<]*(?:"
    r"sent (?:from|with|via|by|using)\b|get outlook for\b"
    r"|from my (?:iphone|ipad|android|mobile|phone|samsung)"
    r"|\w+ from mobile\b|envoyé (?:de|depuis|à partir de)\b|obtenir outlook\b"
    r"|von meinem .{1,40} gesendet|gesendet (?:von|mit)\b|diese nachricht wurde von .{1,60} gesendet"
    r"|enviado (?:desde|do|de) (?:mi|meu|my|el|o)\b|enviado desde\b|obtener outlook\b|inviato da\b"
    r"|inviato dal mio\b|verzonden (?:vanaf|met|vanuit)\b|verstuurd (?:vanaf|met|vanuit)\b"
    r"|skickat från\b|från min\b|sendt fra\b|wysłane z\b|wysłano z\b|lähetetty\b"
    r"|отправлено с\b"  # noqa: RUF001 - Cyrillic on purpose
    r"|odesláno z\b|從我的|发自我的|寄自我的|iphoneから送信|iphone에서 보냄|내 .{1,30}에서 보냄"
    r")",
    re.IGNORECASE,
)
_URLISH = re.compile(r"<[^<>]{0,300}>|\([^()]{0,300}\)|\[([^\[\]]{0,100})\]|https?://\S{0,300}")


def _clean(line: str) -> str:
    """A line as the classifiers see it: invisible marks removed, nbsp as space, bounded."""
    return _INVISIBLE.sub("", line[:_SCAN]).replace("\xa0", " ").strip()


def _is_mobile_footer(clean: str) -> bool:
    if len(clean) > 160 or not _MOBILE.match(clean):
        return False
    words = _URLISH.sub(lambda m: m.group(1) or " ", clean)
    # "Sent from my desk, is much easier than my phone." is a sentence, not a footer.
    return "," not in words and ";" not in words and len(words.split()) <= 10


def _is_reply_above_marker(clean: str) -> bool:
    if len(clean) > 120:
        return False
    lowered = clean.lower()
    return any(word in lowered for word in _ABOVE_WORDS) and bool(_ABOVE.match(clean))


def _is_delimiter(clean: str) -> bool:
    if clean == "\u1427":  # Gmail/Mixmax tracking dot "ᐧ" ends the written text
        return True
    return len(clean) >= 2 and set(clean) <= _DELIM_CHARS


def _header_label(clean: str) -> str | None:
    m = _LABEL.match(clean)
    if not m:
        return None
    label = m.group("label").lower()
    for kind, pattern in _LABEL_KIND.items():
        if pattern.match(label):
            return kind
    return "other"


def _header_block_end(cleans: list[str], kinds: list[int | None], i: int) -> int:
    """End (exclusive) of an Outlook-style header block starting at line i, or i if there is none."""
    n = len(cleans)
    labels: set[str] = set()
    seen = 0
    j = i
    continuation = 0
    last_header = i
    while j < n and j < i + 14:
        if kinds[j] == QUOTE:
            break
        label = _header_label(cleans[j])
        if label is not None:
            labels.add(label)
            seen += 1
            continuation = 0
            last_header = j
        elif not cleans[j]:
            break
        else:
            continuation += 1  # a wrapped value: "From: Human Resources\n<long-address@x.com>"
            if continuation > 2:
                break
        j += 1
    distinct = labels - {"other"}
    if seen >= 2 and len(labels) >= 2 and ("from" in labels or ("date" in labels and len(distinct) >= 2)):
        return last_header + 1 + min(continuation, 2) if j > last_header + 1 else last_header + 1
    return i


def _starts_like_attribution(first: str) -> bool:
    return bool(
        _LEAD.match(first)
        or _LEAD_CJK.match(first)
        or any(token[:1].isdigit() for token in first[:64].split(None, 3)[:3])  # "tir. 18. apr."
        or ("@" in first and _EMAIL.search(first))
        or first.startswith("--")
    )


def _window_is_attribution(text: str, first: str, lines_used: int) -> bool:
    """Whether the joined lines ``text`` (starting with line ``first``) are a quote attribution.

    The cheap tests on the end of the window come first; the searches over the whole window run
    only for the few windows that end like an attribution.
    """
    text = text.strip(" *_")
    if text.startswith("--") and text.endswith("--"):
        m = _DASH_WRAPPED.match(text)
        if m:  # "---- On <date> <name> wrote ----", Android's "---- <name> wrote ----"
            inner = m.group(1).strip()
            if _ends_with_verb(inner):
                return True
            text = inner
    text = text.lstrip("-> ")
    if not text or len(text) > _ATTR_MAX_CHARS:
        return False
    if lines_used == 1 and _GMAIL_ISO.match(text):
        return True
    ends_with_verb = _ends_with_verb(text)
    ends_with_colon = text.endswith((":", _FULLWIDTH_COLON))
    ends_with_address = text[-1] in ">)" or text.endswith((">:", ">" + _FULLWIDTH_COLON))
    if not (ends_with_verb or ends_with_colon or ends_with_address):
        return False
    starts_well = _starts_like_attribution(first)
    if lines_used > 1 and not starts_well:
        return False
    has_email = "@" in text and bool(_EMAIL.search(text))
    if ends_with_verb:
        dated = bool(_DATEISH.search(text))
        return (dated or has_email or " via " in text) and (starts_well or has_email)
    if not starts_well or not _DATEISH.search(text):
        return False
    if ends_with_colon and _WROTE_MID.search(text):
        return True
    return has_email and lines_used <= 3 and bool(_ENDS_WITH_ADDRESS.search(text[-_ADDRESS_TAIL:]))


def _attribution_end(lines_clean: list[str], kinds: list[int | None], i: int) -> int:
    """End (exclusive) of a quote attribution starting at line i, or i if there is none."""
    first = lines_clean[i]
    if not first or len(first) > _ATTR_MAX_CHARS:
        return i
    # Only a line that starts like an attribution ("On", a date, an address) may be wrapped.
    max_lines = _ATTR_MAX_LINES if _starts_like_attribution(first) else 1
    parts: list[str] = []
    blanks = 0
    n = len(lines_clean)
    j = i
    while j < n and j < i + max_lines + blanks:
        clean = lines_clean[j]
        if not clean:
            blanks += 1
            if blanks > 1 or j == i:
                return i
            j += 1
            continue
        if kinds[j] == QUOTE and j > i:
            # Only a short wrapped tail may carry a '>' (Polymail's "> wrote:", Gmail's ">:").
            if len(clean) > 24:
                return i
            if not _window_is_attribution(" ".join([*parts, clean]), first, len(parts) + 1):
                return i
            return j + 1
        if len(clean) > _ATTR_MAX_CHARS or (j > i and _LABEL.match(clean)):
            return i  # an attribution does not run into a "From:/Sent:" header block
        parts.append(clean)
        if blanks and not _LEAD.match(first):
            return i  # only "On <date> <name>\n\n<address> wrote:" (Polymail) spans a blank line
        if _window_is_attribution(" ".join(parts), first, len(parts)):
            # "... <name@example.com>" may still be followed by its verb: "wrote:" on the next line.
            if j + 1 < n and 0 < len(lines_clean[j + 1]) <= 24:
                longer = " ".join([*parts, lines_clean[j + 1]])
                if _ends_with_verb(longer) and _window_is_attribution(longer, first, len(parts) + 1):
                    return j + 2
            return j + 1
        j += 1
    return i


def _classify(raw_lines: list[str]) -> tuple[list[int], list[int]]:
    """Kind of every line, and for intros (ATTR/HEADER) the index just after them."""
    n = len(raw_lines)
    cleans = [_clean(line) for line in raw_lines]
    kinds: list[int | None] = [None] * n
    ends = list(range(1, n + 1))
    # Fenced code (```) is the sender's text whatever it contains.
    in_fence = [False] * n
    opened = -1
    for idx, line in enumerate(raw_lines):
        if _FENCE.match(line[:_SCAN]):
            if opened < 0:
                opened = idx
            else:
                for k in range(opened, idx + 1):
                    in_fence[k] = True
                opened = -1
    for idx in range(n):
        clean = cleans[idx]
        if in_fence[idx]:
            kinds[idx] = TEXT
        elif not clean:
            kinds[idx] = EMPTY
        elif _QUOTE.match(raw_lines[idx][:_SCAN]):
            kinds[idx] = QUOTE
    for idx in range(1, n - 1):
        # A client that re-wraps long quoted lines leaves the tail without '>':
        # "> ... Aenean tincidunt ornare diam,\neget accumsan est viverra quis.\n> ..."
        if (
            kinds[idx] is None
            and kinds[idx - 1] == QUOTE
            and kinds[idx + 1] == QUOTE
            and (
                len(raw_lines[idx - 1].rstrip()) >= _WRAPPED_QUOTE_MIN
                or raw_lines[idx][:1].isspace()
                or (" " not in cleans[idx] and any(c in cleans[idx] for c in "=/?&%_"))  # a URL's tail
            )
        ):
            kinds[idx] = QUOTE
    for idx in range(n):
        if kinds[idx] is not None:
            continue
        clean = cleans[idx]
        if _SIG_DASHES.match(clean):
            kinds[idx] = SIG
        elif _is_delimiter(clean):
            kinds[idx] = DELIM
        elif len(clean) <= _SEP_MAX_CHARS and (_SEP_DASHED.match(clean) or _SEP_PLAIN.match(clean)):
            kinds[idx] = SEP
        elif _is_mobile_footer(clean):
            kinds[idx] = SIG
        elif _is_reply_above_marker(clean):
            kinds[idx] = ABOVE
        else:
            end = _header_block_end(cleans, kinds, idx) if _LABEL.match(clean) else idx
            if end > idx:
                kinds[idx] = HEADER
                ends[idx] = end
                continue
            end = _attribution_end(cleans, kinds, idx)
            if end > idx:
                kinds[idx] = ATTR
                ends[idx] = end
            else:
                kinds[idx] = TEXT
    final = [TEXT if k is None else k for k in kinds]
    _settle_delimiters(final, ends)
    return final, ends


def _settle_delimiters(kinds: list[int], ends: list[int]) -> None:
    """A ____/----/==== line ends the text when a quote header or only a short footer follows it."""
    n = len(kinds)
    next_cut = [n] * (n + 1)
    next_content = [n] * (n + 1)  # next line that is neither empty nor a separator line
    text_after = [0] * (n + 1)
    for idx in range(n - 1, -1, -1):
        next_cut[idx] = idx if kinds[idx] in _CUTS else next_cut[idx + 1]
        next_content[idx] = next_content[idx + 1] if kinds[idx] in (EMPTY, DELIM) else idx
        text_after[idx] = text_after[idx + 1] + (kinds[idx] == TEXT)
    for idx in range(n):
        if kinds[idx] != DELIM:
            continue
        k = next_content[idx + 1]
        if k >= n or kinds[k] in _CUTS:
            kinds[idx] = SIG
            continue
        footer = text_after[idx + 1] - text_after[next_cut[idx + 1]]
        kinds[idx] = SIG if footer <= _FOOTER_MAX_LINES else TEXT


def _quote_region_end(kinds: list[int], k: int) -> int:
    n = len(kinds)
    while k < n and kinds[k] in (QUOTE, EMPTY):
        k += 1
    return k


def _next_nonblank(kinds: list[int], k: int) -> int:
    n = len(kinds)
    while k < n and kinds[k] == EMPTY:
        k += 1
    return k


def _extract_lines(raw_lines: list[str]) -> list[str]:
    kinds, ends = _classify(raw_lines)
    n = len(kinds)
    # For the bottom-posting test: is there another quote before the next cut?
    next_quote = [n] * (n + 1)
    next_cut = [n] * (n + 1)
    for idx in range(n - 1, -1, -1):
        next_quote[idx] = idx if kinds[idx] == QUOTE else next_quote[idx + 1]
        next_cut[idx] = idx if kinds[idx] in _CUTS else next_cut[idx + 1]

    out: list[str] = []
    has_text = False
    i = 0
    while i < n:
        kind = kinds[i]
        if kind == EMPTY:
            out.append("")
            i += 1
        elif kind in (TEXT, DELIM):
            out.append(raw_lines[i])
            has_text = True
            i += 1
        elif kind in (SIG, ABOVE):
            break
        elif kind == QUOTE:
            m = _quote_region_end(kinds, i)
            after = _next_nonblank(kinds, m)
            if after >= n or kinds[after] not in (TEXT, DELIM):
                break  # a quote that only trails the message
            out.extend(raw_lines[i:m])  # context for the sender's answer below it
            i = m
        else:  # ATTR, HEADER, SEP: the start of quoted or forwarded history
            j = ends[i]
            k = _next_nonblank(kinds, j)
            if kind == ATTR and k < n and kinds[k] == QUOTE:
                m = _quote_region_end(kinds, k)
                after = _next_nonblank(kinds, m)
                if after >= n or kinds[after] not in (TEXT, DELIM):
                    break
                if not has_text and next_quote[after] >= next_cut[after]:
                    out = []  # bottom-posting: the answer follows the one quoted message
                    i = m
                else:
                    out.extend(raw_lines[j:m])  # interleaved: keep the quote, drop its header
                    i = m
            elif has_text:
                break
            else:
                i = j  # nothing written above it: a forward without comment, a header-first client
    return out


def _finish(lines: list[str]) -> str:
    stripped = [line.rstrip() for line in lines]
    start = 0
    while start < len(stripped) and not stripped[start]:
        start += 1
    end = len(stripped)
    while end > start and not stripped[end - 1]:
        end -= 1
    return "\n".join(stripped[start:end])


def extract_reply(text: str) -> str:
    """The new text of a plain-text body (see the module docstring for the conventions)."""
    if not text:
        return ""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    return _finish(_extract_lines(normalized.split("\n")))


def extract_reply_html(html: str) -> str:
    """The new text of an HTML body: quote containers become ``>`` lines, then as plain text."""
    if not html or not html.strip():
        return ""
    return extract_reply(html_to_quoted_text(html))


def reply_text(message: ParsedMessage) -> str:
    """The new text of a parsed message: its plain-text part if it has one, else its HTML."""
    if message.text_from_html and message.html:
        return extract_reply_html(message.html)
    return extract_reply(message.text)
