"""Every schema change of the index, in order. A migration is never edited once released:
add a new one instead."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("mailclean")


# Over 80 lines: one schema script, applied by name; a released migration never changes.
@migrations()
def m001_accounts_folders_messages(db: Database) -> None:
    """Accounts, folders with their sync state, messages and their attachments."""
    db.executescript(
        """
        CREATE TABLE accounts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            address TEXT,
            quota_root TEXT,
            quota_used INTEGER,
            quota_limit INTEGER,
            quota_at TEXT,
            synced_at TEXT
        );
        CREATE TABLE folders (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            delimiter TEXT,
            role TEXT,
            uidvalidity INTEGER,
            uidnext INTEGER,
            highestmodseq INTEGER,
            cursor INTEGER NOT NULL DEFAULT 0,
            sync_token TEXT,
            server_messages INTEGER,
            server_bytes INTEGER,
            synced_at TEXT,
            UNIQUE (account_id, path)
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
            server_id TEXT NOT NULL,
            uid INTEGER,
            change_key TEXT,
            message_id TEXT,
            thread_key TEXT,
            subject TEXT,
            sender TEXT,
            sender_name TEXT,
            sender_domain TEXT,
            recipients TEXT,
            date TEXT,
            received_at TEXT,
            size INTEGER NOT NULL,
            seen INTEGER NOT NULL DEFAULT 0,
            flagged INTEGER NOT NULL DEFAULT 0,
            attachment_count INTEGER NOT NULL DEFAULT 0,
            attachment_bytes INTEGER NOT NULL DEFAULT 0,
            list_id TEXT,
            list_unsubscribe TEXT,
            list_unsubscribe_post TEXT,
            precedence TEXT,
            auto_submitted TEXT,
            feedback_id TEXT,
            mailer TEXT,
            problems TEXT,
            UNIQUE (folder_id, server_id)
        );
        CREATE INDEX messages_account_size ON messages (account_id, size);
        CREATE INDEX messages_account_date ON messages (account_id, date);
        CREATE INDEX messages_account_sender ON messages (account_id, sender);
        CREATE INDEX messages_account_domain ON messages (account_id, sender_domain);
        CREATE INDEX messages_account_list ON messages (account_id, list_id);
        CREATE INDEX messages_account_thread ON messages (account_id, thread_key);
        CREATE INDEX messages_account_msgid ON messages (account_id, message_id);
        CREATE INDEX messages_folder_uid ON messages (folder_id, uid);
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            part TEXT NOT NULL,
            filename TEXT,
            mime_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            decoded_size INTEGER NOT NULL,
            disposition TEXT,
            encoding TEXT
        );
        CREATE INDEX attachments_message ON attachments (message_id);
        CREATE INDEX attachments_size ON attachments (decoded_size);
        """
    )


@migrations()
def m002_hits_and_scans(db: Database) -> None:
    """Rule hits (facts as JSON, rendered in the reader's language) and scan bookkeeping."""
    db.executescript(
        """
        CREATE TABLE hits (
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            rule TEXT NOT NULL,
            group_key TEXT,
            bytes INTEGER NOT NULL,
            detail TEXT
        );
        CREATE INDEX hits_account_rule ON hits (account_id, rule, group_key, bytes);
        CREATE INDEX hits_message ON hits (account_id, message_id, bytes);
        CREATE TABLE scans (
            account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
            fingerprint TEXT NOT NULL,
            scanned_at TEXT NOT NULL,
            seconds REAL,
            summary TEXT
        );
        -- Covering indexes for the thread and duplicate rules; they make the two
        -- narrower ones of m001 redundant.
        CREATE INDEX messages_thread_dates
            ON messages (account_id, thread_key, date, received_at);
        CREATE INDEX messages_msgid_size ON messages (account_id, message_id, size);
        DROP INDEX messages_account_thread;
        DROP INDEX messages_account_msgid;
        -- Stamped by every write that changes an account's messages: what rule results
        -- computed before it no longer describe.
        ALTER TABLE accounts ADD COLUMN changed_at TEXT;
        """
    )


@migrations()
def m003_journal(db: Database) -> None:
    """The journal of actions: one row per action, one per message it touches."""
    db.executescript(
        """
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,          -- trash, delete, export, undo
            state TEXT NOT NULL,         -- running, done, partial, interrupted, cancelled, failed
            selection TEXT,              -- JSON: what the user asked for
            target TEXT,                 -- the Trash folder, or the export file
            export_format TEXT,
            undo_of INTEGER REFERENCES actions(id),
            after INTEGER REFERENCES actions(id),   -- the export this trash/delete follows
            pid INTEGER,
            host TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            planned_messages INTEGER NOT NULL,
            planned_bytes INTEGER NOT NULL,
            error TEXT
        );
        CREATE INDEX actions_account ON actions (account_id, started_at);
        -- Identity as the index knew it when the action was planned: the server must
        -- still hold exactly this before anything is done to it.
        CREATE TABLE action_items (
            id INTEGER PRIMARY KEY,
            action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
            folder TEXT NOT NULL,
            validity INTEGER,
            server_id TEXT NOT NULL,
            message_id TEXT,
            change_key TEXT,
            size INTEGER NOT NULL,
            -- pending, sent (command in flight), copied (copy made, original not yet
            -- removed), done, skipped (not the same message any more), failed
            state TEXT NOT NULL,
            target_folder TEXT,
            target_validity INTEGER,
            target_floor TEXT,           -- the target's next id before the command
            target_id TEXT,
            -- The item of an earlier action this one follows: for an undo, the trash item
            -- it reverses; for a delete from Trash, the trash item that put it there.
            origin INTEGER,
            reason TEXT,
            updated_at TEXT
        );
        CREATE INDEX action_items_action ON action_items (action_id, state);
        CREATE INDEX action_items_origin ON action_items (origin);
        CREATE INDEX action_items_target ON action_items (target_folder, target_id);
        """
    )


@migrations()
def m004_lean_hits(db: Database) -> None:
    """Hits clustered by (account, rule, message) and without stored facts (rules render
    them from the index when a hit is shown); indexed by message, which ON DELETE CASCADE
    needs (without it, deleting a message read every hit); a partial index for the
    attachment rules; the type of each rule behind an account's hits."""
    db.executescript(
        """
        CREATE TABLE hits_m004 (
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            rule TEXT NOT NULL,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            group_key TEXT,
            bytes INTEGER NOT NULL,
            PRIMARY KEY (account_id, rule, message_id)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO hits_m004 (account_id, rule, message_id, group_key, bytes)
            SELECT account_id, rule, message_id, group_key, bytes FROM hits ORDER BY 1, 2, 3;
        DROP TABLE hits;
        ALTER TABLE hits_m004 RENAME TO hits;
        CREATE INDEX hits_message ON hits (message_id, bytes);
        CREATE INDEX messages_attachment_bytes ON messages (attachment_bytes)
            WHERE attachment_bytes > 0;
        ALTER TABLE scans ADD COLUMN rules TEXT;
        """
    )


@migrations()
def m005_delete_mode_and_change_keys(db: Database) -> None:
    """How a delete removed messages (Exchange's soft delete keeps them recoverable for a
    while), and the change key a moved message got (EWS), for an exact undo."""
    db.executescript(
        """
        ALTER TABLE actions ADD COLUMN delete_mode TEXT;
        ALTER TABLE action_items ADD COLUMN target_change_key TEXT;
        """
    )


@migrations()
def m006_labels(db: Database) -> None:
    """Whether the account's server shows a message once per label (Gmail): then the
    same message in two folders is one message, not a duplicate."""
    db.execute("ALTER TABLE accounts ADD COLUMN labels INTEGER NOT NULL DEFAULT 0")


@migrations()
def m007_rule_indexes(db: Database) -> None:
    """Indexes that let the rules read less of the messages table: the thread index also
    carries what a hit of an old thread needs (folder, flag, size), so that rule reads
    only the index; and a partial index of the few messages with an Auto-Submitted field."""
    db.executescript(
        """
        CREATE INDEX messages_threads
            ON messages (account_id, thread_key, date, received_at, folder_id, flagged, size);
        DROP INDEX messages_thread_dates;
        CREATE INDEX messages_auto_submitted ON messages (account_id, auto_submitted)
            WHERE auto_submitted IS NOT NULL;
        """
    )


@migrations()
def m008_counts(db: Database) -> None:
    """Each thread's latest date and number of messages (``threads``) and the number of
    copies of each (Message-ID, size) (``copies``, indexed where there is more than one),
    which the rules read instead of grouping every message. A scan brings them up to date
    (``mailclean.rules.counts``): ``counted`` remembers, per account, the last message id
    counted, and whether a counted message changed or went since (then they are counted
    again). Keeping them up to date on every insert made a sync 10-15% slower."""
    db.executescript(
        """
        CREATE TABLE threads (
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            thread_key TEXT NOT NULL,
            last TEXT,                   -- max(coalesce(date, received_at)) of its messages
            messages INTEGER NOT NULL,
            PRIMARY KEY (account_id, thread_key)
        ) WITHOUT ROWID;
        CREATE TABLE copies (
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            message_id TEXT NOT NULL,
            size INTEGER NOT NULL,
            copies INTEGER NOT NULL,
            PRIMARY KEY (account_id, message_id, size)
        ) WITHOUT ROWID;
        CREATE INDEX copies_many ON copies (account_id, message_id, size) WHERE copies > 1;
        CREATE TABLE counted (
            account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
            upto INTEGER NOT NULL,        -- every message with an id up to this is counted
            stale INTEGER NOT NULL DEFAULT 0
        );
        -- A counted message that goes or changes what is counted: count again. One row
        -- updated per message removed (a sync's removals, a folder reset, an action).
        CREATE TRIGGER messages_uncount AFTER DELETE ON messages
            WHEN old.id <= (SELECT upto FROM counted WHERE account_id = old.account_id)
            BEGIN UPDATE counted SET stale = 1 WHERE account_id = old.account_id; END;
        CREATE TRIGGER messages_recount
            AFTER UPDATE OF id, account_id, thread_key, date, received_at, message_id, size
            ON messages
            BEGIN UPDATE counted SET stale = 1
                  WHERE account_id IN (old.account_id, new.account_id); END;
        """
    )


@migrations()
def m009_flags_and_quota(db: Database) -> None:
    """Whether each message of an action was flagged when planned (one flagged since is
    protected, on every path that acts: first run, retry, resume), and the server's quota
    before and after each action: on some servers (Courier) the quota does not count the
    Trash, and what an action freed is said from what was measured."""
    db.executescript(
        """
        ALTER TABLE action_items ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE actions ADD COLUMN quota_before INTEGER;
        ALTER TABLE actions ADD COLUMN quota_after INTEGER;
        """
    )
