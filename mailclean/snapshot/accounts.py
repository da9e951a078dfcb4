"""The accounts file of a snapshot (who is measured, in which team) and per-mailbox credentials.

Both are CSV files as admins export them from a directory or a spreadsheet: a header row,
comma or semicolon separated (French spreadsheets write semicolons), UTF-8 with or without a
byte-order mark, or Windows-1252 as older spreadsheets save it. Every mistake is reported with
its line number, all of them at once, so a file is fixed in one go.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailclean.i18n import _, ngettext

#: Accepted header names (lower case) for each column.
MAILBOX_NAMES = (
    "mailbox",
    "email",
    "e-mail",
    "mail",
    "address",
    "adresse",
    "login",
    "user",
    "utilisateur",
    "boîte",
    "boite",
)
TEAM_NAMES = (
    "team",
    "équipe",
    "equipe",
    "service",
    "department",
    "departement",
    "département",
    "direction",
    "group",
    "groupe",
)
DISPLAY_NAMES = ("display_name", "display name", "name", "nom", "displayname")
LOGIN_NAMES = ("imap_login", "imap login", "imap_user", "identifiant")
PASSWORD_NAMES = ("password", "mot de passe", "mot_de_passe", "secret")

#: At most this many errors are listed; the count says how many there were.
MAX_ERRORS = 20


class AccountsFileError(Exception):
    """The accounts or credentials file has mistakes; ``errors`` lists them, one per line."""

    def __init__(self, path: Path, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        shown = errors[:MAX_ERRORS]
        more = len(errors) - len(shown)
        lines = [f"{path}: {e}" for e in shown]
        if more:
            lines.append(
                ngettext("{path}: ... and {n} more", "{path}: ... and {n} more", more).format(
                    path=path, n=more
                )
            )
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class MailboxEntry:
    """One mailbox to measure: its address or login, its team, and how to show it."""

    mailbox: str
    team: str
    display_name: str | None = None
    login: str | None = None
    """IMAP login when it differs from ``mailbox`` (e.g. ``jdupont`` for jdupont@example.org)."""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Credential:
    """A mailbox's own login and password, for servers without an admin login."""

    login: str
    password: str


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AccountsFileError(
            path, [_("cannot read the file: {error}").format(error=exc.strerror or exc)]
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # What a spreadsheet saves as "CSV" on Windows when not asked for UTF-8.
        return data.decode("cp1252", errors="replace")


def _rows(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank, non-comment row; the header first."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for fields in reader:
            if not any(f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
                continue
            yield reader.line_num, [f.strip() for f in fields]
    except csv.Error as exc:
        raise AccountsFileError(
            path, [_("line {line}: {error}").format(line=reader.line_num, error=exc)]
        ) from None


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lower = [h.strip().lower() for h in header]
    for name in names:
        if name in lower:
            return lower.index(name)
    return None


def read_accounts(path: Path) -> list[MailboxEntry]:
    """The mailboxes of an accounts file, in file order.

    Columns (found by their header, in English or French): the mailbox (``mailbox``,
    ``email``, ``login``...), the team (``team``, ``équipe``, ``service``...), optionally a
    display name (``name``, ``nom``) and an IMAP login differing from the mailbox
    (``imap_login``). Raises AccountsFileError listing every bad line: a missing mailbox or
    team, a row with more fields than the header, a mailbox listed twice (case ignored).
    """
    text = _decode(path)
    rows = _rows(path, text)
    header_row = next(rows, None)
    if header_row is None:
        raise AccountsFileError(
            path, [_("the file is empty: a header row such as 'mailbox,team,name' is expected")]
        )
    _line, header = header_row
    columns = _accounts_columns(path, header)
    errors: list[str] = []
    seen: dict[str, int] = {}
    entries: list[MailboxEntry] = []
    for line, fields in rows:
        entry = _accounts_entry(line, fields, header, columns, seen)
        if isinstance(entry, str):
            errors.append(entry)
        else:
            entries.append(entry)
    if errors:
        raise AccountsFileError(path, errors)
    if not entries:
        raise AccountsFileError(path, [_("no mailbox listed under the header")])
    return entries


def _accounts_columns(
    path: Path, header: list[str]
) -> tuple[int, int, int | None, int | None]:
    """(mailbox, team, display name, login) columns of an accounts file's header; raises
    AccountsFileError when the mailbox or team column is missing or a password column is
    there."""
    col_mailbox = _column(header, MAILBOX_NAMES)
    col_team = _column(header, TEAM_NAMES)
    missing = []
    if col_mailbox is None:
        missing.append(_("no mailbox column (named e.g. 'mailbox' or 'email')"))
    if col_team is None:
        missing.append(_("no team column (named e.g. 'team' or 'service')"))
    if missing:
        found = ", ".join(repr(h) for h in header)
        raise AccountsFileError(
            path,
            [
                _("line 1: {problem}; columns found: {found}").format(problem=m, found=found)
                for m in missing
            ],
        )
    assert col_mailbox is not None and col_team is not None
    col_name = _column(header, DISPLAY_NAMES)
    col_login = _column(header, LOGIN_NAMES)
    if _column(header, PASSWORD_NAMES) is not None:
        raise AccountsFileError(
            path,
            [
                _(
                    "line 1: this file has a password column; passwords go in a separate file "
                    "given with --credentials, never with the list of teams"
                )
            ],
        )
    return col_mailbox, col_team, col_name, col_login


def _accounts_entry(
    line: int,
    fields: list[str],
    header: list[str],
    columns: tuple[int, int, int | None, int | None],
    seen: dict[str, int],
) -> MailboxEntry | str:
    """One row of an accounts file: its entry, or what is wrong with it. ``seen`` (the
    line of each mailbox so far, in lower case) gets the row's mailbox when it is good."""
    col_mailbox, col_team, col_name, col_login = columns
    if len(fields) > len(header) and any(fields[len(header) :]):
        return _(
            "line {line}: {n} fields but the header has {m} (a separator inside a value "
            "needs quotes)"
        ).format(line=line, n=len(fields), m=len(header))

    def field(col: int | None, fields: list[str] = fields) -> str:
        return fields[col] if col is not None and col < len(fields) else ""

    mailbox, team = field(col_mailbox), field(col_team)
    if not mailbox:
        return _("line {line}: no mailbox").format(line=line)
    if any(c.isspace() for c in mailbox) or any(ord(c) < 32 for c in mailbox):
        return _("line {line}: mailbox {mailbox!r} contains spaces").format(
            line=line, mailbox=mailbox
        )
    if not team:
        return _("line {line}: mailbox {mailbox} has no team").format(line=line, mailbox=mailbox)
    key = mailbox.lower()
    if key in seen:
        return _("line {line}: mailbox {mailbox} is already listed on line {first}").format(
            line=line, mailbox=mailbox, first=seen[key]
        )
    seen[key] = line
    return MailboxEntry(
        mailbox=mailbox,
        team=team,
        display_name=field(col_name) or None,
        login=field(col_login) or None,
        line=line,
    )


def read_credentials(path: Path) -> dict[str, Credential]:
    """Per-mailbox logins and passwords: ``mailbox,password`` and optionally ``login``.

    Keyed by the mailbox in lower case. The file holds secrets: it should be readable by
    its owner only, and :func:`credentials_warning` says when it is not.
    """
    text = _decode(path)
    rows = _rows(path, text)
    header_row = next(rows, None)
    if header_row is None:
        raise AccountsFileError(
            path, [_("the file is empty: a header row 'mailbox,password' is expected")]
        )
    _line, header = header_row
    col_mailbox = _column(header, MAILBOX_NAMES)
    col_password = _column(header, PASSWORD_NAMES)
    col_login = _column(header, LOGIN_NAMES)
    if col_mailbox is None or col_password is None:
        found = ", ".join(repr(h) for h in header)
        raise AccountsFileError(
            path,
            [
                _(
                    "line 1: columns 'mailbox' and 'password' are expected; columns found: {found}"
                ).format(found=found)
            ],
        )
    errors: list[str] = []
    out: dict[str, Credential] = {}
    lines: dict[str, int] = {}
    for line, fields in rows:
        mailbox = fields[col_mailbox] if col_mailbox < len(fields) else ""
        # The password is taken as written: spaces may be part of it.
        password = fields[col_password] if col_password < len(fields) else ""
        login = fields[col_login] if col_login is not None and col_login < len(fields) else ""
        if not mailbox:
            errors.append(_("line {line}: no mailbox").format(line=line))
        elif not password:
            errors.append(
                _("line {line}: mailbox {mailbox} has no password").format(
                    line=line, mailbox=mailbox
                )
            )
        elif mailbox.lower() in out:
            errors.append(
                _("line {line}: mailbox {mailbox} is already listed on line {first}").format(
                    line=line, mailbox=mailbox, first=lines[mailbox.lower()]
                )
            )
        else:
            out[mailbox.lower()] = Credential(login or mailbox, password)
            lines[mailbox.lower()] = line
    if errors:
        raise AccountsFileError(path, errors)
    return out


def credentials_warning(path: Path) -> str | None:
    """A warning when a credentials file can be read by other users, else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return _(
            "warning: {path} holds passwords and other users can read it (chmod 600 {path})"
        ).format(path=path)
    return None
