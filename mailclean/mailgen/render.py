"""A message before rendering (:class:`_Mail`) and its rendering: trace and client header
fields, the raw bytes, and the truth about it.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mailclean.mailgen.dates import _format_date
from mailclean.mailgen.headers import _address, _fold, _subject_header
from mailclean.mailgen.parts import _Part, _render, _unfold
from mailclean.mailgen.truth import DOMAIN, OWNER_ADDRESS, AttachmentTruth, GeneratedMessage
from mailclean.mailgen.vocab import _Person


@dataclass
class _Mail:
    """A message before rendering: envelope, headers, body tree and truth-to-be."""

    folder: str
    kind: str
    sender: _Person
    to: list[_Person]
    subject: str | None
    date: datetime | None
    internal: datetime
    client: str
    message_id: str | None
    body: _Part
    flags: set[str] = field(default_factory=set)
    cc: list[_Person] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    extra: list[tuple[str, str | bytes]] = field(default_factory=list)
    incoming: bool = True
    malformed: str | None = None
    date_style: str = "plain"
    subject_raw: str | bytes | None = None
    from_raw: str | bytes | None = None
    text: str = ""  # plain text of the body, to quote in replies


def _render_mail(mail: _Mail, rng: random.Random) -> GeneratedMessage:
    """Assemble the raw message of ``mail`` and the truth about it."""
    sender = mail.sender
    headers: list[tuple[str, str | bytes]] = []
    client = mail.client
    if mail.incoming:
        arrival = mail.internal
        relay = arrival - timedelta(seconds=min(2, (arrival - (mail.date or arrival)).seconds))
        mx_id = "".join(rng.choice("BCDFGHJKLMNPQRSTVWXZbcdfghjklmnpqrstvwxz0123456789")
                        for _ in range(12))
        headers += [
            ("Return-Path", f"<{sender.address.lower()}>"),
            ("Delivered-To", OWNER_ADDRESS),
            ("Received", f"from mx1.{DOMAIN} ([192.0.2.25])\r\n\tby imap.{DOMAIN} with LMTP"
                         f"\r\n\tid {mx_id}\r\n\t(envelope-from <{sender.address.lower()}>)\r\n\t"
                         f"for <{OWNER_ADDRESS}>; {_format_date(arrival, 'paris')}"),
            ("Received", f"from {_relay_host(sender, client)} ({_relay_host(sender, client)} "
                         f"[198.51.100.{rng.randrange(2, 250)}])\r\n\tby mx1.{DOMAIN} (Postfix) "
                         f"with ESMTPS id 4V{mx_id[:8]}\r\n\tfor <{OWNER_ADDRESS}>; "
                         f"{_format_date(relay, 'paris', 'comment')}"),
        ]
    headers += [h for h in mail.extra if h[0] in _TRACE_HEADERS]
    if mail.date is not None:
        headers.append(("Date", _format_date(mail.date, sender.zone, mail.date_style)))
    from_value = mail.from_raw if mail.from_raw is not None else _address(
        sender.name, sender.address, client)
    headers.append(("From", from_value))
    if mail.to:
        headers.append(("To", _fold(", ".join(_address(p.name, p.address, client)
                                             for p in mail.to), used=4)))
    if mail.cc:
        headers.append(("Cc", _fold(", ".join(_address(p.name, p.address, client)
                                             for p in mail.cc), used=4)))
    if mail.subject_raw is not None:
        headers.append(("Subject", mail.subject_raw))
    elif mail.subject is not None:
        headers.append(("Subject", _subject_header(mail.subject, client)))
    if client == "outlook" and mail.subject is not None:
        headers.append(("Thread-Topic", _subject_header(mail.subject, client)))
        headers.append(("Thread-Index", base64.b64encode(rng.randbytes(22)).decode()))
    if mail.message_id is not None:
        headers.append(("Message-ID", f"<{mail.message_id}>"))
    if mail.in_reply_to:
        headers.append(("In-Reply-To", f"<{mail.in_reply_to}>"))
    if mail.references:
        headers.append(("References", "\r\n ".join(f"<{r}>" for r in mail.references)))
    headers += [h for h in mail.extra if h[0] not in _TRACE_HEADERS]
    headers += _client_headers(client, rng)
    headers.append(("MIME-Version", "1.0"))
    found: list[AttachmentTruth] = []
    top = replace(mail.body, headers=[*headers, *mail.body.headers])
    raw = _render(top, found)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    extra = {name.lower(): _unfold(value) for name, value in mail.extra}
    if mail.in_reply_to is None and not mail.references:
        root = mail.message_id
    else:
        root = mail.references[0] if mail.references else mail.in_reply_to
    return GeneratedMessage(
        folder=mail.folder,
        raw=raw,
        flags=frozenset(mail.flags),
        internal_date=mail.internal,
        kind=mail.kind,
        message_id=mail.message_id,
        subject=mail.subject,
        sender=sender.address.lower(),
        sender_name=sender.name,
        date=mail.date,
        thread_root=root,
        list_id=extra.get("list-id"),
        list_unsubscribe=extra.get("list-unsubscribe"),
        list_unsubscribe_post=extra.get("list-unsubscribe-post"),
        precedence=extra.get("precedence"),
        auto_submitted=extra.get("auto-submitted"),
        attachments=tuple(found),
        malformed=mail.malformed,
    )


_TRACE_HEADERS = frozenset({"DKIM-Signature", "Authentication-Results", "X-Spam-Flag",
                            "X-Spam-Status", "X-Spam-Score"})


def _relay_host(sender: _Person, client: str) -> str:
    if client == "gmail":
        return "mail-ed1-f41.google.com"
    if client == "outlook":
        return "mail-pr3eur02on2071.outbound.protection.outlook.com"
    if sender.domain == DOMAIN:
        return f"zimbra.{DOMAIN}"
    return f"smtp.{sender.domain}"


def _client_headers(client: str, rng: random.Random) -> list[tuple[str, str | bytes]]:
    if client == "thunderbird":
        return [("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) "
                               "Gecko/20100101\r\n Thunderbird/115.12.2"),
                ("Content-Language", "fr")]
    if client == "outlook":
        return [("Accept-Language", "fr-FR, en-US"), ("Content-Language", "fr-FR"),
                ("X-MS-Has-Attach", ""), ("X-MS-TNEF-Correlator", "")]
    if client == "outlook2010":
        return [("X-Mailer", "Microsoft Outlook 14.0"), ("Content-Language", "fr")]
    if client == "zimbra":
        return [("X-Mailer", "Zimbra 8.8.15_GA_4581 (ZimbraWebClient - FF126 (Win)/8.8.15_GA"
                             "_4581)"),
                ("Thread-Index", base64.b64encode(rng.randbytes(15)).decode())]
    if client == "apple":
        return [("X-Mailer", "Apple Mail (2.3774.600.62)")]
    return []
