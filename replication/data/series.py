"""Which yearbook column holds each raw series, in which unit, in every edition.

A series is found by the text of its table title and column label, never by
position.  Each has one canonical unit; every unit printed in a header must be
listed with its conversion factor, so a unit that was never seen before stops
the build instead of being read as the canonical one.  Editions known to lack
a series (PROVENANCE.md) are listed; a series missing from any other edition
is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EDITIONS = tuple(range(2012, 2023))  # edition e reports data year e - 1


@dataclass(frozen=True)
class Series:
    name: str
    description: str
    unit: str  # canonical unit of the panel column
    table: str  # regex on the table title
    column: str  # regex on the column label, spaces removed
    areas: tuple[str, ...]  # 'whole' and/or 'district'
    units: dict[str, float]  # printed unit -> factor to the canonical unit
    exclude: str = r"$^"  # regex a label must not match
    absent: dict[str, tuple[int, ...]] = field(default_factory=dict)  # area -> editions lacking it
    count: bool = True  # a count (may not be negative; district may not exceed whole city)
    note: str = ""


ALL = ("whole", "district")

SERIES: tuple[Series, ...] = (
    Series(
        "pop", "year-end registered (hukou) population", "10k persons",
        table=r"人口", column=r"^(年末总人口|年末户籍人口|户籍人口)", exclude=r"城镇", areas=ALL,
        units={"万人": 1.0}, absent={"whole": (2021,), "district": (2021,)},
        note="Edition 2021 (data 2020) prints only resident (常住) population, a different concept; "
        "2020 is interpolated between the 2019 and 2021 registered figures.",
    ),
    Series(
        "pop_avg", "annual average population", "10k persons",
        table=r"人口", column=r"^年平均人口", areas=("whole",), units={"万人": 1.0},
        absent={"whole": (2021, 2022)},
        note="Not printed in editions 2021-2022; see the end-of-period rule for data years 2020-2021.",
    ),
    Series(
        "gdp", "gross regional product, current prices", "100m yuan",
        table=r"地区生产总值", column=r"^地区生产总值\(当年价格\)", exclude=r"构成", areas=("whole",),
        units={"万元": 1e-4, "亿元": 1.0}, absent={"whole": (2018,)},
        note="Unit 万元 to data year 2018, 亿元 from 2019 (the English header of editions 2012-2019 "
        "says '100 million yuan' while the Chinese says 万元 and the figures are 万元). Edition 2018 "
        "prints districts only; data year 2017 is filled from the hhwk compilation.",
    ),
    Series(
        "tertiary_share", "tertiary industry value added, share of GDP", "percent",
        table=r"地区生产总值构成", column=r"^第三产业占.*比重", areas=("whole",), units={"%": 1.0},
        absent={"whole": (2018,)}, count=False,
        note="Edition 2018 prints districts only; data year 2017 is filled from the hhwk compilation.",
    ),
    Series(
        "expenditure", "local general public budget expenditure", "10k yuan",
        table=r"财政|预算", column=r"^(地方财政一般预算内支出|公共财政支出|地方一般公共预算支出)[^/]*$",
        areas=("whole",), units={"万元": 1.0},
    ),
    Series(
        "telecom_revenue", "telecommunication services revenue", "10k yuan",
        table=r"电信", column=r"^电信业务收入", areas=("whole",), units={"万元": 1.0},
        absent={"whole": (2021,)}, note="Edition 2021 has no post and telecom table.",
    ),
    Series(
        "mobile", "mobile telephone subscribers at year-end", "10k subscribers",
        table=r"电话|电信", column=r"^移动电话年末用户数", areas=("whole",), units={"万户": 1.0},
        absent={"whole": (2021,)},
        note="Whole city only (edition 2012 also splits districts, unused); no table in edition 2021.",
    ),
    Series(
        "internet", "internet (broadband) subscribers at year-end", "10k subscribers",
        table=r"电话|电信|互联网", column=r"^(国际互联网用户数|互联网宽带接入用户数)", areas=("whole",),
        units={"户": 1e-4, "万户": 1.0}, absent={"whole": (2021,)},
        note="Data year 2011 prints 国际互联网用户数 in subscribers (户); from 2012 the series is "
        "互联网宽带接入用户数 in 10k subscribers: a unit and a definition change. No table in edition 2021.",
    ),
    Series(
        "emp", "persons employed in (urban) units at year-end", "persons",
        table=r"劳动力|就业", column=r"(年末单位从业人员数|从业人员期末人数)", exclude=r"私营和个体|在岗",
        areas=("whole",), units={"万人": 1e4, "人": 1.0},
        note="万人 to data year 2013, persons from 2014; editions 2021-2022 print 城镇非私营单位从业人员.",
    ),
    Series(
        "emp_ict", "employed in information transmission, computer services and software", "persons",
        table=r"按行业分组", column=r"信息传输、?计算机服务和软件业", areas=("whole",),
        units={"万人": 1e4, "人": 1.0}, absent={"whole": (2021, 2022)},
        note="万人 to data year 2013, persons from 2014; not printed in editions 2021-2022.",
    ),
    Series(
        "emp_tertiary_share", "tertiary industry share of unit employment", "percent",
        table=r"构成", column=r"^第三产业从业人员比重", areas=("whole",), units={"%": 1.0},
        absent={"whole": (2021, 2022)}, count=False, note="Not printed in editions 2021-2022.",
    ),
    Series(
        "teachers_primary", "full-time primary school teachers", "persons",
        table=r"专任教师", column=r"^(普通)?小学", areas=ALL, units={"人": 1.0},
    ),
    Series(
        "pupils_primary", "primary school enrolment", "persons",
        table=r"在校学生", column=r"^(普通)?小学", areas=ALL, units={"万人": 1e4, "人": 1.0},
    ),
    Series(
        "library", "public library holdings", "10k volumes",
        table=r"图书|文化", column=r"^公共图书馆图书(总)?藏量", areas=ALL,
        units={"千册、件": 0.1, "千册、千件": 0.1, "万册": 1.0},
        note="千册 to data year 2016, 万册 from 2017.",
    ),
    Series(
        "beds", "hospital beds", "beds",
        table=r"医院", column=r"^(医院、卫生院床位数|医院床位数)", areas=ALL, units={"张": 1.0},
        note="Hospitals and health centres to data year 2016, hospitals only from 2017 (definition break).",
    ),
    Series(
        "doctors", "licensed (assistant) doctors", "persons",
        table=r"医院", column=r"^(医生数|执业\(助理\)医师数)", areas=ALL, units={"人": 1.0},
        note="Hospitals and health centres to data year 2016, from 2017 the 执业(助理)医师 count "
        "(definition break).",
    ),
)

BY_NAME = {s.name: s for s in SERIES}


def matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None
