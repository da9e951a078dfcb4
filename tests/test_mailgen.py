"""The mail generator: deterministic, feature-complete, and its truth matches the stdlib."""

from __future__ import annotations

import email
import email.errors
import email.policy
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailclean import mailgen
from mailclean.mailgen import GeneratedMessage


@pytest.fixture(scope="module")
def corpus() -> list[GeneratedMessage]:
    return mailgen.generate()


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def stdlib_attachments(raw: bytes, msg: EmailMessage) -> list[tuple[str | None, str, int]]:
    """The attachment rule of the module docstring, applied to the stdlib's parse."""
    found: list[tuple[str | None, str, int]] = []
    rfc822_seen = 0

    def walk(part: EmailMessage, parent: EmailMessage | None) -> None:
        nonlocal rfc822_seen
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            assert parent is not None
            found.append((part.get_filename(), ctype, rfc822_size(raw, parent, rfc822_seen)))
            rfc822_seen += 1
            return
        if part.is_multipart():
            for child in part.iter_parts():
                walk(child, part)  # type: ignore[arg-type]
            return
        name = part.get_filename()
        if (
            ctype in ("text/plain", "text/html")
            and name is None
            and part.get_content_disposition() != "attachment"
        ):
            return
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found.append((name, ctype, len(payload)))

    walk(msg, None)
    return found


def rfc822_size(raw: bytes, parent: EmailMessage, index: int) -> int:
    """Octets of the index-th embedded message of ``raw``, found by hand (BODYSTRUCTURE size)."""
    pos = -1
    for _ in range(index + 1):
        pos = raw.index(b"Content-Type: message/rfc822", pos + 1)
    start = raw.index(b"\r\n\r\n", pos) + 4
    boundary = parent.get_boundary()
    assert boundary
    end = raw.index(b"\r\n--" + boundary.encode(), start)
    return end - start


# ---- determinism -------------------------------------------------------------------------


def test_same_seed_same_bytes(corpus: list[GeneratedMessage]) -> None:
    again = mailgen.generate()
    assert [m.raw for m in again] == [m.raw for m in corpus]
    assert again == corpus


def test_other_seed_differs(corpus: list[GeneratedMessage]) -> None:
    other = mailgen.generate(seed=1)
    assert len(other) == len(corpus)
    assert [m.raw for m in other] != [m.raw for m in corpus]


def test_message_count_and_minimum() -> None:
    small = mailgen.generate(messages=mailgen.MIN_MESSAGES)
    assert len(small) == mailgen.MIN_MESSAGES
    assert {m.malformed for m in small} >= set(mailgen.MALFORMED_KINDS)
    with pytest.raises(ValueError):
        mailgen.generate(messages=mailgen.MIN_MESSAGES - 1)


# ---- features ----------------------------------------------------------------------------


def test_folders(corpus: list[GeneratedMessage]) -> None:
    folders = Counter(m.folder for m in corpus)
    assert set(folders) >= {
        "INBOX",
        "Sent",
        "Drafts",
        "Trash",
        "Junk",
        "Archives/2019",
        "Archives/2021",
        "Projets/Délibérations",
        "Projets/Budget 2026",
    }
    assert folders["INBOX"] > len(corpus) / 2


def test_kinds(corpus: list[GeneratedMessage]) -> None:
    kinds = Counter(m.kind for m in corpus)
    assert set(kinds) == set(mailgen.KINDS)
    assert kinds["duplicate"] == 10
    assert kinds["newsletter"] >= 60
    assert Counter(m.malformed for m in corpus if m.malformed) == dict.fromkeys(
        mailgen.MALFORMED_KINDS, 1
    )
    assert all((m.kind == "malformed") == (m.malformed is not None) for m in corpus)
    assert {m.folder for m in corpus if m.kind == "spam"} == {"Junk"}
    assert all(m.sender == mailgen.OWNER_ADDRESS for m in corpus if m.kind == "sent")
    assert {m.folder for m in corpus if m.kind == "sent"} == {"Sent", "Drafts"}


def test_raw_is_crlf_and_size(corpus: list[GeneratedMessage]) -> None:
    for m in corpus:
        assert m.raw.count(b"\n") == m.raw.count(b"\r\n")
        assert m.raw.count(b"\r") == m.raw.count(b"\r\n")
        assert m.raw.endswith(b"\r\n")
        assert m.size == len(m.raw)
    assert 30_000_000 < sum(m.size for m in corpus) < 60_000_000


def test_duplicates_are_byte_identical_in_other_folders(corpus: list[GeneratedMessage]) -> None:
    by_raw: dict[bytes, list[GeneratedMessage]] = {}
    for m in corpus:
        by_raw.setdefault(m.raw, []).append(m)
    copies = [group for group in by_raw.values() if len(group) > 1]
    assert len(copies) == 10
    for group in copies:
        assert len(group) == 2
        first, second = group
        assert first.folder != second.folder
        assert second.kind == "duplicate" and first.kind != "duplicate"
        assert first.message_id == second.message_id is not None
    ids = Counter(m.message_id for m in corpus if m.message_id and m.kind != "duplicate")
    assert max(ids.values()) == 1


def test_threads(corpus: list[GeneratedMessage]) -> None:
    ids = {m.message_id for m in corpus}
    threads = Counter(m.thread_root for m in corpus if m.kind != "duplicate")
    long = [root for root, n in threads.items() if n >= 4]
    assert len(long) >= 5
    assert max(threads.values()) == 8
    assert all(root in ids for root in threads if root)
    reference = mailgen.REFERENCE_DATE
    latest: dict[str, datetime] = {}
    for m in corpus:
        if m.thread_root and m.kind in ("thread-reply", "personal", "sent") and m.date:
            latest[m.thread_root] = max(latest.get(m.thread_root, m.date), m.date)
    replied = {root for root, n in threads.items() if n > 1}
    assert any(latest[r] < reference - timedelta(days=3 * 365) for r in replied)
    assert any(latest[r] > reference - timedelta(days=30) for r in replied)
    irt_only = [m for m in corpus if b"In-Reply-To:" in m.raw and b"References:" not in m.raw]
    assert irt_only and all(m.thread_root for m in irt_only)
    assert any(mailgen.ANSWERED in m.flags for m in corpus)


def test_header_encodings(corpus: list[GeneratedMessage]) -> None:
    heads = [m.raw[: m.raw.index(b"\r\n\r\n")] for m in corpus]
    joined = b"\n".join(heads)
    assert b"=?utf-8?b?" in joined.lower()
    assert b"=?utf-8?q?" in joined.lower()
    assert b"=?iso-8859-1?q?" in joined.lower()
    assert (
        b"From: =?utf-8?q?Fran=C3=A7oise_L=C3=A9v=C3=AAque?= <f.leveque@mairie-exemple.fr>"
        in joined
    )
    split = [h for h in heads if b"\r\n =?utf-8?" in h.split(b"Subject: ", 1)[-1][:400].lower()]
    assert split, "a subject spread over several encoded-words"
    assert any(m.subject and m.subject.isascii() is False for m in corpus)
    assert any(m.sender_name == "Dupont, Pierre" for m in corpus)


def test_newsletters_and_notifications(corpus: list[GeneratedMessage]) -> None:
    letters = [m for m in corpus if m.kind == "newsletter"]
    assert len({m.sender for m in letters}) >= 8
    assert all(m.list_unsubscribe for m in letters)
    assert any(
        "mailto:" in m.list_unsubscribe and "https:" in m.list_unsubscribe
        for m in letters
        if m.list_unsubscribe
    )
    assert any(m.list_unsubscribe_post == "List-Unsubscribe=One-Click" for m in letters)
    assert {m.precedence for m in letters} >= {"bulk", "list"}
    assert any(m.list_id for m in letters)
    raw = b"".join(m.raw for m in letters)
    assert b"X-Mailer: Sendinblue" in raw and b"Feedback-ID:" in raw and b"X-Campaign:" in raw
    assert b"multipart/alternative" in raw
    assert any(mailgen.FLAGGED in m.flags for m in letters)
    notes = [m for m in corpus if m.kind == "notification"]
    assert any(m.auto_submitted == "auto-generated" for m in notes)
    assert any(m.sender and m.sender.split("@")[0] in ("noreply", "no-reply") for m in notes)
    assert any(a.mime_type == "text/calendar" for m in notes for a in m.attachments)


def test_attachment_features(corpus: list[GeneratedMessage]) -> None:
    atts = [a for m in corpus for a in m.attachments]
    types = {a.mime_type for a in atts}
    assert types >= {
        "application/pdf",
        mailgen._MIME["docx"],
        mailgen._MIME["xlsx"],
        "image/jpeg",
        "image/png",
        "application/zip",
        "text/calendar",
        "message/rfc822",
        "text/plain",
    }
    assert {a.encoding for a in atts} >= {"base64", "quoted-printable", "7bit", "8bit"}
    sizes = [a.decoded_size for a in atts]
    assert min(sizes) < 2_100 and max(sizes) > 11_000_000
    big = [m for m in corpus if any(a.decoded_size >= 5_000_000 for a in m.attachments)]
    assert len(big) >= 3
    assert any(mailgen.FLAGGED in m.flags for m in big)
    assert any(m.folder == "Sent" for m in big)
    raw = b"".join(m.raw for m in corpus)
    assert b"filename*=utf-8''r%C3%A9sum%C3%A9%20final.pdf" in raw
    assert b"filename*0*=utf-8''" in raw and b"filename*1*=" in raw
    assert b'name="=?utf-8?b?' in raw
    assert b"Content-ID: <" in raw and b"Content-Disposition: inline" in raw
    assert b"multipart/related" in raw
    names = {a.filename for a in atts}
    assert {
        "résumé final.pdf",
        "Compte-rendu réunion de chantier n°7.docx",
        "logo.png",
        "notes réunion.txt",
        "export_état_civil.csv",
        "budget_2026_v3.xlsx",
    } <= names
    assert None in names
    assert any(n and n.startswith("Délibération n° 2026-041") for n in names)


def test_nested_and_forwarded(corpus: list[GeneratedMessage]) -> None:
    nested = [m for m in corpus if m.subject == "Saison culturelle : le programme définitif"]
    assert len(nested) == 1
    msg = parse(nested[0].raw)
    shape = [p.get_content_type() for p in msg.walk()]
    assert shape[:4] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
    ]
    assert [a.filename for a in nested[0].attachments] == [
        "logo.png",
        None,
        "programme_saison_culturelle.pdf",
    ]
    forwards = [m for m in corpus if any(a.mime_type == "message/rfc822" for a in m.attachments)]
    assert len(forwards) >= 2
    for m in forwards:
        assert len(m.attachments) == 1  # the inner attachment is not listed
        assert m.raw.count(b"Content-Disposition: attachment") >= 1


def test_dates_and_flags(corpus: list[GeneratedMessage]) -> None:
    reference = mailgen.REFERENCE_DATE
    for m in corpus:
        assert m.internal_date.tzinfo is not None and m.internal_date <= reference
        assert m.internal_date.microsecond == 0
        assert m.flags <= {mailgen.SEEN, mailgen.FLAGGED, mailgen.ANSWERED}
        if m.date is not None and m.kind != "duplicate":
            assert timedelta(0) <= m.internal_date - m.date <= timedelta(minutes=5), m.subject
    dates = [m.date for m in corpus if m.date]
    assert min(dates) >= reference - timedelta(days=7 * 366)
    assert min(dates) < reference - timedelta(days=6 * 365)
    assert Counter(m.date is None for m in corpus)[True] == 1
    seen = sum(mailgen.SEEN in m.flags for m in corpus)
    assert len(corpus) * 0.6 < seen < len(corpus)
    assert any(m.message_id is None for m in corpus)


# ---- truth against the standard library -------------------------------------------------


def test_truth_matches_stdlib(corpus: list[GeneratedMessage]) -> None:
    for m in corpus:
        if m.malformed:
            continue
        msg = parse(m.raw)
        assert not [
            d
            for d in msg.defects
            if not isinstance(d, email.errors.MissingHeaderBodySeparatorDefect)
        ]
        assert (str(msg["subject"]) if msg["subject"] is not None else None) == m.subject
        sender = msg["from"].addresses[0]
        assert sender.addr_spec.lower() == m.sender
        assert (sender.display_name or None) == m.sender_name
        mid = msg["message-id"]
        assert (str(mid).strip("<>") if mid else None) == m.message_id
        assert msg["date"].datetime == m.date
        refs = str(msg["references"] or "").split()
        irt = str(msg["in-reply-to"] or "").strip()
        root = refs[0] if refs else irt or (str(mid) if mid else None)
        assert (root.strip("<>") if root else None) == m.thread_root
        for header, value in (
            ("list-id", m.list_id),
            ("list-unsubscribe", m.list_unsubscribe),
            ("list-unsubscribe-post", m.list_unsubscribe_post),
            ("precedence", m.precedence),
            ("auto-submitted", m.auto_submitted),
        ):
            assert (str(msg[header]) if msg[header] is not None else None) == value
        expected = [(a.filename, a.mime_type, a.decoded_size) for a in m.attachments]
        assert stdlib_attachments(m.raw, msg) == expected, m.subject
        for a in m.attachments:
            assert a.encoding in ("base64", "quoted-printable", "7bit", "8bit")


def test_malformed_truth(corpus: list[GeneratedMessage]) -> None:
    bad = {m.malformed: m for m in corpus if m.malformed}
    m = bad["unknown-charset"]
    assert b"=?x-unknown?q?" in m.raw and b'charset="x-mac-unknown"' in m.raw
    assert any(b > 0x7F for b in m.raw) and m.subject == "Réunion annulée - salle des fêtes"
    m = bad["missing-boundary"]
    msg = parse(m.raw)
    assert any(isinstance(d, email.errors.StartBoundaryNotFoundDefect) for d in msg.defects)
    assert m.attachments == ()
    m = bad["unclosed-boundary"]
    msg = parse(m.raw)
    assert any(isinstance(d, email.errors.CloseBoundaryNotFoundDefect) for d in msg.defects)
    assert stdlib_attachments(m.raw, msg) == [
        (a.filename, a.mime_type, a.decoded_size) for a in m.attachments
    ]
    assert len(m.attachments) == 1
    m = bad["no-date"]
    assert b"\r\nDate:" not in m.raw and m.date is None and parse(m.raw)["date"] is None
    m = bad["bad-header-encoding"]
    head = m.raw[: m.raw.index(b"\r\n\r\n")]
    assert m.subject and m.subject.encode() in head
    assert m.sender_name and m.sender_name.encode("latin-1") in head


# ---- encoders ----------------------------------------------------------------------------


def test_imap_utf7() -> None:
    assert mailgen.imap_utf7("Projets/Délibérations") == "Projets/D&AOk-lib&AOk-rations"
    assert mailgen.imap_utf7("A & B") == "A &- B"
    assert mailgen.imap_utf7("台北") == "&U,BTFw-"
    assert mailgen.imap_utf7("Budget 2026") == "Budget 2026"


def test_encoded_words_round_trip() -> None:
    text = "Délibération n° 12 : une très longue phrase – avec des caractères accentués € ✓"
    for charset, enc in (("utf-8", "b"), ("utf-8", "q")):
        words = mailgen.encoded_words(text, charset, enc)
        assert len(words) > 1 and all(len(w) <= 75 for w in words)
        msg = parse(("Subject: " + "\r\n ".join(words) + "\r\n\r\n").encode())
        assert str(msg["subject"]) == text


# ---- Maildir -----------------------------------------------------------------------------


def test_write_maildir(tmp_path: Path, corpus: list[GeneratedMessage]) -> None:
    counts = mailgen.write_maildir(tmp_path, corpus)
    assert sum(counts.values()) == len(corpus)
    assert counts == {**dict.fromkeys(counts, 0), **Counter(m.folder for m in corpus)}
    for folder in ("Sent", "Drafts", "Trash", "Junk", "Archives", "Projets"):
        assert folder in counts
    delib = tmp_path / ".Projets.D&AOk-lib&AOk-rations"
    assert (delib / "cur").is_dir() and (delib / "new").is_dir() and (delib / "tmp").is_dir()
    assert (tmp_path / ".Projets.Budget 2026" / "cur").is_dir()
    assert (tmp_path / ".Archives.2019" / "tmp").is_dir()
    assert (tmp_path / "cur").is_dir()
    by_seq = {}
    for directory in [tmp_path, *tmp_path.glob(".*")]:
        for path in (directory / "cur").iterdir():
            seq = int(path.name.split(".M", 1)[1].split("P", 1)[0])
            by_seq[seq] = path
    assert len(by_seq) == len(corpus)
    letters = {mailgen.SEEN: "S", mailgen.FLAGGED: "F", mailgen.ANSWERED: "R"}
    for n, m in enumerate(corpus):
        path = by_seq[n]
        data = path.read_bytes()
        assert data == m.raw.replace(b"\r\n", b"\n")
        key, info = path.name.split(":", 1)
        fields = dict(f.split("=") for f in key.split(",")[1:])
        assert int(fields["S"]) == len(data) == path.stat().st_size
        assert int(fields["W"]) == m.size
        assert info == "2," + "".join(sorted(letters[f] for f in m.flags))
        assert path.stat().st_mtime == m.internal_date.timestamp()
        assert key.startswith(str(int(m.internal_date.timestamp())) + ".")


def test_write_maildir_owner(tmp_path: Path) -> None:
    messages = mailgen.generate_bulk(30, seed=3)
    uid, gid = os.getuid(), os.getgid()
    mailgen.write_maildir(tmp_path / "m", messages, owner=(uid, gid))
    for path in [tmp_path / "m", *(tmp_path / "m").rglob("*")]:
        assert path.stat().st_uid == uid


def test_maildir_connector_reads_it(tmp_path: Path, corpus: list[GeneratedMessage]) -> None:
    """The folder names decode back with imapclient's modified UTF-7 decoder."""
    from imapclient.imap_utf7 import decode

    one_per_folder = list({m.folder: m for m in corpus}.values())
    mailgen.write_maildir(tmp_path, one_per_folder)
    names = {decode(p.name[1:].encode()).replace(".", "/") for p in tmp_path.glob(".*")}
    assert "Projets/Délibérations" in names and "Projets/Budget 2026" in names


# ---- bulk --------------------------------------------------------------------------------


def test_bulk_deterministic_and_fast() -> None:
    started = time.perf_counter()
    first = list(mailgen.generate_bulk(2000, seed=7))
    elapsed = time.perf_counter() - started
    assert elapsed < 3
    assert len(first) == 2000
    again = list(mailgen.generate_bulk(2000, seed=7))
    assert [m.raw for m in again] == [m.raw for m in first]
    other = list(mailgen.generate_bulk(50, seed=8))
    assert [m.raw for m in other] != [m.raw for m in first[:50]]


def test_bulk_mailboxes_share_a_factory_and_differ() -> None:
    started = time.perf_counter()
    boxes = [list(stream) for stream in mailgen.generate_bulk_mailboxes([60] * 20, seed=4)]
    assert time.perf_counter() - started < 2  # one factory, not twenty
    assert [len(b) for b in boxes] == [60] * 20
    assert len({tuple(m.raw for m in b) for b in boxes}) == 20
    again = [list(stream) for stream in mailgen.generate_bulk_mailboxes([60] * 20, seed=4)]
    assert [[m.raw for m in b] for b in again] == [[m.raw for m in b] for b in boxes]
    assert {m.folder for b in boxes for m in b} <= set(mailgen.bulk_folders())


def test_write_maildir_says_where_each_message_went(tmp_path: Path) -> None:
    messages = list(mailgen.generate_bulk(40, seed=2))
    seen: list[tuple[GeneratedMessage, str]] = []
    mailgen.write_maildir(tmp_path, messages, written=lambda m, p: seen.append((m, p)))
    assert [m for m, _p in seen] == messages
    for message, path in seen:
        assert Path(path).read_bytes() == message.raw.replace(b"\r\n", b"\n")
        assert Path(path).parent.parent.name == (mailgen.maildir_dirname(message.folder)
                                                 or tmp_path.name)


def test_bulk_shape() -> None:
    messages = list(mailgen.generate_bulk(3000, seed=1))
    folders = Counter(m.folder for m in messages)
    assert 15 <= len(folders) <= 22
    assert folders["INBOX"] == max(folders.values())
    sizes = sorted(m.size for m in messages)
    average = sum(sizes) / len(sizes)
    assert 8_000 < average < 20_000
    assert 1_500 < sizes[len(sizes) // 2] < 30_000
    assert any(a.decoded_size >= 100_000 for m in messages for a in m.attachments)
    assert len({m.message_id for m in messages if m.kind != "duplicate"}) == len(
        [m for m in messages if m.kind != "duplicate"]
    )
    assert all(m.raw.count(b"\n") == m.raw.count(b"\r\n") for m in messages)
    dates = [m.internal_date for m in messages if m.kind != "duplicate"]
    assert dates == sorted(dates)
    assert dates[0] < mailgen.REFERENCE_DATE - timedelta(days=6 * 365)
    assert dates[-1] <= mailgen.REFERENCE_DATE
    kinds = Counter(m.kind for m in messages)
    assert {
        "personal",
        "thread-reply",
        "newsletter",
        "notification",
        "attachment",
        "sent",
        "spam",
        "duplicate",
    } <= set(kinds)
    sample = [m for m in messages if not m.malformed][::7]
    for m in sample:
        msg = parse(m.raw)
        assert (str(msg["subject"]) if msg["subject"] is not None else None) == m.subject
        assert msg["from"].addresses[0].addr_spec.lower() == m.sender
        assert stdlib_attachments(m.raw, msg) == [
            (a.filename, a.mime_type, a.decoded_size) for a in m.attachments
        ]


def test_reference_moves_folders_and_dates() -> None:
    ref = datetime(2030, 3, 15, 12, 0, 0, 123456, tzinfo=UTC)
    messages = mailgen.generate(reference=ref, messages=150)
    folders = {m.folder for m in messages}
    assert {"Archives/2023", "Archives/2025", "Projets/Budget 2030"} <= folders
    assert all(m.internal_date <= ref for m in messages)
