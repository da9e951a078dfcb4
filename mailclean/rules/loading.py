"""Rules as data: the built-in rules file and a user's, read, checked and merged into
:class:`Rule` instances; what the config protects (:class:`Protection`); a fingerprint of
both, which says when hits must be recomputed."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailclean.i18n import LANGUAGES, _
from mailclean.rules.types import (
    GROUPS,
    TYPES,
    VIRTUAL_FOLDERS,
    Param,
    RuleError,
    check_param,
)
from mailclean.validation import did_you_mean, nearest, protect_problems, shown

BUILTIN = Path(__file__).with_name("builtin.toml")
_COMMON = {"type", "enabled", "group_by", "title", "description", "folder_roles"}
#: Every parameter some rule type takes.
_ALL_PARAMS = {key for t in TYPES.values() for key in t.params}

@dataclass(frozen=True)
class Rule:
    """A rule instance: a type, its checked parameters, how hits are grouped, its texts."""

    name: str
    type: str
    params: dict[str, Any]
    group_by: str
    title: dict[str, str]
    description: dict[str, str]
    folder_roles: tuple[str, ...] = ()
    enabled: bool = True
    builtin: bool = True

    def text(self, what: str, lang: str) -> str:
        """Title or description in ``lang``, falling back to English, then the name."""
        texts = self.title if what == "title" else self.description
        return texts.get(lang) or texts.get("en") or self.name


@dataclass(frozen=True)
class Protection:
    """What no rule may ever flag, besides flagged (starred) messages."""

    senders: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    """Words that protect a message when its subject contains them (case-insensitive)."""

    @classmethod
    def from_config(cls, table: dict | None, source: Path | str | None = None) -> Protection:
        """From the config's ``[protect]`` table; RuleError lists every mistake, naming the
        table and the key (and ``source``, the file, when given)."""
        problems = protect_problems(table)
        if problems:
            if source is not None:
                problems = [f"{source}: {p}" for p in problems]
            raise RuleError("\n".join(problems), problems)
        table = table or {}
        out = {}
        for key in ("senders", "domains", "folders", "keywords"):
            value = table.get(key, [])
            out[key] = tuple(v if key == "folders" else v.lower() for v in value)
        return cls(**out)

    def sql(self) -> str:
        """A boolean SQL expression over ``m``: true when the message is protected (always
        so in a virtual folder: what it shows lives, and is judged, in another folder)."""
        terms = ["m.flagged = 1", f"m.folder_id IN ({VIRTUAL_FOLDERS})"]
        if self.senders:
            terms.append(f"m.sender IN ({_literals(self.senders)})")
        if self.domains:
            terms.append(f"m.sender_domain IN ({_literals(self.domains)})")
            terms += [f"m.sender_domain LIKE {sql_literal('%.' + d)}" for d in self.domains]
        if self.folders:
            terms.append(
                f"m.folder_id IN (SELECT id FROM folders WHERE path IN ({_literals(self.folders)}))"
            )
        terms += [f"instr(lower(m.subject), {sql_literal(k)}) > 0" for k in self.keywords]
        # A message without a sender or a subject makes its terms NULL, and NOT NULL is
        # not true: without the coalesce no rule would flag such a message at all.
        return "coalesce(" + " OR ".join(terms) + ", 0)"


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _literals(values: tuple[str, ...]) -> str:
    return ", ".join(sql_literal(v) for v in values)


def _texts(where: str, value: Any) -> dict[str, str]:
    """A title or description: a text, or one per language (``{ en = ..., fr = ... }``)."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"en": value}
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        bad = [k for k in value if k not in LANGUAGES]
        if bad:
            raise RuleError(_("{where}: unknown language {lang!r}{hint} (languages: {langs})")
                            .format(where=where, lang=bad[0], hint=did_you_mean(bad[0], LANGUAGES),
                                    langs=", ".join(LANGUAGES)))
        return dict(value)
    raise RuleError(_('{where}: a text, or {{ en = "...", fr = "..." }}, is expected, '
                      "not {value}").format(where=where, value=shown(value)))


def _read_toml(path: Path, problems: list[str]) -> dict[str, dict]:
    """The rule tables of a rules file; what is not a rule table goes to ``problems``.
    RuleError at once when the file cannot be read as TOML."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, an integer too long
        raise RuleError(_("{path}: not valid TOML: {error}").format(path=path, error=exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(_("cannot read {path}: {error}").format(path=path, error=exc)) from None
    hint = _("a rules file holds only rules, each a table [rules.NAME], such as "
             "[rules.newsletters]")
    for key in data:
        if key != "rules":
            problems.append(_("{path}: unknown table {key!r}{hint} ({what})").format(
                path=path, key=key, hint=did_you_mean(key, ["rules"]), what=hint))
    rules = data.get("rules", {})
    if not isinstance(rules, dict):
        problems.append(_("{path}: 'rules' must hold tables ({what})").format(
            path=path, what=hint))
        return {}
    out = {}
    for name, table in rules.items():
        if isinstance(table, dict):
            out[name] = table
            continue
        extra = ""
        if name in _COMMON or name in _ALL_PARAMS:
            extra = _("; a key goes in its rule's table, such as [rules.large-attachments]")
        problems.append(_("{path}: rule {name!r} must be a table of keys{extra} ({what})").format(
            path=path, name=name, extra=extra, what=hint))
    return out


def load_rules(user_file: Path | None = None) -> dict[str, Rule]:
    """Built-in rules merged with the user's file.

    A table named like a built-in rule overrides its keys (when it changes the type, the
    built-in parameters of the old type are dropped). RuleError lists every mistake, one
    line each, naming the file, the rule and the key, with the nearest valid key or value
    for a misspelt one; every parameter is bounded, so what loads can always be scanned.
    """
    problems: list[str] = []
    tables = {name: dict(t) for name, t in _read_toml(BUILTIN, problems).items()}
    builtin = set(tables)
    sources = dict.fromkeys(tables, BUILTIN)
    order: dict[str, int] = {}
    if user_file is not None and user_file.exists():
        for name, table in _read_toml(user_file, problems).items():
            order[name] = len(order)
            base = tables.get(name, {})
            kind = table.get("type", base.get("type"))
            if base and isinstance(kind, str) and kind in TYPES and kind != base.get("type"):
                keep = _COMMON | set(TYPES[kind].params)
                base = {k: v for k, v in base.items() if k in keep}
            tables[name] = {**base, **table}
            sources[name] = user_file
    rules, wrong = {}, {}
    for name, table in tables.items():
        try:
            rules[name] = _build(name, table, name in builtin, sources[name], builtin)
        except RuleError as exc:
            wrong[name] = exc.errors
    # In the order of the user's file (where the mistakes are), then the built-in rules.
    for name in sorted(wrong, key=lambda n: order.get(n, len(order))):
        problems += wrong[name]
    if problems:
        raise RuleError("\n".join(problems), problems)
    return rules


def _build(name: str, table: dict, builtin: bool, source: Path,
           builtins: set[str] | None = None) -> Rule:
    """The rule of table ``rules.NAME``; RuleError lists every mistake in it."""

    def where(key: str) -> str:
        return _("{file}: rule {rule!r}, key {key!r}").format(file=source, rule=name, key=key)

    problems: list[str] = []
    kind = table.get("type")
    rtype = TYPES.get(kind) if isinstance(kind, str) else None
    if kind is None:
        near = None if builtin else nearest(name, builtins or ())
        hint = _("; or did you mean the built-in rule {name!r}?").format(name=near) if near else ""
        problems.append(_("{where}: missing: a new rule needs a type, one of {types}{hint}")
                        .format(where=where("type"), types=", ".join(TYPES), hint=hint))
    elif rtype is None:
        problems.append(_("{where}: must be one of {types}, not {value}{hint}").format(
            where=where("type"), types=", ".join(TYPES), value=shown(kind),
            hint=did_you_mean(kind, TYPES) if isinstance(kind, str) else ""))
    valid = _COMMON | set(rtype.params) if rtype else _COMMON | _ALL_PARAMS
    for key in table:
        if key not in valid:
            problems.append(_("{file}: rule {rule!r}: unknown key {key!r}{hint} (valid keys: "
                              "{keys})").format(file=source, rule=name, key=key,
                                                hint=did_you_mean(key, valid),
                                                keys=", ".join(sorted(valid))))
    params: dict[str, Any] = {}
    if rtype is not None:
        try:
            params = rtype.validate(
                name, {k: v for k, v in table.items() if k in rtype.params}, where)
        except RuleError as exc:
            problems += exc.errors
    group = table.get("group_by", rtype.default_group if rtype else "sender")
    if not isinstance(group, str) or group not in GROUPS:
        problems.append(_("{where}: must be one of {groups}, not {value}{hint}").format(
            where=where("group_by"), groups=", ".join(GROUPS), value=shown(group),
            hint=did_you_mean(group, GROUPS) if isinstance(group, str) else ""))
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(_("{where}: must be true or false, not {value}").format(
            where=where("enabled"), value=shown(enabled)))
    texts: dict[str, dict[str, str]] = {}
    for key in ("title", "description"):
        try:
            texts[key] = _texts(where(key), table.get(key))
        except RuleError as exc:
            problems += exc.errors
    roles: list[str] = []
    try:
        roles = check_param(where("folder_roles"), Param("roles"), table.get("folder_roles", []))
    except RuleError as exc:
        problems += exc.errors
    if problems:
        raise RuleError("\n".join(problems), problems)
    assert isinstance(kind, str)
    return Rule(
        name=name, type=kind, params=params, group_by=group,
        title=texts["title"], description=texts["description"],
        folder_roles=tuple(roles), enabled=enabled, builtin=builtin,
    )


def fingerprint(rules: dict[str, Rule], protection: Protection) -> str:
    """Changes when the rules or the protection change: hits must then be recomputed."""
    data = json.dumps(
        [[r.name, r.type, r.params, r.group_by, r.folder_roles, r.enabled]
         for r in sorted(rules.values(), key=lambda r: r.name)] + [protection.__dict__],
        sort_keys=True, default=list,
    )
    return hashlib.sha256(data.encode()).hexdigest()[:16]
