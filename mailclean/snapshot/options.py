"""What ``snapshot take`` and ``snapshot compare`` were asked, merged and checked, without click.

``take`` has three sources for each setting: the command line (:class:`TakeOptions`, None
where an option was not given), what a resumed snapshot remembers in the snapshots file
(its ``options``: the access it was taken with, its depth, limits...), and the defaults.
:func:`resolve` merges them in that order (the command line wins) and refuses the
combinations that make no sense, with :class:`OptionError`; the command turns that into a
usage error. Nothing here reads a file, the environment or the terminal: the password and
the credentials file are the command's to read, once :func:`resolve` said they are needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailclean.i18n import _
from mailclean.report import Co2Estimate
from mailclean.snapshot.graph_measure import GraphAccess
from mailclean.snapshot.maildirs import DEFAULT_USER_PATTERN, MaildirRoot
from mailclean.snapshot.measure import DEFAULT_LOGIN_FORMAT, Access, EwsAccess
from mailclean.snapshot.runner import RunOptions
from mailclean.snapshot.store import SnapshotInfo

#: Seconds per attempt at one mailbox when --timeout is not given.
DEFAULT_TIMEOUT = {"quick": 120.0, "full": 1800.0}
#: Mailboxes measured at the same time when --concurrency is not given.
DEFAULT_CONCURRENCY = 8
#: Further attempts at a mailbox whose connection failed when --retries is not given.
DEFAULT_RETRIES = 2


class OptionError(ValueError):
    """Options that do not go together, or a value that cannot be used: a usage error.

    ``param_hint`` names the option whose value is wrong ("--user-pattern"); None when the
    combination is wrong rather than one value.
    """

    def __init__(self, message: str, param_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


@dataclass
class TakeOptions:
    """The options of ``snapshot take`` as given on the command line: None (or False for
    the flags) where one was not given. The names are those of the command's parameters."""

    label_arg: str | None = None
    accounts_file: Path | None = None
    label: str | None = None
    host: str | None = None
    ews_url: str | None = None
    graph: bool | None = None
    maildir_root: Path | None = None
    user_pattern: str | None = None
    auth: str | None = None
    port: int | None = None
    security: str | None = None
    cafile: str | None = None
    insecure_tls: bool | None = None
    admin_user: str | None = None
    password_env: str | None = None
    login_format: str | None = None
    proxy_auth: bool | None = None
    credentials_file: Path | None = None
    quick: bool | None = None
    older_than: int | None = None
    rules_file: Path | None = None
    concurrency: int | None = None
    timeout: float | None = None
    retries: int | None = None
    work_dir: Path | None = None
    resume: bool = False
    retry_failed: bool = False
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    certificate: str | None = None
    token_env: str | None = None
    graph_url: str | None = None
    authority_url: str | None = None

    def graph_options(self) -> dict[str, Any]:
        """The options that only make sense with --graph, by name."""
        return {
            "--tenant-id": self.tenant_id,
            "--client-id": self.client_id,
            "--client-secret-env": self.client_secret_env,
            "--certificate": self.certificate,
            "--token-env": self.token_env,
            "--graph-url": self.graph_url,
            "--authority-url": self.authority_url,
        }

    def server_options(self) -> dict[str, Any]:
        """The options that only make sense with a server, by name."""
        return {
            "--server": self.host,
            "--ews": self.ews_url,
            "--graph": self.graph,
            "--auth": self.auth,
            "--port": self.port,
            "--security": self.security,
            "--cafile": self.cafile,
            "--insecure-tls": self.insecure_tls,
            "--admin-user": self.admin_user,
            "--password-env": self.password_env,
            "--login-format": self.login_format,
            "--proxy-auth": self.proxy_auth,
            "--credentials": self.credentials_file,
        }

    def imap_only_options(self) -> dict[str, Any]:
        """The server options that only make sense with IMAP, by name."""
        return {
            "--port": self.port,
            "--security": self.security,
            "--login-format": self.login_format,
            "--proxy-auth": self.proxy_auth,
            "--credentials": self.credentials_file,
        }


@dataclass(frozen=True)
class TakeSettings:
    """What a run of ``snapshot take`` uses, every source merged and checked."""

    kind: str
    """How the mailboxes are reached: "imap", "ews", "graph" or "maildir"."""
    mode: str
    """"master", "proxy" or "credentials" (IMAP), "ews", "graph" or "maildir"."""
    access: Access | EwsAccess | GraphAccess | MaildirRoot
    """The access, without the admin password or the per-mailbox credentials: the command
    reads them (see ``password_for`` and ``credentials_file``)."""
    source: str
    """The snapshot's scope: ``imap://host:port``, the EWS URL, ``graph://tenant``,
    ``maildir://root``."""
    depth: str
    older_than: int | None
    rules_file: Path | None
    run: RunOptions
    credentials_file: Path | None
    """The per-mailbox passwords to read (mode "credentials"), else None."""
    password_env: str | None
    """The variable holding the admin password; None: ask it on the terminal."""
    password_for: str | None
    """The admin user whose password is needed; None when none is (files, credentials)."""
    remembered: dict = field(default_factory=dict)
    """What a new snapshot keeps in the snapshots file for ``--resume`` (no password)."""
    secret_env: str | None = None
    """The variable holding the Graph application's secret or bearer token (--graph)."""


def requested_label(given: TakeOptions) -> str | None:
    """The label `snapshot take` was given (as LABEL or --label), once the options that go
    together are checked: what can be refused before the snapshots file is opened."""
    if given.label_arg and given.label and given.label_arg != given.label:
        raise OptionError(_("give the label once: as LABEL or with --label"))
    if given.retry_failed and not given.resume:
        raise OptionError(_("--retry-failed goes with --resume"))
    if given.resume and given.accounts_file:
        raise OptionError(
            _("--resume continues with the mailboxes of the snapshot: leave out --accounts")
        )
    if not given.resume and not given.accounts_file:
        raise OptionError(_("--accounts FILE is required (or --resume)"))
    return given.label or given.label_arg


def resolve(given: TakeOptions, resumed: SnapshotInfo | None = None) -> TakeSettings:
    """Merge the command line (``given``), what the ``resumed`` snapshot remembers and the
    defaults, in that order; OptionError when they do not go together."""
    stored: dict = resumed.options if resumed is not None else {}
    conn: dict = stored.get("access", {})
    kind = _kind(given, conn, resumed)
    depth = (
        ("quick" if given.quick else "full")
        if given.quick is not None
        else stored.get("depth", "quick")
    )
    older_than = given.older_than or stored.get("older_than")
    rules_file = given.rules_file or (
        Path(stored["rules_file"]) if stored.get("rules_file") else None
    )
    password_env = given.password_env or stored.get("password_env")
    credentials_file: Path | None = None
    password_for: str | None = None
    access: Access | EwsAccess | GraphAccess | MaildirRoot
    secret_env: str | None = None
    if kind == "maildir":
        root = _maildir_access(given, conn)
        access, mode, source = root, "maildir", f"maildir://{root.root.resolve()}"
    elif kind == "ews":
        ews = _ews_access(given, conn)
        access, mode, source, password_for = ews, "ews", ews.url, ews.admin_user
    elif kind == "graph":
        graph, secret_env = _graph_access(given, conn, stored)
        access, mode, source = graph, "graph", f"graph://{graph.tenant_id}"
    else:
        imap, credentials_file = _imap_access(given, conn, stored)
        access, mode = imap, imap.mode
        port_shown = imap.port or (993 if imap.security == "ssl" else 143)
        source = f"imap://{imap.host}:{port_shown}"
        password_for = imap.admin_user if mode != "credentials" else None
    retries = given.retries if given.retries is not None else stored.get("retries", DEFAULT_RETRIES)
    run = RunOptions(
        concurrency=given.concurrency or stored.get("concurrency") or DEFAULT_CONCURRENCY,
        timeout=given.timeout or stored.get("timeout") or DEFAULT_TIMEOUT[depth],
        retries=retries,
        # Stop early when the first logins are all refused: it is the admin's password.
        stop_after_refused=5 if mode in ("master", "proxy", "ews", "graph") else None,
    )
    remembered = {
        "access": access.describe(),
        "depth": depth,
        "older_than": older_than,
        "rules_file": str(rules_file) if rules_file else None,
        "credentials_file": str(credentials_file) if credentials_file else None,
        "password_env": given.password_env,
        **({"secret_env": secret_env} if kind == "graph" else {}),
        "concurrency": run.concurrency,
        "timeout": run.timeout,
        "retries": run.retries,
    }
    return TakeSettings(
        kind=kind,
        mode=mode,
        access=access,
        source=source,
        depth=depth,
        older_than=older_than,
        rules_file=rules_file,
        run=run,
        credentials_file=credentials_file,
        password_env=password_env,
        password_for=password_for,
        remembered=remembered,
        secret_env=secret_env,
    )


def _kind(given: TakeOptions, conn: dict, resumed: SnapshotInfo | None) -> str:
    """How the mailboxes are reached: "imap", "ews", "graph" or "maildir"."""
    asked = [
        k
        for k, v in (("imap", given.host), ("ews", given.ews_url), ("graph", given.graph),
                     ("maildir", given.maildir_root))
        if v
    ]
    if len(asked) > 1:
        raise OptionError(
            _("choose one of --server (IMAP), --ews (Exchange), --graph (Exchange Online) "
              "and --maildir-root (files)")
        )
    kind = asked[0] if asked else conn.get("kind", "imap")
    if kind != "graph":
        named = [name for name, value in given.graph_options().items() if value]
        if named:
            raise OptionError(
                _("{options}: options of --graph").format(options=", ".join(named)))
    if resumed is not None and kind != conn.get("kind", "imap"):
        option = {"ews": "--ews", "graph": "--graph", "maildir": "--maildir-root"}.get(
            conn.get("kind", "imap"), "--server"
        )
        raise OptionError(
            _("snapshot {label} was taken with {option}: resume it the same way").format(
                label=resumed.label, option=option
            )
        )
    if kind != "maildir" and given.user_pattern:
        raise OptionError(_("--user-pattern goes with --maildir-root"))
    return kind


def _maildir_access(given: TakeOptions, conn: dict) -> MaildirRoot:
    """The mail root of ``take --maildir-root``: no server, no login."""
    named = [name for name, value in given.server_options().items() if value]
    if named:
        raise OptionError(
            _("{options}: options of a server, not for --maildir-root").format(
                options=", ".join(named)
            )
        )
    root = given.maildir_root or Path(conn.get("root", ""))
    try:
        return MaildirRoot(
            root=root,
            pattern=given.user_pattern or conn.get("user_pattern") or DEFAULT_USER_PATTERN,
        )
    except ValueError as exc:
        raise OptionError(str(exc), param_hint="--user-pattern") from None


def _imap_mode(given: TakeOptions, conn: dict) -> str:
    """How the admin reaches the IMAP mailboxes: "master", "proxy" or "credentials"."""
    if given.auth:
        raise OptionError(_("--auth goes with --ews"))
    if given.credentials_file and (given.admin_user or given.proxy_auth):
        raise OptionError(_("choose one of --admin-user and --credentials"))
    if given.credentials_file:
        return "credentials"
    if given.proxy_auth:
        return "proxy"
    if given.admin_user:
        return "master"
    mode: str = conn.get("mode") or "master"
    return mode


def _imap_access(given: TakeOptions, conn: dict, stored: dict) -> tuple[Access, Path | None]:
    """The IMAP access of ``take --server`` (no password, no credentials yet), and the
    credentials file to read in mode "credentials"."""
    host = given.host or conn.get("host")
    if not host:
        raise OptionError(_("--server HOST is required"))
    mode = _imap_mode(given, conn)
    admin_user = given.admin_user or conn.get("admin_user")
    credentials_file = given.credentials_file
    if mode == "credentials" and credentials_file is None and stored.get("credentials_file"):
        credentials_file = Path(stored["credentials_file"])
    if mode in ("master", "proxy") and not admin_user:
        raise OptionError(_("give --admin-user (an admin or master user) or --credentials FILE"))
    if given.login_format and mode != "master":
        raise OptionError(
            _("--login-format goes with --admin-user, not with --proxy-auth or --credentials")
        )
    if mode == "credentials" and credentials_file is None:
        raise OptionError(_("--credentials FILE is required to resume this snapshot"))
    insecure = given.insecure_tls if given.insecure_tls is not None else conn.get("insecure_tls")
    try:
        access = Access(
            host=host,
            port=given.port or conn.get("port"),
            security=given.security or conn.get("security") or "ssl",
            cafile=given.cafile or conn.get("cafile"),
            insecure_tls=bool(insecure),
            mode=mode,
            admin_user=admin_user if mode != "credentials" else None,
            login_format=given.login_format or conn.get("login_format") or DEFAULT_LOGIN_FORMAT,
        )
    except ValueError as exc:
        raise OptionError(str(exc), param_hint="--login-format") from None
    return access, credentials_file if mode == "credentials" else None


def _ews_access(given: TakeOptions, conn: dict) -> EwsAccess:
    """The Exchange access of ``take --ews`` (no password yet): an admin account allowed to
    impersonate the mailboxes."""
    named = [name for name, value in given.imap_only_options().items() if value]
    if named:
        raise OptionError(
            _("{options}: IMAP options, not for --ews").format(options=", ".join(named))
        )
    if given.auth not in (None, "ntlm", "basic"):
        raise OptionError(_("--auth {auth} is not for --ews: ntlm or basic").format(
            auth=given.auth), param_hint="--auth")
    url = given.ews_url or conn.get("url")
    admin_user = given.admin_user or conn.get("admin_user")
    if not url:
        raise OptionError(_("--ews URL is required"))
    if not admin_user:
        raise OptionError(
            _("give --admin-user: an Exchange account allowed to impersonate the mailboxes")
        )
    insecure = given.insecure_tls if given.insecure_tls is not None else conn.get("insecure_tls")
    return EwsAccess(
        url=url,
        admin_user=admin_user,
        auth=given.auth or conn.get("auth") or "ntlm",
        cafile=given.cafile or conn.get("cafile"),
        insecure_tls=bool(insecure),
    )


def _graph_access(given: TakeOptions, conn: dict, stored: dict
                  ) -> tuple[GraphAccess, str | None]:
    """The Microsoft Graph access of ``take --graph`` (no secret yet: the command reads it
    from its variable), and that variable's name."""
    named = [name for name, value in given.server_options().items()
             if value and name not in ("--graph", "--auth", "--cafile", "--insecure-tls")]
    if named:
        raise OptionError(
            _("{options}: not for --graph (the application signs in with --client-secret-env, "
              "--certificate or --token-env)").format(options=", ".join(named)))
    tenant = given.tenant_id or conn.get("tenant_id")
    if not tenant:
        raise OptionError(_("--tenant-id is required with --graph"))
    auth = given.auth or conn.get("auth")
    if auth is None:
        auth = ("certificate" if given.certificate else
                "token" if given.token_env else "client-secret")
    if auth not in ("client-secret", "certificate", "token"):
        raise OptionError(
            _("--auth {auth} is not for --graph: client-secret, certificate or token").format(
                auth=auth), param_hint="--auth")
    client_id = given.client_id or conn.get("client_id")
    if auth != "token" and not client_id:
        raise OptionError(_("--client-id is required with --graph (the application's id)"))
    certificate = given.certificate or conn.get("certificate")
    secret_env = (given.client_secret_env if auth == "client-secret" else
                  given.token_env if auth == "token" else None) or stored.get("secret_env")
    if auth == "certificate" and not certificate:
        raise OptionError(_("--auth certificate needs --certificate PEM"))
    if auth == "client-secret" and not secret_env:
        raise OptionError(_("--graph needs --client-secret-env VAR (or --certificate PEM, "
                            "or --token-env VAR)"))
    if auth == "token" and not secret_env:
        raise OptionError(_("--auth token needs --token-env VAR"))
    # Imported here: the Graph connector loads httpx and MSAL (0.6 s), for --graph only.
    from mailclean.connectors.graph.settings import url_problem

    for option, url in (("--graph-url", given.graph_url), ("--authority-url", given.authority_url)):
        if url_problem(url):
            raise OptionError(
                _("{option} must be an https:// URL (plain http:// only to this machine)")
                .format(option=option), param_hint=option)
    insecure = given.insecure_tls if given.insecure_tls is not None else conn.get("insecure_tls")
    access = GraphAccess(
        tenant_id=tenant,
        client_id=client_id,
        auth=auth,
        certificate=certificate if auth == "certificate" else None,
        graph_url=given.graph_url or conn.get("graph_url"),
        authority_url=given.authority_url or conn.get("authority_url"),
        cafile=given.cafile or conn.get("cafile"),
        insecure_tls=bool(insecure),
    )
    return access, secret_env if auth != "certificate" else None


@dataclass
class CompareOptions:
    """The options of ``snapshot compare`` as given on the command line."""

    first: str
    second: str
    by: str = "team"
    html_file: Path | None = None
    csv_file: Path | None = None
    as_json: bool = False
    top: int = 10
    co2_factor: float | None = None
    co2_source: str | None = None
    title: str | None = None


def resolve_compare(given: CompareOptions) -> Co2Estimate | None:
    """The CO2e estimate ``compare`` was asked for (None without --co2-factor; the source
    defaults to "factor chosen by the admin"); OptionError for --co2-source alone."""
    if given.co2_source and given.co2_factor is None:
        raise OptionError(_("--co2-source goes with --co2-factor"))
    if given.co2_factor is None:
        return None
    return Co2Estimate(given.co2_factor, given.co2_source or _("factor chosen by the admin"))
