"""How much is asked of the server per command.

Read as ``limits.NAME`` where they are used, so that a test or a benchmark can change one
here.
"""

from __future__ import annotations

#: Messages per FETCH command: large enough to amortise round trips, small enough that
#: a chunk is committed every second or so and client memory stays flat.
FETCH_CHUNK = 500
#: From this many new messages in a folder, parsing moves to worker processes so that
#: reading the next chunk, parsing this one and storing the last one overlap. Below it,
#: starting the workers costs more than it saves.
PARALLEL_FROM = 2_000
#: Messages per FETCH (RFC822.SIZE) when a folder's size is summed by hand.
SIZE_CHUNK = 20_000

#: UIDs per identity-check FETCH, and per MOVE/COPY/STORE/EXPUNGE command. Sequence sets
#: compress ranges, so the command line stays under the server's limit either way.
VERIFY_CHUNK = 5_000
ACTION_CHUNK = 2_000
#: Bytes of whole messages asked for in one FETCH when exporting.
FETCH_BYTES = 8_000_000
