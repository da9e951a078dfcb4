"""The IMAP session: connection, TLS, login, capabilities, logout."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl
from concurrent.futures import ProcessPoolExecutor

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mailclean.connectors.base import (
    AuthenticationError,
    ConnectionFailed,
    Connector,
    ConnectorError,
    TLSError,
)
from mailclean.connectors.imap import limits
from mailclean.connectors.imap.errors import _ErrorMapper, _login_refusal, _tls_words, _why, log
from mailclean.connectors.imap.settings import ImapSettings
from mailclean.i18n import _
from mailclean.tls import CafileError, client_context

# A UID SEARCH of a large folder, or a FLAGS fetch, comes back as one very long line;
# imaplib refuses lines over _MAXLINE (1 MB by default; private, so typeshed omits it).
imaplib._MAXLINE = max(imaplib._MAXLINE, 100_000_000)  # type: ignore[attr-defined]


class _ImapSession(Connector):
    """The connection: TCP and TLS, login, capabilities, logout."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.client: imapclient.IMAPClient | None = None
        self.capabilities: frozenset[str] = frozenset()
        self._pool: ProcessPoolExecutor | None = None
        self._pool_size = 0
        self._selected: str | None = None
        """The folder selected read-write for actions (sync selects read-only)."""
        self._validity: int | None = None
        self._chunk = limits.FETCH_CHUNK
        """Messages per FETCH now: smaller after a cut answer, back up after good ones."""

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
        try:
            return client_context(self.settings.cafile, self.settings.insecure_tls)
        except CafileError as exc:
            raise ConnectorError(str(exc)) from None  # not a failure trying again mends

    @property
    def read_timeout(self) -> float:
        """Seconds one read may wait: the settings' timeout."""
        return self.settings.timeout

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


def _safe_logout(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # logging out of a broken session must never fail
        with contextlib.suppress(Exception):
            client.shutdown()
