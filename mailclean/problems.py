"""What could not be read in a message, in words people understand, in their language.

The index keeps each problem as a short technical note (``message: CloseBoundaryNotFound
Defect at 2``, ``bodystructure: truncated part at 1.3``, ``no RFC822.SIZE``): stable data
that tests and bug reports can rely on. What is shown is :func:`describe`'s sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from mailclean.i18n import _, ngettext

_NOTE = re.compile(r"^(?:(message|bodystructure): )?(.*?)(?: at ([\w.]+))?$")

#: Python's email defects (email.errors) by name, in words.
_DEFECTS: dict[str, Callable[[], str]] = {
    "CloseBoundaryNotFoundDefect": lambda: _("a multipart section is never closed (its end "
                                             "marker is missing)"),
    "StartBoundaryNotFoundDefect": lambda: _("a multipart section never starts (its start "
                                             "marker is missing)"),
    "NoBoundaryInMultipartDefect": lambda: _("a multipart section does not say how its "
                                             "parts are separated"),
    "MultipartInvariantViolationDefect": lambda: _("a section declared multipart holds no "
                                                   "parts"),
    "MissingHeaderBodySeparatorDefect": lambda: _("the headers are not followed by a blank "
                                                  "line"),
    "FirstHeaderLineIsContinuationDefect": lambda: _("the headers start in the middle of "
                                                     "a line"),
    "MisplacedEnvelopeHeaderDefect": lambda: _("a mailbox separator line is inside the "
                                               "headers"),
    "InvalidBase64PaddingDefect": lambda: _("an attachment's encoding (base64) is damaged"),
    "InvalidBase64CharactersDefect": lambda: _("an attachment's encoding (base64) is "
                                               "damaged"),
    "InvalidBase64LengthDefect": lambda: _("an attachment's encoding (base64) is damaged"),
    "InvalidMultipartContentTransferEncodingDefect": lambda: _("a multipart section has an "
                                                               "encoding it may not have"),
    "UndecodableBytesDefect": lambda: _("some text is in no known character set"),
    "NonASCIILocalPartDefect": lambda: _("an address has characters it may not have"),
    "InvalidHeaderDefect": lambda: _("a header is malformed"),
    "HeaderMissingRequiredValue": lambda: _("a header has no value"),
    "NonPrintableDefect": lambda: _("a header holds characters that cannot be printed"),
    "ObsoleteHeaderDefect": lambda: _("a header uses an obsolete form"),
    "InvalidDateDefect": lambda: _("a date cannot be read"),
}

_NOTES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^no RFC822\.SIZE$"), lambda m: _("the server gave no size")),
    (re.compile(r"^no item size$"), lambda m: _("the server gave no size")),
    (re.compile(r"^unreadable Date header$"), lambda m: _("the Date header cannot be read")),
    (re.compile(r"^nesting deeper than (\d+)$"),
     lambda m: _("parts are nested more than {n} levels deep").format(n=m[1])),
    (re.compile(r"^unreadable part$"), lambda m: _("a part cannot be read")),
    (re.compile(r"^truncated part$"), lambda m: _("a part is cut short")),
    (re.compile(r"^unmeasurable \w+$"), lambda m: _("a part's size cannot be measured")),
    (re.compile(r"^internal error \w+$"), lambda m: _("its structure could not be read")),
]


def describe(note: str) -> str:
    """One problem note in words ("a multipart section is never closed (…), in part 2")."""
    m = _NOTE.match(note.strip())
    if m is None:  # pragma: no cover - the pattern matches any text
        return note
    kind, what, where = m[1], m[2], m[3]
    words: str | None = None
    defect = _DEFECTS.get(what)
    if defect is not None:
        words = defect()
    elif what.endswith("Defect"):
        words = _("the structure is damaged ({defect})").format(defect=what)
    else:
        for pattern, say in _NOTES:
            found = pattern.match(what)
            if found:
                words = say(found)
                break
    if words is None:
        if kind == "bodystructure":
            words = _("the server's description of its structure is damaged ({what})").format(
                what=what)
        else:
            return note
    if where and where != "top":
        return _("{words}, in part {part}").format(words=words, part=where)
    return words


def summarize(notes: Iterable[str], limit: int = 3) -> str:
    """The first distinct problems in words, and how many more there are ("" if none)."""
    unique = list(dict.fromkeys(describe(n) for n in notes if isinstance(n, str) and n.strip()))
    if not unique:
        return ""
    line = "; ".join(unique[:limit])
    if len(unique) > limit:
        more = len(unique) - limit
        line += " " + ngettext("(and {n} more)", "(and {n} more)", more).format(n=more)
    return line if len(line) <= 240 else line[:239] + "…"
