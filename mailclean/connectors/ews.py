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

import base64
import binascii
import contextlib
import re
import threading
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
import requests.adapters
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    FaultTolerance,
    Identity,
    OAuth2AuthorizationCodeCredentials,
    OAuth2Credentials,
    Version,
)
from exchangelib import errors as ews_errors
from exchangelib.extended_properties import ExtendedProperty, Flag
from exchangelib.fields import FieldPath
from exchangelib.folders import (
    DeletedItems,
    Drafts,
    Folder,
    Inbox,
    JunkEmail,
    MsgFolderRoot,
    Root,
    SentItems,
)
from exchangelib.folders.queryset import DEEP, SHALLOW
from exchangelib.folders.roots import RootOfHierarchy
from exchangelib.items import (
    ALL_OCCURRENCES,
    HARD_DELETE,
    ID_ONLY,
    SEND_TO_NONE,
    SOFT_DELETE,
    Message,
)
from exchangelib.properties import DistinguishedFolderId, FolderId, Mailbox
from exchangelib.protocol import BaseProtocol, Protocol
from exchangelib.restriction import Q, Restriction
from exchangelib.services import (
    CreateFolder,
    DeleteItem,
    FindFolder,
    FindItem,
    GetFolder,
    GetItem,
    MoveItem,
    SyncFolderItems,
)
from exchangelib.transport import BASIC, NOAUTH, NTLM, OAUTH2
from exchangelib.util import MNS, TNS, create_element
from urllib3.exceptions import InsecureRequestWarning

from mailclean import mime
from mailclean.connectors.base import (
    CHANGED,
    RESET,
    VANISHED,
    AuthenticationError,
    Change,
    ConnectionFailed,
    Connector,
    ConnectorError,
    FlagsChanged,
    FolderNotFound,
    FolderReset,
    FolderSynced,
    MailboxNotFound,
    MessagesAdded,
    MessagesRemoved,
    MoveResult,
    TLSError,
)
from mailclean.connectors.base import Credentials as Secrets
from mailclean.connectors.headers import meta_from_headers
from mailclean.i18n import _
from mailclean.model import (
    AttachmentMeta,
    FolderInfo,
    FolderState,
    ItemRef,
    MessageMeta,
    Quota,
    folder_role,
)
from mailclean.validation import did_you_mean, shown

#: SyncFolderItems changes per request: the most the EWS schema allows.
SYNC_PAGE = 512
#: Items per GetItem request. Larger chunks mean fewer round trips; each item with its
#: headers weighs 2-5 KB of XML, so 256 keeps a response around a megabyte.
FETCH_CHUNK = 256
#: Folders per FindFolder page.
FOLDER_PAGE = 1000
#: Item ids per GetItem (identity check), MoveItem and DeleteItem request of an action.
#: Exchange takes about 1,000 ids per request; 500 is where the loopback measurements stop
#: improving (bench/ews_actions.py: 100, 250, 500) while keeping each answer small.
ACTION_CHUNK = 500
#: Bytes of messages per GetItem of MimeContent (an export): the XML carries them in base64,
#: a third more. A larger message goes alone.
EXPORT_BYTES = 8 * 2**20
#: Messages per GetItem of MimeContent, whatever their size.
EXPORT_CHUNK = 100
#: Message-IDs per FindItem restriction when looking for moved messages (undo, reconcile).
LOCATE_CHUNK = 50
#: Items per FindItem page when looking for them.
LOCATE_PAGE = 1000

#: ``EwsSettings.hard_delete`` -> the DeleteItem type sent, by :attr:`EwsConnector.delete_mode`.
DELETE_TYPES = {"soft": SOFT_DELETE, "hard": HARD_DELETE}

AUTH_TYPES = ("ntlm", "basic", "oauth2", "none")
_AUTH = {"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2, "none": NOAUTH}

#: Distinguished folders whose id gives a role (Exchange has no distinguished "archive"
#: folder on premises: that role comes from the folder's name).
ROLE_FOLDERS = {
    Inbox: "inbox",
    SentItems: "sent",
    Drafts: "drafts",
    DeletedItems: "trash",
    JunkEmail: "junk",
}

#: The header fields read from InternetMessageHeaders (the rest is dropped unparsed).
HEADER_FIELDS = frozenset(
    (
        "from",
        "to",
        "date",
        "subject",
        "message-id",
        "in-reply-to",
        "references",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "precedence",
        "auto-submitted",
        "feedback-id",
        "x-mailer",
    )
)


class MessageSizeExtended(ExtendedProperty):
    """PidTagMessageSizeExtended: a folder's total size in bytes, 64-bit."""

    property_tag = 0x0E08
    property_type = "Long"


class ProhibitReceiveQuota(ExtendedProperty):
    """PidTagProhibitReceiveQuota (KiB) on the mailbox root: the hard quota, when set."""

    property_tag = 0x666A
    property_type = "Integer"


def _register() -> None:
    # exchangelib parses extended properties only once they are registered on the class.
    for cls, name, prop in (
        (Folder, "mailclean_size", MessageSizeExtended),
        (RootOfHierarchy, "mailclean_quota", ProhibitReceiveQuota),
        (Message, "mailclean_flag", Flag),
    ):
        if name not in {f.name for f in cls.FIELDS}:
            cls.register(name, prop)


_register()

#: What GetItem asks for: never the body nor attachment content.
_ITEM_FIELDS = (
    "datetime_received",
    "datetime_sent",
    "size",
    "is_read",
    "mailclean_flag",
    "has_attachments",
    "attachments",
    "headers",
    "subject",
    "author",
    "message_id",
    "in_reply_to",
    "references",
    "display_to",
)
_FLAG_FIELDS = ("is_read", "mailclean_flag")
_FOLDER_FIELDS = ("name", "folder_class", "parent_folder_id", "total_count", "mailclean_size")
_FLAGGED = 2  # PidTagFlagStatus: 1 is "complete", 2 "flagged for follow-up"


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


# -- TLS: certificate checks per endpoint -------------------------------------------------------

_TLS_POLICIES: dict[str, bool | str] = {}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class EwsHTTPAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter, with each endpoint's own certificate check and faster
    response reading.

    exchangelib mounts one adapter class for every server (``HTTP_ADAPTER_CLS``); its
    ``NoVerifyHTTPAdapter`` would turn verification off for all of them. This one turns it
    off (or points it to a CA file) only for the endpoints registered in ``_TLS_POLICIES``
    and verifies everything else as usual.

    exchangelib also feeds every response to its XML parser through
    ``response.iter_content()``, whose default chunk is one byte: about a second of CPU per
    3 MB of XML, more than the parsing itself. Responses built here iterate in 64 KiB chunks.
    """

    def _verify(self, url: str, verify: bool | str) -> bool | str:
        return _TLS_POLICIES.get(_origin(url), verify)

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """Apply the endpoint's policy."""
        super().cert_verify(conn, url, self._verify(url, verify), cert)

    def get_connection_with_tls_context(
        self, request: Any, verify: bool | str, proxies: Any = None, cert: Any = None
    ) -> Any:
        """Apply the endpoint's policy (requests >= 2.32.3)."""
        return super().get_connection_with_tls_context(
            request, self._verify(request.url, verify), proxies=proxies, cert=cert
        )

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        """A response whose ``iter_content()`` reads 64 KiB at a time by default."""
        response = super().build_response(req, resp)
        iter_content = response.iter_content

        def chunks(chunk_size: int | None = 65536, decode_unicode: bool = False) -> Any:
            if decode_unicode:
                return iter_content(chunk_size=chunk_size, decode_unicode=True)
            return iter_content(chunk_size=chunk_size)

        response.iter_content = chunks  # type: ignore[method-assign]
        return response


def _install_adapter() -> None:
    # Only replace the stock adapter: an application that set its own keeps it.
    if BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter:
        BaseProtocol.HTTP_ADAPTER_CLS = EwsHTTPAdapter


# -- throttling ---------------------------------------------------------------------------------


class BoundedFaultTolerance(FaultTolerance):
    """exchangelib's FaultTolerance with a bounded *total* wait, and 401 read right.

    FaultTolerance checks each back-off against ``max_wait`` on its own, so a server that
    keeps answering ErrorServerBusy with a short BackOffMilliseconds is retried forever.
    Here the back-offs since the last good answer add up, and past ``max_wait``
    RateLimitError ends the request. Exchange may also answer 401 to slow a client down,
    which FaultTolerance retries: before any good answer a 401 means wrong credentials.
    """

    def __init__(self, max_wait: float) -> None:
        super().__init__(max_wait=max_wait)
        self.waited = 0.0
        self.answered = False

    def back_off(self, seconds: float | None) -> None:
        """Wait ``seconds`` before the next request, unless patience is exhausted."""
        wait = self.DEFAULT_BACKOFF if seconds is None else seconds
        if self.waited + wait > self.max_wait:
            raise ews_errors.RateLimitError("Max timeout reached", wait=self.waited + wait)
        self.waited += wait
        super().back_off(wait)

    def raise_response_errors(self, response: requests.Response) -> None:
        """As FaultTolerance; a 401 before the first good answer is a login failure."""
        if response.status_code == 401 and not self.answered:
            raise ews_errors.UnauthorizedError(f"Invalid credentials for {response.url}")
        super().raise_response_errors(response)
        if response.status_code == 200:
            self.answered = True
            self.waited = 0.0


# -- the connector ------------------------------------------------------------------------------


#: How an EWS account signs in.
EWS_AUTH = ("ntlm", "basic", "oauth2")


class EwsConnector(Connector):
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

    def __init__(
        self,
        settings: EwsSettings,
        *,
        on_token: Callable[[dict], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_token = on_token
        """Called with a refreshed OAuth2 token, to keep it (in the keyring)."""
        self.account: Account | None = None
        self._config: Configuration | None = None
        self._root: Root | None = None
        self._msg_root: Folder | None = None
        self._roles: dict[str, str] = {}
        self._folders: dict[str, Folder] = {}
        self._mailbox_bytes: int | None = None
        self._version: Version | None = None
        """The server version found at the first connect: reconnections skip the probe."""

    @property
    def server_build(self) -> tuple[int, int, int, int] | None:
        """The server's build (major, minor, build, revision) found at the first connect;
        a connector for another mailbox of the same server can skip the probe with it."""
        build = getattr(self._version, "build", None)
        if build is None:
            return None
        return (build.major_version, build.minor_version, build.major_build,
                build.minor_build)

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

    # -- session ----------------------------------------------------------------------------

    def credentials(self) -> Any:
        """The exchangelib credentials object for the settings."""
        s = self.settings
        if s.auth not in AUTH_TYPES:
            raise ConnectorError(
                _("unknown authentication '{auth}' (choose one of {choices})").format(
                    auth=s.auth, choices=", ".join(AUTH_TYPES)
                )
            )
        if s.auth == "oauth2":
            if not s.client_id:
                raise ConnectorError(_("OAuth2 needs the application's client id"))
            identity = Identity(primary_smtp_address=s.email)
            if s.oauth2_token:
                return _TokenKeepingCredentials(
                    self.on_token,
                    client_id=s.client_id,
                    client_secret=s.password,
                    tenant_id=s.tenant_id,
                    identity=identity,
                    access_token=s.oauth2_token,
                )
            return OAuth2Credentials(
                client_id=s.client_id,
                client_secret=s.password or "",
                tenant_id=s.tenant_id,
                identity=identity,
            )
        return Credentials(s.user or s.email, s.password or "")

    def configuration(self) -> Configuration:
        """The exchangelib Configuration: endpoint, auth type, bounded retries."""
        s = self.settings
        version = Version(build=Build(*s.version)) if s.version else self._version
        return Configuration(
            service_endpoint=None if s.autodiscover else s.ews_url,
            credentials=self.credentials(),
            auth_type=_AUTH[s.auth],
            version=version,
            retry_policy=BoundedFaultTolerance(max_wait=s.max_wait),
            max_connections=1,
        )

    def connect(self) -> None:
        """Open the mailbox and read the ids of its distinguished folders (one request,
        which also proves the credentials)."""
        s = self.settings
        self.close()
        _install_adapter()
        if not s.autodiscover:
            origin = _origin(s.ews_url or "")
            if s.insecure_tls or s.cafile:
                _TLS_POLICIES[origin] = False if s.insecure_tls else str(s.cafile)
            else:
                _TLS_POLICIES.pop(origin, None)
            if s.insecure_tls:
                # The user chose this for this server: urllib3 need not say so per request.
                host = re.escape(urlsplit(s.ews_url or "").hostname or "")
                warnings.filterwarnings(
                    "ignore", message=f".*host '{host}'", category=InsecureRequestWarning
                )
        with self._errors(connecting=True):
            config = self.configuration()
            if config.service_endpoint:
                # exchangelib caches one Protocol per endpoint and credentials, with the retry
                # policy it was first given: start from a fresh one.
                with contextlib.suppress(KeyError):
                    del Protocol[config]
            access = (
                IMPERSONATION
                if s.impersonation or (s.auth == "oauth2" and not s.oauth2_token)
                else DELEGATE
            )
            account = Account(
                primary_smtp_address=s.email,
                access_type=access,
                autodiscover=s.autodiscover,
                config=config,
                default_timezone=EWSTimeZone("UTC"),
            )
            account.protocol.TIMEOUT = s.timeout
            self.account = account
            self._version = account.version
            self._config = account.protocol.config
            self._root = Root(
                account=account,
                _distinguished_id=DistinguishedFolderId(
                    id=Root.DISTINGUISHED_FOLDER_ID, mailbox=Mailbox(email_address=s.email)
                ),
            )
            self._read_roles()

    def _read_roles(self) -> None:
        account, root = self._account, self._root
        self._msg_root = None
        self._folders = {}
        wanted = [MsgFolderRoot, *ROLE_FOLDERS]
        folders = [
            cls(
                _distinguished_id=DistinguishedFolderId(
                    id=cls.DISTINGUISHED_FOLDER_ID,
                    mailbox=Mailbox(email_address=self.settings.email),
                ),
                root=root,
            )
            for cls in wanted
        ]
        found = list(
            GetFolder(account=account).call(folders=folders, additional_fields=set(), shape=ID_ONLY)
        )
        self._roles = {}
        for cls, folder in zip(wanted, found, strict=True):
            if isinstance(folder, ews_errors.ErrorFolderNotFound):
                continue
            if isinstance(folder, Exception):
                raise folder
            if cls is MsgFolderRoot:
                self._msg_root = folder
            else:
                self._roles[folder.id] = ROLE_FOLDERS[cls]
        if self._msg_root is None:
            raise ConnectorError(
                _("{email}: the mailbox has no message folder root").format(
                    email=self.settings.email
                )
            )

    def close(self) -> None:
        """Close the HTTP sessions; never raises."""
        account, self.account = self.account, None
        if account is None:
            return
        with contextlib.suppress(Exception):
            protocol = account.protocol
            protocol.close()
            config = self._config
            if config is not None and config.service_endpoint and Protocol[config][0] is protocol:
                del Protocol[config]

    @property
    def _account(self) -> Account:
        if self.account is None:
            raise ConnectionFailed(_("not connected"))
        return self.account

    def _errors(self, *, connecting: bool = False) -> _ErrorMapper:
        return _ErrorMapper(self.settings, connecting)

    # -- folders ----------------------------------------------------------------------------

    def list_folders(self) -> list[FolderInfo]:
        """Every mail folder under Top of Information Store, with role, count and size."""
        with self._errors():
            return self._list_folders()

    def _list_folders(self) -> list[FolderInfo]:
        account, msg_root = self._account, self._msg_root
        assert msg_root is not None
        fields = {FieldPath(field=Folder.get_field_by_fieldname(n)) for n in _FOLDER_FIELDS}
        found = [
            f
            for f in FindFolder(account=account, page_size=FOLDER_PAGE).call(
                folders=[msg_root],
                additional_fields=fields,
                restriction=None,
                shape=ID_ONLY,
                depth=DEEP,
                max_items=None,
                offset=0,
            )
        ]
        for f in found:
            if isinstance(f, Exception):
                raise f
        by_id = {f.id: f for f in found}
        self._mailbox_bytes = sum(getattr(f, "mailclean_size", None) or 0 for f in found)
        infos: list[FolderInfo] = []
        self._folders = {}
        for f in found:
            if not _is_mail_folder(f.folder_class):
                continue
            names: list[str] = []
            node = f
            while node is not None:
                names.append(node.name or "")
                parent_id = node.parent_folder_id.id if node.parent_folder_id else None
                node = by_id.get(parent_id) if parent_id != msg_root.id else None
            path = "/".join(reversed(names))
            if path in self._folders:
                # Two folders with one path (a "/" inside a name): keep them apart.
                path = f"{path} [{folder_identity(f.id):08x}]"
            role = self._roles.get(f.id)
            if role is None and len(names) == 1 and folder_role(path, "/", ()) == "archive":
                role = "archive"
            self._folders[path] = f
            infos.append(
                FolderInfo(
                    path=path,
                    delimiter="/",
                    role=role,
                    uidvalidity=folder_identity(f.id),
                    messages=f.total_count,
                    bytes=getattr(f, "mailclean_size", None),
                )
            )
        infos.sort(key=lambda i: i.path)
        return infos

    def quota(self) -> Quota | None:
        """The mailbox's hard quota (PidTagProhibitReceiveQuota on the root) against the sum
        of its folders' sizes; None when the server does not say."""
        with self._errors():
            root = Root.get_distinguished(account=self._account)
            limit = getattr(root, "mailclean_quota", None)
            if not limit:
                return None
            if self._mailbox_bytes is None:
                self._list_folders()
            return Quota(used=self._mailbox_bytes or 0, limit=int(limit) * 1024, root="")

    # -- sync -------------------------------------------------------------------------------

    def sync_folder(
        self,
        folder: FolderInfo,
        state: FolderState,
        known_ids: Callable[[], set[str]],
    ) -> Iterator[Change]:
        """Yield the changes since ``state``: see :meth:`Connector.sync_folder`."""
        with self._errors():
            yield from self._sync_folder(folder, state)

    def _folder(self, path: str) -> Folder:
        found = self._folders.get(path)
        if found is None:
            self._list_folders()
            found = self._folders.get(path)
        if found is None:
            raise FolderNotFound(
                _("no folder '{path}' in the mailbox {email}").format(
                    path=path, email=self.settings.email
                )
            )
        return found

    def _sync_folder(self, info: FolderInfo, state: FolderState) -> Iterator[Change]:
        ews_folder = self._folder(info.path)
        identity = folder_identity(ews_folder.id)
        if (state.uidvalidity is not None and state.uidvalidity != identity) or (
            state.sync_token is None and state.indexed > 0
        ):
            # Another folder under the same name, or rows without a sync state: start over.
            state = FolderState(uidvalidity=identity)
            yield FolderReset(state)
        state = replace(state, uidvalidity=identity)
        reset_once = False
        while True:
            try:
                changes, token, last = self._sync_page(ews_folder.id, state.sync_token)
            except ews_errors.ErrorInvalidSyncStateData:
                if reset_once:
                    raise
                reset_once = True
                state = FolderState(uidvalidity=identity)
                yield FolderReset(state)
                continue
            fetch: dict[str, None] = {}
            removed: dict[str, None] = {}
            read: dict[str, bool] = {}
            for kind, item_id, is_read in changes:
                if kind in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                    fetch[item_id] = None
                    removed.pop(item_id, None)
                elif kind == SyncFolderItems.DELETE:
                    removed[item_id] = None
                    fetch.pop(item_id, None)
                    read.pop(item_id, None)
                elif kind == SyncFolderItems.READ_FLAG_CHANGE:
                    read[item_id] = bool(is_read)
            read = {k: v for k, v in read.items() if k not in fetch}
            messages = self._fetch_messages(ews_folder, list(fetch))
            state = replace(state, sync_token=token)
            if removed:
                yield MessagesRemoved(list(removed))
            if read:
                yield FlagsChanged(self._fetch_flags(ews_folder, read))
            yield MessagesAdded(messages, state)
            if last:
                break
        yield FolderSynced(state, info.messages, info.bytes)

    def _sync_page(self, folder_id: str, token: str | None) -> tuple[list, str | None, bool]:
        svc = SyncIds(account=self._account)
        changes = list(
            svc.call(
                folder=FolderId(id=folder_id),
                shape=ID_ONLY,
                additional_fields=set(),
                sync_state=token,
                ignore=None,
                max_changes_returned=self.settings.page_size,
                sync_scope=None,
            )
        )
        for change in changes:
            if isinstance(change, Exception):
                raise change
        last = bool(svc.includes_last_item_in_range) or svc.sync_state == token
        return changes, svc.sync_state, last

    def _fetch(self, folder: Folder, ids: list[str], fields: tuple[str, ...]) -> Iterator[Any]:
        if not ids:
            return
        for item in self._account.fetch(
            ids=[(i, None) for i in ids],
            folder=folder,
            only_fields=list(fields),
            chunk_size=self.settings.fetch_chunk,
        ):
            # An item deleted since the sync page was read: its Delete comes next time.
            if isinstance(item, ews_errors.ErrorItemNotFound):
                continue
            if isinstance(item, Exception):
                raise item
            yield item

    def _fetch_messages(self, folder: Folder, ids: list[str]) -> list[MessageMeta]:
        return [message_from_item(item) for item in self._fetch(folder, ids, _ITEM_FIELDS)]

    def _fetch_flags(self, folder: Folder, read: dict[str, bool]) -> list[tuple[str, bool, bool]]:
        return [
            (item.id, bool(item.is_read), getattr(item, "mailclean_flag", None) == _FLAGGED)
            for item in self._fetch(folder, list(read), _FLAG_FIELDS)
        ]

    # -- actions ----------------------------------------------------------------------------

    @property
    def delete_mode(self) -> str:
        """How :meth:`delete` removes items: "soft" (SoftDelete: out of the folders and the
        mailbox quota, recoverable from Recoverable Items until the retention period ends)
        or "hard" (HardDelete: purged)."""
        return "hard" if self.settings.hard_delete else "soft"

    def folder_validity(self, folder: str) -> int | None:
        """The digest of the folder's EWS id (:func:`folder_identity`), checked on the server
        with one GetFolder. Raises FolderNotFound when no folder has that path any more."""
        with self._errors():
            return folder_identity(self._live_folder(folder).id)

    def next_id(self, folder: str) -> str | None:
        """None: EWS item ids are not ordered (a move answers with the new ids instead)."""
        return None

    def verify(self, folder: str, validity: int | None, refs: list[ItemRef]) -> dict[str, str]:
        """Same folder identity, and for each item id the same ChangeKey (when the index has
        one), size and Message-ID, in the folder: one GetItem per :data:`ACTION_CHUNK` ids."""
        with self._errors():
            ews_folder = self._folder(folder)
            if validity is not None and folder_identity(ews_folder.id) != validity:
                return {r.server_id: RESET for r in refs}
            found = self._identities([r.server_id for r in refs])
        problems: dict[str, str] = {}
        mailbox = self.settings.email.lower()
        for r in refs:
            got = found.get(r.server_id)
            if got is None or got.parent != ews_folder.id:
                problems[r.server_id] = VANISHED
            elif (
                r.change_key is not None
                and got.change_key != r.change_key
                and not _OWN_MOVES.explains(mailbox, r.server_id, r.change_key, got.change_key)
            ) or (got.size, got.message_id) != (r.size, r.message_id):
                problems[r.server_id] = CHANGED
        return problems

    def move(self, folder: str, refs: list[ItemRef], target: str) -> MoveResult:
        """MoveItem of exactly ``refs`` to ``target``; the new id of each item moved."""
        mailbox = self.settings.email.lower()
        moved: dict[str, str | None] = {}
        keys: dict[str, str] = {}
        with self._errors():
            destination = self._folder(target)
            results = MoveIds(account=self._account, chunk_size=self.settings.action_chunk).call(
                items=[(r.server_id, None) for r in refs], to_folder=destination
            )
            for r, result in zip(refs, results, strict=True):
                if isinstance(result, Exception):
                    # This item only (gone meanwhile, or refused): not reported as moved,
                    # the caller checks what became of it.
                    continue
                new_id, new_key = result if isinstance(result, tuple) else (None, None)
                moved[r.server_id] = new_id
                if new_key:
                    keys[r.server_id] = new_key
                if new_id is not None:
                    held = r.change_key or _OWN_MOVES.index_key(mailbox, r.server_id)
                    _OWN_MOVES.record(mailbox, new_id, held, new_key, r.server_id)
        return MoveResult(
            moved, target_validity=folder_identity(destination.id), change_keys=keys
        )

    def delete(self, folder: str, refs: list[ItemRef]) -> list[str]:
        """DeleteItem of exactly ``refs``: SoftDelete, or HardDelete with ``hard_delete``
        (see :attr:`delete_mode`); no read receipt is sent. The ids removed."""
        with self._errors():
            results = DeleteIds(account=self._account, chunk_size=self.settings.action_chunk).call(
                items=[(r.server_id, None) for r in refs],
                delete_type=DELETE_TYPES[self.delete_mode],
                send_meeting_cancellations=SEND_TO_NONE,
                affected_task_occurrences=ALL_OCCURRENCES,
                suppress_read_receipts=True,
            )
            # An error for one item (gone meanwhile, refused) leaves it out of the answer:
            # the caller checks what became of it.
            removed = [
                r.server_id for r, result in zip(refs, results, strict=True) if result is True
            ]
        return removed

    def fetch(self, folder: str, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        """MimeContent of each ref still there, in order, a few MB per GetItem."""
        with self._errors():
            batch: list[ItemRef] = []
            weight = 0
            for r in refs:
                if batch and (weight + r.size > EXPORT_BYTES or len(batch) >= EXPORT_CHUNK):
                    yield from self._mime(batch)
                    batch, weight = [], 0
                batch.append(r)
                weight += r.size
            if batch:
                yield from self._mime(batch)

    def locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        """Find in ``folder`` an item with each ref's Message-ID and size: FindItem with a
        restriction on InternetMessageId, :data:`LOCATE_CHUNK` Message-IDs per request.

        MoveItem never leaves the original behind, so a ref whose own id still exists
        somewhere else was not moved, and nothing is looked for it (another copy would not be
        ours). Among equal candidates (duplicates), the item this process made by moving
        that very ref comes first, items it made from other messages last. ``floor`` is
        ignored: EWS ids are not ordered (:meth:`next_id` gives None).
        """
        found: dict[str, str] = {}
        mailbox = self.settings.email.lower()
        with self._errors():
            ews_folder = self._folder(folder)
            wanted = [r for r in refs if r.message_id]
            if not wanted:
                return found
            still = self._identities([r.server_id for r in wanted])
            search: list[ItemRef] = []
            for r in wanted:
                got = still.get(r.server_id)
                if got is None:
                    search.append(r)
                elif got.parent == ews_folder.id and (got.size, got.message_id) == (
                    r.size,
                    r.message_id,
                ):
                    found[r.server_id] = r.server_id
            taken = set(found.values())
            for start in range(0, len(search), LOCATE_CHUNK):
                chunk = search[start : start + LOCATE_CHUNK]
                candidates: dict[tuple[str | None, int | None], list[str]] = {}
                for item_id, size, message_id in self._find_by_message_id(
                    ews_folder, {r.message_id for r in chunk if r.message_id}
                ):
                    candidates.setdefault((message_id, size), []).append(item_id)
                for r in chunk:
                    ids = [i for i in candidates.get((r.message_id, r.size), []) if i not in taken]
                    rank = {i: _preference(_OWN_MOVES.source(mailbox, i), r) for i in ids}
                    ids.sort(key=rank.__getitem__)
                    if ids:
                        found[r.server_id] = ids[0]
                        taken.add(ids[0])
        return found

    def create_folder(self, path: str) -> None:
        """CreateFolder for ``path`` and any missing parent, under Top of Information Store."""
        with self._errors():
            self._list_folders()
            parent: Folder | None = self._msg_root
            names = path.split("/")
            for depth, name in enumerate(names, start=1):
                here = "/".join(names[:depth])
                existing = self._folders.get(here)
                if existing is not None:
                    parent = existing
                    continue
                assert parent is not None
                spec = Folder(parent=parent, name=name, folder_class="IPF.Note")
                (created,) = CreateFolder(account=self._account).call(
                    parent_folder=parent, folders=[spec]
                )
                if isinstance(created, ews_errors.ErrorFolderExists):
                    # Made meanwhile by someone else: use theirs.
                    self._list_folders()
                    parent = self._folder(here)
                    continue
                if isinstance(created, Exception):
                    raise created
                parent = created
            self._list_folders()

    def _live_folder(self, path: str) -> Folder:
        """The folder at ``path`` as the server has it now: the known id checked with one
        GetFolder, the folders listed again when it is gone or has another name."""
        known = self._folders.get(path)
        if known is not None:
            field = FieldPath(field=Folder.get_field_by_fieldname("name"))
            (answer,) = GetFolder(account=self._account).call(
                folders=[known], additional_fields={field}, shape=ID_ONLY
            )
            if isinstance(answer, Exception) and not isinstance(
                answer, ews_errors.ErrorFolderNotFound | ews_errors.ErrorItemNotFound
            ):
                raise answer
            if not isinstance(answer, Exception) and answer.name == path.rsplit("/", 1)[-1]:
                return known
        self._list_folders()
        return self._folder(path)

    def _identities(self, ids: list[str]) -> dict[str, _Identity]:
        """What the server holds under each id (absent: no such item)."""
        out: dict[str, _Identity] = {}
        if not ids:
            return out
        service = Identities(account=self._account, chunk_size=self.settings.action_chunk)
        for item_id, answer in zip(
            ids,
            service.call(
                items=[(i, None) for i in ids], additional_fields=_IDENTITY_FIELDS, shape=ID_ONLY
            ),
            strict=True,
        ):
            if isinstance(answer, _ITEM_GONE):
                continue
            if isinstance(answer, Exception):
                # Unreadable (ErrorItemCorrupt...): there, but never the item the index knew.
                answer = _Identity(item_id, None, None, None, None)
            out[item_id] = answer
        return out

    def _mime(self, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        service = MimeContents(account=self._account, chunk_size=len(refs))
        for r, answer in zip(
            refs,
            service.call(
                items=[(r.server_id, None) for r in refs],
                additional_fields=_MIME_FIELDS,
                shape=ID_ONLY,
            ),
            strict=True,
        ):
            if isinstance(answer, Exception):
                # Gone meanwhile, or Exchange cannot convert it to MIME (it happens): left
                # out, so it is neither in the export nor removed after it.
                continue
            yield r.server_id, answer

    def _find_by_message_id(
        self, folder: Folder, message_ids: Iterable[str]
    ) -> Iterator[tuple[str, int | None, str | None]]:
        """``(item id, size, normalized Message-ID)`` of the items of ``folder`` whose
        InternetMessageId is one of ``message_ids`` (as the index writes them, without
        brackets: both spellings are asked)."""
        values = sorted({v for m in message_ids for v in (f"<{m}>", m)})
        if not values:
            return
        restriction = Restriction(
            Q(message_id__in=values), folders=[folder], applies_to=Restriction.ITEMS
        )
        service = FindIdentities(account=self._account, page_size=LOCATE_PAGE)
        for answer in service.call(
            folders=[folder],
            additional_fields=_IDENTITY_FIELDS,
            restriction=restriction,
            order_fields=None,
            shape=ID_ONLY,
            query_string=None,
            depth=SHALLOW,
            calendar_view=None,
            max_items=None,
            offset=0,
        ):
            if isinstance(answer, Exception):
                raise answer
            yield answer.item_id, answer.size, answer.message_id


class SyncIds(SyncFolderItems):
    """SyncFolderItems for an IdOnly shape: each change as ``(kind, item id, is_read)``.

    exchangelib turns every Create and Update into a full Message object, walking its sixty
    fields for an element that holds one ItemId: a third of a sync's CPU, for nothing.
    """

    _ITEM_ID = f"{{{TNS}}}ItemId"
    _IS_READ = f"{{{TNS}}}IsRead"

    def _elem_to_obj(self, elem: Any) -> tuple[str, str, bool | None]:
        kind = self.change_types_map.get(elem.tag)
        holder = elem if kind in (self.READ_FLAG_CHANGE, self.DELETE) else next(iter(elem), None)
        ident = holder.find(self._ITEM_ID) if holder is not None else None
        item_id = ident.get("Id") if ident is not None else None
        if kind is None or not item_id:
            # exchangelib would trip over it too (KeyError, IndexError, AttributeError).
            raise ews_errors.MalformedResponseError(f"a sync change without an item id: {elem.tag}")
        if kind == self.READ_FLAG_CHANGE:
            is_read = (elem.findtext(self._IS_READ) or "").strip().lower() == "true"
            return kind, item_id, is_read
        return kind, item_id, None


@dataclass(frozen=True, slots=True)
class _Identity:
    """What the server says of one item, enough to tell whether it is the one indexed."""

    item_id: str
    change_key: str | None
    size: int | None
    message_id: str | None
    """Normalized (:func:`mailclean.mime.normalize_message_id`), as the index stores it."""
    parent: str | None


_T_ITEM_ID = f"{{{TNS}}}ItemId"
_T_PARENT = f"{{{TNS}}}ParentFolderId"
_T_SIZE = f"{{{TNS}}}Size"
_T_MESSAGE_ID = f"{{{TNS}}}InternetMessageId"
_T_MIME = f"{{{TNS}}}MimeContent"


def _identity_from_xml(elem: Any) -> _Identity:
    ident = elem.find(_T_ITEM_ID)
    parent = elem.find(_T_PARENT)
    size = (elem.findtext(_T_SIZE) or "").strip()
    return _Identity(
        item_id=(ident.get("Id") or "") if ident is not None else "",
        change_key=ident.get("ChangeKey") if ident is not None else None,
        size=int(size) if size.isascii() and size.isdigit() and len(size) < 19 else None,
        message_id=mime.normalize_message_id(elem.findtext(_T_MESSAGE_ID)),
        parent=parent.get("Id") if parent is not None else None,
    )


_M_ITEM_IDS = f"{{{MNS}}}ItemIds"


def _item_ids(items: Iterable[tuple[str, str | None]]) -> Any:
    """An ``m:ItemIds`` element written directly: exchangelib builds an ItemId object per id
    and walks its fields to serialize it, two thirds of an action's CPU time."""
    elem = create_element("m:ItemIds")
    for item_id, change_key in items:
        attrs = {"Id": item_id} if change_key is None else {"Id": item_id, "ChangeKey": change_key}
        elem.append(create_element("t:ItemId", attrs=attrs))
    return elem


def _fast_ids(payload: Any, items: Iterable[tuple[str, str | None]]) -> Any:
    """``payload`` (built by exchangelib for no item) with its ItemIds written by
    :func:`_item_ids`."""
    payload.replace(payload.find(_M_ITEM_IDS), _item_ids(items))
    return payload


class _GetByIds(GetItem):
    """GetItem with the ids written by :func:`_item_ids` (the services below)."""

    def get_payload(self, items: Any, additional_fields: Any, shape: Any) -> Any:
        """As GetItem, with the ids written by :func:`_item_ids`."""
        return _fast_ids(super().get_payload([], additional_fields, shape), items)


class Identities(_GetByIds):
    """GetItem answering an :class:`_Identity` per item, read straight from the XML
    (exchangelib would build a Message of sixty fields for each)."""

    def _elem_to_obj(self, elem: Any) -> _Identity:
        return _identity_from_xml(elem)


class FindIdentities(FindItem):
    """FindItem answering an :class:`_Identity` per item found."""

    def _elem_to_obj(self, elem: Any) -> _Identity:
        return _identity_from_xml(elem)


class MimeContents(_GetByIds):
    """GetItem answering each item's MimeContent as bytes."""

    def _elem_to_obj(self, elem: Any) -> bytes:
        text = elem.findtext(_T_MIME)
        if text is None:
            raise ews_errors.ErrorMimeContentConversionFailed("the server sent no MimeContent")
        try:
            return base64.b64decode(text)
        except (binascii.Error, ValueError) as exc:
            raise ews_errors.ErrorCorruptData(f"MimeContent is not base64: {exc}") from exc


class MoveIds(MoveItem):
    """MoveItem with the ids written by :func:`_item_ids`; answers ``(new id, change key)``."""

    def get_payload(self, items: Any, to_folder: Any) -> Any:
        """As MoveItem, with the ids written by :func:`_item_ids`."""
        return _fast_ids(super().get_payload([], to_folder), items)


class DeleteIds(DeleteItem):
    """DeleteItem with the ids written by :func:`_item_ids`; answers True per item deleted."""

    def get_payload(self, items: Any, *args: Any, **kwargs: Any) -> Any:
        """As DeleteItem, with the ids written by :func:`_item_ids`."""
        return _fast_ids(super().get_payload([], *args, **kwargs), items)


def _field_paths(*names: str) -> set[FieldPath]:
    return {FieldPath(field=Message.get_field_by_fieldname(n)) for n in names}


_IDENTITY_FIELDS = _field_paths("parent_folder_id", "size", "message_id")
_MIME_FIELDS = _field_paths("mime_content")
#: Per-item answers meaning "no such item (any more)".
_ITEM_GONE = (ews_errors.ErrorItemNotFound, ews_errors.ErrorInvalidIdMalformed)


class _OwnMoves:
    """The change keys of the items this process moved, per mailbox (bounded).

    A moved item has a new id and a new ChangeKey, while the index row that follows it
    (:meth:`mailclean.index.Index.follow_moves`) keeps the key it had before the move until
    the next sync. Remembering ``new id -> (key the index holds, key the move gave)`` lets
    :meth:`EwsConnector.verify` accept exactly that pair, and nothing else: an item changed
    again after our move still has another key and is "changed". Lost with the process;
    ``mailclean clean`` and the review app sync the folders before acting anyway.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._moves: OrderedDict[tuple[str, str], tuple[str | None, str | None, str]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def record(
        self, mailbox: str, item_id: str, held: str | None, new: str | None, source: str
    ) -> None:
        """``item_id`` was made by our move of ``source``; the index holds ``held`` for it
        and the move gave it ``new``."""
        with self._lock:
            self._moves[(mailbox, item_id)] = (held, new, source)
            self._moves.move_to_end((mailbox, item_id))
            while len(self._moves) > self.limit:
                self._moves.popitem(last=False)

    def index_key(self, mailbox: str, item_id: str) -> str | None:
        """The key the index holds for an item we moved (None when not ours)."""
        with self._lock:
            entry = self._moves.get((mailbox, item_id))
        return entry[0] if entry else None

    def source(self, mailbox: str, item_id: str) -> str | None:
        """The id of the item our move turned into ``item_id`` (None when not ours)."""
        with self._lock:
            entry = self._moves.get((mailbox, item_id))
        return entry[2] if entry else None

    def explains(self, mailbox: str, item_id: str, held: str | None, current: str | None) -> bool:
        """Whether ``current`` is the key our own move gave the item the index knows with
        ``held``."""
        with self._lock:
            entry = self._moves.get((mailbox, item_id))
        return entry is not None and held is not None and entry[:2] == (held, current)


_OWN_MOVES = _OwnMoves()


def _preference(source: str | None, ref: ItemRef) -> int:
    """Order of a candidate for ``ref`` in :meth:`EwsConnector.locate`: made by our move of
    this ref, unknown, made by our move of another message."""
    if source is None:
        return 1
    return 0 if source == ref.server_id else 2


class _TokenKeepingCredentials(OAuth2AuthorizationCodeCredentials):
    """Authorization-code credentials that hand every refreshed token to a callback."""

    def __init__(self, on_token: Callable[[dict], None] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_token = on_token

    def on_token_auto_refreshed(self, access_token: dict) -> None:
        """Keep the new token (exchangelib calls this after a refresh)."""
        super().on_token_auto_refreshed(access_token)
        if self._on_token is not None:
            self._on_token(dict(access_token))


def _is_mail_folder(folder_class: str | None) -> bool:
    # IPF.Note and its variants (IPF.Note.OutlookHomepage...) hold mail; a folder without
    # a class is mail too (created by IMAP clients, old migrations).
    return (
        folder_class is None or folder_class == "IPF.Note" or folder_class.startswith("IPF.Note.")
    )


def folder_identity(folder_id: str) -> int:
    """A non-zero 31-bit digest of an EWS folder id (stable across renames)."""
    return zlib.crc32(folder_id.encode("ascii", "replace")) & 0x7FFFFFFF or 1


def _utc_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value.timestamp()), UTC).isoformat()


def message_from_item(item: Any) -> MessageMeta:
    """Build a :class:`MessageMeta` from a fetched exchangelib Message."""
    problems: list[str] = []
    size = item.size
    # exchangelib takes any integer the XML holds: Size is an xs:int, the index's 64-bit.
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**63:
        problems.append("no item size")
        size = 0
    attachments = [
        AttachmentMeta(
            part=str(n),
            filename=a.name,
            mime_type=(a.content_type or _default_type(a)).lower(),
            size=_attachment_size(a.size),
            decoded_size=_attachment_size(a.size),
            disposition="inline" if a.is_inline else "attachment",
            encoding=None,
        )
        for n, a in enumerate(item.attachments or [], start=1)
    ]
    headers = item.headers or []
    block = "".join(
        f"{h.name}: {h.value or ''}\r\n" for h in headers if (h.name or "").lower() in HEADER_FIELDS
    )
    meta = meta_from_headers(
        block.encode("utf-8", "surrogatepass"),
        server_id=item.id,
        size=size,
        received_at=_utc_iso(item.datetime_received),
        seen=bool(item.is_read),
        flagged=getattr(item, "mailclean_flag", None) == _FLAGGED,
        attachments=attachments,
        problems=problems,
    )
    meta.change_key = item.changekey
    if not headers:
        # Items that never went through transport (drafts, some sent items) have no
        # internet headers: their EWS properties say the same things.
        author = item.author
        meta.subject = item.subject
        meta.sender = author.email_address.lower() if author and author.email_address else None
        meta.sender_name = author.name if author else None
        meta.message_id = mime.normalize_message_id(item.message_id)
        meta.thread_key = mime.thread_key(item.message_id, item.in_reply_to, item.references)
        meta.date = _utc_iso(item.datetime_sent)
        meta.recipients = item.display_to or None
    return meta


def _attachment_size(size: object) -> int:
    """An attachment's Size (an xs:int) as stored: 0 when absent or out of range."""
    if isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 2**32:
        return size
    return 0


def _default_type(attachment: Any) -> str:
    return (
        "message/rfc822"
        if type(attachment).__name__ == "ItemAttachment"
        else "application/octet-stream"
    )


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _reason(exc: BaseException) -> str:
    """The most telling words of a network failure ("Connection refused")."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        m = _ERRNO.search(str(node))
        if m:
            return m.group(1).strip()
        node = node.__cause__ or node.__context__
    text = str(exc)
    return text.removeprefix("Reraised from ")


def _in_chain(exc: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first exception of ``types`` among ``exc`` and what it was raised from."""
    node: BaseException | None = exc
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, types):
            return node
        node = node.__cause__ or node.__context__
    return None


def _tls_failure(exc: BaseException) -> BaseException | None:
    return _in_chain(exc, (requests.exceptions.SSLError,))


_NETWORK = (
    ews_errors.ErrorTimeoutExpired,
    ews_errors.ErrorServerBusy,
    ews_errors.ErrorInternalServerTransientError,
    ews_errors.UnauthorizedError,
    ews_errors.RateLimitError,
    requests.RequestException,
    OSError,
)


class _ErrorMapper:
    """Turns exchangelib and network failures into ConnectorError subclasses with plain words."""

    def __init__(self, settings: EwsSettings, connecting: bool) -> None:
        self.settings = settings
        self.connecting = connecting

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, ConnectorError | GeneratorExit):
            return
        if not isinstance(exc, ews_errors.EWSError | requests.RequestException | OSError):
            return
        raise self.translate(exc) from exc

    def translate(self, exc: BaseException) -> ConnectorError:
        """The ConnectorError that says what ``exc`` means for the user."""
        s = self.settings
        # exchangelib's version probe wraps network failures in a TransportError.
        exc = _in_chain(exc, _NETWORK) or exc
        where = s.where
        tls = _tls_failure(exc)
        if tls is not None:
            return TLSError(
                _(
                    "the TLS certificate of {where} is not trusted ({reason}); if you trust "
                    "this server anyway, add the account again with --insecure-tls"
                ).format(where=where, reason=_tls_reason(tls))
            )
        if isinstance(exc, ews_errors.UnauthorizedError):
            return AuthenticationError(
                _("{where} refused the login of {user}: {reason}").format(
                    where=where, user=s.user or s.email, reason=exc
                )
            )
        if isinstance(exc, ews_errors.ErrorAccessDenied | ews_errors.ErrorImpersonateUserDenied):
            return AuthenticationError(
                _("{where} does not let {user} open the mailbox {email}: {reason}").format(
                    where=where, user=s.user or s.email, email=s.email, reason=exc
                )
            )
        if isinstance(exc, ews_errors.ErrorNonExistentMailbox):
            return MailboxNotFound(
                _("{where} has no mailbox {email}").format(where=where, email=s.email)
            )
        if isinstance(exc, ews_errors.ErrorFolderNotFound):
            return FolderNotFound(
                _("a folder of {email} disappeared from the server: {reason}").format(
                    email=s.email, reason=exc
                )
            )
        if isinstance(exc, ews_errors.RateLimitError):
            return ConnectionFailed(
                _(
                    "{where} keeps asking to slow down (Exchange throttling) and did not answer "
                    "within {seconds:.0f} s; try again later"
                ).format(where=where, seconds=s.max_wait)
            )
        if isinstance(exc, ews_errors.AutoDiscoverError):
            return ConnectionFailed(
                _(
                    "autodiscover found no Exchange server for {email} ({reason}); give the "
                    "EWS URL instead"
                ).format(email=s.email, reason=exc)
            )
        if isinstance(
            exc,
            ews_errors.ErrorTimeoutExpired
            | ews_errors.ErrorServerBusy
            | ews_errors.ErrorInternalServerTransientError
            | requests.RequestException
            | OSError,
        ):
            reason = _reason(exc)
            if "Name or service not known" in reason or "not known" in reason:
                return ConnectionFailed(
                    _("cannot find the server {host}: {reason}").format(host=where, reason=reason)
                )
            if self.connecting:
                return ConnectionFailed(
                    _("cannot connect to {where}: {reason}").format(where=where, reason=reason)
                )
            return ConnectionFailed(
                _("the connection to {host} was lost: {reason}").format(host=where, reason=reason)
            )
        if isinstance(exc, ews_errors.TransportError | ews_errors.CASError):
            return ConnectionFailed(f"{where}: {exc}")
        return ConnectorError(f"{where}: {exc}")


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"certificate verify failed: ([^(')\"]+)", text)
    if m:
        return m.group(1).strip()
    return "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in text else text
