"""Reaching the private IMAP servers' first mailbox (``user1``) with mailclean's connector.

``user1`` is the first of :data:`tests.dovecot.DEFAULT_USERS`; Cyrus and Mailutils
(:mod:`tests.support.cyrus`, :mod:`tests.support.mailutils`) declare the same account.
"""

from __future__ import annotations

from typing import Protocol

from mailclean.connectors.imap import ImapConnector, ImapSettings

USER, PASSWORD = "user1", "secret1"


class Server(Protocol):
    """What a private server harness (Dovecot, Cyrus, Mailutils) gives a client."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


def imap_connector(server: Server, **kw: object) -> ImapConnector:
    """A new, unconnected connector to ``user1`` of ``server`` over plain text; ``kw``
    overrides any :class:`ImapSettings` field (``password="wrong"``, ``port=...``...)."""
    settings: dict = dict(
        host=server.host, port=server.port, user=USER, password=PASSWORD, security="none"
    )
    settings.update(kw)
    return ImapConnector(ImapSettings(**settings))
