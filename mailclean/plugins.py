"""Connectors as plugins: every kind of account, built-in or not, is found through the
``mailclean.connectors`` entry points, and built from its config entry by the connector
itself (:meth:`~mailclean.connectors.base.Connector.from_account`).

This is the one place where the config meets the connectors: secrets reach a connector
through :class:`~mailclean.connectors.base.Credentials`, so no connector reads the config
or the keyring. Adding a connector touches its own module, its tests and ``pyproject.toml``
(see docs/connectors.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailclean import config as cfg
from mailclean.connectors.base import Connector, ConnectorError, Credentials
from mailclean.i18n import _

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

#: Entry-point group of connectors.
GROUP = "mailclean.connectors"

#: The built-in connectors, as pyproject.toml declares them; used only when mailclean runs
#: from a source tree that was never installed (no entry points to read then).
BUILTIN = {
    "imap": "mailclean.connectors.imap:ImapConnector",
    "maildir": "mailclean.connectors.maildir:MaildirConnector",
    "ews": "mailclean.connectors.ews:EwsConnector",
}


@functools.cache
def _registered() -> dict[str, EntryPoint]:
    """The installed connectors' entry points, by kind: read once (the installed packages
    do not change while mailclean runs, and reading them costs ~20 ms)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def connector_class(kind: str) -> type[Connector]:
    """The connector class registered for accounts of ``kind``."""
    from importlib import import_module

    ep = _registered().get(kind)
    if ep is not None:
        loaded = ep.load()
    elif kind in BUILTIN:
        module, name = BUILTIN[kind].split(":")
        loaded = getattr(import_module(module), name)
    else:
        raise ConnectorError(_("no connector for accounts of kind {kind!r}").format(kind=kind))
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        raise ConnectorError(f"the {kind!r} connector entry point is not a Connector")
    return loaded


def password_source(account: cfg.AccountConfig) -> str:
    """Where the account's password comes from, in words, for a refused login."""
    if account.password == "env":
        return _("the environment variable {var}").format(var=account.password_env)
    if account.password == "keyring":
        return _("the system keyring (change it with: mailclean account password {name})"
                 ).format(name=account.name)
    return _("what was typed at the prompt")


def credentials(account: cfg.AccountConfig, password: Callable[[], str]) -> Credentials:
    """The secrets of ``account`` as a connector receives them: ``password`` is called
    only if the protocol needs one; OAuth2 tokens are kept in the keyring."""
    return Credentials(
        password=password,
        source=password_source(account),
        load_token=lambda: cfg.oauth2_token(account.name),
        save_token=lambda token: cfg.store_oauth2_token(account.name, token),
    )


def connector_for(account: cfg.AccountConfig, password: Callable[[], str]) -> Connector:
    """A connector for ``account``; ``password`` is called only if the protocol needs one."""
    return connector_class(account.kind).from_account(account, credentials(account, password))
