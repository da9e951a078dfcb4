"""Connectors are plugins (issue 15): every kind, built-in or third-party, is found through
the ``mailclean.connectors`` entry points and built by the connector's own
``from_account``, with secrets passed in (the connector never reads config or keyring)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from mailclean import plugins
from mailclean.config import AccountConfig
from mailclean.connectors.base import ConnectorError, Credentials
from mailclean.connectors.imap import ImapConnector
from mailclean.connectors.maildir import MaildirConnector


class FakeConnector(MaildirConnector):
    """A third party's connector (a Maildir one underneath, so that it is complete)."""

    kind = "fake"
    built: ClassVar[list[tuple[Any, Credentials]]] = []

    @classmethod
    def from_account(cls, account: Any, credentials: Credentials) -> FakeConnector:
        cls.built.append((account, credentials))
        return cls("/nonexistent")


@pytest.fixture(autouse=True)
def _entry_points_read_afresh() -> Iterator[None]:
    """The registry is read once per process: each test reads it anew, and leaves no fake
    entry point behind for the other tests."""
    plugins._registered.cache_clear()
    yield
    plugins._registered.cache_clear()


def _with_entry_point(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    real = importlib.metadata.entry_points

    def entry_points(**kw: Any) -> Any:
        found = list(real(**kw))
        if kw.get("group") == plugins.GROUP:
            found.append(importlib.metadata.EntryPoint(name, value, plugins.GROUP))
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    plugins._registered.cache_clear()  # as if the package had just been installed


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
