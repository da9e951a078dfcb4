"""What mailclean asks in a FETCH, and the answers read into its types: message metadata,
flags, identities, COPYUID codes.
"""

from __future__ import annotations

import re

from mailclean import mime
from mailclean.connectors import imapwire
from mailclean.connectors.headers import meta_from_headers
from mailclean.model import MessageMeta

HEADER_FIELDS = (
    "FROM", "TO", "DATE", "SUBJECT", "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES", "LIST-ID",
    "LIST-UNSUBSCRIBE", "LIST-UNSUBSCRIBE-POST", "PRECEDENCE", "AUTO-SUBMITTED",
    "FEEDBACK-ID", "X-MAILER",
)
FETCH_ITEMS = (
    "(UID RFC822.SIZE INTERNALDATE FLAGS BODYSTRUCTURE "
    f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADER_FIELDS)})])"
)


def messages_from_fetch(data: list, uids: list[int]) -> list[MessageMeta]:
    """Parse the raw reply to one FETCH of ``uids`` into metadata, in UID order."""
    wanted = set(uids)
    out: dict[int, MessageMeta] = {}
    for item in imapwire.parse_fetch(data):
        uid = item.get(b"UID")
        if not isinstance(uid, int) or uid not in wanted or not item.keys() - _UNSOLICITED:
            continue  # a flag change announced by the server, not our answer
        if uid in out and b"RFC822.SIZE" not in item:
            continue
        # A damaged answer (no size, broken structure) still records the message, with
        # its problems: skipping it would let the cursor pass it for good.
        out[uid] = message_from_fetch(uid, item)
    return [out[u] for u in sorted(out)]


_UNSOLICITED = frozenset({b"UID", b"FLAGS", b"MODSEQ"})


def message_from_fetch(uid: int, item: dict) -> MessageMeta:
    """Build a :class:`MessageMeta` from one parsed FETCH response."""
    problems: list[str] = []
    size = item.get(b"RFC822.SIZE")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**63:
        problems.append("no RFC822.SIZE")
        size = 0
    raw_flags = item.get(b"FLAGS")  # a list, but a broken server can send an atom
    flags = {f.lower() for f in raw_flags if isinstance(f, bytes)} if isinstance(
        raw_flags, list | tuple) else set()
    raw_headers = b""
    for key, value in item.items():
        if key.startswith(b"BODY[HEADER"):
            raw_headers = value if isinstance(value, bytes) else b""
            break
    attachments, bs_problems = mime.attachments_from_bodystructure(item.get(b"BODYSTRUCTURE"))
    problems.extend(bs_problems)
    return meta_from_headers(
        raw_headers,
        server_id=str(uid),
        uid=uid,
        size=size,
        received_at=imapwire.parse_internaldate(item.get(b"INTERNALDATE")),
        seen=b"\\seen" in flags,
        flagged=b"\\flagged" in flags,
        attachments=attachments,
        problems=problems,
    )


def _flags(data: list) -> list[tuple[str, bool, bool]]:
    out = []
    for item in imapwire.parse_fetch(data):
        uid = item.get(b"UID")
        flags = item.get(b"FLAGS")
        if isinstance(uid, int) and isinstance(flags, list):
            lower = {f.lower() for f in flags if isinstance(f, bytes)}
            out.append((str(uid), b"\\seen" in lower, b"\\flagged" in lower))
    return out


_IDENTITY = re.compile(
    rb"\(UID (\d{1,10}) RFC822\.SIZE (\d{1,19})(?: FLAGS \(([^()]*)\))?"
    rb" BODY\[HEADER\.FIELDS \(\"?MESSAGE-ID\"?\)\] \{\d+\}$",
    re.I,
)
#: What the identity check asks of each message: its identity, and its flags in the same
#: answer, so a message flagged since the plan is seen before it is acted on.
IDENTITY_ITEMS = "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"

#: A Message-ID header of one line holding one bracketed ASCII id, nothing else.
_SIMPLE_MESSAGE_ID = re.compile(
    rb"Message-ID:[ \t]*<([\x21-\x3b\x3d\x3f-\x7e]+)>[ \t]*\r?\n(?:\r?\n)?\Z", re.I
)


def _identities_fast(data: list) -> dict[int, tuple[int, str | None, bool]] | None:
    """The answer to the identity FETCH, ``{uid: (size, Message-ID, flagged)}``, in the item
    order Dovecot and most servers use, read without the general parser; None when the
    answer has another shape."""
    out: dict[int, tuple[int, str | None, bool]] = {}
    for chunk in data:
        if isinstance(chunk, tuple):
            m = _IDENTITY.search(chunk[0])
            if m is None:
                return None
            flagged = m[3] is not None and b"\\flagged" in m[3].lower()
            simple = _SIMPLE_MESSAGE_ID.match(chunk[1])
            if simple is not None:
                # What normalize_message_id gives for the common one-line "<id>" header.
                out[int(m[1])] = (int(m[2]), simple[1].decode("ascii"), flagged)
                continue
            headers = mime.parse_header_block(chunk[1])
            msgid = mime.normalize_message_id(headers.get("message-id"))
            out[int(m[1])] = (int(m[2]), msgid, flagged)
        elif chunk.strip() != b")":
            return None  # an unsolicited update, or an answer without a literal
    return out


def _identities(data: list) -> dict[int, tuple[int, str | None, bool]]:
    """The answer to the identity FETCH, whatever its shape."""
    fast = _identities_fast(data)
    if fast is not None:
        return fast
    found: dict[int, tuple[int, str | None, bool]] = {}
    for item in imapwire.parse_fetch(data):
        uid, size = item.get(b"UID"), item.get(b"RFC822.SIZE")
        if not isinstance(uid, int) or not isinstance(size, int):
            continue  # an unsolicited flag update, not our answer
        header = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"")
        headers = mime.parse_header_block(header if isinstance(header, bytes) else b"")
        raw_flags = item.get(b"FLAGS")
        flags = {f.lower() for f in raw_flags if isinstance(f, bytes)} if isinstance(
            raw_flags, list | tuple) else set()
        found[uid] = (size, mime.normalize_message_id(headers.get("message-id")),
                      b"\\flagged" in flags)
    return found


def _copyuid(code: bytes | tuple) -> tuple[int | None, dict[int, int]]:
    """``b"1234 1:3,7 10:13"`` (the data of a COPYUID response code) -> validity, pairs."""
    if isinstance(code, tuple):
        code = code[0]
    words = code.split() if isinstance(code, bytes) else []
    if len(words) < 3 or not words[0].isdigit() or len(words[0]) > 10:
        return None, {}
    sources = imapwire.expand_sequence_set(words[1])
    targets = imapwire.expand_sequence_set(words[2])
    if len(sources) != len(targets):
        return int(words[0]), {}
    return int(words[0]), dict(zip(sources, targets, strict=True))
