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
from mailclean.snapshot.measure import (
    DEFAULT_LOGIN_FORMAT,
    Access,
    EwsAccess,
    EwsMeasure,
    ImapMeasure,
)
from mailclean.snapshot.runner import RunOptions, SnapshotProgress, run
from mailclean.snapshot.store import (
    CATEGORIES,
    SnapshotError,
    SnapshotInfo,
    SnapshotStore,
)

#: Seconds per attempt at one mailbox when --timeout is not given.
DEFAULT_TIMEOUT = {"quick": 120.0, "full": 1800.0}
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
    return click.prompt(what, hide_input=True, err=True)


@snapshot.command("take")
@click.option(
    "--accounts",
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
    accounts_file: Path | None,
    label: str | None,
    host: str | None,
    ews_url: str | None,
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
    """Measure every mailbox of an accounts file: volume per folder kind, quota, categories."""
    if retry_failed and not resume:
        raise click.UsageError(_("--retry-failed goes with --resume"))
    if resume and accounts_file:
        raise click.UsageError(
            _("--resume continues with the mailboxes of the snapshot: leave out --accounts")
        )
    if not resume and not accounts_file:
        raise click.UsageError(_("--accounts FILE is required (or --resume)"))
    store = _where(ctx, snapshots_path).open()
    try:
        if resume:
            info = _resumable(store, label, retry_failed)
            stored = info.options
        else:
            info, stored = None, {}
        # What the command line says wins; a resumed snapshot fills in the rest.
        conn = stored.get("access", {})
        if host and ews_url:
            raise click.UsageError(_("choose one of --server (IMAP) and --ews (Exchange)"))
        kind = "ews" if ews_url or (not host and conn.get("kind") == "ews") else "imap"
        if info is not None and kind != conn.get("kind", "imap"):
            raise click.UsageError(
                _("snapshot {label} was taken with {option}: resume it the same way").format(
                    label=info.label, option="--ews" if conn.get("kind") == "ews" else "--server"
                )
            )
        depth = (
            ("quick" if quick else "full") if quick is not None else stored.get("depth", "quick")
        )
        older_than = older_than or stored.get("older_than")
        rules_file = rules_file or (
            Path(stored["rules_file"]) if stored.get("rules_file") else None
        )
        access: Access | EwsAccess
        if kind == "ews":
            mode = "ews"
            credentials: dict = {}
            access = _ews_access(
                ews_url or conn.get("url"),
                conn,
                admin_user=admin_user,
                password_env=password_env or stored.get("password_env"),
                auth=auth,
                cafile=cafile,
                insecure_tls=insecure_tls,
                imap_only={
                    "--port": port,
                    "--security": security,
                    "--login-format": login_format,
                    "--proxy-auth": proxy_auth,
                    "--credentials": credentials_file,
                },
            )
            source = access.url
        else:
            if auth:
                raise click.UsageError(_("--auth goes with --ews"))
            host = host or conn.get("host")
            if not host:
                raise click.UsageError(_("--server HOST is required"))
            if credentials_file and (admin_user or proxy_auth):
                raise click.UsageError(_("choose one of --admin-user and --credentials"))
            if credentials_file:
                mode = "credentials"
            elif proxy_auth:
                mode = "proxy"
            elif admin_user:
                mode = "master"
            else:
                mode = conn.get("mode") or "master"
            admin_user = admin_user or conn.get("admin_user")
            if (
                mode == "credentials"
                and credentials_file is None
                and stored.get("credentials_file")
            ):
                credentials_file = Path(stored["credentials_file"])
            if mode in ("master", "proxy") and not admin_user:
                raise click.UsageError(
                    _("give --admin-user (an admin or master user) or --credentials FILE")
                )
            if login_format and mode != "master":
                raise click.UsageError(
                    _(
                        "--login-format goes with --admin-user, not with --proxy-auth "
                        "or --credentials"
                    )
                )
            credentials = {}
            if mode == "credentials":
                if credentials_file is None:
                    raise click.UsageError(
                        _("--credentials FILE is required to resume this snapshot")
                    )
                warning = credentials_warning(credentials_file)
                if warning:
                    err.print(warning)
                credentials = read_credentials(credentials_file)
            try:
                access = Access(
                    host=host,
                    port=port or conn.get("port"),
                    security=security or conn.get("security") or "ssl",
                    cafile=cafile or conn.get("cafile"),
                    insecure_tls=bool(
                        insecure_tls if insecure_tls is not None else conn.get("insecure_tls")
                    ),
                    mode=mode,
                    admin_user=admin_user if mode != "credentials" else None,
                    login_format=login_format or conn.get("login_format") or DEFAULT_LOGIN_FORMAT,
                    credentials=credentials,
                )
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--login-format") from None
            if mode != "credentials":
                password = _password_from(
                    password_env or stored.get("password_env"),
                    _("Password of {user}").format(user=admin_user),
                )
                access = replace(access, admin_password=password)
            port_shown = access.port or (993 if access.security == "ssl" else 143)
            source = f"imap://{host}:{port_shown}"
        options = RunOptions(
            concurrency=concurrency or stored.get("concurrency") or 8,
            timeout=timeout or stored.get("timeout") or DEFAULT_TIMEOUT[depth],
            retries=retries if retries is not None else stored.get("retries", 2),
            stop_after_refused=None if mode == "credentials" else 5,
        )
        # A socket read never waits longer than the whole attempt may take.
        measure = (EwsMeasure if kind == "ews" else ImapMeasure)(
            access,  # type: ignore[arg-type]
            depth=depth,
            rules_file=rules_file,
            older_than=older_than,
            workdir=work_dir,
            command_timeout=min(options.timeout, 60.0),
        )
        if info is None:
            assert accounts_file is not None
            entries = read_accounts(accounts_file)
            if mode == "credentials":
                missing = [e for e in entries if e.mailbox.lower() not in credentials]
                if missing:
                    raise SnapshotError(
                        ngettext(
                            "{path}: no password for {n} mailbox of the accounts file: {mailbox}",
                            "{path}: no password for {n} mailboxes of the accounts file, "
                            "e.g. {mailbox}",
                            len(missing),
                        ).format(path=credentials_file, n=len(missing), mailbox=missing[0].mailbox)
                    )
            label = label or datetime.now().strftime("%Y-%m-%d-%H%M")
            remembered = {
                "access": access.describe(),
                "depth": depth,
                "older_than": older_than,
                "rules_file": str(rules_file) if rules_file else None,
                "credentials_file": str(credentials_file) if credentials_file else None,
                "password_env": password_env,
                "concurrency": options.concurrency,
                "timeout": options.timeout,
                "retries": options.retries,
                "accounts_file": accounts_file.name,
            }
            info = store.create(
                label,
                depth,
                source,
                remembered,
                ((e.mailbox, e.login, e.team, e.display_name) for e in entries),
            )
        elif retry_failed:
            store.retry_failed(info.id)
        speed = RateColumn(lambda speed: _("{rate} mailboxes/s").format(rate=decimal(speed)))
        with progress_bar(not as_json, speed, TimeElapsedColumn(), TextColumn("ETA"),
                          TimeRemainingColumn()) as bar:
            try:
                summary = run(
                    store, info.id, measure, options, RichSnapshotProgress(bar, info.label)
                )
            except KeyboardInterrupt:
                fail(
                    _(
                        "interrupted: the mailboxes measured so far are kept; continue with "
                        "'mailclean snapshot take --resume --label {label}'"
                    ).format(label=info.label),
                    130,
                )
        final = store.get(info.label)
        failures = store.failures(info.id, limit=50 if as_json else SHOWN_FAILURES)
    finally:
        store.close()
    if as_json:
        data = final.as_dict()
        data.update(
            measured_now=summary.measured,
            failed_now=summary.failed,
            seconds=round(summary.seconds, 3),
            failures=[{"mailbox": m, "error": e} for m, e in failures],
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
    _print_failures(final, failures)


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
    table = Table(box=None)
    for col, justify in (
        (_("Label"), "left"),
        (_("Taken"), "left"),
        (_("Depth"), "left"),
        (_("State"), "left"),
        (_("Mailboxes"), "right"),
        (_("Failed"), "right"),
        (_("Messages"), "right"),
        (_("Volume"), "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in snapshots:
        table.add_row(
            s.label,
            when(s.taken_at),
            _("full") if s.depth == "full" else _("quick"),
            _state_text(s),
            f"{number(s.done)}/{number(s.total)}",
            number(s.failed),
            number(s.messages),
            size(s.bytes),
        )
    out.print(table)


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
@click.option("--failed", "only_failed", is_flag=True, help="Only the mailboxes that failed.")
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
    if as_json:
        data = info.as_dict()
        data["teams"] = _team_totals(rows)
        data["categories"] = categories
        data["reclaimable_bytes"] = (
            sum(r.reclaimable_bytes or 0 for r in done) if categories is not None else None
        )
        data["quota_used"] = sum(r.quota_used or 0 for r in done)
        if by == "mailbox" or only_failed:
            data["by_mailbox"] = [_mailbox_dict(r) for r in (failed if only_failed else rows)]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if only_failed:
        _print_failures(info, [(r.mailbox, r.error or "") for r in failed])
        return
    out.print(
        _(
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
            messages=number(info.messages),
        ),
        markup=False,
    )
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
        table.add_row(
            str(i) if by != "folder" else "",
            ln.label,
            size(f.bytes_before),
            size(f.bytes_after),
            report.signed_size(f.freed),
            report.signed_percent(f.reduction),
            size(f.trash_pending),
            style=style,
        )
    out.print(table)
    if by == "team" and c.teams:
        ranked = report.leaderboard(c.teams, "percent")[:top]
        out.print(
            _("By share of the volume freed: {teams}").format(
                teams=", ".join(
                    f"{i}. {ln.key} ({report.signed_percent(ln.figures.reduction)})"
                    for i, ln in enumerate(ranked, 1)
                )
            ),
            markup=False,
        )
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
