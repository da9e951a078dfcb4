"""Words for mistakes in what a person wrote (the config, a rules file): the nearest valid
name, a value shown safely, and the checks of the ``[protect]`` table that the rules use.

Pure: only the i18n below it, so that the rules and the config can share it without the
rules importing the config.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable
from difflib import get_close_matches

from mailclean.i18n import _

#: The ``[protect]`` keys, with how many texts each may list: every domain and keyword is
#: one more term of the protection expression, and SQLite refuses expressions deeper than
#: 1,000 terms; addresses and folders are looked up in a list, so many more fit.
PROTECT_LIMITS = {"senders": 5_000, "domains": 250, "folders": 5_000, "keywords": 250}
#: The longest text of a ``[protect]`` list (an e-mail address is at most 320 characters).
PROTECT_TEXT = 320


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the choice nearest ``word``, or ``""`` when none is near.

    Case does not count: ``Senders`` suggests ``senders``.
    """
    found = nearest(word, choices)
    return _("; did you mean {name!r}?").format(name=found) if found else ""


def nearest(word: object, choices: Iterable[str]) -> str | None:
    """The choice nearest ``word`` (:func:`difflib.get_close_matches`, case ignored), if any
    is near enough."""
    lowered = {c.lower(): c for c in choices}
    found = get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = 6
_repr.maxdict = 4
_repr.maxlevel = 2


def shown(value: object) -> str:
    """``value`` as it may appear in a message: its repr (control characters escaped), cut
    short. Never call it on a secret."""
    if isinstance(value, bool):  # as TOML writes them
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 128:
        return _("a number of {n} digits").format(n=int(value.bit_length() * math.log10(2)) + 1)
    try:
        return _repr.repr(value)
    except ValueError:  # an integer too long to write out, deep inside a list
        return _("a value too large to show")


def _texts_problems(table: str, key: str, value: object, limit: int, example: str) -> list[str]:
    """What is wrong with ``value`` as a list of non-empty texts (at most ``limit``)."""
    where = _("table {table!r}, key {key!r}").format(table=table, key=key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [_("{where}: a list of texts is expected, such as {example}, not {value}").format(
            where=where, example=example, value=shown(value))]
    if len(value) > limit:
        return [_("{where}: at most {limit} texts, not {n}").format(
            where=where, limit=limit, n=len(value))]
    out = []
    if any(not v.strip() for v in value):
        out.append(_("{where}: an empty text would protect every message").format(where=where))
    long = [v for v in value if len(v) > PROTECT_TEXT]
    if long:
        out.append(_("{where}: {value} is longer than {limit} characters").format(
            where=where, value=shown(long[0]), limit=PROTECT_TEXT))
    return out


def protect_problems(table: object) -> list[str]:
    """Every mistake in the ``[protect]`` table, one line each, naming the table and key."""
    if table is None:
        return []
    if not isinstance(table, dict):
        return [_("table 'protect' must be a table with the keys {keys}, not {value}").format(
            keys=", ".join(PROTECT_LIMITS), value=shown(table))]
    examples = {"senders": '["maire@mairie-exemple.fr"]', "domains": '["tresor.gouv.fr"]',
                "folders": '["Projets/Délibérations"]', "keywords": '["facture"]'}
    out = []
    for key, value in table.items():
        if key not in PROTECT_LIMITS:
            out.append(_("table 'protect': unknown key {key!r}{hint} (valid keys: {keys})").format(
                key=key, hint=did_you_mean(key, PROTECT_LIMITS), keys=", ".join(PROTECT_LIMITS)))
            continue
        out += _texts_problems("protect", key, value, PROTECT_LIMITS[key], examples[key])
    return out
