"""Decoded sizes of transfer-encoded payloads: exact from the bytes, or estimated from the
encoded size.
"""

from __future__ import annotations

import binascii
import re


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
