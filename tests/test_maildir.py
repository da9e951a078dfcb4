"""The local Maildir connector: the demo's path, checked against the generator's truth."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailclean import mailgen
from mailclean.connectors.base import ConnectorError, FolderNotFound
from mailclean.connectors.maildir import MaildirConnector
from mailclean.index import Index
from mailclean.sync import sync_account
from tests.support.corpora import standard_mailbox


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    root = tmp_path / "Maildir"
    mailgen.write_maildir(root, standard_mailbox())
    return root


@pytest.fixture
def index(tmp_path: Path):  # type: ignore[no-untyped-def]
    idx = Index(tmp_path / "index.db")
    yield idx
    idx.close()


def by_folder(index: Index) -> dict[str, tuple[int, int]]:
    acc = index.account("local")["id"]
    return {f["name"]: (f["messages"], f["bytes"]) for f in index.stats(acc)["folders"]}


def test_index_equals_truth(maildir: Path, index: Index) -> None:
    report = sync_account(index, "local", MaildirConnector(maildir))
    assert report.new == len(standard_mailbox())
    expected: dict[str, list[int]] = {}
    for m in standard_mailbox():
        expected.setdefault(m.folder, [0, 0])
        expected[m.folder][0] += 1
        expected[m.folder][1] += m.size
    got = {k: v for k, v in by_folder(index).items() if v[0]}
    assert got == {k: tuple(v) for k, v in expected.items()}
    rows = {
        (r[0], r[1], r[6]): r
        for r in index.db.execute(
            "SELECT coalesce(message_id, ''), size, subject, seen, flagged, m.id, f.path"
            " FROM messages m JOIN folders f ON f.id = m.folder_id"
        )
    }
    for m in standard_mailbox():
        row = rows[(m.message_id or "", m.size, m.folder)]
        assert row[2] == m.subject
        assert (bool(row[3]), bool(row[4])) == ("\\Seen" in m.flags, "\\Flagged" in m.flags)
        names = [
            r[0]
            for r in index.db.execute(
                "SELECT filename FROM attachments WHERE message_id = ? ORDER BY id", [row[5]]
            )
        ]
        assert names == [a.filename for a in m.attachments], (m.kind, m.malformed)


def test_incremental_changes(maildir: Path, index: Index) -> None:
    sync_account(index, "local", MaildirConnector(maildir))
    cur = maildir / "cur"
    files = sorted(cur.iterdir())
    files[0].unlink()
    unseen = next(f for f in files[1:] if not f.name.endswith("S"))
    unseen.rename(unseen.with_name(unseen.name.split(":2,")[0] + ":2,FS"))
    new = maildir / "new" / "1700000000.M1P1.host"
    new.write_bytes(b"From: a@example.org\nSubject: nouveau\n\nbody\n")
    os.utime(new, (1_700_000_000, 1_700_000_000))
    report = sync_account(index, "local", MaildirConnector(maildir))
    assert (report.new, report.removed, report.flag_changes) == (1, 1, 1)
    row = index.db.execute(
        "SELECT size, received_at FROM messages WHERE subject = 'nouveau'"
    ).fetchone()
    # CRLF size, as an IMAP server would report it, and the file's time as arrival.
    assert row == (
        len(b"From: a@example.org\r\nSubject: nouveau\r\n\r\nbody\r\n"),
        "2023-11-14T22:13:20+00:00",
    )


def test_not_a_maildir(tmp_path: Path, index: Index) -> None:
    with pytest.raises(ConnectorError, match="is not a Maildir"):
        sync_account(index, "local", MaildirConnector(tmp_path))
    (tmp_path / "cur").mkdir()
    with pytest.raises(FolderNotFound):
        sync_account(index, "local", MaildirConnector(tmp_path), folders=["Nope"])
