"""The mailboxes the snapshot tests measure, on the shared session servers.

Four users of their own (``tests/dovecot.py``: :meth:`Dovecot.add_users`), so the snapshot
tests never disturb ``user1`` and ``user2``: alice's realistic mailbox, bob's and carol's
cheaper bulk ones, and dave's empty one. The snapshot tests over IMAP
(``tests/test_snapshot.py``) and over a mail root on disk (``tests/test_snapshot_maildir.py``)
measure the same mailboxes and must find the same figures.
"""

from __future__ import annotations

from mailclean.mailgen import GeneratedMessage
from tests.dovecot import Dovecot, User
from tests.support.corpora import bulk_mailbox, seeded

USERS = {
    "snap-alice": "pw-alice",
    "snap-bob": "pw-bob",
    "snap-carol": "pw-carol",
    "snap-dave": "pw-dave",
}


def alice_corpus() -> tuple[GeneratedMessage, ...]:
    """A realistic mailbox: subjects, correspondents, attachments, user folders (130
    messages of seed 11)."""
    return seeded(11, 130)


def bob_corpus() -> tuple[GeneratedMessage, ...]:
    """80 bulk messages of seed 12."""
    return bulk_mailbox(80, 12)


def carol_corpus() -> tuple[GeneratedMessage, ...]:
    """30 bulk messages of seed 13."""
    return bulk_mailbox(30, 13)


def prepare(server: Dovecot) -> Dovecot:
    """Declare the snapshot users and give them known mailboxes (dave's stays empty)."""
    server.add_users(*(User(n, p) for n, p in USERS.items()))
    for user in USERS:
        server.reset_user(user)
    server.seed("snap-alice", alice_corpus())
    server.seed("snap-bob", bob_corpus())
    server.seed("snap-carol", carol_corpus())
    server.maildir("snap-dave")
    return server


def role_of(folder: str) -> str:
    """The role a snapshot counts a generated folder under (by its top-level name)."""
    top = folder.split("/")[0]
    return {
        "INBOX": "inbox",
        "Sent": "sent",
        "Drafts": "drafts",
        "Trash": "trash",
        "Junk": "junk",
        "Archives": "archive",
    }.get(top, "other")
