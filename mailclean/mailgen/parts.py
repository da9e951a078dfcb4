"""MIME entities: text leaves, multiparts, and their rendering to bytes with the truth about
the attachments met on the way.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, replace

from mailclean.mailgen.truth import AttachmentTruth


@dataclass
class _Part:
    """A MIME entity: header fields, then an encoded body or child parts."""

    headers: list[tuple[str, str | bytes]]
    body: bytes = b""
    children: list[_Part] | None = None
    boundary: str = ""
    preamble: bytes = b""
    truth: AttachmentTruth | None = None
    closed: bool = True
    known: tuple[AttachmentTruth, ...] = ()  # truth of a body pre-rendered into ``body``


def _header_bytes(headers: Iterable[tuple[str, str | bytes]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        out += name.encode("ascii") + b": "
        out += value if isinstance(value, bytes) else value.encode("ascii")
        out += b"\r\n"
    return bytes(out)


def _render(part: _Part, found: list[AttachmentTruth]) -> bytes:
    head = _header_bytes(part.headers)
    if part.children is None:
        if part.truth is not None:
            found.append(part.truth)
        found.extend(part.known)
        return head + b"\r\n" + part.body
    delimiter = b"--" + part.boundary.encode("ascii")
    chunks = [head, b"\r\n"]
    if part.preamble:
        chunks += [part.preamble, b"\r\n"]
    for child in part.children:
        chunks += [delimiter, b"\r\n", _render(child, found), b"\r\n"]
    if part.closed:
        chunks += [delimiter, b"--"]
    return b"".join(chunks)


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _qp(data: bytes) -> bytes:
    """Quoted-printable for CRLF text: hard breaks stay CRLF, soft breaks are ``=`` CRLF."""
    return binascii.b2a_qp(data, istext=True)


def _b64(data: bytes) -> bytes:
    """Base64 in 76-character lines joined by CRLF, without a final line end."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")[:-2]


def _text_leaf(text: str, subtype: str = "plain", *, charset: str = "utf-8",
               cte: str = "quoted-printable", flowed: bool = False, quoted_charset: bool = True,
               extra: list[tuple[str, str]] | None = None) -> _Part:
    data = _crlf(text).encode(charset, errors="replace")
    if data.isascii() and cte in ("8bit", "quoted-printable") and subtype == "plain" and flowed:
        cte = "7bit"
    if cte == "quoted-printable":
        body = _qp(data)
    elif cte == "base64":
        body = _b64(data)
    else:
        body = data
    params = f'charset="{charset}"' if quoted_charset else f"charset={charset}"
    if flowed:
        params += "; format=flowed"
    headers: list[tuple[str, str | bytes]] = [("Content-Type", f"text/{subtype}; {params}")]
    headers.append(("Content-Transfer-Encoding", cte))
    headers.extend(extra or [])
    return _Part(headers, body)


def _multipart(subtype: str, boundary: str, children: list[_Part], *,
               extra: list[tuple[str, str]] | None = None, preamble: bytes = b"",
               type_params: str = "") -> _Part:
    params = f'boundary="{boundary}"'
    if type_params:
        params = f"{type_params};\r\n\t{params}"
    headers: list[tuple[str, str | bytes]] = [
        ("Content-Type", f"multipart/{subtype};\r\n\t{params}")
    ]
    headers.extend(extra or [])
    return _Part(headers, children=children, boundary=boundary, preamble=preamble)


def _unfold(value: str | bytes) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return text.replace("\r\n", "").strip()


def _flatten(part: _Part) -> _Part:
    """Render a body once: a leaf whose bytes hold the whole tree, truth kept in ``known``."""
    found: list[AttachmentTruth] = []
    rendered = _render(replace(part, headers=[]), found)
    return _Part(part.headers, rendered[2:], known=tuple(found))


def _b64text(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _chunks(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)]
