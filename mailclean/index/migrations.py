"""Every schema change of the index, in order. A migration is never edited once released:
add a new one instead."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("mailclean")


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
