"""Microsoft Graph benchmark: a cold sync of 20,000 items, then snapshots of 50 mailboxes
under throttling, against the loopback Graph server in a process of its own.

    python bench/graph.py [--messages 20000] [--latency 0.02] [--mailboxes 50]
                          [--per-mailbox 500] [--corpora 5] [--throttle-share 0.03]
                          [--retry-after 1] [--concurrency 8] [--skip-sync | --skip-snapshot]
    python bench/graph.py --smoke        # tiny sizes, a few seconds: does it still run?

The fake (``tests/support/graph``) runs in a child process started by this script (the
small runner in :data:`FAKE`, which imports ``tests.support.graph`` as a library: the
module's own ``__main__`` seeds one mailbox only and cannot report peaks nor pace
throttles). It listens on HTTPS with a self-signed certificate
(``tests.dovecot._make_certificate``), adds ``--latency`` seconds to every request and to
every ``$batch`` step (held while the request holds its mailbox slot, as the fake does),
and registers one application with a client secret. This process signs in as that
application (app-only client credentials through MSAL, over TLS, the CA file given as
``cafile``) with the real :class:`~mailclean.connectors.graph.GraphConnector`. Figures
come from the fake over a pipe (JSON lines): its request counts (the same as its
``/_test/stats``), the 429/503 it sent, the peak of requests in flight per mailbox
(``peak_in_flight``, which ``/_test/stats`` does not give) and its own CPU time.

1. **Cold sync**: ``mailgen.generate_bulk(--messages)`` in the fake's default mailbox, then
   :func:`mailclean.sync.sync_account` into a fresh Index, as ``mailclean sync`` does.
   Printed:

   - items/s and wall time; CPU time of this (client) process (``time.process_time``,
     every thread) and of the fake's, so one sees how much of the wall is CPU on this
     2-core machine rather than waiting for the 20 ms;
   - HTTP requests in all (identity platform included; a ``$batch`` counts one) and per
     1,000 items (goal: <= 15, attachment metadata included), with the requests per kind
     and the sub-requests inside batches;
   - peak in flight on the mailbox (the limit is 4) and the 429s;
   - the **lower bound** and wall / bound (goal: <= 1.5x).

   The lower bound is the least time any client needs for the same requests at 4 in
   flight, counted in rounds of ``--latency``. In the fake's model (Exchange's too) every
   Graph operation - a top-level request or one step of a ``$batch`` - holds one of the
   mailbox's 4 slots for one latency; the ``$batch`` POST adds one latency of its own
   before its steps run, holding no slot. Identity-platform requests (MSAL's discovery
   and token) hold no mailbox slot but come first, one after the other. So, with ``U``
   the Graph operations counted by the fake (delta pages, folder listings, attachment
   listings...) and L the latency:

   - **capacity**: 4 slots serve at most 4 operations per round: ``ceil(U / 4)`` rounds;
   - **chain**: what must happen one after another. The delta pages of one folder are
     sequential: each ``@odata.nextLink`` comes in the answer to the page before, so the
     largest folder's ``ceil(n / page size)`` pages form a chain, after the sign-in (one
     round per identity request), the folder listing (its id) and before that last
     page's attachments (one more round). The pages of *different* folders are
     independent chains: a client may interleave them, and run attachment listings
     beside a delta page on the 3 other slots. The pages of one folder cannot be
     shortened by more slots.

   No schedule beats ``max(chain, capacity)`` rounds: that is the bound printed, times
   L. The additive form ``chain + ceil((U - chain) / 4)`` (the chain run alone, the rest
   packed 4 by 4 beside nothing) is printed too: it is what a client gets that never
   overlaps its delta pages with other work; with 20,000 bulk items the capacity term
   dominates both (thousands of operations against a chain of about 20), so they differ by
   a few per cent. Neither counts the round each ``$batch`` POST adds (overlappable in
   principle) nor CPU: the wall above the bound is scheduling plus CPU, and the CPU
   figures tell them apart. The page size is the connector's (``limits.PAGE_SIZE``,
   500): the bound judges how the requests are scheduled; "requests per 1,000 items"
   judges how many there are.

2. **Snapshots of --mailboxes mailboxes under throttling** (``mailclean snapshot take
   --graph`` without the CLI): ``--mailboxes`` mailboxes of ``--per-mailbox`` messages
   (``mailgen.generate_bulk_mailboxes``; ``--corpora`` distinct mailboxes repeated, so
   seeding takes seconds, not a minute), measured by
   :class:`mailclean.snapshot.graph_measure.GraphMeasure` through
   :func:`mailclean.snapshot.runner.run` with ``--concurrency`` mailboxes at a time (8,
   the runner's default), quick then full depth. While each runs, the fake answers a
   share ``--throttle-share`` of the Graph requests and ``$batch`` steps with 429 and
   ``Retry-After: --retry-after`` (a pacer in the fake's process re-arms
   ``GraphServer.throttle()`` every 20 ms so that the 429s sent keep up with the share of
   the requests received; the $batch POSTs themselves and the identity platform are left
   alone, as Graph evaluates each step of a batch on its own). Printed: mailboxes/minute,
   wall, 429s received (and requests, so the share can be checked), peak in flight per
   mailbox (limit 4), CPU of both processes; every mailbox's messages and bytes are
   checked against the fake's own totals before the line is printed.

The load average (``os.getloadavg()``) is printed before and after each part: numbers
taken on a loaded machine are not comparable with others.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailclean.connectors.graph import GraphConnector, GraphSettings, limits  # noqa: E402
from mailclean.index import Index  # noqa: E402
from mailclean.sync import sync_account  # noqa: E402

#: Kinds the fake counts for the identity platform (no mailbox slot).
IDENTITY_KINDS = frozenset({"discovery", "keys", "devicecode", "token"})
#: Kinds that are not Graph operations of their own: the $batch POST and its step counter.
BATCH_KINDS = frozenset({"batch", "batch.sub", "batch.invalid"})

#: The fake's process: seed, serve, answer commands on stdin with one JSON line each.
FAKE = r'''
import json, sys, tempfile, threading, time
from pathlib import Path

from mailclean import mailgen
from tests.dovecot import _make_certificate
from tests.support.graph import GraphServer

IDENTITY = {"discovery", "keys", "devicecode", "token"}
BATCH = {"batch", "batch.sub", "batch.invalid"}
cfg = json.loads(sys.argv[1])


def operations(server):
    """(Graph operations that are not steps, $batch steps) counted so far."""
    counts = server.request_counts()
    steps = counts.get("batch.sub", 0)
    ops = sum(n for k, n in counts.items() if k not in IDENTITY and k not in BATCH)
    return ops - steps, steps


class Pacer(threading.Thread):
    """Keeps the 429s sent at ``share`` of the Graph operations received."""

    def __init__(self, server, share, retry_after):
        super().__init__(daemon=True)
        self.server, self.share, self.retry_after = server, share, retry_after
        self.halt = threading.Event()

    def run(self):
        server = self.server
        base_top, base_steps = operations(server)
        fired_before = server.throttled
        last_top = last_steps = 0
        while not self.halt.wait(0.02):
            top, steps = operations(server)
            top, steps = top - base_top, steps - base_steps
            deficit = int(self.share * (top + steps)) - (server.throttled - fired_before)
            grown_top, grown_steps = top - last_top, steps - last_steps
            last_top, last_steps = top, steps
            # Armed afresh each tick: the fault list stays short (the fake scans it on
            # every request) and the 429s follow the traffic of the moment.
            server.clear_faults()
            if deficit <= 0:
                continue
            grown = grown_top + grown_steps
            in_batch = round(deficit * grown_steps / grown) if grown else 0
            if in_batch:
                server.throttle(in_batch, retry_after=self.retry_after, in_batch=True)
            if deficit - in_batch:
                server.throttle(deficit - in_batch, retry_after=self.retry_after,
                                path_contains="/v1.0/users/")

    def stop(self):
        self.halt.set()
        self.join(timeout=5)
        self.server.clear_faults()


with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
    cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
    _make_certificate(cert, key)
    server = GraphServer(tls=(cert, key), latency=cfg["latency"], device_code_interval=1)
    server.register_app(cfg["client_id"], secret=cfg["client_secret"],
                        application_permissions=("Mail.Read",))
    started = time.perf_counter()
    folders = {}
    if cfg["messages"]:
        server.seed(mailgen.generate_bulk(cfg["messages"], seed=1))
        folders = {p: c for p, (c, _b) in server.store.truth().items()}
    truth = {}
    if cfg["mailboxes"]:
        cache = {}
        corpora = [list(stream) for stream in mailgen.generate_bulk_mailboxes(
            [cfg["per_mailbox"]] * max(1, min(cfg["corpora"], cfg["mailboxes"])), seed=2)]
        for n in range(cfg["mailboxes"]):
            email = f"agent{n:03d}@{server.tenant_domains[0]}"
            server.seed(corpora[n % len(corpora)], email=email, cache=cache)
            status = server.mailbox(email).truth().values()
            truth[email] = [sum(c for c, _b in status), sum(b for _c, b in status)]
    seeded = time.perf_counter() - started
    pacer = None
    with server:
        print(json.dumps({
            "graph_url": server.graph_url, "authority_url": server.authority_url,
            "tenant_id": server.tenant_id, "cafile": str(cert), "email": server.email,
            "folders": folders, "truth": truth, "seconds": seeded,
        }), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd.get("op")
            if op == "reset":
                server.reset_counts()
            elif op == "throttle":
                pacer = Pacer(server, cmd["share"], cmd["retry_after"])
                pacer.start()
            elif op == "unthrottle" and pacer is not None:
                pacer.stop()
                pacer = None
            print(json.dumps({
                "counts": server.request_counts(), "throttled": server.throttled,
                "peak": server.peak_in_flight(cmd.get("email")),
                "cpu": time.process_time(),
            }), flush=True)
'''

CLIENT_ID = "0b5e11c7-0000-4000-8000-00000000be9c"
CLIENT_SECRET = "bench-loopback-secret"


def load() -> str:
    """The load average, as ``uptime`` shows it."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Fake:
    """The fake Graph server's process and its command pipe."""

    def __init__(
        self, *, latency: float, messages: int, mailboxes: int, per_mailbox: int, corpora: int
    ) -> None:
        cfg = {
            "latency": latency,
            "messages": messages,
            "mailboxes": mailboxes,
            "per_mailbox": per_mailbox,
            "corpora": corpora,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FAKE, json.dumps(cfg)],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._out.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise SystemExit(f"the fake Graph server did not start (exit {self.proc.returncode})")
        self.ready: dict[str, Any] = json.loads(line)

    @property
    def _out(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def command(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one command; the fake's counts, 429s sent, peak in flight and CPU after it."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self._out.readline()
        if not line:
            raise SystemExit("the fake Graph server died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        """Close its stdin: it stops serving and exits."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Bound:
    """The least rounds of latency the same requests need at 4 in flight."""

    operations: int
    chain: int
    capacity: int
    additive: int

    @property
    def rounds(self) -> int:
        """No schedule does better than the longer of the chain and the capacity."""
        return max(self.chain, self.capacity)


def graph_operations(counts: dict[str, int]) -> int:
    """Graph operations: top-level requests other than $batch, and $batch steps."""
    return sum(n for k, n in counts.items() if k not in IDENTITY_KINDS | BATCH_KINDS)


def http_requests(counts: dict[str, int]) -> int:
    """HTTP requests: identity platform, $batch POSTs, Graph requests outside batches."""
    identity = sum(counts.get(k, 0) for k in IDENTITY_KINDS)
    outside = graph_operations(counts) - counts.get("batch.sub", 0)
    return identity + counts.get("batch", 0) + outside


def lower_bound(
    counts: dict[str, int], folders: dict[str, int], page: int, slots: int = 4
) -> Bound:
    """See the module docstring: ``max(chain, ceil(U / slots))`` rounds."""
    ops = graph_operations(counts)
    identity = sum(counts.get(k, 0) for k in IDENTITY_KINDS)
    largest = max(folders.values(), default=0)
    pages = max(1, math.ceil(largest / max(1, page)))
    # Folder listing (the id), the largest folder's pages, its last page's attachments.
    chain_ops = 1 + pages + (1 if counts.get("attachments") else 0)
    chain = identity + chain_ops
    capacity = math.ceil(ops / slots)
    additive = chain + math.ceil(max(0, ops - chain_ops) / slots)
    return Bound(ops, chain, capacity, additive)


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    """Counts of ``after`` minus those of ``before``, zeroes left out."""
    out = {k: n - before["counts"].get(k, 0) for k, n in after["counts"].items()}
    return {k: n for k, n in sorted(out.items()) if n}


def settings_for(fake: Fake, email: str) -> GraphSettings:
    """App-only client-secret settings for one mailbox of the fake."""
    r = fake.ready
    return GraphSettings(
        email=email,
        tenant_id=r["tenant_id"],
        client_id=CLIENT_ID,
        auth="client-secret",
        client_secret=CLIENT_SECRET,
        graph_url=r["graph_url"],
        authority_url=r["authority_url"],
        cafile=r["cafile"],
    )


def cold_sync(fake: Fake, latency: float) -> None:
    """Part 1: the cold sync and its figures."""
    email = fake.ready["email"]
    folders: dict[str, int] = fake.ready["folders"]
    items = sum(folders.values())
    print(f"load average before the sync: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        index = Index(Path(tmp) / "index.db")
        before = fake.command("reset", email=email)
        connector = GraphConnector(settings_for(fake, email))
        cpu, started = time.process_time(), time.perf_counter()
        try:
            report = sync_account(index, "bench", connector)
        finally:
            index.close()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
    after = fake.command("stats", email=email)
    if report.messages != items:
        raise SystemExit(f"the index has {report.messages:,} of {items:,} items")
    used = delta(after, before)
    http = http_requests(used)
    steps = used.get("batch.sub", 0)
    bound = lower_bound(used, folders, limits.PAGE_SIZE)
    bound_s = bound.rounds * latency
    kinds = ", ".join(f"{k} {n}" for k, n in used.items() if k != "batch.sub")
    print(
        f"cold sync: {items:,} items in {len(folders)} folders, {wall:.2f} s wall, "
        f"{items / wall:,.0f} items/s"
    )
    print(
        f"  CPU: client {cpu:.2f} s ({cpu / wall:.0%} of the wall), "
        f"fake {after['cpu'] - before['cpu']:.2f} s"
    )
    print(
        f"  HTTP requests: {http:,} = {http * 1000 / items:.1f} per 1,000 items "
        f"(goal <= 15), {steps:,} sub-requests inside them"
    )
    print(f"  by kind (a $batch step counts under its own kind too): {kinds}")
    print(
        f"  peak in flight on the mailbox: {after['peak']} (limit 4), "
        f"429s: {after['throttled'] - before['throttled']}"
    )
    print(
        f"  lower bound at 4 in flight: {bound.rounds:,} rounds x {latency * 1000:g} ms = "
        f"{bound_s:.2f} s (capacity: {bound.operations:,} Graph operations / 4 = "
        f"{bound.capacity:,} rounds; longest chain {bound.chain} rounds)"
    )
    if latency > 0:
        print(
            f"  wall / bound = {wall / bound_s:.2f}x (goal <= 1.5x); additive form "
            f"{bound.additive:,} rounds = {bound.additive * latency:.2f} s, "
            f"wall / that = {wall / (bound.additive * latency):.2f}x"
        )
    print(f"load average after the sync: {load()}")


def _measure_class() -> tuple[Any, Any] | None:
    try:
        from mailclean.snapshot.graph_measure import GraphAccess, GraphMeasure
    except ImportError as exc:
        print(f"snapshot part skipped: mailclean.snapshot.graph_measure is not there ({exc})")
        return None
    return GraphAccess, GraphMeasure


@contextmanager
def throttled(fake: Fake, share: float, retry_after: int) -> Iterator[None]:
    """The fake answers ``share`` of the Graph operations with 429 while inside."""
    if share > 0:
        fake.command("throttle", share=share, retry_after=retry_after)
    try:
        yield
    finally:
        if share > 0:
            fake.command("unthrottle")


def snapshots(fake: Fake, args: argparse.Namespace) -> None:
    """Part 2: quick and full snapshots of every seeded mailbox, under throttling."""
    classes = _measure_class()
    if classes is None:
        return
    graph_access, graph_measure = classes
    from mailclean.snapshot.runner import RunOptions, run
    from mailclean.snapshot.store import SnapshotStore

    r = fake.ready
    truth: dict[str, list[int]] = r["truth"]
    access = graph_access(
        tenant_id=r["tenant_id"],
        client_id=CLIENT_ID,
        auth="client-secret",
        client_secret=CLIENT_SECRET,
        graph_url=r["graph_url"],
        authority_url=r["authority_url"],
        cafile=r["cafile"],
    )
    entries = [(m, None, f"team-{n % 7}", None) for n, m in enumerate(truth)]
    print(
        f"snapshots: {len(truth)} mailboxes of {args.per_mailbox} messages "
        f"({min(args.corpora, len(truth))} distinct), concurrency {args.concurrency}, "
        f"{args.throttle_share:.0%} of Graph operations answered 429 "
        f"(Retry-After {args.retry_after} s)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        store = SnapshotStore(Path(tmp) / "snapshots.db")
        try:
            for depth in ("quick", "full"):
                print(f"load average before {depth}: {load()}")
                info = store.create(f"bench-{depth}", depth, "graph", {}, entries)
                measure = graph_measure(
                    access, depth=depth, workdir=Path(tmp), command_timeout=60.0
                )
                before = fake.command("reset")
                cpu = time.process_time()
                with throttled(fake, args.throttle_share, args.retry_after):
                    summary = run(store, info.id, measure, RunOptions(concurrency=args.concurrency))
                cpu = time.process_time() - cpu
                after = fake.command("stats")
                used = delta(after, before)
                rows = list(store.mailboxes(info.id))
                wrong = [
                    (row.mailbox, row.messages, row.bytes, truth[row.mailbox])
                    for row in rows
                    if row.error is None and [row.messages, row.bytes] != truth[row.mailbox]
                ]
                if wrong:
                    raise SystemExit(f"{depth}: measured otherwise than the fake: {wrong[:3]}")
                errors = sorted({str(row.error) for row in rows if row.error})
                ops = graph_operations(used)
                http = http_requests(used)
                seconds = summary.seconds
                print(
                    f"{depth:>5}: {summary.measured} measured, {summary.failed} failed in "
                    f"{seconds:.1f} s = {summary.measured * 60 / seconds:,.0f} mailboxes/minute"
                )
                print(
                    f"       429s received: {after['throttled']} "
                    f"({after['throttled'] / ops if ops else 0:.1%} of {ops:,} Graph operations; "
                    f"{http:,} HTTP requests, {used.get('token', 0)} token requests), "
                    f"peak in flight per mailbox {after['peak']} (limit 4)"
                )
                print(
                    f"       CPU: client {cpu:.1f} s ({cpu / seconds:.0%} of the wall), "
                    f"fake {after['cpu'] - before['cpu']:.1f} s"
                )
                kinds = ", ".join(f"{k} {n}" for k, n in used.items() if k != "batch.sub")
                print(f"       by kind: {kinds}")
                if errors:
                    print(f"       errors: {errors[:3]}")
        finally:
            store.close()
    print(f"load average after the snapshots: {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="items of the cold sync")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.02,
        help="seconds the fake adds to every request and $batch step",
    )
    parser.add_argument("--mailboxes", type=int, default=50, help="mailboxes of the snapshots")
    parser.add_argument("--per-mailbox", type=int, default=500, help="messages per mailbox")
    parser.add_argument(
        "--corpora",
        type=int,
        default=5,
        help="distinct mailboxes among them (seeding each costs ~1 s)",
    )
    parser.add_argument(
        "--throttle-share",
        type=float,
        default=0.03,
        help="share of Graph operations answered 429 during the snapshots",
    )
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After of those 429s")
    parser.add_argument("--concurrency", type=int, default=8, help="mailboxes at a time")
    parser.add_argument("--skip-sync", action="store_true", help="snapshots only")
    parser.add_argument("--skip-snapshot", action="store_true", help="cold sync only")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes (1,000 items, 4 mailboxes of 100): a check in seconds",
    )
    args = parser.parse_args()
    if args.smoke:
        args.messages, args.mailboxes, args.per_mailbox, args.corpora = 1_000, 4, 100, 2
    messages = 0 if args.skip_sync else args.messages
    mailboxes = 0 if args.skip_snapshot else args.mailboxes
    print(f"load average at start: {load()} ({os.cpu_count()} CPUs)")
    started = time.perf_counter()
    fake = Fake(
        latency=args.latency,
        messages=messages,
        mailboxes=mailboxes,
        per_mailbox=args.per_mailbox,
        corpora=args.corpora,
    )
    try:
        print(
            f"fake Graph server seeded in {fake.ready['seconds']:.0f} s, up after "
            f"{time.perf_counter() - started:.0f} s ({fake.ready['graph_url']}, "
            f"latency {args.latency * 1000:g} ms)"
        )
        if messages:
            cold_sync(fake, args.latency)
        if mailboxes:
            snapshots(fake, args)
    finally:
        fake.close()
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
