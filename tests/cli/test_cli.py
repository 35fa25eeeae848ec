"""The ``mailflow`` command as an operator and an MTA use it: a real process, a real database."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from mailflow.model import InboundMessage, InboundState, OutboundKind
from tests.support import trace
from tests.support.cli import MAILFLOW, run
from tests.support.mail import report
from tests.support.stack import Stack, write_config
from tests.support.trace import local_trace


@pytest.fixture
def config(db_stack: Stack) -> Path:
    return write_config(db_stack.tmp / "mailflow.toml", db_stack.settings())


def test_ingest_from_standard_input_stores_processes_and_acknowledges(db_stack: Stack, config: Path) -> None:
    done = run(config, "ingest", "--sender", "jane@example.net", "--recipient", "conduct@example.org", stdin=report())
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("stored as message ")
    assert db_stack.count(InboundMessage, InboundMessage.state == InboundState.PROCESSED) == 1
    ack, copy = db_stack.outbound()
    assert (ack.kind, copy.kind) == (OutboundKind.ACKNOWLEDGEMENT, OutboundKind.FANOUT)
    assert len(db_stack.delivered()) == 2


def test_ingest_exit_statuses_follow_sysexits(db_stack: Stack, config: Path) -> None:
    raw = report()
    assert run(config, "ingest", stdin=raw).returncode == 0
    again = run(config, "ingest", stdin=raw)
    assert again.returncode == 0 and b"already stored" in again.stdout
    assert run(config, "ingest", stdin=b"\n\n").returncode == 65  # EX_DATAERR: nothing to deliver
    assert run(config, "ingest", "-r", "someone@example.org", stdin=raw).returncode == 67  # EX_NOUSER
    missing = run(config, "ingest", str(db_stack.tmp / "no-such-file.eml"))
    assert missing.returncode == 65 and b"cannot read" in missing.stdout + missing.stderr


def test_ingest_with_the_database_down_asks_the_mta_to_retry(tmp_path: Path) -> None:
    from tests.support.sink import free_port
    from tests.support.stack import make_settings

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"
    config = write_config(tmp_path / "down.toml", make_settings(tmp_path, url))
    done = run(config, "ingest", stdin=report())
    assert done.returncode == 75  # EX_TEMPFAIL: the MTA keeps the message and tries again
    assert b"database unavailable" in done.stderr
    assert b"jane@example.net" not in done.stderr  # no reporter address in an error


def test_the_operator_views_as_json(db_stack: Stack, config: Path) -> None:
    run(config, "ingest", stdin=report(subject="A report", message_id="view@example.net"))
    run(config, "ingest", stdin=b"\x00\x01 not a message at all \xff\r\n")  # quarantined: no case

    [case] = json.loads(run(config, "cases", "list", "--json").stdout)
    assert case["subject"] == "A report" and case["entries"] == 3  # the report, the acknowledgement, the copy

    shown = json.loads(run(config, "cases", "show", case["ref"], "--json").stdout)
    assert shown["diary_intact"] is True
    assert [e["kind"] for e in shown["diary"]] == ["report", "sent", "sent"]
    assert shown["diary"][0]["message_id"] == "view@example.net"
    assert shown["diary"][0]["new_text"].startswith("On Tuesday a participant")
    assert shown["parties"] == [
        {
            "role": "reporter",
            "name": "Jane Reporter",
            "address": "jane@example.net",
            "aliases": [],
            "permission_entry": None,
            "agreed": {},
        }
    ]

    mails = json.loads(run(config, "outbox", "list", "--json").stdout)
    [mail] = [m for m in mails if m["kind"] == "acknowledgement"]
    assert (mail["case"], mail["kind"], mail["state"]) == (case["ref"], "acknowledgement", "sent")
    assert sorted(m["kind"] for m in mails) == ["acknowledgement", "fanout"]
    assert mail["message_id"] and mail["recipients"] == ["jane@example.net"]

    table = run(config, "cases", "list").stdout.decode()
    assert case["ref"] in table and "A report" in table


def test_quarantine_list_show_and_retry(db_stack: Stack, config: Path) -> None:
    garbage = b"\r\n\r\n\x00\x00"
    assert run(config, "ingest", stdin=b"   \r\n" + garbage + b"x").returncode == 0
    [item] = json.loads(run(config, "quarantine", "list", "--json").stdout)
    assert item["reason"] and item["size"] == len(b"   \r\n" + garbage + b"x")
    shown = run(config, "quarantine", "show", str(item["id"]))
    # every byte kept, below our Received field (in the message's own line ending)
    assert local_trace(newline=b"\r\n").fullmatch(trace.split(shown.stdout, b"   \r\n" + garbage + b"x"))
    assert run(config, "quarantine", "retry", str(item["id"])).returncode == 0
    assert db_stack.count(InboundMessage, InboundMessage.state == InboundState.RECEIVED) == 1
    assert run(config, "quarantine", "show", "999").returncode == 1


def test_cases_show_of_an_unknown_case_is_a_clear_error(config: Path) -> None:
    done = run(config, "cases", "show", "2026-9999")
    assert done.returncode == 1 and b"no case 2026-9999" in done.stderr


def test_errors_and_warnings_keep_their_square_brackets(tmp_path: Path, config: Path) -> None:
    # Printed as text, not rich markup: "[committee]" or "[to be completed before approval]" in a
    # message used to vanish as an unknown tag.
    done = run(config, "cases", "show", "[to be completed]")
    assert done.returncode == 1 and b"no case [to be completed]" in done.stderr

    chairless = tmp_path / "chairless.toml"
    chairless.write_text('[service]\nconduct_address = "conduct@example.org"\n', encoding="utf-8")
    done = run(chairless, "check-config", str(chairless))
    assert done.returncode == 0 and b"warning: no chair in [committee]" in done.stdout


def test_check_config_names_each_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[service]\nconduct_adress = "x@example.org"\n'
        '[outgoing]\ntransport = "ftp://example.org"\n'
        '[[committee.members]]\nname = "A"\naddresses = ["not-an-address"]\nrole = "boss"\n',
        encoding="utf-8",
    )
    done = run(bad, "check-config", str(bad))
    out = done.stdout.decode()
    assert done.returncode == 78
    assert "service.conduct_adress: unknown key" in out
    assert "outgoing.transport: must be maildir:PATH or smtp://HOST:PORT" in out
    assert "committee.members[0].addresses: 'not-an-address' is not an email address" in out
    assert "committee.members[0].role: Input should be 'chair' or 'member'" in out

    broken = tmp_path / "broken.toml"
    broken.write_text("[service\n", encoding="utf-8")
    done = run(broken, "check-config", str(broken))
    assert done.returncode == 78 and b"not valid TOML" in done.stdout + done.stderr

    example = Path(__file__).resolve().parents[2] / "config" / "mailflow.example.toml"
    done = run(example, "check-config", str(example))
    assert done.returncode == 0 and b"ok:" in done.stdout


def test_the_roster_and_a_cases_committee_standing(db_stack: Stack, config: Path) -> None:
    roster = json.loads(run(config, "committee", "list", "--json").stdout)
    assert [(m["name"], m["role"]) for m in roster] == [
        ("Ada Chair", "chair"),
        ("Bo Member", "member"),
        ("Cy Member", "member"),
    ]
    # a report naming a member: that member is kept out of the case, and the case says so
    run(config, "ingest", stdin=report(body="Bo Member was rude to me at the sprint.\n"))
    [case] = json.loads(run(config, "cases", "list", "--json").stdout)
    shown = json.loads(run(config, "cases", "show", case["ref"], "--json").stdout)
    assert shown["committee"] == [
        {"member": "Bo Member", "assignment": None, "excluded": True, "reason": "party (suspected)", "by": "mailflow"}
    ]
    assert shown["risk"] == {"impact": None, "likelihood": None, "risk": None}
    table = run(config, "cases", "show", case["ref"]).stdout.decode()
    assert "committee: Bo Member: excluded (party (suspected))" in table


@pytest.mark.parametrize(
    "where",
    [
        ["--config", "{}", "init"],
        ["init", "--config", "{}"],
        ["init", "-c", "{}"],
        ["init", "--config={}"],
        ["cases", "list", "--json", "-c", "{}"],
    ],
)
def test_config_is_taken_before_or_after_the_subcommand(tmp_path: Path, where: list[str]) -> None:
    from tests.support.stack import make_settings

    config = write_config(tmp_path / "mailflow.toml", make_settings(tmp_path, None))
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CONFIG"}
    argv = [arg.format(config) for arg in where]
    done = subprocess.run([*MAILFLOW, *argv], capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert b"No such option" not in done.stderr
    assert (tmp_path / "data" / "mailflow.sqlite3").exists()  # the file's data_dir, not the default


def test_serve_takes_its_config_after_the_subcommand(tmp_path: Path) -> None:
    from tests.support.sink import free_port
    from tests.support.stack import make_settings

    port = free_port()
    settings = make_settings(tmp_path, None, intake={"smtp_listen": f"127.0.0.1:{port}", "lmtp_listen": ""})
    config = write_config(tmp_path / "mailflow.toml", settings)
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CONFIG"}
    serve = subprocess.Popen([*MAILFLOW, "serve", "--config", str(config)], stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert serve.poll() is None, serve.stderr.read().decode() if serve.stderr else ""
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                    assert client.noop()[0] == 250
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not listen on the configured port"
                time.sleep(0.2)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=60)
    assert serve.returncode == 0
