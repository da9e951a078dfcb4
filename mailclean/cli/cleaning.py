"""Acting, and what it did: `clean`, `undo`, `freed`, `journal list|reconcile|resume`."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from mailclean import config as cfg
from mailclean import wording
from mailclean.console import err, fail, out
from mailclean.i18n import (
    _,
    ngettext,
    number,
    size,
    when,
)
from mailclean.index import Index
from mailclean.index.journal import CANCELLED, Journal
from mailclean.rules import (
    RuleError,
)
from mailclean.rules.types import parse_size

if TYPE_CHECKING:

    from mailclean import actions

from mailclean.cli import Group, State
from mailclean.cli.common import _connector, _scan, _workspace, print_lines, rules_option

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
    if outcome is not None and outcome.action.state == CANCELLED:
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


@click.command()
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


@click.command("undo")
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


@click.command()
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


@click.group("journal", cls=_JournalGroup, invoke_without_command=True)
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
