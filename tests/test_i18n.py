"""Chinese first, with a complete English catalog behind the switch."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _catalog(locale: str):
    with open(ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


def test_english_catalog_is_complete_and_keeps_placeholders():
    missing, broken = [], []
    for msg in _catalog("en"):
        if not msg.id:
            continue
        ids = msg.id if isinstance(msg.id, tuple) else (msg.id,)
        strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
        if "fuzzy" in msg.flags or not all(strings):
            missing.append(ids[0])
            continue
        for s in strings:
            if sorted(PLACEHOLDER.findall(s)) != sorted(PLACEHOLDER.findall(ids[0])):
                broken.append(ids[0])
    assert missing == [], f"untranslated (run `make messages` and translate): {missing[:10]}"
    assert broken == [], f"placeholders differ: {broken[:10]}"


def test_chinese_catalog_lives_where_babel_looks():
    # Babel normalises zh_CN to zh_Hans_CN and silently ignores a zh_CN folder.
    assert (ROOT / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").exists()
    assert not (ROOT / "translations" / "zh_CN").exists()


def test_board_in_chinese_then_english(login_as):
    staff = login_as("wangge01")
    page = staff.get("/board/")
    assert "网格看板" in page.text and "签收" in page.text
    staff.post("/lang/en", data={"next": "/board/"})
    page = staff.get("/board/")
    assert "网格看板" not in page.text and "Sign for" in page.text and 'lang="en"' in page.text


def test_the_timeline_says_what_happened_and_buttons_what_to_do(login_as, make_case):
    """One Chinese word, two English ones: "签收" is "Signed for" on the timeline, "Sign for" on a button."""
    from casework.extensions import db
    from casework.services import transitions
    from tests.conftest import user

    signed, waiting = make_case(title="已签收的案件"), make_case(title="待签收的案件")
    transitions.fire(user("wangge01"), signed, "sign", {}, version=signed.version)
    db.session.commit()
    staff = login_as("wangge01")
    staff.post("/lang/en", data={"next": "/board/"})
    timeline = staff.get(f"/cases/{signed.id}").text
    assert "Signed for" in timeline
    button = staff.get(f"/cases/{waiting.id}").text
    assert ">Sign for<" in button and "Signed for" not in button
