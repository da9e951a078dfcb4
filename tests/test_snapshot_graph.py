"""``snapshot take --graph``: Exchange Online mailboxes measured through Microsoft Graph by an
application signing in as itself, against the loopback Graph server (tests/support/graph/),
MSAL and httpx unmodified. The oracle is the server's own mailboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailclean.snapshot.cli import snapshot
from mailclean.snapshot.store import SnapshotStore
from tests.support.corpora import seeded
from tests.support.graph import GraphServer

CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "app-secret~Value"
MAILBOXES = {  # mailbox -> (team, seed, messages)
    "agent.a@mairie.example": ("Voirie", 21, 140),
    "agent.b@mairie.example": ("Voirie", 22, 120),
    "agent.c@mairie.example": ("Culture", 23, 130),
}
#: A mailbox of the tenant that the application was not given (RBAC for Applications).
OUTSIDE = "elu.d@mairie.example"


@pytest.fixture
def server(graph_tls: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphServer]:
    monkeypatch.setenv("APP_SECRET", SECRET)
    with GraphServer(tls=graph_tls) as running:
        running.register_app(CLIENT, secret=SECRET, application_permissions=("Mail.Read",),
                             allowed_mailboxes=set(MAILBOXES))
        for email, (_team, seed, count) in MAILBOXES.items():
            running.seed(seeded(seed, count), email=email)
        running.seed(seeded(24, 120), email=OUTSIDE)
        yield running


class Cli:
    def __init__(self, tmp_path: Path, server: GraphServer, cafile: Path) -> None:
        self.db = tmp_path / "snapshots.db"
        self.accounts = tmp_path / "staff.csv"
        self.server = server
        self.cafile = cafile

    def staff(self, *extra: str) -> None:
        lines = [f"{email},{team}" for email, (team, _s, _n) in MAILBOXES.items()]
        self.accounts.write_text("mailbox,team\n" + "\n".join([*lines, *extra]) + "\n", "utf-8")

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(snapshot, [*args, "--snapshots", str(self.db)],
                                    catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    def take(self, label: str, *extra: str, code: int = 0) -> Result:
        s = self.server
        return self("take", label, "--graph", "--tenant-id", s.tenant_id, "--client-id", CLIENT,
                    "--client-secret-env", "APP_SECRET", "--graph-url", s.graph_url,
                    "--authority-url", s.authority_url, "--cafile", str(self.cafile),
                    "--accounts", str(self.accounts), *extra, code=code)


@pytest.fixture
def cli(tmp_path: Path, server: GraphServer, graph_tls: tuple[Path, Path]) -> Cli:
    c = Cli(tmp_path, server, graph_tls[0])
    c.staff()
    return c


def truth(server: GraphServer, email: str) -> tuple[int, int, int]:
    """The server's own messages, bytes, and bytes in Deleted Items (and below it)."""
    store = server.mailbox(email)
    trash = store.path(store.by_well_known["deleteditems"])
    status = store.truth()
    in_trash = sum(b for p, (_n, b) in status.items() if p == trash or p.startswith(trash + "/"))
    return (sum(n for n, _b in status.values()), sum(b for _n, b in status.values()), in_trash)


def test_quick_snapshot_through_graph_equals_the_server_with_one_token(
        cli: Cli, server: GraphServer) -> None:
    server.reset_counts()
    result = cli.take("before")  # 8 mailboxes at once: the first signs in, the others wait
    assert "3 of 3 mailboxes measured, 0 failed" in result.output
    with SnapshotStore(cli.db) as store:
        info = store.get("before")
        measured = {r.mailbox: r for r in store.mailboxes(info.id)}
    assert info.options["access"]["kind"] == "graph" and (info.scope or "").startswith("graph://")
    assert SECRET not in json.dumps(info.options)
    for email in MAILBOXES:
        messages, size, in_trash = truth(server, email)
        row = measured[email]
        assert (row.state, row.messages, row.bytes) == ("done", messages, size)
        assert row.roles["trash"][1] == in_trash
        assert row.quota_used is None  # Graph gives an application no quota: not zero
    # One sign-in for the whole run: the connectors share the application's token.
    counts = server.request_counts()
    assert counts.get("token") == 1, counts
    assert counts.get("delta", 0) == 0  # quick: no message read


def test_a_mailbox_outside_the_apps_scope_fails_alone_and_says_what_to_do(
        cli: Cli, server: GraphServer) -> None:
    cli.staff(f"{OUTSIDE},Élus", "nobody@mairie.example,Élus")
    result = cli.take("scoped", code=3)
    assert "3 of 5 mailboxes measured, 2 failed" in result.output
    with SnapshotStore(cli.db) as store:
        info = store.get("scoped")
        measured = {r.mailbox: r for r in store.mailboxes(info.id)}
        attempts = dict(store.conn.execute(
            "SELECT mailbox, attempts FROM snapshot_mailboxes WHERE snapshot_id = ?",
            [info.id]).fetchall())
    outside = measured[OUTSIDE]
    assert outside.state == "failed"
    assert "RBAC" in (outside.error or "") or "access policy" in (outside.error or "")
    assert attempts["nobody@mairie.example"] == 1  # a mailbox the tenant lacks: not retried
    assert SECRET not in result.output


def test_full_snapshot_through_graph_and_the_comparison_says_archives_are_not_measured(
        cli: Cli, server: GraphServer, tmp_path: Path) -> None:
    cli.take("before", "--full")
    mailbox = server.mailbox("agent.a@mairie.example")
    trash = mailbox.by_well_known["deleteditems"]
    for m in list(mailbox.messages(mailbox.path(mailbox.by_well_known["inbox"])))[:20]:
        mailbox.move(m.immutable_id, mailbox.path(trash))
    cli.take("after", "--full")
    with SnapshotStore(cli.db) as store:
        rows = {r.mailbox: r for r in store.mailboxes(store.get("after").id)}
    a = rows["agent.a@mairie.example"]
    assert a.reclaimable_bytes is not None and 0 < a.reclaimable_bytes <= a.bytes
    assert a.categories["newsletters"] > 0
    html = tmp_path / "report.html"
    result = cli("compare", "before", "after", "--html", str(html))
    assert "archive not measured" in result.output
    assert "Online archives: not measured in before, after" in html.read_text("utf-8")
    shown = json.loads(cli("compare", "before", "after", "--json").stdout)
    assert shown["before"]["archives_measured"] is False


@pytest.mark.parametrize(("extra", "words"), [
    (("--graph",), "--tenant-id is required"),
    (("--graph", "--tenant-id", "t"), "--client-id is required"),
    (("--graph", "--tenant-id", "t", "--client-id", "c"), "--client-secret-env"),
    (("--graph", "--tenant-id", "t", "--client-id", "c", "--client-secret-env", "X",
      "--admin-user", "a"), "not for --graph"),
    (("--graph", "--tenant-id", "t", "--client-id", "c", "--client-secret-env", "X",
      "--graph-url", "http://graph.example/v1.0"), "https://"),
    (("--server", "imap.example", "--admin-user", "a", "--tenant-id", "t"), "options of --graph"),
    (("--ews", "https://x/EWS/Exchange.asmx", "--admin-user", "a", "--auth", "token"),
     "not for --ews"),
])
def test_graph_options_that_do_not_go_together_are_usage_errors(
        cli: Cli, extra: tuple[str, ...], words: str) -> None:
    result = cli("take", "--accounts", str(cli.accounts), *extra, code=2)
    assert words in result.output
