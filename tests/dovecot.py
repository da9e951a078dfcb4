"""A private Dovecot IMAP server on 127.0.0.1, started by the test suite (and by ``bench/``).

    with Dovecot() as server:
        server.seed("user1", messages)
        client = server.client("user1")
        assert server.status("user1")["INBOX"] == (messages, bytes)

Each :class:`Dovecot` runs ``dovecot -F -c <own config>`` from a fresh directory under /tmp
(config, runtime sockets, state, log, passwd files, certificate and the mail itself), listening
only on 127.0.0.1 on free ports. The system service and /etc/dovecot are never touched.

As root (CI, dev machines) the mail belongs to the system user ``mailclean-test``, created here
if missing (``.ci/dovecot-setup.sh`` does the same), because Dovecot refuses to access mail as
root. Not as root, everything runs as the current user: a best effort (no chroot, no setuid),
not what CI exercises.

Users are in a passwd-file; ``auth_master_user_separator = *`` makes ``user1*admin`` log in to
user1's mailbox with the master user's password. Quota is the ``count`` backend with vsizes, so
GETQUOTAROOT's STORAGE is the sum of RFC822.SIZE in KiB, rounded up. ``doveadm mailbox status``
(:meth:`Dovecot.status`) is the oracle the tests compare a client's view with.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import imapclient

    from mailclean.mailgen import GeneratedMessage


@dataclass(frozen=True)
class User:
    """A mailbox account of the test server."""

    name: str
    password: str


DEFAULT_USERS: tuple[User, ...] = (
    User("user1", "secret1"),
    User("user2", "secret2"),
    User("empty", "secret0"),
)

#: What a plain, old-fashioned server advertises: no MOVE, CONDSTORE, QRESYNC, UIDPLUS,
#: SPECIAL-USE, ESEARCH, STATUS=SIZE nor LIST-STATUS.
MINIMAL_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UNSELECT CHILDREN QUOTA"
)

#: Everything a careful client uses except MOVE: moves are COPY, \Deleted, UID EXPUNGE.
NOMOVE_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UNSELECT CHILDREN QUOTA"
    " UIDPLUS CONDSTORE QRESYNC ESEARCH LIST-EXTENDED LIST-STATUS SPECIAL-USE STATUS=SIZE"
)

#: The system user that owns the mail when the suite runs as root.
MAIL_USER = "mailclean-test"

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

# Special-use folders declared in the inbox namespace (IMAP name -> attribute).
SPECIAL_USE = {
    "Sent": r"\Sent",
    "Drafts": r"\Drafts",
    "Trash": r"\Trash",
    "Junk": r"\Junk",
    "Archives": r"\Archive",
}

_SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"


class DovecotError(RuntimeError):
    """The test server could not be started or a doveadm command failed."""


def _binary(name: str) -> str:
    # A non-root user's PATH usually lacks /usr/sbin, where `dovecot` lives.
    path = os.environ.get("PATH", os.defpath) + os.pathsep + _SBIN_PATH
    found = shutil.which(name, path=path)
    if found is None:
        raise DovecotError(
            f"{name!r} not found: install Dovecot (`bash .ci/dovecot-setup.sh` as root)"
        )
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_mail_user() -> tuple[int, int]:
    """(uid, gid) of :data:`MAIL_USER`, creating that system user if it is missing (root only)."""
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


def _die_with_parent() -> None:
    # Runs in the child before exec: if the test process dies without tearing down (SIGKILL,
    # crash), the kernel sends the master SIGTERM instead of leaving an orphan server behind.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _make_certificate(cert: Path, key: Path) -> None:
    """A self-signed certificate for CN=localhost (SAN localhost and 127.0.0.1), valid 7 days."""
    openssl = shutil.which("openssl")
    if openssl is not None:
        # An EC key: RSA key generation alone can take a good part of the 2 s start budget.
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "7",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,digitalSignature,keyCertSign",
            ],
            check=True,
            capture_output=True,
        )
        return
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as exc:
        raise DovecotError("TLS needs the openssl binary or the cryptography package") from exc
    import datetime
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    public = private.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


class Dovecot:
    """A private Dovecot IMAP server on 127.0.0.1; see the module docstring.

    ``capabilities`` replaces the advertised capability list (``imap_capability``), e.g.
    :data:`MINIMAL_CAPABILITIES` to emulate a server without MOVE, CONDSTORE, SPECIAL-USE...
    ``quota_ignores_trash`` leaves the Trash out of the quota, as Courier does.
    ``tls`` adds an IMAPS listener (:attr:`tls_port`) with a self-signed certificate whose PEM
    is :attr:`cafile`. ``keep`` leaves :attr:`root` behind at :meth:`stop` for debugging.
    """

    host: str = "127.0.0.1"

    def __init__(
        self,
        *,
        capabilities: str | None = None,
        tls: bool = False,
        users: Sequence[User] = DEFAULT_USERS,
        master: User = User("admin", "admin-secret"),
        keep: bool = False,
        quota_ignores_trash: bool = False,
    ) -> None:
        self.capabilities = capabilities
        self.quota_ignores_trash = quota_ignores_trash
        self.tls = tls
        self.users = tuple(users)
        self.master = master
        self.keep = keep
        self.port: int = 0
        self.tls_port: int | None = None
        self.cafile: Path | None = None
        self.root: Path = Path()  # set by start()
        self.config: Path = Path()
        self.log_path: Path = Path()
        self._proc: subprocess.Popen[bytes] | None = None
        self._root_made = False
        self._as_root = os.geteuid() == 0
        if self._as_root:
            self.mail_uid, self.mail_gid = _ensure_mail_user()
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Write the config and passwd files, start Dovecot, wait for an IMAP greeting (10 s)."""
        if self._proc is not None:
            raise DovecotError("already started")
        self.root = Path(tempfile.mkdtemp(prefix="mailclean-dovecot-", dir="/tmp"))
        self._root_made = True
        atexit.register(self.stop)
        try:
            # The mail user must traverse root to reach the mail; nothing in it is secret.
            self.root.chmod(0o755)
            self.log_path = self.root / "dovecot.log"
            self.config = self.root / "dovecot.conf"
            mail = self.root / "mail"
            mail.mkdir()
            self._chown(mail)
            self._write_passwd_files()
            if self.tls:
                self.cafile = self.root / "cert.pem"
                _make_certificate(self.cafile, self.root / "key.pem")
            for attempt in range(3):
                self.port = _free_port()
                self.tls_port = _free_port() if self.tls else None
                self.config.write_text(self._config_text())
                try:
                    self._launch()
                    return
                except DovecotError:
                    # Another process took a port between _free_port() and dovecot's bind().
                    if attempt == 2 or "Address already in use" not in self.log_tail():
                        raise
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server, kill anything of it left over, remove :attr:`root` (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self._terminate(proc)
        if self._root_made:
            self._root_made = False
            atexit.unregister(self.stop)
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the master process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The master process id (also its process group id), while started."""
        return self._proc.pid if self._proc is not None else None

    # -- mail ---------------------------------------------------------------------------------

    def maildir(self, user: str) -> Path:
        """The user's Maildir++ root (INBOX), created on demand and owned by the mail user."""
        self._check_user(user)
        path = self.root / "mail" / user
        for directory in (path, path / "cur", path / "new", path / "tmp"):
            if not directory.is_dir():
                directory.mkdir(mode=0o700)
                self._chown(directory)
        return path

    def seed(self, user: str, messages: Iterable[GeneratedMessage]) -> dict[str, int]:
        """Write messages into the user's Maildir (mailgen.write_maildir); {folder: count}."""
        from mailclean import mailgen

        root = self.maildir(user)
        owner = (self.mail_uid, self.mail_gid) if self._as_root else None
        return mailgen.write_maildir(root, messages, owner=owner)

    def reset_user(self, user: str) -> None:
        """Disconnect the user and delete their mail and Dovecot's index of it: a clean start."""
        self._check_user(user)
        self.kick(user)
        # Dovecot keeps its indexes, uidlist and subscriptions inside the Maildir (no INDEX=
        # elsewhere) and caches nothing between sessions, so removing the directory is enough.
        shutil.rmtree(self.root / "mail" / user, ignore_errors=True)

    def add_users(self, *users: User) -> None:
        """Declare more users on the running server (a user already there is left alone).

        The session servers are shared: a test module that needs mailboxes of its own adds
        them under its own names. Dovecot re-reads a changed passwd-file at most once a
        second, so this waits (about a second at most) until the last new user can log in.
        """
        if not self._root_made:
            raise DovecotError("the test server is not started")
        known = {u.name: u for u in self.users}
        new = []
        for user in users:
            if any(c in user.name for c in ":*\n/") or any(c in user.password for c in ":\n"):
                raise ValueError(f"user name or password unfit for a passwd-file: {user}")
            if user.name in known:
                if known[user.name].password != user.password:
                    raise ValueError(f"user {user.name!r} already exists with another password")
                continue
            known[user.name] = user
            new.append(user)
        if not new:
            return
        self.users = (*self.users, *new)
        path = self.root / "users"
        # Replaced whole and atomically, so the auth process never reads half a file.
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{u.name}:{{PLAIN}}{u.password}::::::\n" for u in self.users))
        shutil.copymode(path, tmp)
        if self._as_root:
            os.chown(tmp, 0, grp.getgrnam("dovecot").gr_gid)
        os.replace(tmp, path)
        import imapclient

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=10)
            try:
                _login(client, new[-1].name, new[-1].password)
                client.logout()
                return
            except imapclient.exceptions.LoginError:
                client.shutdown()
                if time.monotonic() > deadline:
                    raise DovecotError(f"Dovecot did not take the new users {new}") from None
                time.sleep(0.1)

    def kick(self, user: str) -> None:
        """Disconnect every IMAP session of ``user`` (no error if there is none)."""
        result = self._run_doveadm("kick", user)
        # 68 (EX_NOUSER): "no users kicked".
        if result.returncode not in (0, 68):
            raise DovecotError(f"doveadm kick {user} failed: {result.stderr.strip()}")
        if result.returncode == 0:
            self._wait_no_session(user)

    def status(self, user: str) -> dict[str, tuple[int, int]]:
        """{folder: (messages, vsize)} from ``doveadm mailbox status``: the test oracle.

        vsize is the sum of RFC822.SIZE; folder names are as a client decodes them (UTF-8,
        ``/`` separator). Only selectable folders that exist are listed.
        """
        out = self.doveadm("-f", "json", "mailbox", "status", "-u", user, "messages vsize", "*")
        rows: list[dict[str, str]] = json.loads(out) if out.strip() else []
        return {row["mailbox"]: (int(row["messages"]), int(row["vsize"])) for row in rows}

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm -c <config> ARGS``; its stdout, or DovecotError with its stderr."""
        result = self._run_doveadm(*args)
        if result.returncode != 0:
            raise DovecotError(
                f"doveadm {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def client(self, user: str = "user1") -> imapclient.IMAPClient:
        """A plain-IMAP client logged in as ``user`` (the caller logs out)."""
        import imapclient

        client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=30)
        _login(client, user, self._password(user))
        return client

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts this server's self-signed certificate."""
        if self.cafile is None:
            raise DovecotError("server started without tls=True")
        return ssl.create_default_context(cafile=str(self.cafile))

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Dovecot's log (and of its stdout/stderr, where startup errors go)."""
        texts = []
        for path in (self.root / "dovecot.stderr", self.log_path):
            try:
                texts.append(path.read_text(errors="replace").splitlines())
            except OSError:
                texts.append([])
        stderr, log = texts
        # The master in the foreground repeats its log lines on stderr, minus the timestamp.
        extra = [line for line in stderr if not any(entry.endswith(line) for entry in log)]
        return "\n".join([*extra[-lines:], *log[-lines:]])

    # -- internals ----------------------------------------------------------------------------

    def _check_user(self, user: str) -> None:
        if not self._root_made:
            raise DovecotError("the test server is not started")
        if user not in {known.name for known in self.users}:
            raise KeyError(f"no user {user!r} on this test server")

    def _password(self, user: str) -> str:
        """The password of ``user``, or the master's for ``user*master``."""
        login, _, master = user.partition("*")
        if master:
            self._check_user(login)
            return self.master.password
        self._check_user(login)
        return next(known.password for known in self.users if known.name == login)

    def _chown(self, path: Path) -> None:
        if self._as_root:
            os.chown(path, self.mail_uid, self.mail_gid)

    def _write_passwd_files(self) -> None:
        users = self.root / "users"
        masters = self.root / "masters"
        for user in (*self.users, self.master):
            if any(c in user.name for c in ":*\n") or any(c in user.password for c in ":\n"):
                raise ValueError(f"user name or password unfit for a passwd-file: {user}")
        users.write_text("".join(f"{u.name}:{{PLAIN}}{u.password}::::::\n" for u in self.users))
        masters.write_text(f"{self.master.name}:{{PLAIN}}{self.master.password}\n")
        for path in (users, masters):
            if self._as_root:
                # The auth process runs as `dovecot`: without group read, every login fails
                # with "Temporary authentication failure".
                os.chown(path, 0, grp.getgrnam("dovecot").gr_gid)
                path.chmod(0o640)
            else:
                path.chmod(0o600)

    def _config_text(self) -> str:
        root = self.root
        if self._as_root:
            identity = f"""\
mail_uid = {self.mail_uid}
mail_gid = {self.mail_gid}
first_valid_uid = {self.mail_uid}
last_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
last_valid_gid = {self.mail_gid}
"""
            services = ""
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            identity = f"""\
default_login_user = {me}
default_internal_user = {me}
default_internal_group = {group}
first_valid_uid = {self.mail_uid}
last_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
last_valid_gid = {self.mail_gid}
"""
            # Without root there is no chroot and no switching users.
            services = """\
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
service auth-worker {
  user = $default_internal_user
}
"""
        if self.tls:
            tls = f"""\
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
"""
            imaps_port = self.tls_port
        else:
            tls = "ssl = no\n"
            imaps_port = 0
        capability = (
            f"  imap_capability = {self.capabilities}\n" if self.capabilities is not None else ""
        )
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = {attribute}\n  }}\n"
            for name, attribute in SPECIAL_USE.items()
        )
        return f"""\
# Written by tests/dovecot.py: a private test server, not the system's Dovecot.
instance_name = mailclean-test-{self.port}
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
auth_verbose = yes
{identity}{tls}disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password would otherwise cost each test 2 s (0.5 s remain: the failure timer's tick).
auth_failure_delay = 0
auth_master_user_separator = *

passdb {{
  driver = passwd-file
  args = {root}/masters
  master = yes
  pass = yes
}}
passdb {{
  driver = passwd-file
  args = {root}/users
}}
userdb {{
  driver = passwd-file
  args = {root}/users
  default_fields = home={root}/mail/%u
}}

mail_location = maildir:{root}/mail/%u
mail_fsync = never
mail_plugins = quota
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}

service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
# Without this listener the auth process disables its penalty: repeated failures from one IP
# would otherwise wait 2, 4, 8... up to 15 s before even being checked.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{services}
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
  mail_max_userip_connections = 200
{capability}}}

plugin {{
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=1G
{"  quota_rule2 = Trash:ignore" if self.quota_ignores_trash else ""}
}}
"""

    def _launch(self) -> None:
        stderr = (self.root / "dovecot.stderr").open("wb")
        with stderr:
            self._proc = subprocess.Popen(
                [_binary("dovecot"), "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                # Its own process group, so stop() can kill every process of the server.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise DovecotError(f"dovecot exited with {code} at start:\n{self.log_tail()}")
            if self._greeted():
                return
            if time.monotonic() > deadline:
                proc, self._proc = self._proc, None
                self._terminate(proc)
                raise DovecotError(
                    f"dovecot gave no IMAP greeting within {START_TIMEOUT:.0f} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.02)

    def _greeted(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as sock:
                greeting = sock.makefile("rb").readline()
            if self.tls_port is not None:
                socket.create_connection((self.host, self.tls_port), timeout=2).close()
        except OSError:
            return False
        return greeting.startswith(b"* OK")

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        # SIGTERM to the whole group: the master alone waits for its imap children, which
        # outlive it for as long as a client keeps its connection open.
        group = proc.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + STOP_TIMEOUT
        while group_processes(group):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
                deadline = time.monotonic() + STOP_TIMEOUT
            time.sleep(0.02)

    def _run_doveadm(self, *args: str) -> subprocess.CompletedProcess[str]:
        if not self.running:
            raise DovecotError("the test server is not running")
        return subprocess.run(
            [_binary("doveadm"), "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def _wait_no_session(self, user: str) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            out = self._run_doveadm("who", "-1", user).stdout
            if user not in out.split():
                return
            time.sleep(0.02)


def _login(client: imapclient.IMAPClient, user: str, password: str) -> None:
    """LOGIN, or AUTHENTICATE PLAIN for a password LOGIN cannot carry (not ASCII)."""
    if (user + password).isascii():
        client.login(user, password)
    else:
        client.plain_login(user, password)


def group_processes(group: int) -> list[str]:
    """Command lines of the live (not zombie) processes in process group ``group``.

    A server's processes all stay in the group of its master (:attr:`Dovecot.pid`), so this
    tells whether anything of a stopped server is left.
    """
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace").strip())
    return found
