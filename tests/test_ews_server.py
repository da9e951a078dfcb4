"""The loopback EWS server (tests/ews/), driven by exchangelib unmodified.

Each test talks to the server the way any exchangelib program would, and checks what comes
back against the mailbox the server holds (itself seeded from mailgen's truth).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    FailFast,
    FaultTolerance,
    Version,
)
from exchangelib import errors as ews_errors
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.fields import FieldPath
from exchangelib.folders import Folder, Messages
from exchangelib.items import ID_ONLY, Message
from exchangelib.properties import FolderId
from exchangelib.protocol import Protocol
from exchangelib.restriction import Q
from exchangelib.services import FindFolder, FindItem, GetFolder, SyncFolderItems
from exchangelib.transport import BASIC, NOAUTH

from mailclean import mailgen
from tests.ews import EwsServer
from tests.ews.mime import ParsedMessage, parse_message
from tests.ews.store import FLAG_FLAGGED
from tests.support.corpora import seeded

BUILD = Build(15, 1, 2507, 6)
PARSED: dict[bytes, ParsedMessage] = {}


def mailbox() -> tuple[mailgen.GeneratedMessage, ...]:
    """The mailbox these tests seed: 150 messages of seed 11."""
    return seeded(11, 150)


class MessageSize(ExtendedProperty):
    property_tag = 0x0E08
    property_type = "Long"


@pytest.fixture(scope="module")
def running() -> Iterator[EwsServer]:
    with EwsServer() as server:
        yield server


@pytest.fixture
def server(running: EwsServer) -> EwsServer:
    running.reset()
    running.credentials = None
    running.seed(mailbox(), cache=PARSED)
    return running


def account(
    server: EwsServer,
    *,
    retry: object = None,
    email: str | None = None,
    auth: str = NOAUTH,
    password: str = "p",
    version: bool = True,
    access_type: str = DELEGATE,
) -> Account:
    config = Configuration(
        service_endpoint=server.url,
        credentials=Credentials("agent", password),
        auth_type=auth,
        version=Version(build=BUILD) if version else None,
        retry_policy=retry or FailFast(),  # type: ignore[arg-type]
    )
    # exchangelib caches one Protocol per endpoint and credentials: tests want their own.
    with contextlib.suppress(KeyError):
        del Protocol[config]
    return Account(
        email or server.email,
        access_type=access_type,
        autodiscover=False,
        config=config,
        default_timezone=EWSTimeZone("UTC"),
    )


def by_path(server: EwsServer, generated_folder: str) -> list[mailgen.GeneratedMessage]:
    return [m for m in mailbox() if m.folder == generated_folder]


# -- folders ------------------------------------------------------------------------------------


def test_root_walk_answers_the_distinguished_batch(server: EwsServer) -> None:
    acc = account(server)
    tree = {f.absolute: f for f in acc.root.walk()}
    counts = server.request_counts()
    # The root, then exchangelib's whole list of distinguished folders in one GetFolder batch
    # (31 ids for Exchange 2016, most of them unknown here), one Deep FindFolder, and one
    # GetFolder for the "complex" properties of what it found.
    assert counts == {"GetFolder": 3, "FindFolder": 1}
    top = "/Root/Top of Information Store"
    assert f"{top}/Archives/2019" in tree and f"{top}/Calendar" in tree
    assert tree[f"{top}/Inbox"].total_count == len(by_path(server, "INBOX"))
    assert tree[f"{top}/Deleted Items"].total_count == len(by_path(server, "Trash"))
    assert acc.inbox.name == "Inbox" and acc.trash.name == "Deleted Items"
    assert acc.junk.name == "Junk Email" and acc.sent.name == "Sent Items"
    assert f"{top}/Projets/Délibérations" in tree
    # The recoverable items are outside the message folder tree.
    assert "/Root/Recoverable Items/Deletions" in tree


def test_unknown_distinguished_folders_are_not_found(server: EwsServer) -> None:
    from exchangelib.folders import Conflicts, Inbox, VoiceMail
    from exchangelib.properties import DistinguishedFolderId, Mailbox

    acc = account(server)
    folders = [
        cls(
            _distinguished_id=DistinguishedFolderId(
                id=cls.DISTINGUISHED_FOLDER_ID, mailbox=Mailbox(email_address=server.email)
            ),
            root=acc.root,
        )
        for cls in (VoiceMail, Inbox, Conflicts)
    ]
    found = list(
        GetFolder(account=acc).call(folders=folders, additional_fields=set(), shape=ID_ONLY)
    )
    assert isinstance(found[0], ews_errors.ErrorFolderNotFound)
    assert found[1].id == server.store.by_distinguished["inbox"].id
    assert isinstance(found[2], ews_errors.ErrorFolderNotFound)


@pytest.fixture
def folder_size() -> Iterator[None]:
    """PidTagMessageSizeExtended registered on exchangelib's Folder as ``size``."""
    Folder.register("size", MessageSize)
    yield
    Folder.deregister("size")


def test_find_folder_deep_with_sizes_as_64_bit_longs(server: EwsServer, folder_size: None) -> None:
    # A folder over 4 GiB: its size must not wrap around 32 bits.
    server.store.add(mailbox()[0].raw, "Gros dossier", size=5 * 2**30 + 17)
    acc = account(server)
    msg_root = acc.msg_folder_root
    server.reset_counts()
    fields = {
        FieldPath(field=Folder.get_field_by_fieldname(n))
        for n in ("name", "total_count", "parent_folder_id", "size")
    }
    found = list(
        FindFolder(account=acc, page_size=4).call(
            folders=[msg_root],
            additional_fields=fields,
            restriction=None,
            shape=ID_ONLY,
            depth="Deep",
            max_items=None,
            offset=0,
        )
    )
    # Paged by 4: every folder came, once.
    assert server.request_counts()["FindFolder"] == -(-len(found) // 4)
    assert (
        len({f.id for f in found})
        == len(found)
        == len(server.store.descendants(server.store.msgfolderroot))
    )
    sizes = {f.name: f.size for f in found}
    truth = server.store.truth()
    assert sizes["Gros dossier"] == 5 * 2**30 + 17
    assert sizes["Inbox"] == truth["Inbox"][1]
    assert sizes["Calendar"] == 0


# -- items ----------------------------------------------------------------------------------------


def test_find_item_pages_with_offsets(server: EwsServer) -> None:
    acc = account(server)
    inbox = acc.inbox
    server.reset_counts()
    qs = inbox.all().only("subject", "size", "datetime_received")
    qs.page_size = 25
    items = list(qs)
    expected = server.store.by_distinguished["inbox"].items
    assert [i.id for i in items] == [
        i.id for i in sorted(expected.values(), key=lambda i: (i.received, i.serial), reverse=True)
    ]
    assert server.request_counts()["FindItem"] == -(-len(expected) // 25)
    assert {i.size for i in items} <= {i.size for i in expected.values()}
    assert inbox.all().count() == len(expected)
    # A window in the middle: exchangelib sends Offset and reads IndexedPagingOffset.
    window = list(inbox.all().order_by("-datetime_received").only("subject")[30:40])
    assert [w.id for w in window] == [i.id for i in items[30:40]]


def test_find_item_refuses_what_only_get_item_returns(server: EwsServer) -> None:
    acc = account(server)
    svc = FindItem(account=acc, page_size=10)
    fields = {FieldPath(field=Message.get_field_by_fieldname("attachments"))}
    with pytest.raises(ews_errors.ErrorInvalidPropertyRequest, match="item:Attachments"):
        list(
            svc.call(
                folders=[acc.inbox],
                additional_fields=fields,
                restriction=None,
                order_fields=None,
                shape=ID_ONLY,
                query_string=None,
                depth="Shallow",
                calendar_view=None,
                max_items=None,
                offset=0,
            )
        )


def test_find_item_restricted_to_internet_message_ids(server: EwsServer) -> None:
    acc = account(server)
    store = server.store
    inbox = store.by_distinguished["inbox"]
    a, b = [i for i in inbox.items.values() if i.msg.message_id][:2]
    copy = store.copy(a.id, inbox)
    server.reset_counts()
    # Q(message_id=...) is an IsEqualTo on message:InternetMessageId; __in an Or of them.
    one = list(acc.inbox.filter(message_id=a.msg.message_id).only("size", "message_id"))
    assert sorted(i.id for i in one) == sorted([a.id, copy.id])
    assert {i.message_id for i in one} == {a.msg.message_id}
    both = acc.inbox.filter(message_id__in=[a.msg.message_id, b.msg.message_id.upper()])
    assert sorted(i.id for i in both.only("size")) == sorted([a.id, copy.id, b.id])  # no case
    assert server.request_counts()["FindItem"] == 2
    others = acc.inbox.filter(~Q(message_id=a.msg.message_id)).only("size")
    assert len(list(others)) == len(inbox.items) - 2
    assert list(acc.inbox.filter(message_id="<nobody@nowhere>").only("size")) == []
    with pytest.raises(ews_errors.ErrorInvalidOperation, match="does not evaluate IsEqualTo"):
        list(acc.inbox.filter(subject="x").only("size"))


def test_create_folder(server: EwsServer) -> None:
    acc = account(server)
    store = server.store
    created = Folder(parent=acc.msg_folder_root, name="Classement", folder_class="IPF.Note")
    created.save()
    folder = store.folder("Classement")
    assert created.id == folder.id and folder.folder_class == "IPF.Note"
    child = Folder(parent=created, name="2026")
    child.save()
    assert store.folder("Classement/2026").id == child.id
    with pytest.raises(ews_errors.ErrorFolderExists):
        Folder(parent=acc.msg_folder_root, name="classement").save()
    assert server.request_counts()["CreateFolder"] == 3


def test_get_item_returns_the_asked_fields_from_the_raw_message(server: EwsServer) -> None:
    acc = account(server)
    with_files = next(m for m in by_path(server, "INBOX") if len(m.attachments) >= 2)
    newsletter = next(m for m in by_path(server, "INBOX") if m.list_unsubscribe)
    store = server.store
    ids = {
        m.message_id: i
        for m in (with_files, newsletter)
        for i in store.by_distinguished["inbox"].items.values()
        if i.msg.message_id and m.message_id and m.message_id in i.msg.message_id
    }
    fetched = list(
        acc.fetch(
            ids=[(ids[m.message_id].id, None) for m in (with_files, newsletter)],
            only_fields=[
                "subject",
                "author",
                "message_id",
                "headers",
                "attachments",
                "size",
                "is_read",
                "datetime_received",
                "has_attachments",
            ],
        )
    )
    files, letter = fetched
    assert files.subject == with_files.subject
    assert files.author.email_address == with_files.sender
    assert files.size == with_files.size
    assert files.datetime_received == with_files.internal_date
    assert files.is_read == ("\\Seen" in with_files.flags)
    assert files.has_attachments is True
    assert [(a.name, a.content_type, a.size) for a in files.attachments] == [
        (t.filename, t.mime_type, t.decoded_size) for t in with_files.attachments
    ]
    # Metadata only: reading a file's content would cost a GetAttachment.
    assert "GetAttachment" not in server.request_counts()
    headers = {h.name.lower(): h.value for h in letter.headers}
    assert headers["list-unsubscribe"] == newsletter.list_unsubscribe
    # The MIME content only when asked for, and byte for byte.
    mime = next(
        iter(acc.fetch(ids=[(ids[newsletter.message_id].id, None)], only_fields=["mime_content"]))
    )
    assert mime.mime_content == newsletter.raw


def test_get_attachment_returns_the_decoded_content(server: EwsServer) -> None:
    acc = account(server)
    message = next(
        m
        for m in by_path(server, "INBOX")
        if m.attachments and m.attachments[0].encoding == "base64"
    )
    item = next(
        i for i in server.store.by_distinguished["inbox"].items.values() if i.msg.raw is message.raw
    )
    fetched = next(iter(acc.fetch(ids=[(item.id, None)], only_fields=["attachments"])))
    first = fetched.attachments[0]
    assert first.content == item.msg.attachments[0].content
    assert len(first.content) == message.attachments[0].decoded_size


def test_mailbox_fields_give_names_only_in_find_item(server: EwsServer) -> None:
    acc = account(server)
    svc = FindItem(account=acc, page_size=5)
    fields = {FieldPath(field=Message.get_field_by_fieldname("author"))}
    found = list(
        svc.call(
            folders=[acc.inbox],
            additional_fields=fields,
            restriction=None,
            order_fields=None,
            shape=ID_ONLY,
            query_string=None,
            depth="Shallow",
            calendar_view=None,
            max_items=5,
            offset=0,
        )
    )
    assert found and all(i.author.name and i.author.email_address is None for i in found)


# -- sync -----------------------------------------------------------------------------------------


def _sync(acc: Account, folder: Messages, state: str | None, page: int) -> tuple[list, str, bool]:
    svc = SyncFolderItems(account=acc)
    changes = list(
        svc.call(
            folder=folder,
            shape=ID_ONLY,
            additional_fields=set(),
            sync_state=state,
            ignore=None,
            max_changes_returned=page,
            sync_scope=None,
        )
    )
    return changes, svc.sync_state, svc.includes_last_item_in_range


def test_sync_folder_items_pages_then_reports_each_kind_of_change(server: EwsServer) -> None:
    acc = account(server)
    inbox = acc.inbox
    store = server.store
    total = len(store.by_distinguished["inbox"].items)
    state, seen, pages = None, [], 0
    while True:
        changes, state, last = _sync(acc, inbox, state, 40)
        pages += 1
        assert {kind for kind, _ in changes} <= {"create"}
        seen += [item.id for _, item in changes]
        if last:
            break
    assert pages == -(-total // 40) and len(set(seen)) == total
    # Nothing happened since: an empty page, and the state still works.
    changes, state2, last = _sync(acc, inbox, state, 40)
    assert changes == [] and last
    items = list(store.by_distinguished["inbox"].items.values())
    read_one, flag_one, gone_one, moved_one = items[0], items[1], items[2], items[3]
    key_before = {i.id: i.change_key for i in (read_one, flag_one)}
    store.mark_read(read_one.id, not read_one.is_read)
    store.set_flag(flag_one.id, FLAG_FLAGGED)
    store.delete(gone_one.id)
    moved = store.move(moved_one.id, store.by_distinguished["junkemail"])
    new = store.add(mailbox()[5].raw, store.by_distinguished["inbox"])
    changes, _, last = _sync(acc, inbox, state2, 512)
    assert last
    kinds = {(kind, (obj[0].id if kind == "read_flag_change" else obj.id)) for kind, obj in changes}
    assert kinds == {
        ("read_flag_change", read_one.id),
        ("update", flag_one.id),
        ("delete", gone_one.id),
        ("delete", moved_one.id),
        ("create", new.id),
    }
    # The change key follows modifications, not the read state (as in Exchange).
    assert read_one.change_key == key_before[read_one.id]
    assert flag_one.change_key != key_before[flag_one.id]
    assert moved.id != moved_one.id
    gone = next(iter(acc.fetch(ids=[(moved_one.id, None)], only_fields=["subject"])))
    assert isinstance(gone, ews_errors.ErrorItemNotFound)


def test_sync_states_are_checked(server: EwsServer) -> None:
    acc = account(server)
    _, state, _ = _sync(acc, acc.inbox, None, 10)
    with pytest.raises(ews_errors.ErrorInvalidSyncStateData):
        _sync(acc, acc.junk, state, 10)  # another folder's state
    server.store.invalidate_sync_states()
    with pytest.raises(ews_errors.ErrorInvalidSyncStateData):
        _sync(acc, acc.inbox, state, 10)
    with pytest.raises(ews_errors.ErrorSchemaValidation):
        _sync(acc, acc.inbox, None, 513)  # the schema's maximum is 512


def test_sync_of_a_folder_that_is_gone(server: EwsServer) -> None:
    acc = account(server)
    folder_id = server.store.folder("Projets/Délibérations").id
    server.store.delete_folder("Projets")
    svc = SyncFolderItems(account=acc)
    with pytest.raises(ews_errors.ErrorFolderNotFound):
        list(
            svc.call(
                folder=FolderId(id=folder_id),
                shape=ID_ONLY,
                additional_fields=set(),
                sync_state=None,
                ignore=None,
                max_changes_returned=10,
                sync_scope=None,
            )
        )


# -- actions -------------------------------------------------------------------------------------


def test_delete_item_hard_soft_and_to_deleted_items(server: EwsServer) -> None:
    acc = account(server)
    store = server.store
    inbox = store.by_distinguished["inbox"]
    hard, soft, trash = list(inbox.items.values())[:3]
    before = len(inbox.items)
    acc.bulk_delete(ids=[(hard.id, hard.change_key)], delete_type="HardDelete")
    acc.bulk_delete(ids=[(soft.id, soft.change_key)], delete_type="SoftDelete")
    acc.bulk_delete(ids=[(trash.id, trash.change_key)], delete_type="MoveToDeletedItems")
    assert len(inbox.items) == before - 3
    for gone in (hard, soft, trash):
        assert gone.id not in store.items
    deletions = store.by_distinguished["recoverableitemsdeletions"]
    assert [i.msg for i in deletions.items.values()] == [soft.msg]
    assert trash.msg in [i.msg for i in store.by_distinguished["deleteditems"].items.values()]
    # Deleting an unknown id is an error for that id only.
    result = acc.bulk_delete(ids=[(hard.id, None)])
    assert isinstance(result[0], ews_errors.ErrorItemNotFound)


def test_move_and_copy_return_new_ids(server: EwsServer) -> None:
    acc = account(server)
    store = server.store
    inbox = store.by_distinguished["inbox"]
    first, second = list(inbox.items.values())[:2]
    moved = acc.bulk_move(ids=[(first.id, first.change_key)], to_folder=acc.junk)
    copied = acc.bulk_copy(ids=[(second.id, second.change_key)], to_folder=acc.junk)
    junk = store.by_distinguished["junkemail"]
    assert moved[0][0] in junk.items and moved[0][0] != first.id
    assert first.id not in store.items
    assert copied[0][0] in junk.items and second.id in inbox.items
    result = acc.bulk_move(ids=[(first.id, None)], to_folder=acc.junk)
    assert isinstance(result[0], ews_errors.ErrorItemNotFound)


# -- faults ---------------------------------------------------------------------------------------


def test_server_busy_carries_its_back_off(server: EwsServer) -> None:
    inbox = account(server).inbox
    server.busy(1, back_off_ms=1500, operation="GetFolder")
    with pytest.raises(ews_errors.ErrorServerBusy) as caught:
        inbox.refresh()
    assert caught.value.back_off == 1.5
    # With FaultTolerance exchangelib waits as told, then succeeds.
    inbox = account(server, retry=FaultTolerance(max_wait=10)).inbox
    server.busy(2, back_off_ms=30, operation="GetFolder")
    server.reset_counts()
    inbox.refresh()
    assert inbox.total_count == len(by_path(server, "INBOX"))
    assert server.request_counts() == {"GetFolder": 3}


def test_dropped_connection_then_recovery(server: EwsServer) -> None:
    inbox = account(server).inbox
    server.drop(1, operation="GetFolder")
    server.reset_counts()
    with pytest.raises(ews_errors.ErrorTimeoutExpired, match=r"Connection aborted|closed"):
        inbox.refresh()
    inbox.refresh()
    assert inbox.total_count == len(by_path(server, "INBOX"))
    assert server.request_counts() == {"GetFolder": 2}


def test_dropped_answer_after_the_work_is_done(server: EwsServer) -> None:
    acc = account(server)
    store = server.store
    first = next(iter(store.by_distinguished["inbox"].items.values()))
    server.drop(1, operation="MoveItem", processed=True)
    with pytest.raises(ews_errors.ErrorTimeoutExpired):
        acc.bulk_move(ids=[(first.id, None)], to_folder=acc.junk)
    # The move was done; only its answer was lost.
    assert first.id not in store.items
    assert [i.msg for i in store.by_distinguished["junkemail"].items.values()][-1] is first.msg


def test_basic_authentication(server: EwsServer) -> None:
    server.credentials = ("agent", "right")
    with pytest.raises(ews_errors.UnauthorizedError):
        account(server, auth=BASIC, password="wrong").inbox.refresh()
    assert account(server, auth=BASIC, password="right").inbox.total_count > 0


def test_version_probe_reads_the_server_version(server: EwsServer) -> None:
    acc = account(server, version=False)
    assert acc.inbox.total_count > 0
    assert acc.version.build == BUILD
    assert server.request_counts()["ConvertId"] == 1


def test_several_mailboxes_and_impersonation(server: EwsServer) -> None:
    other = "dgs@mairie-exemple.fr"
    server.seed(mailbox()[:40], email=other, cache=PARSED)
    acc = account(server, email=other, access_type=IMPERSONATION)
    assert acc.inbox.total_count == sum(1 for m in mailbox()[:40] if m.folder == "INBOX")
    assert account(server).inbox.total_count == len(by_path(server, "INBOX"))


def test_french_mailbox_names(running: EwsServer) -> None:
    with EwsServer(locale="fr") as server:
        server.seed(mailbox()[:20], cache=PARSED)
        acc = account(server)
        assert acc.inbox.name == "Boîte de réception"
        assert server.path_for("Trash") == "Éléments supprimés"


def test_counts_per_operation_and_unknown_operations(server: EwsServer) -> None:
    inbox = account(server).inbox
    server.reset_counts()
    inbox.refresh()
    with pytest.raises(ews_errors.ErrorInvalidOperation, match="does not implement"):
        inbox.empty()
    assert server.request_counts() == {"GetFolder": 1, "EmptyFolder": 1}


def test_mime_parsing_agrees_with_the_generator() -> None:
    """The server's own reading of the raw bytes (tests/ews/mime.py) matches mailgen's truth,
    malformed messages included: the EWS tests compare against it."""
    for message in mailbox():
        parsed = PARSED.get(message.raw) or parse_message(message.raw)
        assert [(a.name, a.content_type, a.size) for a in parsed.attachments] == [
            (t.filename, t.mime_type, t.decoded_size) for t in message.attachments
        ], message.kind
        assert parsed.subject == message.subject
        assert parsed.date == message.date
        assert (parsed.sender.address if parsed.sender else None) == message.sender


def test_forwarded_messages_are_item_attachments(server: EwsServer) -> None:
    from exchangelib.attachments import ItemAttachment

    acc = account(server)
    store = server.store
    forwarded = next(
        i
        for f in store.mail_folders()
        for i in f.items.values()
        if any(a.is_item for a in i.msg.attachments)
    )
    fetched = next(iter(acc.fetch(ids=[(forwarded.id, None)], only_fields=["attachments"])))
    item_attachments = [a for a in fetched.attachments if isinstance(a, ItemAttachment)]
    assert len(item_attachments) == sum(a.is_item for a in forwarded.msg.attachments)
    inner = item_attachments[0].item  # a GetAttachment: the forwarded message itself
    assert (
        inner.subject
        == parse_message(next(a for a in forwarded.msg.attachments if a.is_item).content).subject
    )
    assert server.request_counts()["GetAttachment"] == 1


def test_server_runs_as_a_process_for_benchmarks() -> None:
    import json
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ews", "--generate", "120", "--seed", "3"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, url, items = proc.stdout.readline().split()
        assert ready == "READY" and int(items) == 120
        config = Configuration(
            service_endpoint=url,
            credentials=Credentials("a", "b"),
            auth_type=NOAUTH,
            version=Version(build=BUILD),
        )
        acc = Account(
            "agent@mairie-exemple.fr",
            access_type=DELEGATE,
            autodiscover=False,
            config=config,
            default_timezone=EWSTimeZone("UTC"),
        )
        assert acc.inbox.total_count > 0
        base = url.rsplit("/EWS/", 1)[0]
        with urllib.request.urlopen(f"{base}/_test/stats", timeout=10) as answer:
            stats = json.loads(answer.read())
        assert stats["counts"]["GetFolder"] == 2 and stats["bytes_sent"] > 0
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
