"""Connectors as plugins: every kind of account, built-in or not, is found through the
``mailclean.connectors`` entry points, and built from its config entry by the connector
itself (:meth:`~mailclean.connectors.base.Connector.from_account`); which connector serves
which kind is :mod:`mailclean.connectors.registry`.

This is the one place where the config meets the connectors: secrets reach a connector
through :class:`~mailclean.connectors.base.Credentials`, so no connector reads the config
or the keyring. Adding a connector touches its own module, its tests and ``pyproject.toml``
(see docs/connectors.md).
"""

from __future__ import annotations

from collections.abc import Callable

from mailclean import config as cfg
from mailclean.connectors.base import Connector, Credentials
from mailclean.connectors.registry import BUILTIN, GROUP, connector_class, kinds, registered
from mailclean.i18n import _

__all__ = ["BUILTIN", "GROUP", "connector_class", "connector_for", "credentials", "kinds",
           "password_source", "registered"]


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
