"""mailclean's IMAP code against real servers other than Dovecot (issue 13, items 1 and 3).

The same paths as the Dovecot tests (``ImapConnector``, ``sync_account``, plan / execute /
undo / resume, the journal and its freed figures) run against:

- **Cyrus IMAP 3.6** (``tests/support/cyrus.py``): MOVE, UIDPLUS, QRESYNC, ESEARCH,
  SPECIAL-USE, STATUS=SIZE, QUOTA;
- **GNU Mailutils imap4d 3.15** (``tests/support/mailutils.py``): none of those, so moves
  are COPY + ``\\Deleted`` + EXPUNGE and the copies are found afterwards by Message-ID; and
  a UID set whose ends fall where a message was expunged is misread (answered BAD, or for
  other messages than named), which every sync after an expunge meets.

The oracle is each server's own count (Cyrus's index headers through ``mbexamine``, the
Mailutils Maildir's files) and what another client reads, message by message (Message-ID,
size, flags): never mailclean's index.
"""

from __future__ import annotations

import contextlib
import imaplib
import itertools
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import imapclient
import pytest

from mailclean import actions, mime
from mailclean.connectors import imapwire
from mailclean.connectors.base import MessagesAdded
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.connectors.imap import limits as imap_limits
from mailclean.index import Index
from mailclean.index.journal import Journal, JournalItem
from mailclean.mailgen import GeneratedMessage
from mailclean.sync import SyncReport, sync_account
from tests.support import stop_after_the_first_batch
from tests.support.corpora import smallest_mailbox

if TYPE_CHECKING:
    from tests.support.cyrus import Cyrus
    from tests.support.mailutils import Mailutils

USER, PASSWORD, ACCOUNT = "user1", "secret1", "work"
SERVERS = ("cyrus", "mailutils")
NEWS = "news@lettres.example"
PEOPLE = ("alice@example.org", "bob@example.org", "chloe@example.org")
#: The newsletters: what the action tests select (flagged ones are protected).
NEWSLETTERS = actions.Selection(senders=(NEWS,))
IDS = itertools.count(1)


def mail(
    folder: str,
    sender: str = PEOPLE[0],
    lines: int = 3,
    flags: tuple[str, ...] = (),
    subject: str | None = None,
) -> GeneratedMessage:
    """A small message with a Message-ID of its own (CRLF, 8-bit body)."""
    n = next(IDS)
    subject = subject or f"Message {n} é"
    body = "".join(f"Ligne {i} du message {n}, avec des accents : été.\r\n" for i in range(lines))
    msgid = f"m{n}.{len(body)}@mailclean.test"
    when = datetime(2024, 6, 3, 12, 5, tzinfo=UTC) + timedelta(minutes=n)
    raw = (
        f"From: {sender}\r\nTo: {USER}@example.org\r\nSubject: {subject}\r\n"
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <{msgid}>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}"
    ).encode()
    return GeneratedMessage(
        folder=folder, raw=raw, flags=frozenset(flags), internal_date=when, kind="personal",
        message_id=msgid, subject=subject, sender=sender, sender_name=None, date=when,
        thread_root=None, list_id=None, list_unsubscribe=None, list_unsubscribe_post=None,
        precedence=None, auto_submitted=None, attachments=(), malformed=None,
    )


def action_mailbox() -> list[GeneratedMessage]:
    """Newsletters among personal mail: the first and the last of INBOX are newsletters (the
    folder's lowest and highest UIDs), two are flagged (protected); in the accented folder
    three follow each other (a block of UIDs that a move leaves as a gap) and the last is
    one; the Trash already holds one."""
    out = []
    for i in range(30):
        news = i % 3 == 0 or i == 29
        flags: tuple[str, ...] = ("\\Seen",) if i % 2 else ()
        if news and i in (9, 18):
            flags += ("\\Flagged",)
        out.append(mail("INBOX", NEWS if news else PEOPLE[i % 3], 3 + (37 * i) % 190, flags))
    for i in range(10):
        news = i in (1, 2, 3, 9)
        out.append(mail("Projets/Délibérations", NEWS if news else PEOPLE[i % 3], 4 + 11 * i))
    out += [mail("Sent", PEOPLE[1], 8, ("\\Seen",)) for _ in range(3)]
    out += [mail("Trash", s, 5, ("\\Seen",)) for s in (PEOPLE[2], NEWS, PEOPLE[0])]
    return out


# -- the boxes --------------------------------------------------------------------------------


@dataclass
class Box:
    """A server's mailbox of ``user1``, an index of it, and another client's view of it.

    Not the review app's :class:`tests.support.review.Store`, though both pair a seeded
    store with its index: a Store is what the app is handed (a config file, the path of an
    index already synced and scanned, a connector factory taking the account's config,
    folder totals as the oracle) over Maildir, Dovecot and Exchange. A Box drives the
    library itself on an open index, with whichever ``ImapConnector`` subclass a test
    wants, and reads Cyrus or Mailutils message by message as another client (Message-ID,
    size, \\Seen, \\Flagged; UIDs; exact-UID expunges; Mailutils' files not yet adopted),
    because totals alone would not show what those servers get wrong.
    """

    name: str
    server: Any  # Cyrus | Mailutils
    index: Index

    def connector(self, cls: type[ImapConnector] = ImapConnector,
                  connect: bool = True) -> ImapConnector:
        c = cls(ImapSettings(self.server.host, USER, PASSWORD, port=self.server.port,
                             security="none"))
        if connect:
            c.connect()
        return c

    def sync(self, cls: type[ImapConnector] = ImapConnector, **kw: Any) -> SyncReport:
        return sync_account(self.index, ACCOUNT, self.connector(cls, connect=False),
                            sleep=lambda s: None, **kw)

    def status(self) -> dict[str, tuple[int, int]]:
        """The server's own oracle: {folder: (messages, bytes)}."""
        return dict(self.server.status(USER))

    def indexed(self) -> dict[str, tuple[int, int]]:
        account = self.index.account(ACCOUNT)["id"]
        return {f["name"]: (f["messages"], f["bytes"])
                for f in self.index.stats(account)["folders"]}

    def client(self) -> imapclient.IMAPClient:
        return self.server.client(USER)

    def unadopted(self) -> set[str]:
        """Mailutils: the folders holding files no session has SELECTed yet (in new/)."""
        return {f for f in self.status()
                if any((self.server.folder_path(USER, f) / "new").iterdir())}

    def contents(self, *folders: str) -> dict[str, Counter[tuple[str, int, bool, bool]]]:
        """{folder: Counter of (Message-ID, size, seen, flagged)} as the server holds them:
        Cyrus as another client reads them, Mailutils in its Maildir's files (each IMAP
        command costs imap4d some 40 ms); a message marked \\Deleted shows as
        ``("DELETED " + Message-ID, ...)``."""
        if self.name == "mailutils":
            return {f: Counter(read_maildir(self.server.folder_path(USER, f))) for f in folders}
        out = {}
        client = self.client()
        try:
            for folder in folders:
                out[folder] = Counter(read_folder(client, folder).values())
        finally:
            client.logout()
        return out

    def index_contents(self, *folders: str) -> dict[str, Counter[tuple[str, int, bool, bool]]]:
        """The same, as the index holds it."""
        out: dict[str, Counter[tuple[str, int, bool, bool]]] = {f: Counter() for f in folders}
        for path, msgid, size, seen, flagged in self.index.conn.execute(
            "SELECT f.path, m.message_id, m.size, m.seen, m.flagged FROM messages m"
            " JOIN folders f ON f.id = m.folder_id"
        ):
            if path in out:
                out[path][(msgid or "", size, bool(seen), bool(flagged))] += 1
        return out

    def uids(self, folder: str) -> dict[str, int]:
        """{Message-ID: UID} of ``folder`` (another client's view)."""
        client = self.client()
        try:
            return {v[0]: uid for uid, v in read_folder(client, folder).items()}
        finally:
            client.logout()

    def expunge(self, folder: str, uids: list[int]) -> None:
        """Another client removes ``uids`` (exact UIDs: right on every server)."""
        client = self.client()
        try:
            client.select_folder(folder)
            client.delete_messages(uids)
            client.expunge()
        finally:
            client.logout()


def read_folder(client: imapclient.IMAPClient, folder: str
                ) -> dict[int, tuple[str, int, bool, bool]]:
    """{UID: (Message-ID, size, seen, flagged)} of ``folder``, read by a plain client."""
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    out: dict[int, tuple[str, int, bool, bool]] = {}
    if not uids:
        return out
    data = client.fetch(uids, ["RFC822.SIZE", "FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    for uid, item in data.items():
        header = next(v for k, v in item.items() if k.startswith(b"BODY[HEADER"))
        msgid = mime.normalize_message_id(mime.parse_header_block(header).get("message-id"))
        flags = {f.lower() for f in item[b"FLAGS"]}
        if b"\\deleted" in flags:
            msgid = f"DELETED {msgid}"
        out[uid] = (msgid or "", item[b"RFC822.SIZE"], b"\\seen" in flags,
                    b"\\flagged" in flags)
    return out


def read_maildir(path: Path) -> list[tuple[str, int, bool, bool]]:
    """(Message-ID, size, seen, flagged) of each message file of a Mailutils Maildir: the
    size as imap4d counts it (the file is LF-ended: one more byte per line), the flags
    from the name's ``:2,`` letters."""
    out = []
    for sub in ("cur", "new"):
        for entry in sorted((path / sub).iterdir()):
            if entry.name.startswith("."):
                continue
            data = entry.read_bytes()
            header = data.split(b"\n\n", 1)[0]
            msgid = mime.normalize_message_id(mime.parse_header_block(header).get("message-id"))
            letters = entry.name.rsplit(":2,", 1)[1] if ":2," in entry.name else ""
            if "T" in letters:
                msgid = f"DELETED {msgid}"
            out.append((msgid or "", len(data) + data.count(b"\n"), "S" in letters,
                        "F" in letters))
    return out


@pytest.fixture(autouse=True)
def quick_acks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Acknowledge the server's answers at once (TCP_QUICKACK after each command sent).

    imap4d writes an answer's untagged lines and its tagged line separately: Nagle holds
    the second until the first is acknowledged, which the client's delayed ACK puts off
    by 40 ms, so every command took ~45 ms and these tests most of their time waiting.
    Not a byte on the wire changes, nor any code path of mailclean.
    """
    if not hasattr(socket, "TCP_QUICKACK"):
        return
    original = imaplib.IMAP4.send

    def send(self: imaplib.IMAP4, data: bytes) -> None:
        original(self, data)
        with contextlib.suppress(OSError, AttributeError):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    monkeypatch.setattr(imaplib.IMAP4, "send", send)


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> Cyrus | Mailutils:
    srv: Cyrus | Mailutils = request.getfixturevalue(request.param)
    srv.reset_user(USER)
    return srv


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = Index(tmp_path / "index.db")
    yield idx
    idx.close()


def make_box(server: Cyrus | Mailutils, index: Index) -> Box:
    name = "cyrus" if type(server).__name__ == "Cyrus" else "mailutils"
    return Box(name, server, index)


@pytest.fixture
def box(server: Cyrus | Mailutils, index: Index) -> Box:
    """The action mailbox, seeded and indexed."""
    b = make_box(server, index)
    server.seed(USER, action_mailbox())
    report = b.sync()
    assert report.count_mismatches == []
    assert b.indexed() == b.status()
    return b


def assert_index_is_the_server(box: Box, report: SyncReport, *folders: str) -> None:
    """Count and bytes of every folder as the server's oracle has them, nothing reported
    missing; and message for message in ``folders``."""
    assert report.count_mismatches == []
    assert box.indexed() == box.status()
    if folders:
        assert box.index_contents(*folders) == box.contents(*folders)
    duplicates = box.index.conn.execute(
        "SELECT count(*) FROM (SELECT folder_id, server_id FROM messages GROUP BY 1, 2"
        " HAVING count(*) > 1)").fetchone()[0]
    assert duplicates == 0


def assert_new_and_removed(box: Box, report: SyncReport, before: dict[str, tuple[int, int]],
                           added: dict[str, int], removed: dict[str, int]) -> None:
    """The sync found what another client added and removed, folder by folder.

    A folder whose UIDVALIDITY the server changed is indexed afresh: all it holds is new,
    all it held removed. Cyrus never changes it here. Mailutils does, at every look, at a
    folder holding mail no client has SELECTed yet (files in the Maildir's new/) once the
    clock has passed a second: such a folder may be indexed afresh, never another one.
    """
    resets = set(report.reset_folders)
    if box.name == "cyrus":
        assert not resets
    else:
        assert resets <= box.unadopted()
    now = box.indexed()
    folders = set(added) | set(removed) | resets
    new = sum(now[f][0] if f in resets else added.get(f, 0) for f in folders)
    gone = sum(before.get(f, (0, 0))[0] if f in resets else removed.get(f, 0) for f in folders)
    assert (report.new, report.removed) == (new, gone), resets


# -- 1. sync: cold, then incremental after another client's changes ---------------------------


def test_cold_then_incremental_sync_is_the_server(server: Cyrus | Mailutils,
                                                   index: Index) -> None:
    box = make_box(server, index)
    corpus = smallest_mailbox()
    server.seed(USER, corpus)
    report = box.sync()
    assert report.new == len(corpus) and report.removed == 0
    assert report.bytes == sum(m.size for m in corpus)
    assert_index_is_the_server(box, report, "INBOX", "Sent", "Projets/Délibérations")

    # Another client: expunges INBOX's newest message (the index's cursor now names no
    # message) and two older ones, the oldest of Sent; re-flags three; new mail arrives
    # above the cursor, in an accented folder, and in a folder created meanwhile.
    client = box.client()
    try:
        client.select_folder("INBOX")
        inbox = client.search("ALL")
        client.delete_messages([inbox[-1], inbox[5], inbox[6]])
        client.expunge()
        client.add_flags(inbox[10:12], [b"\\Flagged"])
        client.remove_flags([inbox[12]], [b"\\Seen"])
        client.add_flags([inbox[12]], [b"\\Flagged"])
        client.select_folder("Sent")
        client.delete_messages(client.search("ALL")[:1])
        client.expunge()
        client.unselect_folder()
        for m in [mail("INBOX", NEWS) for _ in range(3)]:
            client.append("INBOX", m.raw)
        client.append("Projets/Délibérations", mail("Projets/Délibérations").raw)
        client.create_folder("Été 2024")
        for m in (mail("Été 2024", lines=50), mail("Été 2024", lines=1)):
            client.append("Été 2024", m.raw)
    finally:
        client.logout()
    before = box.indexed()
    report = box.sync()
    assert report.folders_added == ["Été 2024"]
    added = {"INBOX": 3, "Projets/Délibérations": 1, "Été 2024": 2}
    removed = {"INBOX": 3, "Sent": 1}
    assert_new_and_removed(box, report, before, added, removed)
    if "INBOX" not in report.reset_folders:
        assert report.flag_changes >= 3  # else the new flags came with the fresh index
    assert_index_is_the_server(box, report, "INBOX", "Sent", "Projets/Délibérations",
                               "Été 2024")

    # Nothing changed: nothing found (but what Mailutils gives a new UIDVALIDITY).
    before = box.indexed()
    report = box.sync()
    assert report.flag_changes == 0
    assert_new_and_removed(box, report, before, {}, {})
    assert_index_is_the_server(box, report)


# -- 2. "GNU Mailutils: 0 of 3,000 messages indexed, silently" -------------------------------


class SearchesUidSets(ImapConnector):
    """The connector as it was when 0 of 3,000 messages were indexed: it listed UIDs with
    ``UID SEARCH UID low:*``, which Mailutils reads as message numbers."""

    def _list_uids(self, low: int, high: int | None = None) -> list[int]:
        span = f"{low}:{high if high is not None else '*'}"
        if "ESEARCH" in self.capabilities:
            return super()._list_uids(low, high)
        return sorted(imapwire.parse_search(self._uid_command("SEARCH", "UID", span)))


def dropping(victim: int) -> type[ImapConnector]:
    """A connector whose fetches lose the message of UID ``victim``, as a server that
    leaves a message out of its answers would."""

    class DropsOne(ImapConnector):
        def _fetch_raw(self, uids: list[int]) -> list:
            return super()._fetch_raw([u for u in uids if u != victim])

    return DropsOne


class StopsAfterOneBatch(ImapConnector):
    """A sync interrupted (Ctrl-C) once the first batch of INBOX is stored."""

    def sync_folder(self, folder, state, known_ids):  # type: ignore[no-untyped-def]
        for change in super().sync_folder(folder, state, known_ids):
            yield change
            if folder.path == "INBOX" and isinstance(change, MessagesAdded):
                raise KeyboardInterrupt


def test_a_sync_resumed_after_the_cursor_message_went_is_exact(
    server: Cyrus | Mailutils, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after its first batch (UIDs 1 and 2), the sync resumes after another client
    expunged UID 2: the known range 1:2 now holds one message and ends where none is,
    which Mailutils answers BAD (the sync failed for good, at every attempt)."""
    box = make_box(server, index)
    server.seed(USER, [mail("INBOX", PEOPLE[i % 3]) for i in range(10)])
    monkeypatch.setattr(imap_limits, "FETCH_CHUNK", 2)
    with pytest.raises(KeyboardInterrupt):
        box.sync(StopsAfterOneBatch)
    inbox = next(f for f in index.folders(1) if f.path == "INBOX")
    assert inbox.state.cursor == 2 and index.count_messages(inbox.id) == 2
    box.expunge("INBOX", [2])
    report = box.sync()
    assert report.reset_folders == []
    assert (report.new, report.removed) == (8, 1)
    assert_index_is_the_server(box, report, "INBOX")


def test_thousands_of_messages_are_all_indexed_and_a_shortfall_is_loud(
    server: Cyrus | Mailutils, index: Index, tmp_path: Path
) -> None:
    box = make_box(server, index)
    # Cyrus appends them one by one: the same paths at a smaller cost.
    count = 3_000 if box.name == "mailutils" else 1_200
    seeded = [mail("INBOX", PEOPLE[i % 3], 1 + i % 4) for i in range(count)]
    server.seed(USER, seeded)

    # A first sync stopped after one batch; then another client expunges the message the
    # index's cursor is at, and two below it: the next sync's range of known messages
    # ends where no message is any more.
    with pytest.raises(KeyboardInterrupt):
        box.sync(StopsAfterOneBatch)
    inbox = next(f for f in index.folders(1) if f.path == "INBOX")
    stored = index.count_messages(inbox.id)
    assert stored == imap_limits.FETCH_CHUNK and inbox.state.cursor == stored
    box.expunge("INBOX", [inbox.state.cursor, inbox.state.cursor - 7, 3])
    report = box.sync()
    assert report.reset_folders == [] and report.reconnections == 0
    assert (report.new, report.removed) == (count - stored, 3)
    assert_index_is_the_server(box, report, "INBOX")
    assert report.messages == count - 3

    # The newest five go and ten old ones; 40 arrive at the top of the UID range.
    client = box.client()
    try:
        client.select_folder("INBOX")
        uids = client.search("ALL")
        client.delete_messages(uids[-5:] + uids[100:110])
        client.expunge()
        client.unselect_folder()
        for i in range(40):
            client.append("INBOX", mail("INBOX", NEWS, 1 + i % 3).raw)
    finally:
        client.logout()
    before = box.indexed()
    report = box.sync()
    assert_new_and_removed(box, report, before, {"INBOX": 40}, {"INBOX": 15})
    assert_index_is_the_server(box, report, "INBOX")
    total = count - 3 - 15 + 40
    assert report.messages == total

    # A connector that misses a message is caught by the count check, never silently.
    victim = sorted(int(s) for s in index.known_ids(inbox.id))[total // 3]  # an old one
    other = Index(tmp_path / "dropping.db")
    try:
        report = sync_account(other, ACCOUNT, box.connector(dropping(victim), connect=False),
                              sleep=lambda s: None, folders=["INBOX"])
        assert report.count_mismatches == [("INBOX", total, total - 1)]
    finally:
        other.close()
    # The command that indexed 0 of 3,000 on Mailutils: the count check says so; Cyrus
    # reads the same command right.
    other = Index(tmp_path / "searching.db")
    try:
        report = sync_account(other, ACCOUNT, box.connector(SearchesUidSets, connect=False),
                              sleep=lambda s: None, folders=["INBOX"])
        if box.name == "mailutils":
            assert report.count_mismatches == [("INBOX", total, 0)]
        else:
            assert report.count_mismatches == [] and report.new == total
    finally:
        other.close()


# -- 3. trash, undo, then delete from the Trash -------------------------------------------------


FOLDERS = ("INBOX", "Projets/Délibérations", "Sent", "Trash")


def planned_keys(p: actions.Plan, box: Box, before: dict[str, Counter]) -> dict[str, Counter]:
    """The planned messages as the server showed them before: {folder: Counter of keys}."""
    by_id = {key[0]: key for folder in before.values() for key in folder}
    out: dict[str, Counter] = {}
    for item in p.items:
        out.setdefault(item.folder, Counter())[by_id[item.message_id or ""]] += 1
    return out


def test_trash_undo_then_delete_from_the_trash(box: Box) -> None:
    before = box.contents(*FOLDERS)
    status_before = box.status()
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    # 11 newsletters in INBOX (2 flagged: protected), 4 in the accented folder, 1 in the
    # Trash already.
    assert (p.messages, p.protected, p.already_there) == (13, 2, 1)
    assert p.target == "Trash"
    chosen = planned_keys(p, box, before)
    moved = sum(chosen.values(), Counter())
    c = box.connector()
    try:
        outcome = actions.execute(box.index, c, p)
    finally:
        c.close()
    assert outcome.action.state == "done" and outcome.skipped == []
    assert outcome.action.count("done") == (p.messages, p.bytes)

    # Exactly the planned messages left their folders and are in the Trash, flags and
    # all (a COPY made before the \Deleted mark: the copies are not marked).
    after = box.contents(*FOLDERS)
    for folder in ("INBOX", "Projets/Délibérations", "Sent"):
        assert after[folder] == before[folder] - chosen.get(folder, Counter()), folder
    assert after["Trash"] == before["Trash"] + moved
    status = box.status()
    for folder, (n, size) in status_before.items():
        dn, db = p.folders.get(folder, (0, 0))
        if folder == "Trash":
            dn, db = -p.messages, -p.bytes
        assert status[folder] == (n - dn, size - db), folder
    report = box.sync(folders=FOLDERS)
    assert report.removed == 0
    assert_index_is_the_server(box, report, *FOLDERS)
    freed = Journal(box.index).freed(1)
    assert freed["trashed_bytes"] == freed["still_in_trash_bytes"] == p.bytes
    assert freed["still_in_trash_messages"] == p.messages
    assert freed["deleted_bytes"] == freed["freed_on_server_bytes"] == 0

    # Undo: every message back where it was, nothing else moved.
    c = box.connector()
    try:
        _undo_plan, undone = actions.undo(box.index, c, ACCOUNT, outcome.action.id)
    finally:
        c.close()
    assert undone is not None and undone.action.state == "done"
    assert undone.action.count("done") == (p.messages, p.bytes)
    assert box.contents(*FOLDERS) == before
    assert box.status() == status_before
    report = box.sync(folders=FOLDERS)
    assert_index_is_the_server(box, report, *FOLDERS)
    journal = Journal(box.index)
    assert journal.action(outcome.action.id).state == "undone"  # type: ignore[union-attr]
    freed = journal.freed(1)
    assert (freed["restored_messages"], freed["restored_bytes"]) == (p.messages, p.bytes)
    assert freed["trashed_bytes"] == freed["still_in_trash_bytes"] == 0

    # Trash again, then delete from the Trash: the explicit, permanent second step.
    again = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    assert sorted(i.message_id or "" for i in again.items) == sorted(
        i.message_id or "" for i in p.items)
    c = box.connector()
    try:
        assert actions.execute(box.index, c, again).action.state == "done"
    finally:
        c.close()
    trashed = box.contents(*FOLDERS)
    status = box.status()
    trash_total = status["Trash"]
    assert trash_total == (status_before["Trash"][0] + p.messages,
                           status_before["Trash"][1] + p.bytes)
    removal = actions.plan(box.index, ACCOUNT, "delete", actions.Selection(folders=("Trash",)))
    assert removal.outside_trash == 0 and removal.frees_now
    assert (removal.messages, removal.bytes) == trash_total
    c = box.connector()
    try:
        deleted = actions.execute(box.index, c, removal)
    finally:
        c.close()
    assert deleted.action.state == "done"
    assert deleted.action.count("done") == trash_total
    final = box.status()
    assert final["Trash"] == (0, 0)
    assert {f: v for f, v in final.items() if f != "Trash"} == {
        f: v for f, v in status.items() if f != "Trash"}
    after_delete = box.contents(*FOLDERS)
    assert {f: after_delete[f] for f in FOLDERS if f != "Trash"} == {
        f: trashed[f] for f in FOLDERS if f != "Trash"}
    report = box.sync(folders=FOLDERS)
    assert_index_is_the_server(box, report, *FOLDERS)
    freed = Journal(box.index).freed(1)
    assert freed["deleted_from_trash_bytes"] == p.bytes
    assert freed["deleted_from_trash_messages"] == p.messages
    assert freed["still_in_trash_bytes"] == 0 and freed["left_trash_bytes"] == 0
    # Everything the Trash held is gone for good: the server's own bytes, to the byte.
    assert (freed["deleted_messages"], freed["deleted_bytes"]) == trash_total
    # Trashed then deleted by mailclean counts once: what left the mailbox's folders is
    # exactly what the Trash held (the planned messages, and those already there).
    assert (freed["messages"], freed["bytes"]) == trash_total
    assert freed["freed_on_server_bytes"] == sum(b for _n, b in status.values()) - sum(
        b for _n, b in final.values())
    if box.name == "cyrus":
        # The quota mailclean recorded around the delete is the server's (KiB, rounded
        # down by Cyrus).
        row = Journal(box.index).action(deleted.action.id)
        assert row is not None
        assert row.quota_after == box.server.quota(USER)[0] * 1024
        assert row.quota_before == sum(b for _n, b in status.values()) // 1024 * 1024


# -- 4. resume after an interrupted trash: what was flagged meanwhile stays -------------------


def test_resume_leaves_alone_what_was_flagged_meanwhile(box: Box) -> None:
    before = box.contents(*FOLDERS)
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    chosen = planned_keys(p, box, before)
    stopping, cancel = stop_after_the_first_batch()

    c = box.connector()
    try:
        outcome = actions.execute(box.index, c, p, progress=stopping, cancel=cancel,
                                  batch=3)
    finally:
        c.close()
    assert outcome.action.state == "cancelled"
    journal = Journal(box.index)
    left = journal.items(outcome.action.id, ["pending"])
    done_first = journal.items(outcome.action.id, ["done"])
    assert len(left) >= 6 and len(done_first) + len(left) == p.messages
    # The user flags three of those still to do, in both folders.
    by_folder: dict[str, list[JournalItem]] = {}
    for item in (left[0], left[-2], left[-1]):
        by_folder.setdefault(item.folder, []).append(item)
    assert len(by_folder) == 2
    client = box.client()
    try:
        for folder, items in by_folder.items():
            client.select_folder(folder)
            client.add_flags([int(i.server_id) for i in items], [b"\\Flagged"])
        client.unselect_folder()
    finally:
        client.logout()
    flagged = {(i.folder, i.server_id) for items in by_folder.values() for i in items}
    flagged_ids = {i.message_id for items in by_folder.values() for i in items}
    c = box.connector()
    try:
        resumed = actions.resume(box.index, c, ACCOUNT, outcome.action.id)
    finally:
        c.close()
    assert resumed.action.state == "partial"
    assert {(f, s): r for f, s, r in resumed.skipped} == dict.fromkeys(flagged, "flagged")
    assert resumed.action.count("done")[0] == p.messages - 3
    after = box.contents(*FOLDERS)
    for folder in ("INBOX", "Projets/Délibérations"):
        kept = Counter({k: n for k, n in chosen[folder].items() if k[0] in flagged_ids})
        # The flagged ones are still there (now flagged); the other chosen ones left.
        expected = before[folder] - chosen[folder] + Counter(
            {(k[0], k[1], k[2], True): n for k, n in kept.items()})
        assert after[folder] == expected, folder
    moved = sum(chosen.values(), Counter())
    moved = Counter({k: n for k, n in moved.items() if k[0] not in flagged_ids})
    assert after["Trash"] == before["Trash"] + moved
    report = box.sync(folders=FOLDERS)
    assert_index_is_the_server(box, report, *FOLDERS)


# -- 5. a message vanished between the plan and the action ------------------------------------


def test_a_message_expunged_after_the_plan_is_skipped_and_the_rest_done(box: Box) -> None:
    before = box.contents(*FOLDERS)
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    chosen = planned_keys(p, box, before)
    # Another client removes the folder's lowest UID in INBOX and the highest in the
    # accented folder: the UIDs a server that misreads missing UIDs answers for others.
    inbox = [i for i in p.items if i.folder == "INBOX"]
    projets = [i for i in p.items if i.folder == "Projets/Délibérations"]
    lowest, highest = inbox[0], projets[-1]
    assert int(lowest.server_id) == min(box.uids("INBOX").values())
    assert int(highest.server_id) == max(box.uids("Projets/Délibérations").values())
    box.expunge("INBOX", [int(lowest.server_id)])
    box.expunge("Projets/Délibérations", [int(highest.server_id)])
    gone = {lowest.message_id, highest.message_id}
    c = box.connector()
    try:
        outcome = actions.execute(box.index, c, p)
    finally:
        c.close()
    assert outcome.action.state == "partial"
    assert sorted(outcome.skipped) == sorted([
        ("INBOX", lowest.server_id, "vanished"),
        ("Projets/Délibérations", highest.server_id, "vanished"),
    ])
    assert outcome.action.count("done") == (
        p.messages - 2, p.bytes - lowest.size - highest.size)
    after = box.contents(*FOLDERS)
    for folder in ("INBOX", "Projets/Délibérations"):
        assert after[folder] == before[folder] - chosen[folder], folder
    moved = sum(chosen.values(), Counter())
    assert after["Trash"] == before["Trash"] + Counter(
        {k: n for k, n in moved.items() if k[0] not in gone})
    assert after["Sent"] == before["Sent"]
    report = box.sync(folders=FOLDERS)
    assert_index_is_the_server(box, report, *FOLDERS)
    freed = Journal(box.index).freed(1)
    assert freed["still_in_trash_bytes"] == p.bytes - lowest.size - highest.size

