"""The Cyrus and GNU Mailutils harnesses (tests/support/) do what the IMAP tests rely on.

Each server starts from its own private configuration, shows a seeded mailbox with the exact
counts and byte totals through its oracle *and* through a plain client, advertises the
capabilities its module documents, and leaves no process behind. The Mailutils quirks the
project must cope with are demonstrated here: if a future version fixes one, its test fails
and says so.
"""

from __future__ import annotations

import base64
import math
import os
import socket
import time
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import imapclient
import pytest
from imapclient.exceptions import IMAPClientError, LoginError

from mailclean.mailgen import GeneratedMessage
from tests.support import cyrus as cyrus_module
from tests.support import group_processes, imap_status_size, imap_totals
from tests.support import mailutils as mailutils_module
from tests.support.corpora import smallest_mailbox
from tests.support.cyrus import Cyrus, find_cyrus
from tests.support.mailutils import Mailutils, find_imap4d

#: What a careful client looks for and Mailutils lacks.
MODERN = {
    "MOVE",
    "CONDSTORE",
    "QRESYNC",
    "UIDPLUS",
    "SPECIAL-USE",
    "ESEARCH",
    "STATUS=SIZE",
    "LIST-STATUS",
    "QUOTA",
}

# The tests that start their own server skip as the fixtures do (but fail under CI).
needs_cyrus = pytest.mark.skipif(
    find_cyrus() is None and not os.environ.get("CI"),
    reason="Cyrus is not installed: run `make system-deps` (root)",
)
needs_mailutils = pytest.mark.skipif(
    find_imap4d() is None and not os.environ.get("CI"),
    reason="GNU Mailutils imap4d is not installed: run `make system-deps` (root)",
)


def local(when: datetime) -> datetime:
    """``when`` as imapclient gives INTERNALDATE: naive, in local time."""
    return when.astimezone().replace(tzinfo=None)


def message(
    folder: str,
    subject: str,
    body_lines: int = 3,
    flags: tuple[str, ...] = (),
    internal_date: datetime = datetime(2024, 6, 3, 12, 5, tzinfo=UTC),
) -> GeneratedMessage:
    """A small hand-built message (CRLF, a Date header of 3 June 2024 14:05 +0200)."""
    body = "".join(f"Line {i} of {subject}, with some é accents.\r\n" for i in range(body_lines))
    msgid = f"{zlib.crc32(f'{folder}/{subject}'.encode()):08x}@example.org"
    raw = (
        f"From: Someone <someone@example.org>\r\nTo: user@example.org\r\n"
        f"Subject: {subject}\r\nDate: Mon, 3 Jun 2024 14:05:00 +0200\r\n"
        f"Message-ID: <{msgid}>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}"
    ).encode()
    return GeneratedMessage(
        folder=folder,
        raw=raw,
        flags=frozenset(flags),
        internal_date=internal_date,
        kind="personal",
        message_id=None,
        subject=subject,
        sender="someone@example.org",
        sender_name="Someone",
        date=None,
        thread_root=None,
        list_id=None,
        list_unsubscribe=None,
        list_unsubscribe_post=None,
        precedence=None,
        auto_submitted=None,
        attachments=(),
        malformed=None,
    )


def expected_totals(messages: Sequence[GeneratedMessage]) -> dict[str, tuple[int, int]]:
    """{folder: (count, sum of sizes)} the seeded messages should show."""
    totals: dict[str, tuple[int, int]] = {}
    for item in messages:
        count, size = totals.get(item.folder, (0, 0))
        totals[item.folder] = (count + 1, size + item.size)
    return totals


def assert_matches(seen: dict[str, tuple[int, int]], messages: Sequence[GeneratedMessage]) -> None:
    """Every seeded folder shows exactly its messages and bytes; every other folder is empty."""
    expected = expected_totals(messages)
    missing = set(expected) - set(seen)
    assert not missing, f"folders missing: {missing} (seen {sorted(seen)})"
    for folder, totals in seen.items():
        assert totals == expected.get(folder, (0, 0)), folder


@pytest.fixture(scope="module")
def corpus() -> Sequence[GeneratedMessage]:
    """The smallest realistic mailgen mailbox: folders with accents, attachments, 8-bit and
    malformed headers."""
    return smallest_mailbox()


def uid_command(client: imapclient.IMAPClient, *args: str) -> tuple[str, list[bytes]]:
    """A raw ``UID ...`` command: (status, data), BAD and NO included (never raises)."""
    try:
        typ, data = client._imap.uid(*args)
    except client._imap.error as exc:  # imaplib raises on BAD
        return "BAD", [str(exc).encode()]
    return typ, [d for d in data if isinstance(d, bytes)]


def fetched_uids(data: list[bytes]) -> list[int]:
    """The UIDs in the lines of a raw ``UID FETCH`` answer."""
    uids = []
    for line in data:
        parts = line.replace(b"(", b" ").replace(b")", b" ").split()
        if b"UID" in parts:
            uids.append(int(parts[parts.index(b"UID") + 1]))
    return uids


# -- both servers: start, stop, nothing left ----------------------------------------------


@needs_cyrus
def test_cyrus_starts_in_a_moment_and_stops_without_leftovers() -> None:
    started = time.monotonic()
    server = Cyrus(suppress=("MOVE", "QRESYNC"))
    with server:
        elapsed = time.monotonic() - started
        assert elapsed < 5, f"Cyrus took {elapsed:.1f} s to start"
        root, pid = server.root, server.pid
        assert pid is not None and server.running
        client = server.client("user1")  # a session is open when stop() comes
        caps = {c.decode() for c in client.capabilities()}
        assert "MOVE" not in caps and "QRESYNC" not in caps
        assert "UIDPLUS" in caps
        assert len(group_processes(pid)) >= 2  # master and an imapd
    assert not group_processes(pid)
    assert not root.exists()
    assert not server.running
    server.stop()  # idempotent


@needs_mailutils
def test_mailutils_starts_in_a_moment_and_stops_without_leftovers() -> None:
    started = time.monotonic()
    server = Mailutils()
    with server:
        elapsed = time.monotonic() - started
        assert elapsed < 5, f"imap4d took {elapsed:.1f} s to start"
        root, pid = server.root, server.pid
        assert pid is not None and server.running
        server.reset_user("user1")
        client = server.client("user1")
        client.select_folder("INBOX")
        assert len(server.sessions()) == 2  # the daemon and this session
    assert not group_processes(pid)
    assert not root.exists()
    server.stop()


# -- Cyrus ----------------------------------------------------------------------------------


def test_cyrus_capabilities_are_as_documented(cyrus: Cyrus) -> None:
    raw = imapclient.IMAPClient(cyrus.host, cyrus.port, ssl=False, timeout=10)
    before = {c.decode() for c in raw.capabilities()}
    # imapclient upper-cases what the server advertises.
    assert {"AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR", "IMAP4REV1"} <= before
    raw.logout()
    client = cyrus.client("user1")
    after = {c.decode() for c in client.capabilities()}
    client.logout()
    documented = {c.upper() for c in cyrus_module.CAPABILITIES}
    assert after == documented, (
        f"Cyrus now advertises {sorted(after - documented)} more and "
        f"{sorted(documented - after)} fewer: update tests/support/cyrus.py"
    )
    assert after >= MODERN


def test_cyrus_seeded_mailbox_oracle_and_client_agree(
    cyrus: Cyrus, corpus: Sequence[GeneratedMessage]
) -> None:
    cyrus.reset_user("user1")
    counts = cyrus.seed("user1", corpus)
    assert {f: n for f, n in counts.items() if n} == {
        f: n for f, (n, _size) in expected_totals(corpus).items()
    }
    oracle = cyrus.status("user1")
    assert_matches(oracle, corpus)
    # The same through a plain client: STATUS MESSAGES + the sum of FETCH RFC822.SIZE, and
    # STATUS SIZE.
    client = cyrus.client("user1")
    try:
        assert imap_totals(client) == oracle
        assert imap_status_size(client) == oracle
        total = sum(size for _count, size in oracle.values())
        roots, quotas = client.get_quota_root("INBOX")
        assert roots.quota_roots == ["INBOX"]
        storage = next(q for q in quotas if q.resource == "STORAGE")
        # Cyrus rounds the KiB down (Dovecot rounds up).
        assert storage.usage == total // 1024 != math.ceil(total / 1024)
        assert storage.limit == cyrus_module.QUOTA_KIB
        # Flags and internal dates given with APPEND are kept.
        first = next(m for m in corpus if m.folder == "INBOX")
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch([1], ["FLAGS", "INTERNALDATE", "RFC822.SIZE"])[1]
        assert {f.decode() for f in fetched[b"FLAGS"]} - {"\\Recent"} == set(first.flags)
        assert fetched[b"INTERNALDATE"] == local(first.internal_date)
        assert fetched[b"RFC822.SIZE"] == first.size
    finally:
        client.logout()
    assert cyrus.quota("user1") == (total // 1024, cyrus_module.QUOTA_KIB)


def test_cyrus_special_use_folders_in_lower_case(cyrus: Cyrus) -> None:
    cyrus.reset_user("user2")
    client = cyrus.client("user2")
    try:
        listed = {name: {f.decode() for f in flags} for flags, _sep, name in client.list_folders()}
        namespace = client.namespace()
    finally:
        client.logout()
    assert set(listed) == {"INBOX", *cyrus_module.SPECIAL_USE}
    for folder, attribute in cyrus_module.SPECIAL_USE.items():
        # Cyrus spells the attributes in lower case: compare without case.
        assert attribute.lower() in listed[folder], listed[folder]
        assert attribute not in listed[folder], "Cyrus now spells special-use as RFC 6154"
    assert namespace.personal == (("", "/"),)


def test_cyrus_proxy_authorisation_logs_in_as_the_user(cyrus: Cyrus) -> None:
    cyrus.reset_user("user2")
    cyrus.seed("user2", [message("INBOX", "for user2"), message("Sent", "sent by user2")])
    proxy = cyrus.client("user2*admin")
    try:
        assert proxy.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 1
        assert proxy.folder_status("Sent", [b"MESSAGES"])[b"MESSAGES"] == 1
    finally:
        proxy.logout()
    with pytest.raises(LoginError):
        bad = imapclient.IMAPClient(cyrus.host, cyrus.port, ssl=False, timeout=10)
        try:
            bad.plain_login("user1", "secret1", "user2")  # only the admin may proxy
        finally:
            bad.shutdown()


def test_cyrus_wrong_password_fails_at_once(cyrus: Cyrus) -> None:
    client = imapclient.IMAPClient(cyrus.host, cyrus.port, ssl=False, timeout=10)
    started = time.monotonic()
    with pytest.raises(LoginError):
        client.login("user1", "wrong")
    assert time.monotonic() - started < 1  # failedloginpause: 0
    client.shutdown()


def test_cyrus_move_and_expunge_show_in_oracle_and_quota(cyrus: Cyrus) -> None:
    messages = [message("INBOX", f"m{i}", body_lines=40 * (i + 1)) for i in range(4)]
    cyrus.reset_user("user2")
    cyrus.seed("user2", messages)
    client = cyrus.client("user2")
    try:
        client.select_folder("INBOX")
        uids = client.search("ALL")
        client.move(uids[:2], "Trash")
        client.select_folder("Trash")
        client.delete_messages(client.search("ALL")[:1])
        client.expunge()
        client.unselect_folder()
    finally:
        client.logout()
    status = cyrus.status("user2")
    assert status["INBOX"] == (2, messages[2].size + messages[3].size)
    assert status["Trash"] == (1, messages[1].size)
    # Delayed expunge: the expunged message leaves the counts and the quota at once.
    assert cyrus.quota("user2")[0] == sum(m.size for m in messages[1:]) // 1024
    client = cyrus.client("user2")
    try:
        assert imap_status_size(client) == status
    finally:
        client.logout()


def test_cyrus_reads_uid_sets_as_uids(cyrus: Cyrus) -> None:
    """The reference for the Mailutils quirks below: the same commands, answered right."""
    cyrus.reset_user("user2")
    cyrus.seed("user2", [message("INBOX", f"n{i}") for i in range(1, 8)])
    client = cyrus.client("user2")
    try:
        client.select_folder("INBOX")
        assert uid_command(client, "STORE", "1:2,5", "+FLAGS", "(\\Deleted)")[0] == "OK"
        client.expunge()
        assert uid_command(client, "SEARCH", "ALL") == ("OK", [b"3 4 6 7"])
        assert uid_command(client, "SEARCH", "UID", "1:2") == ("OK", [b""])
        assert uid_command(client, "SEARCH", "UID", "6") == ("OK", [b"6"])
        assert uid_command(client, "SEARCH", "UID", "1:*") == ("OK", [b"3 4 6 7"])
        for missing in ("1", "5", "100"):
            typ, data = uid_command(client, "FETCH", missing, "(FLAGS)")
            assert typ == "OK" and fetched_uids(data) == [], missing
        # 100:* is the last message (RFC 3501: "*" is the largest UID in use).
        typ, data = uid_command(client, "FETCH", "100:*", "(FLAGS)")
        assert typ == "OK" and fetched_uids(data) == [7]
    finally:
        client.logout()


def test_cyrus_reset_user_disconnects_and_empties(cyrus: Cyrus) -> None:
    cyrus.reset_user("user1")
    cyrus.seed("user1", [message("Archives/2019", "old", 5), message("INBOX", "new")])
    cyrus.reset_user("user2")
    cyrus.seed("user2", [message("INBOX", "kept")])
    session = cyrus.client("user1")
    session.select_folder("INBOX")
    cyrus.reset_user("user1")
    with pytest.raises((IMAPClientError, OSError)):
        session.noop()
    session.shutdown()
    assert cyrus.status("user1") == {
        folder: (0, 0) for folder in ("INBOX", *cyrus_module.SPECIAL_USE)
    }
    assert cyrus.status("user2")["INBOX"][0] == 1  # others are untouched


# -- GNU Mailutils --------------------------------------------------------------------------


def test_mailutils_capabilities_are_as_documented(mailutils: Mailutils) -> None:
    mailutils.reset_user("user1")
    client = mailutils.client("user1")
    caps = {c.decode() for c in client.capabilities()}
    client.logout()
    plain = {c for c in caps if not c.startswith("AUTH=")}
    assert plain == {c.upper() for c in mailutils_module.CAPABILITIES}, (
        f"imap4d now advertises {sorted(plain)}: update tests/support/mailutils.py"
    )
    assert not plain & MODERN


def test_mailutils_seeded_mailbox_oracle_and_client_agree(
    mailutils: Mailutils, corpus: Sequence[GeneratedMessage]
) -> None:
    mailutils.reset_user("user1")
    counts = mailutils.seed("user1", corpus)
    assert {f: n for f, n in counts.items() if n} == {
        f: n for f, (n, _size) in expected_totals(corpus).items()
    }
    oracle = mailutils.status("user1")
    assert_matches(oracle, corpus)
    client = mailutils.client("user1")
    try:
        assert imap_totals(client) == oracle
        with pytest.raises(IMAPClientError):
            client.folder_status("INBOX", [b"SIZE"])  # no STATUS=SIZE: BAD
        # seed() keeps the flags (through its first SELECT).
        inbox = [m for m in corpus if m.folder == "INBOX"]
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(list(range(1, len(inbox) + 1)), ["FLAGS", "RFC822.SIZE"])
        seen = sorted(
            (v[b"RFC822.SIZE"], sorted(f.decode() for f in v[b"FLAGS"] if f != b"\\Recent"))
            for v in fetched.values()
        )
        assert seen == sorted((m.size, sorted(m.flags)) for m in inbox)
    finally:
        client.logout()


def test_mailutils_logins_with_or_without_domain(mailutils: Mailutils) -> None:
    mailutils.reset_user("user2")
    for login in ("user2", f"user2@{mailutils_module.DOMAIN}"):
        client = mailutils.client(login)
        assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 0
        client.logout()
    client = imapclient.IMAPClient(mailutils.host, mailutils.port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.login("user2", "wrong")
    client.shutdown()


def test_mailutils_authenticate_plain_ends_with_a_bare_lf(mailutils: Mailutils) -> None:
    mailutils.reset_user("user2")
    with socket.create_connection((mailutils.host, mailutils.port), timeout=10) as sock:
        replies = sock.makefile("rb")
        assert replies.readline().startswith(b"* OK")
        sock.sendall(b"a AUTHENTICATE PLAIN\r\n")
        assert replies.readline().startswith(b"+")
        sock.sendall(base64.b64encode(b"\0user2\0secret2") + b"\r\n")
        done = replies.readline()
        sock.sendall(b"b LOGOUT\r\n")
    assert done.startswith(b"a OK")
    assert done.endswith(b"\n") and not done.endswith(b"\r\n"), (
        "imap4d now ends AUTHENTICATE's OK with CRLF: update tests/support/mailutils.py"
    )


def test_mailutils_lists_inbox_without_delimiter_and_no_special_use(
    mailutils: Mailutils,
) -> None:
    mailutils.reset_user("user2")
    client = mailutils.client("user2")
    try:
        client.create_folder("Projets/Délibérations")
        listed = {name: (flags, sep) for flags, sep, name in client.list_folders()}
    finally:
        client.logout()
    assert listed["INBOX"] == ((b"\\NoInferiors",), None)
    assert listed["Projets"][0] == (b"\\NoSelect",)  # an implied parent
    assert listed["Projets/Délibérations"] == ((), b"/")
    for folder in mailutils_module.STANDARD_FOLDERS:
        assert listed[folder] == ((), b"/"), "imap4d now gives special-use attributes"
    assert (mailutils.home("user2") / "Projets" / "D&AOk-lib&AOk-rations" / "cur").is_dir()


@pytest.fixture
def gapped(mailutils: Mailutils) -> Iterator[imapclient.IMAPClient]:
    """user2's INBOX with UIDs 3 4 6 7 (1, 2 and 5 expunged), selected read-write."""
    mailutils.reset_user("user2")
    mailutils.seed("user2", [message("INBOX", f"n{i}") for i in range(1, 8)])
    client = mailutils.client("user2")
    client.select_folder("INBOX")
    assert client.search("ALL") == [1, 2, 3, 4, 5, 6, 7]
    typ, data = uid_command(client, "STORE", "1:2,5", "+FLAGS", "(\\Deleted)")
    assert typ == "OK"
    client.expunge()
    typ, data = uid_command(client, "SEARCH", "ALL")
    assert data == [b"3 4 6 7"]
    yield client
    client.logout()


def test_mailutils_uid_search_uid_reads_sequence_numbers(gapped: imapclient.IMAPClient) -> None:
    client = gapped
    assert uid_command(client, "SEARCH", "ALL") == ("OK", [b"3 4 6 7"])  # right
    fixed = "Mailutils now reads UID SEARCH UID as UIDs: update tests/support/mailutils.py"
    # The UIDs 3 and 4 are found as "UID 1:2" (sequence numbers 1 and 2)...
    assert uid_command(client, "SEARCH", "UID", "1:2") == ("OK", [b"3 4"]), fixed
    assert uid_command(client, "SEARCH", "UID", "3") == ("OK", [b"6"]), fixed
    # ...UID 6 is not found by its UID (there is no 6th message)...
    assert uid_command(client, "SEARCH", "UID", "6") == ("OK", [b""]), fixed
    # ...and "UID 1:*" finds nothing at all.
    assert uid_command(client, "SEARCH", "UID", "1:*") == ("OK", [b""]), fixed
    # UID FETCH n:* is right.
    typ, data = uid_command(client, "FETCH", "4:*", "(FLAGS)")
    assert typ == "OK" and fetched_uids(data) == [4, 6, 7]


def test_mailutils_uid_commands_on_missing_uids(gapped: imapclient.IMAPClient) -> None:
    client = gapped
    fixed = "Mailutils changed how it answers UIDs that are not there: update the docstring"
    # A UID in a gap: BAD.
    typ, data = uid_command(client, "FETCH", "5", "(FLAGS)")
    assert typ == "BAD" and b"Failed to parse message set" in data[0], fixed
    assert uid_command(client, "FETCH", "5:5", "(FLAGS)")[0] == "BAD", fixed
    # Below the lowest UID: the lowest message answers; above the highest: the highest.
    typ, data = uid_command(client, "FETCH", "1", "(FLAGS)")
    assert typ == "OK" and fetched_uids(data) == [3], fixed
    typ, data = uid_command(client, "FETCH", "100", "(FLAGS)")
    assert typ == "OK" and fetched_uids(data) == [7], fixed
    # And so STORE of a vanished UID flags another message.
    assert uid_command(client, "STORE", "1", "+FLAGS", "(\\Flagged)")[0] == "OK"
    typ, data = uid_command(client, "FETCH", "1:*", "(FLAGS)")
    flagged = [uid for uid, line in zip(fetched_uids(data), data, strict=True)
               if b"\\Flagged" in line]
    assert flagged == [3], fixed
    # No UIDPLUS: no UID EXPUNGE.
    assert uid_command(client, "EXPUNGE", "3")[0] == "BAD"


def test_mailutils_append_ignores_flags_and_date(mailutils: Mailutils) -> None:
    mailutils.reset_user("user2")
    sent = message(
        "Drafts",
        "appended",
        flags=("\\Seen", "\\Flagged"),
        internal_date=datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
    )
    assert mailutils.seed_by_append("user2", [sent]) == {"Drafts": 1}
    client = mailutils.client("user2")
    try:
        client.select_folder("Drafts", readonly=True)
        fetched = client.fetch([1], ["FLAGS", "INTERNALDATE", "RFC822.SIZE"])[1]
    finally:
        client.logout()
    fixed = "imap4d now keeps what APPEND gives: update tests/support/mailutils.py"
    assert {f.decode() for f in fetched[b"FLAGS"]} - {"\\Recent"} == set(), fixed
    # The internal date is the message's Date: header (14:05 +0200), not APPEND's.
    assert fetched[b"INTERNALDATE"] == local(datetime(2024, 6, 3, 12, 5, tzinfo=UTC)), fixed
    assert fetched[b"RFC822.SIZE"] == sent.size
    assert mailutils.status("user2")["Drafts"] == (1, sent.size)


def test_mailutils_status_before_first_select_misreads_flags(mailutils: Mailutils) -> None:
    mailutils.reset_user("user2")
    items = [
        message("Junk", "seen", flags=("\\Seen",)),
        message("Junk", "answered", flags=("\\Seen", "\\Answered")),
        message("Junk", "flagged", flags=("\\Flagged", "\\Draft")),
    ]
    mailutils.seed("user2", items, adopt=False)
    cur = mailutils.folder_path("user2", "Junk") / "cur"
    assert sorted(p.name.rsplit(":2,", 1)[1] for p in cur.iterdir()) == ["DF", "RS", "S"]
    client = mailutils.client("user2")
    try:
        assert client.folder_status("Junk", [b"MESSAGES"])[b"MESSAGES"] == 3
        client.select_folder("Junk")
        fetched = client.fetch([1, 2, 3], ["FLAGS"])
        client.unselect_folder()
    finally:
        client.logout()
    flags = [{f.decode() for f in fetched[n][b"FLAGS"]} - {"\\Recent"} for n in (1, 2, 3)]
    fixed = "imap4d now reads Maildir flags right on a first STATUS: update its docstring"
    # The Maildir letters read as mbox Status letters: S is dropped, R (replied) is \Seen.
    assert flags == [set(), {"\\Seen"}, {"\\Flagged", "\\Draft"}], fixed
    # And written back so: the files lose S and R for good.
    assert sorted(p.name.rsplit(":2,", 1)[1] for p in cur.iterdir()) == ["", "DF", "S"]


def test_mailutils_reset_user_disconnects_and_empties(mailutils: Mailutils) -> None:
    mailutils.reset_user("user1")
    mailutils.seed("user1", [message("Archives/2019", "old", 5), message("INBOX", "new")])
    mailutils.reset_user("user2")
    mailutils.seed("user2", [message("INBOX", "kept")])
    session = mailutils.client("user1")
    session.select_folder("INBOX")
    other = mailutils.client("user2")
    mailutils.reset_user("user1")
    with pytest.raises((IMAPClientError, OSError)):
        session.noop()
    session.shutdown()
    other.noop()  # another user's session lives on
    other.logout()
    assert mailutils.status("user1") == {
        folder: (0, 0) for folder in ("INBOX", *mailutils_module.STANDARD_FOLDERS)
    }
    assert mailutils.status("user2")["INBOX"][0] == 1


def test_mailutils_oracle_counts_lf_files_as_crlf(mailutils: Mailutils) -> None:
    """The oracle's byte rule (file length + one per LF) is imap4d's own, to the byte."""
    mailutils.reset_user("user2")
    items = [message("INBOX", f"s{i}", body_lines=i) for i in (0, 1, 17, 300)]
    mailutils.seed("user2", items)
    files = sorted((mailutils.folder_path("user2", "INBOX") / "cur").iterdir())
    assert all(b"\r" not in f.read_bytes() for f in files)  # stored with LF line ends
    client = mailutils.client("user2")
    try:
        client.select_folder("INBOX", readonly=True)
        sizes = [v[b"RFC822.SIZE"] for v in client.fetch([1, 2, 3, 4], ["RFC822.SIZE"]).values()]
    finally:
        client.logout()
    assert sorted(sizes) == sorted(m.size for m in items)
    assert mailutils.status("user2")["INBOX"] == (4, sum(m.size for m in items))
