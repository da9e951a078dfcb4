"""The Microsoft identity platform side of the loopback Graph server: OpenID Connect discovery,
the token endpoint (client credentials with a secret or a certificate, device code, refresh
token) and the device authorization endpoint, for MSAL unmodified.

Endpoints, under ``{authority_url}/{tenant}`` (the tenant GUID, or one of the tenant's domains):

- ``GET /v2.0/.well-known/openid-configuration``: the discovery document MSAL reads
  (``authorization_endpoint``, ``token_endpoint``, ``device_authorization_endpoint``,
  ``issuer``), shaped as in https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc.
  MSAL built with ``instance_discovery=False`` asks for exactly this path
  (msal/authority.py, ``tenant_discovery_endpoint``), and takes the tenant of every later
  request from the ``token_endpoint`` it finds there; endpoints name the tenant by GUID.
- ``GET /discovery/v2.0/keys``: the JWKS of the key that signs the id tokens.
- ``POST /oauth2/v2.0/devicecode`` and the device code grant:
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code
  (``expires_in`` 900 s, ``interval``, ``authorization_pending`` until the user signs in,
  ``authorization_declined``, ``bad_verification_code``, ``expired_token``).
- ``POST /oauth2/v2.0/token`` with ``client_credentials``:
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
  (a secret in the body or in HTTP Basic, or ``client_assertion`` as in
  https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials: a JWT
  whose header names the certificate by ``x5t`` (SHA-1, RS256) or ``x5t#S256`` (SHA-256,
  PS256), verified here with the registered certificate's public key, ``aud`` the token
  endpoint, ``iss`` and ``sub`` the client id, inside ``nbf``..``exp``); ``refresh_token``:
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token.

Errors have the body of https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
(``error``, ``error_description`` starting "AADSTSnnnn:" and ending with the trace id,
correlation id and timestamp lines, ``error_codes``, ``timestamp``, ``trace_id``,
``correlation_id``, ``error_uri``), with the codes and wordings of that page's table:
AADSTS7000215 (wrong secret), AADSTS7000222 (expired secret), AADSTS7000218 (no credential),
AADSTS700027 (assertion signature, or no certificate of that thumbprint), AADSTS50013 (an
assertion with the wrong audience or missing claims), AADSTS700016 (unknown client),
AADSTS65001 (no consent), AADSTS90002 / AADSTS900023 (tenant), AADSTS70016 / AADSTS70018 /
AADSTS70019 (device flow pending / unknown / expired), AADSTS65004 (the user declined; the
docs give only the ``authorization_declined`` error name), AADSTS70000 / AADSTS700082 (refresh
token invalid / revoked), AADSTS70011 (scope), AADSTS70003 (grant type). Two codes the table
leaves out come in the service's own wording: AADSTS1002012 (client credentials without
``/.default``) and AADSTS700024 (an assertion outside its ``nbf``..``exp``), as public reports
quote them. ``invalid_client`` answers 401, as RFC 6749 section 5.2 allows and Entra does; the
rest 400.

Two things the public docs leave to MSAL's own reading, done as msal/token_cache.py reads them:
with ``client_info=1`` in the request (MSAL always sends it) a delegated token response carries
``client_info``, base64url JSON ``{"uid": <user object id>, "utid": <tenant id>}``, from which
MSAL builds the account's ``home_account_id``; and the id token's claims (not validated by
MSAL) give the account's ``preferred_username``. The id token carries the claims of
https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference (``ver``
2.0, ``iss``, ``sub``, ``aud``, ``exp``, ``iat``, ``nbf``, ``name``, ``oid``,
``preferred_username``, ``tid``, ``uti``...), signed RS256 by a key published at ``jwks_uri``
(the JWK has no ``x5c``: the fake's signing key has no certificate).

Access tokens are opaque strings, as clients must treat them ("access tokens are opaque
strings", https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens); the server
keeps what each one grants. Scopes come back in the form they were asked in (a request for
``https://graph.microsoft.com/Mail.ReadWrite`` gets that string back in ``scope``), as the
docs' device code example echoes its request's short names, so MSAL's cache finds the token
again by the scopes it asked for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DNS = re.compile(r"^(?=.{1,253}$)([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}$")
_USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class App:
    """An app registration (and its service principal's grants in the tenant)."""

    client_id: str
    secret: str | None = None
    certificate: x509.Certificate | None = None
    secret_expired: bool = False
    application_permissions: frozenset[str] = frozenset({"Mail.ReadWrite"})
    delegated_permissions: frozenset[str] = frozenset({"Mail.ReadWrite"})
    consented: bool = True
    allowed_mailboxes: frozenset[str] | None = None
    """Exchange's scoping of an app-only app (application access policy / RBAC for
    Applications): None reaches every mailbox."""
    public_client: bool = True
    """"Allow public client flows": the device code grant needs it."""
    name: str = "mailclean test app"

    @property
    def thumbprints(self) -> tuple[bytes, bytes] | None:
        """(SHA-1, SHA-256) of the certificate's DER encoding."""
        if self.certificate is None:
            return None
        from cryptography.hazmat.primitives import hashes

        cert = self.certificate
        return cert.fingerprint(hashes.SHA1()), cert.fingerprint(hashes.SHA256())


@dataclass
class Grant:
    """What an access token stands for."""

    token: str
    client_id: str
    app_only: bool
    email: str | None
    scopes: frozenset[str]
    """Graph permissions: ``scp`` (delegated) or ``roles`` (app-only), short names."""
    expires_at: float
    generation: int


@dataclass
class RefreshGrant:
    """What a refresh token stands for."""

    client_id: str
    email: str
    scopes: tuple[str, ...]
    """The resource scopes granted, in the form they were asked in."""
    generation: int


@dataclass
class DeviceCode:
    """One device authorization in progress."""

    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    polls: int = 0
    user: str | None = None
    approve_after: int = 0
    declined: bool = False
    redeemed: bool = False


@dataclass
class IdentityError(Exception):
    """An error answer of the token, device code or discovery endpoint."""

    error: str
    code: int
    description: str
    status: int = 400


@dataclass
class Identity:
    """The tenant's apps, users' sign-ins and the tokens handed out. Thread-safe."""

    tenant_id: str
    tenant_domains: tuple[str, ...] = ()
    token_lifetime: int = 3599
    device_code_lifetime: int = 900
    device_code_interval: int = 5
    apps: dict[str, App] = field(default_factory=dict)
    _grants: dict[str, Grant] = field(default_factory=dict)
    _refresh: dict[str, RefreshGrant] = field(default_factory=dict)
    _devices: dict[str, DeviceCode] = field(default_factory=dict)
    _standing_approval: tuple[str, int] | None = None
    _declining: bool = False
    _token_generation: int = 0
    _refresh_generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _signing_key: rsa.RSAPrivateKey | None = None

    # -- apps and users ---------------------------------------------------------------------

    def register(self, app: App) -> App:
        """Add or replace an app registration."""
        with self._lock:
            self.apps[app.client_id] = app
            return app

    @staticmethod
    def user_oid(email: str) -> str:
        """A user's object id (the same GUID the mailbox store gives the user)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailbox:{email.lower()}"))

    # -- tenants ----------------------------------------------------------------------------

    def check_tenant(self, tenant: str) -> None:
        """This tenant's GUID or one of its domains; AADSTS900023 / AADSTS90002 otherwise."""
        if tenant.lower() == self.tenant_id.lower() or tenant.lower() in (
            d.lower() for d in self.tenant_domains
        ):
            return
        if not (_GUID.match(tenant) or _DNS.match(tenant)):
            raise IdentityError(
                "invalid_request",
                900023,
                f"Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a "
                "valid external domain.",
            )
        raise IdentityError(
            "invalid_request",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud. Check with your subscription "
            "administrator, this may happen if there are no active subscriptions for the "
            "tenant.",
        )

    def endpoints(self, base: str) -> dict[str, str]:
        """The tenant's endpoints under ``base`` (the authority URL without the tenant)."""
        t = f"{base}/{self.tenant_id}"
        return {
            "token_endpoint": f"{t}/oauth2/v2.0/token",
            "authorization_endpoint": f"{t}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{t}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{t}/oauth2/v2.0/logout",
            "jwks_uri": f"{t}/discovery/v2.0/keys",
            "issuer": f"{t}/v2.0",
        }

    def discovery(self, base: str, tenant: str) -> dict[str, Any]:
        """The OpenID configuration document (v2.0). An unknown tenant is ``invalid_tenant``,
        as the discovery endpoint answers it (MSAL then raises ValueError)."""
        try:
            self.check_tenant(tenant)
        except IdentityError as exc:
            raise IdentityError("invalid_tenant", exc.code, exc.description) from None
        e = self.endpoints(base)
        return {
            "token_endpoint": e["token_endpoint"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": e["jwks_uri"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": e["issuer"],
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{GRAPH_RESOURCE}/oidc/userinfo",
            "authorization_endpoint": e["authorization_endpoint"],
            "device_authorization_endpoint": e["device_authorization_endpoint"],
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": e["end_session_endpoint"],
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    # -- signing ----------------------------------------------------------------------------

    def _key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._signing_key is None:
                self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._signing_key

    def _kid(self) -> str:
        from cryptography.hazmat.primitives import serialization

        der = (
            self._key()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")

    def keys(self, base: str, tenant: str) -> dict[str, Any]:
        """The JWKS: the public key that signs the id tokens."""
        self.discovery(base, tenant)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key().public_key()))
        jwk.update({"use": "sig", "kid": self._kid(), "issuer": self.endpoints(base)["issuer"]})
        return {"keys": [jwk]}

    def id_token(self, base: str, client_id: str, email: str) -> str:
        """A signed id token for ``email`` signed in to ``client_id``."""
        now = int(time.time())
        oid = self.user_oid(email)
        claims = {
            "aud": client_id,
            "iss": self.endpoints(base)["issuer"],
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": email.split("@")[0].replace(".", " ").title(),
            "oid": oid,
            "preferred_username": email,
            "rh": "0.AAAA" + secrets.token_urlsafe(16),
            # A pairwise subject: per user and app, as the id token reference describes it.
            "sub": base64.urlsafe_b64encode(hashlib.sha256(f"{oid}:{client_id}".encode()).digest())
            .decode()
            .rstrip("="),
            "tid": self.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "2.0",
        }
        return jwt.encode(claims, self._key(), algorithm="RS256", headers={"kid": self._kid()})

    def client_info(self, email: str) -> str:
        """MSAL's client_info: base64url JSON of the user's uid and tenant (see module doc)."""
        data = json.dumps({"uid": self.user_oid(email), "utid": self.tenant_id}).encode()
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    # -- access tokens ----------------------------------------------------------------------

    def mint(
        self,
        client_id: str,
        *,
        app_only: bool,
        email: str | None,
        scopes: frozenset[str],
        lifetime: int | None = None,
    ) -> Grant:
        """A new access token."""
        with self._lock:
            grant = Grant(
                token=secrets.token_urlsafe(48),
                client_id=client_id,
                app_only=app_only,
                email=email.lower() if email else None,
                scopes=scopes,
                expires_at=time.time() + (self.token_lifetime if lifetime is None else lifetime),
                generation=self._token_generation,
            )
            self._grants[grant.token] = grant
            return grant

    def grant(self, token: str) -> tuple[Grant | None, str]:
        """(grant, "") for a valid token, else (None, why): "unknown" or "expired"."""
        with self._lock:
            grant = self._grants.get(token)
            if grant is None:
                return None, "unknown"
            if grant.generation != self._token_generation or grant.expires_at <= time.time():
                return None, "expired"
            return grant, ""

    def expire_tokens(self) -> None:
        """Every access token handed out so far is now expired (refresh tokens still work)."""
        with self._lock:
            self._token_generation += 1

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token handed out so far is now revoked."""
        with self._lock:
            self._refresh_generation += 1

    # -- device code ------------------------------------------------------------------------

    def approve(self, user_email: str, after_polls: int) -> None:
        """The user signs in: every pending device code, and every one issued from now on,
        is approved for ``user_email`` once ``after_polls`` more polls got
        ``authorization_pending``."""
        with self._lock:
            self._declining = False
            self._standing_approval = (user_email.lower(), after_polls)
            for device in self._devices.values():
                if not device.redeemed and device.user is None:
                    device.user = user_email.lower()
                    device.approve_after = device.polls + after_polls

    def decline(self) -> None:
        """The user declines: every pending device code and later ones are declined."""
        with self._lock:
            self._standing_approval = None
            self._declining = True
            for device in self._devices.values():
                if not device.redeemed:
                    device.declined = True

    def device_authorization(self, base: str, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        """POST devicecode: a device code and a user code for the client's scopes."""
        self.check_tenant(tenant)
        client_id = form.get("client_id", "")
        app = self._app(client_id, tenant)
        scopes = tuple(form.get("scope", "").split())
        if not scopes:
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        self._resource_scopes(scopes, app_only=False)
        with self._lock:
            user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
            device = DeviceCode(
                device_code=secrets.token_urlsafe(96),
                user_code=user_code,
                client_id=app.client_id,
                scopes=scopes,
                expires_at=time.time() + self.device_code_lifetime,
            )
            if self._standing_approval is not None:
                device.user, device.approve_after = self._standing_approval
            device.declined = self._declining
            self._devices[device.device_code] = device
        uri = f"{base}/devicelogin"
        return {
            "user_code": user_code,
            "device_code": device.device_code,
            "verification_uri": uri,
            "expires_in": self.device_code_lifetime,
            "interval": self.device_code_interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the "
            f"code {user_code} to authenticate.",
        }

    # -- the token endpoint -----------------------------------------------------------------

    def _app(self, client_id: str, tenant: str) -> App:
        app = self.apps.get(client_id)
        if app is None:
            raise IdentityError(
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You "
                "may have sent your authentication request to the wrong tenant.",
            )
        return app

    @staticmethod
    def _resource_scopes(scopes: tuple[str, ...], *, app_only: bool) -> tuple[str, ...]:
        """The Graph scopes among ``scopes`` (the OpenID ones aside), checked."""
        out = []
        for scope in scopes:
            if scope in OIDC_SCOPES:
                continue
            resource, sep, name = scope.rpartition("/")
            if not sep:
                resource, name = GRAPH_RESOURCE, scope  # Graph is the default resource
            if resource.rstrip("/") not in (GRAPH_RESOURCE, GRAPH_APP_ID) or not name:
                raise IdentityError(
                    "invalid_resource" if app_only else "invalid_scope",
                    500011 if app_only else 70011,
                    f"The resource principal named {resource} was not found in the tenant."
                    if app_only
                    else f"The provided value for the input parameter 'scope' is not valid. "
                    f"The scope {scope} is not valid.",
                )
            if app_only and name != ".default":
                raise IdentityError(
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {scope} is not valid. Client credential "
                    "flows must have a scope value with /.default suffixed to the resource "
                    "identifier (application ID URI).",
                )
            out.append(scope)
        return tuple(out)

    @staticmethod
    def _short(scope: str) -> str:
        return scope.rpartition("/")[2] or scope

    def _authenticate_client(
        self, base: str, app: App, form: dict[str, str], basic: tuple[str, str] | None
    ) -> bool:
        """Check the client credential in the request; True when one was presented."""
        secret = form.get("client_secret")
        if basic is not None:
            if basic[0] != app.client_id:
                raise IdentityError("invalid_client", 7000215, self._bad_secret(app), status=401)
            secret = basic[1]
        assertion = form.get("client_assertion")
        if secret is None and assertion is None:
            return False
        if assertion is not None:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise IdentityError(
                    "invalid_request",
                    90014,
                    "The request body must contain the following parameter: "
                    "'client_assertion_type'.",
                )
            self._check_assertion(base, app, assertion)
            return True
        if app.secret is None or not secrets.compare_digest(secret or "", app.secret):
            raise IdentityError("invalid_client", 7000215, self._bad_secret(app), status=401)
        if app.secret_expired:
            raise IdentityError(
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{app.client_id}' are expired. Visit "
                "the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, "
                "or consider using certificate credentials for added security: "
                "https://aka.ms/certCreds.",
                status=401,
            )
        return True

    @staticmethod
    def _bad_secret(app: App) -> str:
        return (
            "Invalid client secret provided. Ensure the secret being sent in the request is the "
            f"client secret value, not the client secret ID, for a secret added to app "
            f"'{app.client_id}'."
        )

    def _check_assertion(self, base: str, app: App, assertion: str) -> None:
        """Verify a client assertion against the app's certificate (see module doc)."""
        bad_signature = IdentityError(
            "invalid_client",
            700027,
            "Client assertion failed signature validation.",
            status=401,
        )
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise IdentityError(
                "invalid_client", 50013, "Assertion is invalid: it is not a JWT.", status=401
            ) from None
        prints = app.thumbprints
        if prints is None:
            raise IdentityError(
                "invalid_client",
                700027,
                f"Client assertion failed signature validation. The key was not found. "
                f"(App '{app.client_id}' has no certificate credential.)",
                status=401,
            )
        algorithm = header.get("alg")
        named = None
        if "x5t#S256" in header:
            named = (_unb64url(header["x5t#S256"]), prints[1])
        elif "x5t" in header:
            named = (_unb64url(header["x5t"]), prints[0])
        if named is None or named[0] != named[1]:
            raise IdentityError(
                "invalid_client",
                700027,
                "Client assertion failed signature validation. The key was not found.",
                status=401,
            )
        if algorithm not in ("RS256", "PS256"):
            raise bad_signature
        assert app.certificate is not None
        audience = self.endpoints(base)["token_endpoint"]
        try:
            claims = jwt.decode(
                assertion,
                app.certificate.public_key(),  # type: ignore[arg-type]
                algorithms=[algorithm],
                audience=audience,
                # nbf is optional: MSAL's assertions carry none, and Entra takes them.
                options={"require": ["aud", "exp", "iss", "sub", "jti"]},
            )
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise IdentityError(
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
                status=401,
            ) from None
        except jwt.InvalidAudienceError:
            raise IdentityError(
                "invalid_client",
                50013,
                f"Assertion is invalid: its audience must be '{audience}'.",
                status=401,
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise IdentityError(
                "invalid_client", 50013, f"Assertion is invalid: {exc}.", status=401
            ) from None
        except jwt.PyJWTError:
            raise bad_signature from None
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise IdentityError(
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
                status=401,
            )

    def token(
        self, base: str, tenant: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        """POST token: the answer for a grant, or IdentityError."""
        self.check_tenant(tenant)
        grant_type = form.get("grant_type", "")
        client_id = form.get("client_id") or (basic[0] if basic else "")
        if not client_id:
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        app = self._app(client_id, tenant)
        if grant_type == "client_credentials":
            return self._client_credentials(base, app, form, basic)
        if grant_type == DEVICE_GRANT:
            return self._device_code(base, app, form, basic)
        if grant_type == "refresh_token":
            return self._refresh_token(base, app, form, basic)
        if not grant_type:
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        raise IdentityError(
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )

    def _client_credentials(
        self, base: str, app: App, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        if not self._authenticate_client(base, app, form, basic):
            raise IdentityError(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
                status=401,
            )
        scopes = tuple(form.get("scope", "").split())
        if not scopes:
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        self._resource_scopes(scopes, app_only=True)
        # Without admin consent the app has no app role in the tenant: the token is issued
        # without roles, and Graph then refuses it (see the server's authorisation).
        roles = app.application_permissions if app.consented else frozenset()
        grant = self.mint(app.client_id, app_only=True, email=None, scopes=frozenset(roles))
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": grant.token,
        }

    def _delegated_answer(
        self,
        base: str,
        app: App,
        email: str,
        requested: tuple[str, ...],
        form: dict[str, str],
    ) -> dict[str, Any]:
        """A delegated token response for ``email``: access token, and refresh token, id
        token and client_info as the request's scopes and ``client_info`` ask."""
        resource = self._resource_scopes(requested, app_only=False)
        wanted = {self._short(s) for s in resource}
        if ".default" in wanted:
            wanted = (wanted - {".default"}) | set(app.delegated_permissions)
        if not app.consented or not wanted <= set(app.delegated_permissions):
            missing = sorted(wanted - set(app.delegated_permissions)) or sorted(wanted)
            raise IdentityError(
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID "
                f"'{app.client_id}' named '{app.name}'. Send an interactive authorization "
                f"request for this user and resource. (Missing: {', '.join(missing)}.)",
            )
        grant = self.mint(app.client_id, app_only=False, email=email, scopes=frozenset(wanted))
        oidc = [s for s in ("openid", "profile", "email") if "openid" in requested]
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join([*resource, *oidc]),
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": grant.token,
        }
        if "offline_access" in requested:
            with self._lock:
                token = secrets.token_urlsafe(64)
                self._refresh[token] = RefreshGrant(
                    app.client_id, email, resource, self._refresh_generation
                )
            answer["refresh_token"] = token
        if "openid" in requested:
            answer["id_token"] = self.id_token(base, app.client_id, email)
        if form.get("client_info") == "1":
            answer["client_info"] = self.client_info(email)
        return answer

    def _device_code(
        self, base: str, app: App, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        if not app.public_client and not self._authenticate_client(base, app, form, basic):
            raise IdentityError(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
                status=401,
            )
        code = form.get("device_code", "")
        with self._lock:
            device = self._devices.get(code)
            if device is None or device.client_id != app.client_id or device.redeemed:
                raise IdentityError(
                    "bad_verification_code",
                    70018,
                    "The provided value for the input parameter 'device_code' is not valid.",
                )
            if device.expires_at <= time.time():
                raise IdentityError(
                    "expired_token",
                    70019,
                    "Verification code expired. Have the user retry the sign-in.",
                )
            if device.declined:
                raise IdentityError(
                    "authorization_declined",
                    65004,
                    "User declined to consent to access the app.",
                )
            device.polls += 1
            if device.user is None or device.polls <= device.approve_after:
                raise IdentityError(
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            device.redeemed = True
            email = device.user
            requested = device.scopes
        return self._delegated_answer(base, app, email, requested, form)

    def _refresh_token(
        self, base: str, app: App, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        # A confidential client authenticates on every grant; a public one has nothing to show.
        if not self._authenticate_client(base, app, form, basic) and not app.public_client:
            raise IdentityError(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
                status=401,
            )
        token = form.get("refresh_token", "")
        with self._lock:
            held = self._refresh.get(token)
        if held is None or held.client_id != app.client_id:
            raise IdentityError(
                "invalid_grant",
                70000,
                "The provided value for the 'refresh_token' is not valid.",
            )
        if held.generation != self._refresh_generation:
            raise IdentityError(
                "invalid_grant",
                700082,
                "The refresh token has expired or was revoked.",
            )
        requested = tuple(form.get("scope", "").split()) or (*held.scopes, "offline_access")
        return self._delegated_answer(base, app, held.email, requested, form)


def _unb64url(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        return b""


def error_body(exc: IdentityError, correlation_id: str | None) -> dict[str, Any]:
    """The identity platform's error body for ``exc``."""
    trace = str(uuid.uuid4())
    correlation = correlation_id or str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": exc.error,
        "error_description": f"AADSTS{exc.code}: {exc.description}\r\nTrace ID: {trace}\r\n"
        f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
        "error_codes": [exc.code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={exc.code}",
    }


def parse_form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (last value wins)."""
    out: dict[str, str] = {}
    for pair in body.decode("utf-8", "replace").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        out[unquote_plus(key)] = unquote_plus(value)
    return out


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(client_id, secret) of an HTTP Basic Authorization header (form-urlencoded parts,
    RFC 6749 section 2.3.1), or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return unquote_plus(user), unquote_plus(password)
