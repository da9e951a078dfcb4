"""Header and MIME-structure decoding, as pure functions that never raise on bad input.

These run once per message of every sync (100,000 times for a large mailbox), so the common
paths use precompiled regular expressions and plain string methods; the stdlib ``email``
machinery is only used where a whole message is at hand (Maildir) or as a fallback.

Text from the wire is read as UTF-8 when it is valid UTF-8, else as Windows-1252 (a superset
of Latin-1 for the printable range; raw 8-bit headers come from Windows mailers), and
bytes labelled with a charset Python does not know get the same treatment. Bytes that are
invalid in a charset that *is* known decode with replacement characters.

Attachments
    A multipart is never an attachment: its children are walked, depth first. A
    ``message/rfc822`` (or ``message/global``) part is one attachment and is not descended
    into. Any other leaf is body text, not an attachment, when its type is ``text/plain`` or
    ``text/html`` and it has neither a file name nor ``Content-Disposition: attachment``;
    every other leaf is an attachment: named files, inline images, unnamed parts such as the
    ``text/calendar`` alternative of an invitation. This is the rule of
    :mod:`mailclean.mailgen`, and both :func:`attachments_from_bodystructure` (IMAP) and
    :func:`attachments_from_message` (Maildir) apply it, with IMAP part numbers.

Problems are short strings such as ``"bodystructure: unexpected NIL at 2.1"``; the message
is indexed all the same with what could be read.
"""

from __future__ import annotations

from mailclean.mime.addresses import parse_address, parse_address_list
from mailclean.mime.bodystructure import attachments_from_bodystructure
from mailclean.mime.fields import (
    list_headers,
    normalize_message_id,
    parse_date,
    thread_key,
    unsubscribe_method,
)
from mailclean.mime.headers import decode_words, parse_header_block
from mailclean.mime.message import _header_params as _header_params  # tests read it
from mailclean.mime.message import attachments_from_message
from mailclean.mime.sizes import estimate_decoded_size

__all__ = [
    "attachments_from_bodystructure",
    "attachments_from_message",
    "decode_words",
    "estimate_decoded_size",
    "list_headers",
    "normalize_message_id",
    "parse_address",
    "parse_address_list",
    "parse_date",
    "parse_header_block",
    "thread_key",
    "unsubscribe_method",
]
