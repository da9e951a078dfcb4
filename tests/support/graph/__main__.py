"""Run the loopback Graph + identity platform server in its own process (for bench/, and by
hand with curl, httpx or MSAL).

    python -m tests.support.graph [--generate 300] [--bulk 20000] [--seed 1] [--port 0]
                                  [--latency 0.0] [--plain-http]

Makes a self-signed certificate (CA and server at once, CN=localhost, SAN 127.0.0.1) in a
temporary directory unless ``--plain-http``, registers one app with a client secret, seeds the
default mailbox (``mailgen.generate`` or ``mailgen.generate_bulk``), approves device codes for
the mailbox's user, and prints one JSON line on stdout once it listens::

    {"graph_url": ..., "authority_url": ..., "tenant_id": ..., "client_id": ...,
     "client_secret": ..., "cafile": ..., "email": ..., "token": ..., "items": ...}

(``token`` is a delegated access token for that user, for ``--auth token``). Serves until
stdin closes. Request counts are at ``/_test/stats``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from mailclean import mailgen
from tests.dovecot import _make_certificate
from tests.support.graph.server import GraphServer

CLIENT_ID = "00000000-0000-0000-0000-00000000c11e"
CLIENT_SECRET = "loopback-secret"


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, stop when stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.graph", description=__doc__)
    parser.add_argument("--bulk", type=int, default=0, help="messages from generate_bulk")
    parser.add_argument("--generate", type=int, default=0, help="messages from generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--plain-http", action="store_true", help="no TLS (MSAL refuses it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="graph-fake-") as tmp:
        tls = None
        if not args.plain_http:
            cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            _make_certificate(cert, key)
            tls = (cert, key)
        server = GraphServer(tls=tls, port=args.port, latency=args.latency, device_code_interval=1)
        server.register_app(
            CLIENT_ID,
            secret=CLIENT_SECRET,
            delegated_permissions=("Mail.ReadWrite", "User.Read"),
        )
        if args.bulk:
            server.seed(mailgen.generate_bulk(args.bulk, seed=args.seed))
        if args.generate:
            server.seed(mailgen.generate(args.seed, messages=args.generate))
        server.approve_device_codes(server.email, after_polls=0)
        items = sum(count for count, _ in server.store.truth().values())
        with server:
            ready = {
                "graph_url": server.graph_url,
                "authority_url": server.authority_url,
                "tenant_id": server.tenant_id,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "cafile": str(tls[0]) if tls else None,
                "email": server.email,
                "token": server.issue_token(CLIENT_ID),
                "items": items,
            }
            print(json.dumps(ready), flush=True)
            sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
