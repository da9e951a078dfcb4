"""TLS contexts for the connections mailclean opens, from the user's CA file."""

from __future__ import annotations

import ssl

from mailclean.i18n import _


class CafileError(ValueError):
    """The CA file cannot be used (missing, unreadable, not PEM certificates); the message
    says which file and what to give instead."""


def client_context(cafile: str | None, insecure: bool = False) -> ssl.SSLContext:
    """A client context that trusts the system's CAs, or ``cafile``'s when given; no check
    of the server's certificate when ``insecure``. CafileError for a file that is not a CA
    bundle (a traceback from the ssl module otherwise)."""
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise CafileError(_(
            "{path}: not a CA file mailclean can use ({reason}): give a PEM file of the "
            "certificates to trust (--cafile)").format(path=cafile, reason=reason)) from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
