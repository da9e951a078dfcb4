"""Raw inputs in, structures out, malformed ones included (like imapclient's
tests/test_response_parser.py): header blocks, RFC 2047 words, addresses, dates, file names
(RFC 2231), BODYSTRUCTUREs and parsed messages.

The ``DOVECOT`` cases pair a raw message with the BODYSTRUCTURE Dovecot 2.3.19 sent for it
(captured from a real server): the IMAP walker and the Maildir walker must agree on them.
"""

from __future__ import annotations

import base64
import email
import email.policy
import random
from email.message import EmailMessage, Message

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from mailclean import mime
from mailclean.connectors import imapwire
from mailclean.model import AttachmentMeta
from mailclean.problems import summarize

# --------------------------------------------------------------------------------------
# helpers


def parsed(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def summary(atts: list[AttachmentMeta]) -> list[tuple[object, ...]]:
    """What both walkers must agree on (decoded_size is an estimate on the IMAP side)."""
    return [(a.part, a.filename, a.mime_type, a.size, a.disposition, a.encoding) for a in atts]


def bodystructure_imapclient(data: list[bytes | tuple[bytes, bytes]]) -> object:
    """The BODYSTRUCTURE of one FETCH response, parsed by imapclient."""
    ((_, items),) = parse_fetch_response(data).items()
    return items[b"BODYSTRUCTURE"]


def bodystructure_imapwire(data: list[bytes | tuple[bytes, bytes]]) -> object:
    """The same, parsed by mailclean's own fast parser."""
    return next(imapwire.parse_fetch(data))[b"BODYSTRUCTURE"]


def walk(bs: object) -> list[AttachmentMeta]:
    atts, problems = mime.attachments_from_bodystructure(bs)
    assert problems == []
    return atts


# --------------------------------------------------------------------------------------
# parse_header_block


def test_header_block_crlf_folding_first_wins_blank_line() -> None:
    raw = (
        b"Subject: =?utf-8?q?R=C3=A9union?=\r\n"
        b" =?utf-8?q?_du_conseil?=\r\n"
        b"From: Jean <jean@example.fr>\r\n"
        b"SUBJECT: second copy\r\n"
        b"References: <a@x>\r\n\t<b@x>\r\n"
        b"X-Empty:\r\n"
        b"\r\n"
        b"Body: not a header\r\n"
    )
    assert mime.parse_header_block(raw) == {
        "subject": "=?utf-8?q?R=C3=A9union?= =?utf-8?q?_du_conseil?=",
        "from": "Jean <jean@example.fr>",
        "references": "<a@x> <b@x>",
        "x-empty": "",
    }


def test_header_block_lf_and_no_final_blank_line() -> None:
    assert mime.parse_header_block(b"To: a@b\nCc: c@d\n  , e@f") == {"to": "a@b", "cc": "c@d , e@f"}


def test_header_block_ignores_lines_without_colon_and_their_continuations() -> None:
    raw = (
        b"garbage line\r\n  continued garbage\r\nFrom  a@b Mon Jan  1 10:00:00 2024\r\n"
        b" x\r\nSubject : spaced name\r\n"
    )
    assert mime.parse_header_block(raw) == {"subject": "spaced name"}


def test_header_block_raw_8bit_utf8_and_latin1_in_the_same_block() -> None:
    raw = (
        b"Subject: R\xc3\xa9union \xe2\x82\xac\r\n"  # UTF-8
        b"From: Fran\xe7ois P\xe9rez <fp@example.fr>\r\n"  # Latin-1
        b"X-Quote: \x93cp1252\x94 \x80\r\n"  # cp1252 quotes and euro sign
        b"X-Undefined: \x81\r\n"  # undefined in cp1252: read as Latin-1
    )
    assert mime.parse_header_block(raw) == {
        "subject": "Réunion €",
        "from": "François Pérez <fp@example.fr>",
        "x-quote": "“cp1252” €",
        "x-undefined": "\x81",
    }


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"\r\n\r\n", b"   \r\n", b":\r\n", b": x\r\n"])
def test_header_block_empty(raw: bytes) -> None:
    assert mime.parse_header_block(raw) == {}


def test_header_block_wrong_types() -> None:
    assert mime.parse_header_block(None) == {}  # type: ignore[arg-type]
    assert mime.parse_header_block(5) == {}  # type: ignore[arg-type]
    assert mime.parse_header_block("Subject: str\r\n") == {"subject": "str"}  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# decode_words (RFC 2047)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain   text\t here ", "plain text here"),
        ("=?UTF-8?B?UsOpdW5pb24=?=", "Réunion"),
        ("=?utf-8?b?UsOpdW5pb24=?=", "Réunion"),
        ("=?UTF-8?Q?R=C3=A9union?=", "Réunion"),
        ("=?utf-8?q?r=c3=a9union?=", "réunion"),  # lowercase q, lowercase hex
        ("=?ISO-8859-1?Q?=E9t=E9_=E0_Paris?=", "été à Paris"),  # "_" is a space
        ("=?iso-8859-15?q?100_=A4?=", "100 €"),
        ("=?windows-1252?q?=93quoted=94?=", "“quoted”"),
        # adjacent words: the whitespace between them goes (RFC 2047 6.2), even across folds
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?=\r\n\t =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"),
        # a multi-byte character split across two words (some mailers do)
        ("=?utf-8?b?w6k=?= =?utf-8?b?w6k=?=", "éé"),
        ("=?utf-8?q?=C3?= =?utf-8?q?=A9t=C3=A9?=", "été"),
        # words in two charsets
        ("=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=", "éé"),
        # glued to text on both sides
        ("Re:=?utf-8?q?_caf=C3=A9?=!", "Re: café!"),
        ("[liste]=?utf-8?b?w6l0w6k=?=[fin]", "[liste]été[fin]"),
        # bad base64: missing padding, one sextet too many, junk characters
        ("=?utf-8?b?w6nDqQ?=", "éé"),
        ("=?utf-8?b?w6nDqcOpx?=", "ééé"),
        ("=?utf-8?b?w6 n*DqQ==?=", "éé"),
        # unknown or bogus charsets survive: UTF-8 when valid, else cp1252
        ("=?x-unknown?q?=E9t=E9?=", "été"),
        ("=?x-mac-unknown?b?w6l0w6k=?=", "été"),
        ("=?unknown-8bit?q?caf=C3=A9?=", "café"),
        ("=?base64?q?abc?=", "abc"),  # a codec, not a charset
        ("=??q?abc?=", "abc"),
        # RFC 2231 language suffix in a word
        ("=?utf-8*fr?q?=C3=A9t=C3=A9?=", "été"),
        # invalid bytes in a known charset become U+FFFD
        ("=?utf-8?q?caf=E9?=", "caf\ufffd"),
        # not encoded words: left as they are
        ("=?utf-8?x?abc?=", "=?utf-8?x?abc?="),
        ("a =? b", "a =? b"),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        # a literal "?" inside Q text (broken mailers)
        ("=?utf-8?q?Comment =C3=A7a va??=", "Comment ça va?"),
        # no-break spaces (French punctuation) are not collapsed
        ("Objet\u00a0: =?utf-8?q?ok?=", "Objet\u00a0: ok"),
        ("", ""),
    ],
)
def test_decode_words(value: str, expected: str) -> None:
    assert mime.decode_words(value) == expected


def test_decode_words_none() -> None:
    assert mime.decode_words(None) is None


# --------------------------------------------------------------------------------------
# parse_address, parse_address_list


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jean Dupont <Jean.Dupont@Example.FR>", ("Jean Dupont", "jean.dupont@example.fr")),
        ('"Dupont, Jean" <jean@example.fr>', ("Dupont, Jean", "jean@example.fr")),
        ('"Jean \\"JD\\" Dupont" <jd@x.fr>', ('Jean "JD" Dupont', "jd@x.fr")),
        ("jean@example.fr", (None, "jean@example.fr")),
        ("<jean@example.fr>", (None, "jean@example.fr")),
        ("  < jean@example.fr >  ", (None, "jean@example.fr")),
        ("jean@example.fr (Jean Dupont)", ("Jean Dupont", "jean@example.fr")),
        ("Jean (work) <jean@x.fr>", ("Jean", "jean@x.fr")),
        ("=?utf-8?q?J=C3=A9r=C3=B4me?= <j@x.fr>", ("Jérôme", "j@x.fr")),
        ('"=?utf-8?b?SsOpcsO0bWU=?=" <j@x.fr>', ("Jérôme", "j@x.fr")),  # Outlook quotes them
        ("=?utf-8?q?Dupont=2C_Jean?= <j@x.fr>", ("Dupont, Jean", "j@x.fr")),
        ("Jean Dupont <j@x.fr>, Paul <p@x.fr>", ("Jean Dupont", "j@x.fr")),
        ("Équipe: alice@x.fr, bob@x.fr;", (None, "alice@x.fr")),
        ("undisclosed-recipients:;", (None, None)),
        ("undisclosed-recipients:;, real@x.fr", (None, "real@x.fr")),
        ("<@relay.example:jean@x.fr>", (None, "jean@x.fr")),
        ("<MAILER-DAEMON>", (None, "mailer-daemon")),
        ("Jean Dupont", (None, None)),
        ("Jean <>", (None, None)),
        ("", (None, None)),
        ("<<<>>>,,,;;;", (None, None)),
        ('"unterminated <j@x.fr>', ("unterminated", "j@x.fr")),  # best effort
        ("Jean <j@x.fr", ("Jean", "j@x.fr")),
    ],
)
def test_parse_address(value: str, expected: tuple[str | None, str | None]) -> None:
    assert mime.parse_address(value) == expected


def test_parse_address_none() -> None:
    assert mime.parse_address(None) == (None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@x.fr", ["a@x.fr"]),
        ('A <A@X.fr>, "B, b" <b@x.fr>, a@x.fr, c@x.fr (C)', ["a@x.fr", "b@x.fr", "c@x.fr"]),
        ("Team: d@x.fr, e@x.fr;, f@x.fr", ["d@x.fr", "e@x.fr", "f@x.fr"]),
        ("undisclosed-recipients:;", []),
        (",,, ,", []),
        (None, []),
    ],
)
def test_parse_address_list(value: str | None, expected: list[str]) -> None:
    assert mime.parse_address_list(value) == expected


# --------------------------------------------------------------------------------------
# parse_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 1 Jan 2024 10:00:00 +0100", "2024-01-01T09:00:00+00:00"),
        ("Mon, 1 Jan 2024 10:00:00 +0100 (CET)", "2024-01-01T09:00:00+00:00"),
        ("1 Jan 2024 10:00 -0500", "2024-01-01T15:00:00+00:00"),
        ("Mon, 01 Jan 2024 10:00:00 GMT", "2024-01-01T10:00:00+00:00"),
        ("Mon, 01 Jan 2024 10:00:00 -0000", "2024-01-01T10:00:00+00:00"),
        ("Mon, 01 Jan 2024 10:00:00", "2024-01-01T10:00:00+00:00"),  # no zone: UTC
        ("Mon, 01 Jan 2024 10:00:00 CEST", "2024-01-01T10:00:00+00:00"),  # unknown zone
        ("Tue, 31 Dec 2024 23:30:00 -0100", "2025-01-01T00:30:00+00:00"),
        ("Thu, 1 Jan 70 00:00:00 +0000", "1970-01-01T00:00:00+00:00"),
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00+00:00"),  # ISO 8601 from scripts
        ("Mon, 1 Jan 1901 10:00:00 +0000", None),
        ("Mon, 1 Jan 2150 10:00:00 +0000", None),
        ("Mon, 31 Feb 2024 10:00:00 +0000", None),
        ("Mon, 1 Jan 2024 10:00:00 +9900", None),
        ("lundi 1 janvier 2024", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value: str | None, expected: str | None) -> None:
    assert mime.parse_date(value) == expected


# --------------------------------------------------------------------------------------
# Message-IDs and threads


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@x>", "abc@x"),
        ("  < abc@x >  ", "abc@x"),
        ("<CAF=Ab+c@Mail.Gmail.com>", "CAF=Ab+c@Mail.Gmail.com"),  # case kept
        ("<a@x> <b@x>", "a@x"),
        ("<> <b@x>", "b@x"),
        ("abc@x", "abc@x"),
        ("abc@x (comment)", "abc@x"),
        ('"Jean" <a@x>\'s message of Monday', "a@x"),
        ("", None),
        ("  <>  ", None),
        (None, None),
    ],
)
def test_normalize_message_id(value: str | None, expected: str | None) -> None:
    assert mime.normalize_message_id(value) == expected


@pytest.mark.parametrize(
    ("message_id", "in_reply_to", "references", "expected"),
    [
        ("<me@x>", "<parent@x>", "<root@x> <mid@x>\r\n <parent@x>", "root@x"),
        ("<me@x>", "<parent@x> <other@x>", None, "parent@x"),
        ("<me@x>", None, None, "me@x"),
        ("<me@x>", "", "  ", "me@x"),
        (None, None, None, None),
    ],
)
def test_thread_key(
    message_id: str | None, in_reply_to: str | None, references: str | None, expected: str | None
) -> None:
    assert mime.thread_key(message_id, in_reply_to, references) == expected


# --------------------------------------------------------------------------------------
# List headers


def test_list_headers_normalized() -> None:
    headers = mime.parse_header_block(
        b"List-Id: Annonces de la Ville <Annonces.Ville-Exemple.FR>\r\n"
        b"List-Unsubscribe: <https://ville-exemple.fr/u?id=1>,\r\n <mailto:u@ville-exemple.fr>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        b"Precedence:  Bulk \r\n"
        b"Auto-Submitted: Auto-Generated\r\n"
    )
    assert mime.list_headers(headers) == {
        "list_id": "annonces.ville-exemple.fr",
        "list_unsubscribe": "<https://ville-exemple.fr/u?id=1>, <mailto:u@ville-exemple.fr>",
        "list_unsubscribe_post": "List-Unsubscribe=One-Click",
        "precedence": "bulk",
        "auto_submitted": "auto-generated",
    }


def test_list_headers_absent_raw_and_folded_values() -> None:
    assert mime.list_headers({}) == dict.fromkeys(
        ("list_id", "list_unsubscribe", "list_unsubscribe_post", "precedence", "auto_submitted")
    )
    lists = mime.list_headers(
        {
            "list-id": "  Not.Bracketed.example  ",
            "list-unsubscribe": "<https://a>,\r\n\t<mailto:b>",
            "precedence": "   ",
        }
    )
    assert lists["list_id"] == "Not.Bracketed.example"
    assert lists["list_unsubscribe"] == "<https://a>, <mailto:b>"
    assert lists["precedence"] is None


@pytest.mark.parametrize(
    ("unsubscribe", "post", "expected"),
    [
        ("<https://x/u>, <mailto:u@x>", "List-Unsubscribe=One-Click", "one-click"),
        ("<mailto:u@x>, <HTTPS://x/u>", " list-unsubscribe=one-click ", "one-click"),
        ("<https://x/u>", None, "https"),
        ("<https://x/u>", "something-else", "https"),
        ("<http://x/u>", "List-Unsubscribe=One-Click", "https"),  # RFC 8058 needs https
        ("<mailto:u@x?subject=unsubscribe>", None, "mailto"),
        ("<mailto:u@x>", "List-Unsubscribe=One-Click", "mailto"),
        ("https://x/u", None, "https"),  # brackets forgotten
        ("<ftp://x>", None, "none"),
        ("garbage", None, "none"),
        ("", None, "none"),
        (None, "List-Unsubscribe=One-Click", "none"),
    ],
)
def test_unsubscribe_method(unsubscribe: str | None, post: str | None, expected: str) -> None:
    assert mime.unsubscribe_method(unsubscribe, post) == expected


# --------------------------------------------------------------------------------------
# File names (RFC 2231, RFC 2047 in quoted values), through both walkers


def pdf_part(params: list[bytes] | None, disposition: list[object] | None) -> list[object]:
    return [
        b"application",
        b"pdf",
        params,
        None,
        None,
        b"base64",
        100,
        None,
        disposition,
        None,
        None,
    ]


FILENAME_CASES = [
    # (disposition params, content-type params, header fields, expected)
    pytest.param(
        [b"filename", b"a.pdf"],
        None,
        'Content-Disposition: attachment; filename="a.pdf"',
        "a.pdf",
        id="plain",
    ),
    pytest.param(
        [b"filename*", b"utf-8''%C3%A9t%C3%A9%20%E2%82%AC.pdf"],
        None,
        "Content-Disposition: attachment; filename*=utf-8''%C3%A9t%C3%A9%20%E2%82%AC.pdf",
        "été €.pdf",
        id="rfc2231-utf8",
    ),
    pytest.param(
        [b"filename*", b"iso-8859-1'fr'%E9t%E9.pdf"],
        None,
        "Content-Disposition: attachment; filename*=iso-8859-1'fr'%E9t%E9.pdf",
        "été.pdf",
        id="rfc2231-latin1-with-language",
    ),
    pytest.param(
        [
            b"filename*0*",
            b"utf-8''%C3%A9t%C3%A9%20",
            b"filename*1*",
            b"%C3%A0%20la",
            b"filename*2",
            b" plage.pdf",
        ],
        None,
        "Content-Disposition: attachment;\r\n filename*0*=utf-8''%C3%A9t%C3%A9%20;\r\n"
        ' filename*1*=%C3%A0%20la;\r\n filename*2=" plage.pdf"',
        "été à la plage.pdf",
        id="rfc2231-continuations-encoded-and-plain",
    ),
    pytest.param(
        [b"filename*1", b"continued.txt", b"filename*0", b"plain "],
        None,
        'Content-Disposition: attachment; filename*1="continued.txt"; filename*0="plain "',
        "plain continued.txt",
        id="rfc2231-plain-continuations-out-of-order",
    ),
    pytest.param(
        # what Dovecot sends for the continuations above: joined, the plain section raw
        [b"filename*", b"utf-8''%C3%A9t%C3%A9%20%C3%A0%20la plage.pdf"],
        None,
        "Content-Disposition: attachment;\r\n"
        " filename*=\"utf-8''%C3%A9t%C3%A9%20%C3%A0%20la plage.pdf\"",
        "été à la plage.pdf",
        id="rfc2231-joined-by-server",
    ),
    pytest.param(
        [b"FILENAME", b"=?utf-8?B?w6l0w6k=?= =?utf-8?B?LnBkZg==?="],
        None,
        'Content-Disposition: ATTACHMENT; FILENAME="=?utf-8?B?w6l0w6k=?=\r\n =?utf-8?B?LnBkZg==?="',
        "été.pdf",
        id="rfc2047-in-quoted-value-outlook",
    ),
    pytest.param(
        None,
        [b"name", b"photo.jpg"],
        'Content-Type: application/pdf; name="photo.jpg"',
        "photo.jpg",
        id="content-type-name",
    ),
    pytest.param(
        None,
        [b"Name*", b"utf-8''%E2%82%AC.pdf"],
        "Content-Type: application/pdf; Name*=utf-8''%E2%82%AC.pdf",
        "€.pdf",
        id="content-type-name-rfc2231",
    ),
    pytest.param(
        [b"filename", b"disp.pdf"],
        [b"name", b"type.pdf"],
        'Content-Type: application/pdf; name="type.pdf"\r\n'
        'Content-Disposition: attachment; filename="disp.pdf"',
        "disp.pdf",
        id="disposition-wins",
    ),
    pytest.param(
        [b"filename", b"old.pdf", b"filename*", b"utf-8''n%C3%A9w.pdf"],
        None,
        "Content-Disposition: attachment; filename=old.pdf; filename*=utf-8''n%C3%A9w.pdf",
        "néw.pdf",
        id="extended-wins-over-plain",
    ),
    pytest.param(
        [b"filename*", b"utf-8''bad%ZZ%C3.bin"],
        None,
        "Content-Disposition: attachment; filename*=utf-8''bad%ZZ%C3.bin",
        "bad%ZZ\ufffd.bin",
        id="bad-percent-encoding",
    ),
    pytest.param(
        [b"filename*", b"x-unknown''%E9t%E9.bin"],
        None,
        "Content-Disposition: attachment; filename*=x-unknown''%E9t%E9.bin",
        "été.bin",
        id="unknown-charset",
    ),
    pytest.param(
        [b"filename*", b"no-quotes%20here.txt"],
        None,
        "Content-Disposition: attachment; filename*=no-quotes%20here.txt",
        "no-quotes here.txt",
        id="rfc2231-without-charset",
    ),
    pytest.param(
        [b"filename", b""], None, 'Content-Disposition: attachment; filename=""', None, id="empty"
    ),
    pytest.param(
        [b"filename", b'a "b".pdf'],
        None,
        'Content-Disposition: attachment; filename="a \\"b\\".pdf"',
        'a "b".pdf',
        id="quoted-pair",
    ),
    pytest.param(
        [b"size", b"12", b"filename", b"x.pdf", b"creation-date", b"Mon, 1 Jan 2024"],
        None,
        "Content-Disposition: attachment; size=12; filename=x.pdf;\r\n"
        '\tcreation-date="Mon, 1 Jan 2024"',
        "x.pdf",
        id="other-params-around",
    ),
]


@pytest.mark.parametrize(("disp", "ctype", "fields", "expected"), FILENAME_CASES)
def test_filename_from_bodystructure(
    disp: list[bytes] | None, ctype: list[bytes] | None, fields: str, expected: str | None
) -> None:
    (att,) = walk(pdf_part(ctype, [b"attachment", disp] if disp else None))
    assert att.filename == expected


@pytest.mark.parametrize(("disp", "ctype", "fields", "expected"), FILENAME_CASES)
def test_filename_from_message(
    disp: list[bytes] | None, ctype: list[bytes] | None, fields: str, expected: str | None
) -> None:
    if not fields.startswith("Content-Type"):
        fields = "Content-Type: application/pdf\r\n" + fields
    raw = f"From: a@b\r\n{fields}\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n"
    (att,), problems = mime.attachments_from_message(parsed(raw.encode()))
    assert problems == []
    assert att.filename == expected


def test_filename_raw_8bit_in_message_and_in_bodystructure_literal() -> None:
    raw = (
        b'From: a@b\r\nContent-Type: multipart/mixed; boundary="b5"\r\n\r\n--b5\r\n'
        b"Content-Type: text/plain\r\n\r\nbody\r\n--b5\r\n"
        b'Content-Type: application/pdf; name="\xe9t\xe9.pdf"\r\n'
        b'Content-Disposition: attachment; filename="r\xc3\xa9sum\xc3\xa9.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--b5--\r\n"
    )
    # Dovecot sends 8-bit parameter values as literals.
    data = [
        (
            b'7 (UID 7 BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0 '
            b'NIL NIL NIL NIL)("application" "pdf" ("name" {7}',
            b"\xe9t\xe9.pdf",
        ),
        (b') NIL NIL "base64" 4 NIL ("attachment" ("filename" {12}', "résumé.pdf".encode()),
        b')) NIL NIL) "mixed" ("boundary" "b5") NIL NIL NIL))',
    ]
    expected = [("2", "résumé.pdf", "application/pdf", 4, "attachment", "base64")]
    assert summary(walk(bodystructure_imapclient(data))) == expected
    assert summary(walk(bodystructure_imapwire(data))) == expected
    assert summary(mime.attachments_from_message(parsed(raw))[0]) == expected
    # the Content-Type name alone, in Latin-1, reads as cp1252
    (att,) = walk([b"application", b"pdf", [b"name", b"\xe9t\xe9.pdf"], None, None, b"base64", 4])
    assert att.filename == "été.pdf"


# --------------------------------------------------------------------------------------
# BODYSTRUCTURE walker on Python structures (wire form, as imapwire parses it)

TEXT_PLAIN = [
    b"TEXT",
    b"PLAIN",
    [b"CHARSET", b"utf-8"],
    None,
    None,
    b"QUOTED-PRINTABLE",
    1200,
    30,
    None,
    None,
    None,
    None,
]
TEXT_HTML = [
    b"text",
    b"html",
    [b"charset", b"utf-8"],
    None,
    None,
    b"quoted-printable",
    5200,
    80,
    None,
    None,
    None,
    None,
]
PDF = [
    b"application",
    b"pdf",
    [b"name", b"devis.pdf"],
    None,
    None,
    b"base64",
    78_000,
    None,
    [b"attachment", [b"filename", b"devis.pdf"]],
    None,
    None,
]
INLINE_PNG = [
    b"image",
    b"png",
    None,
    b"<logo@x>",
    None,
    b"base64",
    7800,
    None,
    [b"inline", None],
    None,
    None,
]
ALTERNATIVE = [TEXT_PLAIN, TEXT_HTML, b"alternative", [b"boundary", b"a"], None, None, None]


def test_single_text_part_is_body() -> None:
    assert walk(TEXT_PLAIN) == []
    assert walk(TEXT_HTML[:7]) == []  # no extension data at all (BODY rather than BODYSTRUCTURE)


def test_single_part_attachment_is_part_1() -> None:
    assert walk(PDF) == [
        AttachmentMeta("1", "devis.pdf", "application/pdf", 78_000, 57_000, "attachment", "base64")
    ]


def test_alternative_has_no_attachment() -> None:
    assert walk(ALTERNATIVE) == []


def test_mixed_with_pdf() -> None:
    bs = [TEXT_PLAIN, PDF, b"MIXED", [b"boundary", b"m"], None, None, None]
    assert walk(bs) == [
        AttachmentMeta("2", "devis.pdf", "application/pdf", 78_000, 57_000, "attachment", "base64")
    ]


def test_mixed_alternative_related_with_inline_image() -> None:
    related = [TEXT_HTML, INLINE_PNG, b"related", [b"type", b"text/html"], None, None, None]
    alternative = [TEXT_PLAIN, related, b"alternative", None, None, None, None]
    bs = [alternative, PDF, b"mixed", None, None, None, None]
    assert summary(walk(bs)) == [
        ("1.2.2", None, "image/png", 7800, "inline", "base64"),
        ("2", "devis.pdf", "application/pdf", 78_000, "attachment", "base64"),
    ]


def test_forwarded_message_is_one_attachment_and_not_descended() -> None:
    inner_body = [TEXT_PLAIN, PDF, b"mixed", None, None, None, None]
    envelope = [
        b"Mon, 1 Jan 2024 10:00:00 +0000",
        b"Devis",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        b"<inner@x>",
    ]
    forwarded = [
        b"MESSAGE",
        b"RFC822",
        [b"name", b"Devis.eml"],
        None,
        None,
        b"7BIT",
        90_000,
        envelope,
        inner_body,
        1500,
        None,
        [b"ATTACHMENT", None],
        None,
        None,
    ]
    bs = [TEXT_PLAIN, forwarded, b"mixed", None, None, None, None]
    assert walk(bs) == [
        AttachmentMeta("2", "Devis.eml", "message/rfc822", 90_000, 90_000, "attachment", "7bit")
    ]


def test_text_parts_as_attachments() -> None:
    attached = [
        b"text",
        b"plain",
        [b"charset", b"utf-8"],
        None,
        None,
        b"7bit",
        300,
        10,
        None,
        [b"attachment", None],
        None,
        None,
    ]
    named_inline = [
        b"text",
        b"html",
        None,
        None,
        None,
        b"8bit",
        200,
        5,
        None,
        [b"inline", [b"filename", b"page.html"]],
        None,
        None,
    ]
    calendar = [
        b"text",
        b"calendar",
        [b"method", b"REQUEST"],
        None,
        None,
        b"7bit",
        900,
        30,
        None,
        None,
        None,
        None,
    ]
    csv_single = [b"text", b"csv", [b"name", b"t.csv"], None, None, b"7bit", 50, 2]
    assert summary(walk([TEXT_PLAIN, attached, b"mixed"])) == [
        ("2", None, "text/plain", 300, "attachment", "7bit")
    ]
    assert summary(walk([TEXT_PLAIN, named_inline, b"mixed"])) == [
        ("2", "page.html", "text/html", 200, "inline", "8bit")
    ]
    assert summary(walk([TEXT_PLAIN, TEXT_HTML, calendar, b"alternative"])) == [
        ("3", None, "text/calendar", 900, None, "7bit")
    ]
    assert summary(walk(csv_single)) == [("1", "t.csv", "text/csv", 50, None, "7bit")]
    # a second unnamed inline text part (a list footer, Apple Mail fragments) is body text
    assert walk([TEXT_PLAIN, INLINE_PNG, TEXT_PLAIN, b"mixed"]) == [
        AttachmentMeta("2", None, "image/png", 7800, 5700, "inline", "base64")
    ]


def test_imapclient_multipart_form_gives_the_same_result() -> None:
    # imapclient's BodyData nests a multipart's children in one list.
    related = ([TEXT_HTML, INLINE_PNG], b"related", None, None, None, None)
    alternative = ([TEXT_PLAIN, related], b"alternative", None, None, None, None)
    bs = ([alternative, PDF], b"mixed", None, None, None, None)
    assert [a.part for a in walk(bs)] == ["1.2.2", "2"]


def test_missing_bodystructure() -> None:
    assert mime.attachments_from_bodystructure(None) == ([], ["bodystructure: missing"])


# --------------------------------------------------------------------------------------
# BODYSTRUCTURE walker on malformed structures


def test_nil_body_parts() -> None:
    bs = [[TEXT_PLAIN, None, b"alternative"], PDF, None, b"mixed"]
    atts, problems = mime.attachments_from_bodystructure(bs)
    assert [a.part for a in atts] == ["2"]
    assert problems == [
        "bodystructure: unexpected NIL at 1.2",
        "bodystructure: unexpected NIL at 3",
    ]


def test_truncated_parts_keep_what_can_be_read() -> None:
    bs = [
        TEXT_PLAIN,
        [b"application", b"pdf", [b"name", b"cut.pdf"], None, None, b"base64"],
        [b"image"],
        b"mixed",
    ]
    atts, problems = mime.attachments_from_bodystructure(bs)
    assert summary(atts) == [
        ("2", "cut.pdf", "application/pdf", 0, None, "base64"),
        ("3", None, "image/octet-stream", 0, None, "7bit"),
    ]
    assert problems == [
        "bodystructure: truncated part at 2",
        "bodystructure: truncated part at 3",
        "bodystructure: incomplete content type at 3",
    ]


def test_wrong_types_where_strings_expected() -> None:
    bs = [
        [
            b"application",
            42,
            [b"name", 2024],
            None,
            None,
            7,
            b"1000",
            None,
            [b"attachment", [b"filename", 12345]],
        ],
        [b"image", b"png", b"not-a-list", None, None, None, -5],
        [TEXT_PLAIN, TEXT_HTML],  # a multipart without subtype
        b"mixed",
    ]
    atts, problems = mime.attachments_from_bodystructure(bs)
    assert summary(atts) == [
        ("1", "12345", "application/42", 1000, "attachment", "7"),
        ("2", None, "image/png", 0, None, "7bit"),
    ]
    assert problems == [
        "bodystructure: no encoding at 2",
        "bodystructure: parameters are not a list at 2",
        "bodystructure: multipart without subtype at 3",
    ]


def test_shifted_extension_data_is_found() -> None:
    # a text part without its line count: the disposition is one place early
    shifted = [
        b"text",
        b"plain",
        None,
        None,
        None,
        b"7bit",
        10,
        None,
        [b"attachment", [b"filename", b"notes.txt"]],
        None,
    ]
    atts, problems = mime.attachments_from_bodystructure([TEXT_PLAIN, shifted, b"mixed"])
    assert summary(atts) == [("2", "notes.txt", "text/plain", 10, "attachment", "7bit")]
    assert problems == ["bodystructure: unexpected field layout at 2"]


def test_odd_parameter_list_and_bare_disposition() -> None:
    part = [
        b"application",
        b"zip",
        [b"name", b"a.zip", b"dangling"],
        None,
        None,
        b"base64",
        40,
        None,
        b"ATTACHMENT",
    ]
    atts, problems = mime.attachments_from_bodystructure(part)
    assert summary(atts) == [("1", "a.zip", "application/zip", 40, "attachment", "base64")]
    assert problems == ["bodystructure: odd parameter list at 1"]


@pytest.mark.parametrize(
    ("bs", "problem"),
    [
        ([], "bodystructure: unexpected list at top"),
        (b"garbage", "bodystructure: unexpected bytes at top"),
        (17, "bodystructure: unexpected int at top"),
        ([None, None], "bodystructure: unreadable part at 1"),
    ],
)
def test_garbage_structures(bs: object, problem: str) -> None:
    assert mime.attachments_from_bodystructure(bs) == ([], [problem])


def test_absurd_nesting_stops_at_50_levels() -> None:
    bs: list[object] = [PDF, b"mixed"]
    for _ in range(500):
        bs = [bs, b"mixed"]
    atts, problems = mime.attachments_from_bodystructure(bs)
    assert atts == []
    assert problems == ["bodystructure: nesting deeper than 50 at " + ".".join(["1"] * 51)]
    bs = [PDF, b"mixed"]
    for _ in range(49):
        bs = [bs, b"mixed"]
    assert [a.part for a in walk(bs)] == [".".join(["1"] * 50)]


# --------------------------------------------------------------------------------------
# Raw messages and the BODYSTRUCTURE Dovecot 2.3.19 sent for each

RFC2231_MESSAGE = b"""From: a@b\r
Content-Type: multipart/mixed; boundary="b1"\r
\r
--b1\r
Content-Type: text/plain; charset=utf-8\r
\r
body\r
--b1\r
Content-Type: application/pdf\r
Content-Disposition: attachment;\r
 filename*0*=utf-8''%C3%A9t%C3%A9%20;\r
 filename*1*=%C3%A0%20la;\r
 filename*2=" plage.pdf"\r
Content-Transfer-Encoding: base64\r
\r
QUJD\r
--b1\r
Content-Type: application/pdf; NAME="=?utf-8?B?w6l0w6k=?=\r
 =?utf-8?B?LnBkZg==?="\r
Content-Disposition: ATTACHMENT; FILENAME="=?utf-8?B?w6l0w6k=?=\r
 =?utf-8?B?LnBkZg==?="\r
Content-Transfer-Encoding: base64\r
\r
QUJD\r
--b1\r
Content-Type: image/jpeg; name="photo.jpg"\r
Content-Transfer-Encoding: base64\r
\r
QUJD\r
--b1\r
Content-Type: application/octet-stream\r
Content-Disposition: attachment; filename*=x-unknown'fr'%E9t%E9.bin\r
Content-Transfer-Encoding: base64\r
\r
QUJD\r
--b1\r
Content-Type: application/octet-stream\r
Content-Disposition: attachment; filename*=utf-8''bad%ZZ%C3.bin\r
Content-Transfer-Encoding: quoted-printable\r
\r
abc=3D=\r
def\r
ghi\r
--b1\r
Content-Type: text/plain; charset=utf-8\r
Content-Disposition: inline; filename="notes.txt"\r
\r
inline text file\r
--b1\r
Content-Type: application/octet-stream\r
Content-Disposition: attachment; filename*0="plain "; filename*1="continued.txt"\r
\r
x\r
--b1--\r
"""
RFC2231_RESPONSE = (
    b'3 (UID 3 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 4 0 NIL NIL '
    b'NIL NIL)("application" "pdf" NIL NIL NIL "base64" 4 NIL ("attachment" ("filename*" '
    b'"utf-8\'\'%C3%A9t%C3%A9%20%C3%A0%20la plage.pdf")) NIL NIL)("application" "pdf" ("NAME" '
    b'"=?utf-8?B?w6l0w6k=?= =?utf-8?B?LnBkZg==?=") NIL NIL "base64" 4 NIL ("ATTACHMENT" '
    b'("FILENAME" "=?utf-8?B?w6l0w6k=?= =?utf-8?B?LnBkZg==?=")) NIL NIL)("image" "jpeg" ("name" '
    b'"photo.jpg") NIL NIL "base64" 4 NIL NIL NIL NIL)("application" "octet-stream" NIL NIL NIL '
    b'"base64" 4 NIL ("attachment" ("filename*" "x-unknown\'fr\'%E9t%E9.bin")) NIL NIL)'
    b'("application" "octet-stream" NIL NIL NIL "quoted-printable" 17 NIL ("attachment" '
    b'("filename*" "utf-8\'\'bad%ZZ%C3.bin")) NIL NIL)("text" "plain" ("charset" "utf-8") NIL '
    b'NIL "7bit" 16 0 NIL ("inline" ("filename" "notes.txt")) NIL NIL)("application" '
    b'"octet-stream" NIL NIL NIL "7bit" 1 NIL ("attachment" ("filename" "plain continued.txt")) '
    b'NIL NIL) "mixed" ("boundary" "b1") NIL NIL NIL))'
)

OUTLOOK_MESSAGE = b"""From: a@b\r
Content-Type: multipart/mixed; boundary="m"\r
\r
--m\r
Content-Type: multipart/alternative; boundary="a"\r
\r
--a\r
Content-Type: text/plain; charset="utf-8"\r
Content-Transfer-Encoding: quoted-printable\r
\r
Bonjour, voir le plan ci-joint =C3=A9t=C3=A9.\r
--a\r
Content-Type: multipart/related; boundary="r"; type="text/html"\r
\r
--r\r
Content-Type: text/html; charset="utf-8"\r
Content-Transfer-Encoding: quoted-printable\r
\r
<p>Bonjour <img src=3D"cid:logo"></p>\r
--r\r
Content-Type: image/png; name="image001.png"\r
Content-Disposition: inline; filename="image001.png"\r
Content-ID: <logo>\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9\r
awAAAABJRU5ErkJggg==\r
--r--\r
\r
--a--\r
\r
--m\r
Content-Type: application/pdf; name="=?utf-8?B?UGxhbiBkJ2FjY8OocyAyMDI2LnBkZg==?="\r
Content-Description: =?utf-8?B?UGxhbiBkJ2FjY8OocyAyMDI2LnBkZg==?=\r
Content-Disposition: attachment;\r
\tfilename="=?utf-8?B?UGxhbiBkJ2FjY8OocyAyMDI2LnBkZg==?="; size=12;\r
\tcreation-date="Mon, 01 Jan 2024 10:00:00 GMT"\r
Content-Transfer-Encoding: base64\r
\r
JVBERi0xLjcNCiUNCg==\r
\r
--m--\r
"""
OUTLOOK_RESPONSE = (
    b'1 (UID 1 BODYSTRUCTURE ((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" '
    b'45 0 NIL NIL NIL NIL)(("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" 37 0 '
    b'NIL NIL NIL NIL)("image" "png" ("name" "image001.png") "<logo>" NIL "base64" 98 NIL '
    b'("inline" ("filename" "image001.png")) NIL NIL) "related" ("boundary" "r" "type" '
    b'"text/html") NIL NIL NIL) "alternative" ("boundary" "a") NIL NIL NIL)("application" "pdf" '
    b'("name" "=?utf-8?B?UGxhbiBkJ2FjY8OocyAyMDI2LnBkZg==?=") NIL '
    b'"=?utf-8?B?UGxhbiBkJ2FjY8OocyAyMDI2LnBkZg==?=" "base64" 22 NIL ("attachment" ("filename" '
    b'"=?utf-8?B?UGxhbiBkJ2FjY8OocyAyMDI2LnBkZg==?=" "size" "12" "creation-date" '
    b'"Mon, 01 Jan 2024 10:00:00 GMT")) NIL NIL) "mixed" ("boundary" "m") NIL NIL NIL))'
)

FORWARD_MESSAGE = b"""From: a@b\r
Content-Type: multipart/mixed; boundary="outer"\r
\r
--outer\r
Content-Type: text/plain; charset=utf-8\r
\r
Voir le message transf\xc3\xa9r\xc3\xa9.\r
--outer\r
Content-Type: message/rfc822; name="Re: budget.eml"\r
Content-Disposition: attachment; filename="Re: budget.eml"\r
\r
From: Paul <paul@x.fr>\r
Subject: Re: budget\r
Content-Type: multipart/mixed; boundary="inner"\r
\r
--inner\r
Content-Type: text/plain\r
\r
ci-joint\r
--inner\r
Content-Type: application/vnd.ms-excel; name="budget.xls"\r
Content-Disposition: attachment; filename="budget.xls"\r
Content-Transfer-Encoding: base64\r
\r
0M8R4KGxGuE=\r
--inner--\r
--outer--\r
"""
FORWARD_RESPONSE = (
    b'2 (UID 2 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 28 0 NIL NIL '
    b'NIL NIL)("message" "rfc822" ("name" "Re: budget.eml") NIL NIL "7bit" 329 (NIL "Re: budget" '
    b'(("Paul" NIL "paul" "x.fr")) (("Paul" NIL "paul" "x.fr")) (("Paul" NIL "paul" "x.fr")) NIL '
    b'NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 0 NIL NIL NIL '
    b'NIL)("application" "vnd.ms-excel" ("name" "budget.xls") NIL NIL "base64" 12 NIL '
    b'("attachment" ("filename" "budget.xls")) NIL NIL) "mixed" ("boundary" "inner") NIL NIL NIL) '
    b'15 NIL ("attachment" ("filename" "Re: budget.eml")) NIL NIL) "mixed" ("boundary" "outer") '
    b"NIL NIL NIL))"
)

CALENDAR_MESSAGE = b"""From: a@b\r
Content-Type: multipart/alternative; boundary="b2"\r
\r
--b2\r
Content-Type: text/plain; charset=utf-8\r
\r
invite\r
--b2\r
Content-Type: text/html; charset=utf-8\r
\r
<p>invite</p>\r
--b2\r
Content-Type: text/calendar; charset=utf-8; method=REQUEST\r
Content-Transfer-Encoding: 7bit\r
\r
BEGIN:VCALENDAR\r
END:VCALENDAR\r
--b2--\r
"""
CALENDAR_RESPONSE = (
    b'4 (UID 4 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 6 0 NIL NIL NIL '
    b'NIL)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 13 0 NIL NIL NIL NIL)("text" '
    b'"calendar" ("charset" "utf-8" "method" "REQUEST") NIL NIL "7bit" 30 1 NIL NIL NIL NIL) '
    b'"alternative" ("boundary" "b2") NIL NIL NIL))'
)

DIGEST_MESSAGE = b"""From: a@b\r
Content-Type: multipart/digest; boundary="d"\r
\r
--d\r
\r
From: x@y\r
Subject: one\r
\r
one\r
--d\r
\r
From: x@y\r
Subject: two\r
\r
two\r
--d--\r
"""
DIGEST_RESPONSE = (
    b'8 (UID 8 BODYSTRUCTURE (("message" "rfc822" NIL NIL NIL "7bit" 30 (NIL "one" ((NIL NIL "x" '
    b'"y")) ((NIL NIL "x" "y")) ((NIL NIL "x" "y")) NIL NIL NIL NIL NIL) ("text" "plain" '
    b'("charset" "us-ascii") NIL NIL "7bit" 3 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)("message" '
    b'"rfc822" NIL NIL NIL "7bit" 30 (NIL "two" ((NIL NIL "x" "y")) ((NIL NIL "x" "y")) ((NIL '
    b'NIL "x" "y")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0 '
    b'NIL NIL NIL NIL) 3 NIL NIL NIL NIL) "digest" ("boundary" "d") NIL NIL NIL))'
)

PREAMBLE_MESSAGE = b"""From: a@b\r
Content-Type: multipart/mixed; boundary="b4"\r
\r
This is a preamble.\r
--b4\r
Content-Type: text/plain\r
\r
body\r
\r
--b4\r
Content-Type: application/zip; name=a.zip\r
Content-Transfer-Encoding: base64\r
\r
UEsDBA==\r
\r
--b4--\r
epilogue\r
"""
PREAMBLE_RESPONSE = (
    b'12 (UID 12 BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL '
    b'NIL NIL)("application" "zip" ("name" "a.zip") NIL NIL "base64" 10 NIL NIL NIL NIL) "mixed" '
    b'("boundary" "b4") NIL NIL NIL))'
)

MISSING_BOUNDARY_MESSAGE = b"""From: a@b\r
Content-Type: multipart/mixed; boundary="nothere"\r
\r
--other\r
Content-Type: application/pdf; name="a.pdf"\r
\r
xxx\r
--other--\r
"""
MISSING_BOUNDARY_RESPONSE = (
    b'5 (UID 5 BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL '
    b'NIL NIL) "mixed" ("boundary" "nothere") NIL NIL NIL))'
)

UNCLOSED_MESSAGE = b"""From: a@b\r
Content-Type: multipart/mixed; boundary="b3"\r
\r
--b3\r
Content-Type: text/plain\r
\r
body\r
--b3\r
Content-Type: application/pdf; name="a.pdf"\r
Content-Transfer-Encoding: base64\r
\r
QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r
NTY3ODk=\r
"""
UNCLOSED_RESPONSE = (
    b'6 (UID 6 BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0 NIL NIL '
    b'NIL NIL)("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 88 NIL NIL NIL NIL) "mixed" '
    b'("boundary" "b3") NIL NIL NIL))'
)

ODD_FIELDS_MESSAGE = b"""From: a@b\r
Content-Type: multipart/mixed; boundary="z"\r
\r
--z\r
Content-Type: text/plain\r
\r
body\r
--z\r
Content-Type: application; name="x.pdf"\r
\r
data\r
--z\r
Content-Type: Application/PDF (scanned); name="c.pdf"\r
Content-Transfer-Encoding: Base64 (yes)\r
\r
QUJD\r
--z\r
Content-Type: message/rfc822\r
Content-Transfer-Encoding: base64\r
\r
RnJvbTogYUBiDQoNCmhp\r
--z--\r
"""
# An invalid Content-Type comes as ("" "" NIL ...): text/plain without its parameters.
ODD_FIELDS_RESPONSE = (
    b'1 (UID 1 BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0 NIL NIL '
    b'NIL NIL)("" "" NIL NIL NIL "7bit" 4 NIL NIL NIL NIL)("Application" "PDF" ("name" "c.pdf") '
    b'NIL NIL "Base64" 4 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "base64" 22 (NIL NIL NIL '
    b'NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL '
    b'NIL NIL NIL) 1 NIL NIL NIL NIL) "mixed" ("boundary" "z") NIL NIL NIL))'
)

DOVECOT = {
    "rfc2231": (
        RFC2231_MESSAGE,
        RFC2231_RESPONSE,
        [
            ("2", "été à la plage.pdf", "application/pdf", 4, "attachment", "base64"),
            ("3", "été.pdf", "application/pdf", 4, "attachment", "base64"),
            ("4", "photo.jpg", "image/jpeg", 4, None, "base64"),
            ("5", "été.bin", "application/octet-stream", 4, "attachment", "base64"),
            (
                "6",
                "bad%ZZ\ufffd.bin",
                "application/octet-stream",
                17,
                "attachment",
                "quoted-printable",
            ),
            ("7", "notes.txt", "text/plain", 16, "inline", "7bit"),
            ("8", "plain continued.txt", "application/octet-stream", 1, "attachment", "7bit"),
        ],
    ),
    "outlook": (
        OUTLOOK_MESSAGE,
        OUTLOOK_RESPONSE,
        [
            ("1.2.2", "image001.png", "image/png", 98, "inline", "base64"),
            ("2", "Plan d'accès 2026.pdf", "application/pdf", 22, "attachment", "base64"),
        ],
    ),
    "forward": (
        FORWARD_MESSAGE,
        FORWARD_RESPONSE,
        [
            ("2", "Re: budget.eml", "message/rfc822", 329, "attachment", "7bit"),
        ],
    ),
    "calendar": (
        CALENDAR_MESSAGE,
        CALENDAR_RESPONSE,
        [
            ("3", None, "text/calendar", 30, None, "7bit"),
        ],
    ),
    "digest": (
        DIGEST_MESSAGE,
        DIGEST_RESPONSE,
        [
            ("1", None, "message/rfc822", 30, None, "7bit"),
            ("2", None, "message/rfc822", 30, None, "7bit"),
        ],
    ),
    "preamble": (
        PREAMBLE_MESSAGE,
        PREAMBLE_RESPONSE,
        [
            ("2", "a.zip", "application/zip", 10, None, "base64"),
        ],
    ),
    "odd-fields": (
        ODD_FIELDS_MESSAGE,
        ODD_FIELDS_RESPONSE,
        [
            ("3", "c.pdf", "application/pdf", 4, None, "base64"),
            ("4", None, "message/rfc822", 22, None, "base64"),
        ],
    ),
    "missing-boundary": (MISSING_BOUNDARY_MESSAGE, MISSING_BOUNDARY_RESPONSE, []),
    "unclosed-boundary": (
        UNCLOSED_MESSAGE,
        UNCLOSED_RESPONSE,
        [
            ("2", "a.pdf", "application/pdf", 88, None, "base64"),
        ],
    ),
}
MESSAGE_PROBLEMS = {
    "missing-boundary": [
        "message: StartBoundaryNotFoundDefect at top",
        "message: MultipartInvariantViolationDefect at top",
    ],
    "unclosed-boundary": ["message: CloseBoundaryNotFoundDefect at top"],
}


@pytest.mark.parametrize("name", list(DOVECOT))
def test_dovecot_bodystructure_through_both_parsers(name: str) -> None:
    _, response, expected = DOVECOT[name]
    assert summary(walk(bodystructure_imapclient([response]))) == expected
    assert summary(walk(bodystructure_imapwire([response]))) == expected


@pytest.mark.parametrize("name", list(DOVECOT))
@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_message_walker_agrees_with_dovecot(name: str, line_end: bytes) -> None:
    raw, _, expected = DOVECOT[name]
    atts, problems = mime.attachments_from_message(parsed(raw.replace(b"\r\n", line_end)))
    assert summary(atts) == expected
    assert problems == MESSAGE_PROBLEMS.get(name, [])


def test_message_walker_exact_decoded_sizes() -> None:
    atts, _ = mime.attachments_from_message(parsed(DOVECOT["rfc2231"][0]))
    # base64 "QUJD" is 3 bytes; "abc=3D=\r\ndef\r\nghi" is "abc=def\r\nghi"
    assert [a.decoded_size for a in atts] == [3, 3, 3, 3, 12, 16, 1]
    atts, _ = mime.attachments_from_message(parsed(UNCLOSED_MESSAGE))
    assert atts[0].decoded_size == 62  # the bytes present


def test_unclosed_message_without_final_line_end_still_lists_the_part() -> None:
    atts, problems = mime.attachments_from_message(parsed(UNCLOSED_MESSAGE.rstrip()))
    assert [(a.part, a.filename, a.decoded_size) for a in atts] == [("2", "a.pdf", 62)]
    assert problems == ["message: CloseBoundaryNotFoundDefect at top"]


@pytest.mark.parametrize(
    ("between", "size"),
    # what ends the embedded message decides its size (Dovecot's numbers)
    [(b"\r\n", 202), (b"\r\n\r\n", 202), (b"\r\nX\r\n", 203)],
)
@pytest.mark.parametrize(("nested", "extra"), [(b"\r\n", 0), (b"\r\n\r\n", 2), (b"\r\nY\r\n", 3)])
def test_embedded_message_size_matches_dovecot(
    between: bytes, size: int, nested: bytes, extra: int
) -> None:
    inner = (
        b'From: x@y\r\nContent-Type: multipart/mixed; boundary="i"\r\n\r\n--i\r\n'
        b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\n'
        b"Content-Type: text/plain\r\n\r\nx\r\n--a--"
        + nested
        + b"--i\r\nContent-Type: text/plain\r\n\r\ny\r\n--i--"
    )
    raw = (
        b'From: a@b\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\n'
        b"Content-Type: message/rfc822\r\n\r\n" + inner + between + b"--o--\r\n"
    )
    (att,), _ = mime.attachments_from_message(parsed(raw))
    assert (att.mime_type, att.size, att.decoded_size) == (
        "message/rfc822",
        size + extra,
        size + extra,
    )


# --------------------------------------------------------------------------------------
# Messages built with the email package, and a BODYSTRUCTURE written to describe one


def built_message() -> EmailMessage:
    rng = random.Random(7)
    inner = EmailMessage()
    inner["From"] = "paul@x.fr"
    inner["Subject"] = "inner"
    inner.set_content("inner body\n")
    inner.add_attachment(
        rng.randbytes(999), maintype="application", subtype="zip", filename="inner.zip"
    )
    msg = EmailMessage()
    msg["From"] = "a@b"
    msg["Subject"] = "built"
    msg.set_content("Bonjour\n")
    msg.add_alternative('<p>Bonjour <img src="cid:logo@x"></p>', subtype="html")
    html = msg.get_payload()[1]
    html.add_related(rng.randbytes(3000), maintype="image", subtype="png", cid="<logo@x>")
    msg.add_attachment(
        rng.randbytes(5000), maintype="application", subtype="pdf", filename="été à l'école.pdf"
    )
    msg.add_attachment(inner, filename="fwd.eml")
    msg.add_attachment("a;b\n1;2\n", subtype="plain", filename="notes.txt")
    msg.add_attachment("sans nom\n", subtype="plain", disposition="attachment")
    return msg


# The BODYSTRUCTURE of built_message(), written by hand (sizes aside) as a server sends it.
BUILT_STRUCTURE = [
    [
        [
            b"text",
            b"plain",
            [b"charset", b"utf-8"],
            None,
            None,
            b"7bit",
            8,
            1,
            None,
            None,
            None,
            None,
        ],
        [
            [
                b"text",
                b"html",
                [b"charset", b"utf-8"],
                None,
                None,
                b"7bit",
                38,
                1,
                None,
                None,
                None,
                None,
            ],
            [
                b"image",
                b"png",
                None,
                b"<logo@x>",
                None,
                b"base64",
                4106,
                None,
                [b"inline", None],
                None,
                None,
            ],
            b"related",
            [b"boundary", b"r"],
            None,
            None,
            None,
        ],
        b"alternative",
        [b"boundary", b"a"],
        None,
        None,
        None,
    ],
    [
        b"application",
        b"pdf",
        None,
        None,
        None,
        b"base64",
        6846,
        None,
        [b"attachment", [b"filename*", b"utf-8''%C3%A9t%C3%A9%20%C3%A0%20l%27%C3%A9cole.pdf"]],
        None,
        None,
    ],
    [
        b"message",
        b"rfc822",
        None,
        None,
        None,
        b"8bit",
        1800,
        [None] * 10,
        [[b"text", b"plain", None, None, None, b"7bit", 11, 1], b"mixed"],
        40,
        None,
        [b"attachment", [b"filename", b"fwd.eml"]],
        None,
        None,
    ],
    [
        b"text",
        b"plain",
        [b"charset", b"utf-8"],
        None,
        None,
        b"7bit",
        9,
        2,
        None,
        [b"attachment", [b"filename", b"notes.txt"]],
        None,
        None,
    ],
    [
        b"text",
        b"plain",
        [b"charset", b"utf-8"],
        None,
        None,
        b"7bit",
        9,
        1,
        None,
        [b"attachment", None],
        None,
        None,
    ],
    b"mixed",
    [b"boundary", b"m"],
    None,
    None,
    None,
]


def test_built_message_and_its_bodystructure_agree() -> None:
    def names(atts: list[AttachmentMeta]) -> list[tuple[object, ...]]:
        return [(a.part, a.filename, a.mime_type, a.disposition, a.encoding) for a in atts]

    expected = [
        ("1.2.2", None, "image/png", "inline", "base64"),
        ("2", "été à l'école.pdf", "application/pdf", "attachment", "base64"),
        ("3", "fwd.eml", "message/rfc822", "attachment", "8bit"),
        ("4", "notes.txt", "text/plain", "attachment", "7bit"),
        ("5", None, "text/plain", "attachment", "7bit"),
    ]
    for raw in (crlf(built_message().as_bytes()), built_message().as_bytes()):
        from_message, problems = mime.attachments_from_message(parsed(raw))
        assert problems == []
        assert names(from_message) == expected
        assert from_message[0].decoded_size == 3000
        assert from_message[1].decoded_size == 5000
    assert names(walk(BUILT_STRUCTURE)) == expected


def test_message_sizes_count_crlf_whatever_the_file_holds() -> None:
    with_crlf, _ = mime.attachments_from_message(parsed(crlf(built_message().as_bytes())))
    with_lf, _ = mime.attachments_from_message(parsed(built_message().as_bytes()))
    assert summary(with_crlf) == summary(with_lf)
    assert [a.decoded_size for a in with_crlf] == [a.decoded_size for a in with_lf]
    pdf = with_crlf[1]
    assert pdf.size == len(base64.encodebytes(b"x" * 5000)) + 5000 * 4 // 3 // 76 + 1


def test_quoted_printable_decoded_size_counts_hard_breaks_as_crlf() -> None:
    text = "ligne é\n" * 40
    msg = EmailMessage()
    msg.set_content(
        text, subtype="plain", cte="quoted-printable", disposition="attachment", filename="q.txt"
    )
    for raw in (crlf(msg.as_bytes()), msg.as_bytes()):
        (att,), _ = mime.attachments_from_message(parsed(raw))
        assert att.encoding == "quoted-printable"
        assert att.decoded_size == len(text.replace("\n", "\r\n").encode())


def test_top_level_single_part_messages() -> None:
    pdf = (
        b'From: a@b\r\nContent-Type: application/pdf; name="w.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\nREVG\r\n"
    )
    assert summary(mime.attachments_from_message(parsed(pdf))[0]) == [
        ("1", "w.pdf", "application/pdf", 12, None, "base64")
    ]
    assert mime.attachments_from_message(parsed(b"From: a@b\r\n\r\nhello\r\n")) == ([], [])
    text_attached = b"From: a@b\r\nContent-Disposition: attachment; filename=r.txt\r\n\r\nhi\r\n"
    assert summary(mime.attachments_from_message(parsed(text_attached))[0]) == [
        ("1", "r.txt", "text/plain", 4, "attachment", "7bit")
    ]


def test_message_walker_on_junk() -> None:
    assert mime.attachments_from_message("not a message") == (  # type: ignore[arg-type]
        [],
        ["message: not a parsed message"],
    )
    deep = EmailMessage()
    deep.set_content("x")
    for _ in range(60):
        outer = EmailMessage()
        outer.make_mixed()
        outer.attach(deep)
        deep = outer
    atts, problems = mime.attachments_from_message(deep)
    assert atts == []
    assert problems == ["message: nesting deeper than 50 at " + ".".join(["1"] * 51)]


# --------------------------------------------------------------------------------------
# estimate_decoded_size


def base64_sizes() -> list[int]:
    rng = random.Random(2024)
    small = list(range(1, 400))
    large = [rng.randint(400, 3_000_000) for _ in range(25)]
    return [*small, *large, 57, 57 * 1000, 3_000_000, 3_000_001, 3_000_002]


@pytest.mark.parametrize("final_crlf", [True, False], ids=["final-crlf", "no-final-crlf"])
def test_base64_estimate_on_real_output(final_crlf: bool) -> None:
    rng = random.Random(1)
    for n in base64_sizes():
        encoded = base64.encodebytes(rng.randbytes(n)).replace(b"\n", b"\r\n")
        if not final_crlf:
            encoded = encoded[:-2]  # the CRLF before the next delimiter is the delimiter's
        estimate = mime.estimate_decoded_size(len(encoded), "base64")
        assert abs(estimate - n) <= n * 0.005 + 3, n
        assert estimate - n in (0, 1, 2), n  # over by the padding at most
        if n % 3 == 0:
            assert estimate == n


@pytest.mark.parametrize(
    ("size", "encoding", "expected"),
    [
        (1000, "quoted-printable", 900),
        (15, "Quoted-Printable", 14),
        (1000, "7bit", 1000),
        (1000, "8BIT", 1000),
        (1000, "binary", 1000),
        (1000, None, 1000),
        (1000, "x-uuencode", 1000),
        (0, "base64", 0),
        (-5, "base64", 0),
        (78, " BASE64 ", 57),
        (76, "base64", 57),
    ],
)
def test_estimate_other_encodings(size: int, encoding: str | None, expected: int) -> None:
    assert mime.estimate_decoded_size(size, encoding) == expected


# --------------------------------------------------------------------------------------
# problems in words (mailclean.problems)


def test_problems_are_said_in_words() -> None:
    from mailclean.problems import describe, summarize

    assert summarize([]) == ""
    assert summarize(["message: CloseBoundaryNotFoundDefect at top"]) == (
        "a multipart section is never closed (its end marker is missing)")
    assert describe("bodystructure: unexpected NIL at 2.1") == (
        "the server's description of its structure is damaged (unexpected NIL), in part 2.1")
    many = ["no RFC822.SIZE", "unreadable Date header", "message: unreadable part at 2",
            "message: truncated part at 3", "message: InvalidHeaderDefect at top"]
    assert summarize([*many, many[0]]) == (
        "the server gave no size; the Date header cannot be read; a part cannot be read, "
        "in part 2 (and 2 more)")
    long = summarize(["x" * 500])
    assert len(long) == 240 and "\n" not in long


def test_problems_are_said_in_french() -> None:
    from mailclean.i18n import set_language
    from mailclean.problems import describe

    set_language("fr")
    try:
        text = describe("message: CloseBoundaryNotFoundDefect at 2")
    finally:
        set_language("en")
    assert "Defect" not in text and "partie 2" in text


# --------------------------------------------------------------------------------------
# A typical header block, end to end (kept lean: ~16 µs for these three calls here)

TYPICAL_HEADERS = (
    b"From: =?utf-8?q?J=C3=A9r=C3=B4me_Dupont?= <Jerome.Dupont@example.fr>\r\n"
    b'To: Camille Moreau <agent@mairie-exemple.fr>, "Martin, Paul" <paul@x.fr>\r\n'
    b"Date: Mon, 1 Jan 2024 10:00:00 +0100 (CET)\r\n"
    b"Subject: =?utf-8?b?UsOpdW5pb24gZHUgY29uc2VpbCBtdW5pY2lwYWw=?=\r\n"
    b" =?utf-8?b?IDogb3JkcmUgZHUgam91cg==?=\r\n"
    b"Message-ID: <CAF=abc123@mail.gmail.com>\r\n"
    b"In-Reply-To: <parent@example.fr>\r\n"
    b"References: <root@example.fr> <a@example.fr>\r\n <parent@example.fr>\r\n"
    b"List-ID: Annonces <annonces.ville.fr>\r\n"
    b"List-Unsubscribe: <https://ville.fr/u?x=1>, <mailto:u@ville.fr>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"Precedence: bulk\r\n"
    b"X-Mailer: Microsoft Outlook 16.0\r\n\r\n"
)


def test_typical_header_block() -> None:
    for _ in range(200):  # a smoke loop: a pathological slowdown shows in the suite's time
        headers = mime.parse_header_block(TYPICAL_HEADERS)
        subject = mime.decode_words(headers.get("subject"))
        sender = mime.parse_address(headers.get("from"))
    assert len(headers) == 12
    assert subject == "Réunion du conseil municipal : ordre du jour"
    assert sender == ("Jérôme Dupont", "jerome.dupont@example.fr")
    assert mime.parse_date(headers["date"]) == "2024-01-01T09:00:00+00:00"
    assert mime.parse_address_list(headers["to"]) == ["agent@mairie-exemple.fr", "paul@x.fr"]
    assert (
        mime.thread_key(headers["message-id"], headers["in-reply-to"], headers["references"])
        == "root@example.fr"
    )
    lists = mime.list_headers(headers)
    assert lists["list_id"] == "annonces.ville.fr"
    assert (
        mime.unsubscribe_method(lists["list_unsubscribe"], lists["list_unsubscribe_post"])
        == "one-click"
    )


# --------------------------------------------------------------------------------------
# Never raise (hypothesis)

HEADERISH = st.text(
    alphabet=st.sampled_from(list("=?_ \t\r\nabcQBqb<>@,;:\"()\\é€'*%0123456789AZ+/")),
    max_size=120,
)
WIRE_ATOMS = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.binary(max_size=24),
    st.text(max_size=12),
    st.sampled_from(
        [
            b"text",
            b"plain",
            b"html",
            b"message",
            b"rfc822",
            b"multipart",
            b"mixed",
            b"base64",
            b"attachment",
            b"inline",
            b"filename",
            b"filename*",
            b"filename*0*",
            b"name*1",
            b"utf-8''%C3%A9%ZZ",
            b"x-unknown'fr'%E9",
            b"=?utf-8?b?w6k?=",
            b"quoted-printable",
        ]
    ),
)
STRUCTURES = st.recursive(
    WIRE_ATOMS,
    lambda children: st.one_of(
        st.lists(children, max_size=14), st.lists(children, max_size=14).map(tuple)
    ),
    max_leaves=80,
)


@given(st.one_of(HEADERISH, st.text(max_size=200)))
def test_decode_words_never_raises(value: str) -> None:
    out = mime.decode_words(value)
    assert isinstance(out, str)
    assert "\n" not in out
    assert out == out.strip(" ")


@given(st.one_of(st.binary(max_size=400), HEADERISH.map(lambda s: s.encode("utf-8"))))
def test_parse_header_block_never_raises(raw: bytes) -> None:
    headers = mime.parse_header_block(raw)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    mime.list_headers(headers)


@given(st.one_of(HEADERISH, st.text(max_size=200)))
def test_address_and_date_functions_never_raise(value: str) -> None:
    name, address = mime.parse_address(value)
    assert name is None or isinstance(name, str)
    assert address is None or address == address.lower()
    assert all(a == a.lower() for a in mime.parse_address_list(value))
    mime.parse_date(value)
    mime.normalize_message_id(value)
    mime.thread_key(value, value, value)
    mime.unsubscribe_method(value, value)


def check_walker(bs: object) -> None:
    atts, problems = mime.attachments_from_bodystructure(bs)
    assert all(isinstance(p, str) for p in problems)
    assert not any("internal error" in p for p in problems)
    for att in atts:
        assert att.size >= 0
        assert att.decoded_size >= 0
        assert "/" in att.mime_type
    summarize(problems)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(STRUCTURES)
def test_bodystructure_walker_never_raises(bs: object) -> None:
    check_walker(bs)


def mutate(node: object, data: st.DataObject) -> object:
    """A copy of a realistic structure with some items replaced by junk or dropped."""
    if data.draw(st.integers(0, 9)) == 0:
        return data.draw(WIRE_ATOMS)
    if not isinstance(node, list):
        return node
    out = [mutate(item, data) for item in node]
    if out and data.draw(st.integers(0, 7)) == 0:
        del out[data.draw(st.integers(0, len(out) - 1)) :]  # truncated
    return tuple(out) if data.draw(st.booleans()) else out


@settings(max_examples=100)
@given(st.data())
def test_bodystructure_walker_never_raises_on_damaged_real_structures(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(DOVECOT)))
    real = bodystructure_imapwire([DOVECOT[name][1]])
    check_walker(mutate(data.draw(st.sampled_from([real, BUILT_STRUCTURE])), data))


@settings(max_examples=200)
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: a@b\r\n",
                b"Content-Type: multipart/mixed; boundary=b\r\n",
                b"Content-Type: message/rfc822\r\n",
                b"Content-Type: text/plain\r\n",
                b"Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1=x\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n",
                b"\r\n",
                b"--b\r\n",
                b"--b--\r\n",
                b"QUJD=\r\n",
                b"=C3=A9=\r\n",
                b"\xe9t\xe9\r\n",
            ]
        ),
        max_size=40,
    ).map(b"".join)
    | st.binary(max_size=300)
)
def test_message_walker_never_raises(raw: bytes) -> None:
    atts, problems = mime.attachments_from_message(parsed(raw))
    assert not any("internal error" in p for p in problems)
    assert all(a.size >= 0 and a.decoded_size >= 0 for a in atts)
