"""One adapter per connector for the connector contract suite (``tests/test_contract.py``).

The scenarios of the suite never name a protocol: they seed a mailbox, build connectors,
read the store's own truth and play "another client" only through an :class:`Adapter`.
A connector joins the suite by adding one adapter class here and one entry in
:data:`ADAPTERS`; nothing in the scenarios changes.

What an adapter must give:

- ``seed(messages)``: an empty mailbox holding exactly these generated messages (flags and
  arrival times kept), in the folders :meth:`Adapter.path` names.
- ``connector(batch=None)``: a fresh, unconnected connector; with ``batch`` each
  ``MessagesAdded`` it yields carries at most that many messages.
- the truth, read from the store itself and never through the connector under test:
  ``status()`` ``{folder: (messages, bytes)}`` and ``contents()`` ``{folder: [Stored]}``
  (Message-ID, \\Seen, \\Flagged, raw bytes); ``quota_used()``, the store's own figure.
- "another client": ``append``, ``expunge``, ``move``, ``set_flags`` (messages named by
  Message-ID) and ``reset_identity(folder)``: what makes the connector's identity of the
  folder stale (a new UIDVALIDITY, a folder recreated under the same name...).
- ``roles``: where the folders of each role are; ``not_applicable``: scenario -> why it
  cannot apply to this connector, which the scenario then asserts instead (never a
  silent skip); ``refetches_flagged`` and ``refetches_seen``: why a follow-up flag or a
  read-state change comes back as a new fetch of the message rather than as a flag
  change, or None; ``untraceable_moves``: why a moved
  message without a Message-ID cannot be found again in its new folder, or None.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from mailclean import mailgen, mime
from mailclean.connectors import maildir as maildir_module
from mailclean.connectors.base import Connector
from mailclean.connectors.ews import EwsConnector, EwsSettings
from mailclean.connectors.graph import GraphConnector, GraphSettings
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.connectors.imap import limits as imap_limits
from mailclean.connectors.maildir import MaildirConnector

if TYPE_CHECKING:
    from tests.dovecot import Dovecot
    from tests.ews import EwsServer, Store
    from tests.ews.mime import ParsedMessage
    from tests.support.graph import GraphServer
    from tests.support.graph import Store as GraphStore

#: Scenario names an adapter may declare not applicable (with its reason).
IDENTITY_LOSS = "identity_loss"
QUOTA = "quota"
SCENARIOS = (IDENTITY_LOSS, QUOTA)

USER, PASSWORD = "user1", "secret1"


def message_id(raw: bytes) -> str | None:
    """The Message-ID of raw message bytes, as the index keeps it (brackets off), read with
    the standard library's parser rather than mailclean's."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i != -1]
    head = raw[: min(ends) + 2] if ends else raw  # the parser would read the body too
    header = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    value = header.get("Message-ID")
    return mime.normalize_message_id(str(value)) if value is not None else None


def crlf_size(raw: bytes) -> int:
    """RFC822.SIZE of raw bytes: their length with CRLF line ends."""
    return len(raw) + raw.count(b"\n") - raw.count(b"\r\n")


@dataclass(frozen=True)
class Stored:
    """One message as the store holds it."""

    message_id: str | None
    seen: bool
    flagged: bool
    raw: bytes = field(compare=False, repr=False)


class Adapter(ABC):
    """How the contract suite drives one kind of store (see the module docstring)."""

    name: ClassVar[str]
    roles: dict[str, str]
    """Role -> path of the folder the connector must give that role."""
    not_applicable: ClassVar[dict[str, str]] = {}
    refetches_flagged: ClassVar[str | None] = None
    refetches_seen: ClassVar[str | None] = None
    untraceable_moves: ClassVar[str | None] = None
    """Why the connector cannot tell where a message it moved went when the message has
    no Message-ID (so undo cannot find it in the Trash), or None when it always can."""

    @abstractmethod
    def seed(self, messages: Sequence[mailgen.GeneratedMessage]) -> None: ...

    @abstractmethod
    def connector(self, batch: int | None = None) -> Connector: ...

    @abstractmethod
    def path(self, generated_folder: str) -> str:
        """Where the store keeps the messages mailgen puts in ``generated_folder``."""

    @abstractmethod
    def status(self) -> dict[str, tuple[int, int]]: ...

    @abstractmethod
    def contents(self) -> dict[str, list[Stored]]: ...

    def quota_used(self) -> int | None:
        """Bytes the store counts against the quota, None where it keeps none."""
        return None

    @abstractmethod
    def append(self, folder: str, raw: bytes, *, seen: bool = False,
               flagged: bool = False) -> None: ...

    @abstractmethod
    def expunge(self, folder: str, message_ids: Iterable[str]) -> None: ...

    @abstractmethod
    def move(self, folder: str, message_ids: Iterable[str], target: str) -> None: ...

    @abstractmethod
    def set_flags(self, folder: str, msgid: str, *, seen: bool | None = None,
                  flagged: bool | None = None) -> None: ...

    @abstractmethod
    def reset_identity(self, folder: str) -> None: ...


# -- Dovecot (IMAP) -------------------------------------------------------------------------


class DovecotAdapter(Adapter):
    """A private Dovecot (tests/dovecot.py); the truth is ``doveadm`` and a plain IMAP
    client of its own."""

    name = "dovecot"

    def __init__(self, server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.monkeypatch = monkeypatch
        self.roles = {"inbox": "INBOX", "sent": "Sent", "drafts": "Drafts", "trash": "Trash",
                      "junk": "Junk"}

    def seed(self, messages: Sequence[mailgen.GeneratedMessage]) -> None:
        self.server.reset_user(USER)
        self.server.seed(USER, messages)

    def connector(self, batch: int | None = None) -> Connector:
        if batch is not None:
            # Read when the connector is built: each FETCH (and MessagesAdded) is this big.
            self.monkeypatch.setattr(imap_limits, "FETCH_CHUNK", batch)
        return ImapConnector(ImapSettings(self.server.host, USER, PASSWORD,
                                          port=self.server.port, security="none"))

    def path(self, generated_folder: str) -> str:
        return generated_folder

    def status(self) -> dict[str, tuple[int, int]]:
        return self.server.status(USER)

    def contents(self) -> dict[str, list[Stored]]:
        client = self.server.client(USER)
        out: dict[str, list[Stored]] = {}
        try:
            for flags, _delimiter, name in client.list_folders():
                if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                    continue
                client.select_folder(name, readonly=True)
                uids = client.search("ALL")
                data = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
                out[name] = [
                    Stored(message_id(d[b"BODY[]"]), b"\\Seen" in d[b"FLAGS"],
                           b"\\Flagged" in d[b"FLAGS"], d[b"BODY[]"])
                    for _uid, d in sorted(data.items())
                ]
        finally:
            client.logout()
        return out

    def quota_used(self) -> int | None:
        rows = json.loads(self.server.doveadm("-f", "json", "quota", "get", "-u", USER))
        storage = [r for r in rows if r["type"] == "STORAGE"]
        assert len(storage) == 1, rows
        return int(storage[0]["value"]) * 1024

    def _uids(self, client: object, msgids: Iterable[str]) -> list[int]:
        wanted = list(msgids)
        uids = client.search("ALL")  # type: ignore[attr-defined]
        data = client.fetch(uids, ["BODY.PEEK[HEADER]"]) if uids else {}  # type: ignore[attr-defined]
        by_id: dict[str | None, list[int]] = {}
        for uid, d in sorted(data.items()):
            by_id.setdefault(message_id(d[b"BODY[HEADER]"]), []).append(uid)
        out = []
        for m in wanted:
            assert by_id.get(m), f"no message {m} here"
            out.append(by_id[m].pop(0))
        return out

    def append(self, folder: str, raw: bytes, *, seen: bool = False,
               flagged: bool = False) -> None:
        flags = [f for f, on in ((b"\\Seen", seen), (b"\\Flagged", flagged)) if on]
        client = self.server.client(USER)
        try:
            client.append(folder, raw, flags=flags)
        finally:
            client.logout()

    def expunge(self, folder: str, message_ids: Iterable[str]) -> None:
        self._remove(folder, message_ids, None)

    def move(self, folder: str, message_ids: Iterable[str], target: str) -> None:
        self._remove(folder, message_ids, target)

    def _remove(self, folder: str, message_ids: Iterable[str], copy_to: str | None) -> None:
        # COPY + \Deleted + EXPUNGE: what every server can do (the minimal one has no MOVE).
        # No other message of the corpus is \Deleted, so EXPUNGE removes only these.
        client = self.server.client(USER)
        try:
            client.select_folder(folder)
            uids = self._uids(client, message_ids)
            if copy_to is not None:
                client.copy(uids, copy_to)
            client.delete_messages(uids)
            client.expunge()
        finally:
            client.logout()

    def set_flags(self, folder: str, msgid: str, *, seen: bool | None = None,
                  flagged: bool | None = None) -> None:
        client = self.server.client(USER)
        try:
            client.select_folder(folder)
            uids = self._uids(client, [msgid])
            for flag, value in ((b"\\Seen", seen), (b"\\Flagged", flagged)):
                if value is True:
                    client.add_flags(uids, [flag])
                elif value is False:
                    client.remove_flags(uids, [flag])
        finally:
            client.logout()

    def reset_identity(self, folder: str) -> None:
        """A new UIDVALIDITY for the same messages (as after the server rebuilt its index)."""
        client = self.server.client(USER)
        try:
            old = client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        finally:
            client.logout()
        self.server.kick(USER)
        self.server.doveadm("mailbox", "update", "-u", USER, "--uid-validity", str(old + 1000),
                            folder)


class DovecotMinimalAdapter(DovecotAdapter):
    """The same, on a server without MOVE, UIDPLUS, CONDSTORE, SPECIAL-USE, ESEARCH..."""

    name = "dovecot_minimal"
    untraceable_moves: ClassVar[str | None] = (
        "without UIDPLUS the server does not say where a copy went (no COPYUID): mailclean "
        "finds moved messages again by Message-ID and size, and never guesses by size alone"
    )


class DovecotNoMoveAdapter(DovecotAdapter):
    """The same, on a server with UIDPLUS but without MOVE: moves are COPY + UID EXPUNGE."""

    name = "dovecot_nomove"


# -- Maildir ---------------------------------------------------------------------------------


class MaildirAdapter(Adapter):
    """A Maildir++ tree on disk; the truth is its files."""

    name = "maildir"
    not_applicable: ClassVar[dict[str, str]] = {
        IDENTITY_LOSS: (
            "a Maildir has no folder identity: a message is known by its unique file name, "
            "never reused, so the connector has no UIDVALIDITY (folder_validity() is None) "
            "and never yields FolderReset; a folder recreated with new file names is an "
            "ordinary diff (every old name removed, every new one added)"
        ),
        QUOTA: "a Maildir on the local disk has no quota: quota() is None",
    }

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.roles = {"inbox": "INBOX", "sent": "Sent", "drafts": "Drafts", "trash": "Trash",
                      "junk": "Junk"}
        self._serial = 0

    def seed(self, messages: Sequence[mailgen.GeneratedMessage]) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        mailgen.write_maildir(self.root, messages)

    def connector(self, batch: int | None = None) -> Connector:
        if batch is not None:
            self.monkeypatch.setattr(maildir_module, "CHUNK", batch)
        return MaildirConnector(self.root)

    def path(self, generated_folder: str) -> str:
        return generated_folder

    def _dirs(self) -> dict[str, Path]:
        from imapclient.imap_utf7 import decode

        dirs = {"INBOX": self.root}
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") and (child / "cur").is_dir():
                dirs[decode(child.name[1:].encode()).replace(".", "/")] = child
        return dirs

    @staticmethod
    def _files(directory: Path) -> list[Path]:
        return sorted(p for sub in ("cur", "new") for p in (directory / sub).iterdir()
                      if not p.name.startswith("."))

    @staticmethod
    def _flags(path: Path) -> str:
        _key, _sep, info = path.name.partition(":")
        return info[2:] if info.startswith("2,") else ""

    def status(self) -> dict[str, tuple[int, int]]:
        out = {}
        for folder, directory in self._dirs().items():
            files = self._files(directory)
            out[folder] = (len(files), sum(crlf_size(p.read_bytes()) for p in files))
        return out

    def contents(self) -> dict[str, list[Stored]]:
        out = {}
        for folder, directory in self._dirs().items():
            stored = []
            for p in self._files(directory):
                raw = p.read_bytes()
                flags = self._flags(p)
                stored.append(Stored(message_id(raw), "S" in flags, "F" in flags, raw))
            out[folder] = stored
        return out

    def _find(self, folder: str, msgids: Iterable[str]) -> list[Path]:
        by_id: dict[str | None, list[Path]] = {}
        for p in self._files(self._dirs()[folder]):
            by_id.setdefault(message_id(p.read_bytes()), []).append(p)
        out = []
        for m in msgids:
            assert by_id.get(m), f"no message {m} in {folder}"
            out.append(by_id[m].pop(0))
        return out

    def _name(self) -> str:
        self._serial += 1
        return f"1800000000.M{self._serial}P0.contract"

    def append(self, folder: str, raw: bytes, *, seen: bool = False,
               flagged: bool = False) -> None:
        # As a delivery agent writes it: LF line ends, no size in the name.
        data = raw.replace(b"\r\n", b"\n")
        flags = "".join(f for f, on in (("F", flagged), ("S", seen)) if on)
        directory = self._dirs()[folder]
        target = (directory / "cur" / f"{self._name()}:2,{flags}" if flags
                  else directory / "new" / self._name())
        tmp = directory / "tmp" / target.name
        tmp.write_bytes(data)
        os.rename(tmp, target)

    def expunge(self, folder: str, message_ids: Iterable[str]) -> None:
        for p in self._find(folder, message_ids):
            p.unlink()

    def move(self, folder: str, message_ids: Iterable[str], target: str) -> None:
        cur = self._dirs()[target] / "cur"
        for p in self._find(folder, message_ids):
            name = p.name if ":" in p.name else p.name + ":2,"
            os.rename(p, cur / name)

    def set_flags(self, folder: str, msgid: str, *, seen: bool | None = None,
                  flagged: bool | None = None) -> None:
        (p,) = self._find(folder, [msgid])
        flags = set(self._flags(p))
        for letter, value in (("S", seen), ("F", flagged)):
            if value is True:
                flags.add(letter)
            elif value is False:
                flags.discard(letter)
        key = p.name.partition(":")[0]
        os.rename(p, p.parent.parent / "cur" / f"{key}:2,{''.join(sorted(flags))}")

    def reset_identity(self, folder: str) -> None:
        """The folder deleted and made again with the same messages under new file names
        (a restore from backup by another program)."""
        directory = self._dirs()[folder]
        saved = [(p.read_bytes(), self._flags(p)) for p in self._files(directory)]
        shutil.rmtree(directory)
        for sub in ("cur", "new", "tmp"):
            (directory / sub).mkdir(parents=True)
        for raw, flags in saved:
            (directory / "cur" / f"{self._name()}:2,{flags}").write_bytes(raw)


# -- Exchange (loopback EWS server) ------------------------------------------------------------


class EwsAdapter(Adapter):
    """The loopback EWS server (tests/ews/), driven by exchangelib unmodified; the truth is
    the server's own mailbox."""

    name = "ews"
    refetches_flagged: ClassVar[str | None] = (
        "in Exchange a follow-up flag is a modification of the item: it gets a new change "
        "key, SyncFolderItems reports an Update and the item is fetched again (only the "
        "read state comes as a ReadFlagChange)"
    )

    def __init__(self, server: EwsServer, parsed: dict[bytes, ParsedMessage]) -> None:
        self.server = server
        self.parsed = parsed
        self.roles = {}

    @property
    def store(self) -> Store:
        return self.server.store

    def seed(self, messages: Sequence[mailgen.GeneratedMessage]) -> None:
        self.server.reset()
        self.server.seed(messages, cache=self.parsed)
        self.store.quota_kb = 1024 * 1024  # a 1 GiB mailbox: the server reports a quota
        names = self.store.by_distinguished
        self.roles = {"inbox": names["inbox"].name, "sent": names["sentitems"].name,
                      "drafts": names["drafts"].name, "trash": names["deleteditems"].name,
                      "junk": names["junkemail"].name}

    def connector(self, batch: int | None = None) -> Connector:
        settings = EwsSettings(email=self.server.email, ews_url=self.server.url, auth="none",
                               max_wait=5.0)
        if batch is not None:
            settings = dataclasses.replace(settings, page_size=batch)
        return EwsConnector(settings)

    def path(self, generated_folder: str) -> str:
        return self.server.path_for(generated_folder)

    def status(self) -> dict[str, tuple[int, int]]:
        return self.store.truth()

    def contents(self) -> dict[str, list[Stored]]:
        from tests.ews.store import FLAG_FLAGGED

        store = self.store
        with store.lock:
            return {
                store.path(f): [
                    Stored(message_id(i.msg.raw), i.is_read, i.flag_status == FLAG_FLAGGED,
                           i.msg.raw)
                    for i in f.items.values()
                ]
                for f in store.mail_folders()
            }

    def quota_used(self) -> int | None:
        # The mailbox's size: the sum of its folders' (PidTagMessageSizeExtended).
        store = self.store
        with store.lock:
            return sum(f.size for f in store.mail_folders())

    def _find(self, folder: str, msgids: Iterable[str]) -> list[str]:
        store = self.store
        with store.lock:
            by_id: dict[str | None, list[str]] = {}
            for item in store.folder(folder).items.values():
                by_id.setdefault(message_id(item.msg.raw), []).append(item.id)
        out = []
        for m in msgids:
            assert by_id.get(m), f"no message {m} in {folder}"
            out.append(by_id[m].pop(0))
        return out

    def append(self, folder: str, raw: bytes, *, seen: bool = False,
               flagged: bool = False) -> None:
        self.store.add(raw, folder, read=seen, flagged=flagged)

    def expunge(self, folder: str, message_ids: Iterable[str]) -> None:
        for item_id in self._find(folder, message_ids):
            self.store.delete(item_id)

    def move(self, folder: str, message_ids: Iterable[str], target: str) -> None:
        destination = self.store.folder(target)
        for item_id in self._find(folder, message_ids):
            self.store.move(item_id, destination)

    def set_flags(self, folder: str, msgid: str, *, seen: bool | None = None,
                  flagged: bool | None = None) -> None:
        from tests.ews.store import FLAG_FLAGGED, FLAG_NOT_FLAGGED

        (item_id,) = self._find(folder, [msgid])
        if seen is not None:
            self.store.mark_read(item_id, seen)
        if flagged is not None:
            self.store.set_flag(item_id, FLAG_FLAGGED if flagged else FLAG_NOT_FLAGGED)

    def reset_identity(self, folder: str) -> None:
        """The folder deleted and created again under the same name (a new folder id),
        holding the same messages as new items."""
        from tests.ews.store import FLAG_FLAGGED

        store = self.store
        with store.lock:
            saved = [(i.msg, i.received, i.is_read, i.flag_status == FLAG_FLAGGED)
                     for i in store.folder(folder).items.values()]
            store.delete_folder(folder)
            new = store.create_folder(folder)
            for msg, received, read, flagged in saved:
                store.add(msg, new, read=read, flagged=flagged, received=received)


class GraphAdapter(Adapter):
    """The loopback Microsoft Graph server (tests/support/graph/), reached through MSAL and
    httpx unmodified (app-only, client secret, over TLS); the truth is the server's own
    mailbox."""

    name = "graph"
    refetches_flagged: ClassVar[str | None] = (
        "in Exchange a follow-up flag is a modification of the message: it gets a new "
        "change key, and delta sends the whole message again"
    )
    refetches_seen: ClassVar[str | None] = (
        "Graph's delta has no flag-only change: a message whose read state changed comes "
        "back whole"
    )
    not_applicable: ClassVar[dict[str, str]] = {
        QUOTA: "Microsoft Graph v1.0 gives a mail client no mailbox quota nor size",
    }
    CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    SECRET = "contract-secret"

    def __init__(self, server: GraphServer, cafile: Path) -> None:
        self.server = server
        self.cafile = cafile
        self.roles = {}
        server.register_app(self.CLIENT, secret=self.SECRET)

    @property
    def store(self) -> GraphStore:
        return self.server.store

    def seed(self, messages: Sequence[mailgen.GeneratedMessage]) -> None:
        self.server.seed(messages)
        known = self.store.by_well_known
        self.roles = {r: self.store.path(known[n]) for r, n in (
            ("inbox", "inbox"), ("sent", "sentitems"), ("drafts", "drafts"),
            ("trash", "deleteditems"), ("junk", "junkemail"), ("archive", "archive"))}

    def connector(self, batch: int | None = None) -> Connector:
        s = self.server
        settings = GraphSettings(email=s.email, tenant_id=s.tenant_id, client_id=self.CLIENT,
                                 auth="client-secret", client_secret=self.SECRET,
                                 graph_url=s.graph_url, authority_url=s.authority_url,
                                 cafile=str(self.cafile), max_wait=10.0)
        if batch is not None:
            settings = dataclasses.replace(settings, page_size=batch)
        return GraphConnector(settings)

    def path(self, generated_folder: str) -> str:
        return self.server.path_for(generated_folder)

    def status(self) -> dict[str, tuple[int, int]]:
        return self.store.truth()

    def contents(self) -> dict[str, list[Stored]]:
        return {path: [Stored(message_id(m.raw), m.is_read, m.flagged, m.raw)
                       for m in self.store.messages(path)] for path in self.store.truth()}

    def _find(self, folder: str, msgids: Iterable[str]) -> list[str]:
        by_id: dict[str | None, list[str]] = {}
        for m in self.store.messages(folder):
            by_id.setdefault(message_id(m.raw), []).append(m.immutable_id)
        out = []
        for msgid in msgids:
            assert by_id.get(msgid), f"no message {msgid} in {folder}"
            out.append(by_id[msgid].pop(0))
        return out

    def append(self, folder: str, raw: bytes, *, seen: bool = False,
               flagged: bool = False) -> None:
        self.store.add(folder, raw, is_read=seen, flagged=flagged)

    def expunge(self, folder: str, message_ids: Iterable[str]) -> None:
        for item in self._find(folder, message_ids):
            self.store.permanent_delete(item)

    def move(self, folder: str, message_ids: Iterable[str], target: str) -> None:
        for item in self._find(folder, message_ids):
            self.store.move(item, target)

    def set_flags(self, folder: str, msgid: str, *, seen: bool | None = None,
                  flagged: bool | None = None) -> None:
        (item,) = self._find(folder, [msgid])
        self.store.set_flags(item, is_read=seen, flagged=flagged)

    def reset_identity(self, folder: str) -> None:
        self.store.recreate_folder(folder)


# -- the registry: one entry per connector ---------------------------------------------------

#: The EWS server's parse of each raw message, shared by every seeding of the session.
_PARSED: dict[bytes, ParsedMessage] = {}


def _dovecot(kind: type[DovecotAdapter]) -> Callable[[pytest.FixtureRequest], Adapter]:
    def make(request: pytest.FixtureRequest) -> Adapter:
        server = request.getfixturevalue(kind.name)
        return kind(server, request.getfixturevalue("monkeypatch"))
    return make


def _maildir(request: pytest.FixtureRequest) -> Adapter:
    root = request.getfixturevalue("tmp_path") / "Maildir"
    return MaildirAdapter(root, request.getfixturevalue("monkeypatch"))


def _ews(request: pytest.FixtureRequest) -> Adapter:
    return EwsAdapter(request.getfixturevalue("contract_ews_server"), _PARSED)


def _graph(request: pytest.FixtureRequest) -> Adapter:
    from tests.support.graph import GraphServer

    server = GraphServer(tls=request.getfixturevalue("graph_tls")).start()
    request.addfinalizer(server.stop)
    return GraphAdapter(server, request.getfixturevalue("graph_tls")[0])


#: Connector name -> how to build its adapter for one test (given the test's request).
ADAPTERS: dict[str, Callable[[pytest.FixtureRequest], Adapter]] = {
    "maildir": _maildir,
    "dovecot": _dovecot(DovecotAdapter),
    "dovecot_minimal": _dovecot(DovecotMinimalAdapter),
    "dovecot_nomove": _dovecot(DovecotNoMoveAdapter),
    "ews": _ews,
    "graph": _graph,
}

