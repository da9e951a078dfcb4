"""Header and MIME-structure decoding, as pure functions that never raise on bad input.

These run once per message of every sync (100,000 times for a large mailbox), so the common
paths use precompiled regular expressions and plain string methods; the stdlib ``email``
machinery is only used where a whole message is at hand (Maildir) or as a fallback.

Text from the wire is read as UTF-8 when it is valid UTF-8, else as Windows-1252 (a superset
of Latin-1 for the printable range; raw 8-bit headers come from Windows mailers), and
bytes labelled with a charset Python does not know get the same treatment. Bytes that are
invalid in a charset that *is* known decode with replacement characters.

Attachments
    A multipart is never an attachment: its children are walked, depth first. A
    ``message/rfc822`` (or ``message/global``) part is one attachment and is not descended
    into. Any other leaf is body text, not an attachment, when its type is ``text/plain`` or
    ``text/html`` and it has neither a file name nor ``Content-Disposition: attachment``;
    every other leaf is an attachment: named files, inline images, unnamed parts such as the
    ``text/calendar`` alternative of an invitation. This is the rule of
    :mod:`mailclean.mailgen`, and both :func:`attachments_from_bodystructure` (IMAP) and
    :func:`attachments_from_message` (Maildir) apply it, with IMAP part numbers.

Problems are short strings such as ``"bodystructure: unexpected NIL at 2.1"``; the message
is indexed all the same with what could be read.
"""

from __future__ import annotations

import binascii
import codecs
import email.message
import email.utils
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.errors import CloseBoundaryNotFoundDefect
from email.generator import BytesGenerator
from email.header import Header
from email.policy import compat32
from functools import lru_cache
from typing import TypeGuard
from urllib.parse import unquote_to_bytes

from mailclean.model import AttachmentMeta

__all__ = [
    "attachments_from_bodystructure",
    "attachments_from_message",
    "decode_words",
    "estimate_decoded_size",
    "list_headers",
    "normalize_message_id",
    "parse_address",
    "parse_address_list",
    "parse_date",
    "parse_header_block",
    "thread_key",
    "unsubscribe_method",
]

# --------------------------------------------------------------------------------------
# Charsets

# Labels that lie in practice: ISO-8859-1 text from Windows mailers is Windows-1252 (the
# WHATWG rule), GB2312 mail holds GBK/GB18030 characters, US-ASCII is stamped on 8-bit text.
# None means "no usable charset": read as UTF-8 when valid, else as Windows-1252.
_CHARSET_ALIASES: dict[str, str | None] = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "l1": "cp1252", "iso_8859-1": "cp1252", "windows-1252": "cp1252", "cp1252": "cp1252",
    "us-ascii": None, "ascii": None, "unknown-8bit": None, "x-unknown": None,
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8", "ks_c_5601-1987": "cp949", "windows-874": "cp874",
}


@lru_cache(maxsize=256)
def _codec(charset: str) -> str | None:
    """Python codec name for a MIME charset label, or None when there is none usable."""
    label = charset.strip().strip('"').lower().split("*", 1)[0]  # RFC 2231 "utf-8*fr"
    if label in _CHARSET_ALIASES:
        return _CHARSET_ALIASES[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # base64, rot13, zlib...: codecs, but not charsets
    return info.name


def _fallback(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # the five bytes cp1252 leaves undefined


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with a declared charset; unknown or absent charset -> UTF-8, else cp1252."""
    codec = _codec(charset) if charset else None
    if codec is None:
        return _fallback(data)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        if codec == "cp1252":
            return data.decode("latin-1")
    except (LookupError, ValueError, TypeError):
        return _fallback(data)
    try:
        return data.decode(codec, "replace")
    except (LookupError, ValueError, TypeError):
        return _fallback(data)


def _text(value: object) -> str | None:
    """A wire string (bytes, str or int) as text; None for anything else."""
    if isinstance(value, bytes):
        return _fallback(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


# --------------------------------------------------------------------------------------
# Header block


def parse_header_block(raw: bytes) -> dict[str, str]:
    """Parse a block of header lines into ``{lower-case name: unfolded value}``.

    The block is what IMAP returns for ``BODY[HEADER.FIELDS (...)]`` (or the head of a
    message file): CRLF or LF line ends, possibly closed by a blank line, where parsing
    stops. Folded lines (starting with a space or a tab) are joined to the field with one
    space. The first occurrence of a field wins: the fields mailclean reads (From, Date,
    Subject, Message-ID, List-*...) appear once in a well-formed message, and when a relay
    prepends a copy, the original is usually first in what the server returns. Lines
    without a colon, or whose name holds spaces, are ignored with their continuations.
    Bytes are read as UTF-8, or as cp1252 per field when that field is not valid UTF-8.
    """
    if not raw:
        return {}
    if isinstance(raw, str):
        text, mixed = raw, False
    elif not isinstance(raw, (bytes, bytearray, memoryview)):
        return {}
    else:
        data = bytes(raw)
        try:
            text, mixed = data.decode("utf-8"), False
        except UnicodeDecodeError:
            # Latin-1 maps each byte to one character, so each field's bytes can be
            # recovered and decoded on its own below.
            text, mixed = data.decode("latin-1"), True
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.split("\n"):
        if line[-1:] == "\r":
            line = line[:-1]
        if not line:
            break
        first = line[0]
        if first == " " or first == "\t":
            if current is not None:
                line = line.strip(" \t\r")
                if line:
                    current.append(line)
            continue
        name, sep, value = line.partition(":")
        name = name.rstrip(" \t").lower()
        if not sep or not name or " " in name or "\t" in name or name in fields:
            current = None
            continue
        current = [value.strip(" \t\r")]
        fields[name] = current
    out: dict[str, str] = {}
    for name, parts in fields.items():
        value = parts[0] if len(parts) == 1 else " ".join(p for p in parts if p)
        if mixed and not value.isascii():
            value = _fallback(value.encode("latin-1"))
        out[name] = value
    return out


# --------------------------------------------------------------------------------------
# RFC 2047

_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?(.*?)\?=")
_WS = re.compile(r"[ \t\r\n]+")
_NOT_B64 = re.compile(r"[^A-Za-z0-9+/]+")


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        clean = _NOT_B64.sub("", text)
        if len(clean) % 4 == 1:
            clean = clean[:-1]  # a lone trailing sextet carries no whole byte
        try:
            return binascii.a2b_base64(clean + "=" * (-len(clean) % 4))
        except (binascii.Error, ValueError):
            return b""
    try:
        return binascii.a2b_qp(text.encode("utf-8", "replace"), header=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8", "replace")


def decode_words(value: str | None) -> str | None:
    """Decode the RFC 2047 encoded-words of a header value, collapse whitespace, strip.

    B and Q encodings in either case, words glued to plain text, bad base64 padding. Runs
    of adjacent encoded-words separated only by whitespace are joined without it (RFC 2047
    §6.2), and consecutive words in the same charset are decoded together, since mailers
    split multi-byte characters across words. A charset Python does not know (x-unknown)
    reads as UTF-8 when valid, else cp1252; invalid bytes in a known charset become
    U+FFFD. Only ASCII whitespace is collapsed: no-break spaces (French punctuation) stay.
    Returns None for None.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        value = _text(value) or ""
    if "=?" not in value:
        return _WS.sub(" ", value).strip(" ")
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    last = 0
    after_word = False
    # No word can start after the last "?=": searching there would rescan the rest of the
    # value from every "=?" (quadratic on a long run of unclosed words).
    for m in _ENCODED_WORD.finditer(value, 0, value.rfind("?=") + 2):
        gap = value[last:m.start()]
        charset = m.group(1).lower()
        if gap and not (after_word and gap.isspace()):
            if pending:
                out.append(_decode_bytes(bytes(pending), pending_charset))
                pending.clear()
            out.append(gap)
        elif pending and charset != pending_charset:
            out.append(_decode_bytes(bytes(pending), pending_charset))
            pending.clear()
        pending_charset = charset
        pending += _word_bytes(m.group(2), m.group(3))
        last = m.end()
        after_word = True
    if pending:
        out.append(_decode_bytes(bytes(pending), pending_charset))
    out.append(value[last:])
    return _WS.sub(" ", "".join(out)).strip(" ")


# --------------------------------------------------------------------------------------
# Addresses

_QUOTED_PAIR = re.compile(r"\\(.)")
# Possessive blanks and a greedy bare name (stripped by _name): no two runs of the pattern
# can share the same spaces, or a long run of them costs quadratic or cubic time.
_SIMPLE_ADDRESS = re.compile(
    r"[ \t]*+<?[ \t]*+([^\s<>()\",;:@]+@[^\s<>()\",;:@]+)[ \t]*+>?[ \t]*+\Z"
)
_NAME_ADDRESS = re.compile(
    r'[ \t]*+(?:"((?:[^"\\]|\\.)*)"[ \t]*|([^"<>,;:()\\]*))<[ \t]*([^\s<>()",;:]*)[ \t]*>[ \t]*\Z'
)
_ADDRESS_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"?|\((?:[^()\\]|\\.)*\)?|<[^<>]*>?|[,;:]|[^",;:(<]+|.', re.S
)


def _clean_address(text: str) -> str | None:
    address = "".join(text.split()).lower()
    if address.startswith("@") and ":" in address:
        address = address.rsplit(":", 1)[1]  # obsolete source route <@relay:a@b>
    return address or None


def _name(text: str | None) -> str | None:
    if not text:
        return None
    return decode_words(text) or None


def _mailboxes(value: str) -> list[tuple[str | None, str | None]]:
    """Every mailbox of an address header as (raw display name, address)."""
    out: list[tuple[str | None, str | None]] = []
    phrase: list[str] = []
    comments: list[str] = []
    angle: str | None = None

    def flush() -> None:
        text = "".join(phrase).strip()
        address = _clean_address(angle) if angle is not None else None
        name: str | None = text or None
        if angle is None and text:
            words = text.split()
            at_words = [w for w in words if "@" in w]
            if at_words:
                address = _clean_address(at_words[-1].strip("<>"))
                rest = [w for w in words if w is not at_words[-1]]
                name = " ".join(rest) or None
        if name is None and comments:
            name = " ".join(comments).strip() or None
        if name or address:
            out.append((name, address))

    for m in _ADDRESS_TOKEN.finditer(value):
        token = m.group()
        first = token[0]
        if first == "," or first == ";":
            flush()
            phrase, comments, angle = [], [], None
        elif first == ":":
            if angle is None:
                phrase, comments = [], []  # a group's name, not a mailbox's
        elif first == "<":
            if angle is None:
                angle = token[1:-1] if token.endswith(">") else token[1:]
        elif first == "(":
            comments.append(token[1:-1] if token.endswith(")") else token[1:])
        elif first == '"':
            inner = token[1:-1] if len(token) > 1 and token.endswith('"') else token[1:]
            phrase.append(_QUOTED_PAIR.sub(r"\1", inner) if "\\" in inner else inner)
        elif angle is None:
            phrase.append(token)
    flush()
    return out


def parse_address(value: str | None) -> tuple[str | None, str | None]:
    """``(decoded display name, lower-case address)`` of the first mailbox of a From-like
    header, ``(None, None)`` when nothing usable.

    Handles ``Name <a@b>``, ``"Dupont, Jean" <a@b>``, ``a@b``, ``<a@b>``, encoded names,
    ``a@b (Name)`` comments (used as the name when there is no other), groups (``List:
    a@b;``; an empty group gives nothing) and garbage. The first mailbox with an address
    wins. An address is what stands in ``<>`` (``<MAILER-DAEMON>`` included), or a word
    with an ``@``; a header without one (``Jean Dupont``, ``<>``) gives ``(None, None)``.
    """
    if not value or not isinstance(value, str):
        return None, None
    m = _SIMPLE_ADDRESS.match(value)
    if m:
        return None, m.group(1).lower()
    m = _NAME_ADDRESS.match(value)
    if m:
        quoted, bare, address = m.groups()
        if quoted is not None and "\\" in quoted:
            quoted = _QUOTED_PAIR.sub(r"\1", quoted)
        address = _clean_address(address)
        if address:
            return _name(quoted if quoted is not None else bare), address
        return None, None
    for name, address in _mailboxes(value):
        if address:
            return _name(name), address
    return None, None


def parse_address_list(value: str | None) -> list[str]:
    """Lower-case addresses of a To/Cc header, in order, without duplicates."""
    if not value or not isinstance(value, str):
        return []
    seen: dict[str, None] = {}
    for _, address in _mailboxes(value):
        if address:
            seen.setdefault(address, None)
    return list(seen)


# --------------------------------------------------------------------------------------
# Dates, ids, lists


def parse_date(value: str | None) -> str | None:
    """Date header -> ``"YYYY-MM-DDTHH:MM:SS+00:00"`` in UTC, or None when absent or
    unreadable. Trailing comments (``+0100 (CET)``) are ignored, a date without a zone or
    with ``-0000`` is taken as UTC, an ISO 8601 date (sent by some scripts) is accepted,
    and years outside 1970..2100 give None."""
    if not value or not isinstance(value, str):
        return None
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    try:
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if not 1970 <= dt.year <= 2100:
        return None
    return dt.isoformat(timespec="seconds")


_MSG_ID = re.compile(r"<([^<>]*)>")  # not <\s*(.*?)\s*>: cubic on "<" and 5,000 spaces


def normalize_message_id(value: str | None) -> str | None:
    """``"<abc@x>"`` -> ``"abc@x"``: the first id of the value, without brackets or
    surrounding spaces (case kept: ids are case-sensitive); the first word when there are
    no brackets; None when empty."""
    if not value or not isinstance(value, str):
        return None
    for m in _MSG_ID.finditer(value):
        ident = "".join(m.group(1).split())
        if ident:
            return ident
    words = value.replace("<", " ").replace(">", " ").split()
    return words[0] if words else None


def thread_key(
    message_id: str | None, in_reply_to: str | None, references: str | None
) -> str | None:
    """Thread root id: the first id of References, else the first id of In-Reply-To, else
    the message's own id (all normalized); None when there is none."""
    return (
        normalize_message_id(references)
        or normalize_message_id(in_reply_to)
        or normalize_message_id(message_id)
    )


def _unfolded(value: str | None) -> str | None:
    if value is None:
        return None
    if "\n" in value:
        value = " ".join(part.strip() for part in value.splitlines())
    return value.strip() or None


def list_headers(headers: dict[str, str]) -> dict[str, str | None]:
    """The mailing-list fields of a :func:`parse_header_block` result, normalized.

    ``list_id``: the id inside ``<>`` in lower case (``"Annonces <annonces.ville.fr>"`` ->
    ``"annonces.ville.fr"``), else the whole value stripped; ``precedence`` and
    ``auto_submitted``: lower case, stripped; ``list_unsubscribe`` and
    ``list_unsubscribe_post``: unfolded and stripped. None when absent or empty.
    """
    get = headers.get
    list_id = _unfolded(get("list-id"))
    if list_id:
        m = _MSG_ID.search(list_id)
        if m and m.group(1).strip():
            list_id = m.group(1).strip().lower()
    precedence = _unfolded(get("precedence"))
    auto = _unfolded(get("auto-submitted"))
    return {
        "list_id": list_id,
        "list_unsubscribe": _unfolded(get("list-unsubscribe")),
        "list_unsubscribe_post": _unfolded(get("list-unsubscribe-post")),
        "precedence": precedence.lower() if precedence else None,
        "auto_submitted": auto.lower() if auto else None,
    }


_URI = re.compile(r"<([^<>]*)>")  # the scheme is stripped below
_ONE_CLICK = re.compile(r"(?:^|[\s;,])list-unsubscribe\s*=\s*one-click(?:$|[\s;,])", re.I)


def unsubscribe_method(list_unsubscribe: str | None, list_unsubscribe_post: str | None) -> str:
    """How a list can be left: ``"one-click"`` (an https URI and ``List-Unsubscribe-Post:
    List-Unsubscribe=One-Click``, RFC 8058), ``"https"`` (an http or https URI),
    ``"mailto"``, or ``"none"``. URIs are read inside ``<>`` (RFC 2369), or as
    comma-separated words when a sender forgot the brackets."""
    if not list_unsubscribe or not isinstance(list_unsubscribe, str):
        return "none"
    uris = _URI.findall(list_unsubscribe) or [
        w.strip() for w in list_unsubscribe.split(",") if w.strip()
    ]
    schemes = {uri.split(":", 1)[0].strip().lower() for uri in uris if ":" in uri}
    if "https" in schemes and isinstance(list_unsubscribe_post, str) and _ONE_CLICK.search(
        list_unsubscribe_post.strip()
    ):
        return "one-click"
    if "https" in schemes or "http" in schemes:
        return "https"
    if "mailto" in schemes:
        return "mailto"
    return "none"


# --------------------------------------------------------------------------------------
# File names (RFC 2231, RFC 2047 in quoted values)

Params = list[tuple[str, str]]


def _plain_value(value: str) -> str | None:
    if "=?" in value:
        return decode_words(value) or None
    return value.strip() or None


def _extended_value(value: str) -> str | None:
    """``charset'lang'percent-encoded`` (RFC 2231 §4)."""
    charset: str | None = None
    pieces = value.split("'", 2)
    if len(pieces) == 3:
        charset, _, value = pieces
    return _decode_bytes(unquote_to_bytes(value), charset).strip() or None


def _param(params: Params, base: str) -> str | None:
    """Value of parameter ``base`` (lower case), RFC 2231 forms preferred: continuations
    (``base*0*``, ``base*1``...), then ``base*``, then plain ``base``."""
    plain: str | None = None
    extended: str | None = None
    sections: dict[int, tuple[bool, str]] = {}
    size = len(base)
    for key, value in params:
        if not key.startswith(base):
            continue
        rest = key[size:]
        if not rest:
            if plain is None:
                plain = value
        elif rest == "*":
            if extended is None:
                extended = value
        elif rest[0] == "*":
            encoded = rest.endswith("*") and len(rest) > 2
            number = rest[1:-1] if encoded else rest[1:]
            if number.isascii() and number.isdigit() and len(number) < 10:
                sections.setdefault(int(number), (encoded, value))
    if sections:
        order = sorted(sections)
        if not any(sections[n][0] for n in order):
            return _plain_value("".join(sections[n][1] for n in order))
        charset: str | None = None
        chunks: list[bytes] = []
        for n in order:
            encoded, value = sections[n]
            if encoded:
                if n == order[0]:
                    pieces = value.split("'", 2)
                    if len(pieces) == 3:
                        charset, _, value = pieces
                chunks.append(unquote_to_bytes(value))
            else:
                chunks.append(value.encode("utf-8", "replace"))
        return _decode_bytes(b"".join(chunks), charset).strip() or None
    if extended is not None:
        return _extended_value(extended)
    if plain is not None:
        return _plain_value(plain)
    return None


def _filename(disposition_params: Params, type_params: Params) -> str | None:
    return _param(disposition_params, "filename") or _param(type_params, "name")


# --------------------------------------------------------------------------------------
# Sizes


def estimate_decoded_size(encoded_size: int, encoding: str | None) -> int:
    """Decoded size of a part from its encoded size and Content-Transfer-Encoding.

    base64: the encoded text is taken as lines of 76 characters, each followed by CRLF
    except maybe the last (both conventions occur: the CRLF before a MIME delimiter belongs
    to the delimiter). ``ceil(size / 78)`` is then the number of lines whichever holds, the
    characters are the size less two octets per line end, and of the two candidate counts
    the one divisible by 4 is the right one. The result is exact when the payload length is
    a multiple of 3, else over by the one or two bytes of padding; other line lengths make
    it an estimate (no line breaks at all: 2.6% under).
    quoted-printable: an estimate, 90% of the encoded size, rounded (text grows little).
    7bit, 8bit, binary, unknown or None: the size itself.
    """
    if not isinstance(encoded_size, int) or encoded_size <= 0:
        return 0
    enc = encoding.strip().lower() if isinstance(encoding, str) else ""
    if enc == "base64":
        lines = -(-encoded_size // 78)
        chars = encoded_size - 2 * lines
        if chars % 4:
            chars += 2  # the last line has no CRLF of its own
        return max(chars, 0) * 3 // 4
    if enc == "quoted-printable":
        return (encoded_size * 9 + 5) // 10
    return encoded_size


def _crlf_size(data: bytes) -> int:
    """Length of ``data`` once its line ends are CRLF, as an IMAP server counts it."""
    lf = data.count(b"\n")
    return len(data) + lf - data.count(b"\r\n") if lf else len(data)


def _b64_decoded_size(data: bytes) -> int:
    chars = (
        len(data) - data.count(b"\n") - data.count(b"\r") - data.count(b" ")
        - data.count(b"\t") - data.count(b"=")
    )
    return max(chars, 0) * 3 // 4


_LINE_END = re.compile(rb"\r?\n")


def _decoded_size(data: bytes, encoding: str, crlf_size: int) -> int:
    if encoding == "base64":
        return _b64_decoded_size(data)
    if encoding == "quoted-printable":
        if crlf_size != len(data):
            data = _LINE_END.sub(b"\r\n", data)  # hard line breaks decode to CRLF
        try:
            return len(binascii.a2b_qp(data))
        except (binascii.Error, ValueError):
            return estimate_decoded_size(crlf_size, encoding)
    return crlf_size


# --------------------------------------------------------------------------------------
# BODYSTRUCTURE

_MAX_DEPTH = 50
_SEQ = (list, tuple)
_BODY_TYPES = frozenset({"text/plain", "text/html"})


def _where(number: str) -> str:
    return number or "top"


def _atom(value: object) -> str | None:
    text = _text(value)
    return text.strip().lower() if text is not None else None


def _bs_params(value: object, number: str, problems: list[str]) -> Params:
    """The file-name parameters (``filename...``, ``name...``) of a parameter list."""
    if value is None:
        return []
    if not isinstance(value, _SEQ):
        problems.append(f"bodystructure: parameters are not a list at {number}")
        return []
    if len(value) % 2:
        problems.append(f"bodystructure: odd parameter list at {number}")
    out: Params = []
    for i in range(0, len(value) - 1, 2):
        key = _atom(value[i])
        if key is None or not key.startswith(("filename", "name")):
            continue  # charset, boundary...: not worth decoding
        val = _text(value[i + 1])
        if val is not None:
            out.append((key, val))
    return out


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_disposition(value: object) -> bool:
    return (
        isinstance(value, _SEQ) and len(value) == 2 and isinstance(value[0], (bytes, str))
        and (value[1] is None or isinstance(value[1], _SEQ))
    )


def _bs_leaf(node: Sequence[object], number: str, out: list[AttachmentMeta],
             problems: list[str]) -> None:
    n = len(node)
    maintype = _atom(node[0])
    subtype = _atom(node[1]) if n > 1 else None
    # The place of the extension data follows the type as sent: text has its line count
    # first, message/rfc822 its envelope, body and line count.
    if maintype == "text":
        at, layout_ok = 9, n <= 7 or _is_int(node[7])
    elif maintype == "message" and subtype in ("rfc822", "global"):
        at, layout_ok = 11, n <= 9 or _is_int(node[9])
    else:
        at, layout_ok = 8, True
    if maintype == "" and subtype == "":
        # Dovecot's answer to an invalid Content-Type: the RFC 2045 default applies.
        maintype, subtype = "text", "plain"
    if not maintype and not subtype:
        problems.append(f"bodystructure: unreadable part at {number}")
        return
    if n < 7:
        problems.append(f"bodystructure: truncated part at {number}")
    if not maintype or not subtype:
        problems.append(f"bodystructure: incomplete content type at {number}")
    mime_type = f"{maintype or 'application'}/{subtype or 'octet-stream'}"
    raw_size = node[6] if n > 6 else None
    if isinstance(raw_size, bytes) and raw_size.isdigit() and len(raw_size) <= 10:
        raw_size = int(raw_size)
    # body-fld-octets is a 32-bit number: a larger one is no size, and would overflow the
    # index's sums of attachment sizes (SQLite integers are 64-bit).
    if _is_int(raw_size) and raw_size < 2**32:
        size = max(raw_size, 0)
    else:
        size = 0
        if n > 6:
            problems.append(f"bodystructure: unreadable size at {number}")
    encoding = _atom(node[5]) if n > 5 else None
    if not encoding:
        if n > 5:
            problems.append(f"bodystructure: no encoding at {number}")
        encoding = "7bit"
    raw_disp: object = node[at] if n > at else None
    if not layout_ok or not (
        raw_disp is None or isinstance(raw_disp, (bytes, str)) or _is_disposition(raw_disp)
    ):
        problems.append(f"bodystructure: unexpected field layout at {number}")
        raw_disp = next((x for x in node[7:] if _is_disposition(x)), None)
    disposition: str | None = None
    disp_params: Params = []
    if isinstance(raw_disp, _SEQ):
        disposition = _atom(raw_disp[0]) or None
        if len(raw_disp) > 1:
            disp_params = _bs_params(raw_disp[1], number, problems)
    elif raw_disp is not None:
        disposition = _atom(raw_disp) or None
    type_params = _bs_params(node[2], number, problems) if n > 2 else []
    filename = _filename(disp_params, type_params)
    if mime_type in _BODY_TYPES and filename is None and disposition != "attachment":
        return
    out.append(AttachmentMeta(
        part=number,
        filename=filename,
        mime_type=mime_type,
        size=size,
        decoded_size=estimate_decoded_size(size, encoding),
        disposition=disposition,
        encoding=encoding,
    ))


def _bs_walk(node: object, number: str, depth: int, out: list[AttachmentMeta],
             problems: list[str]) -> None:
    if depth > _MAX_DEPTH:
        problems.append(f"bodystructure: nesting deeper than {_MAX_DEPTH} at {number}")
        return
    if node is None:
        problems.append(f"bodystructure: unexpected NIL at {_where(number)}")
        return
    if not isinstance(node, _SEQ) or not node:
        problems.append(f"bodystructure: unexpected {type(node).__name__} at {_where(number)}")
        return
    first = node[0]
    if not isinstance(first, _SEQ):
        _bs_leaf(node, number or "1", out, problems)
        return
    # Multipart. imapclient nests the children in one list: ([child, child], b"mixed", ...);
    # the wire form (and mailclean.connectors.imapwire) lists them: (child, child, b"mixed").
    if first and all(isinstance(x, _SEQ) for x in first) and (
        len(node) == 1 or not isinstance(node[1], _SEQ)
    ):
        children: Sequence[object] = first
        rest = node[1:]
    else:
        end = 0
        while end < len(node) and (node[end] is None or isinstance(node[end], _SEQ)):
            end += 1
        children, rest = node[:end], node[end:]
    if not rest or not isinstance(rest[0], (bytes, str)):
        problems.append(f"bodystructure: multipart without subtype at {_where(number)}")
    prefix = f"{number}." if number else ""
    for i, child in enumerate(children, 1):
        _bs_walk(child, f"{prefix}{i}", depth + 1, out, problems)


def attachments_from_bodystructure(bs: object) -> tuple[list[AttachmentMeta], list[str]]:
    """The attachments described by an IMAP BODYSTRUCTURE, and the problems found.

    ``bs`` is parsed as by :mod:`mailclean.connectors.imapwire` or imapclient (whose
    multipart form, the children nested in one list, is understood too): nested lists or
    tuples, bytes strings, ints, None for NIL. Parts are numbered as IMAP does (a
    single-part message is ``"1"``, children ``"1"``, ``"2"``, nested ``"2.1"``) and chosen
    by the module's attachment rule. ``size`` is the encoded size the server reports and
    ``decoded_size`` its :func:`estimate_decoded_size`. Malformed structures (NIL parts,
    truncated lists, ints for strings, nesting beyond 50 levels) give what could be read
    plus a problem each; nothing is raised.
    """
    out: list[AttachmentMeta] = []
    problems: list[str] = []
    if bs is None:
        return out, ["bodystructure: missing"]
    try:
        _bs_walk(bs, "", 0, out, problems)
    except Exception as exc:  # a sync must go on; the problem string keeps the bug visible
        problems.append(f"bodystructure: internal error {type(exc).__name__}")
    return out, problems


# --------------------------------------------------------------------------------------
# Parsed messages (Maildir)

_PARAM = re.compile(r'[\s;]*([^\s=;"]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;]*))?')
_SEPARATORS = re.compile(r"[\s;]*")
_FOLD = re.compile(r"\r?\n")
_MIME_TYPE = re.compile(r"[^\s/;()<>@,:\\\"\[\]?=]+/[^\s/;()<>@,:\\\"\[\]?=]+\Z")
_COMMENT = re.compile(r"\([^()]*\)")
_CTE = re.compile(r"\s*([^\s;(]+)")  # the mechanism, without comments (Dovecot's reading)
_GENERATOR_POLICY = compat32.clone(max_line_length=0, linesep="\r\n")
# Encodings that get_payload(decode=True) undoes (compat32 also knows uuencode's names).
_TRANSFER_DECODED = frozenset(
    {"base64", "quoted-printable", "x-uuencode", "uuencode", "uue", "x-uue"}
)


def _header_text(value: object) -> str | None:
    """A compat32 header value as text: raw 8-bit bytes come as surrogate escapes."""
    if value is None:
        return None
    if isinstance(value, Header):
        value = str(value)
    if not isinstance(value, str):
        return None
    if not value.isascii():
        value = _fallback(value.encode("utf-8", "surrogateescape"))
    return _FOLD.sub("", value) if "\n" in value else value


def _header_params(value: object) -> tuple[str | None, Params]:
    """``(main value lower-cased, [(lower-case name, value)])`` of a structured field."""
    text = _header_text(value)
    if text is None:
        return None, []
    main, _, rest = text.partition(";")
    params: Params = []
    pos, end = 0, len(rest)
    while pos < end:
        m = _PARAM.match(rest, pos)
        if m is None or m.end() == pos:
            # From past the separators that led nowhere: each of their ";" would lead
            # nowhere again (quadratic on "text/plain;;;;...").
            blanks = _SEPARATORS.match(rest, pos)  # never None: the pattern matches ""
            nxt = rest.find(";", max(blanks.end() if blanks else pos, pos + 1))
            if nxt == -1:
                break
            pos = nxt
            continue
        pos = m.end()
        raw = m.group(2)
        if raw is None:
            continue
        if raw.startswith('"'):
            raw = raw[1:-1] if len(raw) > 1 and raw.endswith('"') else raw[1:]
            if "\\" in raw:
                raw = _QUOTED_PAIR.sub(r"\1", raw)
        else:
            raw = raw.strip()
        params.append((m.group(1).lower(), raw))
    return main.strip().lower() or None, params


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    if isinstance(payload, bytes):
        return payload
    return b""


def _message_size(inner: email.message.Message) -> int:
    """Octets of an embedded message as it stood in the file, with CRLF line ends.

    It is written back out with the stdlib generator, which reproduces what the parser
    kept (header values as folded, payloads, preambles, epilogues) but for one thing: it
    ends every closing delimiter with a line end, where the parser records a closing
    delimiter followed at once by the enclosing part's delimiter as an epilogue of None.
    Nested multiparts with that epilogue are 2 octets too long; the embedded message's own
    root is not, as servers (Dovecot) count that line end in the embedded message.
    Whitespace after a colon or after a delimiter, which the parser drops, is lost.
    """
    buf = io.BytesIO()
    BytesGenerator(buf, mangle_from_=False, policy=_GENERATOR_POLICY).flatten(inner)
    surplus = 0
    stack = [inner]
    while stack:
        entity = stack.pop()
        payload = entity.get_payload()
        if isinstance(payload, list):
            if (
                entity is not inner
                and entity.get_content_maintype() == "multipart"
                and entity.epilogue is None
            ):
                surplus += 2
            stack.extend(p for p in payload if isinstance(p, email.message.Message))
    return max(len(buf.getvalue()) - surplus, 0)


def _raw_header(part: email.message.Message, name: str) -> object:
    # raw_items(), not get(): compat32 turns a field with raw 8-bit bytes into a Header
    # whose str() has lost them.
    for key, value in part.raw_items():
        if key.lower() == name:
            return value
    return None


def _msg_leaf(part: email.message.Message, mime_type: str, number: str, to_eof: bool,
              out: list[AttachmentMeta], problems: list[str]) -> None:
    disposition, disp_params = _header_params(_raw_header(part, "content-disposition"))
    declared, type_params = _header_params(_raw_header(part, "content-type"))
    if declared is not None:
        declared = "".join(_COMMENT.sub("", declared).split())
        if _MIME_TYPE.match(declared):
            mime_type = declared
        else:
            # RFC 2045 5.2: an invalid Content-Type means text/plain, parameters and all
            # (the stdlib keeps the parameters, Dovecot drops them).
            mime_type, type_params = "text/plain", []
    filename = _filename(disp_params, type_params)
    if mime_type in _BODY_TYPES and filename is None and disposition != "attachment":
        return
    cte = _CTE.match(_header_text(_raw_header(part, "content-transfer-encoding")) or "")
    encoding = cte.group(1).lower() if cte else "7bit"
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = payload[0] if payload else None
        size = 0
        if isinstance(inner, email.message.Message):
            try:
                size = _message_size(inner)
            except Exception as exc:  # the generator can choke on what the parser accepted
                problems.append(f"message: unmeasurable {type(exc).__name__} at {number}")
        decoded = estimate_decoded_size(size, encoding)  # the size unless oddly encoded
    else:
        if encoding not in _TRANSFER_DECODED:
            # get_payload() would decode raw 8-bit bytes with the part's charset, replacing
            # what does not fit; decode=True hands them back untouched for these encodings.
            payload = part.get_payload(decode=True)
        data = _payload_bytes(payload)
        size = _crlf_size(data)
        decoded = _decoded_size(data, encoding, size)
        if to_eof:
            # The parser drops the last line end of a part that runs to the end of the file
            # (no closing delimiter), where an IMAP server counts it; files end with one.
            size += 2
            if encoding != "base64":
                decoded += 2
    out.append(AttachmentMeta(
        part=number,
        filename=filename,
        mime_type=mime_type,
        size=size,
        decoded_size=decoded,
        disposition=disposition,
        encoding=encoding,
    ))


def _msg_walk(part: email.message.Message, number: str, depth: int, to_eof: bool,
              out: list[AttachmentMeta], problems: list[str]) -> None:
    unclosed = False
    for defect in getattr(part, "defects", ()) or ():
        problems.append(f"message: {type(defect).__name__} at {_where(number)}")
        unclosed = unclosed or isinstance(defect, CloseBoundaryNotFoundDefect)
    if depth > _MAX_DEPTH:
        problems.append(f"message: nesting deeper than {_MAX_DEPTH} at {number}")
        return
    mime_type = part.get_content_type()
    if mime_type.startswith("multipart/"):
        payload = part.get_payload()
        if not isinstance(payload, list):
            return  # no boundary found: no part can be told apart (the defect says so)
        prefix = f"{number}." if number else ""
        last = len(payload)
        for i, child in enumerate(payload, 1):
            if isinstance(child, email.message.Message):
                child_to_eof = to_eof and unclosed and i == last
                _msg_walk(child, f"{prefix}{i}", depth + 1, child_to_eof, out, problems)
            else:
                problems.append(f"message: unreadable part at {prefix}{i}")
        return
    _msg_leaf(part, mime_type, number or "1", to_eof and bool(number), out, problems)


def attachments_from_message(
    msg: email.message.Message,
) -> tuple[list[AttachmentMeta], list[str]]:
    """The attachments of a parsed message (``compat32`` policy), and the problems found.

    Same rule, part numbers and file-name decoding as
    :func:`attachments_from_bodystructure`. ``size`` is the length of the part's encoded
    body as it stands in the message, counted with CRLF line ends (what an IMAP server
    reports for it); ``decoded_size`` is exact (hard line breaks of quoted-printable text
    count as CRLF); a ``message/rfc822`` part is measured by writing the embedded message
    back out. The parser's defects (no boundary found, missing closing boundary...) are
    reported as problems, with whatever parts it did find.
    """
    out: list[AttachmentMeta] = []
    problems: list[str] = []
    if not isinstance(msg, email.message.Message):
        return out, ["message: not a parsed message"]
    try:
        _msg_walk(msg, "", 0, True, out, problems)
    except Exception as exc:  # a sync must go on; the problem string keeps the bug visible
        problems.append(f"message: internal error {type(exc).__name__}")
    return out, problems
