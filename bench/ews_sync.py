"""EWS sync benchmark: 20,000 items from the loopback EWS server, measured as requests.

    python bench/ews_sync.py [--messages 20000] [--chunks 128,256,512]

The server (tests/ews, seeded with ``mailgen.generate_bulk``) runs in its own process, as a
real Exchange would on its own machine; this process syncs it through
:func:`mailclean.sync.sync_account` into a fresh index, the way ``mailclean sync`` does:

1. a cold sync with the connector's defaults,
2. ``--full`` re-syncs with other GetItem chunk sizes (the SyncFolderItems page stays at
   512, the schema's maximum),
3. an unchanged re-sync.

For each: items/s, SOAP requests per 1,000 items (round trips are what a distant server
makes expensive), KB of XML per item, and the requests per operation. Loopback has no
latency: add ``requests x RTT`` to estimate a real server.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailclean.connectors import ews as ews_module  # noqa: E402
from mailclean.connectors.ews import EwsConnector, EwsSettings  # noqa: E402
from mailclean.index import Index  # noqa: E402
from mailclean.sync import SyncReport, sync_account  # noqa: E402

EMAIL = "agent@mairie-exemple.fr"


def stats(url: str) -> dict:
    """Request counts and bytes sent, from the server process."""
    base = url.rsplit("/EWS/", 1)[0]
    with urllib.request.urlopen(f"{base}/_test/stats", timeout=10) as answer:
        return json.loads(answer.read())


def run(url: str, db: Path, *, full: bool, chunk: int) -> tuple[SyncReport, dict, float]:
    """One sync; (report, server stats for it, wall seconds)."""
    before = stats(url)
    conn = EwsConnector(EwsSettings(email=EMAIL, ews_url=url, auth="none", fetch_chunk=chunk))
    index = Index(db)
    started = time.perf_counter()
    try:
        report = sync_account(index, "bench", conn, full=full)
    finally:
        index.close()
    wall = time.perf_counter() - started
    after = stats(url)
    counts = {
        op: n - before["counts"].get(op, 0)
        for op, n in after["counts"].items()
        if n - before["counts"].get(op, 0)
    }
    return report, {"counts": counts, "bytes": after["bytes_sent"] - before["bytes_sent"]}, wall


def line(label: str, items: int, used: dict, wall: float) -> None:
    """One result line."""
    requests = sum(used["counts"].values())
    per_k = requests * 1000 / items if items else float("nan")
    kb = used["bytes"] / 1024 / items if items else float("nan")
    rate = items / wall if wall else float("nan")
    ops = ", ".join(f"{op} {n}" for op, n in sorted(used["counts"].items()))
    print(
        f"{label:<34} {items:>7,} items {wall:6.2f} s {rate:>7,.0f} items/s "
        f"{requests:>5} requests = {per_k:5.1f} per 1,000 items, {kb:4.1f} KB/item  ({ops})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument(
        "--chunks", default="128,512", help="other GetItem chunk sizes to measure (comma-separated)"
    )
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
            db = Path(tmp) / "index.db"
            cold, used, wall = run(url, db, full=False, chunk=ews_module.FETCH_CHUNK)
            assert cold.messages == items, f"index has {cold.messages:,} of {items:,} items"
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            line(f"cold sync (GetItem x{ews_module.FETCH_CHUNK})", cold.new, used, wall)
            for chunk in (int(c) for c in args.chunks.split(",") if c.strip()):
                again, used, wall = run(url, db, full=True, chunk=chunk)
                line(f"sync --full (GetItem x{chunk})", again.new, used, wall)
            unchanged, used, wall = run(url, db, full=False, chunk=ews_module.FETCH_CHUNK)
            requests = sum(used["counts"].values())
            print(
                f"unchanged re-sync: {wall:.2f} s, {requests} requests "
                f"({', '.join(f'{op} {n}' for op, n in sorted(used['counts'].items()))}), "
                f"{unchanged.new} new"
            )
            print(f"peak memory of the syncing process: {peak_mb:.0f} MB")
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
