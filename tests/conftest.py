"""Session fixtures: the private Dovecot servers the IMAP tests run against (tests/dovecot.py).

- ``dovecot``: every capability Dovecot has, plus IMAPS on ``tls_port`` (CA file ``cafile``).
- ``dovecot_minimal``: advertises only :data:`tests.dovecot.MINIMAL_CAPABILITIES`.
- ``dovecot_nomove``: :data:`tests.dovecot.NOMOVE_CAPABILITIES`, UIDPLUS without MOVE.

Both are shared by the whole session: a test that needs a known mailbox calls
``server.reset_user(name)`` first, then ``server.seed(...)``. ``pytest --dovecot-keep`` leaves
the servers' directories (config, log, mail) behind and prints where they are.

Without the dovecot binary the tests that use these fixtures are skipped, except under CI
(``CI`` set), where that is an error: ``make test`` installs it through ``make system-deps``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from tests.dovecot import (
    MINIMAL_CAPABILITIES,
    NOMOVE_CAPABILITIES,
    Dovecot,
    _make_certificate,
    group_processes,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--dovecot-keep``."""
    parser.addoption(
        "--dovecot-keep",
        action="store_true",
        help="leave the test Dovecot servers' directories (config, log, mail) and print where",
    )


def _report(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    # Fixtures run with output captured: lift the capture so the line reaches the terminal.
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
    else:
        reporter.write_line(line)


def _serve(config: pytest.Config, name: str, **options: object) -> Iterator[Dovecot]:
    if shutil.which("dovecot", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
        message = "dovecot is not installed: run `make system-deps` (root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    keep = bool(config.getoption("--dovecot-keep"))
    server = Dovecot(keep=keep, **options)  # type: ignore[arg-type]
    with server:
        pid = server.pid
        if keep:
            _report(config, f"\n{name}: 127.0.0.1:{server.port}, directory {server.root}")
        yield server
    assert pid is not None
    leftovers = group_processes(pid)
    assert not leftovers, f"{name} left processes behind: {leftovers}"
    if keep:
        _report(config, f"\n{name} stopped; its directory is kept: {server.root}")


@pytest.fixture(scope="session")
def dovecot(pytestconfig: pytest.Config) -> Iterator[Dovecot]:
    """A Dovecot with every capability and IMAPS, shared by the session."""
    yield from _serve(pytestconfig, "dovecot", tls=True)


@pytest.fixture(scope="session")
def dovecot_minimal(pytestconfig: pytest.Config) -> Iterator[Dovecot]:
    """A Dovecot advertising only MINIMAL_CAPABILITIES (no MOVE, CONDSTORE, SPECIAL-USE...)."""
    yield from _serve(pytestconfig, "dovecot_minimal", capabilities=MINIMAL_CAPABILITIES)


@pytest.fixture(scope="session")
def dovecot_gmail(pytestconfig: pytest.Config) -> Iterator[Dovecot]:
    """A Dovecot that also advertises Gmail's X-GM-EXT-1: a server of labels, where one
    message shows in the folder of each of its labels."""
    yield from _serve(pytestconfig, "dovecot_gmail", capabilities="+X-GM-EXT-1")


@pytest.fixture(scope="session")
def dovecot_trashfree(pytestconfig: pytest.Config) -> Iterator[Dovecot]:
    """A Dovecot whose quota does not count the Trash (``Trash:ignore``), as Courier's."""
    yield from _serve(pytestconfig, "dovecot_trashfree", quota_ignores_trash=True)


@pytest.fixture(scope="session")
def dovecot_nomove(pytestconfig: pytest.Config) -> Iterator[Dovecot]:
    """A Dovecot without MOVE but with UIDPLUS: moves are COPY then UID EXPUNGE."""
    yield from _serve(pytestconfig, "dovecot_nomove", capabilities=NOMOVE_CAPABILITIES)


# -- Servers other than Dovecot (tests/support/): Cyrus IMAP and GNU Mailutils imap4d -------
#
# - ``cyrus``: Cyrus IMAP 3.6 (MOVE, UIDPLUS, CONDSTORE, QRESYNC, SPECIAL-USE, STATUS=SIZE,
#   QUOTA, proxy authorisation ``client("user1*admin")``), oracle ``status(user)`` from its
#   own index (mbexamine).
# - ``mailutils``: GNU Mailutils imap4d 3.15 (none of those; UID SEARCH UID reads sequence
#   numbers), oracle ``status(user)`` counted in its Maildir store.
#
# Both are shared by the session like the Dovecot fixtures (``reset_user`` first), unpacked
# by ``.ci/servers-setup.sh`` (run by ``make system-deps``); without them the tests that use
# them are skipped, except under CI, where that is an error. ``--dovecot-keep`` keeps their
# directories too.

if TYPE_CHECKING:
    from tests.support.cyrus import Cyrus
    from tests.support.mailutils import Mailutils

_OtherServer = TypeVar("_OtherServer", "Cyrus", "Mailutils")


def _serve_other(
    config: pytest.Config, name: str, server: _OtherServer
) -> Iterator[_OtherServer]:
    keep = bool(config.getoption("--dovecot-keep"))
    server.keep = keep
    with server:
        pid = server.pid
        if keep:
            _report(config, f"\n{name}: 127.0.0.1:{server.port}, directory {server.root}")
        yield server
    assert pid is not None
    leftovers = group_processes(pid)
    assert not leftovers, f"{name} left processes behind: {leftovers}"
    if keep:
        _report(config, f"\n{name} stopped; its directory is kept: {server.root}")


def _missing_server(what: str) -> None:
    message = f"{what} is not installed: run `make system-deps` (root; .ci/servers-setup.sh)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def cyrus(pytestconfig: pytest.Config) -> Iterator[Cyrus]:
    """A private Cyrus IMAP 3.6 on 127.0.0.1 (tests/support/cyrus.py), shared by the session."""
    from tests.support.cyrus import Cyrus, find_cyrus

    if find_cyrus() is None:
        _missing_server("Cyrus IMAP")
    yield from _serve_other(pytestconfig, "cyrus", Cyrus())


@pytest.fixture(scope="session")
def mailutils(pytestconfig: pytest.Config) -> Iterator[Mailutils]:
    """A private GNU Mailutils imap4d 3.15 on 127.0.0.1 (tests/support/mailutils.py), shared
    by the session."""
    from tests.support.mailutils import Mailutils, find_imap4d

    if find_imap4d() is None:
        _missing_server("GNU Mailutils imap4d")
    yield from _serve_other(pytestconfig, "mailutils", Mailutils())


@pytest.fixture(scope="session")
def graph_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate and its key (self-signed: the certificate is its own CA) the loopback
    Graph server serves HTTPS with; clients trust it with ``cafile=graph_tls[0]``."""
    d = tmp_path_factory.mktemp("graph-tls")
    cert, key = d / "cert.pem", d / "key.pem"
    _make_certificate(cert, key)
    return cert, key
