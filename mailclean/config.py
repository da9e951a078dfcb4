"""Accounts and settings: a TOML file in the platform's config dir; secrets stay outside it.

Passwords come from an environment variable named in the config, from the system
keyring, or from a prompt: never from the config file, the index or a log.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import platformdirs
import tomli_w

from mailclean.i18n import _

APP = "mailclean"
KEYRING_SERVICE = "mailclean"
KINDS = ("imap", "maildir", "ews")
SECURITY = ("ssl", "starttls", "none")
PASSWORD_SOURCES = ("env", "keyring", "prompt")
EWS_AUTH = ("ntlm", "basic", "oauth2")


class ConfigError(Exception):
    """The configuration is missing, unreadable or wrong; the message says what to fix."""


@dataclass(slots=True)
class AccountConfig:
    """One mailbox mailclean knows how to reach."""

    name: str
    kind: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    security: str = "ssl"
    password: str = "prompt"
    """Where the password comes from: "env" (variable ``password_env``), "keyring", "prompt"."""
    password_env: str | None = None
    insecure_tls: bool = False
    cafile: str | None = None
    path: str | None = None
    """Maildir root, for kind "maildir"."""
    address: str | None = None
    ews_url: str | None = None
    """Kind "ews": the EWS endpoint URL, or "autodiscover" to find it from ``email``."""
    email: str | None = None
    """Kind "ews": the mailbox's primary SMTP address."""
    auth: str | None = None
    """Kind "ews": "ntlm" (the default), "basic" or "oauth2"."""
    client_id: str | None = None
    """Kind "ews" with OAuth2: the application (client) id registered in Entra ID."""
    tenant_id: str | None = None
    """Kind "ews" with OAuth2: the directory (tenant) id."""

    def validate(self) -> None:
        """Raise ConfigError naming the account and the key at fault."""
        where = f"account {self.name!r}"
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind == "imap":
            if not self.host:
                raise ConfigError(f"{where}: 'host' is missing")
            if not self.user:
                raise ConfigError(f"{where}: 'user' is missing")
            if self.security not in SECURITY:
                raise ConfigError(
                    f"{where}: security must be one of {', '.join(SECURITY)}, "
                    f"not {self.security!r}"
                )
            if self.port is not None and not (0 < self.port < 65536):
                raise ConfigError(f"{where}: port {self.port} is not a TCP port")
            if self.password not in PASSWORD_SOURCES:
                raise ConfigError(
                    f"{where}: password must be one of {', '.join(PASSWORD_SOURCES)}, "
                    f"not {self.password!r} (the password itself never goes in this file)"
                )
            if self.password == "env" and not self.password_env:
                raise ConfigError(f"{where}: password = 'env' needs 'password_env'")
        if self.kind == "maildir" and not self.path:
            raise ConfigError(f"{where}: 'path' is missing")
        if self.kind == "ews":
            self._validate_ews(where)

    def _validate_ews(self, where: str) -> None:
        url = (self.ews_url or "").strip()
        if not url:
            raise ConfigError(
                _("{where}: 'ews_url' is missing (a URL, or 'autodiscover')").format(where=where)
            )
        if url.lower() != "autodiscover" and not url.lower().startswith(("https://", "http://")):
            raise ConfigError(
                _(
                    "{where}: ews_url must be an http(s) URL such as "
                    "https://mail.example.org/EWS/Exchange.asmx, or 'autodiscover', not {url!r}"
                ).format(where=where, url=url)
            )
        if not self.email or "@" not in self.email:
            raise ConfigError(
                _("{where}: 'email' (the mailbox address) is missing").format(where=where)
            )
        auth = self.auth or "ntlm"
        if auth not in EWS_AUTH:
            raise ConfigError(
                _("{where}: auth must be one of {choices}, not {auth!r}").format(
                    where=where, choices=", ".join(EWS_AUTH), auth=self.auth
                )
            )
        if auth == "oauth2" and not (self.client_id and self.tenant_id):
            raise ConfigError(
                _("{where}: auth = 'oauth2' needs 'client_id' and 'tenant_id'").format(where=where)
            )
        if self.password not in PASSWORD_SOURCES:
            raise ConfigError(
                _(
                    "{where}: password must be one of {choices}, not {password!r} "
                    "(the password itself never goes in this file)"
                ).format(where=where, choices=", ".join(PASSWORD_SOURCES), password=self.password)
            )
        if self.password == "env" and not self.password_env:
            raise ConfigError(
                _("{where}: password = 'env' needs 'password_env'").format(where=where)
            )

    def to_toml(self) -> dict:
        """The account's table, without empty keys and without its name."""
        d = asdict(self)
        d.pop("name")
        return {k: v for k, v in d.items() if v is not None and v != ""}


@dataclass(slots=True)
class Config:
    """The whole configuration file."""

    path: Path
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    protect: dict = field(default_factory=dict)
    """The ``[protect]`` table: senders, domains, folders and subject keywords no rule flags."""

    def account(self, name: str | None) -> AccountConfig:
        """The named account, or the only one when ``name`` is None."""
        if name is None:
            if len(self.accounts) == 1:
                return next(iter(self.accounts.values()))
            if not self.accounts:
                raise ConfigError(
                    _(
                        "no account is configured yet: add one with 'mailclean account add', "
                        "or try 'mailclean demo'"
                    )
                )
            raise ConfigError(
                _("several accounts are configured ({names}): name the one to use").format(
                    names=", ".join(sorted(self.accounts))
                )
            )
        try:
            return self.accounts[name]
        except KeyError:
            known = ", ".join(sorted(self.accounts)) or "-"
            raise ConfigError(
                _("unknown account '{name}' (configured: {known})").format(name=name, known=known)
            ) from None

    def add(self, account: AccountConfig, *, replace: bool = False) -> None:
        """Add (or with ``replace``, overwrite) an account after validating it."""
        account.validate()
        if account.name in self.accounts and not replace:
            raise ConfigError(
                _("account '{name}' already exists (remove it first, or use --replace)").format(
                    name=account.name
                )
            )
        self.accounts[account.name] = account

    def remove(self, name: str) -> AccountConfig:
        """Remove an account from the configuration and return it."""
        account = self.account(name)
        del self.accounts[name]
        return account

    def save(self) -> None:
        """Write the file atomically (readable by its owner only)."""
        data: dict = {}
        if self.settings:
            data["settings"] = self.settings
        if self.protect:
            data["protect"] = self.protect
        data["accounts"] = {n: a.to_toml() for n, a in sorted(self.accounts.items())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            tomli_w.dump(data, f)
        os.replace(tmp, self.path)


def default_config_path() -> Path:
    """``$MAILCLEAN_CONFIG``, else ``config.toml`` in the platform's config dir."""
    env = os.environ.get("MAILCLEAN_CONFIG")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_config_path(APP) / "config.toml"


def default_db_path() -> Path:
    """``$MAILCLEAN_DB``, else ``index.db`` in the platform's data dir."""
    env = os.environ.get("MAILCLEAN_DB")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path(APP) / "index.db"


def default_rules_path(config_path: Path) -> Path:
    """The user's rules file: ``rules.toml`` beside the configuration file."""
    return config_path.with_name("rules.toml")


def data_dir() -> Path:
    """Where mailclean keeps local data (the demo mailbox, exports)."""
    return platformdirs.user_data_path(APP)


_FIELDS = set(AccountConfig.__slots__)  # type: ignore[attr-defined]


def load(path: Path | None = None) -> Config:
    """Read the configuration; a missing file is an empty configuration."""
    path = path or default_config_path()
    if not path.exists():
        return Config(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            _("{path} is not valid TOML: {error}").format(path=path, error=exc)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    config = Config(
        path=path,
        settings=dict(data.get("settings") or {}),
        protect=dict(data.get("protect") or {}),
    )
    accounts = data.get("accounts") or {}
    if not isinstance(accounts, dict):
        raise ConfigError(f"{path}: [accounts] must be a table of accounts")
    for name, table in accounts.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: accounts.{name} must be a table")
        unknown = set(table) - _FIELDS
        if unknown:
            keys = ", ".join(sorted(unknown))
            raise ConfigError(f"{path}: account {name!r}: unknown key(s) {keys}")
        try:
            account = AccountConfig(name=name, **table)
        except TypeError as exc:
            raise ConfigError(f"{path}: account {name!r}: {exc}") from None
        _check_types(path, account)
        try:
            account.validate()
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        config.accounts[name] = account
    return config


def _check_types(path: Path, account: AccountConfig) -> None:
    expected = {"port": (int, "a whole number"), "insecure_tls": (bool, "true or false")}
    for key, (typ, what) in expected.items():
        value = getattr(account, key)
        # bool is an int in Python; a port of `true` is still wrong.
        if value is not None and (not isinstance(value, typ) or (typ is int and value is True)):
            raise ConfigError(
                f"{path}: account {account.name!r}: {key} must be {what}, not {value!r}"
            )
    ews_keys = ("ews_url", "email", "auth", "client_id", "tenant_id")
    for key in ("kind", "host", "user", "security", "password", "password_env", "path", *ews_keys):
        value = getattr(account, key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: account {account.name!r}: {key} must be a string")


def get_password(account: AccountConfig, prompt: Callable[[str], str] | None = None) -> str:
    """The account's password from its source; ConfigError says how to provide it."""
    if account.password == "env":
        value = os.environ.get(account.password_env or "")
        if not value:
            raise ConfigError(
                _(
                    "account '{name}' reads its password from the environment variable "
                    "{var}, which is not set"
                ).format(name=account.name, var=account.password_env)
            )
        return value
    if account.password == "keyring":
        value = _keyring_get(account.name)
        if value:
            return value
        raise ConfigError(
            _(
                "no password for account '{name}' in the system keyring: "
                "run 'mailclean account password {name}'"
            ).format(name=account.name)
        )
    if prompt is None:
        raise ConfigError(
            _("account '{name}' needs its password typed in, and there is no terminal").format(
                name=account.name
            )
        )
    if account.host:
        return prompt(
            _("Password for {user}@{host}").format(user=account.user, host=account.host)
        )
    return prompt(
        _("Password for {user}").format(user=account.user or account.email or account.name)
    )


def _keyring_get(name: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(KEYRING_SERVICE, name)
    except KeyringError:
        return None


def store_password(name: str, password: str) -> None:
    """Save a password in the system keyring; ConfigError when there is no usable keyring."""
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(KEYRING_SERVICE, name, password)
    except KeyringError as exc:
        raise ConfigError(
            f"no usable system keyring ({exc}); use --password-env VAR instead"
        ) from None


def oauth2_token(name: str) -> dict | None:
    """The OAuth2 token kept in the keyring for account ``name`` (refreshed ones included)."""
    import json

    raw = _keyring_get(f"{name}:oauth2-token")
    if not raw:
        return None
    try:
        token = json.loads(raw)
    except ValueError:
        return None
    return token if isinstance(token, dict) else None


def store_oauth2_token(name: str, token: dict) -> None:
    """Keep a (refreshed) OAuth2 token in the keyring; silently skipped without one, since
    the client secret can always get a new token."""
    import json

    with contextlib.suppress(ConfigError):
        store_password(f"{name}:oauth2-token", json.dumps(token))


def delete_password(name: str) -> None:
    """Forget the account's password in the keyring, if it is there."""
    import keyring
    from keyring.errors import KeyringError

    with contextlib.suppress(KeyringError):
        keyring.delete_password(KEYRING_SERVICE, name)
