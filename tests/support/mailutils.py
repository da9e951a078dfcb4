"""A private GNU Mailutils imap4d 3.15 on 127.0.0.1, started by the test suite.

    with Mailutils() as server:
        server.reset_user("user1")
        server.seed("user1", messages)
        client = server.client("user1")
        assert server.status("user1")["INBOX"] == (messages, bytes)

**Installation.** ``mailutils-imap4d`` does not conflict with ``dovecot-imapd``, but installing
it enables and starts a system service on port 143 of every interface; so
``.ci/servers-setup.sh`` installs its libraries with apt (``libmailutils9``, ``libgsasl18``...)
and unpacks only the package itself into ``/opt/mailclean-servers/mailutils``. A system-wide
``/usr/sbin/imap4d`` is used when there is no unpacked one.

**Running.** Each :class:`Mailutils` runs ``imap4d --config-file=<own file>`` (which implies
``--no-site-config``) as a daemon in the foreground (``mode daemon; foreground yes``) from a
fresh directory under /tmp, listening only on 127.0.0.1 on a free port, as the
``mailclean-test`` system user when the suite runs as root (the mail belongs to it; the server
never needs root). It logs to its stderr (``logging { syslog no; }``), kept in
:meth:`Mailutils.log_tail` (its "error setting mail group" at start is harmless: not being
root, it cannot switch to the group ``mail``, which it does not need). Starting takes about
0.05 s, each login about 50 ms (imap4d forks a process per connection).

**Users** are virtual, without PAM or /etc/passwd: ``auth { authorization virtdomain;
authentication generic; }`` reads passwd(5)-format files with crypt(3) hashes from a private
``passwd-dir``. Virtdomain wants ``user@domain`` logins (``user1@mailclean.test`` works); a
bare ``user1`` works too because, without a domain, Mailutils looks the user up in the file
named after the host name (then the address) of the socket on its standard input, and the
harness starts imap4d with a socket bound to 127.0.0.1 there: the files ``localhost`` and
``127.0.0.1`` hold the same users. So ``client("user1")`` logs in with plain ``LOGIN user1``.

**Storage** is Maildir: the user's home is ``mail/<user>``, INBOX is ``mail/<user>/INBOX``,
folder ``A/B`` is the directory ``mail/<user>/A/B`` (modified UTF-7 names, ``/`` separator),
each a Maildir with cur/, new/, tmp/. :meth:`Mailutils.seed` writes the messages there
directly, as ``write_maildir`` does for Dovecot (LF line ends, flags in the ``:2,`` suffix),
because APPEND loses their flags. :meth:`Mailutils.seed_by_append` goes through IMAP instead.

**The oracle** (:meth:`Mailutils.status`) counts the store's files: per folder, the message
files in cur/ and new/, and as bytes each file's length plus one per line feed, which is how
imap4d computes RFC822.SIZE of an LF-ended file (its CRLF length). Mailutils has no
STATUS SIZE and no QUOTA, so this and the sum of FETCH RFC822.SIZE are the only views.

**Capabilities** (:data:`CAPABILITIES`, measured with 3.15-4)::

    IMAP4rev1 NAMESPACE ID IDLE LITERAL+ UNSELECT

plus a long list of ``AUTH=`` mechanisms (GSSAPI, PLAIN, LOGIN, CRAM-MD5, SCRAM-*...), before
login and still after LOGIN. No SASL-IR, MOVE, UIDPLUS (no ``UID EXPUNGE``), CONDSTORE,
QRESYNC, ESEARCH, SPECIAL-USE, STATUS=SIZE, LIST-STATUS, QUOTA.

**Quirks measured** (``tests/test_servers_harness.py`` checks each, so that a version that
fixes one makes a test fail and say so):

- ``AUTHENTICATE PLAIN`` succeeds but ends its tagged ``OK`` with a bare LF, no CR:
  imaplib (so imapclient's ``plain_login``) fails with "unterminated line". Use LOGIN, which
  is what :meth:`Mailutils.client` does.
- ``UID SEARCH UID <set>`` reads the set as **sequence numbers**: with UIDs 3 4 5, ``UID
  SEARCH UID 1:2`` answers ``3 4``, ``UID SEARCH UID 4`` nothing, and ``UID SEARCH UID 1:*``
  nothing at all. ``UID SEARCH ALL`` and ``UID FETCH n:*`` are right.
- ``UID FETCH``/``UID STORE``/``UID COPY`` of a UID that is not there: one in a gap between
  existing UIDs answers ``BAD Failed to parse message set``; one **below the lowest** acts on
  the lowest message, one **above the highest** on the highest (``UID STORE 1 +FLAGS`` flags
  another message). A client must check the UIDs in every answer.
- APPEND ignores its flags and its date: the message arrives with no flags, and its
  INTERNALDATE is taken from the message itself (a ``Received:`` header's date, else
  ``Date:``, else the time it is read), which is also what a Maildir file gets: its mtime
  and name do not count.
- INBOX is listed as ``(\\NoInferiors) NIL INBOX`` (no hierarchy delimiter); a parent created
  implicitly (CREATE ``A/B``) is ``\\NoSelect``; no folder has a special-use attribute.
- A Maildir file with CRLF line ends is misread (its size is 2, its headers lost): files must
  be LF-ended. imap4d renames the files it has seen (``,a=<attributes>,u=<uid>`` in the name)
  and keeps UIDVALIDITY and UIDNEXT in ``.mu-prop``.
- ``BODY[HEADER.FIELDS (SUBJECT)]`` returns the field name as the client spelled it
  (``SUBJECT: ...``), not as the message has it.
- A STATUS of a Maildir holding files imap4d has not seen yet (written by another program)
  reads their flags as mbox ``Status:`` letters: ``S`` (seen) is dropped, ``R`` (replied)
  becomes ``\\Seen``; ``F``, ``D``, ``T`` survive. It then renames the files so
  (``,a=O,u=<uid>:2,``): the flags are lost for good. A first SELECT reads them right
  (``,a=O,u=<uid>:2,RS``), and so does all that follows; :meth:`Mailutils.seed` does that
  SELECT.
- APPEND to a folder that does not exist answers ``NO [TRYCREATE]``; INBOX is not created on
  demand either (the harness creates it).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tests.dovecot import DEFAULT_USERS, User
from tests.support import (
    SERVERS_ROOT,
    START_TIMEOUT,
    ServerError,
    child_setup,
    free_port,
    group_processes,
    mail_identity,
    terminate_group,
    wait_for_greeting,
    wait_pids_gone,
)

if TYPE_CHECKING:
    import imapclient

    from mailclean.mailgen import GeneratedMessage

#: What imap4d 3.15 advertises once logged in.
CAPABILITY_LINE = "IMAP4rev1 NAMESPACE ID IDLE LITERAL+ UNSELECT"
#: The same, as a set.
CAPABILITIES = frozenset(CAPABILITY_LINE.split())

#: The virtual domain of the users: ``user1@mailclean.test`` logs in as user1.
DOMAIN = "mailclean.test"

#: Folders every reset user has (empty Maildirs), like mailgen.STANDARD_FOLDERS.
STANDARD_FOLDERS = ("Sent", "Drafts", "Trash", "Junk", "Archives")

# The Maildir info letters Mailutils reads (sorted by the writer, as Maildir wants).
_FLAG_LETTERS = {
    "\\Draft": "D",
    "\\Flagged": "F",
    "\\Answered": "R",
    "\\Seen": "S",
    "\\Deleted": "T",
}


def find_imap4d() -> Path | None:
    """imap4d unpacked under /opt/mailclean-servers/mailutils, else a system one, else None."""
    for candidate in (
        SERVERS_ROOT / "mailutils" / "usr" / "sbin" / "imap4d",
        Path("/usr/sbin/imap4d"),
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _crypt(password: str) -> str:
    """A SHA-512 crypt(3) hash of ``password`` (openssl, else the stdlib's crypt module)."""
    openssl = shutil.which("openssl")
    if openssl is not None:
        result = subprocess.run(
            [openssl, "passwd", "-6", "-stdin"],
            input=password.encode(),
            capture_output=True,
            check=True,
        )
        return result.stdout.decode().strip()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # removed in Python 3.13: openssl is the normal path

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


class Mailutils:
    """A private GNU Mailutils imap4d on 127.0.0.1; see the module docstring.

    ``keep`` leaves :attr:`root` behind at :meth:`stop` for debugging.
    """

    host: str = "127.0.0.1"

    def __init__(self, *, users: Sequence[User] = DEFAULT_USERS, keep: bool = False) -> None:
        binary = find_imap4d()
        if binary is None:
            raise ServerError(
                "imap4d not found: run `bash .ci/servers-setup.sh` as root "
                f"(it unpacks mailutils-imap4d into {SERVERS_ROOT / 'mailutils'})"
            )
        self.binary = binary
        self.users = tuple(users)
        self.keep = keep
        self.port: int = 0
        self.root: Path = Path()  # set by start()
        self.config: Path = Path()
        self._proc: subprocess.Popen[bytes] | None = None
        self._root_made = False
        self.mail_uid, self.mail_gid = mail_identity()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Write the configuration and passwd files, start imap4d, wait for a greeting."""
        if self._proc is not None:
            raise ServerError("already started")
        self.root = Path(tempfile.mkdtemp(prefix="mailclean-mailutils-", dir="/tmp"))
        self._root_made = True
        atexit.register(self.stop)
        try:
            self.root.chmod(0o755)
            for name in ("mail", "passwd"):
                (self.root / name).mkdir()
                self._chown(self.root / name)
            self.config = self.root / "imap4d.conf"
            self._write_passwd()
            for attempt in range(3):
                self.port = free_port()
                self.config.write_text(self._config_text())
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
        """Stop imap4d and every session of it, remove :attr:`root` (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate_group(proc)
        if self._root_made:
            self._root_made = False
            atexit.unregister(self.stop)
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Mailutils:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the daemon is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The daemon's process id (also its process group id), while started."""
        return self._proc.pid if self._proc is not None else None

    # -- users and mail ---------------------------------------------------------------------

    def home(self, user: str) -> Path:
        """The user's home: INBOX is ``home/INBOX``, folder ``A/B`` is ``home/A/B``."""
        self._check_user(user)
        return self.root / "mail" / user

    def folder_path(self, user: str, folder: str) -> Path:
        """The Maildir of ``folder`` (modified UTF-7 directory names, ``/`` separator)."""
        from mailclean.mailgen import imap_utf7

        if folder.upper() == "INBOX":
            return self.home(user) / "INBOX"
        parts = imap_utf7(folder).split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise ValueError(f"folder name unfit for a directory: {folder!r}")
        return self.home(user).joinpath(*parts)

    def add_users(self, *users: User) -> None:
        """Declare more users on the running server (a user already there is left alone).

        The passwd files are read at each login: the new users can log in at once.
        """
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
            self.users = (*self.users, *new)
            self._write_passwd()

    def kick(self, user: str) -> None:
        """End the user's sessions: the daemon's children whose working directory is their home.

        (imap4d changes into the user's home at login.)
        """
        home = str(self.home(user))
        if self._proc is None:
            return
        pids = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == self._proc.pid:
                continue
            try:
                if os.getpgid(int(entry.name)) != self._proc.pid:
                    continue
                if os.readlink(f"/proc/{entry.name}/cwd") == home:
                    pids.append(int(entry.name))
            except OSError:
                continue
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        wait_pids_gone(pids)

    def reset_user(self, user: str) -> None:
        """Disconnect the user, delete their mail, and give them an empty INBOX and
        :data:`STANDARD_FOLDERS` (UIDVALIDITY values are new)."""
        self.kick(user)
        shutil.rmtree(self.home(user), ignore_errors=True)
        self._make_home(user)
        for folder in ("INBOX", *STANDARD_FOLDERS):
            self._make_maildir(user, folder)

    def seed(
        self, user: str, messages: Iterable[GeneratedMessage], *, adopt: bool = True
    ) -> dict[str, int]:
        """Write ``messages`` into the user's Maildirs; {folder: count}.

        Files go to cur/ with LF line ends and their flags (``:2,FS``...); the folders, their
        parents, INBOX and :data:`STANDARD_FOLDERS` are created as needed (parents as real
        folders, as Dovecot's and Cyrus's seeding make them). The internal dates are not
        kept: imap4d takes them from each message's headers (see the module docstring).

        With ``adopt`` (the default) each folder that received messages is then SELECTed
        once, so that imap4d records the files with their flags: a STATUS before that
        first SELECT would make it misread them (see the module docstring).
        """
        self._make_home(user)
        counts: dict[str, int] = {}
        cur_dirs: dict[str, Path] = {}

        def ensure(folder: str) -> Path:
            if folder not in cur_dirs:
                if "/" in folder:
                    ensure(folder.rsplit("/", 1)[0])
                cur_dirs[folder] = self._make_maildir(user, folder) / "cur"
                counts.setdefault(folder, 0)
            return cur_dirs[folder]

        for folder in ("INBOX", *STANDARD_FOLDERS):
            ensure(folder)
        for n, message in enumerate(messages):
            cur = ensure(message.folder)
            data = message.raw.replace(b"\r\n", b"\n")
            stamp = int(message.internal_date.timestamp())
            flags = "".join(sorted(_FLAG_LETTERS[f] for f in message.flags if f in _FLAG_LETTERS))
            path = cur / f"{stamp}.M{n}P{counts[message.folder]}.mailgen:2,{flags}"
            with open(path, "xb") as handle:
                handle.write(data)
            os.utime(path, (stamp, stamp))
            self._chown(path)
            counts[message.folder] += 1
        if adopt:
            self._adopt(user, [folder for folder, count in counts.items() if count])
        return counts

    def seed_by_append(self, user: str, messages: Iterable[GeneratedMessage]) -> dict[str, int]:
        """APPEND ``messages`` over IMAP with their flags and dates (which imap4d drops).

        Missing folders are created first (APPEND would answer TRYCREATE); {folder: count}.
        """
        self._make_home(user)
        self._make_maildir(user, "INBOX")
        counts: dict[str, int] = {}
        client = self.client(user)
        try:
            existing = {name for _flags, _sep, name in client.list_folders()}
            for message in messages:
                if message.folder not in existing:
                    client.create_folder(message.folder)
                    existing.add(message.folder)
                client.append(
                    message.folder,
                    message.raw,
                    flags=sorted(message.flags),
                    msg_time=message.internal_date,
                )
                counts[message.folder] = counts.get(message.folder, 0) + 1
        finally:
            client.logout()
        return counts

    def client(self, user: str = "user1") -> imapclient.IMAPClient:
        """A plain-IMAP client logged in as ``user`` or ``user@mailclean.test`` (log out after)."""
        import imapclient

        name = user.split("@", 1)[0]
        password = self._password(name)
        client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=30)
        try:
            client.login(user, password)
        except BaseException:
            client.shutdown()
            raise
        return client

    # -- the oracle ---------------------------------------------------------------------------

    def status(self, user: str) -> dict[str, tuple[int, int]]:
        """{folder: (messages, bytes)} counted in the store: the test oracle.

        Every Maildir (a directory with cur/) under the user's home is a folder, named as a
        client decodes it (UTF-8, ``/``); messages are the files in cur/ and new/, bytes the
        sum of their RFC822.SIZE as imap4d computes it (file length + one per line feed).
        """
        from imapclient import imap_utf7

        home = self.home(user)
        result: dict[str, tuple[int, int]] = {}
        if not home.is_dir():
            return result
        for directory, subdirs, _files in os.walk(home):
            path = Path(directory)
            subdirs[:] = sorted(
                d for d in subdirs if not d.startswith(".") and d not in ("cur", "new", "tmp")
            )
            if path == home or not (path / "cur").is_dir():
                continue
            relative = path.relative_to(home).as_posix()
            if relative == "INBOX":
                folder = "INBOX"
                subdirs[:] = []  # INBOX is \NoInferiors
            else:
                folder = imap_utf7.decode(relative.encode("ascii"))
            count = size = 0
            for sub in ("cur", "new"):
                with os.scandir(path / sub) as entries:
                    for entry in entries:
                        if entry.name.startswith(".") or not entry.is_file():
                            continue
                        data = Path(entry.path).read_bytes()
                        count += 1
                        size += len(data) + data.count(b"\n")
            result[folder] = (count, size)
        return result

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of imap4d's log (its stderr)."""
        try:
            text = (self.root / "imap4d.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def sessions(self) -> list[str]:
        """Command lines of the server's live processes (the daemon and one per session)."""
        return group_processes(self._proc.pid) if self._proc is not None else []

    # -- internals ----------------------------------------------------------------------------

    def _adopt(self, user: str, folders: Sequence[str]) -> None:
        """SELECT each folder once: imap4d names the new files with their UIDs and flags."""
        if not folders:
            return
        client = self.client(user)
        try:
            for folder in folders:
                client.select_folder(folder)
                client.unselect_folder()
        finally:
            client.logout()

    def _launch(self) -> None:
        # Without a domain in the login, virtdomain looks the user up in the file named
        # after the address of the socket on standard input: make it 127.0.0.1.
        anchor = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        anchor.bind((self.host, 0))
        log = (self.root / "imap4d.log").open("ab")
        try:
            self._proc = subprocess.Popen(
                [str(self.binary), f"--config-file={self.config}"],
                stdin=anchor.fileno(),
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group, so stop() can kill every process of the server.
                start_new_session=True,
                preexec_fn=child_setup(self.mail_uid, self.mail_gid),
            )
        finally:
            log.close()
            anchor.close()
        if wait_for_greeting(self._proc, self.host, self.port, timeout=START_TIMEOUT):
            return
        proc, self._proc = self._proc, None
        code = proc.poll()
        terminate_group(proc)
        raise ServerError(
            f"imap4d {'exited with ' + str(code) if code is not None else 'gave no'}"
            f" IMAP greeting within {START_TIMEOUT:.0f} s on port {self.port}:\n{self.log_tail()}"
        )

    def _config_text(self) -> str:
        root = self.root
        return f"""\
# Written by tests/support/mailutils.py: a private test server, nothing system-wide.
logging {{
  syslog no;
  print-severity yes;
}};
mode daemon;
foreground yes;
max-children 100;
server {self.host}:{self.port} {{
  transcript no;
}};
tcp-wrappers {{
  enable no;
}};
auth {{
  authorization virtdomain;
  authentication generic;
}};
virtdomain {{
  passwd-dir "{root}/passwd";
}};
mailbox {{
  mailbox-pattern "maildir://{root}/mail/${{user}}/INBOX";
  mailbox-type maildir;
}};
namespace personal {{
  prefix "" {{
    directory "$home";
    delimiter "/";
    mailbox-type maildir;
  }};
}};
"""

    def _write_passwd(self) -> None:
        lines = []
        for user in self.users:
            if any(c in user.name for c in ":/@!\n") or any(c in user.password for c in "\n"):
                raise ValueError(f"user name or password unfit for a passwd file: {user}")
            home = self.root / "mail" / user.name
            lines.append(
                f"{user.name}:{_crypt(user.password)}:{self.mail_uid}:{self.mail_gid}:"
                f"mailclean test user:{home}:/usr/sbin/nologin\n"
            )
        text = "".join(lines)
        # The bare-name lookups use the host name or the address of 127.0.0.1.
        names = {DOMAIN, "localhost", "127.0.0.1", socket.getfqdn("127.0.0.1")}
        for name in sorted(n for n in names if n and "/" not in n and not n.startswith(".")):
            path = self.root / "passwd" / name
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_text(text)
            self._chown(tmp)
            tmp.chmod(0o600)
            os.replace(tmp, path)

    def _make_home(self, user: str) -> Path:
        home = self.home(user)
        if not home.is_dir():
            home.mkdir(mode=0o700)
            self._chown(home)
        return home

    def _make_maildir(self, user: str, folder: str) -> Path:
        path = self.folder_path(user, folder)
        home = self.home(user)
        # Parents first, each one a directory owned by the mail user.
        for parent in reversed(path.relative_to(home).parents):
            directory = home / parent
            if not directory.is_dir():
                directory.mkdir(mode=0o700)
                self._chown(directory)
        for directory in (path, path / "cur", path / "new", path / "tmp"):
            if not directory.is_dir():
                directory.mkdir(mode=0o700)
                self._chown(directory)
        return path

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

