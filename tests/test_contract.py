"""The connector contract (issue 15): one set of scenarios, run over every connector.

Each connector joins through one adapter of :mod:`tests.support.contract` (how to seed its
store, build a connector, read the store's own truth and act as another client). Every
scenario ends with the index equal to the store: per folder the count and the bytes, and
which Message-IDs (with their \\Seen and \\Flagged) are in which folder; the actions move
exactly the Message-IDs of their plan and touch nothing else. A scenario that cannot apply
to a connector is declared so by its adapter, with the reason, and the scenario checks
what the reason says instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pytest

from mailclean import actions, mailgen, wording, workflows
from mailclean import export as exporting
from mailclean.connectors.base import ConnectionFailed, Connector, FolderReset, MessagesAdded
from mailclean.index import Index
from mailclean.index.journal import Journal
from mailclean.sync import SyncReport, sync_account
from tests.ews import EwsServer
from tests.support.contract import (
    ADAPTERS,
    IDENTITY_LOSS,
    QUOTA,
    SCENARIOS,
    Adapter,
    Stored,
)
from tests.support.corpora import smallest_mailbox

ACCOUNT = "contract"
#: (Message-ID, \Seen, \Flagged) of every message of a folder, as a multiset.
Content = dict[str, Counter]


@lru_cache(maxsize=1)
def contract_mailbox() -> tuple[mailgen.GeneratedMessage, ...]:
    """74 messages in 9 folders (a third of the generated inbox, every other folder whole)."""
    every = smallest_mailbox(5)
    return tuple(m for i, m in enumerate(every) if m.folder != "INBOX" or i % 3 == 0)


@lru_cache(maxsize=1)
def newcomers() -> tuple[mailgen.GeneratedMessage, ...]:
    """Well-formed messages another client delivers, none of them in :func:`contract_mailbox`."""
    known = {m.message_id for m in contract_mailbox()}
    return tuple(
        m for m in smallest_mailbox(6)
        if m.message_id and m.message_id not in known and not m.malformed
    )


@pytest.fixture(scope="module")
def contract_ews_server() -> Iterator[EwsServer]:
    """The loopback EWS server of this module (each test resets and seeds its mailbox)."""
    with EwsServer() as server:
        yield server


@pytest.fixture(params=list(ADAPTERS))
def store(request: pytest.FixtureRequest) -> Adapter:
    """Each scenario runs once per connector, on a mailbox holding exactly
    :func:`contract_mailbox`."""
    adapter = ADAPTERS[request.param](request)
    assert set(adapter.not_applicable) <= set(SCENARIOS), adapter.not_applicable
    adapter.seed(contract_mailbox())
    return adapter


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = Index(tmp_path / "index.db")
    yield idx
    idx.close()


# -- helpers --------------------------------------------------------------------------------


def sync(index: Index, store: Adapter, connector: Connector | None = None,
         **kw: object) -> SyncReport:
    kw.setdefault("sleep", lambda s: None)
    return sync_account(index, ACCOUNT, connector or store.connector(), **kw)  # type: ignore[arg-type]


def account_id(index: Index) -> int:
    return int(index.account(ACCOUNT)["id"])


def indexed_status(index: Index) -> dict[str, tuple[int, int]]:
    folders = index.stats(account_id(index))["folders"]
    return {f["name"]: (f["messages"], f["bytes"]) for f in folders}


def indexed_content(index: Index) -> Content:
    out: Content = {f.path: Counter() for f in index.folders(account_id(index))}
    for path, msgid, seen, flagged in index.conn.execute(
        "SELECT f.path, m.message_id, m.seen, m.flagged FROM messages m"
        " JOIN folders f ON f.id = m.folder_id WHERE m.account_id = ?", [account_id(index)]
    ):
        out[path][(msgid, bool(seen), bool(flagged))] += 1
    return out


def content(contents: dict[str, list[Stored]]) -> Content:
    return {f: Counter((s.message_id, s.seen, s.flagged) for s in msgs)
            for f, msgs in contents.items()}


def assert_index_is_truth(index: Index, store: Adapter) -> Content:
    """The index holds what the store holds: counts and bytes per folder, and which
    Message-IDs with which flags in which folder. Returns the store's content."""
    truth = content(store.contents())
    assert indexed_status(index) == store.status()
    assert indexed_content(index) == truth
    duplicates = index.conn.execute(
        "SELECT count(*) FROM (SELECT folder_id, server_id FROM messages GROUP BY 1, 2"
        " HAVING count(*) > 1)"
    ).fetchone()[0]
    assert duplicates == 0
    return truth


def moved(before: Content, moves: list[tuple[str, str | None]], target: str | None) -> Content:
    """``before`` with each (folder, Message-ID) of ``moves`` taken out of its folder and,
    unless ``target`` is None (deleted), put in ``target`` with its flags."""
    out = {f: Counter(c) for f, c in before.items()}
    for folder, msgid in moves:
        key = next(k for k in sorted(out[folder], key=repr) if k[0] == msgid)
        out[folder][key] -= 1
        if target is not None:
            out[target][key] += 1
    return positive(out)


def positive(c: Content) -> Content:
    """``c`` without its empty folders (and counts)."""
    return {f: +counts for f, counts in c.items() if +counts}


def unique_ids(contents: dict[str, list[Stored]], folder: str) -> list[str]:
    """Message-IDs found once in the whole mailbox, in ``folder``, in the store's order."""
    everywhere = Counter(s.message_id for msgs in contents.values() for s in msgs)
    return [s.message_id for s in contents[folder]
            if s.message_id is not None and everywhere[s.message_id] == 1]


def stored_by_id(contents: dict[str, list[Stored]], folder: str) -> dict[str, Stored]:
    return {s.message_id: s for s in contents[folder] if s.message_id is not None}


def fail_at(connector: Connector, n: int, error: BaseException | None = None) -> None:
    """Make ``connector`` raise ``error`` (by default: lose its connection) instead of
    yielding its ``n``-th non-empty MessagesAdded (the changes before it are applied and
    kept)."""
    original = connector.sync_folder
    seen = 0

    def sync_folder(folder, state, known_ids):  # type: ignore[no-untyped-def]
        nonlocal seen
        for change in original(folder, state, known_ids):
            if isinstance(change, MessagesAdded) and change.messages:
                seen += 1
                if seen == n:
                    raise error or ConnectionFailed("the connection dropped (contract test)")
            yield change

    connector.sync_folder = sync_folder  # type: ignore[method-assign]


def workspace(index: Index, store: Adapter) -> workflows.Workspace:
    return workflows.Workspace(index=index, account=ACCOUNT, connect=store.connector)


def declared(store: Adapter, scenario: str) -> str | None:
    """The adapter's reason why ``scenario`` does not apply to its connector, if it says so."""
    reason = store.not_applicable.get(scenario)
    assert reason is None or len(reason) > 20, f"{store.name}: give a reason, not {reason!r}"
    return reason


# -- the seeding itself is right (else nothing below means anything) ------------------------


def test_seeded_store_holds_the_corpus(store: Adapter) -> None:
    status = store.status()
    assert sum(n for n, _b in status.values()) == len(contract_mailbox())
    assert sum(b for _n, b in status.values()) == sum(m.size for m in contract_mailbox())
    expected: Content = {}
    for m in contract_mailbox():
        key = (m.message_id, "\\Seen" in m.flags, "\\Flagged" in m.flags)
        expected.setdefault(store.path(m.folder), Counter())[key] += 1
    assert positive(content(store.contents())) == expected


# -- sync -----------------------------------------------------------------------------------


def test_cold_sync(index: Index, store: Adapter) -> None:
    report = sync(index, store)
    assert_index_is_truth(index, store)
    assert report.new == len(contract_mailbox()) and report.removed == 0
    assert report.messages == len(contract_mailbox())
    assert report.bytes == sum(m.size for m in contract_mailbox())
    assert report.count_mismatches == [] and report.reset_folders == []
    again = sync(index, store)
    assert (again.new, again.removed, again.flag_changes) == (0, 0, 0)


def test_incremental_sync_after_appends_expunges_moves_and_flags(
    index: Index, store: Adapter
) -> None:
    sync(index, store)
    before = store.contents()
    inbox, archive = store.roles["inbox"], store.path("Archives/2021")
    ids = unique_ids(before, inbox)
    by_id = stored_by_id(before, inbox)
    gone, went = ids[:2], ids[2]
    to_flag = next(m for m in ids[3:] if not by_id[m].flagged)
    to_unread = next(m for m in ids[3:] if by_id[m].seen and m != to_flag)
    to_read = next(m for m in ids[3:] if not by_id[m].seen and m != to_flag)
    first, second = newcomers()[:2]

    store.append(inbox, first.raw)
    store.append(archive, second.raw, seen=True, flagged=True)
    store.expunge(inbox, gone)
    store.move(inbox, [went], archive)
    store.set_flags(inbox, to_flag, flagged=True)
    store.set_flags(inbox, to_unread, seen=False)
    store.set_flags(inbox, to_read, seen=True)

    report = sync(index, store)
    truth = assert_index_is_truth(index, store)
    # What the other client did is what the store shows (the adapter did its part).
    expected = moved(content(before), [(inbox, m) for m in gone], None)
    expected = moved(expected, [(inbox, went)], archive)
    for msgid, seen, flagged in ((to_flag, by_id[to_flag].seen, True),
                                 (to_unread, False, by_id[to_unread].flagged),
                                 (to_read, True, by_id[to_read].flagged)):
        old = (msgid, by_id[msgid].seen, by_id[msgid].flagged)
        expected[inbox][old] -= 1
        expected[inbox][(msgid, seen, flagged)] += 1
    expected[inbox][(first.message_id, False, False)] += 1
    expected[archive][(second.message_id, True, True)] += 1
    assert positive(truth) == positive(expected)
    # Only the changes were fetched: three arrivals, three departures, three flag changes
    # (a connector whose store counts a follow-up flag, or a read-state change, as a
    # modification fetches the message again).
    refetched = (1 if store.refetches_flagged else 0) + (2 if store.refetches_seen else 0)
    assert (report.new, report.removed, report.flag_changes) == (3 + refetched, 3, 3 - refetched)
    assert report.reset_folders == [] and report.count_mismatches == []


@pytest.mark.parametrize("stop", ["connection dropped", "Ctrl-C"])
def test_interrupted_sync_resumes_from_the_last_batch(
    index: Index, store: Adapter, stop: str
) -> None:
    """A sync stopped in its third batch, by a connection lost for good or by Ctrl-C
    (KeyboardInterrupt, which nothing retries), keeps the two batches before it; the next
    sync fetches only the rest."""
    inbox = store.roles["inbox"]
    broken = store.connector(batch=5)
    if stop == "Ctrl-C":
        fail_at(broken, 3, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            sync(index, store, broken)
    else:
        fail_at(broken, 3)
        with pytest.raises(ConnectionFailed, match="contract test"):
            sync(index, store, broken, retries=0)
    # Two whole batches of the inbox (synced first) are kept, nothing else, nothing half.
    partial = indexed_status(index)
    assert partial[inbox][0] == 10
    assert sum(n for f, (n, _b) in partial.items() if f != inbox) == 0
    kept = {sid for (sid,) in index.conn.execute("SELECT server_id FROM messages")}
    report = sync(index, store, store.connector(batch=5), retries=0)
    assert report.new == len(contract_mailbox()) - 10 and report.removed == 0
    assert report.count_mismatches == []
    assert_index_is_truth(index, store)
    assert kept <= {sid for (sid,) in index.conn.execute("SELECT server_id FROM messages")}


def test_identity_loss_reindexes_the_folder(index: Index, store: Adapter) -> None:
    folder = store.path("Projets/Délibérations")
    sync(index, store)
    n = store.status()[folder][0]
    assert n >= 5
    row = index.folders(account_id(index), folder)[0]
    old_ids = set(index.known_ids(row.id))
    store.reset_identity(folder)
    report = sync(index, store)
    assert_index_is_truth(index, store)
    # That folder, and only it, is indexed again from scratch.
    assert report.new == n and report.removed == n
    reason = declared(store, IDENTITY_LOSS)
    if reason is None:
        assert report.reset_folders == [folder]
        again = index.folders(account_id(index), folder)[0]
        assert again.uidvalidity is not None and again.uidvalidity != row.uidvalidity
    else:
        # What the reason says: no identity, no FolderReset; new names are a plain diff.
        assert report.reset_folders == []
        assert old_ids.isdisjoint(index.known_ids(row.id))
        c = store.connector()
        c.connect()
        try:
            assert c.folder_validity(folder) is None
            info = next(f for f in c.list_folders() if f.path == folder)
            changes = list(c.sync_folder(info, row.state, lambda: index.known_ids(row.id)))
        finally:
            c.close()
        assert not any(isinstance(change, FolderReset) for change in changes)


# -- acting -----------------------------------------------------------------------------------


def test_trash_undo_trash_again_then_delete_from_the_trash(index: Index, store: Adapter) -> None:
    sync(index, store)
    ws = workspace(index, store)
    inbox, trash = store.roles["inbox"], store.roles["trash"]
    before = content(store.contents())
    sizes = sorted(index.conn.execute(
        "SELECT m.size FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = ?",
        [inbox]).fetchall())
    selection = actions.Selection(folders=(inbox,), larger_than=sizes[len(sizes) // 2][0])

    shown = workflows.plan(ws, "trash", selection)
    assert 5 <= shown.messages < len(sizes) and shown.target == trash
    moves = sorted((i.folder, i.message_id) for i in shown.items)
    done = workflows.carry_out(ws, shown)
    assert done.outcome.action.state == "done"
    assert done.outcome.action.count("done") == (shown.messages, shown.bytes)
    trashed = positive(moved(before, moves, trash))
    assert positive(assert_index_is_truth(index, store)) == trashed

    undone = workflows.undo(ws, done.outcome.action.id)
    assert undone.outcome.action.state == "done"
    assert undone.outcome.action.count("done") == (shown.messages, shown.bytes)
    assert positive(assert_index_is_truth(index, store)) == positive(before)

    trash_row = index.folders(account_id(index), trash)[0]
    in_trash = {r for (r,) in index.conn.execute(
        "SELECT id FROM messages WHERE folder_id = ?", [trash_row.id])}
    again = workflows.plan(ws, "trash", selection)
    assert sorted((i.folder, i.message_id) for i in again.items) == moves
    done = workflows.carry_out(ws, again)
    assert done.outcome.action.count("done") == (shown.messages, shown.bytes)
    assert positive(assert_index_is_truth(index, store)) == trashed

    # Delete from the Trash exactly what was trashed: what was there before stays.
    ours = tuple(sorted({r for (r,) in index.conn.execute(
        "SELECT id FROM messages WHERE folder_id = ?", [trash_row.id])} - in_trash))
    assert len(ours) == shown.messages
    doomed = workflows.plan(ws, "delete", actions.Selection(folders=(trash,), message_ids=ours))
    assert doomed.outside_trash == 0 and doomed.messages == shown.messages
    assert sorted((i.message_id for i in doomed.items), key=str) == sorted(
        (m for _f, m in moves), key=str)
    done = workflows.carry_out(ws, doomed)
    assert done.outcome.action.state == "done"
    assert done.outcome.action.count("done") == (shown.messages, shown.bytes)
    assert positive(assert_index_is_truth(index, store)) == positive(moved(before, moves, None))


def test_export_to_mbox_then_trash(index: Index, store: Adapter, tmp_path: Path) -> None:
    sync(index, store)
    ws = workspace(index, store)
    trash = store.roles["trash"]
    folders = (store.path("Projets/Budget 2026"), store.path("Archives/2019"))
    contents = store.contents()
    before = content(contents)
    shown = workflows.plan(ws, "trash", actions.Selection(folders=folders))
    assert set(shown.folders) == set(folders) and shown.messages >= 8
    moves = sorted((i.folder, i.message_id) for i in shown.items)
    # The store's own bytes of each selected message.
    chosen: Counter[str] = Counter()
    for folder, msgid in moves:
        raws = [s.raw for s in contents[folder] if s.message_id == msgid]
        assert len(raws) == 1
        chosen[exporting.digest(raws[0])] += 1
    target = tmp_path / "selection.mbox"
    done = workflows.carry_out(ws, shown, export_to=target)
    assert done.outcome.export_action is not None
    assert done.outcome.export_action.state == "done"
    assert done.outcome.action.count("done") == (shown.messages, shown.bytes)
    back = list(exporting.read(target, "mbox"))
    assert Counter(exporting.digest(raw) for raw in back) == chosen
    assert positive(assert_index_is_truth(index, store)) == positive(moved(before, moves, trash))


# -- what the connector says of the mailbox ---------------------------------------------------


def test_folder_roles(index: Index, store: Adapter) -> None:
    sync(index, store)
    roles: dict[str, list[str]] = {}
    for row in index.folders(account_id(index)):
        if row.role:
            roles.setdefault(row.role, []).append(row.path)
    assert {"inbox", "sent", "trash"} <= set(store.roles)
    for role, path in store.roles.items():
        assert roles.get(role) == [path], role
    assert actions.trash_folder(index, account_id(index)) == store.roles["trash"]


def quota_used(index: Index) -> int | None:
    row = index.account(ACCOUNT)
    assert row is not None
    return row["quota_used"]  # type: ignore[no-any-return]


def test_quota(index: Index, store: Adapter) -> None:
    sync(index, store)
    row = index.account(ACCOUNT)
    assert row is not None
    c = store.connector()
    c.connect()
    try:
        quota = c.quota()
    finally:
        c.close()
    reason = declared(store, QUOTA)
    if reason is not None:
        assert quota is None and store.quota_used() is None
        assert row["quota_used"] is None and row["quota_limit"] is None
        assert not c.quota_is_measured
        return
    assert quota is not None and quota.used >= 0
    used = row["quota_used"]
    assert used == quota.used == store.quota_used()
    assert row["quota_limit"] == quota.limit and (quota.limit is None or quota.limit > used)
    # It follows what the store holds: up by a message's size (in whole KiB on servers
    # that count so) when one arrives, back where it was when it goes.
    big = max((m for m in newcomers() if m.size < 1_000_000), key=lambda m: m.size)
    assert big.size > 20_000
    inbox = store.roles["inbox"]
    store.append(inbox, big.raw)
    sync(index, store)
    grown = quota_used(index)
    assert grown is not None and grown == store.quota_used()
    assert abs(grown - used - big.size) < 1024
    assert big.message_id is not None
    store.expunge(inbox, [big.message_id])
    sync(index, store)
    assert quota_used(index) == store.quota_used() == used


def test_undo_never_drops_a_message_without_a_word(index: Index, store: Adapter) -> None:
    """A message without a Message-ID, trashed then undone: put back where the connector
    knows where its move went; else said to be left in the Trash, with the trash action not
    marked undone, so that undoing again after a sync (which finds it) puts it back."""
    inbox, trash = store.roles["inbox"], store.roles["trash"]
    head, _sep, body = newcomers()[5].raw.partition(b"\r\n\r\n")
    lines = [h for h in head.split(b"\r\n") if not h.lower().startswith(b"message-id:")]
    anonymous = b"\r\n".join(lines) + b"\r\n\r\n" + body + b"\r\n" + b"x" * 400_000 + b"\r\n"
    size = len(anonymous)
    store.append(inbox, anonymous)
    sync(index, store)
    before = content(store.contents())
    assert (None, False, False) in before[inbox]
    ws = workspace(index, store)
    shown = workflows.plan(ws, "trash", actions.Selection(folders=(inbox,), larger_than=300_000))
    assert shown.messages == 2 and None in {i.message_id for i in shown.items}
    trashed = workflows.carry_out(ws, shown)
    assert trashed.outcome.action.count("done") == (2, shown.bytes)

    undone = workflows.undo(ws, trashed.outcome.action.id)
    put_back, left = undone.outcome.action.count("done"), undone.outcome.action.count("skipped")
    assert put_back[0] + left[0] == 2
    sync(index, store)
    truth = assert_index_is_truth(index, store)
    state = Journal(index).action(trashed.outcome.action.id).state  # type: ignore[union-attr]
    if store.untraceable_moves is None:
        assert left == (0, 0) and positive(truth) == positive(before)
        assert state == "undone"
        return
    assert len(store.untraceable_moves) > 20
    assert left == (1, size) and undone.outcome.action.state == "partial"
    assert (None, False, False) in truth[trash] and (None, False, False) not in truth[inbox]
    assert state != "undone"
    words = " ".join(t for _s, t in undone.describe(wording.CLI))
    assert "Put back 1 message" in words and "1 message" in words and "left alone" in words
    # The sync found it in the Trash (no Message-ID, same size, above the mark taken before
    # the move): undoing again puts back just that one, and then the action is undone.
    again = workflows.undo(ws, trashed.outcome.action.id)
    assert again.outcome.action.count("done") == (1, size)
    sync(index, store)  # where it went is not known either: the next sync indexes it
    assert positive(assert_index_is_truth(index, store)) == positive(before)
    assert Journal(index).action(trashed.outcome.action.id).state == "undone"  # type: ignore[union-attr]
