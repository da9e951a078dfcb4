"""Modal screens: help, confirmation, progress, password."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static

from mailclean.i18n import _, ngettext, number, percent, size
from mailclean.safetext import plain
from mailclean.tui.text import N_, TranslatedBindings, keys_text

#: (section, [(keys, what they do)]); texts are translated when the help is shown. Keys
#: are textual's names ("space", "pageup"), two spaces between groups: see keys_text.
HELP: list[tuple[str, list[tuple[str, str]]]] = [
    (N_("Anywhere"), [
        ("1  2  3", N_("Overview, Review, Journal")),
        ("?", N_("This help")),
        ("R", N_("Sync the mailbox with the server, then look again")),
        ("q", N_("Quit")),
    ]),
    (N_("Lists (rules, groups, messages, journal)"), [
        ("up down  j k", N_("Move")),
        ("pageup pagedown  home end", N_("Move a page, go to the first or last line")),
        ("tab  shift+tab  left right", N_("Next or previous pane")),
        ("enter", N_("Open: a rule's groups, a group's messages")),
        ("/", N_("Filter the list by text (Escape clears it)")),
        ("s", N_("Change the order: largest first, oldest first, newest first")),
        (N_("mouse"), N_("Click a line to go there, double-click to open, click a header "
                         "to sort; the wheel scrolls")),
    ]),
    (N_("Selecting"), [
        ("space", N_("Select or unselect the highlighted line: a message (then the cursor "
                     "moves to the next one), a whole group, or a whole rule")),
        ("a", N_("Select everything the message list shows (with its filter)")),
        ("c", N_("Clear the selection")),
        (N_("mouse"), N_("Click the left margin of a line to select it")),
    ]),
    (N_("Cleaning (what is selected)"), [
        ("t", N_("Move to the Trash (can be undone; frees space once the Trash is emptied)")),
        ("e", N_("Export to an mbox file, check it, then move to the Trash")),
        ("D", N_("Delete for good: only messages already in the Trash (frees space now)")),
        ("X", N_("Empty the Trash: delete everything in it for good (frees space now)")),
        ("u", N_("Undo: put back what the last move to the Trash took away")),
        (N_("Journal tab"), N_("u undoes the highlighted action, r finishes an interrupted "
                               "one")),
    ]),
    (N_("Dialogs"), [
        ("left right  tab", N_("Move between the buttons")),
        ("enter", N_("Press the highlighted button")),
        ("escape", N_("Cancel; while an action runs: stop it after the current batch")),
    ]),
]


class HelpScreen(TranslatedBindings, ModalScreen[None]):
    """Every key, with what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", N_("Close"), show=True),
    ]

    def compose(self) -> ComposeResult:
        """A table of keys per section."""
        def named(keys: str) -> str:
            return _(keys) if keys in (N_("mouse"), N_("Journal tab")) else keys_text(keys)

        # As wide as the longest keys in this language (French names are longer), so
        # that no key is cut.
        width = max(22, *(len(named(keys)) for _section, rows in HELP for keys, _w in rows))
        parts: list[Text | Table] = []
        for section, rows in HELP:
            parts.append(Text(_(section), style="bold underline"))
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold", no_wrap=True, width=width)
            table.add_column()
            for keys, what in rows:
                table.add_row(Text(named(keys)), Text(_(what)))
            parts += [table, Text("")]
        with Vertical(id="help", classes="dialog"):
            yield Label(_("Keys"), classes="dialog-title")
            with VerticalScroll():
                yield Static(Group(*parts))
            yield Label(_("Escape or ? closes this help."), classes="hint")

    def action_dismiss(self) -> None:  # type: ignore[override]
        """Close the help."""
        self.dismiss(None)


class ConfirmScreen(TranslatedBindings, ModalScreen[str | None]):
    """Says what will happen in plain words; returns "yes" (or the export path) or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", N_("Cancel"), show=True),
        Binding("left,up", "move_button(-1)", N_("Previous button"), show=False),
        Binding("right,down", "move_button(1)", N_("Next button"), show=False),
    ]

    def __init__(self, title: str, lines: list[tuple[str, str]], confirm: str, *,
                 danger: bool = False, path: str | None = None,
                 path_label: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines
        self.confirm = confirm
        self.danger = danger
        self.path = path
        self.path_label = path_label

    def compose(self) -> ComposeResult:
        """Title, the facts, an optional file name, the two buttons."""
        with Vertical(id="confirm", classes="dialog danger" if self.danger else "dialog"):
            yield Label(plain(self.title_text), classes="dialog-title", markup=False)
            for style, text in self.lines:
                yield Static(plain(text, one_line=False), classes=f"line {style}".strip(),
                             markup=False)
            if self.path is not None:
                yield Label(plain(self.path_label), classes="hint", markup=False)
                yield Input(self.path, id="path")
            with Horizontal(classes="buttons"):
                yield Button(self.confirm, id="yes",
                             variant="error" if self.danger else "primary")
                yield Button(_("Cancel"), id="no")

    def on_mount(self) -> None:
        """Permanent deletes start on Cancel: Enter alone must not destroy anything."""
        self.query_one("#no" if self.danger else "#yes", Button).focus()

    def action_move_button(self, delta: int) -> None:
        """Arrow keys: the previous or next button (from the file name: the first one)."""
        buttons = list(self.query(Button))
        focused = self.focused
        if focused in buttons:
            i = buttons.index(focused)
            buttons[max(0, min(i + delta, len(buttons) - 1))].focus()
        elif delta > 0 and buttons:
            buttons[0].focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Confirm or cancel."""
        event.stop()
        if event.button.id == "yes":
            if self.path is not None:
                path = self.query_one("#path", Input).value.strip()
                if not path:
                    self.notify(_("Give the file to export to."), severity="warning")
                    return
                self.dismiss(path)
            else:
                self.dismiss("yes")
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the file name moves to the confirm button."""
        event.stop()
        self.query_one("#yes", Button).focus()

    def action_cancel(self) -> None:
        """Close without doing anything."""
        self.dismiss(None)


class ProgressScreen(TranslatedBindings, ModalScreen[None]):
    """An action or a sync in progress: step, bar, counts, Cancel; then what happened."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel_or_close", N_("Cancel"), show=True),
    ]

    def __init__(self, title: str, cancel: threading.Event | None) -> None:
        super().__init__()
        self.title_text = title
        self.cancel_event = cancel
        self.finished = False
        self.total = 0
        self.done = 0
        self.done_bytes = 0
        self.total_bytes = 0
        self._last_draw = 0.0

    def compose(self) -> ComposeResult:
        """Title, step, bar, counts, result lines, the button."""
        with Vertical(id="progress", classes="dialog"):
            yield Label(plain(self.title_text), classes="dialog-title", markup=False)
            yield Label(_("starting"), id="phase", markup=False)
            # The percentage is ours (in the counts): textual's reads "45%" in French too.
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="bar")
            yield Label("", id="counts", markup=False)
            yield Vertical(id="result")
            with Horizontal(classes="buttons"):
                yield Button(_("Cancel"), id="cancel", variant="warning",
                             disabled=self.cancel_event is None)

    # -- called from the app (in the main thread) -------------------------------------

    def set_phase(self, text: str) -> None:
        """A new step starts."""
        if not self.finished:
            self.query_one("#phase", Label).update(plain(text))

    def set_total(self, messages: int, size_: int) -> None:
        """The work is ``messages`` messages (``size_`` bytes)."""
        self.total, self.total_bytes, self.done, self.done_bytes = messages, size_, 0, 0
        self.query_one("#bar", ProgressBar).update(total=max(messages, 1), progress=0)
        self._counts()

    def advance(self, messages: int, size_: int) -> None:
        """More messages were handled."""
        self.done += messages
        self.done_bytes += size_
        self.query_one("#bar", ProgressBar).update(progress=self.done)
        now = time.monotonic()
        if now - self._last_draw > 0.05 or self.done >= self.total:
            self._last_draw = now
            self._counts()

    def _counts(self) -> None:
        if self.total_bytes:
            text = ngettext("{done} of {total} message · {size} of {total_size}",
                            "{done} of {total} messages · {size} of {total_size}",
                            self.total).format(
                done=number(self.done), total=number(self.total), size=size(self.done_bytes),
                total_size=size(self.total_bytes))
        else:
            text = ngettext("{done} of {total} message", "{done} of {total} messages",
                            self.total).format(done=number(self.done), total=number(self.total))
        if self.total:
            text = f"{percent(min(self.done / self.total, 1.0))} · {text}"
        self.query_one("#counts", Label).update(text)

    def finish(self, lines: list[tuple[str, str]], ok: bool, phase: str | None = None) -> None:
        """Show what happened (``phase``: instead of "Finished"); the button becomes Close."""
        self.finished = True
        self.query_one("#phase", Label).update(
            phase or (_("Finished") if ok else _("Stopped")))
        if not self.total and not self.done:
            # "0 of 0 messages" says nothing: there was nothing to count.
            self.query_one("#counts", Label).update("")
        bar = self.query_one("#bar", ProgressBar)
        if bar.total is None:
            bar.update(total=1, progress=1 if ok else 0)
        result = self.query_one("#result", Vertical)
        for style, text in lines:
            result.mount(Static(plain(text, one_line=False), classes=f"line {style}".strip(),
                                markup=False))
        button = self.query_one("#cancel", Button)
        button.label = _("Close")
        button.variant = "primary"
        button.disabled = False
        button.focus()

    # -- input ------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Cancel the work, or close when it is over."""
        event.stop()
        self.action_cancel_or_close()

    def action_cancel_or_close(self) -> None:
        """Escape: stop after the current batch; once finished, close."""
        if self.finished:
            self.dismiss(None)
            return
        if self.cancel_event is not None and not self.cancel_event.is_set():
            self.cancel_event.set()
            self.query_one("#phase", Label).update(
                _("Cancelling: the batch under way finishes first…"))
            self.query_one("#cancel", Button).disabled = True


class PasswordScreen(TranslatedBindings, ModalScreen[str | None]):
    """Asks for an account's password (kept in memory for this session only)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel"), show=True),
    ]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        """The prompt and a hidden input."""
        with Vertical(id="password", classes="dialog"):
            yield Label(plain(self.prompt), classes="dialog-title", markup=False)
            yield Input(password=True, id="secret")
            yield Label(_("Enter to log in, Escape to cancel. The password is not stored."),
                        classes="hint")

    def on_mount(self) -> None:
        """Focus the input."""
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Return what was typed."""
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        """Give up."""
        self.dismiss(None)
