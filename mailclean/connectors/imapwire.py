"""Fast parsing of the IMAP responses a sync reads in bulk (FETCH, SEARCH, ESEARCH, VANISHED).

imapclient's general-purpose parser is where a header-only sync spends its time (about
2,000 messages/s here). These functions parse the same bytes, as imaplib hands them over,
with one precompiled regular expression and a stack, and never raise on malformed input:
what cannot be read is skipped and the caller checks that the fields it needs are there.

Conventions of the parsed values, same as imapclient's: strings are bytes, numbers are
int, NIL is None, parenthesised lists are Python lists. A number above 2**63 - 1 (the
largest IMAP has, number64) stays bytes: the caller sees it is not a number, and every int
fits the index's SQLite columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

# One token: "(" | ")" | quoted string | atom (with an optional [section]<partial>, whose
# brackets may hold spaces and parentheses, as in BODY[HEADER.FIELDS (FROM TO)]).
_TOKEN = re.compile(
    rb'(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"\[\]{]+(?:\[[^\]]*\](?:<[0-9.]+>)?)?)|\{(\d+)\+?\}\s*$'
)
_UNESCAPE = re.compile(rb"\\(.)")
_INT64_MAX = b"9223372036854775807"

Value = bytes | int | None | list


def parse_tokens(chunks: Iterable[bytes | tuple[bytes, bytes]]) -> list[Value]:
    """Parse imaplib response data (lines and ``(line, literal)`` pairs) into a flat list of
    top-level values, lists nested as Python lists. Unbalanced input is closed silently."""
    top: list[Value] = []
    stack: list[list[Value]] = []
    cur = top
    for chunk in chunks:
        literal: bytes | None
        if isinstance(chunk, tuple):
            text, literal = chunk[0], chunk[1]
        else:
            text, literal = chunk, None
        if not text:
            continue
        # findall builds the match tuples in C: cheaper than a Match object per token.
        for opening, closing, quoted, atom, size in _TOKEN.findall(text):
            if atom:
                if atom.isdigit() and (
                    len(atom) < 19 or (len(atom) == 19 and atom <= _INT64_MAX)
                ):
                    cur.append(int(atom))
                elif atom == b"NIL" or atom == b"nil":
                    cur.append(None)
                else:
                    cur.append(atom)
            elif opening:
                new: list[Value] = []
                cur.append(new)
                stack.append(cur)
                cur = new
            elif closing:
                if stack:
                    cur = stack.pop()
            elif size:
                if literal is not None:
                    cur.append(literal)
                    literal = None
            else:  # a quoted string, possibly empty
                cur.append(_UNESCAPE.sub(rb"\1", quoted) if b"\\" in quoted else quoted)
    return top


def parse_fetch(chunks: Iterable[bytes | tuple[bytes, bytes]]) -> Iterator[dict[bytes, Value]]:
    """Yield one dict per FETCH response, keys upper-cased (``b"UID"``, ``b"RFC822.SIZE"``,
    ``b"BODY[HEADER.FIELDS (FROM)]"``...). Responses that are not well formed are skipped."""
    values = parse_tokens(chunks)
    for value in values:
        if not isinstance(value, list):
            continue  # the message sequence number
        items: dict[bytes, Value] = {}
        for i in range(0, len(value) - 1, 2):
            key = value[i]
            if isinstance(key, bytes):
                items[key.upper()] = value[i + 1]
        yield items


def parse_search(chunks: Iterable[bytes | tuple[bytes, bytes] | None]) -> list[int]:
    """Numbers of a SEARCH response (several untagged lines possible)."""
    out: list[int] = []
    for chunk in chunks:
        if isinstance(chunk, bytes):
            out.extend(int(x) for x in chunk.split() if x.isdigit() and len(x) <= 10)
    return out


def parse_esearch(chunks: Iterable[bytes | tuple[bytes, bytes] | None]) -> list[int]:
    """UIDs of an ESEARCH response's ALL (RFC 4731), expanded from its sequence set."""
    out: list[int] = []
    for chunk in chunks:
        if not isinstance(chunk, bytes):
            continue
        words = chunk.split()
        for i, word in enumerate(words[:-1]):
            if word.upper() == b"ALL":
                out.extend(expand_sequence_set(words[i + 1]))
    return out


def parse_vanished(chunks: Iterable[bytes | tuple[bytes, bytes] | None]) -> list[int]:
    """UIDs of VANISHED responses (RFC 7162), with or without ``(EARLIER)``."""
    out: list[int] = []
    for chunk in chunks:
        words = chunk.split() if isinstance(chunk, bytes) else None
        if words:  # a bare "* VANISHED" has no set
            out.extend(expand_sequence_set(words[-1]))
    return out


def expand_sequence_set(text: bytes | str) -> list[int]:
    """``b"1:3,7"`` -> ``[1, 2, 3, 7]``. ``*`` and junk are ignored."""
    if isinstance(text, str):
        text = text.encode()
    out: list[int] = []
    for part in text.split(b","):
        a, _, b = part.partition(b":")
        if not a.isdigit() or len(a) > 10:  # UIDs are 32-bit: longer is junk
            continue
        if b:
            if not b.isdigit() or len(b) > 10:
                continue
            lo, hi = sorted((int(a), int(b)))
            out.extend(range(lo, hi + 1))
        else:
            out.append(int(a))
    return out


def sequence_set(uids: Iterable[int]) -> str:
    """Compact IMAP sequence set of sorted or unsorted UIDs: ``[1, 2, 3, 7]`` -> ``"1:3,7"``."""
    parts: list[str] = []
    start = prev = None
    for uid in sorted(set(uids)):
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)


def chunk_uids(uids: list[int], size: int, max_chars: int = 16_000) -> Iterator[list[int]]:
    """Split sorted UIDs into chunks of at most ``size`` whose sequence set stays short enough
    for servers' command-line limits (Dovecot refuses lines over 64 KiB)."""
    chunk: list[int] = []
    chars = 0
    for uid in uids:
        chunk.append(uid)
        chars += len(str(uid)) + 1
        if len(chunk) >= size or chars >= max_chars:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        (b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT",
         b"NOV", b"DEC")
    )
}


def parse_internaldate(value: Value) -> str | None:
    """``b"17-Jul-1996 02:44:25 -0700"`` -> ``"1996-07-17T09:44:25+00:00"``; None if unreadable."""
    if not isinstance(value, bytes):
        return None
    try:
        day, month, rest = value.strip().split(b"-", 2)
        year, clock, zone = rest.split(b" ")
        hh, mm, ss = clock.split(b":")
        sign = -1 if zone[:1] == b"-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        dt = datetime(
            int(year), _MONTHS[month.upper()], int(day), int(hh), int(mm), int(ss), tzinfo=UTC
        )
        return (dt - offset).isoformat()
    except (ValueError, KeyError, IndexError, OverflowError):  # year 1 or 9999 and a zone
        return None
