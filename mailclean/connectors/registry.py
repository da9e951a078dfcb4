"""Which connector serves which kind of account: the ``mailclean.connectors`` entry points.

Built-in connectors are found through the same entry points a third party declares in
its own ``pyproject.toml``; :data:`BUILTIN` is used only when mailclean runs from a source
tree that was never installed. Nothing here reads the config: the config asks this module
which kinds exist and lets each connector check its own settings
(:meth:`~mailclean.connectors.base.Connector.account_problems`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from mailclean.connectors.base import Connector, ConnectorError
from mailclean.i18n import _

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

#: Entry-point group of connectors.
GROUP = "mailclean.connectors"

#: The built-in connectors, as pyproject.toml declares them.
BUILTIN = {
    "imap": "mailclean.connectors.imap:ImapConnector",
    "maildir": "mailclean.connectors.maildir:MaildirConnector",
    "ews": "mailclean.connectors.ews:EwsConnector",
    "graph": "mailclean.connectors.graph:GraphConnector",
}


@functools.cache
def registered() -> dict[str, EntryPoint]:
    """The installed connectors' entry points, by kind: read once (the installed packages
    do not change while mailclean runs, and reading them costs ~20 ms)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def kinds() -> tuple[str, ...]:
    """Every kind of account a connector is installed for, sorted."""
    return tuple(sorted(set(registered()) | set(BUILTIN)))


def connector_class(kind: str) -> type[Connector]:
    """The connector class registered for accounts of ``kind``."""
    from importlib import import_module

    ep = registered().get(kind)
    if ep is not None:
        loaded = ep.load()
    elif kind in BUILTIN:
        module, name = BUILTIN[kind].split(":")
        loaded = getattr(import_module(module), name)
    else:
        raise ConnectorError(_("no connector for accounts of kind {kind!r}").format(kind=kind))
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        raise ConnectorError(f"the {kind!r} connector entry point is not a Connector")
    return loaded
