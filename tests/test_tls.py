"""A CA file that is not one is said in words, once, and never retried (it used to end
`snapshot take --cafile` with an ssl.SSLError traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mailclean.connectors.base import ConnectionFailed, ConnectorError
from mailclean.connectors.graph import GraphConnector, GraphSettings
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.snapshot.cli import snapshot
from mailclean.tls import CafileError, client_context


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("this is not a certificate\n", encoding="utf-8")
    return path


def test_a_file_that_is_not_a_ca_bundle_is_named(bad: Path) -> None:
    with pytest.raises(CafileError) as err:
        client_context(str(bad))
    assert str(bad) in str(err.value) and "--cafile" in str(err.value)
    assert client_context(None).verify_mode.name == "CERT_REQUIRED"


def test_the_connectors_say_it_without_retrying(bad: Path) -> None:
    imap = ImapConnector(ImapSettings("127.0.0.1", "u", "p", port=1, security="ssl",
                                      cafile=str(bad)))
    with pytest.raises(ConnectorError) as err:
        imap.connect()
    assert not isinstance(err.value, ConnectionFailed)  # a retry would not mend it
    assert str(bad) in str(err.value)
    graph = GraphConnector(GraphSettings(email="a@b.example", tenant_id="t", client_id="c",
                                         auth="token", token="x", cafile=str(bad)))
    with pytest.raises(ConnectorError) as err:
        graph.connect()
    assert not isinstance(err.value, ConnectionFailed) and str(bad) in str(err.value)


def test_snapshot_take_says_it_in_one_line(bad: Path, tmp_path: Path) -> None:
    staff = tmp_path / "staff.csv"
    staff.write_text("mailbox,team\na@b.example,T\n", encoding="utf-8")
    result = CliRunner().invoke(snapshot, [
        "take", "t", "--accounts", str(staff), "--server", "127.0.0.1", "--admin-user", "a",
        "--password-env", "PW", "--cafile", str(bad), "--snapshots",
        str(tmp_path / "s.db")], env={"PW": "x"})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and str(bad) in result.output
