"""The kinds of mail :func:`mailclean.mailgen.generate` adds to the builder: newsletters,
notifications, spam, sent and personal mail.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timedelta

from mailclean.mailgen.attachments import _MIME
from mailclean.mailgen.bodies import _html_from_text, _newsletter_html, _wrap
from mailclean.mailgen.corpus import _Corpus
from mailclean.mailgen.dates import _MOIS, _offset
from mailclean.mailgen.headers import _fold
from mailclean.mailgen.parts import _b64text, _chunks, _multipart, _Part, _text_leaf
from mailclean.mailgen.render import _Mail
from mailclean.mailgen.truth import DOMAIN, OWNER_ADDRESS, OWNER_NAME, SEEN
from mailclean.mailgen.vocab import (
    _LEVEQUE,
    _LIST_POSTERS,
    _NOREPLY,
    _OWNER,
    _SPAM_DOMAINS,
    _SPAM_SUBJECTS,
    _Letter,
    _Person,
)


def _letter_domain(letter: _Letter) -> str:
    return letter.address.rsplit("@", 1)[1]


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
        extra += self.platform_headers(letter, sent, token, number)
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

    def platform_headers(self, letter: _Letter, sent: datetime, token: str,
                         number: int) -> list[tuple[str, str | bytes]]:
        """The header fields a newsletter's mailing platform adds (campaign, feedback ids)."""
        rng = self.rng
        campaign = rng.randrange(1000, 99999)
        if letter.platform == "sendinblue":
            return [("X-Mailer", "Sendinblue"), ("X-Mailin-Campaign", str(campaign)),
                    ("X-Mailin-Client", str(rng.randrange(10**5, 10**6))),
                    ("X-Campaign", f"sib-{campaign}"),
                    ("Feedback-ID",
                     f"{campaign}:{rng.randrange(10**5, 10**6)}:campaign:Sendinblue")]
        if letter.platform == "mailchimp":
            return [("X-Mailer", f"MailChimp Mailer - **CID{self.token(20)}**"),
                    ("X-Campaign", f"mailchimp{self.token(20)}.{self.token(10)}"),
                    ("X-campaignid", f"mailchimp{self.token(20)}.{self.token(10)}"),
                    ("X-Report-Abuse", "Please report abuse for this campaign here:\r\n"
                                       f" https://mailchimp.com/contact/abuse/?u={token}"),
                    ("Feedback-ID", f"21:21-{campaign}:us21:mc")]
        if letter.platform == "ses":
            return [("Feedback-ID", f"1.eu-west-1.{base64.b64encode(rng.randbytes(30)).decode()}"
                                    ":AmazonSES"),
                    ("X-SES-Outgoing", f"{sent:%Y.%m.%d}-54.240.4.{rng.randrange(2, 250)}")]
        if letter.platform == "salesforce":
            return [("X-SFMC-Stack", "50"), ("x-job", f"{campaign}_{rng.randrange(10**6)}"),
                    ("Feedback-ID", f"{campaign}:{rng.randrange(10**6)}:sfmc")]
        if letter.platform == "sympa":
            list_addr = letter.address
            return [("List-Post", f"<mailto:{list_addr}>"),
                    ("List-Archive", f"<https://listes.cdg-exemple.fr/sympa/arc/{list_addr.split('@')[0]}>"),
                    ("List-Help", "<mailto:sympa@listes.cdg-exemple.fr?subject=help>"),
                    ("X-Loop", list_addr), ("X-Sequence", str(number)),
                    ("Sender", f"{list_addr.split('@')[0]}-request@listes.cdg-exemple.fr")]
        return []

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
