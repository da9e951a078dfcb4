"""Snapshots against a real Dovecot: exact figures, read-only access, failures, resumption,
privacy; and the accounts file, the runner's bounds and the command line."""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner, Result

from mailclean import mailgen
from mailclean.connectors.base import ConnectionFailed, ConnectorError
from mailclean.i18n import set_language
from mailclean.model import FolderInfo, Quota
from mailclean.snapshot import (
    Access,
    AccountsFileError,
    ImapMeasure,
    MailboxFigures,
    RunOptions,
    SnapshotProgress,
    SnapshotStore,
    read_accounts,
    read_credentials,
    run,
)
from mailclean.snapshot import cli as snapshot_cli
from mailclean.snapshot.accounts import credentials_warning
from mailclean.snapshot.cli import snapshot
from mailclean.snapshot.measure import Aborted, Attempt, quick_figures
from mailclean.snapshot.store import FolderFigures, category_column
from tests.dovecot import Dovecot
from tests.support.snapshots import (
    USERS,
    alice_corpus,
    bob_corpus,
    carol_corpus,
    prepare,
    role_of,
)

ADMIN_PASSWORD = "admin-secret"
ACCOUNTS = """mailbox,team,name
snap-alice,Finances,Agent A
snap-bob,Finances,Agent B
snap-carol,Voirie,Agent C
snap-dave,Voirie,
"""


@pytest.fixture(params=["dovecot", "dovecot_minimal"])
def server(request: pytest.FixtureRequest) -> Dovecot:
    """The full server and the one without STATUS=SIZE, LIST-STATUS, SPECIAL-USE..."""
    return prepare(request.getfixturevalue(request.param))


@pytest.fixture
def full_server(dovecot: Dovecot) -> Dovecot:
    return prepare(dovecot)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ADMIN_PW", ADMIN_PASSWORD)
    monkeypatch.delenv("MAILCLEAN_SNAPSHOTS", raising=False)
    set_language("en")
    yield
    set_language("en")


class Cli:
    """``mailclean snapshot ...`` with a private snapshots file."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.db = tmp_path / "snapshots.db"
        self.accounts = tmp_path / "staff.csv"
        self.accounts.write_text(ACCOUNTS, encoding="utf-8")

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(
            snapshot, [*args, "--snapshots", str(self.db)], catch_exceptions=False
        )
        assert result.exit_code == code, result.output
        return result

    def take(self, server: Dovecot, label: str, *extra: str, code: int = 0) -> Result:
        args = [
            "take",
            "--label",
            label,
            "--server",
            server.host,
            "--port",
            str(server.port),
            "--security",
            "none",
            *extra,
        ]
        if "--resume" not in extra:
            args += ["--accounts", str(self.accounts)]
        if "--credentials" not in extra and "--resume" not in extra:
            args += ["--admin-user", "admin", "--password-env", "ADMIN_PW"]
        return self(*args, code=code)

    def store(self) -> SnapshotStore:
        return SnapshotStore(self.db)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def truth(server: Dovecot, user: str) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """Dovecot's own figures (doveadm): messages, bytes, and (messages, bytes) per role."""
    roles: dict[str, tuple[int, int]] = {}
    for folder, (messages, size) in server.status(user).items():
        m, b = roles.get(role_of(folder), (0, 0))
        roles[role_of(folder)] = (m + messages, b + size)
    return (sum(m for m, _ in roles.values()), sum(b for _, b in roles.values()), roles)


def rows(store: SnapshotStore, label: str) -> dict:
    info = store.get(label)
    return {r.mailbox: r for r in store.mailboxes(info.id)}


# -- exact figures -------------------------------------------------------------------------


def test_quick_snapshot_equals_dovecot(server: Dovecot, cli: Cli) -> None:
    result = cli.take(server, "before")
    assert "4 of 4 mailboxes measured, 0 failed" in result.output
    with cli.store() as store:
        measured = rows(store, "before")
        info = store.get("before")
        raw = store.conn.execute(
            "SELECT mailbox, size_source, quota_used, quota_limit FROM snapshot_mailboxes"
        ).fetchall()
    assert info.state == "complete" and info.depth == "quick"
    for user in USERS:
        messages, size, roles = truth(server, user)
        row = measured[user]
        assert (row.state, row.messages, row.bytes) == ("done", messages, size)
        assert {r: v for r, v in row.roles.items()} == {
            r: v for r, v in roles.items() if r in row.roles
        }
        assert sum(b for _, b in row.roles.values()) == row.bytes
        # Dovecot's count quota with vsizes: the sum of RFC822.SIZE in KiB, rounded up.
        assert row.quota_used == math.ceil(size / 1024) * 1024
        assert row.quota_limit == 1024**3
    assert measured["snap-dave"].bytes == 0
    assert measured["snap-alice"].roles["archive"][1] > 0  # Archives/2021 is an archive
    sources = {r[1] for r in raw}
    status_size = server.capabilities is None or "STATUS=SIZE" in server.capabilities
    # Without STATUS=SIZE the sizes are summed from RFC822.SIZE, same result.
    assert sources == ({"status"} if status_size else {"fetch", "status"})
    assert info.bytes == sum(truth(server, u)[1] for u in USERS)


def test_full_snapshot_adds_categories_and_keeps_no_index(full_server: Dovecot, cli: Cli) -> None:
    work = cli.tmp / "work"
    work.mkdir()
    # Left by a full snapshot that was killed: its headers must not stay on disk.
    stale = work / "mailclean-snapshot-999999999-abcd"
    stale.mkdir()
    (stale / "index.db").write_bytes(b"headers")
    cli.take(full_server, "full", "--full", "--work-dir", str(work), "--older-than", "2")
    with cli.store() as store:
        measured = rows(store, "full")
        info = store.get("full")
    assert info.depth == "full"
    assert not list(work.iterdir())  # the temporary indexes are gone, the stale one too
    alice = measured["snap-alice"]
    messages, size, _roles = truth(full_server, "snap-alice")
    assert (alice.messages, alice.bytes) == (messages, size)
    assert alice.categories is not None
    # Independent oracle: what the generator put in Trash and Junk, flagged ones excepted
    # (flagged messages are never counted as something to clean).
    trash_junk = sum(
        m.size
        for m in alice_corpus()
        if m.folder in ("Trash", "Junk") and mailgen.FLAGGED not in m.flags
    )
    assert alice.categories["trash-and-junk"] == trash_junk
    for category in ("large-attachments", "newsletters", "old-threads", "duplicates"):
        assert 0 < alice.categories[category] < alice.bytes, category
    assert 0 < (alice.reclaimable_bytes or 0) <= alice.bytes
    assert measured["snap-dave"].categories == dict.fromkeys(alice.categories, 0)
    text = cli("show", "full").output
    assert "Large attachments" in text and "Agent" not in text.split("\n")[0]


# -- read-only ----------------------------------------------------------------------------


def mailbox_state(server: Dovecot, user: str) -> tuple[str, dict]:
    """Everything a snapshot could change: doveadm's counters and every message's flags."""
    status = server.doveadm(
        "-f",
        "json",
        "mailbox",
        "status",
        "-u",
        user,
        "messages recent unseen uidnext uidvalidity highestmodseq vsize",
        "*",
    )
    flags = {}
    client = server.client(user)
    try:
        for _f, _d, folder in client.list_folders():
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["FLAGS"]) if uids else {}
            flags[folder] = {uid: sorted(v[b"FLAGS"]) for uid, v in fetched.items()}
    finally:
        client.logout()
    return status, flags


def test_a_snapshot_never_changes_a_mailbox(server: Dovecot, cli: Cli) -> None:
    before = {u: mailbox_state(server, u) for u in ("snap-alice", "snap-bob")}
    unseen = sum(
        1
        for folder in before["snap-alice"][1].values()
        for f in folder.values()
        if b"\\Seen" not in f
    )
    assert unseen > 0  # there is something to mark seen by mistake
    # and messages still \Recent: the first read-write SELECT would take that away.
    assert any(int(f["recent"]) > 0 for f in json.loads(before["snap-alice"][0]))
    cli.take(server, "quick")
    cli.take(server, "full", "--full")
    after = {u: mailbox_state(server, u) for u in ("snap-alice", "snap-bob")}
    assert after == before


# -- failures -------------------------------------------------------------------------------


def test_unknown_mailbox_fails_alone(full_server: Dovecot, cli: Cli) -> None:
    cli.accounts.write_text(ACCOUNTS + "snap-ghost,Voirie,Nobody\n", encoding="utf-8")
    # Exit status 3: finished, but some mailboxes could not be measured.
    result = cli.take(full_server, "with-ghost", code=3)
    assert "4 of 5 mailboxes measured, 1 failed" in result.output
    assert "snap-ghost:" in result.output and "--retry-failed" in result.output
    with cli.store() as store:
        measured = rows(store, "with-ghost")
        info = store.get("with-ghost")
    assert info.state == "complete"
    ghost = measured.pop("snap-ghost")
    assert ghost.state == "failed" and "refused the login" in (ghost.error or "")
    assert "b'" not in (ghost.error or "")
    assert all(r.state == "done" for r in measured.values())


def test_per_mailbox_credentials_and_a_wrong_password(full_server: Dovecot, cli: Cli) -> None:
    creds = cli.tmp / "passwords.csv"
    creds.write_text(
        "mailbox,password\nsnap-alice,pw-alice\nsnap-bob,WRONG\n"
        "snap-carol,pw-carol\nsnap-dave,pw-dave\n",
        encoding="utf-8",
    )
    creds.chmod(0o644)
    result = cli.take(full_server, "own", "--credentials", str(creds), code=3)
    assert "other users can read it" in result.output
    with cli.store() as store:
        measured = rows(store, "own")
        options = store.get("own").options
    assert measured["snap-bob"].state == "failed"
    assert "refused the login of snap-bob" in (measured["snap-bob"].error or "")
    assert measured["snap-alice"].bytes == truth(full_server, "snap-alice")[1]
    assert "WRONG" not in json.dumps(options) and "pw-alice" not in json.dumps(options)
    creds.write_text("mailbox,password\nsnap-alice,pw-alice\n", encoding="utf-8")
    result = cli.take(full_server, "missing", "--credentials", str(creds), code=1)
    assert "no password for 3 mailboxes" in result.output


def test_wrong_admin_password_stops_early(
    full_server: Dovecot, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.accounts.write_text(ACCOUNTS + "snap-x1,T,\nsnap-x2,T,\n", encoding="utf-8")
    monkeypatch.setenv("ADMIN_PW", "not-the-password")
    result = cli.take(full_server, "oops", "--concurrency", "1", code=1)
    assert "the first 5 mailboxes all refused the login" in result.output
    with cli.store() as store:
        info = store.get("oops")
    assert (info.state, info.failed, info.pending) == ("interrupted", 5, 1)
    # Fixed: resume, measuring the failed ones again.
    monkeypatch.setenv("ADMIN_PW", ADMIN_PASSWORD)
    result = cli("take", "--resume", "--label", "oops", "--retry-failed", code=3)
    with cli.store() as store:
        info = store.get("oops")
    assert (info.state, info.done, info.failed) == ("complete", 4, 2)


class HangingImap:
    """An IMAP server that greets, accepts any login, then never answers again."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1] hanging\r\n")
            for line in reader:
                tag, _, rest = line.decode().partition(" ")
                command = rest.split(" ", 1)[0].strip().upper()
                if command == "CAPABILITY":
                    conn.sendall(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
                elif command == "LOGIN":
                    conn.sendall(f"{tag} OK [CAPABILITY IMAP4rev1] welcome\r\n".encode())
                else:
                    self.stop.wait(60)
                    return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def hanging() -> Iterator[HangingImap]:
    server = HangingImap()
    yield server
    server.close()


def test_timeout_cuts_a_hanging_mailbox_and_retries(tmp_path: Path, hanging: HangingImap) -> None:
    store = SnapshotStore(tmp_path / "s.db")
    info = store.create("t", "quick", None, {}, [("a", None, "T", None), ("b", None, "T", None)])
    # Socket reads may wait 30 s: only the watchdog can end the attempts in time.
    measure = ImapMeasure(
        Access("127.0.0.1", hanging.port, security="none", admin_user="admin", admin_password="x"),
        command_timeout=30,
    )
    started = time.monotonic()
    summary = run(
        store, info.id, measure, RunOptions(concurrency=2, timeout=0.5, retries=1, backoff=0.01)
    )
    assert time.monotonic() - started < 5
    assert (summary.measured, summary.failed) == (0, 2)
    got = store.conn.execute("SELECT state, error, attempts FROM snapshot_mailboxes").fetchall()
    assert got == [("failed", "no complete answer within 0.5 s", 2)] * 2
    assert store.get("t").state == "complete"
    store.close()


def test_timeout_from_the_command_line(cli: Cli, hanging: HangingImap) -> None:
    started = time.monotonic()
    result = cli(
        "take",
        "--accounts",
        str(cli.accounts),
        "--label",
        "slow",
        "--server",
        "127.0.0.1",
        "--port",
        str(hanging.port),
        "--security",
        "none",
        "--admin-user",
        "admin",
        "--password-env",
        "ADMIN_PW",
        "--timeout",
        "1",
        "--retries",
        "0",
        "--json",
        code=3,
    )
    assert time.monotonic() - started < 8
    data = json.loads(result.stdout)
    assert (data["done"], data["failed"]) == (0, 4)
    assert all(f["error"] for f in data["failures"])


def test_a_folder_that_cannot_be_read_leaves_the_rest_measured(server: Dovecot, cli: Cli) -> None:
    """One folder the server cannot open (Dovecot: [SERVERBUG] on its STATUS) costs that
    folder, not the mailbox: measured in part, the folder's role kept, its name never
    stored, exit status 4."""
    folder = server.maildir("snap-alice") / ".Archives.2021"
    lost = sum(m.size for m in alice_corpus() if m.folder == "Archives/2021")
    assert lost > 0
    folder.chmod(0)
    try:
        server.kick("snap-alice")
        result = cli.take(server, "partial", code=4)
        # Full depth too (Dovecot then cannot compute the quota either: no reason to fail).
        cli.take(server, "partial-full", "--full", code=4)
    finally:
        folder.chmod(0o700)
        server.kick("snap-alice")
    # The admin's terminal names the folder, once per measurement (no retries).
    assert result.output.count("folder Archives/2021 could not be read") == 1
    assert "4 of 4 mailboxes measured, 0 failed" in result.output
    assert "snap-alice: measured in part, 1 folder could not be read (Archives)" in result.output
    with cli.store() as store:
        alice = rows(store, "partial")["snap-alice"]
        info = store.get("partial")
    _messages, size, roles = truth(server, "snap-alice")
    assert (alice.state, alice.unreadable_folders, alice.unreadable_roles) == (
        "done", 1, ("archive",)
    )
    assert alice.bytes == size - lost
    assert alice.roles["inbox"] == roles["inbox"]
    assert (info.done, info.failed, info.partial) == (4, 0, 1)
    with cli.store() as store:
        full = rows(store, "partial-full")["snap-alice"]
    assert full.unreadable_folders == 1 and full.bytes == alice.bytes
    assert full.categories is not None and full.categories["trash-and-junk"] > 0
    data = b"".join(p.read_bytes() for p in cli.tmp.glob("snapshots.db*"))
    assert b"2021" not in data and b"could not be read" not in data
    shown = cli("show", "partial", "--failed").output
    assert "snap-alice: measured in part" in shown
    listed = json.loads(cli("show", "partial", "--json", "--by", "mailbox").stdout)
    assert listed["partial"] == 1
    boxes = {m["mailbox"]: m for m in listed["by_mailbox"]}
    assert boxes["snap-alice"]["unreadable_roles"] == ["archive"]
    # Compared with a whole measurement, the report says a mailbox was measured in part.
    cli.take(server, "whole")
    text = cli("compare", "partial", "whole").output
    assert "1 mailbox was measured in part" in text


def test_exit_status_is_documented() -> None:
    text = CliRunner().invoke(snapshot, ["take", "--help"], terminal_width=100).output
    for line in ("Exit status:", "0    every mailbox", "3    finished, but some mailboxes",
                 "4    finished, every mailbox measured", "130  interrupted"):
        assert line in text, text


def test_list_never_cuts_a_label(tmp_path: Path) -> None:
    db = tmp_path / "snapshots.db"
    labels = ["before-2027-digital-cleanup-day", "after-2027-digital-cleanup-day-week-1", "jan"]
    with SnapshotStore(db) as store:
        for label in labels:
            info = store.create(label, "quick", None, {}, [(f"m{i}", None, "T", None)
                                                           for i in range(1200)])
            store.set_state(info.id, "interrupted")
    for width in (40, 60, 80, 100, 140):
        result = CliRunner().invoke(
            snapshot, ["list", "--snapshots", str(db)], env={"COLUMNS": str(width)}
        )
        assert result.exit_code == 0, result.output
        for label in labels:
            assert label in result.output, (width, result.output)
        assert "…" not in result.output, (width, result.output)
    short = tmp_path / "short.db"
    with SnapshotStore(short) as store:
        store.create("jan", "quick", None, {}, [("m", None, "T", None)])
    text = CliRunner().invoke(
        snapshot, ["list", "--snapshots", str(short)], env={"COLUMNS": "80"}
    ).output
    assert text.split()[:2] == ["Label", "Taken"]  # a table where there is room


# -- resumption ------------------------------------------------------------------------------


def test_an_interrupted_snapshot_resumes(
    full_server: Dovecot, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = snapshot_cli.RichSnapshotProgress.mailbox

    def interrupt_after_two(self: snapshot_cli.RichSnapshotProgress, *args: object) -> None:
        original(self, *args)  # type: ignore[arg-type]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(snapshot_cli.RichSnapshotProgress, "mailbox", interrupt_after_two)
    result = cli.take(full_server, "week-1", "--concurrency", "1", code=130)
    assert "--resume --label week-1" in result.output
    with cli.store() as store:
        info = store.get("week-1")
        first = rows(store, "week-1")
    assert (info.state, info.done, info.pending) == ("interrupted", 2, 2)
    measured_first = {m: r for m, r in first.items() if r.state == "done"}
    # If the resumed run measured these again, it would now find them empty.
    for user in measured_first:
        full_server.reset_user(user)
    monkeypatch.setattr(snapshot_cli.RichSnapshotProgress, "mailbox", original)
    result = cli("take", "--resume")  # the latest unfinished one; its settings are kept
    assert "4 of 4 mailboxes measured" in result.output
    with cli.store() as store:
        info = store.get("week-1")
        second = rows(store, "week-1")
    assert info.state == "complete"
    for user, row in second.items():
        if user in measured_first:
            assert row == measured_first[user]
        else:
            assert row.bytes == truth(full_server, user)[1]
    cli("take", "--resume", "--label", "week-1", code=1)  # complete: nothing to resume


# -- privacy ----------------------------------------------------------------------------------


def test_the_snapshot_file_holds_no_mail_data(full_server: Dovecot, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    path = tmp_path / "snapshots.db"
    store = SnapshotStore(path)
    info = store.create("p", "full", None, {}, [(u, None, "Finances", "Agent") for u in USERS])
    access = Access(
        full_server.host,
        full_server.port,
        security="none",
        admin_user="admin",
        admin_password=ADMIN_PASSWORD,
    )
    run(store, info.id, ImapMeasure(access, depth="full", workdir=work), RunOptions())
    secrets: set[str] = set()
    for m in alice_corpus() + bob_corpus():
        secrets.update(
            v
            for v in (
                m.subject,
                m.sender,
                m.sender_name,
                m.message_id,
                m.list_id,
                m.list_unsubscribe,
            )
            if v
        )
        secrets.update(a.filename for a in m.attachments if a.filename)
        secrets.update(m.folder.split("/"))
    secrets -= {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archives"}
    secrets = {s for s in secrets if len(s) >= 6}
    assert len(secrets) > 200

    def leaks() -> list[str]:
        data = b"".join(p.read_bytes() for p in tmp_path.glob("snapshots.db*"))
        assert b"snap-alice" in data and b"Finances" in data  # the scan does read the data
        return sorted(s for s in secrets if s.encode() in data)

    assert Path(f"{path}-wal").exists()
    assert leaks() == []
    figures = rows(store, "p")["snap-alice"]
    assert figures.categories and figures.categories["large-attachments"] > 0
    store.close()
    assert leaks() == []
    assert not list(work.iterdir())
    columns = {
        c
        for t in ("snapshots", "snapshot_mailboxes", "snapshot_folders")
        for c in SnapshotStore(path).db[t].columns_dict
    }
    assert not columns & {"subject", "sender", "recipients", "filename", "message_id", "path"}


class FakeConnector:
    """What quick_figures asks of a connector, with a shared namespace and odd folders."""

    capabilities = frozenset({"NAMESPACE"})

    def __init__(self, quota_error: Exception | None = None) -> None:
        self.quota_error = quota_error
        self.summed: list[str] = []
        self.client = SimpleNamespace(
            namespace=lambda: SimpleNamespace(
                personal=(("", "/"),), other=(("Other Users/", "/"),), shared=(("Public/", "/"),)
            )
        )

    def foreign_prefixes(self) -> tuple[str, ...]:
        spaces = self.client.namespace()
        return tuple(prefix for group in (spaces.other, spaces.shared) for prefix, _d in group)

    def list_folders(self) -> list[FolderInfo]:
        return [
            FolderInfo("INBOX", "/", "inbox", messages=3, bytes=300),
            FolderInfo("INBOX/Sub", "/", None, messages=1, bytes=10),
            FolderInfo("Trash", "/", "trash", messages=1, bytes=50),
            FolderInfo("Trash/Old project", "/", None, messages=2, bytes=None),
            FolderInfo("Archives", "/", "archive", selectable=False),
            FolderInfo("Archives/2019", "/", None, messages=4, bytes=400),
            FolderInfo("All Mail", "/", "all", messages=10, bytes=760),
            FolderInfo("Other Users/bob/INBOX", "/", None, messages=9, bytes=9000),
            FolderInfo("Public/News", "/", None, messages=9, bytes=9000),
            FolderInfo("Empty", "/", None, messages=0, bytes=None),
        ]

    def folder_size(self, path: str) -> tuple[int, int]:
        self.summed.append(path)
        return 2, 20

    def quota(self) -> Quota | None:
        if self.quota_error:
            raise self.quota_error
        return Quota(used=1024, limit=None)


def test_quick_figures_count_each_message_once() -> None:
    attempt = Attempt(time.monotonic() + 10, time.monotonic)
    connector = FakeConnector()
    names: list[str] = []
    figures, paths = quick_figures(connector, attempt, names)  # type: ignore[arg-type]
    # Virtual (All Mail), other users' and shared folders are someone else's volume;
    # sub-folders of Trash and Archives count with them, those of the inbox as "other".
    assert figures.roles == {
        "inbox": FolderFigures(1, 3, 300),
        "other": FolderFigures(2, 1, 10),
        "trash": FolderFigures(2, 3, 70),
        "archive": FolderFigures(1, 4, 400),
    }
    assert (figures.messages, figures.bytes, figures.size_source) == (11, 780, "fetch")
    assert connector.summed == ["Trash/Old project"]  # an empty folder needs no FETCH
    assert (figures.quota_used, figures.quota_limit) == (1024, None)
    assert "All Mail" not in paths and "Public/News" not in paths and "INBOX" in paths
    assert "Other Users/bob/INBOX" in names  # for scrubbing errors
    figures, _paths = quick_figures(FakeConnector(ConnectorError("NO no quota root")), attempt)  # type: ignore[arg-type]
    assert figures.quota_used is None and figures.bytes == 780
    with pytest.raises(ConnectionFailed):
        quick_figures(FakeConnector(ConnectionFailed("lost")), attempt)  # type: ignore[arg-type]
    attempt.abort("timeout")
    with pytest.raises(Aborted):
        quick_figures(FakeConnector(), attempt)  # type: ignore[arg-type]


def test_only_dead_runs_temporary_indexes_are_swept(tmp_path: Path) -> None:
    from mailclean.snapshot.measure import sweep_stale

    live = tmp_path / f"mailclean-snapshot-{os.getpid()}-x"
    dead = tmp_path / "mailclean-snapshot-999999999-y"
    other = tmp_path / "mailclean-snapshot-notapid"
    for path in (live, dead, other):
        path.mkdir()
    assert sweep_stale(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


def test_folder_names_are_kept_out_of_errors() -> None:
    from mailclean.snapshot.measure import scrub

    text = scrub(
        "cannot open folder 'Candidatures/Dupont': b'[NONEXISTENT] gone'",
        ["INBOX", "Candidatures", "Candidatures/Dupont"],
    )
    assert text == "cannot open folder '<folder>': [NONEXISTENT] gone"


# -- before/after through the command line ----------------------------------------------------


def test_deleted_messages_show_as_freed_in_their_team(full_server: Dovecot, cli: Cli) -> None:
    cli.take(full_server, "before")
    client = full_server.client("snap-alice")
    try:
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))
        sizes = {u: v[b"RFC822.SIZE"] for u, v in client.fetch(uids, ["RFC822.SIZE"]).items()}
        deleted, moved = uids[:5], uids[5:8]
        client.move(moved, "Trash")
        client.delete_messages(deleted)
        client.expunge()
    finally:
        client.logout()
    freed = sum(sizes[u] for u in deleted)
    in_trash = sum(sizes[u] for u in moved)
    cli.take(full_server, "after")
    html, csv_file = cli.tmp / "out" / "progress.html", cli.tmp / "progress.csv"
    result = cli(
        "compare",
        "before",
        "after",
        "--by",
        "mailbox",
        "--json",
        "--html",
        str(html),
        "--csv",
        str(csv_file),
        "--co2-factor",
        "0.5",
        "--co2-source",
        "a study",
    )
    data = json.loads(result.stdout)
    boxes = {m["name"]: m for m in data["mailboxes"]}
    assert boxes["snap-alice"]["freed_bytes"] == freed
    assert boxes["snap-alice"]["messages_removed"] == 5
    assert boxes["snap-alice"]["trash_growth_bytes"] == in_trash
    assert data["organisation"]["trash_pending_bytes"] == in_trash
    assert all(boxes[u]["freed_bytes"] == 0 for u in ("snap-bob", "snap-carol", "snap-dave"))
    teams = {t["name"]: t for t in data["teams"]}
    assert teams["Finances"]["freed_bytes"] == freed and teams["Finances"]["participants"] == 1
    assert teams["Voirie"]["freed_bytes"] == 0
    assert data["organisation"]["freed_bytes"] == freed
    assert data["leaderboard"]["teams"]["by_bytes"][0] == "Finances"
    assert data["co2e_estimate"]["source"] == "a study"
    page = html.read_text(encoding="utf-8")
    assert "Agent A" in page and "Finances" in page and "<script" not in page
    lines = csv_file.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("level,name,team")
    assert any(
        line.startswith("mailbox,snap-alice,Finances,Agent A,compared,1,1,")
        and f",{freed}," in line
        for line in lines
    )
    text = cli("compare", "before", "after").output  # team level, on the terminal
    assert "Finances" in text and "snap-alice" not in text and "Agent A" not in text
    firsts = {line.split()[0] for line in text.splitlines() if "Voirie" in line}
    assert firsts == {"Voirie"}  # Voirie freed nothing: no rank
    assert any(line.split()[:2] == ["1", "Finances"] for line in text.splitlines())
    published = cli("compare", "before", "latest", "--json").stdout
    assert "snap-alice" not in published and json.loads(published)["after"]["label"] == "after"


# -- accounts and credentials files ------------------------------------------------------------


def test_accounts_file_errors_name_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(
        "mailbox,team,name\n"  # 1
        "a@x.org,Finances,A\n"  # 2
        "\n"  # 3 blank: skipped
        "# a comment\n"  # 4
        "b@x.org,,B\n"  # 5 no team
        ",Finances,C\n"  # 6 no mailbox
        "A@X.org,RH,A again\n"  # 7 duplicate of line 2
        "d@x.org,RH,D,extra\n"  # 8 too many fields
        "e f@x.org,RH,E\n"  # 9 space in the mailbox
        "g@x.org,RH,G\n",
        encoding="utf-8",
    )
    with pytest.raises(AccountsFileError) as caught:
        read_accounts(path)
    errors = caught.value.errors
    assert [e.split(":")[0] for e in errors] == ["line 5", "line 6", "line 7", "line 8", "line 9"]
    assert "b@x.org has no team" in errors[0]
    assert "already listed on line 2" in errors[2]
    assert "4 fields but the header has 3" in errors[3]
    assert str(caught.value).startswith(f"{path}: line 5")


def test_accounts_file_as_spreadsheets_write_it(tmp_path: Path) -> None:
    path = tmp_path / "agents.csv"
    path.write_text(
        "\ufeffAdresse;Équipe;Nom;imap_login\n"
        "j.dupont@ville.fr;Services techniques;Jeanne Dupont;jdupont\n"
        '"k@ville.fr";"Direction; générale";;\n',
        encoding="utf-8",
    )
    got = read_accounts(path)
    assert [(e.mailbox, e.team, e.display_name, e.login, e.line) for e in got] == [
        ("j.dupont@ville.fr", "Services techniques", "Jeanne Dupont", "jdupont", 2),
        ("k@ville.fr", "Direction; générale", None, None, 3),
    ]
    path.write_bytes("mailbox;service\nh@ville.fr;Écoles\n".encode("cp1252"))
    assert read_accounts(path)[0].team == "Écoles"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("address,name\na@x,A\n", "no team column"),
        ("who,team\na@x,T\n", "no mailbox column"),
        ("mailbox,team,password\na@x,T,secret\n", "passwords go in a separate file"),
        ("mailbox,team\n", "no mailbox listed"),
    ],
)
def test_accounts_file_structure_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "a.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AccountsFileError, match=message):
        read_accounts(path)


def test_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "mailbox,password,imap_login\nA@x.org, spaced pw ,alogin\nb@x.org,pw,\n"
        "a@x.org,again,\nc@x.org,,\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    assert credentials_warning(path) is None
    with pytest.raises(AccountsFileError) as caught:
        read_credentials(path)
    assert [e.split(":")[0] for e in caught.value.errors] == ["line 4", "line 5"]
    path.write_text(
        "mailbox,password,imap_login\nA@x.org,pw1,alogin\nb@x.org,pw2,\n", encoding="utf-8"
    )
    creds = read_credentials(path)
    assert (creds["a@x.org"].login, creds["a@x.org"].password) == ("alogin", "pw1")
    assert (creds["b@x.org"].login, creds["b@x.org"].password) == ("b@x.org", "pw2")
    path.chmod(0o640)
    assert "other users can read it" in (credentials_warning(path) or "")


def test_access_logs_in_the_way_each_server_wants() -> None:
    master = Access("h", admin_user="admin", admin_password="pw")
    s = master.settings("jdupont@x.org", None, 30)
    assert (s.user, s.password, s.authzid, s.timeout) == ("jdupont@x.org*admin", "pw", None, 30)
    assert master.settings("jdupont@x.org", "jdupont", 30).user == "jdupont*admin"
    zimbra = Access("h", admin_user="admin", admin_password="pw", login_format="{admin}#{user}")
    assert zimbra.settings("u", None, 30).user == "admin#u"
    proxy = Access("h", mode="proxy", admin_user="admin", admin_password="pw")
    s = proxy.settings("u@x", None, 30)
    assert (s.user, s.password, s.authzid) == ("admin", "pw", "u@x")
    with pytest.raises(ValueError):
        Access("h", admin_user="a", login_format="{admin}")
    with pytest.raises(ValueError):
        Access("h", admin_user="a", login_format="{user}*{nope}")
    assert "pw" not in repr(master) and "pw" not in json.dumps(master.describe())


def test_proxy_authorization_and_tls(full_server: Dovecot, cli: Cli) -> None:
    assert full_server.tls_port and full_server.cafile
    cli(
        "take",
        "--accounts",
        str(cli.accounts),
        "--label",
        "proxy",
        "--server",
        "localhost",
        "--port",
        str(full_server.tls_port),
        "--security",
        "ssl",
        "--cafile",
        str(full_server.cafile),
        "--admin-user",
        "admin",
        "--password-env",
        "ADMIN_PW",
        "--proxy-auth",
    )
    with cli.store() as store:
        measured = rows(store, "proxy")
        options = store.get("proxy").options
    assert options["access"]["mode"] == "proxy" and options["access"]["login_format"] is None
    for user in USERS:
        assert measured[user].bytes == truth(full_server, user)[1]


# -- runner bounds --------------------------------------------------------------------------


def fake_store(tmp_path: Path, count: int) -> tuple[SnapshotStore, int]:
    store = SnapshotStore(tmp_path / f"fake-{count}.db")
    info = store.create(
        "f", "quick", None, {}, ((f"m{i}@x.org", None, f"team {i % 9}", None) for i in range(count))
    )
    return store, info.id


def test_runner_bounds_concurrency_and_memory(tmp_path: Path) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def measure(entry: object, attempt: object) -> MailboxFigures:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.0005)
        with lock:
            state["now"] -= 1
        return MailboxFigures(10, 1000, {"inbox": FolderFigures(1, 10, 1000)})

    peaks = {}
    for count in (200, 2000):
        store, sid = fake_store(tmp_path, count)
        tracemalloc.start()
        summary = run(store, sid, measure, RunOptions(concurrency=3))
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert (summary.measured, summary.failed) == (count, 0)
        assert store.get("f").done == count
        store.close()
    assert state["max"] == 3
    # Ten times the mailboxes, about the same memory: nothing accumulates per mailbox.
    assert peaks[2000] < peaks[200] * 1.5, peaks


def test_runner_records_a_bug_and_goes_on(tmp_path: Path) -> None:
    store, sid = fake_store(tmp_path, 3)

    def measure(entry: SimpleNamespace, attempt: object) -> MailboxFigures:
        if entry.mailbox == "m1@x.org":
            raise ZeroDivisionError("oops")
        return MailboxFigures(1, 2)

    seen: list[tuple[str, bool]] = []

    class Progress(SnapshotProgress):
        def mailbox(self, mailbox: str, ok: bool, error: str | None) -> None:
            seen.append((mailbox, ok))

    run(store, sid, measure, RunOptions(concurrency=1), Progress())
    assert seen == [("m0@x.org", True), ("m1@x.org", False), ("m2@x.org", True)]
    assert store.failures(sid) == [("m1@x.org", "internal error: ZeroDivisionError: oops")]
    store.close()


# -- command line ----------------------------------------------------------------------------


def test_list_show_remove_and_one_line_errors(full_server: Dovecot, cli: Cli) -> None:
    cli("list")
    assert "no snapshot yet" in cli("list").output
    cli.take(full_server, "jan")
    listed = json.loads(cli("list", "--json").stdout)
    assert [(s["label"], s["state"], s["done"], s["mailboxes"]) for s in listed] == [
        ("jan", "complete", 4, 4)
    ]
    shown = json.loads(cli("show", "jan", "--json").stdout)
    assert {t["team"]: t["measured"] for t in shown["teams"]} == {"Finances": 2, "Voirie": 2}
    assert "by_mailbox" not in shown and "snap-alice" not in json.dumps(shown)
    per_box = json.loads(cli("show", "jan", "--by", "mailbox", "--json").stdout)
    alice = next(m for m in per_box["by_mailbox"] if m["mailbox"] == "snap-alice")
    assert alice["bytes"] == truth(full_server, "snap-alice")[1]
    assert "Agent A" in cli("show", "jan", "--by", "mailbox").output
    # Errors: one clear line, no traceback.
    out = cli("show", "feb", code=1).output
    assert "no snapshot feb" in out and "Traceback" not in out
    out = cli.take(full_server, "jan", code=1).output
    assert "exists already" in out
    bad = cli.tmp / "bad.csv"
    bad.write_text("mailbox,team\nx@y,\n", encoding="utf-8")
    out = cli(
        "take",
        "--accounts",
        str(bad),
        "--server",
        "h",
        "--admin-user",
        "a",
        "--password-env",
        "ADMIN_PW",
        code=1,
    ).output
    assert "line 2: mailbox x@y has no team" in out
    assert "--accounts FILE is required" in cli("take", "--server", "h", code=2).output
    out = cli.take(full_server, "fmt", "--login-format", "{admin}", code=2).output
    assert "{user}" in out
    out = cli("compare", "jan", "jan", code=1).output
    assert "two different snapshots" in out
    cli("remove", "jan", "--yes")
    assert json.loads(cli("list", "--json").stdout) == []


def test_default_file_is_beside_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = SimpleNamespace(db_path=tmp_path / "data" / "index.db")

    root.add_command(snapshot)
    result = CliRunner().invoke(root, ["snapshot", "list", "--json"], catch_exceptions=False)
    assert result.exit_code == 0 and json.loads(result.output) == []
    assert (tmp_path / "data" / "snapshots.db").exists()
    monkeypatch.setenv("MAILCLEAN_SNAPSHOTS", str(tmp_path / "env.db"))
    CliRunner().invoke(root, ["snapshot", "list"], catch_exceptions=False)
    assert (tmp_path / "env.db").exists()


def test_an_index_is_never_used_as_snapshot_file(tmp_path: Path) -> None:
    from mailclean.index import Index
    from mailclean.snapshot import SnapshotError

    Index(tmp_path / "index.db").close()
    with pytest.raises(SnapshotError, match="is a mailclean index"):
        SnapshotStore(tmp_path / "index.db")


def test_category_columns() -> None:
    assert category_column("large-attachments") == "large_attachments_bytes"
    assert os.sep not in category_column("x")


# -- Exchange (EWS) through impersonation ------------------------------------------------

EWS_ADMIN = ("MAIRIE\\snap-admin", ADMIN_PASSWORD)
EWS_MAILBOXES = {
    "agent.a@mairie.example": ("Finances", lambda: alice_corpus()),
    "agent.b@mairie.example": ("Finances", lambda: bob_corpus()),
    "agent.c@mairie.example": ("Voirie", lambda: carol_corpus()),
}
EWS_TOP_ROLES = {
    "Sent Items": "sent",
    "Drafts": "drafts",
    "Deleted Items": "trash",
    "Junk Email": "junk",
    "Archives": "archive",
}


@pytest.fixture(scope="module")
def ews_running() -> Iterator[object]:
    from tests.ews import EwsServer

    with EwsServer() as ews:
        yield ews


@pytest.fixture
def ews(ews_running: object, monkeypatch: pytest.MonkeyPatch) -> object:
    """The loopback EWS server with three mailboxes, demanding the admin's password; it
    records which mailbox each request impersonated."""
    server: object = ews_running
    server.reset()  # type: ignore[attr-defined]
    server.credentials = EWS_ADMIN  # type: ignore[attr-defined]
    for email, (_team, messages) in EWS_MAILBOXES.items():
        server.seed(messages(), email=email)  # type: ignore[attr-defined]
        server.mailbox(email).quota_kb = 1024 * 1024  # type: ignore[attr-defined]
    seen: list[str] = []
    handle = server.handle  # type: ignore[attr-defined]

    def recording(body: bytes, anchor: str | None) -> tuple[int, str | None]:
        text = body.decode("utf-8", "replace")
        if "ExchangeImpersonation" in text:
            seen.append(text.split("PrimarySmtpAddress>", 1)[1].split("<", 1)[0].lower())
        return handle(body, anchor)

    monkeypatch.setattr(server, "handle", recording)
    server.impersonated = seen  # type: ignore[attr-defined]
    return server


def ews_truth(server: object, email: str) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """The EWS server's own figures: messages, bytes, and (messages, bytes) per role."""
    roles: dict[str, tuple[int, int]] = {}
    for path, (messages, size) in server.mailbox(email).truth().items():  # type: ignore[attr-defined]
        top = path.split("/")[0]
        role = ("inbox" if path == "Inbox" else "other") if top == "Inbox" else None
        role = role or EWS_TOP_ROLES.get(top, "other")
        m, b = roles.get(role, (0, 0))
        roles[role] = (m + messages, b + size)
    return (sum(m for m, _ in roles.values()), sum(b for _, b in roles.values()), roles)


def ews_take(cli: Cli, server: object, label: str, *extra: str, code: int = 0) -> Result:
    return cli(
        "take",
        "--label",
        label,
        "--ews",
        server.url,  # type: ignore[attr-defined]
        "--admin-user",
        EWS_ADMIN[0],
        "--password-env",
        "ADMIN_PW",
        "--auth",
        "basic",
        "--accounts",
        str(cli.accounts),
        *extra,
        code=code,
    )


def ews_accounts(cli: Cli, *extra: str) -> None:
    lines = [f"{email},{team}" for email, (team, _m) in EWS_MAILBOXES.items()]
    cli.accounts.write_text("mailbox,team\n" + "\n".join([*lines, *extra]) + "\n", "utf-8")


def test_quick_snapshot_on_exchange_through_impersonation(ews: object, cli: Cli) -> None:
    ews_accounts(cli)
    result = ews_take(cli, ews, "ews-before")
    assert "3 of 3 mailboxes measured, 0 failed" in result.output
    with cli.store() as store:
        measured = rows(store, "ews-before")
        info = store.get("ews-before")
    assert info.state == "complete" and info.depth == "quick"
    assert info.options["access"]["kind"] == "ews"
    assert ADMIN_PASSWORD not in json.dumps(info.options)
    teams: dict[str, tuple[int, int]] = {}
    for email, (team, _m) in EWS_MAILBOXES.items():
        messages, size, roles = ews_truth(ews, email)
        row = measured[email]
        assert (row.state, row.messages, row.bytes) == ("done", messages, size)
        assert {r: v for r, v in row.roles.items()} == {
            r: v for r, v in roles.items() if r in row.roles
        }
        assert set(roles) - set(row.roles) <= {r for r, v in roles.items() if v == (0, 0)}
        assert (row.quota_used, row.quota_limit) == (size, 2**30)
        t = teams.get(team, (0, 0))
        teams[team] = (t[0] + messages, t[1] + size)
    assert measured["agent.a@mairie.example"].roles["trash"][1] > 0
    # Every mailbox was opened as the admin, impersonating it.
    assert set(ews.impersonated) == set(EWS_MAILBOXES)  # type: ignore[attr-defined]
    shown = json.loads(cli("show", "ews-before", "--json").output)
    assert {t["team"]: (t["messages"], t["bytes"]) for t in shown["teams"]} == teams
    assert info.bytes == sum(b for _, b in teams.values())


def test_exchange_unknown_mailbox_fails_alone_and_resumes_as_ews(ews: object, cli: Cli) -> None:
    ews_accounts(cli, "nobody@mairie.example,Voirie")
    result = ews_take(cli, ews, "ews-ghost", code=3)
    assert "3 of 4 mailboxes measured, 1 failed" in result.output
    with cli.store() as store:
        measured = rows(store, "ews-ghost")
    ghost = measured.pop("nobody@mairie.example")
    assert ghost.state == "failed" and "has no mailbox" in (ghost.error or "")
    with cli.store() as store:
        (attempts,) = store.conn.execute(
            "SELECT attempts FROM snapshot_mailboxes WHERE mailbox = ?",
            ["nobody@mairie.example"]).fetchone()
    assert attempts == 1  # a mailbox the server does not have is not tried again
    assert all(r.state == "done" for r in measured.values())
    # --resume remembers the snapshot is on Exchange, and how to log in.
    ews.impersonated.clear()  # type: ignore[attr-defined]
    again = cli("take", "--resume", "--label", "ews-ghost", "--retry-failed", code=3)
    assert "3 of 4 mailboxes measured, 1 failed" in again.output
    assert set(ews.impersonated) == {"nobody@mairie.example"}  # type: ignore[attr-defined]
    wrong = cli(
        "take", "--resume", "--label", "ews-ghost", "--retry-failed", "--server", "imap.example",
        code=2,
    )  # fmt: skip
    assert "--ews" in wrong.output
    both = cli(
        "take", "--accounts", str(cli.accounts), "--ews", "https://x/EWS/Exchange.asmx",
        "--server", "imap.example", "--admin-user", "a", code=2,
    )  # fmt: skip
    assert ("choose one of --server (IMAP), --ews (Exchange), --graph (Exchange Online) and"
            " --maildir-root") in both.output


def test_the_imap_connector_names_other_users_and_shared_namespaces() -> None:
    """What quick_figures leaves out as someone else's volume comes from NAMESPACE (RFC
    2342), read by the connector itself (no reaching into its client)."""
    from mailclean.connectors.imap import ImapConnector, ImapSettings

    conn = ImapConnector(ImapSettings(host="h", port=None, user="u", password="p"))
    assert conn.foreign_prefixes() == ()  # not connected: nothing to ask
    conn.client = SimpleNamespace(namespace=lambda: SimpleNamespace(  # type: ignore[assignment]
        personal=((b"", b"/"),), other=((b"Other Users/", b"/"),), shared=(("Public/", "/"),)))
    conn.capabilities = frozenset({"NAMESPACE"})
    assert conn.foreign_prefixes() == ("Other Users/", "Public/")
    conn.capabilities = frozenset()
    assert conn.foreign_prefixes() == ()
