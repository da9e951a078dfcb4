"""How to reach and log in to an Exchange mailbox."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from exchangelib.items import HARD_DELETE, SOFT_DELETE
from exchangelib.transport import BASIC, NOAUTH, NTLM, OAUTH2

from mailclean.connectors.ews.limits import ACTION_CHUNK, FETCH_CHUNK, SYNC_PAGE

#: ``EwsSettings.hard_delete`` -> the DeleteItem type sent, by :attr:`EwsConnector.delete_mode`.
DELETE_TYPES = {"soft": SOFT_DELETE, "hard": HARD_DELETE}

AUTH_TYPES = ("ntlm", "basic", "oauth2", "none")
#: How an EWS account signs in.
EWS_AUTH = ("ntlm", "basic", "oauth2")

_AUTH = {"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2, "none": NOAUTH}


@dataclass(frozen=True, slots=True)
class EwsSettings:
    """How to reach and log in to an Exchange mailbox. Secrets are only held in memory."""

    email: str
    """Primary SMTP address of the mailbox."""
    ews_url: str | None = None
    """The EWS endpoint (``https://mail.example.org/EWS/Exchange.asmx``); None or
    ``"autodiscover"`` to find it from ``email``."""
    user: str | None = None
    """Login (``DOMAIN\\user`` or a UPN); defaults to ``email``."""
    password: str | None = None
    """Password (NTLM, Basic), or the client secret (OAuth2)."""
    auth: str = "ntlm"
    """One of :data:`AUTH_TYPES`; "none" is for test servers."""
    client_id: str | None = None
    tenant_id: str | None = None
    oauth2_token: dict | None = None
    """An OAuth2 token (``access_token``, ``refresh_token``...) from the authorization-code
    flow; without one, OAuth2 uses the client-credentials flow (application access, which
    needs impersonation)."""
    impersonation: bool = False
    """Open the mailbox through EWS impersonation (admin accounts, snapshots)."""
    insecure_tls: bool = False
    cafile: str | None = None
    timeout: float = 120.0
    max_wait: float = 300.0
    """Longest total back-off (seconds) granted to a throttled request before giving up."""
    version: tuple[int, int, int, int] | None = None
    """Server build (15, 1, 2507, 6) to skip exchangelib's version probe."""
    page_size: int = SYNC_PAGE
    fetch_chunk: int = FETCH_CHUNK
    hard_delete: bool = False
    """Permanent deletes purge the items (HardDelete) instead of moving them to Recoverable
    Items (SoftDelete, the default)."""
    action_chunk: int = ACTION_CHUNK
    """Item ids per GetItem, MoveItem and DeleteItem request of an action."""

    @property
    def autodiscover(self) -> bool:
        """Whether the endpoint must be discovered."""
        return not self.ews_url or self.ews_url.strip().lower() == "autodiscover"

    @property
    def where(self) -> str:
        """What to call the server in messages."""
        if self.autodiscover:
            return self.email.rpartition("@")[2]
        return urlsplit(self.ews_url or "").netloc or str(self.ews_url)
