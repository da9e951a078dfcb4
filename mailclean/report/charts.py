"""The report page's charts: paired horizontal bars (before, after) as inline SVG, so the
page needs no script, font or image from anywhere."""

from __future__ import annotations

from html import escape

from mailclean.i18n import size
from mailclean.report.labels import signed_percent


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def bars_svg(
    rows: list[tuple[str, int, int]],
    title: str,
    before_word: str,
    after_word: str,
    label_width: int = 190,
) -> str:
    """Horizontal paired bars (before, after) per row of (name, bytes before, bytes after),
    with the size and change as text; ``before_word`` and ``after_word`` name the bars."""
    width, bar_area = 960, 960 - label_width - 190
    row_h, pad = 34, 6
    top = max([max(b, a) for _n, b, a in rows] + [1])
    height = pad * 2 + row_h * len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
    ]
    for i, (name, before, after) in enumerate(rows):
        y = pad + i * row_h
        wb = round(bar_area * before / top, 1)
        wa = round(bar_area * after / top, 1)
        room = label_width // 7
        shown = name if len(name) <= room else name[: room - 1] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 20}" text-anchor="end">'
            f"<title>{_e(name)}</title>{_e(shown)}</text>"
        )
        parts.append(
            f'<rect class="before" x="{label_width}" y="{y + 3}" width="{wb}" '
            f'height="12" rx="2"><title>{_e(before_word)}: {_e(size(before))}'
            "</title></rect>"
        )
        parts.append(
            f'<rect class="after" x="{label_width}" y="{y + 17}" width="{wa}" '
            f'height="12" rx="2"><title>{_e(after_word)}: {_e(size(after))}'
            "</title></rect>"
        )
        freed = before - after
        change = signed_percent(freed / before if before else None)
        cls = "grew" if freed < 0 else "muted"
        parts.append(
            f'<text x="{label_width + max(wb, wa) + 8}" y="{y + 20}" class="{cls}">'
            f"{_e(size(before))} → {_e(size(after))} ({_e(change)})</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
