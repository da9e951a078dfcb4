"""Outside text made safe for a terminal: no control characters, no rich markup.

Subjects, sender names, folder names, file names, rule names from a user's file, server
error texts: all of it comes from outside and may hold terminal escapes (ESC sequences
that clear the screen, OSC 52 writes to the clipboard, bidirectional overrides that make
text read backwards) or square brackets that rich would read as markup (``[/bold]``
raises MarkupError). Everything printed goes through :func:`plain` (when printed without
markup) or :func:`markup` (when it is placed inside a markup string).
"""

from __future__ import annotations

import re

from rich.markup import escape

#: C0 controls but tab and newline, DEL, C1 controls, and the Unicode format characters
#: that reorder or hide text (bidi embeddings, overrides and isolates; zero-width marks
#: are left: they are harmless and common in real names).
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufff9-\ufffb]"
)
_CONTROL_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb]"
)


def plain(value: object, *, one_line: bool = True) -> str:
    """``value`` as text with control characters replaced: safe to print without markup.

    With ``one_line`` (the default), newlines and tabs become spaces too, so a subject
    cannot break a table row or a progress line. ``None`` becomes the empty string.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    pattern = _CONTROL_ONE_LINE if one_line else _CONTROL
    if pattern.search(text) is None:
        return text
    if one_line:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    return pattern.sub("\ufffd", text)


def markup(value: object, *, one_line: bool = True) -> str:
    """``value`` safe to place inside a rich markup string: :func:`plain`, then escaped."""
    text = plain(value, one_line=one_line)
    run = len(text) - len(text.rstrip("\\"))
    if run:
        # rich's escape() doubles one trailing backslash, not a run: three of them placed
        # before a tag escape it, and its closing tag then closes nothing (MarkupError).
        return escape(text[:-run]) + "\\" * (2 * run)
    return escape(text)
