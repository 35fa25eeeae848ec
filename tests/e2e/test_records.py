"""The records the manuals ask for, from real mail through the running service: the incident log by
mail, the assessment questionnaire, patterns and links, the ban register, evidence that stands up,
retention and the transparency report."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import SQLModel

from mailflow.case import service as cases
from mailflow.model import Blob, Case, DiaryEntry, DiaryKind, InboundMessage, OutboundKind, OutboundMessage, Party
from mailflow.records import evidence
from mailflow.records.tables import Ban, CaseLink, CaseRecord, RecordsMail
from mailflow.service import Service
from tests.support.cli import run
from tests.support.committee import (
    ADA,
    AUTH,
    BO,
    CY,
    addresses,
    deliver,
    delivered_to,
    diary,
    member_mail,
    of_kind,
    texts_to,
)
from tests.support.mail import parse, report
from tests.support.stack import Stack, send, write_config

FAST_TICK = {**AUTH, "notices": {"check_seconds": 0.3}}


def new_case(stack: Stack, service: Service, sender: str, body: str, subject: str) -> tuple[Case, dict[int, str]]:
    before = {c.id for c in stack.cases()}
    send(service.smtp_port, report(subject, body, sender=sender), sender=sender.rpartition("<")[2].rstrip(">"))
    stack.wait_idle()
    [case] = [c for c in stack.cases() if c.id not in before]
    return case, addresses(stack, case)


def command(stack: Stack, service: Service, member: str, addr: dict[int, str], body: str) -> None:
    deliver(stack, service, member_mail(member, addr[cases.TEAM], body), member, addr[cases.TEAM])


def attachment(raw: bytes, name: str) -> str:
    for part in parse(raw).iter_attachments():
        if part.get_filename() == name:
            return str(part.get_content())
    raise AssertionError(f"no attachment {name}")


def test_log_assessment_and_patterns_by_mail(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**FAST_TICK))
    first, a1 = new_case(
        stack, service, "Jane Reporter <jane@example.net>", "Eric insulted me in the chat.\n", "Insults in chat"
    )
    # Cy declares a conflict on the first case: it is not theirs to see
    command(stack, service, CY, a1, "/conflict\n")
    command(
        stack, service, ADA, a1,
        "/lead Ada Chair\n/party reported Eric Example <eric@example.com> aka Rick\n/type enforcement\n"
        "/source reporter\n/summary Insults in the project chat\n/impact 4\n/likelihood 3\n",
    )  # fmt: skip

    # The lead gets the questionnaire (at the next check) and answers it by replying with the block
    stack.wait_until(lambda: "Assessment questionnaire" in texts_to(stack, ADA) or _subjects(stack, ADA), 30)
    stack.wait_until(lambda: any("/assess" in t for t in texts_to(stack, ADA).split("=====")), 30, "questionnaire")
    answers = "/assess\nlisted: yes\nin_scope: yes\npublic: yes\nrepeat: yes\nunderstands: no\ncategory: harassment\n"
    command(stack, service, ADA, a1, answers + "\nThanks, that is my assessment.\n")
    with stack.session() as s:
        record = s.scalars(select(CaseRecord).where(CaseRecord.case_id == first.id)).one()
    assert record.answers["listed"] == "yes" and record.answers["understands"] == "no"
    assert (record.case_type, record.source, record.category) == ("enforcement", "reporter", "harassment")
    result = texts_to(stack, ADA)
    assert "jurisdiction: yes" in result
    assert "GovStack: likely to recur and medium or high impact: consider stronger action" in result

    # A second report about the same person (by an alias): a pattern, shown to those who may see it
    second, a2 = new_case(
        stack, service, "Mo Witness <mo@example.org>", "Rick keeps messaging me.\n", "Unwanted messages"
    )
    command(stack, service, BO, a2, "/party reported Rick <rick@example.com> aka Rick\n")
    bo_text = texts_to(stack, BO)
    assert f"Pattern: case {second.ref}" in bo_text or first.ref in bo_text
    stack.wait_until(lambda: any("earlier cases" in t and first.ref in t for t in _texts(stack, BO)), 30, "pattern")
    assert not any("earlier cases" in t for t in _texts(stack, CY))  # Cy may not see the first case
    command(stack, service, BO, a2, "/link same " + first.ref + "\n/patterns\n")
    with stack.session() as s:
        [link] = s.scalars(select(CaseLink)).all()
    assert (link.case_id, link.other_case_id, link.kind) == (second.id, first.id, "same")
    assert any(e.detail.get("note") == "linked" for e in diary(stack, first))

    # /log: Bo gets both cases, Cy only the second one; neither log is kept once it has left
    command(stack, service, BO, a2, "/log\n")
    command(stack, service, CY, a2, "/log\n")
    stack.wait_idle()
    bo_log = _log_mail(stack, BO)
    cy_log = _log_mail(stack, CY)
    rows = list(csv.DictReader(io.StringIO(attachment(bo_log, "log.csv"))))
    assert [r["ref"] for r in rows] == [first.ref, second.ref]
    assert rows[0]["reporter"] == "Jane Reporter <jane@example.net>"
    assert rows[0]["about"] == "Eric Example <eric@example.com>"
    assert rows[0]["type"] == "conduct enforcement" and rows[0]["risk"] == "12" and rows[0]["lead"] == "Ada Chair"
    assert rows[0]["stronger_action"] == "yes"
    assert rows[1]["pattern"] == first.ref
    cy_rows = list(csv.DictReader(io.StringIO(attachment(cy_log, "log.csv"))))
    assert [r["ref"] for r in cy_rows] == [second.ref]
    assert first.ref not in parse(cy_log).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    log_command = [e for e in diary(stack, second) if e.kind is DiaryKind.COMMAND and "/log" in e.detail["command"]]
    assert all("jane@example.net" not in json.dumps(e.detail) for e in log_command)
    stack.wait_until(lambda: _scrubbed(stack), 30, "the log copies emptied")

    # The operator's view: the same log, filtered
    config = write_config(stack.tmp / "mailflow.toml", stack.settings(**AUTH))
    shown = json.loads(run(config, "log", "--json", "--member", "Ada Chair").stdout)
    assert [r["ref"] for r in shown] == [first.ref]
    assessed = json.loads(run(config, "assessment", "show", first.ref, "--json").stdout)
    assert assessed["stronger_action"] is True and "jurisdiction: yes" in assessed["findings"]


def _texts(stack: Stack, address: str) -> list[str]:
    return texts_to(stack, address).split("\n=====\n")


def _subjects(stack: Stack, address: str) -> bool:
    return any("Assessment questionnaire" in str(parse(m)["Subject"]) for m in delivered_to(stack, address))


def _log_mail(stack: Stack, address: str) -> bytes:
    return next(m for m in delivered_to(stack, address) if "Master Incident Log" in str(parse(m)["Subject"]))


def _scrubbed(stack: Stack) -> bool:
    with stack.session() as s:
        mails = s.scalars(select(RecordsMail)).all()
        blobs = [s.get(Blob, s.get(OutboundMessage, m.outbound_id).blob_id) for m in mails]  # type: ignore[union-attr]
    return bool(mails) and all(m.scrubbed_at for m in mails) and all(b is not None and b.data == b"" for b in blobs)


def test_the_ban_register_reminds_and_exports_without_the_reporter(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = new_case(stack, service, "Jane Reporter <jane@example.net>", "Eric again.\n", "Report")
    command(
        stack, service, ADA, addr,
        "/lead Ada Chair\n/party reported Eric Example <eric@example.com>\n/category harassment\n"
        "/ban suspension Eric Example\nscope: the mailing lists and the chat\nfor: 30 days\nreview: 2099-01-01\n",
    )  # fmt: skip
    with stack.session() as s:
        [ban] = s.scalars(select(Ban)).all()
    assert (ban.kind, ban.scope, ban.person) == ("suspension", "the mailing lists and the chat", "Eric Example")
    assert ban.ends_on is not None and (ban.ends_on - ban.starts_on).days == 30

    config = write_config(stack.tmp / "mailflow.toml", stack.settings(**AUTH))
    listed = json.loads(run(config, "bans", "list", "--json").stdout)
    assert [(b["kind"], b["state"], b["case"]) for b in listed] == [("suspension", "in force", case.ref)]
    exported = run(config, "bans", "export").stdout.decode()
    assert "Eric Example <eric@example.com>" in exported and "suspension" in exported
    assert "your decision" in exported and "relating to: harassment" in exported
    for secret in ("jane", "Jane", case.ref, "Eric again"):
        assert secret not in exported

    # A week before the end, the lead is reminded (once)
    when = (ban.ends_on.replace(tzinfo=None)).isoformat()
    ticked = run(config, "tick", "--now", when)
    assert ticked.returncode == 0, ticked.stderr
    stack.wait_idle()
    assert "ends on" in texts_to(stack, ADA) and "mailflow bans export" in texts_to(stack, ADA)
    command(stack, service, ADA, addr, f"/lift {ban.id} agreed apology\n/bans\n")
    assert f"ban {ban.id}: suspension of Eric Example" in texts_to(stack, ADA)
    assert json.loads(run(config, "bans", "list", "--json").stdout)[0]["state"] == "lifted"


def test_verify_names_an_edited_a_deleted_a_reordered_entry_and_a_swapped_message(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = new_case(stack, service, "Jane Reporter <jane@example.net>", "It happened twice.\n", "Report")
    command(stack, service, ADA, addr, "/note first\n")
    deliver(
        stack, service, report("More", "And a third time.\n"), "jane@example.net", addr[cases.REPORTER_CONVERSATION]
    )
    entries = diary(stack, case)
    assert len(entries) >= 6
    with stack.session() as s:
        assert evidence.verify(s, case.id, case.ref).intact
    inbound = [e for e in entries if e.inbound_id is not None]
    third = entries[2].seq

    def broken(*statements: object) -> str:
        with stack.session() as s:
            for statement in statements:
                s.execute(statement)  # type: ignore[call-overload]
            found = evidence.verify(s, case.id, case.ref).describe()
            s.rollback()
        return found

    d = DiaryEntry.__table__.c  # type: ignore[attr-defined]
    edited = broken(update(DiaryEntry).where(d.case_id == case.id, d.seq == third).values(new_text="changed"))
    assert f"BROKEN at entry {third} (chain)" in edited and "edited" in edited
    deleted = broken(DiaryEntry.__table__.delete().where(d.case_id == case.id, d.seq == third))  # type: ignore[attr-defined]
    assert f"BROKEN at entry {third} (chain): entry {third} is missing" in deleted
    swap = [
        update(DiaryEntry).where(d.case_id == case.id, d.seq == third).values(seq=-1),
        update(DiaryEntry).where(d.case_id == case.id, d.seq == third + 1).values(seq=third),
        update(DiaryEntry).where(d.case_id == case.id, d.seq == -1).values(seq=third + 1),
    ]
    assert f"BROKEN at entry {third} (chain)" in broken(*swap)
    one, two = inbound[0], inbound[-1]
    with stack.session() as s:
        blob_of = {m.id: m.blob_id for m in s.scalars(select(InboundMessage))}
    b = Blob.__table__.c  # type: ignore[attr-defined]
    with stack.session() as s:
        data = {i: s.get(Blob, i).data for i in (blob_of[one.inbound_id], blob_of[two.inbound_id])}  # type: ignore[union-attr,index]
    swapped = broken(
        update(Blob).where(b.id == blob_of[one.inbound_id]).values(data=data[blob_of[two.inbound_id]]),  # type: ignore[index]
        update(Blob).where(b.id == blob_of[two.inbound_id]).values(data=data[blob_of[one.inbound_id]]),  # type: ignore[index]
    )
    assert f"BROKEN at entry {one.seq} (message)" in swapped and "not the one received" in swapped
    sent = next(e for e in entries if e.outbound_id is not None)
    with stack.session() as s:
        sent_blob = s.get(OutboundMessage, sent.outbound_id).blob_id  # type: ignore[union-attr]
    assert f"BROKEN at entry {sent.seq} (message)" in broken(update(Blob).where(b.id == sent_blob).values(data=b"x"))

    # From the shell: exit 1 and the entry named; the heads published earlier expose a rewrite
    config = write_config(stack.tmp / "mailflow.toml", stack.settings(**AUTH))
    assert run(config, "diary", "verify").returncode == 0
    heads = run(config, "diary", "heads").stdout.decode()
    assert f"{case.ref} {entries[-1].seq} {entries[-1].hash}" in heads
    (stack.tmp / "heads.txt").write_text(heads)
    assert run(config, "diary", "heads", "--check", str(stack.tmp / "heads.txt")).returncode == 0
    with stack.session() as s:
        s.execute(update(DiaryEntry).where(d.case_id == case.id, d.seq == third).values(new_text="changed"))
        s.commit()
    verified = run(config, "diary", "verify", case.ref)
    assert verified.returncode == 1 and f"BROKEN at entry {third}" in verified.stdout.decode()
    # a full rewrite: every hash recomputed would pass verify, but not the published heads
    with stack.session() as s:
        s.execute(update(DiaryEntry).where(d.case_id == case.id, d.seq == entries[-1].seq).values(hash="0" * 64))
        s.commit()
    checked = run(config, "diary", "heads", "--check", str(stack.tmp / "heads.txt"))
    assert checked.returncode == 1 and "rewritten" in checked.stdout.decode()


def test_export_and_retention_leave_no_personal_string(db_stack: Stack) -> None:
    stack = db_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = new_case(
        stack, service, "Jane Reporter <jane@example.net>", "Zebulon Quux shouted at me, call me on +1 555 0100.\n",
        "Zebulon at the meetup",
    )  # fmt: skip
    command(
        stack, service, ADA, addr,
        "/lead Ada Chair\n/party reported Zebulon Quux <zeb@example.com> aka Zebby\n/type conflict\n"
        "/summary Zebulon Quux shouted\n/assess harm Jane Reporter felt unsafe\n",
    )  # fmt: skip
    deliver(stack, service, member_mail(ADA, addr[1], "Dear Jane, thank you.\n"), ADA, addr[1])
    deliver(stack, service, report("Re", "Thank you, Zebulon left.\n"), "jane@example.net", addr[1])
    command(stack, service, ADA, addr, "/close the reporter was heard; nothing more to do\n")
    config = write_config(stack.tmp / "mailflow.toml", stack.settings(**AUTH))

    # The evidence bundle: every message as received and sent, a timeline, the head
    bundle = stack.tmp / "bundle"
    assert run(config, "diary", "export", case.ref, "--out", str(bundle)).returncode == 0
    mbox = (bundle / "messages.mbox").read_text()
    assert mbox.count("\nFrom ") + mbox.startswith("From ") >= 5 and "Thank you, Zebulon left." in mbox
    assert "intact" in (bundle / "head.txt").read_text() and "Zebulon" in (bundle / "timeline.html").read_text()
    sums = dict(line.split("  ")[::-1] for line in (bundle / "SHA256SUMS").read_text().splitlines())
    first = sorted(p for p in (bundle / "messages").iterdir())[0]
    assert sums[f"messages/{first.name}"] == hashlib.sha256(first.read_bytes()).hexdigest()
    entries = json.loads((bundle / "diary.json").read_text())
    assert hashlib.sha256(first.read_bytes()).hexdigest() in {e["content_sha256"] for e in entries}

    stack.stop_all()
    dry = run(config, "retention", "run", "--now", "2099-01-01", "--json")
    assert [(v["ref"], v["expired"]) for v in json.loads(dry.stdout)] == [(case.ref, True)]
    assert run(config, "retention", "run", "--json").stdout.strip() != b""  # today: nothing expired
    assert json.loads(run(config, "retention", "run", "--json").stdout)[0]["expired"] is False
    personal = [b"jane@example.net", b"Jane Reporter", b"Zebulon", b"zeb@example.com", b"Zebby", b"555 0100"]
    assert len({f.partition(": ")[2] for f in _database_holds(stack, personal)}) == len(personal)  # all there before
    applied = run(config, "retention", "run", "--now", "2099-01-01", "--apply")
    assert applied.returncode == 0, applied.stderr

    # Nothing personal is left anywhere in the data directory, and the diary still verifies
    for path in (stack.tmp / "data").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not [p for p in personal if p in content], path
    assert _database_holds(stack, personal) == []
    verified = run(config, "diary", "verify", case.ref)
    assert verified.returncode == 0, verified.stdout
    with stack.session() as s:
        entries_now = s.scalars(select(DiaryEntry).where(DiaryEntry.case_id == case.id)).all()
        last = max(entries_now, key=lambda e: e.seq)
        stored = s.get(Case, case.id)
    assert last is not None and last.detail["note"] == "redaction" and last.detail["removed"]
    assert stored is not None and stored.state.value == "closed" and stored.created_at is not None
    row = json.loads(run(config, "log", "--json").stdout)[0]
    assert (row["reporter"], row["summary"], row["lead"]) == ("(removed)", "(removed)", "Ada Chair")
    assert json.loads(run(config, "retention", "run", "--now", "2099-01-01", "--json").stdout) == []


def _database_holds(stack: Stack, needles: list[bytes]) -> list[str]:
    """Every table, every row, read back through SQL: where any of ``needles`` is found."""
    found = []
    with stack.session() as s:
        for table in SQLModel.metadata.sorted_tables:
            for row in s.execute(select(table)):
                flat = repr(tuple(row)).encode("utf-8") + b"".join(v for v in row if isinstance(v, bytes))
                found += [f"{table.name}: {n.decode()}" for n in needles if n in flat]
    return found


def test_the_transparency_report_counts_without_identities(sqlite_stack: Stack, tmp_path: Path) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    made = []
    for n in range(7):
        case, addr = new_case(
            stack, service, f"Person{n} Reporter <person{n}@example.net>", f"Report number {n}.\n", f"Report {n}"
        )
        kind = "enforcement" if n < 6 else "conflict"
        command(stack, service, ADA, addr, f"/type {kind}\n/category harassment\n/close done\n")
        made.append(case)
    config = write_config(stack.tmp / "mailflow.toml", stack.settings(**AUTH))
    year = made[0].year
    done = run(config, "report", "transparency", "--year", str(year), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    markdown = (tmp_path / f"transparency-{year}.md").read_text()
    html = (tmp_path / f"transparency-{year}.html").read_text()
    svg = (tmp_path / f"transparency-{year}.svg").read_text()
    assert "**Reports received:** 7" in markdown
    assert "- conduct enforcement: fewer than 5" in markdown  # one hidden would reveal the other
    assert "- conflict resolution: fewer than 5" in markdown
    assert "- harassment: 7" in markdown
    assert "<svg" in svg and "<svg" in html and "Reports received per year" in svg
    for text_ in (markdown, html, svg):
        for case in made:
            assert case.ref not in text_
        assert "example.net" not in text_ and "Reporter" not in text_ and "Report number" not in text_


def test_merge_closes_a_duplicate_into_the_case_it_reports(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    first, _ = new_case(stack, service, "Jane Reporter <jane@example.net>", "At the party.\n", "Party")
    second, a2 = new_case(stack, service, "Mo Witness <mo@example.org>", "I saw it at the party.\n", "Party too")
    command(stack, service, BO, a2, f"/merge {first.ref}\n")
    with stack.session() as s:
        merged = s.get(Case, second.id)
        record = s.scalars(select(CaseRecord).where(CaseRecord.case_id == second.id)).one()
        reporters = s.scalars(select(Party.address).where(Party.case_id == first.id)).all()
    assert merged is not None and merged.state.value == "closed" and record.merged_into == first.id
    assert set(reporters) == {"jane@example.net", "mo@example.org"}
    assert any("merged into" in t for t in _texts(stack, BO))
    assert of_kind(stack, OutboundKind.ACKNOWLEDGEMENT)


def test_the_board_is_mailed_the_signed_heads_and_can_check_them(
    sqlite_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = sqlite_stack
    monkeypatch.setenv("MAILFLOW_RECORDS__HEADS_KEY", "k3y")  # a secret: from the environment
    board = {"notices": {"check_seconds": 0.3, "board_address": "board@example.org"}, "records": {"heads_key": "k3y"}}
    settings = stack.settings(**AUTH, **board)
    service = stack.start(settings)
    case, _ = new_case(stack, service, "Jane Reporter <jane@example.net>", "Report.\n", "Report")
    stack.wait_until(lambda: bool(delivered_to(stack, "board@example.org")), 30, "the heads mail")
    [mail] = delivered_to(stack, "board@example.org")
    body = parse(mail).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{case.ref} " in body and "hmac-sha256 " in body and "jane" not in body.lower()
    config = write_config(stack.tmp / "mailflow.toml", settings)
    (stack.tmp / "board.txt").write_text(body)
    assert run(config, "diary", "heads", "--check", str(stack.tmp / "board.txt")).returncode == 0
    (stack.tmp / "forged.txt").write_text(body.replace(case.ref, "2026-9999"))
    forged = run(config, "diary", "heads", "--check", str(stack.tmp / "forged.txt"))
    assert forged.returncode == 1 and "signature does not match" in forged.stdout.decode()
