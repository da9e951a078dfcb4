"""French and English: the catalogue covers every message and its compiled form is current."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import mailclean
from mailclean import i18n

PACKAGE = Path(mailclean.__file__).parent
PO = PACKAGE / "i18n/fr/LC_MESSAGES/mailclean.po"
MO = PACKAGE / "i18n/fr/LC_MESSAGES/mailclean.mo"


def source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        PACKAGE, method_map=[("**.py", "python")], keywords={"_": None, "ngettext": (1, 2)}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_is_translated() -> None:
    catalog = read_po(PO.open("rb"))
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog if m.id}
    missing = sorted(m for m in source_messages() if not translated.get(m))
    assert not missing, f"untranslated (run `make i18n` and fill the .po): {missing}"


def test_compiled_catalogue_matches_po() -> None:
    catalog = read_po(PO.open("rb"))
    with MO.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for m in catalog:
        if not m.id or not m.string:
            continue
        if isinstance(m.id, str):
            assert compiled.gettext(m.id) == m.string, "stale .mo: run `make i18n`"
        else:
            assert compiled.ngettext(m.id[0], m.id[1], 2) == m.string[1]


@pytest.fixture
def french():
    i18n.set_language("fr")
    yield
    i18n.set_language("en")


def test_french_units_and_text(french: None) -> None:
    assert i18n.size(1_500_000_000) == "1,5 Go"
    assert i18n.size(2_500) == "2,5 ko"
    assert i18n.number(1234567) == "1\u202f234\u202f567"
    assert i18n._("Folder") == "Dossier"
    assert i18n.decimal(0.94) == "0,9"
    assert i18n.percent(0.594) == "59\u202f%"
    assert i18n.role("trash") == "corbeille"
    assert i18n.role(None) == ""


def test_english_and_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.delenv("LANGUAGE", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert i18n.detect_language() == "fr"
    assert i18n.set_language("en") == "en"
    assert i18n.size(1_500_000_000) == "1.5 GB"
    assert i18n._("Folder") == "Folder"
    assert (i18n.decimal(0.94), i18n.percent(0.594), i18n.role("junk")) == ("0.9", "59%", "junk")
