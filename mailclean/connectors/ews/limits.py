"""How much EWS asks for per request: page sizes and chunk sizes.

Read as ``limits.NAME`` where they are used, so that a test or a benchmark can change one
here (:class:`~mailclean.connectors.ews.EwsSettings` takes the page and chunk defaults).
"""

from __future__ import annotations

#: SyncFolderItems changes per request: the most the EWS schema allows.
SYNC_PAGE = 512
#: Items per GetItem request. Larger chunks mean fewer round trips; each item with its
#: headers weighs 2-5 KB of XML, so 256 keeps a response around a megabyte.
FETCH_CHUNK = 256
#: Folders per FindFolder page.
FOLDER_PAGE = 1000
#: Item ids per GetItem (identity check), MoveItem and DeleteItem request of an action.
#: Exchange takes about 1,000 ids per request; 500 is where the loopback measurements stop
#: improving (bench/ews_actions.py: 100, 250, 500) while keeping each answer small.
ACTION_CHUNK = 500
#: Bytes of messages per GetItem of MimeContent (an export): the XML carries them in base64,
#: a third more. A larger message goes alone.
EXPORT_BYTES = 8 * 2**20
#: Messages per GetItem of MimeContent, whatever their size.
EXPORT_CHUNK = 100
#: Message-IDs per FindItem restriction when looking for moved messages (undo, reconcile).
LOCATE_CHUNK = 50
#: Items per FindItem page when looking for them.
LOCATE_PAGE = 1000
