"""The builder both corpora share: one seeded random generator, dates, ids, boundaries,
letters, bodies, attachments and threads.
"""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime, timedelta

from mailclean.mailgen.attachments import _MAGIC, _attachment_part, _forwarded_part
from mailclean.mailgen.bodies import _html_from_text, _wrap
from mailclean.mailgen.dates import _french_date, _offset
from mailclean.mailgen.parts import _multipart, _Part, _text_leaf
from mailclean.mailgen.render import _Mail, _render_mail
from mailclean.mailgen.truth import ANSWERED, DOMAIN, SEEN, GeneratedMessage
from mailclean.mailgen.vocab import (
    _EN_CLOSINGS,
    _EN_GREETINGS,
    _EN_SENTENCES,
    _FR_CLOSINGS,
    _FR_GREETINGS,
    _FR_SENTENCES,
    _OWNER,
    _Person,
)


class _Corpus:
    """Builds the messages of :func:`generate` with one seeded random generator."""

    def __init__(self, seed: int, reference: datetime) -> None:
        self.rng = random.Random(seed)
        self.ref = reference
        self.year = reference.year
        self.mails: list[_Mail] = []
        self.serial = 0
        self.folders = {
            "archive_old": f"Archives/{self.year - 7}",
            "archive_mid": f"Archives/{self.year - 5}",
            "deliberations": "Projets/Délibérations",
            "budget": f"Projets/Budget {self.year}",
        }
        self.issue: dict[str, int] = {}  # last issue number per newsletter

    # ---- small helpers ---------------------------------------------------------------

    def token(self, n: int = 16) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def when(self, days_ago: float, *, hour: int | None = None, zone: str = "paris") -> datetime:
        """An instant about ``days_ago`` days before the reference, at a working hour."""
        day = (self.ref - timedelta(days=days_ago)).date()
        if hour is None:
            hour = self.rng.choice((8, 9, 9, 10, 10, 11, 11, 14, 14, 15, 16, 16, 17, 18, 21))
        naive = datetime(day.year, day.month, day.day, hour, self.rng.randrange(60),
                         self.rng.randrange(60), tzinfo=UTC)
        moment = naive - timedelta(minutes=_offset(naive, zone))
        return min(moment, self.ref - timedelta(minutes=self.rng.randrange(20, 600)))

    def office_hours(self, moment: datetime) -> datetime:
        """``moment``, or the next morning when it falls at night in Paris."""
        local = moment + timedelta(minutes=_offset(moment, "paris"))
        if 7 <= local.hour < 20:
            return moment
        day = local.date() + timedelta(days=1 if local.hour >= 20 else 0)
        morning = datetime(day.year, day.month, day.day, 8, self.rng.randrange(60),
                           self.rng.randrange(60), tzinfo=UTC)
        return morning - timedelta(minutes=_offset(morning, "paris"))

    def arrival(self, sent: datetime) -> datetime:
        return sent + timedelta(seconds=self.rng.randint(2, 95))

    def message_id(self, client: str, domain: str, when: datetime) -> str:
        self.serial += 1
        rng = self.rng
        if client == "gmail":
            tail = base64.b64encode(rng.randbytes(36), b"_-").decode()
            return f"CA{tail}@mail.gmail.com"
        if client == "outlook":
            host = f"PR3P{rng.randrange(100, 999)}MB{rng.randrange(1000, 9999)}"
            local = f"{host}{self.token(8).upper()}{self.token(8).upper()}"
            return f"{local}@{host}.EURP{rng.randrange(100, 299)}.PROD.OUTLOOK.COM"
        if client == "outlook2010":
            return f"00{self.token(10)}$0{self.token(7)}$0{self.token(7)}@{domain}"
        if client == "zimbra":
            ms = int(when.timestamp() * 1000)
            ids = f"{rng.randrange(10**8, 10**9)}.{rng.randrange(10**6, 10**7)}"
            return f"{ids}.{ms}.JavaMail.zimbra@{domain}"
        if client == "apple":
            return f"{str(uuid.UUID(int=rng.getrandbits(128))).upper()}@{domain}"
        if client == "platform":
            return f"{when:%Y%m%d%H%M%S}.{self.token(12)}.{self.serial}@{domain}"
        return f"{uuid.UUID(int=rng.getrandbits(128))}@{domain}"

    def boundary(self, client: str) -> str:
        rng = self.rng
        if client == "gmail":
            return f"000000000000{self.token(12)}{self.token(4)}"
        if client in ("outlook", "outlook2010"):
            return f"_000_PR3P{rng.randrange(100, 999)}MB{self.token(10).upper()}_"
        if client == "zimbra":
            return f"=_{uuid.UUID(int=rng.getrandbits(128))}"
        if client == "apple":
            return f"Apple-Mail={uuid.UUID(int=rng.getrandbits(128))}".upper()
        if client == "platform":
            ids = f"{rng.randrange(10**5, 10**6)}_{rng.randrange(10**8, 10**9)}"
            return f"----=_Part_{ids}.{rng.randrange(10**12, 10**13)}"
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "------------" + "".join(rng.choice(alphabet) for _ in range(24))

    def paragraphs(self, lang: str, count: int) -> list[str]:
        pool = _FR_SENTENCES if lang == "fr" else _EN_SENTENCES
        return [" ".join(self.rng.sample(pool, self.rng.randint(2, 5))) for _ in range(count)]

    def letter(self, author: _Person, lang: str, count: int | None = None,
               lead: str | None = None) -> str:
        rng = self.rng
        greet = rng.choice(_FR_GREETINGS if lang == "fr" else _EN_GREETINGS)
        close = rng.choice(_FR_CLOSINGS if lang == "fr" else _EN_CLOSINGS)
        paras = self.paragraphs(lang, count if count is not None else rng.randint(1, 4))
        if lead:
            paras.insert(0, lead)
        signature = f"-- \n{author.name or author.address}\n{author.title}"
        if author.domain == DOMAIN:
            signature += "\nMairie d'Exemple-sur-Loire\nTél. 02 38 00 12 34"
        return "\n\n".join([greet, *paras, close, signature]) + "\n"

    def quote(self, parent: _Mail, client: str, lang: str) -> str:
        who = parent.sender.name or parent.sender.address
        when = parent.date or parent.internal
        if client in ("outlook", "outlook2010"):
            head = (f"De : {who} <{parent.sender.address}>\nEnvoyé : {_french_date(when)}\n"
                    f"Objet : {parent.subject}\n\n")
            return "\n\n" + "_" * 32 + "\n" + head + parent.text
        if lang == "en":
            intro = (f"On {when:%a, %d %b %Y} at {when:%H:%M}, {who} "
                     f"<{parent.sender.address}> wrote:")
        else:
            intro = f"Le {_french_date(when)}, {who} a écrit :"
        source = _wrap(parent.text.rstrip("\n"), 74)
        quoted = "\n".join(">" + (" " + line if line and not line.startswith(">") else line)
                           for line in source.split("\n"))
        return f"\n\n{intro}\n{quoted}\n"

    # ---- bodies ----------------------------------------------------------------------

    def text_body(self, client: str, text: str) -> _Part:
        """The body a client writes for a message without attachments."""
        if client == "thunderbird":
            cte = "7bit" if text.isascii() else "8bit"
            return _text_leaf(_wrap(text, 72, flowed=True), flowed=True, cte=cte,
                              charset="UTF-8", quoted_charset=False)
        if client == "outlook2010":
            plain = _text_leaf(_wrap(text), charset="iso-8859-1")
            rich = _text_leaf(_html_from_text(text, "outlook"), "html", charset="iso-8859-1")
            return _multipart("alternative", self.boundary(client), [plain, rich])
        style = "outlook" if client == "outlook" else "gmail" if client == "gmail" else "plain"
        plain = _text_leaf(_wrap(text), charset="utf-8" if client != "gmail" else "UTF-8")
        rich = _text_leaf(_html_from_text(text, style), "html",
                          charset="utf-8" if client != "gmail" else "UTF-8",
                          cte="base64" if client == "apple" and self.rng.random() < 0.5
                          else "quoted-printable")
        return _multipart("alternative", self.boundary(client), [plain, rich])

    def with_attachments(self, client: str, text: str, attachments: list[_Part]) -> _Part:
        if not attachments:
            return self.text_body(client, text)
        # Thunderbird and old Outlook write the customary preamble; others write none.
        preamble = b"This is a multi-part message in MIME format." if client in (
            "thunderbird", "outlook2010") else b""
        return _multipart("mixed", self.boundary(client),
                          [self.text_body(client, text), *attachments], preamble=preamble)

    def payload(self, mime: str, size: int) -> bytes:
        magic = _MAGIC.get(mime, b"")[:size]
        return magic + self.rng.randbytes(size - len(magic))

    def attachment(self, filename: str | None, mime: str, size: int | None = None, *,
                   style: str = "plain", data: bytes | None = None, cte: str = "base64",
                   disposition: str | None = "attachment", content_id: str | None = None,
                   charset: str | None = None) -> _Part:
        """A leaf attachment; ``style`` says how its file name is written
        (:func:`~mailclean.mailgen.attachments._attachment_part`); random bytes of ``size``
        unless ``data`` is given."""
        if data is None:
            data = self.payload(mime, size or 0)
        return _attachment_part(filename, mime, data, style=style, cte=cte,
                                disposition=disposition, content_id=content_id,
                                charset=charset)

    def forwarded(self, inner: bytes, filename: str | None) -> _Part:
        """A message/rfc822 part holding ``inner``: one attachment of its full size."""
        return _forwarded_part(inner, filename)

    # ---- message skeletons -----------------------------------------------------------

    def add(self, mail: _Mail) -> _Mail:
        self.mails.append(mail)
        return mail

    def incoming(self, sender: _Person, subject: str | None, sent: datetime, body: _Part, *,
                 kind: str = "personal", folder: str = "INBOX", text: str = "",
                 to: list[_Person] | None = None, malformed: str | None = None,
                 subject_raw: str | bytes | None = None) -> _Mail:
        mail = _Mail(folder=folder, kind=kind, sender=sender, to=to or [_OWNER],
                     subject=subject, date=sent, internal=self.arrival(sent),
                     client=sender.client,
                     message_id=self.message_id(sender.client, sender.domain, sent),
                     body=body, text=text, flags=self.read_flags(sent), malformed=malformed,
                     subject_raw=subject_raw)
        return self.add(mail)

    def read_flags(self, sent: datetime) -> set[str]:
        age = (self.ref - sent).days
        seen = self.rng.random() < (0.97 if age > 30 else 0.75 if age > 3 else 0.45)
        return {SEEN} if seen else set()

    def folder_for(self, sent: datetime, topic: str | None = None) -> str:
        """Where a received message was filed: its project, a yearly archive, or the inbox."""
        if topic in ("budget", "deliberations") and (self.ref - sent).days < 540:
            return self.folders[topic]
        if sent.year == self.year - 7 and self.rng.random() < 0.7:
            return self.folders["archive_old"]
        if sent.year == self.year - 5 and self.rng.random() < 0.7:
            return self.folders["archive_mid"]
        return "INBOX"

    # ---- threads ---------------------------------------------------------------------

    def thread(self, subject: str, people: list[_Person], start: datetime, length: int, *,
               topic: str | None = None, owner_starts: bool = False, lang: str = "fr",
               irt_only_at: int | None = None, attach_at: dict[int, list[_Part]] | None = None,
               folder: str | None = None) -> list[_Mail]:
        """A conversation of ``length`` messages between the owner and ``people``.

        The owner's messages go to Sent; the others to ``folder`` or where
        :meth:`folder_for` files them. ``irt_only_at`` is the index of a reply whose client
        writes In-Reply-To but no References.
        """
        rng = self.rng
        times = [start]
        for _ in range(length - 1):
            gap = timedelta(minutes=rng.randint(12, 60 * 24 * 3))
            times.append(self.office_hours(times[-1] + gap))
        excess = times[-1] - (self.ref - timedelta(hours=2))
        if excess > timedelta(0):
            times = [t - excess for t in times]
        authors: list[_Person] = [_OWNER if owner_starts else people[0]]
        for _ in range(1, length):
            previous = authors[-1]
            if previous is not _OWNER and rng.random() < 0.6:
                authors.append(_OWNER)
            else:
                others = [p for p in people if p is not previous] or people
                authors.append(rng.choice(others))
        mails: list[_Mail] = []
        for i, author in enumerate(authors):
            when = times[i]
            parent = mails[-1] if mails else None
            client = author.client
            if author is _OWNER:
                client = "thunderbird" if rng.random() < 0.7 else "zimbra"
            title = subject
            if parent is not None:
                prefix = {"outlook": "RE : ", "outlook2010": "RE: "}.get(client, "Re: ")
                title = prefix + subject
            text = self.letter(author, lang, rng.randint(1, 3))
            if parent is not None:
                text += self.quote(parent, client, lang)
            attachments = list((attach_at or {}).get(i, []))
            body = self.with_attachments(client, text, attachments)
            recipients = [p for p in [*people, _OWNER] if p is not author]
            if author is _OWNER:
                mail = _Mail(folder="Sent", kind="sent", sender=_OWNER, to=recipients[:1],
                             cc=recipients[1:], subject=title, date=when, internal=when
                             + timedelta(seconds=rng.randint(0, 2)), client=client,
                             message_id=self.message_id(client, DOMAIN, when), body=body,
                             flags={SEEN}, incoming=False, text=text)
            else:
                where = folder or self.folder_for(when, topic)
                mail = _Mail(folder=where, kind="thread-reply" if parent else "personal",
                             sender=author, to=recipients[:1], cc=recipients[1:],
                             subject=title, date=when, internal=self.arrival(when),
                             client=client, message_id=self.message_id(client, author.domain,
                                                                       when),
                             body=body, flags=self.read_flags(when), text=text)
            if parent is not None:
                mail.in_reply_to = parent.message_id
                if i != irt_only_at and parent.message_id:
                    mail.references = [*parent.references, parent.message_id]
                if author is _OWNER and parent.sender is not _OWNER:
                    parent.flags.add(ANSWERED)
                    parent.flags.add(SEEN)
            mails.append(self.add(mail))
        return mails

    # ---- rendering -------------------------------------------------------------------

    def finish(self, mail: _Mail) -> GeneratedMessage:
        return _render_mail(mail, self.rng)
