"""EWS action benchmark: trash 5,000 items through the loopback EWS server, as requests.

    python bench/ews_actions.py [--messages 12000] [--trash 5000] [--chunks 100,250,500]

The server (tests/ews, seeded with ``mailgen.generate_bulk``) runs in its own process, as a
real Exchange would on its own machine. This process syncs it into a fresh index, plans a
trash of ``--trash`` items (every folder but Deleted Items), then for each chunk size (item
ids per GetItem / MoveItem request, ``EwsSettings.action_chunk``):

1. **mailclean trash**: ``actions.execute``: journal written first, identity (ChangeKey, size,
   Message-ID, parent folder) checked with GetItem, MoveItem, each new id journalled, the
   index updated;
2. **undo** of that action (MoveItem back, to each original folder), then an incremental
   sync (not timed) so the next round plans from fresh change keys;
3. once, at the connector's default chunk: **raw MoveItem** of the same ids with
   ``account.bulk_move``, no check and no journal: the floor, what a script that trusts its
   id list blindly would send (then moved back, untimed).

For each: items/s and SOAP requests per 1,000 items (round trips are what a distant server
makes expensive), with the requests per operation. Loopback has no latency: add
``requests x RTT`` to estimate a real server.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailclean import actions  # noqa: E402
from mailclean.connectors import ews as ews_module  # noqa: E402
from mailclean.connectors.ews import EwsConnector, EwsSettings  # noqa: E402
from mailclean.index import Index  # noqa: E402
from mailclean.index.journal import Journal  # noqa: E402
from mailclean.sync import sync_account  # noqa: E402

EMAIL = "agent@mairie-exemple.fr"
ACCOUNT = "bench"


def stats(url: str) -> dict:
    """Request counts and bytes sent, from the server process."""
    base = url.rsplit("/EWS/", 1)[0]
    with urllib.request.urlopen(f"{base}/_test/stats", timeout=10) as answer:
        return json.loads(answer.read())


def used_since(url: str, before: dict) -> dict[str, int]:
    """Requests per operation since ``before``."""
    after = stats(url)
    return {
        op: n - before["counts"].get(op, 0)
        for op, n in after["counts"].items()
        if n - before["counts"].get(op, 0)
    }


def connector(url: str, chunk: int = ews_module.ACTION_CHUNK) -> EwsConnector:
    """A connected connector with ``chunk`` ids per action request."""
    conn = EwsConnector(EwsSettings(email=EMAIL, ews_url=url, auth="none", action_chunk=chunk))
    conn.connect()
    return conn


def line(label: str, items: int, counts: dict[str, int], wall: float) -> None:
    """One result line."""
    requests = sum(counts.values())
    per_k = requests * 1000 / items if items else float("nan")
    ops = ", ".join(f"{op} {n}" for op, n in sorted(counts.items()))
    print(
        f"{label:<40} {items:>6,} items {wall:6.2f} s {items / wall:>7,.0f} items/s "
        f"{requests:>4} requests = {per_k:5.1f} per 1,000 items  ({ops})"
    )


def plan(index: Index, trash: int) -> actions.Plan:
    """A trash of ``trash`` items from every folder but Deleted Items."""
    folders = tuple(f.path for f in index.folders(1) if f.role != "trash")
    p = actions.plan(index, ACCOUNT, "trash", actions.Selection(folders=folders))
    p.items = p.items[:trash]
    p.folders = {}
    return p


def mailclean_round(url: str, index: Index, trash: int, chunk: int) -> None:
    """Trash, then undo, with ``chunk`` ids per request; both timed and printed."""
    p = plan(index, trash)
    conn = connector(url, chunk)
    try:
        before = stats(url)
        started = time.perf_counter()
        outcome = actions.execute(index, conn, p)
        wall = time.perf_counter() - started
        done = outcome.action.count("done")[0]
        assert done == len(p.items), f"{done} of {len(p.items)} trashed"
        line(f"mailclean trash (x{chunk})", done, used_since(url, before), wall)
        before = stats(url)
        started = time.perf_counter()
        _plan, undone = actions.undo(index, conn, ACCOUNT, outcome.action.id)
        wall = time.perf_counter() - started
        assert undone is not None and undone.action.count("done")[0] == done
        line(f"mailclean undo (x{chunk})", done, used_since(url, before), wall)
    finally:
        conn.close()
    sync_account(index, ACCOUNT, connector(url))


def raw_round(url: str, index: Index, trash: int) -> None:
    """``account.bulk_move`` of the same ids to Deleted Items, timed; moved back untimed."""
    p = plan(index, trash)
    conn = connector(url)
    try:
        account = conn.account
        assert account is not None
        trash_folder = account.trash
        ids = [(i.server_id, None) for i in p.items]
        before = stats(url)
        started = time.perf_counter()
        moved = account.bulk_move(
            ids=ids, to_folder=trash_folder, chunk_size=ews_module.ACTION_CHUNK
        )
        wall = time.perf_counter() - started
        assert all(isinstance(m, tuple) for m in moved)
        line(
            f"raw MoveItem (x{ews_module.ACTION_CHUNK}, no check)",
            len(ids),
            used_since(url, before),
            wall,
        )
        back: dict[str, list[tuple[str, None]]] = defaultdict(list)
        for item, (new_id, _key) in zip(p.items, moved, strict=True):
            back[item.folder].append((new_id, None))
        for folder, group in back.items():
            conn.list_folders()
            account.bulk_move(ids=group, to_folder=conn._folder(folder), chunk_size=500)
    finally:
        conn.close()
    sync_account(index, ACCOUNT, connector(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=12_000)
    parser.add_argument("--trash", type=int, default=5_000)
    parser.add_argument("--chunks", default="100,250,500", help="ids per request to measure")
    args = parser.parse_args()
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.ews", "--bulk", str(args.messages), "--seed", "1"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise SystemExit("the EWS server did not start")
        url, items = ready[1], int(ready[2])
        print(
            f"server seeded with {items:,} items in {time.perf_counter() - started:.0f} s ({url})"
        )
        with tempfile.TemporaryDirectory() as tmp:
            index = Index(Path(tmp) / "index.db")
            try:
                sync_account(index, ACCOUNT, connector(url))
                for chunk in (int(c) for c in args.chunks.split(",") if c.strip()):
                    mailclean_round(url, index, args.trash, chunk)
                raw_round(url, index, args.trash)
                freed = Journal(index).freed(1)
                print(
                    f"journal: {len(freed['actions'])} actions, "
                    f"{freed['restored_messages']:,} messages put back"
                )
            finally:
                index.close()
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
