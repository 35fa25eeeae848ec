"""The tone check: phrases in a notice that go beyond observed facts, listed as advice for the chair.

The Django communications guidelines: "Different people will experience the same situation in
different ways. Subjective or emotional language is easily misinterpreted or disputed, for example
naming someone as thinking or feeling something. Instead, stick to observed facts." Jupyter adds:
"Emphasize empathy for individuals rather than judging behavior, avoiding binary labels of 'good'
and 'bad/evil'."

Advice, never a block: the chair reads the list in the approval request and decides.

What is flagged (case-insensitive, whole words):

- a third person named as feeling, thinking, believing, knowing, wanting, meaning or intending
  something ("he feels", "she thinks", "they believe", "he wanted to"), or the recipient in the
  past tense ("you wanted to", "you meant", "you knew"), or anyone as being in an emotional state
  ("she was upset", "he is angry", "you were angry");
- attributed intent ("on purpose", "deliberately", "intentionally", "he meant to", "she tried to");
- words that present a judgement as self-evident ("obviously", "clearly", "of course",
  "it is obvious", "evidently", "undoubtedly");
- labels for people ("lazy", "toxic", "aggressive person", "she was rude", "a troll", "bad actor",
  "evil" ...);
- generalisations about a person ("he always", "she never", "you constantly").

What is not flagged, by design:

- the writer's and the committee's own voice: "I feel", "we think", "the committee believes" are
  the sender's view, stated as such;
- the recipient's present wishes and views, which is how a notice asks rather than asserts:
  "anything you think we should know", "if you want to add something", "so that you know";
- conditionals addressed to the recipient: "if you felt unsafe", "whether you were upset";
- quoted text: lines starting with ">" (a quoted mail) and words between double quotes ("...",
  curly or straight) on one line, because quoting what someone wrote is an observed fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PERSON = r"(?:he|she|they|you)"  # subjects only: "let them know" is not an attribution
_THIRD = r"(?:he|she|they)"
_MIND = (
    r"(?:feels?|felt|feeling|thinks?|thought|believes?|believed|knows?|knew|wants?|wanted|wishes|wished|"
    r"hopes?|hoped|means?|meant|intends?|intended|assumes?|assumed|expects?|expected|realis(?:es|ed)|"
    r"realiz(?:es|ed)|is\s+trying|was\s+trying|tried)"
)
_MIND_PAST = (
    r"(?:felt|thought|believed|knew|wanted|wished|hoped|meant|intended|assumed|expected|realised|realized|"
    r"were\s+trying|tried)"
)
_STATE = (
    r"(?:angry|upset|hurt|annoyed|frustrated|jealous|bitter|offended|scared|afraid|happy|sad|"
    r"embarrassed|ashamed|hostile|defensive|resentful|vindictive|malicious)"
)
_BE = r"(?:is|was|are|were|seems?|seemed|became|got|gets|felt)"
_LABEL_ADJ = (
    r"(?:aggressive|toxic|hostile|abusive|rude|nasty|mean|creepy|crazy|hysterical|stupid|ignorant|arrogant|"
    r"bad|evil|horrible|terrible|problematic|difficult|lazy|selfish)"
)
_PEOPLE = r"(?:person|people|man|woman|guy|individual|member|contributor|user|character)"

_ADVERB = r"(?:(?:really|clearly|obviously|probably|just|also|still|never|always|simply)\s+)"

_WHY_MIND = "names someone as thinking, feeling or wanting something; say what they wrote or did instead"
_WHY_STATE = "names someone's emotional state; describe what was said or done, or quote them"
_WHY_INTENT = "attributes intent, which we cannot observe; describe the act and its effect"
_WHY_OBVIOUS = "presents a judgement as self-evident; state the observed facts and let them speak"
_WHY_LABEL = "labels a person rather than describing behaviour (Jupyter: avoid binary labels of good and bad)"
_WHY_ALWAYS = "generalises about a person; name the specific occasions instead"

RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), why)
    for pattern, why in (
        (rf"\b{_THIRD}\s+{_ADVERB}?{_MIND}\b", _WHY_MIND),
        (rf"\byou\s+{_ADVERB}?{_MIND_PAST}\b", _WHY_MIND),
        (rf"\b{_PERSON}\s+{_BE}\s+(?:(?:very|so|really|clearly|quite|visibly)\s+)?{_STATE}\b", _WHY_STATE),
        (r"\b(?:on\s+purpose|deliberately|intentionally|knowingly|maliciously)\b", _WHY_INTENT),
        (r"\b(?:obviously|clearly|evidently|undoubtedly|of\s+course|needless\s+to\s+say)\b", _WHY_OBVIOUS),
        (r"\bit\s+(?:is|was)\s+(?:obvious|clear|evident)\b", _WHY_OBVIOUS),
        (rf"\b{_LABEL_ADJ}\s+{_PEOPLE}\b", _WHY_LABEL),
        (
            r"\b(?:is|was|are|were|being)\s+(?:a\s+|an\s+)?(?:lazy|toxic|troll|bully|jerk|creep|liar|harasser|"
            r"predator|abuser|bad\s+actor)\b",
            _WHY_LABEL,
        ),
        (rf"\b{_PERSON}\s+{_BE}\s+(?:(?:very|so|really|quite|just|an?)\s+)?{_LABEL_ADJ}\b", _WHY_LABEL),
        (r"\b(?:toxic|troll|bad\s+actor|evil)\b", _WHY_LABEL),
        (rf"\b{_PERSON}\s+(?:always|never|constantly|keeps?\s+on)\b", _WHY_ALWAYS),
    )
)

_CONDITIONAL = re.compile(r"\b(?:if|whether|unless|when|how|what)\s*$", re.IGNORECASE)
_QUOTED = re.compile(r"\"[^\"\n]*\"|\u201c[^\u201d\n]*\u201d|^[ \t]*>.*$", re.MULTILINE)


@dataclass(frozen=True)
class Advice:
    """``phrase`` as found in the text, the line around it (``excerpt``), and ``why`` it may not be fact."""

    phrase: str
    excerpt: str
    why: str


def _excerpt(text: str, start: int, end: int, width: int = 40) -> str:
    """The phrase with up to ``width`` characters either side, within its line, on one line."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end
    left, right = max(line_start, start - width), min(line_end, end + width)
    core = " ".join(text[left:right].split())
    return ("..." if left > line_start else "") + core + ("..." if right < line_end else "")


def tone_advice(text: str) -> list[Advice]:
    """Advice on each phrase of ``text`` that goes beyond observed facts, in the order they appear."""
    quoted = [(m.start(), m.end()) for m in _QUOTED.finditer(text)]
    found: dict[tuple[int, int], Advice] = {}
    for pattern, why in RULES:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(q_start <= start and end <= q_end for q_start, q_end in quoted):
                continue
            if match[0].lower().startswith("you") and _CONDITIONAL.search(text[max(0, start - 12) : start]):
                continue
            if any(start < e and s < end for s, e in found):
                continue  # overlaps an earlier finding ("toxic person" covers "toxic")
            found[(start, end)] = Advice(phrase=match[0], excerpt=_excerpt(text, start, end), why=why)
    return [found[span] for span in sorted(found)]


def advice_lines(text: str) -> list[str]:
    """Lines for the approval request ("" when there is nothing to say), ending with a blank line."""
    found = tone_advice(text)
    if not found:
        return []
    lines = ["Tone (Django guidelines: stick to observed facts) - consider rewording:"]
    lines += [f"  - {a.excerpt!r}: {a.why}" for a in found[:10]]
    return [*lines, ""]
