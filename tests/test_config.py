"""Accounts and settings: TOML round trip, validation messages, secrets kept out."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mailclean import config as cfg


def imap_account(**kw: object) -> cfg.AccountConfig:
    base: dict = dict(
        name="work",
        kind="imap",
        host="mail.example.org",
        user="jdupont",
        password="env",
        password_env="MAIL_PW",
    )
    base.update(kw)
    return cfg.AccountConfig(**base)


def test_round_trip_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    config = cfg.load(path)
    assert config.accounts == {}
    config.add(imap_account(port=1993, insecure_tls=True))
    config.add(cfg.AccountConfig(name="local", kind="maildir", path="/tmp/Maildir"))
    config.settings["lang"] = "fr"
    config.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = cfg.load(path)
    assert again.settings == {"lang": "fr"}
    assert again.account("work") == imap_account(port=1993, insecure_tls=True)
    assert again.account("local").path == "/tmp/Maildir"


def test_password_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_PW", "s3cr3t-value")
    config = cfg.load(tmp_path / "c.toml")
    config.add(imap_account())
    config.save()
    assert cfg.get_password(config.account("work")) == "s3cr3t-value"
    assert "s3cr3t-value" not in (tmp_path / "c.toml").read_text()


def test_password_sources_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAIL_PW", raising=False)
    with pytest.raises(cfg.ConfigError, match="MAIL_PW, which is not set"):
        cfg.get_password(imap_account())
    with pytest.raises(cfg.ConfigError, match="no terminal"):
        cfg.get_password(imap_account(password="prompt"))
    assert cfg.get_password(imap_account(password="prompt"), lambda text: "typed") == "typed"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts = [", "not valid TOML"),
        ("[accounts.w]\nkind = 'pop3'", "kind must be one of"),
        ("[accounts.w]\nkind = 'imap'\nuser = 'u'", "'host' is missing"),
        (
            "[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\nport = 'x'",
            "port must be a whole number",
        ),
        (
            "[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\npassword = 'hunter2'",
            "never goes in this file",
        ),
        ("[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\ncolour = 1", "unknown key"),
        ("accounts = 3", "must be a table"),
        ("[accounts.w]\nkind = 'maildir'", "'path' is missing"),
    ],
)
def test_corrupt_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.load(path)


def test_account_lookup(tmp_path: Path) -> None:
    config = cfg.load(tmp_path / "none.toml")
    with pytest.raises(cfg.ConfigError, match="no account is configured"):
        config.account(None)
    config.add(imap_account())
    assert config.account(None).name == "work"
    config.add(imap_account(name="other"))
    with pytest.raises(cfg.ConfigError, match="several accounts"):
        config.account(None)
    with pytest.raises(cfg.ConfigError, match=r"unknown account 'nope'.*other, work"):
        config.account("nope")
    with pytest.raises(cfg.ConfigError, match="already exists"):
        config.add(imap_account())


def test_paths_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCLEAN_CONFIG", str(tmp_path / "x.toml"))
    monkeypatch.setenv("MAILCLEAN_DB", str(tmp_path / "x.db"))
    assert cfg.default_config_path() == tmp_path / "x.toml"
    assert cfg.default_db_path() == tmp_path / "x.db"
