"""The ethnic regions: the figures of the third study (seed 004, Ren, Qi and Tong, "Innovative Paths for
Digital Empowerment in Rural Revitalization of Ethnic Minority Areas") for the eight ethnic provinces
and regions beside what the panel can compute for them, and the paper's Table 5 column 4 with Dig
interacted with an ethnic-province indicator.

Five pieces, each a pure function of the panel, the estimation data or the study's figures
(data/reference/ethnic_study.csv): the coverage (which of the eight provinces' prefecture-level
divisions the panel holds and why the others are missing, from the build manifest's sample rules and
the crosswalk's list of divisions); each figure of the study beside the nearest panel quantity, or
the statement that there is none; the registered-population district share and the doctors per person
by area; Dist and Dig by year in the ethnic provinces, the rest of the West and all cities; and the
model: the separate regression on the ethnic provinces' cities, Dig x ethnic in the whole panel, and
the fully interacted model whose Dig x ethnic coefficient is the difference of two separate
regressions, tested as Table 6's differences are and with the wild cluster restricted bootstrap
clustered by province.  ``build`` returns every file ({relative path: text or bytes}).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from replication.config import Options  # noqa: E402
from replication.estimation import Design, FitResult, fit_fe  # noqa: E402
from replication.figures import OURS, PAPER, city_panels, integer_years, save_figure  # noqa: E402
from replication.guangxi import Section, _csv, _f  # noqa: E402
from replication.indices import Analysis  # noqa: E402
from replication.models import CONTROLS, complete_sample, estimation_sample, fit, interacted_test, shared_control  # noqa: E402
from replication.published import ETHNIC_PROVINCES  # noqa: E402
from replication.render import page, plain_grid, short_se, to_html, to_markdown  # noqa: E402
from replication.wild import WildResult, wild_bootstrap  # noqa: E402

SHORT = {full: short for short, full in ETHNIC_PROVINCES.items()}  # 广西壮族自治区 -> 广西
ENGLISH = {"内蒙古": "Inner Mongolia", "广西": "Guangxi", "西藏": "Tibet", "宁夏": "Ningxia", "新疆": "Xinjiang",
           "贵州": "Guizhou", "云南": "Yunnan", "青海": "Qinghai"}
GROUPS = {"ethnic": "Ethnic provinces", "rest_of_west": "Rest of the West", "other": "Other cities",
          "national": "All cities"}
INTERACTION = "Dig_x_ethnic"
PAPER_DIG = -0.102  # the paper's Table 5 column 4 coefficient (data/reference/published.csv)


def ethnic(frame: pd.DataFrame) -> pd.Series:
    """True for the rows of a city of one of the eight ethnic provinces and regions."""
    return frame["province"].isin(list(ETHNIC_PROVINCES.values()))


def group_of(frame: pd.DataFrame) -> np.ndarray:
    """'Ethnic provinces', 'Rest of the West' or 'East' / 'Central' for each row."""
    return np.where(ethnic(frame), GROUPS["ethnic"],
                    np.where(frame["region"] == "West", GROUPS["rest_of_west"], frame["region"]))


# ---------------------------------------------------------------------------- coverage


def dropped_cities(manifest: dict | None, entities: pd.DataFrame | None) -> pd.DataFrame:
    """The cities the build's sample rules removed (manifest['sample_rules']), with the rule, the
    reason and, from `entities` (city, province: the crosswalk's prefecture-level divisions), the
    province: city, province, rule, reason."""
    rows = []
    for rule in (manifest or {}).get("sample_rules", []):
        for city in rule.get("dropped", []):
            rows.append({"city": city["city"], "rule": rule["rule"], "reason": city["reason"]})
    frame = pd.DataFrame(rows, columns=["city", "rule", "reason"])
    province = {} if entities is None else entities.drop_duplicates("city").set_index("city")["province"].to_dict()
    frame["province"] = frame["city"].map(province)
    return frame[["city", "province", "rule", "reason"]]


def coverage(panel: pd.DataFrame, dropped: pd.DataFrame, entities: pd.DataFrame | None) -> pd.DataFrame:
    """One row per prefecture-level division of the eight provinces (or, without `entities`, per city
    of the panel and per dropped city whose province is known): province, short, city, status ('in the
    panel', 'dropped', 'not a city of the yearbook'), rule, reason, city_years."""
    held = panel[ethnic(panel)].groupby(["province", "city"]).size().rename("city_years").reset_index()
    rows = [{"province": r.province, "city": r.city, "status": "in the panel", "rule": "", "reason": "",
             "city_years": int(r.city_years)} for r in held.itertuples()]
    lost = dropped[dropped["province"].isin(list(ETHNIC_PROVINCES.values()))]
    rows += [{"province": r.province, "city": r.city, "status": "dropped", "rule": r.rule, "reason": r.reason,
              "city_years": 0} for r in lost.itertuples()]
    if entities is not None:
        known = {row["city"] for row in rows}
        rest = entities[entities["province"].isin(list(ETHNIC_PROVINCES.values())) & ~entities["city"].isin(known)]
        rows += [{"province": r.province, "city": r.city, "status": "not a city of the yearbook", "rule": "",
                  "reason": "not among the prefecture-level cities of the yearbook's city tables "
                            "(a league, prefecture or autonomous prefecture)", "city_years": 0}
                 for r in rest.itertuples()]
    frame = pd.DataFrame(rows, columns=["province", "city", "status", "rule", "reason", "city_years"])
    frame.insert(1, "short", frame["province"].map(SHORT))
    order = {name: i for i, name in enumerate(ETHNIC_PROVINCES.values())}
    status = {"in the panel": 0, "dropped": 1, "not a city of the yearbook": 2}
    frame = frame.sort_values(["province", "status", "city"], kind="stable",
                              key=lambda s: s.map(order) if s.name == "province" else
                              (s.map(status) if s.name == "status" else s))
    return frame.reset_index(drop=True)


def coverage_counts(cover: pd.DataFrame) -> pd.DataFrame:
    """Per province of the eight: divisions in the panel, city-years, dropped, not cities (short, in_panel,
    city_years, dropped, not_city)."""
    rows = []
    for short, full in ETHNIC_PROVINCES.items():
        part = cover[cover["province"] == full]
        rows.append({"short": short, "province": full, "in_panel": int((part["status"] == "in the panel").sum()),
                     "city_years": int(part["city_years"].sum()), "dropped": int((part["status"] == "dropped").sum()),
                     "not_city": int((part["status"] == "not a city of the yearbook").sum())})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- the panel's nearest quantities


def district_share(panel: pd.DataFrame) -> pd.DataFrame:
    """Registered population of the municipal districts over the whole city's, x 100, per year: pooled
    over the cities of each ethnic province, of the ethnic provinces together, and of all cities, with
    the median city's share (group, year, share_pooled, share_median, cities)."""
    share = panel["pop_district"] / panel["pop_whole"] * 100
    frame = panel[["province", "year", "pop_district", "pop_whole", "city_code"]].assign(share=share)
    parts = [(GROUPS["ethnic"], frame[ethnic(panel)]), (GROUPS["national"], frame)]
    parts += [(ENGLISH[SHORT[p]], frame[frame["province"] == p]) for p in ETHNIC_PROVINCES.values()
              if (frame["province"] == p).any()]
    rows = []
    for name, part in parts:
        for year, rows_ in part.groupby("year"):
            rows.append({"group": name, "year": int(year),
                         "share_pooled": rows_["pop_district"].sum() / rows_["pop_whole"].sum() * 100,
                         "share_median": float(rows_["share"].median()), "cities": rows_["city_code"].nunique()})
    return pd.DataFrame(rows)


def doctors(panel: pd.DataFrame) -> pd.DataFrame:
    """Doctors per 1,000 registered residents in the municipal districts and the non-urban area, and the
    non-urban rate over the district rate x 100, per year: pooled over the cities of each ethnic
    province in the panel and of all cities (group, year, district, nonurban, ratio_pct, cities).
    Panel units: doctors in persons, population in 10,000 persons."""
    parts = [(ENGLISH[SHORT[p]], panel[panel["province"] == p]) for p in ETHNIC_PROVINCES.values()
             if (panel["province"] == p).any()]
    parts += [(GROUPS["ethnic"], panel[ethnic(panel)]), (GROUPS["national"], panel)]
    rows = []
    for name, part in parts:
        for year, rows_ in part.groupby("year"):
            district = rows_["doctors_district"].sum() / rows_["pop_district"].sum() / 10
            nonurban = rows_["doctors_nonurban"].sum() / rows_["pop_nonurban"].sum() / 10
            rows.append({"group": name, "year": int(year), "district": district, "nonurban": nonurban,
                         "ratio_pct": nonurban / district * 100, "cities": rows_["city_code"].nunique()})
    return pd.DataFrame(rows)


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
        why = "; ".join(f"{r.city}: {r.reason}" for r in part.itertuples())
        return (f"The panel holds no city of {short}" + (f" ({why})" if why else "") + ".")

    rows = []
    for row in reference.itertuples():
        year = int(row.year) if pd.notna(row.year) else None
        target = year or int(panel["year"].max())
        nearest: Nearest | None = None
        none_why = ""
        if row.quantity == "urbanisation_rate" and row.area == "eight ethnic provinces":
            y, value = _last(shares, GROUPS["ethnic"], "share_pooled", target)
            nearest = Nearest("registered population of the municipal districts / whole city", areas, y, value,
                              "percent of registered population",
                              f"The study's rate is the urban share of the resident (常住) population; the panel's is "
                              f"the share of the registered (户籍) population living in municipal districts (市辖区), "
                              f"which include rural townships and leave out the county towns, so it is not an "
                              f"urbanisation rate; {areas}; {y} against {year}.")
        elif row.quantity == "urbanisation_gap_to_national":
            y, ethnic_share = _last(shares, GROUPS["ethnic"], "share_pooled", target)
            _, national = _last(shares, GROUPS["national"], "share_pooled", target)
            nearest = Nearest("all cities' district share minus the ethnic provinces' cities'", areas, y,
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
                nearest = Nearest("doctors per 1,000 registered residents, non-urban area",
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
                nearest = Nearest("non-urban / district doctors per registered resident",
                                  f"{row.area}, {n} cities", y, value, "percent of the district rate",
                                  f"Doctors, not all health technicians; municipal districts, not 'cities' in the "
                                  f"urban sense (they include rural townships), against the non-urban counties; "
                                  f"registered population; {y} against {year}. A ratio depends less on the "
                                  f"definition of the staff counted than a level does.")
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
    parts = [(GROUPS["ethnic"], "group", data[ethnic(data)]),
             (GROUPS["rest_of_west"], "group", data[(data["region"] == "West") & ~ethnic(data)]),
             (GROUPS["national"], "group", data)]
    parts += [(ENGLISH[SHORT[p]], "province", data[data["province"] == p]) for p in ETHNIC_PROVINCES.values()
              if (data["province"] == p).any()]
    rows = []
    for name, kind, part in parts:
        medians = part.groupby("year")[["Dist", "Dig"]].median()
        counts = part.groupby("year")["city_code"].nunique()
        for year in medians.index:
            rows.append({"group": name, "kind": kind, "year": int(year), "Dist": float(medians.loc[year, "Dist"]),
                         "Dig": float(medians.loc[year, "Dig"]), "cities": int(counts.loc[year])})
    return pd.DataFrame(rows)


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


def _wild(frame: pd.DataFrame, x: list[str], term: str, options: Options, time: str = "year") -> WildResult:
    return wild_bootstrap(frame, "Dist", x, term=term, cluster="province", entity="city_code", time=time,
                          effects="twoway", restricted=True, weights=options.wild_weights, draws=options.wild_draws,
                          seed=options.seed, enumerate="auto", ci=True, level=0.95)


def ethnic_model(data: pd.DataFrame, options: Options) -> EthnicModel:
    """Table 5 column 4 (Dist on Dig, Ur, Stru, lnexpense, lnper_gdp; city and year effects) for the
    ethnic provinces: their own regression, the whole panel with Dig x ethnic, and the fully interacted
    model against the rest of the West and against all other cities.

    The separate regressions and the interaction follow ``options.cov_type`` (models.fit); the
    interacted F test is Table 6's (clustered by city whatever cov_type); every wild bootstrap is WCR
    clustered by province whatever cov_type, enumerating all 2^G sign vectors when 2^G <= wild_draws."""
    x = ["Dig", *CONTROLS, *shared_control(options)]
    sample, _, _ = complete_sample(data, ["Dist", *x], options)
    members = ethnic(sample)
    west = sample["region"] == "West"
    samples = {GROUPS["ethnic"]: sample[members], GROUPS["rest_of_west"]: sample[west & ~members],
               GROUPS["other"]: sample[~members], GROUPS["national"]: sample}
    separate = {name: fit(part, "Dist", x, options) for name, part in samples.items()}
    own = samples[GROUPS["ethnic"]]
    by_province = fit_fe(Design.from_frame(own, "Dist", x, cluster="province"), "cluster", "twoway",
                         drop_singletons=True)
    wild = _wild(own, x, "Dig", options)
    with_term = sample.assign(**{INTERACTION: sample["Dig"] * members.to_numpy(float)})
    interaction = fit(with_term, "Dist", ["Dig", INTERACTION, *x[1:]], options)
    interaction_wild = _wild(with_term, ["Dig", INTERACTION, *x[1:]], INTERACTION, options)
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
            diff, f_stat, p, full, _wild(stacked, names, INTERACTION, options, time="group_year"))
    return EthnicModel(separate, by_province, wild, interaction, interaction_wild, differences, x)


def model_table(model: EthnicModel) -> pd.DataFrame:
    """Tidy rows (sample, term, stat, value) of every regression and test of ``ethnic_model``."""
    rows = []

    def fit_rows(sample: str, result: FitResult, terms: list[str]) -> None:
        for term in terms:
            for stat, series in (("estimate", result.params), ("std_error", result.std_errors),
                                 ("t_stat", result.tstats), ("p_value", result.pvalues)):
                rows.append((sample, term, stat, float(series[term])))
        rows.extend([(sample, "", "nobs", float(result.nobs)),
                     (sample, "", "nclusters", np.nan if result.nclusters is None else float(result.nclusters)),
                     (sample, "", "r2_within", float(result.rsquared_within))])

    def wild_rows(sample: str, w: WildResult) -> None:
        rows.extend((sample, w.term, f"wild_{name}", float(getattr(w, name)))
                    for name in ("t_stat", "p_t", "p_symmetric", "p_equal_tailed", "ci_low", "ci_high", "draws",
                                 "nclusters"))
        rows.append((sample, w.term, "wild_enumerated", float(bool(w.enumerated))))

    for name, result in model.separate.items():
        fit_rows(name, result, list(result.params.index) if name == GROUPS["ethnic"] else ["Dig"])
    fit_rows(f"{GROUPS['ethnic']}, clustered by province", model.by_province, ["Dig"])
    wild_rows(f"{GROUPS['ethnic']}, clustered by province", model.wild)
    fit_rows("Dig x ethnic", model.interaction, ["Dig", INTERACTION])
    wild_rows("Dig x ethnic", model.interaction_wild)
    for against, d in model.differences.items():
        sample = f"fully interacted: ethnic - {against.lower()}"
        rows.extend([(sample, INTERACTION, "difference_separate", d.difference),
                     (sample, INTERACTION, "interacted_F_city", d.interacted_f),
                     (sample, INTERACTION, "interacted_p_city", d.interacted_p)])
        fit_rows(sample, d.fit, [INTERACTION])
        wild_rows(sample, d.wild)
    return pd.DataFrame(rows, columns=["sample", "term", "stat", "value"])
