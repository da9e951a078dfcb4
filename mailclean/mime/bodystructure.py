"""IMAP BODYSTRUCTURE walked into attachments, with IMAP part numbers; whatever a server
sends, malformed included, gives what could be read and the problems met.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

from mailclean.mime.charsets import _text
from mailclean.mime.params import Params, _filename
from mailclean.mime.sizes import estimate_decoded_size
from mailclean.model import AttachmentMeta

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
