"""What mailclean asks of Exchange items and folders: the extended properties it
registers with exchangelib, the fields fetched, and the header fields kept.
"""

# exchangelib has no type information: the classes specialised here subclass Any.

from __future__ import annotations

from exchangelib.extended_properties import ExtendedProperty, Flag
from exchangelib.folders import Folder
from exchangelib.folders.roots import RootOfHierarchy
from exchangelib.items import Message

#: The header fields read from InternetMessageHeaders (the rest is dropped unparsed).
HEADER_FIELDS = frozenset(
    (
        "from",
        "to",
        "date",
        "subject",
        "message-id",
        "in-reply-to",
        "references",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "precedence",
        "auto-submitted",
        "feedback-id",
        "x-mailer",
    )
)


class MessageSizeExtended(ExtendedProperty):
    """PidTagMessageSizeExtended: a folder's total size in bytes, 64-bit."""

    property_tag = 0x0E08
    property_type = "Long"


class ProhibitReceiveQuota(ExtendedProperty):
    """PidTagProhibitReceiveQuota (KiB) on the mailbox root: the hard quota, when set."""

    property_tag = 0x666A
    property_type = "Integer"


def _register() -> None:
    # exchangelib parses extended properties only once they are registered on the class.
    for cls, name, prop in (
        (Folder, "mailclean_size", MessageSizeExtended),
        (RootOfHierarchy, "mailclean_quota", ProhibitReceiveQuota),
        (Message, "mailclean_flag", Flag),
    ):
        if name not in {f.name for f in cls.FIELDS}:
            cls.register(name, prop)


_register()


#: What GetItem asks for: never the body nor attachment content.
_ITEM_FIELDS = (
    "datetime_received",
    "datetime_sent",
    "size",
    "is_read",
    "mailclean_flag",
    "has_attachments",
    "attachments",
    "headers",
    "subject",
    "author",
    "message_id",
    "in_reply_to",
    "references",
    "display_to",
)
_FLAG_FIELDS = ("is_read", "mailclean_flag")
_FOLDER_FIELDS = ("name", "folder_class", "parent_folder_id", "total_count", "mailclean_size")
_FLAGGED = 2  # PidTagFlagStatus: 1 is "complete", 2 "flagged for follow-up"
