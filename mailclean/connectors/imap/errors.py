"""Refusals, lost connections and failed logins in plain words: what the user reads never
holds protocol bytes (they go to the debug log).
"""

from __future__ import annotations

import logging
import re
import socket
import ssl

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mailclean.connectors.base import ConnectionFailed, ConnectorError
from mailclean.i18n import _

#: The connector's logger, for all its modules.
log = logging.getLogger("mailclean.connectors.imap")


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


def _text(value: object) -> str:
    if isinstance(value, Exception):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


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
