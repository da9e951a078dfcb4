"""Messages written by hand, as a connector reports them, for tests that need a few exact
ones in the index rather than a generated mailbox (:mod:`tests.support.corpora`)."""

from __future__ import annotations

from mailclean.model import AttachmentMeta, MessageMeta


def meta(uid: int, size: int = 100, attachments: int = 0, **kw: object) -> MessageMeta:
    """Message ``uid`` (its server id too) from ``a@example.org``, ``size`` bytes, with
    ``attachments`` PDF files of 40 bytes (30 decoded); ``kw`` sets any other field."""
    return MessageMeta(
        server_id=str(uid),
        uid=uid,
        size=size,
        sender="a@example.org",
        attachments=[
            AttachmentMeta(
                part=str(i + 2),
                filename=f"f{i}.pdf",
                mime_type="application/pdf",
                size=40,
                decoded_size=30,
            )
            for i in range(attachments)
        ],
        **kw,
    )
