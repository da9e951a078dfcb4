"""The rules engine against the generator's truth (indexed from the real Dovecot), at its
thresholds' edges, under protection, and as properties over random indexes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailclean import mailgen
from mailclean.connectors.base import AttachmentMeta, FolderInfo, FolderState, MessageMeta
from mailclean.index import Index
from mailclean.rules import Protection, RuleError, groups, load_rules, scan
from mailclean.sync import sync_account
from tests.dovecot import Dovecot
from tests.test_sync_imap import USER, connector, corpus

NOW = mailgen.REFERENCE_DATE


@pytest.fixture(scope="module")
def synced(dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An index of the corpus, synced once from the real Dovecot; tests copy it."""
    dovecot.reset_user(USER)
    dovecot.seed(USER, corpus())
    path = tmp_path_factory.mktemp("rules") / "index.db"
    index = Index(path)
    sync_account(index, "work", connector(dovecot))
    index.close()
    yield path


@pytest.fixture
def index(synced: Path, tmp_path: Path) -> Iterator[Index]:
    import shutil

    copy = tmp_path / "index.db"
    shutil.copy(synced, copy)
    idx = Index(copy)
    yield idx
    idx.close()


def hits_by_message(index: Index) -> dict[tuple[str, str | None, int], set[str]]:
    """(folder, Message-ID, size) -> rules that flagged it."""
    out: dict[tuple[str, str | None, int], set[str]] = defaultdict(set)
    for folder, mid, size, rule in index.db.execute(
        "SELECT f.path, m.message_id, m.size, h.rule FROM hits h JOIN messages m"
        " ON m.id = h.message_id JOIN folders f ON f.id = m.folder_id"
    ):
        out[(folder, mid, size)].add(rule)
    return out


def key(m: mailgen.GeneratedMessage) -> tuple[str, str | None, int]:
    return (m.folder, m.message_id, m.size)


def test_builtin_rules_against_truth(index: Index) -> None:
    result = scan(index, "work", load_rules(), now=NOW)
    hits = hits_by_message(index)
    flagged = {key(m) for m in corpus() if "\\Flagged" in m.flags}
    # Protection always wins: no flagged message is hit by anything.
    assert not flagged & set(hits)
    for m in corpus():
        rules = hits.get(key(m), set())
        if key(m) in flagged:
            continue
        if m.kind == "newsletter" and m.folder not in ("Sent", "Drafts"):
            assert "newsletters" in rules, (m.subject, m.list_id)
        if m.kind in ("personal", "thread-reply", "sent") and not (
            m.list_id or m.list_unsubscribe or m.precedence
        ):
            assert "newsletters" not in rules, m.subject
        if m.auto_submitted and m.auto_submitted.lower() != "no":
            assert "notifications" in rules, m.subject
        if m.folder in ("Trash", "Junk"):
            assert "trash-and-junk" in rules
        big = sum(a.decoded_size for a in m.attachments)
        if big >= 5_500_000:  # encoded weight is larger still: surely over 5 MB
            assert "large-attachments" in rules, m.subject
        if big < 4_000_000:  # encoded weight surely under 5 MB
            assert "large-attachments" not in rules, m.subject
    assert result.reclaimable_bytes <= result.total_bytes
    assert result.total_messages == len(corpus())
    per_rule = {r["rule"]: r for r in result.rules}
    assert per_rule["newsletters"]["messages"] > 20
    assert per_rule["duplicates"]["messages"] >= 1


def test_duplicates_keep_exactly_one_copy(index: Index) -> None:
    scan(index, "work", load_rules(), now=NOW)
    hits = hits_by_message(index)
    copies: dict[tuple[str | None, int], list[mailgen.GeneratedMessage]] = defaultdict(list)
    for m in corpus():
        if m.message_id:
            copies[(m.message_id, m.size)].append(m)
    groups_ = [v for v in copies.values() if len(v) > 1]
    assert groups_, "the corpus has duplicates"
    for group in groups_:
        flagged = [m for m in group if "duplicates" in hits.get(key(m), set())]
        protected = [m for m in group if "\\Flagged" in m.flags]
        if protected:
            # The kept copy is a protected one; every unprotected copy goes.
            assert len(flagged) == len(group) - len(protected)
        else:
            assert len(flagged) == len(group) - 1
        kept = [m for m in group if m not in flagged and m not in protected]
        if not protected and any(m.folder not in ("Trash", "Junk") for m in group):
            assert kept[0].folder not in ("Trash", "Junk")


def test_old_threads_follow_the_latest_message(index: Index) -> None:
    scan(index, "work", load_rules(), now=NOW)
    hits = hits_by_message(index)
    cutoff = NOW - timedelta(days=365.25 * 3)
    threads: dict[str, list[mailgen.GeneratedMessage]] = defaultdict(list)
    for m in corpus():
        if m.thread_root:
            threads[m.thread_root].append(m)
    live_checked = old_checked = 0
    for members in threads.values():
        latest = max((m.date or m.internal_date) for m in members)
        for m in members:
            if "\\Flagged" in m.flags:
                continue
            if latest >= cutoff:
                assert "old-threads" not in hits.get(key(m), set()), m.subject
                live_checked += len(members) > 1
            else:
                assert "old-threads" in hits.get(key(m), set()), m.subject
                old_checked += 1
    assert live_checked and old_checked


def test_threshold_edges(index: Index, tmp_path: Path) -> None:
    weight = index.db.execute(
        "SELECT attachment_bytes FROM messages WHERE attachment_bytes > 0 AND flagged = 0"
        " ORDER BY attachment_bytes DESC LIMIT 1 OFFSET 3"
    ).fetchone()[0]
    rules_file = tmp_path / "rules.toml"
    for min_size, expect in ((weight, True), (weight + 1, False)):
        rules_file.write_text(f'[rules.large-attachments]\nmin_size = {min_size}\n')
        scan(index, "work", load_rules(rules_file), now=NOW, force=True)
        got = index.db.execute(
            "SELECT count(*) FROM hits h JOIN messages m ON m.id = h.message_id"
            " WHERE h.rule = 'large-attachments' AND m.attachment_bytes = ?", [weight]
        ).fetchone()[0]
        assert bool(got) is expect, min_size


def test_protection_from_config(index: Index) -> None:
    scan(index, "work", load_rules(), now=NOW)
    sender, domain = index.db.execute(
        "SELECT m.sender, m.sender_domain FROM hits h JOIN messages m ON m.id ="
        " h.message_id WHERE h.rule = 'newsletters'"
        " LIMIT 1"
    ).fetchone()
    word = index.db.execute(
        "SELECT lower(substr(subject, 1, 6)) FROM messages m JOIN hits h ON h.message_id = m.id"
        " WHERE h.rule = 'old-threads' AND length(subject) > 8 LIMIT 1"
    ).fetchone()[0]
    protect = Protection.from_config(
        {"senders": [sender], "domains": [domain], "folders": ["Trash"], "keywords": [word]}
    )
    scan(index, "work", load_rules(), protect, now=NOW)
    leaked = index.db.execute(
        "SELECT count(*) FROM hits h JOIN messages m ON m.id = h.message_id JOIN folders f"
        " ON f.id = m.folder_id WHERE m.flagged = 1 OR m.sender = ? OR m.sender_domain = ?"
        " OR f.path = 'Trash' OR instr(lower(m.subject), ?) > 0",
        [sender, domain, word],
    ).fetchone()[0]
    assert leaked == 0
    with pytest.raises(RuleError, match="unknown key 'sender'"):
        Protection.from_config({"sender": ["x"]})


def test_groups_and_unsubscribe(index: Index) -> None:
    scan(index, "work", load_rules(), now=NOW)
    rows = groups(index, "work", "newsletters", limit=None)
    total = index.db.execute(
        "SELECT count(*), sum(bytes) FROM hits WHERE rule = 'newsletters'"
    ).fetchone()
    assert sum(r["messages"] for r in rows) == total[0]
    assert sum(r["bytes"] for r in rows) == total[1]
    assert [r["bytes"] for r in rows] == sorted((r["bytes"] for r in rows), reverse=True)
    methods = {r["unsubscribe"] for r in rows}
    assert "one-click" in methods and methods <= {"one-click", "https", "mailto", "none"}


def test_scan_is_reused_until_something_changes(index: Index, tmp_path: Path) -> None:
    rules = load_rules()
    assert scan(index, "work", rules).cached is False
    assert scan(index, "work", rules).cached is True
    rules_file = tmp_path / "r.toml"
    rules_file.write_text("[rules.duplicates]\nenabled = false\n")
    changed = scan(index, "work", load_rules(rules_file))
    assert changed.cached is False
    assert "duplicates" not in {r["rule"] for r in changed.rules}
    assert scan(index, "work", load_rules(rules_file)).cached is True
    # Any change to the messages, a flag included (it decides protection), is a new index.
    folder = next(f for f in index.folders(index.account("work")["id"]) if f.path == "INBOX")
    sid = next(iter(index.known_ids(folder.id)))
    assert index.update_flags(folder.id, [(sid, True, True)]) == 1
    assert scan(index, "work", load_rules(rules_file)).cached is False
    assert index.update_flags(folder.id, [(sid, True, True)]) == 0  # no change, no new scan
    assert scan(index, "work", load_rules(rules_file)).cached is True
    index.remove_messages(folder.id, [sid])
    assert scan(index, "work", load_rules(rules_file)).cached is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.x]\ntype = 'nope'", "rule 'x': key 'type' must be one of"),
        ("[rules.large-attachments]\nmin_size = 'big'", "key 'min_size': 'big' is not a size"),
        ("[rules.large-attachments]\ncolour = 1", "unknown key 'colour'"),
        ("[rules.old-threads]\nyears = -1", "key 'years': a positive number"),
        ("[rules.trash-and-junk]\nroles = ['bin']", "unknown folder role 'bin'"),
        ("[rules.duplicates]\ngroup_by = 'colour'", "key 'group_by'"),
        ("[rules.duplicates]\nenabled = 'no'", "key 'enabled'"),
        ("[rules.x\n", "not valid TOML"),
        ("[rule.x]\ntype = 'bulk'", "unknown table 'rule'"),
    ],
)
def test_bad_rules_files_name_rule_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RuleError, match=message):
        load_rules(path)


def test_user_rules_override_and_add(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        "[rules.large-attachments]\nmin_size = '10 Mo'\n"
        "[rules.notifications]\nenabled = false\n"
        "[rules.big-in-archives]\ntype = 'large-attachments'\nmin_size = '1,5 MB'\n"
        "folder_roles = ['archive']\ntitle = { fr = 'Gros fichiers archivés' }\n"
    )
    rules = load_rules(path)
    assert rules["large-attachments"].params["min_size"] == 10_000_000
    assert rules["large-attachments"].title["fr"] == "Pièces jointes volumineuses"
    assert rules["notifications"].enabled is False
    extra = rules["big-in-archives"]
    assert (extra.params["min_size"], extra.folder_roles, extra.builtin) == (
        1_500_000, ("archive",), False)
    assert extra.text("title", "fr") == "Gros fichiers archivés"
    assert extra.text("title", "en") == "big-in-archives"


# -- properties over random indexes ---------------------------------------------------------

message_st = st.fixed_dictionaries({
    "folder": st.sampled_from(["INBOX", "Archives", "Trash", "Sent"]),
    "message_id": st.one_of(st.none(), st.sampled_from(["a@x", "b@x", "c@x", "d@x"])),
    "size": st.sampled_from([100, 200, 5_000_000]),
    "flagged": st.booleans(),
    "sender": st.sampled_from(["news@list.example", "noreply@x.example", "bob@y.example"]),
    "list_id": st.one_of(st.none(), st.just("list.example")),
    "years_ago": st.integers(0, 8),
    "attachment": st.sampled_from([0, 1_000, 6_000_000]),
})


def build(tmp_path: Path, messages: list[dict]) -> Index:
    path = tmp_path / "prop.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    index = Index(path)
    acc = index.ensure_account("p", "imap")
    roles = {"INBOX": "inbox", "Archives": "archive", "Trash": "trash", "Sent": "sent"}
    folders = {f: index.add_folder(acc, FolderInfo(path=f, role=r)) for f, r in roles.items()}
    for uid, m in enumerate(messages, 1):
        date = (NOW - timedelta(days=365 * m["years_ago"])).isoformat()
        meta = MessageMeta(
            server_id=str(uid), uid=uid, size=m["size"], date=date, flagged=m["flagged"],
            message_id=m["message_id"], thread_key=m["message_id"], sender=m["sender"],
            list_id=m["list_id"],
            attachments=[AttachmentMeta("2", "f.pdf", "application/pdf", m["attachment"],
                                        m["attachment"])] if m["attachment"] else [],
        )
        index.add_messages(acc, folders[m["folder"]], [meta], FolderState())
    return index


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(message_st, max_size=25))
def test_properties_over_random_indexes(tmp_path: Path, messages: list[dict]) -> None:
    index = build(tmp_path, messages)
    try:
        result = scan(index, "p", load_rules(), now=NOW)
        assert 0 <= result.reclaimable_bytes <= result.total_bytes
        assert result.reclaimable_messages <= result.total_messages
        for r in result.rules:
            assert r["bytes"] <= result.total_bytes
        assert index.db.execute(
            "SELECT count(*) FROM hits h JOIN messages m ON m.id = h.message_id"
            " WHERE m.flagged = 1"
        ).fetchone()[0] == 0
        # Duplicates never flag every copy.
        for mid, size, copies, flagged in index.db.execute(
            "SELECT m.message_id, m.size, count(*), sum(EXISTS (SELECT 1 FROM hits h WHERE"
            " h.message_id = m.id AND h.rule = 'duplicates')) FROM messages m"
            " WHERE m.message_id IS NOT NULL GROUP BY 1, 2"
        ):
            assert flagged < copies or copies == 0, (mid, size)
            if copies == 1:
                assert flagged == 0
    finally:
        index.close()
