"""Sync benchmark: 100,000 messages in a private Dovecot, measured four ways.

    python bench/sync.py [--messages 100000] [--keep]

1. a first ``mailclean sync`` on a cold server (the real CLI, in a child process: its peak
   memory is the sync's own); Dovecot builds its caches (BODYSTRUCTURE...) as it answers,
2. a naive imapclient fetch of the same items (``IMAPClient.fetch`` in chunks of 2,000,
   parsing only: no decoding, no storage) on the now warm server,
3. ``mailclean sync --full`` on the same warm server: the fair comparison with 2.,
4. an unchanged re-sync,
and prints messages/s, the ratio to the naive fetch, and peak memory.
Targets (issue 2): sync >= 2x naive, unchanged re-sync < 1 s, peak memory < 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailclean import mailgen  # noqa: E402
from mailclean.connectors.imap import FETCH_ITEMS  # noqa: E402
from tests.dovecot import Dovecot  # noqa: E402


def run_cli(workdir: Path, *args: str) -> tuple[dict, float]:
    """Run ``mailclean ARGS --json`` in a child process; (its JSON, wall seconds)."""
    env = dict(os.environ, MAILCLEAN_CONFIG=str(workdir / "config.toml"),
               MAILCLEAN_DB=str(workdir / "index.db"), BENCH_PW="secret1")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mailclean", *args], env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"mailclean {' '.join(args)} failed:\n{proc.stderr}")
    return (json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}), wall


def naive_fetch(server: Dovecot) -> tuple[int, float]:
    """What a straightforward imapclient program does: fetch() in chunks, folder by folder."""
    client = server.client("user1")
    items = FETCH_ITEMS.strip("()").split(" ", 5)
    count = 0
    started = time.perf_counter()
    for _flags, _delim, name in client.list_folders():
        client.select_folder(name, readonly=True)
        uids = client.search("ALL")
        for i in range(0, len(uids), 2000):
            count += len(client.fetch(uids[i : i + 2000], items))
    seconds = time.perf_counter() - started
    client.logout()
    return count, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="leave the server dir behind")
    args = parser.parse_args()
    with Dovecot() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        counts = server.seed("user1", mailgen.generate_bulk(args.messages, seed=1))
        print(f"seeded {sum(counts.values()):,} messages in {len(counts)} folders "
              f"in {time.perf_counter() - t:.0f} s")
        truth = server.status("user1")
        run_cli(work, "account", "add", "bench", "--imap", server.host, "--port",
                str(server.port), "--user", "user1", "--security", "none",
                "--password-env", "BENCH_PW")

        cold, _cold_wall = run_cli(work, "sync", "bench", "--json")
        assert cold["messages"] == sum(m for m, _ in truth.values()), "index != server"
        assert cold["bytes"] == sum(b for _, b in truth.values()), "bytes != server"
        n_naive, naive_s = naive_fetch(server)
        warm, _ = run_cli(work, "sync", "bench", "--full", "--json")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        again, again_wall = run_cli(work, "sync", "bench", "--json")

        def line(label: str, n: int, seconds: float) -> float:
            print(f"{label:<38} {n:>8,} messages in {seconds:5.1f} s = {n / seconds:7,.0f} msg/s")
            return n / seconds

        line("mailclean sync, cold server", cold["new"], cold["seconds"])
        naive_rate = line("naive imapclient fetch, warm server", n_naive, naive_s)
        warm_rate = line("mailclean sync --full, warm server", warm["new"], warm["seconds"])
        print(f"ratio sync / naive fetch (same warm server): {warm_rate / naive_rate:.2f}x"
              "  (target >= 2x)")
        print(f"unchanged re-sync: {again['seconds']:.2f} s in the library, "
              f"{again_wall:.2f} s with interpreter start-up (target < 1 s)")
        print(f"peak memory of a syncing process: {peak_mb:.0f} MB  (target < 250 MB)")
        if args.keep:
            print(f"server dir: {server.root}")


if __name__ == "__main__":
    main()
