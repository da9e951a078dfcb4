"""Accounts and settings: TOML round trip, validation messages, secrets kept out."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mailclean import config as cfg


def imap_account(**kw: object) -> cfg.AccountConfig:
    base: dict = dict(
        name="work",
        kind="imap",
        host="mail.example.org",
        user="jdupont",
        password="env",
        password_env="MAIL_PW",
    )
    base.update(kw)
    return cfg.AccountConfig(**base)


def test_round_trip_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    config = cfg.load(path)
    assert config.accounts == {}
    config.add(imap_account(port=1993, insecure_tls=True))
    config.add(cfg.AccountConfig(name="local", kind="maildir", path="/tmp/Maildir"))
    config.settings["lang"] = "fr"
    config.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = cfg.load(path)
    assert again.settings == {"lang": "fr"}
    assert again.account("work") == imap_account(port=1993, insecure_tls=True)
    assert again.account("local").path == "/tmp/Maildir"


def test_password_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_PW", "s3cr3t-value")
    config = cfg.load(tmp_path / "c.toml")
    config.add(imap_account())
    config.save()
    assert cfg.get_password(config.account("work")) == "s3cr3t-value"
    assert "s3cr3t-value" not in (tmp_path / "c.toml").read_text()


def test_password_sources_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAIL_PW", raising=False)
    with pytest.raises(cfg.ConfigError, match="MAIL_PW, which is not set"):
        cfg.get_password(imap_account())
    with pytest.raises(cfg.ConfigError, match="no terminal"):
        cfg.get_password(imap_account(password="prompt"))
    assert cfg.get_password(imap_account(password="prompt"), lambda text: "typed") == "typed"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts = [", "not valid TOML"),
        ("[accounts.w]\nkind = 'pop3'", "kind must be one of"),
        ("[accounts.w]\nkind = 'imap'\nuser = 'u'", "'host' is missing"),
        (
            "[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\nport = 'x'",
            "port must be a whole number",
        ),
        (
            "[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\npassword = 'hunter2'",
            "never goes in this file",
        ),
        ("[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\ncolour = 1", "unknown key"),
        ("accounts = 3", "must be a table"),
        ("[accounts.w]\nkind = 'maildir'", "'path' is missing"),
    ],
)
def test_corrupt_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.load(path)


def test_account_lookup(tmp_path: Path) -> None:
    config = cfg.load(tmp_path / "none.toml")
    with pytest.raises(cfg.ConfigError, match="no account is configured"):
        config.account(None)
    config.add(imap_account())
    assert config.account(None).name == "work"
    config.add(imap_account(name="other"))
    with pytest.raises(cfg.ConfigError, match="several accounts"):
        config.account(None)
    with pytest.raises(cfg.ConfigError, match=r"unknown account 'nope'.*other, work"):
        config.account("nope")
    with pytest.raises(cfg.ConfigError, match="already exists"):
        config.add(imap_account())


def test_paths_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCLEAN_CONFIG", str(tmp_path / "x.toml"))
    monkeypatch.setenv("MAILCLEAN_DB", str(tmp_path / "x.db"))
    assert cfg.default_config_path() == tmp_path / "x.toml"
    assert cfg.default_db_path() == tmp_path / "x.db"


# -- validation: every mistake, with file, table, key and the nearest valid key ------------


def load_error(tmp_path: Path, text: str) -> cfg.ConfigError:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(path)
    for line in info.value.errors:  # each mistake names the file
        assert line.startswith(str(path)), line
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[protect]\nsender = ['maire@mairie-exemple.fr']",
         "table 'protect': unknown key 'sender'; did you mean 'senders'? "
         "(valid keys: senders, domains, folders, keywords)"),
        ("[protect]\ndomains = 'tresor.gouv.fr'",
         "table 'protect', key 'domains': a list of texts is expected"),
        ("[protect]\nkeywords = ['']", "key 'keywords': an empty text would protect every"),
        ("[protect]\nkeywords = " + str([f"k{i}" for i in range(251)]),
         "key 'keywords': at most 250 texts, not 251"),
        ("protect = 3", "table 'protect' must be a table"),
        ("[setings]\nlang = 'fr'", "unknown table 'setings'; did you mean 'settings'? "
         "(tables: accounts, protect, settings)"),
        ("[settings]\nlangue = 'fr'", "table 'settings': unknown key 'langue'; did you mean "
         "'lang'? (valid keys: lang, timeout, deadline)"),
        ("[settings]\ndeadline = 1e9", "key 'deadline': must be a number of seconds from 10 "
         "to 3600, not 1000000000.0"),
        ("[settings]\ntimeout = true", "key 'timeout': must be a number of seconds from 5"),
        ("[settings]\ntimeout = '30'", "key 'timeout': must be a number of seconds from 5"),
        ("[settings]\nlang = 'french'", "table 'settings', key 'lang': must be one of en, fr"),
        ("[settings]\nlang = 1", "key 'lang': must be one of en, fr, not 1"),
        ("[accounts.w]\nkind = 'imap'\nhots = 'h'\nuser = 'u'",
         "account 'w': unknown key 'hots'; did you mean 'host'?"),
        ("[accounts.w]\nkind = 'maildri'\npath = '/m'", "not 'maildri'; did you mean 'maildir'?"),
        ("[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\nport = true",
         "account 'w': port must be a whole number, not true"),
        ("[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\nport = 99999",
         "port 99999 is not a TCP port"),
        ("[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\nsecurity = 'tls'",
         "security must be one of ssl, starttls, none, not 'tls'"),
        ("[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\npassword = 'Keyring'",
         "password must be one of env, keyring, prompt; did you mean 'keyring'?"),
        ("[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\nname = 'x'",
         "unknown key 'name': the account's name is its table's"),
        ("[accounts]\nw = 3", "account 'w' must be a table"),
        ("[accounts.w]\nkind = 'imap'\nport = " + "9" * 5000, "not valid TOML"),  # no crash
    ],
    ids=lambda value: value[:40],
)
def test_config_errors_name_file_table_key_and_suggest(
    tmp_path: Path, text: str, message: str
) -> None:
    assert message in str(load_error(tmp_path, text))


def test_config_lists_every_mistake(tmp_path: Path) -> None:
    error = load_error(tmp_path, (
        "[settings]\nlang = 'de'\n[protect]\nsender = ['a@b.c']\nfolders = 'x'\n"
        "[accounts.a]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\nprot = 993\n"
        "[accounts.b]\nkind = 'maildir'\n"
    ))
    assert len(error.errors) == 5, error.errors
    for fragment, line in zip(
        ["key 'lang'", "unknown key 'sender'", "key 'folders'", "unknown key 'prot'",
         "account 'b': 'path' is missing"], error.errors, strict=True
    ):
        assert fragment in line


@pytest.mark.parametrize(
    "account",
    [
        "password = 'Hunter2Secret'",
        "password = 'Hunter2Secret '",
        "password = ['Hunter2Secret']",
        "password = 'env'\nclient_secret = 'Hunter2Secret'",
        "password = 'env'\npassword_env = 'X'\nmot_de_passe = 'Hunter2Secret'",
    ],
)
def test_a_secret_in_the_config_is_never_shown(tmp_path: Path, account: str) -> None:
    for kind in ("kind = 'imap'\nhost = 'h'\nuser = 'u'",
                 "kind = 'ews'\news_url = 'autodiscover'\nemail = 'a@b.c'"):
        error = load_error(tmp_path, f"[accounts.w]\n{kind}\n{account}\n")
        assert "Hunter2Secret" not in str(error)
        assert "never go" in str(error)  # "never goes in this file" / "secrets never go..."
        if account.startswith("password = ") and "env" not in account:
            assert "password must be one of env, keyring, prompt" in str(error)


def test_an_ews_url_is_not_shown_back(tmp_path: Path) -> None:
    """A URL may carry a login and password (user:pass@host)."""
    error = load_error(tmp_path, "[accounts.w]\nkind = 'ews'\news_url = 'jd:Hunter2@m.example/EWS'"
                                 "\nemail = 'a@b.c'\n")
    assert "must be an http(s) URL" in str(error) and "Hunter2" not in str(error)


def test_a_valid_config_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[settings]\nlang = 'fr'\n[protect]\nsenders = ['maire@mairie-exemple.fr']\n"
        "domains = ['tresor.gouv.fr']\n[accounts.w]\nkind = 'imap'\nhost = 'h'\nuser = 'u'\n"
        "port = 993\npassword = 'keyring'\n"
    )
    config = cfg.load(path)
    assert config.settings == {"lang": "fr"} and config.account("w").port == 993
    assert config.protect["domains"] == ["tresor.gouv.fr"]


def test_the_cli_shows_config_mistakes_with_file_table_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tester's "mailclean: : unknown key 'sender'": the file and table were lost."""
    from click.testing import CliRunner

    from mailclean.cli import cli

    path = tmp_path / "config.toml"
    path.write_text("[protect]\nsender = ['maire@mairie-exemple.fr']\n")
    monkeypatch.setenv("MAILCLEAN_CONFIG", str(path))
    monkeypatch.setenv("MAILCLEAN_DB", str(tmp_path / "index.db"))
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (f"mailclean: {path}: table 'protect': unknown key 'sender'; did you mean 'senders'?"
            in result.output)


def test_the_network_waits_come_from_the_settings(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13.8: the overall deadline is configurable; the command line applies it, and
    new connectors and retriers use it."""
    from click.testing import CliRunner

    from mailclean import retry
    from mailclean.cli import cli
    from mailclean.connectors.imap import ImapSettings

    path = tmp_path / "config.toml"
    path.write_text("[settings]\ntimeout = 7\ndeadline = 45\n", encoding="utf-8")
    monkeypatch.setattr(retry, "NETWORK", retry.Network())
    monkeypatch.setattr("mailclean.connectors.imap.settings.NETWORK", retry.NETWORK)
    result = CliRunner().invoke(cli, ["--config", str(path), "account", "list"])
    assert result.exit_code == 0, result.output
    assert (retry.NETWORK.timeout, retry.NETWORK.deadline) == (7.0, 45.0)
    assert retry.Retrier().deadline == 45.0
    assert ImapSettings(host="h", port=None, user="u", password="p").timeout == 7.0
    retry.configure()
    assert retry.Retrier().deadline == retry.DEFAULT_DEADLINE == 120.0
