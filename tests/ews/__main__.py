"""Run the loopback EWS server in its own process (for bench/, and by hand).

    python -m tests.ews [--bulk 20000] [--seed 1] [--generate 300] [--port 0]

Seeds the default mailbox (``mailgen.generate_bulk`` or ``mailgen.generate``), prints
``READY <url> <items>`` on stdout once it listens, and serves until stdin closes. Request
counts are at ``/_test/stats``.
"""

from __future__ import annotations

import argparse
import sys

from mailclean import mailgen
from tests.ews.server import EwsServer


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, stop when stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m tests.ews", description=__doc__)
    parser.add_argument("--bulk", type=int, default=0, help="messages from generate_bulk")
    parser.add_argument("--generate", type=int, default=0, help="messages from generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = EwsServer(port=args.port)
    if args.bulk:
        server.seed(mailgen.generate_bulk(args.bulk, seed=args.seed))
    if args.generate:
        server.seed(mailgen.generate(args.seed, messages=args.generate))
    items = sum(count for count, _ in server.store.truth().values())
    with server:
        print(f"READY {server.url} {items}", flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
