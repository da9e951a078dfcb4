"""Attached files: their types and first bytes, the names they are given, and the MIME
leaves that carry them (every way clients write a file name).
"""

from __future__ import annotations

from mailclean.mailgen.headers import _rfc2231, encoded_words
from mailclean.mailgen.parts import _b64, _Part, _qp
from mailclean.mailgen.truth import AttachmentTruth

_MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "jpg": "image/jpeg",
    "png": "image/png",
    "zip": "application/zip",
    "ics": "text/calendar",
    "tnef": "application/ms-tnef",
}
_MAGIC = {
    "application/pdf": b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n",
    "application/zip": b"PK\x03\x04\x14\x00\x08\x00\x08\x00",
    _MIME["docx"]: b"PK\x03\x04\x14\x00\x06\x00\x08\x00",
    _MIME["xlsx"]: b"PK\x03\x04\x14\x00\x06\x00\x08\x00",
    _MIME["odt"]: b"PK\x03\x04\x14\x00\x00\x08\x00\x00",
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x01\x00H\x00H\x00\x00",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "application/ms-tnef": b"\x78\x9f\x3e\x22",
}

_RANDOM_FILES = (
    ("pdf", "Compte_rendu_{n}.pdf", "plain"), ("pdf", "Facture_{n}.pdf", "plain"),
    ("docx", "Courrier réponse {n}.docx", "rfc2047"), ("xlsx", "Tableau_suivi_{n}.xlsx", "plain"),
    ("jpg", "IMG_{n}.jpg", "plain"), ("png", "Capture d'écran {n}.png", "rfc2231"),
    ("pdf", "Arrêté n°{n}.pdf", "rfc2231"), ("odt", "note_{n}.odt", "plain"),
    ("zip", "documents_{n}.zip", "plain"),
)


def _file_name(ctype: str, disposition: str | None, filename: str,
               style: str) -> tuple[str, str | None]:
    """Content-Type and Content-Disposition values naming ``filename`` the way ``style``
    says (plain, RFC 2231 with or without continuations, RFC 2047 words, name only...)."""
    disp = disposition
    if style == "plain":
        ctype += f'; name="{filename}"'
        disp = f'{disposition}; filename="{filename}"'
    elif style == "rfc2231":
        disp = f"{disposition};\r\n filename*=utf-8''{_rfc2231(filename)}"
    elif style == "rfc2231-latin1":
        value = _rfc2231(filename, "iso-8859-1")
        disp = f"{disposition};\r\n filename*=iso-8859-1''{value}"
    elif style == "rfc2231-cont":
        encoded = _rfc2231(filename)
        pieces: list[str] = []
        while encoded:
            cut = min(len(encoded), 36)
            while "%" in encoded[max(cut - 2, 0):cut] and cut < len(encoded):
                cut -= 1  # never split a %XX escape between two sections
            pieces.append(encoded[:cut])
            encoded = encoded[cut:]
        sections = [
            f"filename*{i}*={'utf-8' + chr(39) * 2 if i == 0 else ''}{piece}"
            for i, piece in enumerate(pieces)
        ]
        disp = f"{disposition};\r\n " + ";\r\n ".join(sections)
    elif style == "rfc2047":
        word = "\r\n ".join(encoded_words(filename, "utf-8", "b", limit=60))
        ctype += f';\r\n name="{word}"'
        disp = f'{disposition};\r\n filename="{word}"'
    elif style == "ctype-name":
        ctype += f'; name="{filename}"'
        disp = None
    elif style == "ctype-name-disp":
        ctype += f'; name="{filename}"'
    else:
        raise ValueError(style)
    return ctype, disp


def _attachment_part(filename: str | None, mime: str, data: bytes, *, style: str = "plain",
                     cte: str = "base64", disposition: str | None = "attachment",
                     content_id: str | None = None, charset: str | None = None) -> _Part:
    """A leaf attachment holding ``data``; ``style`` says how its file name is written."""
    ctype = mime + (f'; charset="{charset}"' if charset else "")
    disp = disposition
    if filename is not None:
        ctype, disp = _file_name(ctype, disposition, filename, style)
    headers: list[tuple[str, str | bytes]] = [("Content-Type", ctype)]
    if disp:
        headers.append(("Content-Disposition", disp))
    if content_id:
        headers.append(("Content-ID", f"<{content_id}>"))
    if cte == "base64":
        body = _b64(data)
        size_out = len(data)
    elif cte == "quoted-printable":
        body = _qp(data)
        size_out = len(data)
    else:
        body = data
        size_out = len(data)
    headers.append(("Content-Transfer-Encoding", cte))
    truth = AttachmentTruth(filename, mime.lower(), size_out, cte)
    return _Part(headers, body, truth=truth)


def _forwarded_part(inner: bytes, filename: str | None) -> _Part:
    """A message/rfc822 part holding ``inner``: one attachment of its full size."""
    if filename:
        headers: list[tuple[str, str | bytes]] = [
            ("Content-Type", f'message/rfc822; name="{filename}"'),
            ("Content-Disposition", f'attachment; filename="{filename}"'),
        ]
    else:
        headers = [("Content-Type", "message/rfc822"), ("Content-Disposition", "inline")]
    return _Part(headers, inner, truth=AttachmentTruth(filename, "message/rfc822",
                                                       len(inner), "7bit"))
