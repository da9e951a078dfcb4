"""Action benchmark: trash 10,000 messages on a private Dovecot, against raw UID MOVE.

    python bench/actions.py [--messages 30000] [--trash 10000] [--rounds 3]

Each round seeds the same mailbox afresh and trashes the same messages twice over:

1. **raw**: per folder, SELECT then ``UID MOVE <ranges> Trash``: the floor, what a script
   that trusts its UID list blindly would send;
2. **mailclean**: ``actions.execute`` on a plan of the same messages: journal written first,
   identity (UIDVALIDITY, UID, RFC822.SIZE, Message-ID) verified on the server per batch,
   UID MOVE, outcomes journalled, the index updated.

Both use one logged-in connection made before the clock starts. The figure printed is the
median over the rounds. Target (issue 4): mailclean <= 1.5x raw.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailclean import actions, mailgen  # noqa: E402
from mailclean.connectors import imapwire  # noqa: E402
from mailclean.connectors.imap import ImapConnector, ImapSettings  # noqa: E402
from mailclean.index import Index  # noqa: E402
from mailclean.sync import sync_account  # noqa: E402
from tests.dovecot import Dovecot  # noqa: E402

USER, PASSWORD = "user1", "secret1"


def selection(messages: int, trash: int) -> actions.Selection:
    """The folders that together hold about ``trash`` messages, minus Trash itself."""
    return actions.Selection(folders=tuple(f for f in mailgen.bulk_folders() if f != "Trash"))


def prepare(server: Dovecot, work: Path, messages: int, trash: int) -> tuple[Index, actions.Plan]:
    server.reset_user(USER)
    server.seed(USER, mailgen.generate_bulk(messages, seed=3))
    db = work / "index.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    index = Index(db)
    sync_account(index, "bench", connector(server))
    p = actions.plan(index, "bench", "trash", selection(messages, trash))
    p.items = p.items[:trash]
    return index, p


def connector(server: Dovecot) -> ImapConnector:
    return ImapConnector(ImapSettings(server.host, USER, PASSWORD, port=server.port,
                                      security="none"))


def raw_move(server: Dovecot, p: actions.Plan) -> float:
    by_folder: dict[str, list[int]] = {}
    for item in p.items:
        by_folder.setdefault(item.folder, []).append(int(item.server_id))
    client = server.client(USER)
    started = time.perf_counter()
    for folder, uids in by_folder.items():
        client.select_folder(folder)
        for chunk in imapwire.chunk_uids(sorted(uids), 2_000):
            typ, data = client._imap.uid("MOVE", imapwire.sequence_set(chunk), "Trash")
            assert typ == "OK", data
    seconds = time.perf_counter() - started
    client.logout()
    return seconds


def mailclean_move(server: Dovecot, index: Index, p: actions.Plan) -> float:
    c = connector(server)
    c.connect()
    started = time.perf_counter()
    outcome = actions.execute(index, c, p)
    seconds = time.perf_counter() - started
    c.close()
    assert outcome.action.count("done")[0] == p.messages, outcome.as_dict()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--trash", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    raw, ours = [], []
    with Dovecot() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for _ in range(args.rounds):
            index, p = prepare(server, work, args.messages, args.trash)
            before = server.status(USER)
            raw.append(raw_move(server, p))
            assert server.status(USER)["Trash"][0] == before["Trash"][0] + p.messages
            index.close()
            index, p = prepare(server, work, args.messages, args.trash)
            ours.append(mailclean_move(server, index, p))
            after = server.status(USER)
            assert after["Trash"] == (before["Trash"][0] + p.messages,
                                      before["Trash"][1] + p.bytes)
            index.close()
            print(f"round: {p.messages:,} messages ({len(p.folders)} folders): "
                  f"raw UID MOVE {raw[-1]:.2f} s, mailclean {ours[-1]:.2f} s")
    r, m = statistics.median(raw), statistics.median(ours)
    print(f"median raw UID MOVE: {r:.2f} s ({args.trash / r:,.0f} msg/s)")
    print(f"median mailclean trash (journal + identity check + move + index): {m:.2f} s "
          f"({args.trash / m:,.0f} msg/s)")
    print(f"ratio mailclean / raw: {m / r:.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
