"""Exchange Online connector (Microsoft Graph v1.0, httpx, MSAL): folders with sizes,
delta sync, actions with immutable ids.

What it asks of the server, and why (see docs/graph.md for the sign-in and permissions):

- ``connect``: a token (MSAL: from the cache, refreshed silently, else a device-code
  sign-in through ``on_device_code``; or client credentials; or the given token), then one
  ``$batch`` of the well-known folders (``msgfolderroot``, ``inbox``, ``sentitems``,
  ``drafts``, ``deleteditems``, ``junkemail``, ``archive``): their ids give the roles, whatever
  the mailbox's language.
- ``list_folders``: ``mailFolders`` with hidden folders, then each level's ``childFolders``
  in one ``$batch``, with the counters and PR_MESSAGE_SIZE_EXTENDED (``Long 0x0E08``).
- ``sync_folder``: ``messages/delta`` pages with exactly the properties indexed, the size
  property and the internet headers; attachments' metadata (never content) for the
  messages with attachments, 20 to a ``$batch``, while the next page is read.
- Actions: identity checks, ``move``, ``DELETE`` / ``permanentDelete`` in batches of 20;
  export with ``$value``. Ids are immutable (``Prefer: IdType="ImmutableId"`` on every
  request), so a moved message keeps its id.
- ``quota``: None. Graph v1.0 gives a mail client no mailbox quota; folder sizes come from
  the folders' size property.

Every request has a deadline, throttling (429/503, ``Retry-After``) is waited out within it,
at most 4 requests are in flight per mailbox; see :mod:`.http`.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from mailclean.connectors.base import ConnectorError, Credentials
from mailclean.connectors.graph.actions import _GraphActions
from mailclean.connectors.graph.errors import ErrorMapper, GraphError, TokenError, parse_retry_after
from mailclean.connectors.graph.folders import folder_identity
from mailclean.connectors.graph.items import attachments_from_json, message_from_json, size_of
from mailclean.connectors.graph.session import ROLE_FOLDERS, url_problems
from mailclean.connectors.graph.settings import (
    APP_ONLY,
    CERTIFICATE,
    CLIENT_SECRET,
    DEFAULT_AUTHORITY_URL,
    DEFAULT_GRAPH_URL,
    DEVICE_CODE,
    GRAPH_AUTH,
    TOKEN,
    GraphSettings,
)
from mailclean.connectors.graph.sync import _GraphSync
from mailclean.i18n import _
from mailclean.validation import did_you_mean, shown

__all__ = [
    "APP_ONLY",
    "DEFAULT_AUTHORITY_URL",
    "DEFAULT_GRAPH_URL",
    "GRAPH_AUTH",
    "ROLE_FOLDERS",
    "ErrorMapper",
    "GraphConnector",
    "GraphError",
    "GraphSettings",
    "TokenError",
    "attachments_from_json",
    "folder_identity",
    "message_from_json",
    "parse_retry_after",
    "size_of",
    "url_problems",
]


def _needs(auth: str) -> tuple[str, str] | None:
    """The account key a sign-in method needs, and what it is (for the message)."""
    if auth == CLIENT_SECRET:
        return "client_secret_env", _("the environment variable holding the secret")
    if auth == CERTIFICATE:
        return "certificate", _("a PEM file with the certificate and its private key")
    if auth == TOKEN:
        return "token_env", _("the environment variable holding the token")
    return None


class GraphConnector(_GraphActions, _GraphSync):
    """A mailbox in Exchange Online, through Microsoft Graph.

    Deletes are **DELETE** (to Recoverable Items, like EWS's SoftDelete) unless
    ``GraphSettings.hard_delete`` (**permanentDelete**): :attr:`delete_mode` says which.
    """

    kind: ClassVar[str] = "graph"
    sizes_are_mime: ClassVar[bool] = False
    """Exchange's item size counts stored properties: it is not the MIME length."""
    uses_password: ClassVar[bool] = False

    @classmethod
    def account_problems(cls, account: Any, where: str) -> list[str]:
        """Address, tenant, application, sign-in method and URLs of a "graph" entry."""
        out = []
        email = account.email or account.address
        if not email or "@" not in email:
            out.append(_("{where}: 'email' (the mailbox address) is missing").format(where=where))
        auth = account.auth or DEVICE_CODE
        if auth not in GRAPH_AUTH:
            out.append(_("{where}: auth must be one of {choices}, not {auth}{hint}").format(
                where=where, choices=", ".join(GRAPH_AUTH), auth=shown(account.auth),
                hint=did_you_mean(auth, GRAPH_AUTH)))
        elif auth != TOKEN:
            for key, what in (("tenant_id", _("the Directory (tenant) ID")),
                              ("client_id", _("the Application (client) ID"))):
                if not getattr(account, key, None):
                    out.append(_("{where}: '{key}' is missing ({what} of the app registration "
                                 "in Entra ID)").format(where=where, key=key, what=what))
        needs = _needs(auth)
        if needs is not None and not getattr(account, needs[0], None):
            out.append(_("{where}: auth = '{auth}' needs '{key}' ({what})").format(
                where=where, auth=auth, key=needs[0], what=needs[1]))
        urls = GraphSettings(email="", graph_url=account.graph_url,
                             authority_url=account.authority_url)
        # Not shown: a URL may carry a login and password.
        out += [f"{where}: {problem}" for problem in url_problems(urls)]
        return out

    @classmethod
    def from_account(cls, account: Any, credentials: Credentials) -> GraphConnector:
        """Build a connector from an ``[accounts]`` entry of kind "graph". The client
        secret or token is read from the environment variable the entry names; the MSAL
        token cache is kept through ``credentials`` (the keyring)."""
        auth = (account.auth or DEVICE_CODE).lower()
        secret = token = source = None
        if auth in (CLIENT_SECRET, TOKEN):
            var = account.client_secret_env if auth == CLIENT_SECRET else account.token_env
            source = _("the environment variable {var}").format(var=var)
            value = os.environ.get(var or "")
            if not value:
                raise ConnectorError(_(
                    "account '{name}' reads its {what} from the environment variable {var}, "
                    "which is not set").format(
                    name=account.name, var=var,
                    what=_("client secret") if auth == CLIENT_SECRET else _("token")))
            secret, token = (value, None) if auth == CLIENT_SECRET else (None, value)
        settings = GraphSettings(
            email=account.email or account.address or "",
            tenant_id=account.tenant_id,
            client_id=account.client_id,
            auth=auth,
            graph_url=account.graph_url or DEFAULT_GRAPH_URL,
            authority_url=account.authority_url or DEFAULT_AUTHORITY_URL,
            cafile=account.cafile,
            insecure_tls=bool(account.insecure_tls),
            client_secret=secret,
            certificate=os.path.expanduser(account.certificate) if account.certificate
            else None,
            token=token,
            account=account.name,
            secret_source=source,
        )
        return cls(settings, load_token=credentials.load_token,
                   save_token=credentials.save_token)

