"""Measuring Exchange Online mailboxes through Microsoft Graph, as an application.

The admin's application signs in as itself (client credentials, with a secret or a
certificate, or a bearer token the admin got elsewhere) and opens each mailbox of the
accounts file as ``/users/{address}``; what it may open is what the tenant granted it
(``Mail.Read`` application permission, scoped to the event's mailboxes with RBAC for
Applications: see docs/graph.md). Quick: the folders and their sizes (the extended
property PR_MESSAGE_SIZE_EXTENDED, ``Long 0x0E08``), no message read. Full: the same, then
headers into a temporary index, the rules over it, their totals kept (as over IMAP).

One token serves every mailbox of a run: the connectors of one tenant, application and
credential share one MSAL application and its in-memory token cache (never written
anywhere), and the first mailbox asks while the others wait, so a run of 1,000 mailboxes
asks for a token once, not 1,000 times. Graph v1.0 gives no mailbox quota to an
application and cannot reach online archives: both are said in the snapshot rather than
counted as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailclean.connectors.base import Connector
from mailclean.snapshot.measure import ImapMeasure
from mailclean.snapshot.store import PendingMailbox

#: How an admin's application signs in to Graph for a snapshot (app-only, or a token).
GRAPH_SNAPSHOT_AUTH = ("client-secret", "certificate", "token")


@dataclass(frozen=True)
class GraphAccess:
    """How to reach every mailbox of a snapshot through Microsoft Graph: one tenant, one
    application signing in as itself."""

    tenant_id: str
    client_id: str | None
    auth: str = "client-secret"
    client_secret: str | None = field(default=None, repr=False)
    certificate: str | None = None
    """PEM file holding the application's certificate and private key."""
    token: str | None = field(default=None, repr=False)
    graph_url: str | None = None
    authority_url: str | None = None
    cafile: str | None = None
    insecure_tls: bool = False
    secret_source: str | None = None
    """Where the secret or token comes from, in words, for a refused sign-in."""

    def __post_init__(self) -> None:
        if self.auth not in GRAPH_SNAPSHOT_AUTH:
            raise ValueError(f"unknown Graph sign-in {self.auth!r}")

    def describe(self) -> dict:
        """The settings worth remembering with a snapshot (no secret, ever)."""
        return {
            "kind": "graph",
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "auth": self.auth,
            "certificate": self.certificate,
            "graph_url": self.graph_url,
            "authority_url": self.authority_url,
            "cafile": self.cafile,
            "insecure_tls": self.insecure_tls,
        }


@dataclass
class GraphMeasure(ImapMeasure):
    """Measures a mailbox of Exchange Online through Graph, read-only: folders with their
    sizes (quick), and headers into a temporary index for the rules (full)."""

    access: GraphAccess  # type: ignore[assignment]

    def _setup(self) -> None:
        """Nothing to prepare: the connectors share their sign-in by themselves."""

    def connector(self, entry: PendingMailbox) -> Connector:
        """A connector opening one mailbox as the application (``/users/{address}``)."""
        from mailclean.connectors.graph import GraphConnector, GraphSettings
        from mailclean.connectors.graph.settings import DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL

        a = self.access
        settings = GraphSettings(
            email=entry.mailbox,
            tenant_id=a.tenant_id,
            client_id=a.client_id,
            auth=a.auth,
            client_secret=a.client_secret,
            certificate=a.certificate,
            token=a.token,
            cafile=a.cafile,
            insecure_tls=a.insecure_tls,
            secret_source=a.secret_source,
            timeout=self.command_timeout,
            max_wait=self.command_timeout,
            graph_url=a.graph_url or DEFAULT_GRAPH_URL,
            authority_url=a.authority_url or DEFAULT_AUTHORITY_URL,
        )
        return GraphConnector(settings)
