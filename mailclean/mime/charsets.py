"""Bytes to text: MIME charset labels as they are used in practice, and the fallback for
bytes in no usable charset (UTF-8 when valid, else Windows-1252).
"""

from __future__ import annotations

import codecs
from functools import lru_cache

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
