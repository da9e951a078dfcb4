"""The cheap message stream of :func:`mailclean.mailgen.generate_bulk`, for benchmarks."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mailclean.mailgen.attachments import _MIME, _RANDOM_FILES
from mailclean.mailgen.dates import _normalize_reference
from mailclean.mailgen.features import _malformed
from mailclean.mailgen.filler import _subject_for
from mailclean.mailgen.fixtures import _Fixtures
from mailclean.mailgen.parts import _flatten, _multipart, _Part
from mailclean.mailgen.render import _Mail, _render_mail
from mailclean.mailgen.truth import (
    ANSWERED,
    FLAGGED,
    REFERENCE_DATE,
    SEEN,
    AttachmentTruth,
    GeneratedMessage,
)
from mailclean.mailgen.vocab import _COLLEAGUES, _FOREIGN, _LETTERS, _OWNER, _Person


def bulk_folders(reference: datetime = REFERENCE_DATE) -> tuple[str, ...]:
    """The 20 folders :func:`generate_bulk` files its messages in."""
    y = _normalize_reference(reference).year
    return ("INBOX", "Sent", "Drafts", "Trash", "Junk",
            *(f"Archives/{year}" for year in range(y - 7, y)),
            "Projets/Délibérations", f"Projets/Budget {y}", "Projets/Voirie",
            "Projets/École maternelle", "Associations", "Ressources humaines", "Fournisseurs",
            "Listes/Secrétaires de mairie")


_POOL_LINES = 5_000_000 // 57 + 2  # enough base64 lines for the largest bulk attachment


class _Bulk:
    """Cheap messages: pre-rendered bodies, headers per message, attachments from a pool."""

    def __init__(self, seed: int, reference: datetime) -> None:
        self.c = _Fixtures(seed, reference)
        self.rng = self.c.rng
        self.ref = reference
        self.folders = bulk_folders(reference)
        self.projects = self.folders[12:19]
        self.people = (*_COLLEAGUES, *_FOREIGN)
        c = self.c
        # Bodies are rendered once and shared: header fields make each message unique.
        self.bodies: dict[str, list[_Part]] = {}
        for person in (*self.people, _OWNER):
            variants = []
            for n in range(10):
                text = c.letter(person, person.lang, 1 + n % 6)
                if n % 3 == 2:
                    parent = _Mail(folder="", kind="", sender=c.rng.choice(self.people), to=[],
                                   subject="…", date=self.ref, internal=self.ref, client="",
                                   message_id=None, body=_Part([]),
                                   text=c.letter(person, person.lang, 2))
                    text += c.quote(parent, person.client, person.lang)
                variants.append(_flatten(c.text_body(person.client, text)))
            self.bodies[person.address] = variants
        self.letters: list[list[_Mail]] = []
        for letter in _LETTERS:
            mails = [c.newsletter(letter, self.ref) for _ in range(8)]
            self.letters.append(mails)
        self.notes = [c.notification(what, self.ref) for what in
                      ("glpi", "glpi", "glpi", "parapheur", "parapheur", "cloud", "cron",
                       "cron", "agenda", "postmaster")]
        self.spams = [c.spam(self.ref) for _ in range(12)]
        for mail in (*self.notes, *self.spams, *(m for ms in self.letters for m in ms)):
            mail.body = _flatten(mail.body)
        data = self.rng.randbytes(57 * _POOL_LINES)
        self.pool = base64.encodebytes(data).replace(b"\n", b"\r\n")
        self.roots: list[tuple[str, str, _Person, str]] = []
        self.recent: list[GeneratedMessage] = []

    def attachment(self, size: int) -> _Part:
        """A base64 attachment of exactly ``size`` decoded bytes, sliced from the pool."""
        rng = self.rng
        ext, pattern, style = rng.choice(_RANDOM_FILES)
        lines, rest = divmod(size, 57)
        start = rng.randrange(_POOL_LINES - lines)
        body = self.pool[start * 78:(start + lines) * 78]
        body = body + base64.b64encode(rng.randbytes(rest)) if rest else body[:-2]
        part = self.c.attachment(pattern.format(n=rng.randrange(100, 9999)), _MIME[ext],
                                 data=b"", style=style)
        part.body = body
        part.truth = AttachmentTruth(part.truth.filename if part.truth else None,
                                     _MIME[ext], size, "base64")
        return part

    def attachment_size(self) -> int:
        rng = self.rng
        if rng.random() < 0.22:
            return int(min(max(rng.lognormvariate(12.0, 0.75), 100_000), 5_000_000))
        return int(min(max(rng.lognormvariate(10.1, 0.8), 4_000), 99_000))

    def folder_for(self, when: datetime, kind: str) -> str:
        rng = self.rng
        age = (self.ref - when).days
        roll = rng.random()
        if kind in ("newsletter", "notification"):
            if roll < 0.12:
                return "Trash"
            if age > 365 and roll < 0.25:
                return f"Archives/{when.year}"
            return "INBOX"
        if age > 365 and roll < 0.55 and when.year >= self.ref.year - 7:
            return f"Archives/{when.year}"
        if roll > 0.8:
            return rng.choice(self.projects)
        return "INBOX"

    def make(self, index: int, when: datetime) -> GeneratedMessage:
        rng, c = self.rng, self.c
        kind = rng.choices(_BULK_KINDS, _BULK_WEIGHTS)[0]
        if kind == "duplicate" and self.recent:
            original = rng.choice(self.recent)
            others = [f for f in self.folders[5:] if f != original.folder]
            return replace(original, folder=rng.choice(others), kind="duplicate",
                           flags=original.flags - {FLAGGED})
        if kind == "duplicate":
            kind = "personal"
        sent = when - timedelta(seconds=rng.randint(1, 90))
        age = (self.ref - when).days
        seen = rng.random() < (0.93 if age > 30 else 0.5)
        flags = {SEEN} if seen else set()
        if kind == "malformed":
            sample = _Fixtures(rng.getrandbits(32), self.ref)
            _malformed(sample)
            mail = sample.mails[index % len(sample.mails)]
            mail.internal = when
            mail.date = None if mail.date is None else sent
            mail.message_id = c.message_id("platform", "bulk.mairie-exemple.fr", when)
            return _render_mail(mail, rng)
        if kind == "newsletter":
            letter_mails = rng.choice(self.letters)
            mail = replace(rng.choice(letter_mails), folder=self.folder_for(when, kind),
                           date=sent, internal=when, flags=flags)
            if mail.extra and any(name == "X-Sequence" for name, _ in mail.extra):
                mail.folder = "Listes/Secrétaires de mairie"
            if rng.random() < 0.02:
                mail.flags = flags | {FLAGGED}
        elif kind == "notification":
            mail = replace(rng.choice(self.notes), folder=self.folder_for(when, kind),
                           date=sent, internal=when, flags=flags)
        elif kind == "spam":
            mail = replace(rng.choice(self.spams), date=sent, internal=when,
                           flags={SEEN} if rng.random() < 0.1 else set())
        else:
            mail = self.personal(kind, sent, when, flags)
        mail.message_id = c.message_id(mail.client if mail.client != "platform" else "platform",
                                       mail.sender.domain, sent)
        message = _render_mail(mail, rng)
        if mail.kind in ("personal", "newsletter", "notification", "attachment") \
                and message.size < 300_000:
            self.recent.append(message)
            if len(self.recent) > 64:
                self.recent.pop(0)
        if mail.kind == "personal" and mail.subject:
            self.roots.append((message.message_id or "", mail.subject, mail.sender,
                               mail.folder))
            if len(self.roots) > 200:
                self.roots.pop(0)
        return message

    def personal(self, kind: str, sent: datetime, when: datetime, flags: set[str]) -> _Mail:
        rng, c = self.rng, self.c
        person = rng.choice(self.people)
        subject = _subject_for(c, person.lang, sent)
        in_reply_to = None
        if kind == "thread-reply":
            if self.roots:
                in_reply_to, root_subject, person, _folder = rng.choice(self.roots)
                subject = "Re: " + root_subject
            else:
                kind = "personal"
        author = _OWNER if kind == "sent" else person
        body = rng.choice(self.bodies[author.address])
        if kind == "attachment":
            count = rng.choice((1, 1, 1, 2))
            parts = [self.attachment(self.attachment_size()) for _ in range(count)]
            body = _multipart("mixed", c.boundary(author.client), [body, *parts])
        elif kind == "sent" and rng.random() < 0.1:
            body = _multipart("mixed", c.boundary(author.client),
                              [body, self.attachment(self.attachment_size())])
        if kind == "sent":
            return _Mail(folder="Drafts" if rng.random() < 0.02 else "Sent", kind="sent",
                         sender=_OWNER, to=[person], subject=subject, date=when
                         - timedelta(seconds=rng.randint(0, 2)), internal=when,
                         client=_OWNER.client, message_id=None, body=body, flags={SEEN},
                         incoming=False, in_reply_to=None)
        if rng.random() < 0.05:
            flags = flags | {FLAGGED}
        if rng.random() < 0.08:
            flags = flags | {ANSWERED, SEEN}
        return _Mail(folder=self.folder_for(sent, kind), kind=kind, sender=person,
                     to=[_OWNER], subject=subject, date=sent, internal=when,
                     client=person.client, message_id=None, body=body, flags=flags,
                     in_reply_to=in_reply_to, references=[in_reply_to] if in_reply_to else [])


_BULK_KINDS = ("personal", "thread-reply", "newsletter", "notification", "attachment", "sent",
               "spam", "duplicate", "malformed")
_BULK_WEIGHTS = (22, 14, 26, 12, 5, 13, 5.9, 1, 0.1)


def _bulk_stream(count: int, seed: int, reference: datetime,
                 factory: _Bulk | None = None) -> Iterator[GeneratedMessage]:
    if count <= 0:
        return
    factory = factory or _Bulk(seed, reference)
    span = (7 * 365 - 1) * 86400
    start = reference.timestamp() - span
    step = span / count
    rng = factory.rng
    for i in range(count):
        moment = int(start + step * (i + rng.random()))
        yield factory.make(i, datetime.fromtimestamp(moment, UTC))
