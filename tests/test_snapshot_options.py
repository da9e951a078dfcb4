"""How `snapshot take` and `snapshot compare` merge their options (command line, what a
resumed snapshot remembers, defaults) and what they refuse: :mod:`mailclean.snapshot.options`
called directly, without click, a server or a file."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import mailclean.snapshot.options as options_module
from mailclean.i18n import set_language
from mailclean.snapshot.maildirs import DEFAULT_USER_PATTERN, MaildirRoot
from mailclean.snapshot.measure import DEFAULT_LOGIN_FORMAT, Access, EwsAccess
from mailclean.snapshot.options import (
    CompareOptions,
    OptionError,
    TakeOptions,
    TakeSettings,
    requested_label,
    resolve,
    resolve_compare,
)
from mailclean.snapshot.store import SnapshotInfo

STAFF = Path("staff.csv")


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def resumed(settings: TakeSettings, label: str = "jan") -> SnapshotInfo:
    """The snapshot a run with ``settings`` created, as ``--resume`` finds it."""
    return SnapshotInfo(
        id=1,
        label=label,
        taken_at="2027-01-04T09:00:00+00:00",
        finished_at=None,
        depth=settings.depth,
        scope=settings.source,
        options={**settings.remembered, "accounts_file": STAFF.name},
        state="interrupted",
    )


def refusal(given: TakeOptions, info: SnapshotInfo | None = None) -> OptionError:
    with pytest.raises(OptionError) as caught:
        resolve(given, info)
    return caught.value


def test_the_module_needs_no_click() -> None:
    tree = ast.parse(Path(options_module.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not [m for m in imported if m.split(".")[0] in ("click", "rich")]


# -- the label and what goes with --resume -----------------------------------------------


def test_the_label_is_given_once_as_argument_or_option() -> None:
    assert requested_label(TakeOptions(label_arg="jan", accounts_file=STAFF)) == "jan"
    assert requested_label(TakeOptions(label="jan", accounts_file=STAFF)) == "jan"
    assert requested_label(TakeOptions(label_arg="jan", label="jan", accounts_file=STAFF)) == "jan"
    assert requested_label(TakeOptions(accounts_file=STAFF)) is None  # the date, later
    with pytest.raises(OptionError, match="give the label once"):
        requested_label(TakeOptions(label_arg="jan", label="feb", accounts_file=STAFF))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (TakeOptions(accounts_file=STAFF, retry_failed=True), "--retry-failed goes with --resume"),
        (TakeOptions(accounts_file=STAFF, resume=True), "leave out --accounts"),
        (TakeOptions(label="jan"), r"--accounts FILE is required \(or --resume\)"),
    ],
)
def test_what_resume_takes_and_leaves_out(given: TakeOptions, message: str) -> None:
    with pytest.raises(OptionError, match=message) as caught:
        requested_label(given)
    assert caught.value.param_hint is None  # a combination, not one value


def test_resume_needs_no_accounts_file() -> None:
    given = TakeOptions(resume=True, retry_failed=True, label="jan")
    assert requested_label(given) == "jan"


# -- a new snapshot: the command line, then the defaults ---------------------------------


def test_imap_defaults_fill_what_the_command_line_leaves_out() -> None:
    s = resolve(TakeOptions(accounts_file=STAFF, host="imap.x.org", admin_user="admin"))
    assert (s.kind, s.mode, s.depth, s.source) == ("imap", "master", "quick", "imap://imap.x.org:993")
    assert isinstance(s.access, Access)
    access = (s.access.security, s.access.port, s.access.login_format)
    assert access == ("ssl", None, DEFAULT_LOGIN_FORMAT)
    assert s.access.admin_password is None  # the command asks for it: see password_for
    assert (s.password_for, s.password_env, s.credentials_file) == ("admin", None, None)
    assert (s.run.concurrency, s.run.timeout, s.run.retries) == (8, 120.0, 2)
    assert s.run.stop_after_refused == 5  # an admin login: stop when the first all refuse
    assert s.remembered == {
        "access": s.access.describe(),
        "depth": "quick",
        "older_than": None,
        "rules_file": None,
        "credentials_file": None,
        "password_env": None,
        "concurrency": 8,
        "timeout": 120.0,
        "retries": 2,
    }


def test_full_depth_has_a_longer_timeout_and_the_port_follows_the_security() -> None:
    s = resolve(
        TakeOptions(
            accounts_file=STAFF, host="h", admin_user="a", quick=False, security="starttls",
            older_than=5, rules_file=Path("rules.toml"), password_env="PW",
        )
    )  # fmt: skip
    assert (s.depth, s.run.timeout, s.source) == ("full", 1800.0, "imap://h:143")
    assert (s.older_than, s.rules_file, s.password_env) == (5, Path("rules.toml"), "PW")
    assert s.remembered["rules_file"] == "rules.toml" and s.remembered["password_env"] == "PW"
    given = TakeOptions(accounts_file=STAFF, host="h", admin_user="a", timeout=30.0, retries=0)
    s = resolve(given)
    assert (s.run.timeout, s.run.retries) == (30.0, 0)


def test_proxy_and_credentials_modes() -> None:
    proxy = resolve(TakeOptions(accounts_file=STAFF, host="h", admin_user="a", proxy_auth=True))
    assert (proxy.mode, proxy.password_for, proxy.run.stop_after_refused) == ("proxy", "a", 5)
    assert proxy.remembered["access"]["login_format"] is None  # master users only
    creds = resolve(
        TakeOptions(accounts_file=STAFF, host="h", credentials_file=Path("c.csv"), port=1143)
    )
    assert isinstance(creds.access, Access)
    assert (creds.mode, creds.credentials_file, creds.password_for) == (
        "credentials", Path("c.csv"), None,
    )  # fmt: skip
    assert creds.access.admin_user is None and creds.run.stop_after_refused is None
    assert creds.source == "imap://h:1143" and creds.remembered["credentials_file"] == "c.csv"


def test_ews_and_maildir_accesses() -> None:
    url = "https://mail.x.org/EWS/Exchange.asmx"
    ews = resolve(TakeOptions(accounts_file=STAFF, ews_url=url, admin_user="svc"))
    assert isinstance(ews.access, EwsAccess)
    assert (ews.kind, ews.mode, ews.source, ews.access.auth) == ("ews", "ews", url, "ntlm")
    assert ews.password_for == "svc" and ews.run.stop_after_refused == 5
    files = resolve(TakeOptions(accounts_file=STAFF, maildir_root=Path("/var/vmail")))
    assert isinstance(files.access, MaildirRoot)
    assert (files.kind, files.mode) == ("maildir", "maildir")
    assert files.access.pattern == DEFAULT_USER_PATTERN
    assert files.source == f"maildir://{Path('/var/vmail').resolve()}"
    assert files.password_for is None and files.run.stop_after_refused is None


# -- resuming: the command line wins, the snapshot fills in the rest ---------------------


def test_a_resumed_snapshot_fills_in_what_is_not_given_again() -> None:
    first = resolve(
        TakeOptions(
            accounts_file=STAFF, host="h", port=1993, security="starttls", admin_user="admin",
            login_format="{admin}#{user}", password_env="PW", quick=False, older_than=4,
            concurrency=3, timeout=45.0, retries=0, insecure_tls=True,
        )
    )  # fmt: skip
    again = resolve(TakeOptions(resume=True, label="jan"), resumed(first))
    assert isinstance(again.access, Access)
    assert again.access == first.access
    assert (again.source, again.depth, again.older_than, again.password_env) == (
        "imap://h:1993", "full", 4, "PW",
    )  # fmt: skip
    assert (again.run.concurrency, again.run.timeout, again.run.retries) == (3, 45.0, 0)
    # What the command line says wins.
    more = resolve(
        TakeOptions(resume=True, concurrency=16, quick=True, password_env="OTHER", port=993),
        resumed(first),
    )
    assert (more.run.concurrency, more.depth, more.password_env) == (16, "quick", "OTHER")
    assert isinstance(more.access, Access) and more.access.port == 993
    assert more.run.timeout == 45.0  # remembered, not the quick default


def test_a_resumed_credentials_snapshot_reads_the_same_file_again() -> None:
    first = resolve(TakeOptions(accounts_file=STAFF, host="h", credentials_file=Path("c.csv")))
    again = resolve(TakeOptions(resume=True), resumed(first))
    assert (again.mode, again.credentials_file) == ("credentials", Path("c.csv"))
    forgotten = resumed(first)
    forgotten.options["credentials_file"] = None
    e = refusal(TakeOptions(resume=True), forgotten)
    assert "--credentials FILE is required to resume" in e.message


def test_a_snapshot_is_resumed_the_way_it_was_taken() -> None:
    files = resolve(
        TakeOptions(accounts_file=STAFF, maildir_root=Path("/m"), user_pattern="{user}")
    )
    info = resumed(files, "week-1")
    again = resolve(TakeOptions(resume=True), info)
    assert isinstance(again.access, MaildirRoot)
    assert (again.access.root, again.access.pattern) == (Path("/m"), "{user}")
    e = refusal(TakeOptions(resume=True, host="h"), info)
    assert e.message == "snapshot week-1 was taken with --maildir-root: resume it the same way"
    imap = resumed(resolve(TakeOptions(accounts_file=STAFF, host="h", admin_user="a")))
    assert "was taken with --server" in refusal(TakeOptions(resume=True, ews_url="u"), imap).message
    ews = resumed(
        resolve(TakeOptions(accounts_file=STAFF, ews_url="u", admin_user="a", auth="basic"))
    )
    e = refusal(TakeOptions(resume=True, maildir_root=Path("/m")), ews)
    assert "was taken with --ews" in e.message
    again_ews = resolve(TakeOptions(resume=True, insecure_tls=True), ews)
    assert isinstance(again_ews.access, EwsAccess)
    assert (again_ews.access.auth, again_ews.access.insecure_tls) == ("basic", True)


# -- what does not go together -----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (TakeOptions(host="h", ews_url="u"), "choose one of --server (IMAP), --ews"),
        (TakeOptions(host="h", maildir_root=Path("/m")), "choose one of --server (IMAP), --ews"),
        (TakeOptions(host="h", admin_user="a", user_pattern="{user}"),
         "--user-pattern goes with --maildir-root"),
        (TakeOptions(host="h", admin_user="a", auth="ntlm"), "--auth goes with --ews"),
        (TakeOptions(host="h", admin_user="a", credentials_file=Path("c")),
         "choose one of --admin-user and --credentials"),
        (TakeOptions(host="h", proxy_auth=True, credentials_file=Path("c")),
         "choose one of --admin-user and --credentials"),
        (TakeOptions(admin_user="a"), "--server HOST is required"),
        (TakeOptions(host="h"), "give --admin-user (an admin or master user) or --credentials"),
        (TakeOptions(host="h", proxy_auth=True), "give --admin-user"),
        (TakeOptions(host="h", admin_user="a", proxy_auth=True, login_format="{user}"),
         "--login-format goes with --admin-user"),
        (TakeOptions(host="h", credentials_file=Path("c"), login_format="{user}"),
         "--login-format goes with --admin-user"),
        (TakeOptions(maildir_root=Path("/m"), admin_user="a", port=3, insecure_tls=True),
         "--port, --insecure-tls, --admin-user: options of a server, not for --maildir-root"),
        (TakeOptions(ews_url="u", admin_user="a", port=5, proxy_auth=True),
         "--port, --proxy-auth: IMAP options, not for --ews"),
        (TakeOptions(ews_url="u"), "give --admin-user: an Exchange account allowed"),
    ],
)
def test_combinations_refused(given: TakeOptions, message: str) -> None:
    e = refusal(given)
    assert message in e.message and e.param_hint is None


@pytest.mark.parametrize(
    ("given", "hint", "message"),
    [
        (TakeOptions(host="h", admin_user="a", login_format="{admin}"), "--login-format",
         "--login-format must contain {user}"),
        (TakeOptions(host="h", admin_user="a", login_format="{bad"), "--login-format",
         "--login-format may only use {user} and {admin}"),
        (TakeOptions(maildir_root=Path("/m"), user_pattern="plain"), "--user-pattern",
         "--user-pattern must contain {user} or {local}"),
        (TakeOptions(maildir_root=Path("/m"), user_pattern="/abs/{user}"), "--user-pattern",
         "--user-pattern is a path under --maildir-root"),
    ],
)
def test_values_refused_name_their_option(given: TakeOptions, hint: str, message: str) -> None:
    e = refusal(given)
    assert (e.param_hint, message in e.message) == (hint, True)


def test_refusals_speak_french() -> None:
    set_language("fr")
    assert refusal(TakeOptions(host="h", admin_user="a", auth="ntlm")).message == (
        "--auth va avec --ews"
    )


# -- compare -----------------------------------------------------------------------------


def test_the_co2_estimate_of_compare() -> None:
    assert resolve_compare(CompareOptions("jan", "feb")) is None
    co2 = resolve_compare(CompareOptions("jan", "feb", co2_factor=0.5))
    assert co2 is not None
    assert (co2.kg_per_gb_year, co2.source) == (0.5, "factor chosen by the admin")
    co2 = resolve_compare(CompareOptions("jan", "feb", co2_factor=0.4, co2_source="ADEME"))
    assert co2 is not None and co2.source == "ADEME"
    with pytest.raises(OptionError, match="--co2-source goes with --co2-factor"):
        resolve_compare(CompareOptions("jan", "feb", co2_source="ADEME"))
