"""How to reach and sign in to an Exchange Online mailbox through Microsoft Graph."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from mailclean.connectors.graph import limits
from mailclean.retry import NETWORK

DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTHORITY_URL = "https://login.microsoftonline.com"

#: The resource (token audience) of Microsoft Graph, and of each national cloud's, by host:
#: https://learn.microsoft.com/graph/deployments
GLOBAL_RESOURCE = "https://graph.microsoft.com"
NATIONAL_CLOUDS = {
    "graph.microsoft.us": "https://graph.microsoft.us",
    "dod-graph.microsoft.us": "https://dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn": "https://microsoftgraph.chinacloudapi.cn",
}

DEVICE_CODE = "device-code"
CLIENT_SECRET = "client-secret"
CERTIFICATE = "certificate"
TOKEN = "token"
#: How a Graph account signs in: an agent with a device code (delegated), an admin's
#: application with a secret or a certificate (app-only), or a bearer token from elsewhere.
GRAPH_AUTH = (DEVICE_CODE, CLIENT_SECRET, CERTIFICATE, TOKEN)
#: The sign-in methods that act as the application itself, without a user.
APP_ONLY = (CLIENT_SECRET, CERTIFICATE)


@dataclass(frozen=True, slots=True)
class GraphSettings:
    """How to reach and sign in to one mailbox. Secrets are only held in memory and never
    shown in the dataclass's repr."""

    email: str
    """The mailbox's address (``/users/{email}`` in every request)."""
    tenant_id: str | None = None
    """Directory (tenant) id or one of its domains."""
    client_id: str | None = None
    """Application (client) id registered in Entra ID."""
    auth: str = DEVICE_CODE
    """One of :data:`GRAPH_AUTH`."""
    graph_url: str = DEFAULT_GRAPH_URL
    authority_url: str = DEFAULT_AUTHORITY_URL
    cafile: str | None = None
    insecure_tls: bool = False
    client_secret: str | None = field(default=None, repr=False)
    certificate: str | None = None
    """Path of a PEM file holding the certificate and its private key (auth "certificate")."""
    token: str | None = field(default=None, repr=False)
    """A bearer token (auth "token")."""
    account: str | None = None
    """The account's name in mailclean's config, to say which command signs in again."""
    secret_source: str | None = None
    """Where the secret or token comes from, in words ("the environment variable X")."""
    max_in_flight: int = limits.MAX_IN_FLIGHT
    page_size: int = limits.PAGE_SIZE
    batch_size: int = limits.BATCH_SIZE
    timeout: float = field(default_factory=lambda: NETWORK.timeout)
    """Seconds one read may wait for the server ([settings] timeout)."""
    max_wait: float = field(default_factory=lambda: NETWORK.deadline)
    """Longest time one request may take with its retries, throttling waits included
    ([settings] deadline)."""
    hard_delete: bool = False
    """Permanent deletes purge the messages (permanentDelete) instead of moving them to
    Recoverable Items (DELETE, the default)."""

    @property
    def app_only(self) -> bool:
        """Whether the application signs in as itself (client credentials)."""
        return self.auth in APP_ONLY

    @property
    def base(self) -> str:
        """The Graph root without a trailing slash (``https://graph.microsoft.com/v1.0``)."""
        return (self.graph_url or DEFAULT_GRAPH_URL).rstrip("/")

    @property
    def origin(self) -> str:
        """Scheme and host of :attr:`graph_url`."""
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def resource(self) -> str:
        """The Graph resource the scopes name: the national cloud's own when
        :attr:`graph_url` is one, else the global service's (a proxy or a test server in
        front of Graph still hands out tokens for Graph)."""
        host = (urlsplit(self.base).hostname or "").lower()
        return NATIONAL_CLOUDS.get(host, GLOBAL_RESOURCE)

    @property
    def scopes(self) -> list[str]:
        """What the sign-in asks for: ``Mail.ReadWrite`` for a user (MSAL adds
        ``offline_access``), the application's own permissions (``.default``) app-only."""
        if self.app_only:
            return [f"{self.resource}/.default"]
        return [f"{self.resource}/Mail.ReadWrite"]

    @property
    def authority(self) -> str:
        """The tenant's authority URL (``https://login.microsoftonline.com/{tenant}``)."""
        root = (self.authority_url or DEFAULT_AUTHORITY_URL).rstrip("/")
        return f"{root}/{self.tenant_id}"

    @property
    def mailbox(self) -> str:
        """The mailbox's path under the Graph root."""
        return f"/users/{quote(self.email, safe='@')}"

    @property
    def where(self) -> str:
        """What to call the server in messages (its host)."""
        return urlsplit(self.base).netloc or self.base

    @property
    def verify(self) -> bool | str:
        """How TLS certificates are checked, as httpx's and requests' ``verify``."""
        if self.insecure_tls:
            return False
        return self.cafile or True


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine (the only place plain http:// is allowed)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_problem(url: str | None) -> str | None:
    """Why ``url`` cannot be a Graph or sign-in URL ("scheme", "http", "host"), or None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return "scheme"
    if parts.scheme not in ("https", "http") or not host:
        return "scheme"
    if parts.scheme == "http" and not is_loopback(host):
        return "http"
    if parts.username or parts.password:
        return "login"
    return None
