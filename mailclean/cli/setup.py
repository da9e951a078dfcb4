"""Where things are, and the accounts: `config path`, `account add|list|remove|password|test`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from mailclean import config as cfg
from mailclean.console import err, fail, out
from mailclean.i18n import (
    _,
    ngettext,
    number,
    role,
)

if TYPE_CHECKING:
    from mailclean.connectors.base import Connector

from mailclean.cli import State
from mailclean.cli.common import _connector, _require_keyring

# -- where things are -----------------------------------------------------------------


@click.group("config")
def config_group() -> None:
    """Where mailclean keeps its files."""


@config_group.command("path")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def config_path(state: State, as_json: bool) -> None:
    """The configuration file, the rules file, the index and the data directory in use."""
    paths = {
        "config": str(state.config_path),
        "rules": str(cfg.default_rules_path(state.config_path)),
        "index": str(state.db_path),
        "data": str(cfg.data_dir()),
    }
    if as_json:
        click.echo(json.dumps(paths, ensure_ascii=False, indent=2))
        return
    labels = {"config": _("configuration"), "rules": _("rules"), "index": _("index"),
              "data": _("data directory")}
    for key, path in paths.items():
        exists = Path(path).exists()
        out.print(f"{labels[key]}: {path}" + ("" if exists else " " + _("(not created yet)")))


# -- accounts -------------------------------------------------------------------------


@click.group()
def account() -> None:
    """Add, list and remove the mailboxes mailclean knows."""


@account.command("add")
@click.argument("name")
@click.option("--imap", "host", metavar="HOST", help="IMAP server name.")
@click.option(
    "--ews",
    "ews_url",
    metavar="URL|autodiscover",
    help="Exchange: the EWS URL (https://mail.example.org/EWS/Exchange.asmx) or autodiscover.",
)
@click.option("--graph", "use_graph", is_flag=True,
              help="Exchange Online (Microsoft 365) through Microsoft Graph.")
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), help="Local Maildir.")
@click.option("--port", type=click.IntRange(1, 65535), help="Server port (993, or 143).")
@click.option("--user", help="Login name (Exchange: DOMAIN\\user or user@domain).")
@click.option("--address", help="E-mail address of the mailbox (default: the login if it has @).")
@click.option("--email", help="Exchange: the mailbox's address (default: the login if it has @).")
@click.option(
    "--auth",
    # Checked again by the connector of the kind.
    type=click.Choice(["ntlm", "basic", "oauth2", "device-code", "client-secret", "certificate",
                       "token"]),
    help="Exchange: how to log in (default: ntlm; oauth2 needs --client-id and --tenant-id). "
         "Graph: device-code (default: an agent signs in once in a browser), client-secret "
         "or certificate (an administrator's application), token (--token-env).",
)
@click.option("--client-id", help="Exchange with OAuth2, Graph: the application (client) id.")
@click.option("--tenant-id", help="Exchange with OAuth2, Graph: the directory (tenant) id.")
@click.option("--client-secret-env", metavar="VAR",
              help="Graph, --auth client-secret: the variable holding the client secret.")
@click.option("--certificate", type=click.Path(dir_okay=False, exists=True),
              help="Graph, --auth certificate: a PEM file with the certificate and its key.")
@click.option("--token-env", metavar="VAR",
              help="Graph, --auth token: the variable holding a bearer token.")
@click.option("--graph-url", metavar="URL",
              help="Graph: the endpoint (default https://graph.microsoft.com/v1.0).")
@click.option("--authority-url", metavar="URL",
              help="Graph: the sign-in authority (default https://login.microsoftonline.com).")
@click.option(
    "--security",
    type=click.Choice(["ssl", "starttls", "none"]),
    default="ssl",
    show_default=True,
    help="Implicit TLS, STARTTLS, or no encryption (local test servers only).",
)
@click.option("--password-env", metavar="VAR", help="Read the password from this variable.")
@click.option("--keyring", "use_keyring", is_flag=True, help="Ask once, keep it in the keyring.")
@click.option("--insecure-tls", is_flag=True, help="Do NOT verify the server's TLS certificate.")
@click.option("--cafile", type=click.Path(dir_okay=False, exists=True), help="Extra CA bundle.")
@click.option("--replace", is_flag=True, help="Overwrite an account of the same name.")
@click.pass_obj
def account_add(
    state: State,
    name: str,
    host: str | None,
    ews_url: str | None,
    use_graph: bool,
    maildir: Path | None,
    port: int | None,
    user: str | None,
    address: str | None,
    email: str | None,
    auth: str | None,
    client_id: str | None,
    tenant_id: str | None,
    client_secret_env: str | None,
    certificate: str | None,
    token_env: str | None,
    graph_url: str | None,
    authority_url: str | None,
    security: str,
    password_env: str | None,
    use_keyring: bool,
    insecure_tls: bool,
    cafile: str | None,
    replace: bool,
) -> None:
    """Add an account: IMAP (--imap), Exchange (--ews), Microsoft 365 (--graph) or a local
    Maildir (--maildir)."""
    if sum(1 for given in (host, ews_url, use_graph, maildir) if given) != 1:
        fail(_("give either --imap HOST or --maildir PATH (or --ews URL for Exchange, or "
               "--graph for Microsoft 365)"))
    config = state.config()
    if use_graph:
        acc = cfg.AccountConfig(
            name=name, kind="graph", email=email or address, auth=auth or "device-code",
            tenant_id=tenant_id, client_id=client_id, client_secret_env=client_secret_env,
            certificate=str(Path(certificate).expanduser().resolve()) if certificate else None,
            token_env=token_env, graph_url=graph_url, authority_url=authority_url,
            insecure_tls=insecure_tls, cafile=cafile, password="",
        )
        config.add(acc, replace=replace)
        config.save()
        _graph_added(acc, config.path)
        return
    if password_env and use_keyring and not maildir:
        fail(_("choose one of --password-env and --keyring"))
    source = "env" if password_env else "keyring" if use_keyring else "prompt"
    acc = _account_config(
        name, host=host, port=port, ews_url=ews_url, maildir=maildir, user=user,
        address=address, email=email, auth=auth, client_id=client_id, tenant_id=tenant_id,
        security=security, source=source, password_env=password_env,
        insecure_tls=insecure_tls, cafile=cafile,
    )
    config.add(acc, replace=replace)
    if acc.password == "keyring":
        _require_keyring()
        cfg.store_password(name, click.prompt(_("Password"), hide_input=True))
    config.save()
    if insecure_tls:
        where = host or (ews_url or "").split("//", 1)[-1].split("/", 1)[0]
        warning = _("warning: the TLS certificate of {host} will not be verified")
        err.print(warning.format(host=where))
    out.print(_("account {name} added to {path}").format(name=name, path=config.path))


def _account_config(
    name: str,
    *,
    host: str | None,
    port: int | None,
    ews_url: str | None,
    maildir: Path | None,
    user: str | None,
    address: str | None,
    email: str | None,
    auth: str | None,
    client_id: str | None,
    tenant_id: str | None,
    security: str,
    source: str,
    password_env: str | None,
    insecure_tls: bool,
    cafile: str | None,
) -> cfg.AccountConfig:
    """A Maildir, Exchange (EWS) or IMAP account from the options of `account add`;
    ``source`` is where its password comes from ("env", "keyring" or "prompt")."""
    if maildir:
        acc = cfg.AccountConfig(name=name, kind="maildir", path=str(maildir.expanduser()))
    elif ews_url:
        acc = cfg.AccountConfig(
            name=name,
            kind="ews",
            ews_url=ews_url,
            email=email or address or (user if user and "@" in user else None),
            user=user,
            auth=auth,
            client_id=client_id,
            tenant_id=tenant_id,
            password=source,
            password_env=password_env,
            insecure_tls=insecure_tls,
            cafile=cafile,
        )
    else:
        if not user:
            fail(_("--user is required for an IMAP account"))
        acc = cfg.AccountConfig(
            name=name,
            kind="imap",
            host=host,
            port=port,
            user=user,
            security=security,
            password=source,
            password_env=password_env,
            insecure_tls=insecure_tls,
            cafile=cafile,
            address=address or (user if user and "@" in user else None),
        )
    return acc


def _graph_added(acc: cfg.AccountConfig, path: Path) -> None:
    """After a Graph account is saved: sign in now when it is an agent's (device code, the
    one sign-in that needs a person), else say how to check it."""
    out.print(_("account {name} added to {path}").format(name=acc.name, path=path))
    if acc.insecure_tls:
        err.print(_("warning: the TLS certificate of {host} will not be verified").format(
            host=(acc.graph_url or "graph.microsoft.com").split("//", 1)[-1].split("/", 1)[0]))
    if acc.auth != "device-code":
        out.print(_("check it with: mailclean account test {name}").format(name=acc.name))
        return
    if not _has_keyring():
        err.print(_("warning: this machine has no usable system keyring, where the "
                    "Microsoft 365 sign-in is kept: every later command will ask to sign in "
                    "again with 'mailclean account test {name}'").format(name=acc.name),
                  style="yellow")
    _sign_in(acc)


def _has_keyring() -> bool:
    """Whether a system keyring can keep a token (the test of :func:`_require_keyring`)."""
    import keyring
    from keyring.backends import chainer
    from keyring.backends import fail as failing

    backend = keyring.get_keyring()
    return not (isinstance(backend, failing.Keyring) or (
        isinstance(backend, chainer.ChainerBackend) and not backend.backends))


def _may_sign_in(connector: Connector) -> Connector:
    """Let a Graph connector show its sign-in instructions here: it asks for a sign-in
    only through this callback (commands that must not prompt leave it unset, and say
    which command to run)."""
    if hasattr(connector, "on_device_code"):
        connector.on_device_code = lambda text: err.print(text, style="bold")
    return connector


def _sign_in(acc: cfg.AccountConfig) -> None:
    """Connect a Graph account, showing the device-code instructions if it must sign in."""
    connector = _may_sign_in(_connector(acc))
    connector.connect()
    try:
        folders = connector.list_folders()
    finally:
        connector.close()
    out.print(ngettext("{email}: signed in to Microsoft 365, {n} folder",
                       "{email}: signed in to Microsoft 365, {n} folders", len(folders))
              .format(email=acc.email, n=number(len(folders))))


@account.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def account_list(state: State, as_json: bool) -> None:
    """List the configured accounts."""
    config = state.config()
    rows = [
        {
            "name": a.name,
            "kind": a.kind,
            "server": f"{a.host}:{a.port or (993 if a.security == 'ssl' else 143)}"
            if a.kind == "imap"
            else a.path,
            "user": a.user,
            "security": a.security if a.kind == "imap" else None,
            "password": a.password if a.kind == "imap" else None,
        }
        for a in config.accounts.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        out.print(_("no account yet: 'mailclean account add' adds one"))
        return
    table = Table(box=None)
    for col in (_("Account"), _("Kind"), _("Server"), _("User"), _("Password")):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["kind"], r["server"], r["user"] or "", r["password"] or "")
    out.print(table)


@account.command("remove")
@click.argument("name")
@click.option("--keep-index", is_flag=True, help="Keep what the index holds for it.")
@click.pass_obj
def account_remove(state: State, name: str, keep_index: bool) -> None:
    """Remove an account from the configuration (and its index data, its keyring entry)."""
    config = state.config()
    acc = config.remove(name)
    config.save()
    if acc.password == "keyring":
        cfg.delete_password(name)
    if acc.kind in ("ews", "graph"):
        cfg.delete_password(f"{name}:oauth2-token")
    if not keep_index:
        index = state.index()
        index.remove_account(name)
        index.close()
    out.print(_("account {name} removed").format(name=name))


@account.command("password")
@click.argument("name")
@click.pass_obj
def account_password(state: State, name: str) -> None:
    """Store (or change) the account's password in the system keyring."""
    config = state.config()
    acc = config.account(name)
    if acc.kind != "imap":
        fail(_("account {name} needs no password").format(name=name))
    _require_keyring()
    cfg.store_password(name, click.prompt(_("Password"), hide_input=True))
    if acc.password != "keyring":
        acc.password, acc.password_env = "keyring", None
        config.save()
    out.print(_("password of {name} stored in the system keyring").format(name=name))


@account.command("test")
@click.argument("name", required=False)
@click.pass_obj
def account_test(state: State, name: str | None) -> None:
    """Log in and list the folders, to check the account's settings."""
    acc = state.config().account(name)
    # A Graph account signs in (again) here when it must.
    connector = _may_sign_in(_connector(acc))
    connector.connect()
    try:
        folders = connector.list_folders()
    finally:
        connector.close()
    out.print(
        ngettext("{name}: login OK, {n} folder", "{name}: login OK, {n} folders", len(folders))
        .format(name=acc.name, n=len(folders))
    )
    table = Table(box=None)
    for col, justify in ((_("Folder"), "left"), (_("Role"), "left"), (_("Messages"), "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for f in sorted(folders, key=lambda f: (f.role != "inbox", f.path.lower())):
        table.add_row(f.path, role(f.role) if f.role else "",
                      number(f.messages) if f.messages is not None else "–")
    out.print(table)
