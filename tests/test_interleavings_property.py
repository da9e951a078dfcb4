"""Another client's changes, interleaved at random with mailclean's syncs and actions
(issue 13, item 15).

A second IMAP client expunges, moves, flags (\\Flagged, \\Seen, keywords), marks deleted
without expunging, appends, creates, deletes and renames folders, and resets UIDVALIDITY
(``doveadm mailbox update --uid-validity``, or a folder deleted and made again under the
same name with the same messages), between mailclean's steps, between a plan and its
execution, and in the middle of an action or a sync. mailclean syncs (incrementally and
from scratch), trashes, deletes (from the Trash, and for good) and undoes, with
protection rules. Against a real Dovecot, with every extension and with none.

Every message carries a Message-ID of ours, so the server is read message by message
(another connection, ``doveadm mailbox status``) after every step:

- a sync changes nothing on the server, and the index then holds exactly what the server
  holds, folder by folder (count, bytes, UIDVALIDITY, and each message's UID, Message-ID,
  size, \\Seen and \\Flagged), with no count mismatch reported;
- an action moves or deletes exactly the messages of its plan that the server still held
  as planned (same UIDVALIDITY, UID, Message-ID and size), not flagged since, not
  protected by the rules in force, and only where the expunge is safe; every other message
  is where it was with the flags it had; a moved message keeps its flags; nothing is lost
  or duplicated;
- the journal says the same, item by item: done where the server shows it done, skipped
  for the reason the server shows, and the UIDs it records are the server's.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import imapclient
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from mailclean import actions, mailgen, mime
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.index import Index
from mailclean.index.journal import Journal, JournalItem
from mailclean.rules import Protection
from mailclean.sync import SyncReport, sync_account
from tests.dovecot import Dovecot
from tests.support.corpora import seeded

USER, PASSWORD, ACCOUNT = "user1", "secret1", "work"
EXAMPLES = itertools.count()
#: Folders the other client never deletes nor renames (the Trash it may delete and make
#: again, as someone emptying it the hard way).
SPECIAL = frozenset({"INBOX", "Trash", "Sent", "Drafts", "Junk", "Archives"})
KEYWORD = "$Important"

#: The other client's steps, between mailclean's.
OTHER_OPS = ("o-expunge", "o-move", "o-flag", "o-flag", "o-mark-deleted", "o-append",
             "o-create", "o-delete-folder", "o-rename", "o-reset-validity", "o-recreate")
#: What it does between a plan and its execution: mostly to the messages planned.
BETWEEN_OPS = ("o-expunge", "o-move", "o-flag", "o-flag", "o-flag", "o-mark-deleted",
               "o-append", "o-delete-folder", "o-rename", "o-reset-validity", "o-recreate")
#: What it may do while an action or a sync is under way.
DURING_OPS = ("o-expunge", "o-move", "o-append", "o-mark-deleted")
MAILCLEAN_OPS = ("sync", "sync", "sync-full", "sync-racing", "trash-pick", "trash-pick",
                 "trash-pick", "trash-rule", "trash-rule", "trash-rule", "delete-trash",
                 "delete-trash", "delete-permanent", "undo", "undo", "undo")
OPS = OTHER_OPS + MAILCLEAN_OPS


def say(text: str) -> None:
    """What happened, shown with a failing example (printed when run outside Hypothesis)."""
    if currently_in_test_context():
        note(text)
    else:
        print(text)


# -- the corpus: a few dozen small messages whose Message-IDs are ours ----------------------


def _with_message_id(raw: bytes, msgid: str) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(b"message-id:")
        if not skipping:
            kept.append(line)
    return b"Message-ID: <" + msgid.encode() + b">\r\n" + b"\r\n".join(kept) + sep + body


@lru_cache(maxsize=1)
def renumbered_mailbox() -> tuple[mailgen.GeneratedMessage, ...]:
    """About thirty small, well-formed messages in nine folders, Message-IDs renumbered."""
    per_folder: dict[str, int] = defaultdict(int)
    out = []
    for m in seeded(31, 120):
        if m.malformed or m.size > 30_000 or per_folder[m.folder] >= (9 if
                                                                       m.folder == "INBOX" else 3):
            continue
        per_folder[m.folder] += 1
        msgid = f"seed-{len(out)}@interleave.test"
        out.append(replace(m, raw=_with_message_id(m.raw, msgid), message_id=msgid))
    return tuple(out)


@dataclass(frozen=True)
class Fact:
    """What the protection rules read of a message (the oracle's own copy)."""

    sender: str | None
    subject: str | None


# -- what the server holds, read by another connection ------------------------------------


@dataclass(frozen=True)
class Held:
    """Where one message is and what it looks like."""

    folder: str
    uid: int
    size: int
    flags: frozenset[str]

    @property
    def flagged(self) -> bool:
        return "\\flagged" in self.flags

    @property
    def seen(self) -> bool:
        return "\\seen" in self.flags

    @property
    def deleted(self) -> bool:
        return "\\deleted" in self.flags

    def kept_flags(self) -> frozenset[str]:
        """The flags a move must keep (\\Deleted is the mover's business)."""
        return self.flags - {"\\deleted"}


@dataclass
class Snap:
    """The whole mailbox: folders listed, UIDVALIDITY of each selectable one, messages."""

    listed: set[str]
    validity: dict[str, int]
    held: dict[str, Held]
    at: dict[tuple[str, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.at = {(h.folder, h.uid): m for m, h in self.held.items()}

    def marked(self, folder: str) -> set[int]:
        return {h.uid for h in self.held.values() if h.folder == folder and h.deleted}

    def folder(self, path: str) -> dict[str, Held]:
        return {m: h for m, h in self.held.items() if h.folder == path}


def read_server(server: Dovecot) -> Snap:
    client = server.client(USER)
    try:
        listed: set[str] = set()
        validity: dict[str, int] = {}
        held: dict[str, Held] = {}
        for flags, _delim, name in client.list_folders():
            listed.add(name)
            if {f.lower() for f in flags} & {b"\\noselect", b"\\nonexistent"}:
                continue
            sel = client.select_folder(name, readonly=True)
            validity[name] = int(sel[b"UIDVALIDITY"])
            uids = client.search("ALL")
            if not uids:
                continue
            data = client.fetch(uids, ["FLAGS", "RFC822.SIZE",
                                       "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            for uid, item in data.items():
                header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]
                msgid = mime.normalize_message_id(mime.parse_header_block(header)
                                                  .get("message-id"))
                assert msgid, f"{name}/{uid} has no Message-ID of ours"
                assert msgid not in held, f"{msgid} twice: {held[msgid]} and {name}/{uid}"
                flags_ = frozenset(
                    (f.decode() if isinstance(f, bytes) else str(f)).lower()
                    for f in item[b"FLAGS"]) - {"\\recent"}
                held[msgid] = Held(name, uid, item[b"RFC822.SIZE"], flags_)
        return Snap(listed, validity, held)
    finally:
        client.logout()


# -- the world: the server, the index, the other client and mailclean ----------------------


class Interfering(ImapConnector):
    """mailclean's connector, with another client's step slipped in: right after the first
    identity check of an action, or before the second folder of a sync."""

    def __init__(self, settings: ImapSettings) -> None:
        super().__init__(settings)
        self.on_verify: Callable[[], None] | None = None
        self.before_folder: tuple[str | None, Callable[[], None]] | None = None
        """(the folder, or None for the second one synced; the step)."""
        self._folders_synced = 0

    def verify(self, folder, validity, refs):  # type: ignore[no-untyped-def]
        problems = super().verify(folder, validity, refs)
        hook, self.on_verify = self.on_verify, None
        if hook is not None:
            hook()
        return problems

    def sync_folder(self, folder, state, known_ids):  # type: ignore[no-untyped-def]
        self._folders_synced += 1
        if self.before_folder is not None:
            path, hook = self.before_folder
            if folder.path == path or (path is None and self._folders_synced == 2):
                self.before_folder = None
                hook()
        return super().sync_folder(folder, state, known_ids)


class World:
    def __init__(self, server: Dovecot, index: Index) -> None:
        self.server = server
        self.index = index
        self.journal = Journal(index)
        self.facts = {m.message_id: Fact(m.sender, m.subject) for m in renumbered_mailbox()
                      if m.message_id}
        self.names = itertools.count(1)
        client = server.client(USER)
        try:
            self.caps = {c.decode().upper() for c in client.capabilities()}
        finally:
            client.logout()
        self.snap = read_server(server)
        assert set(self.snap.held) == set(self.facts)
        self.focus: list[tuple[str, int]] = []
        """(folder, UID) of the messages the action under way is about."""
        self.validities = itertools.count(
            max(self.snap.validity.values()) + 1_000_000, 7_919)

    # -- helpers --------------------------------------------------------------------------

    def connector(self) -> Interfering:
        c = Interfering(ImapSettings(self.server.host, USER, PASSWORD, port=self.server.port,
                                     security="none"))
        c.connect()
        return c

    def account_id(self) -> int:
        return int(self.index.require_account(ACCOUNT)["id"])

    def index_rows(self, where: str = "1", args: tuple = ()) -> list[tuple]:
        """(row id, folder, uid, message_id, size, flagged) of indexed messages."""
        return self.index.conn.execute(
            "SELECT m.id, f.path, m.uid, m.message_id, m.size, m.flagged FROM messages m"
            f" JOIN folders f ON f.id = m.folder_id WHERE {where} ORDER BY m.id", args,
        ).fetchall()

    def protected(self, msgid: str | None, folder: str, protection: Protection) -> bool:
        """What the rules protect, read from the oracle's own facts (flags aside)."""
        if folder in protection.folders:
            return True
        fact = self.facts.get(msgid or "")
        if fact is None:
            return False
        if fact.sender is not None and fact.sender in protection.senders:
            return True
        subject = (fact.subject or "").lower()
        return any(k in subject for k in protection.keywords)

    # -- the other client -------------------------------------------------------------------

    def other(self, op: str, rng: random.Random, *, during: bool = False) -> None:
        """One step of another client, picked from what the server holds now; the snapshot
        is read again afterwards (what the other client removed is its own doing)."""
        before = self.snap
        try:
            done = self._other(op, rng, before, during)
        except imapclient.exceptions.IMAPClientError as exc:
            done = f"{op} refused by the server: {exc}"  # Maildir++ cannot do them all
        self.snap = read_server(self.server)
        say(f"  other client: {done}")
        appeared = set(self.snap.held) - set(before.held)
        assert appeared <= set(self.facts), appeared

    def _other(self, op: str, rng: random.Random, snap: Snap, during: bool) -> str:
        folders = sorted(snap.validity)
        full = sorted({h.folder for h in snap.held.values()})
        leaves = [f for f in folders if f not in SPECIAL
                  and not any(g.startswith(f + "/") for g in snap.listed)]
        # Mostly aimed at the messages an action is about (self.focus), when there is one.
        focus = [(f, u) for f, u in self.focus if (f, u) in snap.at]
        aimed = bool(focus) and rng.random() < 0.7

        def pick(choices: list[str]) -> str:
            near = [f for f in choices if any(f == g for g, _u in focus)] if aimed else []
            return rng.choice(near or choices)

        client = self.server.client(USER)
        try:
            if op in ("o-expunge", "o-move", "o-flag", "o-mark-deleted") and full:
                source = pick(full)
                uids = sorted(h.uid for h in snap.folder(source).values())
                if aimed and any(f == source for f, _u in focus):
                    uids = sorted(u for f, u in focus if f == source)
                chosen = sorted(rng.sample(uids, min(len(uids), rng.randint(1, 3))))
                client.select_folder(source)
                if op == "o-flag":
                    flag = rng.choice([b"\\Flagged", b"\\Flagged", b"\\Seen",
                                       KEYWORD.encode()])
                    if rng.random() < 0.6:
                        client.add_flags(chosen, [flag])
                        return f"{source} {chosen} +{flag.decode()}"
                    client.remove_flags(chosen, [flag])
                    return f"{source} {chosen} -{flag.decode()}"
                if op == "o-mark-deleted":
                    client.add_flags(chosen, [b"\\Deleted"])
                    return f"{source} {chosen} marked \\Deleted"
                if op == "o-move":
                    # During an action, not into the Trash: who moved it there is not
                    # something anybody can tell afterwards.
                    targets = [f for f in folders if f != source
                               and not (during and f == "Trash")]
                    target = rng.choice(targets)
                    if "MOVE" in self.caps:
                        client.move(chosen, target)
                        return f"{source} {chosen} moved to {target}"
                    client.copy(chosen, target)
                else:
                    target = None
                client.add_flags(chosen, [b"\\Deleted"])
                if "UIDPLUS" in self.caps:
                    client.uid_expunge(chosen)
                else:
                    client.expunge()  # and whatever else it had marked in that folder
                return f"{source} {chosen} " + (f"copied to {target}, expunged" if target
                                                 else "expunged")
            if op in ("o-append", "o-create") or not full:
                target = rng.choice(folders)
                if op == "o-create":
                    target = rng.choice(["Nouveau {n}", "Projets/Nouveau {n}",
                                         "Classement {n}/Sous-dossier"]).format(
                                             n=next(self.names))
                    client.create_folder(target)
                    if rng.random() < 0.3:
                        return f"created {target}"
                added = [self._append(client, target, rng) for _ in range(rng.randint(1, 2))]
                return f"appended {added} to {target}"
            if op == "o-delete-folder" and leaves:
                target = pick(leaves)
                client.delete_folder(target)
                return f"deleted folder {target}"
            if op == "o-rename":
                choices = [f for f in folders if f not in SPECIAL]
                if choices:
                    source = pick(choices)
                    target = rng.choice(["Renommé {n}", "Archives/Renommé {n}"]).format(
                        n=next(self.names))
                    client.rename_folder(source, target)
                    return f"renamed {source} to {target}"
            if op == "o-reset-validity":
                target = pick(folders)
                value = next(self.validities)
                client.logout()
                client = None
                self.server.doveadm("mailbox", "update", "-u", USER, "--uid-validity",
                                    str(value), target)
                return f"UIDVALIDITY of {target} set to {value}"
            if op == "o-recreate":
                choices = [f for f in [*leaves, "Trash"] if f in full] or ["Trash"]
                target = pick(choices)
                client.select_folder(target, readonly=True)
                uids = client.search("ALL")
                data = client.fetch(uids, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"]) if uids \
                    else {}
                client.unselect_folder()
                client.delete_folder(target)
                client.create_folder(target)
                for uid in sorted(data):
                    item = data[uid]
                    flags = [f for f in item[b"FLAGS"] if f.lower() != b"\\recent"]
                    client.append(target, item[b"BODY[]"], flags, item[b"INTERNALDATE"])
                return f"deleted and made again {target} with its {len(data)} messages"
            return "nothing"
        finally:
            if client is not None:
                client.logout()

    def other_do(self, what: str, step: Callable[[imapclient.IMAPClient], object]) -> None:
        """A step of another client chosen by the test itself."""
        client = self.server.client(USER)
        try:
            step(client)
        finally:
            client.logout()
        self.snap = read_server(self.server)
        say(f"  other client: {what}")

    def _append(self, client: imapclient.IMAPClient, folder: str, rng: random.Random) -> str:
        n = next(self.names)
        msgid = f"other-{n}@interleave.test"
        sender = rng.choice(["a.martin@ailleurs.example", "promo@bureau-pro-exemple.fr"])
        subject = f"Arrived meanwhile {n} " + rng.choice(["budget", "urgent", "lettre"])
        body = ("Bonjour,\r\n" + "ligne de texte\r\n" * rng.randint(1, 40)).encode()
        raw = (f"From: Someone <{sender}>\r\nTo: agent@mairie-exemple.fr\r\n"
               f"Subject: {subject}\r\nDate: Mon, 3 Mar 2025 10:00:00 +0100\r\n"
               f"Message-ID: <{msgid}>\r\n\r\n").encode() + body
        flags = [f for f in (b"\\Seen", b"\\Flagged", KEYWORD.encode()) if rng.random() < 0.3]
        client.append(folder, raw, flags)
        self.facts[msgid] = Fact(sender, subject)
        return msgid

    # -- mailclean: sync --------------------------------------------------------------------

    def sync(self, *, full: bool = False,
             racing: tuple[str | None, Callable[[], None]] | None = None) -> SyncReport:
        """A sync; with ``racing``, another client's step before one folder's turn."""
        before = self.snap
        c = Interfering(ImapSettings(self.server.host, USER, PASSWORD, port=self.server.port,
                                     security="none"))
        c.before_folder = racing
        report = sync_account(self.index, ACCOUNT, c, full=full, sleep=lambda s: None)
        assert not report.count_mismatches, report.count_mismatches
        if racing is not None:
            # The folders read before the other client's step are behind: the next
            # incremental sync catches up with everything.
            self.sync()
            return report
        self.snap = read_server(self.server)
        assert self.snap == before, "a sync changed the server"
        self.check_index(report)
        return report

    def refresh(self, folders: list[str]) -> None:
        """What the CLI does before a plan: an incremental sync of the folders concerned."""
        c = self.connector()
        try:
            actions.refresh(self.index, c, ACCOUNT, folders)
        finally:
            c.close()
        self.check_index(None, only=set(folders))

    def check_index(self, report: SyncReport | None, only: set[str] | None = None) -> None:
        snap = self.snap
        aid = self.account_id()
        rows = {r.path: r for r in self.index.folders(aid)}
        if only is None:
            assert set(rows) == snap.listed
        want: dict[str, set] = {f: set() for f in snap.validity}
        for msgid, h in snap.held.items():
            want[h.folder].add((h.uid, msgid, h.size, h.seen, h.flagged))
        have: dict[str, set] = defaultdict(set)
        for path, uid, msgid, size, seen, flagged in self.index.conn.execute(
            "SELECT f.path, m.uid, m.message_id, m.size, m.seen, m.flagged FROM messages m"
            " JOIN folders f ON f.id = m.folder_id WHERE f.account_id = ?", [aid]
        ):
            have[path].add((uid, msgid, size, bool(seen), bool(flagged)))
        for path in set(want) | set(have):
            if only is not None and path not in only:
                continue
            assert have.get(path, set()) == want.get(path, set()), (
                path, sorted(have.get(path, set()) - want.get(path, set())),
                sorted(want.get(path, set()) - have.get(path, set())))
            if path in snap.validity:
                assert rows[path].uidvalidity == snap.validity[path], path
        # The Dovecot oracle agrees, folder by folder, in messages and bytes.
        stats = {f["name"]: (f["messages"], f["bytes"])
                 for f in self.index.stats(aid)["folders"]}
        for path, counts in self.server.status(USER).items():
            if only is None or path in only:
                assert stats[path] == counts, (path, stats[path], counts)
        if report is not None:
            assert (report.messages, report.bytes) == (
                len(snap.held), sum(h.size for h in snap.held.values()))

    # -- mailclean: actions -----------------------------------------------------------------

    def act(self, op: str, rng: random.Random) -> None:
        aid = self.account_id()
        plan_protection = Protection()
        selection: actions.Selection
        kind = "delete" if op.startswith("delete") else "trash"
        permanent = op == "delete-permanent"
        folders = [r.path for r in self.index.folders(aid) if r.path in self.snap.validity]
        if op == "trash-pick" or op == "delete-permanent":
            source = rng.sample([f for f in folders if f != "Trash"], 2)
            refresh = rng.random() < 0.3
            if refresh:
                self.refresh(source)
            rows = self.index_rows("f.path IN (?, ?) AND f.path != 'Trash'",
                                   tuple(source))
            if not rows:
                return
            picked = rng.sample(rows, min(len(rows), rng.randint(1, 2 if permanent else 6)))
            selection = actions.Selection(message_ids=tuple(r[0] for r in picked))
        else:
            held = {r[1] for r in self.index_rows("f.path != 'Trash'")}
            source = ["Trash"] if op == "delete-trash" else [
                rng.choice(sorted(held & set(folders)) or folders)]
            if rng.random() < 0.3:
                self.refresh(source)
            if op == "delete-trash" and rng.random() < 0.4:
                rows = self.index_rows("f.path = 'Trash'")
                picked = rng.sample(rows, min(len(rows), rng.randint(1, 3)))
                selection = actions.Selection(message_ids=tuple(r[0] for r in picked))
            else:
                larger = rng.choice([None, None, 3_000, 8_000])
                selection = actions.Selection(folders=tuple(source), larger_than=larger)
                plan_protection = self._protection(rng, Protection())
        if selection.is_empty() or not (selection.message_ids or selection.folders):
            return
        p = actions.plan(self.index, ACCOUNT, kind, selection, protection=plan_protection,
                         permanent=permanent)
        self.check_plan(p, selection, plan_protection)
        self.focus = [(i.folder, int(i.server_id)) for i in p.items]
        # What the config protects may change between the plan and the action.
        protection = (self._protection(rng, plan_protection, [i.message_id for i in p.items])
                      if rng.random() < 0.3 else plan_protection)
        for _ in range(rng.choice([0, 1, 1, 2])):
            self.other(rng.choice(BETWEEN_OPS), rng)
        if not p.items:
            return
        say(f"  {kind} of {[(i.folder, i.server_id, i.message_id) for i in p.items]}"
             f" protecting {protection}")
        self.run_action(lambda c: actions.execute(self.index, c, p, protection=protection),
                        kind, protection, by_ids=bool(selection.message_ids),
                        during=self._during(rng))

    def _during(self, rng: random.Random) -> Callable[[], None] | None:
        """Now and then, another client's step in the middle of the action."""
        if rng.random() >= 0.35:
            return None
        op = rng.choice(DURING_OPS)
        return lambda: self.other(op, rng, during=True)

    def _protection(self, rng: random.Random, base: Protection,
                    near: list[str | None] | None = None) -> Protection:
        """The rules, perhaps with one more sender, subject word or folder protected (one of
        the messages ``near`` when given)."""
        what = rng.choice(["none", "sender", "keyword", "folder"])
        facts = [f for m, f in self.facts.items() if m in (near or self.snap.held)]
        if what == "sender" and facts:
            sender = rng.choice(facts).sender
            if sender:
                return replace(base, senders=(*base.senders, sender))
        if what == "keyword" and facts:
            words = [w for f in facts for w in re.findall(r"[a-z]{5,}", (f.subject or "")
                                                          .lower())]
            if words:
                return replace(base, keywords=(*base.keywords, rng.choice(words)))
        if what == "folder":
            return replace(base, folders=(*base.folders, rng.choice(sorted(
                self.snap.validity))))
        return base

    def check_plan(self, p: actions.Plan, selection: actions.Selection,
                   protection: Protection) -> None:
        """The plan holds what the selection names in the index, less what is protected
        (flagged included) unless picked one by one, less what is already in the Trash."""
        if selection.message_ids:
            rows = self.index_rows(
                f"m.id IN ({', '.join('?' * len(selection.message_ids))})",
                selection.message_ids)
        else:
            rows = self.index_rows(
                f"f.path IN ({', '.join('?' * len(selection.folders))})",
                selection.folders)
            rows = [r for r in rows if selection.larger_than is None
                    or r[4] >= selection.larger_than]
        expected = set()
        protected = 0
        for _mid, path, uid, msgid, _size, flagged in rows:
            if not selection.message_ids and (flagged or self.protected(msgid, path,
                                                                        protection)):
                protected += 1
            elif not (p.kind == "trash" and path == "Trash"):
                expected.add((path, str(uid), msgid))
        assert {(i.folder, i.server_id, i.message_id) for i in p.items} == expected
        assert p.protected == protected
        if p.kind == "delete":
            assert p.outside_trash == sum(i.folder != "Trash" for i in p.items)

    def undo(self, rng: random.Random) -> None:
        undoable = [a for a in self.journal.actions(self.account_id())
                    if a.kind == "trash" and a.state in ("done", "partial")]
        if not undoable:
            return
        action = rng.choice(undoable)
        say(f"  undo of action {action.id}")
        self.focus = [(h.folder, h.uid) for i in self.journal.items(action.id, ["done"])
                      if (h := self.snap.held.get(i.message_id or "")) is not None]
        for _ in range(rng.choice([0, 0, 1])):
            self.other(rng.choice(OTHER_OPS), rng)

        def run(c: ImapConnector) -> actions.Outcome | None:
            try:
                _plan, outcome = actions.undo(self.index, c, ACCOUNT, action.id)
            except actions.ActionError as exc:
                assert "nothing to put back" in str(exc), exc
                return None
            return outcome

        outcome = self.run_action(run, "undo", None, by_ids=True, during=self._during(rng))
        fresh = self.journal.action(action.id)
        assert fresh is not None
        if outcome is not None and outcome.action.state == "done":
            assert fresh.state == "undone"

    def run_action(self, execute: Callable[[ImapConnector], actions.Outcome | None],
                   kind: str, protection: Protection | None, *, by_ids: bool,
                   during: Callable[[], None] | None = None) -> actions.Outcome | None:
        """Run an action (``during`` it, right after its first identity check, another
        client's step), then hold the journal and the server to what it had to do."""
        s0 = self.snap
        mid: list[Snap] = []
        c = self.connector()
        if during is not None:

            def interfere() -> None:
                during()
                mid.append(self.snap)

            c.on_verify = interfere
        try:
            outcome = execute(c)
        finally:
            c.close()
        s_mid = mid[0] if mid else s0
        s1 = read_server(self.server)
        self.snap = s1
        if outcome is None:
            assert s1 == s_mid, "an undo with nothing to put back changed the server"
            return None
        items = self.journal.items(outcome.action.id)
        self.check_action(kind, items, outcome, s0, s_mid, s1, protection, by_ids)
        return outcome

    def expected(self, kind: str, items: list[JournalItem], s0: Snap, s_mid: Snap,
                 protection: Protection | None, by_ids: bool) -> dict[int, str | None]:
        """Item id -> the reason it must be skipped, or None when it must be done."""
        moved_meanwhile = {m for m, h in s0.held.items()
                           if (m not in s_mid.held or (s_mid.held[m].folder, s_mid.held[m].uid)
                               != (h.folder, h.uid))}
        out: dict[int, str | None] = {}
        for i in items:
            msgid = s0.at.get((i.folder, int(i.server_id)))
            if i.folder not in s0.validity:
                out[i.id] = "vanished"
            elif i.validity is not None and i.validity != s0.validity[i.folder]:
                out[i.id] = "reset"
            elif (protection is not None and not by_ids
                  and self.protected(i.message_id, i.folder, protection)):
                out[i.id] = "protected"
            elif msgid is None:
                out[i.id] = "vanished"
            elif (msgid, s0.held[msgid].size) != (i.message_id, i.size):
                out[i.id] = "changed"
            elif msgid in moved_meanwhile:
                out[i.id] = "vanished"
            elif kind != "undo" and s0.held[msgid].flagged and not i.flagged:
                out[i.id] = "flagged"
            else:
                out[i.id] = None
        if "UIDPLUS" not in self.caps:
            # Without UIDPLUS only a plain EXPUNGE removes anything: never while another
            # message of the folder is marked \Deleted.
            groups: dict[tuple[str, str | None], list[JournalItem]] = defaultdict(list)
            for i in items:
                if out[i.id] is None:
                    groups[(i.folder, i.target_folder)].append(i)
            for (folder, _target), group in groups.items():
                if s_mid.marked(folder) - {int(i.server_id) for i in group}:
                    for i in group:
                        out[i.id] = "unsafe-expunge"
        return out

    def check_action(self, kind: str, items: list[JournalItem], outcome: actions.Outcome,
                     s0: Snap, s_mid: Snap, s1: Snap, protection: Protection | None,
                     by_ids: bool) -> None:
        want = self.expected(kind, items, s0, s_mid, protection, by_ids)
        got = {i.id: (None if i.state == "done" else i.reason) for i in items}
        states = {i.state for i in items}
        assert states <= {"done", "skipped"}, states
        descr = {i.id: (i.folder, i.server_id, i.message_id) for i in items}
        assert got == want, [(descr[k], got[k], want[k]) for k in got if got[k] != want[k]]
        assert outcome.action.state == ("done" if all(v is None for v in want.values())
                                        else "partial")
        assert sorted((f, s, r) for f, s, r in outcome.skipped) == sorted(
            (i.folder, i.server_id, i.reason) for i in items if i.state == "skipped")
        # The server, message by message.
        done = {s0.at[(i.folder, int(i.server_id))]: i for i in items if want[i.id] is None}
        for msgid, before in s_mid.held.items():
            after = s1.held.get(msgid)
            item = done.get(msgid)
            if item is None:
                assert after == before, (msgid, before, after)
            elif kind == "delete":
                assert after is None, (msgid, after)
            else:
                assert after is not None, f"{msgid} lost by a move"
                assert after.folder == item.target_folder, (msgid, after)
                assert after.size == before.size
                assert after.kept_flags() == before.kept_flags(), (msgid, before, after)
                if item.target_id is not None:
                    assert int(item.target_id) == after.uid, (item, after)
                    assert item.target_validity == s1.validity[after.folder]
        deleted = set(done) if kind == "delete" else set()
        assert set(s1.held) == set(s_mid.held) - deleted
        # No folder went or changed validity (an undo may make its origin again).
        for path, validity in s_mid.validity.items():
            assert s1.validity.get(path) == validity, path
        made = set(s1.validity) - set(s_mid.validity)
        assert kind == "undo" or not made, made
        assert made <= {i.target_folder for i in items}

    # -- the steps --------------------------------------------------------------------------

    def step(self, op: str, seed: int) -> None:
        rng = random.Random(seed)
        say(f"{op} ({seed})")
        self.focus = []
        if op.startswith("o-"):
            self.other(op, rng)
        elif op in ("sync", "sync-full"):
            self.sync(full=op == "sync-full")
        elif op == "sync-racing":
            other = rng.choice(OTHER_OPS)
            self.sync(racing=(None, lambda: self.other(other, rng, during=True)))
        elif op == "undo":
            self.undo(rng)
        else:
            self.act(op, rng)


@pytest.fixture(params=["dovecot", "dovecot_minimal"])
def server(request: pytest.FixtureRequest) -> Iterator[Dovecot]:
    yield request.getfixturevalue(request.param)


def run(server: Dovecot, tmp_path: Path, ops: list[tuple[str, int]]) -> None:
    server.reset_user(USER)
    server.seed(USER, renumbered_mailbox())
    # Hypothesis runs every example in the same tmp_path: each gets an index of its own.
    index = Index(tmp_path / f"index-{next(EXAMPLES)}.db")
    try:
        world = World(server, index)
        world.sync()
        for op, seed in ops:
            world.step(op, seed)
        world.sync()
    finally:
        index.close()


STEPS = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2**16)), min_size=3,
                 max_size=12)


@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=STEPS)
# Found by the property (see the plain tests below): a folder renamed during a sync.
@example(ops=[("o-expunge", 0), ("o-expunge", 0), ("sync-racing", 17)])
def test_another_clients_changes_never_mislead_mailclean(
        server: Dovecot, tmp_path: Path, ops: list[tuple[str, int]]) -> None:
    run(server, tmp_path, ops)


# -- what the property found, kept as plain tests ---------------------------------------


@pytest.fixture
def world(server: Dovecot, tmp_path: Path) -> Iterator[World]:
    server.reset_user(USER)
    server.seed(USER, renumbered_mailbox())
    index = Index(tmp_path / "index.db")
    try:
        w = World(server, index)
        w.sync()
        yield w
    finally:
        index.close()


def test_a_folder_renamed_or_deleted_during_a_sync_is_followed_by_the_next(
        world: World) -> None:
    """Found by the property: a folder another client renamed (or deleted) after the
    sync listed the folders, before its turn came, failed the whole sync with "cannot open
    folder". It is left for the next sync to follow, and the others are synced."""
    world.sync(racing=("Projets/Budget 2026", lambda: world.other_do(
        "renamed Projets/Budget 2026", lambda c: c.rename_folder("Projets/Budget 2026",
                                                                 "Renommé"))))
    world.sync(racing=("Archives/2019", lambda: world.other_do(
        "deleted Archives/2019", lambda c: c.delete_folder("Archives/2019"))))
    assert "Renommé" in world.snap.validity and "Archives/2019" not in world.snap.validity


def test_a_message_taken_away_during_a_delete_is_not_counted_as_deleted(
        world: World) -> None:
    """Found by the property: a message of the Trash that another client moved to another
    folder (or expunged) between mailclean's identity check and its expunge was journalled
    as deleted by mailclean (it had left the folder), although it was still on the server.
    It is skipped as vanished; what mailclean deleted is what it found there."""
    p = actions.plan(world.index, ACCOUNT, "delete", actions.Selection(folders=("Trash",)))
    assert len(p.items) >= 3
    moved, expunged = p.items[-1], p.items[0]

    def take_away(c: imapclient.IMAPClient) -> None:
        c.select_folder("Trash")
        if "MOVE" in world.caps:
            c.move([int(moved.server_id)], "INBOX")
        else:
            c.copy([int(moved.server_id)], "INBOX")
            c.add_flags([int(moved.server_id)], [b"\\Deleted"])
        c.add_flags([int(expunged.server_id)], [b"\\Deleted"])
        c.expunge()

    outcome = world.run_action(
        lambda c: actions.execute(world.index, c, p), "delete", None, by_ids=False,
        during=lambda: world.other_do("moved one to INBOX, expunged another", take_away))
    assert outcome is not None and outcome.action.state == "partial"
    assert sorted(outcome.skipped) == sorted(
        [("Trash", moved.server_id, "vanished"), ("Trash", expunged.server_id, "vanished")])
    assert world.snap.held[moved.message_id or ""].folder == "INBOX"
    assert outcome.action.count("done")[0] == len(p.items) - 2


def test_an_undo_into_a_folder_deleted_meanwhile_makes_it_again(world: World) -> None:
    """Found by the property: putting messages back into a folder another client had
    deleted failed with "UID illegal in state AUTH": the SELECT of the missing folder had
    failed, which leaves no folder selected, but the connector still took the Trash for
    selected. The folder is made again and the messages go back into it."""
    rows = world.index_rows("f.path = 'Archives/2019'")
    assert rows
    p = actions.plan(world.index, ACCOUNT, "trash",
                     actions.Selection(message_ids=tuple(r[0] for r in rows)))
    trashed = world.run_action(lambda c: actions.execute(world.index, c, p), "trash", None,
                               by_ids=True)
    assert trashed is not None and trashed.action.state == "done"
    world.other_do("deleted Archives/2019", lambda c: c.delete_folder("Archives/2019"))

    def undo(c: ImapConnector) -> actions.Outcome | None:
        return actions.undo(world.index, c, ACCOUNT, trashed.action.id)[1]

    outcome = world.run_action(undo, "undo", None, by_ids=True)
    assert outcome is not None and outcome.action.state == "done"
    assert {world.snap.held[r[3]].folder for r in rows} == {"Archives/2019"}
    world.sync()


@pytest.mark.parametrize("kind", ["trash", "delete"])
def test_marks_made_during_an_action_are_seen_before_anything_is_sent(
        world: World, kind: str) -> None:
    """Found by the property (server without UIDPLUS): another client marked messages
    \\Deleted right after mailclean's identity check; the safety check before the first
    command did not see them yet (a session learns of other sessions' flags only when the
    server tells it), so mailclean marked its own, saw the others then, and took every
    mark of its set back, the other client's mark on one of them included; a move had
    already copied. Now the check sees them first: nothing is sent, every mark stays."""
    folder = "Trash" if kind == "delete" else "INBOX"
    rows = world.index_rows("f.path = ? AND m.flagged = 0", (folder,))
    assert len(rows) >= 3
    p = actions.plan(world.index, ACCOUNT, kind,
                     actions.Selection(message_ids=tuple(r[0] for r in rows[:2])))
    ours, other = int(p.items[0].server_id), rows[-1][2]

    def mark(c: imapclient.IMAPClient) -> None:
        c.select_folder(folder)
        c.add_flags([ours, other], [b"\\Deleted"])

    outcome = world.run_action(
        lambda c: actions.execute(world.index, c, p), kind, None, by_ids=True,
        during=lambda: world.other_do(f"marked {folder} {[ours, other]} deleted", mark))
    assert outcome is not None
    if "UIDPLUS" not in world.caps:
        assert {r for _f, _s, r in outcome.skipped} == {"unsafe-expunge"}
        assert world.snap.held[p.items[0].message_id or ""].deleted
