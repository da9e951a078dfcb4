"""A whole parsed message (Maildir) walked into attachments by the rule BODYSTRUCTURE
follows, with the same part numbers and sizes an IMAP server would give.
"""

from __future__ import annotations

import email.message
import email.utils
import io
import re
from email.errors import CloseBoundaryNotFoundDefect
from email.generator import BytesGenerator
from email.header import Header
from email.policy import compat32

from mailclean.mime.addresses import _QUOTED_PAIR
from mailclean.mime.bodystructure import _BODY_TYPES, _MAX_DEPTH, _where
from mailclean.mime.charsets import _fallback
from mailclean.mime.params import Params, _filename
from mailclean.mime.sizes import _crlf_size, _decoded_size, estimate_decoded_size
from mailclean.model import AttachmentMeta

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
