"""The district's organisation from the work plan (seed §四, §五): unit codes,
townships and working groups. Plugins name units by these codes."""
from __future__ import annotations

# (code, name, kind, parent code or None)
UNITS: tuple[tuple[str, str, str, str | None], ...] = (
    ("natural_resources", "自然资源局", "department", None),
    ("natural_resources.enforcement", "执法队", "office", "natural_resources"),
    ("natural_resources.farmland_office", "耕地保护监督室", "office", "natural_resources"),
    ("natural_resources.geology_mining_office", "地质矿产管理室", "office", "natural_resources"),
    ("emergency_management", "应急管理局", "department", None),
    ("forestry_grassland", "林业和草原局", "department", None),
    ("forestry_grassland.resources_office", "资源管理室", "office", "forestry_grassland"),
    ("comprehensive_enforcement", "综合执法局", "department", None),
    ("ecology_environment", "生态环境分局", "department", None),
    ("agriculture_rural", "农业农村局", "department", None),
    ("housing_construction", "住房和城乡建设局", "department", None),
    ("town.hongsipu", "红寺堡镇", "township", None),
    ("town.taiyangshan", "太阳山镇", "township", None),
    ("town.dahe", "大河乡", "township", None),
    ("town.xinzhuangji", "新庄集乡", "township", None),
    ("town.liuquan", "柳泉乡", "township", None),
    ("duty", "第三方技术单位（值守）", "duty", None),
    ("operator", "通信运营商分公司（运维）", "operator", None),
)

LEADING_OFFICE_UNIT = "natural_resources"

# township code -> (name, unit code)
TOWNSHIPS: dict[str, tuple[str, str]] = {
    "hongsipu": ("红寺堡镇", "town.hongsipu"),
    "taiyangshan": ("太阳山镇", "town.taiyangshan"),
    "dahe": ("大河乡", "town.dahe"),
    "xinzhuangji": ("新庄集乡", "town.xinzhuangji"),
    "liuquan": ("柳泉乡", "town.liuquan"),
}

# number -> (name, lead unit code, duties). Which domains a group handles is
# not the core's to say: each domain plugin names its group (Domain.working_group).
WORKING_GROUPS: dict[int, tuple[str, str, str]] = {
    1: ("自然资源领域疑似违法处置工作小组", "natural_resources",
        "对破坏耕地、盗采矿产资源等违法行为进行识别处置；盯紧地质灾害隐患点监测，发生地质灾害及时启动应急响应"),
    2: ("安全生产领域疑似违法处置工作小组", "emergency_management",
        "对平台收集到的安全生产违法信息进行核查处置，必要时启动应急响应"),
    3: ("林草资源领域疑似违法处置工作小组", "forestry_grassland",
        "森林草原防火、封山禁牧、野生动植物保护等报警信息的识别处置"),
    4: ("生态环境领域疑似违法处置工作小组", "ecology_environment",
        "环境污染事件及时响应，对倾倒垃圾、焚烧秸秆、扬尘污染等问题及时处置"),
    5: ("违法案件查处工作小组", "natural_resources",
        "各领域违法违规案件的查处和办理，统筹协调对平台发现的违法行为开展执法工作"),
}
CASE_GROUP = 5
CASE_UNITS = ("natural_resources", "comprehensive_enforcement")


def township_unit(township_code: str | None) -> str | None:
    return TOWNSHIPS[township_code][1] if township_code in TOWNSHIPS else None
