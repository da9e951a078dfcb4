"""Header fields as mail clients write them: RFC 2047 encoded-words, folding, mailboxes,
RFC 2231 parameter values, and IMAP's modified UTF-7 for folder names.
"""

from __future__ import annotations

import base64
from functools import lru_cache

_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_ATTR_SAFE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"
)


def _q_text(data: bytes) -> str:
    return "".join(
        chr(c) if c in _Q_SAFE else "_" if c == 32 else f"={c:02X}" for c in data
    )


def encoded_words(text: str, charset: str = "utf-8", encoding: str = "b", *,
                  label: str | None = None, limit: int = 75) -> list[str]:
    """RFC 2047 encoded-words for ``text``, each at most ``limit`` characters.

    Words never split a character; ``label`` is the charset as written (its case varies
    between mail clients).
    """
    label = label or charset
    overhead = len(label) + 7  # =?label?X?...?=
    words: list[str] = []
    chunk: list[str] = []
    nbytes = 0  # B: bytes in chunk; Q: encoded length of chunk
    for ch in text:
        raw = ch.encode(charset)
        if encoding == "b":
            grown = nbytes + len(raw)
            length = overhead + (grown + 2) // 3 * 4
        else:
            grown = nbytes + len(_q_text(raw))
            length = overhead + grown
        if chunk and length > limit:
            words.append(_one_word("".join(chunk), charset, encoding, label))
            chunk, nbytes = [ch], (len(raw) if encoding == "b" else len(_q_text(raw)))
        else:
            chunk.append(ch)
            nbytes = grown
    if chunk:
        words.append(_one_word("".join(chunk), charset, encoding, label))
    return words


def _one_word(text: str, charset: str, encoding: str, label: str) -> str:
    data = text.encode(charset)
    if encoding == "b":
        return f"=?{label}?{'B' if label.isupper() else 'b'}?{base64.b64encode(data).decode()}?="
    return f"=?{label}?{'Q' if label.isupper() else 'q'}?{_q_text(data)}?="


def _fold(value: str, *, used: int = 0, width: int = 78) -> str:
    """Fold a plain ASCII header value at spaces so lines stay within ``width``.

    ``used`` is the length already on the first line ("Subject: "). Unfolding (removing
    each CRLF) gives the value back exactly.
    """
    if used + len(value) <= width:
        return value
    lines: list[str] = []
    line = ""
    budget = width - used
    for i, word in enumerate(value.split(" ")):
        candidate = word if i == 0 else f"{line} {word}"
        if i and len(candidate) > budget and line.strip():
            lines.append(line)
            line = f" {word}"
            budget = width
        else:
            line = candidate
    lines.append(line)
    return "\r\n".join(lines)


def _needs_encoding(text: str) -> bool:
    return not text.isascii()


def _ascii_prefix(text: str) -> tuple[str, str]:
    """Split ``Re: Réunion`` into the plain-ASCII leading words and the rest."""
    words = text.split(" ")
    i = 0
    while i < len(words) - 1 and words[i].isascii():
        i += 1
    if i == 0:
        return "", text
    return " ".join(words[:i]) + " ", " ".join(words[i:])


@lru_cache(maxsize=4096)
def _subject_header(text: str, style: str) -> str:
    """The Subject value a given mail client writes for ``text``."""
    if not _needs_encoding(text):
        return _fold(text, used=9)
    if style in ("outlook", "gmail"):
        label = "utf-8" if style == "outlook" else "UTF-8"
        return "\r\n ".join(encoded_words(text, "utf-8", "b", label=label))
    if style == "outlook2010":
        charset = "iso-8859-1"
        try:
            text.encode(charset)
        except UnicodeEncodeError:
            charset = "windows-1252"
        return "\r\n ".join(encoded_words(text, charset, "q"))
    # Thunderbird, Zimbra, Apple Mail: leading ASCII words stay plain, the rest is Q-encoded.
    prefix, rest = _ascii_prefix(text)
    label = "UTF-8" if style in ("thunderbird", "apple") else "utf-8"
    return prefix + "\r\n ".join(encoded_words(rest, "utf-8", "q", label=label))


@lru_cache(maxsize=1024)
def _address(name: str | None, address: str, style: str) -> str:
    """A From/To mailbox as a given client writes it."""
    if not name:
        return address
    if _needs_encoding(name):
        if style == "outlook2010":
            word = encoded_words(name, "iso-8859-1", "q")[0]
        elif style in ("outlook", "gmail"):
            label = "UTF-8" if style == "gmail" else "utf-8"
            word = encoded_words(name, "utf-8", "b", label=label)[0]
        else:
            word = encoded_words(name, "utf-8", "q")[0]
        return f"{word} <{address}>"
    if any(c in name for c in ",.;:@()<>[]\"\\"):
        return f'"{name}" <{address}>'
    return f"{name} <{address}>"


def _rfc2231(value: str, charset: str = "utf-8") -> str:
    return "".join(
        chr(c) if c in _ATTR_SAFE else f"%{c:02X}" for c in value.encode(charset)
    )


def imap_utf7(name: str) -> str:
    """Encode a mailbox name in IMAP modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)
