"""Faults on the wire between mailclean and a real Dovecot (tests/support/faultproxy.py).

Cuts at chosen bytes and commands, a link that drops every 200 kB, a server that stops
answering for good, cuts during the greeting and the login, during sync (cold and
incremental), trash, delete, undo, resume and snapshots. The oracle is always the server
itself (``doveadm`` and a direct IMAP session), never mailclean's index: after the fault
(and a re-run where one is needed) the index and the journal equal the server, nothing
outside the selection was touched and no message was lost.

The retry policy is shrunk (timeouts of a fraction of a second, deadlines of a few
seconds) so that a dead server costs seconds here; each bound asserted is computed from
those parameters.
"""

from __future__ import annotations

import functools
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailclean import actions, mailgen
from mailclean.connectors.base import AuthenticationError, ConnectionFailed
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.index import Index
from mailclean.index.journal import DONE, Journal
from mailclean.rules import load_rules, scan
from mailclean.snapshot.measure import Access, ImapMeasure
from mailclean.snapshot.runner import RunOptions, run
from mailclean.snapshot.store import SnapshotStore
from mailclean.sync import SyncProgress, sync_account
from tests.dovecot import Dovecot
from tests.support.corpora import bulk_mailbox, large_mailbox, standard_mailbox
from tests.support.faultproxy import FaultProxy

USER, PASSWORD = "user1", "secret1"
ACCOUNT = "work"

#: What no message shown to a person may hold: protocol bytes, reprs, tracebacks.
PROTOCOL = re.compile(
    r"b'|b\"|\* \d+ |FETCH|unterminated|socket error|Traceback|\\r\\n|command: |=>", re.I
)


def assert_plain(text: str) -> None:
    assert not PROTOCOL.search(text), f"protocol bytes or a traceback shown: {text!r}"


def bulk_corpus() -> tuple[mailgen.GeneratedMessage, ...]:
    """5,000 messages; the inbox's 2,064 are parsed by worker processes."""
    return bulk_mailbox(5000, 5)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = Index(tmp_path / "index.db")
    yield idx
    idx.close()


def proxied(server: Dovecot, proxy: FaultProxy, **kw: object) -> ImapConnector:
    settings: dict = dict(host="127.0.0.1", port=proxy.port, user=USER, password=PASSWORD,
                          security="none")
    settings.update(kw)
    return ImapConnector(ImapSettings(**settings))


def direct(server: Dovecot) -> ImapConnector:
    return ImapConnector(ImapSettings(server.host, USER, PASSWORD, port=server.port,
                                      security="none"))


def server_messages(server: Dovecot) -> dict[str, dict[int, tuple]]:
    """{folder: {uid: (Message-ID header, size, flags)}}: the server's own view."""
    client = server.client(USER)
    try:
        out: dict[str, dict[int, tuple]] = {}
        for _flags, _delim, name in client.list_folders():
            client.select_folder(name, readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["RFC822.SIZE", "FLAGS",
                                       "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
            out[name] = {
                uid: (
                    item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].strip().lower(),
                    item[b"RFC822.SIZE"],
                    frozenset(f for f in item[b"FLAGS"] if f != b"\\Recent"),
                )
                for uid, item in data.items()
            }
        return out
    finally:
        client.logout()


def indexed(index: Index) -> dict[str, dict[int, tuple[int, bool, bool]]]:
    """{folder: {uid: (size, seen, flagged)}} as the index holds it."""
    out: dict[str, dict[int, tuple[int, bool, bool]]] = {}
    for path, uid, size, seen, flagged in index.db.execute(
        "SELECT f.path, m.uid, m.size, m.seen, m.flagged FROM messages m"
        " JOIN folders f ON f.id = m.folder_id"
    ):
        out.setdefault(path, {})[uid] = (size, bool(seen), bool(flagged))
    return out


def assert_index_equals_server(index: Index, server: Dovecot) -> None:
    truth = server_messages(server)
    want = {
        folder: {uid: (size, b"\\Seen" in flags, b"\\Flagged" in flags)
                 for uid, (_mid, size, flags) in msgs.items()}
        for folder, msgs in truth.items()
    }
    got = indexed(index)
    assert {f: m for f, m in got.items() if m} == {f: m for f, m in want.items() if m}
    acc = index.account(ACCOUNT)["id"]
    per_folder = {f["name"]: (f["messages"], f["bytes"]) for f in index.stats(acc)["folders"]}
    assert per_folder == server.status(USER)


class Retries(SyncProgress):
    """Keeps what the sync would show on each reconnection."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def retry(self, error: str, delay: float) -> None:
        self.errors.append(error)


# -- sync -------------------------------------------------------------------------------------


@pytest.fixture(params=["dovecot", "dovecot_minimal"])
def server(request: pytest.FixtureRequest) -> Dovecot:
    srv: Dovecot = request.getfixturevalue(request.param)
    srv.reset_user(USER)
    srv.seed(USER, standard_mailbox())
    return srv


@pytest.fixture
def proxy(server: Dovecot) -> Iterator[FaultProxy]:
    with FaultProxy(server.host, server.port) as p:
        yield p


# A cold sync of the corpus carries about 310 kB down: cut in the greeting's wake (the
# capabilities, the login), in the middle of the inbox's FETCH, and near the end.
@pytest.mark.parametrize(("at", "how"), [(400, "close"), (60_000, "reset"),
                                          (290_000, "close")])
def test_a_cold_sync_cut_anywhere_then_run_again_equals_the_server(
    index: Index, server: Dovecot, proxy: FaultProxy, at: int, how: str
) -> None:
    fault = proxy.cut_after(at, how=how)
    with pytest.raises(ConnectionFailed) as err:
        # retries=0: the caller retries (as a snapshot's runner does); the cut is seen as is.
        sync_account(index, ACCOUNT, proxied(server, proxy), retries=0)
    assert fault.fired.is_set()
    assert_plain(str(err.value))
    # Whatever was stored is whole: every stored message is on the server as stored.
    truth = server_messages(server)
    for folder, msgs in indexed(index).items():
        for uid, (size, _seen, _flagged) in msgs.items():
            assert truth[folder][uid][1] == size
    stored = sum(len(m) for m in indexed(index).values())
    if at >= 200_000:  # past the inbox's one FETCH (179 messages, about 180 kB)
        assert stored > 0, "batches stored before the cut were lost"
    report = sync_account(index, ACCOUNT, proxied(server, proxy))
    assert report.new == len(standard_mailbox()) - stored
    assert_index_equals_server(index, server)


def test_a_cut_is_retried_within_the_same_sync(
    index: Index, server: Dovecot, proxy: FaultProxy
) -> None:
    proxy.cut_after(150_000, how="reset")
    progress = Retries()
    report = sync_account(index, ACCOUNT, proxied(server, proxy), progress=progress,
                          sleep=lambda s: None)
    assert report.reconnections == 1 and proxy.connections == 2
    assert report.new == len(standard_mailbox())
    assert len(progress.errors) == 1
    assert_plain(progress.errors[0])
    assert_index_equals_server(index, server)


def _change_the_mailbox(server: Dovecot) -> None:
    """Flags changed, messages expunged, new ones, a new folder: what an incremental reads."""
    c = server.client(USER)
    try:
        c.select_folder("INBOX")
        uids = sorted(c.search("ALL"))
        c.add_flags(uids[:7], [b"\\Flagged"])
        c.remove_flags(uids[7:20], [b"\\Seen"])
        c.delete_messages(uids[-5:])
        c.expunge()
        for i in range(4):
            c.append("INBOX", b"From: n@example.org\r\nSubject: new %d\r\n"
                              b"Message-ID: <new-%d@example.org>\r\n\r\nbody\r\n" % (i, i))
        c.create_folder("Nouveau")
        c.append("Nouveau", b"From: n@example.org\r\nSubject: there\r\n\r\nbody\r\n")
        c.select_folder("Sent")
        sent = sorted(c.search("ALL"))
        c.add_flags(sent[:3], [b"\\Seen", b"\\Flagged"])
    finally:
        c.logout()


@pytest.mark.parametrize(
    ("command", "occurrence", "when"),
    [
        # The flag changes and expunges (or the UID list) lost.
        (r"UID FETCH .* \(UID FLAGS\)|UID FETCH 1:\* \(UID\)|UID SEARCH", 1, "answer"),
        (r"UID FETCH \d+:\d+ \(UID RFC822", 1, "before"),   # the new messages never asked
        ("EXAMINE", 3, "answer"),
    ],
    ids=["changes-answer", "new-before", "3rd-examine-answer"],
)
def test_an_incremental_sync_cut_then_run_again_equals_the_server(
    index: Index, server: Dovecot, proxy: FaultProxy, command: str, occurrence: int, when: str
) -> None:
    sync_account(index, ACCOUNT, direct(server))
    _change_the_mailbox(server)
    fault = proxy.on_command(command, occurrence, when=when)
    with pytest.raises(ConnectionFailed) as err:
        sync_account(index, ACCOUNT, proxied(server, proxy), retries=0)
    assert fault.fired.is_set()
    assert_plain(str(err.value))
    sync_account(index, ACCOUNT, proxied(server, proxy))
    assert_index_equals_server(index, server)


def test_a_link_cut_every_200_kb_still_syncs_with_adaptive_batches(
    index: Index, dovecot: Dovecot
) -> None:
    """5,000 messages (4.7 MB of headers and structures; an inbox of 2,064, parsed by worker
    processes while the next batch is read) through a link that breaks every 200 kB: a
    FETCH of 500 messages (about 470 kB) never gets through, so the batch halves after each
    cut and grows back after each success, and what was read before a cut is stored."""
    dovecot.reset_user(USER)
    dovecot.seed(USER, bulk_corpus())
    progress = Retries()
    with FaultProxy(dovecot.host, dovecot.port) as proxy:
        proxy.cut_every(200_000)
        report = sync_account(index, ACCOUNT, proxied(dovecot, proxy), progress=progress,
                              sleep=lambda s: None)
        commands = list(proxy.commands)
    assert report.new == 5000
    assert_index_equals_server(index, dovecot)
    assert report.reconnections >= 20 and proxy.cuts == report.reconnections
    assert progress.errors and all(not PROTOCOL.search(e) for e in progress.errors)
    sizes = []
    for c in commands:
        m = re.match(r"UID FETCH (\d+):(\d+) \(UID RFC822", c)
        if m:
            sizes.append(int(m[2]) - int(m[1]) + 1)
    assert max(sizes) == 500  # the first try, and small folders' whole fetches
    assert min(sizes) <= 125
    # Grew back: a batch larger than the one before it, after a cut had shrunk them.
    first_small = next(i for i, s in enumerate(sizes) if s < 500)
    assert any(b > a for a, b in zip(sizes[first_small:], sizes[first_small + 1:],
                                     strict=False))


def test_what_was_read_before_a_cut_is_kept_when_workers_parse(
    index: Index, dovecot: Dovecot
) -> None:
    """A large folder is read a few batches ahead of what is stored (workers parse them):
    a cut must not throw away the batches read in full before it."""
    dovecot.reset_user(USER)
    dovecot.seed(USER, bulk_corpus())
    with FaultProxy(dovecot.host, dovecot.port) as proxy:
        proxy.cut_after(1_500_000)  # a few batches of 500 into the inbox (2,064 messages)
        with pytest.raises(ConnectionFailed):
            sync_account(index, ACCOUNT, proxied(dovecot, proxy), retries=0)
        commands = list(proxy.commands)
    read = [c for c in commands if re.match(r"UID FETCH \d+:\d+ \(UID RFC822", c)]
    # Every batch but the one cut was stored (before: none, they waited for the workers).
    assert len(read) >= 2
    assert sum(len(m) for m in indexed(index).values()) == 500 * (len(read) - 1)


def test_a_slow_link_is_not_a_dead_one(index: Index, server: Dovecot, proxy: FaultProxy) -> None:
    """1 MB/s with reads that may wait only 0.4 s: slow, but every read gets bytes."""
    proxy.throttle(1_000_000, direction="down")
    started = time.monotonic()
    report = sync_account(index, ACCOUNT, proxied(server, proxy, timeout=0.4), deadline=1.6)
    elapsed = time.monotonic() - started
    assert report.reconnections == 0 and proxy.connections == 1
    assert elapsed >= proxy.bytes_down / 1_000_000 * 0.9  # it was throttled
    assert_index_equals_server(index, server)


# A server that stops answering for good. Bound: the last failure is noticed at most
# ``timeout`` after the last attempt started, and no attempt starts once the deadline has
# passed, so a sync gives up within deadline + timeout of going dead.
TIMEOUT, DEADLINE, BACKOFF = 0.4, 1.6, 0.1
SLACK = 1.0  # the loaded 2-core machine's scheduling, logging out, closing sockets


def test_a_server_dead_for_good_during_a_sync_is_given_up_in_bounded_time(
    index: Index, server: Dovecot, proxy: FaultProxy
) -> None:
    dead = proxy.stall_after(250_000, then=proxy.blackhole)
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as err:
        sync_account(index, ACCOUNT, proxied(server, proxy, timeout=TIMEOUT), retries=50,
                     backoff=BACKOFF, deadline=DEADLINE)
    ended = time.monotonic()
    assert dead.fired_at is not None
    assert TIMEOUT <= ended - dead.fired_at <= DEADLINE + TIMEOUT + SLACK
    assert ended - started <= DEADLINE + TIMEOUT + SLACK + 2
    message = str(err.value)
    assert_plain(message)
    assert "stopped answering" in message
    assert re.search(r"since \d\d:\d\d", message)
    assert "run the sync again" in message
    m = re.search(r"(\d+) new messages? (?:was|were) stored before that", message)
    assert m, message
    stored = sum(len(x) for x in indexed(index).values())
    assert int(m[1]) == stored > 0
    assert proxy.connections >= 2  # it did try again
    proxy.heal()
    sync_account(index, ACCOUNT, proxied(server, proxy))
    assert_index_equals_server(index, server)


# -- login ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    ["greeting", "greeting-reset", "capability", "login-before", "login-answer", "refused"],
)
def test_a_cut_during_the_greeting_or_the_login_is_retried_not_a_wrong_password(
    index: Index, dovecot: Dovecot, fault: str
) -> None:
    dovecot.reset_user(USER)
    dovecot.seed(USER, standard_mailbox()[:50])
    with FaultProxy(dovecot.host, dovecot.port) as proxy:

        def arm() -> None:
            if fault == "greeting":
                proxy.cut_after(12)  # "* OK [CAPAB": an unterminated line
            elif fault == "greeting-reset":
                proxy.cut_after(30, how="reset")
            elif fault == "capability":
                proxy.on_command("CAPABILITY", when="answer")
            elif fault == "login-before":
                proxy.on_command("LOGIN", when="before")
            elif fault == "login-answer":
                proxy.on_command("LOGIN", when="answer")  # logged in, never told
            else:
                proxy.refuse()

        arm()
        with pytest.raises(ConnectionFailed) as err:
            proxied(dovecot, proxy).connect()
        assert not isinstance(err.value, AuthenticationError)
        assert_plain(str(err.value))
        assert "password" not in str(err.value) and "refused the login" not in str(err.value)
        proxy.heal()
        arm()
        if fault == "refused":
            # The server comes back while the sync waits to try again.
            def sleep(seconds: float) -> None:
                proxy.heal()
        else:
            def sleep(seconds: float) -> None:
                pass
        report = sync_account(index, ACCOUNT, proxied(dovecot, proxy), sleep=sleep)
        assert report.reconnections == 1 and report.new == 50
        # The control: a wrong password through the same proxy is a wrong password.
        with pytest.raises(AuthenticationError):
            proxied(dovecot, proxy, password="wrong").connect()
    assert_index_equals_server(index, dovecot)


# -- actions ----------------------------------------------------------------------------------


class Box:
    """A seeded, synced and scanned mailbox behind a proxy."""

    def __init__(self, server: Dovecot, index: Index, proxy: FaultProxy) -> None:
        self.server, self.index, self.proxy = server, index, proxy
        self.move = "UID MOVE" if "MOVE" in self.capabilities() else "UID COPY"

    def capabilities(self) -> frozenset[str]:
        c = direct(self.server)
        c.connect()
        try:
            return c.capabilities
        finally:
            c.close()

    def connector(self, **kw: object) -> ImapConnector:
        c = proxied(self.server, self.proxy, **kw)
        c.connect()
        return c


@pytest.fixture(params=["dovecot", "dovecot_nomove"])
def box(request: pytest.FixtureRequest, index: Index) -> Iterator[Box]:
    server: Dovecot = request.getfixturevalue(request.param)
    server.reset_user(USER)
    server.seed(USER, large_mailbox())
    sync_account(index, ACCOUNT, direct(server))
    scan(index, ACCOUNT, load_rules())
    with FaultProxy(server.host, server.port) as proxy:
        yield Box(server, index, proxy)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Actions retry at once (the default waits 1, 2, 4 s between attempts)."""
    monkeypatch.setattr(actions.runner, "Runner", functools.partial(actions.runner.Runner,
                                                              sleep=lambda s: None))


def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions.runner, "Runner",
                        functools.partial(actions.runner.Runner, retries=0))


NEWSLETTERS = actions.Selection(rules=("newsletters",))


def _identity(entry: tuple) -> tuple:
    return entry[0], entry[1]


def assert_moved_exactly(before: dict[str, dict[int, tuple]], after: dict[str, dict[int, tuple]],
                         chosen: set[tuple[str, int]], target: str | None) -> None:
    """Only the chosen messages left their folders, unchanged, all of them into ``target``
    (None: removed for good); everything else is where it was, flags included."""
    for folder, msgs in before.items():
        for uid, entry in msgs.items():
            if (folder, uid) in chosen:
                assert uid not in after.get(folder, {}), f"{folder} {uid} still there"
            else:
                assert after[folder].get(uid) == entry, f"{folder} {uid} touched"
    for folder in after:
        if folder != target:
            assert set(after[folder]) <= set(before.get(folder, {})), f"new mail in {folder}"
    arrived = [e for u, e in after.get(target, {}).items() if u not in before.get(target, {})]
    moved = [before[f][u] for f, u in chosen]
    if target is None:
        assert arrived == []
        return
    # Each chosen message arrived once, with its flags (a COPY never adds \Deleted).
    assert Counter(arrived) == Counter(moved)
    everything = Counter(_identity(e) for m in before.values() for e in m.values())
    assert Counter(_identity(e) for m in after.values() for e in m.values()) == everything


def heal_and_resume(box: Box, action_id: int) -> actions.Outcome:
    """Lift every fault and finish the action with ``journal resume``: it ends done."""
    box.proxy.heal()
    c = box.connector()
    try:
        outcome = actions.resume(box.index, c, ACCOUNT, action_id)
    finally:
        c.close()
    assert outcome.action.state == "done"
    return outcome


def assert_journal_equals_server(box: Box, action_id: int) -> None:
    after = server_messages(box.server)
    items = Journal(box.index).items(action_id)
    assert items and all(i.state == DONE for i in items), Counter(i.state for i in items)
    targets = [(i.target_folder, i.target_id) for i in items if i.target_id is not None]
    assert len(targets) == len(set(targets))
    for i in items:
        assert int(i.server_id) not in after.get(i.folder, {})
        if i.target_folder is not None:
            assert i.target_id is not None
            got = after[i.target_folder][int(i.target_id)]
            assert got[1] == i.size
    # The index followed the moves: a sync finds nothing removed (moved messages are
    # fetched again in their new folder: an action stores no headers there).
    report = sync_account(box.index, ACCOUNT, direct(box.server))
    assert report.removed == 0
    assert_index_equals_server(box.index, box.server)


@pytest.mark.parametrize("when", ["before", "answer", "answer, then the questions cut"])
def test_trash_with_the_3rd_move_cut_is_resumed_in_place(
    box: Box, when: str, quick_retries: None
) -> None:
    """The 3rd move never reaches the server, or is carried out and its answer lost (and
    then, in the last case, the questions about it are cut too): the action reconnects,
    asks the server what became of that batch, and carries on; nothing is moved twice."""
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    assert p.messages > 30 and p.target == "Trash"
    chosen = {(i.folder, int(i.server_id)) for i in p.items}
    before = server_messages(box.server)
    second: list = []

    def cut_the_questions() -> None:
        # The first identity check after reconnecting is the reconcile's.
        second.append(box.proxy.on_command(r"UID FETCH .*MESSAGE-ID", 1, when="answer"))

    fault = box.proxy.on_command(
        box.move, 3, when=when.split(",")[0], how="reset",
        then=cut_the_questions if "questions" in when else None)
    c = box.connector()
    try:
        outcome = actions.execute(box.index, c, p, batch=10)
    finally:
        c.close()
    assert fault.fired.is_set() and box.proxy.connections == 2 + len(second)
    assert all(f.fired.is_set() for f in second)
    assert outcome.action.state == "done"
    assert outcome.action.count("done") == (p.messages, p.bytes)
    assert_moved_exactly(before, server_messages(box.server), chosen, "Trash")
    assert_journal_equals_server(box, outcome.action.id)


def test_a_cut_between_copy_and_expunge_leaves_no_duplicate(
    index: Index, dovecot_nomove: Dovecot, quick_retries: None
) -> None:
    """Without MOVE: the copies are made, the answer to the \\Deleted marks is lost."""
    server = dovecot_nomove
    server.reset_user(USER)
    server.seed(USER, large_mailbox())
    sync_account(index, ACCOUNT, direct(server))
    scan(index, ACCOUNT, load_rules())
    with FaultProxy(server.host, server.port) as proxy:
        box = Box(server, index, proxy)
        for command in ("UID STORE", "UID EXPUNGE"):
            p = actions.plan(index, ACCOUNT, "trash", actions.Selection(
                rules=("newsletters",), folders=("INBOX",) if command == "UID STORE" else ()))
            chosen = {(i.folder, int(i.server_id)) for i in p.items}
            before = server_messages(server)
            fault = proxy.on_command(command, 2, when="answer")
            c = box.connector()
            try:
                outcome = actions.execute(index, c, p, batch=10)
            finally:
                c.close()
            assert fault.fired.is_set()
            assert outcome.action.state == "done"
            assert outcome.action.count("done") == (p.messages, p.bytes)
            assert_moved_exactly(before, server_messages(server), chosen, "Trash")
            assert_journal_equals_server(box, outcome.action.id)


def test_delete_from_the_trash_with_the_3rd_expunge_cut(box: Box, quick_retries: None) -> None:
    trash = actions.Selection(folders=("Trash",))
    p = actions.plan(box.index, ACCOUNT, "delete", trash)
    assert p.messages >= 9
    chosen = {(i.folder, int(i.server_id)) for i in p.items}
    before = server_messages(box.server)
    fault = box.proxy.on_command("UID EXPUNGE", 3, when="answer")
    c = box.connector()
    try:
        outcome = actions.execute(box.index, c, p, batch=3)
    finally:
        c.close()
    assert fault.fired.is_set()
    assert outcome.action.state == "done"
    assert outcome.action.count("done") == (p.messages, p.bytes)
    assert_moved_exactly(before, server_messages(box.server), chosen, None)
    assert_journal_equals_server(box, outcome.action.id)


def test_undo_with_the_3rd_move_cut_puts_everything_back(box: Box, quick_retries: None) -> None:
    original = server_messages(box.server)
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    c = box.connector()
    try:
        trashed = actions.execute(box.index, c, p, batch=50)
    finally:
        c.close()
    assert server_messages(box.server) != original
    fault = box.proxy.on_command(box.move, 3, when="answer")
    c = box.connector()
    try:
        _plan, undone = actions.undo(box.index, c, ACCOUNT, trashed.action.id, batch=10)
    finally:
        c.close()
    assert fault.fired.is_set()
    assert undone is not None and undone.action.state == "done"
    assert undone.action.count("done") == (p.messages, p.bytes)
    after = server_messages(box.server)
    # Every message back in its folder (new UIDs), nothing left in the Trash, nothing else.
    for folder, msgs in original.items():
        assert Counter(msgs.values()) == Counter(after[folder].values()), folder
    assert Journal(box.index).action(trashed.action.id).state == "undone"  # type: ignore[union-attr]
    assert_journal_equals_server(box, undone.action.id)


def test_an_action_cut_for_good_is_journalled_and_resume_finishes_it(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 3rd move is carried out, its answer lost and the server gone: the action is
    left interrupted with that batch "sent"; once the server is back, resume asks it what
    happened (moved), and finishes the rest. Nothing is moved twice."""
    no_retries(monkeypatch)
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    chosen = {(i.folder, int(i.server_id)) for i in p.items}
    before = server_messages(box.server)
    box.proxy.on_command(box.move, 3, when="answer", then=box.proxy.refuse)
    c = box.connector()
    try:
        with pytest.raises(ConnectionFailed) as err:
            actions.execute(box.index, c, p, batch=10)
    finally:
        c.close()
    assert_plain(str(err.value))
    journal = Journal(box.index)
    (row,) = journal.actions(1)[:1]
    assert row.state == "interrupted"
    assert f"mailclean journal resume {row.id} --yes" in str(err.value)
    # Two moves done (the first folder's may be short), the third's batch left "sent".
    assert row.count("sent")[0] == 10 and 10 < row.count("done")[0] <= 20
    # The refusal is chained in the proxy's thread: let it happen before healing, or it
    # could close the listener again just after (seen once under load).
    give_up = time.monotonic() + 5
    while box.proxy.listening and time.monotonic() < give_up:
        time.sleep(0.01)
    assert not box.proxy.listening
    outcome = heal_and_resume(box, row.id)
    assert outcome.action.count("done") == (p.messages, p.bytes)
    assert_moved_exactly(before, server_messages(box.server), chosen, "Trash")
    assert_journal_equals_server(box, row.id)


def test_a_server_dead_for_good_during_a_trash_is_given_up_in_bounded_time(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 3rd move is carried out and the server then stops answering, for good."""
    monkeypatch.setattr(actions.runner, "Runner", functools.partial(
        actions.runner.Runner, retries=50, backoff=BACKOFF, deadline=DEADLINE))
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    chosen = {(i.folder, int(i.server_id)) for i in p.items}
    before = server_messages(box.server)
    dead = box.proxy.on_command(box.move, 3, action="stall", when="answer",
                                then=box.proxy.blackhole)
    c = box.connector(timeout=TIMEOUT)
    try:
        with pytest.raises(ConnectionFailed) as err:
            actions.execute(box.index, c, p, batch=10)
        ended = time.monotonic()
    finally:
        c.close()
    assert dead.fired_at is not None
    assert TIMEOUT <= ended - dead.fired_at <= DEADLINE + TIMEOUT + SLACK
    message = str(err.value)
    assert_plain(message)
    assert "stopped answering" in message and re.search(r"since \d\d:\d\d", message)
    row = Journal(box.index).actions(1)[0]
    assert row.state == "interrupted"
    assert row.count("sent")[0] == 10 and 10 < row.count("done")[0] <= 20
    assert f"{p.messages - row.count('done')[0]} messages still to do" in message
    assert f"mailclean journal resume {row.id} --yes" in message
    assert box.proxy.connections >= 3
    heal_and_resume(box, row.id)
    assert_moved_exactly(before, server_messages(box.server), chosen, "Trash")
    assert_journal_equals_server(box, row.id)


# -- snapshots --------------------------------------------------------------------------------


SNAPSHOT_USERS = ("user1", "user2", "empty")


def _truth(server: Dovecot, user: str) -> tuple[int, int]:
    status = server.status(user)
    return sum(n for n, _ in status.values()), sum(b for _, b in status.values())


@pytest.mark.parametrize("depth", ["quick", "full"])
def test_a_snapshot_through_cuts_retries_or_reports_each_mailbox(
    dovecot: Dovecot, tmp_path: Path, depth: str
) -> None:
    """user1's first attempt is cut in the middle of an answer (retried, measured exactly);
    user2's every connection is cut (reported failed, in words); the run goes on."""
    for user in SNAPSHOT_USERS:
        dovecot.reset_user(user)
    dovecot.seed("user1", standard_mailbox())
    dovecot.seed("user2", standard_mailbox()[:40])
    store = SnapshotStore(tmp_path / "snapshots.db")
    info = store.create("t", depth, None, {}, [(u, None, "T", None) for u in SNAPSHOT_USERS])
    with FaultProxy(dovecot.host, dovecot.port) as proxy:
        # Quick: the LIST's answer; full: the first FETCH of headers, in the sync.
        first = "LIST" if depth == "quick" else r"UID FETCH \d+:\d+ \(UID RFC822"
        proxy.on_command(first, 1, when="answer", how="reset")
        per_user = proxy.on_command(r"LOGIN user2\*", 1, when="answer")
        rearm: list = [per_user]

        class Progress:
            def start(self, total: int, done: int) -> None: ...
            def unreadable(self, mailbox: str, folders: list) -> None: ...
            def mailbox(self, mailbox: str, ok: bool, error: str | None) -> None: ...

        def keep_cutting_user2() -> None:
            # Every login of user2 loses its answer: arm again after each one fires.
            rearm.append(proxy.on_command(r"LOGIN user2\*", 1, when="answer",
                                          then=keep_cutting_user2))

        per_user.then = keep_cutting_user2
        access = Access("127.0.0.1", proxy.port, security="none", admin_user="admin",
                        admin_password="admin-secret")
        summary = run(store, info.id,
                      ImapMeasure(access, depth=depth, workdir=tmp_path, command_timeout=5),
                      RunOptions(concurrency=1, timeout=20, retries=2, backoff=0.01),
                      Progress())  # type: ignore[arg-type]
    assert (summary.measured, summary.failed) == (2, 1)
    rows = {r[0]: r[1:] for r in store.conn.execute(
        "SELECT mailbox, state, messages, bytes, attempts, error FROM snapshot_mailboxes")}
    assert rows["user1"][:3] == ("done", *_truth(dovecot, "user1"))
    assert rows["user1"][3] == 2  # cut once, measured on the second attempt
    assert rows["empty"][:3] == ("done", 0, 0)
    state, _m, _b, attempts, error = rows["user2"]
    assert (state, attempts) == ("failed", 3)
    assert error and "lost" in error
    assert_plain(error)
    assert sum(f.hits for f in rearm) == 3
    assert store.get("t").state == "complete"
    store.close()


# -- a server that trickles ---------------------------------------------------------------------
# Every read gets a few bytes in time, so no read ever times out: only the watchdog
# (mailclean.retry.Watchdog) notices that nothing completes, breaks the connection once
# the deadline and one read's timeout have passed, and the retrier then gives up.
TRICKLE = 2_000  # bytes per second: a 300-message sync would take minutes


def test_a_server_that_trickles_during_a_sync_is_given_up_in_bounded_time(
    index: Index, server: Dovecot, proxy: FaultProxy
) -> None:
    proxy.throttle(TRICKLE, direction="down")
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as err:
        sync_account(index, ACCOUNT, proxied(server, proxy, timeout=TIMEOUT), retries=50,
                     backoff=BACKOFF, deadline=DEADLINE)
    elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed <= DEADLINE + TIMEOUT + SLACK + 2
    message = str(err.value)
    assert_plain(message)
    assert "answers too slowly" in message and "run the sync again" in message
    assert proxy.bytes_down < TRICKLE * (DEADLINE + TIMEOUT + SLACK + 2)  # it was trickling
    proxy.heal()
    sync_account(index, ACCOUNT, proxied(server, proxy))
    assert_index_equals_server(index, server)


def test_a_server_that_trickles_during_a_trash_is_given_up_and_resumed(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions.runner, "Runner", functools.partial(
        actions.runner.Runner, retries=50, backoff=BACKOFF, deadline=DEADLINE))
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    chosen = {(i.folder, int(i.server_id)) for i in p.items}
    before = server_messages(box.server)
    c = box.connector(timeout=TIMEOUT)
    box.proxy.throttle(200, direction="down")
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionFailed) as err:
            actions.execute(box.index, c, p, batch=10)
    finally:
        c.close()
    elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed <= DEADLINE + TIMEOUT + SLACK + 2
    message = str(err.value)
    assert_plain(message)
    assert "answers too slowly" in message and "mailclean journal resume" in message
    row = Journal(box.index).actions(1)[0]
    assert row.state == "interrupted"
    heal_and_resume(box, row.id)
    assert_moved_exactly(before, server_messages(box.server), chosen, "Trash")
    assert_journal_equals_server(box, row.id)
