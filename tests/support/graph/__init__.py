"""A loopback Microsoft Graph and identity platform server for the tests (see
:mod:`tests.support.graph.server`)."""

from tests.support.graph.server import GraphServer
from tests.support.graph.store import Store

__all__ = ["GraphServer", "Store"]
