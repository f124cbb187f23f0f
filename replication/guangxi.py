"""The Guangxi case: the figures of the second study (seed 000, Luo and Zhu, "Pathways for the
Digital Economy to Drive Urban-Rural Integration in Guangxi") beside what the yearbook shows for
Guangxi's 14 prefecture-level cities, and the paper's Table 5 column 4 within the one province.

Four pieces, each a pure function of the panel or the estimation data: the cities' Dist and Dig
beside the medians of the other western cities and of all cities; broadband and mobile users per
100 people for the seed's overlapping years, for the province and for its most and least developed
cities; the public-service gap by indicator (non-urban over district) in Guangxi and in the rest of
the West; and Table 5 column 4 on the 154 Guangxi city-years with city-clustered errors (Stata's
convention) and the wild cluster restricted bootstrap with all 2^14 sign vectors.
``report_files`` returns every file ({relative path: text or bytes}); the command line writes them.
What the report shares with the ethnic-regions case is in ``replication.casestudy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from replication.casestudy import (  # noqa: E402
    MODEL, NATIONAL, REST_OF_WEST, Case, IndexFigure, Line, Section, coefficient, fit_rows, fmt as _f,
    index_figure, medians, medians_grid, options_words, outputs, paper_dig, tidy, wild, wild_rows,
)
from replication.config import Options  # noqa: E402
from replication.estimation import Design, FitResult, fit_fe  # noqa: E402
from replication.figures import OURS, PAPER, city_panels, integer_years, save_figure  # noqa: E402
from replication.indices import DIST_FOUR, Analysis, area_indicators  # noqa: E402
from replication.registry import LABELS  # noqa: E402
from replication.models import estimation_sample  # noqa: E402
from replication.render import plain_grid  # noqa: E402
from replication.wild import WildResult  # noqa: E402

PROVINCE = "广西壮族自治区"
OVERLAP = (2018, 2019, 2020, 2021)  # the seed's Table 1 years that the panel (2011-2021) also has
QUANTITIES = {
    "digital_economy_output": "China's digital-economy output",
    "digital_economy_share_gdp": "the digital economy's share of GDP",
    "fibre_coverage": "fibre coverage of administrative villages",
    "internet_penetration": "internet penetration",
    "ecommerce_revenue": "rural e-commerce revenue",
    "telemedicine_health_centres": "telemedicine health centres",
    "telemedicine_consultations_growth": "telemedicine consultations",
    "cloud_classroom_students": "Cloud Classroom students",
    "waste_management_cost_reduction": "Beihai's waste-management costs",
    "bus_ridership_growth": "Nanning's rural bus ridership",
    "bus_travel_time_reduction": "Nanning's bus travel times",
    "digital_literacy_trainees": "digital-literacy trainees",
}
GROUPS = {"guangxi": "Guangxi", "rest_of_west": REST_OF_WEST, "national": NATIONAL}
TITLE = "The Guangxi case: seed 000's figures beside the yearbook, and the paper's model within one province"
CASE = Case("guangxi", TITLE, GROUPS["guangxi"], (PROVINCE,))


def _guangxi(frame: pd.DataFrame) -> pd.DataFrame:
    part = frame[frame["province"] == PROVINCE]
    if part.empty:
        raise ValueError(f"no city of {PROVINCE} (Guangxi) in the data; expected its 14 prefecture-level cities")
    return part


# ---------------------------------------------------------------------------- Dist and Dig


def indices_beside_medians(data: pd.DataFrame) -> pd.DataFrame:
    """Every Guangxi city-year's Dist and Dig, then per year the medians of Guangxi, of the other
    western cities and of all cities (tidy: year, series, kind, city_code, Dist, Dig, cities)."""
    cities = _guangxi(data)[["year", "city_code", "city", "city_en", "Dist", "Dig"]].assign(
        series=lambda f: f["city_en"].str.strip(), kind="city", cities=1)
    parts = [cities]
    for key, frame in (("guangxi", _guangxi(data)), ("rest_of_west", data[CASE.rest_of_west(data)]),
                       ("national", data)):
        parts.append(medians(frame).assign(series=f"{GROUPS[key]} median", kind="median", city_code=pd.NA))
    columns = ["year", "series", "kind", "city_code", "city", "city_en", "Dist", "Dig", "cities"]
    out = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    return out.sort_values(["kind", "series", "year"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------- internet use


def per_100(panel: pd.DataFrame) -> pd.DataFrame:
    """Broadband and mobile subscribers per 100 registered residents, and GDP per capita (yuan),
    whole city (panel units: 10k subscribers, 10k persons, 100m yuan)."""
    return pd.DataFrame({
        "broadband_per_100": panel["internet_whole"] / panel["pop_whole"] * 100,
        "mobile_per_100": panel["mobile_whole"] / panel["pop_whole"] * 100,
        "gdp_per_capita": panel["gdp_whole"] * 1e8 / (panel["pop_avg_whole"] * 1e4),
    }, index=panel.index)


def development_ranking(panel: pd.DataFrame, years: tuple[int, ...] = OVERLAP) -> pd.DataFrame:
    """Guangxi's cities ranked by GDP per capita (GDP / annual average population), averaged over
    `years`; rank 1 is the most developed."""
    part = _guangxi(panel)
    part = part[part["year"].isin(years)]
    rates = per_100(part).assign(city_code=part["city_code"], city=part["city"], city_en=part["city_en"].str.strip())
    ranking = rates.groupby(["city_code", "city", "city_en"], as_index=False)["gdp_per_capita"].mean()
    ranking = ranking.sort_values("gdp_per_capita", ascending=False, kind="stable").reset_index(drop=True)
    ranking["rank"] = np.arange(1, len(ranking) + 1)
    return ranking


def internet_use(panel: pd.DataFrame, years: tuple[int, ...] = OVERLAP) -> pd.DataFrame:
    """Broadband and mobile users per 100 people in `years`: the province (its 14 cities summed) and
    its most and least developed city (``development_ranking``).  `filled` names the fill rule of
    the year's subscriber or population figure, if any (2020 is interpolated: edition 2021 has no
    telecom table)."""
    part = _guangxi(panel)
    part = part[part["year"].isin(years)]
    ranking = development_ranking(panel, years)
    flags = ["internet_whole_fill", "mobile_whole_fill", "pop_whole_fill"]

    def fill(rows: pd.DataFrame) -> str:
        values = {v for c in flags if c in rows for v in rows[c].dropna().astype(str) if v}
        return ";".join(sorted(values))

    records = []
    for year, rows in part.groupby("year"):
        total = rows[["internet_whole", "mobile_whole", "pop_whole"]].sum()
        records.append({"year": year, "role": "province", "area": f"Guangxi ({len(rows)} cities)", "city_code": pd.NA,
                        "broadband_per_100": total["internet_whole"] / total["pop_whole"] * 100,
                        "mobile_per_100": total["mobile_whole"] / total["pop_whole"] * 100, "filled": fill(rows)})
        for role, position in (("most developed", 0), ("least developed", -1)):
            city = ranking.iloc[position]
            row = rows[rows["city_code"] == city["city_code"]]
            rates = per_100(row).iloc[0]
            records.append({"year": year, "role": role, "area": city["city_en"], "city_code": city["city_code"],
                            "broadband_per_100": rates["broadband_per_100"],
                            "mobile_per_100": rates["mobile_per_100"],
                            "filled": fill(row)})
    return pd.DataFrame(records)


def largest_change(panel: pd.DataFrame, years: tuple[int, ...] = OVERLAP) -> dict:
    """The largest one-year change (absolute) of any Guangxi city's broadband rate within `years`."""
    part = _guangxi(panel)
    part = part[part["year"].isin(years)].sort_values(["city_code", "year"])
    rates = per_100(part).assign(city_code=part["city_code"], city_en=part["city_en"].str.strip(), year=part["year"])
    rates["before"] = rates.groupby("city_code")["broadband_per_100"].shift(1)
    rates["change"] = rates["broadband_per_100"] - rates["before"]
    row = rates.loc[rates["change"].abs().idxmax()]
    return {"city_en": row["city_en"], "year": int(row["year"]), "before": float(row["before"]),
            "after": float(row["broadband_per_100"])}


def seed_beside_yearbook(reference: pd.DataFrame, internet: pd.DataFrame) -> pd.DataFrame:
    """One row per overlapping year: the seed's Table 1 beside the yearbook's rates."""
    table1 = reference[reference["source"] == "Table 1"]
    out = pd.DataFrame({"year": sorted(internet["year"].unique())})
    for quantity, column in (("fibre_coverage", "seed_fibre_villages"),
                             ("internet_penetration", "seed_rural_internet")):
        values = table1[table1["quantity"] == quantity].set_index("year")["value"]
        out[column] = out["year"].map(values.to_dict()).astype(float)
    for role, prefix in (("province", "guangxi"), ("most developed", "most"), ("least developed", "least")):
        rows = internet[internet["role"] == role].set_index("year")
        out[f"{prefix}_broadband"] = out["year"].map(rows["broadband_per_100"].to_dict())
        out[f"{prefix}_mobile"] = out["year"].map(rows["mobile_per_100"].to_dict())
    out["filled"] = out["year"].map(internet.groupby("year")["filled"].agg(lambda s: ";".join(sorted({
        v for text in s for v in text.split(";") if v}))).to_dict())
    return out


def seed_consistency(reference: pd.DataFrame) -> pd.DataFrame:
    """The seed against itself: each figure of its text that a table also prints, with both values."""
    tables = reference[reference["source"].str.startswith("Table")]
    text = reference[~reference["source"].str.startswith("Table")]
    merged = text.merge(tables, on=["quantity", "year", "group"], suffixes=("_text", "_table"))
    merged["agree"] = merged["value_text"] == merged["value_table"]
    return merged[["quantity", "year", "group", "source_text", "value_text", "source_table", "value_table", "agree"]]


# ---------------------------------------------------------------------------- public services


def service_gap(panel: pd.DataFrame, options: Options) -> pd.DataFrame:
    """The four area-split public-service indicators in the municipal districts and the non-urban
    area, and their ratio (non-urban / district; 1 = parity), per year: medians over the cities of
    Guangxi and of the rest of the West, and over all years pooled ('2011-2021')."""
    west = panel[panel["region"] == "West"]
    district = area_indicators(west, "district", options)[list(DIST_FOUR)]
    nonurban = area_indicators(west, "nonurban", options)[list(DIST_FOUR)]
    group = np.where(west["province"] == PROVINCE, GROUPS["guangxi"], GROUPS["rest_of_west"])
    long = []
    for indicator in DIST_FOUR:
        long.append(pd.DataFrame({
            "group": group, "year": west["year"].to_numpy(), "city_code": west["city_code"].to_numpy(),
            "indicator": indicator, "district": district[indicator].to_numpy(),
            "nonurban": nonurban[indicator].to_numpy(),
        }))
    frame = pd.concat(long, ignore_index=True)
    frame["ratio"] = frame["nonurban"] / frame["district"]
    keys = ["group", "indicator"]
    by_year = frame.groupby([*keys, "year"]).agg(
        district=("district", "median"), nonurban=("nonurban", "median"), ratio=("ratio", "median"),
        cities=("city_code", "nunique")).reset_index()
    by_year["year"] = by_year["year"].astype(str)
    pooled = frame.groupby(keys).agg(
        district=("district", "median"), nonurban=("nonurban", "median"), ratio=("ratio", "median"),
        cities=("city_code", "nunique")).reset_index().assign(year=f"{panel['year'].min()}-{panel['year'].max()}")
    out = pd.concat([by_year, pooled], ignore_index=True)
    out["label"] = out["indicator"].map(LABELS)
    order = {name: i for i, name in enumerate(DIST_FOUR)}
    out = out.sort_values(["group", "indicator", "year"], key=lambda s: s.map(order) if s.name == "indicator" else s,
                          kind="stable")
    columns = ["group", "indicator", "label", "year", "district", "nonurban", "ratio", "cities"]
    return out[columns].reset_index(drop=True)


# ---------------------------------------------------------------------------- Table 5 column 4 within Guangxi


@dataclass(frozen=True)
class WithinGuangxi:
    fit: FitResult  # Table 5 column 4 on the Guangxi city-years, clustered by city (Stata's convention)
    wild: WildResult  # wild cluster restricted bootstrap, all 2^G sign vectors
    nobs: int
    comparison: dict[str, FitResult]  # the same model on all cities and on the West
    leave_one_out: pd.DataFrame  # city left out, Dig estimate, t


def _fit(sample: pd.DataFrame) -> FitResult:
    """Table 5 column 4 clustered by city (Stata's convention), whatever the options."""
    return fit_fe(Design.from_frame(sample, "Dist", MODEL), "cluster", "twoway")


def within_guangxi(data: pd.DataFrame, options: Options) -> WithinGuangxi:
    """Table 5 column 4 (Dist on Dig and the four controls, city and year effects) on Guangxi alone.

    Errors are clustered by city whatever ``options.cov_type`` says (one province is one cluster);
    the wild cluster restricted bootstrap imposes Dig = 0, Rademacher weights, and enumerates all
    2^14 sign vectors, so its p-values are exact and need no seed."""
    sample = estimation_sample(_guangxi(data), ["Dist", *MODEL], options)
    fit = _fit(sample)
    every = wild(sample, MODEL, options, cluster="city_code", every_sign=True)
    comparison = {
        "All cities": _fit(estimation_sample(data, ["Dist", *MODEL], options)),
        "West": _fit(estimation_sample(data[data["region"] == "West"], ["Dist", *MODEL], options)),
    }
    rows = []
    for code, part in sample.groupby("city_code"):
        left = _fit(sample[sample["city_code"] != code])
        rows.append({"city_code": code, "city_en": str(part["city_en"].iloc[0]).strip(),
                     "estimate": left.params["Dig"], "t_stat": left.tstats["Dig"]})
    return WithinGuangxi(fit, every, len(sample), comparison, pd.DataFrame(rows))


def model_table(result: WithinGuangxi) -> pd.DataFrame:
    """Tidy rows: the Guangxi coefficients, the Dig coefficient of the comparison samples, the wild
    bootstrap statistics (sample, term, stat, value)."""
    rows = fit_rows("Guangxi", result.fit, list(result.fit.params.index))
    for sample, fit in result.comparison.items():
        rows += fit_rows(sample, fit, ["Dig"])
    rows += wild_rows("Guangxi", result.wild)
    lo = result.leave_one_out
    rows += [("Guangxi", "Dig", "leave_one_city_out_min", float(lo["estimate"].min())),
             ("Guangxi", "Dig", "leave_one_city_out_max", float(lo["estimate"].max()))]
    return tidy(rows)


# ---------------------------------------------------------------------------- figures


def indices_figure(frame: pd.DataFrame) -> dict[str, bytes]:
    """Dist (log scale) and Dig of each Guangxi city (grey) beside the three medians."""
    cities = frame[frame["kind"] == "city"]
    n = cities["city_code"].nunique()
    lines = [Line(city, f"Each of Guangxi's {n} cities" if number == 0 else None, color=PAPER, width=0.7, alpha=0.6)
             for number, (_, city) in enumerate(cities.groupby("city_code"))]
    for key, style, color, width in (("guangxi", "-", OURS, 2.2), ("rest_of_west", "--", "black", 1.4),
                                     ("national", ":", "black", 1.6)):
        series = f"{GROUPS[key]} median"
        lines.append(Line(frame[frame["series"] == series], series, style, color, width))
    return index_figure(IndexFigure(
        lines, "Guangxi's cities beside the medians of the rest of the West and of all cities",
        (f"Dist (log scale; grey: the {n} cities)", f"Dig (grey: the {n} cities)"),
        ("Dist (index, log scale)", "Dig (index, 0-1)"), height=3.9, legend_columns=4, bottom=0.07,
        log_dist=True, years=list(frame["year"])))


def cities_figure(frame: pd.DataFrame) -> dict[str, bytes]:
    """Dist of each Guangxi city in its own panel, named in Chinese and English, the rest of the West's
    median dashed in every panel."""
    cities = frame[frame["kind"] == "city"]
    west = frame[(frame["kind"] == "median") & (frame["series"] == f"{GROUPS['rest_of_west']} median")]
    return city_panels(cities, "Dist", "Dist (index)",
                       f"Dist of each of Guangxi's {cities['city_code'].nunique()} cities, by year",
                       west[["year", "Dist"]], f"{GROUPS['rest_of_west']} median")


def internet_figure(beside: pd.DataFrame, reference: pd.DataFrame, ranking: pd.DataFrame) -> dict[str, bytes]:
    figure, axes = plt.subplots(1, 2, figsize=(9.5, 4.6))
    table1 = reference[reference["source"] == "Table 1"]
    for quantity, style, label in (("fibre_coverage", "s--", "Seed Table 1: fibre coverage, administrative villages"),
                                   ("internet_penetration", "o--", "Seed Table 1: rural internet penetration")):
        part = table1[table1["quantity"] == quantity]
        axes[0].plot(part["year"], part["value"], style, color=PAPER, label=label)
    table3 = reference[(reference["source"] == "Table 3")].set_index("group")["value"]
    for group, marker, shift in (("Developed Areas", "^", 0.15), ("Underdeveloped Areas", "v", 0.15)):
        axes[0].plot([2023 + shift], [table3[group]], marker, color="black",
                     label=f"Seed Table 3 (2023): {group.lower()}")
    axes[0].set_ylim(0, 105)
    axes[0].set_title("Seed 000 (percent; no definition given)", fontsize=9)
    axes[0].legend(frameon=False, fontsize=7, loc="lower right")
    names = {"guangxi": "Guangxi", "most": f"{ranking['city_en'].iloc[0]} (highest GDP per capita)",
             "least": f"{ranking['city_en'].iloc[-1]} (lowest)"}
    for prefix, style in (("guangxi", "-"), ("most", "--"), ("least", ":")):
        axes[1].plot(beside["year"], beside[f"{prefix}_broadband"], style, color=OURS, marker="o",
                     label=f"Broadband, {names[prefix]}")
        axes[1].plot(beside["year"], beside[f"{prefix}_mobile"], style, color="black", marker=".",
                     label=f"Mobile, {names[prefix]}")
    axes[1].set_ylim(0, None)
    axes[1].set_title("Yearbook: subscribers per 100 registered residents, whole city", fontsize=9)
    axes[1].legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    axes[0].set_ylabel("Percent")
    axes[1].set_ylabel("Subscribers per 100 registered residents")
    integer_years(axes[1], beside["year"])
    for axis in axes:
        axis.set_xlabel("Year")
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}"))
    figure.suptitle("Internet use in Guangxi: the seed's figures and the yearbook's", fontsize=10)
    figure.tight_layout()
    return save_figure(figure)


def service_gap_figure(gap: pd.DataFrame) -> dict[str, bytes]:
    yearly = gap[gap["year"].str.len() == 4].assign(year=lambda f: f["year"].astype(int))
    figure, axes = plt.subplots(1, len(DIST_FOUR), figsize=(11, 3.2), sharex=True)
    for axis, indicator in zip(axes, DIST_FOUR):
        for group, style, color in ((GROUPS["guangxi"], "-", OURS), (GROUPS["rest_of_west"], "--", "black")):
            part = yearly[(yearly["indicator"] == indicator) & (yearly["group"] == group)]
            axis.plot(part["year"], part["ratio"], style, color=color, label=group)
        axis.axhline(1, color=PAPER, linewidth=0.8)
        axis.set_title(LABELS[indicator], fontsize=8)
        axis.set_xlabel("Year")
        integer_years(axis, yearly["year"], most=4)
    axes[0].set_ylabel("Non-urban / district (median)")
    figure.suptitle("The public-service gap per indicator: non-urban provision per person relative to the "
                    "districts' (1 = equal)", fontsize=10)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False, fontsize=8)
    return save_figure(figure)


# ---------------------------------------------------------------------------- the report


def report_files(panel: pd.DataFrame, analysis: Analysis, reference: pd.DataFrame, published: pd.DataFrame,
                 options: Options) -> dict[str, str | bytes]:
    """Every Guangxi output: {relative path under output/: text or bytes}; `reference` is the seed's
    figures (published.parse_guangxi_seed), `published` the paper's numbers (published.parse_published)."""
    data = analysis.data
    indices = indices_beside_medians(data)
    ranking = development_ranking(panel)
    internet = internet_use(panel)
    beside = seed_beside_yearbook(reference, internet)
    gap = service_gap(panel, options)
    model = within_guangxi(data, options)
    tables = {"indices": indices, "internet": internet, "ranking": ranking, "service_gap": gap,
              "model": model_table(model)}
    drawn = {"indices": indices_figure(indices), "cities": cities_figure(indices),
             "internet": internet_figure(beside, reference, ranking), "service_gap": service_gap_figure(gap)}
    sections = [_seed_section(reference, seed_consistency(reference)), _indices_section(indices),
                _internet_section(reference, ranking, beside, largest_change(panel)), _gap_section(gap),
                _model_section(model, paper_dig(published))]
    return outputs(CASE, tables, drawn, _intro(options, int(indices.loc[indices["kind"] == "city", "city_code"]
                                                            .nunique())), sections)


def _seed_section(reference: pd.DataFrame, consistency: pd.DataFrame) -> Section:
    is_table = reference["source"].str.startswith("Table")
    shared = len(consistency)
    agree = int(consistency["agree"].sum())
    covered = {"internet_penetration"}
    uncovered = sorted(set(reference["quantity"]) - covered)
    view = reference.assign(year=reference["year"].astype("string").fillna(""))
    grid = plain_grid("Seed 000: every printed figure (data/reference/guangxi_seed.csv)", view,
                      {"source": "Where", "quantity": "Quantity", "year": "Year", "group": "Group", "value": "Value",
                       "qualifier": "As", "unit": "Unit", "printed": "Printed"}, {"value": "{:g}"},
                      ["Table cells carry their column heading as 'printed'; text figures the phrase they stand in. "
                       "'over' and 'nearly' are the seed's own qualifiers ('exceeding 95%', 'over 200', "
                       "'nearly 50%')."])
    return Section("1. What seed 000 prints", [
        f"Luo and Zhu print {len(reference)} figures: {int(is_table.sum())} in their Tables 1-3 and "
        f"{int((~is_table).sum())} in the text. They cite no source for any of them (section 3.2 names the "
        "National Bureau of Statistics, Guangxi's government and 'other agencies' in general) and define "
        "none: 'rural internet penetration', 'internet access rate' and 'developed' and 'underdeveloped "
        "areas' are not explained.",
        f"The seed agrees with itself: of the {shared} figures its text repeats from a table, {agree} are "
        "equal. Its charts are cited by numbers they do not carry (the text's 'Chart 1', 'Chart 4' and "
        "'Chart 5' are Figures 1, 3 and 4), and the urban figure ('exceeding 95%', cited to Chart 1) "
        "appears in no table.",
        "The City Statistical Yearbook speaks to the internet figures only, and only indirectly (section 3). "
        f"It has nothing on {', '.join(QUANTITIES.get(q, q) for q in uncovered)}: those claims cannot be "
        "checked with this package's data.",
    ], [grid], headline=f"Seed 000 prints {len(reference)} figures ({int(is_table.sum())} in Tables 1-3); its "
       f"text agrees with its tables on {agree} of the {shared} figures both print; only the internet "
       "figures have a yearbook counterpart, and a loose one.")


def _indices_section(indices: pd.DataFrame) -> Section:
    medians = indices[indices["kind"] == "median"].pivot(index="year", columns="series", values=["Dist", "Dig"])
    cities = indices[indices["kind"] == "city"]
    last, first = int(indices["year"].max()), int(indices["year"].min())
    gx, rw, nat = (f"{GROUPS[k]} median" for k in ("guangxi", "rest_of_west", "national"))
    final = cities[cities["year"] == last]
    above_dist = int((final["Dist"] > medians.loc[last, ("Dist", nat)]).sum())
    above_dig = int((final["Dig"] > medians.loc[last, ("Dig", nat)]).sum())
    top = cities.loc[cities["Dist"].idxmax()]
    second = cities["Dist"].nlargest(2).iloc[1]
    counts = indices[indices["kind"] == "median"].drop_duplicates("series").set_index("series")["cities"]
    grid = medians_grid(medians, {gx: "Guangxi", rw: "rest of West", nat: "all"},
                        f"Guangxi: {int(counts[gx])} cities; rest of the West: {int(counts[rw])}; all: "
                        f"{int(counts[nat])}. Dist and Dig as in Tables 4-5 (indices computed on all cities).")
    wider = int((medians[("Dist", gx)] > medians[("Dist", rw)]).sum())
    wider_nat = int((medians[("Dist", gx)] > medians[("Dist", nat)]).sum())
    lower = int((medians[("Dig", gx)] < medians[("Dig", rw)]).sum())
    start = cities[cities["year"] == first].set_index("city_code")["Dig"]
    rose = int((final.set_index("city_code")["Dig"] > start).sum())
    years = len(medians)
    n = cities["city_code"].nunique()
    return Section(f"2. Dist and Dig: Guangxi's {n} cities, {first}-{last}", [
        f"Guangxi's median public-service gap (Dist) is wider than the rest of the West's in {wider} of "
        f"{years} years and than the median of all cities in {wider_nat}: {_f(medians.loc[first, ('Dist', gx)])} "
        f"in {first} and {_f(medians.loc[last, ('Dist', gx)])} in {last}, against "
        f"{_f(medians.loc[last, ('Dist', rw)])} (rest of the West) and {_f(medians.loc[last, ('Dist', nat)])} "
        f"(all cities) in {last}; {above_dist} of the {n} cities lie above the national median in {last}.",
        f"Digital development (Dig) rose between {first} and {last} in {rose} of the {n} cities; Guangxi's median "
        f"is below the rest of the West's in {lower} of {years} years: {_f(medians.loc[first, ('Dig', gx)], 3)} "
        f"in {first} and {_f(medians.loc[last, ('Dig', gx)], 3)} in {last}, against "
        f"{_f(medians.loc[last, ('Dig', rw)], 3)} (rest of the West) and {_f(medians.loc[last, ('Dig', nat)], 3)} "
        f"(all cities); {above_dig} of the {n} cities are above the national median in {last}.",
        f"One city-year is far off the scale of the others: {top['city_en'].strip()} {int(top['year'])}, Dist "
        f"{_f(top['Dist'], 1)} (the next largest Guangxi value is {_f(second)}); the leave-one-city-out "
        "estimates of section 5 show how much single cities weigh on the regression.",
    ], [grid], ("guangxi_indices", "guangxi_cities"),
        headline=f"{last} medians: Dist {_f(medians.loc[last, ('Dist', gx)])} in Guangxi, "
                 f"{_f(medians.loc[last, ('Dist', rw)])} in the rest of the West, "
                 f"{_f(medians.loc[last, ('Dist', nat)])} in all cities; "
                 f"Dig {_f(medians.loc[last, ('Dig', gx)], 3)}, {_f(medians.loc[last, ('Dig', rw)], 3)} "
                 f"and {_f(medians.loc[last, ('Dig', nat)], 3)}.")


def _internet_section(reference: pd.DataFrame, ranking: pd.DataFrame, beside: pd.DataFrame, jump: dict) -> Section:
    most, least = ranking.iloc[0], ranking.iloc[-1]
    last = int(beside["year"].max())
    row = beside.set_index("year").loc[last]
    first_row = beside.set_index("year").loc[int(beside["year"].min())]
    t3 = reference[reference["source"] == "Table 3"].set_index("group")["value"]
    filled = sorted({int(y) for y, f in zip(beside["year"], beside["filled"]) if isinstance(f, str) and f})
    table = beside.assign(year=beside["year"].astype(str))
    grid = plain_grid(
        f"Seed 000's Table 1 beside the yearbook, Guangxi {beside['year'].min()}-{last}", table,
        {"year": "Year", "seed_fibre_villages": "Seed: fibre, villages (%)",
         "seed_rural_internet": "Seed: rural internet (%)", "guangxi_broadband": "Broadband /100, Guangxi",
         "guangxi_mobile": "Mobile /100, Guangxi", "most_broadband": f"Broadband /100, {most['city_en']}",
         "most_mobile": f"Mobile /100, {most['city_en']}", "least_broadband": f"Broadband /100, {least['city_en']}",
         "least_mobile": f"Mobile /100, {least['city_en']}", "filled": "Filled"},
        {c: "{:.1f}" for c in beside.columns},
        ["Yearbook: year-end broadband (互联网宽带接入用户) and mobile subscribers, whole city, over "
         "year-end "
         "registered population x 100; Guangxi = its cities summed. 'Filled' names interpolated cells "
         "(edition 2021 prints no telecom table, so every 2020 value is interpolated between 2019 and 2021)."])
    rank_view = ranking.assign(gdp_per_capita=ranking["gdp_per_capita"].round(0))
    rank_grid = plain_grid(f"Guangxi's cities by GDP per capita, mean {beside['year'].min()}-{last}", rank_view,
                           {"rank": "Rank", "city_en": "City", "city": "", "gdp_per_capita": "GDP per capita (yuan)"},
                           {"gdp_per_capita": "{:,.0f}", "rank": "{:.0f}"},
                           ["GDP (current prices) over annual average population, whole city."])
    ratio_broadband = row["least_broadband"] / row["most_broadband"]
    ratio_mobile = row["least_mobile"] / row["most_mobile"]
    return Section("3. Internet use: the seed's penetration rates and the yearbook's subscribers", [
        f"Developed and less developed cities are ranked by GDP per capita (GDP over annual average "
        f"population, mean of {beside['year'].min()}-{last}): the most developed is {most['city_en']} "
        f"({most['gdp_per_capita']:,.0f} yuan), the least {least['city_en']} ({least['gdp_per_capita']:,.0f} yuan).",
        f"In {last} Guangxi had {_f(row['guangxi_broadband'], 1)} broadband and {_f(row['guangxi_mobile'], 1)} "
        f"mobile subscriptions per 100 registered residents (from {_f(first_row['guangxi_broadband'], 1)} and "
        f"{_f(first_row['guangxi_mobile'], 1)} in {int(beside['year'].min())}); {most['city_en']} "
        f"{_f(row['most_broadband'], 1)} and {_f(row['most_mobile'], 1)}, {least['city_en']} "
        f"{_f(row['least_broadband'], 1)} and {_f(row['least_mobile'], 1)}. The seed's Table 1 has rural "
        f"internet penetration at {_f(row['seed_rural_internet'], 0)}% and fibre in "
        f"{_f(row['seed_fibre_villages'], 0)}% of administrative villages in {last}.",
        "The measures differ in four ways, so the levels cannot be compared. (1) Units: the yearbook counts "
        "subscriptions, and a fixed broadband subscription usually serves a household, so broadband per 100 "
        "people is roughly a household rate divided by household size; a mobile count includes second SIM "
        "cards and can exceed 100. The seed's percentages have no stated unit (people, households or "
        "villages). (2) Area: the yearbook's series exist for the whole city only; the seed's Table 1 is "
        "rural, and the yearbook has no rural split of internet use. (3) What is counted: fibre coverage is "
        "the share of administrative villages a fibre line reaches (supply), not users; nothing in the "
        "yearbook measures it. (4) Denominator: registered (hukou) population, which overstates the "
        "population actually living in cities that lose migrants and understates it in cities that attract "
        "them, such as the capital.",
        f"The largest one-year change of any city's broadband rate in {int(beside['year'].min())}-{last} is "
        f"{jump['city_en']}'s, {_f(jump['before'], 1)} per 100 in {jump['year'] - 1} and {_f(jump['after'], 1)} "
        f"in {jump['year']}"
        + (", a change by more than half in one year that looks like a misprint; it is kept as printed and "
           "enters the province's total." if abs(jump["after"] / jump["before"] - 1) > 0.5 else "."),
        f"What can be concluded: both sources show internet use rising over {int(beside['year'].min())}-{last}, "
        f"and a clear gap between Guangxi's richest and poorest city: in {last} {least['city_en']} had "
        f"{ratio_broadband:.2f} of {most['city_en']}'s broadband and {ratio_mobile:.2f} of its mobile rate; the "
        f"seed's Table 3 ratio, underdeveloped to developed areas, is "
        f"{t3['Underdeveloped Areas'] / t3['Developed Areas']:.2f}. What cannot be concluded: whether the "
        "seed's levels are right, whether its rural series rose as fast as printed, or whether its 2023 "
        "regional gap holds: the yearbook ends in 2021 (Table 3 is for 2023 only), its areas are whole "
        "cities, and 'developed areas' are not defined in the seed."
        + (f" The {', '.join(map(str, filled))} values are interpolated, not observed." if filled else ""),
    ], [grid, rank_grid], ("guangxi_internet",),
        headline=f"{last}: {_f(row['guangxi_broadband'], 1)} broadband and {_f(row['guangxi_mobile'], 1)} mobile "
                 f"subscriptions per 100 registered residents in Guangxi; {least['city_en']} (lowest GDP per capita) "
                 f"has {ratio_broadband:.2f} of {most['city_en']}'s broadband rate (the seed's Table 3, 2023: "
                 f"{t3['Underdeveloped Areas'] / t3['Developed Areas']:.2f}); levels are not comparable with the "
                 "seed's percentages.")


def _gap_section(gap: pd.DataFrame) -> Section:
    years = sorted(y for y in gap["year"].unique() if len(y) == 4)
    pooled = next(y for y in gap["year"].unique() if len(y) > 4)
    rows = []
    for indicator in DIST_FOUR:
        part = gap[gap["indicator"] == indicator].set_index(["group", "year"])["ratio"]
        row = {"indicator": LABELS[indicator]}
        for key, name in (("guangxi", "Guangxi"), ("rest_of_west", "rest of West")):
            for year in (years[0], years[-1], pooled):
                row[f"{name} {year}"] = part[(GROUPS[key], year)]
        rows.append(row)
    table = pd.DataFrame(rows)
    grid = plain_grid("Non-urban / district ratio of each public-service indicator (medians over cities)", table,
                      {c: c for c in table.columns}, {},
                      ["Each city-year's ratio of the non-urban rate to the municipal districts' rate (1 = parity; "
                       "per 100 people, teachers per pupil), then the median over the cities of each group. "
                       "Rest of the West: the other western cities of the panel. Raw rates, not winsorised."])
    sentences = []
    for _, row in table.iterrows():
        g, w = row[f"Guangxi {pooled}"], row[f"rest of West {pooled}"]
        sentences.append(f"{row['indicator'].lower()} {_f(g)} against {_f(w)}")
    behind = [row["indicator"].lower() for _, row in table.iterrows()
              if row[f"Guangxi {pooled}"] < row[f"rest of West {pooled}"]]
    moves = [f"{row['indicator'].lower()} {_f(row[f'Guangxi {years[0]}'])} to {_f(row[f'Guangxi {years[-1]}'])} "
             f"in Guangxi, {_f(row[f'rest of West {years[0]}'])} to {_f(row[f'rest of West {years[-1]}'])} "
             "in the rest of the West" for _, row in table.iterrows()]
    return Section("4. The public-service gap by indicator, Guangxi against the rest of the West", [
        f"Median non-urban-to-district ratios over {pooled} in Guangxi against the rest of the West: "
        + "; ".join(sentences) + ". Below 1 the non-urban area has less per head than the districts.",
        f"Guangxi's ratio is below the rest of the West's, its non-urban areas relatively worse provided, on "
        f"{len(behind)} of the {len(table)} indicators ({', '.join(behind) or 'none'}). From {years[0]} to "
        f"{years[-1]} the median ratio moved " + "; ".join(moves) + ".",
        "These are ratios of public provision per registered resident in two parts of each city; they say where "
        "the gap lies, not why, and the seed's claims about telemedicine and online classes (section 4.3) "
        "are about use of services that the yearbook does not count.",
    ], [grid], ("guangxi_service_gap",),
        headline=f"Non-urban / district ratios, {pooled} medians, Guangxi against the rest of the West: "
                 + "; ".join(sentences) + f" (Guangxi lower on {len(behind)} of {len(table)}).")


def _model_section(model: WithinGuangxi, paper: float) -> Section:
    fit = model.fit
    g = fit.nclusters
    est, se, t, p = (float(s["Dig"]) for s in (fit.params, fit.std_errors, fit.tstats, fit.pvalues))
    table = pd.DataFrame([coefficient(result, sample=name)
                          for name, result in (("Guangxi", fit), *model.comparison.items())])
    notes = ["Dist on Dig, Ur, Stru, lnexpense and lnper_gdp with city and year effects (Table 5 column 4); "
             "errors always clustered by city (whatever cov_type) with Stata's small-sample factor, p from "
             "t(G-1). Indices computed on all "
             "cities, as in Table 6."]
    grid = plain_grid("Table 5 column 4: the Dig coefficient within Guangxi, the West and all cities", table,
                      {"sample": "Sample", "estimate": "Dig", "std_error": "SE", "t_stat": "t", "p_value": "p",
                       "nobs": "N", "clusters": "Clusters"}, {"nobs": "{:.0f}", "clusters": "{:.0f}"}, notes)
    coef = fit.tidy()
    coef_grid = plain_grid("All coefficients, Guangxi", coef, {"term": "Term", "estimate": "Estimate",
                                                                "std_error": "SE", "t_stat": "t", "p_value": "p"},
                           {}, [f"N = {fit.nobs}, {g} city clusters, within R² = {fit.rsquared_within:.3f}."])
    lo = model.leave_one_out
    low, high = lo.loc[lo["estimate"].idxmin()], lo.loc[lo["estimate"].idxmax()]
    paragraphs = [
        f"On Guangxi's {fit.nobs} city-years ({g} cities), Dig's coefficient is {est:.3f} (SE {se:.3f}, "
        f"t = {t:.2f}, cluster-robust p = {p:.3f} from t({g - 1})); the paper's is {paper} on all cities.",
    ]
    w = model.wild
    interval = np.isfinite(w.ci_low) and np.isfinite(w.ci_high)
    paragraphs.append(
        f"Wild cluster restricted bootstrap (Dig = 0 imposed on the bootstrap data, Rademacher weights, all "
        f"2^{g} = {w.draws:,} sign vectors enumerated, so the p-values are exact and need no seed): symmetric "
        f"p = {w.p_symmetric:.3f}, equal-tailed p = {w.p_equal_tailed:.3f}"
        + (f"; the 95% interval from inverting the bootstrap test is [{w.ci_low:.3f}, {w.ci_high:.3f}]."
           if interval else "; the bootstrap test inverts to no finite 95% interval.")
        + (" The two p-values coincide because the enumerated distribution is symmetric: the sign vectors v "
           "and -v give t* and -t*." if w.enumerated and w.p_symmetric == w.p_equal_tailed else ""))
    paragraphs.append(
        f"Leaving out one city at a time moves the coefficient between {low['estimate']:.3f} (without "
        f"{low['city_en']}) and {high['estimate']:.3f} (without {high['city_en']}); "
        f"{int((lo['estimate'] > 0).sum())} of the {len(lo)} estimates are positive.")
    covers = [name for name, value in (("zero", 0.0), (f"the paper's {paper}", paper)) if interval
              and w.ci_low <= value <= w.ci_high]
    national = model.comparison["All cities"]
    paragraphs.append(
        f"What {g} clusters can and cannot show. The cluster-robust t test estimates its variance from {g} "
        f"city score sums and uses t({g - 1}); with so few clusters such tests are known to over-reject, which "
        f"is why the bootstrap with every sign vector enumerated is reported beside it. "
        + {(False, False): "Both agree here: Guangxi's own data do not separate Dig's coefficient from zero at 5%",
           (True, True): "Both reject Dig = 0 at 5%",
           (True, False): "They disagree: the t test rejects Dig = 0 at 5%, the bootstrap does not, and the "
                          "bootstrap is the one to trust with this few clusters",
           (False, True): "They disagree: the bootstrap rejects Dig = 0 at 5%, the t test does not"}[
            (bool(p < 0.05), bool(w.p_symmetric < 0.05))]
        + (f"; the bootstrap interval, {w.ci_high - w.ci_low:.1f} wide against the national cluster-robust "
           f"SE of {national.std_errors['Dig']:.2f}, contains {' and '.join(covers)}" if interval and covers else "")
        + ". Fourteen cities can reveal a large within-province relation"
        + ("; they cannot detect one of the size the paper reports, cannot tell 'no relation' from 'a small "
           "one'," if len(covers) == 2 else ",") + " and say nothing about other provinces. Like the national "
        "model this is an association net of city and year effects, not a causal estimate.")
    headline = (f"Table 5 column 4 within Guangxi ({fit.nobs} city-years, {g} clusters): Dig {est:.3f} "
                f"(SE {se:.3f}); "
                f"cluster-robust p = {p:.3f} (t({g - 1})); wild restricted bootstrap p = {w.p_symmetric:.3f} "
                f"(all {w.draws:,} sign vectors)"
                + (f", 95% interval [{w.ci_low:.2f}, {w.ci_high:.2f}]." if interval else "."))
    return Section("5. The paper's Table 5 column 4 within Guangxi", paragraphs, [grid, coef_grid], headline=headline)


def _intro(options: Options, cities: int) -> str:
    """`cities`: how many of Guangxi's 14 prefecture-level cities the run's panel holds."""
    held = ("All 14 of Guangxi's prefecture-level cities are in this run's panel" if cities == 14 else
            f"{cities} of Guangxi's 14 prefecture-level cities are in this run's panel")
    return ("Seed 000 (Luo and Zhu, 'Pathways for the Digital Economy to Drive Urban-Rural Integration in "
            "Guangxi, China', 2024; 'seed 000' is the file name of this case study among the texts the "
            "package was built from, beside seed 001, the paper) makes quantitative claims without data. "
            f"{held}; this report puts the claims beside the "
            "yearbook's series and asks whether the paper's relation holds within the province. Written by "
            "`make guangxi` (replication/guangxi.py). Errors are clustered by city throughout (Stata's "
            "convention), whatever cov_type says. Non-default options: " + options_words(options) + ".")


__all__ = ["CASE", "report_files", "build", "indices_beside_medians", "development_ranking", "internet_use", "seed_beside_yearbook",
           "service_gap", "within_guangxi", "model_table", "WithinGuangxi"]
