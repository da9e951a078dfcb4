"""The ordinary mail around the fixed features, in the proportions of a real mailbox, and
the duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from mailclean.mailgen.attachments import _MIME, _RANDOM_FILES
from mailclean.mailgen.dates import _MOIS
from mailclean.mailgen.fixtures import _Fixtures
from mailclean.mailgen.parts import _Part
from mailclean.mailgen.truth import FLAGGED, GeneratedMessage
from mailclean.mailgen.vocab import _COLLEAGUES, _FILLER_SUBJECTS, _FOREIGN, _LETTERS, _TOPIC_OF

#: A progress callback of :func:`generate`: (stage, done, total), stage "compose" then
#: "render", each counted in messages.
Progress = Callable[[str, int, int], None]
#: Messages between two progress calls.
PROGRESS_EVERY = 50


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
