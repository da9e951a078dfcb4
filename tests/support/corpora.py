"""The generated mailboxes the tests share, each built once per session.

Every corpus is a pure function of ``(seed, messages, reference)`` (:mod:`mailclean.mailgen`),
and the tests' expectations depend on exactly those bytes: a test names the mailbox it uses
here rather than calling the generator with numbers of its own, so two tests that mean the
same mailbox get the same one, and a test that needs another says how it differs (seed,
size, reference date) in its arguments. A corpus derived for one test's oracle alone (every
Message-ID distinct, Message-IDs renumbered, a subset) stays next to that test, built from
:func:`seeded`.

Corpora are tuples of frozen messages: sharing one between modules is safe.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from mailclean import mailgen
from mailclean.mailgen import GeneratedMessage

#: The corpora's "now" (and the one the tests scan at): dates, thread ages and so every
#: list and figure of a test never drift with the day it runs. Pinned here rather than
#: read from mailgen's default so that changing that default changes no test.
REFERENCE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@functools.cache
def seeded(seed: int, messages: int, reference: datetime = REFERENCE
           ) -> tuple[GeneratedMessage, ...]:
    """The realistic mailbox ``mailgen.generate(seed, messages=messages, reference=...)``."""
    return tuple(mailgen.generate(seed, reference=reference, messages=messages))


def standard_mailbox() -> tuple[GeneratedMessage, ...]:
    """300 messages of seed 7: the mailbox most tests sync, scan, clean and review (IMAP,
    Exchange, Maildir, the rules, the command line, the app, the fault campaign)."""
    return seeded(7, 300)


def large_mailbox() -> tuple[GeneratedMessage, ...]:
    """400 messages of seed 11: the action tests' mailbox (and their fault campaign's)."""
    return seeded(11, 400)


def smallest_mailbox(seed: int = 7) -> tuple[GeneratedMessage, ...]:
    """The smallest realistic mailbox (:data:`mailgen.MIN_MESSAGES`, 120 messages): nested
    folders with accents, attachments, 8-bit and malformed headers, duplicates."""
    return seeded(seed, mailgen.MIN_MESSAGES)


@functools.cache
def bulk_mailbox(count: int, seed: int) -> tuple[GeneratedMessage, ...]:
    """``count`` of the cheaper benchmark messages (``mailgen.generate_bulk``), kept.

    The benchmarks stream ``generate_bulk`` instead: they go to 100,000 messages.
    """
    return tuple(mailgen.generate_bulk(count, seed=seed))


__all__ = [
    "REFERENCE",
    "bulk_mailbox",
    "large_mailbox",
    "seeded",
    "smallest_mailbox",
    "standard_mailbox",
]
