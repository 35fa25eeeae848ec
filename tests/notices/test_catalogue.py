"""The catalogue of notices: every template folder is a notice, every notice renders with its sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.notices import COMMON, Notice, NoticeError, common_context, notice, notices, render_notice, tone_advice
from mailflow.notices.catalogue import check_notice, folders_on_disk, variants
from mailflow.outbound.render import Renderer
from tests.notices.conftest import SHIPPED

ALL = notices()
NAMES = [n.name for n in ALL]
RESOLUTIONS = [n for n in ALL if n.name.startswith("reported/resolution-")]


def test_the_catalogue_matches_the_template_folders_on_disk(renderer: Renderer) -> None:
    assert sorted(NAMES) == folders_on_disk(SHIPPED)
    assert sorted(NAMES) == renderer.notices()  # each folder has its subject and body
    assert len(set(NAMES)) == len(NAMES)


def test_the_notices_the_issue_asks_for_are_all_there() -> None:
    wanted = {
        "reporter/acknowledgement", "reporter/request-for-information", "reporter/status-update",
        "reported/right-of-reply", "reporter/feedback-request", "reported/feedback-request",
        "reported/resolution-no-action", "reported/resolution-public-reminder",
        "reported/resolution-private-reprimand", "reported/resolution-public-reprimand",
        "reported/resolution-apology-request", "reported/resolution-hiatus", "reported/resolution-temporary-ban",
        "reported/resolution-permanent-ban", "reporter/resolution", "mediation/invitation", "mediation/agreement",
        "board/report",
    }  # fmt: skip
    assert wanted <= set(NAMES)


@pytest.mark.parametrize("item", ALL, ids=NAMES)
def test_each_notice_is_typed_and_its_sample_is_exactly_its_keys(item: Notice) -> None:
    assert item.audience == item.name.split("/")[0]
    assert item.title and item.source
    assert set(item.sample) == set(COMMON) | set(item.required)
    assert not set(COMMON) & set(item.required)
    for key, allowed in item.choices.items():
        assert key in item.required and item.sample[key] in allowed


@pytest.mark.parametrize("item", ALL, ids=NAMES)
def test_every_notice_renders_with_its_sample_and_every_choice(renderer: Renderer, item: Notice) -> None:
    assert check_notice(renderer, item) == []
    for context in variants(item):
        rendered = render_notice(renderer, item.name, context)
        assert rendered.subject and "\n" not in rendered.subject and "{" not in rendered.subject
        assert str(item.sample["ref"]) in rendered.text
        assert str(item.sample["reply_address"]) in rendered.text
        assert str(item.sample["committee_name"]) in rendered.text
        assert "{{" not in rendered.text and "{%" not in rendered.text
        assert rendered.text.endswith("\n") and not rendered.text.endswith("\n\n")


@pytest.mark.parametrize("item", ALL, ids=NAMES)
def test_the_shipped_wording_passes_the_tone_check(renderer: Renderer, item: Notice) -> None:
    for context in variants(item):
        assert tone_advice(render_notice(renderer, item.name, context).text) == []


def test_variants_cover_each_value_of_each_choice() -> None:
    hiatus = notice("reported/resolution-hiatus")
    assert sorted(str(v["kind"]) for v in variants(hiatus)) == ["agreed", "mandatory"]
    assert len(variants(notice("reporter/resolution"))) == 1


@pytest.mark.parametrize("item", RESOLUTIONS, ids=[n.name for n in RESOLUTIONS])
def test_each_resolution_names_the_part_of_the_code_of_conduct(renderer: Renderer, item: Notice) -> None:
    assert "coc_section" in item.required
    context = {**item.sample, "coc_section": "Section 4: harassment"}
    assert "Section 4: harassment" in render_notice(renderer, item.name, context).text


def test_nothing_addressed_to_the_reported_person_can_carry_the_reporters_identity(renderer: Renderer) -> None:
    for item in (n for n in ALL if n.audience == "reported"):
        used: set[str] = set()
        for file in ("subject.txt.j2", "body.txt.j2"):
            used |= renderer.variables(f"{item.name}/{file}")
        assert not [name for name in used | set(item.required) if "reporter" in name], item.name
        text = render_notice(renderer, item.name, item.sample).text
        assert "Jane Reporter" not in text  # the reporter of the acknowledgement sample


def test_the_acknowledgement_keeps_its_promises(renderer: Renderer) -> None:
    item = notice("reporter/acknowledgement")
    text = render_notice(renderer, item.name, item.sample).text
    for promise in ("2026-0007", "24 hours", "7 days", "conduct+2026-0007.c1@example.org", "[conduct #2026-0007]"):
        assert promise in text


def test_timelines_questions_and_terms_may_be_lists_or_text(renderer: Renderer) -> None:
    for name, key in (
        ("reporter/status-update", "projected_timeline"),
        ("reporter/request-for-information", "questions"),
        ("mediation/agreement", "terms"),
    ):
        item = notice(name)
        as_text = render_notice(renderer, name, {**item.sample, key: "By Friday: the committee meets."})
        assert "By Friday: the committee meets." in as_text.text
        as_list = render_notice(renderer, name, {**item.sample, key: ["first step", "second step"]})
        assert "- first step\n- second step\n" in as_list.text


def test_a_missing_key_is_named(renderer: Renderer) -> None:
    item = notice("reported/resolution-hiatus")
    context = {k: v for k, v in item.sample.items() if k not in ("coc_section", "reply_address")}
    with pytest.raises(NoticeError, match=r"reported/resolution-hiatus.*reply_address, coc_section"):
        render_notice(renderer, item.name, context)


def test_a_value_outside_the_choices_is_refused(renderer: Renderer) -> None:
    item = notice("reported/resolution-hiatus")
    with pytest.raises(NoticeError, match="kind must be one of agreed, mandatory, not 'forever'"):
        render_notice(renderer, item.name, {**item.sample, "kind": "forever"})


def test_an_unknown_notice_names_the_known_ones(renderer: Renderer) -> None:
    with pytest.raises(NoticeError) as raised:
        render_notice(renderer, "reported/resolution-exile", {})
    assert "unknown notice 'reported/resolution-exile'" in str(raised.value)
    assert "reported/resolution-hiatus" in str(raised.value)


def test_common_context_builds_the_common_keys() -> None:
    context = common_context(
        committee_name="Example CoC Committee",
        conduct_address="conduct@example.org",
        tag="conduct",
        ref="2026-0012",
        reply_address="conduct+2026-0012.x@example.org",
        recipient_name=None,
    )
    assert tuple(context) == COMMON
    assert context["subject_tag"] == "[conduct #2026-0012]" and context["recipient_name"] == ""


def test_check_notice_names_a_variable_in_a_branch_the_sample_does_not_take(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "templates"
    shutil.copytree(SHIPPED, copy)
    body = copy / "reported/resolution-hiatus/body.txt.j2"
    body.write_text(body.read_text() + '{% if kind == "never" %}{{ forgotten }}{% endif %}\n')
    problems = check_notice(Renderer(copy), notice("reported/resolution-hiatus"))
    assert problems == ["body.txt.j2 uses variable(s) not in the catalogue: forgotten"]
