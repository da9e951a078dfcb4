"""IMAP connector (imapclient): folders with roles, header-only incremental sync, quota.

Reading is done in bulk with raw ``UID FETCH`` commands over UID sequence sets and parsed
by :mod:`mailclean.connectors.imapwire`; imapclient handles the session (TLS, login,
SELECT, LIST, folder-name encoding). Bodies are never fetched: only RFC822.SIZE,
INTERNALDATE, FLAGS, BODYSTRUCTURE and a fixed list of header fields.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import multiprocessing
import os
import re
import signal
import socket
import ssl
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError
from imapclient.imap_utf7 import decode as decode_utf7

from mailclean import mime
from mailclean.connectors import imapwire
from mailclean.connectors.base import (
    CHANGED,
    FLAGGED,
    RESET,
    VANISHED,
    AuthenticationError,
    Change,
    ConnectionFailed,
    Connector,
    ConnectorError,
    Credentials,
    FlagsChanged,
    FolderNotFound,
    FolderReset,
    FolderSynced,
    MessagesAdded,
    MessagesRemoved,
    MoveResult,
    TLSError,
    UnsafeExpunge,
)
from mailclean.connectors.headers import meta_from_headers
from mailclean.i18n import _, ngettext
from mailclean.model import FolderInfo, FolderState, ItemRef, MessageMeta, Quota, folder_role
from mailclean.retry import NETWORK
from mailclean.validation import did_you_mean, shown

log = logging.getLogger(__name__)

# A UID SEARCH of a large folder, or a FLAGS fetch, comes back as one very long line;
# imaplib refuses lines over _MAXLINE (1 MB by default; private, so typeshed omits it).
imaplib._MAXLINE = max(imaplib._MAXLINE, 100_000_000)  # type: ignore[attr-defined]

HEADER_FIELDS = (
    "FROM", "TO", "DATE", "SUBJECT", "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES", "LIST-ID",
    "LIST-UNSUBSCRIBE", "LIST-UNSUBSCRIBE-POST", "PRECEDENCE", "AUTO-SUBMITTED",
    "FEEDBACK-ID", "X-MAILER",
)
FETCH_ITEMS = (
    "(UID RFC822.SIZE INTERNALDATE FLAGS BODYSTRUCTURE "
    f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADER_FIELDS)})])"
)
#: Messages per FETCH command: large enough to amortise round trips, small enough that
#: a chunk is committed every second or so and client memory stays flat.
FETCH_CHUNK = 500
#: From this many new messages in a folder, parsing moves to worker processes so that
#: reading the next chunk, parsing this one and storing the last one overlap. Below it,
#: starting the workers costs more than it saves.
PARALLEL_FROM = 2_000
#: Messages per FETCH (RFC822.SIZE) when a folder's size is summed by hand.
SIZE_CHUNK = 20_000
_RFC822_SIZE = re.compile(rb"RFC822\.SIZE (\d{1,19})(?!\d)")  # longer: junk, and int() refuses
#: UIDs per identity-check FETCH, and per MOVE/COPY/STORE/EXPUNGE command. Sequence sets
#: compress ranges, so the command line stays under the server's limit either way.
VERIFY_CHUNK = 5_000
ACTION_CHUNK = 2_000
#: Bytes of whole messages asked for in one FETCH when exporting.
FETCH_BYTES = 8_000_000

class Refused(ConnectorError):
    """The server answered NO or BAD to a command; ``code`` is the response code
    (RFC 5530: ``EXPUNGEISSUED``, ``OVERQUOTA``...) when it gave one."""

    def __init__(self, host: str, command: str, typ: str, data: object) -> None:
        self.typ = typ
        self.command = command
        text = _text(data)
        m = _RESPONSE_CODE.match(text)
        self.code = m[1].upper() if m else None
        self.detail = text
        super().__init__(
            _("{host} refused {command}: {reason}").format(
                host=host, command=command, reason=_short(m[2] if m and m[2] else text))
        )


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


class ImapConnector(Connector):
    """A mailbox on an IMAP server."""

    kind = "imap"
    uses_password = True

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
    quota_is_measured = True

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.client: imapclient.IMAPClient | None = None
        self.capabilities: frozenset[str] = frozenset()
        self._pool: ProcessPoolExecutor | None = None
        self._pool_size = 0
        self._selected: str | None = None
        """The folder selected read-write for actions (sync selects read-only)."""
        self._validity: int | None = None
        self._chunk = FETCH_CHUNK
        """Messages per FETCH now: smaller after a cut answer, back up after good ones."""

    # -- session ----------------------------------------------------------------------

    @property
    def labels_are_folders(self) -> bool:
        """Gmail (X-GM-EXT-1) shows a message in the folder of each of its labels."""
        return "X-GM-EXT-1" in self.capabilities

    def connect(self) -> None:
        """Connect, secure and log in; enable CONDSTORE/QRESYNC where advertised.

        Raises ConnectionFailed (retryable: unreachable, cut, silent) or its TLSError
        subclass, and AuthenticationError only when the server itself refused the login.
        """
        s = self.settings
        client = self._open_session()
        try:
            self._login(client)
        except BaseException:
            _safe_logout(client)
            raise
        # imapclient sends every protocol line through logging (imaplib's debug level 5):
        # a microsecond a line, a tenth of a large action's time. Kept when that log is on.
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            client._imap.debug = 0
        self.client = client
        with self._errors():
            self.capabilities = frozenset(
                c.decode().upper() if isinstance(c, bytes) else str(c).upper()
                for c in client.capabilities()
            )
            if "QRESYNC" in self.capabilities:
                client.enable("QRESYNC")
            elif "CONDSTORE" in self.capabilities:
                client.enable("CONDSTORE")
        log.debug("connected to %s as %s", s.host, s.user)

    @property
    def _where(self) -> str:
        s = self.settings
        return f"{s.host}:{s.port or (993 if s.security == 'ssl' else 143)}"

    def _open_session(self) -> imapclient.IMAPClient:
        """The TCP (and TLS) connection, up to the server's greeting."""
        s = self.settings
        where = self._where
        try:
            context = self._ssl_context()
            if s.security == "ssl":
                client = imapclient.IMAPClient(
                    s.host, port=s.port or 993, ssl=True, ssl_context=context, timeout=s.timeout
                )
            else:
                client = imapclient.IMAPClient(
                    s.host, port=s.port or 143, ssl=False, timeout=s.timeout
                )
                if s.security == "starttls":
                    client.starttls(context)
        except ssl.SSLCertVerificationError as exc:
            raise TLSError(
                _(
                    "the TLS certificate of {where} is not trusted ({reason}); if you trust "
                    "this server anyway, add the account again with --insecure-tls"
                ).format(where=where, reason=exc.verify_message)
            ) from exc
        except ssl.SSLError as exc:
            raise TLSError(_tls_words(where, exc, s.security)) from exc
        except socket.gaierror as exc:
            raise ConnectionFailed(
                _("cannot find the server {host}: {reason}").format(
                    host=s.host, reason=exc.strerror
                )
            ) from exc
        except (IMAPClientError, OSError, EOFError) as exc:
            log.debug("connecting to %s failed: %r", where, exc)
            raise ConnectionFailed(
                _("cannot connect to {where}: {reason}").format(where=where, reason=_why(exc))
            ) from exc
        return client

    def _login(self, client: imapclient.IMAPClient) -> None:
        """LOGIN, or AUTHENTICATE PLAIN (RFC 4616) for an authorization identity or a
        password that is not ASCII (LOGIN's strings are ASCII; PLAIN carries UTF-8)."""
        s = self.settings
        imap = client._imap
        ascii_only = (s.user + s.password).isascii()
        offered = {c.upper() for c in (imap.capabilities or ())}
        try:
            if s.authzid or not ascii_only:
                if not ascii_only and "AUTH=PLAIN" not in offered and not s.authzid:
                    raise AuthenticationError(
                        _(
                            "{where} accepts only passwords written with plain ASCII "
                            "characters (it does not offer AUTHENTICATE PLAIN, which carries "
                            "accents and other characters): the password or user name of "
                            "{user} has characters it cannot receive"
                        ).format(where=self._where, user=s.user)
                    )
                text = f"{s.authzid or ''}\0{s.user}\0{s.password}"
                imap.authenticate("PLAIN", lambda _challenge: text.encode("utf-8"))
            else:
                imap.login(s.user, s.password)
        except IMAPClientAbortError as exc:
            raise ConnectionFailed(
                _("{where}: the connection was lost while logging in: {reason}").format(
                    where=self._where, reason=_why(exc))
            ) from exc
        except IMAPClientError as exc:
            code, words = _login_refusal(exc)
            message = _("{where} refused the login of {user}: {reason}").format(
                where=self._where, user=s.user, reason=words)
            if s.password_source and code in (None, "AUTHENTICATIONFAILED"):
                message += " " + _("(the password came from {source}; check it there)").format(
                    source=s.password_source)
            error = AuthenticationError(message)
            error.code = code
            if code in ("UNAVAILABLE", "INUSE"):
                # The server is busy or down for a moment: trying again may work.
                raise ConnectionFailed(str(error)) from exc
            raise error from exc
        except (OSError, EOFError) as exc:
            raise ConnectionFailed(
                _("{where}: the connection was lost while logging in: {reason}").format(
                    where=self._where, reason=_why(exc))
            ) from exc
        client._cached_capabilities = None  # the server may announce more once logged in

    def _ssl_context(self) -> ssl.SSLContext:
        if self.settings.ssl_context is not None:
            return self.settings.ssl_context
        context = ssl.create_default_context(cafile=self.settings.cafile)
        if self.settings.insecure_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def abort(self) -> None:
        """Shut the socket down from another thread: a blocked read returns at once."""
        sock = getattr(getattr(self.client, "_imap", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def foreign_prefixes(self) -> tuple[str, ...]:
        """Prefixes of the other users' and shared namespaces (RFC 2342) this login sees."""
        if "NAMESPACE" not in self.capabilities or self.client is None:
            return ()
        try:
            spaces = self.client.namespace()
        except IMAPClientError:
            return ()  # a dropped connection shows at the next command
        out = []
        for group in (spaces.other, spaces.shared):
            for prefix, _delimiter in group or ():
                text = prefix.decode() if isinstance(prefix, bytes) else str(prefix)
                if text:
                    out.append(text)
        return tuple(out)

    def close(self) -> None:
        """Log out and stop the parsing workers; never raises."""
        if self.client is not None:
            _safe_logout(self.client)
        self.client = None
        self._selected = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _errors(self) -> _ErrorMapper:
        return _ErrorMapper(self.settings.host)

    @property
    def _c(self) -> imapclient.IMAPClient:
        if self.client is None:
            raise ConnectionFailed("not connected")
        return self.client

    # -- folders ----------------------------------------------------------------------

    def list_folders(self) -> list[FolderInfo]:
        """LIST every folder, with roles and STATUS counters (SIZE where advertised).

        With LIST-STATUS (RFC 5819) one command brings every folder's counters; otherwise
        each selectable folder costs a STATUS round trip.
        """
        items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"]
        if "CONDSTORE" in self.capabilities:
            items.append("HIGHESTMODSEQ")
        if "STATUS=SIZE" in self.capabilities:
            items.append("SIZE")
        with self._errors():
            if "LIST-STATUS" in self.capabilities:
                listed, statuses = self._list_status(items)
            else:
                listed, statuses = self._c.list_folders(), {}
        folders = []
        for flags, delimiter, name in listed:
            path = name if isinstance(name, str) else name.decode("utf-8", "replace")
            delim = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "/")
            lower = {f.lower() for f in flags}
            selectable = not ({b"\\noselect", b"\\nonexistent"} & lower)
            info = FolderInfo(
                path=path,
                delimiter=delim,
                role=folder_role(path, delim, flags),
                selectable=selectable,
            )
            if selectable:
                st = statuses.get(path)
                if st is None:
                    with self._errors():
                        st = self._c.folder_status(path, items)
                info = replace(
                    info,
                    uidvalidity=st.get(b"UIDVALIDITY"),
                    uidnext=st.get(b"UIDNEXT"),
                    highestmodseq=st.get(b"HIGHESTMODSEQ"),
                    messages=st.get(b"MESSAGES"),
                    bytes=st.get(b"SIZE"),
                )
            folders.append(info)
        return folders

    def _list_status(self, items: list[str]) -> tuple[list, dict[str, dict[bytes, int]]]:
        """``LIST "" "*" RETURN (STATUS (...))``: the folders and their counters by path."""
        imap = self._c._imap
        for response in ("LIST", "STATUS"):
            imap.untagged_responses.pop(response, None)
        typ, data = imap._simple_command(
            "LIST", '""', '"*"', "RETURN", f"(STATUS ({' '.join(items)}))"
        )
        if typ != "OK":
            raise Refused(self.settings.host, "LIST", typ, data)
        typ, data = imap._untagged_response(typ, data, "LIST")
        listed = self._c._proc_folder_list(data)
        statuses: dict[str, dict[bytes, int]] = {}
        raw = imap.untagged_responses.pop("STATUS", [])
        values = imapwire.parse_tokens(raw)
        for i in range(0, len(values) - 1, 2):
            name, counters = values[i], values[i + 1]
            if isinstance(name, int):
                name = str(name).encode()
            if not isinstance(name, bytes) or not isinstance(counters, list):
                continue
            statuses[decode_utf7(name)] = {
                k.upper(): v
                for k, v in zip(counters[::2], counters[1::2], strict=False)
                if isinstance(k, bytes) and isinstance(v, int)
            }
        return listed, statuses

    def folder_size(self, path: str) -> tuple[int, int]:
        """(messages, bytes) of a folder as the sum of its RFC822.SIZE: for servers without
        STATUS=SIZE. The folder is EXAMINEd (read-only): no flag, not even \\Recent, changes."""
        with self._errors():
            exists = int(self._select(path).get(b"EXISTS", 0))
            total = 0
            imap = self._c._imap
            for start in range(1, exists + 1, SIZE_CHUNK):
                end = min(start + SIZE_CHUNK - 1, exists)
                imap.untagged_responses.pop("FETCH", None)
                tag = imap._command("FETCH", f"{start}:{end}", "(RFC822.SIZE)")
                typ, data = imap._command_complete("FETCH", tag)
                if typ != "OK":
                    raise Refused(self.settings.host, "FETCH", typ, data)
                _typ, data = imap._untagged_response(typ, data, "FETCH")
                # A regular expression rather than the parser: only one number per line
                # matters, and a large folder sends hundreds of thousands of lines.
                total += sum(
                    int(n) for d in data if isinstance(d, bytes) for n in _RFC822_SIZE.findall(d)
                )
        return exists, total

    def quota(self) -> Quota | None:
        """GETQUOTAROOT INBOX's STORAGE resource, in bytes; None without QUOTA."""
        if "QUOTA" not in self.capabilities:
            return None
        with self._errors():
            _roots, quotas = self._c.get_quota_root("INBOX")
        for q in quotas:
            if q.resource.upper() == "STORAGE":
                return Quota(used=q.usage * 1024, limit=q.limit * 1024 or None, root=q.quota_root)
        return None

    # -- sync -------------------------------------------------------------------------

    def sync_folder(
        self,
        folder: FolderInfo,
        state: FolderState,
        known_ids: Callable[[], set[str]],
    ) -> Iterator[Change]:
        """Yield the changes since ``state``: see :meth:`Connector.sync_folder`."""
        with self._errors():
            yield from self._sync_folder(folder, state, known_ids)

    def _sync_folder(
        self, folder: FolderInfo, state: FolderState, known_ids: Callable[[], set[str]]
    ) -> Iterator[Change]:
        condstore = "CONDSTORE" in self.capabilities or "QRESYNC" in self.capabilities
        if (
            condstore
            and folder.highestmodseq is not None
            and state.uidvalidity == folder.uidvalidity
            and state.highestmodseq == folder.highestmodseq
            and state.uidnext == folder.uidnext
            and state.indexed == folder.messages
        ):
            # Nothing was added, expunged or re-flagged since the last complete sync:
            # the folder need not even be selected.
            yield FolderSynced(state, folder.messages, folder.bytes)
            return

        sel = self._select(folder.path)
        uidvalidity = sel.get(b"UIDVALIDITY")
        if state.uidvalidity is not None and uidvalidity != state.uidvalidity:
            state = FolderState(uidvalidity=uidvalidity)
            yield FolderReset(state)
        state = replace(state, uidvalidity=uidvalidity)
        start_modseq = sel.get(b"HIGHESTMODSEQ")
        start_uidnext = sel.get(b"UIDNEXT")
        exists = sel.get(b"EXISTS", 0)

        if state.cursor > 0:
            yield from self._sync_known(state, known_ids, condstore)

        new_uids = self._list_uids(state.cursor + 1)
        for chunk, messages in self._fetch_new(new_uids):
            state = replace(state, cursor=max(state.cursor, chunk[-1]))
            yield MessagesAdded(messages, state)

        state = replace(
            state,
            uidnext=start_uidnext,
            highestmodseq=start_modseq if condstore else None,
        )
        # The server's own count, read again now that the folder is indexed: the sync
        # compares it with what was stored, so that a server reading a command otherwise
        # than we do is noticed instead of leaving a silently wrong index.
        after = int(self._select(folder.path).get(b"EXISTS", exists))
        yield FolderSynced(state, after, folder.bytes if after == folder.messages else None)

    def _sync_known(
        self, state: FolderState, known_ids: Callable[[], set[str]], condstore: bool
    ) -> Iterator[Change]:
        """Flag changes and expunges among the messages already indexed (UIDs <= cursor)."""
        known_range = f"1:{state.cursor}"
        c = self._c
        if "QRESYNC" in self.capabilities and state.highestmodseq:
            c._imap.untagged_responses.pop("VANISHED", None)
            data = self._uid_command(
                "FETCH", known_range, "(UID FLAGS)",
                f"(CHANGEDSINCE {state.highestmodseq} VANISHED)",
            )
            vanished = imapwire.parse_vanished(c._imap.untagged_responses.pop("VANISHED", []))
            if vanished:
                yield MessagesRemoved([str(u) for u in vanished])
            yield FlagsChanged(_flags(data))
            return
        if condstore and state.highestmodseq:
            data = self._uid_command(
                "FETCH", known_range, "(UID FLAGS)", f"(CHANGEDSINCE {state.highestmodseq})"
            )
            flags = _flags(data)
            present = {str(u) for u in self._list_uids(1, state.cursor)}
        else:
            # Over 1:* rather than 1:cursor: the message at the cursor may have been
            # expunged, and GNU Mailutils misreads a range ending where no message is
            # (BAD, or other messages than named); "*" always names one.
            data = self._uid_command("FETCH", "1:*", "(UID FLAGS)")
            flags = [f for f in _flags(data) if int(f[0]) <= state.cursor]
            present = {f[0] for f in flags}
        # Rows above the cursor were put there by an action (a move with COPYUID), not by
        # a sync: the fetch of new UIDs that follows replaces them.
        gone = {k for k in known_ids() - present if int(k) <= state.cursor}
        if gone:
            yield MessagesRemoved(sorted(gone, key=int))
        if flags:
            yield FlagsChanged(flags)

    def _select(self, path: str) -> dict:
        self._selected = None
        try:
            sel: dict = self._c.select_folder(path, readonly=True)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise FolderNotFound(
                _("cannot open folder '{path}': {reason}").format(path=path, reason=_text(exc))
            ) from exc
        return sel

    def _uid_command(self, *args: str) -> list:
        """Send ``UID <args>``, return its untagged data (named after the command).
        Raises :class:`Refused` when the server answers NO or BAD."""
        imap = self._c._imap
        name = args[0]
        imap.untagged_responses.pop(name, None)
        tag = imap._command("UID", *args)
        typ, data = imap._command_complete(name, tag)
        if typ != "OK":
            raise Refused(self.settings.host, f"UID {name}", typ, data)
        typ, data = imap._untagged_response(typ, data, name)
        return [d for d in data if d is not None]

    def _list_uids(self, low: int, high: int | None = None) -> list[int]:
        """Sorted UIDs of the selected folder from ``low`` (to ``high``, or the end).

        Only commands whose meaning no server disputes: ESEARCH's ``UID SEARCH RETURN
        (ALL) UID low:high`` where advertised, else ``UID SEARCH ALL``, the range applied
        here. GNU Mailutils reads the set of ``UID SEARCH UID`` as message numbers, and
        misreads a ``UID FETCH low:high`` whose ends fall where no message is (BAD, or
        other messages than named), as they do once messages are expunged or moved. A
        range ending in ``*`` always holds the last message, so UIDs below ``low`` are
        dropped.
        """
        span = f"{low}:{high if high is not None else '*'}"
        if "ESEARCH" in self.capabilities:
            data = self._uid_command("SEARCH", "RETURN", "(ALL)", "UID", span)
            uids = imapwire.parse_esearch(self._c._imap.untagged_responses.pop("ESEARCH", []))
            uids += imapwire.parse_esearch(data)
        else:
            uids = imapwire.parse_search(self._uid_command("SEARCH", "ALL"))
        return sorted({u for u in uids if u >= low and (high is None or u <= high)})

    def _present(self, uids: list[int]) -> set[int]:
        """Which of ``uids`` the selected folder holds now (read over their range)."""
        if not uids:
            return set()
        wanted = set(uids)
        return {u for u in self._list_uids(min(uids), max(uids)) if u in wanted}

    def _fetch_uids(self, uids: list[int], items: str) -> list:
        """``UID FETCH`` of exactly ``uids``: the untagged data.

        A server that answers BAD when a listed UID no longer exists (GNU Mailutils) fails
        the whole command for one expunged message: the set is then split in two and each
        half asked again, down to the single UIDs that are gone, which are left out.
        """
        if not uids:
            return []
        try:
            return self._uid_command("FETCH", imapwire.sequence_set(uids), items)
        except Refused as exc:
            if exc.typ != "BAD":
                raise
            if len(uids) == 1:
                log.debug("UID FETCH %s answered BAD (gone?): %s", uids[0], exc)
                return []
        half = len(uids) // 2
        return self._fetch_uids(uids[:half], items) + self._fetch_uids(uids[half:], items)

    def _fetch_raw(self, uids: list[int]) -> list:
        return self._fetch_uids(uids, FETCH_ITEMS)

    def _fetch_new(self, uids: list[int]) -> Iterator[tuple[list[int], list[MessageMeta]]]:
        """(chunk, its messages) in UID order; large folders are parsed by worker processes
        while the next chunk is read and the previous one stored.

        Chunks adapt to the link: a chunk whose answer is cut halves the next attempt's
        chunks (the connection is re-made by the caller), each complete one doubles them
        again up to FETCH_CHUNK, so a link that drops every few hundred kilobytes still
        moves forward.
        """
        # Once the workers run (a large folder came first), any folder of two chunks or
        # more gains from them.
        big = len(uids) >= PARALLEL_FROM or (self._pool is not None and len(uids) > FETCH_CHUNK)
        pool = self._workers() if big else None
        pending: deque[tuple[list[int], list, Future]] = deque()
        ahead = (self._pool_size + 1) if pool is not None else 0
        start = 0
        while start < len(uids):
            chunk = uids[start : start + self._chunk]
            try:
                data = self._fetch_raw(chunk)
            except (IMAPClientAbortError, OSError, EOFError):
                self._chunk = max(1, len(chunk) // 2)
                # The chunks read in full before the cut are being parsed by the workers,
                # which need no connection: hand them over to be stored first, or a link
                # that drops every few chunks would lose them every time and never advance.
                while pending:
                    yield _result(*pending.popleft())
                raise
            self._chunk = min(FETCH_CHUNK, self._chunk * 2)
            start += len(chunk)
            if pool is None:
                yield chunk, messages_from_fetch(data, chunk)
                continue
            try:
                future = pool.submit(messages_from_fetch, data, chunk)
            except BrokenProcessPool:
                future = Future()
                future.set_result(messages_from_fetch(data, chunk))
            pending.append((chunk, data, future))
            if len(pending) > ahead:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())

    def _workers(self) -> ProcessPoolExecutor | None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if (cpus or 1) < 2:
            return None
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            context = multiprocessing.get_context(method)
            self._pool_size = min(cpus or 1, 4)
            self._pool = ProcessPoolExecutor(
                max_workers=self._pool_size, mp_context=context, initializer=_worker_init
            )
        return self._pool

    # -- actions ----------------------------------------------------------------------
    # Every action command names exact UIDs. Nothing here ever sends a bare EXPUNGE while
    # messages outside the selection are marked \Deleted.

    def _open(self, folder: str) -> int | None:
        """SELECT ``folder`` read-write (once per folder); its UIDVALIDITY."""
        if self._selected == folder:
            return self._validity
        # A SELECT that fails leaves no folder selected (RFC 3501 6.3.1).
        self._selected = None
        try:
            sel = self._c.select_folder(folder, readonly=False)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise FolderNotFound(
                _("cannot open folder '{path}': {reason}").format(path=folder, reason=_text(exc))
            ) from exc
        self._selected = folder
        self._validity = sel.get(b"UIDVALIDITY")
        return self._validity

    def folder_validity(self, folder: str) -> int | None:
        """UIDVALIDITY of ``folder`` (selected read-write for the action that follows)."""
        with self._errors():
            return self._open(folder)

    def next_id(self, folder: str) -> str | None:
        """UIDNEXT of ``folder``: copies we make from now on get UIDs at or above it."""
        with self._errors():
            return self._uidnext(folder)

    def _uidnext(self, folder: str) -> str | None:
        value = self._c.folder_status(folder, ["UIDNEXT"]).get(b"UIDNEXT")
        return str(value) if value is not None else None

    def verify(self, folder: str, validity: int | None, refs: list[ItemRef]) -> dict[str, str]:
        """Same UIDVALIDITY, and for each UID the same RFC822.SIZE and Message-ID; not
        flagged since the plan (flags come in the same FETCH as the identity)."""
        with self._errors():
            current = self._open(folder)
            if validity is not None and current != validity:
                return {r.server_id: RESET for r in refs}
            found: dict[int, tuple[int, str | None, bool]] = {}
            uids = sorted({int(r.server_id) for r in refs})
            for chunk in imapwire.chunk_uids(uids, VERIFY_CHUNK):
                found.update(_identities(self._fetch_uids(chunk, IDENTITY_ITEMS)))
        problems: dict[str, str] = {}
        for r in refs:
            got = found.get(int(r.server_id))
            if got is None:
                problems[r.server_id] = VANISHED
            elif got[:2] != (r.size, r.message_id):
                problems[r.server_id] = CHANGED
            elif got[2] and not r.flagged:
                problems[r.server_id] = FLAGGED
        return problems

    def move(self, folder: str, refs: list[ItemRef], target: str) -> MoveResult:
        """``UID MOVE`` where the server has it; else COPY, then ``\\Deleted`` and
        ``UID EXPUNGE`` of exactly those UIDs (or a plain EXPUNGE only when nothing else
        in the folder is marked deleted).

        Messages another client expunged meanwhile (``NO [EXPUNGEISSUED]``) are left out
        and the rest moved; what the answer does not account for is for the caller to
        settle (the moved result lacks it).
        """
        uids = sorted(int(r.server_id) for r in refs)
        with self._errors():
            self._open(folder)
            if "MOVE" not in self.capabilities:
                self._check_expunge_safe(folder, uids)
            reported = "UIDPLUS" in self.capabilities
            floor = None if reported else self._uidnext(target)
            mapping: dict[int, int] = {}
            target_validity: int | None = None
            for chunk in imapwire.chunk_uids(uids, ACTION_CHUNK):
                validity, pairs, sent = self._move_chunk(folder, chunk, target)
                target_validity = validity or target_validity
                mapping.update(pairs)
                if "MOVE" not in self.capabilities and sent:
                    self._expunge(folder, sent)
            if reported and mapping:
                moved: dict[str, str | None] = {str(s): str(d) for s, d in mapping.items()}
            else:
                moved, located = self._moved_unreported(folder, refs, uids, target, floor)
                target_validity = target_validity or located
        after = str(max(mapping.values()) + 1) if mapping else None
        return MoveResult(moved, target_validity, after)

    def _moved_unreported(
        self, folder: str, refs: list[ItemRef], uids: list[int], target: str, floor: str | None
    ) -> tuple[dict[str, str | None], int | None]:
        """What a move the server did not report (no UIDPLUS) did: what left the folder
        *and* arrived in the target, found there by Message-ID and size above the floor
        taken before the command. A message another client expunged meanwhile also left
        the folder, but arrived nowhere: it is not counted as moved.

        Also the target's UIDVALIDITY the ids found belong to (None when none was found):
        without it the journal could not tell these ids from another validity's, and a
        delete from the Trash would not know mailclean put the message there."""
        present = self._present(uids)
        gone = [r for r in refs if int(r.server_id) not in present]
        found = self._locate(target, gone, floor)
        # _locate selected the target: its UIDVALIDITY is the one of the ids it found.
        validity = self._validity if found else None
        self._open(folder)
        # A message without a Message-ID cannot be recognised in the target: the command
        # that took it out of the folder is what moved it.
        return {r.server_id: found.get(r.server_id) for r in gone
                if r.server_id in found or not r.message_id}, validity

    def _move_chunk(
        self, folder: str, chunk: list[int], target: str
    ) -> tuple[int | None, dict[int, int], list[int]]:
        """MOVE (or COPY) one chunk: (target validity, COPYUID pairs, UIDs the command
        that succeeded named)."""
        command = "MOVE" if "MOVE" in self.capabilities else "COPY"
        mailbox = self._c._normalise_folder(target)
        validity: int | None = None
        mapping: dict[int, int] = {}
        sent = chunk
        for attempt in range(2):
            self._c._imap.untagged_responses.pop("COPYUID", None)
            try:
                self._uid_simple(command, imapwire.sequence_set(sent), mailbox)
            except Refused as exc:
                if exc.code != "EXPUNGEISSUED" or attempt:
                    raise
                # Another client expunged some of these since we looked. A refused COPY
                # copied nothing (RFC 3501); a MOVE may have moved part: keep what it
                # reports, and send again what is still here.
                v, pairs = self._copied()
                validity, sent = v or validity, []
                mapping.update(pairs)
                here = self._present(chunk)
                sent = [u for u in chunk if u in here and u not in mapping]
                if not sent:
                    break
                continue
            v, pairs = self._copied()
            validity = v or validity
            mapping.update(pairs)
            break
        return validity, mapping, sent

    def _copied(self) -> tuple[int | None, dict[int, int]]:
        """The COPYUID codes of the last command: target validity, source -> target UID."""
        validity: int | None = None
        mapping: dict[int, int] = {}
        for code in self._c._imap.untagged_responses.pop("COPYUID", []):
            v, pairs = _copyuid(code)
            validity = v or validity
            mapping.update(pairs)
        return validity, mapping

    def delete(self, folder: str, refs: list[ItemRef]) -> list[str]:
        """``\\Deleted`` then ``UID EXPUNGE`` of exactly ``refs``; the UIDs gone."""
        uids = sorted(int(r.server_id) for r in refs)
        with self._errors():
            self._open(folder)
            self._check_expunge_safe(folder, uids)
            # What another program moved or expunged since the identity check left the
            # folder, but was not deleted by us: only what is here now can be (NOOP: the
            # server tells this session of other sessions' expunges only when asked).
            self._c.noop()
            here = self._present(uids)
            for chunk in imapwire.chunk_uids(uids, ACTION_CHUNK):
                self._expunge(folder, chunk)
            present = self._present(uids)
        return [str(u) for u in uids if u in here and u not in present]

    def _expunge(self, folder: str, uids: list[int]) -> None:
        uid_set = imapwire.sequence_set(uids)
        self._uid_simple("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in self.capabilities:
            self._uid_simple("EXPUNGE", uid_set)
            return
        # Checked again right before the expunge: another client may have marked
        # messages since the check made before the first command.
        self._check_expunge_safe(folder, uids, ours_marked=True)
        with self._errors():
            self._c.expunge()

    def _check_expunge_safe(self, folder: str, uids: list[int], ours_marked: bool = False) -> None:
        """Without UIDPLUS, refuse when messages outside ``uids`` are marked \\Deleted."""
        if "UIDPLUS" in self.capabilities:
            return
        # NOOP first: a session sees other sessions' new flags only once told of them.
        self._c.noop()
        marked = set(self._search_uids_criteria("DELETED"))
        others = marked - set(uids)
        if others:
            if ours_marked:
                # Put our own marks back: the messages stay where they were.
                self._uid_simple(
                    "STORE", imapwire.sequence_set(uids), "-FLAGS.SILENT", "(\\Deleted)"
                )
            raise UnsafeExpunge(
                folder,
                len(others),
                ngettext(
                    "{count} other message in '{folder}' is marked for deletion by another "
                    "program, and this server (no UIDPLUS) can only remove all marked messages "
                    "at once: nothing was removed from '{folder}'. Remove or unmark it in "
                    "your mail program, then try again.",
                    "{count} other messages in '{folder}' are marked for deletion by another "
                    "program, and this server (no UIDPLUS) can only remove all marked messages "
                    "at once: nothing was removed from '{folder}'. Remove or unmark them in "
                    "your mail program, then try again.",
                    len(others),
                ).format(count=len(others), folder=folder),
            )

    def _search_uids_criteria(self, *criteria: str) -> list[int]:
        if "ESEARCH" in self.capabilities:
            data = self._uid_command("SEARCH", "RETURN", "(ALL)", *criteria)
            uids = imapwire.parse_esearch(self._c._imap.untagged_responses.pop("ESEARCH", []))
            return sorted(set(uids + imapwire.parse_esearch(data)))
        return sorted(set(imapwire.parse_search(self._uid_command("SEARCH", *criteria))))

    def _uid_simple(self, *args: str) -> None:
        """``UID <args>`` whose untagged answers (EXPUNGE, FETCH...) are not needed.
        Raises :class:`Refused` when the server answers NO or BAD."""
        imap = self._c._imap
        tag = imap._command("UID", *args)
        typ, data = imap._command_complete(args[0], tag)
        for name in ("FETCH", "EXPUNGE", "VANISHED"):
            imap.untagged_responses.pop(name, None)
        if typ != "OK":
            raise Refused(self.settings.host, f"UID {args[0]}", typ, data)

    def fetch(self, folder: str, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        """Whole messages, ``BODY.PEEK[]`` (nothing is marked seen), a few MB per command."""
        with self._errors():
            self._open(folder)
            batch: list[int] = []
            weight = 0
            for r in sorted(refs, key=lambda r: int(r.server_id)):
                batch.append(int(r.server_id))
                weight += r.size
                if weight >= FETCH_BYTES or len(batch) >= ACTION_CHUNK:
                    yield from self._fetch_bodies(batch)
                    batch, weight = [], 0
            if batch:
                yield from self._fetch_bodies(batch)

    def _fetch_bodies(self, uids: list[int]) -> Iterator[tuple[str, bytes]]:
        data = self._uid_command("FETCH", imapwire.sequence_set(uids), "(UID BODY.PEEK[])")
        bodies: dict[int, bytes] = {}
        for item in imapwire.parse_fetch(data):
            uid, body = item.get(b"UID"), item.get(b"BODY[]")
            if isinstance(uid, int) and isinstance(body, bytes):
                bodies[uid] = body
        for uid in uids:
            if uid in bodies:
                yield str(uid), bodies[uid]

    def locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        """Find each ref in ``folder`` by Message-ID and size among UIDs from ``floor``.

        The folder's identities are read (``UID FETCH floor:*``) and matched here: a
        Message-ID is never sent to the server, so none can be too long for its command
        line, hold bytes it cannot take, or be read differently by it.
        """
        with self._errors():
            return self._locate(folder, refs, floor)

    def _locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        wanted = [r for r in refs if r.message_id]
        if not wanted:
            return {}
        low = int(floor) if floor and floor.isdigit() else 1
        self._open(folder)
        uids = self._list_uids(low)
        found_ids: dict[int, tuple[int, str | None, bool]] = {}
        for chunk in imapwire.chunk_uids(uids, VERIFY_CHUNK):
            found_ids.update(_identities(self._fetch_uids(chunk, IDENTITY_ITEMS)))
        by_identity: dict[tuple[int, str | None], list[int]] = defaultdict(list)
        for uid in sorted(found_ids):
            size, msgid, _flagged = found_ids[uid]
            by_identity[(size, msgid)].append(uid)
        found: dict[str, str] = {}
        for r in wanted:
            pool = by_identity.get((r.size, r.message_id))
            if pool:
                found[r.server_id] = str(pool.pop(0))
        return found

    def create_folder(self, path: str) -> None:
        """CREATE ``path`` (and subscribe to it, so mail programs show it)."""
        with self._errors():
            self._c.create_folder(path)
            with contextlib.suppress(IMAPClientError):
                self._c.subscribe_folder(path)


def messages_from_fetch(data: list, uids: list[int]) -> list[MessageMeta]:
    """Parse the raw reply to one FETCH of ``uids`` into metadata, in UID order."""
    wanted = set(uids)
    out: dict[int, MessageMeta] = {}
    for item in imapwire.parse_fetch(data):
        uid = item.get(b"UID")
        if not isinstance(uid, int) or uid not in wanted or not item.keys() - _UNSOLICITED:
            continue  # a flag change announced by the server, not our answer
        if uid in out and b"RFC822.SIZE" not in item:
            continue
        # A damaged answer (no size, broken structure) still records the message, with
        # its problems: skipping it would let the cursor pass it for good.
        out[uid] = message_from_fetch(uid, item)
    return [out[u] for u in sorted(out)]


_UNSOLICITED = frozenset({b"UID", b"FLAGS", b"MODSEQ"})


def _result(chunk: list[int], data: list, future: Future) -> tuple[list[int], list[MessageMeta]]:
    try:
        return chunk, future.result()
    except BrokenProcessPool:
        # A worker died (out of memory, killed): parse here rather than lose the chunk.
        return chunk, messages_from_fetch(data, chunk)


def _worker_init() -> None:
    # Ctrl-C is the main process's to handle; workers just stop when it closes the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def message_from_fetch(uid: int, item: dict) -> MessageMeta:
    """Build a :class:`MessageMeta` from one parsed FETCH response."""
    problems: list[str] = []
    size = item.get(b"RFC822.SIZE")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**63:
        problems.append("no RFC822.SIZE")
        size = 0
    raw_flags = item.get(b"FLAGS")  # a list, but a broken server can send an atom
    flags = {f.lower() for f in raw_flags if isinstance(f, bytes)} if isinstance(
        raw_flags, list | tuple) else set()
    raw_headers = b""
    for key, value in item.items():
        if key.startswith(b"BODY[HEADER"):
            raw_headers = value if isinstance(value, bytes) else b""
            break
    attachments, bs_problems = mime.attachments_from_bodystructure(item.get(b"BODYSTRUCTURE"))
    problems.extend(bs_problems)
    return meta_from_headers(
        raw_headers,
        server_id=str(uid),
        uid=uid,
        size=size,
        received_at=imapwire.parse_internaldate(item.get(b"INTERNALDATE")),
        seen=b"\\seen" in flags,
        flagged=b"\\flagged" in flags,
        attachments=attachments,
        problems=problems,
    )


def _flags(data: list) -> list[tuple[str, bool, bool]]:
    out = []
    for item in imapwire.parse_fetch(data):
        uid = item.get(b"UID")
        flags = item.get(b"FLAGS")
        if isinstance(uid, int) and isinstance(flags, list):
            lower = {f.lower() for f in flags if isinstance(f, bytes)}
            out.append((str(uid), b"\\seen" in lower, b"\\flagged" in lower))
    return out


def _text(value: object) -> str:
    if isinstance(value, Exception):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


_IDENTITY = re.compile(
    rb"\(UID (\d{1,10}) RFC822\.SIZE (\d{1,19})(?: FLAGS \(([^()]*)\))?"
    rb" BODY\[HEADER\.FIELDS \(\"?MESSAGE-ID\"?\)\] \{\d+\}$",
    re.I,
)
#: What the identity check asks of each message: its identity, and its flags in the same
#: answer, so a message flagged since the plan is seen before it is acted on.
IDENTITY_ITEMS = "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"


#: A Message-ID header of one line holding one bracketed ASCII id, nothing else.
_SIMPLE_MESSAGE_ID = re.compile(
    rb"Message-ID:[ \t]*<([\x21-\x3b\x3d\x3f-\x7e]+)>[ \t]*\r?\n(?:\r?\n)?\Z", re.I
)


def _identities_fast(data: list) -> dict[int, tuple[int, str | None, bool]] | None:
    """The answer to the identity FETCH, ``{uid: (size, Message-ID, flagged)}``, in the item
    order Dovecot and most servers use, read without the general parser; None when the
    answer has another shape."""
    out: dict[int, tuple[int, str | None, bool]] = {}
    for chunk in data:
        if isinstance(chunk, tuple):
            m = _IDENTITY.search(chunk[0])
            if m is None:
                return None
            flagged = m[3] is not None and b"\\flagged" in m[3].lower()
            simple = _SIMPLE_MESSAGE_ID.match(chunk[1])
            if simple is not None:
                # What normalize_message_id gives for the common one-line "<id>" header.
                out[int(m[1])] = (int(m[2]), simple[1].decode("ascii"), flagged)
                continue
            headers = mime.parse_header_block(chunk[1])
            msgid = mime.normalize_message_id(headers.get("message-id"))
            out[int(m[1])] = (int(m[2]), msgid, flagged)
        elif chunk.strip() != b")":
            return None  # an unsolicited update, or an answer without a literal
    return out


def _identities(data: list) -> dict[int, tuple[int, str | None, bool]]:
    """The answer to the identity FETCH, whatever its shape."""
    fast = _identities_fast(data)
    if fast is not None:
        return fast
    found: dict[int, tuple[int, str | None, bool]] = {}
    for item in imapwire.parse_fetch(data):
        uid, size = item.get(b"UID"), item.get(b"RFC822.SIZE")
        if not isinstance(uid, int) or not isinstance(size, int):
            continue  # an unsolicited flag update, not our answer
        header = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"")
        headers = mime.parse_header_block(header if isinstance(header, bytes) else b"")
        raw_flags = item.get(b"FLAGS")
        flags = {f.lower() for f in raw_flags if isinstance(f, bytes)} if isinstance(
            raw_flags, list | tuple) else set()
        found[uid] = (size, mime.normalize_message_id(headers.get("message-id")),
                      b"\\flagged" in flags)
    return found


def _copyuid(code: bytes | tuple) -> tuple[int | None, dict[int, int]]:
    """``b"1234 1:3,7 10:13"`` (the data of a COPYUID response code) -> validity, pairs."""
    if isinstance(code, tuple):
        code = code[0]
    words = code.split() if isinstance(code, bytes) else []
    if len(words) < 3 or not words[0].isdigit() or len(words[0]) > 10:
        return None, {}
    sources = imapwire.expand_sequence_set(words[1])
    targets = imapwire.expand_sequence_set(words[2])
    if len(sources) != len(targets):
        return int(words[0]), {}
    return int(words[0]), dict(zip(sources, targets, strict=True))


def _safe_logout(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # logging out of a broken session must never fail
        with contextlib.suppress(Exception):
            client.shutdown()


class _ErrorMapper:
    """Turns socket and protocol failures into ConnectorError subclasses with plain words:
    what the user reads never holds protocol bytes (they go to the debug log)."""

    def __init__(self, host: str) -> None:
        self.host = host

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, ConnectorError | GeneratorExit):
            return
        if isinstance(exc, IMAPClientAbortError | OSError | EOFError):
            log.debug("connection to %s lost: %r", self.host, exc)
            raise ConnectionFailed(
                _("the connection to {host} was lost: {reason}").format(
                    host=self.host, reason=_why(exc)
                )
            ) from exc
        if isinstance(exc, IMAPClientError):
            log.debug("%s answered an error: %r", self.host, exc)
            raise ConnectorError(
                _("{host} refused a command: {reason}").format(
                    host=self.host, reason=_server_words(exc)
                )
            ) from exc


def _why(exc: BaseException) -> str:
    """Why a connection failed, in words (never the bytes the server sent)."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return _("the server stopped answering")
    if isinstance(exc, ConnectionRefusedError):
        return _("the server refused the connection (is the port right?)")
    if isinstance(exc, ConnectionResetError):
        return _("the connection was reset")
    if isinstance(exc, BrokenPipeError | EOFError):
        return _("the server closed the connection")
    if isinstance(exc, ssl.SSLError):
        return _("the encrypted (TLS) connection failed")
    if isinstance(exc, IMAPClientAbortError):
        text = _text(exc).lower()
        if "eof" in text or "closed" in text or "bye" in text:
            return _("the server closed the connection")
        if "timed out" in text or "timeout" in text:
            return _("the server stopped answering")
        return _("the connection broke in the middle of an answer")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _("the connection broke")


#: RFC 5530 response codes a refused login may carry, in words.
_LOGIN_CODES = {
    "AUTHENTICATIONFAILED": lambda: _("the user name or the password is wrong"),
    "AUTHORIZATIONFAILED": lambda: _("this login is not allowed to open that mailbox"),
    "EXPIRED": lambda: _("the password has expired: change it first"),
    "PRIVACYREQUIRED": lambda: _("the server wants an encrypted connection (--security "
                                 "ssl or starttls)"),
    "CONTACTADMIN": lambda: _("the server asks you to contact its administrator"),
    "UNAVAILABLE": lambda: _("the server cannot log anyone in right now; try again later"),
    "INUSE": lambda: _("the mailbox is in use by another program; try again later"),
    "LIMIT": lambda: _("too many connections or attempts; try again later"),
}
_RESPONSE_CODE = re.compile(r"^\s*\[([A-Z-]+)[^\]]*\]\s*(.*)$", re.S)


def _login_refusal(exc: BaseException) -> tuple[str | None, str]:
    """(RFC 5530 code, words) of a refused LOGIN or AUTHENTICATE."""
    text = _text(exc)
    m = _RESPONSE_CODE.match(text)
    code = m[1].upper() if m else None
    if code in _LOGIN_CODES:
        return code, _LOGIN_CODES[code]()
    return code, _("the server said “{text}”").format(text=_short(m[2] if m else text))


def _server_words(exc: BaseException) -> str:
    """A refused command's reason as the server put it, shortened, without the
    protocol's framing (imaplib's "command error: BAD [b'...']")."""
    text = _text(exc)
    quoted = _BYTES_REPR.search(text)
    if quoted:
        text = quoted[1]
    m = _RESPONSE_CODE.match(text)
    return _short(m[2] if m and m[2] else text)


_BYTES_REPR = re.compile(r"""\bb['"](.*?)['"]\]?\s*$""", re.S)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.replace("\r", " ").replace("\n", " ").split())
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tls_words(where: str, exc: ssl.SSLError, security: str) -> str:
    """A TLS failure in words, with the likely fix for the usual mistakes."""
    reason = str(exc.reason or exc)
    if "WRONG_VERSION_NUMBER" in reason or "record layer failure" in reason.lower():
        if security == "ssl":
            return _(
                "TLS with {where} failed: the server does not speak TLS on this port. Port "
                "993 is for --security ssl; port 143 is for --security starttls (or none "
                "on a local test server)"
            ).format(where=where)
        return _(
            "TLS with {where} failed after STARTTLS: the server answered something that is "
            "not TLS"
        ).format(where=where)
    return _("TLS with {where} failed: {reason}").format(where=where, reason=reason)
