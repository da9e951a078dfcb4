"""A private Cyrus IMAP 3.6 server on 127.0.0.1, started by the test suite.

    with Cyrus() as server:
        server.reset_user("user1")
        server.seed("user1", messages)
        client = server.client("user1")
        assert server.status("user1")["INBOX"] == (messages, bytes)

**Installation.** Debian's ``cyrus-imapd`` conflicts with ``dovecot-imapd`` (both provide
``imap-server``), so ``.ci/servers-setup.sh`` unpacks ``cyrus-common``, ``cyrus-imapd`` and
``sasl2-bin`` with ``dpkg-deb -x`` into ``/opt/mailclean-servers/cyrus`` and installs with apt
only the libraries they link (``libical3``, ``libpcre3``, ``libxapian30``...); the unpacked
``libcyrus*.so`` are found through ``LD_LIBRARY_PATH``. A system-wide Cyrus (``/usr/lib/cyrus``)
is used when there is no unpacked one.

**Running.** Each :class:`Cyrus` runs ``master -C imapd.conf -M cyrus.conf -D`` from a fresh
directory under /tmp (configuration, ``configdirectory``, partition, sasldb, sockets, log),
with one service, ``imapd`` on 127.0.0.1 and a free port. As root, master drops to the
``mailclean-test`` system user (``cyrus_user``) and so does every tool it or the harness
runs. Users are in a private sasldb (``sasl_pwcheck_method: auxprop``, written with the
unpacked ``saslpasswd2``): no saslauthd, no PAM. ``admin`` is the Cyrus admin and a
``proxyservers`` member: ``client("user1*admin")`` logs in to user1's mailbox by SASL PLAIN
with authzid ``user1`` and the admin's credentials (Cyrus's proxy authorisation).

A user's mailbox is created at their first login (``autocreate_quota``): INBOX plus Sent,
Drafts, Trash, Junk and Archives with the special-use attributes ``\\Sent``, ``\\Drafts``,
``\\Trash``, ``\\Junk``, ``\\Archive`` (``xlist-*``), all subscribed, and a 1 GiB STORAGE quota
on the root ``INBOX``. :meth:`Cyrus.reset_user` deletes the whole account as the admin and
logs in once to have it created anew. Seeding is by IMAP (MULTIAPPEND as the user, with each
message's flags and internal date, which Cyrus keeps). Hierarchy separator ``/``
(``unixhierarchysep``), personal folders beside INBOX (``altnamespace``). No ``idled`` runs:
IDLE polls the mailbox every second (``imapidlepoll: 1``). Starting takes about 0.1 s,
:meth:`Cyrus.reset_user` 0.05-0.15 s, seeding 47 MB (200 mailgen messages) under a second.

**The oracle** (:meth:`Cyrus.status`) is the server's own index, read with Cyrus's
``mbexamine``: each mailbox's index header has its message count and the sum of its
messages' sizes (``Number of Messages``, ``Mailbox Size``), which is what STATUS MESSAGES,
STATUS SIZE and the sum of RFC822.SIZE must give. :meth:`Cyrus.quota` reads Cyrus's ``quota``
tool.

**Capabilities** advertised after login (:data:`CAPABILITIES`, measured with 3.6.1-4+deb12u5)::

    IMAP4rev1 LITERAL+ ID ENABLE ACL ANNOTATE-EXPERIMENT-1 BINARY CATENATE CHILDREN CONDSTORE
    CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS
    MAILBOX-REFERRALS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA
    RIGHTS=kxten SAVEDATE SEARCH=FUZZY SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE
    THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT URLAUTH URLAUTH=BINARY WITHIN
    DIGEST=SHA1 LIST-METADATA NO_ATOMIC_RENAME SCAN SORT=MODSEQ SORT=UID THREAD=REFS
    X-CREATEDMODSEQ X-REPLICATION X-SIEVE-MAILBOX XLIST XMOVE LOGINDISABLED COMPRESS=DEFLATE
    X-QUOTA=STORAGE X-QUOTA=MESSAGE X-QUOTA=X-ANNOTATION-STORAGE X-QUOTA=X-NUM-FOLDERS IDLE
    APPENDLIMIT=4294967295

Before login the list is the same with ``AUTH=PLAIN AUTH=LOGIN SASL-IR`` in place of
``LOGINDISABLED`` (the greeting shows only ``IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN
SASL-IR``); the admin's list adds ``UNAUTHENTICATE``. ``suppress`` (``suppress_capabilities``)
hides some, as Dovecot's ``imap_capability`` does.

**Quirks measured** (``tests/test_servers_harness.py`` checks them):

- Special-use attributes come in lower case: ``(\\HasNoChildren \\sent) "/" Sent``; compare
  them case-insensitively (RFC 6154 flags are case-insensitive atoms).
- GETQUOTAROOT names the root ``INBOX``; STORAGE usage is the sum of sizes in KiB rounded
  **down** (Dovecot rounds up), so a mailbox of 96 bytes uses 0.
- LOGINDISABLED is advertised once logged in.
- Expunge is ``delayed`` (Cyrus's default): EXPUNGE removes the messages from the index
  counts, STATUS, quota and the oracle at once; the message files stay in the partition
  until ``cyr_expire`` (never run here).
- CREATE ``A/B`` creates ``A`` too, as a real (selectable) mailbox.
- The admin cannot STATUS or SELECT a user's folders without granting itself rights; the
  harness uses proxy authorisation instead.
- Cyrus logs to syslog only; with no ``/dev/log`` (containers) its messages are lost, and
  only fatal start-up errors reach :meth:`Cyrus.log_tail`.
- ``mbexamine`` given a pattern (``user/user1/*``) stops at the first mailbox it cannot open,
  such as the tombstone a deleted parent leaves in the mailbox list: the oracle names each
  live mailbox from ``ctl_mboxlist -d`` instead.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.dovecot import DEFAULT_USERS, User
from tests.support import (
    SERVERS_ROOT,
    START_TIMEOUT,
    ServerError,
    child_setup,
    free_port,
    mail_identity,
    terminate_group,
    wait_for_greeting,
    wait_pids_gone,
)

if TYPE_CHECKING:
    import imapclient

    from mailclean.mailgen import GeneratedMessage

#: What Cyrus 3.6.1 advertises once logged in, as it prints it.
CAPABILITY_LINE = """
    IMAP4rev1 LITERAL+ ID ENABLE ACL ANNOTATE-EXPERIMENT-1 BINARY CATENATE CHILDREN CONDSTORE
    CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS
    MAILBOX-REFERRALS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA
    RIGHTS=kxten SAVEDATE SEARCH=FUZZY SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE
    THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT URLAUTH URLAUTH=BINARY WITHIN
    DIGEST=SHA1 LIST-METADATA NO_ATOMIC_RENAME SCAN SORT=MODSEQ SORT=UID THREAD=REFS
    X-CREATEDMODSEQ X-REPLICATION X-SIEVE-MAILBOX XLIST XMOVE LOGINDISABLED COMPRESS=DEFLATE
    X-QUOTA=STORAGE X-QUOTA=MESSAGE X-QUOTA=X-ANNOTATION-STORAGE X-QUOTA=X-NUM-FOLDERS IDLE
    APPENDLIMIT=4294967295
"""
#: The same, as a set.
CAPABILITIES = frozenset(CAPABILITY_LINE.split())

#: The Cyrus admin, also allowed to log in as any user (proxy authorisation).
ADMIN = User("admin", "admin-secret")

#: The autocreated folders and their special-use attribute (as RFC 6154 spells it).
SPECIAL_USE = {
    "Sent": r"\Sent",
    "Drafts": r"\Drafts",
    "Trash": r"\Trash",
    "Junk": r"\Junk",
    "Archives": r"\Archive",
}

#: STORAGE quota given to every user at creation, in KiB (1 GiB).
QUOTA_KIB = 1024 * 1024

_XLIST = {r"\Sent": "sent", r"\Drafts": "drafts", r"\Trash": "trash", r"\Junk": "junk",
          r"\Archive": "archive"}
# MULTIAPPEND batches: a few MB per command keeps memory and the literal sizes modest.
_BATCH_MESSAGES = 200
_BATCH_BYTES = 8 * 1024 * 1024
_EXAMINING = re.compile(r"^Examining (.+?)\.\.\. ")
_HEADER = re.compile(r"Number of Messages: (\d+)\s+Mailbox Size: (\d+) bytes")


@dataclass(frozen=True)
class CyrusInstall:
    """Where a Cyrus is: its binaries, the unpacked libraries (if any) and saslpasswd2."""

    bindir: Path
    libdirs: tuple[Path, ...]
    saslpasswd2: Path

    def env(self) -> dict[str, str]:
        """The environment to run its binaries in (LD_LIBRARY_PATH for unpacked libraries)."""
        env = dict(os.environ)
        if self.libdirs:
            paths = [str(p) for p in self.libdirs]
            if env.get("LD_LIBRARY_PATH"):
                paths.append(env["LD_LIBRARY_PATH"])
            env["LD_LIBRARY_PATH"] = os.pathsep.join(paths)
        return env


def find_cyrus() -> CyrusInstall | None:
    """The Cyrus unpacked under /opt/mailclean-servers/cyrus, else a system one, else None."""
    for base in (SERVERS_ROOT / "cyrus", Path("/")):
        bindir = base / "usr/lib/cyrus/bin"
        if not all((bindir / tool).is_file() for tool in ("master", "imapd", "mbexamine")):
            continue
        libdirs: tuple[Path, ...] = ()
        if base != Path("/"):
            libdirs = tuple(sorted({p.parent for p in base.glob("usr/lib/*/libcyrus.so.0")}))
        for candidate in (base / "usr/sbin/saslpasswd2", Path("/usr/sbin/saslpasswd2")):
            if candidate.is_file():
                return CyrusInstall(bindir, libdirs, candidate)
    return None


class Cyrus:
    """A private Cyrus IMAP server on 127.0.0.1; see the module docstring.

    ``suppress`` hides capabilities (``suppress_capabilities``), ``keep`` leaves :attr:`root`
    behind at :meth:`stop` for debugging.
    """

    host: str = "127.0.0.1"

    def __init__(
        self,
        *,
        users: Sequence[User] = DEFAULT_USERS,
        admin: User = ADMIN,
        suppress: Iterable[str] = (),
        keep: bool = False,
    ) -> None:
        install = find_cyrus()
        if install is None:
            raise ServerError(
                "Cyrus not found: run `bash .ci/servers-setup.sh` as root "
                f"(it unpacks cyrus-imapd into {SERVERS_ROOT / 'cyrus'})"
            )
        self.install = install
        self.users = tuple(users)
        self.admin = admin
        self.suppress = tuple(suppress)
        self.keep = keep
        self.port: int = 0
        self.root: Path = Path()  # set by start()
        self.config: Path = Path()
        self._proc: subprocess.Popen[bytes] | None = None
        self._root_made = False
        self.mail_uid, self.mail_gid = mail_identity()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Write the configuration and the sasldb, start master, wait for a greeting (10 s)."""
        if self._proc is not None:
            raise ServerError("already started")
        self.root = Path(tempfile.mkdtemp(prefix="mailclean-cyrus-", dir="/tmp"))
        self._root_made = True
        atexit.register(self.stop)
        try:
            # The mail user must traverse root; nothing in it is secret.
            self.root.chmod(0o755)
            # conf/socket: where each imapd binds the socket idled would notify it on.
            for name in ("conf", "conf/socket", "spool", "sieve", "run"):
                (self.root / name).mkdir()
                self._chown(self.root / name)
            self.config = self.root / "imapd.conf"
            self._write_sasldb((*self.users, self.admin))
            for attempt in range(3):
                self.port = free_port()
                self.config.write_text(self._imapd_conf())
                (self.root / "cyrus.conf").write_text(self._cyrus_conf())
                try:
                    self._launch()
                    return
                except ServerError:
                    # Another process may have taken the port between free_port() and bind().
                    if attempt == 2:
                        raise
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop master and every process of its group, remove :attr:`root` (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate_group(proc)
        if self._root_made:
            self._root_made = False
            atexit.unregister(self.stop)
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cyrus:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether master is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """master's process id (also its process group id), while started."""
        return self._proc.pid if self._proc is not None else None

    # -- users and mail ---------------------------------------------------------------------

    def add_users(self, *users: User) -> None:
        """Declare more users on the running server (a user already there is left alone)."""
        self._check_started()
        known = {u.name: u for u in self.users}
        new = []
        for user in users:
            if user.name in known:
                if known[user.name].password != user.password:
                    raise ValueError(f"user {user.name!r} already exists with another password")
                continue
            known[user.name] = user
            new.append(user)
        if new:
            # sasldb is read at each authentication: the users can log in at once.
            self._write_sasldb(tuple(new))
            self.users = (*self.users, *new)

    def reset_user(self, user: str) -> None:
        """Disconnect the user, delete their whole account, and have Cyrus create it anew.

        Afterwards the user has INBOX and the special-use folders, all empty, and a fresh
        quota; UIDVALIDITY values are new.
        """
        self._check_user(user)
        self.kick(user)
        admin = self.admin_client()
        try:
            mailbox = f"user/{user}"
            try:
                admin.setacl(mailbox, self.admin.name, "x")
                admin.delete_folder(mailbox)
            except admin.Error as exc:
                if "does not exist" not in str(exc).lower():
                    raise
        finally:
            admin.logout()
        # The first login creates INBOX, the special-use folders and the quota.
        self.client(user).logout()

    def kick(self, user: str) -> None:
        """End every IMAP session of ``user`` (Cyrus lists them in ``conf/proc``)."""
        self._check_user(user)
        pids = []
        for entry in (self.root / "conf" / "proc").glob("*"):
            try:
                fields = entry.read_text(errors="replace").split("\t")
            except OSError:
                continue
            if len(fields) > 2 and fields[2] == user and entry.name.isdigit():
                pids.append(int(entry.name))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        wait_pids_gone(pids)

    def seed(self, user: str, messages: Iterable[GeneratedMessage]) -> dict[str, int]:
        """APPEND ``messages`` to their folders, with their flags and internal dates.

        Missing folders are created (with their parents). {folder: count appended}, with
        INBOX and the special-use folders present even when nothing went there. The user
        should have been :meth:`reset_user` first if their mailbox must hold only these.
        """
        self._check_user(user)
        counts: dict[str, int] = {"INBOX": 0, **dict.fromkeys(SPECIAL_USE, 0)}
        by_folder: dict[str, list[GeneratedMessage]] = {}
        for message in messages:
            by_folder.setdefault(message.folder, []).append(message)
        client = self.client(user)
        try:
            existing = {name for _flags, _sep, name in client.list_folders()}
            for folder, batch in by_folder.items():
                if folder not in existing:
                    client.create_folder(folder)
                    existing.add(folder)
                self._append(client, folder, batch)
                counts[folder] = counts.get(folder, 0) + len(batch)
        finally:
            client.logout()
        return counts

    def client(self, user: str = "user1") -> imapclient.IMAPClient:
        """A plain-IMAP client logged in as ``user`` (the caller logs out).

        ``"user1*admin"`` logs in by proxy authorisation: SASL PLAIN with authzid ``user1``,
        authenticated as the admin.
        """
        import imapclient

        login, _, proxy = user.partition("*")
        client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=30)
        try:
            if proxy:
                self._check_user(login)
                if proxy != self.admin.name:
                    raise KeyError(f"{proxy!r} is not this server's admin")
                client.plain_login(self.admin.name, self.admin.password, login)
            else:
                client.login(login, self._password(login))
        except BaseException:
            client.shutdown()
            raise
        return client

    def admin_client(self) -> imapclient.IMAPClient:
        """A client logged in as the Cyrus admin (sees ``user/NAME/...``; the caller logs out)."""
        import imapclient

        self._check_started()
        client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=30)
        client.login(self.admin.name, self.admin.password)
        return client

    # -- the oracle ---------------------------------------------------------------------------

    def status(self, user: str) -> dict[str, tuple[int, int]]:
        """{folder: (messages, bytes)} from Cyrus's own index headers (``mbexamine``).

        Folder names are as the user sees them (INBOX, ``Projets/Délibérations``); bytes
        are the sum of the messages' RFC822.SIZE as Cyrus recorded it. A user who never
        logged in has no mailbox: {}.
        """
        from imapclient import imap_utf7

        self._check_user(user)
        mailbox = f"user/{user}"
        names = self.mailboxes(user)
        if not names:
            return {}
        # A UID no mailbox has: only the headers are printed, not every message. Each
        # mailbox is named: with a pattern, mbexamine stops at the first it cannot open
        # (such as the tombstone a deleted parent leaves).
        out = self.tool("mbexamine", "-u", "4294967295", *names)
        result: dict[str, tuple[int, int]] = {}
        reported: set[str] = set()
        name: str | None = None
        for line in out.splitlines():
            found = _EXAMINING.match(line)
            if found:
                name = found.group(1)
                continue
            header = _HEADER.search(line)
            if header and name is not None:
                if name == mailbox:
                    folder = "INBOX"
                elif name.startswith(mailbox + "/"):
                    folder = imap_utf7.decode(name[len(mailbox) + 1 :].encode("ascii"))
                else:
                    raise ServerError(f"mbexamine examined an unexpected mailbox {name!r}")
                result[folder] = (int(header.group(1)), int(header.group(2)))
                reported.add(name)
                name = None
        missing = set(names) - reported
        if missing:
            raise ServerError(f"mbexamine did not report {sorted(missing)}:\n{out[-2000:]}")
        return result

    def mailboxes(self, user: str) -> list[str]:
        """The user's live mailboxes as Cyrus's mailbox list has them (``ctl_mboxlist -d``).

        Admin names (``user/user1``, ``user/user1/Sent``, modified UTF-7), without the
        tombstones of deleted mailboxes; [] for a user who never logged in.
        """
        self._check_user(user)
        dump: dict[str, dict[str, object]] = json.loads(self.tool("ctl_mboxlist", "-d") or "{}")
        internal = f"user.{user}"
        names = []
        for key, entry in dump.items():
            if key != internal and not key.startswith(internal + "."):
                continue
            kind = str(entry.get("mbtype", ""))
            # d: deleted (a tombstone), i: intermediate (an implied parent, not a mailbox).
            if "d" in kind or "i" in kind:
                continue
            # Internally the separator is "." and a "." in a name is "^".
            names.append(key.replace(".", "/").replace("^", "."))
        return sorted(names)

    def quota(self, user: str) -> tuple[int, int | None]:
        """(STORAGE used, limit) in KiB from Cyrus's ``quota`` tool; limit None if unlimited."""
        self._check_user(user)
        root = f"user/{user}"
        for line in self.tool("quota", root).splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[-1] == root and fields[-2] == "STORAGE":
                if len(fields) >= 5:
                    return int(fields[2]), int(fields[0])
                return int(fields[0]), None
        raise ServerError(f"no STORAGE quota for {root!r}")

    def tool(self, name: str, *args: str) -> str:
        """Run Cyrus tool ``name -C <our imapd.conf> ARGS`` as the mail user; its stdout."""
        self._check_started()
        result = subprocess.run(
            [str(self.install.bindir / name), "-C", str(self.config), *args],
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            timeout=120,
            env=self.install.env(),
            preexec_fn=child_setup(self.mail_uid, self.mail_gid),
        )
        if result.returncode != 0:
            raise ServerError(
                f"{name} {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of master's stdout/stderr (Cyrus logs the rest to syslog)."""
        try:
            text = (self.root / "master.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ----------------------------------------------------------------------------

    def _append(
        self, client: imapclient.IMAPClient, folder: str, messages: list[GeneratedMessage]
    ) -> None:
        batch: list[dict[str, object]] = []
        size = 0
        for message in messages:
            batch.append(
                {"msg": message.raw, "flags": sorted(message.flags), "date": message.internal_date}
            )
            size += message.size
            if len(batch) >= _BATCH_MESSAGES or size >= _BATCH_BYTES:
                client.multiappend(folder, batch)
                batch, size = [], 0
        if batch:
            client.multiappend(folder, batch)

    def _launch(self) -> None:
        log = (self.root / "master.log").open("ab")
        with log:
            self._proc = subprocess.Popen(
                [
                    str(self.install.bindir / "master"),
                    "-C",
                    str(self.config),
                    "-M",
                    str(self.root / "cyrus.conf"),
                    "-p",
                    str(self.root / "run" / "master.pid"),
                    "-D",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.install.env(),
                # Its own process group, so stop() can kill every process of the server.
                start_new_session=True,
                # master needs root to start (it drops to cyrus_user itself).
                preexec_fn=child_setup(),
            )
        if wait_for_greeting(self._proc, self.host, self.port, timeout=START_TIMEOUT):
            return
        proc, self._proc = self._proc, None
        code = proc.poll()
        terminate_group(proc)
        raise ServerError(
            f"Cyrus master {'exited with ' + str(code) if code is not None else 'gave no'}"
            f" IMAP greeting within {START_TIMEOUT:.0f} s on port {self.port}:\n{self.log_tail()}"
        )

    def _imapd_conf(self) -> str:
        root = self.root
        try:
            cyrus_user = pwd.getpwuid(self.mail_uid).pw_name
        except KeyError:
            cyrus_user = str(self.mail_uid)
        folders = " | ".join(SPECIAL_USE)
        xlist = "".join(
            f"xlist-{_XLIST[attribute]}: {name}\n" for name, attribute in SPECIAL_USE.items()
        )
        suppress = f"suppress_capabilities: {' '.join(self.suppress)}\n" if self.suppress else ""
        return f"""\
# Written by tests/support/cyrus.py: a private test server, not the system's Cyrus.
configdirectory: {root}/conf
partition-default: {root}/spool
defaultpartition: default
sievedir: {root}/sieve
lmtpsocket: {root}/run/lmtp
idlesocket: {root}/run/idle
notifysocket: {root}/run/notify
syslog_prefix: mailclean-cyrus-{self.port}
cyrus_user: {cyrus_user}
admins: {self.admin.name}
proxyservers: {self.admin.name}
allowplaintext: 1
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {root}/sasldb2
sasl_mech_list: PLAIN LOGIN
# A wrong password would otherwise cost 3 s.
failedloginpause: 0
# No idled runs: IDLE polls the mailbox, every second instead of every minute.
imapidlepoll: 1
altnamespace: 1
unixhierarchysep: 1
virtdomains: off
autocreate_quota: {QUOTA_KIB}
autocreate_inbox_folders: {folders}
autocreate_subscribe_folders: {folders}
{xlist}delete_mode: immediate
# Keep 8-bit header bytes as they are (Cyrus would turn them into 'X').
munge8bit: 0
reject8bit: 0
{suppress}"""

    def _cyrus_conf(self) -> str:
        bindir = self.install.bindir
        return f"""\
# Written by tests/support/cyrus.py.
START {{
  recover cmd="{bindir}/ctl_cyrusdb -C {self.config} -r"
}}
SERVICES {{
  imap cmd="{bindir}/imapd -C {self.config}" listen="{self.host}:{self.port}" prefork=0 \
maxchild=100
}}
EVENTS {{
  checkpoint cmd="{bindir}/ctl_cyrusdb -C {self.config} -c" period=30
}}
"""

    def _write_sasldb(self, users: Sequence[User]) -> None:
        path = self.root / "sasldb2"
        for user in users:
            if any(c in user.name for c in "/*\n\t ") or "\n" in user.password:
                raise ValueError(f"user name or password unfit for Cyrus: {user}")
            result = subprocess.run(
                [str(self.install.saslpasswd2), "-f", str(path), "-p", "-c", user.name],
                input=user.password.encode(),
                capture_output=True,
                check=False,
                env=self.install.env(),
                # As root: the file lands in root, which the mail user cannot write.
                preexec_fn=child_setup(),
            )
            if result.returncode != 0:
                raise ServerError(
                    f"saslpasswd2 {user.name} failed: {result.stderr.decode(errors='replace')}"
                )
        if os.geteuid() == 0:
            os.chown(path, self.mail_uid, self.mail_gid)
        path.chmod(0o600)

    def _check_started(self) -> None:
        if not self._root_made:
            raise ServerError("the test server is not started")

    def _check_user(self, user: str) -> None:
        self._check_started()
        if user not in {known.name for known in self.users}:
            raise KeyError(f"no user {user!r} on this test server")

    def _password(self, user: str) -> str:
        self._check_user(user)
        return next(known.password for known in self.users if known.name == user)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.mail_uid, self.mail_gid)

