"""The paper's tables, one entry each: which tidy files it reads and how it is laid out.

Everything here is data.  ``LABELS`` is the one place where a symbol (a variable, an indicator, a
statistic) gets its readable label; the tidy CSVs keep the symbols.  ``REGISTRY`` lists the
rendered tables in order; ``render.py`` turns an entry and its tidy frames into a grid, and the
grid into Markdown, LaTeX and HTML.  A table reads only the tidy files its entry names.
"""

from __future__ import annotations

from dataclasses import dataclass

LABELS = {
    # variables and regression terms
    "Dist": "Urban-rural public-service gap (Dist)",
    "Dig": "Digital technology (Dig)",
    "Dig_entropy": "Digital technology, entropy weights (Dig_entropy)",
    "L2.Dig": "Dig, second lag (instrument)",
    "Isu": "Industrial structure upgrading (Isu)",
    "Ur": "Urbanisation (Ur, proxy)",
    "Stru": "Employment structure (Stru)",
    "lnexpense": "Local fiscal expenditure (ln)",
    "lnper_gdp": "GDP per capita (ln)",
    "_cons": "Constant",
    # index indicators (Tables 1 and 3)
    "library": "Library holdings per 100 people",
    "teachers_per_pupil": "Primary teachers per pupil",
    "doctors": "Licensed doctors per 100 people",
    "beds": "Hospital beds per 100 people",
    "mobile": "Mobile phone users per 100 people",
    "internet": "Broadband users per 100 people",
    "telecom_per_capita": "Telecom revenue per capita (yuan)",
    "pku_index": "PKU Digital Financial Inclusion Index",
    "ict_share": "ICT employment share of urban units (%)",
    # statistics of every regression column (models.collect and the helpers beside it)
    "se_type": "Standard errors",
    "nclusters": "Clusters",
    "nobs": "N",
    "n_singletons": "Singleton observations dropped",
    "n_dropped_missing": "Observations dropped (missing values)",
    "mean_dep": "Mean of dependent variable",
    "r2_within": "Within R²",
    "r2_overall": "Overall R²",
    "r2_lsdv": "R² with city and year dummies",
    # Table 6 tests
    "diff_East_Central": "Dig difference East − Central",
    "diff_East_West": "Dig difference East − West",
    "diff_Central_West": "Dig difference Central − West",
    "interact_p": "p, interacted model",
    "perm_p": "p, permutation",
    # Table 7 diagnostics
    "first_stage_F_kp": "First-stage F, cluster-robust (KP rk Wald F)",
    "cd_F": "Cragg-Donald F",
    "stock_yogo_10": "Stock-Yogo 10% maximal IV size",
    "underid_kp_lm": "Underidentification, KP rk LM",
    "ar_F": "Anderson-Rubin F (H0: Dig = 0)",
    "endog_F": "Endogeneity (control function) F",
    "p": "p",
    # Table 9 mediation
    "ab": "Indirect effect a × b",
    "sobel_z": "Sobel z",
    "aroian_z": "Aroian z",
    "goodman_z": "Goodman z",
    "boot_ci_low": "Bootstrap 95% CI of a × b, low",
    "boot_ci_high": "Bootstrap 95% CI of a × b, high",
    "share_mediated": "Share mediated, a × b / c",
    # wild cluster bootstrap rows (stats wild_<term>_<level>_<what>; see parse_wild)
    "wild_term": "Coefficient tested",
    "wild_p": "p",
    "wild_ci_low": "95% CI, low",
    "wild_ci_high": "95% CI, high",
    "wild_G": "Clusters",
}

SE_TYPES = {"cluster_city": "cluster (city)", "cluster_province": "cluster (province)",
            "robust": "robust (HC1)", "driscoll_kraay": "Driscoll-Kraay ({dk_bandwidth})"}

# Statistics shown under the coefficients of every regression column, in this order, when the
# tidy stats frame has them: (stat, decimals).  se_type is not a stat but the Options' cov_type.
COLUMN_STATS = (("se_type", None), ("nclusters", 0), ("nobs", 0), ("n_singletons", 0),
                ("n_dropped_missing", 0), ("mean_dep", 3), ("r2_within", 4), ("adj_r2_within", 4),
                ("r2_overall", 4), ("r2_lsdv", 4))
# a statistic not shown when another one is, with the same values in every column
SAME_AS = {"r2_lsdv": "r2_overall"}

# What each R² is, said once in the notes of every table that shows it.
STAT_NOTES = {
    "r2_within": "Within R²: 1 − SSR/TSS after both the city and the year effects are partialled out "
                 "(reghdfe's 'Within R-sq.', fixest's r2_within).",
    "r2_overall": "Overall R²: 1 − SSR/TSS of the dependent variable around its mean, with the city and "
                  "year effects counted as regressors (reghdfe's 'R-squared', fixest's r2).",
    "r2_lsdv": "R² with city and year dummies: the effects entered as regressors.",
    "mean_dep": "Mean of dependent variable: over the estimation sample of the column.",
    "wild": "Wild bootstrap: the wild cluster restricted bootstrap (WCR) of H0: coefficient = 0 for the "
            "coefficient named in its first row, clustered as each p row says; symmetric p-value and the 95% "
            "interval by test inversion ({wild_draws}). The equal-tailed p and the cluster-robust t test's p "
            "with the same clusters are in {stats_file}.",
}


WILD_LEVELS = ("city", "province")  # clustering levels, in the order shown
WILD_ROWS = ("p", "ci_low", "ci_high", "G")  # shown as rows (the others stay in the CSV and the note)


def parse_wild(stat: str) -> tuple[str, str, str] | None:
    """(term, level, what) of a wild-bootstrap statistic: wild_<term>_<level>_<what> (term may hold
    underscores, as Dig_entropy) or wild_<what>_<level> (term ""); None for any other statistic."""
    if not stat.startswith("wild_"):
        return None
    tokens = stat[len("wild_"):].split("_")
    found = [i for i, token in enumerate(tokens) if token in WILD_LEVELS]
    if not found:
        return None
    i = found[-1]
    if i == len(tokens) - 1:
        return "", tokens[i], "_".join(tokens[:i])
    return "_".join(tokens[:i]), tokens[i], "_".join(tokens[i + 1:])


@dataclass(frozen=True)
class Extra:
    """One statistic shown once under a table (in its first column): Table 6's tests, Table 7's
    diagnostics, Table 9's indirect effect."""

    column: str
    stat: str
    decimals: int = 3
    label: str | None = None  # default LABELS[stat]
    indent: int = 0


@dataclass(frozen=True)
class RegressionLayout:
    columns: tuple[tuple[str, str], ...]  # (column key in the tidy CSV, header)
    dependent: tuple[str, ...]  # dependent variable of each column
    terms: tuple[str, ...]
    indicators: tuple[tuple[str, tuple[str, ...]], ...] = ()
    extra: tuple[Extra, ...] = ()
    decimals: int = 4  # of the coefficients
    extra_title: str = "Tests"  # the heading of the panel of `extra`


@dataclass(frozen=True)
class FrameColumn:
    field: str  # column of the tidy frame
    header: str
    decimals: int | None = 4  # None: text; a row key is shown through LABELS
    labelled: bool = False


@dataclass(frozen=True)
class FrameLayout:
    """A table with one row per row of a tidy frame (Tables 1, 3, 4)."""

    columns: tuple[FrameColumn, ...]
    groups: tuple[tuple[str, int], ...] = ()  # (label, columns spanned) above the heads, after the stub


@dataclass(frozen=True)
class Entry:
    name: str  # file stem of the rendered table
    number: str  # the paper's table number (a caption in LaTeX gets its own)
    caption: str
    sources: tuple[str, ...]  # tidy files (stems) the table reads, the first one laid out
    layout: RegressionLayout | FrameLayout
    notes: tuple[str, ...] = ()  # str.format templates over the facts render.facts() collects

    @property
    def regression(self) -> bool:
        return isinstance(self.layout, RegressionLayout)


SAMPLE = "Sample: {rows} city-years ({cities} cities), 2011-2021."
CONTROL_TERMS = ("Ur", "Stru", "lnexpense", "lnper_gdp", "_cons")


def _marks(n: int, controls: tuple[str, ...] | None = None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The controls row ('Yes' in each of n columns unless named); etable adds a row per fixed effect."""
    return (("Controls", controls or ("Yes",) * n),)


def _pair_tests(a: str, b: str) -> tuple[Extra, ...]:
    return (Extra("tests", f"diff_{a}_{b}"),
            Extra("tests", f"interact_p_{a}_{b}", label=LABELS["interact_p"], indent=1),
            Extra("tests", f"perm_p_{a}_{b}", label=LABELS["perm_p"], indent=1))


def _p(column: str, stat: str) -> Extra:
    return Extra(column, stat, label="p", indent=1)


REGISTRY: dict[str, Entry] = {e.name: e for e in (
    Entry(name="table1", number="1", caption="Entropy weights of the public-service indicators (Dist)",
          sources=("table1",),
          layout=FrameLayout((FrameColumn("indicator", "Indicator", None, labelled=True),
                              FrameColumn("weight", "Weight (used)"),
                              FrameColumn("weight_six", "Six-indicator option"),
                              FrameColumn("weight_paper", "Paper"))),
          notes=(SAMPLE,
                 "Pooled entropy weights over the district and non-urban rows of every city-year; indicators "
                 "winsorised at {winsorize:.0%} in each tail before min-max scaling. Mobile and broadband users "
                 "exist for the whole city only and are used only in the six-indicator option, where both areas "
                 "take the whole-city rate.")),
    Entry(name="table3", number="3", caption="Principal components of the digital-technology indicators (Dig)",
          sources=("table3", "table3_stats"),
          layout=FrameLayout((FrameColumn("component", "Component", None),
                              FrameColumn("eigenvalue", "Eigenvalue"), FrameColumn("variance_share", "Share"),
                              FrameColumn("cumulative_share", "Cumulative"), FrameColumn("kept", "Kept", None),
                              FrameColumn("eigenvalue_paper", "Paper eigenvalue"),
                              FrameColumn("cumulative_share_paper", "Paper cumulative"))),
          notes=(SAMPLE,
                 "KMO = {kmo:.3f} (paper 0.773); Bartlett chi2({bartlett_df:.0f}) = {bartlett_chi2:.1f}, "
                 "p = {bartlett_p:.3g}. Components kept up to {pca_variance_target:.0%} cumulative variance.")),
    Entry(name="table3_weights", number="3b", caption="Indicator weights of Dig (PCA) and Dig_entropy",
          sources=("table3_weights",),
          layout=FrameLayout((FrameColumn("indicator", "Indicator", None, labelled=True),
                              FrameColumn("weight_pca", "PCA weight"),
                              FrameColumn("weight_entropy", "Entropy weight"),
                              FrameColumn("kmo_item", "KMO (item)"))),
          notes=(SAMPLE,)),
    Entry(name="table4", number="4", caption="Descriptive statistics", sources=("table4",),
          layout=FrameLayout((FrameColumn("variable", "Variable", None, labelled=True), FrameColumn("mean", "Mean"),
                              FrameColumn("sd", "SD"), FrameColumn("min", "Min"), FrameColumn("max", "Max"),
                              FrameColumn("n", "N", 0), FrameColumn("mean_paper", "Mean"),
                              FrameColumn("sd_paper", "SD"), FrameColumn("min_paper", "Min"),
                              FrameColumn("max_paper", "Max")),
                             groups=(("This replication", 5), ("Paper", 4))),
          notes=(SAMPLE,
                 "Ur is a proxy: district population / whole-city population. The paper's 'financial pressure' is "
                 "defined nowhere and used in no model; it is not constructed.")),
    Entry(name="table5", number="5", caption="Baseline regression",
          sources=("table5", "table5_stats"),
          layout=RegressionLayout(columns=(("(1)", "(1)"), ("(2)", "(2)"), ("(3)", "(3)"), ("(4)", "(4)")),
                                  dependent=("Dist",) * 4, terms=("Dig", *CONTROL_TERMS),
                                  indicators=_marks(4, ("none", "Ur", "Ur, Stru", "all four")))),
    Entry(name="table6", number="6", caption="Heterogeneity by region",
          sources=("table6", "table6_stats"),
          layout=RegressionLayout(columns=(("All", "All"), ("East", "East"), ("Central", "Central"),
                                           ("West", "West")),
                                  dependent=("Dist",) * 4, terms=("Dig", *CONTROL_TERMS), indicators=_marks(4),
                                  extra_title="Tests of equal Dig coefficients",
                                  extra=(*_pair_tests("East", "Central"), *_pair_tests("East", "West"),
                                         *_pair_tests("Central", "West"))),
          notes=("Differences: fully interacted model (region-specific slopes and year effects, equal to the "
                 "separate regressions) with city-clustered errors whatever the option cov_type, F(1, G−1); and a permutation test reassigning "
                 "region labels across the cities of the two regions ({permutation_draws} draws, seeded).",)),
    Entry(name="table7", number="7", caption="Instrumental variable (2SLS)",
          sources=("table7", "table7_stats"),
          layout=RegressionLayout(columns=(("first_stage", "First stage"), ("second_stage", "Second stage")),
                                  dependent=("Dig", "Dist"), terms=("L2.Dig", "Dig", *CONTROL_TERMS),
                                  indicators=(("Controls", ("Yes", "Yes")),), extra_title="IV diagnostics",
                                  extra=(Extra("first_stage", "first_stage_F_kp", 2),
                                         Extra("first_stage", "cd_F", 2), Extra("first_stage", "stock_yogo_10", 2),
                                         Extra("first_stage", "underid_kp_lm", 2),
                                         _p("first_stage", "underid_kp_lm_p"), Extra("first_stage", "ar_F", 2),
                                         _p("first_stage", "ar_F_p"), Extra("first_stage", "endog_F", 2),
                                         _p("first_stage", "endog_F_p"))),
          notes=("City and year effects are partialled out (within transformation); the R² that counts them as "
                 "regressors is the one the paper's 0.83-0.86 suggests it reports. Sample 2013-2021: the "
                 "instrument is Dig two years earlier. The KP rk Wald F is reported as the cluster-robust "
                 "first-stage F (one instrument, one endogenous regressor); ivreg2 scales it by a slightly "
                 "different finite-sample factor.",)),
    Entry(name="table8", number="8", caption="Robustness: entropy-weighted Dig",
          sources=("table8", "table8_stats"),
          layout=RegressionLayout(columns=(("(1)", "PCA Dig"), ("(2)", "Entropy Dig")), dependent=("Dist", "Dist"),
                                  terms=("Dig", "Dig_entropy", *CONTROL_TERMS), indicators=_marks(2))),
    Entry(name="table9", number="9", caption="Mediation through industrial structure upgrading",
          sources=("table9", "table9_stats"),
          layout=RegressionLayout(columns=(("c", "Path c"), ("a", "Path a"), ("b_cprime", "Paths b and c′")),
                                  dependent=("Dist", "Isu", "Dist"), terms=("Dig", "Isu", *CONTROL_TERMS),
                                  indicators=_marks(3), extra_title="Indirect effect a × b",
                                  extra=(Extra("mediation", "ab", 4), Extra("mediation", "sobel_z"),
                                         _p("mediation", "sobel_p"), Extra("mediation", "aroian_z"),
                                         Extra("mediation", "goodman_z"), Extra("mediation", "boot_ci_low", 4),
                                         Extra("mediation", "boot_ci_high", 4),
                                         Extra("mediation", "share_mediated"))),
          notes=("Sobel-type tests use the standard errors of a and b shown in the table; the bootstrap resamples "
                 "cities with replacement ({boot_draws} draws, percentile interval, seeded).",)),
)}

# every tidy file the rendered tables read (the report step requires them)
TIDY = tuple(dict.fromkeys(source for entry in REGISTRY.values() for source in entry.sources))
