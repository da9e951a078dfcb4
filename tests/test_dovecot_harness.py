"""The private Dovecot harness (tests/dovecot.py) does what the IMAP tests rely on."""

from __future__ import annotations

import math
import os
import socket
import ssl
import time
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import imapclient
import pytest
from imapclient.exceptions import LoginError

from mailclean import mailgen
from mailclean.mailgen import GeneratedMessage
from tests.dovecot import (
    DEFAULT_USERS,
    MINIMAL_CAPABILITIES,
    SPECIAL_USE,
    Dovecot,
    DovecotError,
    group_processes,
)
from tests.support.corpora import smallest_mailbox

pytestmark = pytest.mark.dovecot

MODERN = {
    "MOVE",
    "CONDSTORE",
    "QRESYNC",
    "UIDPLUS",
    "SPECIAL-USE",
    "ESEARCH",
    "STATUS=SIZE",
    "LIST-STATUS",
}


def message(
    folder: str, subject: str, body_lines: int = 3, flags: tuple[str, ...] = ()
) -> GeneratedMessage:
    """A small hand-built message; only folder, raw, flags and internal_date matter here."""
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
        internal_date=datetime(2024, 6, 3, 12, 5, tzinfo=UTC),
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


MESSAGES = [
    message("INBOX", "hello", 2, ("\\Seen",)),
    message("INBOX", "second", 40),
    message("INBOX", "third", 7, ("\\Flagged",)),
    message("Sent", "sent one", 5, ("\\Seen",)),
    message("Archives/2019", "old", 300),
    message("Éléments envoyés", "non-ascii folder", 4),
]


def seed(server: Dovecot, user: str, messages: Sequence[GeneratedMessage]) -> None:
    """A clean mailbox for ``user`` holding exactly ``messages``."""
    server.reset_user(user)
    counts = server.seed(user, messages)
    assert sum(counts.values()) == len(messages)


def client_view(client: imapclient.IMAPClient) -> dict[str, tuple[int, int]]:
    """{folder: (STATUS MESSAGES, sum of RFC822.SIZE)} as an IMAP client sees the mailbox."""
    view = {}
    for flags, _delimiter, name in client.list_folders():
        if b"\\Noselect" in flags or b"\\NonExistent" in flags:
            continue
        count = client.folder_status(name, ["MESSAGES"])[b"MESSAGES"]
        client.select_folder(name, readonly=True)
        uids = client.search("ALL")
        sizes = client.fetch(uids, ["RFC822.SIZE"]) if uids else {}
        view[name] = (count, sum(item[b"RFC822.SIZE"] for item in sizes.values()))
    return view


def expected(messages: Sequence[GeneratedMessage]) -> dict[str, tuple[int, int]]:
    """{folder: (messages, bytes)} of the folders that received messages."""
    totals: dict[str, tuple[int, int]] = {}
    for msg in messages:
        count, size = totals.get(msg.folder, (0, 0))
        totals[msg.folder] = (count + 1, size + msg.size)
    return totals


def raw_capabilities(server: Dovecot, user: str, password: str) -> tuple[set[str], set[str]]:
    """(capabilities in the LOGIN reply, reply to an explicit CAPABILITY after login)."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        stream = sock.makefile("rwb")

        def command(tag: str, text: str) -> list[str]:
            stream.write(f"{tag} {text}\r\n".encode())
            stream.flush()
            lines = []
            while True:
                line = stream.readline().decode().rstrip("\r\n")
                lines.append(line)
                if line.startswith(f"{tag} "):
                    assert line.startswith(f"{tag} OK"), line
                    return lines

        assert stream.readline().startswith(b"* OK")
        login = command("a", f'LOGIN "{user}" "{password}"')[-1]
        in_login = login.split("[CAPABILITY ", 1)[1].split("]", 1)[0].upper().split()
        listed = next(
            line for line in command("b", "CAPABILITY") if line.startswith("* CAPABILITY ")
        )
        command("c", "LOGOUT")
    return set(in_login), set(listed.upper().split()[2:])


def test_plain_login(dovecot: Dovecot) -> None:
    seed(dovecot, "user1", [message("INBOX", "One"), message("INBOX", "Two")])
    client = dovecot.client("user1")
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 2
        assert client.namespace().personal[0][1] == "/"
    finally:
        client.logout()


def test_master_user_logs_in_to_the_users_mailbox(dovecot: Dovecot) -> None:
    seed(dovecot, "user1", [message("Only-user1", "mine")])
    seed(dovecot, "user2", [])
    master = imapclient.IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10)
    master.login("user1*admin", "admin-secret")
    try:
        names = [name for _f, _d, name in master.list_folders()]
        assert "Only-user1" in names
        master.select_folder("Only-user1", readonly=True)
        assert len(master.search("ALL")) == 1
    finally:
        master.logout()
    other = dovecot.client("user2")
    try:
        assert "Only-user1" not in [name for _f, _d, name in other.list_folders()]
    finally:
        other.logout()


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("user1", "wrong"),
        ("user1", "secret2"),
        ("nobody", "secret1"),
        ("user1*admin", "secret1"),
        ("user1*user2", "secret2"),
        ("admin", "admin-secret"),
    ],
)
def test_bad_credentials_are_refused(dovecot: Dovecot, user: str, password: str) -> None:
    client = imapclient.IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10)
    try:
        started = time.monotonic()
        with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
            client.login(user, password)
        assert time.monotonic() - started < 1.5, "auth_failure_delay should be off"
    finally:
        client.shutdown()


def test_full_server_advertises_the_modern_extensions(dovecot: Dovecot) -> None:
    in_login, listed = raw_capabilities(dovecot, "user1", "secret1")
    assert MODERN | {"QUOTA", "IMAP4REV1", "IDLE"} <= in_login
    assert in_login == listed


def test_minimal_server_advertises_only_the_minimal_list(dovecot_minimal: Dovecot) -> None:
    in_login, listed = raw_capabilities(dovecot_minimal, "user1", "secret1")
    assert in_login == listed == set(MINIMAL_CAPABILITIES.upper().split())
    assert not MODERN & listed
    client = dovecot_minimal.client("user1")
    try:
        assert not MODERN & {c.decode().upper() for c in client.capabilities()}
        assert not client.has_capability("MOVE")
    finally:
        client.logout()


def test_seeded_mailbox_matches_doveadm_status(dovecot: Dovecot) -> None:
    seed(dovecot, "user2", MESSAGES)
    status = dovecot.status("user2")
    truth = expected(MESSAGES)
    for folder, counts in truth.items():
        assert status[folder] == counts
    # Folders the writer creates empty (mailgen's standard ones) are empty.
    assert all(status[folder] == (0, 0) for folder in status.keys() - truth.keys())
    client = dovecot.client("user2")
    try:
        assert client_view(client) == status
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search("ALL"), ["FLAGS"]).values()
        flags = {tuple(f for f in item[b"FLAGS"] if f != b"\\Recent") for item in fetched}
        assert flags == {(b"\\Seen",), (), (b"\\Flagged",)}
    finally:
        client.logout()


def test_status_follows_changes_made_by_a_client(dovecot: Dovecot) -> None:
    seed(dovecot, "user2", MESSAGES[:3])
    client = dovecot.client("user2")
    try:
        client.create_folder("Moved here")
        client.select_folder("INBOX")
        client.move(client.search(["SUBJECT", "second"]), "Moved here")
        client.append("Moved here", MESSAGES[4].raw)
    finally:
        client.logout()
    status = dovecot.status("user2")
    assert status["INBOX"] == expected([MESSAGES[0], MESSAGES[2]])["INBOX"]
    assert status["Moved here"] == (2, MESSAGES[1].size + MESSAGES[4].size)


def test_special_use_flags_on_list(dovecot: Dovecot) -> None:
    dovecot.reset_user("user2")
    client = dovecot.client("user2")
    try:
        for name in SPECIAL_USE:
            client.create_folder(name)
        flags = {name: set(f) for f, _d, name in client.list_folders()}
        for name, attribute in SPECIAL_USE.items():
            assert attribute.encode() in flags[name], (name, flags[name])
        assert not {b"\\Sent", b"\\Archive"} & flags["INBOX"]
        for name, attribute in SPECIAL_USE.items():
            assert client.find_special_folder(attribute.encode()) == name
    finally:
        client.logout()


def test_non_ascii_folder_round_trips(dovecot: Dovecot) -> None:
    dovecot.reset_user("user2")
    name = "Éléments envoyés/Été 2024 — 日本"
    client = dovecot.client("user2")
    try:
        client.create_folder(name)
        client.append(name, MESSAGES[0].raw)
        assert name in [folder for _f, _d, folder in client.list_folders()]
        assert client.folder_status(name, ["MESSAGES"])[b"MESSAGES"] == 1
    finally:
        client.logout()
    assert dovecot.status("user2")[name] == (1, MESSAGES[0].size)
    # Maildir++ on disk: "." for the separator, modified UTF-7 names.
    on_disk = "." + mailgen.imap_utf7(name).replace("/", ".")
    assert (dovecot.maildir("user2") / on_disk / "cur").is_dir()


def test_getquotaroot_reports_storage(dovecot: Dovecot) -> None:
    seed(dovecot, "user2", MESSAGES)
    client = dovecot.client("user2")
    try:
        roots, quotas = client.get_quota_root("INBOX")
        assert roots.quota_roots
        storage = [q for q in quotas if q.resource == "STORAGE"]
        assert len(storage) == 1
        total = sum(msg.size for msg in MESSAGES)
        assert storage[0].usage == math.ceil(total / 1024)
        assert storage[0].limit == 1024 * 1024  # 1 GiB in KiB
    finally:
        client.logout()


def test_imaps_verifies_against_the_self_signed_certificate(dovecot: Dovecot) -> None:
    assert dovecot.tls_port is not None and dovecot.cafile is not None
    assert dovecot.cafile.read_text().startswith("-----BEGIN CERTIFICATE-----")
    trusted = ssl.create_default_context(cafile=str(dovecot.cafile))
    client = imapclient.IMAPClient(
        dovecot.host, dovecot.tls_port, ssl=True, ssl_context=trusted, timeout=10
    )
    try:
        client.login("user1", "secret1")
        assert client.select_folder("INBOX", readonly=True)
    finally:
        client.logout()
    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(
            dovecot.host,
            dovecot.tls_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=10,
        )


def test_reset_user_disconnects_and_empties(dovecot: Dovecot) -> None:
    seed(dovecot, "user2", MESSAGES)
    client = dovecot.client("user2")
    client.select_folder("INBOX")
    dovecot.reset_user("user2")
    with pytest.raises((imapclient.exceptions.IMAPClientError, OSError)):
        client.noop()
    assert not any(messages for messages, _ in dovecot.status("user2").values())
    seed(dovecot, "user2", MESSAGES[:2])
    status = dovecot.status("user2")
    assert status["INBOX"] == expected(MESSAGES[:2])["INBOX"]
    assert sum(messages for messages, _ in status.values()) == 2
    fresh = dovecot.client("user2")
    try:
        assert client_view(fresh) == status
    finally:
        fresh.logout()


def test_empty_user_has_an_empty_inbox(dovecot: Dovecot) -> None:
    dovecot.reset_user("empty")
    client = dovecot.client("empty")
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()
    assert dovecot.status("empty") == {"INBOX": (0, 0)}


def test_mail_belongs_to_the_mail_user(dovecot: Dovecot) -> None:
    seed(dovecot, "user2", MESSAGES[:1])
    inbox = dovecot.maildir("user2")
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [inbox, *inbox.rglob("*")]}
    assert owners == {(dovecot.mail_uid, dovecot.mail_gid)}
    if os.geteuid() == 0:
        assert dovecot.mail_uid != 0


def test_start_stop_is_quick_and_leaves_nothing() -> None:
    started = time.monotonic()
    server = Dovecot(users=DEFAULT_USERS[:1])
    server.start()
    try:
        assert time.monotonic() - started < 2
        root, pid = server.root, server.pid
        assert pid is not None and root.is_dir()
        # A logged-in client with a selected folder keeps an imap process alive.
        client = server.client("user1")
        client.select_folder("INBOX")
        assert len(group_processes(pid)) >= 4
    finally:
        server.stop()
    assert group_processes(pid) == []
    assert not root.exists()
    server.stop()  # idempotent


def test_failed_start_reports_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    text = Dovecot._config_text

    def broken(self: Dovecot) -> str:
        return text(self) + "no_such_setting = 1\n"

    monkeypatch.setattr(Dovecot, "_config_text", broken)
    server = Dovecot()
    with pytest.raises(DovecotError, match="no_such_setting"):
        server.start()
    assert not Path(server.root).exists()
    assert server.pid is None


def test_generated_corpus_matches_doveadm_status(dovecot: Dovecot) -> None:
    corpus = smallest_mailbox(5)
    seed(dovecot, "user2", corpus)
    status = dovecot.status("user2")
    truth = expected(corpus)
    assert {folder: status[folder] for folder in truth} == truth
    client = dovecot.client("user2")
    try:
        assert client_view(client) == status
    finally:
        client.logout()
