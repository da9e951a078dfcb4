"""Connectors: one per protocol, all behind :class:`mailclean.connectors.base.Connector`.

Each is registered as a ``mailclean.connectors`` entry point (pyproject.toml), the built-in
ones as a third-party package would register its own, and :mod:`mailclean.plugins` builds
one from an account. Connectors know their protocol only: they never import the config,
the command line or the app (tests/test_layers.py checks it).
"""
