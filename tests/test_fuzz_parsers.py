"""Every parser mailclean owns, fed hostile bytes and structures (issue 13, item 15).

What comes from a server or a message file is never trusted: raw header blocks (8-bit
bytes, NULs, huge lines, broken RFC 2047 words, unknown charsets, absurd Message-IDs and
dates), BODYSTRUCTURE trees as imapclient and mailclean.connectors.imapwire build them
(wrong types, missing fields, NIL where a list belongs, deep nesting, huge and negative
numbers), whole FETCH answers, raw wire bytes (through imapwire, and through imapclient's
own parser), Maildir files and folder names, and EWS XML. The property each time: nothing
is raised but the documented errors, and what comes out is well typed: sizes are ints in
the range the index stores (0 <= size < 2**63; attachment sizes, a 32-bit IMAP number,
below 2**32 so their sums cannot overflow either), ids carry no blanks nor brackets, and
:mod:`mailclean.safetext` leaves no control character in any text.

Each crash these tests (and an atheris run over the same entry points) found is kept as an
explicit regression case, next to the test of the entry point it broke. Runs are
derandomized and use no example database: CI sees the same examples every time.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from exchangelib import Message
from exchangelib import errors as ews_errors
from exchangelib.util import TNS
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from imapclient.exceptions import ProtocolError
from imapclient.response_parser import parse_fetch_response
from imapclient.response_types import BodyData
from lxml import etree
from rich.text import Text

from mailclean import mime, safetext
from mailclean.connectors import imapwire
from mailclean.connectors.ews import SyncIds, _identity_from_xml, message_from_item
from mailclean.connectors.headers import meta_from_headers
from mailclean.connectors.imap import (
    _RFC822_SIZE,
    _copyuid,
    _flags,
    _identities,
    _identities_fast,
    message_from_fetch,
    messages_from_fetch,
)
from mailclean.connectors.maildir import MaildirConnector, _Entry, _read
from mailclean.model import AttachmentMeta, MessageMeta
from mailclean.snapshot.maildirs import folder_directories


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


INT64 = 2**63
INT32 = 2**32

# --------------------------------------------------------------------------------------
# What every result must satisfy

#: Independent of safetext's own pattern: C0 and C1 controls, DEL, line and paragraph
#: separators, bidi embeddings, overrides and isolates, interlinear annotations.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb]")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\Z")
PART = re.compile(r"[1-9]\d*(\.[1-9]\d*)*\Z")


def check_safe(text: object) -> None:
    """What the terminal gets of ``text``: no control character, markup that rich reads."""
    shown = safetext.plain(text)
    assert isinstance(shown, str)
    assert CONTROL.search(shown) is None, shown
    # Inside a markup string, as it is used (alone, rich shows a trailing "\\" doubled).
    assert Text.from_markup(f"[b]{safetext.markup(text)}[/b]|").plain == shown + "|"
    multi = safetext.plain(text, one_line=False)  # keeps line breaks and tabs, only
    assert CONTROL.search(re.sub("[\n\t\u2028\u2029]", "", multi)) is None


def check_id(value: str | None) -> None:
    if value is not None:
        assert isinstance(value, str) and value
        assert not any(c.isspace() for c in value) and "<" not in value and ">" not in value


def check_attachment(a: AttachmentMeta, *, imap: bool, any_type: bool = False) -> None:
    assert isinstance(a, AttachmentMeta)
    assert PART.match(a.part), a.part
    assert type(a.size) is int and 0 <= a.size < INT32, a.size
    assert type(a.decoded_size) is int and 0 <= a.decoded_size < INT64
    if imap:
        assert a.decoded_size <= a.size  # an estimate from the encoded size
    assert isinstance(a.mime_type, str) and a.mime_type == a.mime_type.lower()
    assert any_type or "/" in a.mime_type  # EWS: the ContentType Exchange sent, as it is
    for text in (a.filename, a.disposition, a.encoding):
        assert text is None or isinstance(text, str)
        check_safe(text)


def check_problems(problems: list[str]) -> None:
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    # The walkers catch their own bugs as "internal error": under fuzzing that is a crash.
    assert not any("internal error" in p for p in problems), problems


def check_meta(m: MessageMeta, *, imap: bool = True, ews: bool = False) -> None:
    """``ews``: an item without internet headers (a draft) is described by its EWS
    properties, taken as Exchange sends them (ContentType, DateTimeSent, DisplayTo: display
    names), where header fields are checked (dates 1970-2100, addresses)."""
    assert isinstance(m, MessageMeta)
    assert type(m.size) is int and 0 <= m.size < INT64, m.size
    assert m.uid is None or (type(m.uid) is int and 0 <= m.uid < INT64)
    assert isinstance(m.seen, bool) and isinstance(m.flagged, bool)
    for text in (
        m.server_id, m.change_key, m.received_at, m.date, m.message_id, m.thread_key,
        m.subject, m.sender, m.sender_name, m.recipients, m.list_id, m.list_unsubscribe,
        m.list_unsubscribe_post, m.precedence, m.auto_submitted, m.feedback_id, m.mailer,
    ):
        assert text is None or isinstance(text, str)
        check_safe(text)
    assert m.date is None or (ISO_UTC.match(m.date) and (ews or 1970 <= int(m.date[:4]) <= 2100))
    assert m.received_at is None or datetime.fromisoformat(m.received_at).tzinfo is not None
    check_id(m.message_id)
    check_id(m.thread_key)
    if m.sender is not None:
        assert m.sender and m.sender == m.sender.lower()
        assert ews or not any(c.isspace() for c in m.sender)
    if m.recipients is not None and not ews:
        assert m.recipients == m.recipients.lower()
    for lower in (m.precedence, m.auto_submitted):
        assert lower is None or lower == lower.lower()
    if m.subject is not None:
        assert not set(m.subject) & set("\r\n\t") and m.subject == m.subject.strip(" ")
    assert mime.unsubscribe_method(m.list_unsubscribe, m.list_unsubscribe_post) in {
        "one-click", "https", "mailto", "none"
    }
    check_problems(m.problems)
    for a in m.attachments:
        check_attachment(a, imap=imap, any_type=ews)


# --------------------------------------------------------------------------------------
# Hostile header values and blocks

PIECES = [
    b"=?utf-8?q?", b"=?UTF-8?B?", b"=?x-unknown?q?", b"=?utf-8*fr?Q?", b"=?base64?b?",
    b"=?rot13?q?", b"=?zlib_codec?b?", b"=?utf-16?b?", b"=?utf-7?q?", b"=??q?", b"=?",
    b"?=", b"?q?", b"?B?", b"=C3=A9", b"=FF", b"=E9", b"=", b"_", b"w6k", b"//79", b"QUJD",
    b"\x00", b"\xff", b"\xfe", b"\xe9", b"\xc3", b"\x80", b"\xe2\x80\xae", b"\xe2\x81\xa6",
    b"\x1b]52;c;aGk=\x07", b"\x1b[2J", b"\x07", b"\x7f", b"\xc2\x9b", b"\xc2\xa0",
    b"\xe2\x80\xa8", b"\r", b"\r\n ", b"\r\n\t", b"\n", b" ", b"\t", b"  ", b"<", b">", b"<>",
    b"@", b",", b";", b":", b'"', b"\\", b"(", b")", b"[", b"]", b"[/bold]", b"[red]",
    b"a@b.example", b"MAILER-DAEMON", b"mailto:x@y", b"<https://u.example/x>", b"http:",
    b"List-Unsubscribe=One-Click", b"Mon, 1 Jan 2024 10:00:00 +0100", b"32 Foo 99999",
    b"25:61:61", b"+9999", b"-0000", b"(CET)", b"0001-01-01T00:00:00+01:00",
    b"9999-12-31T23:59:59-01:00", b"31 Dec 9999 23:59:59 -1200", b"1 Jan 0001 00:00 +2359",
    b"99999999999999999999", b"%", b"%C3%A9", b"'", b"*", b"filename*0*=",
]
HUGE_RUNS = st.tuples(st.sampled_from(PIECES), st.integers(1_000, 30_000)).map(
    lambda t: t[0] * max(1, t[1] // len(t[0]))
)
HOSTILE_VALUE = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join),
    st.binary(max_size=120),
    HUGE_RUNS,
    st.integers(1, 300).map(lambda n: b"<" * n + b"id@x" + b">" * n),  # nested ids
    st.integers(1, 2_000).map(lambda n: b" ".join(b"<%d@x>" % i for i in range(n))),
    st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
FIELD = st.one_of(
    st.sampled_from([
        b"From", b"To", b"Cc", b"Date", b"Subject", b"Message-ID", b"In-Reply-To",
        b"References", b"List-Id", b"List-Unsubscribe", b"List-Unsubscribe-Post",
        b"Precedence", b"Auto-Submitted", b"Feedback-ID", b"X-Mailer", b"message-id",
        b"SUBJECT", b"from ", b"Content-Type", b" From", b"\tDate",
    ]),
    st.binary(max_size=12),
)
LINE = st.tuples(
    FIELD,
    st.sampled_from([b": ", b":", b" : ", b":\t", b"", b"::"]),
    HOSTILE_VALUE,
    st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n", b""]),
    st.lists(st.tuples(st.sampled_from([b" ", b"\t", b"   "]), HOSTILE_VALUE), max_size=2),
).map(lambda t: t[0] + t[1] + t[2] + t[3] + b"".join(w + v + b"\r\n" for w, v in t[4]))
HEADER_BLOCK = st.one_of(
    st.tuples(
        st.lists(LINE, max_size=12).map(b"".join),
        st.sampled_from([b"", b"\r\n", b"\n", b"\r\n\r\nbody", b"\x00"]),
    ).map(b"".join),
    st.binary(max_size=600),
)


@fuzz(300)
@given(HEADER_BLOCK)
@example(b"Subject: =?x-unknown?q?=FF?=\r\nFrom: \xff\xfe\r\nDate: x\r\n\r\n")
@example(b"Message-ID: <" + b" " * 5_000 + b"x\r\n")  # was cubic: 90 s
@example(b"From: a" + b" " * 60_000 + b"a\r\n")  # was quadratic: 4 s
@example(b"Subject: " + b"=?a?q?x" * 10_000 + b"\r\n")  # was quadratic: 9 s
@example(b"List-Unsubscribe: <" + b" " * 2_000 + b"x\r\nList-Id: <" + b" " * 2_000 + b"\r\n")
def test_header_blocks_into_message_metadata(raw: bytes) -> None:
    headers = mime.parse_header_block(raw)
    for name, value in headers.items():
        assert isinstance(name, str) and name and name == name.lower()
        assert not set(name) & set(" \t\n:") and isinstance(value, str) and "\n" not in value
    check_meta(meta_from_headers(raw, server_id="1", size=len(raw), uid=1))


HEADERISH = st.one_of(
    HOSTILE_VALUE.map(lambda b: b.decode("utf-8", "replace")),
    HOSTILE_VALUE.map(lambda b: b.decode("latin-1")),
    st.text(max_size=80),
)


@fuzz(300)
@given(HEADERISH, HEADERISH)
@example(" " * 3_000, "")  # _SIMPLE_ADDRESS: was cubic
@example("a" + " " * 20_000 + "b <c d@e>", "")  # _NAME_ADDRESS: was quadratic
@example("<" + " " * 3_000 + "x", "<" + " " * 3_000)  # _MSG_ID and _URI: were cubic
def test_header_value_functions(value: str, other: str) -> None:
    decoded = mime.decode_words(value)
    assert isinstance(decoded, str) and not set(decoded) & set("\r\n\t")
    name, address = mime.parse_address(value)
    assert name is None or (isinstance(name, str) and name)
    assert address is None or (address == address.lower() and not any(c.isspace() for c in address))
    assert all(isinstance(a, str) and a == a.lower() for a in mime.parse_address_list(value))
    date = mime.parse_date(value)
    assert date is None or ISO_UTC.match(date)
    check_id(mime.normalize_message_id(value))
    check_id(mime.thread_key(value, other, value))
    lists = mime.list_headers({"list-id": value, "precedence": other, "list-unsubscribe": value})
    assert all(v is None or isinstance(v, str) for v in lists.values())
    assert mime.unsubscribe_method(value, other) in {"one-click", "https", "mailto", "none"}
    check_safe(decoded)
    check_safe(name)


SLOW_ONCE = [
    ("Message-ID", lambda: mime.normalize_message_id("<" + " " * 3_000 + "x")),
    ("List-Unsubscribe", lambda: mime.unsubscribe_method("<" + " " * 3_000 + "x", None)),
    ("List-Id", lambda: mime.list_headers({"list-id": "<" + " " * 3_000 + "x"})),
    ("From, name", lambda: mime.parse_address("a" + " " * 60_000 + "a")),
    ("From, address", lambda: mime.parse_address(" " * 3_000)),
    ("From, trailing", lambda: mime.parse_address("a@b" + " " * 60_000 + "x")),
    ("Subject", lambda: mime.decode_words("=?a?q?x" * 10_000)),
    ("Content-Type", lambda: mime._header_params("text/plain" + ";" * 40_000)),
]


@pytest.mark.parametrize("work", [w for _, w in SLOW_ONCE], ids=[n for n, _ in SLOW_ONCE])
def test_no_superlinear_header_patterns(work: Callable[[], object]) -> None:
    """Values a sender controls that took seconds to minutes (cubic or quadratic regular
    expressions) before the fix: each is now a millisecond's work."""
    start = time.perf_counter()
    work()
    assert time.perf_counter() - start < 1.0


@fuzz(100)
@given(st.one_of(st.integers(-(2**70), 2**70), st.none(), st.text(max_size=5)),
       st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["base64", " BASE64 ",
                                                                   "quoted-printable", "7bit"])))
def test_decoded_size_estimate(size: object, encoding: str | None) -> None:
    out = mime.estimate_decoded_size(size, encoding)  # type: ignore[arg-type]
    assert type(out) is int and out >= 0
    assert out <= (size if type(size) is int and size > 0 else 0)


@fuzz(200)
@given(st.text(max_size=200))
@example("\x1b]52;c;aGk=\x07[/bold]\u202e\u2028\x85\r\n\t")
@example("a\\\\\\")  # three trailing backslashes escaped the next tag: MarkupError
def test_safetext_removes_every_control(text: str) -> None:
    check_safe(text)


def test_markup_with_trailing_backslashes_before_a_tag() -> None:
    for n in range(1, 6):
        name = "a" + "\\" * n
        shown = Text.from_markup(f"{safetext.markup(name)}[dim] (3)[/dim]")
        assert shown.plain == name + " (3)"


# --------------------------------------------------------------------------------------
# BODYSTRUCTURE trees (imapclient's and imapwire's shapes)

ATOM = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.integers(-5, 5_000),
    st.binary(max_size=16),
    st.text(max_size=8),
    st.booleans(),
    st.floats(allow_nan=True),
    st.just({}),
    st.sampled_from([
        b"text", b"plain", b"html", b"TEXT", "text", b"message", b"rfc822", b"global",
        b"multipart", b"mixed", b"alternative", b"application", b"pdf", b"image", b"",
        b"base64", b"BASE64", b"quoted-printable", b"7bit", b"x-uuencode", b"attachment",
        b"inline", b"name", b"filename", b"filename*", b"filename*0*", b"filename*1",
        b"name*0", b"filename*" + b"1" * 5_000, b"utf-8''%C3%A9%ZZ", b"x-unknown'fr'%E9",
        b"=?utf-8?b?w6k?=", b"=?x-bad?q?=FF?=", b"\x1b[2J.pdf", b"9" * 5_000, b"-1",
        b"4294967296", b"123", 2**32, 2**63, -(2**63),
    ]),
)
PARAMS = st.one_of(
    st.none(), ATOM, st.lists(ATOM, max_size=6),
    st.lists(st.tuples(st.sampled_from([b"name", b"filename*0*", b"filename*1", b"charset"]),
                       ATOM), max_size=3).map(lambda kv: [x for pair in kv for x in pair]),
)
DISPOSITION = st.one_of(
    st.none(), ATOM, st.tuples(st.sampled_from([b"attachment", b"inline", b"ATTACHMENT"]), PARAMS),
)


def leaf(draw: st.DrawFn) -> list[object]:
    mtype = draw(st.sampled_from([b"text", b"application", b"message", b"image"]) | ATOM)
    fields = [
        mtype,
        draw(st.sampled_from([b"plain", b"html", b"pdf", b"rfc822", b"png"]) | ATOM),
        draw(PARAMS), draw(ATOM), draw(ATOM),
        draw(st.sampled_from([b"base64", b"7bit", b"quoted-printable"]) | ATOM),
        draw(st.integers(-10, 2**40) | ATOM),
    ]
    if mtype == b"text":
        fields.append(draw(st.integers(0, 100) | ATOM))
    elif mtype == b"message":
        fields += [draw(ATOM), draw(ATOM), draw(st.integers(0, 100) | ATOM)]
    fields += [draw(ATOM), draw(DISPOSITION), draw(ATOM), draw(ATOM)]
    cut = draw(st.integers(0, len(fields)))
    return fields[: cut if draw(st.integers(0, 4)) == 0 else len(fields)]


def shaped(draw: st.DrawFn, node: list[object]) -> object:
    """The same node as a list (imapwire), a tuple or a BodyData (imapclient)."""
    return draw(st.sampled_from([list, tuple, BodyData]))(node)


@st.composite
def bodystructures(draw: st.DrawFn, depth: int = 0) -> object:
    if depth > 3 or draw(st.integers(0, 2)) == 0:
        return draw(ATOM) if draw(st.integers(0, 12)) == 0 else shaped(draw, leaf(draw))
    children = [draw(bodystructures(depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    tail = [draw(st.sampled_from([b"mixed", b"alternative", b"related"]) | ATOM)]
    tail += draw(st.lists(ATOM | PARAMS, max_size=4))
    if draw(st.booleans()):  # imapclient: the children in one list
        return shaped(draw, [children, *tail])
    return shaped(draw, [*children, *tail])  # the wire's (and imapwire's) layout


def nested(depth: int, imapclient_shape: bool) -> object:
    node: object = (b"application", b"pdf", None, None, None, b"base64", 10)
    for _ in range(depth):
        node = BodyData(([node], b"mixed")) if imapclient_shape else [node, b"mixed"]
    return node


def check_bodystructure(bs: object) -> None:
    atts, problems = mime.attachments_from_bodystructure(bs)
    check_problems(problems)
    for a in atts:
        check_attachment(a, imap=True)


@fuzz(150)
@given(bodystructures())
@example((b"application", b"pdf", None, None, None, b"base64", b"9" * 5_000))
@example((b"application", b"pdf", None, None, None, b"base64", 2**63))
@example((b"application", b"pdf", None, None, None, b"base64", -5))
@example((b"application", b"pdf", [b"filename*" + b"1" * 5_000, b"x"], None, None, b"7bit", 1))
@example(BodyData(([None, 7, b"x", ()], b"mixed")))
def test_bodystructure_trees(bs: object) -> None:
    check_bodystructure(bs)


@pytest.mark.parametrize("imapclient_shape", [True, False])
def test_bodystructure_nested_3000_deep(imapclient_shape: bool) -> None:
    # Not an @example: hypothesis's printer recurses through what the walker does not.
    check_bodystructure(nested(3_000, imapclient_shape))


def test_bodystructure_size_beyond_32_bits_is_no_size() -> None:
    """The sizes of a message's attachments are summed by the index (SQLite, 64-bit): a
    size above the 32 bits of body-fld-octets is reported, not stored."""
    for size in (b"9" * 5_000, 2**32, 2**70):
        atts, problems = mime.attachments_from_bodystructure(
            (b"application", b"pdf", None, None, None, b"base64", size)
        )
        assert [a.size for a in atts] == [0]
        assert problems == ["bodystructure: unreadable size at 1"]
    atts, _ = mime.attachments_from_bodystructure(
        (b"application", b"pdf", None, None, None, b"base64", b"4294967295")
    )
    assert atts[0].size == 2**32 - 1


# --------------------------------------------------------------------------------------
# Whole FETCH answers: parsed dicts, imapwire on raw wire bytes, imapclient's parser

HEADER_KEYS = [
    b"BODY[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)]", b"BODY[HEADER]",
    b"BODY[HEADER.FIELDS (MESSAGE-ID)]",
]
ANY_VALUE = st.recursive(ATOM, lambda kids: st.lists(kids, max_size=5) | st.tuples(kids, kids),
                         max_leaves=20)
FETCH_ITEM = st.fixed_dictionaries(
    {},
    optional={
        b"UID": st.integers(-5, 2**40) | ATOM,
        b"SEQ": st.integers(0, 100) | ATOM,
        b"RFC822.SIZE": st.integers(-(2**64), 2**64) | ATOM | ANY_VALUE,
        b"FLAGS": st.one_of(
            st.lists(st.sampled_from([b"\\Seen", b"\\FLAGGED", b"\\Deleted", b"$x"]) | ATOM)
            .map(tuple), ATOM, ANY_VALUE,
        ),
        b"INTERNALDATE": st.one_of(ATOM, st.datetimes(), st.binary(max_size=30),
                                   st.just(b"01-Jan-0001 00:00:00 +0100")),
        b"BODYSTRUCTURE": bodystructures() | ANY_VALUE,
        b"MODSEQ": ANY_VALUE,
        b"ENVELOPE": ANY_VALUE,
        HEADER_KEYS[0]: HEADER_BLOCK | ATOM,
        HEADER_KEYS[1]: HEADER_BLOCK | ANY_VALUE,
    },
).flatmap(lambda d: st.dictionaries(st.binary(max_size=10), ANY_VALUE, max_size=2).map(
    lambda extra: {**extra, **d}))


@fuzz(200)
@given(FETCH_ITEM)
@example({b"UID": 7, b"RFC822.SIZE": 10, b"FLAGS": 5})  # atheris: 'int' is not iterable
@example({b"RFC822.SIZE": -5})
@example({b"RFC822.SIZE": True})
@example({b"RFC822.SIZE": 2**63})
@example({b"RFC822.SIZE": b"9" * 5_000, b"INTERNALDATE": b"31-Dec-9999 23:59:59 -0100"})
def test_fetch_dicts(item: dict[bytes, object]) -> None:
    meta = message_from_fetch(7, item)
    check_meta(meta)
    if not (type(item.get(b"RFC822.SIZE")) is int and 0 <= item[b"RFC822.SIZE"] < INT64):
        assert meta.size == 0 and "no RFC822.SIZE" in meta.problems


def quoted(b: bytes) -> bytes:
    return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


@st.composite
def wire_value(draw: st.DrawFn, depth: int = 0) -> list[bytes | tuple[bytes]]:
    """One value as IMAP sends it: pieces, where a 1-tuple is a literal's content."""
    kind = draw(st.integers(0, 9 if depth < 4 else 6))
    if kind == 0:
        return [b"NIL"]
    if kind == 1:
        return [str(draw(st.integers(0, 2**64))).encode()]
    if kind == 2:
        return [draw(st.sampled_from([b"9" * 5_000, b"-1", b"9223372036854775808",
                                      b"\\Seen", b"\\Flagged", b"A[", b"]", b"{", b"}"]))]
    if kind == 3:
        return [quoted(draw(st.binary(max_size=20) | st.sampled_from(PIECES)))]
    if kind == 4:
        return [(draw(HEADER_BLOCK | st.binary(max_size=40)),)]
    if kind in (5, 6):
        return [draw(st.sampled_from([b"text", b"plain", b"mixed", b"base64", b"attachment",
                                      b'"text"', b'"plain"', b'"base64"', b'"filename"']))]
    parts: list[bytes | tuple[bytes]] = [b"("]
    for _ in range(draw(st.integers(0, 5))):
        parts += draw(wire_value(depth + 1))
    return [*parts, b")"]


@st.composite
def fetch_answers(draw: st.DrawFn) -> list[bytes | tuple[bytes, bytes]]:
    """imaplib's untagged FETCH data: lines, and (line ending in {n}, literal) pairs."""
    pieces: list[bytes | tuple[bytes]] = []
    for seq in range(1, draw(st.integers(1, 4)) + 1):
        pieces += [b"%d (" % seq]
        for _ in range(draw(st.integers(0, 7))):
            key = draw(st.sampled_from([b"UID", b"RFC822.SIZE", b"FLAGS", b"INTERNALDATE",
                                        b"BODYSTRUCTURE", b"MODSEQ", b"BODY[]", *HEADER_KEYS]))
            if key == b"UID":
                value = [draw(st.sampled_from([b"7", b"8", b"9" * 5_000, b"x"]))]
            else:
                value = draw(wire_value())
            pieces += [key, *value]
        pieces.append(b")")
    if draw(st.booleans()):  # damage: drop or repeat a piece
        i = draw(st.integers(0, len(pieces) - 1))
        pieces[i:i + 1] = [] if draw(st.booleans()) else [pieces[i], pieces[i]]
    chunks: list[bytes | tuple[bytes, bytes]] = []
    line = b""
    for piece in pieces:
        if isinstance(piece, tuple):
            chunks.append((line + b" {%d}" % len(piece[0]), piece[0]))
            line = b""
        else:
            line += (b"" if line.endswith(b"(") or piece == b")" else b" ") + piece
        if piece == b")" and draw(st.integers(0, 3)) == 0:
            chunks.append(line)
            line = b""
    return [*chunks, line] if line else chunks


RAW_CHUNKS = st.lists(
    st.one_of(st.binary(max_size=80), st.tuples(st.binary(max_size=60), st.binary(max_size=60))),
    max_size=6,
)


@fuzz(300)
@given(fetch_answers() | RAW_CHUNKS)
@example([b"1 (UID 7 RFC822.SIZE " + b"9" * 5_000 + b")"])  # int() refused 5,000 digits
@example([b"1 (UID 7 RFC822.SIZE 10 FLAGS 5)"])  # atheris: FLAGS not a list
@example([b"1 (UID 7 RFC822.SIZE 9223372036854775808 MODSEQ 9223372036854775807)"])
@example([b'1 (UID 7 RFC822.SIZE 1 INTERNALDATE "01-Jan-0001 00:00:00 +0100")'])
@example([(b"1 FETCH (UID " + b"9" * 5_000 + b" RFC822.SIZE 1 BODY[HEADER.FIELDS (MESSAGE-ID)]"
           b" {2}", b"\r\n"), b")"])  # _identities_fast: int() refused the UID
def test_wire_fetch_answers_through_imapwire(data: list) -> None:
    for item in imapwire.parse_fetch(data):
        assert all(isinstance(k, bytes) for k in item)
        for v in item.values():
            assert not isinstance(v, int) or 0 <= v < INT64
    for meta in messages_from_fetch(data, [7, 8, 1]):
        check_meta(meta)
    for uid, (size, msgid, flagged) in _identities(data).items():
        assert type(uid) is int and type(size) is int and isinstance(flagged, bool)
        check_id(msgid)
    fast = _identities_fast(data)
    assert fast is None or isinstance(fast, dict)
    assert all(isinstance(s, str) and isinstance(a, bool) for s, a, _ in _flags(data))


@fuzz(200)
@given(fetch_answers())
def test_wire_fetch_answers_through_imapclient(data: list) -> None:
    """mailclean reads FETCH with imapwire; what imapclient's parser makes of the same bytes
    must be handled as well (its multipart layout, BodyData, datetimes, tuples).

    imapclient raises ProtocolError on what it cannot read, but also AttributeError,
    TypeError, IndexError or ValueError on some malformed answers (``1 ("plain" 7 ENVELOPE
    RFC822.SIZE)``, ``1 (BODYSTRUCTURE 7)``): its defects, which mailclean avoids by not
    using it for FETCH; they end the example here.
    """
    try:
        parsed = parse_fetch_response(data, uid_is_key=False)
    except (ProtocolError, AttributeError, TypeError, IndexError, ValueError):
        return
    for item in parsed.values():
        check_meta(message_from_fetch(7, item))


# --------------------------------------------------------------------------------------
# The other IMAP responses read by hand

SMALL = st.integers(0, 3_000).map(lambda n: str(n).encode())
NUMBERISH = st.one_of(SMALL, st.integers(11, 5_000).map(lambda n: b"9" * n),
                      st.sampled_from([b"*", b"", b"x", b"-1", b"1.5", b"\xff"]))
SEQUENCE_SET = st.lists(
    st.one_of(NUMBERISH, st.tuples(NUMBERISH, NUMBERISH).map(lambda t: t[0] + b":" + t[1])),
    max_size=8,
).map(b",".join)
RESPONSE_LINE = st.lists(
    st.one_of(SEQUENCE_SET, st.sampled_from([b"ALL", b"all", b"UID", b"(EARLIER)", b"(TAG",
                                             b'"A5")', b"MIN", b" ", b"\t"])),
    max_size=6,
).map(b" ".join)
RESPONSE_DATA = st.lists(st.one_of(RESPONSE_LINE, st.none(), st.binary(max_size=20),
                                   st.tuples(RESPONSE_LINE, RESPONSE_LINE)), max_size=4)


@fuzz(300)
@given(RESPONSE_DATA, SEQUENCE_SET)
@example([b"1 " + b"9" * 5_000], b"9" * 5_000 + b":1")  # int() refused 5,000 digits
@example([b"", b"  ", None], b"")  # a bare "* VANISHED": IndexError
def test_search_esearch_vanished_and_sequence_sets(data: list, text: bytes) -> None:
    for numbers in (
        imapwire.parse_search(data), imapwire.parse_esearch(data),
        imapwire.parse_vanished(data), imapwire.expand_sequence_set(text),
    ):
        assert all(type(n) is int and 0 <= n < INT32 for n in numbers)
    validity, pairs = _copyuid(text)
    assert validity is None or type(validity) is int
    assert all(type(k) is int and type(v) is int for k, v in pairs.items())
    assert _copyuid((b"1 " + text + b" " + text,))[1] in ({}, dict(zip(
        imapwire.expand_sequence_set(text), imapwire.expand_sequence_set(text), strict=True)))


@fuzz(100)
@given(st.lists(st.integers(1, 5_000), max_size=60))
def test_sequence_set_round_trip(uids: list[int]) -> None:
    assert imapwire.expand_sequence_set(imapwire.sequence_set(uids)) == sorted(set(uids))


def test_copyuid_with_an_absurd_validity() -> None:
    assert _copyuid(b"9" * 5_000 + b" 1 2") == (None, {})
    assert _RFC822_SIZE.findall(b"* 1 FETCH (RFC822.SIZE " + b"9" * 5_000 + b")") == []
    assert _RFC822_SIZE.findall(b"* 1 FETCH (RFC822.SIZE 42)") == [b"42"]


INTERNALDATE = st.tuples(
    st.integers(0, 40) | st.just(10**30), st.sampled_from([b"Jan", b"dec", b"Foo", b""]),
    st.sampled_from([0, 1, 1970, 2024, 9999, 10_000]), st.integers(0, 99), st.integers(0, 99),
    st.integers(0, 99), st.sampled_from([b"+", b"-", b"x"]), st.integers(0, 9999),
).map(lambda t: b"%d-%s-%04d %02d:%02d:%02d %s%04d" % t)


@fuzz(200)
@given(INTERNALDATE | st.binary(max_size=40) | ATOM)
@example(b"01-Jan-0001 00:00:00 +0100")  # OverflowError
@example(b"31-Dec-9999 23:59:59 -0100")  # OverflowError
def test_internaldate(value: object) -> None:
    out = imapwire.parse_internaldate(value)  # type: ignore[arg-type]
    assert out is None or datetime.fromisoformat(out).tzinfo is not None


# --------------------------------------------------------------------------------------
# Maildir: message files and folder names

MIME_LINES = st.lists(
    st.sampled_from([
        b"From: a@b\r\n", b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n", b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/plain\r\n", b"Content-Type: text/plain" + b";" * 3_000 + b"\r\n",
        b"Content-Type: ; name==?utf-8?b?w6k?=\r\n", b"Content-Type: \xff/\xfe\r\n",
        b"Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1=x\r\n",
        b"Content-Disposition: attachment; filename*" + b"1" * 5_000 + b"=x\r\n",
        b"Content-Disposition: inline; filename=\"\x1b[2J\\\".pdf\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Transfer-Encoding: x-uuencode\r\n", b"Content-Transfer-Encoding: (c) 8bit\r\n",
        b"\r\n", b"\n", b"--b\r\n", b"--b--\r\n", b"--\r\n", b"QUJD=\r\n", b"=C3=A9=\r\n",
        b"begin 644 x\r\n", b"\xe9t\xe9\r\n", b"\x00\r\n", b" folded\r\n",
    ]),
    max_size=40,
).map(b"".join)


@pytest.fixture(scope="module")
def maildir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("maildir")
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir()
    return root


@fuzz(200)
@given(raw=MIME_LINES | st.binary(max_size=400) | HEADER_BLOCK,
       nesting=st.integers(0, 70), flags=st.text(alphabet="SFRTDP,a", max_size=6))
@example(raw=b"Content-Type: text/plain" + b";" * 40_000 + b"\r\n\r\nx", nesting=0, flags="")
def test_maildir_message_files(maildir: Path, raw: bytes, nesting: int, flags: str) -> None:
    wrapper = b"Content-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\n"
    data = wrapper * nesting + raw
    path = maildir / "cur" / "1.x"
    path.write_bytes(data)
    meta = _read("1", _Entry(path, flags, None))
    assert meta is not None
    check_meta(meta, imap=False)
    assert meta.size == len(data) + data.count(b"\n") - data.count(b"\r\n")
    _, problems = mime.attachments_from_message(
        email.message_from_bytes(data, policy=email.policy.compat32)
    )
    check_problems(problems)


FOLDER_NAME = (
    st.lists(st.sampled_from([*"&-+,.AZaz09 _é€", "&AOk-", "&-", "&Jjo", "&.", "&+"]), min_size=1,
             max_size=8)
    .map("".join)
    .filter(lambda s: s not in (".", ".."))
)


@fuzz(60)
@given(st.lists(FOLDER_NAME, max_size=4, unique=True))
@example(["R&D", "Tom & Jerry", "&AOk-t&AOk-", "&ZZZ-"])  # UnicodeDecodeError
def test_maildir_folder_names(tmp_path_factory: pytest.TempPathFactory, names: list[str]) -> None:
    root = tmp_path_factory.mktemp("folders")
    (root / "cur").mkdir()
    for name in names:
        (root / f".{name}" / "cur").mkdir(parents=True, exist_ok=True)
    listed = MaildirConnector(root).list_folders()
    assert len(listed) == 1 + len({n for n in names if os.path.isdir(root / f".{n}")})
    assert all(isinstance(f.path, str) for f in listed)
    assert next(p for p, _ in folder_directories(root)) == "INBOX"


def test_maildir_folder_that_is_not_modified_utf7_keeps_its_name(tmp_path: Path) -> None:
    (tmp_path / "cur").mkdir()
    (tmp_path / ".R&D" / "cur").mkdir(parents=True)
    (tmp_path / ".&AOk-t&AOk-" / "cur").mkdir(parents=True)
    assert sorted(f.path for f in MaildirConnector(tmp_path).list_folders()) == [
        "INBOX", "R&D", "été"
    ]
    assert sorted(p for p, _ in folder_directories(tmp_path)) == ["INBOX", "R&D", "été"]


# --------------------------------------------------------------------------------------
# EWS: the XML mailclean reads itself, and exchangelib's items

XML_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters=[
            *(chr(c) for c in range(32) if c not in (9, 10, 13)), "\ufffe", "\uffff"
        ],
    ),
    max_size=30,
)
SIZE_TEXT = st.one_of(
    XML_TEXT, st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["²", "١٢", "１２", "9" * 5_000, " 12 ", "", "-0", "0x10", "1e3"]),
)


def t(name: str) -> str:
    return f"{{{TNS}}}{name}"


def xml_item(draw: st.DrawFn, tag: str = "Message") -> etree._Element:
    item = etree.Element(t(tag))
    if draw(st.booleans()):
        ident = etree.SubElement(item, t("ItemId"))
        for attr in ("Id", "ChangeKey"):
            if draw(st.booleans()):
                ident.set(attr, draw(XML_TEXT))
    if draw(st.booleans()):
        etree.SubElement(item, t("ParentFolderId")).set("Id", draw(XML_TEXT))
    if draw(st.booleans()):
        etree.SubElement(item, t("Size")).text = draw(SIZE_TEXT)
    if draw(st.booleans()):
        etree.SubElement(item, t("InternetMessageId")).text = draw(
            HEADERISH.filter(lambda s: all(c in "\t\n\r" or c >= " " for c in s))
            .map(lambda s: "".join(c for c in s if c not in "\ufffe\uffff" and not
                                   0xD800 <= ord(c) <= 0xDFFF))
        )
    return item


@fuzz(200)
@given(st.data())
@example(None)
def test_ews_identity_xml(data: st.DataObject | None) -> None:
    if data is None:  # Unicode digits that str.isdigit() accepts and int() refuses
        for text in ("²", "9" * 5_000):
            elem = etree.Element(t("Message"))
            etree.SubElement(elem, t("Size")).text = text
            assert _identity_from_xml(elem).size is None
        return
    ident = _identity_from_xml(xml_item(data.draw))
    assert isinstance(ident.item_id, str)
    assert ident.size is None or (type(ident.size) is int and 0 <= ident.size < INT64)
    check_id(ident.message_id)


CHANGE_TAGS = ["Create", "Update", "Delete", "ReadFlagChange", "Other"]


@fuzz(200)
@given(st.data())
def test_ews_sync_changes(data: st.DataObject) -> None:
    """A change without an item id (or of an unknown kind) is a malformed answer: an
    EWSError the connector turns into a ConnectorError, never an AttributeError."""
    change = etree.Element(t(data.draw(st.sampled_from(CHANGE_TAGS))))
    holder = change
    if data.draw(st.booleans()):
        holder = etree.SubElement(change, t("Message"))
    if data.draw(st.integers(0, 3)):
        ident = etree.SubElement(holder, t("ItemId"))
        if data.draw(st.integers(0, 3)):
            ident.set("Id", data.draw(XML_TEXT))
    if data.draw(st.booleans()):
        etree.SubElement(change, t("IsRead")).text = data.draw(
            st.sampled_from(["true", " TRUE ", "false", "1", ""]) | XML_TEXT
        )
    svc = SyncIds.__new__(SyncIds)  # _elem_to_obj needs no account nor connection
    try:
        kind, item_id, is_read = svc._elem_to_obj(change)
    except ews_errors.MalformedResponseError:
        return
    assert kind in {svc.CREATE, svc.UPDATE, svc.DELETE, svc.READ_FLAG_CHANGE}
    assert isinstance(item_id, str) and item_id
    assert is_read is None or isinstance(is_read, bool)


def test_ews_sync_change_without_item_id_is_malformed() -> None:
    svc = SyncIds.__new__(SyncIds)
    for xml in ("<t:Create/>", "<t:Delete/>", "<t:ReadFlagChange/>", "<t:Foo/>",
                "<t:Update><t:Message/></t:Update>"):
        elem = etree.fromstring(f'<root xmlns:t="{TNS}">{xml}</root>'.encode())[0]
        with pytest.raises(ews_errors.MalformedResponseError):
            svc._elem_to_obj(elem)


@st.composite
def ews_messages(draw: st.DrawFn) -> etree._Element:
    item = xml_item(draw)
    if item.find(t("ItemId")) is None:
        etree.SubElement(item, t("ItemId")).set("Id", "AAA")

    def field(name: str, text: st.SearchStrategy[str]) -> None:
        if draw(st.booleans()):
            etree.SubElement(item, t(name)).text = draw(text)

    field("Subject", XML_TEXT)
    field("DateTimeReceived", st.sampled_from(["2024-01-01T10:00:00Z", "0001-01-01T00:00:00Z",
                                               "x", ""]) | XML_TEXT)
    field("DateTimeSent", st.sampled_from(["2024-01-01T10:00:00Z", "9999-12-31T23:59:59Z"]))
    field("IsRead", st.sampled_from(["true", "false", "x"]))
    field("InReplyTo", XML_TEXT)
    field("References", XML_TEXT)
    field("DisplayTo", XML_TEXT)
    if draw(st.booleans()):
        headers = etree.SubElement(item, t("InternetMessageHeaders"))
        for _ in range(draw(st.integers(0, 6))):
            h = etree.SubElement(headers, t("InternetMessageHeader"))
            h.text = draw(XML_TEXT)
            if draw(st.integers(0, 5)):
                h.set("HeaderName", draw(st.sampled_from(
                    ["From", "To", "Subject", "Date", "Message-ID", "References", "List-Id",
                     "List-Unsubscribe", "Precedence", "X-Mailer"]) | XML_TEXT))
    if draw(st.booleans()):
        attachments = etree.SubElement(item, t("Attachments"))
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["FileAttachment", "ItemAttachment"]))
            a = etree.SubElement(attachments, t(kind))
            etree.SubElement(a, t("AttachmentId")).set("Id", "att")  # as Exchange sends
            for name, text in (("Name", XML_TEXT), ("ContentType", XML_TEXT),
                               ("Size", SIZE_TEXT), ("IsInline", st.sampled_from(["true", "x"]))):
                if draw(st.booleans()):
                    etree.SubElement(a, t(name)).text = draw(text)
    if draw(st.booleans()):
        sender = etree.SubElement(etree.SubElement(item, t("From")), t("Mailbox"))
        etree.SubElement(sender, t("Name")).text = draw(XML_TEXT)
        etree.SubElement(sender, t("EmailAddress")).text = draw(XML_TEXT)
    return item


@fuzz(150)
@given(ews_messages())
def test_ews_messages(elem: etree._Element) -> None:
    """exchangelib's Message, read from hostile XML (exchangelib logs and drops the values
    it cannot convert), then mailclean's reading of it."""
    meta = message_from_item(Message.from_xml(elem, account=None))
    check_meta(meta, imap=False, ews=True)
    assert meta.change_key is None or isinstance(meta.change_key, str)


def test_ews_sizes_out_of_range() -> None:
    xml = (
        f'<t:Message xmlns:t="{TNS}"><t:ItemId Id="A"/><t:Size>-5</t:Size><t:Attachments>'
        '<t:FileAttachment><t:AttachmentId Id="x"/><t:Size>-123</t:Size></t:FileAttachment>'
        '<t:ItemAttachment><t:AttachmentId Id="y"/><t:Size>99999999999999999999</t:Size>'
        "</t:ItemAttachment></t:Attachments></t:Message>"
    )
    meta = message_from_item(Message.from_xml(etree.fromstring(xml.encode()), account=None))
    assert meta.size == 0 and "no item size" in meta.problems
    assert [a.size for a in meta.attachments] == [0, 0]
