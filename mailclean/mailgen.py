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

import base64
import binascii
import html
import os
import random
import textwrap
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

REFERENCE_DATE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

OWNER_ADDRESS = "agent@mairie-exemple.fr"
OWNER_NAME = "Camille Moreau"
DOMAIN = "mairie-exemple.fr"

SEEN, FLAGGED, ANSWERED = "\\Seen", "\\Flagged", "\\Answered"

KINDS = (
    "personal", "thread-reply", "newsletter", "notification", "attachment",
    "duplicate", "sent", "spam", "malformed",
)
MALFORMED_KINDS = (
    "unknown-charset", "missing-boundary", "unclosed-boundary", "no-date", "bad-header-encoding",
)
#: Folders write_maildir always creates, even when no message goes there.
STANDARD_FOLDERS = ("Sent", "Drafts", "Trash", "Junk", "Archives")
#: generate() needs room for its fixed feature set.
MIN_MESSAGES = 120

_MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "jpg": "image/jpeg",
    "png": "image/png",
    "zip": "application/zip",
    "ics": "text/calendar",
    "tnef": "application/ms-tnef",
}
_MAGIC = {
    "application/pdf": b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n",
    "application/zip": b"PK\x03\x04\x14\x00\x08\x00\x08\x00",
    _MIME["docx"]: b"PK\x03\x04\x14\x00\x06\x00\x08\x00",
    _MIME["xlsx"]: b"PK\x03\x04\x14\x00\x06\x00\x08\x00",
    _MIME["odt"]: b"PK\x03\x04\x14\x00\x00\x08\x00\x00",
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x01\x00H\x00H\x00\x00",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "application/ms-tnef": b"\x78\x9f\x3e\x22",
}


@dataclass(frozen=True)
class AttachmentTruth:
    """What a reader of the message should find about one attachment."""

    filename: str | None
    mime_type: str
    decoded_size: int
    encoding: str


@dataclass(frozen=True)
class GeneratedMessage:
    """One message of the corpus: its raw bytes, where it lives, and the truth about it."""

    folder: str
    raw: bytes
    flags: frozenset[str]
    internal_date: datetime
    kind: str
    message_id: str | None
    subject: str | None
    sender: str | None
    sender_name: str | None
    date: datetime | None
    thread_root: str | None
    list_id: str | None
    list_unsubscribe: str | None
    list_unsubscribe_post: str | None
    precedence: str | None
    auto_submitted: str | None
    attachments: tuple[AttachmentTruth, ...]
    malformed: str | None

    @property
    def size(self) -> int:
        """RFC822.SIZE: the length of the raw message with CRLF line ends."""
        return len(self.raw)

    def as_dict(self) -> dict[str, object]:
        """The truth as JSON-ready values (no raw bytes; dates in ISO 8601)."""
        return {
            "folder": self.folder,
            "size": self.size,
            "flags": sorted(self.flags),
            "internal_date": self.internal_date.isoformat(),
            "kind": self.kind,
            "message_id": self.message_id,
            "subject": self.subject,
            "sender": self.sender,
            "sender_name": self.sender_name,
            "date": self.date.isoformat() if self.date else None,
            "thread_root": self.thread_root,
            "list_id": self.list_id,
            "list_unsubscribe": self.list_unsubscribe,
            "list_unsubscribe_post": self.list_unsubscribe_post,
            "precedence": self.precedence,
            "auto_submitted": self.auto_submitted,
            "attachments": [
                {"filename": a.filename, "mime_type": a.mime_type,
                 "decoded_size": a.decoded_size, "encoding": a.encoding}
                for a in self.attachments
            ],
            "malformed": self.malformed,
        }


# --------------------------------------------------------------------------------------
# Header encoding

_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_ATTR_SAFE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"
)


def _q_text(data: bytes) -> str:
    return "".join(
        chr(c) if c in _Q_SAFE else "_" if c == 32 else f"={c:02X}" for c in data
    )


def encoded_words(text: str, charset: str = "utf-8", encoding: str = "b", *,
                  label: str | None = None, limit: int = 75) -> list[str]:
    """RFC 2047 encoded-words for ``text``, each at most ``limit`` characters.

    Words never split a character; ``label`` is the charset as written (its case varies
    between mail clients).
    """
    label = label or charset
    overhead = len(label) + 7  # =?label?X?...?=
    words: list[str] = []
    chunk: list[str] = []
    nbytes = 0  # B: bytes in chunk; Q: encoded length of chunk
    for ch in text:
        raw = ch.encode(charset)
        if encoding == "b":
            grown = nbytes + len(raw)
            length = overhead + (grown + 2) // 3 * 4
        else:
            grown = nbytes + len(_q_text(raw))
            length = overhead + grown
        if chunk and length > limit:
            words.append(_one_word("".join(chunk), charset, encoding, label))
            chunk, nbytes = [ch], (len(raw) if encoding == "b" else len(_q_text(raw)))
        else:
            chunk.append(ch)
            nbytes = grown
    if chunk:
        words.append(_one_word("".join(chunk), charset, encoding, label))
    return words


def _one_word(text: str, charset: str, encoding: str, label: str) -> str:
    data = text.encode(charset)
    if encoding == "b":
        return f"=?{label}?{'B' if label.isupper() else 'b'}?{base64.b64encode(data).decode()}?="
    return f"=?{label}?{'Q' if label.isupper() else 'q'}?{_q_text(data)}?="


def _fold(value: str, *, used: int = 0, width: int = 78) -> str:
    """Fold a plain ASCII header value at spaces so lines stay within ``width``.

    ``used`` is the length already on the first line ("Subject: "). Unfolding (removing
    each CRLF) gives the value back exactly.
    """
    if used + len(value) <= width:
        return value
    lines: list[str] = []
    line = ""
    budget = width - used
    for i, word in enumerate(value.split(" ")):
        candidate = word if i == 0 else f"{line} {word}"
        if i and len(candidate) > budget and line.strip():
            lines.append(line)
            line = f" {word}"
            budget = width
        else:
            line = candidate
    lines.append(line)
    return "\r\n".join(lines)


def _needs_encoding(text: str) -> bool:
    return not text.isascii()


def _ascii_prefix(text: str) -> tuple[str, str]:
    """Split ``Re: Réunion`` into the plain-ASCII leading words and the rest."""
    words = text.split(" ")
    i = 0
    while i < len(words) - 1 and words[i].isascii():
        i += 1
    if i == 0:
        return "", text
    return " ".join(words[:i]) + " ", " ".join(words[i:])


@lru_cache(maxsize=4096)
def _subject_header(text: str, style: str) -> str:
    """The Subject value a given mail client writes for ``text``."""
    if not _needs_encoding(text):
        return _fold(text, used=9)
    if style in ("outlook", "gmail"):
        label = "utf-8" if style == "outlook" else "UTF-8"
        return "\r\n ".join(encoded_words(text, "utf-8", "b", label=label))
    if style == "outlook2010":
        charset = "iso-8859-1"
        try:
            text.encode(charset)
        except UnicodeEncodeError:
            charset = "windows-1252"
        return "\r\n ".join(encoded_words(text, charset, "q"))
    # Thunderbird, Zimbra, Apple Mail: leading ASCII words stay plain, the rest is Q-encoded.
    prefix, rest = _ascii_prefix(text)
    label = "UTF-8" if style in ("thunderbird", "apple") else "utf-8"
    return prefix + "\r\n ".join(encoded_words(rest, "utf-8", "q", label=label))


@lru_cache(maxsize=1024)
def _address(name: str | None, address: str, style: str) -> str:
    """A From/To mailbox as a given client writes it."""
    if not name:
        return address
    if _needs_encoding(name):
        if style == "outlook2010":
            word = encoded_words(name, "iso-8859-1", "q")[0]
        elif style in ("outlook", "gmail"):
            label = "UTF-8" if style == "gmail" else "utf-8"
            word = encoded_words(name, "utf-8", "b", label=label)[0]
        else:
            word = encoded_words(name, "utf-8", "q")[0]
        return f"{word} <{address}>"
    if any(c in name for c in ",.;:@()<>[]\"\\"):
        return f'"{name}" <{address}>'
    return f"{name} <{address}>"


def _rfc2231(value: str, charset: str = "utf-8") -> str:
    return "".join(
        chr(c) if c in _ATTR_SAFE else f"%{c:02X}" for c in value.encode(charset)
    )


def imap_utf7(name: str) -> str:
    """Encode a mailbox name in IMAP modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


# --------------------------------------------------------------------------------------
# Dates

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MOIS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
         "septembre", "octobre", "novembre", "décembre")


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month, 31)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _eu_summer(when: datetime) -> bool:
    start = datetime.combine(_last_sunday(when.year, 3), datetime.min.time(), UTC)
    end = datetime.combine(_last_sunday(when.year, 10), datetime.min.time(), UTC)
    return start + timedelta(hours=1) <= when < end + timedelta(hours=1)


def _offset(when: datetime, zone: str) -> int:
    """UTC offset in minutes of ``zone`` ("paris", "london", "utc", "newyork") at ``when``."""
    if zone == "paris":
        return 120 if _eu_summer(when) else 60
    if zone == "london":
        return 60 if _eu_summer(when) else 0
    if zone == "newyork":
        return -240 if 3 < when.month < 11 else -300
    return 0


def _format_date(when: datetime, zone: str, style: str = "plain") -> str:
    """A Date header value for the UTC instant ``when`` as seen in ``zone``.

    Styles: "plain" (``Mon, 3 Jun 2024 14:05:00 +0200``), "padded" (``03``), "comment"
    (``+0200 (CEST)``), "noweekday", "gmt" (``... 12:05:00 GMT``).
    """
    minutes = 0 if style == "gmt" else _offset(when, zone)
    local = when + timedelta(minutes=minutes)
    day = f"{local.day:02d}" if style == "padded" else str(local.day)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    zone_text = "GMT" if style == "gmt" else f"{sign}{hours:02d}{mins:02d}"
    text = f"{day} {_MONTHS[local.month - 1]} {local.year} {local:%H:%M:%S} {zone_text}"
    if style != "noweekday":
        text = f"{_WEEKDAYS[local.weekday()]}, {text}"
    if style == "comment":
        text += " (CEST)" if minutes == 120 else " (CET)" if minutes == 60 else " (UTC)"
    return text


def _french_date(when: datetime) -> str:
    local = when + timedelta(minutes=_offset(when, "paris"))
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


# --------------------------------------------------------------------------------------
# Content

@dataclass(frozen=True)
class _Person:
    name: str | None
    address: str
    client: str
    lang: str
    title: str
    zone: str = "paris"

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1].lower()


_OWNER = _Person(OWNER_NAME, OWNER_ADDRESS, "thunderbird", "fr",
                 "Chargée de mission, Direction générale des services")
_LEVEQUE = _Person("Françoise Lévêque", "f.leveque@mairie-exemple.fr", "zimbra", "fr",
                   "Directrice générale des services")
_DUBOIS = _Person("Jean-Marc Dubois", "JM.Dubois@Mairie-Exemple.fr", "outlook", "fr",
                  "Responsable des services techniques")
_MARTIN = _Person("Hélène Martin", "helene.martin@cc-valdeloire.fr", "outlook", "fr",
                  "Chargée de projets, Communauté de communes du Val de Loire")
_DUPONT = _Person("Dupont, Pierre", "pierre.dupont@loiret.gouv-exemple.fr", "outlook", "fr",
                  "Bureau du contrôle de légalité, Préfecture")
_NGUYEN = _Person("Sophie Nguyen", "sophie.nguyen.conseil@gmail.com", "gmail", "fr",
                  "Conseillère municipale déléguée à la culture")
_ROUSSEAU = _Person("Émile Rousseau", "emile.rousseau@orange.fr", "outlook2010", "fr",
                    "Président du comité des fêtes")
_THOMPSON = _Person("Mark Thompson", "mark.thompson@exampleton.gov.uk", "gmail", "en",
                    "Twinning Officer, Exampleton Borough Council", "london")
_SCHMIDT = _Person("Anna Schmidt", "a.schmidt@beispielstadt.de", "apple", "en",
                   "Partnerschaftsbüro, Stadt Beispielstadt")
_GARNIER = _Person("Élodie Garnier", "elodie.garnier@laposte.net", "outlook2010", "fr",
                   "Directrice de l'école maternelle Jules-Ferry")
_BENALI = _Person("Karim Benali", "karim.benali@mairie-exemple.fr", "outlook", "fr",
                  "Responsable du service finances")
_LEFEVRE = _Person("Bernard Lefèvre", "maire@mairie-exemple.fr", "zimbra", "fr",
                   "Maire d'Exemple-sur-Loire")
_LAURENT = _Person("Nathalie Laurent", "n.laurent@mairie-exemple.fr", "zimbra", "fr",
                   "Service urbanisme")
_FAURE = _Person("Jérôme Faure", "jerome.faure@btp-loire-exemple.fr", "outlook", "fr",
                 "Conducteur de travaux, BTP Loire")
_COLLEAGUES = (_LEVEQUE, _DUBOIS, _MARTIN, _DUPONT, _NGUYEN, _ROUSSEAU, _GARNIER, _BENALI,
               _LEFEVRE, _LAURENT, _FAURE)
_FOREIGN = (_THOMPSON, _SCHMIDT)

_FR_SENTENCES = (
    "Je vous remercie pour votre retour rapide sur ce dossier.",
    "Comme convenu lors de notre dernière réunion, je vous transmets les éléments demandés.",
    "La commission des finances se réunira mardi prochain à 18 h en salle du conseil.",
    "Pourriez-vous me confirmer la disponibilité de la salle polyvalente pour cette date ?",
    "Le devis de l'entreprise a été validé par les services techniques.",
    "Il reste à obtenir l'avis du contrôle de légalité avant la signature de la convention.",
    "Les travaux de voirie devraient débuter la semaine prochaine, sous réserve de la météo.",
    "Je me permets de vous relancer concernant le compte rendu de la réunion de chantier.",
    "Le conseil municipal a adopté la délibération à l'unanimité.",
    "Merci de bien vouloir transmettre ces informations aux élus concernés.",
    "La subvention départementale couvrira environ 40 % du montant hors taxes.",
    "Nous avons reçu trois offres dans le cadre de la consultation, l'analyse est en cours.",
    "Le calendrier prévisionnel prévoit une livraison avant la rentrée scolaire.",
    "Je reste à votre disposition pour tout complément d'information.",
    "Les familles seront informées par courrier et sur le site internet de la commune.",
    "La préfecture demande des pièces complémentaires pour instruire le dossier.",
    "Le registre des délibérations doit être signé par l'ensemble des conseillers présents.",
    "Nous pourrions prévoir un point téléphonique jeudi matin si cela vous convient.",
    "Le budget annexe de l'assainissement présente un léger excédent de fonctionnement.",
    "Les associations ont jusqu'à la fin du mois pour déposer leur demande de subvention.",
    "Le marché de Noël accueillera cette année une quarantaine d'exposants.",
    "L'arrêté de circulation temporaire sera affiché en mairie dès demain.",
    "J'ai mis en copie le service urbanisme, qui suit le permis de construire.",
    "Le photocopieur du deuxième étage est de nouveau en panne, le technicien passera lundi.",
    "La réunion publique sur le plan local d'urbanisme est fixée au 14 à 19 h.",
    "Vous trouverez ci-dessous le récapitulatif des dépenses engagées à ce jour.",
    "Il faudrait prévoir une délibération modificative avant la clôture de l'exercice.",
    "Le référent sécurité a validé le plan d'évacuation de l'école maternelle.",
)
_EN_SENTENCES = (
    "Thank you for your quick reply and for the warm welcome last year.",
    "Our delegation will arrive by train on Thursday afternoon, around 4 pm.",
    "Could you let me know whether the town hall can host the reception on Friday?",
    "The youth football tournament is confirmed for the second weekend of July.",
    "We are still waiting for the final list of participants from the schools.",
    "I have attached the draft programme; please feel free to suggest changes.",
    "The council has approved the budget for the twinning activities this year.",
    "Accommodation will be provided by host families, as in previous years.",
    "Please pass on our best regards to the Mayor and the twinning committee.",
    "We would be delighted to welcome a group from your choir next spring.",
    "I will be out of the office next week, but my colleague can answer any questions.",
    "The coach company needs the exact number of passengers by the end of the month.",
)
_FR_GREETINGS = ("Bonjour,", "Bonjour à tous,", "Chère collègue,", "Madame, Monsieur,", "Bonsoir,")
_FR_CLOSINGS = ("Bien cordialement,", "Cordialement,", "Bonne journée,", "Bien à vous,",
                "Avec mes remerciements,")
_EN_GREETINGS = ("Dear Camille,", "Hi Camille,", "Hello all,")
_EN_CLOSINGS = ("Best regards,", "Kind regards,", "Many thanks,", "All the best,")

_HTML_OUTLOOK_HEAD = (
    '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:'
    'office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft'
    '.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n<meta http-equi'
    'v="Content-Type" content="text/html; charset=utf-8">\n<meta name="Generator" content="Micr'
    'osoft Word 15 (filtered medium)">\n<style><!--\n/* Font Definitions */\n@font-face\n\t{font'
    '-family:"Cambria Math";\n\tpanose-1:2 4 5 3 5 4 6 3 2 4;}\n@font-face\n\t{font-family:Calib'
    'ri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n/* Style Definitions */\np.MsoNormal, li.MsoNormal, '
    'div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n\tfont-family:"Calibri",sans-serif;\n\tms'
    'o-fareast-language:EN-US;}\na:link, span.MsoHyperlink\n\t{mso-style-priority:99;\n\tcolor:#0'
    '563C1;\n\ttext-decoration:underline;}\nspan.EmailStyle17\n\t{mso-style-type:personal-compose'
    ';\n\tfont-family:"Calibri",sans-serif;\n\tcolor:windowtext;}\n.MsoChpDefault\n\t{mso-style-t'
    'ype:export-only;\n\tfont-family:"Calibri",sans-serif;\n\tmso-fareast-language:EN-US;}\n@page '
    'WordSection1\n\t{size:612.0pt 792.0pt;\n\tmargin:70.85pt 70.85pt 70.85pt 70.85pt;}\ndiv.WordS'
    'ection1\n\t{page:WordSection1;}\n--></style><!--[if gte mso 9]><xml>\n<o:shapedefaults v:ext'
    '="edit" spidmax="1026" />\n</xml><![endif]--><!--[if gte mso 9]><xml>\n<o:shapelayout v:ext='
    '"edit">\n<o:idmap v:ext="edit" data="1" />\n</o:shapelayout></xml><![endif]-->\n</head>\n<bo'
    'dy lang="FR" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">\n<div class="Word'
    'Section1">\n'
)


def _wrap(text: str, width: int = 76, *, flowed: bool = False) -> str:
    """Wrap each paragraph of ``text`` (LF separated); flowed lines keep a trailing space."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width or line.startswith(">"):
            out.append(line)
            continue
        pieces = textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False)
        if flowed:
            pieces = [p + " " for p in pieces[:-1]] + pieces[-1:]
        out.extend(pieces)
    return "\n".join(out)


def _html_from_text(text: str, style: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    if style == "outlook":
        body = "".join(
            f'<p class="MsoNormal">{html.escape(p).replace(chr(10), "<br>")}<o:p></o:p></p>\n'
            '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
            for p in paragraphs
        )
        return _HTML_OUTLOOK_HEAD + body + "</div>\n</body>\n</html>\n"
    if style == "gmail":
        body = "".join(
            f"<div>{html.escape(p).replace(chr(10), '<br>')}</div><div><br></div>"
            for p in paragraphs
        )
        return f'<div dir="ltr">{body}</div>\n'
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head><body style=\"font-family: arial, helvetica, sans-serif; font-size: 12pt; "
        f'color: #000000"><div>{body}</div></body></html>\n'
    )


# --------------------------------------------------------------------------------------
# MIME assembly


@dataclass
class _Part:
    """A MIME entity: header fields, then an encoded body or child parts."""

    headers: list[tuple[str, str | bytes]]
    body: bytes = b""
    children: list[_Part] | None = None
    boundary: str = ""
    preamble: bytes = b""
    truth: AttachmentTruth | None = None
    closed: bool = True
    known: tuple[AttachmentTruth, ...] = ()  # truth of a body pre-rendered into ``body``


def _header_bytes(headers: Iterable[tuple[str, str | bytes]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        out += name.encode("ascii") + b": "
        out += value if isinstance(value, bytes) else value.encode("ascii")
        out += b"\r\n"
    return bytes(out)


def _render(part: _Part, found: list[AttachmentTruth]) -> bytes:
    head = _header_bytes(part.headers)
    if part.children is None:
        if part.truth is not None:
            found.append(part.truth)
        found.extend(part.known)
        return head + b"\r\n" + part.body
    delimiter = b"--" + part.boundary.encode("ascii")
    chunks = [head, b"\r\n"]
    if part.preamble:
        chunks += [part.preamble, b"\r\n"]
    for child in part.children:
        chunks += [delimiter, b"\r\n", _render(child, found), b"\r\n"]
    if part.closed:
        chunks += [delimiter, b"--"]
    return b"".join(chunks)


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _qp(data: bytes) -> bytes:
    """Quoted-printable for CRLF text: hard breaks stay CRLF, soft breaks are ``=`` CRLF."""
    return binascii.b2a_qp(data, istext=True)


def _b64(data: bytes) -> bytes:
    """Base64 in 76-character lines joined by CRLF, without a final line end."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")[:-2]


def _text_leaf(text: str, subtype: str = "plain", *, charset: str = "utf-8",
               cte: str = "quoted-printable", flowed: bool = False, quoted_charset: bool = True,
               extra: list[tuple[str, str]] | None = None) -> _Part:
    data = _crlf(text).encode(charset, errors="replace")
    if data.isascii() and cte in ("8bit", "quoted-printable") and subtype == "plain" and flowed:
        cte = "7bit"
    if cte == "quoted-printable":
        body = _qp(data)
    elif cte == "base64":
        body = _b64(data)
    else:
        body = data
    params = f'charset="{charset}"' if quoted_charset else f"charset={charset}"
    if flowed:
        params += "; format=flowed"
    headers: list[tuple[str, str | bytes]] = [("Content-Type", f"text/{subtype}; {params}")]
    headers.append(("Content-Transfer-Encoding", cte))
    headers.extend(extra or [])
    return _Part(headers, body)


def _multipart(subtype: str, boundary: str, children: list[_Part], *,
               extra: list[tuple[str, str]] | None = None, preamble: bytes = b"",
               type_params: str = "") -> _Part:
    params = f'boundary="{boundary}"'
    if type_params:
        params = f"{type_params};\r\n\t{params}"
    headers: list[tuple[str, str | bytes]] = [
        ("Content-Type", f"multipart/{subtype};\r\n\t{params}")
    ]
    headers.extend(extra or [])
    return _Part(headers, children=children, boundary=boundary, preamble=preamble)


def _unfold(value: str | bytes) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return text.replace("\r\n", "").strip()


# --------------------------------------------------------------------------------------
# The corpus


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


@dataclass(frozen=True)
class _Letter:
    """A newsletter sender and how its platform writes its mail."""

    name: str
    address: str
    list_id: str | None
    unsubscribe: str | None
    one_click: bool
    precedence: str | None
    platform: str
    lang: str
    subjects: tuple[str, ...]
    zone: str = "paris"


_LETTERS = (
    _Letter("La Lettre des Territoires", "newsletter@lettre-territoires.fr",
            "La Lettre des Territoires <hebdo.lettre-territoires.fr>",
            "<mailto:desabonnement@lettre-territoires.fr?subject=unsubscribe-{token}>, "
            "<https://www.lettre-territoires.fr/desabonnement?u={token}>",
            True, "bulk", "sendinblue", "fr",
            ("Hebdo n° {n} : réforme de la fiscalité locale, ce qui change",
             "Hebdo n° {n} : les communes face à la hausse des coûts de l'énergie",
             "Hebdo n° {n} : intercommunalité, le point sur les transferts de compétences",
             "Hebdo n° {n} : élus locaux, vos droits à la formation")),
    _Letter("AMF Infos", "infos@amf-exemple.org",
            "AMF Infos <9f3c2a7e1b.amf-exemple.list-id.mcsv.net>",
            "<https://amf-exemple.us21.list-manage.com/unsubscribe?u={token}&id=5d1c>, "
            "<mailto:unsubscribe-mc.us21_{token}@unsubscribe.mailchimpapp.net?subject=unsubscribe>",
            True, "bulk", "mailchimp", "fr",
            ("Maires Info du {day} : congrès des maires, inscriptions ouvertes",
             "Maires Info du {day} : dotations {year}, les montants notifiés",
             "Maires Info du {day} : sécurité des bâtiments scolaires",
             "Maires Info du {day} : la commande publique simplifiée")),
    _Letter("Le Moniteur des Travaux", "newsletter@moniteur-travaux-exemple.fr",
            "<quotidienne.moniteur-travaux-exemple.fr>",
            "<https://moniteur-travaux-exemple.fr/newsletter/unsubscribe/{token}>",
            False, "bulk", "none", "fr",
            ("Voirie : les nouvelles règles pour les enrobés",
             "Marchés publics : les seuils relevés au 1er janvier",
             "Rénovation énergétique des écoles : retour d'expérience",
             "BTP : la conjoncture du mois de {month}")),
    _Letter("Service-Public.fr", "lettre@info.service-public-exemple.fr",
            "<lettre-pro.service-public-exemple.fr>",
            "<mailto:lettre-pro-unsubscribe@info.service-public-exemple.fr>",
            False, "list", "none", "fr",
            ("Lettre Pro n° {n} : état civil, ce qui change",
             "Lettre Pro n° {n} : élections, les démarches des communes",
             "Lettre Pro n° {n} : urbanisme et autorisations")),
    _Letter("Eurocities Flash", "flash@eurocities-exemple.eu",
            "Eurocities Flash <flash.eurocities-exemple.eu>",
            "<mailto:unsubscribe@eurocities-exemple.eu?subject=unsubscribe>, "
            "<https://eurocities-exemple.eu/u/{token}>",
            True, "bulk", "ses", "en",
            ("Flash {n}: cities and the energy transition",
             "Flash {n}: funding calls for twinning projects",
             "Flash {n}: how small towns manage heatwaves",
             "Flash {n}: digital services for citizens")),
    _Letter("Bureau Pro Fournitures", "promo@bureau-pro-exemple.fr", None,
            "<https://click.bureau-pro-exemple.fr/unsub?e={token}>, "
            "<mailto:unsub-{token}@bureau-pro-exemple.fr>",
            True, "bulk", "salesforce", "fr",
            ("-20 % sur le papier recyclé jusqu'à dimanche",
             "Votre code promo collectivités : rentrée {year}",
             "Nouveautés mobilier de bureau : découvrez la collection",
             "Dernier jour : livraison offerte dès 150 € d'achat")),
    _Letter("Secrétaires de mairie", "secretaires-mairie@listes.cdg-exemple.fr",
            "Liste d'entraide des secretaires de mairie <secretaires-mairie.listes.cdg-exemple.fr>",
            "<mailto:sympa@listes.cdg-exemple.fr?subject=unsubscribe%20secretaires-mairie>",
            False, "list", "sympa", "fr",
            ("[secretaires-mairie] Question sur le régime indemnitaire",
             "[secretaires-mairie] Modèle d'arrêté pour un débit de boissons temporaire",
             "[secretaires-mairie] Logiciel d'état civil : mise à jour",
             "[secretaires-mairie] Recensement de la population : retours d'expérience")),
    _Letter("Médiathèque d'Exemple", "mediatheque@mairie-exemple.fr", None,
            "<https://mediatheque.mairie-exemple.fr/lettre/desinscription?id={token}>",
            False, None, "sendinblue", "fr",
            ("Les rendez-vous de la médiathèque – {month} {year}",
             "Heure du conte, club lecture : le programme de {month}",
             "Nouveautés du mois : romans, BD et jeux vidéo")),
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
        """A leaf attachment; ``style`` says how its file name is written."""
        if data is None:
            data = self.payload(mime, size or 0)
        ctype = mime + (f'; charset="{charset}"' if charset else "")
        disp = disposition
        if filename is not None:
            if style == "plain":
                ctype += f'; name="{filename}"'
                disp = f'{disposition}; filename="{filename}"'
            elif style == "rfc2231":
                disp = f"{disposition};\r\n filename*=utf-8''{_rfc2231(filename)}"
            elif style == "rfc2231-latin1":
                value = _rfc2231(filename, "iso-8859-1")
                disp = f"{disposition};\r\n filename*=iso-8859-1''{value}"
            elif style == "rfc2231-cont":
                encoded = _rfc2231(filename)
                pieces: list[str] = []
                while encoded:
                    cut = min(len(encoded), 36)
                    while "%" in encoded[max(cut - 2, 0):cut] and cut < len(encoded):
                        cut -= 1  # never split a %XX escape between two sections
                    pieces.append(encoded[:cut])
                    encoded = encoded[cut:]
                sections = [
                    f"filename*{i}*={'utf-8' + chr(39) * 2 if i == 0 else ''}{piece}"
                    for i, piece in enumerate(pieces)
                ]
                disp = f"{disposition};\r\n " + ";\r\n ".join(sections)
            elif style == "rfc2047":
                word = "\r\n ".join(encoded_words(filename, "utf-8", "b", limit=60))
                ctype += f';\r\n name="{word}"'
                disp = f'{disposition};\r\n filename="{word}"'
            elif style == "ctype-name":
                ctype += f'; name="{filename}"'
                disp = None
            elif style == "ctype-name-disp":
                ctype += f'; name="{filename}"'
            else:
                raise ValueError(style)
        headers: list[tuple[str, str | bytes]] = [("Content-Type", ctype)]
        if disp:
            headers.append(("Content-Disposition", disp))
        if content_id:
            headers.append(("Content-ID", f"<{content_id}>"))
        if cte == "base64":
            body = _b64(data)
            size_out = len(data)
        elif cte == "quoted-printable":
            body = _qp(data)
            size_out = len(data)
        else:
            body = data
            size_out = len(data)
        headers.append(("Content-Transfer-Encoding", cte))
        truth = AttachmentTruth(filename, mime.lower(), size_out, cte)
        return _Part(headers, body, truth=truth)

    def forwarded(self, inner: bytes, filename: str | None) -> _Part:
        """A message/rfc822 part holding ``inner``: one attachment of its full size."""
        if filename:
            headers: list[tuple[str, str | bytes]] = [
                ("Content-Type", f'message/rfc822; name="{filename}"'),
                ("Content-Disposition", f'attachment; filename="{filename}"'),
            ]
        else:
            headers = [("Content-Type", "message/rfc822"), ("Content-Disposition", "inline")]
        return _Part(headers, inner, truth=AttachmentTruth(filename, "message/rfc822",
                                                           len(inner), "7bit"))

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


# --------------------------------------------------------------------------------------
# Newsletters, notifications, spam

_LIST_POSTERS = (
    _Person("Martine Chevalier", "mairie.saint-aubin@wanadoo.fr", "outlook2010", "fr",
            "Secrétaire de mairie, Saint-Aubin-sur-Loire"),
    _Person("Patrick Morel", "secretariat@mairie-villiers-exemple.fr", "thunderbird", "fr",
            "Secrétaire général, Villiers"),
    _Person("Isabelle Roy", "isabelle.roy@cdg-exemple.fr", "outlook", "fr",
            "Centre de gestion"),
)


def _letter_domain(letter: _Letter) -> str:
    return letter.address.rsplit("@", 1)[1]


def _newsletter_html(title: str, articles: list[tuple[str, str]], domain: str, token: str,
                     colour: str) -> str:
    blocks = []
    for i, (heading, text) in enumerate(articles):
        link = f"https://{domain}/c/{token}{i:02d}?utm_source=newsletter&amp;utm_medium=email"
        blocks.append(
            '<tr><td style="padding:24px 32px 8px 32px;font-family:Arial,Helvetica,sans-serif;">'
            f'<a href="{link}" style="text-decoration:none;"><img src="https://img.{domain}/n/'
            f'{token}/{i}.jpg" width="536" height="240" alt="" style="display:block;border:0;'
            'width:100%;max-width:536px;height:auto;"></a></td></tr>\n'
            '<tr><td style="padding:8px 32px;font-family:Arial,Helvetica,sans-serif;font-size:'
            f'20px;line-height:26px;color:{colour};font-weight:bold;">{html.escape(heading)}</td>'
            '</tr>\n<tr><td style="padding:0 32px 16px 32px;font-family:Arial,Helvetica,sans-'
            f'serif;font-size:15px;line-height:22px;color:#333333;">{html.escape(text)}</td></tr>\n'
            '<tr><td style="padding:0 32px 24px 32px;"><table role="presentation" cellpadding="0"'
            f' cellspacing="0"><tr><td style="background:{colour};border-radius:4px;padding:10px'
            f' 18px;"><a href="{link}" style="color:#ffffff;font-family:Arial,Helvetica,sans-serif'
            ';font-size:14px;text-decoration:none;">Lire la suite</a></td></tr></table></td></tr>\n'
        )
    return (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/'
        'xhtml1/DTD/xhtml1-transitional.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">\n<meta name="viewpo'
        f'rt" content="width=device-width, initial-scale=1.0">\n<title>{html.escape(title)}</title>'
        '\n<style type="text/css">body{margin:0;padding:0;}table,td{border-collapse:collapse;}'
        'img{border:0;outline:none;text-decoration:none;}@media only screen and (max-width:600px)'
        '{.container{width:100%!important;}}</style>\n</head>\n<body style="margin:0;padding:0;'
        'background-color:#f2f2f2;">\n<table role="presentation" width="100%" cellpadding="0" '
        'cellspacing="0" style="background-color:#f2f2f2;"><tr><td align="center">\n<table class='
        '"container" role="presentation" width="600" cellpadding="0" cellspacing="0" style="back'
        f'ground-color:#ffffff;">\n<tr><td style="padding:20px 32px;background:{colour};color:#ff'
        'ffff;font-family:Arial,Helvetica,sans-serif;font-size:24px;font-weight:bold;">'
        f'{html.escape(title)}</td></tr>\n' + "".join(blocks)
        + '<tr><td style="padding:24px 32px;font-family:Arial,Helvetica,sans-serif;font-size:12px;'
        f'color:#888888;">Vous recevez ce message car vous êtes abonné(e). <a href="https://{domain}'
        f'/u/{token}" style="color:#888888;">Se désabonner</a></td></tr>\n</table>\n</td></tr>'
        f'</table>\n<img src="https://t.{domain}/o/{token}.gif" width="1" height="1" alt="">\n'
        "</body>\n</html>\n"
    )


def _ics(uid: str, summary: str, start: datetime, organizer: _Person, method: str) -> str:
    stamp = f"{start:%Y%m%dT%H%M%SZ}"
    end = f"{start + timedelta(hours=2):%Y%m%dT%H%M%SZ}"
    return _crlf(
        "BEGIN:VCALENDAR\nPRODID:Zimbra-Calendar-Provider\nVERSION:2.0\n"
        f"METHOD:{method}\nBEGIN:VEVENT\nUID:{uid}\nSUMMARY:{summary}\n"
        f"ORGANIZER;CN={organizer.name}:mailto:{organizer.address.lower()}\n"
        f"ATTENDEE;CN={OWNER_NAME};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{OWNER_ADDRESS}\n"
        f"DTSTART:{stamp}\nDTEND:{end}\nDTSTAMP:{stamp}\nLOCATION:Salle du conseil\n"
        "STATUS:CONFIRMED\nCLASS:PUBLIC\nTRANSP:OPAQUE\nSEQUENCE:0\n"
        "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;RELATED=START:-PT15M\nDESCRIPTION:Rappel\n"
        "END:VALARM\nEND:VEVENT\nEND:VCALENDAR\n"
    )


_NOREPLY = {
    "glpi": _Person("GLPI", "glpi-noreply@mairie-exemple.fr", "platform", "fr", ""),
    "parapheur": _Person("i-Parapheur", "no-reply@parapheur.mairie-exemple.fr", "platform",
                         "fr", ""),
    "cloud": _Person("Nextcloud", "noreply@cloud.mairie-exemple.fr", "platform", "fr", ""),
    "cron": _Person("Cron Daemon", "root@srv-sauvegarde.mairie-exemple.fr", "platform", "fr", ""),
    "postmaster": _Person(None, "postmaster@mairie-exemple.fr", "platform", "fr", ""),
    "agenda": _Person("Agenda", "noreply@mairie-exemple.fr", "zimbra", "fr", ""),
    "factures": _Person("Factures publiques", "no-reply@factures-publiques.gouv-exemple.fr",
                        "platform", "fr", ""),
    "scanner": _Person(None, "scanner-rdc@mairie-exemple.fr", "platform", "fr", ""),
}

_SPAM_SUBJECTS = (
    "Votre colis est en attente de livraison – action requise",
    "Félicitations ! Vous avez été sélectionné(e) pour notre enquête",
    "Urgent: verify your mailbox account now",
    "Dernier rappel : facture impayée n° {n}",
    "Your password expires today",
    "Investissez dans l'or : rendement garanti 12 %",
    "Réclamez votre remboursement d'impôt",
    "RE: commande {n}",
)
_SPAM_DOMAINS = ("secure-colis-suivi.top", "promo-gagnant.click", "account-verify.help",
                 "fr-remboursement.info", "mail-update-service.xyz", "invest-or-plus.biz")


class _Fixtures(_Corpus):
    """The generate() corpus: a fixed feature set, then filler in realistic proportions."""

    def newsletter(self, letter: _Letter, sent: datetime, *, folder: str = "INBOX") -> _Mail:
        rng = self.rng
        number = self.issue.get(letter.address, rng.randint(80, 400)) + 1
        self.issue[letter.address] = number
        local = sent + timedelta(minutes=_offset(sent, letter.zone))
        subject = rng.choice(letter.subjects).format(
            n=number, day=f"{local:%d/%m/%Y}", month=_MOIS[local.month - 1], year=local.year)
        domain = _letter_domain(letter)
        token = self.token(24)
        extra: list[tuple[str, str | bytes]] = [
            ("DKIM-Signature", f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain};\r\n\ts=mail;"
                               f" t={int(sent.timestamp())}; bh={_b64text(rng.randbytes(32))};"
                               f"\r\n\th=From:To:Subject:Date:List-Unsubscribe;\r\n\tb="
                               + "\r\n\t ".join(_chunks(_b64text(rng.randbytes(256)), 70))),
            ("Authentication-Results", f"mx1.{DOMAIN}; dkim=pass header.d={domain};\r\n\tspf=pass"
                                       f" smtp.mailfrom={domain}; dmarc=pass header.from={domain}"),
        ]
        if letter.list_id:
            extra.append(("List-Id", letter.list_id))
        if letter.unsubscribe:
            extra.append(("List-Unsubscribe", _fold(letter.unsubscribe.format(token=token),
                                                   used=18)))
        if letter.one_click:
            extra.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        if letter.precedence:
            extra.append(("Precedence", letter.precedence))
        campaign = rng.randrange(1000, 99999)
        if letter.platform == "sendinblue":
            extra += [("X-Mailer", "Sendinblue"), ("X-Mailin-Campaign", str(campaign)),
                      ("X-Mailin-Client", str(rng.randrange(10**5, 10**6))),
                      ("X-Campaign", f"sib-{campaign}"),
                      ("Feedback-ID",
                       f"{campaign}:{rng.randrange(10**5, 10**6)}:campaign:Sendinblue")]
        elif letter.platform == "mailchimp":
            extra += [("X-Mailer", f"MailChimp Mailer - **CID{self.token(20)}**"),
                      ("X-Campaign", f"mailchimp{self.token(20)}.{self.token(10)}"),
                      ("X-campaignid", f"mailchimp{self.token(20)}.{self.token(10)}"),
                      ("X-Report-Abuse", "Please report abuse for this campaign here:\r\n"
                                         f" https://mailchimp.com/contact/abuse/?u={token}"),
                      ("Feedback-ID", f"21:21-{campaign}:us21:mc")]
        elif letter.platform == "ses":
            extra += [("Feedback-ID", f"1.eu-west-1.{base64.b64encode(rng.randbytes(30)).decode()}"
                                      ":AmazonSES"),
                      ("X-SES-Outgoing", f"{sent:%Y.%m.%d}-54.240.4.{rng.randrange(2, 250)}")]
        elif letter.platform == "salesforce":
            extra += [("X-SFMC-Stack", "50"), ("x-job", f"{campaign}_{rng.randrange(10**6)}"),
                      ("Feedback-ID", f"{campaign}:{rng.randrange(10**6)}:sfmc")]
        elif letter.platform == "sympa":
            list_addr = letter.address
            extra += [("List-Post", f"<mailto:{list_addr}>"),
                      ("List-Archive", f"<https://listes.cdg-exemple.fr/sympa/arc/{list_addr.split('@')[0]}>"),
                      ("List-Help", "<mailto:sympa@listes.cdg-exemple.fr?subject=help>"),
                      ("X-Loop", list_addr), ("X-Sequence", str(number)),
                      ("Sender", f"{list_addr.split('@')[0]}-request@listes.cdg-exemple.fr")]
        if letter.platform == "sympa":
            sender = rng.choice(_LIST_POSTERS)
            text = self.letter(sender, "fr", rng.randint(1, 3)) + (
                "\n_______________________________________________\n"
                f"{letter.name} - {letter.address}\n"
                "Désinscription : mailto:sympa@listes.cdg-exemple.fr\n")
            body = _text_leaf(_wrap(text), cte="quoted-printable")
            client = sender.client
            message_id = self.message_id(client, sender.domain, sent)
        else:
            sender = _Person(letter.name, letter.address, "platform", letter.lang, "",
                             letter.zone)
            articles = [(rng.choice(letter.subjects).format(
                n=number, day="", month=_MOIS[local.month - 1], year=local.year),
                " ".join(self.paragraphs(letter.lang, rng.randint(2, 4))))
                for _ in range(rng.randint(3, 9))]
            colour = rng.choice(("#004a99", "#c0392b", "#1e7d4f", "#6c2e8c", "#e67e22"))
            page = _newsletter_html(subject, articles, domain, token, colour)
            text = "\n\n".join(f"{h}\n{t}\nhttps://{domain}/c/{token}" for h, t in articles)
            text = f"{subject}\n\n{text}\n\nSe désabonner : https://{domain}/u/{token}\n"
            boundary = self.boundary("platform")
            body = _multipart("alternative", boundary, [
                _text_leaf(_wrap(text), cte="quoted-printable"),
                _text_leaf(page, "html", cte=rng.choice(("quoted-printable", "base64"))),
            ])
            client = "platform"
            message_id = self.message_id("platform", domain, sent)
        mail = _Mail(folder=folder, kind="newsletter", sender=sender, to=[_OWNER],
                     subject=subject, date=sent, internal=self.arrival(sent), client=client,
                     message_id=message_id, body=body, extra=extra,
                     flags=self.read_flags(sent),
                     date_style="gmt" if letter.platform == "ses" else "padded")
        return self.add(mail)

    def notification(self, what: str, sent: datetime, *, folder: str = "INBOX") -> _Mail:
        rng = self.rng
        auto: list[tuple[str, str | bytes]] = [("Auto-Submitted", "auto-generated")]
        sender = _NOREPLY.get(what, _NOREPLY["glpi"])
        attachments: list[_Part] = []
        if what == "glpi":
            ticket = rng.randrange(4000, 9999)
            subject = rng.choice((f"[GLPI #{ticket:07d}] Nouveau ticket - Imprimante du 2e étage",
                                  f"[GLPI #{ticket:07d}] Nouveau suivi - Accès au logiciel "
                                  "d'état civil", f"[GLPI #{ticket:07d}] Ticket résolu"))
            text = (f"URL : https://glpi.{DOMAIN}/front/ticket.form.php?id={ticket}\n\n"
                    f"Ticket : {subject}\nStatut : En cours (attribué)\nDemandeur : "
                    f"{OWNER_NAME}\n\n" + "\n\n".join(self.paragraphs("fr", 2)) + "\n")
            auto.append(("Precedence", "bulk"))
        elif what == "parapheur":
            number = f"{sent.year}-{rng.randrange(1, 400):03d}"
            subject = f"[i-Parapheur] Dossier à signer : Arrêté n° {number}"
            text = ("Bonjour,\n\nUn dossier est en attente de votre visa dans le circuit "
                    "« Arrêtés du maire ».\n\nAccéder au dossier : https://parapheur."
                    f"{DOMAIN}/dossier/{self.token(12)}\n\nCe message est envoyé automatiquement, "
                    "merci de ne pas y répondre.\n")
        elif what == "cloud":
            subject = f"{_LEVEQUE.name} a partagé « Budget {sent.year} » avec vous"
            text = (f"{_LEVEQUE.name} a partagé « Budget {sent.year} » avec vous.\n\n"
                    f"Ouvrir : https://cloud.{DOMAIN}/s/{self.token(15)}\n\n--\nNextcloud – "
                    "un espace sûr pour toutes vos données\n")
        elif what == "cron":
            subject = "Cron <root@srv-sauvegarde> /usr/local/bin/sauvegarde.sh"
            text = "".join(f"{sent:%Y-%m-%d} 02:{i:02d}:1{i % 10} rsync: /srv/partages/"
                           f"{rng.choice(('finances', 'urbanisme', 'rh', 'etat-civil'))} ok "
                           f"({rng.randrange(10, 9000)} fichiers)\n"
                           for i in range(rng.randint(8, 40)))
            text += "Sauvegarde terminée : 0 erreur.\n"
            auto += [("X-Cron-Env", "<SHELL=/bin/sh>"), ("X-Cron-Env", "<HOME=/root>")]
        elif what == "postmaster":
            subject = "Avertissement : votre boîte aux lettres a atteint 90 % de son quota"
            text = (f"Votre boîte aux lettres {OWNER_ADDRESS} utilise 4,5 Go sur 5 Go.\n\n"
                    "Au-delà de 5 Go, vous ne pourrez plus recevoir de messages. Supprimez les "
                    "messages volumineux ou videz la corbeille.\n\nLe service informatique\n")
        elif what == "agenda":
            subject = "Rappel : Conseil municipal (jeudi 18:30 - 21:00)"
            text = ("Rappel de rendez-vous\n\nConseil municipal\nLieu : Salle du conseil\n"
                    "Organisateur : Bernard Lefèvre\n")
        elif what == "factures":
            invoice = f"FAC-{sent.year}-{rng.randrange(100, 9999):04d}"
            subject = f"Nouvelle facture déposée : {invoice}"
            text = (f"Une nouvelle facture a été déposée pour votre structure.\n\nNuméro : "
                    f"{invoice}\nFournisseur : BTP Loire\nMontant TTC : "
                    f"{rng.randrange(200, 90000)},{rng.randrange(100):02d} €\n\nLa facture est "
                    "jointe à ce message.\n")
            attachments.append(self.attachment(f"{invoice}.pdf",
                                               _MIME["pdf"], rng.randrange(30_000, 160_000)))
        else:
            raise ValueError(what)
        body = self.with_attachments("thunderbird" if not attachments else "zimbra", text,
                                     attachments)
        if what in ("glpi", "cloud") and not attachments:
            body = _multipart("alternative", self.boundary("platform"), [
                _text_leaf(_wrap(text)), _text_leaf(_html_from_text(text, "plain"), "html")])
        mail = _Mail(folder=folder, kind="notification", sender=sender, to=[_OWNER],
                     subject=subject, date=sent, internal=self.arrival(sent),
                     client=sender.client,
                     message_id=self.message_id("platform", sender.domain, sent), body=body,
                     extra=auto, flags=self.read_flags(sent), text=text)
        return self.add(mail)

    def spam(self, sent: datetime, *, subject: str | None = None, charset_style: str = "gmail",
             attachments: list[_Part] | None = None) -> _Mail:
        rng = self.rng
        subject = subject or rng.choice(_SPAM_SUBJECTS).format(n=rng.randrange(10**5, 10**6))
        domain = rng.choice(_SPAM_DOMAINS)
        local = rng.choice(("service", "noreply", "info", "support", "contact"))
        sender = _Person(rng.choice(("Service Client", "La Poste Colis", "Support Technique",
                                     "Centre des Impôts", None)),
                         f"{local}{rng.randrange(10, 99)}@{domain}", charset_style, "fr", "")
        text = "\n\n".join(self.paragraphs("fr", 1)) + f"\n\nCliquez ici : https://{domain}/r/{self.token(10)}\n"
        page = (f"<html><body><p>{html.escape(subject)}</p><p><a href=\"https://{domain}/r/"
                f"{self.token(10)}\">Cliquez ici</a></p><img src=\"https://{domain}/p.gif\">"
                "</body></html>\n")
        body = _text_leaf(page, "html", cte="base64")
        if attachments:
            body = _multipart("mixed", self.boundary("platform"), [body, *attachments])
        score = rng.randrange(55, 250) / 10
        extra: list[tuple[str, str | bytes]] = [
            ("X-Spam-Flag", "YES"), ("X-Spam-Score", f"{score:.1f}"),
            ("X-Spam-Status", f"Yes, score={score:.1f} required=5.0\r\n\ttests=HTML_MESSAGE,"
                              "RDNS_NONE,URIBL_BLACK autolearn=no"),
        ]
        mail = _Mail(folder="Junk", kind="spam", sender=sender, to=[_OWNER], subject=subject,
                     date=sent, internal=self.arrival(sent), client=charset_style,
                     message_id=self.message_id("platform", domain, sent), body=body,
                     extra=extra, flags={SEEN} if rng.random() < 0.2 else set(), text=text,
                     date_style=rng.choice(("plain", "noweekday", "padded")))
        return self.add(mail)

    def sent(self, to: _Person, subject: str, when: datetime,
             attachments: list[_Part] | None = None, *, folder: str = "Sent") -> _Mail:
        client = "thunderbird" if self.rng.random() < 0.7 else "zimbra"
        text = self.letter(_OWNER, to.lang)
        body = self.with_attachments(client, text, attachments or [])
        mail = _Mail(folder=folder, kind="sent", sender=_OWNER, to=[to], subject=subject,
                     date=when, internal=when + timedelta(seconds=self.rng.randint(0, 2)),
                     client=client, message_id=self.message_id(client, DOMAIN, when),
                     body=body, flags={SEEN}, incoming=False, text=text)
        return self.add(mail)

    def personal(self, sender: _Person, subject: str, when: datetime, *,
                 attachments: list[_Part] | None = None, kind: str = "personal",
                 folder: str | None = None, topic: str | None = None) -> _Mail:
        text = self.letter(sender, sender.lang)
        parts = list(attachments or [])
        if sender.client == "outlook" and not parts and self.rng.random() < 0.3:
            body = self.outlook_signature_body(text)
        else:
            body = self.with_attachments(sender.client, text, parts)
        return self.incoming(sender, subject, when, body, kind=kind, text=text,
                             folder=folder or self.folder_for(when, topic))

    def outlook_signature_body(self, text: str) -> _Part:
        """Outlook's related > alternative, with the signature logo as image001.png."""
        cid = f"image001.png@01D{self.token(5).upper()}.{self.token(8).upper()}"
        alternative = self.text_body("outlook", text)
        logo = self.attachment("image001.png", "image/png", self.rng.randrange(3_000, 12_000),
                               disposition="inline", content_id=cid)
        return _multipart("related", self.boundary("outlook"), [alternative, logo],
                          type_params='type="multipart/alternative"')


def _b64text(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _chunks(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)]


def _fixed_features(c: _Fixtures) -> None:
    """Every feature the tests of the project rely on, once or a few times."""
    rng, y = c.rng, c.year
    pdf, docx, xlsx = _MIME["pdf"], _MIME["docx"], _MIME["xlsx"]

    # Threads: recent and old, long and short, every subject encoding.
    c.thread(f"Délibération n° {y}-041 : convention de mise à disposition des équipements "
             "sportifs intercommunaux – avenant n° 3 et annexes financières",
             [_DUBOIS, _LEVEQUE, _DUPONT], c.when(40), 8, topic="deliberations")
    c.thread("Travaux de voirie rue des Écoles : planning des fermetures",
             [_FAURE, _DUBOIS], c.when(3 * 365 + 130), 5)
    c.thread("Twinning visit: programme for the delegation", [_THOMPSON, _SCHMIDT],
             c.when(7 * 365 - 150, zone="london"), 4, lang="en",
             folder=c.folders["archive_old"])
    c.thread("Fête de la musique : réservation de la salle polyvalente", [_ROUSSEAU],
             c.when(4 * 365 + 20), 2, owner_starts=True, irt_only_at=1)
    c.thread("Préparation du conseil municipal du 12 juin", [_NGUYEN, _LEFEVRE],
             c.when(12), 3)
    c.thread(f"Budget primitif {y} : arbitrages de la commission finances", [_BENALI, _LEVEQUE],
             c.when(150), 4, topic="budget",
             attach_at={2: [c.attachment(f"arbitrages_BP{y}.xlsx", xlsx, 88_412)]})
    c.thread("Marché de Noël : emplacements et budget", [_MARTIN, _ROUSSEAU],
             c.when(5 * 365 + 190), 3, folder=c.folders["archive_mid"])
    c.thread("Visite à Exemple-sur-Loire – travel arrangements", [_SCHMIDT], c.when(70), 3,
             lang="en")

    # Attachments: every way of naming a file, every encoding, sizes from 2 KB to 12 MB.
    c.personal(_LEFEVRE, f"Convocation au conseil municipal du {c.when(20):%d/%m/%Y}", c.when(21),
               kind="attachment",
               attachments=[c.attachment(f"convocation_CM_{c.when(20):%Y%m%d}.pdf", pdf, 184_320)])
    c.personal(_LAURENT, "CV reçu pour le poste d'instructeur ADS", c.when(95), kind="attachment",
               attachments=[c.attachment("résumé final.pdf", pdf, 46_210, style="rfc2231")])
    c.personal(_DUPONT, f"Contrôle de légalité : délibération n° {y}-041", c.when(33),
               kind="attachment", folder=c.folders["deliberations"],
               attachments=[c.attachment(
                   f"Délibération n° {y}-041 - budget primitif - annexe financière détaillée.pdf",
                   pdf, 1_400_000, style="rfc2231-cont")])
    c.personal(_FAURE, "Compte-rendu de la réunion de chantier n° 7", c.when(60),
               kind="attachment", attachments=[
                   c.attachment("Compte-rendu réunion de chantier n°7.docx", docx, 61_440,
                                style="rfc2047")])
    c.personal(_BENALI, f"Budget {y} : version 3 du tableau", c.when(160), kind="attachment",
               folder=c.folders["budget"], attachments=[
                   c.attachment(f"budget_{y}_v3.xlsx", xlsx, 352_000, style="ctype-name"),
                   c.attachment("annexe_investissements.pdf", pdf, 97_000,
                                style="ctype-name-disp")])
    nested = _nested_gmail(c)
    c.incoming(_NGUYEN, "Saison culturelle : le programme définitif", c.when(45), nested,
               kind="attachment", text="")
    c.incoming(_LEVEQUE, "TR: Contrôle de légalité - pièces complémentaires", c.when(88),
               _forward(c, named=True), kind="attachment")
    c.incoming(_LAURENT, "Fwd: Permis de construire PC 045 123 24 0012", c.when(400),
               _forward(c, named=False), kind="attachment")
    notes = _crlf("\n".join(f"{i + 1}. " + s for i, s in enumerate(
        rng.sample(_FR_SENTENCES, 20)))).encode() + b"\r\n"
    c.personal(_LEFEVRE, "Notes de la réunion des adjoints", c.when(25), kind="attachment",
               attachments=[c.attachment("notes réunion.txt", "text/plain", data=notes,
                                         cte="quoted-printable", charset="utf-8",
                                         style="rfc2231")])
    listing = "".join(f"{n};{n.split()[0].lower()}@exemple.fr;présent\r\n" for n in (
        "Alice Bernard", "Bruno Caron", "Chloé Dumas", "David Éluard", "Emma Fabre",
        "François Gilles", "Gaëlle Henry", "Hugo Imbert", "Inès Joly", "Jules Klein",
        "Léa Marchand", "Louis Noël", "Manon Olivier", "Nicolas Perrin", "Océane Quentin",
        "Paul Renaud", "Rose Simon", "Théo Tessier", "Zoé Vidal", "Yanis Weber") * 3)
    ascii_list = "".join(f"{i:03d} Participant {i} - atelier {i % 4 + 1}\r\n" for i in range(90))
    c.personal(_LAURENT, "Inscriptions à la réunion publique du PLU", c.when(130),
               kind="attachment", attachments=[
                   c.attachment("liste_participants.txt", "text/plain",
                                data=ascii_list.encode(), cte="7bit", charset="us-ascii"),
                   c.attachment("export_état_civil.csv", "text/csv", data=listing.encode(),
                                cte="8bit", charset="utf-8", style="rfc2231-latin1")])
    start = c.ref.replace(hour=17, minute=0, second=0) + timedelta(days=20)
    ics = _ics(f"{c.token(32)}@{DOMAIN}", "Réunion publique PLU", start, _MARTIN, "PUBLISH")
    c.personal(_MARTIN, "Réunion publique sur le PLU : invitation", c.when(15),
               kind="attachment", attachments=[
                   c.attachment("reunion_publique_PLU.ics", "text/calendar",
                                data=ics.encode(), charset="utf-8")])
    big = c.personal(_FAURE, "Photos du chantier de l'école", c.when(55), kind="attachment",
                     attachments=[c.attachment("photos_chantier_ecole.zip", _MIME["zip"],
                                               2_500_000)])
    big.flags.add(FLAGGED)
    c.incoming(_SCHMIDT, "Photos from the Christmas market", c.when(180),
               _apple_photos(c), kind="attachment")
    plu = c.personal(_LAURENT, f"PLU {y} : rapport de présentation (version pour l'enquête)",
                     c.when(9), kind="attachment", attachments=[
                         c.attachment(f"PLU_{y}_rapport_de_presentation.pdf", pdf, 11_800_000)])
    plu.flags.add(FLAGGED)
    c.personal(_MARTIN, f"Rapport d'activité {y - 5} de la communauté de communes",
               c.when(5 * 365 + 60), kind="attachment", folder=c.folders["archive_mid"],
               attachments=[c.attachment(f"Rapport_activite_{y - 5}.pdf", pdf, 5_200_000)])
    c.personal(_DUBOIS, "Capture de l'erreur du logiciel", c.when(5), kind="attachment",
               attachments=[c.attachment("capture.png", "image/png", 2_048)])
    scan = c.incoming(_NOREPLY["scanner"], 'Message from "RICOH IM C3000"', c.when(75),
                      _multipart("mixed", c.boundary("platform"), [
                          _text_leaf("This E-mail was sent from \"RICOH IM C3000\" (IM C3000)."
                                     "\n\nScan Date: \nQueries to: scanner-rdc@mairie-exemple.fr"
                                     "\n", cte="7bit", charset="us-ascii"),
                          c.attachment(f"{c.when(75):%Y%m%d%H%M%S}.pdf", pdf, 412_000)]),
                      kind="attachment")
    scan.message_id = None
    c.personal(_ROUSSEAU, "Programme du comité des fêtes", c.when(300), kind="attachment",
               attachments=[c.attachment("winmail.dat", _MIME["tnef"], 21_000,
                                         style="ctype-name-disp")])

    # Standalone personal mail.
    c.personal(_DUPONT, "Demande de pièces complémentaires", c.when(230))
    c.personal(_THOMPSON, "Christmas market stall for Exampleton", c.when(260))

    # Newsletters: every sender at least twice, some flagged.
    for i, letter in enumerate(_LETTERS):
        first = c.newsletter(letter, c.when(rng.randrange(2, 60), hour=7))
        c.newsletter(letter, c.when(rng.randrange(100, 900), hour=7))
        if i in (1, 5):
            first.flags.add(FLAGGED)

    # Notifications.
    _invitation(c, c.when(6))
    c.notification("agenda", c.when(1))
    c.notification("postmaster", c.when(3))
    c.notification("glpi", c.when(17))
    c.notification("parapheur", c.when(8))
    c.notification("cron", c.when(2, hour=2))
    c.notification("factures", c.when(27))
    c.notification("cloud", c.when(160))

    # Sent, some with large attachments, and drafts.
    c.sent(_DUPONT, f"Dossier de demande de subvention DETR {y}", c.when(48), [
        c.attachment(f"Dossier_subvention_DETR_{y}.zip", _MIME["zip"], 5_300_000)])
    c.sent(_NGUYEN, "Bilan de la saison culturelle", c.when(210), [
        c.attachment("Bilan_saison_culturelle.pdf", pdf, 1_800_000)])
    c.sent(_LEFEVRE, "Note de synthèse sur le budget", c.when(140), [
        c.attachment("Note_de_synthese_budget.docx", docx, 900_000)])
    auto_reply_target = c.sent(_DUPONT, "Question sur la délibération n° 2026-041", c.when(30))
    c.sent(_LEFEVRE, "Projet de discours pour les vœux", c.when(4), folder="Drafts")
    c.sent(_BENALI, "Tableau des subventions aux associations", c.when(2), [
        c.attachment("subventions_associations.xlsx", xlsx, 41_000)], folder="Drafts")
    _auto_reply(c, auto_reply_target)

    # Spam.
    c.spam(c.when(4), subject="发票代开 增值税专用发票 低价优惠", charset_style="gb2312")
    c.spam(c.when(9), subject="Félicitations ! Vous avez gagné – réclamez votre cadeau",
           charset_style="outlook2010")
    c.spam(c.when(13), subject="Votre colis est en attente de livraison – action requise",
           attachments=[c.attachment("facture_impayee.zip", _MIME["zip"], 18_300)])

    # Trash: a few old messages.
    c.newsletter(_LETTERS[5], c.when(2 * 365 + 40, hour=7), folder="Trash")
    c.notification("glpi", c.when(400), folder="Trash")

    _malformed(c)


def _nested_gmail(c: _Fixtures) -> _Part:
    """Gmail's multipart/mixed > alternative > related, with two inline images and a PDF."""
    text = c.letter(_NGUYEN, "fr", 2)
    cid_logo, cid_photo = f"ii_{c.token(10)}", f"ii_{c.token(10)}"
    page = _html_from_text(text, "gmail").replace(
        "</div>\n", f'<img src="cid:{cid_logo}" alt="logo"><br><img src="cid:{cid_photo}">'
                    "</div>\n")
    logo = c.attachment("logo.png", "image/png", 8_192, disposition="inline",
                        content_id=cid_logo)
    logo.headers.append(("X-Attachment-Id", cid_logo))
    photo = c.attachment(None, "image/jpeg", 3_210, disposition=None, content_id=cid_photo)
    related = _multipart("related", c.boundary("gmail"),
                         [_text_leaf(page, "html", charset="UTF-8"), logo, photo])
    alternative = _multipart("alternative", c.boundary("gmail"),
                             [_text_leaf(_wrap(text), charset="UTF-8"), related])
    pdf = c.attachment("programme_saison_culturelle.pdf", _MIME["pdf"], 240_000)
    return _multipart("mixed", c.boundary("gmail"), [alternative, pdf])


def _forward(c: _Fixtures, *, named: bool) -> _Part:
    """A forwarded message/rfc822 part whose inner message has its own attachment."""
    if named:
        inner_sender, subject = _DUPONT, "Contrôle de légalité - pièces complémentaires"
        inner_att = c.attachment("courrier_prefecture.pdf", _MIME["pdf"], 120_000)
        when, to = c.when(90), [_LEVEQUE]
    else:
        inner_sender, subject = _FAURE, "Permis de construire PC 045 123 24 0012"
        inner_att = c.attachment("plans_façades.docx", _MIME["docx"], 45_000, style="rfc2231")
        when, to = c.when(402), [_LAURENT]
    text = c.letter(inner_sender, "fr", 2)
    inner = _Mail(folder="", kind="", sender=inner_sender, to=to, subject=subject, date=when,
                  internal=when, client=inner_sender.client,
                  message_id=c.message_id(inner_sender.client, inner_sender.domain, when),
                  body=c.with_attachments(inner_sender.client, text, [inner_att]),
                  incoming=False)
    raw = _render_mail(inner, c.rng).raw
    note = c.letter(_LEVEQUE if named else _LAURENT, "fr", 1)
    forwarder = "zimbra"
    name = "Controle de legalite - pieces complementaires.eml" if named else None
    return _multipart("mixed", c.boundary(forwarder), [
        _text_leaf(_wrap(note)), c.forwarded(raw, name)])


def _apple_photos(c: _Fixtures) -> _Part:
    """Apple Mail's text, image, text, image, text: the text parts are all body text."""
    boundary = c.boundary("apple")
    parts: list[_Part] = []
    for i, size in enumerate((880_000, 1_020_000)):
        parts.append(_text_leaf(c.paragraphs("en", 1)[0] + "\n", cte="7bit",
                                charset="us-ascii", quoted_charset=False))
        parts.append(c.attachment(f"IMG_{2041 + i}.JPG", "image/jpeg", size,
                                  disposition="inline"))
    parts.append(_text_leaf("\nBest wishes,\nAnna\n", cte="7bit", charset="us-ascii",
                            quoted_charset=False))
    return _multipart("mixed", boundary, parts)


def _invitation(c: _Fixtures, when: datetime) -> _Mail:
    """A Zimbra invitation: its text/calendar alternative is an unnamed attachment."""
    start = (when + timedelta(days=5)).replace(hour=16, minute=0, second=0)
    summary = "Commission urbanisme"
    ics = _ics(f"{c.token(32)}@{DOMAIN}", summary, start, _LEVEQUE, "REQUEST")
    text = (f"Invitation : {summary}\nLieu : Salle du conseil\nOrganisateur : {_LEVEQUE.name}\n"
            "\nMerci de confirmer votre présence.\n")
    data = ics.encode()
    calendar = _Part([("Content-Type", 'text/calendar; charset=utf-8; method=REQUEST'),
                      ("Content-Transfer-Encoding", "8bit")], data,
                     truth=AttachmentTruth(None, "text/calendar", len(data), "8bit"))
    body = _multipart("alternative", c.boundary("zimbra"), [
        _text_leaf(text), _text_leaf(_html_from_text(text, "plain"), "html"), calendar])
    local = start + timedelta(minutes=_offset(start, "paris"))
    subject = f"Invitation : {summary} @ {local:%d/%m/%Y %H:%M}"
    mail = c.incoming(_LEVEQUE, subject, when, body, kind="notification", text=text)
    return mail


def _auto_reply(c: _Fixtures, original: _Mail) -> _Mail:
    """An Outlook out-of-office answer to one of the owner's messages."""
    when = original.internal + timedelta(seconds=c.rng.randint(20, 200))
    text = ("Bonjour,\n\nJe suis absent du bureau jusqu'au lundi 15 inclus. En cas d'urgence, "
            "merci de contacter le standard de la préfecture.\n\nCordialement,\nPierre Dupont\n")
    mail = c.incoming(_DUPONT, f"Réponse automatique : {original.subject}", when,
                      c.text_body("outlook", text), kind="notification", text=text)
    mail.in_reply_to = original.message_id
    mail.extra = [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")]
    mail.flags = {SEEN}
    return mail


def _malformed(c: _Fixtures) -> None:
    """One message of each defect; see the module docstring for what their truth says."""
    petit = _Person("Gerard Petit", "g.petit@wanadoo.fr", "platform", "fr", "")
    when = c.when(36)
    body = _Part([("Content-Type", 'text/plain; charset="x-mac-unknown"'),
                  ("Content-Transfer-Encoding", "8bit")],
                 "Bonjour,\r\n\r\nLa réunion de la salle des fêtes est annulée.\r\n"
                 "Désolé pour ce contretemps.\r\n\r\nGérard\r\n".encode("latin-1"))
    c.incoming(petit, "Réunion annulée - salle des fêtes", when, body,
                      malformed="unknown-charset", kind="malformed",
                      subject_raw="=?x-unknown?q?R=E9union_annul=E9e_-_salle_des_f=EAtes?=")

    when = c.when(52)
    declared = c.boundary("outlook2010")
    used = declared[:-2] + "X_"
    lost = c.attachment("devis_2026.pdf", _MIME["pdf"], 64_000)
    lost.truth = None  # behind a boundary nobody declared: no reader can find it
    parts = _multipart("mixed", used, [
        _text_leaf("Veuillez trouver ci-joint le devis.\n", charset="iso-8859-1"), lost])
    parts.headers = [("Content-Type", f'multipart/mixed;\r\n\tboundary="{declared}"')]
    c.incoming(_ROUSSEAU, "Devis pour la sonorisation", when, parts,
               malformed="missing-boundary", kind="malformed")

    when = c.when(66)
    data = c.payload(_MIME["pdf"], 300_000)
    present = 57 * 2_000  # the transfer stopped after 2,000 full base64 lines
    truncated = _Part([("Content-Type", 'application/pdf; name="proces-verbal_CM.pdf"'),
                       ("Content-Disposition", 'attachment; filename="proces-verbal_CM.pdf"'),
                       ("Content-Transfer-Encoding", "base64")], _b64(data[:present]),
                      truth=AttachmentTruth("proces-verbal_CM.pdf", "application/pdf", present,
                                            "base64"))
    parts = _multipart("mixed", c.boundary("zimbra"), [
        _text_leaf("Bonjour,\n\nVoici le procès-verbal du dernier conseil.\n"), truncated])
    parts.closed = False
    c.incoming(_LEVEQUE, "Procès-verbal du conseil municipal", when, parts,
               malformed="unclosed-boundary", kind="malformed")

    gtb = _Person(None, "alerte@gtb.mairie-exemple.fr", "platform", "fr", "")
    when = c.when(11, hour=3)
    mail = c.incoming(gtb, "ALARME chaufferie gymnase : defaut bruleur", when,
                      _text_leaf("Alarme 14 : defaut bruleur chaudiere 2\nSite : gymnase\n",
                                 cte="7bit", charset="us-ascii"),
                      malformed="no-date", kind="malformed")
    mail.date = None
    mail.extra = [("Auto-Submitted", "auto-generated")]

    when = c.when(19)
    faure = replace(_FAURE, client="platform")
    mail = c.incoming(faure, "Compte rendu de la réunion — budget été", when,
                      _text_leaf("Bonjour,\n\nCi-dessous le compte rendu.\n", cte="8bit"),
                      malformed="bad-header-encoding", kind="malformed")
    mail.subject_raw = "Compte rendu de la réunion — budget été".encode()
    mail.from_raw = f"{_FAURE.name} <{_FAURE.address}>".encode("latin-1")


_FILLER_SUBJECTS = {
    "fr": (
        "Point sur le dossier de la salle polyvalente", "Demande de devis : éclairage public",
        "Réservation du minibus communal", "Question sur l'arrêté de circulation",
        "Planning des astreintes : {month}", "Recrutement d'un agent d'entretien",
        "Rentrée scolaire : effectifs", "Commande de fournitures", "Demande de rendez-vous",
        "Inscription au repas des aînés", "Cérémonie du 11 novembre : organisation",
        "Mise à jour du site internet", "Location de la salle des fêtes le {day}",
        "Dossier de subvention de l'association sportive", "Compte rendu du comité de pilotage",
        "Entretien des espaces verts", "Réclamation d'un administré",
        "Élections : tenue des bureaux de vote",
    ),
    "en": (
        "Twinning committee meeting", "Exchange programme for {month}", "Choir visit",
        "Photos from the visit", "Youth tournament: final list",
    ),
}
_TOPIC_OF = {"Commande de fournitures": "budget",
             "Dossier de subvention de l'association sportive": "deliberations"}


def _filler(c: _Fixtures, count: int, progress: Progress | None = None,
            offset: int = 0) -> None:
    """``count`` ordinary messages in the proportions of a real mailbox; ``progress``
    counts from ``offset`` (the messages made before)."""
    rng = c.rng
    reported = 0
    kinds = ("thread", "personal", "newsletter", "notification", "attachment", "sent", "spam",
             "trash")
    weights = (9, 16, 30, 14, 7, 9, 6, 4)
    people = (*_COLLEAGUES, *_FOREIGN)
    done = 0
    while done < count:
        if progress is not None and done - reported >= PROGRESS_EVERY:
            progress("compose", offset + done, offset + count)
            reported = done
        kind = rng.choices(kinds, weights)[0]
        days_ago = 2 + (7 * 365 - 10) * rng.random() ** 1.4
        when = c.when(days_ago)
        left = count - done
        if kind == "thread" and left >= 2:
            length = min(left, rng.choice((2, 2, 3, 3, 3, 4, 4, 5, 6, 8)))
            person = rng.choice(people)
            others = [p for p in _COLLEAGUES if p is not person]
            lang = person.lang
            subject = _subject_for(c, lang, when)
            attach: dict[int, list[_Part]] = {}
            if rng.random() < 0.3:
                attach[rng.randrange(length)] = [_random_attachment(c, small=True)]
            c.thread(subject, [person, *rng.sample(others, rng.randint(0, 2))], when, length,
                     topic=_TOPIC_OF.get(subject), lang=lang, attach_at=attach)
            done += length
            continue
        if kind in ("personal", "thread"):
            person = rng.choice(people)
            subject = _subject_for(c, person.lang, when)
            c.personal(person, subject, when, topic=_TOPIC_OF.get(subject))
        elif kind == "newsletter":
            mail = c.newsletter(rng.choice(_LETTERS), c.when(days_ago, hour=rng.choice((6, 7, 8))))
            if rng.random() < 0.03:
                mail.flags.add(FLAGGED)
        elif kind == "notification":
            c.notification(rng.choice(("glpi", "glpi", "parapheur", "cloud", "cron", "factures",
                                       "agenda")), when)
        elif kind == "attachment":
            person = rng.choice(people)
            mail = c.personal(person, _subject_for(c, person.lang, when), when,
                              kind="attachment",
                              attachments=[_random_attachment(c)
                                           for _ in range(rng.choice((1, 1, 1, 2, 3)))])
            if rng.random() < 0.08:
                mail.flags.add(FLAGGED)
        elif kind == "sent":
            person = rng.choice(people)
            attachments = [_random_attachment(c)] if rng.random() < 0.25 else []
            c.sent(person, _subject_for(c, person.lang, when), when, attachments)
        elif kind == "spam":
            c.spam(c.when(min(days_ago, 60)))
        else:
            old = c.when(max(days_ago, 200))
            if rng.random() < 0.5:
                c.newsletter(rng.choice(_LETTERS), old, folder="Trash")
            else:
                c.notification(rng.choice(("glpi", "cron", "cloud")), old, folder="Trash")
        done += 1


def _subject_for(c: _Fixtures, lang: str, when: datetime) -> str:
    local = when + timedelta(days=c.rng.randint(3, 20))
    return c.rng.choice(_FILLER_SUBJECTS[lang]).format(
        month=_MOIS[local.month - 1] if lang == "fr" else f"{local:%B}",
        day=f"{local:%d/%m/%Y}")


_RANDOM_FILES = (
    ("pdf", "Compte_rendu_{n}.pdf", "plain"), ("pdf", "Facture_{n}.pdf", "plain"),
    ("docx", "Courrier réponse {n}.docx", "rfc2047"), ("xlsx", "Tableau_suivi_{n}.xlsx", "plain"),
    ("jpg", "IMG_{n}.jpg", "plain"), ("png", "Capture d'écran {n}.png", "rfc2231"),
    ("pdf", "Arrêté n°{n}.pdf", "rfc2231"), ("odt", "note_{n}.odt", "plain"),
    ("zip", "documents_{n}.zip", "plain"),
)


def _random_attachment(c: _Fixtures, *, small: bool = False) -> _Part:
    rng = c.rng
    ext, pattern, style = rng.choice(_RANDOM_FILES)
    size = int(min(rng.lognormvariate(10.1, 1.0), 250_000 if small else 700_000))
    return c.attachment(pattern.format(n=rng.randrange(100, 9999)), _MIME[ext],
                        max(size, 2_100), style=style)


def _duplicates(c: _Fixtures, messages: list[GeneratedMessage], count: int) -> None:
    """Second copies, byte for byte, of ``count`` messages in another folder."""
    rng = c.rng
    candidates = [i for i, m in enumerate(messages)
                  if m.folder == "INBOX" and m.message_id and m.malformed is None
                  and m.kind in ("personal", "thread-reply", "newsletter", "attachment",
                                 "notification") and m.size < 1_000_000]
    chosen = sorted(rng.sample(candidates, count))
    targets = (c.folders["archive_mid"], c.folders["budget"], c.folders["deliberations"],
               "Trash", c.folders["archive_old"])
    for n, i in enumerate(chosen):
        original = messages[i]
        messages.append(replace(original, folder=targets[n % len(targets)], kind="duplicate",
                                flags=original.flags - {FLAGGED}))


#: A progress callback of :func:`generate`: (stage, done, total), stage "compose" then
#: "render", each counted in messages.
Progress = Callable[[str, int, int], None]
#: Messages between two progress calls.
PROGRESS_EVERY = 50


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


def _normalize_reference(reference: datetime) -> datetime:
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return reference.astimezone(UTC).replace(microsecond=0)


# --------------------------------------------------------------------------------------
# Bulk stream for benchmarks


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


def _flatten(part: _Part) -> _Part:
    """Render a body once: a leaf whose bytes hold the whole tree, truth kept in ``known``."""
    found: list[AttachmentTruth] = []
    rendered = _render(replace(part, headers=[]), found)
    return _Part(part.headers, rendered[2:], known=tuple(found))


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


# --------------------------------------------------------------------------------------
# Maildir


def maildir_dirname(folder: str) -> str:
    """The Maildir++ directory of ``folder`` ("" for INBOX): ``.Projets.D&AOk-lib&AOk-rations``.

    Dots are the hierarchy separator in Maildir++, so folder names must not contain any.
    """
    if folder.upper() == "INBOX":
        return ""
    if "." in folder:
        raise ValueError(f"Maildir++ cannot hold a folder name with a dot: {folder!r}")
    return "." + imap_utf7(folder).replace("/", ".")


_FLAG_LETTERS = {SEEN: "S", FLAGGED: "F", ANSWERED: "R"}


def write_maildir(root: Path, messages: Iterable[GeneratedMessage], *,
                  owner: tuple[int, int] | None = None,
                  written: Callable[[GeneratedMessage, str], None] | None = None,
                  ) -> dict[str, int]:
    """Write ``messages`` into a Maildir++ tree as Dovecot reads it; {folder: count}.

    INBOX is ``root`` itself, folder ``A/B`` is ``root/.A.B`` (modified UTF-7 name); every
    folder, its parents and the standard folders get cur/, new/ and tmp/. Files go to cur/
    named ``<time>.M<n>P<i>.mailgen,S=<LF size>,W=<CRLF size>:2,<flags>`` where n is the
    message's position in ``messages`` and i its position in its folder; contents use LF
    line ends and the mtime is the internal date (Dovecot's INTERNALDATE). With
    ``owner=(uid, gid)`` everything created, root included, is chowned. Empty folders are in
    the result with 0. ``written(message, path)`` is called after each file is written.
    """
    root = Path(root)
    counts: dict[str, int] = {}
    paths: dict[str, str] = {}

    def chown(path: str) -> None:
        if owner is not None:
            os.chown(path, owner[0], owner[1])

    def ensure(folder: str) -> str:
        if folder in paths:
            return paths[folder]
        if "/" in folder:
            ensure(folder.rsplit("/", 1)[0])
        directory = os.path.join(root, maildir_dirname(folder)) if folder != "INBOX" \
            else str(root)
        for sub in ("", "cur", "new", "tmp"):
            path = os.path.join(directory, sub) if sub else directory
            os.makedirs(path, exist_ok=True)
            chown(path)
        if folder != "INBOX":
            marker = os.path.join(directory, "maildirfolder")
            open(marker, "wb").close()  # Maildir++ marks sub-folders so
            chown(marker)
        paths[folder] = os.path.join(directory, "cur")
        counts[folder] = 0
        return paths[folder]

    root.mkdir(parents=True, exist_ok=True)
    chown(str(root))
    for folder in ("INBOX", *STANDARD_FOLDERS):
        ensure(folder)
    for n, message in enumerate(messages):
        cur = ensure(message.folder)
        data = message.raw.replace(b"\r\n", b"\n")
        stamp = int(message.internal_date.timestamp())
        flags = "".join(sorted(_FLAG_LETTERS[f] for f in message.flags))
        name = (f"{stamp}.M{n}P{counts[message.folder]}.mailgen,S={len(data)},"
                f"W={len(message.raw)}:2,{flags}")
        path = os.path.join(cur, name)
        with open(path, "wb") as handle:
            handle.write(data)
        os.utime(path, (stamp, stamp))
        chown(path)
        counts[message.folder] += 1
        if written is not None:
            written(message, path)
    return counts
