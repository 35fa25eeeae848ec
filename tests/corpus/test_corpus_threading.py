"""Threading against real mail: the fedora-devel month (292 messages, 60 threads) and the bounces
of flufl.bounce."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select

from mailflow.model import InboundMessage, InboundState
from tests.support.corpus import corpus_root, oracle
from tests.support.corpus_messages import mbox_messages
from tests.support.intake import Intake
from tests.support.stack import Stack


@pytest.fixture
def intake(db_stack: Stack) -> Iterator[Intake]:
    pipe = Intake(db_stack)
    yield pipe
    pipe.close()


def _date_key(item: tuple[int, dict[str, object]]) -> tuple[float, int]:
    idx, meta = item
    return parsedate_to_datetime(str(meta["date"])).timestamp(), idx


def test_the_fedora_month_threads_by_references_and_never_mixes_threads(db_stack: Stack, intake: Intake) -> None:
    truth = oracle("fedora_devel_2010_01_threads.json")
    raws = mbox_messages("fedora-devel-list-2010-01/2010-January.mbox")
    assert len(raws) == len(truth["messages"]) == 292
    by_id = {m["message_id"].strip("<>"): m for m in truth["messages"]}

    # ingested in date order, as history (mail to a list, so nothing would be acknowledged anyway)
    case_of: dict[int, int] = {}
    for idx, _ in sorted(enumerate(truth["messages"]), key=_date_key):
        outcome = intake.deliver(raws[idx].raw, mail_from=None, notify=False)
        assert outcome.state is InboundState.PROCESSED, f"message {idx}: {outcome}"
        assert outcome.case_id is not None
        case_of[idx] = outcome.case_id

    # never two threads of the archive in one case
    threads_in_case: dict[int, set[int]] = defaultdict(set)
    for idx, case_id in case_of.items():
        threads_in_case[case_id].add(truth["messages"][idx]["mhonarc_thread_root_idx"])
    mixed = {c: t for c, t in threads_in_case.items() if len(t) > 1}
    assert not mixed, f"cases mixing threads: {mixed}"

    # every message naming an earlier message of the month lands in that message's case
    order = {idx: rank for rank, (idx, _) in enumerate(sorted(enumerate(truth["messages"]), key=_date_key))}
    checked = 0
    for idx, meta in enumerate(truth["messages"]):
        for named in [*meta["in_reply_to"], *meta["references"]]:
            parent = by_id.get(named.strip("<>"))
            if parent is not None and order[parent["idx"]] < order[idx]:
                assert case_of[idx] == case_of[parent["idx"]], f"message {idx} not with its parent {parent['idx']}"
                checked += 1
    assert checked > 200

    cases = len(set(case_of.values()))
    print(f"\nfedora-devel 2010-01: 292 messages -> {cases} cases for 60 archive threads; {checked} links kept")
    assert cases >= truth["n_threads"]


def _flufl_bounces() -> list[str]:
    root = corpus_root() / "flufl.bounce"
    return sorted(
        str(p.relative_to(corpus_root())) for p in root.rglob("*") if p.is_file() and p.name != "PROVENANCE.md"
    )


def test_the_bounces_of_flufl_bounce_are_recognised_and_open_no_case(db_stack: Stack, intake: Intake) -> None:
    names = _flufl_bounces()
    assert len(names) >= 100
    opened = []
    for name in names:
        outcome = intake.deliver((corpus_root() / name).read_bytes(), mail_from=None)
        if outcome.case_id is not None:
            opened.append(name)
    assert opened == []
    assert db_stack.cases() == []
    with db_stack.session() as s:
        kinds = {m.kind for m in s.scalars(select(InboundMessage))}
    assert kinds == {"bounce"}
