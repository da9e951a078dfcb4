"""Measuring one mailbox: how to log in to it as an admin, and what to read.

Quick: one LIST-STATUS (or a STATUS per folder) with SIZE where the server has STATUS=SIZE
(RFC 8438), else the sum of RFC822.SIZE of each folder, EXAMINEd; then the quota.
Full: the same, then a header-only sync into a temporary index in a private temporary
directory, the built-in rules over it, and only their totals kept; the directory is deleted
whatever happens. Nothing is ever selected read-write, and bodies are never fetched
(``BODY.PEEK``): no flag changes, not even ``\\Seen``.

A folder the server cannot open (Dovecot answers ``[SERVERBUG]`` to the STATUS of a folder
it has no permission on) leaves the mailbox measured in part: the other folders are
measured, and the folder is reported (:class:`~mailclean.snapshot.store.UnreadableFolder`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mailclean.connectors.base import (
    AuthenticationError,
    ConnectionFailed,
    Connector,
    ConnectorError,
    MailboxNotFound,
    NotSupported,
    TLSError,
)
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.i18n import _
from mailclean.model import VIRTUAL_ROLES, FolderInfo, Quota, folder_role
from mailclean.snapshot.accounts import Credential
from mailclean.snapshot.store import (
    CATEGORIES,
    FolderFigures,
    MailboxFigures,
    PendingMailbox,
    UnreadableFolder,
)
from mailclean.tls import client_context

if TYPE_CHECKING:
    # exchangelib is slow to import: only EWS snapshots load it.
    from mailclean.connectors.ews import EwsSettings

#: Roles kept apart in a snapshot; any other folder goes to "other".
KEPT_ROLES = frozenset({"inbox", "sent", "drafts", "trash", "junk", "archive"})

DEFAULT_LOGIN_FORMAT = "{user}*{admin}"
_BYTES_REPR = re.compile(r"""\bb['"](.*?)['"]""")


class Aborted(Exception):
    """The attempt was stopped from outside: its time is up, or the run was interrupted."""


class MeasureError(Exception):
    """A mailbox could not be measured; the message is fit to be stored (no folder names)."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def retryable(exc: ConnectorError) -> bool:
    """Whether trying again later may help: a dropped or refused connection, a busy server;
    not refused credentials (retrying them can lock the account) nor a TLS mismatch."""
    return not isinstance(exc, AuthenticationError | TLSError | NoCredentials)


@dataclass(frozen=True)
class Access:
    """How to reach every mailbox of a snapshot on one IMAP server.

    ``mode`` is "master" (an admin logs in as ``login_format`` names it: Dovecot's
    ``user*admin`` by default), "proxy" (SASL PLAIN with the mailbox as authorization
    identity: Cyrus, Zimbra, Dovecot) or "credentials" (each mailbox's own password).
    """

    host: str
    port: int | None = None
    security: str = "ssl"
    cafile: str | None = None
    insecure_tls: bool = False
    mode: str = "master"
    admin_user: str | None = None
    admin_password: str | None = field(default=None, repr=False)
    login_format: str = DEFAULT_LOGIN_FORMAT
    credentials: Mapping[str, Credential] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("master", "proxy", "credentials"):
            raise ValueError(f"unknown access mode {self.mode!r}")
        if self.mode == "master":
            try:
                probe = self.login_format.format(user="u", admin="a")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    _("--login-format may only use {{user}} and {{admin}}: {error}").format(
                        error=exc
                    )
                ) from None
            if "u" not in probe or "{user}" not in self.login_format:
                raise ValueError(_("--login-format must contain {user}"))

    def tls_context(self) -> ssl.SSLContext:
        """One TLS context for every connection of a run: building one per connection
        (the CA certificates loaded again) would cost more CPU than measuring the mailbox."""
        return client_context(self.cafile, self.insecure_tls)

    def settings(
        self,
        mailbox: str,
        login: str | None,
        timeout: float,
        context: ssl.SSLContext | None = None,
    ) -> ImapSettings:
        """Connection settings for one mailbox; ConnectorError when it has no credentials."""
        user = login or mailbox
        authzid = None
        if self.mode == "credentials":
            cred = self.credentials.get(mailbox.lower())
            if cred is None:
                raise NoCredentials(_("no password for this mailbox in the credentials file"))
            name, password = cred.login, cred.password
        elif self.mode == "proxy":
            name, password, authzid = self.admin_user or "", self.admin_password or "", user
        else:
            name = self.login_format.format(user=user, admin=self.admin_user or "")
            password = self.admin_password or ""
        return ImapSettings(
            host=self.host,
            user=name,
            password=password,
            port=self.port,
            security=self.security,
            insecure_tls=self.insecure_tls,
            cafile=self.cafile,
            timeout=timeout,
            authzid=authzid,
            ssl_context=context,
        )

    def describe(self) -> dict:
        """The settings worth remembering with a snapshot (no password, ever)."""
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "cafile": self.cafile,
            "insecure_tls": self.insecure_tls,
            "mode": self.mode,
            "admin_user": self.admin_user,
            "login_format": self.login_format if self.mode == "master" else None,
        }


@dataclass(frozen=True)
class EwsAccess:
    """How to reach every mailbox of a snapshot on one Exchange server: an admin account
    with the ApplicationImpersonation role opens each mailbox through EWS impersonation."""

    url: str
    admin_user: str
    admin_password: str | None = field(default=None, repr=False)
    auth: str = "ntlm"
    cafile: str | None = None
    insecure_tls: bool = False

    def settings(
        self, mailbox: str, timeout: float, version: tuple[int, int, int, int] | None = None
    ) -> EwsSettings:
        """Connection settings for one mailbox (named by its primary SMTP address)."""
        from mailclean.connectors.ews import EwsSettings

        return EwsSettings(
            email=mailbox,
            ews_url=self.url,
            user=self.admin_user,
            password=self.admin_password or "",
            auth=self.auth,
            impersonation=True,
            insecure_tls=self.insecure_tls,
            cafile=self.cafile,
            timeout=timeout,
            max_wait=timeout,
            version=version,
        )

    def describe(self) -> dict:
        """The settings worth remembering with a snapshot (no password, ever)."""
        return {
            "kind": "ews",
            "url": self.url,
            "auth": self.auth,
            "cafile": self.cafile,
            "insecure_tls": self.insecure_tls,
            "admin_user": self.admin_user,
        }


class NoCredentials(ConnectorError):
    """A mailbox of the accounts file is missing from the credentials file."""


class Attempt:
    """One try at one mailbox: a deadline, and a way for the runner to stop it early.

    The runner calls :meth:`abort` when the time is up or the run is interrupted; that
    shuts the connection's socket down, so a blocked read returns at once.
    """

    def __init__(self, deadline: float, now: Callable[[], float]) -> None:
        self.deadline = deadline
        self._now = now
        self.aborted: str | None = None
        self._stoppers: list[Callable[[], None]] = []

    def on_abort(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` if the attempt is aborted (at once if it already is)."""
        self._stoppers.append(stop)
        if self.aborted:
            stop()

    def abort(self, why: str) -> None:
        """Stop the attempt: ``why`` is "timeout" or "interrupted"."""
        if self.aborted:
            return
        self.aborted = why
        for stop in self._stoppers:
            with contextlib.suppress(Exception):
                stop()

    def check(self) -> None:
        """Raise Aborted when the attempt was stopped or its time is up."""
        if self.aborted or self._now() > self.deadline:
            raise Aborted(self.aborted or "timeout")


class SnapshotImap(ImapConnector):
    """The IMAP connector as snapshots use it: a listing that survives one folder the
    server cannot open."""

    def list_folders(self) -> list[FolderInfo]:
        """LIST with counters; when the server refuses the counters of some folder, LIST
        alone, so that each folder is measured on its own and only that one is lost."""
        try:
            return super().list_folders()
        except (ConnectionFailed, AuthenticationError):
            raise
        except ConnectorError:
            pass
        with self._errors():
            listed = self._c.list_folders()
        folders = []
        for flags, delimiter, name in listed:
            path = name if isinstance(name, str) else name.decode("utf-8", "replace")
            delim = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "/")
            lower = {f.lower() for f in flags}
            folders.append(
                FolderInfo(
                    path=path,
                    delimiter=delim,
                    role=folder_role(path, delim, flags),
                    selectable=not ({b"\\noselect", b"\\nonexistent"} & lower),
                )
            )
        return folders

    def quota(self) -> Quota | None:
        """The quota, or None when the server cannot compute it (Dovecot cannot when a
        folder is unreadable): that is no reason to lose the mailbox's volumes."""
        try:
            return super().quota()
        except (ConnectionFailed, AuthenticationError):
            raise
        except ConnectorError:
            return None


def scrub(text: str, names: list[str]) -> str:
    """``text`` with any of the mailbox's folder names replaced: errors are stored, and
    folder names people choose can be personal."""
    for name in sorted(names, key=len, reverse=True):
        if name and name.upper() != "INBOX":
            text = text.replace(name, "<folder>")
    # imapclient hands some server answers over as the repr of bytes: b'[AUTH...] ...'.
    return _BYTES_REPR.sub(r"\1", text)


@dataclass
class ImapMeasure:
    """Measures a mailbox over IMAP: quick, or full with the rules engine."""

    access: Access
    depth: str = "quick"
    rules_file: Path | None = None
    older_than: int | None = None
    """Years for the old-conversations category (the built-in rule's default otherwise)."""
    workdir: Path | None = None
    """Where full snapshots put their temporary indexes (the system's temp dir by default)."""
    command_timeout: float = 60.0
    now: datetime | None = None

    def __post_init__(self) -> None:
        self._rules = None
        self._setup()
        if self.depth == "full":
            self._rules = self.load_rules()
            sweep_stale(self.workdir)

    def load_rules(self) -> dict:
        """The built-in categories, with the user's parameters where a rules file says."""
        from mailclean.rules import load_rules

        rules = load_rules(self.rules_file)
        chosen = {name: rules[name] for name in CATEGORIES if name in rules}
        old = chosen.get("old-threads")
        if old is not None and self.older_than is not None:
            from dataclasses import replace

            chosen["old-threads"] = replace(old, params={**old.params, "years": self.older_than})
        return chosen

    def _setup(self) -> None:
        self._context = self.access.tls_context()

    def connector(self, entry: PendingMailbox) -> Connector:
        """A connector (not yet connected) to one mailbox; ConnectorError without credentials."""
        return SnapshotImap(
            self.access.settings(entry.mailbox, entry.login, self.command_timeout, self._context)
        )

    def stopper(self, connector: Connector) -> Callable[[], None]:
        """What stops a connector's blocked read from another thread."""
        return connector.abort

    def connected(self, connector: Connector) -> None:
        """Called once a connector is connected (EWS keeps the server's version)."""

    def error(self, exc: ConnectorError, names: list[str]) -> MeasureError:
        """The error stored for a mailbox, and whether trying again may help (not for a
        mailbox the server does not have)."""
        missing = isinstance(exc, MailboxNotFound)
        return MeasureError(scrub(str(exc), names), retryable(exc) and not missing)

    def __call__(self, entry: PendingMailbox, attempt: Attempt) -> MailboxFigures:
        """Measure one mailbox (raises ConnectorError, Aborted)."""
        connector = self.connector(entry)
        attempt.on_abort(self.stopper(connector))
        names: list[str] = []
        try:
            connector.connect()
            self.connected(connector)
            attempt.check()
            figures, paths = quick_figures(connector, attempt, names)
        except ConnectorError as exc:
            attempt.check()
            raise self.error(exc, names) from exc
        finally:
            connector.close()
        if self.depth == "full":
            try:
                self._full(entry, figures, paths, attempt)
            except ConnectorError as exc:
                attempt.check()
                raise self.error(exc, names) from exc
        return figures

    def _full(
        self, entry: PendingMailbox, figures: MailboxFigures, paths: list[str], attempt: Attempt
    ) -> None:
        from mailclean.index import Index
        from mailclean.rules import Protection, scan
        from mailclean.sync import sync_account

        def sleep(seconds: float) -> None:
            attempt.check()

        # A private directory (mode 0700) holds the only copy of headers a snapshot ever
        # makes; it goes with the index, whatever happens.
        with tempfile.TemporaryDirectory(
            prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=self.workdir
        ) as tmp:
            index = Index(Path(tmp) / "index.db")
            try:
                connector = self.connector(entry)
                attempt.on_abort(self.stopper(connector))
                # The runner retries a failed mailbox from the start: no reconnection here.
                sync_account(
                    index, "mailbox", connector, folders=paths or None, retries=0, sleep=sleep
                )
                attempt.check()
                result = scan(
                    index, "mailbox", self._rules or {}, Protection(), now=self.now, force=True
                )
            finally:
                index.close()
        per_rule = {r["rule"]: int(r["bytes"]) for r in result.rules}
        figures.categories = {c: per_rule.get(c, 0) for c in CATEGORIES}
        figures.reclaimable_messages = result.reclaimable_messages
        figures.reclaimable_bytes = result.reclaimable_bytes


@dataclass
class EwsMeasure(ImapMeasure):
    """Measures a mailbox on Exchange through EWS impersonation: folders (with their sizes)
    and quota only, read-only; full depth syncs headers as over IMAP."""

    access: EwsAccess  # type: ignore[assignment]

    def _setup(self) -> None:
        self._version: tuple[int, int, int, int] | None = None

    def connector(self, entry: PendingMailbox) -> Connector:
        """A connector opening the mailbox as the admin, through impersonation."""
        from mailclean.connectors.ews import EwsConnector

        return EwsConnector(
            self.access.settings(entry.mailbox, self.command_timeout, self._version)
        )

    def stopper(self, connector: Connector) -> Callable[[], None]:
        """Nothing to shut down from outside: each request has its own timeout."""
        return lambda: None

    def connected(self, connector: Connector) -> None:
        """Keep the server's version: the next mailboxes skip exchangelib's probe."""
        from mailclean.connectors.ews import EwsConnector

        if self._version is None and isinstance(connector, EwsConnector):
            self._version = connector.server_build


TEMP_PREFIX = "mailclean-snapshot-"


def sweep_stale(workdir: Path | None = None) -> int:
    """Delete the temporary indexes left by full snapshots whose process died (killed, power
    cut): they hold headers of someone's mail. How many were removed."""
    root = Path(workdir or tempfile.gettempdir())
    removed = 0
    for path in root.glob(f"{TEMP_PREFIX}*-*"):
        pid = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not path.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


#: Roles a sub-folder takes from its parent: a folder deleted in a mail program often
#: lands inside the Trash, and people file archives by year under Archives.
INHERITED_ROLES = frozenset({"sent", "drafts", "trash", "junk", "archive"})


def counted_role(folder: FolderInfo, by_path: Mapping[str, FolderInfo]) -> str:
    """The role a folder is counted under: its own, else its nearest parent's, else other."""
    if folder.role in KEPT_ROLES:
        return folder.role or "other"
    path, delimiter = folder.path, folder.delimiter
    while delimiter and delimiter in path:
        path = path.rsplit(delimiter, 1)[0]
        parent = by_path.get(path)
        if parent is not None and parent.role in INHERITED_ROLES:
            return parent.role or "other"
    return "other"


def quick_figures(
    connector: Connector, attempt: Attempt, names: list[str] | None = None
) -> tuple[MailboxFigures, list[str]]:
    """Volume per folder role and quota of a connected mailbox; also the paths of the
    folders measured (selectable, not virtual). ``names`` receives every folder name seen,
    so that errors can be scrubbed of them. A folder listed without its size is summed
    with ``folder_size`` where the connector has it (IMAP without STATUS=SIZE); a folder
    that cannot be summed (the server refuses to open it) is left out and listed in the
    figures' ``unreadable``, and the others are measured all the same."""
    folders = connector.list_folders()
    if names is not None:
        names.extend(f.path for f in folders)
    foreign = connector.foreign_prefixes()
    by_path = {f.path: f for f in folders}
    roles: dict[str, list[int]] = {}
    paths: list[str] = []
    unreadable: list[UnreadableFolder] = []
    source = "status"
    for f in folders:
        if not f.selectable or f.role in VIRTUAL_ROLES or f.path.startswith(foreign):
            continue
        attempt.check()
        messages, size = f.messages, f.bytes
        if size is None:
            if messages == 0:
                size = 0
            else:
                try:
                    messages, size = connector.folder_size(f.path)
                except NotSupported as exc:
                    raise ConnectorError(
                        _("the server did not give the size of a folder")) from exc
                except ConnectionFailed:
                    raise
                except ConnectorError as exc:
                    unreadable.append(UnreadableFolder(counted_role(f, by_path), f.path, str(exc)))
                    continue
                source = "fetch"
        role = counted_role(f, by_path)
        acc = roles.setdefault(role, [0, 0, 0])
        acc[0] += 1
        acc[1] += messages or 0
        acc[2] += size
        paths.append(f.path)
    attempt.check()
    try:
        quota = connector.quota()
    except ConnectionFailed:
        raise
    except ConnectorError:
        quota = None  # a mailbox without a quota root is measured all the same
    figures = MailboxFigures(
        messages=sum(v[1] for v in roles.values()),
        bytes=sum(v[2] for v in roles.values()),
        roles={r: FolderFigures(*v) for r, v in roles.items()},
        quota_used=quota.used if quota else None,
        quota_limit=quota.limit if quota else None,
        size_source=source,
        unreadable=unreadable,
    )
    return figures, paths
