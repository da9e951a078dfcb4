"""User-facing text in French and English: gettext catalogs and locale-aware sizes.

The language comes from ``--lang``, else the config's ``settings.lang``, else the usual
``LANGUAGE``/``LC_ALL``/``LC_MESSAGES``/``LANG`` variables; anything not French is English.
"""

from __future__ import annotations

import gettext as _gettext
import os
from pathlib import Path

import humanize
import humanize.i18n

DOMAIN = "mailclean"
LOCALE_DIR = Path(__file__).parent
LANGUAGES = ("en", "fr")

_translation: _gettext.NullTranslations = _gettext.NullTranslations()
_language = "en"


def detect_language() -> str:
    """Language asked for by the environment: "fr" or "en"."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def set_language(language: str | None = None) -> str:
    """Activate ``language`` ("fr", "en", or None to detect) for messages and sizes."""
    global _translation, _language
    lang = (language or detect_language()).lower()[:2]
    lang = lang if lang in LANGUAGES else "en"
    _language = lang
    if lang == "fr":
        _translation = _gettext.translation(
            DOMAIN, localedir=LOCALE_DIR, languages=["fr"], fallback=True
        )
        humanize.i18n.activate("fr_FR")
    else:
        _translation = _gettext.NullTranslations()
        humanize.i18n.deactivate()
    return lang


def language() -> str:
    """The active language."""
    return _language


def _(message: str) -> str:
    """Translate ``message`` into the active language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate with the plural form that fits ``n``."""
    return _translation.ngettext(singular, plural, n)


def size(n: int | None) -> str:
    """Human size: "1.5 GB", or in French "1,5 Go"."""
    if n is None:
        return "–"
    text = humanize.naturalsize(n)
    if _language == "fr":
        # humanize keeps the English decimal point and writes "Ko"; French says "1,5 ko".
        text = text.replace(".", ",").replace("Ko", "ko")
    return text


def number(n: int | None) -> str:
    """Integer with thousands separators of the active language."""
    if n is None:
        return "–"
    if _language == "fr":
        return f"{n:,}".replace(",", "\u202f")
    return f"{n:,}"


def rate(value: float) -> str:
    """A per-second figure, rounded to a whole number."""
    return number(round(value))


def decimal(value: float, digits: int = 1) -> str:
    """A decimal number with the active language's separator ("0.9" / "0,9")."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if _language == "fr" else text


def percent(share: float) -> str:
    """A share as a whole percentage ("59%" / "59 %")."""
    value = round(share * 100)
    return f"{value}\u202f%" if _language == "fr" else f"{value}%"


def when(iso: str | None) -> str:
    """A stored UTC timestamp in the user's local time, minutes precision."""
    if not iso:
        return "–"
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def role(name: str | None) -> str:
    """A folder role as people call it."""
    labels = {
        "inbox": _("inbox"),
        "sent": _("sent"),
        "drafts": _("drafts"),
        "trash": _("trash"),
        "junk": _("junk"),
        "archive": _("archive"),
        "all": _("all mail"),
        "flagged": _("flagged"),
    }
    return labels.get(name or "", name or "")
