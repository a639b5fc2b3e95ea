"""The zh_CN catalogue: complete, in step with the code, compiled, and used by default."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import Browser

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "webapp" / "translations"
# The app asks for "zh_CN"; Babel expands it to zh_Hans_CN and gettext then looks
# in zh_Hans_CN/ or zh/, never zh_CN/, hence the directory name.
ZH_PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
ZH_MO = ZH_PO.with_suffix(".mo")
# %(name)s, %s, %d… and the literal %% all have to survive translation.
PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdifr]|%[sdifr%]")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _key(message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


@pytest.fixture(scope="module")
def zh_catalogue():
    with ZH_PO.open("rb") as f:
        return read_po(f, locale="zh_CN")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Extract the code's msgids now, exactly as the maintainers' command does."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    CommandLineInterface().run([
        "pybabel", "extract", "-F", str(ROOT / "babel.cfg"),
        "-k", "_l", "-k", "lazy_gettext", "-k", "ngettext:1,2",
        "-o", str(pot), str(ROOT)])
    with pot.open("rb") as f:
        return read_po(f)


def test_every_message_has_a_chinese_translation(zh_catalogue):
    untranslated = [_key(m) for m in zh_catalogue
                    if m.id and (m.fuzzy or not all(s.strip() for s in _strings(m)))]
    assert not untranslated, f"untranslated or fuzzy (fuzzy is ignored at run time): {untranslated}"
    english_left = [_key(m) for m in zh_catalogue
                    if m.id and not any(CJK.search(s) for s in _strings(m))]
    assert not english_left, f"translations without any Chinese: {english_left}"


def test_catalogue_is_in_step_with_the_code(zh_catalogue, extracted):
    code_ids = {_key(m) for m in extracted if m.id}
    # Guards against an extractor that silently skips templates (e.g. `{% do %}`
    # without jinja2.ext.do): these come from such a template and a plugin one.
    assert {"Log in", "Alert console", "Mining: findings on site"} <= code_ids
    missing = sorted(code_ids - {_key(m) for m in zh_catalogue if m.id})
    assert not missing, ("msgids in the code but not in the zh_CN catalogue; run pybabel extract/update "
                         f"and translate them: {missing}")


def test_placeholders_are_kept(zh_catalogue):
    broken = []
    for m in zh_catalogue:
        if not m.id:
            continue
        wanted = sorted(PLACEHOLDER.findall(_key(m)))
        broken += [(_key(m), s) for s in _strings(m) if sorted(PLACEHOLDER.findall(s)) != wanted]
    assert not broken, f"placeholders changed: {broken}"


def test_compiled_catalogue_matches_the_po(zh_catalogue):
    assert ZH_MO.exists(), "run: pybabel compile -f -d webapp/translations (scripts/setup does it)"
    with ZH_MO.open("rb") as f:
        compiled = {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in read_mo(f) if m.id}
    stale = [_key(m) for m in zh_catalogue if m.id and compiled.get(_key(m)) != m.string]
    assert not stale, f"the .mo is stale; run pybabel compile -f -d webapp/translations: {stale[:10]}"


@pytest.mark.parametrize("msgid, chinese", [
    ("False alarm", "误报"), ("Dispatch", "派发"), ("Accept", "签收"), ("Supervise", "督办"),
    ("Transfer to a case", "立案查处"), ("Spot check", "核查"), ("Send back for rework", "退回重办"),
    ("Start emergency response", "启动应急响应"), ("Duty officer", "值守人员"),
    ("Manual alert", "人工报警"), ("Basic farmland", "永久基本农田"), ("Grazing-ban zone", "禁牧区"),
    ("Geohazard point", "地质灾害隐患点"), ("Preset", "预置位"), ("Checkpoint", "卡口"),
    ("Parcels", "地块"), ("Mining permit", "采矿权"), ("Working group", "工作小组"),
])
def test_domain_vocabulary_follows_the_design(zh_catalogue, msgid, chinese):
    assert zh_catalogue[msgid].string == chinese


def test_chinese_by_default_and_english_on_request(app):
    browser = Browser(app.test_client())
    # The browser asks for English, but the platform speaks Chinese unless told otherwise.
    page = browser.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "登录" in page and "密码" in page
    assert ">Log in<" not in page
    browser.post("/lang/en", data={"next": "/login"})
    page = browser.get("/login").get_data(as_text=True)
    assert "Log in" in page and "Password" in page
    assert "登录" not in page
