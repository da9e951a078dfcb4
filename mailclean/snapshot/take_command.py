"""``mailclean snapshot take``: measure every mailbox of an accounts file, or go on with
an interrupted snapshot, with a progress bar; the options are merged and checked by
:func:`mailclean.snapshot.options.resolve`."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mailclean.bars import RateColumn
from mailclean.bars import bar as progress_bar
from mailclean.console import err, fail
from mailclean.i18n import _, decimal, ngettext, number
from mailclean.snapshot.accounts import credentials_warning, read_accounts, read_credentials
from mailclean.snapshot.cli_shared import snapshots_option, usage_errors, where
from mailclean.snapshot.graph_measure import GraphAccess, GraphMeasure
from mailclean.snapshot.maildirs import MaildirMeasure, MaildirRoot
from mailclean.snapshot.measure import Access, EwsAccess, EwsMeasure, ImapMeasure
from mailclean.snapshot.options import TakeOptions, TakeSettings, requested_label, resolve
from mailclean.snapshot.runner import RunOptions, RunSummary, SnapshotProgress, run
from mailclean.snapshot.store import SnapshotError, SnapshotInfo, SnapshotStore, UnreadableFolder
from mailclean.snapshot.summaries import SHOWN_FAILURES, print_take_summary
from mailclean.tls import CafileError

#: Exit status of `snapshot take` when it finished but some mailboxes could not be measured.
EXIT_FAILED = 3
#: Exit status when every mailbox was measured, but some only in part.
EXIT_PARTIAL = 4


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


def new_snapshot(
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


def exit_status(info: SnapshotInfo) -> int:
    """0 when every mailbox was measured, else :data:`EXIT_FAILED` or :data:`EXIT_PARTIAL`."""
    if info.failed:
        return EXIT_FAILED
    return EXIT_PARTIAL if info.partial else 0


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


@click.command("take")
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
    "--graph",
    is_flag=True,
    default=None,
    help="Exchange Online mailboxes through Microsoft Graph instead of --server: an "
    "application of the tenant (--tenant-id, --client-id) signs in as itself with "
    "--client-secret-env, --certificate or --token-env and opens each mailbox "
    "(see docs/graph.md for the permissions it needs).",
)
@click.option("--tenant-id", metavar="TENANT", help="Directory (tenant) id or domain (--graph).")
@click.option("--client-id", metavar="APP", help="Application (client) id (--graph).")
@click.option(
    "--client-secret-env",
    metavar="VAR",
    help="Read the application's client secret from this variable (--graph).",
)
@click.option(
    "--certificate",
    type=click.Path(dir_okay=False, exists=True),
    help="PEM file with the application's certificate and private key (--graph).",
)
@click.option(
    "--token-env",
    metavar="VAR",
    help="Read a bearer token for Graph from this variable (--graph --auth token).",
)
@click.option(
    "--graph-url",
    metavar="URL",
    help="Microsoft Graph root (default https://graph.microsoft.com/v1.0; national clouds).",
)
@click.option(
    "--authority-url",
    metavar="URL",
    help="Sign-in authority (default https://login.microsoftonline.com).",
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
    type=click.Choice(["ntlm", "basic", "client-secret", "certificate", "token"]),
    help="How the admin logs in to Exchange: ntlm (default) or basic with --ews; "
    "client-secret (default), certificate or token with --graph.",
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
    ctx: click.Context, /, as_json: bool, snapshots_path: Path | None, **given: Any
) -> None:
    """Measure every mailbox of an accounts file: volume per folder kind, quota, categories.

    The mailboxes are reached on an IMAP server (--server, with an admin login or
    --credentials), on Exchange (--ews), on Exchange Online (--graph), or read straight
    from a mail root on disk (--maildir-root: a tree of Maildirs as Dovecot keeps them,
    read-only).

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
    options = TakeOptions(**given)
    with usage_errors():
        label = requested_label(options)
    store = where(ctx, snapshots_path).open()
    try:
        info = _resumable(store, label, options.retry_failed) if options.resume else None
        with usage_errors():
            settings = resolve(options, info)
        access, credentials = _with_secrets(settings)
        measure = _measure(settings, access, options.work_dir)
        if info is None:
            assert options.accounts_file is not None
            info = new_snapshot(
                store, options.accounts_file, label, settings.source, settings.remembered,
                credentials if settings.mode == "credentials" else None,
            )  # fmt: skip
        elif options.retry_failed:
            store.retry_failed(info.id)
        summary = measure_snapshot(store, info, measure, settings.run, not as_json)
        final = store.get(info.label)
        limit = 50 if as_json else SHOWN_FAILURES
        failures = store.failures(info.id, limit=limit)
        partials = store.partials(info.id, limit=limit)
    finally:
        store.close()
    print_take_summary(final, summary, failures, partials, as_json)
    ctx.exit(exit_status(final))


def _with_secrets(
    settings: TakeSettings,
) -> tuple[Access | EwsAccess | GraphAccess | MaildirRoot, dict]:
    """The access with what :func:`resolve` leaves out: the per-mailbox passwords of the
    credentials file (and the file's own permissions checked), or the admin's password
    (from its variable, else asked on the terminal). Also the credentials read."""
    access = settings.access
    credentials: dict = {}
    if settings.credentials_file is not None:
        assert isinstance(access, Access)
        warning = credentials_warning(settings.credentials_file)
        if warning:
            err.print(warning)
        credentials = read_credentials(settings.credentials_file)
        access = replace(access, credentials=credentials)
    if settings.password_for is not None:
        assert isinstance(access, Access | EwsAccess)
        password = _password_from(
            settings.password_env, _("Password of {user}").format(user=settings.password_for)
        )
        access = replace(access, admin_password=password)
    if isinstance(access, GraphAccess) and settings.secret_env:
        value = _password_from(settings.secret_env, "")
        if not value:  # set but empty: no sign-in could use it
            raise SnapshotError(_("the variable {var} is not set").format(var=settings.secret_env))
        source = _("the environment variable {var}").format(var=settings.secret_env)
        if access.auth == "token":
            access = replace(access, token=value, secret_source=source)
        else:
            access = replace(access, client_secret=value, secret_source=source)
    return access, credentials


def _measure(
    settings: TakeSettings,
    access: Access | EwsAccess | GraphAccess | MaildirRoot,
    work_dir: Path | None,
) -> Any:
    """How each mailbox is measured: over IMAP, through EWS or Graph, or from its files."""
    measure_class = {"ews": EwsMeasure, "graph": GraphMeasure, "maildir": MaildirMeasure}.get(
        settings.kind, ImapMeasure
    )
    try:
        return _measure_with(measure_class, settings, access, work_dir)
    except CafileError as exc:
        raise SnapshotError(str(exc)) from None


def _measure_with(measure_class: Any, settings: TakeSettings,
                  access: Access | EwsAccess | GraphAccess | MaildirRoot,
                  work_dir: Path | None) -> Any:
    return measure_class(
        access,
        depth=settings.depth,
        rules_file=settings.rules_file,
        older_than=settings.older_than,
        workdir=work_dir,
        # A socket read never waits longer than the whole attempt may take.
        command_timeout=min(settings.run.timeout, 60.0),
    )
