"""Snapshots read straight from a mail root on disk (``snapshot take --maildir-root``):
the same figures as Dovecot serves over IMAP, read-only, failures per mailbox, folders
that cannot be read, and the path of each mailbox under the root."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailclean import mailgen
from mailclean.i18n import set_language
from mailclean.snapshot import SnapshotStore, maildirs
from mailclean.snapshot.cli import snapshot
from mailclean.snapshot.maildirs import MaildirRoot, maildir_figures, maildirsize_quota
from mailclean.snapshot.measure import Attempt, MeasureError
from tests.dovecot import Dovecot
from tests.support.snapshots import USERS, alice_corpus, bob_corpus, prepare, role_of


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def invoke(db: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(snapshot, [*args, "--snapshots", str(db)], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def tree_state(root: Path) -> dict[str, tuple[int, int, int]]:
    """Everything a read could change: every entry's name, mode, size and mtime."""
    state = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        state[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return state


def expected(messages: tuple[mailgen.GeneratedMessage, ...]) -> dict[str, tuple[int, int]]:
    roles: dict[str, tuple[int, int]] = {}
    for m in messages:
        n, b = roles.get(role_of(m.folder), (0, 0))
        roles[role_of(m.folder)] = (n + 1, b + m.size)
    return roles


@pytest.fixture
def mail_root(tmp_path: Path) -> Path:
    """A mail root laid out as /var/vmail/<domain>/<local>/Maildir, and a staff file with a
    mailbox that has no directory."""
    root = tmp_path / "vmail"
    mailgen.write_maildir(root / "ville.fr" / "alice" / "Maildir", alice_corpus())
    mailgen.write_maildir(root / "ville.fr" / "bob" / "Maildir", bob_corpus())
    (tmp_path / "staff.csv").write_text(
        "mailbox,team,name\nalice@ville.fr,Finances,Alice\nbob@ville.fr,Voirie,Bob\n"
        "ghost@ville.fr,Voirie,Nobody\n",
        encoding="utf-8",
    )
    return root


def test_a_mail_root_is_measured_from_its_file_names(mail_root: Path, tmp_path: Path) -> None:
    before = tree_state(mail_root)
    db = tmp_path / "snapshots.db"
    result = invoke(
        db, "take", "files", "--maildir-root", str(mail_root), "--staff",
        str(tmp_path / "staff.csv"), "--user-pattern", "{domain}/{local}/Maildir", code=3,
    )  # fmt: skip
    assert "2 of 3 mailboxes measured, 1 failed" in result.output
    assert "ghost@ville.fr: no mailbox at" in result.output
    with SnapshotStore(db) as store:
        info = store.get("files")
        measured = {r.mailbox: r for r in store.mailboxes(info.id)}
        raw = store.conn.execute("SELECT DISTINCT size_source FROM snapshot_mailboxes"
                                 " WHERE state = 'done'").fetchall()
    assert info.scope == f"maildir://{mail_root.resolve()}"
    for mailbox, corpus in (("alice@ville.fr", alice_corpus()), ("bob@ville.fr", bob_corpus())):
        row = measured[mailbox]
        roles = expected(corpus)
        assert (row.messages, row.bytes) == (len(corpus), sum(m.size for m in corpus))
        assert {r: v for r, v in row.roles.items() if v[0]} == roles  # empty Drafts: (0, 0)
    assert measured["ghost@ville.fr"].state == "failed"
    assert raw == [("maildir",)]
    assert tree_state(mail_root) == before  # read-only
    # --resume remembers the root and the pattern.
    again = invoke(db, "take", "--resume", "--label", "files", "--retry-failed", code=3)
    assert "2 of 3 mailboxes measured, 1 failed" in again.output
    wrong = invoke(db, "take", "x", "--maildir-root", str(mail_root), "--accounts",
                   str(tmp_path / "staff.csv"), "--admin-user", "a", code=2).output
    assert "--admin-user: options of a server, not for --maildir-root" in wrong


def test_full_depth_reads_the_files_into_a_temporary_index(
    mail_root: Path, tmp_path: Path
) -> None:
    before = tree_state(mail_root)
    work = tmp_path / "work"
    work.mkdir()
    db = tmp_path / "snapshots.db"
    (tmp_path / "staff.csv").write_text("mailbox,team\nalice@ville.fr,Finances\n")
    result = invoke(
        db, "take", "full", "--full", "--maildir-root", str(mail_root), "--accounts",
        str(tmp_path / "staff.csv"), "--user-pattern", "{domain}/{local}/Maildir", "--json",
        "--work-dir", str(work),
    )  # fmt: skip
    assert json.loads(result.stdout)["done"] == 1
    with SnapshotStore(db) as store:
        alice = next(store.mailboxes(store.get("full").id))
    assert alice.categories is not None
    trash_junk = sum(
        m.size
        for m in alice_corpus()
        if m.folder in ("Trash", "Junk") and mailgen.FLAGGED not in m.flags
    )
    assert alice.categories["trash-and-junk"] == trash_junk
    assert 0 < alice.categories["newsletters"] < alice.bytes
    assert not list(work.iterdir())
    assert tree_state(mail_root) == before


def test_same_figures_as_dovecot_over_imap(
    dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin who can read the server's mail root gets what IMAP reports."""
    server = prepare(dovecot)
    db = tmp_path / "snapshots.db"
    staff = tmp_path / "staff.csv"
    staff.write_text("mailbox,team\n" + "".join(f"{u},T\n" for u in USERS))
    monkeypatch.setenv("ADMIN_PW", "admin-secret")
    invoke(db, "take", "imap", "--accounts", str(staff), "--server", server.host, "--port",
           str(server.port), "--security", "none", "--admin-user", "admin", "--password-env",
           "ADMIN_PW")  # fmt: skip
    root = server.maildir("snap-alice").parent
    invoke(db, "take", "files", "--accounts", str(staff), "--maildir-root", str(root),
           "--user-pattern", "{user}")  # fmt: skip
    with SnapshotStore(db) as store:
        over_imap = {r.mailbox: r for r in store.mailboxes(store.get("imap").id)}
        on_disk = {r.mailbox: r for r in store.mailboxes(store.get("files").id)}
    for user in USERS:
        a, b = over_imap[user], on_disk[user]
        assert (a.messages, a.bytes, dict(a.roles)) == (b.messages, b.bytes, dict(b.roles)), user


def test_a_folder_that_cannot_be_listed(
    mail_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maildir = mail_root / "ville.fr" / "alice" / "Maildir"
    hidden = str(maildir / mailgen.maildir_dirname("Archives/2021"))
    listdir = os.listdir

    def refusing(path: str | os.PathLike[str]) -> list[str]:
        if str(path).startswith(hidden):
            raise PermissionError(13, "Permission denied", str(path))
        return listdir(path)

    monkeypatch.setattr(maildirs.os, "listdir", refusing)
    figures, paths = maildir_figures(maildir, Attempt(time.monotonic() + 10, time.monotonic))
    lost = [m for m in alice_corpus() if m.folder == "Archives/2021"]
    assert [(u.role, u.name, u.error) for u in figures.unreadable] == [
        ("archive", "Archives/2021", "Permission denied")
    ]
    assert figures.bytes == sum(m.size for m in alice_corpus()) - sum(m.size for m in lost)
    assert "Archives/2021" not in paths and "Archives/2019" in paths


def test_mailbox_paths_stay_under_the_root(tmp_path: Path) -> None:
    root = MaildirRoot(tmp_path, "{domain}/{local}/Maildir")
    assert root.directory("jean.dupont@ville.fr") == tmp_path / "ville.fr/jean.dupont/Maildir"
    assert MaildirRoot(tmp_path).directory("x@y", "jdupont") == tmp_path / "jdupont/Maildir"
    for bad in ("../etc@ville.fr", "a/b@ville.fr", "x@.."):
        with pytest.raises(MeasureError):
            root.directory(bad)
    for pattern in ("/abs/{user}", "{user}/../x", "{admin}", "Maildir"):
        with pytest.raises(ValueError):
            MaildirRoot(tmp_path, pattern)


def test_sizes_and_quota_from_dovecot_files(tmp_path: Path) -> None:
    assert maildirs.message_size("1.M1P1.h,S=100,W=103:2,S", str(tmp_path)) == 103
    assert maildirs.message_size("1.M1P1.h,S=100:2,S", str(tmp_path)) == 100
    (tmp_path / "1.plain").write_bytes(b"x" * 42)
    assert maildirs.message_size("1.plain", str(tmp_path)) == 42
    (tmp_path / "maildirsize").write_text("1000000S,1000C\n500 3\n-100 -1\n2000 1\n")
    assert maildirsize_quota(tmp_path) == (2400, 1000000)
    assert maildirsize_quota(tmp_path / "nowhere") == (None, None)
    # A message moving from new/ to cur/ while it is listed counts once.
    for sub in ("cur", "new"):
        (tmp_path / "box" / sub).mkdir(parents=True)
    (tmp_path / "box" / "new" / "7.M1.h,S=10,W=11").write_bytes(b"")
    (tmp_path / "box" / "cur" / "7.M1.h,S=10,W=11:2,S").write_bytes(b"")
    (tmp_path / "box" / "cur" / ".hidden").write_bytes(b"")
    assert maildirs.count_folder(tmp_path / "box") == (1, 11)
