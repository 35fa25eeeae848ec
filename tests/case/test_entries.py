"""The diary's typed payloads (mailflow.case.entries): what an entry says is stored as its detail
(JSON, covered by the hash chain) and read back as the same value. A payload that cannot be read
back would make its entries unreadable to everyone who later needs the fact it records."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from mailflow.case import entries
from mailflow.case.entries import Payload, read
from mailflow.model import DiaryKind

# One value of each payload, every field set to something other than its default: a field that
# detail() drops or read() ignores then shows up as a difference.
SAMPLES: list[Payload] = [
    entries.Received(
        entry_kind=DiaryKind.REPORT,
        threaded_by="new case",
        conversation=2,
        classified="auto_reply",
        reasons=("Auto-Submitted: auto-generated",),
        possibly_related_case=3,
        cited_message_id="ack-1@example.org",
        also_addressed=(5, 6),
    ),
    entries.Sent(kind_of_mail="relay", state="queued"),
    entries.DeliveryFailed(reason="550 no such user", attempts=3),
    entries.Held(
        kind_of_mail="relay",
        rules=("reporter-protection",),
        summaries=("names the reporter",),
        author="Ada Chair",
        draft=7,
    ),
    entries.Released(held=4, rules=("recipients",), reason="the reporter asked for it"),
    entries.RecipientsChanged(conversation=2),
    entries.CommandRun(command="/lead Ada Chair", ok=True, result="Ada Chair leads the case"),
    entries.DeadlineFired(deadline="status-update-1", fired="a status update was drafted"),
    entries.AckWithheld(reason="an automatic sender"),
    entries.MemberExcluded(excluded="Bo Member", reason="named in the report"),
    entries.AutomaticReport(reply_to_named=True, confirm_with="/party reporter Kim <kim@example.org>"),
    entries.Unverified(unverified="mail claiming to be from Ada Chair", why="no Authentication-Results"),
    entries.Refused(refused="Bo Member is excluded from this case"),
    entries.DirectMail(
        member="Cy Member",
        violation=True,
        rules=("reporter-protection",),
        summaries=("names the reporter",),
        conversations_named=(1,),
    ),
    entries.ApprovalRefused(why="the token matches no draft", draft=9),
    entries.ReleaseRefused(why="only a chair may release", held=4),
    entries.DraftRequested(draft=9, notice="reporter/status-update", state="pending"),
    entries.DraftDecided(draft=9, notice="reporter/status-update", state="rejected", edited=True, reason="tone"),
    entries.Proposed(
        proposal=1,
        resolution="private-reprimand",
        text="A private reprimand.",
        eligible=("Ada Chair", "Bo Member"),
        excluded=("Cy Member: conflict",),
    ),
    entries.Voted(proposal=1, choice="no", why="too mild", changed=True),
    entries.Decided(
        proposal=1,
        resolution="private-reprimand",
        outcome="two-thirds majority",
        yes=("Ada Chair", "Bo Member"),
        no=("Cy Member",),
        abstain=("Di Member",),
        not_voted=("Ed Member",),
        eligible=5,
    ),
    entries.Agreed(party=2, what="mediation", entry=12),
    entries.StateChanged(state="investigating", previous="open", why="/state investigating"),
    entries.Linked(link="retaliation-for", other="2026-0003", said="the same person wrote again"),
    entries.Redacted(sealed=((3, "ab" * 32, "cd" * 32),), reason="retention: 730 days", removed=("addresses",)),
]


def _payload_classes() -> set[type[Payload]]:
    """Every payload class the module defines (exported or not)."""
    return {
        value
        for value in vars(entries).values()
        if isinstance(value, type) and issubclass(value, Payload) and value is not Payload
    }


def _stored(payload: Payload) -> dict[str, Any]:
    """The detail as the database hands it back: through JSON (tuples come back as lists)."""
    loaded: dict[str, Any] = json.loads(json.dumps(payload.detail()))
    return loaded


def test_every_payload_class_has_a_sample() -> None:
    """A new payload must come with its round trip: add a value of it to SAMPLES."""
    assert {type(p) for p in SAMPLES} == _payload_classes()


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: type(p).__name__)
def test_the_samples_set_every_field(payload: Payload) -> None:
    # Given a sample, then none of its fields is left at its default (else the round trip proves less).
    for f in dataclasses.fields(payload):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert getattr(payload, f.name) != default, f"{type(payload).__name__}.{f.name} is left at its default"


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: type(p).__name__)
def test_each_payload_reads_back_as_it_was_written(payload: Payload) -> None:
    # When its detail is stored and read back under the entry's kind, then it is the same payload.
    assert read(payload.kind, _stored(payload)) == payload


@pytest.mark.parametrize("kind", [DiaryKind.REPORT, DiaryKind.MESSAGE, DiaryKind.AUTO_REPLY, DiaryKind.BOUNCE])
def test_a_received_message_keeps_the_kind_of_its_entry(kind: DiaryKind) -> None:
    received = entries.Received(entry_kind=kind, threaded_by="references", conversation=1)
    assert received.kind is kind
    assert "entry_kind" not in received.detail()  # the entry's kind column says it
    assert read(kind, _stored(received)) == received


def test_a_list_mail_reads_back_too() -> None:
    received = entries.Received(entry_kind=DiaryKind.LIST, classified="list", reasons=("List-Id",))
    assert read(DiaryKind.LIST, _stored(received)) == received


def test_notes_say_which_note_they_are() -> None:
    # Every payload kept as a NOTE entry names itself in the detail, under a name of its own.
    notes = [p for p in SAMPLES if p.kind is DiaryKind.NOTE]
    names = [p.detail()["note"] for p in notes]
    assert all(names) and len(set(names)) == len(names)


def test_detail_omits_empty_values() -> None:
    # Given a proposal without exclusions and a decided draft neither edited nor refused,
    proposed = entries.Proposed(proposal=1, resolution="no-action", text="Nothing to do.", eligible=())
    decided = entries.DraftDecided(draft=3, notice="reporter/acknowledgement", state="approved")
    # then their detail has no key for what is empty (None, an empty tuple),
    assert proposed.detail() == {"note": "proposal", "proposal": 1, "resolution": "no-action", "text": "Nothing to do."}
    assert decided.detail() == {"note": "draft decided", "draft": 3, "notice": "reporter/acknowledgement",
                                "state": "approved"}  # fmt: skip
    # and still reads back as the same value.
    assert read(DiaryKind.NOTE, _stored(proposed)) == proposed
    assert read(DiaryKind.NOTE, _stored(decided)) == decided


def test_detail_keeps_false_and_zero() -> None:
    """Only what is absent is left out: a command that failed says so, a vote that changed nothing too."""
    assert entries.CommandRun(command="/lead", ok=False, result="").detail()["ok"] is False
    voted = entries.Voted(proposal=0, choice="yes").detail()
    assert voted["proposal"] == 0 and voted["changed"] is False


def test_a_received_message_always_names_its_conversation() -> None:
    """A message threaded to no conversation says so explicitly (``conversation: null``)."""
    assert entries.Received(threaded_by="new case").detail() == {"threaded_by": "new case", "conversation": None}


def test_an_unknown_note_reads_as_nothing() -> None:
    assert read(DiaryKind.NOTE, {"note": "a note nobody writes any more", "text": "hello"}) is None
    assert read(DiaryKind.NOTE, {"text": "a note from before notes had names"}) is None
    assert read(DiaryKind.DUPLICATE, {}) is None


def test_a_known_note_ignores_keys_it_does_not_have() -> None:
    """An older entry may carry keys a payload no longer has: the payload is still read."""
    stored = {"note": "vote", "proposal": 2, "choice": "yes", "weight": 1}
    assert read(DiaryKind.NOTE, stored) == entries.Voted(proposal=2, choice="yes")
