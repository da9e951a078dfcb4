"""The organisation demo: a town hall's mail root on disk, and a cleanup to measure.

:func:`build_organisation` writes about 40 mailboxes in 6 teams (French municipal
services) as a local tree laid out like a Dovecot mail root (``mail/<address>/Maildir``,
Maildir++ folders ``.Sent``, ``.Trash``, ``.Archives.2019``...) from the generator's bulk
streams, and the staff file ``staff.csv`` that ``mailclean snapshot take --accounts``
reads. :func:`simulate_cleanup` then does what agents do during a cleanup day, straight on
the files: some teams delete a lot, some a little or only into the Trash, one does nothing,
and one agent receives new mail meanwhile. Everything is deterministic for a seed.

Only the demo's own directory is touched: it is marked when built, and a directory that
holds anything else is never emptied.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mailclean import mailgen
from mailclean.i18n import _
from mailclean.snapshot.store import SnapshotError

DOMAIN = "mairie-exemple.fr"
#: The file that says a directory is the demo's own, and may be rebuilt.
MARKER = ".mailclean-demo-organisation"
#: What a rebuild removes: everything the demo writes, and nothing else.
OWN_FILES = ("mail", "staff.csv", "snapshots.db", "snapshots.db-wal", "snapshots.db-shm",
             "report.html")

#: (team, agents, how they clean). Six services of a town hall, 40 agents.
TEAMS = (
    ("Direction générale des services", 4, "thorough"),
    ("Direction des finances", 8, "thorough"),
    ("Service urbanisme", 7, "large-files"),
    ("Ressources humaines", 6, "to-trash"),
    ("Services techniques", 9, "nothing"),
    ("Service enfance et éducation", 6, "a-little"),
)
#: Share of a team's agents who take part, per way of cleaning.
PARTICIPATION = {
    "thorough": 0.9,
    "large-files": 0.6,
    "to-trash": 0.7,
    "a-little": 0.4,
    "nothing": 0.0,
}
_FIRST = ("Camille", "Nathalie", "Sophie", "Isabelle", "Julien", "Thomas", "Nicolas",
          "Céline", "Stéphane", "Sandrine", "Hélène", "Laurent", "Élodie", "Karim", "Amandine",
          "Jérôme", "Frédéric", "Aurélie", "Mathieu", "Virginie", "Yasmina", "Bruno",
          "Émilie", "Olivier", "Chloé", "Grégory", "Séverine", "Antoine", "Fatima", "Damien")
_LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
         "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
         "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefebvre",
         "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand",
         "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel",
         "Nicolas", "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez",
         "Fontaine", "Chevalier", "Robin", "Masson", "Sanchez", "Benali", "Nguyen")

#: Messages in the mailboxes, drawn per mailbox: a median around 150, a long tail.
MESSAGES_MEDIAN = 150
MESSAGES_RANGE = (40, 700)


@dataclass(slots=True)
class MessageFile:
    """One message of the demo on disk, and what an agent would see of it."""

    path: str
    folder: str
    kind: str
    size: int
    internal_date: datetime
    attachment_bytes: int


@dataclass
class Agent:
    """One mailbox of the organisation."""

    address: str
    name: str
    team: str
    cleaning: str
    directory: Path
    files: list[MessageFile] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        """What the mailbox holds."""
        return sum(f.size for f in self.files)


@dataclass
class Organisation:
    """The demo's organisation on disk."""

    root: Path
    mail_root: Path
    staff_file: Path
    agents: list[Agent]

    @property
    def messages(self) -> int:
        """Messages in every mailbox."""
        return sum(len(a.files) for a in self.agents)

    @property
    def bytes(self) -> int:
        """Bytes in every mailbox."""
        return sum(a.bytes for a in self.agents)

    @property
    def teams(self) -> list[str]:
        """The teams, in the staff file's order."""
        return list(dict.fromkeys(a.team for a in self.agents))


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "-").replace("'", "")


def staff(seed: int = 2026) -> list[tuple[str, str, str, str]]:
    """(address, display name, team, way of cleaning) of the demo's 40 agents."""
    rng = random.Random(f"staff-{seed}")
    people: list[tuple[str, str, str, str]] = []
    taken: set[str] = set()
    for team, count, cleaning in TEAMS:
        for _n in range(count):
            while True:
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                address = f"{_ascii(first)}.{_ascii(last)}@{DOMAIN}"
                if address not in taken:
                    break
            taken.add(address)
            people.append((address, f"{first} {last}", team, cleaning))
    return people


def prepare_directory(root: Path) -> None:
    """Make ``root`` ready for a fresh demo: what an earlier demo wrote there goes; a
    directory with anything else in it is refused (SnapshotError), never emptied."""
    root = root.expanduser()
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise SnapshotError(
            _(
                "{path} is not empty and was not made by 'mailclean demo --organisation': "
                "choose another --dir"
            ).format(path=root)
        )
    for name in OWN_FILES:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("mailclean demo --organisation\n", encoding="utf-8")


def build_organisation(
    root: Path,
    *,
    seed: int = 2026,
    reference: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Organisation:
    """Write the organisation under ``root`` (``mail/``, ``staff.csv``) and describe it.

    ``progress(done, total)`` follows the messages written. ``reference`` is "now" for
    the messages' dates (today by default).
    """
    prepare_directory(root)
    reference = reference or datetime.now(UTC)
    people = staff(seed)
    rng = random.Random(f"sizes-{seed}")
    low, high = MESSAGES_RANGE
    counts = [
        int(min(max(rng.lognormvariate(0, 0.6) * MESSAGES_MEDIAN, low), high)) for _p in people
    ]
    total, done = sum(counts), 0
    mail_root = root / "mail"
    agents = []
    streams = mailgen.generate_bulk_mailboxes(counts, seed, reference=reference)
    for (address, name, team, cleaning), stream in zip(people, streams, strict=True):
        agent = Agent(address, name, team, cleaning, mail_root / address / "Maildir")

        def written(message: mailgen.GeneratedMessage, path: str, agent: Agent = agent) -> None:
            nonlocal done
            agent.files.append(
                MessageFile(
                    path,
                    message.folder,
                    message.kind,
                    message.size,
                    message.internal_date,
                    sum(a.decoded_size for a in message.attachments),
                )
            )
            done += 1
            if progress is not None and (done % mailgen.PROGRESS_EVERY == 0 or done == total):
                progress(done, total)

        mailgen.write_maildir(agent.directory, stream, written=written)
        agents.append(agent)
    staff_file = root / "staff.csv"
    with staff_file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("mailbox", "team", "name"))
        writer.writerows((a.address, a.team, a.name) for a in agents)
    return Organisation(root, mail_root, staff_file, agents)


@dataclass
class Cleanup:
    """What the simulated agents did."""

    agents: int = 0
    """Agents who cleaned something."""
    deleted_messages: int = 0
    deleted_bytes: int = 0
    trashed_messages: int = 0
    trashed_bytes: int = 0
    arrived_messages: int = 0
    arrived_bytes: int = 0
    idle_teams: list[str] = field(default_factory=list)
    """Teams in which nobody cleaned anything."""


def _delete(agent: Agent, chosen: list[MessageFile], done: Cleanup) -> None:
    for f in chosen:
        os.unlink(f.path)
        done.deleted_messages += 1
        done.deleted_bytes += f.size
    gone = {id(f) for f in chosen}
    agent.files = [f for f in agent.files if id(f) not in gone]


def _to_trash(agent: Agent, chosen: list[MessageFile], done: Cleanup) -> None:
    trash = agent.directory / mailgen.maildir_dirname("Trash") / "cur"
    for f in chosen:
        target = str(trash / os.path.basename(f.path))
        os.rename(f.path, target)
        f.path, f.folder = target, "Trash"
        done.trashed_messages += 1
        done.trashed_bytes += f.size


def _arrivals(agent: Agent, count: int, seed: int, now: datetime, done: Cleanup) -> None:
    """New mail delivered meanwhile, into the inbox's new/ as a server delivers it."""
    new = agent.directory / "new"
    stamp = int(now.timestamp())
    for n, message in enumerate(mailgen.generate_bulk(count, seed=seed, reference=now)):
        data = message.raw.replace(b"\r\n", b"\n")
        path = str(new / f"{stamp}.M{n}P0.delivery,S={len(data)},W={message.size}")
        with open(path, "wb") as handle:
            handle.write(data)
        agent.files.append(MessageFile(path, "INBOX", message.kind, message.size, now, 0))
        done.arrived_messages += 1
        done.arrived_bytes += message.size


def _clean(agent: Agent, now: datetime, done: Cleanup) -> None:
    """What one agent does, by the way their team cleans."""
    files = agent.files
    years = [(now - f.internal_date).days / 365.25 for f in files]
    if agent.cleaning == "thorough":
        _delete(agent, [f for f, age in zip(files, years, strict=True)
                        if f.kind in ("newsletter", "notification", "spam")
                        or f.folder in ("Trash", "Junk")
                        or (f.attachment_bytes >= 200_000 and age > 2)], done)
    elif agent.cleaning == "large-files":
        _delete(agent, [f for f, age in zip(files, years, strict=True)
                        if f.attachment_bytes >= 30_000 or f.folder == "Trash"
                        or (f.folder.startswith("Archives/") and age > 5)], done)
    elif agent.cleaning == "to-trash":
        _delete(agent, [f for f in files if f.folder == "Junk"], done)
        _to_trash(agent, [f for f in agent.files
                          if f.kind in ("newsletter", "notification") and f.folder != "Trash"],
                  done)
    elif agent.cleaning == "a-little":
        _delete(agent, [f for f in files if f.folder == "Trash"], done)


def simulate_cleanup(org: Organisation, *, seed: int = 2026,
                     now: datetime | None = None) -> Cleanup:
    """Clean the organisation's mailboxes as its agents would, on the files themselves.

    Per team, a share of the agents (:data:`PARTICIPATION`) cleans the way the team does:
    ``thorough`` deletes newsletters, notifications, junk, the Trash and old large
    attachments; ``large-files`` deletes attachments, archives over 5 years old and the
    Trash;
    ``to-trash`` deletes junk and moves newsletters to the Trash without emptying it (not
    freed yet); ``a-little`` empties the Trash; ``nothing`` is nothing. One agent who did
    not clean receives new mail meanwhile, and their mailbox grows.
    """
    now = now or datetime.now(UTC)
    rng = random.Random(f"cleanup-{seed}")
    done = Cleanup()
    idle: list[Agent] = []
    for team in org.teams:
        members = [a for a in org.agents if a.team == team]
        cleaned = 0
        for agent in members:
            if rng.random() < PARTICIPATION[agent.cleaning]:
                before = done.deleted_messages + done.trashed_messages
                _clean(agent, now, done)
                cleaned += done.deleted_messages + done.trashed_messages > before
            elif agent.cleaning != "nothing":
                idle.append(agent)
        done.agents += cleaned
        if not cleaned:
            done.idle_teams.append(team)
    if idle:
        _arrivals(idle[0], 30, seed, now, done)
    return done
