"""What the review app reads from the index: figures, paged lists, the selection.

No textual here, and no SQL: these classes decide what the review shows (a rule's groups
and messages outside the Trash unless the rule is about it, titles in the reader's
language) and read it through :mod:`mailclean.index.review` on the main thread's own
connection, so they can be tested and benchmarked without a terminal. Lists never hold
their rows: a message list keeps the ordered row ids (8 bytes each, in an ``array``) and
fetches the rows of the pages on screen; the selection lives in a TEMP table.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailclean.i18n import _, language, ngettext, number
from mailclean.index import Index
from mailclean.index import review as q
from mailclean.index.journal import ActionRow, Journal
from mailclean.index.review import GroupQuery, GroupRows, MessageRow
from mailclean.rules import Protection, Rule, explain, summary
from mailclean.rules.reasons import UNSUBSCRIBE, reason
from mailclean.rules.unsubscribe import best_of_group

__all__ = ["GROUP_SORTS", "SORTS", "GroupList", "GroupQuery", "GroupRow", "GroupRows",
           "MessageList", "MessageRow", "Overview", "ReviewData", "RuleFigures",
           "sort_label", "unsubscribe_label"]

#: Rows fetched at once for the lists' page cache.
PAGE = 100
#: Pages kept per list.
PAGES_KEPT = 64

SORTS = ("size", "date-asc", "date-desc")
GROUP_SORTS = ("size", "count", "name")


def sort_label(sort: str) -> str:
    """How a sort order is named in the interface."""
    return {
        "size": _("largest first"),
        "date-asc": _("oldest first"),
        "date-desc": _("newest first"),
        "count": _("most messages first"),
        "name": _("by name"),
    }.get(sort, sort)


@dataclass(slots=True)
class RuleFigures:
    """A rule as the review shows it: what is still to review (not yet in the Trash)."""

    name: str
    title: str
    description: str
    group_by: str
    messages: int
    bytes: int
    includes_trash: bool


@dataclass(slots=True)
class GroupRow:
    """One line of a group list (``key`` None with ``everything``: the whole rule)."""

    key: str | None
    label: str
    messages: int
    bytes: int
    selected: int
    unsubscribe: str | None = None
    everything: bool = False


@dataclass
class Overview:
    """Everything the overview tab shows."""

    account: str
    address: str | None
    kind: str
    synced_at: str | None
    messages: int
    bytes: int
    quota_used: int | None
    quota_limit: int | None
    folders: list[dict]
    rules: list[RuleFigures]
    reclaimable_messages: int
    reclaimable_bytes: int
    freed_total: dict
    freed_today: dict
    interrupted: list[ActionRow] = field(default_factory=list)


class ReviewData:
    """The app's window on the index of one account (main thread only)."""

    def __init__(
        self, index: Index, account: str, rules: dict[str, Rule], protection: Protection
    ) -> None:
        self.index = index
        self.conn = index.conn
        self.account = account
        self.rules = rules
        self.protection = protection
        self.account_id = 0
        self.trash_id: int | None = None
        self.trash_path: str | None = None
        self.selection = q.SelectionTable(self.conn)
        self.reload()

    # -- account ------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the account's id and Trash again (after a sync, folders may change)."""
        row = self.index.account(self.account)
        self.account_id = int(row["id"]) if row else 0
        self.trash_id = self.trash_path = None
        for folder in self.index.folders(self.account_id) if row else []:
            if folder.role == "trash":
                self.trash_id, self.trash_path = folder.id, folder.path
                break

    @property
    def indexed(self) -> bool:
        """Whether the account was ever synced into this index."""
        return self.account_id != 0

    def includes_trash(self, rule: Rule) -> bool:
        """Whether the rule's purpose is what sits in the Trash (then Trash is not hidden)."""
        roles = set(rule.folder_roles) | set(rule.params.get("roles") or [])
        return "trash" in roles

    def hidden_folder(self, rule: str) -> int | None:
        """The folder whose messages the rule's lists leave out: the Trash, unless the rule
        is about it (None: nothing left out)."""
        r = self.rules.get(rule)
        if self.trash_id is None or r is None or self.includes_trash(r):
            return None
        # Messages already moved to the Trash are dealt with: they show under the rule
        # about the Trash, not again under the rule that found them.
        return self.trash_id

    # -- overview -----------------------------------------------------------------------

    def rule_figures(self) -> list[RuleFigures]:
        """Enabled rules with what they flag outside the Trash, in the rules' order."""
        lang = language()
        figures: dict[str, tuple[int, int]] = {}
        if self.indexed:
            figures = q.hits_per_rule(self.conn, self.account_id)
            if self.trash_id is not None:
                # What is already in the Trash shows under the rule about the Trash only.
                in_trash = q.hits_per_rule(self.conn, self.account_id, self.trash_id)
                for name, (n, b) in in_trash.items():
                    rule = self.rules.get(name)
                    if rule is not None and not self.includes_trash(rule) and name in figures:
                        total_n, total_b = figures[name]
                        figures[name] = (total_n - n, total_b - b)
        out = []
        for rule in self.rules.values():
            if not rule.enabled:
                continue
            n, b = figures.get(rule.name, (0, 0))
            out.append(RuleFigures(
                rule.name, rule.text("title", lang), rule.text("description", lang),
                rule.group_by, n, b, self.includes_trash(rule),
            ))
        return out

    def overview(self) -> Overview:
        """Mailbox size and quota, folders, rules, freed volume (today and in total)."""
        row = self.index.account(self.account) or {}
        if not self.indexed:
            empty = _no_freed()
            return Overview(self.account, None, "", None, 0, 0, None, None, [], [], 0, 0,
                            empty, empty)
        stats = self.index.stats(self.account_id)
        result = summary(self.index, self.account, self.rules)
        journal = Journal(self.index)
        today = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        since = today.astimezone(UTC).replace(tzinfo=None).isoformat()
        return Overview(
            account=self.account,
            address=row.get("address"),
            kind=row.get("kind") or "",
            synced_at=row.get("synced_at"),
            messages=stats["messages"],
            bytes=stats["bytes"],
            quota_used=row.get("quota_used"),
            quota_limit=row.get("quota_limit"),
            folders=stats["folders"],
            rules=self.rule_figures(),
            reclaimable_messages=result.reclaimable_messages,
            reclaimable_bytes=result.reclaimable_bytes,
            freed_total=journal.freed(self.account_id),
            freed_today=journal.freed(self.account_id, since),
            interrupted=[a for a in journal.actions(self.account_id)
                         if a.state in ("interrupted", "cancelled") and a.unfinished],
        )

    # -- groups -------------------------------------------------------------------------

    def groups(self, rule: str, text: str = "", sort: str = "size") -> GroupList:
        """The rule's groups (outside the Trash), largest first, filtered by ``text``."""
        return GroupList(self, rule, text, sort)

    def messages(self, rule: str, group: str | None, everything: bool, text: str = "",
                 sort: str = "size") -> MessageList:
        """The messages of a rule (``everything``) or of one of its groups."""
        return MessageList(self, rule, group, everything, text, sort)

    # -- selection ----------------------------------------------------------------------

    def selection_totals(self) -> tuple[int, int]:
        """How many messages are selected, and their volume."""
        return self.selection.totals()

    def selected_per_rule(self) -> dict[str, int]:
        """How many of each rule's messages (as the review lists them: outside the Trash,
        unless the rule is about the Trash) are selected."""
        out: dict[str, int] = {}
        if not self.indexed or self.selection.empty():
            return out
        for name, n, in_trash in self.selection.per_rule(self.account_id, self.trash_id):
            rule = self.rules.get(name)
            out[name] = n if rule is not None and self.includes_trash(rule) else n - in_trash
        return out

    def rules_listing(self, message_id: int) -> list[str]:
        """The rules whose review lists show the message (counted as
        :meth:`selected_per_rule` counts)."""
        folder = q.message_folder(self.conn, message_id)
        in_trash = folder is not None and self.trash_id is not None and folder == self.trash_id
        names = q.message_rules(self.conn, self.account_id, message_id)
        return [n for n in names if not in_trash
                or (n in self.rules and self.includes_trash(self.rules[n]))]

    def selected_ids(self) -> tuple[int, ...]:
        """The selected messages' index row ids."""
        return self.selection.ids()

    def toggle(self, message_id: int) -> bool:
        """Select or unselect one message; True if it is now selected."""
        return self.selection.toggle(message_id)

    def select_list(self, listing: MessageList, on: bool = True) -> None:
        """Select (or unselect) every message of a list, whatever its length."""
        self.selection.select(listing.hits, on)

    def all_selected(self, listing: MessageList) -> bool:
        """Whether every message of the list is selected."""
        if not len(listing):
            return False
        if self.selection.count() < len(listing):
            return False
        return listing.selected_count() == len(listing)

    def clear_selection(self) -> None:
        """Unselect everything."""
        self.selection.clear()

    def prune_selection(self) -> None:
        """Forget selected messages that are no longer in the index (after a sync)."""
        self.selection.prune()

    # -- one message --------------------------------------------------------------------

    def details(self, message_id: int) -> dict[str, Any] | None:
        """Headers, attachments and why each rule flags the message."""
        out = q.message_details(self.conn, message_id)
        if out is None:
            return None
        lang = language()
        explained = explain(self.index, self.account, str(message_id), self.protection,
                            self.rules)["messages"][0]
        hits = []
        for hit in explained["hits"]:
            rule = self.rules.get(hit["rule"])
            hits.append({
                "rule": hit["rule"],
                "title": rule.text("title", lang) if rule else hit["rule"],
                "reason": reason(rule.type, hit["detail"] or {}) if rule else "",
            })
        out["hits"] = hits
        out["protected"] = bool(explained["protected"])
        return out

    def unsubscribe(self, rule: str, group: str | None) -> str:
        """The best way out of a group's mail: one-click, https, mailto or none (as
        ``mailclean senders`` says)."""
        return best_of_group(self.conn, self.account_id, rule, group)

    # -- journal ------------------------------------------------------------------------

    def journal(self) -> list[ActionRow]:
        """The account's actions, newest first."""
        if not self.indexed:
            return []
        return list(reversed(Journal(self.index).actions(self.account_id)))

    def last_undoable(self) -> ActionRow | None:
        """The latest trash action that still has messages to put back."""
        for action in self.journal():
            if action.kind == "trash" and action.state != "undone" and action.count("done")[0]:
                return action
        return None


class GroupList:
    """A rule's groups: keys, counts and volumes held (a few per group), labels on demand."""

    def __init__(self, data: ReviewData, rule: str, text: str, sort: str,
                 rows: GroupRows | None = None) -> None:
        self.data = data
        self.rule = rule
        self.text = text
        self.sort = sort
        r = data.rules.get(rule)
        self.group_by = r.group_by if r else "sender"
        self.bulk = r is not None and r.type == "bulk"
        if rows is None:
            rows = self.query(data, rule, text, sort).fetch(data.conn)
        self.keys, self.counts, self.sizes = rows.keys, rows.counts, rows.sizes
        self.total_messages = sum(self.counts)
        self.total_bytes = sum(self.sizes)
        self._labels: dict[int, str] = {}
        self._unsub: dict[int, str] = {}
        self._marks: dict[int, int] = {}
        self._selected_by_group: dict[str | None, int] | None = None

    @staticmethod
    def query(data: ReviewData, rule: str, text: str, sort: str) -> GroupQuery:
        """The query of a rule's groups, for any connection."""
        r = data.rules.get(rule)
        group_by = r.group_by if r else "sender"
        # Threads are shown by their subject: filter on what people read.
        return GroupQuery.of(data.account_id, rule, hidden_folder=data.hidden_folder(rule),
                             text=text, by_subject=group_by == "thread", sort=sort)

    def __len__(self) -> int:
        # The first line stands for the whole rule.
        return len(self.keys) + 1

    def invalidate_marks(self) -> None:
        """The selection changed: recount the selected messages per group when shown."""
        self._marks.clear()
        self._selected_by_group = None

    def row(self, i: int) -> GroupRow:
        """Line ``i`` (0 is "everything")."""
        if i == 0:
            if 0 not in self._marks:
                self._marks[0] = self._selected(None, everything=True)
            label = (ngettext("All {n} group", "All {n} groups", len(self.keys)).format(
                n=number(len(self.keys))) if not self.text
                else ngettext("All {n} matching group", "All {n} matching groups",
                              len(self.keys)).format(n=number(len(self.keys))))
            return GroupRow(None, label, self.total_messages, self.total_bytes,
                            self._marks[0], None, everything=True)
        k = i - 1
        key = self.keys[k]
        if k not in self._labels:
            self._labels[k] = self._label(key)
        if self.bulk and k not in self._unsub:
            self._unsub[k] = self.data.unsubscribe(self.rule, key)
        if i not in self._marks:
            self._marks[i] = self._selected(key)
        return GroupRow(key, self._labels[k], self.counts[k], self.sizes[k], self._marks[i],
                        self._unsub.get(k))

    def _label(self, key: str | None) -> str:
        if key is None:
            return _("(none)")
        if self.group_by == "thread":
            subject = q.thread_subject(self.data.conn, self.data.account_id, key)
            if subject:
                return subject
            if key.startswith("message:"):
                return _("(no subject)")
        return key

    def _selected(self, key: str | None, everything: bool = False) -> int:
        if self._selected_by_group is None:
            self._selected_by_group = {}
            selection = self.data.selection
            if not selection.empty():
                self._selected_by_group = selection.per_group(
                    self.data.account_id, self.rule, self.data.hidden_folder(self.rule))
        if everything:
            return sum(self._selected_by_group.values())
        return self._selected_by_group.get(key, 0)


class MessageList:
    """The messages of a rule or group in display order: ids in memory, rows by page."""

    def __init__(self, data: ReviewData, rule: str, group: str | None, everything: bool,
                 text: str, sort: str) -> None:
        self.data = data
        self.rule = rule
        self.group = group
        self.everything = everything
        self.text = text
        self.sort = sort
        self.hits = q.message_filter(data.account_id, rule, group, everything=everything,
                                     hidden_folder=data.hidden_folder(rule), text=text,
                                     sort=sort)
        self.ids, self.total_bytes = q.message_ids(data.conn, self.hits, sort)
        self._pages: OrderedDict[int, list[MessageRow]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.ids)

    def invalidate(self) -> None:
        """Forget the cached rows (the selection or the index changed)."""
        self._pages.clear()

    def row(self, i: int) -> MessageRow:
        """Line ``i`` of the list."""
        page = i // PAGE
        rows = self._pages.get(page)
        if rows is None:
            rows = self._fetch(page)
            self._pages[page] = rows
            if len(self._pages) > PAGES_KEPT:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page)
        return rows[i - page * PAGE]

    def _fetch(self, page: int) -> list[MessageRow]:
        ids = list(self.ids[page * PAGE : (page + 1) * PAGE])
        found = q.message_rows(self.data.conn, ids)
        # A message gone from the index since the list was made (a sync meanwhile).
        return [found.get(i) or MessageRow(i, "", "", _("(no longer in the index)"), 0, 0,
                                           "", False) for i in ids]

    def selected_count(self) -> int:
        """How many of the list's messages are selected."""
        return self.data.selection.selected_in(self.hits)


def _no_freed() -> dict:
    keys = ("trashed", "still_in_trash", "deleted", "exported", "restored")
    out: dict = {f"{k}_{u}": 0 for k in keys for u in ("messages", "bytes")}
    out.update(messages=0, bytes=0, freed_on_server_bytes=0, actions=[])
    return out


def unsubscribe_label(method: str | None) -> str:
    """A group's unsubscribe method in words."""
    if not method:
        return ""
    return UNSUBSCRIBE.get(method, lambda: "")()
