"""Sign-in, Graph and network failures turned into ConnectorError subclasses with plain words.

Each message says what happened and what to do about it (who runs what, where in the Entra
admin center); none carries protocol bytes, a token or a secret. What Microsoft said
exactly goes to the debug log only.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx

from mailclean.connectors.base import (
    AuthenticationError,
    ConnectionFailed,
    ConnectorError,
    FolderNotFound,
    MailboxNotFound,
    TLSError,
)
from mailclean.i18n import _

if TYPE_CHECKING:
    from mailclean.connectors.graph.settings import GraphSettings

log = logging.getLogger("mailclean.connectors.graph")


class GraphError(Exception):
    """An error answer of Graph: HTTP status and the error's ``code`` (its ``message`` is
    kept for the debug log, never shown)."""

    def __init__(self, status: int, code: str = "", message: str = "", *,
                 waited: float = 0.0) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.waited = waited
        """Seconds spent waiting on throttling before giving up (429, 503)."""

    @classmethod
    def from_body(cls, status: int, body: object, *, waited: float = 0.0) -> GraphError:
        """The error of a JSON error body (``{"error": {"code", "message"}}``)."""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return cls(status, str(error.get("code") or ""), str(error.get("message") or ""),
                       waited=waited)
        return cls(status, waited=waited)


class TokenError(Exception):
    """The identity platform refused a token request (MSAL's error answer)."""

    def __init__(self, error: str, description: str = "", codes: list[int] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        found = [int(c) for c in re.findall(r"AADSTS(\d+)", description or "")]
        self.codes = list(codes or []) + [c for c in found if c not in (codes or [])]

    @classmethod
    def from_result(cls, result: dict) -> TokenError:
        """The error of an MSAL result dict (``error``, ``error_description``...)."""
        codes = result.get("error_codes")
        return cls(
            str(result.get("error") or "unknown_error"),
            str(result.get("error_description") or ""),
            [int(c) for c in codes if isinstance(c, int)] if isinstance(codes, list) else None,
        )


class NotSignedIn(Exception):
    """A sign-in is needed and there is nobody to ask (no device-code callback)."""


class Aborted(Exception):
    """:meth:`GraphConnector.abort` was called while this request waited or ran."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: a number of seconds or an HTTP date
    (RFC 9110 §10.2.3); None when absent or unreadable. Never negative."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


#: Token errors, by AADSTS code, for which the message names what to fix.
_CONSENT = {65001, 650051, 650052}
_TENANT = {90002, 900023, 90072, 900022}
_SECRET_EXPIRED = {7000222}
_SECRET_INVALID = {7000215}
_APP_UNKNOWN = {700016}
_PUBLIC_CLIENT = {7000218}
_CERTIFICATE = {700027, 700024, 70002, 7000274}
_SIGN_IN_AGAIN = {70008, 700082, 50173, 50078, 50076, 700084, 50132}
#: Graph error codes meaning the mailbox itself is not there.
_NO_MAILBOX = {"ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "ErrorNonExistentMailbox",
               "ResourceNotFound", "Request_ResourceNotFound", "MailboxNotFound"}
_DENIED = {"ErrorAccessDenied", "Authorization_RequestDenied", "AccessDenied",
           "ErrorItemNotFoundOrAccessDenied", "Forbidden"}


class ErrorMapper:
    """A context manager turning sign-in, Graph and network failures into ConnectorError
    subclasses whose words say what to do."""

    def __init__(self, settings: GraphSettings, connecting: bool = False) -> None:
        self.settings = settings
        self.connecting = connecting

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, ConnectorError | GeneratorExit):
            return
        if isinstance(exc, GraphError | TokenError | NotSignedIn | Aborted | httpx.HTTPError
                      | OSError) or _is_requests_error(exc):
            raise self.translate(exc) from exc

    # -- the words --------------------------------------------------------------------

    def translate(self, exc: BaseException) -> ConnectorError:
        """The ConnectorError that says what ``exc`` means for the user."""
        if isinstance(exc, TokenError):
            log.debug("sign-in refused: %s %s", exc.error, exc.description)
            return self.token_error(exc)
        if isinstance(exc, NotSignedIn):
            return AuthenticationError(self._sign_in_again(first=True))
        if isinstance(exc, Aborted):
            return ConnectionFailed(_("the connection to {host} was lost: {reason}").format(
                host=self.settings.where, reason=_("stopped")))
        if isinstance(exc, GraphError):
            log.debug("Graph error %s %s: %s", exc.status, exc.code, exc.message)
            return self.graph_error(exc)
        return self.network_error(exc)

    def _who(self) -> str:
        s = self.settings
        return _("application {client_id}").format(client_id=s.client_id) if s.app_only \
            else s.email

    def _sign_in_again(self, *, first: bool = False) -> str:
        s = self.settings
        command = f"mailclean account test {s.account or '<account>'}"
        if first:
            return _("{email} is not signed in to Microsoft 365 yet, or the sign-in has "
                     "expired: run '{command}' in a terminal and follow its instructions"
                     ).format(email=s.email, command=command)
        return _("the sign-in of {email} has expired or was revoked: sign in again with "
                 "'{command}'").format(email=s.email, command=command)

    def token_error(self, exc: TokenError) -> ConnectorError:
        """Words for a refused token request."""
        s = self.settings
        codes = set(exc.codes)
        app = s.client_id or "?"
        if exc.error == "authorization_declined":
            return AuthenticationError(_("the sign-in was declined in the browser"))
        if exc.error in ("expired_token", "code_expired"):
            return AuthenticationError(_(
                "the sign-in code expired before it was entered: run the command again and "
                "enter the new code sooner"))
        if codes & _CONSENT or exc.error == "consent_required":
            text = _(
                "application {client_id} has not been granted the application permission "
                "Mail.ReadWrite in tenant {tenant}: a Microsoft 365 administrator grants it "
                "in the Entra admin center (App registrations > {client_id} > API "
                "permissions > Microsoft Graph > Mail.ReadWrite, then 'Grant admin consent')"
            ) if s.app_only else _(
                "application {client_id} has not been granted the delegated permission "
                "Mail.ReadWrite in tenant {tenant}: a Microsoft 365 administrator grants it "
                "in the Entra admin center (App registrations > {client_id} > API "
                "permissions > Microsoft Graph > Mail.ReadWrite, then 'Grant admin consent')")
            return AuthenticationError(text.format(client_id=app, tenant=s.tenant_id))
        if codes & _TENANT:
            return AuthenticationError(_(
                "there is no Microsoft 365 tenant {tenant} at {authority}: give with "
                "--tenant-id the Directory (tenant) ID shown on the overview page of the "
                "Entra admin center, or one of the tenant's domains (contoso.onmicrosoft.com)"
            ).format(tenant=s.tenant_id, authority=_host(s.authority)))
        if codes & _SECRET_EXPIRED:
            return AuthenticationError(_(
                "the client secret of application {client_id} has expired: an administrator "
                "creates a new one (Entra admin center > App registrations > {client_id} > "
                "Certificates & secrets) and puts its value in {source}"
            ).format(client_id=app, source=s.secret_source or _("the secret's variable")))
        if codes & _SECRET_INVALID:
            return AuthenticationError(_(
                "the client secret in {source} is not the one of application {client_id}: "
                "copy the secret's Value (not its Secret ID) from the Entra admin center "
                "(App registrations > {client_id} > Certificates & secrets)"
            ).format(client_id=app, source=s.secret_source or _("the secret's variable")))
        if codes & _APP_UNKNOWN:
            return AuthenticationError(_(
                "tenant {tenant} has no application {client_id}: check --client-id (the "
                "Application (client) ID of the app registration) and --tenant-id"
            ).format(client_id=app, tenant=s.tenant_id))
        if codes & _PUBLIC_CLIENT:
            return AuthenticationError(_(
                "application {client_id} does not allow signing in with a code: an "
                "administrator turns on 'Allow public client flows' (Entra admin center > "
                "App registrations > {client_id} > Authentication)").format(client_id=app))
        if codes & _CERTIFICATE:
            return AuthenticationError(_(
                "the certificate {path} is not registered for application {client_id}: an "
                "administrator uploads its public part (Entra admin center > App "
                "registrations > {client_id} > Certificates & secrets > Certificates)"
            ).format(path=s.certificate or "?", client_id=app))
        if exc.error == "invalid_grant" or codes & _SIGN_IN_AGAIN:
            return AuthenticationError(self._sign_in_again())
        reason = exc.error + "".join(f" (AADSTS{c})" for c in sorted(codes)[:1])
        return AuthenticationError(_("Microsoft sign-in refused {who}: {reason}").format(
            who=self._who(), reason=reason))

    def graph_error(self, exc: GraphError) -> ConnectorError:
        """Words for an error answer of Graph."""
        s = self.settings
        if exc.status == 401:
            if s.auth == "token":
                return AuthenticationError(_(
                    "Microsoft Graph refused the token in {source} (expired, or not meant "
                    "for Microsoft Graph): get a new one").format(
                    source=s.secret_source or _("the token's variable")))
            return AuthenticationError(self._sign_in_again())
        if exc.status == 403 and (exc.code in _DENIED or not exc.code):
            return AuthenticationError(self._denied())
        if exc.status == 404 and exc.code in _NO_MAILBOX:
            return MailboxNotFound(_(
                "{where} has no mailbox {email} (or it is not in Exchange Online)"
            ).format(where=s.where, email=s.email))
        if exc.status == 404:
            return FolderNotFound(_("a folder of {email} disappeared from the server: {reason}"
                                    ).format(email=s.email, reason=exc.code or exc.status))
        if exc.status in (429, 503):
            return ConnectionFailed(_(
                "Microsoft Graph keeps asking to slow down (throttling of {email}) and did "
                "not answer within {seconds:.0f} s; try again later"
            ).format(email=s.email, seconds=max(exc.waited, s.max_wait)))
        if exc.status >= 500:
            return ConnectionFailed(_(
                "Microsoft Graph failed on a request for {email} (HTTP {status}); try "
                "again later").format(email=s.email, status=exc.status))
        return ConnectorError(_(
            "Microsoft Graph refused a request for {email}: HTTP {status} {code}"
        ).format(email=s.email, status=exc.status, code=exc.code).rstrip())

    def _denied(self) -> str:
        s = self.settings
        if s.app_only:
            return _(
                "application {client_id} may not open the mailbox {email}. Either Exchange "
                "Online limits it to other mailboxes (RBAC for Applications, or an "
                "application access policy): an Exchange administrator gives it access in "
                "Exchange Online PowerShell, e.g. New-ManagementRoleAssignment -App "
                "{client_id} -Role \"Application Mail.ReadWrite\" -CustomResourceScope <a "
                "scope that includes {email}>, or adds {email} to the group of its access "
                "policy (check with Test-ApplicationAccessPolicy -Identity {email} -AppId "
                "{client_id}). Or its application permission Mail.Read or Mail.ReadWrite was "
                "never granted: an administrator grants it in the Entra admin center (App "
                "registrations > {client_id} > API permissions, then 'Grant admin consent')"
            ).format(client_id=s.client_id, email=s.email)
        return _(
            "this sign-in may not read or change the mailbox {email}: either the account "
            "signed in has no access to it, or application {client_id} lacks the permission "
            "Mail.ReadWrite (Mail.Read can index but not move or delete); an administrator "
            "grants Mail.ReadWrite in the Entra admin center"
        ).format(client_id=s.client_id or "?", email=s.email)

    def network_error(self, exc: BaseException) -> ConnectorError:
        """Words for a request that got no answer (the sign-in's or Graph's)."""
        where = _host_of(exc) or self.settings.where
        tls = _tls_failure(exc)
        if tls is not None:
            return TLSError(_(
                "the TLS certificate of {where} is not trusted ({reason}); if you trust "
                "this server anyway, add the account again with --insecure-tls"
            ).format(where=where, reason=_tls_reason(tls)))
        if isinstance(exc, httpx.TimeoutException) or _named(exc, "Timeout"):
            return ConnectionFailed(_("the server stopped answering") + f" ({where})")
        reason = _reason(exc)
        if "not known" in reason or "getaddrinfo" in reason or "resolve" in reason.lower():
            return ConnectionFailed(
                _("cannot find the server {host}: {reason}").format(host=where, reason=reason))
        if self.connecting or isinstance(exc, httpx.ConnectError) or _named(exc, "ConnectionError"):
            return ConnectionFailed(
                _("cannot connect to {where}: {reason}").format(where=where, reason=reason))
        return ConnectionFailed(
            _("the connection to {host} was lost: {reason}").format(host=where, reason=reason))


def _is_requests_error(exc: BaseException) -> bool:
    # MSAL speaks HTTP through requests; requests is not imported here for that alone.
    return any(c.__module__.startswith("requests") for c in type(exc).__mro__)


def _named(exc: BaseException, word: str) -> bool:
    return any(word in c.__name__ for c in type(exc).__mro__)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in out:
        out.append(node)
        node = node.__cause__ or node.__context__
    return out


def _tls_failure(exc: BaseException) -> BaseException | None:
    for node in _chain(exc):
        if isinstance(node, ssl.SSLError) or _named(node, "SSLError"):
            return node
        if "CERTIFICATE_VERIFY_FAILED" in str(node):
            return node
    return None


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"certificate verify failed: ([^(')\"\]]+)", text)
    if m:
        return m.group(1).strip()
    return "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in text else \
        type(exc).__name__


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _reason(exc: BaseException) -> str:
    """The most telling words of a network failure ("Connection refused")."""
    for node in _chain(exc):
        m = _ERRNO.search(str(node))
        if m:
            return m.group(1).strip()
    text = str(exc).strip()
    return text[:200] if text and "://" not in text else type(exc).__name__


def _host(url: str) -> str:
    return httpx.URL(url).host if "://" in url else url


def _host_of(exc: BaseException) -> str | None:
    request = getattr(exc, "_request", None) if isinstance(exc, httpx.HTTPError) else None
    if request is not None:
        return str(request.url.netloc.decode("ascii", "replace"))
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if isinstance(url, str) and "://" in url:
        return httpx.URL(url).netloc.decode("ascii", "replace")
    return None
