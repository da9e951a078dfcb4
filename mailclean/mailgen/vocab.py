"""The corpus's fixed data: who writes (people, newsletters, lists, robots, spammers), in
which client, and the sentences and subjects they write with.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailclean.mailgen.truth import OWNER_ADDRESS, OWNER_NAME


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

_LIST_POSTERS = (
    _Person("Martine Chevalier", "mairie.saint-aubin@wanadoo.fr", "outlook2010", "fr",
            "Secrétaire de mairie, Saint-Aubin-sur-Loire"),
    _Person("Patrick Morel", "secretariat@mairie-villiers-exemple.fr", "thunderbird", "fr",
            "Secrétaire général, Villiers"),
    _Person("Isabelle Roy", "isabelle.roy@cdg-exemple.fr", "outlook", "fr",
            "Centre de gestion"),
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
