"""The EWS session: credentials, configuration, connect, the distinguished folders."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    Identity,
    OAuth2Credentials,
    Version,
)
from exchangelib import errors as ews_errors
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
from exchangelib.items import ID_ONLY
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.protocol import Protocol
from exchangelib.services import GetFolder
from urllib3.exceptions import InsecureRequestWarning

from mailclean.connectors.base import ConnectionFailed, Connector, ConnectorError
from mailclean.connectors.ews.errors import _ErrorMapper
from mailclean.connectors.ews.settings import _AUTH, AUTH_TYPES, EwsSettings
from mailclean.connectors.ews.transport import (
    _TLS_POLICIES,
    BoundedFaultTolerance,
    _install_adapter,
    _origin,
    _TokenKeepingCredentials,
)
from mailclean.i18n import _

#: Distinguished folders whose id gives a role (Exchange has no distinguished "archive"
#: folder on premises: that role comes from the folder's name).
ROLE_FOLDERS = {
    Inbox: "inbox",
    SentItems: "sent",
    Drafts: "drafts",
    DeletedItems: "trash",
    JunkEmail: "junk",
}


class _EwsSession(Connector):
    """The connection to one mailbox: credentials, configuration, connect and close, and the
    ids of its distinguished folders."""

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
    def read_timeout(self) -> float:
        """Seconds one request may wait: the settings' timeout."""
        return self.settings.timeout

    @property
    def server_build(self) -> tuple[int, int, int, int] | None:
        """The server's build (major, minor, build, revision) found at the first connect;
        a connector for another mailbox of the same server can skip the probe with it."""
        build = getattr(self._version, "build", None)
        if build is None:
            return None
        return (build.major_version, build.minor_version, build.major_build,
                build.minor_build)

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
