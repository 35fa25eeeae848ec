"""Every notice the committee sends: its template folder, the context it needs, and a sample.

A notice ``reported/resolution-hiatus`` is the folder ``templates/reported/resolution-hiatus/``
(``subject.txt.j2``, ``body.txt.j2``, optionally ``body.html.j2``). Its context is :data:`COMMON`
plus the notice's own ``required`` keys; :func:`render_notice` checks both before rendering, and
``choices`` limits the keys that select a wording (``kind``, ``reason``, ``apology``).

:data:`COMMON`, the keys every notice is given:

- ``committee_name``: the committee's name, as in ``[service] committee_name``
- ``conduct_address``: the conduct address
- ``ref``: the case reference (``2026-0007``)
- ``reply_address``: where the recipient's reply goes (the case/conversation address)
- ``subject_tag``: ``[conduct #2026-0007]``, which the recipient is asked to keep in the subject
- ``recipient_name``: the addressee's name; ``""`` when unknown (the greeting becomes "Hello,")

The one exception is ``reporter/acknowledgement``: :mod:`mailflow.route.acknowledge` renders it
with ``reporter_name`` rather than ``recipient_name`` (its own required keys say so), and it is
not rendered through :func:`render_notice` there.

Free-text values (``facts``, ``concern``, ``proposed_resolution`` ...) are the committee's words,
approved by the chair. The communications guidelines apply to them: "stick to observed facts",
and nothing addressed to the reported person may name or point to the reporter ("Never forward
communication or disclose identities of reporters outside of the code of conduct committee").
No template addressed to the reported person (``reported/``) uses a reporter's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mailflow.errors import NoticeError
from mailflow.outbound.render import Rendered, Renderer, TemplateError
from mailflow.parse.subject import tag_for

COMMON: tuple[str, ...] = (
    "committee_name",
    "conduct_address",
    "ref",
    "reply_address",
    "subject_tag",
    "recipient_name",
)

ACKNOWLEDGEMENT_HOURS = 24  # Jupyter: "This reply must be sent within 24 hours"
RESOLUTION_DAYS = 7  # Jupyter: "aim to have a resolution agreed upon within one week"
MEDIATION_DAYS = 14  # Jupyter: "Establish a timeline for mediation to complete, ideally within two weeks."

_EMPTY: Mapping[str, tuple[str, ...]] = MappingProxyType({})


@dataclass(frozen=True)
class Notice:
    """One notice: ``name`` is its template folder, ``audience`` the folder's first part."""

    name: str
    audience: str
    title: str
    required: tuple[str, ...]
    sample: Mapping[str, object]
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    source: str = ""  # the manual's line this notice keeps

    @property
    def keys(self) -> tuple[str, ...]:
        """Every context key this notice needs: :data:`COMMON` then ``required``."""
        return (*COMMON, *self.required)


SAMPLE_COMMON: Mapping[str, object] = MappingProxyType(
    {
        "committee_name": "Example Code of Conduct Committee",
        "conduct_address": "conduct@example.org",
        "ref": "2026-0007",
        "reply_address": "conduct+2026-0007.c1@example.org",
        "subject_tag": tag_for("conduct", "2026-0007"),
        "recipient_name": "Sam Example",
    }
)

_FACTS = (
    "On 3 March 2026, in the #general channel of the project chat, a message from your account "
    "described contributors from one country as unable to write documentation."
)
_SECTION = "Be respectful: no insults or put-downs, including about nationality or language"
_SPACES = "the project chat and the mailing lists"


def _notice(
    name: str,
    title: str,
    sample: Mapping[str, object],
    *,
    choices: Mapping[str, tuple[str, ...]] | None = None,
    source: str = "",
) -> Notice:
    return Notice(
        name=name,
        audience=name.partition("/")[0],
        title=title,
        required=tuple(sample),
        sample=MappingProxyType({**SAMPLE_COMMON, **sample}),
        choices=MappingProxyType(dict(choices or {})),
        source=source,
    )


def _feedback(name: str, title: str, *extra: tuple[str, object]) -> Notice:
    return _notice(
        name,
        title,
        {
            **dict(extra),
            "proposed_resolution": "A private reprimand from the committee, and a request for a private apology.",
            "feedback_by": date(2026, 3, 20),
        },
        source="Jupyter: 'Once a resolution is agreed upon, but before it is enacted, the committee will contact "
        "the original reporter and any other affected parties and explain the proposed resolution.'",
    )


_NOTICES: tuple[Notice, ...] = (
    _notice(
        "reporter/acknowledgement",
        "Acknowledgement of a new report (automatic)",
        {
            "reporter_name": "Jane Reporter",
            "original_subject": "Comment in the chat",
            "acknowledgement_hours": ACKNOWLEDGEMENT_HOURS,
            "resolution_days": RESOLUTION_DAYS,
        },
        source="Jupyter: 'they will immediately reply to the reporter to confirm receipt. This reply must be sent "
        "within 24 hours'",
    ),
    _notice(
        "reporter/request-for-information",
        "Request for more information",
        {"questions": ("When did this happen, as far as you remember?", "Did anyone else see the messages?")},
        source="Jupyter: 'If a report doesn't contain enough information, the committee will obtain all relevant "
        "data before acting.' GovStack: 'Ask for more information from the person reporting the incident.'",
    ),
    _notice(
        "reporter/status-update",
        "Status update with a projected timeline",
        {
            "resolution_days": RESOLUTION_DAYS,
            "status": "So far we have read the messages you sent us and asked the person concerned for their account.",
            "projected_timeline": (
                {"when": date(2026, 3, 16), "what": "we expect their answer"},
                {"when": date(2026, 3, 18), "what": "the committee meets to agree on a resolution"},
                {"when": date(2026, 3, 20), "what": "we write to you to explain the resolution we propose"},
            ),
        },
        source="Jupyter: 'In the event that a resolution can't be determined in that time, the committee will "
        "respond to the reporter(s) with an update and projected timeline for resolution.'",
    ),
    _notice(
        "reported/right-of-reply",
        "Right of reply to the reported person",
        {
            "concern": "A message posted from your account in the project chat on 3 March 2026.",
            "coc_section": _SECTION,
            "reply_by": date(2026, 3, 16),
        },
        source="Django communications: 'we need to give people who are subjects of reports some sort of \"right "
        "of reply\" before we finalise our decision. That doesn't mean we have to disclose details'",
    ),
    _feedback("reporter/feedback-request", "Feedback on a proposed resolution (reporter)"),
    _feedback("harmed/feedback-request", "Feedback on a proposed resolution (a harmed person)"),
    _feedback(
        "reported/feedback-request", "Feedback on a proposed resolution (reported person)", ("coc_section", _SECTION)
    ),
    _notice(
        "reported/resolution-no-action",
        "Resolution: no further action",
        {"coc_section": _SECTION, "reason": "no-violation"},
        choices={"reason": ("no-violation", "resolved-publicly")},
        source="Jupyter: 'Taking no further action: if we determine no violations have occurred; if the matter "
        "has been resolved publicly while the committee was considering responses.'",
    ),
    _notice(
        "reported/resolution-public-reminder",
        "Resolution: a public reminder",
        {
            "facts": _FACTS,
            "coc_section": _SECTION,
            "venue": "the #general channel",
            "reminder": "A reminder to everyone: comments about where people come from or how they write have no "
            "place here. Please keep feedback on documentation about the text.",
        },
        source="Jupyter: 'Remind publicly, and point out that some behavior/actions/language have been judged "
        "inappropriate and why in the current context [...] requesting the community to self-adjust.'",
    ),
    _notice(
        "reported/resolution-private-reprimand",
        "Resolution: a private reprimand",
        {
            "facts": _FACTS,
            "coc_section": _SECTION,
            "impact": "The message was seen by everyone in the channel, including new contributors it described.",
            "expectation": "Please keep comments on documentation about the text, not about the people who wrote it.",
        },
        source="Jupyter: 'A private reprimand from the committee to the individual(s) involved. In this case, the "
        "group chair will deliver that reprimand to the individual(s) over email, cc'ing the group.'",
    ),
    _notice(
        "reported/resolution-public-reprimand",
        "Resolution: a public reprimand",
        {
            "facts": _FACTS,
            "coc_section": _SECTION,
            "impact": "The message was seen by everyone in the channel, including new contributors it described.",
            "venue": "the #general channel",
            "statement": "The committee has found that a message posted here on 3 March 2026 broke our code of "
            "conduct, which asks everyone to be respectful.",
            "expectation": "Please keep comments on documentation about the text, not about the people who wrote it.",
        },
        source="Jupyter: 'A public reprimand. In this case, the committee chair will deliver that reprimand in the "
        "same venue that the violation occurred'",
    ),
    _notice(
        "reported/resolution-apology-request",
        "Resolution: a request for an apology",
        {
            "facts": _FACTS,
            "coc_section": _SECTION,
            "impact": "The message was seen by everyone in the channel, including new contributors it described.",
            "apology": "public",
            "venue": "the #general channel",
            "condition": "",
            "respond_by": date(2026, 3, 27),
        },
        choices={"apology": ("public", "private")},
        source="Jupyter: 'A request for a public or private apology, assuming the reporter agrees to this idea: "
        "they may at their discretion refuse further contact with the violator. The chair will deliver this "
        "request.' GovStack: 'Robert points Olivia towards some great resources for making apologies'",
    ),
    _notice(
        "reported/resolution-hiatus",
        "Resolution: an agreed hiatus or a mandatory cooling-off period",
        {
            "facts": _FACTS,
            "coc_section": _SECTION,
            "kind": "agreed",
            "spaces": _SPACES,
            "starts_on": date(2026, 3, 23),
            "ends_on": date(2026, 4, 20),
        },
        choices={"kind": ("agreed", "mandatory")},
        source='Jupyter: \'A "mutually agreed upon hiatus" where the committee asks the individual to temporarily '
        "refrain from community participation. If the individual chooses not to take a temporary break "
        'voluntarily, the committee may issue a "mandatory cooling off period".\'',
    ),
    _notice(
        "reported/resolution-temporary-ban",
        "Resolution: a temporary ban",
        {
            "facts": _FACTS,
            "coc_section": _SECTION,
            "spaces": _SPACES,
            "starts_on": date(2026, 3, 23),
            "ends_on": date(2026, 6, 23),
        },
        source="Jupyter: 'A permanent or temporary ban from some or all Jupyter spaces [...] The group will "
        "maintain records of all such bans'. Django: 'Communicating a ban to community moderators'",
    ),
    _notice(
        "reported/resolution-permanent-ban",
        "Resolution: a permanent ban",
        {"facts": _FACTS, "coc_section": _SECTION, "spaces": _SPACES, "starts_on": date(2026, 3, 23)},
        source="Jupyter: 'A permanent or temporary ban from some or all Jupyter spaces [...] The group will "
        "maintain records of all such bans so that they may be reviewed in the future'",
    ),
    _notice(
        "reporter/resolution",
        "Resolution: the outcome, told to the reporter",
        {
            "outcome": "The committee sent the person concerned a private reprimand and asked them to apologise "
            "publicly in the #general channel.",
            "follow_up": "You can expect to see the apology there within the next two weeks.",
        },
        source="GovStack: 'Noah is informed of the action taken and to expect a public apology from Olivia.' "
        "Django: 'The identity of the accused individual should be kept confidential during the investigation "
        "and resolution process.'",
    ),
    _notice(
        "mediation/invitation",
        "Invitation to voluntary mediation",
        {
            "about": "The exchange in the review of the documentation pull request in early March 2026.",
            "mediator_name": "Robin Mediator",
            "mediation_days": MEDIATION_DAYS,
            "answer_by": date(2026, 3, 18),
        },
        source="Jupyter: 'the process is meant to be strictly voluntary and no party can be pressured to "
        "participate. [...] Obtain the agreement of the reporter(s) [...] Obtain the agreement of the reported "
        "person(s).'",
    ),
    _notice(
        "mediation/agreement",
        "Mediation: the terms agreed",
        {
            "mediator_name": "Robin Mediator",
            "starts_on": date(2026, 3, 20),
            "ends_on": date(2026, 4, 3),
            "terms": ("Conversations happen by video call, with the mediator present.", "What is said stays private."),
        },
        source="Jupyter: 'only if common agreement is reached on all terms can the process move forward. "
        "Establish a timeline for mediation to complete, ideally within two weeks.'",
    ),
    _notice(
        "board/report",
        "Report to the board, or a deadlock turned over to it",
        {
            "board_name": "the Executive Council",
            "kind": "report",
            "opened_on": date(2026, 3, 4),
            "summary": "A message in the project chat described contributors from one country as unable to write "
            "documentation.",
            "decision": "A private reprimand and a request for a public apology, which was made.",
        },
        choices={"kind": ("report", "escalation")},
        source="Jupyter: 'Finally, the committee will make a report to the Jupyter Executive Council' and 'If "
        "the group cannot reach consensus and deadlocks for over a week, the group will turn the matter over to "
        "the Executive Council for resolution.'",
    ),
)

_BY_NAME: Mapping[str, Notice] = MappingProxyType({n.name: n for n in _NOTICES})


def notices() -> tuple[Notice, ...]:
    """Every notice, in the catalogue's order (roughly the order of a case)."""
    return _NOTICES


def notice(name: str) -> Notice:
    """The notice called ``name`` (``"reported/resolution-hiatus"``); :class:`NoticeError` naming the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise NoticeError(f"unknown notice {name!r}; known notices: {', '.join(_BY_NAME)}") from None


def check_context(item: Notice, context: Mapping[str, object]) -> None:
    """:class:`NoticeError` if a key ``item`` needs is missing or a choice key holds another value."""
    missing = [key for key in item.keys if key not in context]
    if missing:
        raise NoticeError(f"notice {item.name!r} needs context key(s): {', '.join(missing)}")
    for key, allowed in item.choices.items():
        if context[key] not in allowed:
            raise NoticeError(f"notice {item.name!r}: {key} must be one of {', '.join(allowed)}, not {context[key]!r}")


def render_notice(renderer: Renderer, name: str, context: Mapping[str, object]) -> Rendered:
    """Render notice ``name`` with ``context`` (:data:`COMMON` and its ``required`` keys, checked first).

    Raises :class:`NoticeError` (unknown notice, missing key, bad choice) or the renderer's
    :class:`~mailflow.outbound.render.TemplateError` (template error, a subject with a line break).
    """
    item = notice(name)
    check_context(item, context)
    return renderer.render(name, dict(context))


def common_context(
    *,
    committee_name: str,
    conduct_address: str,
    tag: str,
    ref: str,
    reply_address: str,
    recipient_name: str | None,
) -> dict[str, Any]:
    """The :data:`COMMON` keys (``tag`` is ``[service] subject_tag``, e.g. ``conduct``)."""
    return {
        "committee_name": committee_name,
        "conduct_address": conduct_address,
        "ref": ref,
        "reply_address": reply_address,
        "subject_tag": tag_for(tag, ref),
        "recipient_name": recipient_name or "",
    }


def folders_on_disk(templates_dir: Path) -> list[str]:
    """Every notice folder (``audience/notice``) under ``templates_dir``; ``_partials/`` and the like excluded."""
    return sorted(
        f"{folder.parent.name}/{folder.name}"
        for folder in templates_dir.glob("*/*")
        if folder.is_dir() and not folder.parent.name.startswith(("_", ".")) and not folder.name.startswith(".")
    )


def variants(item: Notice) -> list[dict[str, object]]:
    """The sample, and the sample once more for each other value of each choice key."""
    out = [dict(item.sample)]
    for key, allowed in item.choices.items():
        out += [{**item.sample, key: value} for value in allowed if value != item.sample[key]]
    return out


def check_notice(renderer: Renderer, item: Notice) -> list[str]:
    """Every problem with ``item``'s templates under ``renderer``; empty when it renders.

    A missing file, a syntax error, a variable that is neither in :data:`COMMON` nor in the notice's
    ``required`` keys (even in a branch the sample does not take), an error while rendering the
    sample or any of its :func:`variants`, a subject with a line break.
    """
    problems: list[str] = []
    files = ["subject.txt.j2", "body.txt.j2"]
    if (renderer.templates_dir / item.name / "body.html.j2").is_file():
        files.append("body.html.j2")
    for file in files:
        try:
            unknown = renderer.variables(f"{item.name}/{file}") - set(item.keys)
        except TemplateError as exc:
            problems.append(str(exc))
            continue
        if unknown:
            problems.append(f"{file} uses variable(s) not in the catalogue: {', '.join(sorted(unknown))}")
    for context in variants(item):
        try:
            render_notice(renderer, item.name, context)
        except TemplateError as exc:
            problems.append(str(exc))
    return list(dict.fromkeys(problems))
