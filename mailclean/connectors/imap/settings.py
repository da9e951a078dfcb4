"""How to reach and log in to an IMAP server."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from mailclean.retry import NETWORK


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """How to reach and log in to an IMAP server. The password is only held in memory."""

    host: str
    user: str
    password: str
    port: int | None = None
    security: str = "ssl"
    """"ssl" (implicit TLS, port 993), "starttls" (port 143) or "none"."""
    insecure_tls: bool = False
    cafile: str | None = None
    timeout: float = field(default_factory=lambda: NETWORK.timeout)
    """Seconds a read may wait ([settings] timeout; 30 by default)."""
    """Seconds one read may wait for the server before the connection counts as dead."""
    authzid: str | None = None
    """Log in as ``user`` on behalf of this mailbox with SASL PLAIN's authorization identity
    (RFC 4616): how an administrator reaches other mailboxes on Cyrus, Zimbra or Dovecot."""
    password_source: str | None = None
    """Where the password came from, in words ("the environment variable MAIL_PW"), named
    when the server refuses it (the password itself never is)."""
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    """A TLS context to share between connections instead of one built per connection
    (building one loads the system's CA certificates: about 20 ms of CPU)."""


#: How the connection is secured: TLS from the start, STARTTLS, or none (loopback tests).
SECURITY = ("ssl", "starttls", "none")
