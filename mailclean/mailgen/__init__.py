"""Deterministic generator of realistic mail that knows the truth about every message.

:func:`generate` builds the mailbox of a French municipal agent (600 messages and about
55 MB by default), :func:`generate_bulk` streams cheaper messages for benchmarks, and
:func:`write_maildir` writes either as a Maildir++ tree that Dovecot serves. Everything is a
pure function of ``(seed, reference, messages)``: no clock, no process id, no hash order.

Each :class:`GeneratedMessage` carries its raw bytes (CRLF line ends, so ``len(raw)`` is the
RFC822.SIZE a server reports) and the truth about it, stated by these rules:

Attachments
    Walk the MIME tree depth first. A multipart is never an attachment: its children are
    walked. A ``message/rfc822`` part is one leaf and is not descended into. A leaf is body
    text, not an attachment, when its type is ``text/plain`` or ``text/html`` and it has
    neither a file name nor ``Content-Disposition: attachment``. Every other leaf is an
    attachment, in depth-first order: named files, inline images (with a Content-ID, named
    or not), unnamed parts such as the ``text/calendar`` alternative of an invitation, and
    forwarded ``message/rfc822`` parts (the attachments inside them are not listed).
``AttachmentTruth.filename``
    ``Content-Disposition`` ``filename`` (RFC 2231, with or without continuations, decoded),
    else ``Content-Type`` ``name``; RFC 2047 encoded-words inside a quoted value (Outlook)
    are decoded. None when the part has neither.
``AttachmentTruth.decoded_size``
    Exact length of the decoded payload. For text payloads line breaks count as CRLF, the
    canonical form: a quoted-printable hard line break decodes to CRLF, and a 7bit or 8bit
    payload is the octets between the part's blank line and the CRLF of the next delimiter.
    For ``message/rfc822`` it is the octet count of the embedded message (its BODYSTRUCTURE
    size).
``AttachmentTruth.encoding``
    The effective Content-Transfer-Encoding in lower case, ``"7bit"`` when the header is
    absent.
Headers
    ``subject`` and ``sender_name`` are RFC 2047 decoded and unfolded; bytes in no usable
    charset (raw 8-bit header bytes, an unknown charset) read as UTF-8 when valid, else as
    Latin-1. ``sender`` is the From address in lower case. ``date`` is the Date header in UTC.
    ``thread_root`` is the first id of References, else In-Reply-To, else the message's own
    Message-ID (None without any). ``list_id``, ``list_unsubscribe``,
    ``list_unsubscribe_post``, ``precedence`` and ``auto_submitted`` are the header values as
    written, unfolded and stripped (List-Id keeps its phrase).
Kinds
    ``personal`` (a message or a thread's first message from someone), ``thread-reply``,
    ``newsletter`` (including a discussion list), ``notification`` (automatic mail, an
    invitation, an out-of-office reply), ``attachment`` (mail sent for its files), ``sent``
    (written by the owner: folders Sent and Drafts), ``spam`` (Junk), ``duplicate`` (the
    second copy, in another folder, of a message with the same raw bytes) and ``malformed``.
Malformed messages (``malformed`` says which defect)
    ``unknown-charset``: Subject ``=?x-unknown?q?...?=`` and a ``charset="x-mac-unknown"``
    8-bit body; the truth subject reads the bytes as Latin-1 (they are not UTF-8).
    ``missing-boundary``: the declared boundary never occurs in the body, so no part can be
    found: no attachments (the bytes still count in ``size``). ``unclosed-boundary``: the
    message stops inside a base64 attachment, at the end of a line, with no closing
    delimiter; the attachment is listed with the bytes present. ``no-date``: no Date
    header, ``date`` is None. ``bad-header-encoding``: raw UTF-8 in Subject and raw Latin-1
    in the From display name, read as stated above.

Dates spread over the 7 years before ``reference``; folder names that carry a year follow
the reference (``Archives/2019`` and ``Archives/2021`` are ``reference.year - 7`` and ``- 5``,
``Projets/Budget 2026`` is ``reference.year``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from mailclean.mailgen.attachments import _MIME as _MIME  # tests read the file types
from mailclean.mailgen.bulk import _Bulk, _bulk_stream, bulk_folders
from mailclean.mailgen.dates import _normalize_reference
from mailclean.mailgen.features import _fixed_features
from mailclean.mailgen.filler import PROGRESS_EVERY, Progress, _duplicates, _filler
from mailclean.mailgen.fixtures import _Fixtures
from mailclean.mailgen.headers import encoded_words, imap_utf7
from mailclean.mailgen.maildir import maildir_dirname, write_maildir
from mailclean.mailgen.truth import (
    ANSWERED,
    DOMAIN,
    FLAGGED,
    KINDS,
    MALFORMED_KINDS,
    MIN_MESSAGES,
    OWNER_ADDRESS,
    OWNER_NAME,
    REFERENCE_DATE,
    SEEN,
    STANDARD_FOLDERS,
    AttachmentTruth,
    GeneratedMessage,
)

__all__ = [
    "ANSWERED",
    "DOMAIN",
    "FLAGGED",
    "KINDS",
    "MALFORMED_KINDS",
    "MIN_MESSAGES",
    "OWNER_ADDRESS",
    "OWNER_NAME",
    "PROGRESS_EVERY",
    "REFERENCE_DATE",
    "SEEN",
    "STANDARD_FOLDERS",
    "AttachmentTruth",
    "GeneratedMessage",
    "Progress",
    "bulk_folders",
    "encoded_words",
    "generate",
    "generate_bulk",
    "generate_bulk_mailboxes",
    "imap_utf7",
    "maildir_dirname",
    "write_maildir",
]


def generate(seed: int = 0, *, reference: datetime = REFERENCE_DATE,
             messages: int = 600, progress: Progress | None = None) -> list[GeneratedMessage]:
    """A realistic small mailbox (a French municipal agent's), fully deterministic.

    The same ``(seed, reference, messages)`` always gives the same bytes. ``reference`` is
    the corpus's "now" (a naive datetime is taken as UTC); every message is older.
    Messages come in arrival order. ``messages`` must be at least :data:`MIN_MESSAGES`.
    ``progress`` is called every :data:`PROGRESS_EVERY` messages (it never changes the bytes).
    """
    if messages < MIN_MESSAGES:
        raise ValueError(f"generate() needs at least {MIN_MESSAGES} messages, not {messages}")
    reference = _normalize_reference(reference)
    corpus = _Fixtures(seed, reference)
    _fixed_features(corpus)
    duplicates = 10
    fixed = len(corpus.mails)
    count = messages - duplicates - fixed
    _filler(corpus, count, progress, fixed)
    if progress is not None:
        progress("compose", fixed + count, fixed + count)
    rendered = []
    for n, mail in enumerate(corpus.mails):
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress("render", n, len(corpus.mails))
        rendered.append(corpus.finish(mail))
    if progress is not None:
        progress("render", len(rendered), len(rendered))
    _duplicates(corpus, rendered, duplicates)
    order = sorted(range(len(rendered)), key=lambda i: (rendered[i].internal_date, i))
    return [rendered[i] for i in order]


def generate_bulk(count: int, seed: int = 0, *,
                  reference: datetime = REFERENCE_DATE) -> Iterator[GeneratedMessage]:
    """Stream ``count`` cheaper but varied messages in arrival order, for benchmarks.

    Memory stays flat (bodies come from a small pre-rendered pool, attachments are slices of
    one 5 MB base64 pool); 100,000 messages take seconds. Sizes: most 2-50 KB, about 1.5 %
    with attachments of 100 KB-5 MB, average around 15 KB. Folders: :func:`bulk_folders`.
    Duplicates keep the arrival time of their original, so only the other messages come in
    strictly increasing internal_date order.
    """
    reference = _normalize_reference(reference)
    return _bulk_stream(count, seed, reference)


def generate_bulk_mailboxes(counts: Sequence[int], seed: int = 0, *,
                            reference: datetime = REFERENCE_DATE,
                            ) -> Iterator[Iterator[GeneratedMessage]]:
    """One :func:`generate_bulk` stream per mailbox, ``counts[i]`` messages in the i-th.

    The mailboxes share the pre-rendered bodies, newsletters and notifications (the same
    newsletter reaches everyone in an organisation) and differ in everything drawn per
    message, so a mailbox costs only its messages. Consume each stream before asking for
    the next one: they share one random generator.
    """
    reference = _normalize_reference(reference)
    factory = _Bulk(seed, reference)
    for n, count in enumerate(counts):
        factory.rng.seed(f"{seed}-{n}")
        factory.roots.clear()
        factory.recent.clear()
        yield _bulk_stream(count, seed, reference, factory)
