"""Raw IMAP response bytes in, structures out, malformed ones included (like imapclient's
tests/test_response_parser.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from mailclean.connectors import imapwire

HEADER = b"From: a@b.example\r\nSubject: hi\r\n\r\n"


def fetch_response(uid: int, with_literal_in_structure: bool = False) -> list:
    """Data as imaplib hands it over for one FETCH response."""
    if with_literal_in_structure:
        return [
            (
                b"%d (UID %d RFC822.SIZE 1234 FLAGS (\\Seen $Label1) INTERNALDATE "
                b'"17-Jul-1996 02:44:25 -0700" BODYSTRUCTURE (("text" "plain" ("charset" '
                b'"utf-8") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)("application" "pdf" ("name" {8}'
                % (uid, uid),
                b'r\xc3\xa9s "x"',
            ),
            (
                b') NIL NIL "base64" 1000 NIL ("attachment" ("filename" "a \\"b\\".pdf")) NIL '
                b'NIL) "mixed" ("boundary" "xyz") NIL NIL NIL) BODY[HEADER.FIELDS (FROM SUBJECT)]'
                b" {%d}" % len(HEADER),
                HEADER,
            ),
            b")",
        ]
    return [
        (
            b'%d (UID %d RFC822.SIZE 99 FLAGS () INTERNALDATE " 7-Jan-2024 10:00:00 +0100" '
            b'BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 3 1 NIL NIL NIL NIL) '
            b"BODY[HEADER.FIELDS (FROM SUBJECT)] {%d}" % (uid, uid, len(HEADER)),
            HEADER,
        ),
        b")",
    ]


def test_fetch_with_literals_everywhere() -> None:
    data = fetch_response(5, with_literal_in_structure=True) + fetch_response(6)
    items = list(imapwire.parse_fetch(data))
    assert [i[b"UID"] for i in items] == [5, 6]
    first = items[0]
    assert first[b"RFC822.SIZE"] == 1234
    assert first[b"FLAGS"] == [b"\\Seen", b"$Label1"]
    assert first[b"INTERNALDATE"] == b"17-Jul-1996 02:44:25 -0700"
    pdf = first[b"BODYSTRUCTURE"][1]
    assert pdf[:2] == [b"application", b"pdf"]
    assert pdf[2] == [b"name", 'rés "x"'.encode()]
    assert pdf[6] == 1000
    assert pdf[8] == [b"attachment", [b"filename", b'a "b".pdf']]
    assert first[b"BODY[HEADER.FIELDS (FROM SUBJECT)]"] == HEADER
    assert items[1][b"FLAGS"] == []


def test_same_result_as_imapclient() -> None:
    data = fetch_response(5, True) + fetch_response(7)
    ours = {i[b"UID"]: i for i in imapwire.parse_fetch(data)}
    theirs = parse_fetch_response(data, normalise_times=False)
    for uid, item in theirs.items():
        assert ours[uid][b"RFC822.SIZE"] == item[b"RFC822.SIZE"]
        assert tuple(ours[uid][b"FLAGS"]) == item[b"FLAGS"]
        assert (
            ours[uid][b"BODY[HEADER.FIELDS (FROM SUBJECT)]"]
            == item[b"BODY[HEADER.FIELDS (FROM SUBJECT)]"]
        )

        assert tup(ours[uid][b"BODYSTRUCTURE"]) == ungroup(item[b"BODYSTRUCTURE"])


def tup(v: object) -> object:
    return tuple(tup(x) for x in v) if isinstance(v, list | tuple) else v


def ungroup(body: object) -> object:
    """imapclient's BodyData puts a multipart's children in one tuple; the wire does not."""
    if isinstance(body, tuple) and body and isinstance(body[0], list):
        return tuple(ungroup(c) for c in body[0]) + tuple(tup(x) for x in body[1:])
    return tup(body)


def test_unsolicited_and_nil_and_garbage() -> None:
    data = [b"3 (FLAGS (\\Deleted))", b"4 (UID 9 RFC822.SIZE 10 BODY[HEADER.FIELDS (FROM)] NIL)"]
    items = list(imapwire.parse_fetch(data))
    assert items[0] == {b"FLAGS": [b"\\Deleted"]}
    assert items[1][b"BODY[HEADER.FIELDS (FROM)]"] is None
    # Unbalanced parentheses and stray brackets never raise.
    garbage = list(imapwire.parse_fetch([b"5 (UID 1 RFC822.SIZE (", b"]]] {x}"]))
    assert len(garbage) == 1 and garbage[0][b"UID"] == 1
    assert not isinstance(garbage[0][b"RFC822.SIZE"], int)  # the caller sees it is not a size


@given(
    st.lists(
        st.one_of(st.binary(max_size=80), st.tuples(st.binary(max_size=40), st.binary(max_size=40)))
    )
)
def test_never_raises(chunks: list) -> None:
    list(imapwire.parse_fetch(chunks))


def test_sequence_sets() -> None:
    assert imapwire.sequence_set([7, 1, 2, 3, 9, 10, 3]) == "1:3,7,9:10"
    assert imapwire.sequence_set([]) == ""
    assert imapwire.expand_sequence_set(b"1:3,7,10:9,*,x") == [1, 2, 3, 7, 9, 10]
    uids = list(range(1, 30_000, 2))
    chunks = list(imapwire.chunk_uids(uids, 2_000))
    assert sum(len(c) for c in chunks) == len(uids)
    assert all(len(imapwire.sequence_set(c)) < 64 * 1024 for c in chunks)


def test_search_esearch_vanished() -> None:
    assert imapwire.parse_search([b"1 2 3", b"9"]) == [1, 2, 3, 9]
    assert imapwire.parse_esearch([b'(TAG "A5") UID ALL 1:3,8']) == [1, 2, 3, 8]
    assert imapwire.parse_esearch([b'(TAG "A5") UID']) == []
    assert imapwire.parse_vanished([b"(EARLIER) 41,43:44"]) == [41, 43, 44]


def test_internaldate() -> None:
    assert imapwire.parse_internaldate(b"17-Jul-1996 02:44:25 -0700") == "1996-07-17T09:44:25+00:00"
    assert imapwire.parse_internaldate(b" 1-Jan-2024 00:30:00 +0100") == "2023-12-31T23:30:00+00:00"
    assert imapwire.parse_internaldate(b"garbage") is None
    assert imapwire.parse_internaldate(None) is None


def test_damaged_answers_keep_the_message() -> None:
    """A broken BODYSTRUCTURE, a header block that is not one, a missing size: the message is
    still recorded, with its problems, and a FLAGS-only update is not taken for an answer."""
    from mailclean.connectors.imap import messages_from_fetch

    data = [
        b"1 (UID 7 FLAGS (\\Seen))",
        (
            b'1 (UID 7 RFC822.SIZE 5000 FLAGS (\\Seen) INTERNALDATE "bogus" BODYSTRUCTURE '
            b'(("text" NIL) NIL 42 "mixed") BODY[HEADER.FIELDS (FROM SUBJECT DATE)] {40}',
            b"From: \xff\xfe\r\nSubject: =?x-bad?q?=FF?=\r\nDate: x\r\n\r\n",
        ),
        b")",
        b'2 (UID 8 FLAGS () BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 3 1))',
        b"3 (UID 9 FLAGS ())",
    ]
    metas = messages_from_fetch(data, [7, 8, 9])
    assert [m.uid for m in metas] == [7, 8]
    damaged, sizeless = metas
    assert damaged.size == 5000 and damaged.seen
    assert damaged.received_at is None and damaged.date is None
    assert damaged.problems and damaged.subject is not None
    assert sizeless.size == 0 and "no RFC822.SIZE" in sizeless.problems


def test_identity_answers_read_fast_or_fall_back() -> None:
    from mailclean.connectors.imap import _identities_fast

    dovecot_shape = [
        (b"1 FETCH (UID 7 RFC822.SIZE 1234 BODY[HEADER.FIELDS (MESSAGE-ID)] {26}",
         b"Message-ID: <a@b.example>\r\n\r\n"),
        b")",
        (b"2 FETCH (UID 9 RFC822.SIZE 99 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}", b"\r\n"),
        b")",
        # Flags come in the same answer: a message flagged since the plan is protected.
        (b"3 FETCH (UID 11 RFC822.SIZE 5 FLAGS (\\Seen \\Flagged) "
         b"BODY[HEADER.FIELDS (MESSAGE-ID)] {2}", b"\r\n"),
        b")",
        (b"4 FETCH (UID 12 RFC822.SIZE 6 FLAGS () BODY[HEADER.FIELDS (MESSAGE-ID)] {2}",
         b"\r\n"),
        b")",
    ]
    assert _identities_fast(dovecot_shape) == {
        7: (1234, "a@b.example", False), 9: (99, None, False), 11: (5, None, True),
        12: (6, None, False),
    }
    # Items in another order, or an unsolicited FLAGS update: the general parser's job.
    other_order = [(b"1 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)] {2}", b"\r\n"),
                   b" UID 7 RFC822.SIZE 1)"]
    assert _identities_fast(other_order) is None
    assert _identities_fast([b"3 FETCH (FLAGS (\\Seen) UID 12)"]) is None


@given(
    name=st.sampled_from([b"Message-ID", b"Message-Id", b"message-id"]),
    gap=st.sampled_from([b"", b" ", b"\t", b"  "]),
    value=st.one_of(
        st.binary(max_size=30),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(
            str.encode
        ),
    ),
    end=st.sampled_from([b"\r\n\r\n", b"\r\n", b"\n\n", b"\r\n \r\n\r\n"]),
)
def test_identity_fast_path_reads_message_ids_as_the_header_parser_does(
    name: bytes, gap: bytes, value: bytes, end: bytes
) -> None:
    """The one-line shortcut gives what the general header parser and
    normalize_message_id give, for any bytes between the brackets, or steps aside."""
    from mailclean import mime
    from mailclean.connectors.imap import _identities_fast

    for header in (name + b":" + gap + b"<" + value + b">" + end, name + b":" + gap + value + end):
        answer = [(b"1 FETCH (UID 5 RFC822.SIZE 10 BODY[HEADER.FIELDS (MESSAGE-ID)] {%d}"
                   % len(header), header), b")"]
        expected = mime.normalize_message_id(mime.parse_header_block(header).get("message-id"))
        assert _identities_fast(answer) == {5: (10, expected, False)}
