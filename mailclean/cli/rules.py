"""What is worth cleaning: `scan`, `senders`, `explain`, `rules list|show|check`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from mailclean.console import err, fail, out
from mailclean.i18n import (
    _,
    language,
    ngettext,
    number,
    percent,
    size,
    when,
)
from mailclean.rules import (
    RuleError,
    explain,
    groups,
    load_rules,
)
from mailclean.rules.reasons import UNSUBSCRIBE, reason, why_not
from mailclean.safetext import markup

if TYPE_CHECKING:

    pass

from mailclean.cli import State
from mailclean.cli.common import _rules, _scan, rules_option

# -- rules ----------------------------------------------------------------------------

@click.command("scan")
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


@click.command()
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


@click.command("explain")
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


@click.group("rules")
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
