"""exchangelib and network failures turned into ConnectorError subclasses with plain words."""

from __future__ import annotations

import re

import requests
import requests.adapters
from exchangelib import errors as ews_errors

from mailclean.connectors.base import (
    AuthenticationError,
    ConnectionFailed,
    ConnectorError,
    FolderNotFound,
    MailboxNotFound,
    TLSError,
)
from mailclean.connectors.ews.settings import EwsSettings
from mailclean.i18n import _

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
