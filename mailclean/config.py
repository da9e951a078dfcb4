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

from mailclean.connectors import registry
from mailclean.connectors.base import ConnectorError
from mailclean.i18n import LANGUAGES, _
from mailclean.validation import (  # noqa: F401  (part of the config's interface too)
    PROTECT_LIMITS,
    PROTECT_TEXT,
    did_you_mean,
    nearest,
    protect_problems,
    shown,
)

APP = "mailclean"
KEYRING_SERVICE = "mailclean"
PASSWORD_SOURCES = ("env", "keyring", "prompt")


class ConfigError(Exception):
    """The configuration is missing, unreadable or wrong; the message says what to fix.

    ``errors`` holds every mistake found, one line each (the message is those lines).
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors) if errors else [message]


#: The tables of the configuration file.
TABLES = ("accounts", "protect", "settings")
#: The ``[settings]`` keys mailclean reads, with their allowed values.
SETTINGS: dict[str, tuple[str, ...]] = {"lang": LANGUAGES}
#: The numeric ``[settings]`` keys, in seconds, with their bounds: how long one read may
#: wait for a server, and how long without progress before a sync or an action gives up.
NUMERIC_SETTINGS = {"timeout": (5, 600), "deadline": (10, 3600)}
#: Unknown account keys that look like a secret: the value is never shown, and the error
#: says where secrets go instead.
_SECRET_WORDS = ("pass", "secret", "token", "pwd", "mdp", "mot_de_passe", "motdepasse")


def _bad_password(where: str, value: object) -> str:
    """The error for a ``password`` that is no password source. Never with the value: a
    password written there by mistake would be shown back (on screen, in a log)."""
    source = value.strip().lower() if isinstance(value, str) else ""
    hint = _("; did you mean {name!r}?").format(name=source) if source in PASSWORD_SOURCES else ""
    return _(
        "{where}: password must be one of {choices}{hint} (the password itself never goes in "
        "this file: write password = \"env\" and password_env = \"VARIABLE\", or password = "
        "\"keyring\", or password = \"prompt\")"
    ).format(where=where, choices=", ".join(PASSWORD_SOURCES), hint=hint)


def settings_problems(table: object) -> list[str]:
    """Every mistake in the ``[settings]`` table, one line each, naming the table and key."""
    if table is None:
        return []
    if not isinstance(table, dict):
        return [_("table 'settings' must be a table with the keys {keys}, not {value}").format(
            keys=", ".join([*SETTINGS, *NUMERIC_SETTINGS]), value=shown(table))]
    out = []
    known = [*SETTINGS, *NUMERIC_SETTINGS]
    for key, value in table.items():
        if key in NUMERIC_SETTINGS:
            low, high = NUMERIC_SETTINGS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not low <= value <= high:
                out.append(_("table 'settings', key {key!r}: must be a number of seconds "
                             "from {low} to {high}, not {value}").format(
                    key=key, low=low, high=high, value=shown(value)))
        elif key not in SETTINGS:
            out.append(
                _("table 'settings': unknown key {key!r}{hint} (valid keys: {keys})").format(
                    key=key, hint=did_you_mean(key, known), keys=", ".join(known)))
        elif not isinstance(value, str) or value not in SETTINGS[key]:
            choices = SETTINGS[key]
            out.append(_(
                "table 'settings', key {key!r}: must be one of {choices}{hint}, not {value}"
            ).format(key=key, choices=", ".join(choices), value=shown(value),
                     hint=did_you_mean(value, choices) if isinstance(value, str) else ""))
    return out


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
    """Kinds "ews" with OAuth2 and "graph": the directory (tenant) id."""
    graph_url: str | None = None
    """Kind "graph": the Graph endpoint (default https://graph.microsoft.com/v1.0)."""
    authority_url: str | None = None
    """Kind "graph": the sign-in authority (default https://login.microsoftonline.com)."""
    client_secret_env: str | None = None
    """Kind "graph", app-only: the environment variable holding the client secret."""
    certificate: str | None = None
    """Kind "graph", app-only: a PEM file with the certificate and its private key."""
    token_env: str | None = None
    """Kind "graph" with auth "token": the environment variable holding a bearer token."""

    def validate(self) -> None:
        """Raise ConfigError naming the account and the key at fault (every mistake, one
        line each). The password's value is never repeated: it may be the password."""
        found = self.problems()
        if found:
            raise ConfigError("\n".join(found), found)

    def problems(self) -> list[str]:
        """Every mistake of the account, one line each, naming the account and the key."""
        where = _("account {name!r}").format(name=self.name)
        # The connector of the kind checks its own settings: the config lists no kinds.
        kinds = registry.kinds()
        if self.kind not in kinds:
            return [_("{where}: kind must be one of {choices}, not {kind}{hint}").format(
                where=where, choices=", ".join(kinds), kind=shown(self.kind),
                hint=did_you_mean(self.kind, kinds))]
        try:
            connector = registry.connector_class(self.kind)
        except ConnectorError as exc:  # a third party's entry point that does not load
            return [f"{where}: {exc}"]
        out = connector.account_problems(self, where)
        if connector.uses_password:
            out += self._password_problems(where)
        return out

    def _password_problems(self, where: str) -> list[str]:
        if self.password not in PASSWORD_SOURCES:
            return [_bad_password(where, self.password)]
        if self.password == "env" and not self.password_env:
            return [_("{where}: password = 'env' needs 'password_env'").format(where=where)]
        return []

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


#: The keys of an account's table (its name is the table's own).
ACCOUNT_KEYS = tuple(sorted(set(AccountConfig.__slots__) - {"name"}))
_TYPES: dict[str, type] = {"port": int, "insecure_tls": bool}


def load(path: Path | None = None) -> Config:
    """Read the configuration; a missing file is an empty configuration.

    ConfigError lists every mistake, one line each, naming the file, the table and the key
    (and the nearest valid key for a misspelt one); a secret is never repeated.
    """
    path = path or default_config_path()
    if not path.exists():
        return Config(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, an integer too long
        raise ConfigError(
            _("{path} is not valid TOML: {error}").format(path=path, error=exc)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("cannot read {path}: {error}").format(path=path, error=exc)
        ) from None
    problems: list[str] = []
    for key in data:
        if key not in TABLES:
            problems.append(_("unknown table {key!r}{hint} (tables: {tables})").format(
                key=key, hint=did_you_mean(key, TABLES), tables=", ".join(TABLES)))
    settings, protect = data.get("settings"), data.get("protect")
    problems += settings_problems(settings) + protect_problems(protect)
    config = Config(
        path=path,
        settings=dict(settings) if isinstance(settings, dict) else {},
        protect=dict(protect) if isinstance(protect, dict) else {},
    )
    accounts = data.get("accounts") or {}
    if not isinstance(accounts, dict):
        problems.append(_("'accounts' must be a table of accounts, one table per account: "
                          "[accounts.NAME]"))
        accounts = {}
    for name, table in accounts.items():
        account, found = _account(name, table)
        problems += found
        if account is not None:
            config.accounts[name] = account
    if problems:
        lines = [f"{path}: {p}" for p in problems]
        raise ConfigError("\n".join(lines), lines)
    return config


def _account(name: str, table: object) -> tuple[AccountConfig | None, list[str]]:
    """The account of table ``accounts.NAME``, or None, and every mistake found in it."""
    where = _("account {name!r}").format(name=name)
    if not isinstance(table, dict):
        return None, [_("{where} must be a table of keys (kind, host, user...)").format(
            where=where)]
    out = []
    for key in table:
        if key in ACCOUNT_KEYS:
            continue
        if any(w in key.lower().replace("-", "_") for w in _SECRET_WORDS):
            out.append(_(
                "{where}: unknown key {key!r}: secrets never go in this file (a password, or "
                "an OAuth2 client secret, comes from password = \"env\", \"keyring\" or "
                "\"prompt\")"
            ).format(where=where, key=key))
        elif key == "name":
            out.append(_("{where}: unknown key 'name': the account's name is its table's, "
                         "[accounts.NAME]").format(where=where))
        else:
            out.append(_("{where}: unknown key {key!r}{hint} (valid keys: {keys})").format(
                where=where, key=key, hint=did_you_mean(key, ACCOUNT_KEYS),
                keys=", ".join(ACCOUNT_KEYS)))
    unknown = len(out)
    for key, value in table.items():
        if key not in ACCOUNT_KEYS or value is None:
            continue
        typ = _TYPES.get(key, str)
        # bool is an int in Python; a port of `true` is still wrong.
        if isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
            continue
        if key == "password":
            out.append(_bad_password(where, value))
            continue
        what = {int: _("a whole number"), bool: _("true or false")}.get(typ, _("a text"))
        out.append(_("{where}: {key} must be {what}, not {value}").format(
            where=where, key=key, what=what, value=shown(value)))
    if len(out) > unknown:  # a key of the wrong type: the checks below would misread it
        return None, out
    account = AccountConfig(name=name, **{k: v for k, v in table.items() if k in ACCOUNT_KEYS})
    out += account.problems()
    return (None, out) if out else (account, [])


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
            _("no usable system keyring ({error}); use --password-env VAR instead").format(
                error=exc)
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
