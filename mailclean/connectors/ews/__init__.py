"""Exchange connector (exchangelib over EWS): folders with sizes, incremental sync.

What it asks of the server, and why:

- ``connect``: one GetFolder for Top of Information Store and the distinguished mail
  folders (their ids give the roles; names vary with the mailbox language). exchangelib's
  version probe (a ConvertId) comes first unless the settings name the version.
- ``list_folders``: one FindFolder, Deep under Top of Information Store, in pages of 1,000,
  with the counters and PidTagMessageSizeExtended (0x0E08, a 64-bit Long: folders over
  2 GiB stay exact). Folders that do not hold mail (calendar, contacts...) are left out.
- ``sync_folder``: SyncFolderItems with ids only and the largest page Exchange allows (512
  changes), then GetItem in chunks for the created and updated items, with exactly the
  properties mailclean indexes: never a body, attachments' metadata without content, and
  the internet headers (the list headers, Date, References... are read from them with
  :func:`mailclean.connectors.headers.meta_from_headers`, as for IMAP). SyncFolderItems
  cannot return attachments or headers (like FindItem), hence the GetItem. A read-state
  change only costs a GetItem of two properties per page.

The SyncFolderItems state of a folder is its ``FolderState.sync_token``; it is stored with
every page of changes, so an interrupted sync resumes from the last page applied (replaying
a page is harmless: every change in it is idempotent). Item ids are the server ids; each
message's ChangeKey goes in ``MessageMeta.change_key``. ``FolderState.uidvalidity`` holds a
32-bit digest of the folder's EWS id: a folder deleted and re-created under the same name is
a new folder (reset), while a renamed one keeps its digest, so :mod:`mailclean.sync` follows
the rename instead of fetching it again.

Actions (:mod:`mailclean.actions` drives them; every one acts on exactly the ids given):

- ``folder_validity``: one GetFolder of the folder's known id (re-listed when it is gone or
  renamed); the answer is the 31-bit digest of its id, so a folder deleted and re-created
  under the same name is another folder and its items are skipped as "reset".
- ``verify``: GetItem of the ids with only the ChangeKey, Size, InternetMessageId and
  ParentFolderId, :data:`ACTION_CHUNK` ids per request, read straight from the XML. Not
  found (or found in another folder) is "vanished"; another ChangeKey, size or Message-ID is
  "changed".
- ``move``: MoveItem in chunks; Exchange gives each moved item a new id, which is what
  :class:`MoveResult` carries (trash is Deleted Items, found by its distinguished id).
- ``delete``: DeleteItem, **SoftDelete** by default: the items leave the mailbox's folders
  (and its quota) for Recoverable Items, where the user or an admin can still recover them
  until the deleted item retention period ends (14 days unless the admin set otherwise).
  ``EwsSettings(hard_delete=True)`` sends **HardDelete** instead (purged at once, though a
  mailbox on litigation or in-place hold keeps them anyway). :attr:`EwsConnector.delete_mode`
  says which one was used. Read receipts are never sent for deleted unread messages.
- ``fetch``: GetItem of MimeContent for the exported items only, in requests of at most
  :data:`EXPORT_BYTES` of messages.
- ``locate``: FindItem with a restriction on InternetMessageId (an ``Or`` of ``IsEqualTo``),
  matched on size too; ``next_id`` is None (EWS ids are not ordered).
- ``create_folder``: CreateFolder, parents first (an undo into a folder deleted meanwhile).

Throttling: exchangelib retries ErrorServerBusy after the server's BackOffMilliseconds, within
a total wait of ``max_wait`` seconds per request; beyond it, :class:`ConnectionFailed` says
the server keeps refusing. A dropped connection is ConnectionFailed at once, which
:func:`mailclean.sync.sync_account` answers by reconnecting and resuming.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mailclean.connectors.base import Credentials as Secrets
from mailclean.connectors.ews.actions import _EwsActions
from mailclean.connectors.ews.folders import folder_identity
from mailclean.connectors.ews.items import message_from_item
from mailclean.connectors.ews.limits import (
    ACTION_CHUNK,
    EXPORT_BYTES,
    EXPORT_CHUNK,
    FETCH_CHUNK,
    FOLDER_PAGE,
    LOCATE_CHUNK,
    LOCATE_PAGE,
    SYNC_PAGE,
)
from mailclean.connectors.ews.properties import (
    HEADER_FIELDS,
    MessageSizeExtended,
    ProhibitReceiveQuota,
)
from mailclean.connectors.ews.services import (
    DeleteIds,
    FindIdentities,
    Identities,
    MimeContents,
    MoveIds,
    SyncIds,
)
from mailclean.connectors.ews.services import (
    _identity_from_xml as _identity_from_xml,  # tests/test_fuzz_parsers.py reads it
)
from mailclean.connectors.ews.session import ROLE_FOLDERS
from mailclean.connectors.ews.settings import AUTH_TYPES, DELETE_TYPES, EWS_AUTH, EwsSettings
from mailclean.connectors.ews.sync import _EwsSync
from mailclean.connectors.ews.transport import BoundedFaultTolerance, EwsHTTPAdapter
from mailclean.i18n import _
from mailclean.validation import did_you_mean, shown

__all__ = [
    "ACTION_CHUNK",
    "AUTH_TYPES",
    "DELETE_TYPES",
    "EWS_AUTH",
    "EXPORT_BYTES",
    "EXPORT_CHUNK",
    "FETCH_CHUNK",
    "FOLDER_PAGE",
    "HEADER_FIELDS",
    "LOCATE_CHUNK",
    "LOCATE_PAGE",
    "ROLE_FOLDERS",
    "SYNC_PAGE",
    "BoundedFaultTolerance",
    "DeleteIds",
    "EwsConnector",
    "EwsHTTPAdapter",
    "EwsSettings",
    "FindIdentities",
    "Identities",
    "MessageSizeExtended",
    "MimeContents",
    "MoveIds",
    "ProhibitReceiveQuota",
    "SyncIds",
    "folder_identity",
    "message_from_item",
]


class EwsConnector(_EwsActions, _EwsSync):
    """A mailbox on Exchange, through EWS.

    Permanent deletes are **SoftDelete** unless ``EwsSettings.hard_delete``:
    :attr:`delete_mode` says which ("soft": the items left the mailbox's folders and its
    quota but stay recoverable in Recoverable Items for the retention period; "hard":
    purged), so that a freed count can say what the bytes became.
    """

    kind: ClassVar[str] = "ews"
    sizes_are_mime: ClassVar[bool] = False
    """Exchange's item size counts stored properties: it is never the MIME length."""
    uses_password = True

    @classmethod
    def account_problems(cls, account: Any, where: str) -> list[str]:
        """URL, address and sign-in method of an "ews" entry."""
        out = []
        url = (account.ews_url or "").strip()
        if not url:
            out.append(
                _("{where}: 'ews_url' is missing (a URL, or 'autodiscover')").format(where=where)
            )
        elif url.lower() != "autodiscover" and not url.lower().startswith(
            ("https://", "http://")
        ):
            # Not shown: a URL may carry a login and password.
            out.append(_(
                "{where}: ews_url must be an http(s) URL such as "
                "https://mail.example.org/EWS/Exchange.asmx, or 'autodiscover'"
            ).format(where=where))
        if not account.email or "@" not in account.email:
            out.append(
                _("{where}: 'email' (the mailbox address) is missing").format(where=where)
            )
        auth = account.auth or "ntlm"
        if auth not in EWS_AUTH:
            out.append(_("{where}: auth must be one of {choices}, not {auth}{hint}").format(
                where=where, choices=", ".join(EWS_AUTH), auth=shown(account.auth),
                hint=did_you_mean(auth, EWS_AUTH)))
        if auth == "oauth2" and not (account.client_id and account.tenant_id):
            out.append(
                _("{where}: auth = 'oauth2' needs 'client_id' and 'tenant_id'").format(where=where)
            )
        return out

    @classmethod
    def from_account(cls, account: Any, credentials: Secrets) -> EwsConnector:
        """Build a connector from an ``[accounts]`` entry of kind "ews"; the credentials'
        password is the password (NTLM, Basic) or the application's client secret
        (OAuth2), whose token is kept through the credentials too."""
        oauth2 = (account.auth or "").lower() == "oauth2"
        password = credentials.password
        return cls(
            EwsSettings(
                oauth2_token=credentials.load_token() if oauth2 else None,
                email=account.email or account.address or "",
                ews_url=account.ews_url,
                user=account.user,
                password=password(),
                auth=(account.auth or "ntlm").lower(),
                client_id=account.client_id,
                tenant_id=account.tenant_id,
                insecure_tls=account.insecure_tls,
                cafile=account.cafile,
            ),
            on_token=credentials.save_token if oauth2 else None,
        )
