"""Find a protected person's identity or words anywhere in an outgoing MIME message.

"Protecting reporters is our first priority. Never forward communication or disclose identities
of reporters outside of the code of conduct committee, without the express written permission of
the person concerned." This module is the detector behind that rule: a pure function of the
surfaces the MIME reading found (``mailflow.mime.surfaces``: headers, every part after transfer and
charset decoding, HTML text, hidden text, style, script, attribute values and comments, quoted
history, attachment names and the text of every document format, forwarded messages recursively,
and the entity-, percent- and base64-decoded readings of each) and of what the case knows about
each protected person. It reports where a name, address, alias, phone number or quoted passage
appears.

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
  also matches with one middle initial ("Jane Q. Doe"); the surname first, with or without a comma
  ("Doe, Jane", "DOE Jane"); the first initial with the surname ("J. Doe", "J Doe", "J.Doe": only
  with a capital initial, so that "a doe" is an article and a word); and the two run together
  ("JaneDoe", "@janedoe"). For names with ä/ö/ü also the ae/oe/ue spelling (one way only: a
  recorded "Mueller" does not find "Müller"). We never derive a first-name-only or surname-only
  form ("Jane", "Doe"): another Jane is not a disclosure, so those are matched only when the case
  records them (a single-word name or alias given explicitly is matched as a whole word). A name
  inside another address ("jane.doe@elsewhere.example") is reported as a name.
* Letter-spaced writing ("J a n e  D o e", "J-a-n-e") is read a second time with its letters joined.
* A phone number on file (an alias of digits) matches however it is written: separators, the
  national trunk prefix, the country code with "+", "00" or "(0)" (the phonenumbers library knows
  each country's prefixes); at least six significant digits, so that a short number is an alias.
* An alias is matched by its words, so a leading sigil is optional ("@janed" also matches "janed");
  an alias written "<handle> on <platform>" ("JaneD on Discord") also matches the bare handle.
* An address matches plainly ("address") or obfuscated ("obfuscated address": "at"/"dot" spelled
  out, bracketed "[at]"/"(at)"/"{dot}", spaces around "@" and ".", "-at-", full-width "\\uff20",
  percent-encoded "%40" in URLs, or a mailto: link whose value had to be percent-decoded).
  We do not derive anything from an address (its local part alone is not matched).
* Quotations: both texts become word sequences (same normalisation, punctuation and quote prefixes
  dropped; each CJK character is a word); every run of >= min_words words shared with a protected
  text is reported. Protected texts shorter than min_words are reported when quoted whole, unless
  they have fewer than three words ("Thanks!" is not attributable).
* A finding in a derived reading (entities or percent-encoding decoded) is not repeated when the
  surface it was read from already shows that person. At most 20 findings are reported per
  (label, surface, form), looking at the first 100 matches of each form per surface: one finding is
  enough to stop the mail, and the next run reports what is left.

What it searches is the MIME reading's surfaces (``mailflow.mime.surfaces``): every part, every
document format the readers know, and what they could not read is held by the gate's
``unread-part`` rule instead (images, encrypted parts, unknown formats). Limitations of the
matching itself: homoglyph folding covers only common Greek/Cyrillic letters (not digits such as
"J0hn"); a name with an unrecorded middle name in the middle of a run-together form is found only
when recorded; transliterations across scripts ("Анна"/"Anna") are not matched.

Excerpts and attachment-name surfaces contain message text (that is their purpose: the committee
member needs them to fix the draft): they may be shown to the member, never logged.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import phonenumbers

from mailflow.mime import separators
from mailflow.mime.surfaces import Surface

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


# Limits that keep a hostile or huge message linear and bounded (the MIME reading has its own).
_MAX_PER_KIND = 20  # findings reported per (label, surface, form); one is enough to block
_MAX_HITS = 100  # matches of one name form looked at per surface
_CONTEXT = 24  # characters of context either side of a name in an excerpt
_MAX_EXCERPT = 240
_MIN_QUOTED_WORDS = 3  # a protected text shorter than this ("Thanks!") is too generic to report


def find_exposures(surfaces: Sequence[Surface], identities: Sequence[Identity]) -> list[Exposure]:
    """Every place among ``surfaces`` (``mailflow.mime.surfaces.read_surfaces``) where a protected
    identity appears, in message order."""
    matchers = _compile_identities(tuple(_as_tuples(i) for i in identities))
    if not matchers:
        return []
    found: list[Exposure] = []
    for segment in _segments(surfaces):
        found.extend(_scan_identities(segment, matchers))
    return _dedupe(_without_rereadings(found, surfaces))


def find_quotations(
    surfaces: Sequence[Surface],
    protected_texts: Sequence[tuple[str, str]],
    *,
    min_words: int = 8,
    exclude: Sequence[str] = (),
) -> list[Exposure]:
    """Each run of >= ``min_words`` consecutive words of a protected text found among ``surfaces``.

    Words are compared after the same normalisation as names (casefold, diacritics, quote prefixes,
    whitespace and punctuation ignored). A protected text shorter than ``min_words`` words (but of
    at least three words) is reported when quoted whole.
    """
    if min_words < 1:
        raise ValueError("min_words must be at least 1")
    index = _QuoteIndex(protected_texts, min_words, exclude)
    if not index.sizes:
        return []
    found: list[Exposure] = []
    for segment in _segments(surfaces):
        found.extend(index.scan(segment))
    return _dedupe(_without_rereadings(found, surfaces))


def _without_rereadings(found: list[Exposure], surfaces: Sequence[Surface]) -> list[Exposure]:
    """A finding in a derived reading of a surface (its entities or percent-encoding decoded) is
    left out when the surface itself already shows that person: one finding there blocks the mail."""
    bases = {s.where: s.base for s in surfaces if s.base is not None}
    if not bases:
        return found
    direct = {(e.label, _plain_surface(e.surface)) for e in found if _plain_surface(e.surface) not in bases}
    return [e for e in found if (e.label, bases.get(_plain_surface(e.surface))) not in direct]


_HISTORY_SUFFIX = re.compile(r" \((?:quoted history|forwarded inline)\)$")


def _plain_surface(surface: str) -> str:
    return _HISTORY_SUFFIX.sub("", surface)


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
    initial: bool = False  # starts with an initial: it must be written as a capital ("A. Liddell", not "a liddell")


@dataclass(frozen=True, slots=True)
class _Matcher:
    label: str
    forms: tuple[_Form, ...]
    phones: frozenset[str] = frozenset()
    """Every way the digits of a phone number on file may be written (with and without prefixes)."""


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


def _name_forms(name: str) -> list[tuple[tuple[str, ...], bool, bool]]:
    """(words, comma-reversed?, starts with an initial?) for a recorded name and the forms derived
    from it: "First Last", "Last, First", "Last First" (surname first, as lists and some cultures
    write it), "F. Last" / "F Last" (an initial with the surname) and "FirstLast" run together."""
    spellings = {name}
    last, comma, first = name.partition(",")
    if comma and first.strip() and last.strip():  # recorded as "Doe, Jane": also "Jane Doe"
        spellings.add(f"{first} {last}")
    spellings |= {unicodedata.normalize("NFC", s).casefold().translate(_GERMANIC) for s in spellings}
    forms: dict[tuple[str, ...], tuple[bool, bool]] = {}
    for spelling in spellings:
        words = tuple(_words(spelling))
        if not words:
            continue
        forms.setdefault(words, (False, False))
        if len(words) >= 2:
            forms.setdefault((words[0], words[-1]), (False, False))
            forms.setdefault((words[-1], *words[:-1]), (True, False))
            forms.setdefault((words[-1], words[0]), (True, False))
            forms.setdefault((words[-1], words[0]), (False, False))
            if len(words[0]) > 1 and words[0][0].isalpha() and len(words[-1]) > 2:
                forms.setdefault((words[0][0], words[-1]), (False, True))
            if all(len(w) > 1 for w in (words[0], words[-1])):
                forms.setdefault((words[0] + words[-1],), (False, False))
    found: list[tuple[tuple[str, ...], bool, bool]] = []
    for words, (reversed_comma, initial) in forms.items():
        found.append((words, reversed_comma, initial))
        if reversed_comma and len(words) == 2:
            found.append((words, False, initial))  # "Liddell Alice": the surname first without a comma
    return found


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
            for words, reversed_comma, initial in _name_forms(name):
                middle = len(words) == 2 and not reversed_comma and not initial
                pattern = _words_pattern(words, reversed_comma=reversed_comma, middle_initial=middle)
                rank = 1000 - len(words) + (1 if initial else 0)
                forms.setdefault(pattern, _Form(re.compile(pattern), "name", "", rank, initial=initial))
        phones: set[str] = set()
        for alias in identity.aliases:
            written = _phone_writings(alias)
            if written:
                phones |= written
                continue
            for words in _alias_forms(alias):
                pattern = _words_pattern(words)
                forms.setdefault(pattern, _Form(re.compile(pattern), "alias", "", 1000 - len(words)))
        if forms or phones:
            matchers.append(_Matcher(identity.label, tuple(forms.values()), frozenset(phones)))
    return tuple(matchers)


def _scan_identities(segment: _Segment, matchers: Sequence[_Matcher]) -> Iterator[Exposure]:
    yield from _scan_text(segment, segment.text, matchers)
    joined = _unspaced(segment.text)
    if joined is not None:  # "A l i c e  L i d d e l l": read with its letters joined as well
        yield from _scan_text(segment, joined, matchers, spaced=True)


def _scan_text(
    segment: _Segment, text: str, matchers: Sequence[_Matcher], *, spaced: bool = False
) -> Iterator[Exposure]:
    norm, cmap = _normalise(_blank_quote_prefixes(text))
    phones = _phone_candidates(norm) if any(m.phones for m in matchers) else []
    for matcher in matchers:
        hits = [
            (m.start(), m.end(), form)
            for form in matcher.forms
            for m in itertools.islice(form.pattern.finditer(norm), _MAX_HITS)
        ]
        for n_start, n_end, form in _best_hits(hits):
            start, end = cmap.span(n_start, n_end)
            if form.initial and not text[start : start + 1].isupper():
                continue  # "a Liddell" is an article and a surname, not an initial
            kind = form.form
            if kind == "address" and not spaced:
                kind = _address_form(segment, text[start:end], form.address)
            if spaced:
                kind = f"letter-spaced {kind}"
            yield Exposure(matcher.label, segment.surface_at(start), kind, _excerpt(text, start, end))
        for n_start, n_end, digits in phones:
            if digits in matcher.phones:
                start, end = cmap.span(n_start, n_end)
                yield Exposure(matcher.label, segment.surface_at(start), "phone number", _excerpt(text, start, end))


# Letter-spaced writing: three or more single letters, each followed by one space or dot ("A l i c e").
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W\d_][ \t\u00a0.\u00b7_-]){2,}[^\W\d_](?![^\W_])")
_SPACER = re.compile(r"[ \t\u00a0.\u00b7_-]")


def _unspaced(text: str) -> str | None:
    """``text`` with letter-spaced runs joined ("A l i c e  L i d d e l l" -> "Alice  Liddell"), or None."""
    if _SPACED.search(text) is None:
        return None
    return _SPACED.sub(lambda m: _SPACER.sub("", m.group()), text)


# Phone numbers: a run of digits with the separators people write between them.
_PHONE_ALIAS = re.compile(r"\+?[\d\s().\-/]{7,40}")
_PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d \t().\-/\u00a0]{4,30}\d(?![\w])")
_NON_DIGITS = re.compile(r"\D")
_MIN_NATIONAL_DIGITS = 6


def _phone_candidates(norm: str) -> list[tuple[int, int, str]]:
    found = []
    for m in itertools.islice(_PHONE_CANDIDATE.finditer(norm), _MAX_HITS * 10):
        found.append((m.start(), m.end(), _NON_DIGITS.sub("", m.group())))
    return found


def _phone_writings(alias: str) -> frozenset[str]:
    """The digit strings a phone number on file may be written as: national significant number
    with and without the trunk prefix, with the country code (+, 00, and "+44 (0)20" forms).
    Empty when the alias is not a phone number."""
    alias = alias.strip()
    if not _PHONE_ALIAS.fullmatch(alias):
        return frozenset()
    digits = _NON_DIGITS.sub("", alias)
    if len(digits) < 7:
        return frozenset()
    try:
        number = phonenumbers.parse("+" + digits[2:] if alias.startswith("00") else alias, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and number.national_number:
        national = phonenumbers.national_significant_number(number)
        code = str(number.country_code)
        trunk = "0"
        region = phonenumbers.region_code_for_number(number)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
        if metadata is not None and metadata.national_prefix:
            trunk = metadata.national_prefix
        writings = {national, trunk + national, code + national, code + trunk + national}
        writings |= {"00" + w for w in writings if w.startswith(code)}  # dialled with 00 instead of +
        writings |= {"011" + code + national}  # dialled from North America
    else:  # no country code written: the number as written, with or without its trunk prefix
        national = digits.lstrip("0")
        writings = {digits, national, "0" + national}
    if len(national) < _MIN_NATIONAL_DIGITS:
        return frozenset()
    return frozenset(writings)


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
    def __init__(self, protected_texts: Sequence[tuple[str, str]], min_words: int, exclude: Sequence[str] = ()) -> None:
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
        for text in exclude:  # words that are not theirs (our own, which they quoted back)
            words = _QUOTE_TOKENS.findall(_norm(text))
            for k, shingles in self.sizes.items():
                for i in range(len(words) - k + 1):
                    shingles.pop(tuple(words[i : i + k]), None)
        self.sizes = {k: shingles for k, shingles in self.sizes.items() if shingles}
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
# Surfaces: every readable piece of the message, decoded by the MIME reading (mailflow.mime).

_QUOTED_LINE = re.compile(r"[ \t]*>")


@dataclass(slots=True)
class _Segment:
    surface: str
    text: str
    body: bool = False  # a message body: findings say whether they sit in quoted/forwarded history
    raw: str | None = None  # the text before a decoding (percent-encoding, base64)
    _forward_at: int | None = field(default=None, repr=False)

    @classmethod
    def of(cls, surface: Surface) -> _Segment:
        return cls(surface.where, surface.text, surface.body, surface.encoded)

    def surface_at(self, pos: int) -> str:
        if not self.body:
            return self.surface
        line_start = self.text.rfind("\n", 0, pos) + 1
        if _QUOTED_LINE.match(self.text, line_start):
            return f"{self.surface} (quoted history)"
        if self._forward_at is None:
            marker = separators.FORWARD_START.search(self.text)
            self._forward_at = marker.start() if marker else len(self.text) + 1
        if pos >= self._forward_at:
            return f"{self.surface} (forwarded inline)"
        return self.surface


def _segments(surfaces: Sequence[Surface]) -> Iterator[_Segment]:
    for surface in surfaces:
        if surface.text.strip():
            yield _Segment.of(surface)
