"""How much the Graph connector asks for per request, and how long it waits.

Read as ``limits.NAME`` where they are used, so that a test or a benchmark can change one
here (:class:`~mailclean.connectors.graph.GraphSettings` takes the defaults).
"""

from __future__ import annotations

#: Requests in flight per mailbox: Exchange Online's documented limit (a fifth concurrent
#: request to one mailbox is answered 429 MailboxConcurrency).
MAX_IN_FLIGHT = 4
#: Messages per delta page (``Prefer: odata.maxpagesize``). Each message with its internet
#: headers weighs 2-4 KB of JSON, so a page stays around 1-2 MB.
PAGE_SIZE = 500
#: Requests per ``$batch``: the most Graph accepts.
BATCH_SIZE = 20
#: Folders per page of ``mailFolders`` and ``childFolders``.
FOLDER_PAGE = 250
#: Attempts of a request that failed on the network (not answered), idempotent ones only.
NETWORK_ATTEMPTS = 3
#: First back-off in seconds when the server gives no Retry-After; doubled each time, with
#: jitter, and never longer than :data:`MAX_BACKOFF`.
BACKOFF = 1.0
MAX_BACKOFF = 60.0
#: Messages exported in parallel (one ``$value`` request each).
EXPORT_PARALLEL = 4
