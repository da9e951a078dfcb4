"""Why a message was flagged, in the reader's language, from the facts a hit stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailclean.i18n import _, ngettext, role, size, when

if TYPE_CHECKING:
    from mailclean.rules import Rule


def reason(rule_type: str, detail: dict[str, Any]) -> str:
    """One sentence for a hit of a rule of ``rule_type`` with these facts."""
    if rule_type == "large-attachments":
        names = ", ".join(n for n in detail.get("names") or [] if n)
        return ngettext(
            "{n} attachment, {size}: {names}", "{n} attachments, {size}: {names}",
            detail.get("count") or 0,
        ).format(n=detail.get("count") or 0, size=size(detail.get("bytes")), names=names)
    if rule_type == "old-threads":
        return ngettext(
            "conversation of {n} message, silent since {date}",
            "conversation of {n} messages, silent since {date}",
            detail.get("messages") or 1,
        ).format(n=detail.get("messages") or 1, date=when(detail.get("last"))[:10])
    if rule_type == "bulk":
        parts = []
        if detail.get("list"):
            parts.append(_("mailing list {list}").format(list=detail["list"]))
        elif detail.get("precedence"):
            parts.append(_("bulk mail (Precedence: {value})").format(value=detail["precedence"]))
        elif detail.get("mailer"):
            parts.append(_("sent by a mailing platform ({mailer})").format(mailer=detail["mailer"]))
        else:
            parts.append(_("bulk mail"))
        parts.append(UNSUBSCRIBE.get(detail.get("unsubscribe") or "none", lambda: "")())
        # The separator is translated: French puts a space before the semicolon.
        return _("; ").join(p for p in parts if p)
    if rule_type == "automatic":
        if detail.get("auto_submitted"):
            return _("automatic message (Auto-Submitted: {value})").format(
                value=detail["auto_submitted"]
            )
        return _("sent by a robot address ({sender})").format(sender=detail.get("sender"))
    if rule_type == "duplicates":
        return ngettext(
            "{n} copy of this message; the one in {folder} is kept",
            "{n} copies of this message; the one in {folder} is kept",
            detail.get("copies") or 2,
        ).format(n=detail.get("copies") or 2, folder=detail.get("kept_folder"))
    if rule_type == "folder-role":
        return _("in {folder}: still uses space on the server until it is emptied").format(
            folder=detail.get("folder")
        )
    return rule_type


UNSUBSCRIBE = {
    "one-click": lambda: _("one-click unsubscribe available"),
    "https": lambda: _("unsubscribe link available"),
    "mailto": lambda: _("unsubscribe by e-mail"),
    "none": lambda: _("no unsubscribe link"),
}


def why_not(rule: Rule, detail: dict[str, Any], folder: str, folder_role: str | None) -> str:
    """Why ``rule`` does not flag a message (in ``folder``, of ``folder_role``), from the
    same facts a flag would show: the condition it misses."""
    if rule.folder_roles and folder_role not in rule.folder_roles:
        return _("it only looks in folders of these roles: {roles}").format(
            roles=", ".join(role(r) for r in rule.folder_roles))
    p = rule.params
    if rule.type == "large-attachments":
        if not detail.get("count"):
            return _("the message has no attachment")
        return _("its attachments weigh {size}, under {limit}").format(
            size=size(detail.get("bytes")), limit=size(p.get("min_size")))
    if rule.type == "old-threads":
        return _("its conversation's latest message is from {date}, less than {years} years "
                 "ago").format(date=when(detail.get("last"))[:10], years=p.get("years"))
    if rule.type == "bulk":
        if folder_role in ("sent", "drafts"):
            return _("it is in {folder}: mail you write is never bulk mail").format(
                folder=folder)
        return _("no sign of bulk mail: no List-Id, List-Unsubscribe, Precedence: bulk, "
                 "Feedback-ID, nor a mailing platform's name")
    if rule.type == "automatic":
        return _("its sender {sender} does not start like a robot's address, and it has no "
                 "Auto-Submitted header").format(sender=detail.get("sender") or "–")
    if rule.type == "duplicates":
        if (detail.get("copies") or 1) < 2:
            return _("there is no other copy of it (same Message-ID and size)")
        return _("it is the copy that is kept ({n} copies)").format(n=detail.get("copies"))
    if rule.type == "folder-role":
        return _("it is in {folder}, not in a folder of these roles: {roles}").format(
            folder=folder, roles=", ".join(role(r) for r in p.get("roles") or []))
    return ""
