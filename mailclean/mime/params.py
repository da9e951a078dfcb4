"""Parameters of structured fields: file names in RFC 2231 (with continuations and
charsets) and RFC 2047 words inside quoted values.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from mailclean.mime.charsets import _decode_bytes
from mailclean.mime.headers import decode_words

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
