"""Every open decision of SPEC.md, with its default, in one place.

Each field is a named option that a reviewer can change (``Options(...)`` in
Python, or ``--set name=value`` on the command line).  The options that
produced an output are written into it (table notes, manifests), so a number
always travels with the choices behind it.  A default lives here and nowhere
else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

YEARS = tuple(range(2011, 2022))

REGIONS = {
    "East": ("北京市", "天津市", "河北省", "辽宁省", "上海市", "江苏省", "浙江省", "福建省", "山东省", "广东省", "海南省"),
    "Central": ("山西省", "吉林省", "黑龙江省", "安徽省", "江西省", "河南省", "湖北省", "湖南省"),
    "West": (
        "内蒙古自治区", "广西壮族自治区", "重庆市", "四川省", "贵州省", "云南省", "西藏自治区", "陕西省",
        "甘肃省", "青海省", "宁夏回族自治区", "新疆维吾尔自治区",
    ),
}


@dataclass(frozen=True)
class Options:
    # --- panel (SPEC section 1) ---
    edge_fill_years: int = 1
    """(Panel build: takes effect with `make data`.) An end-of-period gap of at most this many years (a series missing in 2011, or in 2021 and
    not covered by a rule below) is filled with the nearest observed value, flagged 'edge_nearest';
    0 turns the rule off, so that such cities leave the sample."""
    share_end_rule: str = "carry_forward"
    """Data years 2020-2021 lack employment by sector (editions 2021-2022): the ICT and tertiary
    employment shares are carried forward from 2019 ('carry_forward', flagged), or left missing
    ('none'), which removes 2020-2021 from every model that uses Dig or Stru."""
    anomaly_rule: str = "treat"
    """(Panel build.) What happens to a cell the anomaly screen flags as a `spike` or `stale_copy`
    (replication/data/anomalies.py): 'treat' sets it missing and fills it by the ordinary fill
    rules, flagged 'anomaly'; 'keep' leaves it as printed. Default 'treat': a count that is half or
    double both its own neighbouring years while they agree, or a block of series copied from the
    year before, is a misprint of the yearbook, and a handful of such cells would otherwise set
    Dist's tail on their own (data/processed/CODEBOOK.md)."""
    anomaly_factor: float = 2.0
    """(Panel build.) A cell is a `spike` when it departs from the geometric mean of its nearest
    printed neighbours by more than this factor, allowing for the rounding of printed values (and
    they agree; next option). 2 lies at the 98.3th percentile of the pooled |log departure| of all
    screened cells (median 0.025, 99th percentile 0.93)."""
    anomaly_agreement: float = 0.5
    """(Panel build.) A spike needs its two neighbours within this multiple of its own log
    departure of each other: a persistent step gives a ratio of 2, so any value below 2 keeps
    level shifts (boundary changes) from being read as misprints; 0.5 leaves room for noise."""
    stale_expected: float = 1.0
    """(Panel build.) A block of at least two series of a city-year repeated exactly from the year
    before is a `stale_copy` when, at each series' own repetition rate that year, it would be seen
    by chance fewer than this many times in the whole screen."""
    boundary_step: float = 1.1
    """(Panel build.) A persistent step in district population larger than this factor is listed
    as a `boundary_change` (a county turned into a district) and never treated."""

    # --- Dist (SPEC section 3) ---
    dist_indicators: str = "four"
    """'four': library holdings, teachers per pupil, doctors and beds, the indicators the yearbook
    splits by area; 'six' adds mobile and broadband users per 100 people, which exist for the
    whole city only and enter both areas at the whole-city rate, so both area scores carry the same
    shared term c = w_mobile x'_mobile + w_internet x'_internet and Dist = (s_n - s_d)^2 / (s_d + c)^2
    falls as penetration rises with the service gap unchanged (replication/multiverse.py).
    The variants that isolate c: 'six_shared_removed' (six-indicator weights, scores without c;
    identical to 'four', because entropy weights are column-wise and the ratio cancels their
    common factor), 'six_shared_fixed' (c held at each city's mean over the years, so only its
    level, not its movement, enters) and 'six_shared_controlled' ('six' with c as a regressor)."""

    winsorize: float = 0.01
    """Index indicators (Dist's pooled district and non-urban rows, Dig's five indicators) are
    clipped at this quantile and 1 - it before min-max standardisation; 0 turns it off. SPEC is
    silent on outliers; the yearbook's misprints (e.g. 2703 library volumes per 100 people in one
    non-urban area) would otherwise set the min-max range and the entropy weights on their own."""

    pooling: str = "pooled"
    """Entropy indices (Dist, Dig_entropy): 'pooled' standardises and weights all city-years at once
    (SPEC section 3; comparable over time); 'by_year' does it within each year. The PCA of Dig is
    always pooled (one decomposition, Table 3)."""

    min_nonurban_share: float = 0.05
    """(Index stage.) City-years whose non-urban area holds less than this share of the registered
    population have Dist set missing and leave every model (counted in Table 4's N): per-capita
    values of a sliver of a city are noise. The share is 0.012-0.014 in Shantou's 11 years and
    above 0.12 in every other city-year of the panel; any value in that gap gives the same
    sample, 0.05 is a round one inside it. 0 turns the rule off."""

    # --- Dig (SPEC section 4) ---
    dig_recipe: str = "pca"
    """'pca': the components up to pca_variance_target (SPEC section 4); 'pca_first': the first
    component only; 'entropy': the entropy-weighted composite of the same five indicators (Table 8's
    Dig_entropy) takes Dig's place in every model. dig_rescale applies to all three."""
    pca_variance_target: float = 0.85
    """Components are kept up to this cumulative share of variance."""
    pca_sign_rule: str = "loadings_sum_positive"
    """Each eigenvector's sign is fixed so that its loadings sum to a positive number; the
    alternative 'largest_loading_positive' makes its largest absolute loading positive."""
    pca_weighting: str = "variance_share"
    """'variance_share': indicator weight = variance-share-weighted sum of the kept components'
    coefficients (loading / sqrt(eigenvalue)), normalised to sum to one."""
    dig_rescale: str = "none"
    """'none' keeps Dig = sum_j w_j x'_j, which lies in [0, 1]; 'minmax' rescales it to span [0, 1]."""

    # --- models (SPEC section 5) ---
    cov_type: str = "cluster_city"
    """'cluster_city' (Stata's convention for effects nested in clusters), 'robust' (HC1),
    'cluster_province' or 'driscoll_kraay'."""
    dk_bandwidth: int = 2
    drop_filled: bool = False
    """Robustness: drop every city-year in which a variable of the model was filled."""
    seed: int = 20240517
    bootstrap_draws: int = 2000
    permutation_draws: int = 1000
    wild_draws: int = 9999
    """Replications of the wild cluster bootstrap (replication/wild.py) of Tables 5, 6, 8 and 9:
    9,999 as boottest and MacKinnon recommend (alpha (B + 1) is an integer for the usual levels, and
    the Monte Carlo error of a p-value near 0.05 is about 0.002); with Rademacher weights and
    2^G <= wild_draws (G <= 13 province clusters) all 2^G sign vectors are enumerated instead."""
    multiverse_wild_draws: int = 999
    """Replications of the wild cluster bootstrap (WCR, clustered as each specification's cov_type) of
    the multiverse's OLS estimands (replication/multiverse.py): 999, since the Monte Carlo standard
    error of a p-value near 0.05 is then sqrt(0.05 x 0.95 / 999) = 0.007, enough to classify a
    specification at 5%, at a tenth of the tables' cost over some 55,000 regressions; every
    specification uses the same seed (common random numbers across specifications).  0 skips it."""
    wild_weights: str = "rademacher"
    """Wild bootstrap weights: 'rademacher' (+-1, boottest's default; allows exact enumeration) or
    'webb' (six points, MacKinnon and Webb's choice when clusters are very few, since Rademacher
    weights give only 2^G distinct draws)."""
    stars: str = "econ"
    """'econ': * 0.10, ** 0.05, *** 0.01; 'paper': * 0.05, ** 0.01, *** 0.001."""
    parentheses: str = "t"
    """What the rendered tables print in parentheses under each coefficient: 't' statistics (the
    paper's layout) or 'se' (standard errors, as many journals ask). Rendering only: the tidy CSVs
    carry both, and no estimate depends on it."""

    def non_default(self) -> dict[str, object]:
        """The options that differ from their defaults, for table notes and manifests."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        }

    def with_overrides(self, pairs: list[str]) -> Options:
        """A copy with `name=value` pairs applied (values parsed by each field's type)."""
        changes: dict[str, object] = {}
        kinds = {f.name: f.type for f in dataclasses.fields(self)}
        for pair in pairs:
            name, sep, text = pair.partition("=")
            if not sep or name not in kinds:
                raise ValueError(f"--set {pair!r}: expected name=value with name one of {sorted(kinds)}")
            kind = kinds[name]
            if kind == "bool":
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(f"--set {pair!r}: expected true or false")
                changes[name] = text.lower() in ("true", "1")
            elif kind == "int":
                changes[name] = int(text)
            elif kind == "float":
                changes[name] = float(text)
            else:
                changes[name] = text
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        allowed = {
            "share_end_rule": ("carry_forward", "none"),
            "dist_indicators": ("four", "six", "six_shared_removed", "six_shared_fixed", "six_shared_controlled"),
            "dig_recipe": ("pca", "pca_first", "entropy"),
            "pca_sign_rule": ("loadings_sum_positive", "largest_loading_positive"),
            "pooling": ("pooled", "by_year"),
            "pca_weighting": ("variance_share",),
            "dig_rescale": ("none", "minmax"),
            "cov_type": ("cluster_city", "robust", "cluster_province", "driscoll_kraay"),
            "stars": ("econ", "paper"),
            "parentheses": ("t", "se"),
            "wild_weights": ("rademacher", "webb"),
            "anomaly_rule": ("treat", "keep"),
        }
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                raise ValueError(f"option {name}={getattr(self, name)!r}: expected one of {values}")
        if not 0 < self.pca_variance_target <= 1:
            raise ValueError(f"option pca_variance_target={self.pca_variance_target}: expected (0, 1]")
        if not 0 <= self.winsorize < 0.5:
            raise ValueError(f"option winsorize={self.winsorize}: expected [0, 0.5)")
        if self.wild_draws < 1:
            raise ValueError(f"option wild_draws={self.wild_draws}: expected >= 1")
        if self.multiverse_wild_draws < 0:
            raise ValueError(f"option multiverse_wild_draws={self.multiverse_wild_draws}: expected >= 0")
        if self.anomaly_factor <= 1 or self.boundary_step <= 1:
            raise ValueError(f"option anomaly_factor={self.anomaly_factor}, boundary_step={self.boundary_step}: "
                             "expected factors above 1")
        if not 0 <= self.min_nonurban_share < 1:
            raise ValueError(f"option min_nonurban_share={self.min_nonurban_share}: expected [0, 1)")
        if self.edge_fill_years < 0:
            raise ValueError(f"option edge_fill_years={self.edge_fill_years}: expected >= 0")


STAR_THRESHOLDS = {"econ": (0.10, 0.05, 0.01), "paper": (0.05, 0.01, 0.001)}


@dataclass(frozen=True)
class Paths:
    """Where the command line reads and writes; only the CLI and the Makefile use this."""

    root: Path = field(default_factory=lambda: Path(__file__).resolve().parent.parent)

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def reference(self) -> Path:
        return self.root / "data" / "reference"

    @property
    def output(self) -> Path:
        return self.root / "output"
