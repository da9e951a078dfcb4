"""A loopback Exchange Web Services server that exchangelib drives unmodified.

    with EwsServer() as server:
        server.seed(mailgen.generate(7, messages=300))
        config = Configuration(service_endpoint=server.url, auth_type=NOAUTH,
                               version=Version(build=Build(15, 1, 2507, 6)))

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (HTTP/1.1, keep-alive; HTTPS with ``tls=``)
answering SOAP 1.1 POSTs to ``/EWS/Exchange.asmx``. Requests are parsed with ElementTree;
answers are written as text in the shapes of Microsoft's ``messages.xsd``/``types.xsd``
(element order included) and of the examples in the EWS reference, with the
``ServerVersionInfo`` header of Exchange 2016 (15.1.2507.6, schema ``V2017_07_11``).

Operations: GetFolder, FindFolder, CreateFolder, FindItem, GetItem, SyncFolderItems,
DeleteItem, MoveItem, CopyItem, GetAttachment and ConvertId (enough for exchangelib's
version probe).
Their limits follow Exchange: FindItem and SyncFolderItems refuse the properties only
GetItem returns (Attachments, Body, MimeContent, InternetMessageHeaders, recipient lists)
with ErrorInvalidPropertyRequest; SyncFolderItems takes at most 512 changes per call
(the schema's limit, refused as ErrorSchemaValidation); mailbox fields in FindItem and
SyncFolderItems carry the name only. FindItem evaluates the restrictions a client needs
to find a message again: ``IsEqualTo`` (and ``IsNotEqualTo``) on ``message:InternetMessageId``
against a ``Constant``, combined with ``And``/``Or``/``Not``; string comparisons ignore case,
as Exchange's do. Other restrictions, AQS query strings, UpdateItem and bodies are not
implemented (the request gets an error saying so).

Faults for tests: :meth:`EwsServer.busy` answers ErrorServerBusy as Exchange throttling does
(a SOAP fault over HTTP 500 whose ``MessageXml`` holds ``BackOffMilliseconds``),
:meth:`EwsServer.drop` closes the connection without an answer (before the request is carried
out, or with ``processed=True`` after: the answer is lost on its way back), and
``credentials=`` makes
the server demand HTTP Basic authentication (401 otherwise). :attr:`EwsServer.counts` counts
requests per SOAP operation.

Several mailboxes can live in one server (:meth:`EwsServer.mailbox`): a request goes to the
one named by its ExchangeImpersonation header, else its ``X-AnchorMailbox`` HTTP header
(exchangelib sends it), else the first one.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import struct
import sys
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from tests.ews.mime import Attachment, Mailbox, ParsedMessage, parse_message, xml_text
from tests.ews.store import (
    FLAG_NOT_FLAGGED,
    MAIL_CLASS,
    Folder,
    Item,
    Store,
    StoreError,
    not_found,
)

if TYPE_CHECKING:
    from mailclean.mailgen import GeneratedMessage

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
_S, _M, _T = f"{{{SOAP}}}", f"{{{MNS}}}", f"{{{TNS}}}"

BUILD = (15, 1, 2507, 6)
SCHEMA_VERSION = "V2017_07_11"
DEFAULT_EMAIL = "agent@mairie-exemple.fr"
MAX_SYNC_CHANGES = 512

_ENVELOPE_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<s:Envelope xmlns:s="{SOAP}">'
    "<s:Header>"
    '<h:ServerVersionInfo MajorVersion="{0}" MinorVersion="{1}" MajorBuildNumber="{2}"'
    ' MinorBuildNumber="{3}" Version="{4}"'
    f' xmlns:h="{TNS}" xmlns="{TNS}"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
    "</s:Header>"
    '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
)
_ENVELOPE_TAIL = "</s:Body></s:Envelope>"

#: Properties FindItem and SyncFolderItems cannot return (GetItem only).
GET_ITEM_ONLY = frozenset(
    {
        "item:Attachments",
        "item:Body",
        "item:MimeContent",
        "item:InternetMessageHeaders",
        "item:UniqueBody",
        "item:NormalizedBody",
        "message:ToRecipients",
        "message:CcRecipients",
        "message:BccRecipients",
        "message:ReplyTo",
    }
)

_ITEM_DEFAULT = frozenset(
    {
        "item:ParentFolderId",
        "item:ItemClass",
        "item:Subject",
        "item:Sensitivity",
        "item:Attachments",
        "item:DateTimeReceived",
        "item:Size",
        "item:Importance",
        "item:IsSubmitted",
        "item:IsDraft",
        "item:IsFromMe",
        "item:IsResend",
        "item:IsUnmodified",
        "item:DateTimeSent",
        "item:DateTimeCreated",
        "item:DisplayCc",
        "item:DisplayTo",
        "item:HasAttachments",
        "item:Culture",
        "message:Sender",
        "message:IsReadReceiptRequested",
        "message:ConversationTopic",
        "message:From",
        "message:IsRead",
    }
)
_FOLDER_DEFAULT = frozenset(
    {
        "folder:DisplayName",
        "folder:TotalCount",
        "folder:ChildFolderCount",
        "folder:UnreadCount",
    }
)

#: Extended properties by tag (PidTagMessageSizeExtended, PidTagFlagStatus...).
TAG_MESSAGE_SIZE, TAG_FLAG_STATUS, TAG_MESSAGE_FLAGS = 0x0E08, 0x1090, 0x0E07
TAG_PROHIBIT_RECEIVE_QUOTA = 0x666A

#: FindItem's SortOrder fields the server knows.
_SORTABLE: dict[str, Callable[[Item], object]] = {
    "item:DateTimeReceived": lambda i: (i.received, i.serial),
    "item:Size": lambda i: (i.size, i.serial),
    "item:Subject": lambda i: (i.msg.subject or "", i.serial),
}

_FOLDER_TAGS = {
    None: "Folder",
    MAIL_CLASS: "Folder",
    "IPF.Appointment": "CalendarFolder",
    "IPF.Contact": "ContactsFolder",
    "IPF.Task": "TasksFolder",
}


# -- the request side -------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """ItemShape / FolderShape: what the client asked to see."""

    base: str = "IdOnly"
    fields: frozenset[str] = frozenset()
    extended: tuple[tuple[int, str], ...] = ()
    """(PropertyTag, PropertyType) of the requested tagged extended properties."""
    mime: bool = False
    other_extended: tuple[dict[str, str], ...] = ()

    def wants(self, uri: str, defaults: frozenset[str]) -> bool:
        """Whether ``uri`` is part of the answer."""
        if uri in self.fields:
            return True
        if self.base == "AllProperties":
            return True
        return self.base == "Default" and uri in defaults


def parse_shape(elem: ET.Element | None) -> Shape:
    """Read an ItemShape/FolderShape element."""
    if elem is None:
        return Shape()
    base = (elem.findtext(f"{_T}BaseShape") or "IdOnly").strip()
    fields: set[str] = set()
    extended: list[tuple[int, str]] = []
    other: list[dict[str, str]] = []
    props = elem.find(f"{_T}AdditionalProperties")
    if props is not None:
        for child in props:
            if child.tag == f"{_T}FieldURI":
                fields.add(child.get("FieldURI", ""))
            elif child.tag == f"{_T}ExtendedFieldURI":
                tag = child.get("PropertyTag")
                if tag is not None:
                    number = int(tag, 16) if tag.lower().startswith("0x") else int(tag)
                    extended.append((number, child.get("PropertyType", "")))
                else:
                    other.append(dict(child.attrib))
            elif child.tag == f"{_T}IndexedFieldURI":
                fields.add(f"{child.get('FieldURI')}:{child.get('FieldIndex')}")
    mime = (elem.findtext(f"{_T}IncludeMimeContent") or "").strip().lower() == "true"
    return Shape(
        base, frozenset(fields), tuple(extended), mime or "item:MimeContent" in fields, tuple(other)
    )


#: Item properties a restriction can compare, by FieldURI.
_RESTRICTABLE: dict[str, Callable[[Item], str | None]] = {
    "message:InternetMessageId": lambda i: i.msg.message_id,
}


def parse_restriction(elem: ET.Element) -> Callable[[Item], bool]:
    """A predicate for one element of a ``Restriction`` (``t:SearchExpression`` in
    ``types.xsd``): ``IsEqualTo``/``IsNotEqualTo`` between a property of
    :data:`_RESTRICTABLE` and a ``Constant``, and ``And``/``Or``/``Not`` of those. String
    comparisons ignore case, as Exchange's restrictions do. Anything else is a SOAP fault
    saying the loopback server does not evaluate it."""
    kind = elem.tag.rpartition("}")[2]
    if kind in ("And", "Or"):
        parts = [parse_restriction(child) for child in elem]
        if kind == "And":
            return lambda item: all(p(item) for p in parts)
        return lambda item: any(p(item) for p in parts)
    if kind == "Not" and len(elem) == 1:
        inner = parse_restriction(elem[0])
        return lambda item: not inner(item)
    if kind in ("IsEqualTo", "IsNotEqualTo"):
        uri = elem.find(f"{_T}FieldURI")
        constant = elem.find(f"{_T}FieldURIOrConstant/{_T}Constant")
        name = uri.get("FieldURI", "") if uri is not None else ""
        getter = _RESTRICTABLE.get(name)
        if getter is not None and constant is not None:
            wanted = constant.get("Value", "").casefold()
            equal = kind == "IsEqualTo"

            def compare(item: Item) -> bool:
                value = getter(item)
                return (value is not None and value.casefold() == wanted) == equal

            return compare
        what = f"{kind} on {name or 'this operand'}"
    else:
        what = kind
    raise SoapFault(
        "ErrorInvalidOperation", f"The loopback EWS server does not evaluate {what} restrictions."
    )


def _children(elem: ET.Element, tag: str) -> list[ET.Element]:
    """The children of ``elem``'s ``m:<tag>`` child (none when it is absent)."""
    found = elem.find(f"{_M}{tag}")
    return list(found) if found is not None else []


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _dt(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: str | None) -> str:
    return escape(xml_text(value or ""))


def _attr(value: str) -> str:
    return quoteattr(xml_text(value))


# -- rendering --------------------------------------------------------------------------------


def _mailbox(mb: Mailbox, *, name_only: bool = False) -> str:
    parts = [f"<t:Name>{_text(mb.name or mb.address)}</t:Name>"]
    if not name_only and mb.address:
        parts.append(
            f"<t:EmailAddress>{_text(mb.address)}</t:EmailAddress>"
            "<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>OneOff</t:MailboxType>"
        )
    return f"<t:Mailbox>{''.join(parts)}</t:Mailbox>"


def _attachment_id(item: Item, index: int) -> str:
    return base64.b64encode(b"MCATT" + struct.pack(">QH", item.serial, index)).decode()


def _attachment_xml(
    item: Item, index: int, att: Attachment, *, content: bool, mime: bool = False
) -> str:
    tag = "ItemAttachment" if att.is_item else "FileAttachment"
    out = [f"<t:{tag}>", f'<t:AttachmentId Id="{_attachment_id(item, index)}"/>']
    if att.name is not None:
        out.append(f"<t:Name>{_text(att.name)}</t:Name>")
    out.append(f"<t:ContentType>{_text(att.content_type)}</t:ContentType>")
    if att.content_id:
        out.append(f"<t:ContentId>{_text(att.content_id)}</t:ContentId>")
    out.append(f"<t:Size>{att.size}</t:Size>")
    out.append(f"<t:LastModifiedTime>{_dt(item.received)}</t:LastModifiedTime>")
    out.append(f"<t:IsInline>{_bool(att.is_inline)}</t:IsInline>")
    if att.is_item:
        if content:
            inner = parse_message(att.content)
            body = []
            if mime:
                body.append(
                    '<t:MimeContent CharacterSet="UTF-8">'
                    f"{base64.b64encode(att.content).decode()}</t:MimeContent>"
                )
            body.append("<t:ItemClass>IPM.Note</t:ItemClass>")
            if inner.subject is not None:
                body.append(f"<t:Subject>{_text(inner.subject)}</t:Subject>")
            body.append(f"<t:Size>{len(att.content)}</t:Size>")
            if inner.sender is not None:
                body.append(f"<t:From>{_mailbox(inner.sender)}</t:From>")
            if inner.message_id:
                body.append(f"<t:InternetMessageId>{_text(inner.message_id)}</t:InternetMessageId>")
            out.append(f"<t:Message>{''.join(body)}</t:Message>")
    else:
        out.append("<t:IsContactPhoto>false</t:IsContactPhoto>")
        if content:
            out.append(f"<t:Content>{base64.b64encode(att.content).decode()}</t:Content>")
    out.append(f"</t:{tag}>")
    return "".join(out)


def _extended(tag: int, kind: str, value: object) -> str:
    return (
        f'<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="{hex(tag)}"'
        f' PropertyType="{kind}"/><t:Value>{value}</t:Value></t:ExtendedProperty>'
    )


def item_xml(item: Item, shape: Shape, *, full: bool) -> str:
    """A ``t:Message`` with the properties ``shape`` asks for, in schema order. ``full`` is
    GetItem's view; FindItem and SyncFolderItems (``full=False``) give names without
    addresses."""
    msg = item.msg
    want = shape.wants
    d = _ITEM_DEFAULT
    out = ["<t:Message>"]
    if full and shape.mime:
        out.append(
            f'<t:MimeContent CharacterSet="UTF-8">{base64.b64encode(msg.raw).decode()}'
            "</t:MimeContent>"
        )
    out.append(f'<t:ItemId Id="{item.id}" ChangeKey="{item.change_key}"/>')
    if want("item:ParentFolderId", d):
        out.append(f'<t:ParentFolderId Id="{item.folder.id}" ChangeKey="AQAAAA=="/>')
    if want("item:ItemClass", d):
        out.append("<t:ItemClass>IPM.Note</t:ItemClass>")
    if want("item:Subject", d) and msg.subject is not None:
        out.append(f"<t:Subject>{_text(msg.subject)}</t:Subject>")
    if want("item:Sensitivity", d):
        out.append("<t:Sensitivity>Normal</t:Sensitivity>")
    if full and want("item:Attachments", d) and msg.attachments:
        out.append("<t:Attachments>")
        out.extend(
            _attachment_xml(item, i, a, content=False) for i, a in enumerate(msg.attachments)
        )
        out.append("</t:Attachments>")
    if want("item:DateTimeReceived", d):
        out.append(f"<t:DateTimeReceived>{_dt(item.received)}</t:DateTimeReceived>")
    if want("item:Size", d):
        out.append(f"<t:Size>{item.size}</t:Size>")
    if want("item:Importance", d):
        out.append("<t:Importance>Normal</t:Importance>")
    if want("item:InReplyTo", d) and msg.in_reply_to:
        out.append(f"<t:InReplyTo>{_text(msg.in_reply_to)}</t:InReplyTo>")
    if want("item:IsSubmitted", d):
        out.append("<t:IsSubmitted>false</t:IsSubmitted>")
    if want("item:IsDraft", d):
        out.append(f"<t:IsDraft>{_bool(item.is_draft)}</t:IsDraft>")
    if want("item:IsFromMe", d):
        out.append("<t:IsFromMe>false</t:IsFromMe>")
    if want("item:IsResend", d):
        out.append("<t:IsResend>false</t:IsResend>")
    if want("item:IsUnmodified", d):
        out.append(f"<t:IsUnmodified>{_bool(not item.is_draft)}</t:IsUnmodified>")
    if full and want("item:InternetMessageHeaders", d) and item.has_internet_headers:
        out.append("<t:InternetMessageHeaders>")
        out.extend(
            f"<t:InternetMessageHeader HeaderName={_attr(name)}>{_text(value)}"
            "</t:InternetMessageHeader>"
            for name, value in msg.headers
        )
        out.append("</t:InternetMessageHeaders>")
    sent = msg.date or item.received
    if want("item:DateTimeSent", d):
        out.append(f"<t:DateTimeSent>{_dt(sent)}</t:DateTimeSent>")
    if want("item:DateTimeCreated", d):
        out.append(f"<t:DateTimeCreated>{_dt(item.received)}</t:DateTimeCreated>")
    if want("item:DisplayCc", d):
        out.append(
            f"<t:DisplayCc>{_text('; '.join(m.name or m.address or '' for m in msg.cc))}"
            "</t:DisplayCc>"
        )
    if want("item:DisplayTo", d):
        out.append(
            f"<t:DisplayTo>{_text('; '.join(m.name or m.address or '' for m in msg.to))}"
            "</t:DisplayTo>"
        )
    if want("item:HasAttachments", d):
        out.append(f"<t:HasAttachments>{_bool(bool(msg.attachments))}</t:HasAttachments>")
    for tag, kind in shape.extended:
        if tag == TAG_FLAG_STATUS and item.flag_status != FLAG_NOT_FLAGGED:
            out.append(_extended(tag, kind, item.flag_status))
        elif tag == TAG_MESSAGE_SIZE:
            out.append(_extended(tag, kind, item.size))
        elif tag == TAG_MESSAGE_FLAGS:
            flags = (
                (0x1 if item.is_read else 0)
                | (0x10 if msg.attachments else 0)
                | (0x8 if item.is_draft else 0)
            )
            out.append(_extended(tag, kind, flags))
    if want("item:Culture", d):
        out.append("<t:Culture>en-US</t:Culture>")
    if want("item:LastModifiedTime", d):
        out.append(f"<t:LastModifiedTime>{_dt(item.received)}</t:LastModifiedTime>")
    if want("message:Sender", d) and msg.sender is not None:
        out.append(f"<t:Sender>{_mailbox(msg.sender, name_only=not full)}</t:Sender>")
    if full and want("message:ToRecipients", d) and msg.to:
        out.append(f"<t:ToRecipients>{''.join(_mailbox(m) for m in msg.to)}</t:ToRecipients>")
    if full and want("message:CcRecipients", d) and msg.cc:
        out.append(f"<t:CcRecipients>{''.join(_mailbox(m) for m in msg.cc)}</t:CcRecipients>")
    if want("message:IsReadReceiptRequested", d):
        out.append("<t:IsReadReceiptRequested>false</t:IsReadReceiptRequested>")
    if want("message:IsDeliveryReceiptRequested", d):
        out.append("<t:IsDeliveryReceiptRequested>false</t:IsDeliveryReceiptRequested>")
    if want("message:ConversationTopic", d) and msg.subject is not None:
        out.append(f"<t:ConversationTopic>{_text(msg.subject)}</t:ConversationTopic>")
    if want("message:From", d) and msg.sender is not None:
        out.append(f"<t:From>{_mailbox(msg.sender, name_only=not full)}</t:From>")
    if want("message:InternetMessageId", d) and msg.message_id:
        out.append(f"<t:InternetMessageId>{_text(msg.message_id)}</t:InternetMessageId>")
    if want("message:IsRead", d):
        out.append(f"<t:IsRead>{_bool(item.is_read)}</t:IsRead>")
    if want("message:References", d) and msg.references:
        out.append(f"<t:References>{_text(msg.references)}</t:References>")
    out.append("</t:Message>")
    return "".join(out)


_RIGHTS = (
    "<t:EffectiveRights><t:CreateAssociated>true</t:CreateAssociated>"
    "<t:CreateContents>true</t:CreateContents><t:CreateHierarchy>true</t:CreateHierarchy>"
    "<t:Delete>true</t:Delete><t:Modify>true</t:Modify><t:Read>true</t:Read>"
    "<t:ViewPrivateItems>true</t:ViewPrivateItems></t:EffectiveRights>"
)


def folder_xml(store: Store, folder: Folder, shape: Shape) -> str:
    """A folder element (Folder, CalendarFolder...) with what ``shape`` asks for."""
    want = shape.wants
    d = _FOLDER_DEFAULT
    tag = _FOLDER_TAGS.get(folder.folder_class, "Folder")
    change_key = f"AQAAABYAAAA{folder.change_version:04d}"
    out = [f"<t:{tag}>", f'<t:FolderId Id="{folder.id}" ChangeKey="{change_key}"/>']
    if want("folder:ParentFolderId", d):
        parent = folder.parent or folder  # the root names itself as its parent
        out.append(f'<t:ParentFolderId Id="{parent.id}" ChangeKey="AQAAAA=="/>')
    if want("folder:FolderClass", d) and folder.folder_class:
        out.append(f"<t:FolderClass>{folder.folder_class}</t:FolderClass>")
    if want("folder:DisplayName", d):
        out.append(f"<t:DisplayName>{_text(folder.name)}</t:DisplayName>")
    if want("folder:TotalCount", d):
        out.append(f"<t:TotalCount>{len(folder.items)}</t:TotalCount>")
    if want("folder:ChildFolderCount", d):
        out.append(f"<t:ChildFolderCount>{len(folder.children)}</t:ChildFolderCount>")
    for prop_tag, kind in shape.extended:
        if prop_tag == TAG_MESSAGE_SIZE:
            out.append(_extended(prop_tag, kind, folder.size))
        elif (
            prop_tag == TAG_PROHIBIT_RECEIVE_QUOTA
            and folder is store.root
            and store.quota_kb is not None
        ):
            out.append(_extended(prop_tag, kind, store.quota_kb))
    if want("folder:EffectiveRights", d):
        out.append(_RIGHTS)
    if want("folder:DistinguishedFolderId", d) and folder.distinguished:
        out.append(f"<t:DistinguishedFolderId>{folder.distinguished}</t:DistinguishedFolderId>")
    if tag == "Folder" and want("folder:UnreadCount", d):
        out.append(f"<t:UnreadCount>{folder.unread}</t:UnreadCount>")
    out.append(f"</t:{tag}>")
    return "".join(out)


# -- response messages ------------------------------------------------------------------------


def _ok(op: str, inner: str = "") -> str:
    return (
        f'<m:{op}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"{inner}</m:{op}ResponseMessage>"
    )


def _error(op: str, exc: StoreError, *, after: str = "") -> str:
    xml = f"<m:MessageXml>{exc.message_xml}</m:MessageXml>" if exc.message_xml else ""
    return (
        f'<m:{op}ResponseMessage ResponseClass="Error"><m:MessageText>{_text(exc.text)}'
        f"</m:MessageText><m:ResponseCode>{exc.code}</m:ResponseCode>"
        f"<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{xml}{after}</m:{op}ResponseMessage>"
    )


class SoapFault(Exception):
    """A request-level error, answered as a SOAP fault over HTTP 500."""

    def __init__(self, code: str, text: str, message_xml: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.message_xml = message_xml


def fault_xml(code: str, text: str, message_xml: str = "") -> str:
    """A SOAP fault as Exchange writes it (ResponseCode in the errors namespace)."""
    xml = f'<t:MessageXml xmlns:t="{TNS}">{message_xml}</t:MessageXml>' if message_xml else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{TNS}">a:{code}</faultcode>'
        f'<faultstring xml:lang="en-US">{_text(text)}</faultstring>'
        f'<detail><e:ResponseCode xmlns:e="{ENS}">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{ENS}">{_text(text)}</e:Message>{xml}</detail>'
        "</s:Fault></s:Body></s:Envelope>"
    )


# -- faults injected by tests -----------------------------------------------------------------


@dataclass
class _Fault:
    kind: str  # "busy" or "drop"
    remaining: int
    operation: str | None
    skip: int = 0
    back_off_ms: int = 0
    processed: bool = False
    """For "drop": carry the request out first, then lose the answer."""


@dataclass
class _Request:
    store: Store
    op: str
    elem: ET.Element
    version: str | None


@dataclass
class EwsServer:
    """The loopback EWS server; see the module docstring."""

    email: str = DEFAULT_EMAIL
    locale: str = "en"
    credentials: tuple[str, str] | None = None
    """HTTP Basic (user, password) the server demands; None accepts anything."""
    tls: tuple[Path, Path] | None = None
    """(certificate, key) PEM files: serve HTTPS."""
    build: tuple[int, int, int, int] = BUILD
    counts: Counter[str] = field(default_factory=Counter)
    """Requests received per SOAP operation (faulted and dropped ones included)."""
    bytes_sent: int = 0
    """Bytes of SOAP responses sent (bodies only)."""
    port: int = 0
    _stores: dict[str, Store] = field(default_factory=dict)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.mailbox(self.email)

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The EWS endpoint."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/EWS/Exchange.asmx"

    def start(self) -> EwsServer:
        """Listen on 127.0.0.1 (a free port unless ``port`` was set) in a daemon thread."""
        handler = type("Handler", (_Handler,), {"ews": self})
        httpd = _HTTPServer(("127.0.0.1", self.port), handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            httpd.socket = context.wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            name="ews-server",
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

    def __enter__(self) -> EwsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- mailboxes ----------------------------------------------------------------------------

    def mailbox(self, email: str | None = None) -> Store:
        """The mailbox of ``email`` (the first one by default), created on first use."""
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
        """The EWS path of a mailgen folder in the default mailbox."""
        return self.store.path_for(generated_folder)

    def reset(self) -> None:
        """Empty every mailbox, forget injected faults and counts."""
        with self._lock:
            self._stores.clear()
            self._faults.clear()
            self.counts.clear()
        self.mailbox(self.email)

    # -- faults -------------------------------------------------------------------------------

    def busy(
        self, count: int = 1, *, back_off_ms: int = 50, operation: str | None = None, after: int = 0
    ) -> None:
        """Answer the next ``count`` requests (of ``operation``, after ``after`` of them pass)
        with ErrorServerBusy and a BackOffMilliseconds hint."""
        with self._lock:
            self._faults.append(_Fault("busy", count, operation, after, back_off_ms))

    def drop(
        self,
        count: int = 1,
        *,
        operation: str | None = None,
        after: int = 0,
        processed: bool = False,
    ) -> None:
        """Close the connection of the next ``count`` requests without answering them;
        with ``processed`` each request is carried out first (the answer is what gets lost)."""
        with self._lock:
            self._faults.append(_Fault("drop", count, operation, after, processed=processed))

    def clear_faults(self) -> None:
        """Forget the faults not yet triggered."""
        with self._lock:
            self._faults.clear()

    def _fault_for(self, op: str) -> _Fault | None:
        with self._lock:
            self.counts[op] += 1
            for fault in self._faults:
                if fault.remaining <= 0 or fault.operation not in (None, op):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.remaining -= 1
                return fault
            return None

    def reset_counts(self) -> None:
        """Start counting requests (and response bytes) from zero."""
        with self._lock:
            self.counts.clear()
            self.bytes_sent = 0

    def _sent(self, size: int) -> None:
        with self._lock:
            self.bytes_sent += size

    def request_counts(self) -> dict[str, int]:
        """A copy of :attr:`counts`."""
        with self._lock:
            return dict(self.counts)

    # -- dispatch -----------------------------------------------------------------------------

    def handle(self, body: bytes, anchor: str | None) -> tuple[int, str | None]:
        """(HTTP status, response text) for one SOAP request; None: drop the connection."""
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError as exc:
            return 500, fault_xml("ErrorSchemaValidation", f"The request is not valid XML: {exc}")
        soap_body = envelope.find(f"{_S}Body")
        if soap_body is None or len(soap_body) == 0:
            return 500, fault_xml("ErrorInvalidRequest", "The request has no SOAP body.")
        elem = soap_body[0]
        op = elem.tag.rpartition("}")[2]
        fault = self._fault_for(op)
        if fault is not None and fault.kind == "drop" and not fault.processed:
            return 0, None
        if fault is not None and fault.kind == "busy":
            return 500, fault_xml(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
                f'<t:Value Name="BackOffMilliseconds">{fault.back_off_ms}</t:Value>',
            )
        header = envelope.find(f"{_S}Header")
        version = None
        email = anchor
        if header is not None:
            rsv = header.find(f"{_T}RequestServerVersion")
            version = rsv.get("Version") if rsv is not None else None
            impersonated = header.findtext(
                f"{_T}ExchangeImpersonation/{_T}ConnectingSID/{_T}PrimarySmtpAddress"
            )
            email = impersonated or anchor
        store = self._stores.get((email or "").lower()) or self.store
        handler: Callable[[_Request], list[str]] | None = getattr(self, f"_op_{op}", None)
        if handler is None:
            return 500, fault_xml(
                "ErrorInvalidOperation", f"The loopback EWS server does not implement {op}."
            )
        try:
            with store.lock:
                messages = handler(_Request(store, op, elem, version))
        except SoapFault as exc:
            return 500, fault_xml(exc.code, exc.text, exc.message_xml)
        if fault is not None:
            return 0, None  # done, and the answer is lost on its way back
        head = _ENVELOPE_HEAD.format(*self.build, SCHEMA_VERSION)
        response = (
            f'<m:{op}Response xmlns:m="{MNS}" xmlns:t="{TNS}"><m:ResponseMessages>'
            f"{''.join(messages)}</m:ResponseMessages></m:{op}Response>"
        )
        return 200, head + response + _ENVELOPE_TAIL

    # -- operations ---------------------------------------------------------------------------

    @staticmethod
    def _folder_ref(store: Store, elem: ET.Element) -> Folder:
        if elem.tag == f"{_T}DistinguishedFolderId":
            mailbox = elem.findtext(f"{_T}Mailbox/{_T}EmailAddress")
            if mailbox and mailbox.lower() != store.email:
                raise StoreError(
                    "ErrorNonExistentMailbox",
                    f"No mailbox with such guid or SMTP address: {mailbox}",
                )
            return store.distinguished(elem.get("Id", ""))
        if elem.tag == f"{_T}FolderId":
            return store.folder_by_id(elem.get("Id", ""))
        raise StoreError("ErrorInvalidRequest", f"Unsupported folder reference {elem.tag}.")

    def _op_GetFolder(self, req: _Request) -> list[str]:
        shape = parse_shape(req.elem.find(f"{_M}FolderShape"))
        out = []
        for ref in _children(req.elem, "FolderIds"):
            try:
                folder = self._folder_ref(req.store, ref)
            except StoreError as exc:
                out.append(_error(req.op, exc))
                continue
            rendered = folder_xml(req.store, folder, shape)
            out.append(_ok(req.op, f"<m:Folders>{rendered}</m:Folders>"))
        return out

    @staticmethod
    def _unsupported_query(req: _Request, *, restriction: bool = False) -> None:
        names = ("QueryString",) if restriction else ("Restriction", "QueryString")
        for name in names:
            if req.elem.find(f"{_M}{name}") is not None:
                raise SoapFault(
                    "ErrorInvalidOperation",
                    f"The loopback EWS server does not evaluate {name} in {req.op}.",
                )

    @staticmethod
    def _page(elem: ET.Element | None, total: int) -> tuple[int, int]:
        """(offset, count) of an IndexedPage*View over ``total`` entries."""
        if elem is None:
            return 0, total
        limit = int(elem.get("MaxEntriesReturned", total) or total)
        offset = int(elem.get("Offset", "0"))
        if elem.get("BasePoint", "Beginning") == "End":
            offset = max(total - offset - limit, 0)
        return offset, max(limit, 0)

    def _op_FindFolder(self, req: _Request) -> list[str]:
        self._unsupported_query(req)
        shape = parse_shape(req.elem.find(f"{_M}FolderShape"))
        deep = req.elem.get("Traversal", "Shallow") == "Deep"
        view = req.elem.find(f"{_M}IndexedPageFolderView")
        out = []
        for ref in _children(req.elem, "ParentFolderIds"):
            try:
                parent = self._folder_ref(req.store, ref)
            except StoreError as exc:
                out.append(_error(req.op, exc))
                continue
            found = req.store.descendants(parent) if deep else list(parent.children)
            offset, limit = self._page(view, len(found))
            page = found[offset : offset + limit]
            end = offset + len(page)
            out.append(
                _ok(
                    req.op,
                    (
                        f'<m:RootFolder IndexedPagingOffset="{end}" TotalItemsInView="{len(found)}"'
                        f' IncludesLastItemInRange="{_bool(end >= len(found))}"><t:Folders>'
                        + "".join(folder_xml(req.store, f, shape) for f in page)
                        + "</t:Folders></m:RootFolder>"
                    ),
                )
            )
        return out

    def _op_CreateFolder(self, req: _Request) -> list[str]:
        parent_ref = req.elem.find(f"{_M}ParentFolderId")
        if parent_ref is None or len(parent_ref) == 0:
            raise SoapFault("ErrorSchemaValidation", "ParentFolderId is missing.")
        folders = _children(req.elem, "Folders")
        try:
            parent = self._folder_ref(req.store, parent_ref[0])
        except StoreError as exc:
            return [_error(req.op, exc, after="<m:Folders/>") for _ in folders]
        out = []
        for spec in folders:
            name = (spec.findtext(f"{_T}DisplayName") or "").strip()
            folder_class = spec.findtext(f"{_T}FolderClass")
            if spec.tag == f"{_T}Folder" and not folder_class:
                folder_class = MAIL_CLASS
            if not name:
                out.append(
                    _error(
                        req.op,
                        StoreError("ErrorInvalidFolderId", "The folder has no display name."),
                        after="<m:Folders/>",
                    )
                )
                continue
            try:
                created = req.store.create_child(parent, name, folder_class)
            except StoreError as exc:
                out.append(_error(req.op, exc, after="<m:Folders/>"))
                continue
            tag = _FOLDER_TAGS.get(created.folder_class, "Folder")
            out.append(
                _ok(
                    req.op,
                    f'<m:Folders><t:{tag}><t:FolderId Id="{created.id}"'
                    f' ChangeKey="AQAAABYAAAA{created.change_version:04d}"/></t:{tag}></m:Folders>',
                )
            )
        return out

    @staticmethod
    def _check_find_shape(req: _Request, shape: Shape) -> StoreError | None:
        bad = sorted(shape.fields & GET_ITEM_ONLY)
        if not bad:
            return None
        return StoreError(
            "ErrorInvalidPropertyRequest",
            "The property cannot be used in this request.",
            f'<t:FieldURI FieldURI="{bad[0]}"/>',
        )

    def _op_FindItem(self, req: _Request) -> list[str]:
        self._unsupported_query(req, restriction=True)
        shape = parse_shape(req.elem.find(f"{_M}ItemShape"))
        restriction = req.elem.find(f"{_M}Restriction")
        keep = None
        if restriction is not None and len(restriction):
            keep = parse_restriction(restriction[0])
        view = req.elem.find(f"{_M}IndexedPageItemView")
        for other in (
            "FractionalPageItemView",
            "CalendarView",
            "ContactsView",
            "SeekToConditionPageItemView",
            "GroupBy",
            "DistinguishedGroupBy",
        ):
            if req.elem.find(f"{_M}{other}") is not None:
                raise SoapFault(
                    "ErrorInvalidOperation", f"The loopback EWS server does not implement {other}."
                )
        order = req.elem.find(f"{_M}SortOrder/{_T}FieldOrder")
        key = _SORTABLE["item:DateTimeReceived"]
        descending = True
        if order is not None:
            uri = order.find(f"{_T}FieldURI")
            name = uri.get("FieldURI", "") if uri is not None else ""
            if name not in _SORTABLE:
                raise SoapFault(
                    "ErrorInvalidOperation", f"The loopback EWS server cannot sort by {name}."
                )
            key = _SORTABLE[name]
            descending = order.get("Order", "Ascending") == "Descending"
        out = []
        for ref in _children(req.elem, "ParentFolderIds"):
            try:
                folder = self._folder_ref(req.store, ref)
            except StoreError as exc:
                out.append(_error(req.op, exc))
                continue
            bad = self._check_find_shape(req, shape)
            if bad is not None:
                out.append(_error(req.op, bad))
                continue
            items = [] if req.elem.get("Traversal") == "Associated" else list(folder.items.values())
            if keep is not None:
                items = [i for i in items if keep(i)]
            items.sort(key=key, reverse=descending)  # type: ignore[arg-type]
            offset, limit = self._page(view, len(items))
            page = items[offset : offset + limit]
            end = offset + len(page)
            out.append(
                _ok(
                    req.op,
                    (
                        f'<m:RootFolder IndexedPagingOffset="{end}" TotalItemsInView="{len(items)}"'
                        f' IncludesLastItemInRange="{_bool(end >= len(items))}"><t:Items>'
                        + "".join(item_xml(i, shape, full=False) for i in page)
                        + "</t:Items></m:RootFolder>"
                    ),
                )
            )
        return out

    def _item_refs(self, req: _Request, tag: str = "ItemIds") -> list[str]:
        out = []
        for ref in _children(req.elem, tag):
            if ref.tag != f"{_T}ItemId":
                raise SoapFault(
                    "ErrorInvalidOperation",
                    f"The loopback EWS server does not accept {ref.tag} ids.",
                )
            out.append(ref.get("Id", ""))
        return out

    def _op_GetItem(self, req: _Request) -> list[str]:
        shape = parse_shape(req.elem.find(f"{_M}ItemShape"))
        out = []
        for item_id in self._item_refs(req):
            try:
                item = req.store.item(item_id)
            except StoreError as exc:
                out.append(_error(req.op, exc, after="<m:Items/>"))
                continue
            out.append(_ok(req.op, f"<m:Items>{item_xml(item, shape, full=True)}</m:Items>"))
        return out

    def _op_SyncFolderItems(self, req: _Request) -> list[str]:
        shape = parse_shape(req.elem.find(f"{_M}ItemShape"))
        tail = "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
        try:
            limit = int(req.elem.findtext(f"{_M}MaxChangesReturned") or "0")
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_SYNC_CHANGES:
            raise SoapFault(
                "ErrorSchemaValidation",
                "The request failed schema validation: The 'MaxChangesReturned' element is "
                f"invalid - The value '{limit}' is invalid according to its datatype "
                f"'MaxSyncChangesReturnedType' (1 to {MAX_SYNC_CHANGES}).",
            )
        refs = req.elem.find(f"{_M}SyncFolderId")
        try:
            if refs is None or len(refs) == 0:
                raise not_found("folder")
            folder = self._folder_ref(req.store, refs[0])
            watermark = req.store.read_sync_state(folder, req.elem.findtext(f"{_M}SyncState"))
            bad = self._check_find_shape(req, shape)
            if bad is not None:
                return [_error(req.op, bad, after=tail)]
        except StoreError as exc:
            return [_error(req.op, exc, after=tail)]
        ignore = set(self._item_refs(req, "Ignore"))
        changes = list(req.store.changes(folder, watermark, ignore))
        page = changes[:limit]
        # With nothing left to report the state may move up to now: the changes in between
        # were either reported or never concerned this folder.
        new_mark = page[-1][0] if len(changes) > limit else req.store.seq
        rendered = []
        for _seq, kind, what in page:
            if kind == "Delete":
                rendered.append(f'<t:Delete><t:ItemId Id="{what}"/></t:Delete>')
            elif kind == "ReadFlagChange":
                assert isinstance(what, Item)
                rendered.append(
                    f'<t:ReadFlagChange><t:ItemId Id="{what.id}" ChangeKey="{what.change_key}"/>'
                    f"<t:IsRead>{_bool(what.is_read)}</t:IsRead></t:ReadFlagChange>"
                )
            else:
                assert isinstance(what, Item)
                rendered.append(f"<t:{kind}>{item_xml(what, shape, full=False)}</t:{kind}>")
        return [
            _ok(
                req.op,
                (
                    f"<m:SyncState>{req.store.sync_state(folder, new_mark)}</m:SyncState>"
                    f"<m:IncludesLastItemInRange>{_bool(len(changes) <= limit)}"
                    f"</m:IncludesLastItemInRange><m:Changes>{''.join(rendered)}</m:Changes>"
                ),
            )
        ]

    def _op_DeleteItem(self, req: _Request) -> list[str]:
        how = req.elem.get("DeleteType", "")
        if how not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
            raise SoapFault(
                "ErrorSchemaValidation",
                f"The request failed schema validation: DeleteType {how!r}.",
            )
        out = []
        for item_id in self._item_refs(req):
            try:
                req.store.delete(item_id, how)
            except StoreError as exc:
                out.append(_error(req.op, exc))
                continue
            out.append(_ok(req.op))
        return out

    def _move_or_copy(self, req: _Request, copy: bool) -> list[str]:
        target = req.elem.find(f"{_M}ToFolderId")
        if target is None or len(target) == 0:
            raise SoapFault("ErrorSchemaValidation", "ToFolderId is missing.")
        try:
            destination = self._folder_ref(req.store, target[0])
        except StoreError as exc:
            return [_error(req.op, exc, after="<m:Items/>") for _ in self._item_refs(req)]
        return_ids = req.elem.get("ReturnNewItemIds", "true").lower() != "false"
        out = []
        for item_id in self._item_refs(req):
            try:
                store = req.store
                new = store.copy(item_id, destination) if copy else store.move(item_id, destination)
            except StoreError as exc:
                out.append(_error(req.op, exc, after="<m:Items/>"))
                continue
            ident = (
                f'<t:Message><t:ItemId Id="{new.id}" ChangeKey="{new.change_key}"/></t:Message>'
                if return_ids
                else ""
            )
            out.append(_ok(req.op, f"<m:Items>{ident}</m:Items>"))
        return out

    def _op_MoveItem(self, req: _Request) -> list[str]:
        return self._move_or_copy(req, copy=False)

    def _op_CopyItem(self, req: _Request) -> list[str]:
        return self._move_or_copy(req, copy=True)

    def _op_GetAttachment(self, req: _Request) -> list[str]:
        shape = req.elem.find(f"{_M}AttachmentShape")
        mime = (
            shape is not None
            and (shape.findtext(f"{_T}IncludeMimeContent") or "").strip().lower() == "true"
        )
        out = []
        for ref in _children(req.elem, "AttachmentIds"):
            try:
                item, index = self._attachment(req.store, ref.get("Id", ""))
                att = item.msg.attachments[index]
            except StoreError as exc:
                out.append(_error(req.op, exc, after="<m:Attachments/>"))
                continue
            out.append(
                _ok(
                    req.op,
                    "<m:Attachments>"
                    + _attachment_xml(item, index, att, content=True, mime=mime)
                    + "</m:Attachments>",
                )
            )
        return out

    @staticmethod
    def _attachment(store: Store, attachment_id: str) -> tuple[Item, int]:
        try:
            raw = base64.b64decode(attachment_id, validate=True)
        except ValueError:
            raise StoreError("ErrorInvalidIdMalformed", "Id is malformed.") from None
        if len(raw) != 15 or not raw.startswith(b"MCATT"):
            raise StoreError("ErrorInvalidIdMalformed", "Id is malformed.")
        serial, index = struct.unpack(">QH", raw[5:])
        for item in store.items.values():
            if item.serial == serial and index < len(item.msg.attachments):
                return item, index
        raise StoreError("ErrorItemNotFound", "The specified object was not found in the store.")

    def _op_ConvertId(self, req: _Request) -> list[str]:
        # exchangelib's version probe sends one dummy id: only the header matters to it.
        destination = req.elem.get("DestinationFormat", "EwsId")
        out = []
        for source in _children(req.elem, "SourceIds"):
            value = source.get("Id", "")
            try:
                req.store.item(value)
            except StoreError as exc:
                out.append(_error(req.op, StoreError("ErrorInvalidIdMalformed", exc.text)))
                continue
            out.append(
                _ok(
                    req.op,
                    (
                        f'<m:AlternateId xsi:type="t:AlternateIdType" Format="{destination}"'
                        f' Id="{value}" Mailbox={_attr(req.store.email)}/>'
                    ),
                )
            )
        return out


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about clients that refuse the certificate or hang up."""
        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    """One keep-alive HTTP connection; :attr:`ews` is set by :meth:`EwsServer.start`."""

    ews: EwsServer
    protocol_version = "HTTP/1.1"
    timeout = 30

    def setup(self) -> None:
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK hold every response back by 40 ms.
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                # A client that refuses the certificate ends here; nothing to answer.
                self.request.close()
                raise
        super().setup()

    def handle(self) -> None:
        with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError):
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests count requests instead."""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "text/xml; charset=utf-8", **(headers or {})}
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.split("?")[0].lower() != "/ews/exchange.asmx":
            self._send(404, b"")
            return
        if self.ews.credentials is not None and not self._authorized():
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="127.0.0.1"'})
            return
        status, text = self.ews.handle(body, self.headers.get("X-AnchorMailbox"))
        if text is None:
            # A dropped connection: no status line, the socket just closes.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = text.encode("utf-8")
        self.ews._sent(len(data))
        self._send(status, data)

    def do_GET(self) -> None:
        """``/_test/stats``: request counts and bytes sent, as JSON (for bench/ in another
        process); anything else is not found."""
        if self.path != "/_test/stats":
            self._send(404, b"")
            return
        stats = {"counts": self.ews.request_counts(), "bytes_sent": self.ews.bytes_sent}
        self._send(200, json.dumps(stats).encode(), {"Content-Type": "application/json"})

    def _authorized(self) -> bool:
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (user, password) == self.ews.credentials
