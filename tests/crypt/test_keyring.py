"""The keyring on its own: the sealed format, associated data, wrong and unknown keys, key parsing,
the configuration's [storage] section and MAILFLOW_ENCRYPTION_KEY, and the start-up judgement."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mailflow.config import ENCRYPTION_KEY_ENV, settings_from_mapping
from mailflow.crypt.check import KeyMismatch, judge, seal_check
from mailflow.crypt.keyring import (
    BYTES_PREFIX,
    BadKey,
    Keyring,
    SealError,
    UnknownKey,
    aad_for,
    bytes_key_id,
    new_key,
    parse_key,
    parse_keys,
    text_key_id,
)
from mailflow.errors import ConfigError
from tests.support.crypt import ID_A, ID_B, KEY_A, KEY_B, KEY_C, key_file

A, B, C = (parse_key(k) for k in (KEY_A, KEY_B, KEY_C))
AAD = aad_for("party", "address")


def test_text_and_bytes_round_trip_and_name_their_key() -> None:
    ring = Keyring([A])
    sealed = ring.seal_text("jane@example.net", AAD)
    assert sealed.startswith(f"mfenc1:{ID_A}:") and "jane" not in sealed
    assert text_key_id(sealed) == ID_A and ring.open_text(sealed, AAD) == "jane@example.net"
    assert ring.seal_text("jane@example.net", AAD) != sealed  # a fresh nonce each time

    raw = ring.seal_bytes(b"From: jane@example.net\r\n\r\nhello", AAD)
    assert raw.startswith(BYTES_PREFIX + bytes.fromhex(ID_A)) and b"jane" not in raw
    assert bytes_key_id(raw) == ID_A and ring.open_bytes(raw, AAD) == b"From: jane@example.net\r\n\r\nhello"
    assert ring.open_text(ring.seal_text("", AAD), AAD) == ""
    assert ring.open_text(ring.seal_text("Zoë ✓", AAD), AAD) == "Zoë ✓"


def test_a_value_opens_only_for_its_column_and_unaltered() -> None:
    ring = Keyring([A])
    sealed = ring.seal_text("jane@example.net", AAD)
    with pytest.raises(SealError, match="moved from another column"):
        ring.open_text(sealed, aad_for("party", "name"), "party.name")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealError, match="altered"):
        ring.open_text(tampered, AAD)
    with pytest.raises(SealError, match=r"truncated|well-formed"):
        ring.open_text(sealed[: len("mfenc1:") + 12], AAD)
    raw = ring.seal_bytes(b"data", AAD)
    with pytest.raises(SealError):
        ring.open_bytes(raw[:-1] + bytes([raw[-1] ^ 1]), AAD)


def test_the_first_key_seals_every_key_opens_and_an_unknown_key_is_named() -> None:
    old = Keyring([A]).seal_text("x", AAD)
    both = Keyring([B, A])
    assert both.primary == ID_B and both.ids == (ID_B, ID_A)
    assert both.open_text(old, AAD) == "x"
    assert text_key_id(both.seal_text("x", AAD)) == ID_B
    with pytest.raises(UnknownKey, match=f"key {ID_A}, which is not configured") as caught:
        Keyring([B]).open_text(old, AAD)
    assert KEY_A not in str(caught.value) and KEY_B not in str(caught.value)
    made_up = f"mfenc1:deadbeef:{base64.urlsafe_b64encode(bytes(40)).decode()}"
    with pytest.raises(UnknownKey, match="deadbeef"):
        both.open_text(made_up, AAD)
    assert "Keyring(ids=" in repr(both) and KEY_A not in repr(both)


def test_the_blind_index_is_keyed_stable_and_changes_with_the_key() -> None:
    ring = Keyring([A])
    assert ring.index("jane@example.net") == Keyring([A, B]).index("jane@example.net")
    assert ring.index("jane@example.net").startswith(f"mfidx1:{ID_A}:") and "jane" not in ring.index("jane@example.net")
    assert ring.index("jane@example.net") != ring.index("eric@example.com")
    assert Keyring([B, A]).index("jane@example.net") != ring.index("jane@example.net")


def test_keys_are_parsed_strictly_and_never_echoed() -> None:
    assert len(parse_key(new_key())) == 32
    assert parse_key(KEY_A.rstrip("=")) == A  # padding optional
    assert parse_keys(f"# comment\n{KEY_B}\n  {KEY_A} # old\n") == [B, A]
    assert parse_keys(f"{KEY_B},{KEY_A}") == [B, A]
    for bad in ("not base64!", base64.urlsafe_b64encode(bytes(16)).decode(), ""):
        with pytest.raises(BadKey) as caught:
            parse_key(bad)
        assert bad not in str(caught.value) or not bad
    with pytest.raises(BadKey):
        Keyring([])


# -- configuration ---------------------------------------------------------------------------------


def test_encryption_is_off_by_default_and_on_with_a_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENCRYPTION_KEY_ENV, raising=False)
    assert settings_from_mapping({}).storage.keyring() is None
    monkeypatch.setenv(ENCRYPTION_KEY_ENV, f"{KEY_B},{KEY_A}")
    ring = settings_from_mapping({}).storage.keyring()
    assert ring is not None and ring.ids == (ID_B, ID_A)
    assert KEY_B not in repr(settings_from_mapping({})) and KEY_B not in settings_from_mapping({}).model_dump_json()


def test_a_key_file_is_read_and_bad_keys_are_named_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENCRYPTION_KEY_ENV, raising=False)
    path = key_file(tmp_path, KEY_A, KEY_B)
    ring = settings_from_mapping({"storage": {"encryption_key_file": str(path)}}).storage.keyring()
    assert ring is not None and ring.ids == (ID_A, ID_B)

    secret = "c2hvcnQ"  # valid base64, 5 bytes
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"storage": {"encryption_key": secret}})
    assert caught.value.problems[0][0] == "storage" and "is 5 bytes, not 32" in caught.value.problems[0][1]
    assert secret not in str(caught.value)
    with pytest.raises(ConfigError, match="not both"):
        settings_from_mapping({"storage": {"encryption_key": KEY_A, "encryption_key_file": str(path)}})
    with pytest.raises(ConfigError, match="cannot read"):
        settings_from_mapping({"storage": {"encryption_key_file": str(tmp_path / "missing")}})
    empty = tmp_path / "empty.keys"
    empty.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="holds no key"):
        settings_from_mapping({"storage": {"encryption_key_file": str(empty)}})


# -- the start-up judgement ------------------------------------------------------------------------


def test_the_start_up_check_refuses_every_key_that_cannot_read_the_database() -> None:
    with_a = {ID_A: seal_check(Keyring([A]))}
    judge(None, {})  # off, and never on
    judge(Keyring([A]), {})  # turned on now
    judge(Keyring([A]), with_a)
    judge(Keyring([B, A]), with_a)  # a new key put first, the old one kept
    with pytest.raises(KeyMismatch, match="does not match the one this database was written with"):
        judge(Keyring([B]), with_a)
    with pytest.raises(KeyMismatch, match="no encryption key is configured"):
        judge(None, with_a)
    with pytest.raises(KeyMismatch, match=f"still hold data sealed with key id {ID_A}"):
        judge(Keyring([B]), {**with_a, ID_B: seal_check(Keyring([B]))})
    with pytest.raises(KeyMismatch, match="does not open this database's check value"):
        judge(Keyring([A]), {ID_A: Keyring([A]).seal_text("something else", aad_for("keyring_check", "sealed"))})
