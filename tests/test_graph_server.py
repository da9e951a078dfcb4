"""The loopback Microsoft Graph + identity platform server (tests/support/graph/), driven by
MSAL and httpx unmodified, over TLS with a certificate made by openssl.

Each test talks to the server as any Graph client would and checks the answers against the
mailbox the server holds (itself seeded from mailgen, whose truth gives the sizes and the
attachments).
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from mailclean import mailgen
from tests.dovecot import _make_certificate
from tests.ews.mime import ParsedMessage
from tests.support.graph import GraphServer
from tests.support.graph.server import DEFAULT_TENANT

TENANT = DEFAULT_TENANT
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "~Xq8Q~loopback.secret"
MAIL_RW = "https://graph.microsoft.com/Mail.ReadWrite"
DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
SIZE_EXPAND = "singleValueExtendedProperties($filter=id eq 'Long 0x0E08')"
PARSED: dict[bytes, ParsedMessage] = {}

@lru_cache(maxsize=1)
def corpus() -> tuple[mailgen.GeneratedMessage, ...]:
    # generate_bulk: the folder tree of a real mailbox (more than a page of top folders,
    # nested ones) at a few MB, where generate()'s feature corpus weighs 46 MB to parse.
    return tuple(mailgen.generate_bulk(250, seed=3))


@dataclass(frozen=True)
class Tls:
    cafile: str
    context: ssl.SSLContext
    cert: Path
    key: Path
    app_cert_pem: str
    app_key_pem: str
    app_thumbprint: str


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """The server's certificate (self-signed, its own CA) and the app's RSA certificate for
    client assertions, both made with openssl."""
    root = tmp_path_factory.mktemp("graph-tls")
    cert, key = root / "server.pem", root / "server-key.pem"
    _make_certificate(cert, key)
    app_cert, app_key = root / "app.pem", root / "app-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(app_key),
         "-out", str(app_cert), "-days", "2", "-subj", "/CN=mailclean-graph-app"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    pem = app_cert.read_text()
    thumbprint = x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA1()).hex()
    context = ssl.create_default_context(cafile=str(cert))
    return Tls(str(cert), context, cert, key, pem, app_key.read_text(), thumbprint)


@pytest.fixture(autouse=True)
def _msal_uses_our_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a Session's verify= (its
    # merge_environment_settings), so MSAL's verify=<our CA> would be ignored where they are set.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def server(tls: Tls) -> Iterator[GraphServer]:
    with GraphServer(tls=(tls.cert, tls.key), device_code_interval=1) as srv:
        srv.register_app(
            CLIENT,
            secret=SECRET,
            certificate_pem=tls.app_cert_pem,
            delegated_permissions=("Mail.ReadWrite", "User.Read"),
        )
        srv.seed(corpus(), cache=PARSED)
        yield srv


def confidential(server: GraphServer, tls: Tls, credential: Any, client: str = CLIENT) -> Any:
    return msal.ConfidentialClientApplication(
        client,
        client_credential=credential,
        authority=f"{server.authority_url}/{TENANT}",
        instance_discovery=False,
        verify=tls.cafile,
    )


def public(server: GraphServer, tls: Tls, client: str = CLIENT) -> Any:
    return msal.PublicClientApplication(
        client,
        authority=f"{server.authority_url}/{TENANT}",
        instance_discovery=False,
        verify=tls.cafile,
    )


def app_token(server: GraphServer, tls: Tls) -> str:
    result = confidential(server, tls, SECRET).acquire_token_for_client([DEFAULT_SCOPE])
    assert "access_token" in result, result
    return str(result["access_token"])


def graph(server: GraphServer, tls: Tls, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.graph_url + "/",
        verify=tls.context,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def mailbox_path(server: GraphServer) -> str:
    return f"users/{server.email}"


def collect(client: httpx.Client, url: str, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a paged collection, and the number of pages."""
    items: list[dict[str, Any]] = []
    pages = 0
    response = client.get(url, **kwargs)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["value"])
        pages += 1
        link = body.get("@odata.nextLink")
        if not link:
            return items, pages
        response = client.get(link, headers=kwargs.get("headers"))


def delta_round(
    client: httpx.Client, url: str, **kwargs: Any
) -> tuple[list[dict[str, Any]], str, int]:
    """(entries, deltaLink, pages) of one delta round."""
    entries: list[dict[str, Any]] = []
    pages = 0
    headers = kwargs.get("headers")
    response = client.get(url, **kwargs)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        entries.extend(body["value"])
        pages += 1
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return entries, body["@odata.deltaLink"], pages
        response = client.get(body["@odata.nextLink"], headers=headers)


def inbox_ids(server: GraphServer, n: int) -> list[str]:
    return [info.id for info in server.store.messages("Inbox")[:n]]


# -- identity platform ------------------------------------------------------------------------


def test_discovery_document_names_the_tenant_endpoints(server: GraphServer, tls: Tls) -> None:
    response = httpx.get(
        f"{server.authority_url}/{TENANT}/v2.0/.well-known/openid-configuration", verify=tls.context
    )
    doc = response.json()
    assert doc["token_endpoint"] == f"{server.authority_url}/{TENANT}/oauth2/v2.0/token"
    assert doc["device_authorization_endpoint"].endswith(f"/{TENANT}/oauth2/v2.0/devicecode")
    assert doc["issuer"] == f"{server.authority_url}/{TENANT}/v2.0"
    # A tenant domain resolves to the same GUID endpoints; an unknown tenant is AADSTS90002.
    by_domain = httpx.get(
        f"{server.authority_url}/mairie-exemple.fr/v2.0/.well-known/openid-configuration",
        verify=tls.context,
    ).json()
    assert by_domain["token_endpoint"] == doc["token_endpoint"]
    unknown = httpx.get(
        f"{server.authority_url}/99999999-2222-3333-4444-555555555555/v2.0/.well-known/"
        "openid-configuration",
        verify=tls.context,
    )
    assert unknown.status_code == 400
    assert unknown.json()["error_codes"] == [90002]
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal.PublicClientApplication(
            CLIENT,
            authority=f"{server.authority_url}/99999999-2222-3333-4444-555555555555",
            instance_discovery=False,
            verify=tls.cafile,
        )


def test_device_code_flow_waits_for_the_user_then_gives_an_account(
    server: GraphServer, tls: Tls
) -> None:
    app = public(server, tls)
    flow = app.initiate_device_flow([MAIL_RW, "https://graph.microsoft.com/User.Read"])
    assert len(flow["user_code"]) == 9
    assert flow["user_code"] in flow["message"]
    assert flow["interval"] == 1 and flow["expires_in"] == 900
    server.approve_device_codes(server.email, after_polls=1)
    started = time.monotonic()
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert time.monotonic() - started >= 1  # one authorization_pending, one interval waited
    assert server.counts["token"] == 2
    assert set(result["scope"].split()) >= {MAIL_RW, "openid", "profile"}
    assert result["id_token_claims"]["preferred_username"] == server.email
    assert result["id_token_claims"]["tid"] == TENANT
    [account] = app.get_accounts()
    assert account["username"] == server.email
    assert account["home_account_id"] == f"{server.store.user_id}.{TENANT}"
    with graph(server, tls, result["access_token"]) as client:
        response = client.get("me/mailFolders/inbox")
        assert response.status_code == 200
        assert response.json()["totalItemCount"] == len(server.store.messages("Inbox"))
        assert client.get("me").json()["userPrincipalName"] == server.email


def test_device_code_without_consent_is_aadsts65001(server: GraphServer, tls: Tls) -> None:
    server.register_app("no-consent-app", consented=False)
    app = public(server, tls, "no-consent-app")
    flow = app.initiate_device_flow([MAIL_RW])
    server.approve_device_codes(server.email, after_polls=0)
    result = app.acquire_token_by_device_flow(flow)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [65001]
    assert result["error_description"].startswith("AADSTS65001: ")
    for key in ("timestamp", "trace_id", "correlation_id"):
        assert result[key]
    # An app-only token of an app without admin consent carries no roles: Graph refuses it.
    server.register_app("no-consent-daemon", secret="x", consented=False)
    token = confidential(server, tls, "x", "no-consent-daemon").acquire_token_for_client(
        [DEFAULT_SCOPE]
    )["access_token"]
    with graph(server, tls, token) as client:
        response = client.get(f"{mailbox_path(server)}/mailFolders")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "AccessDenied"


def test_declined_and_expired_device_codes(server: GraphServer, tls: Tls) -> None:
    app = public(server, tls)
    flow = app.initiate_device_flow([MAIL_RW])
    server.decline_device_codes()
    assert app.acquire_token_by_device_flow(flow)["error"] == "authorization_declined"
    server.identity.device_code_lifetime = 0
    server.approve_device_codes(server.email, after_polls=0)
    flow = app.initiate_device_flow([MAIL_RW])
    flow["expires_at"] = 0  # MSAL stops polling after the first answer
    assert app.acquire_token_by_device_flow(flow)["error"] == "expired_token"


def test_client_secret_gives_an_app_only_token(server: GraphServer, tls: Tls) -> None:
    token = app_token(server, tls)
    with graph(server, tls, token) as client:
        response = client.get(f"{mailbox_path(server)}/mailFolders/inbox")
        assert response.status_code == 200
        assert response.json()["displayName"] == "Inbox"
        # /me means nothing without a signed-in user.
        me = client.get("me/mailFolders")
        assert me.status_code == 400
        assert "delegated" in me.json()["error"]["message"]


def test_wrong_and_expired_secrets(server: GraphServer, tls: Tls) -> None:
    wrong = confidential(server, tls, "not-the-secret").acquire_token_for_client([DEFAULT_SCOPE])
    assert wrong["error"] == "invalid_client"
    assert wrong["error_codes"] == [7000215]
    assert wrong["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "Trace ID: " in wrong["error_description"]
    assert wrong["trace_id"] and wrong["correlation_id"] and wrong["timestamp"]
    server.register_app("expired-secret-app", secret="old", secret_expired=True)
    expired = confidential(server, tls, "old", "expired-secret-app").acquire_token_for_client(
        [DEFAULT_SCOPE]
    )
    assert expired["error_codes"] == [7000222]
    unknown = confidential(server, tls, SECRET, "unknown-app").acquire_token_for_client(
        [DEFAULT_SCOPE]
    )
    assert (unknown["error"], unknown["error_codes"]) == ("unauthorized_client", [700016])
    not_default = confidential(server, tls, SECRET).acquire_token_for_client([MAIL_RW])
    assert not_default["error_codes"] == [1002012]


def test_certificate_assertions_are_verified(server: GraphServer, tls: Tls) -> None:
    # RS256 with x5t (the SHA-1 thumbprint MSAL is given).
    sha1 = {"private_key": tls.app_key_pem, "thumbprint": tls.app_thumbprint}
    result = confidential(server, tls, sha1).acquire_token_for_client([DEFAULT_SCOPE])
    assert "access_token" in result, result
    with graph(server, tls, result["access_token"]) as client:
        assert client.get(f"{mailbox_path(server)}/mailFolders").status_code == 200
    # PS256 with x5t#S256, as MSAL signs when it has the public certificate.
    sha256 = {"private_key": tls.app_key_pem, "public_certificate": tls.app_cert_pem}
    assert "access_token" in confidential(server, tls, sha256).acquire_token_for_client(
        [DEFAULT_SCOPE]
    )
    # The right thumbprint with another key: the signature does not verify.
    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        .decode()
    )
    forged = {"private_key": other, "thumbprint": tls.app_thumbprint}
    bad = confidential(server, tls, forged).acquire_token_for_client([DEFAULT_SCOPE])
    assert (bad["error"], bad["error_codes"]) == ("invalid_client", [700027])
    wrong_print = {"private_key": tls.app_key_pem, "thumbprint": "00" * 20}
    assert confidential(server, tls, wrong_print).acquire_token_for_client([DEFAULT_SCOPE])[
        "error_codes"
    ] == [700027]


def test_refresh_token_after_expiry(server: GraphServer, tls: Tls) -> None:
    app = public(server, tls)
    flow = app.initiate_device_flow([MAIL_RW])
    server.approve_device_codes(server.email, after_polls=0)
    first = app.acquire_token_by_device_flow(flow)
    [account] = app.get_accounts()
    cached = app.acquire_token_silent([MAIL_RW], account=account)
    assert cached["access_token"] == first["access_token"]  # from MSAL's cache, no request
    tokens_before = server.counts["token"]
    server.expire_tokens()
    with graph(server, tls, first["access_token"]) as client:
        response = client.get("me/mailFolders")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert "expired" in response.json()["error"]["message"]
        assert "WWW-Authenticate" in response.headers
    refreshed = app.acquire_token_silent([MAIL_RW], account=account, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider"
    assert server.counts["token"] == tokens_before + 1
    assert refreshed["access_token"] != first["access_token"]
    with graph(server, tls, refreshed["access_token"]) as client:
        assert client.get("me/mailFolders").status_code == 200
    server.revoke_refresh_tokens()
    assert app.acquire_token_silent_with_error([MAIL_RW], account=account, force_refresh=True)[
        "error_codes"
    ] == [700082]


def test_app_kept_out_of_a_mailbox_gets_403(server: GraphServer, tls: Tls) -> None:
    other = server.mailbox("maire@mairie-exemple.fr")
    other.add("Inbox", b"Subject: hi\r\nMessage-ID: <m1@x>\r\n\r\nbody\r\n")
    server.register_app(CLIENT, secret=SECRET, allowed_mailboxes=["maire@mairie-exemple.fr"])
    with graph(server, tls, app_token(server, tls)) as client:
        allowed = client.get("users/maire@mairie-exemple.fr/mailFolders/inbox/messages")
        assert allowed.status_code == 200
        assert len(allowed.json()["value"]) == 1
        denied = client.get(f"{mailbox_path(server)}/mailFolders")
        assert denied.status_code == 403
        error = denied.json()["error"]
        assert error["code"] == "ErrorAccessDenied"
        assert error["message"] == "Access to OData is disabled."
        assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    # A delegated token reaches its own mailbox only; Mail.Read cannot move.
    token = server.issue_token(CLIENT, scopes=["Mail.Read"])
    with graph(server, tls, token) as client:
        assert client.get("users/maire@mairie-exemple.fr/mailFolders").status_code == 403
        [first] = inbox_ids(server, 1)
        moved = client.post(f"me/messages/{first}/move", json={"destinationId": "deleteditems"})
        assert moved.status_code == 403


# -- mail folders -----------------------------------------------------------------------------


def test_folders_page_and_hide_hidden_ones(server: GraphServer, tls: Tls) -> None:
    server.store.create_folder("Inbox/Caché", hidden=True)
    with graph(server, tls, app_token(server, tls)) as client:
        base = f"{mailbox_path(server)}/mailFolders"
        visible, pages = collect(client, base, params={"$top": "3"})
        assert pages == (len(visible) + 2) // 3 and pages > 1
        names = [f["displayName"] for f in visible]
        wanted = {"Inbox", "Sent Items", "Deleted Items", "Junk Email", "Drafts", "Archive"}
        assert wanted <= set(names)
        assert "Clutter" not in names
        everything, _ = collect(client, base, params={"includeHiddenFolders": "true"})
        clutter = [f for f in everything if f["displayName"] == "Clutter"]
        assert clutter and clutter[0]["isHidden"] is True
        assert len(everything) == len(visible) + 1
        # Child folders, and the hidden one among them only when asked for.
        inbox_children = client.get(f"{base}/inbox/childFolders").json()["value"]
        assert [f["displayName"] for f in inbox_children] == []
        with_hidden = client.get(
            f"{base}/inbox/childFolders", params={"includeHiddenFolders": "true"}
        ).json()["value"]
        assert [f["displayName"] for f in with_hidden] == ["Caché"]
        # Top folders fill more than the default page of 10.
        first_page = client.get(base).json()
        assert len(first_page["value"]) == 10 and "@odata.nextLink" in first_page
        projets = next(f for f in visible if f["displayName"] == "Projets")
        children = client.get(f"{base}/{projets['id']}/childFolders").json()["value"]
        expected = {m.folder.split("/")[1] for m in corpus() if m.folder.startswith("Projets/")}
        assert sorted(f["displayName"] for f in children) == sorted(expected)
        assert projets["childFolderCount"] == len(expected) > 1
        # Folder sizes: the extended property, id re-cased, value a string.
        inbox = client.get(f"{base}/inbox", params={"$expand": SIZE_EXPAND}).json()
        [prop] = inbox["singleValueExtendedProperties"]
        assert prop == {"id": "Long 0xe08", "value": str(server.store.truth()["Inbox"][1])}
        selected = client.get(f"{base}/inbox", params={"$select": "displayName"}).json()
        assert set(selected) == {"@odata.context", "id", "displayName"}
        assert client.get(f"{base}/nonexistent").status_code == 400
        assert client.get(f"{base}", params={"$filter": "displayName eq 'x'"}).status_code == 400


def test_recreated_folder_has_a_new_id(server: GraphServer, tls: Tls) -> None:
    path = next(p for p in server.store.truth() if "/" in p)
    old = server.store.folder(path)
    old_id, count = old.id, len(old.messages)
    with graph(server, tls, app_token(server, tls)) as client:
        base = f"{mailbox_path(server)}/mailFolders"
        _, link, _ = delta_round(client, f"{base}/{old_id}/messages/delta")
        new = server.store.recreate_folder(path)
        assert new.id != old_id and server.store.path(new) == path
        gone = client.get(f"{base}/{old_id}")
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ErrorItemNotFound")
        assert client.get(link).status_code == 404
        listed = client.get(f"{base}/{new.id}/messages", params={"$top": "100"}).json()["value"]
        assert len(listed) == count


# -- messages ---------------------------------------------------------------------------------


def test_sizes_are_the_crlf_length_of_the_raw_message(server: GraphServer, tls: Tls) -> None:
    expected: dict[str, list[int]] = {}
    for message in corpus():
        expected.setdefault(server.path_for(message.folder), []).append(len(message.raw))
    with graph(server, tls, app_token(server, tls)) as client:
        folders = {f.id: server.store.path(f) for f in server.store.folders()}
        for folder_id, path in folders.items():
            items, _ = collect(
                client,
                f"{mailbox_path(server)}/mailFolders/{folder_id}/messages",
                params={"$select": "internetMessageId", "$expand": SIZE_EXPAND, "$top": "100"},
            )
            sizes = sorted(int(m["singleValueExtendedProperties"][0]["value"]) for m in items)
            assert sizes == sorted(expected.get(path, [])), path
    assert sum(n for n, _ in server.store.truth().values()) == len(corpus())


def test_attachment_metadata_without_content(server: GraphServer, tls: Tls) -> None:
    message = next(m for m in corpus() if len(m.attachments) >= 2 and m.message_id)
    found = [
        info
        for f in server.store.folders()
        for info in server.store.messages(server.store.path(f))
        if info.raw == message.raw
    ]
    with graph(server, tls, app_token(server, tls)) as client:
        url = f"{mailbox_path(server)}/messages/{found[0].id}/attachments"
        listed = client.get(url, params={"$select": "id,name,size,contentType,isInline"})
        assert listed.status_code == 200
        value = listed.json()["value"]
        assert all("contentBytes" not in a for a in value)
        assert sorted(repr((a["name"], a["contentType"], a["size"])) for a in value) == sorted(
            repr((t.filename, t.mime_type, t.decoded_size)) for t in message.attachments
        )
        full = client.get(url).json()["value"]  # the docs' example carries contentBytes
        assert any("contentBytes" in a for a in full)
        one = client.get(f"{url}/{value[0]['id']}", params={"$select": "name,size"}).json()
        assert (one["name"], one["size"]) == (value[0]["name"], value[0]["size"])
        assert client.get(url, params={"$select": "contentBytes"}).status_code == 400
        mime = client.get(f"{mailbox_path(server)}/messages/{found[0].id}/$value")
        assert mime.headers["Content-Type"] == "text/plain"
        assert mime.content == message.raw
        got = client.get(
            f"{mailbox_path(server)}/messages/{found[0].id}",
            params={"$select": "hasAttachments,subject,internetMessageHeaders"},
        ).json()
        assert got["hasAttachments"] is True
        assert set(got) == {
            "@odata.context", "@odata.etag", "id", "hasAttachments", "subject",
            "internetMessageHeaders",
        }  # fmt: skip
        names = {h["name"].lower() for h in got["internetMessageHeaders"]}
        assert {"message-id", "from", "subject"} <= names
        unknown = client.get(
            f"{mailbox_path(server)}/messages/{found[0].id}", params={"$select": "nosuchfield"}
        )
        assert unknown.status_code == 400


def test_delta_full_then_incremental_then_gone(server: GraphServer, tls: Tls) -> None:
    inbox_count = len(server.store.messages("Inbox"))
    with graph(server, tls, app_token(server, tls)) as client:
        url = f"{mailbox_path(server)}/mailFolders/inbox/messages/delta"
        prefer = {"Prefer": "odata.maxpagesize=7"}
        entries, delta_link, pages = delta_round(
            client, url, params={"$select": "subject,isRead,parentFolderId"}, headers=prefer
        )
        assert len(entries) == inbox_count
        assert pages == -(-inbox_count // 7)
        assert all("@removed" not in e and set(e) >= {"id", "subject", "isRead"} for e in entries)
        assert "from" not in entries[0]  # $select is kept in the state token
        known = {e["id"] for e in entries}
        # Nothing changed: the deltaLink gives nothing.
        nothing, delta_link, _ = delta_round(client, delta_link, headers=prefer)
        assert nothing == []
        moved_id, deleted_id, read_id = [e["id"] for e in entries[:3]]
        moved = client.post(f"{mailbox_path(server)}/messages/{moved_id}/move",
                            json={"destinationId": "archive"})  # fmt: skip
        assert moved.status_code == 201
        assert client.delete(f"{mailbox_path(server)}/messages/{deleted_id}").status_code == 204
        patched = client.patch(f"{mailbox_path(server)}/messages/{read_id}", json={"isRead": False})
        assert patched.status_code == 200
        server.store.add("Inbox", b"Subject: new one\r\nMessage-ID: <n@x>\r\n\r\nhello\r\n")
        changes, delta_link, _ = delta_round(client, delta_link, headers=prefer)
        removed = {e["id"]: e["@removed"] for e in changes if "@removed" in e}
        assert removed == {moved_id: {"reason": "deleted"}, deleted_id: {"reason": "deleted"}}
        updated = [e for e in changes if "@removed" not in e]
        assert [e["subject"] for e in updated if e["id"] not in known] == ["new one"]
        [changed] = [e for e in updated if e["id"] in known]
        assert (changed["id"], changed["isRead"]) == (read_id, False)
        assert len(server.store.recoverable("Inbox")) == 1  # DELETE went to Recoverable Items
        server.expire_delta_tokens()
        gone = client.get(delta_link)
        assert gone.status_code == 410
        assert gone.json()["error"]["code"].lower() == "syncstatenotfound"
        # Resync from scratch works.
        again, _, _ = delta_round(client, url, headers=prefer)
        assert len(again) == len(server.store.messages("Inbox")) == inbox_count - 2 + 1
        assert client.get(url, params={"$search": "x"}).status_code == 400


def test_immutable_ids_survive_a_move_regular_ones_do_not(server: GraphServer, tls: Tls) -> None:
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    first, second = inbox_ids(server, 2)
    with graph(server, tls, app_token(server, tls)) as client:
        base = f"{mailbox_path(server)}/messages"
        moved = client.post(f"{base}/{first}/move", json={"destinationId": "deleteditems"})
        assert moved.status_code == 201
        new_id = moved.json()["id"]
        assert new_id != first
        old = client.get(f"{base}/{first}")
        assert (old.status_code, old.json()["error"]["code"]) == (404, "ErrorItemNotFound")
        assert client.get(f"{base}/{new_id}").json()["parentFolderId"] == (
            server.store.by_well_known["deleteditems"].id
        )
        stable = client.get(f"{base}/{second}", headers=immutable).json()["id"]
        assert stable != second
        inbox_delta = f"{mailbox_path(server)}/mailFolders/inbox/messages/delta"
        _, inbox_link, _ = delta_round(client, inbox_delta, headers=immutable)
        junk_delta = f"{mailbox_path(server)}/mailFolders/junkemail/messages/delta"
        _, junk_link, _ = delta_round(client, junk_delta, headers=immutable)
        again = client.post(
            f"{base}/{stable}/move", json={"destinationId": "junkemail"}, headers=immutable
        )
        assert again.status_code == 201
        assert again.headers["Preference-Applied"] == 'IdType="ImmutableId"'
        assert again.json()["id"] == stable
        after = client.get(f"{base}/{stable}", headers=immutable).json()
        assert after["parentFolderId"] == server.store.by_well_known["junkemail"].id
        assert client.get(f"{base}/{second}").status_code == 404  # the regular id moved on
        # Delta speaks the same ids: gone from the Inbox, arrived in Junk Email, one id.
        left, _, _ = delta_round(client, inbox_link, headers=immutable)
        assert left == [{"@odata.type": "#microsoft.graph.message", "id": stable,
                         "@removed": {"reason": "deleted"}}]  # fmt: skip
        arrived, _, _ = delta_round(client, junk_link, headers=immutable)
        assert [e["id"] for e in arrived] == [stable]
        assert client.get(f"{base}/not-an-id").status_code == 400


# -- $batch and throttling --------------------------------------------------------------------


def test_batch_with_a_throttled_step(server: GraphServer, tls: Tls) -> None:
    ids = inbox_ids(server, 4)
    throttled_id = ids[2]
    server.throttle(1, retry_after=3, in_batch=True, path_contains=throttled_id)
    steps: list[dict[str, Any]] = [
        {"id": str(i), "method": "GET", "url": f"/{mailbox_path(server)}/messages/{mid}"
         "?$select=subject&$expand=" + SIZE_EXPAND}
        for i, mid in enumerate(ids)
    ]  # fmt: skip
    steps.append(
        {
            "id": "move",
            "method": "POST",
            "url": f"/{mailbox_path(server)}/messages/{ids[3]}/move",
            "headers": {"Content-Type": "application/json"},
            "body": {"destinationId": "deleteditems"},
        }
    )
    with graph(server, tls, app_token(server, tls)) as client:
        response = client.post("$batch", json={"requests": steps})
        assert response.status_code == 200
        by_id = {r["id"]: r for r in response.json()["responses"]}
        assert set(by_id) == {"0", "1", "2", "3", "move"}
        assert by_id["2"]["status"] == 429
        assert by_id["2"]["headers"]["Retry-After"] == "3"
        assert by_id["2"]["body"]["error"]["code"] == "TooManyRequests"
        assert [by_id[k]["status"] for k in ("0", "1", "move")] == [200, 200, 201]
        assert by_id["0"]["body"]["singleValueExtendedProperties"][0]["id"] == "Long 0xe08"
        assert server.throttled == 1
        assert server.counts["batch"] == 1 and server.counts["batch.sub"] == 5
        assert server.counts["move"] == 1
        too_many = [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]
        assert client.post("$batch", json={"requests": too_many}).status_code == 400
        twice = [{"id": x, "method": "GET", "url": "/me"} for x in ("a", "A")]
        assert client.post("$batch", json={"requests": twice}).status_code == 400


def test_fifth_concurrent_request_is_throttled(tls: Tls) -> None:
    with GraphServer(tls=(tls.cert, tls.key), latency=0.4) as server:
        server.store.add("Inbox", b"Subject: a\r\nMessage-ID: <a@x>\r\n\r\nx\r\n")
        token = server.issue_token(CLIENT, app_only=True)
        url = f"{server.graph_url}/{mailbox_path(server)}/mailFolders/inbox"
        statuses: list[int] = []
        bodies: list[dict[str, Any]] = []
        gate = threading.Barrier(5)

        def call(delay: float) -> None:
            with httpx.Client(verify=tls.context, timeout=10) as client:
                gate.wait()
                time.sleep(delay)
                response = client.get(url, headers={"Authorization": f"Bearer {token}"})
                statuses.append(response.status_code)
                bodies.append(response.json())

        threads = [threading.Thread(target=call, args=(0.15 if i == 4 else 0.0,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert Counter(statuses) == {200: 4, 429: 1}
        refused = next(b for b in bodies if "error" in b)["error"]
        assert (refused["code"], refused["message"]) == (
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        )
        assert server.peak_in_flight(server.email) == 4
        # A batch's steps hold slots too: 4 at a time, so a request beside it is refused.
        inbox = f"/{mailbox_path(server)}/mailFolders/inbox"
        steps = [{"id": str(i), "method": "GET", "url": inbox} for i in range(8)]
        outcome: dict[str, Any] = {}

        def batch() -> None:
            with httpx.Client(verify=tls.context, timeout=10) as client:
                outcome["batch"] = client.post(
                    f"{server.graph_url}/$batch",
                    json={"requests": steps},
                    headers={"Authorization": f"Bearer {token}"},
                )

        runner = threading.Thread(target=batch)
        runner.start()
        time.sleep(0.6)  # the batch's own 0.4 s, then its first 4 steps are in flight
        with httpx.Client(verify=tls.context, timeout=10) as client:
            beside = client.get(url, headers={"Authorization": f"Bearer {token}"})
        runner.join()
        assert beside.status_code == 429
        assert outcome["batch"].status_code == 200
        assert [r["status"] for r in outcome["batch"].json()["responses"]] == [200] * 8


def test_top_level_throttle_and_dropped_connections(server: GraphServer, tls: Tls) -> None:
    first_info = server.store.messages("Inbox")[0]
    first = first_info.id
    with graph(server, tls, app_token(server, tls)) as client:
        server.throttle(1, status=503, retry_after=2, path_contains="mailFolders")
        busy = client.get(f"{mailbox_path(server)}/mailFolders")
        assert (busy.status_code, busy.headers["Retry-After"]) == (503, "2")
        assert client.get(f"{mailbox_path(server)}/mailFolders").status_code == 200
        server.drop(1, path_contains="/move", processed=True)
        with pytest.raises(httpx.TransportError):
            client.post(f"{mailbox_path(server)}/messages/{first}/move",
                        json={"destinationId": "deleteditems"})  # fmt: skip
        # The answer was lost, the move was done.
        assert first not in {i.id for i in server.store.messages("Inbox")}
        deleted = {i.immutable_id for i in server.store.messages("Deleted Items")}
        assert first_info.immutable_id in deleted
        server.drop(1, path_contains="mailFolders")
        with pytest.raises(httpx.TransportError):
            client.get(f"{mailbox_path(server)}/mailFolders")
        assert client.get(f"{mailbox_path(server)}/mailFolders").status_code == 200
    assert server.counts["folders"] == 4


def test_expired_tokens_answer_401(server: GraphServer, tls: Tls) -> None:
    token = app_token(server, tls)
    with graph(server, tls, token) as client:
        assert client.get(f"{mailbox_path(server)}/mailFolders").status_code == 200
        server.expire_tokens()
        expired = client.get(f"{mailbox_path(server)}/mailFolders")
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"
    with httpx.Client(verify=tls.context) as anonymous:
        missing = anonymous.get(f"{server.graph_url}/{mailbox_path(server)}/mailFolders")
        assert missing.status_code == 401
        assert missing.json()["error"]["message"] == "Access token is empty."
