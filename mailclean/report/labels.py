"""The report's words: reasons, folder roles and categories in the reader's language, and
signed sizes and percentages ("−300 MB" when a volume grew)."""

from __future__ import annotations

from mailclean.i18n import _, ngettext, number, percent, size


def reason_text(reason: str) -> str:
    """A left-out mailbox's reason in words."""
    return {
        "only-before": _("only in the first snapshot"),
        "only-after": _("only in the second snapshot"),
        "failed-before": _("could not be measured in the first snapshot"),
        "failed-after": _("could not be measured in the second snapshot"),
        "pending-before": _("not measured yet in the first snapshot"),
        "pending-after": _("not measured yet in the second snapshot"),
    }.get(reason, reason)


def role_text(role: str) -> str:
    """A folder role in words."""
    return {
        "inbox": _("Inbox"),
        "sent": _("Sent"),
        "drafts": _("Drafts"),
        "trash": _("Trash"),
        "junk": _("Junk"),
        "archive": _("Archives"),
        "other": _("Other folders"),
    }.get(role, role)


def category_text(category: str) -> str:
    """A cleanup category in words."""
    return {
        "large-attachments": _("Large attachments"),
        "newsletters": _("Newsletters and mailing lists"),
        "old-threads": _("Old conversations"),
        "trash-and-junk": _("Trash and junk"),
        "duplicates": _("Duplicates"),
        "notifications": _("Automatic notifications"),
        "sent-attachments": _("Attachments sent"),
    }.get(category, category)


def partial_text(n: int) -> str:
    """The note on the mailboxes measured in part."""
    return ngettext(
        "{n} mailbox was measured in part: some of its folders could not be read, and the "
        "figures are those of the others.",
        "{n} mailboxes were measured in part: some of their folders could not be read, and "
        "the figures are those of the others.",
        n,
    ).format(n=number(n))


def signed_percent(share: float | None) -> str:
    """A reduction as a percentage with its sign: "−12%" means the volume grew."""
    if share is None:
        return "–"
    text = percent(abs(share))
    if round(abs(share) * 100) == 0:
        return text
    return text if share >= 0 else "−" + text


def signed_size(n: int) -> str:
    """A size freed: "1.2 GB", or "−300 MB" when it grew."""
    return size(n) if n >= 0 else "−" + size(-n)
