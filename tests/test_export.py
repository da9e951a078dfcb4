"""The export formats: what is written reads back exactly, and tampering is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailclean import export as exporting

TRICKY = [
    b"From: a@example.org\r\nSubject: x\r\n\r\nFrom the start\r\n>From quoted\r\n>>From deeper\r\n",
    b"Subject: no final newline\n\nbody",
    b"Subject: lf only\n\nline\nFrom here\n\n\n",
    b"Subject: empty body\r\n\r\n",
]


def _write(path: Path, fmt: str, messages: list[bytes]) -> exporting.Writer:
    w = exporting.writer_for(path, fmt)
    for i, raw in enumerate(messages):
        w.add(raw, "INBOX/Sous dossier", str(i))
    w.close()
    return w


@pytest.mark.parametrize("fmt", exporting.FORMATS)
def test_tricky_messages_read_back(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / ("out.mbox" if fmt == "mbox" else "out")
    w = _write(target, fmt, TRICKY)
    verified = w.verify()
    assert verified.messages == len(TRICKY)
    stored = [exporting.canonical(m) if fmt == "mbox" else m for m in TRICKY]
    assert verified.bytes == sum(exporting.crlf_size(m) for m in stored)
    back = list(exporting.read(target, fmt))
    assert sorted(map(exporting.canonical, back)) == sorted(map(exporting.canonical, TRICKY))
    if fmt == "eml":
        assert sorted(back) == sorted(TRICKY)  # the bytes themselves


lines = st.lists(
    st.one_of(
        st.sampled_from([b"From x", b">From y", b">>From z", b"", b"From", b"From  "]),
        st.binary(max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(lines, min_size=1, max_size=5), st.sampled_from([b"\n", b"\r\n"]))
def test_mboxrd_round_trip(
    tmp_path_factory: pytest.TempPathFactory, bodies: list[list[bytes]], eol: bytes
) -> None:
    messages = [b"Subject: t" + eol + eol + eol.join(b) for b in bodies]
    target = tmp_path_factory.mktemp("mbox") / "x.mbox"
    w = _write(target, "mbox", messages)
    w.verify()
    back = list(exporting.read(target, "mbox"))
    assert [exporting.canonical(m) for m in messages] == back


def test_a_damaged_export_is_caught(tmp_path: Path) -> None:
    target = tmp_path / "out.mbox"
    w = _write(target, "mbox", TRICKY)
    data = target.read_bytes()
    target.write_bytes(data.replace(b"no final newline", b"no final newlinX"))
    with pytest.raises(exporting.ExportError, match="does not read back"):
        w.verify()


def test_an_existing_export_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "a.mbox").write_bytes(b"From x\n\nold\n")
    with pytest.raises(exporting.ExportError, match="already exists"):
        exporting.writer_for(tmp_path / "a.mbox", "mbox")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.eml").write_bytes(b"x")
    with pytest.raises(exporting.ExportError, match="already exists"):
        exporting.writer_for(tmp_path / "d", "eml")


def test_format_from_name() -> None:
    assert exporting.format_for(Path("x.MBOX")) == "mbox"
    assert exporting.format_for(Path("archive")) == "eml"
    assert exporting.format_for(Path("x.mbox"), "eml") == "eml"
    with pytest.raises(exporting.ExportError):
        exporting.format_for(Path("x"), "zip")


@pytest.mark.parametrize("fmt", exporting.FORMATS)
def test_exports_are_private(tmp_path: Path, fmt: str) -> None:
    """Issue 13.13: exports hold whole messages: 0600 files in 0700 directories."""
    import stat

    target = tmp_path / "new" / ("out.mbox" if fmt == "mbox" else "out")
    _write(target, fmt, TRICKY)
    files = [target] if fmt == "mbox" else sorted(target.rglob("*.eml"))
    dirs = [target.parent] + ([] if fmt == "mbox" else
                              [target, *sorted(p for p in target.rglob("*") if p.is_dir())])
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert all(stat.S_IMODE(d.stat().st_mode) == 0o700 for d in dirs)
