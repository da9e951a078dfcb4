"""Mailboxes in From and To: display names and addresses, however they are written."""

from __future__ import annotations

import re

from mailclean.mime.headers import decode_words

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
