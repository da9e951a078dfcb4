"""A loopback Microsoft Graph (v1.0, mail) and identity platform server for the tests: MSAL and
httpx drive it unmodified, as they would graph.microsoft.com and login.microsoftonline.com.

    with GraphServer(tls=(cert, key)) as server:
        server.register_app(CLIENT_ID, secret="s3cret")
        server.seed(mailgen.generate(7, messages=300))
        app = msal.ConfidentialClientApplication(
            CLIENT_ID, client_credential="s3cret", authority=f"{server.authority_url}/{TENANT}",
            instance_discovery=False, verify=str(cert))

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (HTTP/1.1 with keep-alive, HTTPS with ``tls=``,
JSON only) serving both sides on one port: the identity platform under ``/{tenant}/...``
(:mod:`tests.support.graph.identity`) and Graph under ``/v1.0/...``. Every behaviour follows
the page of learn.microsoft.com cited next to it; where the docs are silent the comment says
so and the strict reading is taken. In short:

- Mail folders: list (``/mailFolders``, ``/childFolders``, ``includeHiddenFolders``), get (by
  id or well-known name), create; messages: list, get, PATCH (isRead, flag, categories),
  DELETE, ``move``, ``permanentDelete``, attachments; ``messages/delta`` with ``$skiptoken`` /
  ``$deltatoken`` state tokens, ``@removed`` entries and 410 once tokens expire; ``$batch`` of
  up to 20 requests; ``/me`` and ``/users/{id|userPrincipalName}``.
- OData: ``$select`` (unknown properties refused), ``$top`` and ``Prefer: odata.maxpagesize``
  with ``@odata.nextLink`` paging, ``$skip``, ``$expand`` of ``singleValueExtendedProperties``
  (``$filter=id eq '...'``) and of ``attachments``; ``Prefer: IdType="ImmutableId"``. Query
  options the fake does not evaluate are refused with 400 rather than ignored.
- Authorisation: bearer tokens from the identity side; 401 InvalidAuthenticationToken, 403
  ErrorAccessDenied (permission, another user's mailbox, an app kept out of a mailbox by an
  application access policy), 400 for ``/me`` with an app-only token.
- Throttling: at most ``max_concurrent`` requests in flight per app and mailbox, $batch
  sub-requests included (a 429 ApplicationThrottled "MailboxConcurrency" beyond); injected
  429/503 with Retry-After, at the top level or inside a batch.

Faults for tests: :meth:`GraphServer.throttle`, :meth:`GraphServer.drop` (close the connection,
before or after doing the work), :meth:`GraphServer.expire_tokens`,
:meth:`GraphServer.expire_delta_tokens`, ``latency`` (slept in the handler thread while the
request holds its mailbox slot, so concurrency is real). :attr:`GraphServer.counts` counts
requests per kind, :meth:`GraphServer.peak_in_flight` the highest concurrency seen.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from cryptography import x509

from tests.ews.mime import Attachment, Mailbox, ParsedMessage, decode_header_text, parse_message
from tests.support.graph.identity import (
    App,
    Grant,
    Identity,
    IdentityError,
    error_body,
    parse_basic,
    parse_form,
)
from tests.support.graph.store import (
    FLAG_COMPLETE,
    FLAG_FLAGGED,
    FLAG_NOT_FLAGGED,
    DeltaState,
    Folder,
    GraphError,
    Message,
    Store,
    Tombstone,
)

if TYPE_CHECKING:
    from mailclean.mailgen import GeneratedMessage

DEFAULT_EMAIL = "agent@mairie-exemple.fr"
DEFAULT_TENANT = "11111111-2222-3333-4444-555555555555"
GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)

#: "JSON batch requests are currently limited to 20 individual requests."
#: https://learn.microsoft.com/en-us/graph/json-batching#batch-size-limitations
MAX_BATCH = 20
#: "by default, the service executes up to 4 requests [of a batch] in parallel at any point"
#: https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits-for-json-batching
BATCH_PARALLELISM = 4
#: "The default page size is 10 messages. Use $top to customize the page size, within the
#: range of 1 and 1000." https://learn.microsoft.com/en-us/graph/api/user-list-messages; the
#: mailFolders example says the same default ("If a collection exceeds the default page size
#: (10 items)", https://learn.microsoft.com/en-us/graph/api/user-list-mailfolders). The docs
#: give no other maximum (delta, folders, odata.maxpagesize): the fake applies 1000 to all.
DEFAULT_PAGE, MAX_PAGE = 10, 1000

ACCESS_DENIED = "Access is denied. Check credentials and try again."
READ_PERMISSIONS = frozenset({"Mail.Read", "Mail.ReadWrite"})
WRITE_PERMISSIONS = frozenset({"Mail.ReadWrite"})
USER_PERMISSIONS = frozenset(
    {"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All"}
)

_SYSTEM_OPTIONS = frozenset(
    {
        "$select",
        "$expand",
        "$filter",
        "$orderby",
        "$top",
        "$skip",
        "$count",
        "$search",
        "$format",
        "$skiptoken",
        "$deltatoken",
    }
)
_KEY_SEGMENT = re.compile(r"^([^()]+)\('?(.*?)'?\)$")

#: Extended property types, as https://learn.microsoft.com/en-us/graph/api/resources/extended-properties-overview
#: spells them (the canonical spelling comes back in the answer's id).
_MAPI_TYPES = {
    t.lower(): t
    for t in (
        "Binary",
        "BinaryArray",
        "Boolean",
        "CLSID",
        "CLSIDArray",
        "Currency",
        "CurrencyArray",
        "Double",
        "DoubleArray",
        "Float",
        "FloatArray",
        "Integer",
        "IntegerArray",
        "Long",
        "LongArray",
        "Short",
        "ShortArray",
        "SystemTime",
        "SystemTimeArray",
        "String",
        "StringArray",
    )
}
TAG_MESSAGE_SIZE, TAG_MESSAGE_FLAGS, TAG_FLAG_STATUS = 0x0E08, 0x0E07, 0x1090
TAG_CONTENT_COUNT, TAG_CONTENT_UNREAD = 0x3602, 0x3603

#: message properties (https://learn.microsoft.com/en-us/graph/api/resources/message), in the
#: order of the docs' examples; the last two come only when $select names them ("the
#: internetMessageHeaders property is only returned when selected" — the resource page says
#: it "is only returned when applying a $select query option").
MESSAGE_PROPERTIES = (
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
    "uniqueBody",
    "internetMessageHeaders",
)
_SELECT_ONLY = frozenset({"uniqueBody", "internetMessageHeaders"})
#: mailFolder properties (https://learn.microsoft.com/en-us/graph/api/resources/mailfolder).
FOLDER_PROPERTIES = (
    "id",
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
)
#: attachment base type properties (https://learn.microsoft.com/en-us/graph/api/resources/attachment);
#: fileAttachment's own ones are selected qualified, "microsoft.graph.fileAttachment/contentBytes"
#: (the docs are silent on unqualified derived properties: the strict OData reading refuses them).
ATTACHMENT_PROPERTIES = ("id", "lastModifiedDateTime", "name", "contentType", "size", "isInline")
_FILE_PROPERTIES = ("contentId", "contentLocation", "contentBytes")
USER_PROPERTIES = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "businessPhones",
    "jobTitle",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
)


# -- replies ----------------------------------------------------------------------------------


@dataclass
class Reply:
    """One HTTP answer (or one $batch sub-response)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = GRAPH_JSON
    raw: bytes | None = None
    """A body that is not JSON (a message's MIME content)."""

    def encode(self) -> bytes:
        """The body bytes."""
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def _now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def graph_error_reply(exc: GraphError, request_id: str, client_request_id: str | None) -> Reply:
    """The error body of https://learn.microsoft.com/en-us/graph/errors: ``error`` with
    ``code``, ``message`` and ``innerError`` (``date``, ``request-id``, ``client-request-id``;
    capital E, as every JSON example of that page and of the batching page writes it)."""
    inner = {"date": _now_stamp(), "request-id": request_id}
    inner["client-request-id"] = client_request_id or request_id
    body = {"error": {"code": exc.code, "message": exc.message, "innerError": inner}}
    return Reply(exc.status, body, dict(exc.headers))


def _bad_request(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def _dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- requests ---------------------------------------------------------------------------------


class Headers:
    """Case-insensitive request headers (from HTTP, or from a $batch step's ``headers``)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = [(k.lower(), v) for k, v in items]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``."""
        name = name.lower()
        for key, value in self._items:
            if key == name:
                return value
        return default

    def all(self, name: str) -> list[str]:
        """Every value of ``name``."""
        name = name.lower()
        return [v for k, v in self._items if k == name]


@dataclass
class Preferences:
    """The ``Prefer`` header: ``odata.maxpagesize`` and ``IdType``."""

    max_page: int | None = None
    immutable: bool = False

    @classmethod
    def parse(cls, headers: Headers) -> Preferences:
        """Read every Prefer header (several may come, or one comma-separated)."""
        out = cls()
        for header in headers.all("prefer"):
            for part in header.split(","):
                name, _, value = part.strip().partition("=")
                name = name.strip().lower()
                value = value.strip().strip('"')
                if name == "odata.maxpagesize":
                    with contextlib.suppress(ValueError):
                        out.max_page = max(1, int(value))
                elif name == "idtype":
                    # https://learn.microsoft.com/en-us/graph/outlook-immutable-id
                    out.immutable = value == "ImmutableId"
        return out

    def applied(self, page: int | None) -> dict[str, str]:
        """A Preference-Applied header for what was honoured."""
        parts = []
        if page is not None and self.max_page is not None:
            parts.append(f"odata.maxpagesize={page}")
        if self.immutable:
            parts.append('IdType="ImmutableId"')
        return {"Preference-Applied": ", ".join(parts)} if parts else {}


@dataclass
class Call:
    """One Graph request, top-level or a $batch step."""

    method: str
    path: str
    """After the version root, with a leading "/" ("/me/mailFolders")."""
    query: dict[str, str]
    headers: Headers
    body: Any
    grant: Grant
    in_batch: bool = False

    @property
    def prefs(self) -> Preferences:
        """The request's preferences."""
        return Preferences.parse(self.headers)


def split_path(path: str) -> list[str]:
    """Path segments, percent-decoded; ``name('key')`` (the OData key form Graph's own links
    use, e.g. ``mailfolders('AQMk...')`` in https://learn.microsoft.com/en-us/graph/delta-query-messages)
    becomes two segments."""
    out: list[str] = []
    for raw in path.strip("/").split("/"):
        if not raw:
            continue
        segment = unquote(raw)
        m = _KEY_SEGMENT.match(segment)
        if m:
            out.extend([m.group(1), m.group(2)])
        else:
            out.append(segment)
    return out


def parse_query(query: str) -> dict[str, str]:
    """Query options; system options ($...) are matched without case, as Graph does."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        out[key.lower() if key.startswith("$") else key] = value
    return out


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote_on = 0, False
    for ch in text:
        if ch == "'":
            quote_on = not quote_on
        elif not quote_on and ch == "(":
            depth += 1
        elif not quote_on and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quote_on:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


# -- OData query options ----------------------------------------------------------------------


@dataclass
class Options:
    """The system query options of one request, checked against what the endpoint allows."""

    select: list[str] | None = None
    top: int | None = None
    skip: int = 0
    properties: list[tuple[str, str | None, int | None]] | None = None
    """Expanded singleValueExtendedProperties: (type, tag) or (id, None, None) for named ones."""
    attachments: list[str] | None = None
    """Expanded attachments: the $select inside the expand ([] for all properties)."""
    filter: str | None = None
    orderby: str | None = None


def _not_supported(name: str) -> GraphError:
    return _bad_request(f"The query parameter '{name}' is not supported.")


def _unknown_property(name: str, type_name: str) -> GraphError:
    # The wording Exchange's Graph front end gives for a $select it cannot map.
    return GraphError(
        400,
        "RequestBroker--ParseUri",
        f"Could not find a property named '{name}' on type "
        f"'Microsoft.OutlookServices.{type_name}'.",
    )


def parse_select(value: str, known: Iterable[str], type_name: str) -> list[str]:
    """$select: property names matched without case, answered in their canonical spelling."""
    canonical = {k.lower(): k for k in known}
    out = []
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            continue
        found = canonical.get(name.lower())
        if found is None:
            raise _unknown_property(name, type_name)
        out.append(found)
    return out


def parse_extended_filter(inner: str) -> list[tuple[str, str | None, int | None]]:
    """``$filter=id eq '...'`` (joined by ``or``) inside an expand of extended properties, as in
    https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get."""
    m = re.match(r"^\$filter\s*=\s*(.*)$", inner.strip(), re.IGNORECASE | re.DOTALL)
    if not m:
        # "Use a $filter and eq operator on the id property to specify the extended property.
        # This is currently the only way to get the singleValueLegacyExtendedProperty."
        raise _bad_request(
            "singleValueExtendedProperties can only be expanded with $filter=id eq '{id}'."
        )
    out: list[tuple[str, str | None, int | None]] = []
    for part in re.split(r"\s+or\s+", m.group(1).strip(), flags=re.IGNORECASE):
        pm = re.match(r"^\(?\s*id\s+eq\s+'([^']*)'\s*\)?$", part.strip(), re.IGNORECASE)
        if not pm:
            raise _bad_request(f"Unsupported filter on extended properties: {part!r}.")
        ident = pm.group(1).strip()
        tagged = re.match(r"^(\w+)\s+(0x[0-9a-fA-F]{1,4})$", ident)
        named = re.match(r"^(\w+)\s+\{[0-9a-fA-F-]{36}\}\s+(Name|Id)\s+\S.*$", ident)
        if tagged and tagged.group(1).lower() in _MAPI_TYPES:
            out.append((_MAPI_TYPES[tagged.group(1).lower()], None, int(tagged.group(2), 16)))
        elif named and named.group(1).lower() in _MAPI_TYPES:
            out.append((ident, ident, None))  # never set on the fake's items
        else:
            raise GraphError(
                400,
                "ErrorInvalidProperty",
                f"The extended property id '{ident}' is not valid.",
            )
    return out


def parse_options(
    call: Call,
    *,
    allowed: frozenset[str],
    known: Iterable[str] = (),
    type_name: str = "Message",
    expandable: frozenset[str] = frozenset(),
) -> Options:
    """The request's system query options; 400 for what this endpoint does not take."""
    opts = Options()
    for name, value in call.query.items():
        if not name.startswith("$"):
            continue  # custom query options: the endpoints read the ones they know
        if name not in _SYSTEM_OPTIONS or name not in allowed:
            raise _not_supported(name)
        if name == "$select":
            opts.select = parse_select(value, known, type_name)
        elif name in ("$top", "$skip"):
            try:
                number = int(value)
            except ValueError:
                raise _bad_request(f"Invalid value '{value}' for {name}.") from None
            if name == "$top" and not 1 <= number <= MAX_PAGE:
                raise _bad_request(f"The value of $top must be between 1 and {MAX_PAGE}.")
            if number < 0:
                raise _bad_request(f"Invalid value '{value}' for {name}.")
            if name == "$top":
                opts.top = number
            else:
                opts.skip = number
        elif name == "$expand":
            for item in _split_top(value):
                em = re.match(r"^([\w.]+)\s*(?:\((.*)\))?$", item, re.DOTALL)
                what = em.group(1).lower() if em else ""
                if what not in expandable:
                    raise _unknown_property(item, type_name)
                inner = (em.group(2) or "") if em else ""
                if what == "singlevalueextendedproperties":
                    opts.properties = (opts.properties or []) + parse_extended_filter(inner)
                else:
                    sm = re.match(r"^\s*\$select\s*=\s*(.*)$", inner, re.IGNORECASE)
                    if inner.strip() and not sm:
                        raise _bad_request(f"Unsupported options in $expand=attachments({inner}).")
                    known_att = (*ATTACHMENT_PROPERTIES, *_qualified_file_properties())
                    opts.attachments = (
                        parse_select(sm.group(1), known_att, "Attachment") if sm else []
                    )
        elif name == "$filter":
            opts.filter = value
        elif name == "$orderby":
            opts.orderby = value
    return opts


def _qualified_file_properties() -> tuple[str, ...]:
    return tuple(f"microsoft.graph.fileAttachment/{p}" for p in _FILE_PROPERTIES)


def _page_size(call: Call, opts: Options) -> tuple[int, int | None]:
    """(page size, the maxpagesize honoured or None): $top, else Prefer: odata.maxpagesize
    (https://learn.microsoft.com/en-us/graph/delta-query-messages#optional-request-header),
    else the default, never above MAX_PAGE."""
    prefer = call.prefs.max_page
    if opts.top is not None:
        size = opts.top if prefer is None else min(opts.top, prefer)
    else:
        size = prefer or DEFAULT_PAGE
    size = min(size, MAX_PAGE)
    return size, (size if prefer is not None else None)


# -- resources --------------------------------------------------------------------------------


def _email_address(mb: Mailbox | None) -> dict[str, Any] | None:
    if mb is None:
        return None
    return {"emailAddress": {"name": mb.name or mb.address or "", "address": mb.address or ""}}


def _mailboxes(value: str | None) -> list[Mailbox]:
    if not value:
        return []
    return [
        Mailbox(decode_header_text(name) if name else None, address.lower() or None)
        for name, address in getaddresses([value])
        if name or address
    ]


def _importance(msg: ParsedMessage) -> str:
    value = (msg.header("Importance") or "").strip().lower()
    if value in ("high", "low", "normal"):
        return value
    priority = (msg.header("X-Priority") or "").strip()[:1]
    return {"1": "high", "2": "high", "4": "low", "5": "low"}.get(priority, "normal")


def _thread_root(msg: ParsedMessage) -> str:
    refs = (msg.references or "").split()
    return refs[0] if refs else (msg.in_reply_to or msg.message_id or msg.subject or "")


def _conversation(msg: ParsedMessage) -> tuple[str, str]:
    digest = hashlib.sha1(_thread_root(msg).encode("utf-8", "replace")).digest()
    conversation_id = "AAQkAD" + base64.urlsafe_b64encode(b"C" + digest).decode()
    index = base64.b64encode(b"\x01" + digest + digest[:2]).decode()
    return conversation_id, index


def _attachment_name(att: Attachment) -> str | None:
    if att.name is not None or not att.is_item:
        # A file without a name keeps none, as in the EWS fake's reading (tests/ews/mime.py).
        return att.name
    # An item attachment is named after the attached message's subject, as Exchange does.
    return parse_message(att.content).subject


class Renderer:
    """JSON of the fake's resources for one request (its id format and $select/$expand)."""

    def __init__(self, server: GraphServer, store: Store, immutable: bool) -> None:
        self.server = server
        self.store = store
        self.immutable = immutable

    def _properties(
        self,
        wanted: list[tuple[str, str | None, int | None]] | None,
        values: dict[int, dict[str, str]],
    ) -> list[dict[str, str]] | None:
        """The expanded extended properties that exist, ids re-cased the way Graph answers
        ("Long 0xe08" for a request of 'Long 0x0E08': the tag in lower-case hex without
        leading zeros, as live answers quoted in public code show it; the docs are silent).
        None when none exists: the property is then absent from the answer."""
        if wanted is None:
            return None
        out = []
        for type_name, _named, tag in wanted:
            if tag is None:
                continue
            by_type = values.get(tag)
            if by_type is None or type_name not in by_type:
                continue
            out.append({"id": f"{type_name} {hex(tag)}", "value": by_type[type_name]})
        return out or None

    def message(
        self,
        m: Message,
        opts: Options | None = None,
        *,
        odata_type: bool = False,
    ) -> dict[str, Any]:
        """A message resource."""
        opts = opts or Options()
        store, msg = self.store, m.msg
        mid = store.message_id(m, self.immutable)
        out: dict[str, Any] = {}
        if odata_type:
            out["@odata.type"] = "#microsoft.graph.message"
        out["@odata.etag"] = f'W/"{store.change_key(m)}"'
        wanted = set(opts.select) if opts.select is not None else None

        def want(name: str) -> bool:
            if wanted is None:
                return name not in _SELECT_ONLY
            return name in wanted

        senders = _mailboxes(msg.header("Sender"))
        conversation_id, conversation_index = _conversation(msg)
        values: dict[str, Callable[[], Any]] = {
            "id": lambda: mid,
            "createdDateTime": lambda: _dt(m.received),
            "lastModifiedDateTime": lambda: _dt(m.last_modified),
            "changeKey": lambda: store.change_key(m),
            "categories": lambda: list(m.categories),
            "receivedDateTime": lambda: _dt(m.received),
            "sentDateTime": lambda: _dt(msg.date or m.received),
            # "This property doesn't include inline attachments, so if a message contains only
            # inline attachments, this property is false." (message resource page)
            "hasAttachments": lambda: any(not a.is_inline for a in msg.attachments),
            "internetMessageId": lambda: msg.message_id,
            "subject": lambda: msg.subject or "",
            # The fake does not render bodies: mailclean never reads them.
            "bodyPreview": lambda: "",
            "importance": lambda: _importance(msg),
            "parentFolderId": lambda: m.folder.id,
            "conversationId": lambda: conversation_id,
            "conversationIndex": lambda: conversation_index,
            "isDeliveryReceiptRequested": lambda: msg.header("Return-Receipt-To") is not None,
            "isReadReceiptRequested": lambda: msg.header("Disposition-Notification-To") is not None,
            "isRead": lambda: m.is_read,
            "isDraft": lambda: m.is_draft,
            "webLink": lambda: (
                "https://outlook.office365.com/owa/?ItemID="
                + quote(mid, safe="")
                + "&exvsurl=1&viewmodel=ReadMessageItem"
            ),
            "inferenceClassification": lambda: "focused",
            "body": lambda: {"contentType": "text", "content": ""},
            "sender": lambda: _email_address(senders[0] if senders else msg.sender),
            "from": lambda: _email_address(msg.sender),
            "toRecipients": lambda: [_email_address(x) for x in msg.to],
            "ccRecipients": lambda: [_email_address(x) for x in msg.cc],
            "bccRecipients": lambda: [_email_address(x) for x in _mailboxes(msg.header("Bcc"))],
            "replyTo": lambda: [_email_address(x) for x in _mailboxes(msg.header("Reply-To"))],
            "flag": lambda: {"flagStatus": m.flag_status},
            "uniqueBody": lambda: {"contentType": "text", "content": ""},
            # Drafts never went through transport: they have no internet headers.
            "internetMessageHeaders": lambda: (
                None if m.is_draft else [{"name": k, "value": v} for k, v in msg.headers]
            ),
        }
        for name in MESSAGE_PROPERTIES:
            if name == "id" or want(name):
                out[name] = values[name]()
        flags = (0x1 if m.is_read else 0) | (0x8 if m.is_draft else 0)
        flags |= 0x10 if any(not a.is_inline for a in msg.attachments) else 0
        props: dict[int, dict[str, str]] = {
            TAG_MESSAGE_SIZE: {"Long": str(m.size), "Integer": str(m.size)},
            TAG_MESSAGE_FLAGS: {"Integer": str(flags)},
        }
        if m.flag_status != FLAG_NOT_FLAGGED:
            props[TAG_FLAG_STATUS] = {"Integer": "2" if m.flag_status == FLAG_FLAGGED else "1"}
        expanded = self._properties(opts.properties, props)
        if expanded is not None:
            out["singleValueExtendedProperties"] = expanded
        if opts.attachments is not None:
            out["attachments"] = [
                self.attachment(m, i, opts.attachments or None) for i in range(len(msg.attachments))
            ]
        return out

    def attachment(self, m: Message, index: int, select: list[str] | None) -> dict[str, Any]:
        """An attachment (fileAttachment or itemAttachment,
        https://learn.microsoft.com/en-us/graph/api/resources/attachment)."""
        att = m.msg.attachments[index]
        full: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.itemAttachment"
            if att.is_item
            else "#microsoft.graph.fileAttachment",
            "id": self.store.attachment_id(m, index, self.immutable),
            "lastModifiedDateTime": _dt(m.received),
            "name": _attachment_name(att),
            "contentType": att.content_type,
            "size": att.size,
            "isInline": att.is_inline,
        }
        if not att.is_item:
            full["contentId"] = att.content_id
            full["contentLocation"] = None
            full["contentBytes"] = base64.b64encode(att.content).decode()
        if select is None:
            return full
        out = {"@odata.type": full["@odata.type"], "id": full["id"]}
        for name in select:
            short = name.rpartition("/")[2]
            if short in full:
                out[short] = full[short]
        return out

    def folder(self, f: Folder, opts: Options | None = None) -> dict[str, Any]:
        """A mailFolder resource."""
        opts = opts or Options()
        parent = f.parent
        values: dict[str, Any] = {
            "id": f.id,
            "displayName": f.name,
            # The mailbox root above Top of Information Store is no mail folder: the fake
            # names it with a fixed id of its own.
            "parentFolderId": parent.id
            if parent is not None
            else self.server.root_folder_id(self.store),
            "childFolderCount": len(f.children),
            "unreadItemCount": f.unread,
            "totalItemCount": len(f.messages),
            "isHidden": f.hidden,
        }
        names = opts.select if opts.select is not None else list(FOLDER_PROPERTIES)
        out: dict[str, Any] = {"id": f.id}
        for name in names:
            out[name] = values[name]
        props = {
            TAG_MESSAGE_SIZE: {"Long": str(f.size), "Integer": str(f.size)},
            TAG_CONTENT_COUNT: {"Integer": str(len(f.messages))},
            TAG_CONTENT_UNREAD: {"Integer": str(f.unread)},
        }
        expanded = self._properties(opts.properties, props)
        if expanded is not None:
            out["singleValueExtendedProperties"] = expanded
        return out

    def removed(self, stone: Tombstone) -> dict[str, Any]:
        """A delta entry for a message that left the folder. For messages the docs show
        ``"reason": "deleted"`` (https://learn.microsoft.com/en-us/graph/delta-query-messages);
        they are silent on a message moved out: the fake says "deleted" for both (clients
        treat either reason as gone from this folder)."""
        return {
            "@odata.type": "#microsoft.graph.message",
            "id": stone.immutable_id if self.immutable else stone.regular_id,
            "@removed": {"reason": "deleted"},
        }


# -- faults -----------------------------------------------------------------------------------


@dataclass
class _Fault:
    kind: str  # "throttle" or "drop"
    remaining: int
    path_contains: str | None
    skip: int = 0
    status: int = 429
    retry_after: int = 1
    in_batch: bool = False
    processed: bool = False


def throttled_reply(status: int, retry_after: int) -> GraphError:
    """429 as https://learn.microsoft.com/en-us/graph/throttling shows it (code TooManyRequests,
    a Retry-After header in seconds), or 503 (serviceNotAvailable, "There may be a Retry-After
    header", https://learn.microsoft.com/en-us/graph/errors)."""
    if status == 503:
        return GraphError(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Try again after the delay in Retry-After.",
            {"Retry-After": str(retry_after)},
        )
    return GraphError(
        status, "TooManyRequests", "Please retry again later.", {"Retry-After": str(retry_after)}
    )


def kind_of(method: str, path: str) -> str:
    """The kind a Graph request is counted under (see :attr:`GraphServer.counts`)."""
    segs = [s.lower() for s in split_path(path)]
    if segs[:1] == ["v1.0"]:
        segs = segs[1:]
    if segs[:1] == ["$batch"]:
        return "batch"
    if segs[:1] == ["me"]:
        segs = segs[1:]
    elif segs[:1] == ["users"]:
        segs = segs[2:]
    if not segs:
        return "user"
    last = segs[-1]
    if last in ("delta", "microsoft.graph.delta"):
        return "delta"
    if last == "move":
        return "move"
    if last == "permanentdelete":
        return "permanentDelete"
    if last == "$value":
        return "mime"
    if "attachments" in segs:
        return "attachments"
    if "messages" in segs:
        index = len(segs) - 1 - segs[::-1].index("messages")
        if index == len(segs) - 1:
            return "messages"
        return {"DELETE": "delete", "PATCH": "patch"}.get(method, "message")
    if last in ("mailfolders", "childfolders"):
        return "createFolder" if method == "POST" else "folders"
    return "folder"


# -- the server -------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about clients that refuse the certificate or hang up."""
        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class GraphServer:
    """The loopback Graph + identity platform server; see the module docstring."""

    tls: tuple[Path | str, Path | str] | None = None
    """(certificate, key) PEM files: serve HTTPS (MSAL only takes https authorities)."""
    latency: float = 0.0
    """Seconds slept in every request (and every $batch step) while it holds its slot."""
    max_concurrent: int = 4
    """Requests in flight per app and mailbox before a 429 MailboxConcurrency: "4 concurrent
    requests" per "app ID and mailbox combination",
    https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits."""
    tenant_id: str = DEFAULT_TENANT
    tenant_domains: tuple[str, ...] = ("mairie-exemple.fr",)
    email: str = DEFAULT_EMAIL
    locale: str = "en"
    port: int = 0
    token_lifetime: int = 3599
    device_code_interval: int = 5
    """The device authorization's ``interval``: the docs' value is 5 s; tests lower it, as
    MSAL waits that long between polls."""
    device_code_lifetime: int = 900
    counts: Counter[str] = field(default_factory=Counter)
    """Requests per kind: "token", "devicecode", "discovery", "keys", "batch", "batch.sub",
    "folders", "folder", "createFolder", "messages", "message", "delta", "attachments",
    "move", "delete", "permanentDelete", "patch", "mime", "user". A $batch step counts both as
    "batch.sub" and as its own kind; throttled and dropped requests count too."""
    throttled: int = 0
    """429/503 answers sent, at the top level and inside batches."""
    identity: Identity = field(init=False)
    _stores: dict[str, Store] = field(default_factory=dict)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: dict[tuple[str, str], int] = field(default_factory=dict)
    _peak: dict[tuple[str, str], int] = field(default_factory=dict)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.identity = Identity(
            self.tenant_id,
            self.tenant_domains,
            token_lifetime=self.token_lifetime,
            device_code_lifetime=self.device_code_lifetime,
            device_code_interval=self.device_code_interval,
        )
        self.mailbox(self.email)

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """scheme://127.0.0.1:port"""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        """The Graph root, like https://graph.microsoft.com/v1.0."""
        return f"{self.base_url}/v1.0"

    @property
    def authority_url(self) -> str:
        """The identity platform host, like https://login.microsoftonline.com (clients append
        the tenant)."""
        return self.base_url

    def start(self) -> GraphServer:
        """Listen on 127.0.0.1 (a free port unless ``port`` was set) in a daemon thread."""
        handler = type("Handler", (_Handler,), {"graph": self})
        httpd = _HTTPServer(("127.0.0.1", self.port), handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            # HTTP/1.1 only: a client offering h2 (httpx with http2=True) falls back to it.
            context.set_alpn_protocols(["http/1.1"])
            httpd.socket = context.wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            name="graph-server",
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GraphServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- tenant: apps, mailboxes, tokens ------------------------------------------------------

    def register_app(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        certificate_pem: bytes | str | None = None,
        secret_expired: bool = False,
        application_permissions: Iterable[str] = ("Mail.ReadWrite",),
        delegated_permissions: Iterable[str] = ("Mail.ReadWrite",),
        consented: bool = True,
        allowed_mailboxes: Iterable[str] | None = None,
        public_client: bool = True,
        name: str = "mailclean test app",
    ) -> App:
        """Register an app (again: replace it). ``certificate_pem`` is the public certificate
        whose key signs the client assertions; ``allowed_mailboxes`` scopes an app-only app to
        those mailboxes (None: all); ``consented=False`` leaves the permissions ungranted."""
        certificate = None
        if certificate_pem is not None:
            pem = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
            certificate = x509.load_pem_x509_certificate(pem)
        app = App(
            client_id=client_id,
            secret=secret,
            certificate=certificate,
            secret_expired=secret_expired,
            application_permissions=frozenset(application_permissions),
            delegated_permissions=frozenset(delegated_permissions),
            consented=consented,
            allowed_mailboxes=None
            if allowed_mailboxes is None
            else frozenset(e.lower() for e in allowed_mailboxes),
            public_client=public_client,
            name=name,
        )
        return self.identity.register(app)

    def mailbox(self, email: str | None = None) -> Store:
        """The mailbox of ``email`` (the default one when None), created on first use."""
        key = (email or self.email).lower()
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = Store(key, locale=self.locale)
            return store

    @property
    def store(self) -> Store:
        """The default mailbox."""
        return self.mailbox()

    def seed(
        self,
        messages: Iterable[GeneratedMessage],
        email: str | None = None,
        cache: dict[bytes, ParsedMessage] | None = None,
    ) -> dict[str, int]:
        """Deliver generated messages into a mailbox (:meth:`Store.seed`)."""
        return self.mailbox(email).seed(messages, cache)

    def path_for(self, generated_folder: str) -> str:
        """The Graph folder path of a mailgen folder ("Trash" -> "Deleted Items")."""
        return self.store.path_for(generated_folder)

    def approve_device_codes(self, user_email: str, after_polls: int = 1) -> None:
        """The user signs in: pending device codes and later ones are approved for
        ``user_email`` once ``after_polls`` more polls got ``authorization_pending``."""
        self.mailbox(user_email)
        self.identity.approve(user_email, after_polls)

    def decline_device_codes(self) -> None:
        """The user declines the sign-in: polls answer ``authorization_declined``."""
        self.identity.decline()

    def issue_token(
        self,
        client_id: str,
        *,
        email: str | None = None,
        app_only: bool = False,
        scopes: Iterable[str] | None = None,
    ) -> str:
        """An access token as if signed in (for mailclean's ``--auth token``). The app is
        registered with the defaults if unknown; ``scopes`` default to its permissions."""
        app = self.identity.apps.get(client_id) or self.register_app(client_id)
        if scopes is None:
            scopes = app.application_permissions if app_only else app.delegated_permissions
        user = None if app_only else (email or self.email)
        if user is not None:
            self.mailbox(user)
        grant = self.identity.mint(
            client_id,
            app_only=app_only,
            email=user,
            scopes=frozenset(s.rpartition("/")[2] for s in scopes),
        )
        return grant.token

    def expire_tokens(self) -> None:
        """Every access token handed out so far now answers 401 (refresh tokens still work)."""
        self.identity.expire_tokens()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token handed out so far is now refused (invalid_grant)."""
        self.identity.revoke_refresh_tokens()

    def expire_delta_tokens(self, email: str | None = None) -> None:
        """deltaLinks and nextLinks handed out so far answer 410 SyncStateNotFound: in
        ``email``'s mailbox, or in every mailbox when None."""
        with self._lock:
            stores = list(self._stores.values())
        for store in stores:
            if email is None or store.email == email.lower():
                store.expire_delta_tokens()

    @staticmethod
    def root_folder_id(store: Store) -> str:
        """The id the fake gives the mailbox root (the parent of Top of Information Store)."""
        return "AQMkAD" + store.user_id.replace("-", "")[:20] + "AAAAAQEAAAA="

    # -- faults and counts --------------------------------------------------------------------

    def throttle(
        self,
        count: int = 1,
        *,
        retry_after: int = 1,
        status: int = 429,
        path_contains: str | None = None,
        in_batch: bool = False,
        after: int = 0,
    ) -> None:
        """Answer the next ``count`` requests (whose path and query contain ``path_contains``,
        after ``after`` of them pass) with ``status`` (429 or 503) and Retry-After; with
        ``in_batch`` the $batch steps are answered so, inside a batch that is itself 200
        ("Requests in a batch are evaluated individually against the applicable throttling
        limits and if any request exceeds the limits, it fails with a status of 429",
        https://learn.microsoft.com/en-us/graph/json-batching#batch-size-limitations)."""
        with self._lock:
            self._faults.append(
                _Fault("throttle", count, path_contains, after, status, retry_after, in_batch)
            )

    def drop(
        self,
        count: int = 1,
        *,
        path_contains: str | None = None,
        after: int = 0,
        processed: bool = False,
    ) -> None:
        """Close the connection of the next ``count`` requests without an answer; with
        ``processed`` each is carried out first (the answer is what gets lost)."""
        with self._lock:
            self._faults.append(_Fault("drop", count, path_contains, after, processed=processed))

    def clear_faults(self) -> None:
        """Forget the faults not yet triggered."""
        with self._lock:
            self._faults.clear()

    def _fault_for(self, target: str, *, in_batch: bool) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining <= 0 or fault.in_batch != in_batch:
                    continue
                if fault.path_contains is not None and fault.path_contains not in target:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.remaining -= 1
                if fault.kind == "throttle":
                    self.throttled += 1
                return fault
            return None

    def _count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def reset_counts(self) -> None:
        """Start counting from zero (requests, throttles, peaks)."""
        with self._lock:
            self.counts.clear()
            self.throttled = 0
            self._peak.clear()

    def request_counts(self) -> dict[str, int]:
        """A copy of :attr:`counts`."""
        with self._lock:
            return dict(self.counts)

    def peak_in_flight(self, email: str | None = None) -> int:
        """The highest number of requests seen in flight at once for one app on ``email``'s
        mailbox (every mailbox when None)."""
        with self._lock:
            return max(
                (n for (_app, mb), n in self._peak.items() if email is None or mb == email.lower()),
                default=0,
            )

    @contextlib.contextmanager
    def _slot(self, client_id: str, email: str) -> Iterator[None]:
        key = (client_id, email)
        with self._lock:
            n = self._in_flight.get(key, 0)
            if n >= self.max_concurrent:
                self.throttled += 1
                # The answer observed for this limit (Microsoft Q&A 968767, a batch's
                # sub-response): 429, Retry-After 1, ApplicationThrottled.
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            self._in_flight[key] = n + 1
            self._peak[key] = max(self._peak.get(key, 0), n + 1)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[key] -= 1

    # -- dispatch -----------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Headers, body: bytes
    ) -> tuple[Reply | None, bool]:
        """(reply, lost): the answer to one HTTP request; reply None means close the
        connection without answering, ``lost`` that the work was done all the same."""
        path, _, query = target.partition("?")
        if path == "/v1.0" or path.startswith("/v1.0/"):
            return self._graph(method, path, query, target, headers, body)
        if path == "/_test/stats" and method == "GET":
            stats = {"counts": self.request_counts(), "throttled": self.throttled}
            return Reply(200, stats, content_type="application/json"), False
        return self._identity(method, path, target, headers, body)

    def _identity(
        self, method: str, path: str, target: str, headers: Headers, body: bytes
    ) -> tuple[Reply | None, bool]:
        segs = [s for s in path.strip("/").split("/") if s]
        tenant, rest = (unquote(segs[0]), "/".join(segs[1:])) if segs else ("", "")
        kinds = {
            ("GET", "v2.0/.well-known/openid-configuration"): "discovery",
            ("GET", "discovery/v2.0/keys"): "keys",
            ("POST", "oauth2/v2.0/devicecode"): "devicecode",
            ("POST", "oauth2/v2.0/token"): "token",
        }
        kind = kinds.get((method, rest))
        if kind is None:
            return Reply(404, {"error": "not_found"}, content_type="application/json"), False
        self._count(kind)
        fault = self._fault_for(target, in_batch=False)
        if fault is not None and fault.kind == "drop" and not fault.processed:
            return None, False
        json_type = "application/json; charset=utf-8"
        if fault is not None and fault.kind == "throttle":
            # The identity platform's own throttling answer is the OAuth temporarily_unavailable.
            exc = IdentityError(
                "temporarily_unavailable",
                90024,
                "RequestBudgetExceededError - A transient error has occurred. Try again.",
                status=fault.status,
            )
            reply = Reply(
                exc.status,
                error_body(exc, headers.get("client-request-id")),
                {"Retry-After": str(fault.retry_after)},
                json_type,
            )
            return reply, False
        if self.latency:
            time.sleep(self.latency)
        base = self.authority_url
        try:
            if kind == "discovery":
                answer = self.identity.discovery(base, tenant)
            elif kind == "keys":
                answer = self.identity.keys(base, tenant)
            else:
                ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
                if ctype != "application/x-www-form-urlencoded":
                    raise IdentityError(
                        "invalid_request",
                        900561,
                        "The endpoint only accepts POST requests with an "
                        "application/x-www-form-urlencoded body.",
                    )
                form = parse_form(body)
                if kind == "devicecode":
                    answer = self.identity.device_authorization(base, tenant, form)
                else:
                    answer = self.identity.token(
                        base, tenant, form, parse_basic(headers.get("authorization"))
                    )
            reply = Reply(200, answer, {"Cache-Control": "no-store, no-cache"}, json_type)
        except IdentityError as exc:
            reply = Reply(
                exc.status,
                error_body(exc, headers.get("client-request-id")),
                {"Cache-Control": "no-store, no-cache"},
                json_type,
            )
        if fault is not None and fault.kind == "drop":
            return None, True
        return reply, False

    def _authenticate(self, headers: Headers) -> Grant:
        """The grant behind the Authorization header; 401 InvalidAuthenticationToken with the
        messages Graph gives ("Access token is empty.", "Access token has expired or is not yet
        valid."; https://learn.microsoft.com/en-us/graph/resolve-auth-errors#401-unauthorized-error-is-your-token-valid)."""
        challenge = {
            "WWW-Authenticate": f'Bearer realm="", authorization_uri="{self.authority_url}/common/'
            f'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
        }
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", challenge)
        grant, why = self.identity.grant(token)
        if grant is None:
            message = (
                "Access token has expired or is not yet valid."
                if why == "expired"
                else "CompactToken parsing failed with error code: 80049217"
            )
            raise GraphError(401, "InvalidAuthenticationToken", message, challenge)
        if not grant.scopes:
            # An app-only token issued without admin consent has no roles; the answer Graph
            # gives it, as public reports quote it (the docs only say "403 Forbidden: Have you
            # chosen the right set of permissions?").
            raise GraphError(
                403, "AccessDenied", "Either scp or roles claim need to be present in the token."
            )
        return grant

    def _graph(
        self, method: str, path: str, query: str, target: str, headers: Headers, body: bytes
    ) -> tuple[Reply | None, bool]:
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id")
        self._count(kind_of(method, path))
        fault = self._fault_for(target, in_batch=False)
        if fault is not None and fault.kind == "drop" and not fault.processed:
            return None, False
        try:
            if fault is not None and fault.kind == "throttle":
                raise throttled_reply(fault.status, fault.retry_after)
            rel = path[len("/v1.0") :] or "/"
            if rel.strip("/") == "$batch":
                reply = self._batch(method, headers, body, request_id)
            else:
                grant = self._authenticate(headers)
                call = Call(
                    method, rel, parse_query(query), headers, _json_body(headers, body), grant
                )
                reply = self._execute(call, request_id)
        except GraphError as exc:
            reply = graph_error_reply(exc, request_id, client_request_id)
        reply.headers.setdefault("request-id", request_id)
        reply.headers.setdefault("client-request-id", client_request_id or request_id)
        if fault is not None and fault.kind == "drop":
            return None, True
        return reply, False

    def _execute(self, call: Call, request_id: str) -> Reply:
        """Resolve the mailbox, check access, take a slot, carry the request out."""
        try:
            store, prefix, segs = self._resolve(call)
            with self._slot(call.grant.client_id, store.email):
                if self.latency:
                    time.sleep(self.latency)
                with store.lock:
                    return self._route(call, store, prefix, segs)
        except GraphError as exc:
            return graph_error_reply(exc, request_id, call.headers.get("client-request-id"))

    def _resolve(self, call: Call) -> tuple[Store, str, list[str]]:
        """(mailbox, the user part of the path as given, the segments after it)."""
        segs = split_path(call.path)
        grant = call.grant
        if not segs:
            raise _bad_request("Invalid request: the URL names no resource.")
        root = segs[0].lower()
        if root == "me":
            if grant.app_only:
                # The answer Graph gives /me with an app-only token.
                raise _bad_request("/me request is only valid with delegated authentication flow.")
            assert grant.email is not None
            store = self.mailbox(grant.email)
            prefix, rest = "me", segs[1:]
        elif root == "users" and len(segs) >= 2:
            ident = segs[1].lower()
            with self._lock:
                stores = list(self._stores.values())
            found = [s for s in stores if ident in (s.email, s.user_id)]
            if not found:
                raise GraphError(
                    404, "ErrorInvalidUser", f"The requested user '{segs[1]}' is invalid."
                )
            store = found[0]
            prefix, rest = f"users/{quote(segs[1], safe='@')}", segs[2:]
        else:
            raise _bad_request(f"Resource not found for the segment '{segs[0]}'.")
        if grant.app_only:
            app = self.identity.apps.get(grant.client_id)
            if (
                app is not None
                and app.allowed_mailboxes is not None
                and store.email not in app.allowed_mailboxes
            ):
                # https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access#handling-api-errors
                raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
        elif grant.email != store.email:
            # Another user's mailbox needs delegate rights and the .Shared permissions, which
            # the fake does not model.
            raise GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)
        return store, prefix, rest

    @staticmethod
    def _need(call: Call, permissions: frozenset[str]) -> None:
        if not call.grant.scopes & permissions:
            raise GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)

    def _context(self, store: Store, what: str) -> str:
        """An ``@odata.context`` for ``what`` in ``store``'s mailbox."""
        return f"{self.graph_url}/$metadata#users('{store.user_id}')/{what}"

    def _link(self, call: Call, query: dict[str, str]) -> str:
        """An absolute link to this request's path with ``query``."""
        return f"{self.graph_url}/{call.path.lstrip('/')}?" + urlencode(
            query, quote_via=quote, safe="$'(),=@"
        )

    # -- routes -------------------------------------------------------------------------------

    def _route(self, call: Call, store: Store, prefix: str, segs: list[str]) -> Reply:
        if not segs:
            return self._user(call, store)
        head = segs[0].lower()
        if head == "mailfolders":
            return self._folders(call, store, prefix, segs[1:], None)
        if head == "messages":
            return self._messages(call, store, prefix, None, segs[1:])
        raise _bad_request(f"Resource not found for the segment '{segs[0]}'.")

    def _user(self, call: Call, store: Store) -> Reply:
        """GET /me, /users/{id}: https://learn.microsoft.com/en-us/graph/api/user-get (User.Read
        delegated, User.Read.All app-only; Mail permissions do not read a user)."""
        if call.method != "GET":
            raise GraphError(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            )
        self._need(call, USER_PERMISSIONS)
        opts = parse_options(
            call, allowed=frozenset({"$select"}), known=USER_PROPERTIES, type_name="User"
        )
        given, _, surname = store.display_name.partition(" ")
        values: dict[str, Any] = {
            "id": store.user_id,
            "displayName": store.display_name,
            "givenName": given,
            "surname": surname or None,
            "mail": store.email,
            "userPrincipalName": store.email,
            "businessPhones": [],
            "jobTitle": None,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "fr-FR" if store.locale == "fr" else "en-US",
        }
        names = opts.select if opts.select is not None else list(USER_PROPERTIES)
        out: dict[str, Any] = {"@odata.context": f"{self.graph_url}/$metadata#users/$entity"}
        out.update({n: values[n] for n in names})
        return Reply(200, out)

    def _folders(
        self, call: Call, store: Store, prefix: str, segs: list[str], parent: Folder | None
    ) -> Reply:
        renderer = Renderer(self, store, call.prefs.immutable)
        if not segs:
            container = parent or store.msgfolderroot
            if call.method == "GET":
                return self._list_folders(call, store, renderer, container)
            if call.method == "POST":
                return self._create_folder(call, store, renderer, container)
            raise GraphError(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            )
        folder = store.folder_ref(segs[0])
        if parent is not None and folder.parent is not parent:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        rest = segs[1:]
        if not rest:
            if call.method != "GET":
                raise GraphError(
                    501,
                    "NotImplemented",
                    "The loopback Graph server does not update or delete folders.",
                )
            self._need(call, READ_PERMISSIONS)
            opts = parse_options(
                call,
                allowed=frozenset({"$select", "$expand"}),
                known=FOLDER_PROPERTIES,
                type_name="MailFolder",
                expandable=frozenset({"singlevalueextendedproperties"}),
            )
            body = {"@odata.context": self._context(store, "mailFolders/$entity")}
            body.update(renderer.folder(folder, opts))
            return Reply(200, body)
        head = rest[0].lower()
        if head == "childfolders":
            return self._folders(call, store, prefix, rest[1:], folder)
        if head == "messages":
            return self._messages(call, store, prefix, folder, rest[1:])
        raise _bad_request(f"Resource not found for the segment '{rest[0]}'.")

    def _list_folders(
        self, call: Call, store: Store, renderer: Renderer, container: Folder
    ) -> Reply:
        """GET mailFolders / childFolders: "By default, this operation does not return hidden
        folders. Use a query parameter includeHiddenFolders to include them in the response."
        (https://learn.microsoft.com/en-us/graph/api/user-list-mailfolders,
        https://learn.microsoft.com/en-us/graph/api/mailfolder-list-childfolders); pages of 10
        by default, $top, next pages by ``@odata.nextLink`` with $skip
        (https://learn.microsoft.com/en-us/graph/paging)."""
        self._need(call, READ_PERMISSIONS)
        opts = parse_options(
            call,
            allowed=frozenset({"$select", "$expand", "$top", "$skip"}),
            known=FOLDER_PROPERTIES,
            type_name="MailFolder",
            expandable=frozenset({"singlevalueextendedproperties"}),
        )
        hidden_flag = call.query.get("includeHiddenFolders")
        if hidden_flag is not None and hidden_flag.lower() not in ("true", "false"):
            raise _bad_request(f"Invalid value '{hidden_flag}' for includeHiddenFolders.")
        include_hidden = (hidden_flag or "").lower() == "true"
        children = [f for f in container.children if include_hidden or not f.hidden]
        size, applied = _page_size(call, opts)
        page = children[opts.skip : opts.skip + size]
        body: dict[str, Any] = {"@odata.context": self._context(store, "mailFolders")}
        if opts.skip + size < len(children):
            query = dict(call.query)
            query["$skip"] = str(opts.skip + size)
            if "$top" not in query:
                query["$top"] = str(size)
            body["@odata.nextLink"] = self._link(call, query)
        body["value"] = [renderer.folder(f, opts) for f in page]
        return Reply(200, body, call.prefs.applied(applied))

    def _create_folder(
        self, call: Call, store: Store, renderer: Renderer, container: Folder
    ) -> Reply:
        """POST mailFolders / childFolders with ``displayName`` (and ``isHidden``, "This
        property can be set only when creating the folder"):
        https://learn.microsoft.com/en-us/graph/api/mailfolder-post-childfolders. 201."""
        self._need(call, WRITE_PERMISSIONS)
        body = call.body if isinstance(call.body, dict) else None
        name = (body or {}).get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise GraphError(
                400, "ErrorInvalidParameter", "The value of the parameter 'DisplayName' is empty."
            )
        created = store.create_child(container, name, hidden=bool((body or {}).get("isHidden")))
        out = {"@odata.context": self._context(store, "mailFolders/$entity")}
        out.update(renderer.folder(created))
        return Reply(201, out)

    def _messages(
        self, call: Call, store: Store, prefix: str, folder: Folder | None, segs: list[str]
    ) -> Reply:
        renderer = Renderer(self, store, call.prefs.immutable)
        if not segs:
            if call.method != "GET":
                raise GraphError(
                    501, "NotImplemented", "The loopback Graph server does not create messages."
                )
            return self._list_messages(call, store, renderer, folder)
        if segs[0].lower() in ("delta", "microsoft.graph.delta") and len(segs) == 1:
            if folder is None:
                # v1.0 tracks messages per folder only ("Delta query is a per-folder operation").
                raise _bad_request("Resource not found for the segment 'delta'.")
            return self._delta(call, store, renderer, prefix, folder)
        m = store.message_ref(segs[0])
        rest = segs[1:]
        if not rest:
            if call.method == "GET":
                return self._get_message(call, renderer, m)
            if call.method == "PATCH":
                return self._patch_message(call, store, renderer, m)
            if call.method == "DELETE":
                # https://learn.microsoft.com/en-us/graph/api/message-delete: 204 No Content.
                self._need(call, WRITE_PERMISSIONS)
                store.delete_message(m)
                return Reply(204)
            raise GraphError(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            )
        head = rest[0].lower()
        if head == "move" and len(rest) == 1 and call.method == "POST":
            return self._move(call, store, renderer, m)
        if head == "permanentdelete" and len(rest) == 1 and call.method == "POST":
            # https://learn.microsoft.com/en-us/graph/api/message-permanentdelete: 204.
            self._need(call, WRITE_PERMISSIONS)
            store.permanent_delete_message(m)
            return Reply(204)
        if head == "attachments" and call.method == "GET":
            return self._attachments(call, store, renderer, m, rest[1:])
        if head == "$value" and len(rest) == 1 and call.method == "GET":
            return self._mime(call, m)
        if head in ("move", "permanentdelete", "attachments"):
            raise GraphError(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            )
        raise _bad_request(f"Resource not found for the segment '{rest[0]}'.")

    def _list_messages(
        self, call: Call, store: Store, renderer: Renderer, folder: Folder | None
    ) -> Reply:
        """GET messages (of a folder, or of the mailbox: "including the Deleted Items and
        Clutter folders", https://learn.microsoft.com/en-us/graph/api/user-list-messages): pages
        of 10 by default, $top 1..1000, $skip, $select, $expand; $orderby on receivedDateTime
        only (the default order is not documented: the fake gives newest first). $filter and
        $search are refused: the fake does not evaluate them."""
        self._need(call, READ_PERMISSIONS)
        opts = parse_options(
            call,
            allowed=frozenset({"$select", "$expand", "$top", "$skip", "$orderby"}),
            known=MESSAGE_PROPERTIES,
            expandable=frozenset({"singlevalueextendedproperties", "attachments"}),
        )
        if folder is None:
            items = [m for f in store.folders() for m in f.messages.values()]
        else:
            items = list(folder.messages.values())
        descending = True
        if opts.orderby is not None:
            om = re.match(
                r"^\s*receivedDateTime(?:\s+(asc|desc))?\s*$", opts.orderby, re.IGNORECASE
            )
            if not om:
                raise _bad_request(f"The loopback Graph server cannot order by '{opts.orderby}'.")
            descending = (om.group(1) or "asc").lower() == "desc"
        items.sort(key=lambda m: (m.received, m.serial), reverse=descending)
        size, applied = _page_size(call, opts)
        page = items[opts.skip : opts.skip + size]
        body: dict[str, Any] = {"@odata.context": self._context(store, "messages")}
        if opts.skip + size < len(items):
            query = dict(call.query)
            query["$skip"] = str(opts.skip + size)
            if "$top" not in query:
                query["$top"] = str(size)
            body["@odata.nextLink"] = self._link(call, query)
        body["value"] = [renderer.message(m, opts) for m in page]
        return Reply(200, body, call.prefs.applied(applied))

    def _get_message(self, call: Call, renderer: Renderer, m: Message) -> Reply:
        """GET a message: https://learn.microsoft.com/en-us/graph/api/message-get ($select,
        $expand; internetMessageHeaders when selected)."""
        self._need(call, READ_PERMISSIONS)
        opts = parse_options(
            call,
            allowed=frozenset({"$select", "$expand"}),
            known=MESSAGE_PROPERTIES,
            expandable=frozenset({"singlevalueextendedproperties", "attachments"}),
        )
        body = {"@odata.context": self._context(renderer.store, "messages/$entity")}
        body.update(renderer.message(m, opts))
        return Reply(200, body, call.prefs.applied(None))

    def _mime(self, call: Call, m: Message) -> Reply:
        """GET messages/{id}/$value: "Specifying the $value parameter returns the message
        content in MIME format, and not a message resource", ``Content-type: text/plain``
        (https://learn.microsoft.com/en-us/graph/api/message-get, example 4). Exchange
        regenerates the MIME from the item; the fake gives back the bytes it stored (CRLF)."""
        self._need(call, READ_PERMISSIONS)
        parse_options(call, allowed=frozenset())
        return Reply(200, headers={}, content_type="text/plain", raw=m.raw)

    def _patch_message(self, call: Call, store: Store, renderer: Renderer, m: Message) -> Reply:
        """PATCH a message (https://learn.microsoft.com/en-us/graph/api/message-update): the
        fake updates isRead, flag.flagStatus and categories; 200 with the message."""
        self._need(call, WRITE_PERMISSIONS)
        if not isinstance(call.body, dict):
            raise _bad_request("The request body must be a JSON object.")
        is_read = flag_status = categories = None
        for key, value in call.body.items():
            if key == "isRead" and isinstance(value, bool):
                is_read = value
            elif key == "flag" and isinstance(value, dict):
                status = value.get("flagStatus")
                if status not in (FLAG_NOT_FLAGGED, FLAG_FLAGGED, FLAG_COMPLETE):
                    raise _bad_request(f"Invalid flagStatus {status!r}.")
                flag_status = status
            elif key == "categories" and isinstance(value, list):
                categories = [str(c) for c in value]
            else:
                raise _bad_request(f"The loopback Graph server does not update '{key}'.")
        store.update_message(m, is_read=is_read, flag_status=flag_status, categories=categories)
        body = {"@odata.context": self._context(store, "messages/$entity")}
        body.update(renderer.message(m))
        return Reply(200, body, call.prefs.applied(None))

    def _move(self, call: Call, store: Store, renderer: Renderer, m: Message) -> Reply:
        """POST move {"destinationId": id or well-known name}: 201 Created with the moved
        message, which has a new id unless the request asked for immutable ids
        (https://learn.microsoft.com/en-us/graph/api/message-move,
        https://learn.microsoft.com/en-us/graph/outlook-immutable-id)."""
        self._need(call, WRITE_PERMISSIONS)
        destination = call.body.get("destinationId") if isinstance(call.body, dict) else None
        if not isinstance(destination, str) or not destination:
            raise GraphError(
                400, "ErrorInvalidParameter", "The value of the parameter 'DestinationId' is empty."
            )
        store.move_message(m, store.folder_ref(destination))
        body = {"@odata.context": self._context(store, "messages/$entity")}
        body.update(renderer.message(m, odata_type=True))
        return Reply(201, body, call.prefs.applied(None))

    def _attachments(
        self, call: Call, store: Store, renderer: Renderer, m: Message, segs: list[str]
    ) -> Reply:
        """GET attachments (https://learn.microsoft.com/en-us/graph/api/message-list-attachments)
        and one attachment. Without $select the answer carries contentBytes, as the docs'
        example shows; with $select only what it names."""
        self._need(call, READ_PERMISSIONS)
        known = (*ATTACHMENT_PROPERTIES, *_qualified_file_properties())
        opts = parse_options(
            call, allowed=frozenset({"$select"}), known=known, type_name="Attachment"
        )
        mid = store.message_id(m, renderer.immutable)
        context = self._context(store, f"messages('{mid}')/attachments")
        if segs:
            index = store.attachment_ref(m, segs[0])
            body = {"@odata.context": f"{context}/$entity"}
            body.update(renderer.attachment(m, index, opts.select))
            return Reply(200, body, call.prefs.applied(None))
        value = [renderer.attachment(m, i, opts.select) for i in range(len(m.msg.attachments))]
        return Reply(200, {"@odata.context": context, "value": value}, call.prefs.applied(None))

    # -- delta --------------------------------------------------------------------------------

    def _delta(
        self, call: Call, store: Store, renderer: Renderer, prefix: str, folder: Folder
    ) -> Reply:
        """GET mailFolders/{id}/messages/delta (https://learn.microsoft.com/en-us/graph/api/message-delta,
        https://learn.microsoft.com/en-us/graph/delta-query-messages):

        - a round is one or more pages; each but the last ends with ``@odata.nextLink``
          (``$skiptoken``), the last with ``@odata.deltaLink`` (``$deltatoken``); the tokens
          encode the initial request's options ("Microsoft Graph automatically encodes any
          specified parameters into the token portion"); page size from ``Prefer:
          odata.maxpagesize`` or ``$top``;
        - ``$select`` (id always returned), ``$expand``, ``$filter`` on receivedDateTime
          ``ge``/``gt`` only, ``$orderby=receivedDateTime desc`` only, ``changeType``; no
          ``$search``. Options besides the token on a later request are refused: they belong
          in the initial request only (the docs' strict reading);
        - changed messages come whole (or as selected), removed ones as ``id`` + ``@removed``
          (https://learn.microsoft.com/en-us/graph/delta-query-overview);
        - a token the server no longer holds answers 410 Gone, code SyncStateNotFound, the
          answer Outlook gives (microsoftgraph/microsoft-graph-docs issue 2350; the errors
          page lists syncStateNotFound: "The delta token is expired and data must be
          synchronized again")."""
        self._need(call, READ_PERMISSIONS)
        token = call.query.get("$skiptoken") or call.query.get("$deltatoken")
        state: DeltaState | None = None
        if token is not None:
            extra = [k for k in call.query if k not in ("$skiptoken", "$deltatoken")]
            if extra:
                raise _bad_request(
                    f"Query options {', '.join(sorted(extra))} belong in the initial delta "
                    "request: the state token already encodes them."
                )
            state = store.delta_state(token)
            if state is None or state.folder_id != folder.id:
                raise GraphError(
                    410,
                    "SyncStateNotFound",
                    "The sync state generation is not found; the delta token is expired or "
                    "invalid. Synchronize again from the initial request.",
                )
            options = state.options
        else:
            opts = parse_options(
                call,
                allowed=frozenset({"$select", "$expand", "$filter", "$orderby", "$top"}),
                known=MESSAGE_PROPERTIES,
                expandable=frozenset({"singlevalueextendedproperties", "attachments"}),
            )
            change_type = call.query.get("changeType")
            if change_type is not None and change_type not in ("created", "updated", "deleted"):
                raise _bad_request(f"Invalid changeType '{change_type}'.")
            options = {
                "opts": opts,
                "changeType": change_type,
                "received_after": self._delta_filter(opts.filter),
                "descending": self._delta_orderby(opts.orderby),
            }
        opts = options["opts"]
        size, applied = _page_size(call, opts)
        if state is not None and state.pending is not None:
            pending, round_end, watermark = state.pending, state.round_end, state.watermark
        else:
            watermark = state.watermark if state is not None else 0
            round_end = store.seq
            pending = store.delta_changes(folder, watermark, options["changeType"])
            pending = self._delta_arrange(store, pending, options)
        page, rest = pending[:size], pending[size:]
        value = []
        for kind, what in page:
            if kind == "removed":
                value.append(renderer.removed(what))
                continue
            m = store.by_serial.get(what)
            if m is None or m.folder is not folder:
                continue  # gone during the round: the next round reports it
            value.append(renderer.message(m, opts, odata_type=True))
        base = f"{self.graph_url}/{prefix}/mailFolders('{folder.id}')/messages/delta"
        body: dict[str, Any] = {"@odata.context": f"{self.graph_url}/$metadata#Collection(message)"}
        if rest:
            next_state = DeltaState(folder.id, watermark, options, rest, round_end)
            body["@odata.nextLink"] = f"{base}?$skiptoken={store.new_delta_token(next_state)}"
        else:
            next_state = DeltaState(folder.id, round_end, options)
            body["@odata.deltaLink"] = f"{base}?$deltatoken={store.new_delta_token(next_state)}"
        body["value"] = value
        return Reply(200, body, call.prefs.applied(applied))

    @staticmethod
    def _delta_filter(expression: str | None) -> tuple[str, datetime] | None:
        """ "The only supported $filter expressions are $filter=receivedDateTime+ge+{value} or
        $filter=receivedDateTime+gt+{value}." """
        if expression is None:
            return None
        m = re.match(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", expression, re.IGNORECASE)
        if not m:
            raise _bad_request(f"The $filter '{expression}' is not supported by delta queries.")
        try:
            when = datetime.fromisoformat(m.group(2).replace("Z", "+00:00"))
        except ValueError:
            raise _bad_request(f"Invalid date in $filter: {m.group(2)}.") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return m.group(1).lower(), when

    @staticmethod
    def _delta_orderby(expression: str | None) -> bool:
        """ "The only supported $orderby expression is $orderby=receivedDateTime+desc." """
        if expression is None:
            return False
        if not re.match(r"^\s*receivedDateTime\s+desc\s*$", expression, re.IGNORECASE):
            raise _bad_request(f"The $orderby '{expression}' is not supported by delta queries.")
        return True

    @staticmethod
    def _delta_arrange(
        store: Store, pending: list[tuple[str, Any]], options: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        after = options["received_after"]
        if after is not None:
            op, when = after

            def keep(entry: tuple[str, Any]) -> bool:
                if entry[0] != "message":
                    return True
                received: datetime = store.by_serial[entry[1]].received
                return bool(received > when if op == "gt" else received >= when)

            pending = [e for e in pending if keep(e)]
        if options["descending"]:
            removed = [e for e in pending if e[0] == "removed"]
            messages = [e for e in pending if e[0] == "message"]
            messages.sort(key=lambda e: store.by_serial[e[1]].received, reverse=True)
            pending = removed + messages
        return pending

    # -- $batch -------------------------------------------------------------------------------

    def _batch(self, method: str, headers: Headers, body: bytes, request_id: str) -> Reply:
        """POST $batch (https://learn.microsoft.com/en-us/graph/json-batching): up to 20 steps
        with ``id`` (unique without case), ``method``, ``url`` relative to the version root,
        ``headers`` (``Content-Type`` required with a ``body``), ``dependsOn``; 400 for a
        malformed batch, else 200 with ``responses`` in completion order. Steps without
        ``dependsOn`` run up to 4 at a time; with ``dependsOn`` in order, a step whose
        dependency failed answering 424. Each step counts toward the app's mailbox
        concurrency limit and may itself be throttled."""
        if method != "POST":
            raise GraphError(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            )
        grant = self._authenticate(headers)
        payload = _json_body(headers, body)
        steps = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(steps, list) or not steps:
            raise _bad_request("Invalid batch payload format.")
        if len(steps) > MAX_BATCH:
            raise _bad_request(
                f"The number of requests in the batch ({len(steps)}) exceeds the limit of "
                f"{MAX_BATCH}."
            )
        seen: set[str] = set()
        for step in steps:
            if not isinstance(step, dict) or not all(
                isinstance(step.get(k), str) and step.get(k) for k in ("id", "method", "url")
            ):
                raise _bad_request("Each batch request needs id, method and url.")
            if step["id"].lower() in seen:
                raise _bad_request(f"The batch request id '{step['id']}' is not unique.")
            seen.add(step["id"].lower())
            step_headers = step.get("headers") or {}
            if not isinstance(step_headers, dict):
                raise _bad_request("The headers of a batch request must be a JSON object.")
            if "body" in step and not any(k.lower() == "content-type" for k in step_headers):
                raise _bad_request(
                    f"Batch request '{step['id']}' has a body but no Content-Type header."
                )
        ids = {s["id"].lower() for s in steps}
        for step in steps:
            depends = step.get("dependsOn")
            if depends is not None and (
                not isinstance(depends, list) or any(str(d).lower() not in ids for d in depends)
            ):
                raise _bad_request(f"Batch request '{step['id']}' depends on an unknown request.")
        if self.latency:
            time.sleep(self.latency)
        results: dict[str, int] = {}
        responses: list[dict[str, Any]] = []

        def run(step: dict[str, Any]) -> dict[str, Any]:
            depends = [str(d).lower() for d in step.get("dependsOn") or []]
            if any(results.get(d, 200) >= 400 for d in depends):
                reply = graph_error_reply(
                    GraphError(
                        424, "FailedDependency", "The request depends on a request that failed."
                    ),
                    request_id,
                    None,
                )
            else:
                reply = self._step(step, grant, request_id)
            out: dict[str, Any] = {"id": step["id"], "status": reply.status, "headers": {}}
            if reply.raw is not None:
                # "body: ... Might be a JSON object or a base64 URL-encoded value, for example,
                # when the body is an image" (json-batching): non-JSON bodies come base64.
                out["headers"]["Content-Type"] = reply.content_type
                out["body"] = base64.b64encode(reply.raw).decode()
            elif reply.body is not None:
                out["headers"]["Content-Type"] = reply.content_type
                out["body"] = reply.body
            for key in ("Retry-After", "Preference-Applied", "Location"):
                if key in reply.headers:
                    out["headers"][key] = reply.headers[key]
            results[step["id"].lower()] = reply.status
            return out

        if any("dependsOn" in s for s in steps):
            responses = [run(s) for s in steps]
        else:
            with ThreadPoolExecutor(
                max_workers=BATCH_PARALLELISM, thread_name_prefix="graph-batch"
            ) as pool:
                futures = [pool.submit(run, s) for s in steps]
                responses = [f.result() for f in as_completed(futures)]
        return Reply(200, {"responses": responses})

    def _step(self, step: dict[str, Any], grant: Grant, request_id: str) -> Reply:
        """One $batch step, carried out as the request it describes (the batch's bearer token,
        the step's own headers)."""
        method = step["method"].upper()
        url = step["url"]
        self._count("batch.sub")
        if url.lower().startswith(("http://", "https://")):
            self._count("batch.invalid")
            return graph_error_reply(
                _bad_request(
                    "Invalid request URL: the url of a batch request is relative to the "
                    "version root (for example /me/messages)."
                ),
                request_id,
                None,
            )
        path, _, query = ("/" + url.lstrip("/")).partition("?")
        self._count(kind_of(method, path))
        headers = Headers((str(k), str(v)) for k, v in (step.get("headers") or {}).items())
        fault = self._fault_for(url, in_batch=True)
        if fault is not None and fault.kind == "throttle":
            return graph_error_reply(
                throttled_reply(fault.status, fault.retry_after), request_id, None
            )
        if split_path(path)[:1] == ["$batch"]:
            return graph_error_reply(_bad_request("A batch cannot hold a batch."), request_id, None)
        call = Call(
            method, path, parse_query(query), headers, step.get("body"), grant, in_batch=True
        )
        return self._execute(call, request_id)


def _json_body(headers: Headers, body: bytes) -> Any:
    """The JSON request body (None when empty); 400 when it is not JSON, 415 when it comes
    with another Content-Type ("Content-Type: application/json. Required." in the pages of the
    endpoints that take a body)."""
    if not body:
        return None
    ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise GraphError(
            415,
            "UnsupportedMediaType",
            f"Content-Type '{ctype}' is not supported; use application/json.",
        )
    try:
        return json.loads(body)
    except ValueError:
        raise _bad_request("The request body is not valid JSON.") from None


class _Handler(BaseHTTPRequestHandler):
    """One keep-alive HTTP connection; :attr:`graph` is set by :meth:`GraphServer.start`."""

    graph: GraphServer
    protocol_version = "HTTP/1.1"
    timeout = 30

    def setup(self) -> None:
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK hold every response back by 40 ms.
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.request.close()
                raise
        super().setup()

    def handle(self) -> None:
        with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError):
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests count requests instead."""

    def _body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        body = self._body()
        headers = Headers(self.headers.items())
        try:
            reply, _lost = self.graph.handle(self.command, self.path, headers, body)
        except Exception as exc:  # a bug of the fake: say so to the client, not only in a log
            traceback.print_exc()
            error = GraphError(500, "InternalServerError", f"Loopback Graph server bug: {exc!r}")
            reply = graph_error_reply(error, str(uuid.uuid4()), headers.get("client-request-id"))
        if reply is None:
            # A dropped connection: no status line, the socket just closes.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = reply.encode()
        self.send_response(reply.status)
        if reply.body is not None or reply.raw is not None:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        if reply.content_type == GRAPH_JSON:
            self.send_header("OData-Version", "4.0")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve
