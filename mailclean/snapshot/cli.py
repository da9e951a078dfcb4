"""``mailclean snapshot``: take, list, show, compare and remove volume snapshots."""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from mailclean import report
from mailclean.bars import RateColumn
from mailclean.bars import bar as progress_bar
from mailclean.connectors.base import ConnectorError
from mailclean.console import err, fail, out
from mailclean.i18n import _, decimal, ngettext, number, size, when
from mailclean.rules import RuleError
from mailclean.snapshot import default_snapshots_path
from mailclean.snapshot.accounts import (
    AccountsFileError,
    credentials_warning,
    read_accounts,
    read_credentials,
)
from mailclean.snapshot.maildirs import DEFAULT_USER_PATTERN, MaildirMeasure, MaildirRoot
from mailclean.snapshot.measure import (
    DEFAULT_LOGIN_FORMAT,
    Access,
    EwsAccess,
    EwsMeasure,
    ImapMeasure,
)
from mailclean.snapshot.runner import RunOptions, RunSummary, SnapshotProgress, run
from mailclean.snapshot.store import (
    CATEGORIES,
    SnapshotError,
    SnapshotInfo,
    SnapshotStore,
    UnreadableFolder,
)

#: Seconds per attempt at one mailbox when --timeout is not given.
DEFAULT_TIMEOUT = {"quick": 120.0, "full": 1800.0}
#: Columns `snapshot list` needs beside the labels to show a table, else a line each.
LIST_MIN_OTHERS = 49
#: Failures listed after a run; `snapshot show` lists them all.
SHOWN_FAILURES = 10


class SnapshotGroup(click.Group):
    """Turns the expected failures of snapshot commands into one-line errors."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating known exceptions."""
        try:
            return super().invoke(ctx)
        except (SnapshotError, AccountsFileError, ConnectorError, RuleError) as exc:
            fail(str(exc))
        except sqlite3.Error as exc:
            fail(_("the snapshots file cannot be used ({error})").format(error=exc))
        except KeyboardInterrupt:
            fail(_("interrupted by the user"), 130)


@dataclass
class Where:
    """The snapshots file a command works on."""

    path: Path

    def open(self) -> SnapshotStore:
        """Open (and migrate) the snapshots file."""
        return SnapshotStore(self.path)


def _where(ctx: click.Context, path: Path | None) -> Where:
    if path is not None:
        return Where(path)
    parent = ctx.find_root().obj
    index_path = getattr(parent, "db_path", None)
    return Where(default_snapshots_path(index_path))


def snapshots_option(f: Any) -> Any:
    """The ``--snapshots FILE`` option every subcommand takes."""
    return click.option(
        "--snapshots",
        "snapshots_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="MAILCLEAN_SNAPSHOTS",
        help="Snapshots file (default: snapshots.db beside the index).",
    )(f)


@click.group(cls=SnapshotGroup, context_settings={"help_option_names": ["-h", "--help"]})
def snapshot() -> None:
    """Measure many mailboxes (volumes only) and compare them before and after a cleanup."""


# -- take -----------------------------------------------------------------------------


class RichSnapshotProgress(SnapshotProgress):
    """A progress bar on stderr: mailboxes done, failures, rate, elapsed time and ETA."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.label = label
        self.failed = 0
        self.task = progress.add_task(label, total=None)

    def start(self, total: int, done: int) -> None:
        """Set the bar's length; mailboxes measured before count as done."""
        self.progress.update(self.task, total=max(total, 1), completed=done)

    def mailbox(self, mailbox: str, ok: bool, error: str | None) -> None:
        """Advance by one; failures show in the description."""
        if not ok:
            self.failed += 1
            self.progress.update(
                self.task,
                description=_("{label} ({n} failed)").format(label=self.label, n=self.failed),
            )
        self.progress.advance(self.task)

    def unreadable(self, mailbox: str, folders: list[UnreadableFolder]) -> None:
        """Name the folders that could not be read, on the admin's terminal only."""
        for f in folders:
            self.progress.console.print(
                _(
                    "{mailbox}: folder {folder} could not be read ({error}); the rest of "
                    "the mailbox is measured"
                ).format(mailbox=mailbox, folder=f.name, error=f.error),
                markup=False,
            )


def _password_from(env: str | None, what: str) -> str:
    import os

    if env:
        value = os.environ.get(env)
        if value is None:
            raise SnapshotError(_("the variable {var} is not set").format(var=env))
        return value
    if not sys.stdin.isatty():
        raise SnapshotError(
            _("a password is needed and there is no terminal to type it: use --password-env")
        )
    password: str = click.prompt(what, hide_input=True, err=True)
    return password


#: Exit status of `snapshot take` when it finished but some mailboxes could not be measured.
EXIT_FAILED = 3
#: Exit status when every mailbox was measured, but some only in part.
EXIT_PARTIAL = 4



@dataclass
class _Request:
    """What `snapshot take` was asked: the options, and what a resumed snapshot remembers."""

    host: str | None
    ews_url: str | None
    maildir_root: Path | None
    user_pattern: str | None
    auth: str | None
    port: int | None
    security: str | None
    cafile: str | None
    insecure_tls: bool | None
    admin_user: str | None
    password_env: str | None
    login_format: str | None
    proxy_auth: bool | None
    credentials_file: Path | None
    stored: dict

    @property
    def conn(self) -> dict:
        """The access a resumed snapshot was taken with."""
        access: dict = self.stored.get("access", {})
        return access

    def server_options(self) -> dict[str, Any]:
        """The options that only make sense with a server."""
        return {
            "--server": self.host,
            "--ews": self.ews_url,
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


def _kind(req: _Request, info: SnapshotInfo | None) -> str:
    """How the mailboxes are reached: "imap", "ews" or "maildir"."""
    asked = [k for k, v in (("imap", req.host), ("ews", req.ews_url), ("maildir", req.maildir_root))
             if v]
    if len(asked) > 1:
        raise click.UsageError(
            _("choose one of --server (IMAP), --ews (Exchange) and --maildir-root (files)")
        )
    kind = asked[0] if asked else req.conn.get("kind", "imap")
    if info is not None and kind != req.conn.get("kind", "imap"):
        option = {"ews": "--ews", "maildir": "--maildir-root"}.get(
            req.conn.get("kind", "imap"), "--server"
        )
        raise click.UsageError(
            _("snapshot {label} was taken with {option}: resume it the same way").format(
                label=info.label, option=option
            )
        )
    if kind != "maildir" and req.user_pattern:
        raise click.UsageError(_("--user-pattern goes with --maildir-root"))
    return kind


def _maildir_access(req: _Request) -> MaildirRoot:
    """The mail root of ``take --maildir-root``: no server, no login."""
    given = [name for name, value in req.server_options().items() if value]
    if given:
        raise click.UsageError(
            _("{options}: options of a server, not for --maildir-root").format(
                options=", ".join(given)
            )
        )
    root = req.maildir_root or Path(req.conn.get("root", ""))
    try:
        return MaildirRoot(
            root=root,
            pattern=req.user_pattern or req.conn.get("user_pattern") or DEFAULT_USER_PATTERN,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--user-pattern") from None


def _imap_mode(req: _Request) -> str:
    """How the admin reaches the IMAP mailboxes: "master", "proxy" or "credentials"."""
    if req.auth:
        raise click.UsageError(_("--auth goes with --ews"))
    if req.credentials_file and (req.admin_user or req.proxy_auth):
        raise click.UsageError(_("choose one of --admin-user and --credentials"))
    if req.credentials_file:
        return "credentials"
    if req.proxy_auth:
        return "proxy"
    if req.admin_user:
        return "master"
    return req.conn.get("mode") or "master"


def _imap_access(req: _Request) -> tuple[Access, dict, str]:
    """The IMAP access of ``take --server``, the per-mailbox credentials, and the mode."""
    conn, stored = req.conn, req.stored
    host = req.host or conn.get("host")
    if not host:
        raise click.UsageError(_("--server HOST is required"))
    mode = _imap_mode(req)
    admin_user = req.admin_user or conn.get("admin_user")
    credentials_file = req.credentials_file
    if mode == "credentials" and credentials_file is None and stored.get("credentials_file"):
        credentials_file = Path(stored["credentials_file"])
        req.credentials_file = credentials_file
    if mode in ("master", "proxy") and not admin_user:
        raise click.UsageError(
            _("give --admin-user (an admin or master user) or --credentials FILE")
        )
    if req.login_format and mode != "master":
        raise click.UsageError(
            _("--login-format goes with --admin-user, not with --proxy-auth or --credentials")
        )
    credentials: dict = {}
    if mode == "credentials":
        if credentials_file is None:
            raise click.UsageError(_("--credentials FILE is required to resume this snapshot"))
        warning = credentials_warning(credentials_file)
        if warning:
            err.print(warning)
        credentials = read_credentials(credentials_file)
    insecure = req.insecure_tls if req.insecure_tls is not None else conn.get("insecure_tls")
    try:
        access = Access(
            host=host,
            port=req.port or conn.get("port"),
            security=req.security or conn.get("security") or "ssl",
            cafile=req.cafile or conn.get("cafile"),
            insecure_tls=bool(insecure),
            mode=mode,
            admin_user=admin_user if mode != "credentials" else None,
            login_format=req.login_format or conn.get("login_format") or DEFAULT_LOGIN_FORMAT,
            credentials=credentials,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--login-format") from None
    if mode != "credentials":
        password = _password_from(
            req.password_env or stored.get("password_env"),
            _("Password of {user}").format(user=admin_user),
        )
        access = replace(access, admin_password=password)
    return access, credentials, mode


def _access(req: _Request, kind: str) -> tuple[Access | EwsAccess | MaildirRoot, dict, str, str]:
    """(access, per-mailbox credentials, mode, source) of a snapshot."""
    if kind == "maildir":
        root = _maildir_access(req)
        return root, {}, "maildir", f"maildir://{root.root.resolve()}"
    if kind == "ews":
        ews = _ews_access(
            req.ews_url or req.conn.get("url"),
            req.conn,
            admin_user=req.admin_user,
            password_env=req.password_env or req.stored.get("password_env"),
            auth=req.auth,
            cafile=req.cafile,
            insecure_tls=req.insecure_tls,
            imap_only={
                "--port": req.port,
                "--security": req.security,
                "--login-format": req.login_format,
                "--proxy-auth": req.proxy_auth,
                "--credentials": req.credentials_file,
            },
        )
        return ews, {}, "ews", ews.url
    access, credentials, mode = _imap_access(req)
    port_shown = access.port or (993 if access.security == "ssl" else 143)
    return access, credentials, mode, f"imap://{access.host}:{port_shown}"


def _new_snapshot(
    store: SnapshotStore,
    accounts_file: Path,
    label: str | None,
    source: str,
    remembered: dict,
    credentials: dict | None,
) -> SnapshotInfo:
    """Create the snapshot of the mailboxes of ``accounts_file``, all pending."""
    entries = read_accounts(accounts_file)
    if credentials is not None:
        missing = [e for e in entries if e.mailbox.lower() not in credentials]
        if missing:
            raise SnapshotError(
                ngettext(
                    "{path}: no password for {n} mailbox of the accounts file: {mailbox}",
                    "{path}: no password for {n} mailboxes of the accounts file, "
                    "e.g. {mailbox}",
                    len(missing),
                ).format(
                    path=remembered.get("credentials_file"),
                    n=len(missing),
                    mailbox=missing[0].mailbox,
                )
            )
    return store.create(
        label or datetime.now().strftime("%Y-%m-%d-%H%M"),
        remembered["depth"],
        source,
        {**remembered, "accounts_file": accounts_file.name},
        ((e.mailbox, e.login, e.team, e.display_name) for e in entries),
    )


def measure_snapshot(
    store: SnapshotStore,
    info: SnapshotInfo,
    measure: Any,
    options: RunOptions,
    show_progress: bool,
) -> RunSummary:
    """Run a snapshot with a progress bar on stderr; Ctrl-C exits (130) saying how to
    resume."""
    speed = RateColumn(lambda speed: _("{rate} mailboxes/s").format(rate=decimal(speed)))
    with progress_bar(
        show_progress, speed, TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()
    ) as bar:
        try:
            return run(store, info.id, measure, options, RichSnapshotProgress(bar, info.label))
        except KeyboardInterrupt:
            fail(
                _(
                    "interrupted: the mailboxes measured so far are kept; continue with "
                    "'mailclean snapshot take --resume --label {label}'"
                ).format(label=info.label),
                130,
            )


def _take_label(
    label_arg: str | None,
    label: str | None,
    resume: bool,
    retry_failed: bool,
    accounts_file: Path | None,
) -> str | None:
    """The label `snapshot take` was given (as LABEL or --label), once the options that go
    together are checked."""
    if label_arg and label and label_arg != label:
        raise click.UsageError(_("give the label once: as LABEL or with --label"))
    if retry_failed and not resume:
        raise click.UsageError(_("--retry-failed goes with --resume"))
    if resume and accounts_file:
        raise click.UsageError(
            _("--resume continues with the mailboxes of the snapshot: leave out --accounts")
        )
    if not resume and not accounts_file:
        raise click.UsageError(_("--accounts FILE is required (or --resume)"))
    return label or label_arg


def exit_status(info: SnapshotInfo) -> int:
    """0 when every mailbox was measured, else :data:`EXIT_FAILED` or :data:`EXIT_PARTIAL`."""
    if info.failed:
        return EXIT_FAILED
    return EXIT_PARTIAL if info.partial else 0


@snapshot.command("take")
@click.argument("label_arg", metavar="[LABEL]", required=False)
@click.option(
    "--accounts",
    "--staff",
    "accounts_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CSV of the mailboxes: mailbox, team, and optionally name and imap_login.",
)
@click.option("--label", help="Name of the snapshot (default: the date and time).")
@click.option("--server", "host", metavar="HOST", help="IMAP server of the mailboxes.")
@click.option(
    "--ews",
    "ews_url",
    metavar="URL",
    help="Exchange EWS endpoint of the mailboxes instead of --server "
    "(https://mail.example.org/EWS/Exchange.asmx): --admin-user opens each one through "
    "impersonation.",
)
@click.option(
    "--maildir-root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Read the mailboxes from this mail root on disk instead of a server (Maildir++ "
    "trees as Dovecot keeps them; read-only).",
)
@click.option(
    "--user-pattern",
    metavar="TEMPLATE",
    help="Where each mailbox is under --maildir-root, with {user} (the imap_login, else "
    "the mailbox), {local} and {domain} (default '{user}/Maildir').",
)
@click.option(
    "--auth",
    type=click.Choice(["ntlm", "basic"]),
    help="How the admin logs in to Exchange (--ews; default ntlm).",
)
@click.option("--port", type=click.IntRange(1, 65535), help="Server port (993, or 143).")
@click.option(
    "--security",
    type=click.Choice(["ssl", "starttls", "none"]),
    help="Implicit TLS (default), STARTTLS, or none (local test servers only).",
)
@click.option("--cafile", type=click.Path(dir_okay=False, exists=True), help="Extra CA bundle.")
@click.option(
    "--insecure-tls", is_flag=True, default=None, help="Do NOT verify the server's TLS certificate."
)
@click.option("--admin-user", metavar="NAME", help="Admin (master) user that may open mailboxes.")
@click.option(
    "--password-env",
    metavar="VAR",
    help="Read the admin password from this variable (else it is asked).",
)
@click.option(
    "--login-format",
    metavar="TEMPLATE",
    help="How the admin logs in to a mailbox, with {user} and {admin} "
    "(default '{user}*{admin}': Dovecot's master user).",
)
@click.option(
    "--proxy-auth",
    is_flag=True,
    default=None,
    help="Log in as the admin on behalf of each mailbox (SASL PLAIN authorization "
    "identity: Cyrus, Zimbra, Dovecot).",
)
@click.option(
    "--credentials",
    "credentials_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CSV of per-mailbox passwords (mailbox,password[,imap_login]) instead of an admin login.",
)
@click.option(
    "--quick/--full",
    "quick",
    default=None,
    help="Volumes per folder and quota only (default), or also the volume per "
    "cleanup category (reads headers into a temporary index, then deletes it).",
)
@click.option(
    "--older-than",
    type=click.IntRange(1, 50),
    metavar="YEARS",
    help="Age of the 'old conversations' category (--full; default 3).",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Rules file overriding the categories' parameters (--full).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Mailboxes measured at the same time (default 8).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    help="Seconds one attempt at one mailbox may take (default 120, 1800 with --full).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    help="Attempts more for a mailbox whose connection failed (default 2).",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where --full puts its temporary indexes (default: the system's temp dir).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted snapshot (--label, else the latest one).",
)
@click.option(
    "--retry-failed", is_flag=True, help="With --resume: measure again the mailboxes that failed."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@snapshots_option
@click.pass_context
def take(
    ctx: click.Context,
    label_arg: str | None,
    accounts_file: Path | None,
    label: str | None,
    host: str | None,
    ews_url: str | None,
    maildir_root: Path | None,
    user_pattern: str | None,
    auth: str | None,
    port: int | None,
    security: str | None,
    cafile: str | None,
    insecure_tls: bool | None,
    admin_user: str | None,
    password_env: str | None,
    login_format: str | None,
    proxy_auth: bool | None,
    credentials_file: Path | None,
    quick: bool | None,
    older_than: int | None,
    rules_file: Path | None,
    concurrency: int | None,
    timeout: float | None,
    retries: int | None,
    work_dir: Path | None,
    resume: bool,
    retry_failed: bool,
    as_json: bool,
    snapshots_path: Path | None,
) -> None:
    """Measure every mailbox of an accounts file: volume per folder kind, quota, categories.

    The mailboxes are reached on an IMAP server (--server, with an admin login or
    --credentials), on Exchange (--ews), or read straight from a mail root on disk
    (--maildir-root: a tree of Maildirs as Dovecot keeps them, read-only).

    \b
    Exit status:
      0    every mailbox was measured
      1    the snapshot could not be taken or go on (file, server, admin login)
      2    wrong usage
      3    finished, but some mailboxes could not be measured
           (they are listed; 'snapshot take --resume --retry-failed' measures them again)
      4    finished, every mailbox measured, but some folders could not be read
           (those mailboxes are measured without them)
      130  interrupted: what was measured is kept ('snapshot take --resume')
    """
    label = _take_label(label_arg, label, resume, retry_failed, accounts_file)
    store = _where(ctx, snapshots_path).open()
    try:
        info = _resumable(store, label, retry_failed) if resume else None
        req = _Request(
            host, ews_url, maildir_root, user_pattern, auth, port, security, cafile,
            insecure_tls, admin_user, password_env, login_format, proxy_auth, credentials_file,
            stored=info.options if info is not None else {},
        )
        stored = req.stored
        kind = _kind(req, info)
        # What the command line says wins; a resumed snapshot fills in the rest.
        depth = (
            ("quick" if quick else "full") if quick is not None else stored.get("depth", "quick")
        )
        older_than = older_than or stored.get("older_than")
        rules_file = rules_file or (
            Path(stored["rules_file"]) if stored.get("rules_file") else None
        )
        access, credentials, mode, source = _access(req, kind)
        options = RunOptions(
            concurrency=concurrency or stored.get("concurrency") or 8,
            timeout=timeout or stored.get("timeout") or DEFAULT_TIMEOUT[depth],
            retries=retries if retries is not None else stored.get("retries", 2),
            stop_after_refused=5 if mode in ("master", "proxy", "ews") else None,
        )
        measure_class = {"ews": EwsMeasure, "maildir": MaildirMeasure}.get(kind, ImapMeasure)
        measure = measure_class(
            access,
            depth=depth,
            rules_file=rules_file,
            older_than=older_than,
            workdir=work_dir,
            # A socket read never waits longer than the whole attempt may take.
            command_timeout=min(options.timeout, 60.0),
        )
        if info is None:
            assert accounts_file is not None
            remembered = {
                "access": access.describe(),
                "depth": depth,
                "older_than": older_than,
                "rules_file": str(rules_file) if rules_file else None,
                "credentials_file": str(req.credentials_file) if req.credentials_file else None,
                "password_env": password_env,
                "concurrency": options.concurrency,
                "timeout": options.timeout,
                "retries": options.retries,
            }
            info = _new_snapshot(
                store, accounts_file, label, source, remembered,
                credentials if mode == "credentials" else None,
            )
        elif retry_failed:
            store.retry_failed(info.id)
        summary = measure_snapshot(store, info, measure, options, not as_json)
        final = store.get(info.label)
        limit = 50 if as_json else SHOWN_FAILURES
        failures = store.failures(info.id, limit=limit)
        partials = store.partials(info.id, limit=limit)
    finally:
        store.close()
    print_take_summary(final, summary, failures, partials, as_json)
    ctx.exit(exit_status(final))


def print_take_summary(
    final: SnapshotInfo,
    summary: RunSummary,
    failures: list[tuple[str, str]],
    partials: list[tuple[str, int, str]],
    as_json: bool,
) -> None:
    """What a run of `snapshot take` did: its figures, then its failures."""
    if as_json:
        data = final.as_dict()
        data.update(
            measured_now=summary.measured,
            failed_now=summary.failed,
            seconds=round(summary.seconds, 3),
            failures=[{"mailbox": m, "error": e} for m, e in failures],
            partially_measured=[
                {"mailbox": m, "unreadable_folders": n, "roles": roles.split(",")}
                for m, n, roles in partials
            ],
        )
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    speed = (summary.measured + summary.failed) / summary.seconds if summary.seconds else 0.0
    out.print(
        _(
            "{label}: {measured}, {failed} failed; {size} in {messages} "
            "({seconds} s, {rate} mailboxes/s)"
        ).format(
            label=final.label,
            measured=_measured(final.done, final.total),
            failed=number(final.failed),
            size=size(final.bytes),
            messages=ngettext("{n} message", "{n} messages", final.messages).format(
                n=number(final.messages)
            ),
            seconds=decimal(summary.seconds),
            rate=decimal(speed),
        ),
        markup=False,
    )
    _print_partials(final, partials)
    _print_failures(final, failures)


def _print_partials(info: SnapshotInfo, partials: list[tuple[str, int, str]]) -> None:
    for mailbox, n, roles in partials:
        out.print(
            ngettext(
                "  {mailbox}: measured in part, {n} folder could not be read ({roles})",
                "  {mailbox}: measured in part, {n} folders could not be read ({roles})",
                n,
            ).format(
                mailbox=mailbox,
                n=number(n),
                roles=", ".join(report.role_text(r) for r in roles.split(",") if r),
            ),
            markup=False,
        )
    if info.partial > len(partials):
        out.print(
            _("  ... {n} more: 'mailclean snapshot show {label} --failed'").format(
                n=number(info.partial - len(partials)), label=info.label
            ),
            markup=False,
        )


def _measured(done: int, total: int) -> str:
    """"3 of 450 mailboxes measured", in the active language."""
    return ngettext(
        "{done} of {total} mailbox measured", "{done} of {total} mailboxes measured", total
    ).format(done=number(done), total=number(total))


def _ews_access(
    url: str | None,
    conn: dict,
    *,
    admin_user: str | None,
    password_env: str | None,
    auth: str | None,
    cafile: str | None,
    insecure_tls: bool | None,
    imap_only: dict[str, Any],
) -> EwsAccess:
    """The Exchange access of ``take --ews``: an admin account allowed to impersonate."""
    given = [name for name, value in imap_only.items() if value]
    if given:
        raise click.UsageError(
            _("{options}: IMAP options, not for --ews").format(options=", ".join(given))
        )
    admin_user = admin_user or conn.get("admin_user")
    if not url:
        raise click.UsageError(_("--ews URL is required"))
    if not admin_user:
        raise click.UsageError(
            _("give --admin-user: an Exchange account allowed to impersonate the mailboxes")
        )
    password = _password_from(password_env, _("Password of {user}").format(user=admin_user))
    return EwsAccess(
        url=url,
        admin_user=admin_user,
        admin_password=password,
        auth=auth or conn.get("auth") or "ntlm",
        cafile=cafile or conn.get("cafile"),
        insecure_tls=bool(insecure_tls if insecure_tls is not None else conn.get("insecure_tls")),
    )


def _resumable(store: SnapshotStore, label: str | None, retry_failed: bool) -> SnapshotInfo:
    """The snapshot ``--resume`` continues: the one labelled, else the latest with work left."""
    if label:
        info = store.get(label)
    else:
        left = [s for s in store.list() if s.pending or (retry_failed and s.failed)]
        if not left:
            raise SnapshotError(_("no interrupted snapshot to resume"))
        info = left[-1]
    if not info.pending and not (retry_failed and info.failed):
        if info.failed:
            raise SnapshotError(
                ngettext(
                    "snapshot {label} has no mailbox left to measure; add --retry-failed to "
                    "measure the {n} that failed again",
                    "snapshot {label} has no mailbox left to measure; add --retry-failed to "
                    "measure the {n} that failed again",
                    info.failed,
                ).format(label=info.label, n=number(info.failed))
            )
        raise SnapshotError(
            _("snapshot {label} is complete: nothing to resume").format(label=info.label)
        )
    return info


def _print_failures(info: SnapshotInfo, failures: list[tuple[str, str]]) -> None:
    for mailbox, error in failures:
        out.print(f"  {mailbox}: {error}", markup=False)
    if info.failed > len(failures):
        out.print(
            ngettext(
                "  ... {n} more: 'mailclean snapshot show {label} --failed'",
                "  ... {n} more: 'mailclean snapshot show {label} --failed'",
                info.failed - len(failures),
            ).format(n=number(info.failed - len(failures)), label=info.label),
            markup=False,
        )
    if info.failed:
        out.print(
            _(
                "Measure them again with 'mailclean snapshot take --resume --label {label} "
                "--retry-failed'."
            ).format(label=info.label),
            markup=False,
        )


# -- list, show, remove ---------------------------------------------------------------


def _state_text(info: SnapshotInfo) -> str:
    if info.state == "complete" and not info.pending:
        return _("complete")
    if info.state == "running":
        return _("running or stopped ({n} to go)").format(n=number(info.pending))
    return _("interrupted ({n} to go)").format(n=number(info.pending))


@snapshot.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@snapshots_option
@click.pass_context
def list_command(ctx: click.Context, as_json: bool, snapshots_path: Path | None) -> None:
    """The snapshots taken, oldest first."""
    with _where(ctx, snapshots_path).open() as store:
        snapshots = store.list()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in snapshots], ensure_ascii=False, indent=2))
        return
    if not snapshots:
        out.print(_("no snapshot yet: 'mailclean snapshot take' takes one"))
        return
    rows = [
        (
            s.label,
            when(s.taken_at),
            _("full") if s.depth == "full" else _("quick"),
            _state_text(s),
            f"{number(s.done)}/{number(s.total)}",
            number(s.failed),
            number(s.messages),
            size(s.bytes),
        )
        for s in snapshots
    ]
    # Labels are what `compare` and `show` take: they are never cut. The other columns
    # wrap instead, and when that would leave them too narrow to read (long labels, a
    # narrow terminal), each snapshot gets a line of its own.
    longest = max(len(_("Label")), *(len(r[0]) for r in rows))
    if out.width - longest - 2 * len(rows[0]) < LIST_MIN_OTHERS:
        for s in snapshots:
            out.print(_summary_line(s), markup=False)
        return
    table = Table(box=None)
    table.add_column(_("Label"), no_wrap=True, min_width=longest)
    # Wide enough for a date and for "interrupted": the counts fold first.
    for col, width in ((_("Taken"), 10), (_("Depth"), None), (_("State"), 11)):
        table.add_column(col, min_width=width)
    for col in (_("Mailboxes"), _("Failed"), _("Messages"), _("Volume")):
        table.add_column(col, justify="right", overflow="fold")
    for r in rows:
        table.add_row(*r)
    out.print(table)


def _summary_line(info: SnapshotInfo) -> str:
    """One snapshot in a sentence: label, date, depth, state and figures."""
    return _(
        "{label}: taken {when} ({depth}), {state}; {measured}, {failed} failed; "
        "{size} in {messages}"
    ).format(
        label=info.label,
        when=when(info.taken_at),
        depth=_("full") if info.depth == "full" else _("quick"),
        state=_state_text(info),
        measured=_measured(info.done, info.total),
        failed=number(info.failed),
        size=size(info.bytes),
        messages=ngettext("{n} message", "{n} messages", info.messages).format(
            n=number(info.messages)
        ),
    )


def _team_totals(rows: list[report.MailboxRow]) -> list[dict]:
    teams: dict[str, dict] = {}
    for r in rows:
        t = teams.setdefault(
            r.team,
            {
                "team": r.team,
                "mailboxes": 0,
                "measured": 0,
                "failed": 0,
                "messages": 0,
                "bytes": 0,
                "trash_bytes": 0,
            },
        )
        t["mailboxes"] += 1
        if r.state == "done":
            t["measured"] += 1
            t["messages"] += r.messages
            t["bytes"] += r.bytes
            t["trash_bytes"] += r.trash_bytes
        elif r.state == "failed":
            t["failed"] += 1
    return sorted(teams.values(), key=lambda t: (-t["bytes"], t["team"].lower()))


def _mailbox_dict(r: report.MailboxRow) -> dict:
    return {
        "mailbox": r.mailbox,
        "team": r.team,
        "display_name": r.display_name,
        "state": r.state,
        "error": r.error,
        "messages": r.messages,
        "bytes": r.bytes,
        "quota_used": r.quota_used,
        "quota_limit": r.quota_limit,
        "folders": {role: {"messages": m, "bytes": b} for role, (m, b) in r.roles.items()},
        "categories": dict(r.categories) if r.categories is not None else None,
        "reclaimable_bytes": r.reclaimable_bytes,
        "unreadable_folders": r.unreadable_folders,
        "unreadable_roles": list(r.unreadable_roles),
    }


@snapshot.command("show")
@click.argument("label")
@click.option(
    "--by",
    type=click.Choice(["team", "mailbox"]),
    default="team",
    show_default=True,
    help="Totals per team, or the figures of every mailbox.",
)
@click.option(
    "--failed",
    "only_failed",
    is_flag=True,
    help="Only the mailboxes that failed, or were measured in part.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@snapshots_option
@click.pass_context
def show(
    ctx: click.Context,
    label: str,
    by: str,
    only_failed: bool,
    as_json: bool,
    snapshots_path: Path | None,
) -> None:
    """One snapshot: its progress, totals per team (or mailbox), categories, failures."""
    with _where(ctx, snapshots_path).open() as store:
        info = store.get(label)
        rows = list(store.mailboxes(info.id))
    done = [r for r in rows if r.state == "done"]
    categories = None
    if done and all(r.categories is not None for r in done):
        categories = {c: sum((r.categories or {}).get(c, 0) for r in done) for c in CATEGORIES}
    failed = [r for r in rows if r.state == "failed"]
    partial = [
        (r.mailbox, r.unreadable_folders, ",".join(r.unreadable_roles))
        for r in done
        if r.unreadable_folders
    ]
    if as_json:
        data = info.as_dict()
        data["teams"] = _team_totals(rows)
        data["categories"] = categories
        data["reclaimable_bytes"] = (
            sum(r.reclaimable_bytes or 0 for r in done) if categories is not None else None
        )
        data["quota_used"] = sum(r.quota_used or 0 for r in done)
        if by == "mailbox" or only_failed:
            troubled = [r for r in rows if r.state == "failed" or r.unreadable_folders]
            data["by_mailbox"] = [_mailbox_dict(r) for r in (troubled if only_failed else rows)]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if only_failed:
        _print_partials(info, partial)
        _print_failures(info, [(r.mailbox, r.error or "") for r in failed])
        return
    out.print(_summary_line(info), markup=False)
    table = Table(box=None)
    first = _("Team") if by == "team" else _("Mailbox")
    for col, justify in (
        (first, "left"),
        (_("Mailboxes") if by == "team" else _("Team"), "right" if by == "team" else "left"),
        (_("Messages"), "right"),
        (_("Volume"), "right"),
        (_("In the Trash"), "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    if by == "team":
        for t in _team_totals(rows):
            table.add_row(
                t["team"],
                f"{number(t['measured'])}/{number(t['mailboxes'])}",
                number(t["messages"]),
                size(t["bytes"]),
                size(t["trash_bytes"]),
            )
    else:
        for r in sorted(rows, key=lambda r: (-r.bytes, r.mailbox)):
            shown = r.display_name or r.mailbox
            if r.state != "done":
                table.add_row(
                    shown, r.team, "–", "–", _("failed") if r.state == "failed" else _("pending")
                )
                continue
            table.add_row(shown, r.team, number(r.messages), size(r.bytes), size(r.trash_bytes))
    out.print(table)
    if categories is not None:
        out.print(_("Still to clean, by category (a message can be in several):"))
        for c in CATEGORIES:
            out.print(f"  {report.category_text(c)}: {size(categories[c])}", markup=False)
    _print_partials(info, partial[:SHOWN_FAILURES])
    if failed:
        _print_failures(info, [(r.mailbox, r.error or "") for r in failed[:SHOWN_FAILURES]])


@snapshot.command("remove")
@click.argument("label")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@snapshots_option
@click.pass_context
def remove(ctx: click.Context, label: str, yes: bool, snapshots_path: Path | None) -> None:
    """Delete a snapshot and all its figures."""
    with _where(ctx, snapshots_path).open() as store:
        info = store.get(label)
        if not yes:
            if not sys.stdin.isatty():
                raise SnapshotError(_("add --yes to remove a snapshot without a terminal"))
            click.confirm(
                ngettext(
                    "Remove snapshot {label} ({n} mailbox)?",
                    "Remove snapshot {label} ({n} mailboxes)?",
                    info.total,
                ).format(label=info.label, n=number(info.total)),
                abort=True,
                err=True,
            )
        store.remove(info.id)
    out.print(_("snapshot {label} removed").format(label=info.label))


# -- compare --------------------------------------------------------------------------


def _side(info: SnapshotInfo) -> report.SnapshotSide:
    return report.SnapshotSide(
        info.label,
        info.taken_at,
        info.depth,
        complete=info.state == "complete" and info.pending == 0,
    )


@snapshot.command("compare")
@click.argument("first")
@click.argument("second")
@click.option(
    "--by",
    type=click.Choice(list(report.LEVELS)),
    default="team",
    show_default=True,
    help="Detail per team, per mailbox (names included) or per kind of folder.",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report as a self-contained HTML page.",
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the figures as CSV ('-': standard output).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--top",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Length of the leaderboards.",
)
@click.option(
    "--co2-factor",
    type=click.FloatRange(min=0),
    metavar="KG",
    help="Add a CO2e estimate: kg CO2e per GB stored for a year (published "
    "factors range from about 0.4 to 0.7).",
)
@click.option(
    "--co2-source",
    metavar="TEXT",
    help="Where the CO2e factor comes from (printed beside the estimate).",
)
@click.option("--title", help="Title of the HTML page.")
@snapshots_option
@click.pass_context
def compare(
    ctx: click.Context,
    first: str,
    second: str,
    by: str,
    html_file: Path | None,
    csv_file: Path | None,
    as_json: bool,
    top: int,
    co2_factor: float | None,
    co2_source: str | None,
    title: str | None,
    snapshots_path: Path | None,
) -> None:
    """Before/after: volume freed per team, mailbox or folder kind, leaderboards, report."""
    if co2_source and co2_factor is None:
        raise click.UsageError(_("--co2-source goes with --co2-factor"))
    with _where(ctx, snapshots_path).open() as store:
        a, b = store.get(first), store.get(second)
        if a.id == b.id:
            raise SnapshotError(_("give two different snapshots"))
        comparison = report.compare(
            store.mailboxes(a.id), store.mailboxes(b.id), _side(a), _side(b)
        )
    for info in (a, b):
        if info.pending:
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                ngettext(
                    "note: snapshot {label} is not complete ({done} of {total} mailbox "
                    "measured); the others are left out",
                    "note: snapshot {label} is not complete ({done} of {total} mailboxes "
                    "measured); the others are left out",
                    info.total,
                ).format(label=info.label, done=number(info.done), total=number(info.total)),
                markup=False,
            )
    co2 = None
    if co2_factor is not None:
        co2 = report.Co2Estimate(co2_factor, co2_source or _("factor chosen by the admin"))
    notes = Console(stderr=True, highlight=False, soft_wrap=True) if as_json else out
    written: list[str] = []
    if html_file is not None:
        _write(html_file, report.render_html(comparison, by=by, co2=co2, top=top, title=title))
        written.append(str(html_file))
    if csv_file is not None:
        if str(csv_file) == "-":
            report.to_csv(comparison, sys.stdout, by=by)
        else:
            import io

            buffer = io.StringIO()
            report.to_csv(comparison, buffer, by=by)
            # With a byte-order mark, spreadsheets read the accents right.
            _write(csv_file, buffer.getvalue(), encoding="utf-8-sig")
            written.append(str(csv_file))
    if as_json:
        click.echo(
            json.dumps(
                report.to_dict(comparison, by=by, co2=co2, top=top), ensure_ascii=False, indent=2
            )
        )
    elif str(csv_file) != "-":
        _print_comparison(comparison, by, co2, top)
    for path in written:
        notes.print(_("written: {path}").format(path=path), markup=False)


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding=encoding)
        tmp.replace(path)
    except OSError as exc:
        raise SnapshotError(
            _("cannot write {path}: {error}").format(path=path, error=exc.strerror or exc)
        ) from None


def _print_comparison(
    c: report.Comparison, by: str, co2: report.Co2Estimate | None, top: int
) -> None:
    org = c.org
    out.print(
        _(
            "{before} → {after}: {freed} freed ({pct}) in {mailboxes}, {removed}; "
            "{trash} deleted but still in the Trash"
        ).format(
            before=c.before.label,
            after=c.after.label,
            freed=report.signed_size(org.freed),
            pct=report.signed_percent(org.reduction),
            mailboxes=ngettext("{n} mailbox", "{n} mailboxes", org.mailboxes).format(
                n=number(org.mailboxes)
            ),
            removed=ngettext(
                "{n} message removed", "{n} messages removed", abs(org.messages_removed)
            ).format(n=number(org.messages_removed)),
            trash=size(org.trash_pending),
        ),
        markup=False,
    )
    if co2 is not None:
        out.print(
            _(
                "CO2e estimate: ≈ {kg} kg a year (factor {factor} kg per GB per year, "
                "source: {source}); an estimate, not a measurement"
            ).format(
                kg=number(round(co2.kg_per_year(org.freed))),
                factor=co2.kg_per_gb_year,
                source=co2.source,
            ),
            markup=False,
        )
    lines = {"team": c.teams, "mailbox": c.mailboxes, "folder": c.roles}[by]
    if by == "folder":
        lines = [report.Line(report.role_text(ln.key), ln.figures) for ln in lines]
    else:
        lines = report.leaderboard(lines, "bytes")
    first = {"team": _("Team"), "mailbox": _("Mailbox"), "folder": _("Folders")}[by]
    table = Table(box=None)
    for col, justify in (
        ("#", "right"),
        (first, "left"),
        (_("Before"), "right"),
        (_("After"), "right"),
        (_("Freed"), "right"),
        (_("Reduction"), "right"),
        (_("Still in the Trash"), "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for i, ln in enumerate(lines, 1):
        f = ln.figures
        style = "red" if f.grew else None
        # Only what freed something is ranked, and it comes first: i is its rank.
        table.add_row(
            str(i) if by != "folder" and report.ranks(ln) else "",
            ln.label,
            size(f.bytes_before),
            size(f.bytes_after),
            report.signed_size(f.freed),
            report.signed_percent(f.reduction),
            size(f.trash_pending),
            style=style,
        )
    out.print(table)
    ranked = [ln for ln in report.leaderboard(c.teams, "percent") if report.ranks(ln)][:top]
    if by == "team" and ranked:
        out.print(
            _("By share of the volume freed: {teams}").format(
                teams=", ".join(
                    f"{i}. {ln.key} ({report.signed_percent(ln.figures.reduction)})"
                    for i, ln in enumerate(ranked, 1)
                )
            ),
            markup=False,
        )
    if c.partial:
        out.print(report.partial_text(c.partial), style="dim", markup=False)
    if c.unmatched:
        out.print(
            ngettext(
                "{n} mailbox not compared (in one snapshot only, or not measured in both); "
                "'--by mailbox' lists it",
                "{n} mailboxes not compared (in one snapshot only, or not measured in both); "
                "'--by mailbox' lists them",
                len(c.unmatched),
            ).format(n=number(len(c.unmatched))),
            style="dim",
            markup=False,
        )
        if by == "mailbox":
            for u in c.unmatched:
                out.print(
                    f"  {u.display_name or u.mailbox} ({u.team}): {report.reason_text(u.reason)}",
                    markup=False,
                )


# -- the organisation demo ------------------------------------------------------------


def _demo_snapshot(
    store: SnapshotStore,
    label: str,
    measure: MaildirMeasure,
    accounts_file: Path,
    show: bool,
) -> SnapshotInfo:
    """Take one snapshot of the demo's mail root, as `snapshot take --maildir-root` does."""
    remembered = {
        "access": measure.access.describe(),
        "depth": measure.depth,
        "concurrency": 8,
        "timeout": DEFAULT_TIMEOUT[measure.depth],
        "retries": 0,
    }
    source = f"maildir://{measure.access.root.resolve()}"
    info = _new_snapshot(store, accounts_file, label, source, remembered, None)
    options = RunOptions(timeout=DEFAULT_TIMEOUT[measure.depth], retries=0,
                         stop_after_refused=None)
    summary = measure_snapshot(store, info, measure, options, show)
    final = store.get(info.label)
    if show:
        print_take_summary(
            final, summary, store.failures(info.id, SHOWN_FAILURES),
            store.partials(info.id, SHOWN_FAILURES), as_json=False,
        )
    return final


def _print_cleanup(done: Any) -> None:
    """What the simulated agents did, in a few lines."""
    out.print(
        ngettext(
            "Cleanup simulated: {n} agent cleaned; {deleted} deleted for good ({size}), "
            "{trashed} moved to the Trash ({trash_size}: not freed until the Trash is "
            "emptied)",
            "Cleanup simulated: {n} agents cleaned; {deleted} deleted for good ({size}), "
            "{trashed} moved to the Trash ({trash_size}: not freed until the Trash is "
            "emptied)",
            done.agents,
        ).format(
            n=number(done.agents),
            deleted=ngettext("{n} message", "{n} messages", done.deleted_messages).format(
                n=number(done.deleted_messages)
            ),
            size=size(done.deleted_bytes),
            trashed=number(done.trashed_messages),
            trash_size=size(done.trashed_bytes),
        ),
        markup=False,
    )
    if done.idle_teams:
        out.print(
            _("Nobody cleaned in: {teams}").format(teams=", ".join(done.idle_teams)),
            markup=False,
        )
    if done.arrived_messages:
        out.print(
            ngettext(
                "Meanwhile {n} new message arrived in one mailbox ({size})",
                "Meanwhile {n} new messages arrived in one mailbox ({size})",
                done.arrived_messages,
            ).format(n=number(done.arrived_messages), size=size(done.arrived_bytes)),
            markup=False,
        )


def _print_next_steps(org: Any, db: Path, before: str, after: str) -> None:
    import shlex

    q = shlex.quote
    week = _("week-2")  # a label for a next snapshot; outside the f-string for gettext
    out.print(_("Try it as an admin would, on these files:"), style="bold")
    for line in (
        f"mailclean snapshot list --snapshots {q(str(db))}",
        f"mailclean snapshot compare {q(before)} {q(after)} --by mailbox --snapshots "
        f"{q(str(db))}",
        f"mailclean snapshot take {q(week)} --maildir-root {q(str(org.mail_root))} "
        f"--accounts {q(str(org.staff_file))} --snapshots {q(str(db))}",
    ):
        out.print(f"  {line}", markup=False)


def organisation_demo(root: Path, *, full: bool = False, as_json: bool = False) -> None:
    """``mailclean demo --organisation``: an organisation's mail root built on disk, a
    snapshot before and after a simulated cleanup, and the report (HTML, and the table)."""
    import time

    from mailclean.snapshot import demo as org_demo

    started = time.monotonic()
    show = not as_json
    with progress_bar(show, RateColumn(lambda s: _("{rate} msg/s").format(rate=decimal(s))),
                      TimeElapsedColumn()) as bar:
        task = bar.add_task(_("Generating the mailboxes"), total=None)
        org = org_demo.build_organisation(
            root, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    if show:
        out.print(
            _(
                "{mailboxes} mailboxes in {teams} teams ({messages}, {size}) generated in "
                "{path}, laid out as a Dovecot mail root; staff file: {staff}"
            ).format(
                mailboxes=number(len(org.agents)),
                teams=number(len(org.teams)),
                messages=ngettext("{n} message", "{n} messages", org.messages).format(
                    n=number(org.messages)
                ),
                size=size(org.bytes),
                path=org.mail_root,
                staff=org.staff_file,
            ),
            markup=False,
        )
    db = root / "snapshots.db"
    measure = MaildirMeasure(
        MaildirRoot(org.mail_root), depth="full" if full else "quick", command_timeout=60.0
    )
    with SnapshotStore(db) as store:
        before = _demo_snapshot(store, _("before"), measure, org.staff_file, show)
        cleanup = org_demo.simulate_cleanup(org)
        if show:
            _print_cleanup(cleanup)
        after = _demo_snapshot(store, _("after"), measure, org.staff_file, show)
        comparison = report.compare(
            store.mailboxes(before.id), store.mailboxes(after.id), _side(before), _side(after)
        )
    html_file = root / "report.html"
    title = _("Digital Cleanup Day at the town hall (demo)")
    _write(html_file, report.render_html(comparison, by="team", title=title))
    if as_json:
        data = report.to_dict(comparison, by="team")
        data["report"] = str(html_file)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _print_comparison(comparison, "team", None, 10)
    out.print(_("written: {path}").format(path=html_file), markup=False)
    _print_next_steps(org, db, before.label, after.label)
    out.print(
        _("Demo done in {seconds} s.").format(seconds=decimal(time.monotonic() - started)),
        markup=False,
    )
