"""Review app benchmark: the app driven headless over an index of 1,000,000 messages.

    python bench/tui.py [--messages 1000000] [--db PATH]

The index is written directly in SQLite by ``bench/rules.py`` (in a child process, so its
memory does not count here) and scanned; then this process builds the app, starts it
headless (140×40) and times what a person does: open the app, open the rule with the
most messages (its list painted), page down through it, jump to its end, select the whole
list, and open the confirmation dialog of a move to the Trash (not confirmed).
Targets (issue 5): a list of 100,000 flagged messages paints in < 1 s, a page-down
< 100 ms, the process under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailclean.i18n import set_language  # noqa: E402
from mailclean.tui import build_app  # noqa: E402
from mailclean.tui.screens import ConfirmScreen  # noqa: E402
from mailclean.tui.widgets import VirtualTable  # noqa: E402

SIZE = (140, 40)


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(db: Path, messages: int) -> None:
    """Index and scan ``messages`` messages with bench/rules.py (child process)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "bench" / "rules.py"), "--messages",
                    str(messages), "--db", str(db)], check=True, stdout=subprocess.DEVNULL)
    print(f"index of {messages:,} messages built and scanned in "
          f"{time.perf_counter() - started:.0f} s ({db.stat().st_size / 1e6:.0f} MB)")


async def drive(db: Path, config: Path) -> None:
    """Start the app and time the steps; print the figures."""
    set_language("en")
    started = time.perf_counter()
    app = build_app(db, config, "bench")
    async with app.run_test(size=SIZE) as pilot:
        # The figures arrive in a message posted by the loading worker: wait for them, not
        # for an arbitrary number of pauses (on a busy machine they come later).
        while not app.rule_figures:
            await app.workers.wait_for_complete()
            await pilot.pause()
        startup = time.perf_counter() - started
        figures = app.rule_figures
        target = max(range(len(figures)), key=lambda i: figures[i].messages)
        print(f"startup to the overview painted: {startup:.2f} s (scan answered from the "
              "index's last scan)")
        for rule in figures:
            print(f"  {rule.name:<18} {rule.messages:>9,} messages")

        # Open each rule from the overview: its whole message list gets painted (the
        # groups of a rule of more than BIG_RULE hits are counted in a worker meanwhile).
        for i, rule in sorted(enumerate(figures), key=lambda x: x[1].messages):
            await pilot.press("1")
            await pilot.pause()
            table = app.main.query_one("#ov-rules", VirtualTable)
            table.move_to(i)
            await pilot.pause()
            t, cpu = time.perf_counter(), time.process_time()
            table.action_activate()  # what Enter does
            while app.message_list is None or app.message_list.rule != rule.name:
                await asyncio.sleep(0)
            app.export_screenshot()  # the whole screen, rendered from what the lists hold
            painted = time.perf_counter() - t
            await app.workers.wait_for_complete()
            await pilot.pause()
            grouped = time.perf_counter() - t
            cpu = time.process_time() - cpu
            n = len(app.message_list)
            print(f"open '{rule.name}': {n:,} messages painted in {painted * 1000:.0f} ms; "
                  f"{len(app.group_list or ()) - 1:,} groups listed at {grouped * 1000:.0f} ms"
                  f"; RSS {rss_mb():.0f} MB")
        assert app.rule is not None and app.rule.name == figures[target].name
        n = len(app.message_list)

        app.main.query_one("#messages").focus()
        await pilot.pause()
        messages = app.main.query_one("#messages", VirtualTable)

        async def timed(step: Callable[[], None]) -> float:
            t = time.perf_counter()
            step()
            for _ in range(3):  # let the messages it posts be handled
                await asyncio.sleep(0)
            app.export_screenshot()
            return time.perf_counter() - t

        times = [await timed(lambda: messages.action_page(1)) for _ in range(30)]
        print(f"page-down ×30 in {n:,} messages (handled and the screen repainted): median "
              f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
              "(target < 100 ms)")
        end = await timed(messages.action_last)
        times = [await timed(lambda: messages.action_page(-1)) for _ in range(10)]
        print(f"end of the list: {end * 1000:.1f} ms; page-up there ×10: max "
              f"{max(times) * 1000:.1f} ms")
        await pilot.pause()

        for sort in ("s", "s"):
            t = time.perf_counter()
            await pilot.press(sort)
            await pilot.pause()
            print(f"re-sort by {app.message_sort}: "
                  f"{(time.perf_counter() - t) * 1000:.0f} ms")

        t = time.perf_counter()
        await pilot.press("a")
        await pilot.pause()
        selected = app.data.selection_totals()[0]
        print(f"select all {selected:,}: {(time.perf_counter() - t) * 1000:.0f} ms; "
              f"RSS {rss_mb():.0f} MB")
        t = time.perf_counter()
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        print(f"plan and confirmation dialog for {selected:,} messages: "
              f"{(time.perf_counter() - t) * 1000:.0f} ms; RSS {rss_mb():.0f} MB")
        await pilot.press("escape")
        await pilot.pause()
    print(f"peak memory of the app's process: {rss_mb():.0f} MB (target < 300 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="use (or keep) the index here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "index.db"
        if not db.exists():
            build(db, args.messages)
        config = Path(tmp) / "config.toml"
        config.write_text('[accounts.bench]\nkind = "maildir"\npath = "/nonexistent"\n')
        print(f"before the app: {rss_mb():.0f} MB")
        asyncio.run(drive(db, config))


if __name__ == "__main__":
    main()
