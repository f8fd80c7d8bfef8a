"""Signed link tokens: round trip, forgery, expiry, purpose binding, key rotation, secrets."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policywatch.errors import ConfigError, TokenError
from policywatch.tokens import TokenSigner, load_or_create_secret, load_secrets

OLD = b"o" * 32
NEW = b"n" * 40
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_round_trip_is_compact_and_url_safe() -> None:
    signer = TokenSigner([NEW])
    for subject in (0, 1, 123_456, 2**63 - 1):
        token = signer.sign("unsubscribe", subject)
        assert len(token) == 39
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert signer.verify(token, "unsubscribe") == subject


def test_tokens_carry_only_an_id() -> None:
    raw = base64.urlsafe_b64decode(TokenSigner([NEW]).sign("confirm", 7) + "=")
    assert b"@" not in raw and len(raw) == 29


def test_a_token_is_bound_to_its_purpose() -> None:
    signer = TokenSigner([NEW])
    token = signer.sign("unsubscribe", 7)
    with pytest.raises(TokenError, match="invalid confirm token"):
        signer.verify(token, "confirm")


def test_forged_and_tampered_tokens_are_refused() -> None:
    signer = TokenSigner([NEW])
    token = signer.sign("confirm", 7)
    raw = bytearray(base64.urlsafe_b64decode(token + "="))
    for position in (0, 3, 12, 13, 28):  # version, expiry, subject, first and last MAC byte
        forged = bytearray(raw)
        forged[position] ^= 0x01
        text = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
        with pytest.raises(TokenError):
            signer.verify(text, "confirm")
    other = TokenSigner([b"x" * 32]).sign("confirm", 7)
    with pytest.raises(TokenError, match="invalid"):
        signer.verify(other, "confirm")


@pytest.mark.parametrize(
    "token",
    ["", "a", "A" * 39, "A" * 38 + "!", "é" * 39, "A" * 200, " " + "A" * 38, "A" * 40],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        TokenSigner([NEW]).verify(token, "confirm")


def test_a_non_canonical_spelling_is_refused() -> None:
    signer = TokenSigner([NEW])
    token = signer.sign("confirm", 7)
    # the last character of 39 base64 digits carries 2 unused bits; flipping them keeps the bytes
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(token[-1])
    alias = (
        token[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last ^ 1]
    )
    assert base64.urlsafe_b64decode(alias + "=") == base64.urlsafe_b64decode(token + "=")
    with pytest.raises(TokenError, match="malformed"):
        signer.verify(alias, "confirm")


def test_expiry() -> None:
    signer = TokenSigner([NEW])
    token = signer.sign("confirm", 7, expires=NOW + timedelta(days=7))
    assert signer.verify(token, "confirm", now=NOW + timedelta(days=7) - timedelta(seconds=1)) == 7
    with pytest.raises(TokenError, match="confirm token expired at 2026-05-08T12:00:00"):
        signer.verify(token, "confirm", now=NOW + timedelta(days=7))
    forever = signer.sign("unsubscribe", 7)
    assert signer.verify(forever, "unsubscribe", now=NOW + timedelta(days=365 * 50)) == 7
    with pytest.raises(ValueError, match="naive"):
        signer.sign("confirm", 7, expires=datetime(2026, 1, 1))


def test_rotation_keeps_old_links_working_until_the_old_secret_goes() -> None:
    old_token = TokenSigner([OLD]).sign("unsubscribe", 42)
    rotated = TokenSigner([NEW, OLD])
    assert rotated.verify(old_token, "unsubscribe") == 42
    new_token = rotated.sign("unsubscribe", 42)
    assert TokenSigner([NEW]).verify(new_token, "unsubscribe") == 42
    with pytest.raises(TokenError):
        TokenSigner([OLD]).verify(new_token, "unsubscribe")
    with pytest.raises(TokenError):
        TokenSigner([NEW]).verify(old_token, "unsubscribe")


@pytest.mark.parametrize("secrets", [[], [b"short"], [NEW, b"x" * 31]])
def test_weak_secret_lists_are_config_errors(secrets: list[bytes]) -> None:
    with pytest.raises(ConfigError, match="POLICYWATCH_SECRET"):
        TokenSigner(secrets)


@pytest.mark.parametrize(("subject", "purpose"), [(-1, "confirm"), (2**63, "confirm"), (1, "")])
def test_sign_arguments_are_checked(subject: int, purpose: str) -> None:
    with pytest.raises(ValueError):
        TokenSigner([NEW]).sign(purpose, subject)


# -- secrets -----------------------------------------------------------------------------------


def test_secret_file_is_created_once_with_mode_600(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secret"
    first = load_or_create_secret(path, environ={})
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path, environ={}) == first
    assert [p.name for p in path.parent.iterdir()] == ["secret"], "no temporary file left"
    token = TokenSigner(load_secrets(path, environ={})).sign("confirm", 1)
    assert TokenSigner([first]).verify(token, "confirm") == 1


def test_secret_file_lines_rotate(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("# newest first\n" + "n" * 40 + "\n\n" + "o" * 32 + "\n")
    os.chmod(path, 0o600)
    assert load_secrets(path, environ={}) == (NEW, OLD)
    assert load_or_create_secret(path, environ={}) == NEW


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    env = {"POLICYWATCH_SECRET": " " + "n" * 40 + "  " + "o" * 32 + "\n"}
    assert load_secrets(path, environ=env) == (NEW, OLD)
    assert not path.exists(), "no file is created when the environment provides the secret"
    with pytest.raises(ConfigError, match=r"POLICYWATCH_SECRET.*only 5 characters"):
        load_secrets(path, environ={"POLICYWATCH_SECRET": "short"})
    with pytest.raises(ConfigError, match="no token secret"):
        load_secrets(path, environ={"POLICYWATCH_SECRET": "  "})


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("s" * 40 + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_secrets(path, environ={})


def test_an_empty_or_weak_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("\n")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="no token secret"):
        load_secrets(path, environ={})
    path.write_text("weak\n")
    with pytest.raises(ConfigError, match=f"{path}.*only 4 characters"):
        load_secrets(path, environ={})
