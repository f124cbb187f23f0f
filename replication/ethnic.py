"""The ethnic regions: the figures of the third study (seed 004, Ren, Qi and Tong, "Innovative Paths for
Digital Empowerment in Rural Revitalization of Ethnic Minority Areas") for the eight ethnic provinces
and regions beside what the panel can compute for them, and the paper's Table 5 column 4 with Dig
interacted with an ethnic-province indicator.

Five pieces, each a pure function of the panel, the estimation data or the study's figures
(data/reference/ethnic_study.csv): the coverage (which of the eight provinces' prefecture-level
divisions the panel holds and why the others are missing: data/reference/ethnic_prefectures.csv,
derived once by ``prefectures`` from the build manifest's sample rules and the raw crosswalk's list of
divisions, so the report needs no raw file); each figure of the study beside the nearest panel quantity, or
the statement that there is none; the registered-population district share and the doctors per person
by area; Dist and Dig by year in the ethnic provinces, the rest of the West and all cities; and the
model: the separate regression on the ethnic provinces' cities, Dig x ethnic in the whole panel, and
the fully interacted model whose Dig x ethnic coefficient is the difference of two separate
regressions, tested as Table 6's differences are and with the wild cluster restricted bootstrap
clustered by province.  ``report_files`` returns every file ({relative path: text or bytes}); what
the report shares with the Guangxi case is in ``replication.casestudy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from replication.casestudy import (  # noqa: E402
    MODEL, NATIONAL, REST_OF_WEST, WILD_STATS, Case, IndexFigure, Line, Section, coefficient,
    fit_rows, fmt as _f, index_figure, medians, medians_grid, options_words, outputs, paper_dig, per_group_year, tidy,
    wild, wild_rows,
)
from replication.config import Options  # noqa: E402
from replication.estimation import Design, FitResult, fit_fe  # noqa: E402
from replication.figures import OURS, PAPER, city_panels, integer_years, save_figure  # noqa: E402
from replication.indices import Analysis  # noqa: E402
from replication.models import complete_sample, estimation_sample, fit, interacted_test, shared_control  # noqa: E402
from replication.published import (  # noqa: E402
    ETHNIC_PROVINCES, PREFECTURE_COLUMNS, PREFECTURE_STATUS, parse_ethnic_prefectures,
)
from replication.render import plain_grid, short_se  # noqa: E402
from replication.wild import WildResult  # noqa: E402

SHORT = {full: short for short, full in ETHNIC_PROVINCES.items()}  # 广西壮族自治区 -> 广西
ENGLISH = {"内蒙古": "Inner Mongolia", "广西": "Guangxi", "西藏": "Tibet", "宁夏": "Ningxia", "新疆": "Xinjiang",
           "贵州": "Guizhou", "云南": "Yunnan", "青海": "Qinghai"}
GROUPS = {"ethnic": "Ethnic provinces", "rest_of_west": REST_OF_WEST, "other": "Other cities",
          "national": NATIONAL}
AGAINST = {"Rest of the West": "the rest of the West", "Other cities": "all other cities"}  # in a sentence
INTERACTION = "Dig_x_ethnic"
TITLE = "The ethnic regions: seed 004's figures beside the panel, and the paper's model for the ethnic provinces"
CASE = Case("ethnic", TITLE, GROUPS["ethnic"], tuple(ETHNIC_PROVINCES.values()))
ethnic = CASE.members  # True for the rows of a city of one of the eight ethnic provinces and regions


# ---------------------------------------------------------------------------- coverage

STATUS = PREFECTURE_STATUS  # in the panel, dropped, not a city of the yearbook
NOT_A_CITY = ("not among the prefecture-level cities of the yearbook's city tables (a league, prefecture or "
              "autonomous prefecture)")


def dropped_cities(manifest: dict, entities: pd.DataFrame) -> pd.DataFrame:
    """The cities the build's sample rules removed (manifest['sample_rules']), with the rule, the
    reason and, from `entities` (city, province: the crosswalk's prefecture-level divisions), the
    province: city, province, rule, reason."""
    rows = [{"city": city["city"], "rule": rule["rule"], "reason": city["reason"]}
            for rule in manifest.get("sample_rules", []) for city in rule.get("dropped", [])]
    frame = pd.DataFrame(rows, columns=["city", "rule", "reason"])
    frame["province"] = frame["city"].map(entities.drop_duplicates("city").set_index("city")["province"].to_dict())
    return frame[["city", "province", "rule", "reason"]]


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Provinces in the order of ETHNIC_PROVINCES, then status (STATUS), then city."""
    order = {name: i for i, name in enumerate(ETHNIC_PROVINCES.values())}
    status = {name: i for i, name in enumerate(STATUS)}
    return frame.sort_values(["province", "status", "city"], kind="stable",
                             key=lambda s: s.map(order) if s.name == "province" else
                             (s.map(status) if s.name == "status" else s)).reset_index(drop=True)


def prefectures(panel: pd.DataFrame, manifest: dict, entities: pd.DataFrame) -> pd.DataFrame:
    """data/reference/ethnic_prefectures.csv: every prefecture-level division of the eight provinces
    (`entities`: the raw crosswalk's entities.csv, city and province) with its status in the panel a
    build wrote (`panel` and its `manifest`, data/processed/manifest.json): 'in the panel'; 'dropped',
    with the sample rule and the reason the manifest records; or 'not a city of the yearbook' (a
    league, prefecture or autonomous prefecture).  Derived once from the raw crosswalk; a test with the
    raw data checks the committed file equals a fresh derivation (columns PREFECTURE_COLUMNS)."""
    held = panel.loc[ethnic(panel), ["province", "city"]].drop_duplicates()
    rows = [{"province": r.province, "city": r.city, "status": STATUS[0], "rule": "", "reason": ""}
            for r in held.itertuples()]
    lost = dropped_cities(manifest, entities)
    rows += [{"province": r.province, "city": r.city, "status": STATUS[1], "rule": r.rule, "reason": r.reason}
             for r in lost[lost["province"].isin(CASE.provinces)].itertuples()]
    known = {row["city"] for row in rows}
    rest = entities[entities["province"].isin(CASE.provinces) & ~entities["city"].isin(known)]
    rows += [{"province": r.province, "city": r.city, "status": STATUS[2], "rule": "", "reason": NOT_A_CITY}
             for r in rest.itertuples()]
    return _ordered(pd.DataFrame(rows, columns=PREFECTURE_COLUMNS))


def coverage(panel: pd.DataFrame, divisions: pd.DataFrame) -> pd.DataFrame:
    """One row per prefecture-level division of the eight provinces (`divisions`: ``prefectures``, as
    committed) and per city of theirs in the run's panel: province, short, city, status, rule, reason,
    city_years.  The run's panel decides what is in it: a division the committed panel holds and this
    run's does not is 'dropped', with that reason."""
    held = panel[ethnic(panel)].groupby(["province", "city"]).size().rename("city_years").reset_index()
    rows = [{"province": r.province, "city": r.city, "status": STATUS[0], "rule": "", "reason": "",
             "city_years": int(r.city_years)} for r in held.itertuples()]
    for r in divisions[~divisions["city"].isin(set(held["city"]))].itertuples():
        absent = r.status == STATUS[0]
        rows.append({"province": r.province, "city": r.city, "status": STATUS[1] if absent else r.status,
                     "rule": "not in this run's panel" if absent else r.rule,
                     "reason": "in the committed panel, not in this run's" if absent else r.reason, "city_years": 0})
    frame = pd.DataFrame(rows, columns=["province", "city", "status", "rule", "reason", "city_years"])
    frame.insert(1, "short", frame["province"].map(SHORT))
    return _ordered(frame)


def coverage_counts(cover: pd.DataFrame) -> pd.DataFrame:
    """Per province of the eight: divisions in the panel, city-years, dropped, not cities (short, in_panel,
    city_years, dropped, not_city)."""
    rows = []
    for short, full in ETHNIC_PROVINCES.items():
        part = cover[cover["province"] == full]
        rows.append({"short": short, "province": full, "in_panel": int((part["status"] == STATUS[0]).sum()),
                     "city_years": int(part["city_years"].sum()), "dropped": int((part["status"] == STATUS[1]).sum()),
                     "not_city": int((part["status"] == STATUS[2]).sum())})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- the panel's nearest quantities


def district_share(panel: pd.DataFrame) -> pd.DataFrame:
    """Registered population of the municipal districts over the whole city's, x 100, per year: pooled
    over the cities of each ethnic province, of the ethnic provinces together, and of all cities, with
    the median city's share (group, year, share_pooled, share_median, cities)."""
    frame = panel.assign(share=panel["pop_district"] / panel["pop_whole"] * 100)
    return per_group_year(_groups(frame, (GROUPS["ethnic"], GROUPS["national"]), first=False), lambda rows: {
        "share_pooled": rows["pop_district"].sum() / rows["pop_whole"].sum() * 100,
        "share_median": float(rows["share"].median())})


def _groups(frame: pd.DataFrame, groups: tuple[str, ...], first: bool) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows) of each ethnic province the frame holds (its English name) and of `groups` (GROUPS'
    names: the ethnic provinces together, the rest of the West, all cities); the provinces `first` or last."""
    select = {GROUPS["ethnic"]: ethnic, GROUPS["rest_of_west"]: CASE.rest_of_west,
              GROUPS["national"]: lambda f: np.ones(len(f), dtype=bool)}
    together = [(name, frame[select[name](frame)]) for name in groups]
    provinces = [(ENGLISH[SHORT[p]], frame[frame["province"] == p]) for p in ETHNIC_PROVINCES.values()
                 if (frame["province"] == p).any()]
    return provinces + together if first else together + provinces


def doctors(panel: pd.DataFrame) -> pd.DataFrame:
    """Doctors per 1,000 registered residents in the municipal districts and the non-urban area, and the
    non-urban rate over the district rate x 100, per year: pooled over the cities of each ethnic
    province in the panel and of all cities (group, year, district, nonurban, ratio_pct, cities).
    Panel units: doctors in persons, population in 10,000 persons."""
    def rates(rows: pd.DataFrame) -> dict:
        district = rows["doctors_district"].sum() / rows["pop_district"].sum() / 10
        nonurban = rows["doctors_nonurban"].sum() / rows["pop_nonurban"].sum() / 10
        return {"district": district, "nonurban": nonurban, "ratio_pct": nonurban / district * 100}

    return per_group_year(_groups(panel, (GROUPS["ethnic"], GROUPS["national"]), first=True), rates)


@dataclass(frozen=True)
class Nearest:
    """The panel's nearest quantity to one of the study's figures, and why the two differ."""

    quantity: str
    area: str
    year: int | None
    value: float
    unit: str
    why: str


def _last(frame: pd.DataFrame, group: str, column: str, year: int) -> tuple[int, float]:
    part = frame[frame["group"] == group]
    nearest = int(part.loc[(part["year"] - year).abs().idxmin(), "year"])
    return nearest, float(part.loc[part["year"] == nearest, column].iloc[0])


def _nearest(row, shares: pd.DataFrame, docs: pd.DataFrame, areas: str, target: int) -> Nearest | None:
    """The panel's nearest quantity to the study's figure `row` (a reference row), or None."""
    year = int(row.year) if pd.notna(row.year) else None
    if row.quantity == "urbanisation_rate" and row.area == "eight ethnic provinces":
        y, value = _last(shares, GROUPS["ethnic"], "share_pooled", target)
        return Nearest("registered population of the municipal districts / whole city", areas, y, value,
                       "percent of registered population",
                       f"The study's rate is the urban share of the resident (常住) population; the panel's is "
                       f"the share of the registered (户籍) population living in municipal districts (市辖区), "
                       f"which include rural townships and leave out the county towns, so it is not an "
                       f"urbanisation rate; {areas}; {y} against {year}.")
    elif row.quantity == "urbanisation_gap_to_national":
        y, ethnic_share = _last(shares, GROUPS["ethnic"], "share_pooled", target)
        _, national = _last(shares, GROUPS["national"], "share_pooled", target)
        return Nearest("all cities' district share minus the ethnic provinces' cities'", areas, y,
                       national - ethnic_share, "percentage points",
                       f"Both shares are of the registered population in municipal districts, the national "
                       f"one over the panel's {int(shares.loc[shares['group'] == GROUPS['national'], 'cities'].max())} "
                       f"cities (not the country: cities without a non-urban area and the other divisions "
                       f"are missing); registered, not resident, population; {y} against {year}.")
    elif row.quantity == "health_technicians_rural" and row.area in ETHNIC_PROVINCES:
        group = ENGLISH[row.area]
        if (docs["group"] == group).any():
            y, value = _last(docs, group, "nonurban", target)
            n = int(docs.loc[docs["group"] == group, "cities"].max())
            return Nearest("doctors per 1,000 registered residents, non-urban area",
                           f"{row.area}, {n} cities", y, value, "per thousand registered residents",
                           f"Doctors (医生数: licensed and assistant doctors) are one part of the health "
                           f"technicians (卫生技术人员, who also count nurses, pharmacists and technicians), "
                           f"so the panel's rate is lower by construction; the non-urban area is the "
                           f"counties, their towns included, not 'rural areas'; registered, not resident, "
                           f"population; {y} against {year}.")
    elif row.quantity == "health_technicians_rural_to_urban" and row.area in ETHNIC_PROVINCES:
        group = ENGLISH[row.area]
        if (docs["group"] == group).any():
            y, value = _last(docs, group, "ratio_pct", target)
            n = int(docs.loc[docs["group"] == group, "cities"].max())
            return Nearest("non-urban / district doctors per registered resident",
                           f"{row.area}, {n} cities", y, value, "percent of the district rate",
                           f"Doctors, not all health technicians; municipal districts, not 'cities' in the "
                           f"urban sense (they include rural townships), against the non-urban counties; "
                           f"registered population; {y} against {year}. A ratio depends less on the "
                           f"definition of the staff counted than a level does.")
    return None


def nearest_quantities(reference: pd.DataFrame, panel: pd.DataFrame, cover: pd.DataFrame) -> pd.DataFrame:
    """Each figure of the study beside the panel's nearest quantity (same provinces, nearest year), or
    the statement that the panel has none; one row per figure, the reference's columns first."""
    shares, docs = district_share(panel), doctors(panel)
    counts = coverage_counts(cover)
    held = counts[counts["in_panel"] > 0]
    absent = counts[counts["in_panel"] == 0]
    n_cities = int(held["in_panel"].sum())
    areas = (f"the panel's {n_cities} cities of {len(held)} of the eight provinces (none of "
             f"{', '.join(absent['short']) or 'none'}; no league, prefecture or autonomous prefecture)")

    def province_absent(short: str) -> str:
        part = cover[(cover["short"] == short) & (cover["status"] == "dropped")]
        return (f"The panel holds no city of {short}"
                + (f" (the {len(part)} the yearbook lists, {', '.join(part['city'])}, were dropped by the sample "
                   "rules of section 1)" if len(part) else "") + ".")

    rows = []
    for row in reference.itertuples():
        year = int(row.year) if pd.notna(row.year) else None
        target = year or int(panel["year"].max())
        none_why = ""
        nearest = _nearest(row, shares, docs, areas, target)
        if nearest is None:
            if row.area in ETHNIC_PROVINCES and int(counts.loc[counts["short"] == row.area, "in_panel"].iloc[0]) == 0:
                none_why = province_absent(row.area)
            elif row.area == "新疆 宁夏 内蒙古" or row.area == "Northwest China":
                none_why = "The panel has no land or environmental series."
            else:
                none_why = "The panel's yearbook series have nothing comparable."
            none_why += " " + NOTHING.get(row.quantity, "")
        rows.append({
            "section": row.section, "quantity": row.quantity, "area": row.area, "place": row.place,
            "year": "" if year is None else str(year), "value": row.value, "qualifier": row.qualifier,
            "unit": row.unit, "printed": row.printed,
            "panel_quantity": nearest.quantity if nearest else "",
            "panel_area": nearest.area if nearest else "",
            "panel_year": "" if nearest is None else str(nearest.year),
            "panel_value": nearest.value if nearest else np.nan,
            "panel_unit": nearest.unit if nearest else "",
            "comparable": nearest is not None,
            "why": nearest.why if nearest else none_why.strip(),
        })
    return pd.DataFrame(rows)


NOTHING = {  # what the panel lacks for each quantity it cannot match (a fact about the yearbook's series)
    "rural_to_urban_income": "It has no income by area (only GDP for the whole city).",
    "urbanisation_rate": "It has no resident (常住) population by area.",
    "urbanisation_rate_registered": "Its nearest, the registered population's district share, exists only for "
                                    "the provinces it covers (section 2).",
    "housing_area_urban": "It has no housing series.",
    "housing_area_rural": "It has no housing series.",
    "prefectures": "It counts prefecture-level cities only.",
    "prefectures_tap_water_below_threshold": "It has no water-supply series.",
    "tap_water_threshold": "It has no water-supply series.",
    "drone_spraying_per_hour": "It has no agricultural series.",
    "drone_to_manual_efficiency": "It has no agricultural series.",
    "rural_online_retail": "It has no retail or e-commerce series (Dig counts subscribers, telecom revenue and "
                           "ICT employment, not sales).",
    "rural_online_retail_growth": "It has no retail or e-commerce series.",
    "poor_household_income": "It has no income or poverty series.",
    "extremely_poor_counties": "It has no county or poverty series.",
    "ecommerce_workers": "Its employment series counts ICT and tertiary employment, not e-commerce.",
    "ecommerce_workers_poor_share": "It has no poverty series.",
    "agricultural_online_retail": "It has no retail or e-commerce series.",
    "agricultural_online_retail_growth": "It has no retail or e-commerce series, and it starts in 2011.",
    "telemedicine_counties": "It has no telemedicine series.",
    "telemedicine_coverage": "It has no telemedicine series.",
}


# ---------------------------------------------------------------------------- Dist and Dig


def indices_by_group(data: pd.DataFrame) -> pd.DataFrame:
    """Per year the medians of Dist and Dig over the ethnic provinces' cities, each ethnic province's,
    the rest of the West's and all cities' (group, kind, year, Dist, Dig, cities)."""
    parts = _groups(data, (GROUPS["ethnic"], GROUPS["rest_of_west"], GROUPS["national"]), first=False)
    frames = [medians(part).assign(group=name, kind="group" if name in GROUPS.values() else "province")
              for name, part in parts]
    return pd.concat(frames, ignore_index=True)[["group", "kind", "year", "Dist", "Dig", "cities"]]


# ---------------------------------------------------------------------------- the model


def fully_interacted_frame(sample: pd.DataFrame, x: list[str], members: pd.Series) -> tuple[pd.DataFrame, list[str]]:
    """The stacked sample of two groups (members: True for the first) with every regressor also
    multiplied by the indicator (<v>_x_ethnic) and a year effect per group (column 'group_year'), so the
    coefficient of Dig_x_ethnic is Dig(first) - Dig(second) of the two separate regressions."""
    frame = sample.copy()
    indicator = members.to_numpy(float)
    names = []
    for variable in x:
        name = f"{variable}_x_ethnic"
        frame[name] = frame[variable].to_numpy(float) * indicator
        names.append(name)
    frame["group_year"] = frame["year"].to_numpy() + 10_000 * indicator.astype(int)
    return frame, [names[0], *x, *names[1:]]


@dataclass(frozen=True)
class Difference:
    """Dig(ethnic) - Dig(other) for one comparison group."""

    against: str
    difference: float  # from the separate regressions
    interacted_difference: float  # from Table 6's fully interacted model (the same number)
    interacted_f: float  # Table 6's test: fully interacted, clustered by city, F(1, G-1)
    interacted_p: float
    fit: FitResult  # the fully interacted model, clustered by province
    wild: WildResult  # of Dig_x_ethnic = 0 in that model, clustered by province


@dataclass(frozen=True)
class EthnicModel:
    separate: dict[str, FitResult]  # Table 5 (4) per group, standard errors as options.cov_type
    by_province: FitResult  # the ethnic provinces' regression clustered by province
    wild: WildResult  # of Dig = 0 in it, clustered by province
    interaction: FitResult  # whole panel, Dig and Dig x ethnic, standard errors as options.cov_type
    interaction_wild: WildResult  # of Dig_x_ethnic = 0, clustered by province
    differences: dict[str, Difference]
    x: list[str]


def ethnic_model(data: pd.DataFrame, options: Options) -> EthnicModel:
    """Table 5 column 4 (Dist on Dig, Ur, Stru, lnexpense, lnper_gdp; city and year effects) for the
    ethnic provinces: their own regression, the whole panel with Dig x ethnic, and the fully interacted
    model against the rest of the West and against all other cities.

    The separate regressions and the interaction follow ``options.cov_type`` (models.fit); the
    interacted F test is Table 6's (clustered by city whatever cov_type); every wild bootstrap is WCR
    clustered by province whatever cov_type, enumerating all 2^G sign vectors when 2^G <= wild_draws."""
    x = [*MODEL, *shared_control(options)]
    sample, _, _ = complete_sample(data, ["Dist", *x], options)
    members = ethnic(sample)
    west = sample["region"] == "West"
    samples = {GROUPS["ethnic"]: sample[members], GROUPS["rest_of_west"]: sample[west & ~members],
               GROUPS["other"]: sample[~members], GROUPS["national"]: sample}
    separate = {name: fit(part, "Dist", x, options) for name, part in samples.items()}
    own = samples[GROUPS["ethnic"]]
    by_province = fit_fe(Design.from_frame(own, "Dist", x, cluster="province"), "cluster", "twoway",
                         drop_singletons=True)
    by_province_wild = wild(own, x, options)
    with_term = sample.assign(**{INTERACTION: sample["Dig"] * members.to_numpy(float)})
    interaction = fit(with_term, "Dist", ["Dig", INTERACTION, *x[1:]], options)
    interaction_wild = wild(with_term, ["Dig", INTERACTION, *x[1:]], options, term=INTERACTION)
    differences = {}
    for against in (GROUPS["rest_of_west"], GROUPS["other"]):
        pair = pd.concat([samples[GROUPS["ethnic"]], samples[against]])
        labelled = pair.assign(region=np.where(ethnic(pair), GROUPS["ethnic"], against))
        diff, f_stat, p = interacted_test(estimation_sample(labelled, ["Dist", *x], options), "Dist", x,
                                          GROUPS["ethnic"], against)
        stacked, names = fully_interacted_frame(pair, x, ethnic(pair))
        full = fit_fe(Design.from_frame(stacked, "Dist", names, time="group_year", cluster="province"),
                      "cluster", "twoway", drop_singletons=True)
        differences[against] = Difference(
            against, float(separate[GROUPS["ethnic"]].params["Dig"] - separate[against].params["Dig"]),
            diff, f_stat, p, full, wild(stacked, names, options, term=INTERACTION, time="group_year"))
    return EthnicModel(separate, by_province, by_province_wild, interaction, interaction_wild, differences, x)


def model_table(model: EthnicModel) -> pd.DataFrame:
    """Tidy rows (sample, term, stat, value) of every regression and test of ``ethnic_model``."""
    stats = (WILD_STATS[0], "p_t", *WILD_STATS[1:], "nclusters")
    rows = []
    for name, result in model.separate.items():
        rows += fit_rows(name, result, list(result.params.index) if name == GROUPS["ethnic"] else ["Dig"])
    rows += fit_rows(f"{GROUPS['ethnic']}, clustered by province", model.by_province, ["Dig"])
    rows += wild_rows(f"{GROUPS['ethnic']}, clustered by province", model.wild, stats)
    rows += fit_rows("Dig x ethnic", model.interaction, ["Dig", INTERACTION])
    rows += wild_rows("Dig x ethnic", model.interaction_wild, stats)
    for against, d in model.differences.items():
        sample = f"fully interacted: ethnic - {AGAINST[against]}"
        rows += [(sample, INTERACTION, "difference_separate", d.difference),
                 (sample, INTERACTION, "interacted_F_city", d.interacted_f),
                 (sample, INTERACTION, "interacted_p_city", d.interacted_p)]
        rows += fit_rows(sample, d.fit, [INTERACTION]) + wild_rows(sample, d.wild, stats)
    return tidy(rows)


# ---------------------------------------------------------------------------- figures


def indices_figure(frame: pd.DataFrame) -> dict[str, bytes]:
    """Dist and Dig medians by year: the ethnic provinces, the rest of the West, all cities, and each
    ethnic province in the panel (thin)."""
    provinces = frame[frame["kind"] == "province"]
    n = provinces["group"].nunique()
    lines = [Line(part, f"Each of the {n} ethnic provinces in the panel" if number == 0 else None, color=PAPER,
                  width=0.8, alpha=0.7) for number, (_, part) in enumerate(provinces.groupby("group", sort=True))]
    for key, style, color, width in (("ethnic", "-", OURS, 2.2), ("rest_of_west", "--", "black", 1.4),
                                     ("national", ":", "black", 1.6)):
        part = frame[frame["group"] == GROUPS[key]]
        lines.append(Line(part, f"{GROUPS[key]} ({int(part['cities'].max())} cities)", style, color, width))
    return index_figure(IndexFigure(
        lines, "Dist and Dig in the ethnic provinces beside the rest of the West and all cities (medians)",
        ("Dist: the public-service gap", "Dig: digital development"),
        ("Dist (index), median over cities", "Dig (index), median over cities"), height=4.0, legend_columns=2,
        bottom=0.1, years=list(frame["year"])))


def cities_figure(data: pd.DataFrame, groups: pd.DataFrame) -> dict[str, bytes]:
    """Dist of each city of the ethnic provinces, one panel each, the ethnic provinces' median dashed."""
    cities = data[ethnic(data)][["city_code", "city", "city_en", "year", "Dist"]]
    median = groups[groups["group"] == GROUPS["ethnic"]][["year", "Dist"]]
    return city_panels(cities, "Dist", "Dist (index)",
                       f"Dist of each of the ethnic provinces' {cities['city_code'].nunique()} cities, by year",
                       median, f"{GROUPS['ethnic']} median")


def study_figure(reference: pd.DataFrame, shares: pd.DataFrame, docs: pd.DataFrame) -> dict[str, bytes]:
    """Left: the district share of registered population by year (ethnic provinces' cities, all cities)
    with the study's urbanisation rate; right: non-urban and district doctors per 1,000 in Guangxi with
    the study's rural health technicians per 1,000."""
    figure, axes = plt.subplots(1, 2, figsize=(9.5, 4.3))
    for group, style in ((GROUPS["ethnic"], "-"), (GROUPS["national"], ":")):
        part = shares[shares["group"] == group]
        axes[0].plot(part["year"], part["share_pooled"], style, color=OURS, marker=".",
                     label=f"Panel: district share of registered population, {group.lower()} "
                           f"({int(part['cities'].max())} cities)")
    urban = reference[(reference["quantity"] == "urbanisation_rate") & (reference["area"] == "eight ethnic provinces")]
    for row in urban.itertuples():
        axes[0].plot([row.year], [row.value], "s", color="black",
                     label=f"Study: urbanisation rate (resident), eight provinces, {row.year}")
        gap = reference[reference["quantity"] == "urbanisation_gap_to_national"]
        for g in gap.itertuples():
            axes[0].plot([g.year], [row.value + g.value], "D", color="black", fillstyle="none",
                         label=f"Study: national rate implied ({row.value:g} + {g.value:g}), {g.year}")
    axes[0].set_ylim(0, 100)
    axes[0].set_ylabel("Percent of population")
    axes[0].set_title("Urbanisation (study) and district share (panel)", fontsize=9)
    health = reference[reference["quantity"] == "health_technicians_rural"]
    for row in health.itertuples():
        group = ENGLISH[row.area]
        part = docs[docs["group"] == group]
        axes[1].plot(part["year"], part["nonurban"], "-", color=OURS, marker=".",
                     label=f"Panel: doctors per 1,000, non-urban, {group}")
        axes[1].plot(part["year"], part["district"], "--", color=OURS, marker=".",
                     label=f"Panel: doctors per 1,000, districts, {group}")
        axes[1].plot([row.year], [row.value], "s", color="black",
                     label=f"Study: health technicians per 1,000, rural {group}, {row.year}")
    axes[1].set_ylim(0, None)
    axes[1].set_ylabel("Per 1,000 people")
    axes[1].set_title("Health staff per 1,000 people", fontsize=9)
    years = [*shares["year"], *reference["year"].dropna().astype(int)]
    for axis in axes:
        axis.set_xlabel("Year")
        integer_years(axis, [y for y in years if min(shares["year"]) <= y <= max(years)], most=7)
        axis.legend(frameon=False, fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1, handlelength=3.5)
    figure.suptitle("The study's figures beside the panel's nearest quantities", fontsize=10)
    figure.tight_layout()
    return save_figure(figure)


# ---------------------------------------------------------------------------- the report

def report_files(panel: pd.DataFrame, analysis: Analysis, reference: pd.DataFrame, divisions: pd.DataFrame,
                 published: pd.DataFrame, options: Options) -> dict[str, str | bytes]:
    """Every output of the ethnic-regions case: {relative path under output/: text or bytes}.

    `reference` is the study's figures (published.parse_ethnic_study), `divisions` every
    prefecture-level division of the eight provinces with its status and why it is not in the panel
    (published.parse_ethnic_prefectures: data/reference/ethnic_prefectures.csv, ``prefectures``), and
    `published` the paper's numbers (published.parse_published)."""
    data = analysis.data
    cover = coverage(panel, divisions)
    beside = nearest_quantities(reference, panel, cover)
    shares, docs = district_share(panel), doctors(panel)
    groups = indices_by_group(data)
    model = ethnic_model(data, options)
    tables = {"coverage": cover, "study_beside_panel": beside, "district_share": shares, "doctors": docs,
              "indices": groups, "model": model_table(model)}
    drawn = {"indices": indices_figure(groups), "cities": cities_figure(data, groups),
             "study": study_figure(reference, shares, docs)}
    sections = [_coverage_section(cover), _study_section(reference, beside), _indices_section(groups),
                _model_section(model, paper_dig(published), options)]
    return outputs(CASE, tables, drawn, _intro(cover, options), sections)


def _names(counts: pd.DataFrame) -> str:
    return ", ".join(f"{r.short} {r.in_panel}" for r in counts.sort_values("in_panel", ascending=False,
                                                                         kind="stable").itertuples())


def _intro(cover: pd.DataFrame, options: Options) -> str:
    counts = coverage_counts(cover)
    held = counts[counts["in_panel"] > 0]
    absent = counts[counts["in_panel"] == 0]
    return ("Seed 004 (Ren, Qi and Tong, 'Innovative Paths for Digital Empowerment in Rural Revitalization of "
            "Ethnic Minority Areas'; 'seed 004' is its file name among the texts the package was built from) "
            "argues that the urban-rural gap is widest in the eight ethnic provinces and regions and gives "
            "figures for them. This report puts each figure beside the nearest quantity the panel can compute, "
            "and fits the paper's Table 5 column 4 with Dig interacted with an ethnic-province indicator. "
            f"The panel holds {int(held['in_panel'].sum())} cities of {len(held)} of the eight "
            f"({int(held['city_years'].sum())} city-years: {_names(held)})"
            + (f" and none of {', '.join(absent['short'])}" if len(absent) else "") + ". Written by "
            "replication/ethnic.py. Non-default options: " + options_words(options) + ".")


def _coverage_section(cover: pd.DataFrame) -> Section:
    counts = coverage_counts(cover)
    held = counts[counts["in_panel"] > 0]
    absent = counts[counts["in_panel"] == 0]
    dropped = cover[cover["status"] == "dropped"]
    grid = plain_grid("The eight ethnic provinces in the panel", counts.assign(
        english=counts["short"].map(ENGLISH)),
        {"short": "Province", "english": "", "in_panel": "Cities in the panel", "city_years": "City-years",
         "dropped": "Dropped by a sample rule", "not_city": "Not a city of the yearbook"},
        {}, ["Cities in the panel: the run's panel. Dropped: the build manifest's sample rules (manifest.json). "
             "Not a city: the crosswalk's prefecture-level divisions that the yearbook's city tables do not list "
             "(leagues 盟, prefectures 地区, autonomous prefectures 自治州)."])
    lost = plain_grid("Cities of the eight provinces dropped from the panel, and why", dropped,
                      {"city": "City", "short": "Province", "rule": "Sample rule", "reason": "Reason"}, {},
                      ["From manifest.json (sample_rules): the rule that removed the city and its reason."])
    paragraphs = [
        f"The panel holds {int(held['in_panel'].sum())} cities ({int(held['city_years'].sum())} city-years) of "
        f"{len(held)} of the eight ethnic provinces and regions: {_names(held)}"
        + (f"; it holds none of {', '.join(absent['short'])}." if len(absent) else ".")
    ]
    for row in counts.itertuples():
        part = dropped[dropped["short"] == row.short]
        if not len(part) and not row.not_city:
            continue
        reasons = "; ".join(f"{r.city} ({r.reason})" for r in part.itertuples())
        paragraphs.append(
            f"{row.short} ({ENGLISH[row.short]}): {row.in_panel} in the panel"
            + (f", {len(part)} dropped: {reasons}" if len(part) else "")
            + (f"; {row.not_city} of its prefecture-level divisions are not cities and are not in the "
               "yearbook's city tables" if row.not_city else "") + ".")
    paragraphs.append(
        "So every prefecture-level city of Tibet and Xinjiang that the yearbook lists leaves the panel: "
        "those created after 2011 because the panel needs every edition 2012-2022, the others because a "
        "required series is missing or the city has no non-urban area; and most of both regions' land "
        "and people lie in prefectures, leagues and autonomous prefectures that the city yearbook does not "
        "cover at all. The study's Tibetan and Xinjiang examples therefore have no counterpart here."
        if {"西藏", "新疆"} <= set(absent["short"]) else
        "The provinces the panel misses are named above with the rules that removed their cities.")
    return Section("1. Coverage: which of the eight provinces the panel holds", paragraphs,
                   [grid, lost] if len(dropped) else [grid],
                   headline=f"{int(held['in_panel'].sum())} cities ({int(held['city_years'].sum())} city-years) of "
                            f"{len(held)} of the eight provinces: {_names(held)}"
                            + (f"; none of {', '.join(absent['short'])}." if len(absent) else "."))


def _study_section(reference: pd.DataFrame, beside: pd.DataFrame) -> Section:
    view = beside.assign(study=[f"{v:g}" + (" (over)" if q == "over" else " (under)" if q == "under" else "")
                                for v, q in zip(beside["value"], beside["qualifier"])])
    grid = plain_grid("Seed 004's figures beside the panel's nearest quantities", view,
                      {"section": "Section", "area": "Area", "place": "Place", "year": "Year", "study": "Study",
                       "unit": "Unit", "panel_value": "Panel", "panel_unit": "Panel unit", "panel_year": "Panel year",
                       "why": "Why they differ, or why there is nothing to compare"},
                      {"panel_value": "{:.2f}"},
                      ["Study: data/reference/ethnic_study.csv (the words as printed are in the CSV). '(over)' "
                       "and '(under)' are the study's 'more than' and 'less than'. Panel: the nearest quantity "
                       "for the same provinces and the nearest year (tables/ethnic_study_beside_panel.csv)."])
    comparable = beside[beside["comparable"]]
    sentences = [f"{r.printed!r} ({r.section}) against {r.panel_value:.2f} ({r.panel_quantity}, {r.panel_area}, "
                 f"{r.panel_year})" for r in comparable.itertuples()]
    sources = len(beside) - len(comparable)
    gap = comparable.loc[comparable["quantity"] == "urbanisation_gap_to_national", "panel_value"]
    ratio = comparable.loc[comparable["quantity"] == "health_technicians_rural_to_urban", "panel_value"]
    same = (len(gap) and float(gap.iloc[0]) > 0) and (len(ratio) and float(ratio.iloc[0]) < 100)
    return Section("2. The study's figures beside the panel", [
        f"The study prints {len(reference)} figures for the eight provinces, one of them or China (all entered "
        "in data/reference/ethnic_study.csv); it cites statistical communiqués and bulletins for the figures "
        "of section III and defines none of its terms beyond the words quoted. The panel "
        f"has a counterpart, always loose, for {len(comparable)} of them: " + "; ".join(sentences) + ".",
        f"For the other {sources} it has nothing comparable: the panel's series are the yearbook's population, "
        "schools, libraries, hospital beds and doctors by area and the whole city's GDP, spending, employment "
        "and telecom users; it has no income, housing, water, land, retail or telemedicine series, and no city "
        "of the provinces the study's examples mostly come from (section 1). The table gives the reason row by "
        "row.",
        "What the comparable rows show: the district share of the registered population is far below any "
        "urbanisation rate because municipal districts hold only part of the urban population (county towns "
        "are outside them) and migrants are counted where they are registered; doctors are a subset of health "
        "technicians, so the panel's levels are lower by construction. The differences and ratios (ethnic "
        "against national, non-urban against district) are the more comparable numbers"
        + (", and they point the same way as the study's: the ethnic provinces' cities have a smaller district "
           "share than all cities, and the non-urban area a fraction of the districts' doctors per person."
           if same else "; they do not all point the way the study's do (see the table)."),
        *_study_itself(reference),
    ], [grid], ("ethnic_study",),
        headline=f"Of the study's {len(reference)} figures the panel has a loose counterpart for {len(comparable)} "
                 f"(urbanisation and health staff); for {sources} it has nothing comparable.")


def _study_itself(reference: pd.DataFrame) -> list[str]:
    """The study's figures against each other: shares and growth rates its own numbers imply."""
    def value(quantity: str, area: str, year: int | None = None) -> float:
        part = reference[(reference["quantity"] == quantity) & (reference["area"] == area)]
        if year is not None:
            part = part[part["year"] == year]
        return float(part["value"].iloc[0]) if len(part) else float("nan")

    out = []
    total = value("desertified_land", "Northwest China")
    parts = {a: value("desertified_land", a) for a in ("新疆", "宁夏", "内蒙古")}
    share = value("desertified_land_share", "新疆 宁夏 内蒙古")
    if np.isfinite(total) and all(np.isfinite(v) for v in parts.values()):
        each = ", ".join(f"{a} {v / total * 100:.0f}%" for a, v in parts.items())
        out.append(f"The study against itself. Of the {total:g} million mu of desertified land in the Northwest, "
                   f"the three regions it names hold {sum(parts.values()) / total * 100:.0f}% together ({each}), "
                   f"so 'all accounting for more than {share:g}%' holds for the three together or for 新疆 alone, "
                   "not for each.")
    first = reference[(reference["quantity"] == "rural_online_retail") & (reference["area"] == "China")]
    if len(first) == 2:
        (y0, v0), (y1, v1) = sorted(zip(first["year"].astype(int), first["value"]))
        v1_billion = v1 * 1000 if "trillion" in first.loc[first["year"] == y1, "unit"].iloc[0] else v1
        growth = ((v1_billion / v0) ** (1 / (y1 - y0)) - 1) * 100
        tenfold = ((v1_billion / (10 * v0)) ** (1 / (y1 - y0)) - 1) * 100
        out.append(f"China's rural online retail sales from {v0:g} billion yuan in {y0} to {v1:g} trillion in {y1} "
                   f"imply {growth:.0f}% a year, not the printed 'over "
                   f"{value('rural_online_retail_growth', 'China'):g}'; a {y0} figure ten times the printed one "
                   f"({10 * v0:g} billion) would give {tenfold:.1f}% a year, so the {y0} figure may have lost a "
                   "digit in conversion from 亿 yuan (the panel cannot check it).")
    out.append("Two citations do not match the words: section III.A names the Ministry of Agriculture and Rural "
               "Affairs for the income figure but cites the National Bureau of Statistics' release [16], and "
               "section III.B names the Chinese Academy of Social Sciences' China Rural Development Report for "
               "Tibet's urbanisation but cites Tibet's statistical communiqué [17]." if {"rural_to_urban_income",
               "urbanisation_rate_registered"} <= set(reference["quantity"]) else "")
    return [paragraph for paragraph in out if paragraph]


def _indices_section(groups: pd.DataFrame) -> Section:
    wide = groups[groups["kind"] == "group"].pivot(index="year", columns="group", values=["Dist", "Dig"])
    first, last = int(wide.index.min()), int(wide.index.max())
    e, w, a = GROUPS["ethnic"], GROUPS["rest_of_west"], GROUPS["national"]
    cities = groups[groups["kind"] == "group"].groupby("group")["cities"].max()
    grid = medians_grid(wide, {e: "ethnic", w: "rest of West", a: "all"},
                        f"Ethnic provinces: {int(cities[e])} cities; rest of the West: {int(cities[w])}; all: "
                        f"{int(cities[a])}. Indices computed on all cities, as in Tables 4-6.")
    above_w = int((wide[("Dist", e)] > wide[("Dist", w)]).sum())
    above_a = int((wide[("Dist", e)] > wide[("Dist", a)]).sum())
    below_dig = int((wide[("Dig", e)] < wide[("Dig", a)]).sum())
    years = len(wide)
    def d(group: str, year: int) -> str:
        return _f(wide.loc[year, ("Dist", group)])

    def g3(group: str, year: int) -> str:
        return _f(wide.loc[year, ("Dig", group)], 3)

    return Section(f"3. Dist and Dig in the ethnic provinces, {first}-{last}", [
        f"The ethnic provinces' median public-service gap (Dist) is wider than the rest of the West's in "
        f"{above_w} of {years} years and than all cities' in {above_a}: {d(e, first)} in {first} and {d(e, last)} "
        f"in {last}, against {d(w, last)} (rest of the West) and {d(a, last)} (all cities) in {last}. This is the "
        "study's claim in the panel's terms, for the cities the panel holds.",
        f"Their median Dig is below all cities' in {below_dig} of {years} years: {g3(e, first)} in {first} and "
        f"{g3(e, last)} in {last}, against {g3(w, last)} and {g3(a, last)} in {last}.",
    ], [grid], ("ethnic_indices", "ethnic_cities"),
        headline=f"{last} medians: Dist {d(e, last)} in the ethnic provinces, {d(w, last)} in the rest of the West, "
                 f"{d(a, last)} in all cities; Dig {g3(e, last)}, {g3(w, last)} and {g3(a, last)}.")


def _wild_words(w: WildResult) -> str:
    interval = np.isfinite(w.ci_low) and np.isfinite(w.ci_high)
    how = (f"all 2^{w.nclusters} = {w.draws:,} sign vectors enumerated" if w.enumerated else
           f"{w.draws:,} draws of {w.weights} weights")
    return (f"wild p = {w.p_symmetric:.3f} ({how}, {w.nclusters} province clusters)"
            + (f", 95% interval [{w.ci_low:.3f}, {w.ci_high:.3f}]" if interval else ", no finite 95% interval"))


def _model_section(model: EthnicModel, paper: float, options: Options) -> Section:
    se = short_se(options)
    b, i, province = model.by_province, model.interaction, "clustered by province"
    rows = [coefficient(result, model=f"{name}: own regression", se=se, wild_p=np.nan)
            for name, result in model.separate.items()]
    rows += [coefficient(b, model=f"{GROUPS['ethnic']}: own regression", se=province, wild_p=model.wild.p_symmetric),
             coefficient(i, INTERACTION, model="All cities, Dig x ethnic", se=se,
                         wild_p=model.interaction_wild.p_symmetric)]
    rows += [coefficient(d.fit, INTERACTION, model=f"Fully interacted, ethnic - {AGAINST[against]}", se=province,
                         wild_p=d.wild.p_symmetric) for against, d in model.differences.items()]
    table = pd.DataFrame(rows)
    grid = plain_grid("Table 5 column 4 for the ethnic provinces", table,
                      {"model": "Model", "term": "Term", "estimate": "Estimate", "std_error": "SE", "p_value": "p",
                       "se": "Standard errors", "wild_p": "Wild p", "nobs": "N", "clusters": "Clusters"},
                      {"nobs": "{:.0f}", "clusters": "{:.0f}"},
                      ["Dist on Dig, Ur, Stru, lnexpense and lnper_gdp with city and year effects; indices computed "
                       "on all cities. 'Own regression' and 'Dig x ethnic' follow cov_type; the rows marked "
                       "clustered by province are always clustered by province (whatever cov_type), with Stata's "
                       "small-sample factor and t(G-1). The fully interacted model lets every slope and the year "
                       "effects differ between the two groups, so its Dig x ethnic is the difference of the two "
                       "own regressions. Wild p: the wild cluster restricted bootstrap (the null imposed), always "
                       f"clustered by province (whatever cov_type), {options.wild_weights} weights, all sign "
                       f"vectors enumerated when 2^G <= wild_draws = {options.wild_draws:,}."])
    own, nat = model.separate[GROUPS["ethnic"]], model.separate[GROUPS["national"]]
    w = model.wild
    paragraphs = [
        f"On the ethnic provinces' {own.nobs} city-years Dig's coefficient is {own.params['Dig']:.3f} (SE "
        f"{own.std_errors['Dig']:.3f}, {se}, p = {own.pvalues['Dig']:.3f}); on all cities it is "
        f"{nat.params['Dig']:.3f} (p = {nat.pvalues['Dig']:.3f}); the paper's is {paper}. Always also "
        f"clustered by province (whatever cov_type), the ethnic provinces' SE is {b.std_errors['Dig']:.3f} (p = {b.pvalues['Dig']:.3f} from "
        f"t({b.nclusters - 1})); {_wild_words(w)}.",
        f"With Dig x ethnic in the whole panel (the controls' slopes and the year effects shared) the ethnic "
        f"provinces' Dig differs from the others' by {i.params[INTERACTION]:.3f} (SE "
        f"{i.std_errors[INTERACTION]:.3f}, {se}, p = {i.pvalues[INTERACTION]:.3f}); "
        f"{_wild_words(model.interaction_wild)}.",
    ]
    for against, d in model.differences.items():
        paragraphs.append(
            f"Against {AGAINST[against]}, the separate regressions differ by {d.difference:.3f}; Table 6's test "
            f"(fully interacted, clustered by city whatever cov_type) gives F = {d.interacted_f:.3f}, p = "
            f"{d.interacted_p:.3f}; clustered by province p = {d.fit.pvalues[INTERACTION]:.3f} from "
            f"t({d.fit.nclusters - 1}); {_wild_words(d.wild)}.")
    ethnic_rows = [row for row in rows if not row["model"].startswith((GROUPS["rest_of_west"], GROUPS["other"],
                                                                        GROUPS["national"]))]
    tests = [p for row in ethnic_rows for p in (row["p_value"], row["wild_p"]) if np.isfinite(p)]
    rejected = sum(p < 0.05 for p in tests)
    g = w.nclusters
    steps = (f"with {g} clusters the bootstrap has only {w.draws} sign vectors, so its p-value moves in steps "
             f"of {1 / w.draws:.4f} and its interval is wide" if w.enumerated else
             f"with {g} clusters the bootstrap's interval is wide")
    paragraphs.append(
        (f"All {len(tests)} p-values of the ethnic provinces' rows are above 0.05: the panel does not "
         "show Dig related to Dist differently in the ethnic provinces than elsewhere, nor related at all "
         "within them. " if not rejected else
         f"{rejected} of the {len(tests)} p-values of the ethnic provinces' rows are below 0.05 (see the table). ")
        + f"What {g} province clusters can show: {steps}; with {g} treated of "
        f"{model.differences[GROUPS['other']].wild.nclusters} provinces in the comparison with all other cities, "
        "cluster-robust and wild bootstrap tests are known to be unreliable (MacKinnon and Webb 2018, 'The wild "
        "bootstrap for few (treated) clusters'), so a large p-value says the data cannot tell, not that there "
        "is no difference. The cities are those of section 1, not Tibet or Xinjiang; like the national model "
        "this is an association net of city and year effects, not a causal estimate.")
    headline = (f"Ethnic provinces ({own.nobs} city-years): Dig {own.params['Dig']:.3f} (p = "
                f"{own.pvalues['Dig']:.3f}, {se}; wild p = {w.p_symmetric:.3f}, {g} province clusters); "
                f"Dig x ethnic {i.params[INTERACTION]:.3f} (p = {i.pvalues[INTERACTION]:.3f}; wild p = "
                f"{model.interaction_wild.p_symmetric:.3f}).")
    return Section("4. The paper's Table 5 column 4 for the ethnic provinces", paragraphs, [grid],
                   headline=headline)


__all__ = ["CASE", "report_files", "build", "prefectures", "coverage", "coverage_counts", "dropped_cities",
           "nearest_quantities", "district_share", "doctors", "indices_by_group", "ethnic_model", "model_table",
           "fully_interacted_frame", "EthnicModel"]
