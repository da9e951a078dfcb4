"""Microsoft Graph connector: Graph's JSON read into the model, the words of every sign-in
and Graph failure, Retry-After, the account's settings; then sync, actions, throttling and
sign-in through the loopback Graph server (``tests/support/graph``), with MSAL and httpx
unmodified.
"""

from __future__ import annotations

import email
import email.utils
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from mailclean import actions, mailgen, mime
from mailclean import config as cfg
from mailclean.connectors.base import (
    AuthenticationError,
    ConnectionFailed,
    ConnectorError,
    Credentials,
    FolderNotFound,
    MailboxNotFound,
    MessagesAdded,
    TLSError,
)
from mailclean.connectors.graph import (
    GraphConnector,
    GraphSettings,
    attachments_from_json,
    message_from_json,
    parse_retry_after,
    size_of,
)
from mailclean.connectors.graph.errors import ErrorMapper, GraphError, TokenError
from mailclean.connectors.graph.folders import folder_identity
from mailclean.connectors.graph.http import backoff
from mailclean.connectors.graph.items import query, utc_iso
from mailclean.connectors.graph.sync import _read_page, stale_token
from mailclean.index import Index
from mailclean.index.journal import Journal
from mailclean.model import ItemRef
from mailclean.plugins import connector_for
from mailclean.sync import SyncReport, sync_account
from tests.support.contract import GraphAdapter
from tests.support.graph import GraphServer

EMAIL = "j.dupont@mairie.example.fr"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


# -- Graph's JSON -> the model ------------------------------------------------------------------


def _message(**kw: object) -> dict:
    base: dict = {
        "id": "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AAAAAAQ==",
        "changeKey": "CQAAABYAAAD",
        "parentFolderId": "inbox-id",
        "internetMessageId": "<abc@example.org>",
        "subject": "Réunion",
        "receivedDateTime": "2024-03-05T08:09:10Z",
        "sentDateTime": "2024-03-05T08:09:00Z",
        "isRead": True,
        "flag": {"flagStatus": "flagged"},
        "hasAttachments": False,
        "isDraft": False,
        "from": {"emailAddress": {"name": "Lettre", "address": "News@Example.org"}},
        "toRecipients": [{"emailAddress": {"name": "J", "address": "J.Dupont@Example.fr"}}],
        "internetMessageHeaders": [
            {"name": "From", "value": "=?utf-8?q?Lettre_d=C3=A9partementale?= <news@example.org>"},
            {"name": "To", "value": "j.dupont@mairie.example.fr"},
            {"name": "Subject", "value": "=?utf-8?q?R=C3=A9union?="},
            {"name": "Date", "value": "Tue, 05 Mar 2024 09:09:00 +0100"},
            {"name": "Message-ID", "value": "<abc@example.org>"},
            {"name": "References", "value": "<root@example.org> <mid@example.org>"},
            {"name": "List-Id", "value": "Lettre <lettre.example.org>"},
            {"name": "List-Unsubscribe", "value": "<https://example.org/u?x=1>"},
            {"name": "List-Unsubscribe-Post", "value": "List-Unsubscribe=One-Click"},
            {"name": "Feedback-ID", "value": "1:2:3:esp"},
            {"name": "X-Mailer", "value": "Sendinblue"},
            {"name": "Received", "value": "from a by b; Tue, 05 Mar 2024 09:09:00 +0100"},
        ],
        "singleValueExtendedProperties": [{"id": "Long 0xe08", "value": "48213"}],
    }
    base.update(kw)
    return base


def test_message_from_json_reads_headers_size_and_flags() -> None:
    meta = message_from_json(_message())
    assert meta.server_id.startswith("AAkAL") and meta.change_key == "CQAAABYAAAD"
    assert meta.size == 48213 and meta.problems == []
    assert (meta.seen, meta.flagged) == (True, True)
    assert meta.received_at == "2024-03-05T08:09:10+00:00"
    assert meta.date == "2024-03-05T08:09:00+00:00"
    assert meta.subject == "Réunion"
    assert (meta.sender, meta.sender_name) == ("news@example.org", "Lettre départementale")
    assert meta.message_id == "abc@example.org" and meta.thread_key == "root@example.org"
    assert meta.list_id == "lettre.example.org"
    assert meta.list_unsubscribe == "<https://example.org/u?x=1>"
    assert meta.list_unsubscribe_post == "List-Unsubscribe=One-Click"
    assert (meta.feedback_id, meta.mailer) == ("1:2:3:esp", "Sendinblue")
    assert meta.recipients == "j.dupont@mairie.example.fr"


def test_a_draft_without_internet_headers_is_read_from_its_properties() -> None:
    meta = message_from_json(_message(internetMessageHeaders=None, isDraft=True,
                                      flag={"flagStatus": "notFlagged"}, isRead=False))
    assert meta.subject == "Réunion"
    assert (meta.sender, meta.sender_name) == ("news@example.org", "Lettre")
    assert meta.message_id == "abc@example.org" and meta.thread_key == "abc@example.org"
    assert meta.date == "2024-03-05T08:09:00+00:00"
    assert meta.recipients == "j.dupont@example.fr"
    assert (meta.seen, meta.flagged) == (False, False)


@pytest.mark.parametrize("prop_id", ["Long 0x0E08", "Long 0xe08", "long 0x0e08", "LONG 0XE08",
                                     " Long  0x00000E08 "])
def test_size_property_matched_whatever_its_casing(prop_id: str) -> None:
    assert size_of({"singleValueExtendedProperties": [
        {"id": "String 0x1000", "value": "7"}, {"id": prop_id, "value": "12"}]}) == 12


@pytest.mark.parametrize("props", [None, [], [{"id": "Long 0x0E09", "value": "1"}],
                                   [{"id": "Long 0xe08", "value": "many"}],
                                   [{"id": "Long 0xe08", "value": "-4"}], ["junk"]])
def test_size_missing_or_unreadable(props: object) -> None:
    assert size_of({"singleValueExtendedProperties": props}) is None
    meta = message_from_json(_message(singleValueExtendedProperties=props))
    assert meta.size == 0 and meta.problems == ["no item size"]


def test_attachments_metadata() -> None:
    found = attachments_from_json([
        {"@odata.type": "#microsoft.graph.fileAttachment", "id": "1", "name": "budget.pdf",
         "size": 120_000, "contentType": "Application/PDF", "isInline": False},
        {"@odata.type": "#microsoft.graph.itemAttachment", "id": "2", "name": "Fwd",
         "size": 3_000, "contentType": None, "isInline": False},
        {"@odata.type": "#microsoft.graph.fileAttachment", "id": "3", "name": "logo.png",
         "size": True, "contentType": "image/png", "isInline": True},
        "garbage",
    ])
    assert [(a.part, a.filename, a.mime_type, a.size, a.disposition) for a in found] == [
        ("1", "budget.pdf", "application/pdf", 120_000, "attachment"),
        ("2", "Fwd", "message/rfc822", 3_000, "attachment"),
        ("3", "logo.png", "image/png", 0, "inline"),
    ]
    meta = message_from_json(_message(hasAttachments=True), found)
    assert meta.attachments == found


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-03-05T08:09:10Z", "2024-03-05T08:09:10+00:00"),
    ("2024-03-05T08:09:10.1234567Z", "2024-03-05T08:09:10+00:00"),  # .NET's 7 digits
    ("2024-03-05T09:09:10.123+01:00", "2024-03-05T08:09:10+00:00"),
    ("2024-03-05T08:09:10", "2024-03-05T08:09:10+00:00"),
    ("yesterday", None), ("", None), (None, None), (12, None),
])
def test_dates(value: object, expected: str | None) -> None:
    assert utc_iso(value) == expected


def test_delta_page_with_removed_items() -> None:
    page = _read_page({
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/x?$skiptoken=1",
        "value": [
            _message(id="a"), {"id": "b", "@removed": {"reason": "deleted"}},
            {"id": "a", "@removed": {"reason": "changed"}}, _message(id="c"),
            {"id": "c", "@removed": {"reason": "changed"}}, _message(id="c"), {"no": "id"},
        ],
    })
    assert list(page.added) == ["c"] and list(page.removed) == ["b", "a"]
    assert page.next_link and page.delta_link is None


def test_query_encodes_filters() -> None:
    q = query(includeHiddenFolders="true", select="id,displayName",
              expand="singleValueExtendedProperties($filter=id eq 'Long 0x0E08')", top=250)
    assert q == ("?includeHiddenFolders=true&$select=id,displayName&$expand="
                 "singleValueExtendedProperties($filter=id%20eq%20'Long%200x0E08')&$top=250")


# -- Retry-After and back-off -------------------------------------------------------------------


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("") is None
    assert parse_retry_after("soon") is None and parse_retry_after("nan") is None
    now = time.time()
    later = email.utils.format_datetime(datetime.fromtimestamp(now + 30, UTC), usegmt=True)
    assert 28 <= (parse_retry_after(later, now=now) or 0) <= 31
    past = email.utils.format_datetime(datetime.fromtimestamp(now - 30, UTC), usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_backoff_grows_with_jitter_and_a_ceiling() -> None:
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (20, 60.0)):
        for _ in range(20):
            assert ceiling / 2 <= backoff(attempt) <= ceiling


# -- the words of failures ----------------------------------------------------------------------


def settings(**kw: object) -> GraphSettings:
    base: dict = dict(email=EMAIL, tenant_id=TENANT, client_id=CLIENT, auth="device-code",
                      account="work")
    base.update(kw)
    return GraphSettings(**base)


def _token_error(code: int, error: str = "invalid_client") -> TokenError:
    return TokenError.from_result({
        "error": error,
        "error_description": f"AADSTS{code}: Something. Trace ID: 0f0f Correlation ID: 1e1e "
                             "Timestamp: 2024-03-05 08:09:10Z",
        "error_codes": [code],
    })


@pytest.mark.parametrize(("code", "auth", "words"), [
    (65001, "device-code", ["delegated permission", "Mail.ReadWrite", "Grant admin consent"]),
    (65001, "client-secret", ["application permission", "Grant admin consent", CLIENT]),
    (90002, "device-code", ["no Microsoft 365 tenant", TENANT, "--tenant-id"]),
    (900023, "client-secret", ["no Microsoft 365 tenant", "Directory (tenant) ID"]),
    (7000222, "client-secret", ["has expired", "creates a new one", "SECRET_VAR"]),
    (7000215, "client-secret", ["SECRET_VAR", "Value (not its Secret ID)"]),
    (700016, "certificate", ["has no application", "--client-id"]),
    (7000218, "device-code", ["Allow public client flows"]),
    (700027, "certificate", ["is not registered", "/etc/app.pem"]),
    (700082, "device-code", ["mailclean account test work"]),
    (50999, "device-code", ["refused", "AADSTS50999"]),
])
def test_sign_in_failures_say_what_to_do(code: int, auth: str, words: list[str]) -> None:
    mapper = ErrorMapper(settings(auth=auth, secret_source="the environment variable SECRET_VAR",
                                  certificate="/etc/app.pem", client_secret="hunter2"))
    exc = mapper.translate(_token_error(code))
    assert isinstance(exc, AuthenticationError)
    for word in words:
        assert word in str(exc)
    # Never Microsoft's own text (trace ids...), never the secret.
    assert "Trace ID" not in str(exc) and "Something" not in str(exc)
    assert "hunter2" not in str(exc)


@pytest.mark.parametrize(("error", "words"), [
    ("authorization_declined", "declined"), ("expired_token", "expired before it was entered"),
    ("invalid_grant", "mailclean account test work"),
])
def test_device_flow_endings(error: str, words: str) -> None:
    exc = ErrorMapper(settings()).translate(TokenError(error))
    assert isinstance(exc, AuthenticationError) and words in str(exc)


def test_graph_failures_say_what_to_do() -> None:
    app = ErrorMapper(settings(auth="client-secret"))
    denied = app.translate(GraphError(403, "ErrorAccessDenied", "Access is denied. Check..."))
    assert isinstance(denied, AuthenticationError)
    for word in ("RBAC for Applications", "application access policy",
                 "New-ManagementRoleAssignment", "Test-ApplicationAccessPolicy", CLIENT, EMAIL):
        assert word in str(denied)
    assert "Check" not in str(denied)
    agent = ErrorMapper(settings()).translate(GraphError(403, "ErrorAccessDenied"))
    assert "Mail.ReadWrite" in str(agent) and "Mail.Read " in str(agent)
    assert isinstance(app.translate(GraphError(404, "ErrorInvalidUser")), MailboxNotFound)
    assert isinstance(app.translate(GraphError(404, "ErrorItemNotFound")), FolderNotFound)
    slow = app.translate(GraphError(429, "ApplicationThrottled", waited=130.0))
    assert isinstance(slow, ConnectionFailed) and "130 s" in str(slow)
    assert isinstance(app.translate(GraphError(503)), ConnectionFailed)
    expired = ErrorMapper(settings(auth="token", secret_source="the environment variable TK"))
    refused = expired.translate(GraphError(401, "InvalidAuthenticationToken"))
    assert isinstance(refused, AuthenticationError) and "TK" in str(refused)
    other = app.translate(GraphError(400, "ErrorInvalidRequest", "<xml>bytes</xml>"))
    assert type(other) is ConnectorError and "xml" not in str(other)


def test_network_failures() -> None:
    import ssl

    import httpx

    mapper = ErrorMapper(settings(), connecting=True)
    request = httpx.Request("GET", "https://graph.example.org/v1.0/users")
    refused = httpx.ConnectError("[Errno 111] Connection refused", request=request)
    exc = mapper.translate(refused)
    assert isinstance(exc, ConnectionFailed) and "Connection refused" in str(exc)
    assert "graph.example.org" in str(exc)
    tls = httpx.ConnectError("boom", request=request)
    tls.__cause__ = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
           "certificate (_ssl.c:1000)")
    assert isinstance(mapper.translate(tls), TLSError)
    assert "self-signed certificate" in str(mapper.translate(tls))


def test_stale_delta_tokens() -> None:
    assert stale_token(GraphError(410, "SyncStateNotFound"))
    assert stale_token(GraphError(400, "syncStateNotFound"))
    assert not stale_token(GraphError(404, "ErrorItemNotFound"))


# -- the account's settings ---------------------------------------------------------------------


def graph_account(**kw: object) -> cfg.AccountConfig:
    base: dict = dict(name="work", kind="graph", email=EMAIL, tenant_id=TENANT, client_id=CLIENT,
                      auth="device-code")
    base.update(kw)
    return cfg.AccountConfig(**base)


@pytest.mark.parametrize(("changes", "message"), [
    ({"email": None}, "'email'"),
    ({"auth": "device_code"}, "auth must be one of device-code, client-secret, certificate, "
                              "token, not 'device_code'; did you mean 'device-code'"),
    ({"tenant_id": None}, "'tenant_id' is missing"),
    ({"client_id": None}, "'client_id' is missing"),
    ({"auth": "client-secret"}, "needs 'client_secret_env'"),
    ({"auth": "certificate"}, "needs 'certificate'"),
    ({"auth": "token", "tenant_id": None}, "needs 'token_env'"),
    ({"graph_url": "http://graph.example.org/v1.0"}, "graph_url must use https://"),
    ({"authority_url": "ftp://login.example.org"}, "authority_url must be an https:// URL"),
    ({"graph_url": "https://me:pw@graph.example.org/v1.0"}, "must not hold a login"),
])
def test_graph_account_validation(changes: dict, message: str) -> None:
    with pytest.raises(cfg.ConfigError, match=message.replace("(", "\\(").replace(")", "\\)")):
        graph_account(**changes).validate()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v1.0", "http://localhost/v1.0",
                                 "http://[::1]:9/v1.0", "https://graph.microsoft.us/v1.0"])
def test_loopback_http_and_https_are_accepted(url: str) -> None:
    graph_account(graph_url=url, authority_url=url.rsplit("/", 1)[0]).validate()


def test_no_secret_in_a_secret_free_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_SECRET", "s3cr3t-value")
    config = cfg.load(tmp_path / "c.toml")
    config.add(graph_account(auth="client-secret", client_secret_env="GRAPH_SECRET"))
    config.add(graph_account(name="agent"))
    config.save()
    text = (tmp_path / "c.toml").read_text()
    assert "s3cr3t-value" not in text and "GRAPH_SECRET" in text
    again = cfg.load(tmp_path / "c.toml")
    conn = connector_for(again.account("work"), lambda: pytest.fail("no password is asked"))
    assert isinstance(conn, GraphConnector)
    assert conn.settings.client_secret == "s3cr3t-value"
    assert conn.settings.scopes == ["https://graph.microsoft.com/.default"]
    assert "s3cr3t-value" not in repr(conn.settings)
    agent = connector_for(again.account("agent"), lambda: pytest.fail("no password is asked"))
    assert agent.settings.scopes == ["https://graph.microsoft.com/Mail.ReadWrite"]
    assert agent.settings.authority == f"https://login.microsoftonline.com/{TENANT}"
    assert agent.settings.mailbox == f"/users/{EMAIL}"
    monkeypatch.delenv("GRAPH_SECRET")
    with pytest.raises(ConnectorError, match="GRAPH_SECRET, which is not set"):
        connector_for(again.account("work"), lambda: "")
    assert [ep.load() for ep in entry_points(group="mailclean.connectors")
            if ep.name == "graph"] == [GraphConnector]


def test_national_cloud_scopes() -> None:
    assert settings(graph_url="https://graph.microsoft.us/v1.0").scopes == [
        "https://graph.microsoft.us/Mail.ReadWrite"]
    # A test server or a proxy in front of Graph hands out tokens for Graph itself.
    assert settings(graph_url="https://127.0.0.1:4443/v1.0", auth="certificate").scopes == [
        "https://graph.microsoft.com/.default"]


def test_plain_http_refused_at_connect() -> None:
    conn = GraphConnector(settings(graph_url="http://graph.example.org/v1.0", auth="token",
                                   token="t"))
    with pytest.raises(ConnectorError, match="https://"):
        conn.connect()


def test_an_unreachable_sign_in_server() -> None:
    conn = GraphConnector(settings(authority_url="https://127.0.0.1:9",
                                   graph_url="https://127.0.0.1:9/v1.0"))
    with pytest.raises(ConnectionFailed, match=r"cannot connect to 127\.0\.0\.1:9"):
        conn.connect()


def test_credentials_interface_is_used() -> None:
    kept: list[dict] = []
    creds = Credentials(password=lambda: pytest.fail("no password"), save_token=kept.append,
                        load_token=lambda: {"msal_cache": "{}"})
    conn = GraphConnector.from_account(graph_account(), creds)
    assert conn.load_token() == {"msal_cache": "{}"}
    conn.save_token({"msal_cache": "x"})
    assert kept == [{"msal_cache": "x"}]


# == against the loopback Graph server =========================================================

PARSED: dict = {}
SECRET = "s3cret-Value~1"


@lru_cache(maxsize=1)
def corpus() -> tuple[mailgen.GeneratedMessage, ...]:
    return tuple(mailgen.generate(7, messages=300))


@pytest.fixture
def server(graph_tls: tuple[Path, Path]) -> Iterator[GraphServer]:
    with GraphServer(tls=graph_tls, device_code_interval=1) as running:
        running.register_app(CLIENT, secret=SECRET)
        running.seed(corpus(), cache=PARSED)
        yield running


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = Index(tmp_path / "index.db")
    yield idx
    idx.close()


def connector(server: GraphServer, graph_tls: tuple[Path, Path] | None = None, **kw: object
              ) -> GraphConnector:
    fields: dict = dict(email=server.email, tenant_id=server.tenant_id, client_id=CLIENT,
                        auth="client-secret", client_secret=SECRET, graph_url=server.graph_url,
                        authority_url=server.authority_url, account="work", max_wait=10.0,
                        secret_source="the environment variable GRAPH_SECRET")
    if graph_tls is not None:
        fields["cafile"] = str(graph_tls[0])
    fields.update(kw)
    return GraphConnector(GraphSettings(**fields), **{
        k: v for k, v in kw.items() if k in ("load_token", "save_token", "on_device_code")})


@pytest.fixture
def conn_factory(server: GraphServer,
                 graph_tls: tuple[Path, Path]) -> Callable[..., GraphConnector]:
    def make(**kw: object) -> GraphConnector:
        hooks = {k: kw.pop(k) for k in ("load_token", "save_token", "on_device_code") if k in kw}
        c = connector(server, graph_tls, **kw)
        for k, v in hooks.items():
            setattr(c, k, v)
        return c
    return make


def sync(index: Index, conn: GraphConnector, **kw: object) -> SyncReport:
    kw.setdefault("sleep", lambda s: None)
    return sync_account(index, "work", conn, **kw)  # type: ignore[arg-type]


def indexed_by_folder(index: Index) -> dict[str, tuple[int, int]]:
    acc = index.account("work")["id"]
    return {f["name"]: (f["messages"], f["bytes"]) for f in index.stats(acc)["folders"]
            if f["messages"]}


def truth(server: GraphServer) -> dict[str, tuple[int, int]]:
    return {path: got for path, got in server.store.truth().items() if got[0]}


def assert_matches_server(index: Index, server: GraphServer) -> None:
    assert indexed_by_folder(index) == truth(server)
    keys = dict(index.db.execute("SELECT server_id, change_key FROM messages").fetchall())
    store = server.store
    expected = {m.immutable_id: m.change_key for path in store.truth()
                for m in store.messages(path)}
    assert keys == expected


def test_cold_sync_equals_server_and_generator(index: Index, server: GraphServer,
                                               conn_factory: Callable[..., GraphConnector]
                                               ) -> None:
    report = sync(index, conn_factory())
    assert_matches_server(index, server)
    assert report.messages == len(corpus()) and report.problems == 0
    assert report.count_mismatches == []
    rows = index.db.execute(
        "SELECT f.path, m.message_id, m.subject, m.sender, m.sender_name, m.date, m.size,"
        " m.seen, m.flagged, m.thread_key, m.list_unsubscribe, m.precedence, m.auto_submitted,"
        " m.list_unsubscribe_post, m.id, m.received_at, m.list_id"
        " FROM messages m JOIN folders f ON f.id = m.folder_id").fetchall()
    by_key = {(r[0], r[1], r[6]): r for r in rows}
    assert len(by_key) == len(rows) == len(corpus())
    for msg in corpus():
        row = by_key[(server.path_for(msg.folder), msg.message_id, msg.size)]
        where = f"{msg.folder} {msg.message_id} ({msg.kind}/{msg.malformed})"
        assert row[2] == msg.subject, where
        assert row[3] == msg.sender, where
        assert row[4] == msg.sender_name, where
        assert row[5] == (msg.date.isoformat() if msg.date else None), where
        assert bool(row[7]) == ("\\Seen" in msg.flags), where
        assert bool(row[8]) == ("\\Flagged" in msg.flags), where
        assert row[9] == msg.thread_root, where
        assert row[10] == msg.list_unsubscribe, where
        assert row[11] == (msg.precedence.lower() if msg.precedence else None), where
        assert row[12] == (msg.auto_submitted.lower() if msg.auto_submitted else None), where
        assert row[13] == msg.list_unsubscribe_post, where
        assert row[15] == msg.internal_date.replace(microsecond=0).isoformat(), where
        inside = re.search(r"<([^<>]+)>", msg.list_id or "")
        assert row[16] == (inside.group(1).lower() if inside else msg.list_id), where
        attachments = index.db.execute(
            "SELECT filename, mime_type, size FROM attachments WHERE message_id = ? ORDER BY id",
            [row[14]]).fetchall()
        # An attached message (an itemAttachment) is named by Exchange after its subject.
        assert attachments == [
            (a[0] if t.mime_type == "message/rfc822" and t.filename is None else t.filename,
             t.mime_type, t.decoded_size) for a, t in zip(attachments, msg.attachments,
                                                         strict=False)
        ] and len(attachments) == len(msg.attachments), where


def test_roles_from_well_known_folders(index: Index, server: GraphServer,
                                       conn_factory: Callable[..., GraphConnector]) -> None:
    sync(index, conn_factory())
    roles = {f.path: f.role for f in index.folders(index.account("work")["id"])}
    assert roles["Inbox"] == "inbox"
    for name, role in (("sentitems", "sent"), ("drafts", "drafts"), ("deleteditems", "trash"),
                       ("junkemail", "junk"), ("archive", "archive")):
        assert roles[server.store.path(server.store.by_well_known[name])] == role
    assert roles["Archives/2019"] is None and roles["Projets/Délibérations"] is None


def test_roles_do_not_depend_on_the_mailbox_language(graph_tls: tuple[Path, Path], tmp_path: Path
                                                      ) -> None:
    with GraphServer(tls=graph_tls, locale="fr") as server:
        server.register_app(CLIENT, secret=SECRET)
        server.seed(corpus()[:100], cache=PARSED)
        conn = connector(server, graph_tls)
        conn.connect()
        try:
            roles = {f.path: f.role for f in conn.list_folders()}
        finally:
            conn.close()
    assert roles["Boîte de réception"] == "inbox"
    assert roles["Éléments envoyés"] == "sent" and roles["Éléments supprimés"] == "trash"


def _top_type(raw: bytes) -> str:
    return email.message_from_bytes(raw).get_content_type()


def _top_level(counts: dict[str, int]) -> int:
    """HTTP requests (a $batch counts one; its sub-requests are counted by kind too)."""
    subs = counts.get("batch.sub", 0)
    return sum(v for k, v in counts.items() if k != "batch.sub") - subs


def test_requests_needed_for_a_cold_and_an_unchanged_sync(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    server.reset_counts()
    sync(index, conn_factory())
    counts = server.request_counts()
    listed = len(server.store.truth())
    # hasAttachments is false for inline images: multipart/related and multipart/mixed
    # messages are asked too.
    asked = [m for m in corpus() if m.attachments or _top_type(m.raw) in (
        "multipart/related", "multipart/mixed")]
    assert counts["attachments"] == len(asked)
    # Sign-in (discovery, token), the well-known folders (one batch), the folder tree (one
    # request, then one batch for the only level of subfolders), one delta page per folder
    # (pages of 500), and the attachments' metadata by batches of 20 (per page, so per
    # folder here).
    per_folder = Counter(m.folder for m in asked)
    attachment_batches = sum(-(-n // 20) for n in per_folder.values())
    assert counts["delta"] == listed
    assert counts["batch"] == 1 + 1 + attachment_batches
    assert _top_level(counts) == 2 + 1 + counts["batch"] + counts["delta"]
    # Nothing changed: the well-known folders, the tree, one delta request per folder; the
    # application's token is reused (the same MSAL application in the process).
    server.reset_counts()
    report = sync(index, conn_factory())
    again = server.request_counts()
    assert report.new == report.removed == 0
    assert again.get("attachments", 0) == 0 and again["delta"] == counts["delta"]
    assert again["batch"] == 2 and again.get("token", 0) == 0
    assert _top_level(again) == 1 + 2 + listed


def test_incremental_sync_follows_every_kind_of_change(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    sync(index, conn_factory())
    store = server.store
    inbox = store.messages("Inbox")
    raw = corpus()[0].raw
    store.add("Inbox", raw, is_read=True)
    store.delete(inbox[0].id)
    store.move(inbox[1].id, "Archives/2019")
    store.set_flags(inbox[2].id, flagged=True)
    store.set_flags(inbox[3].id, is_read=not inbox[3].is_read)
    report = sync(index, conn_factory())
    assert_matches_server(index, server)
    assert report.removed >= 2 and report.new >= 2
    flags = dict(((r[0]), (r[1], r[2])) for r in index.db.execute(
        "SELECT server_id, seen, flagged FROM messages"))
    assert flags[inbox[2].immutable_id][1] == 1
    assert flags[inbox[3].immutable_id][0] == (not inbox[3].is_read)


def test_expired_delta_token_reindexes_the_folder(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    sync(index, conn_factory())
    server.expire_delta_tokens()
    report = sync(index, conn_factory())
    assert sorted(report.reset_folders) == sorted(server.store.truth())
    assert report.new == len(corpus())
    assert_matches_server(index, server)


def test_folder_recreated_under_the_same_name_is_reset(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    sync(index, conn_factory())
    server.store.recreate_folder("Archives/2019")
    report = sync(index, conn_factory())
    assert report.reset_folders == ["Archives/2019"]
    assert_matches_server(index, server)


def test_interrupted_sync_resumes_from_the_last_page(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    conn = conn_factory(page_size=40)
    conn.connect()
    try:
        info = next(f for f in conn.list_folders() if f.path == "Inbox")
        acc = index.ensure_account("work", "graph", None)
        index.add_folder(acc, info)
        row = index.folders(acc, "Inbox")[0]
        changes = conn.sync_folder(info, row.state, lambda: set())
        for change in changes:
            if isinstance(change, MessagesAdded):
                index.add_messages(acc, row.id, change.messages, change.state)
                break
        changes.close()
    finally:
        conn.close()
    state = index.folders(acc, "Inbox")[0].state
    assert state.sync_token and "skiptoken" in state.sync_token.lower()
    server.reset_counts()
    report = sync(index, conn_factory(page_size=40))
    assert report.reset_folders == []
    assert_matches_server(index, server)
    assert report.new == len(corpus()) - 40


def test_throttling_is_waited_out_top_level_and_in_batches(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    server.throttle(2, retry_after=0, path_contains="delta")
    server.throttle(3, retry_after=0, in_batch=True, path_contains="attachments")
    server.throttle(1, retry_after=0, status=503, path_contains="mailFolders")
    conn = conn_factory()
    report = sync(index, conn)
    assert report.reconnections == 0
    assert server.throttled >= 6
    assert_matches_server(index, server)


def test_at_most_four_requests_in_flight(index: Index, graph_tls: tuple[Path, Path]) -> None:
    with GraphServer(tls=graph_tls, latency=0.01) as server:
        server.register_app(CLIENT, secret=SECRET)
        server.seed(corpus(), cache=PARSED)
        report = sync(index, connector(server, graph_tls))
        assert server.throttled == 0 and report.messages == len(corpus())
        assert server.peak_in_flight() == 4


def test_a_server_that_keeps_throttling_is_reported(
        server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    conn = conn_factory(max_wait=0.5)
    conn.connect()
    server.throttle(1000, retry_after=1, path_contains="mailFolders")
    try:
        with pytest.raises(ConnectionFailed, match="keeps asking to slow down"):
            conn.list_folders()
    finally:
        conn.close()
        server.clear_faults()


def test_dropped_connection_mid_sync_resumes(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    server.drop(1, path_contains="delta", after=2)
    report = sync(index, conn_factory())
    assert_matches_server(index, server)
    assert report.new == len(corpus())


def test_abort_stops_a_throttling_wait(server: GraphServer,
                                       conn_factory: Callable[..., GraphConnector]) -> None:
    conn = conn_factory(max_wait=60.0)
    conn.connect()
    server.throttle(1000, retry_after=30, path_contains="mailFolders")
    threading.Timer(0.3, conn.abort).start()
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionFailed):
            conn.list_folders()
    finally:
        conn.close()
        server.clear_faults()
    assert time.monotonic() - started < 5


# -- actions ------------------------------------------------------------------------------------


def _inbox_plan(index: Index, kind: str = "trash") -> actions.Plan:
    return actions.plan(index, "work", kind, actions.Selection(folders=("Inbox",)))


def test_trash_then_undo_keep_the_immutable_ids(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    sync(index, conn_factory())
    store = server.store
    before = store.truth()
    trash = store.path(store.by_well_known["deleteditems"])
    p = _inbox_plan(index)
    conn = conn_factory()
    conn.connect()
    server.reset_counts()
    try:
        outcome = actions.execute(index, conn, p)
    finally:
        conn.close()
    assert outcome.action.state == "done" and outcome.action.count("done") == (p.messages, p.bytes)
    counts = server.request_counts()
    # Identity checks and moves, 20 to a batch.
    assert counts["move"] == p.messages and counts["message"] >= p.messages
    assert counts["batch"] <= 2 * -(-p.messages // 20) + 2
    assert len(store.messages("Inbox")) == p.protected > 0  # flagged ones stay
    in_trash = {m.immutable_id for m in store.messages(trash)}
    items = Journal(index).items(outcome.action.id)
    assert all(i.target_id == i.server_id and i.server_id in in_trash for i in items)
    assert sync(index, conn_factory()).removed == 0  # the index followed the moves
    conn = conn_factory()
    conn.connect()
    try:
        _plan, undone = actions.undo(index, conn, "work", outcome.action.id)
    finally:
        conn.close()
    assert undone is not None and undone.action.count("done") == (p.messages, p.bytes)
    assert store.truth() == before
    report = sync(index, conn_factory())
    assert report.removed == 0 and indexed_by_folder(index) == truth(server)


def test_messages_changed_by_another_client_are_skipped(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    sync(index, conn_factory())
    store = server.store
    p = _inbox_plan(index)
    first, second, third, fourth = p.items[:4]
    store.set_flags(first.server_id, flagged=True)             # flagged since: protected
    store.set_flags(second.server_id, flagged=True)            # changed (a new change key)
    store.set_flags(second.server_id, flagged=False)
    store.move(third.server_id, "Archives/2019")               # gone from the folder
    store.set_flags(fourth.server_id, is_read=True)            # read: the change key stays
    conn = conn_factory()
    conn.connect()
    try:
        outcome = actions.execute(index, conn, p)
    finally:
        conn.close()
    reasons = {s: r for _f, s, r in outcome.skipped}
    assert reasons == {first.server_id: "flagged", second.server_id: "changed",
                       third.server_id: "vanished"}
    assert outcome.action.count("done")[0] == p.messages - 3


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_soft_and_hard_delete_are_what_they_say(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector],
        hard: bool) -> None:
    sync(index, conn_factory())
    store = server.store
    trash = store.path(store.by_well_known["deleteditems"])
    p = actions.plan(index, "work", "delete", actions.Selection(folders=(trash,)))
    assert p.messages > 0
    ids = {m.immutable_id for m in store.messages(trash)}
    conn = conn_factory(hard_delete=hard)
    conn.connect()
    server.reset_counts()
    try:
        outcome = actions.execute(index, conn, p)
    finally:
        conn.close()
    assert conn.delete_mode == ("hard" if hard else "soft")
    assert outcome.action.count("done") == (p.messages, p.bytes)
    assert store.messages(trash) == []
    counts = server.request_counts()
    assert counts["permanentDelete" if hard else "delete"] == p.messages
    recoverable = {m.immutable_id for m in store.recoverable(trash)}
    assert recoverable == (set() if hard else ids)
    freed = Journal(index).freed(1)
    assert freed["deleted_bytes"] == p.bytes
    assert freed["recoverable_bytes"] == (0 if hard else p.bytes)


def test_export_fetches_the_mime(server: GraphServer,
                                 conn_factory: Callable[..., GraphConnector]) -> None:
    store = server.store
    inbox = store.messages("Inbox")[:6]
    refs = [ItemRef(m.immutable_id, m.size, None, m.change_key) for m in inbox]
    store.permanent_delete(inbox[2].immutable_id)
    conn = conn_factory()
    conn.connect()
    try:
        got = list(conn.fetch("Inbox", refs))
    finally:
        conn.close()
    assert [sid for sid, _ in got] == [r.server_id for i, r in enumerate(refs) if i != 2]
    raws = {m.immutable_id: m.raw for m in inbox}
    assert all(raw == raws[sid] for sid, raw in got)


def test_verify_locate_and_folder_validity(server: GraphServer,
                                           conn_factory: Callable[..., GraphConnector]) -> None:
    store = server.store
    a, b, c, d = store.messages("Inbox")[:4]

    def ref(m: object, **kw: object) -> ItemRef:
        fields: dict = dict(server_id=m.immutable_id, size=m.size,  # type: ignore[attr-defined]
                            message_id=mime.normalize_message_id(
                                m.internet_message_id),  # type: ignore[attr-defined]
                            change_key=m.change_key)  # type: ignore[attr-defined]
        fields.update(kw)
        return ItemRef(**fields)

    conn = conn_factory()
    conn.connect()
    try:
        validity = conn.folder_validity("Inbox")
        assert validity == folder_identity(store.folder("Inbox").id)
        store.move(d.immutable_id, "Archives")
        refs = [ref(a), ref(b, change_key="other"), ref(c, message_id="x@y", change_key=None),
                ref(d)]
        assert conn.verify("Inbox", validity, refs) == {
            b.immutable_id: "changed", c.immutable_id: "changed", d.immutable_id: "vanished"}
        assert conn.verify("Inbox", validity + 1, refs[:1]) == {a.immutable_id: "reset"}
        assert conn.verify("Inbox", None, [ref(a, change_key=None)]) == {}
        # With immutable ids a moved message is found again under its own id.
        assert conn.locate("Archives", [ref(d), ref(a)], None) == {
            d.immutable_id: d.immutable_id}
        assert conn.next_id("Inbox") is None
        old = conn.folder_validity("Archives/2019")
        store.recreate_folder("Archives/2019")
        assert conn.folder_validity("Archives/2019") != old
        conn.create_folder("Projets/Nouveau/Sous-dossier")
        assert "Projets/Nouveau/Sous-dossier" in store.truth()
        with pytest.raises(FolderNotFound):
            conn.folder_validity("Nulle part")
    finally:
        conn.close()


def test_throttled_moves_are_waited_out(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    sync(index, conn_factory())
    p = _inbox_plan(index)
    server.throttle(5, retry_after=0, in_batch=True, path_contains="move")
    server.throttle(1, retry_after=0, path_contains="batch")
    conn = conn_factory()
    conn.connect()
    try:
        outcome = actions.execute(index, conn, p)
    finally:
        conn.close()
    assert outcome.action.state == "done" and outcome.action.count("done") == (p.messages, p.bytes)
    assert server.throttled == 6
    assert len(server.store.messages("Inbox")) == p.protected


@pytest.mark.parametrize("processed", [False, True], ids=["request-lost", "answer-lost"])
def test_a_dropped_connection_mid_action_is_reconciled(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector],
        processed: bool) -> None:
    sync(index, conn_factory())
    store = server.store
    p = _inbox_plan(index)
    trash = store.path(store.by_well_known["deleteditems"])
    before = store.truth()
    server.drop(1, path_contains="batch", after=3, processed=processed)
    conn = conn_factory()
    conn.connect()
    waits: list[float] = []
    try:
        journal = Journal(index)
        action_id = actions.runner.begin(index, p, p.kind, target=p.target)
        runner = actions.runner.Runner(index, conn, action_id, actions.ActionProgress(), None,
                                       20, sleep=waits.append)
        state = runner.run()
        journal.finish(action_id, state, runner.row.error)
    finally:
        conn.close()
    row = journal.action(action_id)
    assert row is not None and row.state == "done" and row.count("done") == (p.messages, p.bytes)
    assert store.truth()[trash][0] == before[trash][0] + p.messages
    assert len(store.messages("Inbox")) == p.protected
    assert sync(index, conn_factory()).removed == 0


def test_an_application_that_may_only_read_cannot_move(
        index: Index, server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    server.register_app(CLIENT, secret=SECRET, application_permissions=("Mail.Read",))
    sync(index, conn_factory())
    p = _inbox_plan(index)
    conn = conn_factory()
    conn.connect()
    try:
        with pytest.raises(AuthenticationError, match=r"Mail\.ReadWrite"):
            actions.execute(index, conn, p)
    finally:
        conn.close()
    assert len(server.store.messages("Inbox")) > p.protected


# -- signing in ---------------------------------------------------------------------------------


def test_device_code_sign_in_then_silent_refresh(
        server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    kept: list[dict] = []
    shown: list[str] = []
    server.approve_device_codes(server.email, after_polls=1)
    conn = conn_factory(auth="device-code", client_secret=None, save_token=kept.append,
                        on_device_code=shown.append)
    conn.connect()
    try:
        assert conn.list_folders()
    finally:
        conn.close()
    assert len(shown) == 1 and "enter the code" in shown[0] and server.email in shown[0]
    assert kept and set(kept[-1]) == {"msal_cache"}
    assert "access_token" not in shown[0]
    # The next run signs in from the kept cache: no device code, not even a token request.
    server.reset_counts()
    again = conn_factory(auth="device-code", client_secret=None, load_token=lambda: kept[-1],
                         save_token=kept.append)
    again.connect()
    try:
        again.list_folders()
        assert server.request_counts().get("devicecode", 0) == 0
        assert server.request_counts().get("token", 0) == 0
        # An access token the server no longer takes is renewed with the refresh token.
        server.expire_tokens()
        again.list_folders()
        assert server.request_counts()["token"] == 1
    finally:
        again.close()
    # The refresh token revoked too: a command without a prompt says what to run.
    server.expire_tokens()
    server.revoke_refresh_tokens()
    stale = conn_factory(auth="device-code", client_secret=None, load_token=lambda: kept[-1])
    with pytest.raises(AuthenticationError, match="mailclean account test work"):
        stale.connect()


def test_not_signed_in_and_nobody_to_ask(server: GraphServer,
                                         conn_factory: Callable[..., GraphConnector]) -> None:
    server.reset_counts()
    conn = conn_factory(auth="device-code", client_secret=None)
    with pytest.raises(AuthenticationError,
                       match=r"not signed in to Microsoft 365 yet.*mailclean account test work"):
        conn.connect()
    assert server.request_counts().get("devicecode", 0) == 0


def test_declined_sign_in(server: GraphServer,
                          conn_factory: Callable[..., GraphConnector]) -> None:
    server.decline_device_codes()
    conn = conn_factory(auth="device-code", client_secret=None, on_device_code=lambda t: None)
    with pytest.raises(AuthenticationError, match="declined"):
        conn.connect()


def _certificate(path: Path) -> bytes:
    """A self-signed RSA certificate and its key in one PEM file; the certificate's PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailclean")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now.replace(year=now.year + 1))
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(cert_pem + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_pem


def test_certificate_sign_in(server: GraphServer, conn_factory: Callable[..., GraphConnector],
                             tmp_path: Path) -> None:
    good, other = tmp_path / "app.pem", tmp_path / "other.pem"
    server.register_app("cccccccc-0000-0000-0000-000000000001",
                        certificate_pem=_certificate(good))
    _certificate(other)
    conn = conn_factory(auth="certificate", client_secret=None, certificate=str(good),
                        client_id="cccccccc-0000-0000-0000-000000000001")
    conn.connect()
    try:
        assert conn.list_folders()
    finally:
        conn.close()
    wrong = conn_factory(auth="certificate", client_secret=None, certificate=str(other),
                         client_id="cccccccc-0000-0000-0000-000000000001")
    with pytest.raises(AuthenticationError, match="is not registered for application"):
        wrong.connect()
    (tmp_path / "nokey.pem").write_bytes(good.read_bytes().split(b"-----BEGIN PRIVATE")[0])
    with pytest.raises(AuthenticationError, match="both the certificate and its private key"):
        conn_factory(auth="certificate", client_secret=None,
                     certificate=str(tmp_path / "nokey.pem")).connect()


@pytest.mark.parametrize(("change", "words"), [
    ({"secret": "wrong"}, "Value (not its Secret ID)"),
    ({"secret_expired": True}, "has expired"),
    ({"consented": False}, "Grant admin consent"),
    ({"allowed_mailboxes": ["someone.else@mairie-exemple.fr"]}, "RBAC for Applications"),
])
def test_application_sign_in_failures(server: GraphServer,
                                      conn_factory: Callable[..., GraphConnector],
                                      change: dict, words: str) -> None:
    fields: dict = dict(secret=SECRET)
    fields.update(change)
    if fields["secret"] == "wrong":
        fields["secret"] = "the real one"
    server.register_app(CLIENT, **fields)
    with pytest.raises(AuthenticationError) as failed:
        conn_factory().connect()
    assert words in str(failed.value) and SECRET not in str(failed.value)


def test_wrong_tenant_and_unknown_application(
        server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    with pytest.raises(AuthenticationError, match="no Microsoft 365 tenant"):
        conn_factory(tenant_id="99999999-2222-3333-4444-555555555555").connect()
    with pytest.raises(AuthenticationError, match="has no application"):
        conn_factory(client_id="dddddddd-0000-0000-0000-000000000000").connect()


def test_public_client_flows_off(server: GraphServer,
                                 conn_factory: Callable[..., GraphConnector]) -> None:
    server.register_app(CLIENT, secret=SECRET, public_client=False)
    conn = conn_factory(auth="device-code", client_secret=None, on_device_code=lambda t: None)
    with pytest.raises(AuthenticationError, match="Allow public client flows"):
        conn.connect()


def test_a_given_token(server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    token = server.issue_token(CLIENT, email=server.email)
    conn = conn_factory(auth="token", client_secret=None, token=token,
                        secret_source="the environment variable GRAPH_TOKEN")
    conn.connect()
    try:
        assert conn.list_folders()
        server.expire_tokens()
        with pytest.raises(AuthenticationError, match="GRAPH_TOKEN"):
            conn.list_folders()
    finally:
        conn.close()


def test_tls_is_verified_unless_told_otherwise(server: GraphServer) -> None:
    with pytest.raises(TLSError, match="not trusted"):
        connector(server).connect()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conn = connector(server, insecure_tls=True)
        conn.connect()
        try:
            assert conn.list_folders()
        finally:
            conn.close()


def test_no_secret_or_token_in_logs(server: GraphServer,
                                    conn_factory: Callable[..., GraphConnector],
                                    caplog: pytest.LogCaptureFixture, index: Index) -> None:
    caplog.set_level("DEBUG")
    server.throttle(2, retry_after=0, path_contains="delta")
    conn = conn_factory()
    sync(index, conn)
    text = caplog.text
    assert "trying again" in text  # every retry is logged...
    token = conn._auth._token  # type: ignore[union-attr]
    assert token and token not in text and SECRET not in text  # ...and no secret nor token
    assert not re.search(r"Bearer \S", text)


def test_account_add_signs_an_agent_in(server: GraphServer, graph_tls: tuple[Path, Path],
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from mailclean.cli import cli
    from mailclean.cli import setup as setup_module

    kept: dict[str, str] = {}
    monkeypatch.setattr(cfg, "_keyring_get", kept.get)
    monkeypatch.setattr(cfg, "store_password", lambda name, pw: kept.__setitem__(name, pw))
    monkeypatch.setattr(setup_module, "_has_keyring", lambda: True)
    server.approve_device_codes(server.email, after_polls=1)
    config = tmp_path / "config.toml"
    args = ["--config", str(config), "account", "add", "agent", "--graph", "--email",
            server.email, "--tenant-id", server.tenant_id, "--client-id", CLIENT,
            "--graph-url", server.graph_url, "--authority-url", server.authority_url,
            "--cafile", str(graph_tls[0])]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "enter the code" in result.output and "signed in to Microsoft 365" in result.output
    assert "msal_cache" in kept["agent:oauth2-token"]
    text = config.read_text()
    assert 'kind = "graph"' in text and "msal" not in text and "password" not in text
    # Later commands sign in from the keyring without asking.
    server.reset_counts()
    result = CliRunner().invoke(cli, ["--config", str(config), "account", "test", "agent"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert server.request_counts().get("devicecode", 0) == 0


def test_folder_size_summed_when_the_listing_has_none(
        server: GraphServer, conn_factory: Callable[..., GraphConnector]) -> None:
    conn = conn_factory()
    conn.connect()
    try:
        conn.list_folders()
        assert conn.folder_size("Inbox") == server.store.truth()["Inbox"]
        assert conn.quota() is None  # Graph v1.0 gives a mail client no quota
    finally:
        conn.close()


# -- the adapter of the connector contract suite (tests/support/contract.py) ---------------------


@lru_cache(maxsize=1)
def contract_corpus() -> tuple[mailgen.GeneratedMessage, ...]:
    """A small mailbox in every folder mailgen makes."""
    return tuple(mailgen.generate(5, messages=mailgen.MIN_MESSAGES))


@pytest.fixture
def store(graph_tls: tuple[Path, Path]) -> Iterator[GraphAdapter]:
    """A mailbox holding exactly the contract suite's corpus, behind the loopback server."""
    with GraphServer(tls=graph_tls) as running:
        adapter = GraphAdapter(running, graph_tls[0])
        adapter.seed(contract_corpus())
        yield adapter


def test_contract_adapter_reads_the_store(store: GraphAdapter) -> None:
    """The adapter's truth is the store's: what the suite's seeding check asks."""
    corpus_ = contract_corpus()
    status = store.status()
    assert sum(n for n, _b in status.values()) == len(corpus_)
    assert sum(b for _n, b in status.values()) == sum(m.size for m in corpus_)
    expected: dict[str, Counter] = {}
    for m in corpus_:
        key = (m.message_id, "\\Seen" in m.flags, "\\Flagged" in m.flags)
        expected.setdefault(store.path(m.folder), Counter())[key] += 1
    got = {f: Counter((s.message_id, s.seen, s.flagged) for s in stored)
           for f, stored in store.contents().items() if stored}
    assert got == expected
    inbox = store.roles["inbox"]
    first = next(iter(got[inbox]))[0]
    store.set_flags(inbox, first, flagged=True)
    store.move(inbox, [first], store.path("Archives/2021"))
    moved = store.contents()[store.path("Archives/2021")]
    assert any(s.message_id == first and s.flagged for s in moved)


def test_abort_breaks_a_request_in_flight(server: GraphServer,
                                          conn_factory: Callable[..., GraphConnector]) -> None:
    """What the sync's watchdog does to a server that stopped answering."""
    conn = conn_factory()
    conn.connect()
    server.latency = 5.0
    threading.Timer(0.3, conn.abort).start()
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionFailed):
            conn.list_folders()
    finally:
        server.latency = 0.0
        conn.close()
    assert time.monotonic() - started < 3
    conn.connect()  # usable again once connected anew
    try:
        assert conn.list_folders()
    finally:
        conn.close()
