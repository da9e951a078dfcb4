"""mailclean: index mailboxes locally, find what weighs, clean safely, measure the volume freed."""

__version__ = "0.1.0"
