"""Connectors are plugins (issue 15): every kind, built-in or third-party, is found through
the ``mailclean.connectors`` entry points and built by the connector's own
``from_account``, with secrets passed in (the connector never reads config or keyring)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from mailclean import config as cfg
from mailclean import plugins
from mailclean.config import AccountConfig
from mailclean.connectors.base import ConnectorError, Credentials
from mailclean.connectors.imap import ImapConnector
from mailclean.connectors.maildir import MaildirConnector


class FakeConnector(MaildirConnector):
    """A third party's connector (a Maildir one underneath, so that it is complete)."""

    kind = "fake"
    built: ClassVar[list[tuple[Any, Credentials]]] = []
    uses_password = True

    @classmethod
    def account_problems(cls, account: Any, where: str) -> list[str]:
        return [] if account.host == "fake.example" else [f"{where}: host must be fake.example"]

    @classmethod
    def from_account(cls, account: Any, credentials: Credentials) -> FakeConnector:
        cls.built.append((account, credentials))
        return cls("/nonexistent")


@pytest.fixture(autouse=True)
def _entry_points_read_afresh() -> Iterator[None]:
    """The registry is read once per process: each test reads it anew, and leaves no fake
    entry point behind for the other tests."""
    plugins.registered.cache_clear()
    yield
    plugins.registered.cache_clear()


def _with_entry_point(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    real = importlib.metadata.entry_points

    def entry_points(**kw: Any) -> Any:
        found = list(real(**kw))
        if kw.get("group") == plugins.GROUP:
            found.append(importlib.metadata.EntryPoint(name, value, plugins.GROUP))
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    plugins.registered.cache_clear()  # as if the package had just been installed


def test_built_in_kinds_come_from_the_entry_points() -> None:
    assert plugins.connector_class("imap") is ImapConnector
    assert plugins.connector_class("maildir") is MaildirConnector
    names = {ep.name for ep in importlib.metadata.entry_points(group=plugins.GROUP)}
    assert {"imap", "maildir", "ews"} <= names  # pyproject.toml declares them


def test_a_third_party_connector_is_found_and_gets_its_secrets_lazily(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_entry_point(monkeypatch, "fake", f"{__name__}:FakeConnector")
    asked: list[str] = []
    account = AccountConfig(name="x", kind="fake", password="env", password_env="FAKE_PW")
    conn = plugins.connector_for(account, lambda: asked.append("pw") or "s3cret")
    assert isinstance(conn, FakeConnector)
    got_account, credentials = FakeConnector.built[-1]
    assert got_account is account
    assert asked == []  # not asked until the connector needs it
    assert credentials.password() == "s3cret" and asked == ["pw"]
    assert "FAKE_PW" in credentials.source


def test_an_unknown_kind_or_a_wrong_entry_point_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConnectorError, match="no connector for accounts of kind 'nope'"):
        plugins.connector_class("nope")
    _with_entry_point(monkeypatch, "bogus", "mailclean.plugins:GROUP")
    with pytest.raises(ConnectorError, match="not a Connector"):
        plugins.connector_class("bogus")


def test_the_config_lists_no_kinds_each_connector_checks_its_own_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
) -> None:
    path = tmp_path / "config.toml"
    entry = "[accounts.x]\nkind = 'fake'\nhost = '{host}'\npassword = '{password}'\n"
    path.write_text(entry.format(host="fake.example", password="keyring"))
    installed = ", ".join(plugins.kinds())
    with pytest.raises(cfg.ConfigError, match=f"kind must be one of {installed}, not 'fake'"):
        cfg.load(path)  # not installed yet: the kinds offered are the installed ones
    _with_entry_point(monkeypatch, "fake", f"{__name__}:FakeConnector")
    assert cfg.load(path).account("x").kind == "fake"
    path.write_text(entry.format(host="elsewhere", password="hunter2"))
    with pytest.raises(cfg.ConfigError) as caught:
        cfg.load(path)
    assert len(caught.value.errors) == 2
    # the connector's own check, then the config's check of where the password comes from
    assert caught.value.errors[0] == f"{path}: account 'x': host must be fake.example"
    assert "password must be one of" in caught.value.errors[1]
    assert "hunter2" not in str(caught.value)
