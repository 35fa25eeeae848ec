"""Find a protected person's identity or words anywhere in an outgoing MIME message.

"Protecting reporters is our first priority. Never forward communication or disclose identities
of reporters outside of the code of conduct committee, without the express written permission of
the person concerned." This module is the detector behind that rule: a pure function of the raw
bytes and of what the case knows about each protected person. It opens every surface a recipient
could read (headers, every MIME part after transfer and charset decoding, HTML text, attribute
values and comments, quoted history, attachment names and text, forwarded messages recursively,
text inside Office documents) and reports where a name, address, alias or quoted passage appears.

Matching decisions (stated so the gate's wording can be honest about them):

* Both sides are normalised the same way, character by character: NFKD, casefold, combining marks
  dropped (so "José", "JOSÉ", "Jose" and a decomposed "Jose\\u0301" all match each other, in every
  script), NFKC, a few letters without a decomposition folded (ł->l, ø->o, æ->ae, ß->ss, ...),
  common Greek/Cyrillic look-alikes folded to Latin (a Cyrillic "\\u0430" inside "Jane"), full-width forms
  folded (NFKC). Every Unicode space (including no-break spaces) counts as a space; zero-width and
  other invisible format characters (U+200B, U+00AD soft hyphen, U+2060, U+FEFF, ...) are ignored.
* A name or alias is a sequence of words (letters and digits); between words the text may have any
  run of whitespace (line breaks, quote prefixes "> " of wrapped quoted lines included) and up to
  three punctuation marks ("Jane Q. Doe", "Jane-Doe", "jane_doe", "Jane\\n> Doe"). Words must sit on
  word boundaries ("Ann" does not match "Annual" or "planning"; alias "jd" does not match "jdk"),
  except at the edge of CJK/Thai-like scripts written without spaces.
* From every name the case records we also derive "First Last" (dropping middle names), which
  also matches with one middle initial ("Jane Q. Doe"), and the comma-reversed "Last, First" /
  "Last, First Middle"; for names with ä/ö/ü also the ae/oe/ue spelling (one way only: a recorded
  "Mueller" does not find "Müller"). We never derive a first-name-only, surname-only or initial
  form ("Jane", "Doe", "J. Doe"): another Jane is not a disclosure, so those forms are matched only
  when the case records them (a single-word name or alias given explicitly is matched as a whole
  word). A name inside another address ("jane.doe@elsewhere.example") is reported as a name.
* An alias is matched by its words, so a leading sigil is optional ("@janed" also matches "janed");
  an alias written "<handle> on <platform>" ("JaneD on Discord") also matches the bare handle.
* An address matches plainly ("address") or obfuscated ("obfuscated address": "at"/"dot" spelled
  out, bracketed "[at]"/"(at)"/"{dot}", spaces around "@" and ".", "-at-", full-width "\\uff20",
  percent-encoded "%40" in URLs, or a mailto: link whose value had to be percent-decoded).
  We do not derive anything from an address (its local part alone is not matched).
* HTML: tags are stripped without adding spaces inside words ("J<b>ane</b>"), block elements
  separate words, entities are decoded, <style>/<script> content is ignored; attribute values
  (href, title, alt, ...; not style/class/id or data: URIs of images) and comments are scanned.
* Quotations: both texts become word sequences (same normalisation, punctuation and quote prefixes
  dropped; each CJK character is a word); every run of >= min_words words shared with a protected
  text is reported. Protected texts shorter than min_words are reported when quoted whole, unless
  they have fewer than three words ("Thanks!" is not attributable).
* A message that cannot be walked (nesting deeper than 40, more than 5000 parts, input the stdlib
  parser rejects) is scanned additionally as one raw text. At most 20 findings are reported per
  (label, surface, form), looking at the first 100 matches of each form per surface: one finding is
  enough to stop the mail, and the next run reports what is left.

Limitations: text inside images, PDFs, legacy binary Office files (.doc/.xls), archives other than
Office Open XML / OpenDocument, encrypted parts (PGP/S-MIME), TNEF (winmail.dat) and uuencoded
blocks inside a text body is not seen; homoglyph folding covers only common Greek/Cyrillic letters
(not digits such as "J0hn"); a name with no separator ("JaneDoe") or with an unrecorded middle name
is found only when recorded; text hidden inside a name with CSS (display:none) defeats the match;
transliterations across scripts ("Анна"/"Anna") are not matched.

Excerpts and attachment-name surfaces contain message text (that is their purpose: the committee
member needs them to fix the draft): they may be shown to the member, never logged.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import html
import io
import itertools
import re
import unicodedata
import zipfile
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from html.parser import HTMLParser
from urllib.parse import unquote

__all__ = ["Exposure", "Identity", "find_exposures", "find_quotations"]


@dataclass(frozen=True, slots=True)
class Identity:
    label: str  # how the finding names the person to the committee member, e.g. "reporter #1"
    names: tuple[str, ...] = ()  # every name form the case knows: "Jane Q. Doe", "Doe, Jane", "J. Doe"
    addresses: tuple[str, ...] = ()  # email addresses
    aliases: tuple[str, ...] = ()  # handles/nicknames: "@janed", "jdoe42", "JaneD on Discord"


@dataclass(frozen=True, slots=True)
class Exposure:
    label: str  # the Identity.label (or the protected text's label)
    surface: str  # where: "Subject", "plain text body (quoted history)", "attachment name", ...
    form: str  # "name", "address", "obfuscated address", "alias", "quoted message"
    excerpt: str  # the offending text as it appears after decoding, with a little context


# Limits that keep a hostile or huge message linear and bounded.
_MAX_DEPTH = 40  # nested MIME levels
_MAX_PARTS = 5000
_MAX_PER_KIND = 20  # findings reported per (label, surface, form); one is enough to block
_MAX_HITS = 100  # matches of one name form looked at per surface
_MAX_UNZIPPED = 32 * 1024 * 1024  # bytes read out of one Office document
_CONTEXT = 24  # characters of context either side of a name in an excerpt
_MAX_EXCERPT = 240
_MIN_QUOTED_WORDS = 3  # a protected text shorter than this ("Thanks!") is too generic to report

_ICAL_FOLD = re.compile(r"\r?\n[ \t]")
_FORWARDED_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject")


def find_exposures(
    raw: bytes, identities: Sequence[Identity], *, header_names: Sequence[str] = ("Subject",)
) -> list[Exposure]:
    """Every place in ``raw`` where a protected identity appears, in message order.

    ``header_names`` are the top-level headers to scan (the gate checks recipients separately);
    forwarded messages always have their From/Sender/Reply-To/To/Cc/Bcc/Subject scanned too.
    """
    matchers = _compile_identities(tuple(_as_tuples(i) for i in identities))
    if not matchers:
        return []
    found: list[Exposure] = []
    for segment in _segments(raw, tuple(header_names)):
        if segment.text.strip():
            found.extend(_scan_identities(segment, matchers))
    return _dedupe(found)


def find_quotations(raw: bytes, protected_texts: Sequence[tuple[str, str]], *, min_words: int = 8) -> list[Exposure]:
    """Each run of >= ``min_words`` consecutive words of a protected text found in ``raw``.

    Words are compared after the same normalisation as names (casefold, diacritics, quote prefixes,
    whitespace and punctuation ignored). A protected text shorter than ``min_words`` words (but of
    at least three words) is reported when quoted whole.
    """
    if min_words < 1:
        raise ValueError("min_words must be at least 1")
    index = _QuoteIndex(protected_texts, min_words)
    if not index.sizes:
        return []
    found: list[Exposure] = []
    for segment in _segments(raw, ("Subject",)):
        if segment.text.strip():
            found.extend(index.scan(segment))
    return _dedupe(found)


# ---------------------------------------------------------------------------------------------
# Normalisation: text -> comparable text, with a map back to the original positions.

_SPACE_LIKE = frozenset("\u2800\u3164\u115f\u1160\uffa0")  # blank glyphs that are not Zs
_EXTRA_FOLD = {
    # Latin letters without a canonical decomposition (ł ø đ ð þ æ œ ħ ŧ ŀ)
    "ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ħ": "h", "ŧ": "t", "ŀ": "l",
    # Latin look-alikes: dotless i, dotless j, script g, alpha, iota
    "\u0131": "i", "\u0237": "j", "\u0261": "g", "\u0251": "a", "\u0269": "i",
    # Greek look-alikes (after casefold, so uppercase Greek homoglyphs are covered too)
    "\u03b1": "a", "\u03b2": "b", "\u03b5": "e", "\u03b6": "z", "\u03b7": "h", "\u03b9": "i",
    "\u03ba": "k", "\u03bc": "m", "\u03bd": "n", "\u03bf": "o", "\u03c1": "p", "\u03c4": "t",
    "\u03c5": "y", "\u03c7": "x",
    # Cyrillic look-alikes
    "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u043a": "k", "\u043c": "m", "\u043d": "h",
    "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0442": "t", "\u0443": "y", "\u0445": "x",
    "\u0456": "i", "\u0458": "j", "\u0455": "s", "\u0501": "d", "\u04bb": "h", "\u04cf": "l",
    "\u051b": "q", "\u051d": "w",
}  # fmt: skip
_ASCII_LOWER = {ord(c): c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


@functools.cache
def _fold(char: str) -> str:
    """One non-ASCII character, normalised (may become empty or several characters)."""
    if char.isspace() or char in _SPACE_LIKE:
        return " "
    if unicodedata.category(char) == "Cf":  # zero-width space/joiners, soft hyphen, BOM, ...
        return ""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", char).casefold())
    text = "".join(
        _EXTRA_FOLD.get(c, c)
        for c in text
        if not unicodedata.combining(c) and unicodedata.category(c) not in ("Mn", "Me", "Cf")
    )
    return unicodedata.normalize("NFKC", text)


@dataclass(slots=True)
class _Map:
    """Positions in normalised text -> positions in the original, chunk by chunk."""

    norm_starts: list[int]
    orig_starts: list[int]
    orig_lens: list[int]

    def orig(self, pos: int) -> int:
        i = bisect_right(self.norm_starts, pos) - 1
        return self.orig_starts[i] + min(pos - self.norm_starts[i], max(self.orig_lens[i] - 1, 0))

    def add(self, norm_start: int, orig_start: int, orig_len: int) -> None:
        self.norm_starts.append(norm_start)
        self.orig_starts.append(orig_start)
        self.orig_lens.append(orig_len)

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.orig(start), self.orig(max(end - 1, start)) + 1


def _normalise(text: str) -> tuple[str, _Map]:
    """Casefold, fold and clean ``text``; characters that change length get their own chunk."""
    table: dict[int, str] = dict(_ASCII_LOWER)
    odd: list[str] = []
    for char in set(text):
        if char.isascii():
            continue
        folded = _fold(char)
        table[ord(char)] = folded
        if len(folded) != 1:
            odd.append(char)
    if not odd:
        return text.translate(table), _Map([0], [0], [max(len(text), 1)])
    pieces: list[str] = []
    cmap = _Map([], [], [])
    pos = npos = 0
    for m in re.finditer("[" + "".join(re.escape(c) for c in odd) + "]", text):
        i = m.start()
        if i > pos:
            pieces.append(text[pos:i].translate(table))
            cmap.add(npos, pos, i - pos)
            npos += i - pos
        folded = table[ord(text[i])]
        pieces.append(folded)
        cmap.add(npos, i, 1)
        npos += len(folded)
        pos = i + 1
    if pos < len(text):
        pieces.append(text[pos:].translate(table))
        cmap.add(npos, pos, len(text) - pos)
    return "".join(pieces), cmap


def _norm(text: str) -> str:
    return _normalise(text)[0]


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# "> " / ">> " / " > > " at the start of a line is quoting, not content: blanked out (same length).
_QUOTE_PREFIX = re.compile(r"(?m)^[ \t]*>[> \t]*")


def _blank_quote_prefixes(text: str) -> str:
    if ">" not in text:
        return text
    return _QUOTE_PREFIX.sub(lambda m: " " * len(m.group()), text)


# Scripts written without spaces between words: no word-boundary assertion at their edges, and
# one word per character when comparing quotations.
_NO_SPACE_SCRIPTS = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
)
_NO_SPACE_CHAR = re.compile(f"[{_NO_SPACE_SCRIPTS}]")
_WORDS = re.compile(r"[^\W_]+")
_QUOTE_TOKENS = re.compile(f"[{_NO_SPACE_SCRIPTS}]|[^\\W_{_NO_SPACE_SCRIPTS}]+")


def _words(text: str) -> list[str]:
    return _WORDS.findall(_norm(text))


# ---------------------------------------------------------------------------------------------
# Identity matchers: one compiled pattern per form, each starting with a literal word (re's prefix
# search keeps that fast); overlapping matches of one identity are resolved afterwards.

_SEP = r"(?=[\W_])[\s_]*(?:[^\w\s][\s_]*){0,3}"  # whitespace runs and at most 3 punctuation marks
_COMMA_SEP = r"[\s_]*,[\s_]*"
_AT = (
    r"(?:[ \t]*(?:@|%40)[ \t]*"
    r"|\s*[\[({<]\s*(?:at|@)\s*[\])}>]\s*"
    r"|\s+at\s+"
    r"|\s*[-_]at[-_]\s*)"
)
_DOT = (
    r"(?:[ \t]*(?:\.|%2e)[ \t]*"
    r"|\s*[\[({<]\s*(?:dot|\.)\s*[\])}>]\s*"
    r"|\s+dot\s+"
    r"|\s*[-_]dot[-_]\s*)"
)
_LOCAL_CHARS = r"\w.+-"  # what usually precedes a local part inside a longer address
_ON_PLATFORM = re.compile(r"^\s*(\S+)\s+on\s+\S+(?:\s+\S+){0,2}\s*$", re.IGNORECASE)
_GERMANIC = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


@dataclass(frozen=True, slots=True)
class _Form:
    pattern: re.Pattern[str]  # starts with a literal word, so re's prefix search keeps it fast
    form: str  # "name", "alias" or "address"
    address: str  # the normalised address for an address form, else ""
    rank: int  # among overlapping matches of one identity the lowest rank wins: addresses, long names


@dataclass(frozen=True, slots=True)
class _Matcher:
    label: str
    forms: tuple[_Form, ...]


def _as_tuples(identity: Identity) -> Identity:
    """The same identity with real tuples (hashable for the cache; a bare string is one form)."""

    def forms(value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        return tuple(str(v) for v in value or ())  # type: ignore[attr-defined]

    return Identity(identity.label, forms(identity.names), forms(identity.addresses), forms(identity.aliases))


def _words_pattern(words: Sequence[str], *, reversed_comma: bool = False, middle_initial: bool = False) -> str:
    """Words on word boundaries, flexible separators; the first word is a literal for speed.

    ``middle_initial``: "Jane Doe" also matches "Jane Q. Doe" (one letter between the two words).
    """
    first = re.escape(words[0])
    parts = [first]
    if not _NO_SPACE_CHAR.match(words[0][0]):
        parts.append(f"(?<![^\\W_]{first})")
    for n, word in enumerate(words[1:]):
        sep = _COMMA_SEP if reversed_comma and n == 0 else _SEP
        if _NO_SPACE_CHAR.match(words[n][-1]) and _NO_SPACE_CHAR.match(word[0]):
            sep = f"(?:{sep})?"  # "山田 太郎" is also written "山田太郎"
        parts.append(sep)
        if middle_initial and n == 0:
            parts.append(f"(?:[^\\W\\d_]{_SEP})?")
        parts.append(re.escape(word))
    if not _NO_SPACE_CHAR.match(words[-1][-1]):
        parts.append(r"(?![^\W_])")
    return "".join(parts)


def _name_forms(name: str) -> list[tuple[tuple[str, ...], bool]]:
    """(words, comma-reversed?) for a recorded name and the forms derived from it."""
    spellings = {name}
    last, comma, first = name.partition(",")
    if comma and first.strip() and last.strip():  # recorded as "Doe, Jane": also "Jane Doe"
        spellings.add(f"{first} {last}")
    spellings |= {unicodedata.normalize("NFC", s).casefold().translate(_GERMANIC) for s in spellings}
    forms: dict[tuple[str, ...], bool] = {}
    for spelling in spellings:
        words = tuple(_words(spelling))
        if not words:
            continue
        forms.setdefault(words, False)
        if len(words) >= 2:
            forms.setdefault((words[0], words[-1]), False)
            forms.setdefault((words[-1], *words[:-1]), True)
            forms.setdefault((words[-1], words[0]), True)
    return list(forms.items())


def _alias_forms(alias: str) -> list[tuple[str, ...]]:
    forms = [tuple(_words(alias))]
    platform = _ON_PLATFORM.match(alias)
    if platform:
        forms.append(tuple(_words(platform.group(1))))
    return [f for f in forms if f]


def _address_pattern(address: str) -> tuple[str, str] | None:
    """(pattern, normalised address) matching the address plainly and obfuscated."""
    normalised = _norm(address.strip().strip("<>").strip())
    local, at, domain = normalised.rpartition("@")
    local_parts = [p for p in local.split(".") if p]
    domain_parts = [p for p in domain.split(".") if p]
    if not at or not local_parts or not domain_parts:
        return None
    first = re.escape(local_parts[0])
    pattern = (
        f"{first}(?<![{_LOCAL_CHARS}]{first})"
        + "".join(_DOT + re.escape(p) for p in local_parts[1:])
        + _AT
        + _DOT.join(re.escape(p) for p in domain_parts)
        + r"(?![\w-])(?!\.[^\W_])"
    )
    return pattern, normalised


@functools.lru_cache(maxsize=64)
def _compile_identities(identities: tuple[Identity, ...]) -> tuple[_Matcher, ...]:
    matchers = []
    for identity in identities:
        forms: dict[str, _Form] = {}
        for address in identity.addresses:
            compiled = _address_pattern(address)
            if compiled and compiled[0] not in forms:
                forms[compiled[0]] = _Form(re.compile(compiled[0]), "address", compiled[1], 0)
        for name in identity.names:
            for words, reversed_comma in _name_forms(name):
                initial = len(words) == 2 and not reversed_comma
                pattern = _words_pattern(words, reversed_comma=reversed_comma, middle_initial=initial)
                forms.setdefault(pattern, _Form(re.compile(pattern), "name", "", 1000 - len(words)))
        for alias in identity.aliases:
            for words in _alias_forms(alias):
                pattern = _words_pattern(words)
                forms.setdefault(pattern, _Form(re.compile(pattern), "alias", "", 1000 - len(words)))
        if forms:
            matchers.append(_Matcher(identity.label, tuple(forms.values())))
    return tuple(matchers)


def _scan_identities(segment: _Segment, matchers: Sequence[_Matcher]) -> Iterator[Exposure]:
    norm, cmap = _normalise(_blank_quote_prefixes(segment.text))
    for matcher in matchers:
        hits = [
            (m.start(), m.end(), form)
            for form in matcher.forms
            for m in itertools.islice(form.pattern.finditer(norm), _MAX_HITS)
        ]
        for n_start, n_end, form in _best_hits(hits):
            start, end = cmap.span(n_start, n_end)
            kind = form.form
            if kind == "address":
                kind = _address_form(segment, segment.text[start:end], form.address)
            yield Exposure(matcher.label, segment.surface_at(start), kind, _excerpt(segment.text, start, end))


def _best_hits(hits: list[tuple[int, int, _Form]]) -> list[tuple[int, int, _Form]]:
    """One identity's matches without overlaps ("jane.doe" inside "jane.doe@example.org"), in order.

    Within a cluster of overlapping matches the best rank wins (address, then the longest name).
    """
    hits.sort(key=lambda h: (h[0], -h[1]))
    kept: list[tuple[int, int, _Form]] = []
    i = 0
    while i < len(hits):
        j, end = i + 1, hits[i][1]
        while j < len(hits) and hits[j][0] < end:
            end = max(end, hits[j][1])
            j += 1
        cluster = hits[i:j]
        if len(cluster) <= 64:  # a longer chain ("jane jane jane ..." for a name "Jane Jane") is odd
            cluster.sort(key=lambda h: (h[2].rank, h[0] - h[1]))
        chosen: list[tuple[int, int, _Form]] = []
        for hit in cluster:
            if all(hit[1] <= k[0] or hit[0] >= k[1] for k in chosen[-64:]):
                chosen.append(hit)
        kept.extend(sorted(chosen, key=lambda h: h[0]))
        i = j
    return kept


def _address_form(segment: _Segment, written: str, address: str) -> str:
    if written.casefold() != address:
        return "obfuscated address"
    if segment.raw is not None and written.casefold() not in segment.raw.casefold():
        return "obfuscated address"  # it was only readable after percent-decoding
    return "address"


def _excerpt(text: str, start: int, end: int) -> str:
    left_start = max(start - _CONTEXT, 0)
    newline = text.rfind("\n", left_start, start)
    left = text[(newline + 1 if newline >= 0 else left_start) : start]
    right = text[end : end + _CONTEXT].split("\n", 1)[0].rstrip("\r")
    body = text[start:end]
    if len(body) > _MAX_EXCERPT:
        body = body[: _MAX_EXCERPT * 2 // 3] + " … " + body[-_MAX_EXCERPT // 4 :]
    return (left + body + right).strip()


def _dedupe(found: list[Exposure]) -> list[Exposure]:
    seen: set[Exposure] = set()
    per_kind: dict[tuple[str, str, str], int] = {}
    out = []
    for exposure in found:
        kind = (exposure.label, exposure.surface, exposure.form)
        if exposure in seen or per_kind.get(kind, 0) >= _MAX_PER_KIND:
            continue
        seen.add(exposure)
        per_kind[kind] = per_kind.get(kind, 0) + 1
        out.append(exposure)
    return out


# ---------------------------------------------------------------------------------------------
# Quotations: k-word shingles of each protected text, looked up word by word in each surface.


class _QuoteIndex:
    def __init__(self, protected_texts: Sequence[tuple[str, str]], min_words: int) -> None:
        # size of shingle -> shingle -> labels; shorter texts use their whole length as the size
        self.sizes: dict[int, dict[tuple[str, ...], list[str]]] = {}
        for label, text in protected_texts:
            words = _QUOTE_TOKENS.findall(_norm(text))
            if len(words) < min(min_words, _MIN_QUOTED_WORDS):
                continue
            k = min(min_words, len(words))
            shingles = self.sizes.setdefault(k, {})
            for i in range(len(words) - k + 1):
                labels = shingles.setdefault(tuple(words[i : i + k]), [])
                if label not in labels:
                    labels.append(label)
        self.first_words = {k: {s[0] for s in shingles} for k, shingles in self.sizes.items()}

    def scan(self, segment: _Segment) -> Iterator[Exposure]:
        norm, cmap = _normalise(segment.text)
        words = _QUOTE_TOKENS.findall(norm)
        covered: dict[str, list[tuple[int, int]]] = {}  # label -> word intervals, in order
        for k, shingles in self.sizes.items():
            firsts = self.first_words[k]
            for i in range(len(words) - k + 1):
                if words[i] not in firsts:
                    continue
                for label in shingles.get(tuple(words[i : i + k]), ()):
                    covered.setdefault(label, []).append((i, i + k))
        if not covered:
            return
        spans = [(m.start(), m.end()) for m in _QUOTE_TOKENS.finditer(norm)]
        for label, intervals in covered.items():
            for first, last in _merge(intervals):
                start, _ = cmap.span(*spans[first])
                _, end = cmap.span(*spans[last - 1])
                excerpt = segment.text[start:end]
                if len(excerpt) > _MAX_EXCERPT:
                    excerpt = excerpt[: _MAX_EXCERPT * 2 // 3] + " … " + excerpt[-_MAX_EXCERPT // 4 :]
                yield Exposure(label, segment.surface_at(start), "quoted message", excerpt)


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# ---------------------------------------------------------------------------------------------
# Surfaces: every readable piece of the message, decoded, with a name for where it is.

_FORWARD_MARKER = re.compile(
    r"(?im)^[ \t>]*(?:-{2,}[ \t]*(?:forwarded message|original message|weitergeleitete nachricht"
    r"|message transf[ée]r[ée]|mensaje reenviado|messaggio inoltrato)[ \t]*-{2,}"
    r"|begin forwarded message:)"
)
_QUOTED_LINE = re.compile(r"[ \t]*>")


@dataclass(slots=True)
class _Segment:
    surface: str
    text: str
    body: bool = False  # a message body: findings say whether they sit in quoted/forwarded history
    raw: str | None = None  # the text before percent-decoding (URL-valued attributes)
    _forward_at: int | None = field(default=None, repr=False)

    def surface_at(self, pos: int) -> str:
        if not self.body:
            return self.surface
        line_start = self.text.rfind("\n", 0, pos) + 1
        if _QUOTED_LINE.match(self.text, line_start):
            return f"{self.surface} (quoted history)"
        if self._forward_at is None:
            marker = _FORWARD_MARKER.search(self.text)
            self._forward_at = marker.start() if marker else len(self.text) + 1
        if pos >= self._forward_at:
            return f"{self.surface} (forwarded inline)"
        return self.surface


class _TooComplex(Exception):
    pass


def _segments(raw: bytes, header_names: tuple[str, ...]) -> list[_Segment]:
    """All surfaces of the message, decoded.

    When the walk cannot finish (nesting or part count beyond the limits, or input the stdlib
    chokes on) the surfaces decoded so far are kept and the whole raw message is added as one text,
    so that nothing is skipped silently.
    """
    segments: list[_Segment] = []
    try:
        message = BytesParser(policy=email_policy.compat32).parsebytes(raw)
        for segment in _Walker().message(message, "", header_names, 0):
            segments.append(segment)
    except Exception:  # fail towards scanning more, never less
        segments.append(_Segment("raw message (could not be taken apart)", _decode_bytes(raw, None), body=True))
    return segments


def _header_surface(name: str) -> str:
    return "Subject" if name.lower() == "subject" else f"{name} header"


class _Walker:
    def __init__(self) -> None:
        self.parts = 0

    def message(self, msg: Message, prefix: str, header_names: Sequence[str], depth: int) -> Iterator[_Segment]:
        wanted = {n.lower(): n for n in header_names}
        values: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            if name.lower() in wanted:
                values.setdefault(name.lower(), []).append(_decode_header(value))
        for key, name in wanted.items():
            if values.get(key):
                yield _Segment(prefix + _header_surface(name), "\n".join(values[key]))
        yield from self.part(msg, prefix, header_names, depth)

    def part(self, part: Message, prefix: str, header_names: Sequence[str], depth: int) -> Iterator[_Segment]:
        self.parts += 1
        if depth > _MAX_DEPTH or self.parts > _MAX_PARTS:
            raise _TooComplex
        ctype = part.get_content_type()
        maintype = part.get_content_maintype()
        names = _attachment_names(part)
        for name in names:
            yield _Segment(prefix + "attachment name", name)
        description = part.get("Content-Description")
        if description:
            yield _Segment(prefix + "attachment description", _decode_header(str(description)))
        forwarded = (*_FORWARDED_HEADERS, *header_names)
        payload = part.get_payload()
        if isinstance(payload, list):
            if maintype == "message":
                for inner in payload:
                    if isinstance(inner, Message):
                        inner_prefix = f"{prefix}forwarded message ({ctype}) > "
                        yield from self.message(inner, inner_prefix, forwarded, depth + 1)
                return
            if part.preamble and part.preamble.strip():
                yield _Segment(prefix + "MIME preamble", _unsurrogate(part.preamble), body=True)
            for sub in payload:
                if isinstance(sub, Message):
                    yield from self.part(sub, prefix, header_names, depth + 1)
            if part.epilogue and part.epilogue.strip():
                yield _Segment(prefix + "MIME epilogue", _unsurrogate(part.epilogue), body=True)
            return
        data = _payload_bytes(part)
        charset = part.get_content_charset()
        attached = part.get_content_disposition() == "attachment" or bool(names)
        label = names[0] if names else ctype
        where = f"{prefix}attachment text ({label})" if attached else None
        if maintype == "message" or any(n.lower().endswith(".eml") for n in names):
            inner_prefix = f"{prefix}forwarded message ({ctype}) > "
            inner = BytesParser(policy=email_policy.compat32).parsebytes(data)
            yield from self.message(inner, inner_prefix, forwarded, depth + 1)
            return
        if ctype in ("text/html", "application/xhtml+xml"):
            text = _decode_bytes(data, charset)
            yield from _html_segments(text, where or prefix + "HTML body", body=not attached)
            return
        if maintype == "multipart":  # no boundary was found: its body is one text, as sent
            raw_body = getattr(part, "_payload", None)
            text = _unsurrogate(raw_body) if isinstance(raw_body, str) else _decode_bytes(data, charset)
            yield _Segment(prefix + "plain text body", text, body=True)
            return
        if maintype == "text":
            text = _unflow(_decode_bytes(data, charset), part)
            if part.get_content_subtype() in ("calendar", "vcard", "x-vcard", "directory"):
                text = _ICAL_FOLD.sub("", text)  # folded content lines: "CN=Jane D\r\n oe"
            yield _Segment(where or prefix + "plain text body", text, body=not attached)
            return
        where = where or f"{prefix}attachment text ({ctype})"
        office = _office_text(data)
        if office is not None:
            yield _Segment(where, office)
            return
        sniffed = _sniff_text(data, charset)
        if sniffed is None:
            return
        looks_html = sniffed.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))
        if looks_html or (names and names[0].lower().endswith((".htm", ".html"))):
            yield from _html_segments(sniffed, where, body=False)
        else:
            yield _Segment(where, sniffed)


def _attachment_names(part: Message) -> list[str]:
    names: list[str] = []
    candidates: list[object] = []
    try:
        candidates.append(part.get_filename())
    except Exception:  # a broken parameter must not stop the scan; the raw header is looked at below
        candidates.append(None)
    try:
        candidates.append(part.get_param("name"))
    except Exception:
        candidates.append(None)
    for value in candidates:
        if value is None:
            continue
        if isinstance(value, tuple):
            try:
                value = collapse_rfc2231_value(value)
            except Exception:
                value = value[2]
        text = _decode_header(str(value))
        if text.strip() and text not in names:
            names.append(text)
    if not names:  # a filename the parameter parser could not read: scan the raw header text
        for header in ("Content-Disposition", "Content-Type"):
            raw = part.get(header)
            if raw and "name" in str(raw).lower():
                names.append(_decode_header(str(raw)))
    return names


# ---------------------------------------------------------------------------------------------
# Decoding: headers (RFC 2047), transfer encodings, charsets, HTML, Office documents.

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?(.*?)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LATIN_SINGLE_BYTE = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15", "latin-1"})


def _unsurrogate(text: str) -> str:
    """compat32 keeps undecodable 8-bit bytes as surrogates: decode them properly."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _decode_bytes(text.encode("utf-8", "surrogateescape"), None)


def _decode_header(value: str) -> str:
    """Unfold and decode RFC 2047 words, joining adjacent same-charset words before decoding."""
    value = _FOLD.sub("", _unsurrogate(value))
    pieces: list[tuple[str | None, list[bytes] | str]] = []  # (charset, [bytes, ...]) or (None, text)
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        between = value[pos : m.start()]
        if between and not (between.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, between))
        charset = m.group(1).split("*", 1)[0].lower()
        encoded = m.group(3)
        if m.group(2) in "bB":
            data = _b64decode(encoded.encode("ascii", "ignore"))
        else:
            data = binascii.a2b_qp(encoded.encode("utf-8", "replace"), header=True)
        previous = pieces[-1][1] if pieces and pieces[-1][0] == charset else None
        if isinstance(previous, list):
            previous.append(data)
        else:
            pieces.append((charset, [data]))
        pos = m.end()
    if not pieces:
        return value
    pieces.append((None, value[pos:]))
    return "".join(p if isinstance(p, str) else _decode_bytes(b"".join(p), cs) for cs, p in pieces)


def _b64decode(data: bytes) -> bytes:
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except (binascii.Error, ValueError):
        return b""


def _payload_bytes(part: Message) -> bytes:
    """The part's content after transfer decoding, bytes exactly as sent (no charset applied)."""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    try:
        if cte == "base64":  # decoded here: more forgiving of bad padding and stray characters
            payload = part.get_payload()
            return _b64decode(payload.encode("ascii", "ignore") if isinstance(payload, str) else b"")
        # quoted-printable, uuencode, and 7bit/8bit/binary as the raw bytes (compat32 keeps them)
        decoded = part.get_payload(decode=True)
    except Exception:  # a transfer encoding the stdlib chokes on: read the raw text instead
        decoded = str(part.get_payload()).encode("utf-8", "surrogateescape")
    return decoded if isinstance(decoded, bytes) else b""


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in ("", "unknown-8bit", "x-unknown", "unknown", "default", "8bit"):
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Never fails: declared charset, then UTF-8, then Windows-1252, then Latin-1."""
    codec = _codec(charset)
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    if codec and codec.startswith(("utf-16", "utf-32")):
        return data.decode(codec, "replace")
    if data.isascii():
        return data.decode("ascii")
    attempts = []
    if codec is None or codec in _LATIN_SINGLE_BYTE:
        attempts.append("utf-8")  # mislabelled UTF-8 is far more common than Latin-1 that is valid UTF-8
    if codec:
        attempts.append(codec)
    attempts += ["utf-8", "cp1252"]
    for name in attempts:
        try:
            return data.decode(name)
        except (UnicodeError, LookupError):
            continue
    return data.decode("latin-1")


def _sniff_text(data: bytes, charset: str | None) -> str | None:
    """The text of an attachment that is text whatever its declared type; None for binary."""
    if not data:
        return None
    head = data[:8192]
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in head and not utf16:
        return None
    text = _decode_bytes(data, charset)
    sample = text[:8192]
    controls = sum(1 for c in sample if (ord(c) < 32 and c not in "\t\n\r\f\v\x1b") or c == "\ufffd")
    return text if controls <= len(sample) * 0.02 else None


def _unflow(text: str, part: Message) -> str:
    """format=flowed; delsp=yes: a space before a soft line break is not part of the text."""
    if str(part.get_param("format", "")).lower() == "flowed" and str(part.get_param("delsp", "")).lower() == "yes":
        return re.sub(r" \r?\n(?![ \t]*>)", "", text)
    return text


_BLOCK_TAGS = _word_set(
    "address article aside blockquote br caption dd div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol option p pre section table tbody td tfoot th thead "
    "title tr ul"
)
_SKIPPED_ATTRS = _word_set(
    "style class id width height align valign bgcolor color border cellpadding cellspacing face size "
    "dir lang type rel target colspan rowspan nowrap charset http-equiv shape coords role"
)


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.attrs: dict[str, list[str]] = {}
        self.comments: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.text.append("\n")
        for name, value in attrs:
            if value and value.strip() and name not in _SKIPPED_ATTRS and not name.startswith("on"):
                self.attrs.setdefault(name, []).append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCK_TAGS:
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


_TAG = re.compile(r"<[^>]*>")


def _html_segments(markup: str, surface: str, *, body: bool) -> Iterator[_Segment]:
    """Visible text (tags stripped without adding spaces inside words), attribute values, comments."""
    parser = _HTMLText()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.text)
    except Exception:  # html.parser gives up on some broken markup: strip tags by hand instead
        text = html.unescape(_TAG.sub("", re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", "", markup)))
    yield _Segment(surface, text, body=body)
    for name, values in parser.attrs.items():
        # data: URIs are images and the like, except for text ones
        readable = [v for v in values if v.lstrip()[:5].lower() != "data:" or v.lstrip()[5:10].lower() == "text/"]
        if not readable:
            continue
        value = "\n".join(readable)
        decoded = unquote(value, errors="replace") if "%" in value else value
        raw = value if decoded != value else None
        yield _Segment(f"{surface} ({name} attribute)", decoded, raw=raw)
    if parser.comments:
        yield _Segment(f"{surface} (comment)", "\n".join(parser.comments))


_OFFICE_ENTRY = re.compile(
    r"(?:word/(?:document|header\d*|footer\d*|footnotes|endnotes|comments)"
    r"|xl/(?:sharedStrings|worksheets/sheet\d+|comments\d*)"
    r"|ppt/(?:slides/slide\d+|notesSlides/notesSlide\d+|comments/comment\d+)"
    r"|docProps/(?:core|app)|content|meta|styles)\.xml"
)
_XML_TAG = re.compile(r"<(/?)(?:[\w.-]+:)?([\w.-]+)[^>]*>")
_XML_BREAKS = _word_set(
    "p br cr tab tc tr si row c s line-break h creator lastModifiedBy title subject description "
    "keywords initial-creator Company Manager"
)
_XML_AUTHOR = re.compile(r"\b(?:[\w.-]+:)?(?:author|initials)=\"([^\"]*)\"")


def _office_text(data: bytes) -> str | None:
    """The text, metadata and comment/revision authors of an OOXML or OpenDocument file."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if _OFFICE_ENTRY.fullmatch(i.filename)]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    if not entries:
        return None
    budget = _MAX_UNZIPPED
    texts = []
    for info in entries:
        if budget <= 0:
            break
        try:
            with archive.open(info) as handle:
                xml = handle.read(budget).decode("utf-8", "replace")
        except Exception:  # a damaged or encrypted entry: the others are still worth reading
            continue
        budget -= len(xml)
        authors = dict.fromkeys(_XML_AUTHOR.findall(xml))
        text = _XML_TAG.sub(lambda m: " " if m.group(2) in _XML_BREAKS else "", xml)
        texts.append(html.unescape(text + "\n" + "\n".join(authors)))
    return "\n".join(texts)
