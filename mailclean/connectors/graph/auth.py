"""Signing in with MSAL: device code for agents, client credentials for admins, or a token.

- **device-code** (delegated, an agent's own mailbox): MSAL's device flow. The prompt
  ("open https://microsoft.com/devicelogin and enter ABCD-EFGH") goes to the
  ``on_device_code`` callback; the token cache (access and refresh tokens) is serialised
  with MSAL's ``SerializableTokenCache`` and kept through ``Credentials.load_token`` /
  ``save_token`` as ``{"msal_cache": "..."}`` (the system keyring), so later runs refresh
  silently. Without a callback (a command that must not prompt) and without a usable cache,
  :class:`NotSignedIn` says which command signs in.
- **client-secret** / **certificate** (app-only, admins' snapshots): MSAL's client
  credentials grant. A certificate is a PEM file with the certificate and its private key;
  its SHA-1 thumbprint is computed here with ``cryptography`` and MSAL signs the client
  assertion with the key (RS256, ``x5t``). One MSAL application per (tenant, client,
  credential) is shared in the process, so a snapshot of many mailboxes asks for one token.
- **token**: a bearer token read from an environment variable, used as it is.

MSAL is built with ``instance_discovery=False`` and the authority as a full URL (national
clouds and test servers give their own), ``verify=`` the CA file or False, and the
process's read timeout. Tokens are never logged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msal

from mailclean.connectors.base import AuthenticationError
from mailclean.connectors.graph.errors import Aborted, NotSignedIn, TokenError
from mailclean.connectors.graph.settings import (
    CERTIFICATE,
    CLIENT_SECRET,
    DEVICE_CODE,
    TOKEN,
    GraphSettings,
)
from mailclean.i18n import _

#: Seconds before its expiry when an access token is renewed rather than used.
EARLY = 300.0

_KEY_BLOCK = re.compile(
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.+?-----END (?:[A-Z]+ )?PRIVATE KEY-----", re.S
)
_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def certificate_credential(path: str) -> dict[str, str]:
    """MSAL's client credential for a PEM file holding a certificate and its private key:
    the key, the certificate and its SHA-1 thumbprint (hex). Raises AuthenticationError
    with what is wrong with the file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    try:
        text = Path(path).expanduser().read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthenticationError(_("cannot read the certificate {path}: {reason}").format(
            path=path, reason=getattr(exc, "strerror", None) or type(exc).__name__)) from None
    key, cert = _KEY_BLOCK.search(text), _CERT_BLOCK.search(text)
    if key is None or cert is None:
        raise AuthenticationError(_(
            "{path} must hold both the certificate and its private key, in PEM "
            "(-----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY-----)").format(path=path))
    if "ENCRYPTED" in key.group(0):
        raise AuthenticationError(_(
            "the private key in {path} is protected by a passphrase: give a copy without "
            "one (openssl pkey -in {path} -out key.pem), readable by you only"
        ).format(path=path))
    try:
        parsed = x509.load_pem_x509_certificate(cert.group(0).encode("ascii"))
        serialization.load_pem_private_key(key.group(0).encode("ascii"), password=None)
    except (ValueError, TypeError):
        raise AuthenticationError(_(
            "the certificate or the private key in {path} is unreadable").format(path=path)
        ) from None
    return {
        "private_key": key.group(0),
        "thumbprint": parsed.fingerprint(hashes.SHA1()).hex().upper(),
        "public_certificate": cert.group(0),
    }


class BearerAuth:
    """A token given by the user (auth "token"): used as it is, never refreshed."""

    can_refresh = False

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        """The bearer token."""
        return self._token

    def invalidate(self) -> None:
        """Nothing to renew: a refused token stays refused."""

    def abort(self) -> None:
        """Nothing runs."""


class MsalAuth:
    """Tokens from MSAL, renewed before they expire and after a 401 (thread-safe)."""

    can_refresh = True

    def __init__(
        self,
        settings: GraphSettings,
        *,
        load: Callable[[], dict | None] = lambda: None,
        save: Callable[[dict], None] = lambda token: None,
        on_device_code: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._save = save
        self.on_device_code = on_device_code
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self._flow: dict | None = None
        self._aborted = False
        self._refused = False
        self.cache = msal.SerializableTokenCache()
        kept = load() if settings.auth == DEVICE_CODE else None
        if isinstance(kept, dict) and isinstance(kept.get("msal_cache"), str):
            # Unreadable: as if there were none, a sign-in replaces it.
            with contextlib.suppress(ValueError):
                self.cache.deserialize(kept["msal_cache"])
        self._app: Any = None

    # -- the MSAL application ---------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        s = self.settings
        return {"authority": s.authority, "http_client": http_client(s),
                "instance_discovery": False}

    def app(self) -> Any:
        """The MSAL application (built on first use: building it reads the authority's
        OpenID configuration over the network)."""
        if self._app is None:
            s = self.settings
            try:
                if s.auth == DEVICE_CODE:
                    self._app = msal.PublicClientApplication(
                        s.client_id, token_cache=self.cache, **self._options())
                else:
                    self._app = _confidential(s, self._options())
            except ValueError as exc:
                # MSAL reads the authority's OpenID configuration here and says what went
                # wrong (an unknown tenant: AADSTS90002) in a ValueError.
                said: list[str] = []
                node: BaseException | None = exc
                while node is not None and len(said) < 5:
                    said.append(str(node))
                    node = node.__cause__ or node.__context__
                raise TokenError("invalid_authority", " ".join(said)) from None
        return self._app

    # -- tokens -----------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token; signs in first when needed. Raises TokenError (refused),
        NotSignedIn (a sign-in needs someone and nobody is there), Aborted."""
        with self._lock:
            if self._token and time.monotonic() < self._expires - EARLY:
                return self._token
            result = self._acquire()
            if "access_token" not in result:
                raise TokenError.from_result(result)
            self._token = str(result["access_token"])
            self._expires = time.monotonic() + float(result.get("expires_in") or 3600)
            self._keep()
            return self._token

    def invalidate(self) -> None:
        """The server refused the last token: the next :meth:`token` gets a fresh one."""
        with self._lock:
            self._token, self._expires, self._refused = None, 0.0, True

    def abort(self) -> None:
        """Stop waiting for a device-code sign-in (from another thread)."""
        self._aborted = True
        flow = self._flow
        if flow is not None:
            flow["expires_at"] = 0  # MSAL's documented way to end its polling loop

    def _acquire(self) -> dict:
        s = self.settings
        app = self.app()
        refused, self._refused = self._refused, False
        if s.auth != DEVICE_CODE:
            with _app_lock(app):
                if refused:
                    app.remove_tokens_for_client()  # the cached one was refused: ask anew
                result: dict = app.acquire_token_for_client(scopes=s.scopes)
            return result
        accounts = app.get_accounts()
        mine = [a for a in accounts if str(a.get("username", "")).lower() == s.email.lower()]
        for account in mine or accounts[:1]:
            # A refresh token that no longer works gives no token: a new sign-in follows.
            silent = app.acquire_token_silent(s.scopes, account=account, force_refresh=refused)
            if silent and "access_token" in silent:
                return dict(silent)
        return self._device_flow(app)

    def _device_flow(self, app: Any) -> dict:
        s = self.settings
        if self.on_device_code is None:
            raise NotSignedIn()
        if self._aborted:
            raise Aborted()
        flow = app.initiate_device_flow(scopes=s.scopes)
        if "user_code" not in flow:
            raise TokenError.from_result(flow)
        self._flow = flow
        url = flow.get("verification_uri") or flow.get("verification_url") or ""
        self.on_device_code(_(
            "To sign in to Microsoft 365 as {email}, open {url} in a browser and enter the "
            "code {code}").format(email=s.email, url=url, code=flow["user_code"]))
        try:
            result: dict = app.acquire_token_by_device_flow(flow)
        finally:
            self._flow = None
        if self._aborted:
            raise Aborted()
        return result

    def _keep(self) -> None:
        if self.settings.auth == DEVICE_CODE and self.cache.has_state_changed:
            self._save({"msal_cache": self.cache.serialize()})
            self.cache.has_state_changed = False


def http_client(settings: GraphSettings) -> Any:
    """The requests session MSAL speaks through: the settings' certificate check and read
    timeout on every request.

    MSAL's own ``verify=`` sets the session's, which requests overrides with the
    REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE variables (psf/requests#3829): a CA file given
    with --cafile would be ignored wherever those are set. Given with each request, it is not.
    """
    import requests
    import requests.adapters

    session = requests.Session()
    session.request = functools.partial(  # type: ignore[method-assign]
        session.request, timeout=settings.timeout, verify=settings.verify)
    adapter = requests.adapters.HTTPAdapter(max_retries=1)  # as MSAL mounts its own
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


_SHARED: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()
#: One lock per shared application: the first mailbox asks for the token while the others
#: wait, then find it in the application's cache (8 mailboxes at once made 8 requests).
_APP_LOCKS: dict[int, threading.Lock] = {}


def _app_lock(app: Any) -> threading.Lock:
    with _SHARED_LOCK:
        return _APP_LOCKS.setdefault(id(app), threading.Lock())


def _confidential(settings: GraphSettings, options: dict[str, Any]) -> Any:
    """The process's MSAL application for this tenant, client and credential: every
    mailbox of a snapshot shares it, and so its cached application token."""
    if settings.auth == CLIENT_SECRET:
        if not settings.client_secret:
            raise AuthenticationError(_("no client secret: {source} is empty").format(
                source=settings.secret_source or _("the secret's variable")))
        credential: Any = settings.client_secret
        fingerprint = hashlib.sha256(settings.client_secret.encode()).hexdigest()
    elif settings.auth == CERTIFICATE:
        credential = certificate_credential(settings.certificate or "")
        fingerprint = credential["thumbprint"]
    else:
        raise AuthenticationError(f"no MSAL sign-in for auth {settings.auth!r}")
    key = (settings.authority, settings.client_id, fingerprint, str(settings.verify))
    with _SHARED_LOCK:
        app = _SHARED.get(key)
        if app is None:
            app = msal.ConfidentialClientApplication(
                settings.client_id, client_credential=credential, **options)
            _SHARED[key] = app
        return app


def make_auth(
    settings: GraphSettings,
    *,
    load: Callable[[], dict | None] = lambda: None,
    save: Callable[[dict], None] = lambda token: None,
    on_device_code: Callable[[str], None] | None = None,
) -> BearerAuth | MsalAuth:
    """The sign-in for ``settings.auth``."""
    if settings.auth == TOKEN:
        if not settings.token:
            raise AuthenticationError(_("no token: {source} is empty").format(
                source=settings.secret_source or _("the token's variable")))
        return BearerAuth(settings.token)
    return MsalAuth(settings, load=load, save=save, on_device_code=on_device_code)
