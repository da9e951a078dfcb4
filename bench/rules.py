"""Rules benchmark: a full scan with every built-in rule over 1,000,000 indexed messages.

    python bench/rules.py [--messages 1000000] [--db PATH [--reuse]] [--runs 5] [--profile]

The index is written directly in SQLite with a realistic mix (newsletters, notifications,
threads, attachments, duplicates, Trash and Junk, flagged mail), then it times forced scans
(every rule, writing the hits) and `mailclean scan --json` on the already-scanned index
(a child process, interpreter start-up included), ``--runs`` times each, and prints the
medians and the load average (the figures mean little on a busy machine).
``--reuse`` scans an index kept by an earlier ``--db`` run instead of building it again;
``--profile`` prints the time of each SQL statement of the last full scan.
Targets (issue 3): full scan < 3 s, `scan --json` on a scanned index < 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailclean.index import Index  # noqa: E402
from mailclean.model import FolderInfo  # noqa: E402
from mailclean.rules import Protection, load_rules, scan  # noqa: E402

FOLDERS = [("INBOX", "inbox", 0.55), ("Sent", "sent", 0.15), ("Archives/2021", "archive", 0.12),
           ("Archives/2019", "archive", 0.08), ("Trash", "trash", 0.05), ("Junk", "junk", 0.03),
           ("Projets", None, 0.02)]


def build(path: Path, count: int, seed: int = 1) -> None:
    """Write ``count`` messages with a realistic distribution into a fresh index."""
    rng = random.Random(seed)
    index = Index(path)
    acc = index.ensure_account("bench", "imap", "agent@mairie.example")
    folder_ids = [index.add_folder(acc, FolderInfo(path=p, role=r)) for p, r, _ in FOLDERS]
    weights = [w for *_, w in FOLDERS]
    people = [f"person{i}@org{i % 300}.example" for i in range(4000)]
    lists = [(f"news{i}@letters{i}.example", f"list{i}.letters.example") for i in range(300)]
    robots = [f"noreply@service{i}.example" for i in range(200)]
    now = datetime(2026, 6, 1, tzinfo=UTC)
    rows, attachments = [], []
    recent: list[int] = []  # sizes of the last messages, to make duplicates of
    thread = None
    for mid in range(1, count + 1):
        folder = rng.choices(folder_ids, weights)[0]
        kind = rng.random()
        date = (now - timedelta(days=rng.random() * 365 * 8)).isoformat()
        size = int(rng.lognormvariate(9.3, 1.1)) + 800
        sender = rng.choice(people)
        list_id = unsub = unsub_post = precedence = auto = None
        if kind < 0.22:
            sender, list_id = rng.choice(lists)
            unsub = f"<mailto:u@{list_id}>, <https://{list_id}/u>"
            unsub_post = "List-Unsubscribe=One-Click" if rng.random() < 0.5 else None
            precedence = "bulk"
        elif kind < 0.30:
            sender, auto = rng.choice(robots), "auto-generated"
        if thread is None or rng.random() < 0.6:
            thread = f"t{mid}@example"
        n_att, att_bytes = 0, 0
        if rng.random() < 0.12:
            n_att = rng.randint(1, 3)
            for part in range(n_att):
                a = int(rng.lognormvariate(11.5, 1.3))
                att_bytes += a
                attachments.append((mid, str(part + 2), f"file{part}.pdf", "application/pdf",
                                    a, a * 3 // 4, "attachment", "base64"))
            size += att_bytes
        message_id = f"m{mid}@example"
        if rng.random() < 0.02 and len(recent) == 7:
            message_id, size = f"m{mid - 7}@example", recent[0]
        recent = [*recent[-6:], size]
        rows.append((mid, acc, folder, str(mid), mid, None, message_id, thread, f"Subject {mid}",
                     sender, None, sender.rpartition("@")[2], None, date, date, size,
                     int(rng.random() < 0.7), int(rng.random() < 0.03), n_att, att_bytes,
                     list_id, unsub, unsub_post, precedence, auto, None, None, None))
        if len(rows) >= 50_000:
            _flush(index, rows, attachments)
            rows, attachments = [], []
    _flush(index, rows, attachments)
    index.mark_account_synced(acc)
    index.close()


def _flush(index: Index, rows: list, attachments: list) -> None:
    from mailclean.index import _INSERT_ATTACHMENT, _INSERT_MESSAGE

    with index.db.atomic():
        index.conn.executemany(_INSERT_MESSAGE, rows)
        index.conn.executemany(_INSERT_ATTACHMENT, attachments)


class _Timed:
    """A connection whose execute() records how long each statement took (``--profile``)."""

    def __init__(self, conn: object) -> None:
        self.conn = conn
        self.times: list[tuple[float, str]] = []

    def execute(self, sql: str, args: object = ()) -> object:
        started = time.perf_counter()
        cursor = self.conn.execute(sql, args)  # type: ignore[attr-defined]
        self.times.append((time.perf_counter() - started, " ".join(sql.split())))
        return cursor

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="keep the index here")
    parser.add_argument("--reuse", action="store_true",
                        help="scan the index already at --db instead of building one")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each measure")
    parser.add_argument("--profile", action="store_true",
                        help="print the time of each statement of the last full scan")
    args = parser.parse_args()
    if args.reuse and not (args.db and args.db.exists()):
        parser.error("--reuse needs --db naming an index built by an earlier run")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "index.db"
        if not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            started = time.perf_counter()
            build(path, args.messages)
            print(f"built an index of {args.messages:,} messages in "
                  f"{time.perf_counter() - started:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
        print(f"load average before: {_load()}")
        rules = load_rules(None)
        full = []
        for run in range(args.runs):
            index = Index(path)
            timed = None
            if args.profile and run == args.runs - 1:
                timed = index.conn = _Timed(index.conn)  # type: ignore[assignment]
            started = time.perf_counter()
            result = scan(index, "bench", rules, Protection(), force=True)
            full.append(time.perf_counter() - started)
            index.close()
        print(f"full scan, {len(rules)} rules: median {statistics.median(full):.2f} s of"
              f" {args.runs} runs ({', '.join(f'{t:.2f}' for t in full)}) (target < 3 s)")
        for r in result.rules:
            print(f"  {r['rule']:<18} {r['messages']:>9,} messages {r['bytes'] / 1e9:7.2f} GB")
        print(f"  reclaimable        {result.reclaimable_messages:>9,} messages "
              f"{result.reclaimable_bytes / 1e9:7.2f} GB of {result.total_bytes / 1e9:.2f} GB")
        if timed is not None:
            print("  statements of the last scan (s):")
            for seconds, sql in timed.times:
                if seconds >= 0.005:
                    print(f"  {seconds:6.3f}  {sql[:100]}")
            print(f"  {full[-1] - sum(t for t, _ in timed.times):6.3f}  (commits and Python)")
        config = Path(tmp) / "config.toml"
        config.write_text('[accounts.bench]\nkind = "maildir"\npath = "/nonexistent"\n')
        env = dict(os.environ, MAILCLEAN_CONFIG=str(config), MAILCLEAN_DB=str(path))
        cmd = [sys.executable, "-m", "mailclean", "scan", "bench", "--json"]
        subprocess.run(cmd, env=env, check=True, capture_output=True)  # caches the scan
        cached = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            cached.append(time.perf_counter() - started)
        print(f"mailclean scan --json on a scanned index: median {statistics.median(cached):.2f} s"
              f" of {args.runs} runs, interpreter start-up included (target < 0.5 s)")
        print(f"load average after: {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
