"""The fixed feature set of :func:`mailclean.mailgen.generate`: every feature the tests rely
on, once or a few times, including one message of each defect.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from mailclean.mailgen.attachments import _MIME
from mailclean.mailgen.bodies import _html_from_text, _ics, _wrap
from mailclean.mailgen.dates import _offset
from mailclean.mailgen.fixtures import _Fixtures
from mailclean.mailgen.parts import _b64, _crlf, _multipart, _Part, _text_leaf
from mailclean.mailgen.render import _Mail, _render_mail
from mailclean.mailgen.truth import DOMAIN, FLAGGED, SEEN, AttachmentTruth
from mailclean.mailgen.vocab import (
    _BENALI,
    _DUBOIS,
    _DUPONT,
    _FAURE,
    _FR_SENTENCES,
    _LAURENT,
    _LEFEVRE,
    _LETTERS,
    _LEVEQUE,
    _MARTIN,
    _NGUYEN,
    _NOREPLY,
    _ROUSSEAU,
    _SCHMIDT,
    _THOMPSON,
    _Person,
)


def _fixed_features(c: _Fixtures) -> None:
    """Every feature the tests of the project rely on, once or a few times."""
    _fixed_threads(c)
    _fixed_attachment_names(c)
    _fixed_attachment_sizes(c)
    _fixed_everyday_mail(c)
    _malformed(c)


def _fixed_threads(c: _Fixtures) -> None:
    """Threads: recent and old, long and short, every subject encoding."""
    y = c.year
    xlsx = _MIME["xlsx"]

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


def _fixed_attachment_names(c: _Fixtures) -> None:
    """Attachments: every way of naming a file, every encoding."""
    rng, y = c.rng, c.year
    pdf, docx, xlsx = _MIME["pdf"], _MIME["docx"], _MIME["xlsx"]

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


def _fixed_attachment_sizes(c: _Fixtures) -> None:
    """Attachments of sizes from 2 KB to 12 MB, some flagged; a scan without Message-ID."""
    y = c.year
    pdf = _MIME["pdf"]

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


def _fixed_everyday_mail(c: _Fixtures) -> None:
    """Standalone personal mail, newsletters, notifications, sent mail and drafts, spam, trash."""
    rng, y = c.rng, c.year
    pdf, docx, xlsx = _MIME["pdf"], _MIME["docx"], _MIME["xlsx"]

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
    """One message of each defect; what their truth says is in the docstring of
    :mod:`mailclean.mailgen`."""
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
