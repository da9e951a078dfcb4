"""What the test suite and the benchmarks share; a test imports from here (or from the
harnesses ``tests/dovecot.py`` and ``tests/ews/``), never from another test module.

- :mod:`tests.support.corpora`: the generated mailboxes, each built once per session.
- :mod:`tests.support.messages`: messages written by hand, as a connector reports them.
- :mod:`tests.support.imap`: a connector to the private servers' ``user1``.
- :mod:`tests.support.contract`: one adapter per connector for the contract suite.
- :mod:`tests.support.review`: the review app's store double and Pilot helpers.
- :mod:`tests.support.snapshots`: the snapshot tests' users and mailboxes.
- :mod:`tests.support.faultproxy`: a TCP proxy that cuts, stalls, slows or refuses the link.

This module holds what the harnesses of the private IMAP servers other than Dovecot share,
and :func:`stop_after_the_first_batch`:

- :mod:`tests.support.cyrus`: Cyrus IMAP 3.6 (MOVE, UIDPLUS, CONDSTORE, QRESYNC, SPECIAL-USE,
  STATUS=SIZE, QUOTA, proxy authorisation).
- :mod:`tests.support.mailutils`: GNU Mailutils imap4d 3.15 (none of those, and buggy UID sets).

Both are unpacked from Debian's packages into ``/opt/mailclean-servers`` by
``.ci/servers-setup.sh`` (``make system-deps``), never installed system-wide: Cyrus conflicts
with ``dovecot-imapd``. Each harness has the shape of :class:`tests.dovecot.Dovecot`: a context
manager with ``port``, ``reset_user``, ``seed``, ``client``, ``status`` (the oracle) and
``stop`` (kills the whole process group).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mailclean.progress import Progress
from tests.dovecot import MAIL_USER, group_processes

if TYPE_CHECKING:
    import imapclient

#: Where ``.ci/servers-setup.sh`` unpacks the servers (``MAILCLEAN_SERVERS`` overrides it).
SERVERS_ROOT = Path(os.environ.get("MAILCLEAN_SERVERS", "/opt/mailclean-servers"))

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

_SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"


class ServerError(RuntimeError):
    """A test server could not be found, started or queried."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mail_identity() -> tuple[int, int]:
    """(uid, gid) the servers' mail belongs to: :data:`MAIL_USER` as root, else ourselves.

    As root the system user is created if it is missing, as ``tests/dovecot.py`` does.
    """
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    try:
        entry = pwd.getpwnam(MAIL_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", MAIL_USER],
            check=True,
            capture_output=True,
            env={**os.environ, "PATH": os.environ.get("PATH", os.defpath) + ":" + _SBIN_PATH},
        )
        entry = pwd.getpwnam(MAIL_USER)
    return entry.pw_uid, entry.pw_gid


def die_with_parent() -> None:
    """In a child before exec: SIGTERM it if the test process dies without tearing down."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_setup(uid: int | None = None, gid: int | None = None) -> Callable[[], None]:
    """A ``preexec_fn``: die with the parent, and (as root) become ``uid``/``gid``.

    Dropping privileges comes last: PR_SET_PDEATHSIG survives setuid only when set first.
    """

    def setup() -> None:
        if sys.platform == "linux":
            die_with_parent()
        if uid is not None and gid is not None and os.geteuid() == 0 and uid != 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    return setup


def wait_for_greeting(
    proc: subprocess.Popen[bytes], host: str, port: int, *, timeout: float = START_TIMEOUT
) -> bool:
    """Wait until ``host:port`` answers with an IMAP ``* OK`` greeting.

    True once greeted; False if ``proc`` exited first or ``timeout`` passed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=2) as sock:
                greeting = sock.makefile("rb").readline()
            if greeting.startswith(b"* OK"):
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def terminate_group(proc: subprocess.Popen[bytes], *, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process group of ``proc`` (its session leader), SIGKILL what lingers."""
    group = proc.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + timeout
    while group_processes(group):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.02)


def wait_pids_gone(pids: list[int], *, timeout: float = STOP_TIMEOUT) -> None:
    """Wait until none of ``pids`` is a live (non-zombie) process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not alive:
            return
        time.sleep(0.02)


def imap_totals(client: imapclient.IMAPClient) -> dict[str, tuple[int, int]]:
    """{folder: (messages, sum of RFC822.SIZE)} as a plain client sees it, for every folder.

    Counts are STATUS MESSAGES; bytes are the sum of FETCH RFC822.SIZE over ``1:*`` (read
    with a raw ``FETCH``, since imapclient refuses range strings). \\Noselect folders are
    left out. Folder names are decoded (UTF-8); the client ends with no folder selected.
    """
    from imapclient.response_parser import parse_fetch_response

    totals: dict[str, tuple[int, int]] = {}
    for flags, _delimiter, name in client.list_folders():
        if any(flag.lower() == b"\\noselect" for flag in flags):
            continue
        status = client.folder_status(name, [b"MESSAGES"])
        count = int(status[b"MESSAGES"])
        size = 0
        if count:
            client.select_folder(name, readonly=True)
            typ, data = client._imap.fetch("1:*", "(RFC822.SIZE)")
            if typ != "OK":
                raise ServerError(f"FETCH 1:* RFC822.SIZE in {name!r} failed: {data!r}")
            parsed = parse_fetch_response(data, False, True)
            size = sum(int(item[b"RFC822.SIZE"]) for item in parsed.values())
            if len(parsed) != count:
                raise ServerError(f"{name!r}: STATUS says {count} messages, FETCH {len(parsed)}")
            if client.has_capability("UNSELECT"):
                client.unselect_folder()
            else:
                client.close_folder()
        totals[name] = (count, size)
    return totals


def imap_status_size(client: imapclient.IMAPClient) -> dict[str, tuple[int, int]]:
    """{folder: (STATUS MESSAGES, STATUS SIZE)} for every selectable folder (RFC 8438)."""
    totals: dict[str, tuple[int, int]] = {}
    for flags, _delimiter, name in client.list_folders():
        if any(flag.lower() == b"\\noselect" for flag in flags):
            continue
        status = client.folder_status(name, [b"MESSAGES", b"SIZE"])
        totals[name] = (int(status[b"MESSAGES"]), int(status[b"SIZE"]))
    return totals


__all__ = [
    "SERVERS_ROOT",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "ServerError",
    "child_setup",
    "die_with_parent",
    "free_port",
    "group_processes",
    "imap_status_size",
    "imap_totals",
    "mail_identity",
    "terminate_group",
    "wait_for_greeting",
    "wait_pids_gone",
]


class _CancelOnAdvance(Progress):
    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel

    def advance(self, messages: int, size: int = 0) -> None:
        self.cancel.set()


def stop_after_the_first_batch() -> tuple[Progress, threading.Event]:
    """A progress and a cancel event for an action that must stop once its first batch is
    done and journalled (as a first Ctrl-C does), leaving the rest for a resume."""
    cancel = threading.Event()
    return _CancelOnAdvance(cancel), cancel
