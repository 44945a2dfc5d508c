"""Write an example structure workbook for a fictitious subdistrict (松溪街道).

    .venv/bin/python docs/examples/make_example.py                    # docs/examples/structure-example.xlsx
    .venv/bin/python docs/examples/make_example.py --buildings 1000 --people 2000 out.xlsx   # benchmark size

Everything in it is invented. Mobile numbers are all of the form 1700000xxxx and landlines
0571-0000xxxx: the 170 0000 block is not handed out to subscribers in the example's world, and the
landline's 0000 exchange does not exist, so nobody real is ever called from a demo. The output is
the same for the same arguments (a fixed seed), so the committed file changes only when this
script does.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

COMMUNITIES = ["青松", "溪畔", "桂园", "梧桐", "临江", "锦绣", "望湖", "春晖"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = ["秀英", "桂兰", "建国", "志强", "丽娟", "海燕", "德明", "淑珍", "文博", "子涵", "浩然", "雅婷",
         "国华", "玉梅", "明辉", "晓燕", "宏伟", "春梅", "俊杰", "欣怡"]
PROPERTY = ["万家", "安居", "金盾", "和美", "嘉园", "恒信", "绿城", "阳光"]


def build(communities: int = 3, grids_per: int = 3, buildings: int = 60, people: int = 120,
          seed: int = 2026) -> dict[str, list[list]]:
    """sheet → rows (headers first) in the import format of casework/services/importing.py."""
    from casework.services.importing import COLUMNS, SHEET_ORDER
    rng = random.Random(seed)
    phones = iter(range(1, 10000))

    def mobile() -> str:
        return f"1700000{next(phones):04d}"

    def person_name() -> str:
        return rng.choice(SURNAMES) + rng.choice(GIVEN)

    sheets = {s: [[h for _f, h in COLUMNS[s]]] for s in SHEET_ORDER}
    grid_codes: list[tuple[str, str]] = []
    for ci in range(1, communities + 1):
        name = COMMUNITIES[(ci - 1) % len(COMMUNITIES)] + ("社区" if ci <= len(COMMUNITIES) else f"{ci}社区")
        ccode = f"SQ{ci:02d}"
        sheets["社区"].append([ccode, name, "松溪街道", "启用"])
        for gi in range(1, grids_per + 1):
            gcode = f"{ccode}-WG{gi:02d}"
            sheets["网格"].append([gcode, f"{name[:2]}第{gi}网格", ccode, "启用"])
            grid_codes.append((gcode, ccode))
    props = []
    for pi in range(max(2, communities)):
        code = f"WY{pi + 1:02d}"
        props.append(code)
        sheets["单位"].append([code, f"{PROPERTY[pi % len(PROPERTY)]}物业服务有限公司{'' if pi < len(PROPERTY) else pi}",
                             "物业服务企业", person_name(), f"0571-0000{pi + 1:04d}", "", "启用"])
    partners = [("ZY01", "邻里帮帮志愿维修队", "志愿服务队"), ("SZ01", "和睦调解法律服务社", "社会组织"),
                ("QY01", "巧手家政服务中心", "企业合伙人")]
    for code, name, kind in partners:
        served = "、".join(f"SQ{c:02d}" for c in range(1, communities + 1))
        sheets["单位"].append([code, name, kind, person_name(), mobile(), served, "启用"])
    building_rows = []
    for bi in range(buildings):
        gcode, ccode = grid_codes[bi % len(grid_codes)]
        number = bi // len(grid_codes) + 1
        code = f"{gcode}-LD{number:03d}"
        units = rng.randint(1, 6)
        lat, lng = round(30.25 + rng.random() / 50, 6), round(120.15 + rng.random() / 50, 6)
        prop = props[(int(ccode[2:]) - 1) % len(props)]
        building_rows.append((code, gcode))
        sheets["楼栋"].append([code, f"{gcode[-4:]}苑{number}幢", gcode, f"松溪路{bi + 1}号", units, units * 12, prop,
                             lat, lng, "启用"])
    users = sheets["人员"]
    # Each grid has a grid member; every building has a leader (one per ~3 buildings of a grid).
    count = 0
    for gi, (gcode, _ccode) in enumerate(grid_codes, start=1):
        users.append([f"wg{gi:04d}", person_name(), "网格员", mobile(), "", "", gcode, "", "启用"])
        count += 1
    for ci in range(1, communities + 1):
        users.append([f"sq{ci:02d}", person_name(), "社区督导", mobile(), "", f"SQ{ci:02d}", "", "", "启用"])
        count += 1
    by_grid: dict[str, list[str]] = {}
    for code, gcode in building_rows:
        by_grid.setdefault(gcode, []).append(code)
    leaders = 0
    for codes in by_grid.values():
        for k in range(0, len(codes), 3):
            if count >= people:
                break
            leaders += 1
            users.append([f"ld{leaders:04d}", person_name(), "楼栋长", mobile(), "", "", "", "、".join(codes[k:k + 3]),
                          "启用"])
            count += 1
    handlers = 0
    while count < people:
        handlers += 1
        org = (props + [p[0] for p in partners])[handlers % (len(props) + len(partners))]
        users.append([f"cb{handlers:04d}", person_name(), "承办人员", mobile(), org, "", "", "", "启用"])
        count += 1
    return sheets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(Path(__file__).with_name("structure-example.xlsx")))
    parser.add_argument("--communities", type=int, default=3)
    parser.add_argument("--grids", type=int, default=3, help="grids per community")
    parser.add_argument("--buildings", type=int, default=60)
    parser.add_argument("--people", type=int, default=80)
    args = parser.parse_args()
    from casework.services.importing import write_workbook
    sheets = build(args.communities, args.grids, args.buildings, args.people)
    Path(args.out).write_bytes(write_workbook(sheets))
    print(f"wrote {args.out}: " + ", ".join(f"{s} {len(r) - 1}" for s, r in sheets.items()))


if __name__ == "__main__":
    main()
