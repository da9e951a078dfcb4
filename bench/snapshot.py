"""Snapshot benchmark: many mailboxes on a private Dovecot, measured through its master user.

    python bench/snapshot.py [--mailboxes 1000] [--messages 20] [--concurrency 8]
                             [--full-mailboxes 50] [--full-messages 2000] [--keep]

1. quick snapshots (LIST-STATUS with STATUS=SIZE, quota) of ``--mailboxes`` small mailboxes,
   at each ``--concurrency`` given, and of a tenth of them: mailboxes/s and the peak memory
   of the process (the real command, in a child process), which must not grow with the
   number of mailboxes;
2. a full snapshot (headers into a temporary index, the rules engine, then discarded) of
   ``--full-mailboxes`` mailboxes of ``--full-messages`` messages: mailboxes per minute.
Targets (issue 7): 1,000 mailboxes quick in under 60 s, memory flat.
Every figure is checked against Dovecot's own (doveadm) before it is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailclean import mailgen  # noqa: E402
from tests.dovecot import Dovecot, User  # noqa: E402

CHILD = """
import resource, sys
from mailclean.snapshot.cli import snapshot
try:
    snapshot(sys.argv[1:], standalone_mode=False)
finally:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_RSS_KB={peak}", file=sys.stderr)
"""


def take(server: Dovecot, work: Path, accounts: Path, label: str, *extra: str) -> dict:
    """Run ``snapshot take`` in a child process; its JSON summary, wall time and peak RSS."""
    env = dict(os.environ, BENCH_PW=server.master.password, PYTHONPATH=str(ROOT))
    args = [
        "take",
        "--accounts",
        str(accounts),
        "--label",
        label,
        "--server",
        server.host,
        "--port",
        str(server.port),
        "--security",
        "none",
        "--admin-user",
        server.master.name,
        "--password-env",
        "BENCH_PW",
        "--json",
        "--snapshots",
        str(work / "snapshots.db"),
        *extra,
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"snapshot take failed:\n{proc.stderr}")
    data = json.loads(proc.stdout)
    peak = next(
        int(line.split("=")[1])
        for line in proc.stderr.splitlines()
        if line.startswith("PEAK_RSS_KB=")
    )
    data.update(wall=wall, peak_mb=peak / 1024)
    return data


def write_accounts(path: Path, users: list[str]) -> None:
    path.write_text(
        "mailbox,team\n" + "".join(f"{u},team-{i % 28:02d}\n" for i, u in enumerate(users))
    )


def check(server: Dovecot, work: Path, label: str, users: list[str]) -> None:
    """The snapshot's totals equal doveadm's, mailbox by mailbox (a sample of 20)."""
    from mailclean.snapshot.store import SnapshotStore

    with SnapshotStore(work / "snapshots.db") as store:
        rows = {r.mailbox: r for r in store.mailboxes(store.get(label).id)}
    for user in users[:: max(1, len(users) // 20)]:
        status = server.status(user)
        expected = (sum(m for m, _ in status.values()), sum(b for _, b in status.values()))
        got = (rows[user].messages, rows[user].bytes)
        if got != expected:
            raise SystemExit(f"{label}: {user} measured {got}, Dovecot says {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20, help="per quick mailbox")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8])
    parser.add_argument("--full-mailboxes", type=int, default=50)
    parser.add_argument("--full-messages", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="leave the server dir behind")
    args = parser.parse_args()
    small = [f"bench{i:04d}" for i in range(args.mailboxes)]
    large = [f"large{i:03d}" for i in range(args.full_mailboxes)]
    users = [User(u, "pw") for u in small + large]
    with Dovecot(users=users, keep=args.keep) as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        corpora = [list(mailgen.generate_bulk(args.messages, seed=s)) for s in range(10)]
        for i, user in enumerate(small):
            server.seed(user, corpora[i % 10])
        print(
            f"seeded {len(small):,} mailboxes of {args.messages} messages "
            f"in {time.perf_counter() - t:.0f} s"
        )

        tenth = small[: max(1, len(small) // 10)]
        write_accounts(work / "tenth.csv", tenth)
        write_accounts(work / "all.csv", small)
        # A first pass lets Dovecot build its indexes, as it would have on a live server.
        take(server, work, work / "all.csv", "warm-up", "--concurrency", "16")
        for n in args.concurrency:
            few = take(server, work, work / "tenth.csv", f"tenth-{n}", "--concurrency", str(n))
            many = take(server, work, work / "all.csv", f"all-{n}", "--concurrency", str(n))
            check(server, work, f"all-{n}", small)
            for label, data in ((f"{len(tenth):>5,}", few), (f"{len(small):>5,}", many)):
                print(
                    f"quick, {label} mailboxes, concurrency {n:>2}: {data['seconds']:.1f} s "
                    f"in the run ({data['wall']:.1f} s with start-up), "
                    f"{data['done'] / data['seconds']:.0f} mailboxes/s, "
                    f"peak memory {data['peak_mb']:.0f} MB, {data['failed']} failed"
                )

        if large:
            t = time.perf_counter()
            corpus = list(mailgen.generate_bulk(args.full_messages, seed=99))
            for user in large:
                server.seed(user, corpus)
            print(
                f"seeded {len(large)} mailboxes of {args.full_messages:,} messages "
                f"in {time.perf_counter() - t:.0f} s"
            )
            write_accounts(work / "large.csv", large)
            data = take(server, work, work / "large.csv", "full", "--full")
            check(server, work, "full", large)
            print(
                f"full, {len(large)} mailboxes of {args.full_messages:,} messages: "
                f"{data['seconds']:.1f} s, {data['done'] / data['seconds'] * 60:.0f} "
                f"mailboxes/min ({data['done'] * args.full_messages / data['seconds']:,.0f} "
                f"messages/s), peak memory {data['peak_mb']:.0f} MB, {data['failed']} failed"
            )


if __name__ == "__main__":
    main()
