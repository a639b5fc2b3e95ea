"""Navigation links to an order's site for the handler's phone.

A ``geo:`` URI (RFC 5870, WGS-84) lets the phone offer any map app; the
Chinese map apps get their own URL schemes with the coordinates they expect:
GCJ-02 for Amap (高德) and Tencent (腾讯), BD-09 for Baidu (百度). Each app has a
web link too, which opens the app when it is installed and a web map otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from webapp.geometry.chinacoords import wgs84_to_bd09, wgs84_to_gcj02

SOURCE = "nrsc"


@dataclass(frozen=True)
class NavLink:
    app: str          # amap, tencent, baidu, geo
    app_url: str      # the app's own scheme (geo: for "other")
    web_url: str | None


def _q(params: dict[str, str]) -> str:
    # Keep ':' ',' '|' ';' readable: the apps parse them inside values.
    return urlencode(params, quote_via=quote, safe=":,|;")


def links(lat: float, lon: float, name: str) -> list[NavLink]:
    """Links to navigate to (lat, lon) in WGS-84, labelled ``name``."""
    g_lat, g_lon = wgs84_to_gcj02(lat, lon)
    b_lat, b_lon = wgs84_to_bd09(lat, lon)
    g = f"{g_lat:.6f}", f"{g_lon:.6f}"
    b = f"{b_lat:.6f}", f"{b_lon:.6f}"
    label = name.replace(",", " ").replace("|", " ").replace(";", " ")
    return [
        NavLink("amap",
                # dev=0: the coordinates are GCJ-02 already; t=0: by car.
                "amapuri://route/plan/?" + _q({"dlat": g[0], "dlon": g[1], "dname": label, "dev": "0",
                                              "t": "0", "sourceApplication": SOURCE}),
                "https://uri.amap.com/navigation?" + _q({"to": f"{g[1]},{g[0]},{label}", "mode": "car",
                                                         "coordinate": "gaode", "callnative": "1",
                                                         "src": SOURCE})),
        NavLink("tencent",
                "qqmap://map/routeplan?" + _q({"type": "drive", "to": label, "tocoord": f"{g[0]},{g[1]}",
                                               "referer": SOURCE}),
                "https://apis.map.qq.com/uri/v1/routeplan?" + _q({"type": "drive", "to": label,
                                                                 "tocoord": f"{g[0]},{g[1]}",
                                                                 "referer": SOURCE})),
        NavLink("baidu",
                "baidumap://map/direction?" + _q({"destination": f"latlng:{b[0]},{b[1]}|name:{label}",
                                                  "coord_type": "bd09ll", "mode": "driving", "src": SOURCE}),
                "https://api.map.baidu.com/direction?" + _q({"destination": f"latlng:{b[0]},{b[1]}|name:{label}",
                                                            "coord_type": "bd09ll", "mode": "driving",
                                                            "output": "html", "src": SOURCE})),
        NavLink("geo", f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}({quote(label)})", None),
    ]
