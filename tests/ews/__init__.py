"""A loopback Exchange Web Services server for the tests (see :mod:`tests.ews.server`)."""

from tests.ews.server import EwsServer
from tests.ews.store import Store

__all__ = ["EwsServer", "Store"]
