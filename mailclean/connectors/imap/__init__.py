"""IMAP connector (imapclient): folders with roles, header-only incremental sync, quota.

Reading is done in bulk with raw ``UID FETCH`` commands over UID sequence sets and parsed
by :mod:`mailclean.connectors.imapwire`; imapclient handles the session (TLS, login,
SELECT, LIST, folder-name encoding). Bodies are never fetched: only RFC822.SIZE,
INTERNALDATE, FLAGS, BODYSTRUCTURE and a fixed list of header fields.
"""

from __future__ import annotations

from typing import Any

from mailclean.connectors.base import Credentials
from mailclean.connectors.imap.actions import _ImapActions
from mailclean.connectors.imap.errors import Refused
from mailclean.connectors.imap.folders import _RFC822_SIZE as _RFC822_SIZE  # tests read it
from mailclean.connectors.imap.folders import _ImapFolders
from mailclean.connectors.imap.limits import (
    ACTION_CHUNK,
    FETCH_BYTES,
    FETCH_CHUNK,
    PARALLEL_FROM,
    SIZE_CHUNK,
    VERIFY_CHUNK,
)
from mailclean.connectors.imap.responses import (
    FETCH_ITEMS,
    HEADER_FIELDS,
    IDENTITY_ITEMS,
    message_from_fetch,
    messages_from_fetch,
)
from mailclean.connectors.imap.responses import _copyuid as _copyuid  # tests read them
from mailclean.connectors.imap.responses import _flags as _flags
from mailclean.connectors.imap.responses import _identities as _identities
from mailclean.connectors.imap.responses import _identities_fast as _identities_fast
from mailclean.connectors.imap.settings import SECURITY, ImapSettings
from mailclean.connectors.imap.sync import _ImapSync
from mailclean.i18n import _
from mailclean.validation import did_you_mean, shown

__all__ = [
    "ACTION_CHUNK",
    "FETCH_BYTES",
    "FETCH_CHUNK",
    "FETCH_ITEMS",
    "HEADER_FIELDS",
    "IDENTITY_ITEMS",
    "PARALLEL_FROM",
    "SECURITY",
    "SIZE_CHUNK",
    "VERIFY_CHUNK",
    "ImapConnector",
    "ImapSettings",
    "Refused",
    "message_from_fetch",
    "messages_from_fetch",
]


class ImapConnector(_ImapActions, _ImapSync, _ImapFolders):
    """A mailbox on an IMAP server."""

    kind = "imap"
    uses_password = True
    quota_is_measured = True

    @classmethod
    def account_problems(cls, account: Any, where: str) -> list[str]:
        """Host, user, security and port of an "imap" entry."""
        out = []
        if not account.host:
            out.append(_("{where}: 'host' is missing").format(where=where))
        if not account.user:
            out.append(_("{where}: 'user' is missing").format(where=where))
        if account.security not in SECURITY:
            out.append(_("{where}: security must be one of {choices}, not {value}{hint}").format(
                where=where, choices=", ".join(SECURITY), value=shown(account.security),
                hint=did_you_mean(account.security, SECURITY)))
        port = account.port
        if port is not None and isinstance(port, int) and not (0 < port < 65536):
            out.append(_("{where}: port {port} is not a TCP port (1 to 65535)").format(
                where=where, port=shown(port)))
        return out

    @classmethod
    def from_account(cls, account: Any, credentials: Credentials) -> ImapConnector:
        """Build a connector from an ``[accounts]`` entry of kind "imap"."""
        return cls(ImapSettings(
            host=account.host or "", port=account.port, user=account.user or "",
            password=credentials.password(), security=account.security,
            insecure_tls=account.insecure_tls, cafile=account.cafile,
            password_source=credentials.source or None,
        ))
