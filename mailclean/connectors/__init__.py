"""Connectors: one per protocol, all behind :class:`mailclean.connectors.base.Connector`.

Built-in connectors are registered as ``mailclean.connectors`` entry points, so a
third-party package can add one; :func:`connector_for` builds one from an account.
"""

from __future__ import annotations

from collections.abc import Callable

from mailclean.config import AccountConfig
from mailclean.connectors.base import Connector, ConnectorError
from mailclean.i18n import _


def password_source(account: AccountConfig) -> str:
    """Where the account's password comes from, in words, for a refused login."""
    if account.password == "env":
        return _("the environment variable {var}").format(var=account.password_env)
    if account.password == "keyring":
        return _("the system keyring (change it with: mailclean account password {name})"
                 ).format(name=account.name)
    return _("what was typed at the prompt")


def connector_for(account: AccountConfig, password: Callable[[], str]) -> Connector:
    """A connector for ``account``; ``password`` is called only if the protocol needs one."""
    if account.kind == "imap":
        from mailclean.connectors.imap import ImapConnector, ImapSettings

        return ImapConnector(
            ImapSettings(
                host=account.host or "",
                port=account.port,
                user=account.user or "",
                password=password(),
                security=account.security,
                insecure_tls=account.insecure_tls,
                cafile=account.cafile,
                password_source=password_source(account),
            )
        )
    if account.kind == "maildir":
        from mailclean.connectors.maildir import MaildirConnector

        return MaildirConnector(account.path or "")
    if account.kind == "ews":
        from mailclean.connectors.ews import EwsConnector

        return EwsConnector.from_account(account, password)
    from importlib.metadata import entry_points  # slow to import; only third parties need it

    for ep in entry_points(group="mailclean.connectors"):
        if ep.name == account.kind:
            factory = ep.load()
            if hasattr(factory, "from_account"):
                return factory.from_account(account, password)
    raise ConnectorError(f"no connector for accounts of kind {account.kind!r}")
