"""Each domain's prejudgement from the GIS context, through the PluginHost."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from webapp.plugins import build_plugin_host
from webapp.testing import alert_view, gis_context
from webapp.testing import gis_feature as feature

# Alert dates as they fall in Hongsipu (UTC+8).
MAY = datetime(2026, 5, 12, 2, 0, tzinfo=timezone.utc)
JULY = datetime(2026, 7, 20, 2, 0, tzinfo=timezone.utc)
NOVEMBER = datetime(2026, 11, 19, 18, 13, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def host():
    return build_plugin_host(load_entrypoints=True)


def judge(host, domain, event_type, *features, when=NOVEMBER):
    return host.prejudge(alert_view(domain, event_type, occurred_at=when), gis_context(*features))


# -- mining: machinery and the valid permit (scenario 2) ----------------------
def permit(valid_from="2020-01-01", valid_to="2027-03-31", **kw):
    return feature("mining_permit", "C6400002020", name="采矿证 C6400002020",
                   valid_from=valid_from, valid_to=valid_to, **kw)


def test_mining_inside_a_valid_permit_is_low(host):
    verdict = judge(host, "mining", "excavator", permit())
    assert verdict.level == "low"
    assert "有效采矿权范围内" in verdict.reasons[0] and "2027-03-31" in verdict.reasons[0]


def test_mining_outside_the_valid_permit_is_a_likely_violation(host):
    verdict = judge(host, "mining", "excavator", permit(inside=False, distance_m=120),
                    feature("land_use_plan", "Z-1", name="一般农用地"))
    assert verdict.level == "high"
    assert verdict.reasons[0] == "疑似违法：机械在有效采矿权范围外作业"
    assert "距有效采矿权 采矿证 C6400002020 120 米" in verdict.reasons
    assert "用地规划：一般农用地" in verdict.reasons


def test_mining_inside_an_expired_or_future_permit_is_high(host):
    expired = judge(host, "mining", "excavator", permit(valid_to="2025-12-31"))
    future = judge(host, "mining", "excavator", permit(valid_from="2027-01-01"))
    assert (expired.level, future.level) == ("high", "high")
    assert any("不在有效期内" in r for r in expired.reasons)


def test_mining_permit_validity_is_judged_on_the_local_date(host):
    # 2026-03-31 17:00 UTC is already 1 April in Hongsipu: the permit has lapsed.
    late = datetime(2026, 3, 31, 17, 0, tzinfo=timezone.utc)
    early = datetime(2026, 3, 31, 15, 0, tzinfo=timezone.utc)
    assert judge(host, "mining", "excavator", permit(valid_to="2026-03-31"), when=late).level == "high"
    assert judge(host, "mining", "excavator", permit(valid_to="2026-03-31"), when=early).level == "low"


def test_mining_inside_approved_construction_is_low(host):
    approval = feature("construction_approval", "SG-7", name="道路施工", valid_to="2026-12-31")
    assert judge(host, "mining", "excavator", approval).level == "low"
    lapsed = feature("construction_approval", "SG-7", valid_to="2026-01-31")
    assert judge(host, "mining", "excavator", lapsed).level == "high"


# -- farmland ------------------------------------------------------------------
def test_farmland_on_basic_farmland_without_approval_is_high(host):
    verdict = judge(host, "farmland", "illegal_occupation", feature("basic_farmland", "JB-12", name="永农 12"))
    assert verdict.level == "high"
    assert "永久基本农田" in verdict.reasons[0] and "永农 12" in verdict.reasons[0]


def test_farmland_with_a_valid_approval_is_low_and_expired_one_does_not_count(host):
    basic = feature("basic_farmland", "JB-12")
    valid = feature("construction_approval", "PZ-1", valid_from="2026-01-01", valid_to="2027-01-01")
    expired = feature("construction_approval", "PZ-0", valid_to="2025-06-30")
    assert judge(host, "farmland", "illegal_occupation", basic, valid).level == "low"
    assert judge(host, "farmland", "illegal_occupation", basic, expired).level == "high"


def test_farmland_on_cultivated_land_is_medium_and_elsewhere_needs_a_look(host):
    assert judge(host, "farmland", "soil_removal", feature("cultivated_land", "GD-3")).level == "medium"
    nowhere = judge(host, "farmland", "soil_removal", feature("basic_farmland", "JB-1", inside=False, distance_m=50))
    assert nowhere.level == "medium" and "未匹配到耕地图斑" in nowhere.reasons[0]


# -- grazing: ban zone and ban period (scenario 4) ----------------------------
def zone(**period):
    return feature("grazing_ban_zone", "JM-3", name="罗山禁牧区", **period)


def test_grazing_inside_the_zone_during_the_ban_is_high(host):
    verdict = judge(host, "grazing", "illegal_grazing", zone(ban_start="03-01", ban_end="06-30"), when=MAY)
    assert verdict.level == "high"
    assert "罗山禁牧区" in verdict.reasons[0] and "03-01 至 06-30" in verdict.reasons[0]


def test_grazing_inside_the_zone_outside_the_ban_is_low(host):
    verdict = judge(host, "grazing", "grazing", zone(ban_start="03-01", ban_end="06-30"), when=JULY)
    assert verdict.level == "low" and "不在禁牧期内" in verdict.reasons[0]


def test_grazing_ban_period_across_the_new_year(host):
    winter = zone(ban_start="11-01", ban_end="04-30")
    assert judge(host, "grazing", "grazing", winter, when=NOVEMBER).level == "high"
    assert judge(host, "grazing", "grazing", winter, when=datetime(2026, 2, 1, tzinfo=timezone.utc)).level == "high"
    assert judge(host, "grazing", "grazing", winter, when=JULY).level == "low"


def test_grazing_zone_without_a_period_bans_all_year(host):
    verdict = judge(host, "grazing", "grazing", zone(), when=JULY)
    assert verdict.level == "high" and "全年禁牧" in verdict.reasons[0]


def test_grazing_outside_any_zone_is_low(host):
    assert judge(host, "grazing", "grazing", zone(inside=False, distance_m=300)).level == "low"


def test_wildlife_in_forest_grassland_is_high(host):
    assert judge(host, "grazing", "wildlife", feature("forest_grassland", "LC-1", name="罗山林地")).level == "high"
    assert judge(host, "grazing", "wildlife").level == "medium"


# -- fire ------------------------------------------------------------------------
def test_fire_near_forest_or_key_enterprise_is_raised(host):
    assert judge(host, "fire", "fire").level == "medium"
    near_forest = judge(host, "fire", "smoke", feature("forest_grassland", "LC-2", name="草原", inside=False, distance_m=300))
    assert near_forest.level == "high" and "草原 附近（300 米）" in near_forest.reasons[0]
    near_plant = judge(host, "fire", "fire", feature("key_enterprise", "QY-1", name="太阳山化工", inside=False, distance_m=800))
    assert near_plant.level == "high" and "太阳山化工" in near_plant.reasons[0]
    far = judge(host, "fire", "fire", feature("key_enterprise", "QY-1", inside=False, distance_m=1500))
    assert far.level == "medium"


# -- geohazard (scenario 3) -----------------------------------------------------
def test_geohazard_near_a_hazard_point_is_high(host):
    verdict = judge(host, "geohazard", "landslide", feature("geohazard_point", "HP-014", inside=False, distance_m=60))
    assert verdict.level == "high" and verdict.reasons == ("地质灾害隐患点 HP-014 附近（60 米）",)
    assert judge(host, "geohazard", "landslide",
                 feature("geohazard_point", "HP-014", inside=False, distance_m=2000)).level == "medium"


# -- safety and ecology -----------------------------------------------------------
def test_safety_at_a_key_enterprise_or_an_accident_is_high(host):
    assert judge(host, "safety", "hot_work", feature("key_enterprise", "QY-2")).level == "high"
    assert judge(host, "safety", "accident").level == "high"
    assert judge(host, "safety", "unsafe_operation").level == "medium"


def test_ecology_depends_on_the_event_type(host):
    field = feature("cultivated_land", "GD-9")
    assert judge(host, "ecology", "straw_burning", field).level == "high"
    assert judge(host, "ecology", "straw_burning").level == "medium"
    assert judge(host, "ecology", "garbage", feature("basic_farmland", "JB-2")).level == "high"
    assert judge(host, "ecology", "garbage", field, when=JULY).level == "high"
    site = feature("construction_approval", "SG-1", inside=False, distance_m=100)
    assert judge(host, "ecology", "dust", site).level == "high"
    assert judge(host, "ecology", "dust").level == "medium"
    # The same field does not make dust a likely violation.
    assert judge(host, "ecology", "dust", field).level == "medium"


@pytest.mark.parametrize("domain", ["farmland", "mining", "geohazard", "fire", "grazing", "safety", "ecology"])
def test_every_prejudgement_gives_chinese_reasons(host, domain):
    for event in host.domain(domain).event_types:
        verdict = judge(host, domain, event.code)
        assert verdict.level in ("low", "medium", "high")
        assert verdict.reasons and all(any("\u4e00" <= ch <= "\u9fff" for ch in r) for r in verdict.reasons)
