"""The ``mailclean`` command: a thin click layer over the library."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click
from rich.table import Table

from mailclean import __version__, wording
from mailclean import config as cfg
from mailclean.connectors.base import Connector, ConnectorError
from mailclean.console import err, fail, out
from mailclean.i18n import (
    _,
    decimal,
    language,
    ngettext,
    number,
    percent,
    rate,
    role,
    set_language,
    size,
    when,
)
from mailclean.index import AccountNotIndexed, Index, IndexFileError
from mailclean.index.journal import Journal
from mailclean.plugins import connector_for
from mailclean.rules import (
    Protection,
    Rule,
    RuleError,
    ScanResult,
    explain,
    groups,
    load_rules,
    scan,
)
from mailclean.rules.reasons import UNSUBSCRIBE, reason, why_not
from mailclean.rules.types import parse_size
from mailclean.safetext import markup

if TYPE_CHECKING:
    from rich.console import Console

    from mailclean import actions, workflows
    from mailclean.sync import SyncReport

#: Command groups loaded when they are used: each pulls in modules (the snapshot runner,
#: protocol libraries) that the other commands never need, and start-up time counts
#: (`scan --json` on a scanned index answers in well under a second).
LAZY_GROUPS = {"snapshot": "mailclean.snapshot.cli:snapshot"}


@dataclass
class State:
    """What the global options chose, handed to every command."""

    config_path: Path
    db_path: Path

    def config(self) -> cfg.Config:
        """Load the configuration file."""
        return cfg.load(self.config_path)

    def index(self) -> Index:
        """Open (and migrate) the index."""
        return Index(self.db_path)


class Group(click.Group):
    """Turns the library's expected failures into one-line errors."""

    lazy: ClassVar[dict[str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands, those loaded on use included."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A command, its module imported first if it is loaded on use."""
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, name = self.lazy[cmd_name].split(":")
            self.add_command(getattr(import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating known exceptions."""
        try:
            return super().invoke(ctx)
        except (
            cfg.ConfigError, ConnectorError, IndexFileError, AccountNotIndexed, RuleError,
        ) as exc:
            fail(str(exc))
        except sqlite3.Error as exc:
            state = ctx.find_object(State)
            fail(_("the index {path} cannot be used ({error}); move it away and sync again").format(
                path=state.db_path if state else "?", error=exc))
        except KeyboardInterrupt:
            fail(_("interrupted: what was already stored stays in the index"), 130)
        except Exception as exc:
            # An ActionError can only come from an action, once mailclean.actions is loaded.
            loaded = sys.modules.get("mailclean.actions")
            if loaded is not None and isinstance(exc, loaded.ActionError):
                fail(str(exc))
            raise


class MainGroup(Group):
    """The ``mailclean`` group, with its groups loaded on use."""

    lazy = LAZY_GROUPS


class _PathOption(click.Option):
    """An option whose help names the default path resolved now (environment included)."""

    def __init__(self, *args: Any, default_path: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_path = default_path
        self.base_help = self.help or ""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        """The help line, with the default path as resolved for this run."""
        self.help = f"{self.base_help} (default: {self.default_path()})"
        return super().get_help_record(ctx)


@click.group(cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailclean")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILCLEAN_CONFIG",
    cls=_PathOption,
    default_path=cfg.default_config_path,
    help="Configuration file; `mailclean config path` shows every file in use",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILCLEAN_DB",
    cls=_PathOption,
    default_path=cfg.default_db_path,
    help="Index file",
)
@click.option("--lang", type=click.Choice(["fr", "en"]), help="Language of the output.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, db_path: Path | None, lang: str | None):
    """Find what weighs in your mailboxes, clean it safely, measure the volume freed."""
    config_path = config_path or cfg.default_config_path()
    lang_setting = lang
    if lang_setting is None:
        try:
            lang_setting = cfg.load(config_path).settings.get("lang")
        except cfg.ConfigError:
            lang_setting = None  # reported by the command that needs the config
    set_language(lang_setting)
    ctx.obj = State(config_path=config_path, db_path=db_path or cfg.default_db_path())


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="mailclean")


# -- where things are -----------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """Where mailclean keeps its files."""


@config_group.command("path")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def config_path(state: State, as_json: bool) -> None:
    """The configuration file, the rules file, the index and the data directory in use."""
    paths = {
        "config": str(state.config_path),
        "rules": str(cfg.default_rules_path(state.config_path)),
        "index": str(state.db_path),
        "data": str(cfg.data_dir()),
    }
    if as_json:
        click.echo(json.dumps(paths, ensure_ascii=False, indent=2))
        return
    labels = {"config": _("configuration"), "rules": _("rules"), "index": _("index"),
              "data": _("data directory")}
    for key, path in paths.items():
        exists = Path(path).exists()
        out.print(f"{labels[key]}: {path}" + ("" if exists else " " + _("(not created yet)")))


# -- accounts -------------------------------------------------------------------------


@cli.group()
def account() -> None:
    """Add, list and remove the mailboxes mailclean knows."""


@account.command("add")
@click.argument("name")
@click.option("--imap", "host", metavar="HOST", help="IMAP server name.")
@click.option(
    "--ews",
    "ews_url",
    metavar="URL|autodiscover",
    help="Exchange: the EWS URL (https://mail.example.org/EWS/Exchange.asmx) or autodiscover.",
)
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), help="Local Maildir.")
@click.option("--port", type=click.IntRange(1, 65535), help="Server port (993, or 143).")
@click.option("--user", help="Login name (Exchange: DOMAIN\\user or user@domain).")
@click.option("--address", help="E-mail address of the mailbox (default: the login if it has @).")
@click.option("--email", help="Exchange: the mailbox's address (default: the login if it has @).")
@click.option(
    "--auth",
    type=click.Choice(cfg.EWS_AUTH),
    help="Exchange: how to log in (default: ntlm; oauth2 needs --client-id and --tenant-id).",
)
@click.option("--client-id", help="Exchange with OAuth2: the application (client) id.")
@click.option("--tenant-id", help="Exchange with OAuth2: the directory (tenant) id.")
@click.option(
    "--security",
    type=click.Choice(["ssl", "starttls", "none"]),
    default="ssl",
    show_default=True,
    help="Implicit TLS, STARTTLS, or no encryption (local test servers only).",
)
@click.option("--password-env", metavar="VAR", help="Read the password from this variable.")
@click.option("--keyring", "use_keyring", is_flag=True, help="Ask once, keep it in the keyring.")
@click.option("--insecure-tls", is_flag=True, help="Do NOT verify the server's TLS certificate.")
@click.option("--cafile", type=click.Path(dir_okay=False, exists=True), help="Extra CA bundle.")
@click.option("--replace", is_flag=True, help="Overwrite an account of the same name.")
@click.pass_obj
def account_add(
    state: State,
    name: str,
    host: str | None,
    ews_url: str | None,
    maildir: Path | None,
    port: int | None,
    user: str | None,
    address: str | None,
    email: str | None,
    auth: str | None,
    client_id: str | None,
    tenant_id: str | None,
    security: str,
    password_env: str | None,
    use_keyring: bool,
    insecure_tls: bool,
    cafile: str | None,
    replace: bool,
) -> None:
    """Add an account: IMAP (--imap), Exchange (--ews) or a local Maildir (--maildir)."""
    if sum(1 for given in (host, ews_url, maildir) if given) != 1:
        fail(_("give either --imap HOST or --maildir PATH (or --ews URL for Exchange)"))
    config = state.config()
    if password_env and use_keyring and not maildir:
        fail(_("choose one of --password-env and --keyring"))
    source = "env" if password_env else "keyring" if use_keyring else "prompt"
    if maildir:
        acc = cfg.AccountConfig(name=name, kind="maildir", path=str(maildir.expanduser()))
    elif ews_url:
        acc = cfg.AccountConfig(
            name=name,
            kind="ews",
            ews_url=ews_url,
            email=email or address or (user if user and "@" in user else None),
            user=user,
            auth=auth,
            client_id=client_id,
            tenant_id=tenant_id,
            password=source,
            password_env=password_env,
            insecure_tls=insecure_tls,
            cafile=cafile,
        )
    else:
        if not user:
            fail(_("--user is required for an IMAP account"))
        acc = cfg.AccountConfig(
            name=name,
            kind="imap",
            host=host,
            port=port,
            user=user,
            security=security,
            password=source,
            password_env=password_env,
            insecure_tls=insecure_tls,
            cafile=cafile,
            address=address or (user if user and "@" in user else None),
        )
    config.add(acc, replace=replace)
    if acc.password == "keyring":
        _require_keyring()
        cfg.store_password(name, click.prompt(_("Password"), hide_input=True))
    config.save()
    if insecure_tls:
        where = host or (ews_url or "").split("//", 1)[-1].split("/", 1)[0]
        warning = _("warning: the TLS certificate of {host} will not be verified")
        err.print(warning.format(host=where))
    out.print(_("account {name} added to {path}").format(name=name, path=config.path))


@account.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def account_list(state: State, as_json: bool) -> None:
    """List the configured accounts."""
    config = state.config()
    rows = [
        {
            "name": a.name,
            "kind": a.kind,
            "server": f"{a.host}:{a.port or (993 if a.security == 'ssl' else 143)}"
            if a.kind == "imap"
            else a.path,
            "user": a.user,
            "security": a.security if a.kind == "imap" else None,
            "password": a.password if a.kind == "imap" else None,
        }
        for a in config.accounts.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        out.print(_("no account yet: 'mailclean account add' adds one"))
        return
    table = Table(box=None)
    for col in (_("Account"), _("Kind"), _("Server"), _("User"), _("Password")):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["kind"], r["server"], r["user"] or "", r["password"] or "")
    out.print(table)


@account.command("remove")
@click.argument("name")
@click.option("--keep-index", is_flag=True, help="Keep what the index holds for it.")
@click.pass_obj
def account_remove(state: State, name: str, keep_index: bool) -> None:
    """Remove an account from the configuration (and its index data, its keyring entry)."""
    config = state.config()
    acc = config.remove(name)
    config.save()
    if acc.password == "keyring":
        cfg.delete_password(name)
    if acc.kind == "ews":
        cfg.delete_password(f"{name}:oauth2-token")
    if not keep_index:
        index = state.index()
        index.remove_account(name)
        index.close()
    out.print(_("account {name} removed").format(name=name))


@account.command("password")
@click.argument("name")
@click.pass_obj
def account_password(state: State, name: str) -> None:
    """Store (or change) the account's password in the system keyring."""
    config = state.config()
    acc = config.account(name)
    if acc.kind != "imap":
        fail(_("account {name} needs no password").format(name=name))
    _require_keyring()
    cfg.store_password(name, click.prompt(_("Password"), hide_input=True))
    if acc.password != "keyring":
        acc.password, acc.password_env = "keyring", None
        config.save()
    out.print(_("password of {name} stored in the system keyring").format(name=name))


@account.command("test")
@click.argument("name", required=False)
@click.pass_obj
def account_test(state: State, name: str | None) -> None:
    """Log in and list the folders, to check the account's settings."""
    acc = state.config().account(name)
    connector = _connector(acc)
    connector.connect()
    try:
        folders = connector.list_folders()
    finally:
        connector.close()
    out.print(
        ngettext("{name}: login OK, {n} folder", "{name}: login OK, {n} folders", len(folders))
        .format(name=acc.name, n=len(folders))
    )
    table = Table(box=None)
    for col, justify in ((_("Folder"), "left"), (_("Role"), "left"), (_("Messages"), "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for f in sorted(folders, key=lambda f: (f.role != "inbox", f.path.lower())):
        table.add_row(f.path, role(f.role) if f.role else "",
                      number(f.messages) if f.messages is not None else "–")
    out.print(table)


def _require_keyring() -> None:
    """Fail before asking for a password when no system keyring can keep it."""
    import keyring
    from keyring.backends import chainer
    from keyring.backends import fail as failing

    backend = keyring.get_keyring()
    if isinstance(backend, failing.Keyring) or (
        isinstance(backend, chainer.ChainerBackend) and not backend.backends
    ):
        fail(_("this machine has no usable system keyring to keep the password in: give it "
               "through an environment variable instead, e.g. --password-env MAIL_PW (and "
               "export MAIL_PW=... before each run), or let mailclean ask for it each time "
               "(no option)"))


def _prompt_password(text: str) -> str:
    if not sys.stdin.isatty():
        raise cfg.ConfigError(
            _("a password is needed and there is no terminal to type it: use --password-env")
        )
    return click.prompt(text, hide_input=True, err=True)


def _connector(acc: cfg.AccountConfig) -> Connector:
    return connector_for(acc, lambda: cfg.get_password(acc, _prompt_password))


# -- sync -----------------------------------------------------------------------------


def _workspace(state: State, acc: cfg.AccountConfig, index: Index, *,
               rules: dict[str, Rule] | None = None, protection: Protection | None = None,
               batch: int | None = None) -> workflows.Workspace:
    """The workflows' view of one account; their notes go to stderr."""
    from mailclean import actions, workflows

    return workflows.Workspace(
        index=index, account=acc.name, connect=lambda: _connector(acc), address=acc.address,
        rules=rules or {},
        protection=protection or Protection.from_config(state.config().protect),
        note=lambda text: err.print(text, style="yellow"),
        batch=batch or actions.BATCH,
    )


#: How the meanings of :mod:`mailclean.wording`'s lines look in a terminal.
_STYLES = {"bold": "bold", "dim": "dim", "success": "green", "warning": "yellow",
           "error": "bold red"}


def print_lines(lines: list[tuple[str, str]], console: Console | None = None) -> None:
    """Print :mod:`mailclean.wording`'s ``(style, text)`` lines (the text is plain)."""
    for style, text in lines:
        (console or out).print(text, style=_STYLES.get(style, ""))


def run_sync(
    state: State,
    acc: cfg.AccountConfig,
    folders: tuple[str, ...] = (),
    full: bool = False,
    show_progress: bool = True,
) -> SyncReport:
    """Sync one account with a progress bar; returns the report."""
    from mailclean import workflows
    from mailclean.cli_progress import sync_progress

    index = state.index()
    try:
        with sync_progress(show_progress) as progress:
            return workflows.sync(_workspace(state, acc, index), folders=folders, full=full,
                                  progress=progress)
    finally:
        index.close()


@cli.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--folder", "folders", multiple=True, help="Only this folder (repeatable).")
@click.option("--full", is_flag=True, help="Forget the incremental state and re-index.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def sync(
    state: State, account_name: str | None, folders: tuple[str, ...], full: bool, as_json: bool
) -> None:
    """Index an account's headers, sizes and attachments (incrementally)."""
    acc = state.config().account(account_name)
    report = run_sync(state, acc, folders, full, show_progress=not as_json)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_sync_summary(report)
    if report.count_mismatches:
        sys.exit(COUNT_MISMATCH)


#: Exit status of ``sync`` when a folder's index disagrees with the server's own count.
COUNT_MISMATCH = 3


def print_sync_summary(report: SyncReport) -> None:
    """One paragraph saying what the sync did."""
    speed = report.new / report.seconds if report.seconds > 0 else 0.0
    out.print(
        _(
            "{account}: {messages}, {size} in {folders}; {new} ({new_size}), {removed}, "
            "{flags} in {seconds} s ({rate} msg/s)"
        ).format(
            account=report.account,
            **report.counts(),
            seconds=decimal(report.seconds),
            rate=rate(speed),
        )
    )
    details = wording.sync_detail_lines(report)
    print_lines([line for line in details if line[0] != "error"])
    print_lines([line for line in details if line[0] == "error"], err)


# -- stats ----------------------------------------------------------------------------


def account_stats(index: Index, name: str) -> dict:
    """Totals, folders and quota of an indexed account."""
    row = index.require_account(name)
    stats = index.stats(row["id"])
    stats["account"] = name
    stats["synced_at"] = row["synced_at"]
    stats["quota"] = {
        "reported": row["quota_used"] is not None,
        "used": row["quota_used"],
        "limit": row["quota_limit"],
        "root": row["quota_root"],
        "checked_at": row["quota_at"],
    }
    return stats


@cli.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def stats(state: State, account_name: str | None, as_json: bool) -> None:
    """Mailbox volume by folder, largest first, and the server quota."""
    acc = state.config().account(account_name)
    index = state.index()
    try:
        data = account_stats(index, acc.name)
    finally:
        index.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print_stats(data)


def print_stats(data: dict) -> None:
    """The stats table."""
    total = data["bytes"] or 1
    table = Table(
        title=ngettext("{account}: {messages} message, {size}",
                       "{account}: {messages} messages, {size}", data["messages"]).format(
            account=data["account"], messages=number(data["messages"]), size=size(data["bytes"])
        ),
        title_justify="left",
        box=None,
    )
    table.add_column(_("Folder"))
    table.add_column(_("Role"), style="dim")
    table.add_column(_("Messages"), justify="right")
    table.add_column(_("Size"), justify="right")
    table.add_column(_("Share"), justify="left")
    for f in data["folders"]:
        share = f["bytes"] / total
        bar = "█" * round(share * 20)
        table.add_row(
            f["name"], role(f["role"]), number(f["messages"]), size(f["bytes"]),
            f"{bar} {percent(share)}",
        )
    out.print(table)
    q = data.get("quota") or {}
    if not q.get("reported"):
        if q.get("checked_at"):
            out.print(_("Server quota: the server does not report one (it has no IMAP QUOTA "
                        "extension, or no limit set for this mailbox)."), style="dim")
        else:
            out.print(_("Server quota: not asked yet (run a sync)."), style="dim")
    else:
        if q["limit"]:
            out.print(
                _("Server quota: {used} used of {limit} ({pct})").format(
                    used=size(q["used"]),
                    limit=size(q["limit"]),
                    pct=percent(q["used"] / q["limit"]),
                )
            )
        else:
            out.print(_("Server quota: {used} used, no limit").format(used=size(q["used"])))
    if data["messages_with_problems"]:
        out.print(
            ngettext("{n} message could not be fully read; it is counted with its size",
                     "{n} messages could not be fully read; they are counted with their size",
                     data["messages_with_problems"]).format(n=data["messages_with_problems"])
        )
    if data.get("synced_at"):
        out.print(_("Last sync: {when}").format(when=when(data["synced_at"])), style="dim")


# -- rules ----------------------------------------------------------------------------

rules_option = click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rules file (default: rules.toml beside the config file).",
)


def _rules(state: State, rules_file: Path | None) -> dict[str, Rule]:
    if rules_file is not None and not rules_file.exists():
        raise RuleError(_("no rules file {path}").format(path=rules_file))
    return load_rules(rules_file or cfg.default_rules_path(state.config_path))


@dataclass
class Scanned:
    """What the rule commands share: the account, the open index (the caller closes it),
    the rules and protection in force, and an up-to-date scan."""

    account: cfg.AccountConfig
    index: Index
    rules: dict[str, Rule]
    protection: Protection
    result: ScanResult


def _scan(
    state: State, account_name: str | None, rules_file: Path | None, only: tuple[str, ...] = (),
    force: bool = False,
) -> Scanned:
    config = state.config()
    acc = config.account(account_name)
    rules = _rules(state, rules_file)
    unknown = [r for r in only if r not in rules or not rules[r].enabled]
    if unknown:
        raise RuleError(
            _("unknown or disabled rule '{name}' (rules: {known})").format(
                name=unknown[0], known=", ".join(n for n, r in rules.items() if r.enabled)
            )
        )
    protection = Protection.from_config(config.protect)
    index = state.index()
    try:
        result = scan(index, acc.name, rules, protection, force=force, only=list(only) or None)
    except BaseException:
        index.close()
        raise
    return Scanned(acc, index, rules, protection, result)


@cli.command("scan")
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--rule", "only", multiple=True, help="Only this rule (repeatable).")
@rules_option
@click.option("--rescan", is_flag=True, help="Run the rules even if nothing changed.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV output.")
@click.pass_obj
def scan_command(
    state: State, account_name: str | None, only: tuple[str, ...], rules_file: Path | None,
    rescan: bool, as_json: bool, as_csv: bool,
) -> None:
    """Find what is worth cleaning: volume per rule, and the reclaimable total."""
    scanned = _scan(state, account_name, rules_file, only, rescan)
    scanned.index.close()
    acc, rules, result = scanned.account, scanned.rules, scanned.result
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    if as_csv:
        click.echo("rule,messages,bytes,share")
        for r in result.rules:
            click.echo(f"{r['rule']},{r['messages']},{r['bytes']},{r['share']}")
        click.echo(f"reclaimable,{result.reclaimable_messages},{result.reclaimable_bytes},"
                   f"{round(result.reclaimable_bytes / (result.total_bytes or 1), 4)}")
        return
    lang = language()
    table = Table(
        title=ngettext("{account}: {messages} message, {size}",
                       "{account}: {messages} messages, {size}", result.total_messages).format(
            account=acc.name, messages=number(result.total_messages),
            size=size(result.total_bytes),
        ),
        title_justify="left", box=None,
    )
    for col, justify in ((_("Rule"), "left"), (_("Messages"), "right"), (_("Size"), "right"),
                         (_("Share"), "left"), ("", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in result.rules:
        bar = "█" * round(r["share"] * 20)
        table.add_row(rules[r["rule"]].text("title", lang), number(r["messages"]),
                      size(r["bytes"]), f"{bar} {percent(r['share'])}", r["rule"])
    out.print(table)
    out.print(
        ngettext("Reclaimable: {messages} message, {size} ({pct} of the mailbox); a message "
                 "that several rules flag counts once.",
                 "Reclaimable: {messages} messages, {size} ({pct} of the mailbox); a message "
                 "that several rules flag counts once.", result.reclaimable_messages).format(
            messages=number(result.reclaimable_messages), size=size(result.reclaimable_bytes),
            pct=percent(result.reclaimable_bytes / (result.total_bytes or 1)),
        )
    )
    out.print(_("Flagged messages and what [protect] names in the config are never counted."),
              style="dim", markup=False)


@cli.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--rule", help="Only the hits of this rule (e.g. newsletters).")
@click.option("--limit", default=30, show_default=True, help="How many groups (0: all).")
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def senders(
    state: State, account_name: str | None, rule: str | None, limit: int,
    rules_file: Path | None, as_json: bool,
) -> None:
    """Who sends the volume: per sender or list, messages, size, how to unsubscribe."""
    scanned = _scan(state, account_name, rules_file, (rule,) if rule else ())
    try:
        rows = groups(scanned.index, scanned.account.name, rule, limit or None)
    finally:
        scanned.index.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(box=None)
    for col, justify in ((_("Sender or list"), "left"), (_("Messages"), "right"),
                         (_("Size"), "right"), (_("Unsubscribe"), "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["label"] or "–", number(r["messages"]), size(r["bytes"]),
                      UNSUBSCRIBE[r["unsubscribe"]]())
    out.print(table)


@cli.command("explain")
@click.argument("args", nargs=-1, required=True, metavar="[ACCOUNT] MESSAGE")
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def explain_command(
    state: State, args: tuple[str, ...], rules_file: Path | None, as_json: bool
) -> None:
    """Why a message was flagged (MESSAGE: its number in the index, or its Message-ID)."""
    if len(args) > 2:
        fail(_("give at most an account and a message"))
    account_name, message = (args[0], args[1]) if len(args) == 2 else (None, args[0])
    scanned = _scan(state, account_name, rules_file)
    rules = scanned.rules
    try:
        data = explain(scanned.index, scanned.account.name, message, scanned.protection,
                       rules)
    finally:
        scanned.index.close()
    lang = language()
    for item in data["messages"]:
        for hit in item["hits"]:
            rule = rules.get(hit["rule"])
            hit["title"] = rule.text("title", lang) if rule else hit["rule"]
            hit["reason"] = reason(rule.type, hit["detail"]) if rule else ""
        for miss in item["misses"]:
            rule = rules[miss["rule"]]
            miss["title"] = rule.text("title", lang)
            miss["why_not"] = why_not(rule, miss["detail"], item["folder"], item["role"])
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for item in data["messages"]:
        out.print(f"[bold]#{item['id']}[/] {markup(item['subject'])}", markup=True,
                  highlight=False)
        out.print(_("  {sender}, {date}, {size}, in {folder}").format(
            sender=item["sender"] or "–", date=when(item["date"]), size=size(item["size"]),
            folder=item["folder"]), markup=False)
        if item["protected"]:
            out.print(_("  protected (flagged, seen through a view such as All Mail, or named "
                        "in [protect]): no rule flags it"),
                      markup=False)
        elif not item["hits"]:
            out.print(_("  no rule flags this message:"))
        for hit in item["hits"]:
            out.print(_("  • {title}: {reason}").format(title=hit["title"], reason=hit["reason"]),
                      markup=False)
        if not item["protected"]:
            for miss in item["misses"]:
                out.print(_("  ◦ not {title}: {why}").format(title=miss["title"],
                                                             why=miss["why_not"]), style="dim")


@cli.group("rules")
def rules_group() -> None:
    """List, show and check cleanup rules."""


@rules_group.command("list")
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def rules_list(state: State, rules_file: Path | None, as_json: bool) -> None:
    """Every rule, built-in or yours, and whether it is enabled."""
    rules = _rules(state, rules_file)
    lang = language()
    if as_json:
        click.echo(json.dumps(
            [{"name": r.name, "type": r.type, "enabled": r.enabled, "builtin": r.builtin,
              "title": r.text("title", lang)} for r in rules.values()],
            ensure_ascii=False, indent=2))
        return
    table = Table(box=None)
    for col in (_("Rule"), _("Type"), _("Enabled"), _("Title")):
        table.add_column(col)
    for r in rules.values():
        table.add_row(r.name, r.type, _("yes") if r.enabled else _("no"), r.text("title", lang))
    out.print(table)


@rules_group.command("show")
@click.argument("name")
@rules_option
@click.pass_obj
def rules_show(state: State, name: str, rules_file: Path | None) -> None:
    """A rule's description and parameters."""
    rules = _rules(state, rules_file)
    if name not in rules:
        fail(_("unknown rule '{name}' (rules: {known})").format(
            name=name, known=", ".join(rules)))
    r = rules[name]
    lang = language()
    out.print(f"[bold]{markup(r.name)}[/] — {markup(r.text('title', lang))}", markup=True,
              highlight=False)
    out.print(r.text("description", lang), markup=False)
    out.print(f"type = {r.type}; group_by = {r.group_by}; enabled = {str(r.enabled).lower()}",
              markup=False)
    if r.folder_roles:
        out.print(f"folder_roles = {list(r.folder_roles)}", markup=False)
    for key, value in r.params.items():
        shown = size(value) if key.endswith("size") else value
        out.print(f"{key} = {shown}", markup=False)


@rules_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def rules_check(file: Path) -> None:
    """Validate a rules file: every mistake is named with its file, rule and key."""
    from mailclean.safetext import plain

    try:
        rules = load_rules(file)
    except RuleError as exc:
        # Each mistake on its line, printed as is (no markup: "[rules.NAME]" stays).
        for line in exc.errors:
            err.print(plain(line), markup=False, highlight=False)
        n = len(exc.errors)
        fail(ngettext("{n} mistake in {path}: fix it and check again",
                      "{n} mistakes in {path}: fix them and check again", n).format(
            n=n, path=file))
    user = [r for r in rules.values() if not r.builtin]
    out.print(_("{path}: OK ({rules}, {new})").format(
        path=file, rules=ngettext("{n} rule", "{n} rules", len(rules)).format(n=len(rules)),
        new=ngettext("{n} of them new", "{n} of them new", len(user)).format(n=len(user))))


# -- actions --------------------------------------------------------------------------


@contextlib.contextmanager
def _ctrl_c_stops_after_the_batch() -> Iterator[threading.Event]:
    """An event the first Ctrl-C sets: the action stops once the batch in flight is done and
    journalled. A second Ctrl-C stops at once (the next start reconciles what was in flight)."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel  # signals only reach the main thread (tests call the CLI from others)
        return

    def stop(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err.print(_("Stopping after the batch in flight (Ctrl-C again to stop at once)…"),
                  style="yellow")

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def _exit_if_cancelled(outcome: actions.Outcome | None) -> None:
    """Exit 130 (interrupted by Ctrl-C) once a cancelled action's outcome is printed."""
    from mailclean import actions

    if outcome is not None and outcome.action.state == actions.CANCELLED:
        sys.exit(130)


def parse_age(value: str) -> int:
    """``"3y"``, ``"6m"``, ``"2w"``, ``"90d"`` (French a/m/s/j too), or a number of days ->
    days, from 1 day to 100 years; click.BadParameter says what to write."""
    import re

    units = {"y": 365, "a": 365, "m": 30, "w": 7, "s": 7, "d": 1, "j": 1}
    match = re.fullmatch(r"\s*([0-9]+)\s*([a-z]?)\s*", value.lower(), re.ASCII)
    if not match or (match.group(2) and match.group(2) not in units):
        raise click.BadParameter(
            _("{value!r} is not an age: write it like 3y, 6m, 2w or 90d").format(value=value)
        )
    digits = match.group(1).lstrip("0")
    days = int(digits[:9] or "0") * units.get(match.group(2), 1)
    if len(digits) > 9 or not 0 < days <= 36_525:  # 100 years
        raise click.BadParameter(
            _("{value!r}: an age is from 1 day (1d) to 100 years (100y)").format(value=value)
        )
    return days


def _size_option(value: str | None) -> int | None:
    """``--larger-than``: a size such as ``5MB`` (0 to 1 TB) in bytes, or None."""
    if value is None:
        return None
    try:
        return parse_size(value, "--larger-than")
    except RuleError as exc:
        raise click.BadParameter(str(exc)) from exc


def print_plan(p: actions.Plan, dry_run: bool, evidence: actions.QuotaEvidence | None = None,
               hint: str | None = None) -> None:
    """What the action will do, in plain words, with the volume and whether it frees space
    (said from what was measured on this server, where it was)."""
    print_lines(p.describe(wording.CLI, evidence))
    if dry_run:
        out.print(hint or _("Dry run: nothing was changed. Add --yes to do it."), style="bold")


def print_outcome(o: actions.Outcome, account: str, as_json: bool = False,
                  evidence: actions.QuotaEvidence | None = None) -> None:
    """What was done, what was skipped and why, and what it did to the server's space
    (the quota measured before and after, where the server has one)."""
    if as_json:
        click.echo(json.dumps(o.as_dict(), indent=2, ensure_ascii=False))
        return
    print_lines(o.describe(wording.CLI, evidence, account=account))


@cli.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--rule", "rules_", multiple=True, help="Messages this rule flags (repeatable).")
@click.option("--group", "groups_", multiple=True,
              help="Only this group of the rule's hits: a sender, list, thread or folder.")
@click.option("--sender", "senders_", multiple=True,
              help="From this address or domain, or this list (as `senders` shows).")
@click.option("--list", "lists", multiple=True, help="Of this mailing list (List-Id).")
@click.option("--folder", "folders", multiple=True, help="In this folder (repeatable).")
@click.option("--older-than", help="Older than this: 3y, 6m, 2w, 90d.")
@click.option("--larger-than", help="At least this size: 5MB, 500KB.")
@click.option("--action", "kind", type=click.Choice(["trash", "delete", "export"]),
              default="trash", show_default=True, help="What to do with them.")
@click.option("--export", "export_to", type=click.Path(path_type=Path),
              help="First export them to this .mbox file (or folder of .eml files).")
@click.option("--format", "export_format", type=click.Choice(["mbox", "eml"]),
              help="Export format (default: from the name).")
@click.option("--permanent", is_flag=True, help="Allow deleting messages outside the Trash.")
@click.option("--confirm-count", type=int, metavar="N",
              help="With --permanent: the number of messages you expect to delete.")
@click.option("--yes", is_flag=True, help="Do it (without it, only say what would happen).")
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--batch-size", type=click.IntRange(1), default=None, hidden=True)
@click.pass_obj
def clean(
    state: State, account_name: str | None, rules_: tuple[str, ...], groups_: tuple[str, ...],
    senders_: tuple[str, ...], lists: tuple[str, ...], folders: tuple[str, ...],
    older_than: str | None, larger_than: str | None, kind: str, export_to: Path | None,
    export_format: str | None, permanent: bool, confirm_count: int | None, yes: bool,
    rules_file: Path | None, as_json: bool, batch_size: int | None,
) -> None:
    """Trash, delete or export the messages you choose (a dry run unless --yes)."""
    from mailclean import actions, workflows
    from mailclean.cli_progress import action_progress

    selection = actions.Selection(
        rules=rules_, groups=groups_, senders=senders_, lists=lists, folders=folders,
        older_than_days=parse_age(older_than) if older_than else None,
        larger_than=_size_option(larger_than),
    )
    if kind == "export" and export_to is None:
        fail(_("--action export needs --export FILE"))
    scanned = _scan(state, account_name, rules_file, rules_) if rules_ else None
    acc = scanned.account if scanned else state.config().account(account_name)
    index = scanned.index if scanned else state.index()
    try:
        ws = _workspace(state, acc, index, rules=scanned.rules if scanned else None,
                        protection=scanned.protection if scanned else None, batch=batch_size)
        p = workflows.plan(ws, kind, selection, permanent=permanent)
        evidence = workflows.evidence(ws, p.account_id)
        if not p.items and not as_json:
            _nothing_matches(p)
            sys.exit(NOTHING_MATCHES)
        if not yes:
            if as_json:
                click.echo(json.dumps({**p.as_dict(), "dry_run": True}, indent=2,
                                      ensure_ascii=False))
            else:
                print_plan(p, dry_run=True, evidence=evidence)
                for a in actions.mark_interrupted(index, p.account_id):
                    err.print(_("action {id} was interrupted: mailclean journal reconcile "
                                "{account}").format(id=a.id, account=acc.name), style="yellow")
            if not p.items:
                sys.exit(NOTHING_MATCHES)
            return
        p.check()
        if not p.items:
            click.echo(json.dumps({**p.as_dict(), "dry_run": False}, indent=2,
                                  ensure_ascii=False))
            sys.exit(NOTHING_MATCHES)
        if kind == "delete" and p.outside_trash:
            _confirm_permanent(p, confirm_count)
        try:
            with _ctrl_c_stops_after_the_batch() as cancel, \
                    action_progress(not as_json) as progress:
                done = workflows.carry_out(ws, p, export_to=export_to,
                                           export_format=export_format, progress=progress,
                                           cancel=cancel)
        except workflows.NothingToDo as exc:
            fail(str(exc), NOTHING_MATCHES)
    finally:
        index.close()
    print_outcome(done.outcome, acc.name, as_json, done.evidence)
    _exit_if_cancelled(done.outcome)


#: Exit status of ``clean`` when the selection matches no message (a dry run included).
NOTHING_MATCHES = 4


def _nothing_matches(p: actions.Plan) -> None:
    """Say that nothing matches, and what the selection held but leaves out."""
    err.print(_("Nothing matches this selection: no message would be touched."), style="bold")
    for note in p.left_out():
        err.print(note, style="dim")


def _confirm_permanent(p: actions.Plan, confirm_count: int | None) -> None:
    """A second, explicit confirmation for deleting outside the Trash: the exact count."""
    if confirm_count is not None:
        if confirm_count != p.messages:
            fail(ngettext("--confirm-count {given} does not match the {n} message selected: "
                          "nothing was deleted",
                          "--confirm-count {given} does not match the {n} messages selected: "
                          "nothing was deleted", p.messages).format(
                given=confirm_count, n=p.messages))
        return
    if not sys.stdin.isatty():
        fail(ngettext("deleting {n} message outside the Trash is permanent: confirm with "
                      "--confirm-count {n}",
                      "deleting {n} messages outside the Trash is permanent: confirm with "
                      "--confirm-count {n}", p.messages).format(n=p.messages))
    print_plan(p, dry_run=False)
    typed = click.prompt(_("Type the number of messages to delete for good ({n})").format(
        n=p.messages), default="", show_default=False, err=True)
    if typed.strip() != str(p.messages):
        fail(_("not confirmed: nothing was deleted"))


def _account_of_action(state: State, index: Index, action_id: int) -> cfg.AccountConfig:
    row = index.conn.execute(
        "SELECT a.name FROM actions x JOIN accounts a ON a.id = x.account_id WHERE x.id = ?",
        [action_id],
    ).fetchone()
    if row is None:
        fail(_("no action {id} in the journal").format(id=action_id))
    return state.config().account(row[0])


@cli.command("undo")
@click.argument("action_id", type=int)
@click.option("--dry-run", is_flag=True, help="Only say what would be put back.")
@click.option("--yes", is_flag=True,
              help="Do it (the default: undo only puts back what mailclean moved).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def undo_command(state: State, action_id: int, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Put the messages of a trash action back where they were."""
    from mailclean import workflows
    from mailclean.cli_progress import action_progress

    index = state.index()
    try:
        acc = _account_of_action(state, index, action_id)
        ws = _workspace(state, acc, index)
        if dry_run:
            p = workflows.undo_plan(ws, action_id)
            if as_json:
                click.echo(json.dumps({**p.as_dict(), "dry_run": True}, indent=2,
                                      ensure_ascii=False))
            else:
                print_plan(p, dry_run=True, hint=_(
                    "Dry run: nothing was changed. To do it: mailclean undo {id} --yes").format(
                    id=action_id))
            return
        with _ctrl_c_stops_after_the_batch() as cancel, \
                action_progress(not as_json) as progress:
            done = workflows.undo(ws, action_id, progress=progress, cancel=cancel)
    finally:
        index.close()
    print_outcome(done.outcome, acc.name, as_json, done.evidence)
    _exit_if_cancelled(done.outcome)


@cli.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--since", help="Only actions from this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def freed(state: State, account_name: str | None, since: str | None, as_json: bool) -> None:
    """What mailclean has freed in an account: trashed, deleted, exported."""
    from mailclean import actions

    acc = state.config().account(account_name)
    if since is not None:
        try:
            since = date.fromisoformat(since).isoformat()
        except ValueError:
            fail(_("--since {value!r} is not a date (YYYY-MM-DD)").format(value=since))
    index = state.index()
    try:
        row = index.require_account(acc.name)
        actions.mark_interrupted(index, row["id"])
        data = {"account": acc.name, "since": since, **Journal(index).freed(row["id"], since)}
    finally:
        index.close()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    out.print(ngettext("{account}: {n} message ({size}) cleaned out of your folders",
                       "{account}: {n} messages ({size}) cleaned out of your folders",
                       data["messages"]).format(
        account=acc.name, n=number(data["messages"]), size=size(data["bytes"])), style="bold")
    out.print(_("  freed on the server (deleted for good): {size}").format(
        size=size(data["deleted_bytes"])), style="green")
    if data["recoverable_messages"]:
        out.print(_("    of which {size} can still be recovered by an Exchange administrator "
                    "(Recoverable Items) until the retention period ends").format(
            size=size(data["recoverable_bytes"])), style="dim")
    out.print(_("  moved to the Trash: {size}, of which {left} still in the Trash (not freed "
                "until the Trash is emptied)").format(
        size=size(data["trashed_bytes"]), left=size(data["still_in_trash_bytes"])))
    if data["exported_messages"]:
        out.print(ngettext("  exported: {n} message ({size})", "  exported: {n} messages ({size})",
                           data["exported_messages"]).format(
            n=number(data["exported_messages"]), size=size(data["exported_bytes"])))
    if data["restored_messages"]:
        out.print(ngettext("  put back (undo): {n} message ({size})",
                           "  put back (undo): {n} messages ({size})",
                           data["restored_messages"]).format(
            n=number(data["restored_messages"]), size=size(data["restored_bytes"])))


class _JournalGroup(Group):
    """``journal ACCOUNT`` lists; ``journal reconcile|resume|show ...`` do the rest."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``journal``, ``journal ACCOUNT`` and ``journal --json`` mean ``journal list``."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@cli.group("journal", cls=_JournalGroup, invoke_without_command=True)
@click.pass_context
def journal_group(ctx: click.Context) -> None:
    """Every action, its state and its volume; reconcile or resume interrupted ones."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(journal_list)


@journal_group.command("list")
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def journal_list(state: State, account_name: str | None = None, as_json: bool = False) -> None:
    """Every action of an account, oldest first."""
    from mailclean import actions

    acc = state.config().account(account_name)
    index = state.index()
    try:
        row = index.require_account(acc.name)
        actions.mark_interrupted(index, row["id"])
        rows = Journal(index).actions(row["id"])
    finally:
        index.close()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        out.print(_("{account}: no action yet").format(account=acc.name))
        return
    table = Table(box=None, title=_("{account}: journal").format(account=acc.name),
                  title_justify="left")
    for title, justify in ((_("#"), "right"), (_("When"), "left"), (_("Action"), "left"),
                           (_("State"), "left"), (_("Messages"), "right"),
                           (_("Size"), "right"), (_("Skipped"), "right")):
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        done, b = r.count("done")
        table.add_row(str(r.id), when(r.started_at), _kind_label(r.kind),
                      _state_label(r.state), number(done), size(b),
                      number(r.count("skipped", "failed")[0]))
    out.print(table)


def _kind_label(kind: str) -> str:
    return {"trash": _("to Trash"), "delete": _("deleted"), "export": _("export"),
            "undo": _("undo")}.get(kind, kind)


def _state_label(state: str) -> str:
    return {"running": _("running"), "done": _("done"), "partial": _("done, some skipped"),
            "interrupted": _("interrupted"), "cancelled": _("cancelled"),
            "failed": _("failed"), "undone": _("undone")}.get(state, state)


@journal_group.command("reconcile")
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.pass_obj
def journal_reconcile(state: State, account_name: str | None) -> None:
    """Ask the server what became of interrupted actions and correct the journal."""
    from mailclean import actions

    acc = state.config().account(account_name)
    index = state.index()
    try:
        index.require_account(acc.name)
        connector = _connector(acc)
        connector.connect()
        try:
            settled = actions.reconcile(index, connector, acc.name)
        finally:
            connector.close()
    finally:
        index.close()
    if not settled:
        out.print(_("{account}: no interrupted action").format(account=acc.name))
    for a in settled:
        out.print(_("action {id} ({kind}): {state}; {done}, {left}").format(
            id=a.id, kind=_kind_label(a.kind), state=_state_label(a.state),
            done=ngettext("{n} done", "{n} done", a.count("done")[0]).format(
                n=number(a.count("done")[0])),
            left=ngettext("{n} still to do", "{n} still to do", a.unfinished).format(
                n=number(a.unfinished))))
        if a.unfinished and a.kind != "export":
            out.print(_("  to finish it: mailclean journal resume {id} --yes").format(id=a.id),
                      style="dim")


@journal_group.command("resume")
@click.argument("action_id", type=int)
@click.option("--yes", is_flag=True, help="Do it (without it, only say what is left).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def journal_resume(state: State, action_id: int, yes: bool, as_json: bool) -> None:
    """Finish an interrupted or cancelled action (identities are checked again)."""
    from mailclean import workflows
    from mailclean.cli_progress import action_progress

    index = state.index()
    try:
        acc = _account_of_action(state, index, action_id)
        row = Journal(index).action(action_id)
        assert row is not None
        if not row.unfinished and row.state not in ("running", "interrupted"):
            out.print(_("action {id} ({kind}) is already {state}: nothing to resume").format(
                id=action_id, kind=_kind_label(row.kind), state=_state_label(row.state)))
            return
        if not yes:
            n, b = row.count("pending", "sent", "copied")
            out.print(ngettext("action {id} ({kind}): {n} message ({size}) still to do. Add "
                               "--yes to finish it.",
                               "action {id} ({kind}): {n} messages ({size}) still to do. Add "
                               "--yes to finish it.", n).format(
                id=action_id, kind=_kind_label(row.kind), n=number(n), size=size(b)))
            return
        with _ctrl_c_stops_after_the_batch() as cancel, \
                action_progress(not as_json) as progress:
            done = workflows.resume(_workspace(state, acc, index), action_id,
                                    progress=progress, cancel=cancel)
    finally:
        index.close()
    print_outcome(done.outcome, acc.name, as_json, done.evidence)
    _exit_if_cancelled(done.outcome)


# -- demo -----------------------------------------------------------------------------


@cli.command()
@click.option("--messages", default=600, show_default=True, help="Size of the demo mailbox.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to build it (default: the user data dir).",
)
@click.option(
    "--organisation",
    "--organization",
    "organisation",
    is_flag=True,
    help="For admins: a whole organisation instead (40 mailboxes in 6 teams, as a local "
    "Dovecot mail root, and its staff file), a snapshot before and after a simulated "
    "cleanup, and the report.",
)
@click.option(
    "--full",
    is_flag=True,
    help="With --organisation: measure the cleanup categories too (slower).",
)
@click.option("--lang", type=click.Choice(["fr", "en"]), help="Language of the output.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-review", is_flag=True, help="Do not open the review app at the end.")
@click.pass_obj
def demo(
    state: State,
    messages: int,
    directory: Path | None,
    organisation: bool,
    full: bool,
    lang: str | None,
    as_json: bool,
    no_review: bool,
) -> None:
    """Build a realistic demo mailbox locally (no server needed), index it and show it;
    with --organisation, try a whole cleanup event as an admin."""
    if lang:
        set_language(lang)
    ctx = click.get_current_context()
    if organisation:
        if ctx.get_parameter_source("messages") != click.core.ParameterSource.DEFAULT:
            raise click.UsageError(_("--messages is for the demo mailbox, not --organisation"))
        from mailclean.snapshot.cli import organisation_demo
        from mailclean.snapshot.store import SnapshotError

        try:
            organisation_demo((directory or cfg.data_dir() / "demo-organisation").expanduser(),
                              full=full, as_json=as_json)
        except SnapshotError as exc:
            fail(str(exc))
        return
    if full:
        raise click.UsageError(_("--full goes with --organisation"))
    from mailclean.bars import bar
    from mailclean.demo import build_demo

    root = (directory or cfg.data_dir() / "demo").expanduser()
    stages = {"compose": _("Composing the demo messages"), "render": _("Rendering the messages"),
              "write": _("Writing the Maildir")}
    with bar(not as_json) as progress:
        task = progress.add_task(stages["compose"], total=None)
        maildir = build_demo(root, messages=messages, progress=lambda stage, done, total:
                             progress.update(task, description=stages[stage], completed=done,
                                             total=total))
    index = state.index()
    try:
        # A fresh mailbox with the old journal would show what was freed from the old one.
        reset = index.remove_account("demo")
    finally:
        index.close()
    config = state.config()
    config.add(cfg.AccountConfig(name="demo", kind="maildir", path=str(maildir)), replace=True)
    config.save()
    if not as_json:
        out.print(_("demo mailbox built in {path}").format(path=maildir))
        if reset:
            out.print(_("the previous demo's index and journal were reset"))
    report = run_sync(state, config.account("demo"), show_progress=not as_json)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    print_sync_summary(report)
    index = state.index()
    try:
        print_stats(account_stats(index, "demo"))
    finally:
        index.close()
    if no_review or not (sys.stdin.isatty() and sys.stdout.isatty()):
        out.print(_("Review and clean it: mailclean review demo"), style="bold")
        return
    from mailclean.tui import run

    run(state.db_path, state.config_path, "demo")


# -- review app -----------------------------------------------------------------------


@cli.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@rules_option
@click.pass_obj
def review(state: State, account_name: str | None, rules_file: Path | None) -> None:
    """Open the review app: see where the volume is, select, clean, watch what is freed."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Without a terminal the app would wait for keys that never come.
        fail(_("the review app needs a terminal: run mailclean review in a terminal window "
               "(without one, mailclean scan and mailclean stats print the figures)"))
    from mailclean.tui import run  # textual is loaded only for the app

    run(state.db_path, state.config_path, account_name, rules_path=rules_file)


if __name__ == "__main__":  # pragma: no cover
    main()
