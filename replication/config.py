"""Every open decision of the methods (docs/METHODS.md), with its default, in one place.

Each field is a named option that a reviewer can change (``Options(...)`` in
Python, or ``--set name=value`` on the command line).  The options that
produced an output are written into it (table notes, manifests), so a number
always travels with the choices behind it.  A default lives here and nowhere
else; the docstring under each field says why, and ``RULES`` says, in one line
per option, which step applies it and which values it accepts
(``python -m replication options`` lists them).
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
    # --- panel (METHODS section 1) ---
    edge_fill_years: int = 1
    """An end-of-period gap of at most this many years (a series missing in 2011, or in 2021 and
    not covered by a rule below) is filled with the nearest observed value, flagged 'edge_nearest';
    0 turns the rule off, so that such cities leave the sample."""
    share_end_rule: str = "carry_forward"
    """Data years 2020-2021 lack employment by sector (editions 2021-2022): the ICT and tertiary
    employment shares are carried forward from 2019 ('carry_forward', flagged), or left missing
    ('none'), which removes 2020-2021 from every model that uses Dig or Stru."""
    anomaly_rule: str = "confirmed"
    """(Panel build.) Which cells listed by the anomaly screen (replication/data/anomalies.py,
    data/processed/anomalies.csv) are set missing and refilled by the ordinary fill rules, flagged
    'anomaly': 'confirmed' those whose time-series departure an independent second signal confirms
    (the other area does not move with it, a stale-copy block, a per-capita value outside every other
    city-year; at an edge year only the last; never in a year of an area change); 'screen' every
    `spike` and `stale_copy` of the time-series rule alone; 'keep' none (the panel as printed).
    Default 'confirmed': a referee's reading of the screen's corrections against the raw sheets found
    about 30% of them not clear misprints (issue 18)."""
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
    """(Panel build.) A persistent step in district population (a county turned into a district) or,
    for the confirmed rule, in whole-city population (a county moving between prefectures) larger than
    this factor is listed as an `area_change` (`boundary_change` in the time-series screen) and never
    corrected."""

    identity_share: float = 0.25
    """(Panel build.) The identity signal of the confirmed rule: a departure of one area's cell is
    confirmed when the other area's same series moves, over the same years against the same
    neighbours, by at most this share of it (whole = districts + non-urban breaks in that year only).
    The ratio is bimodal over the screen's departures (manifest.json, identity_ratio)."""
    level_break_quantile: float = 0.01
    """(Panel build.) A persistent level break of a service series is listed (`level_break`) when one
    side's mean per-capita value lies outside this quantile and its complement of the series pooled
    over every city-year, and the other side's inside."""
    correct_level_breaks: bool = False
    """(Panel build.) Under anomaly_rule=confirmed, also set the implausible side of a `level_break`
    missing (refilled by the fill rules where they reach). Off by default: a level break has no second
    signal in the same year."""
    # --- Dist (METHODS section 3) ---
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
    clipped at this quantile and 1 - it before min-max standardisation; 0 turns it off. The methods are
    silent on outliers; the yearbook's misprints (e.g. 2703 library volumes per 100 people in one
    non-urban area) would otherwise set the min-max range and the entropy weights on their own."""

    pooling: str = "pooled"
    """Entropy indices (Dist, Dig_entropy): 'pooled' standardises and weights all city-years at once
    (METHODS section 3; comparable over time); 'by_year' does it within each year. The PCA of Dig is
    always pooled (one decomposition, Table 3)."""

    min_nonurban_share: float = 0.05
    """(Index stage.) City-years whose non-urban area holds less than this share of the registered
    population have Dist set missing and leave every model (counted in Table 4's N): per-capita
    values of a sliver of a city are noise. The share is 0.012-0.014 in Shantou's 11 years and
    above 0.12 in every other city-year of the panel; any value in that gap gives the same
    sample, 0.05 is a round one inside it. 0 turns the rule off."""

    # --- Dig (METHODS section 4) ---
    dig_recipe: str = "pca"
    """'pca': the components up to pca_variance_target (METHODS section 4); 'pca_first': the first
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

    # --- models (METHODS section 5) ---
    cov_type: str = "cluster_city"
    """'cluster_city' (Stata's convention for effects nested in clusters), 'robust' (HC1),
    'cluster_province' or 'driscoll_kraay'."""
    dk_bandwidth: int = 2
    """Driscoll-Kraay only: lags of the Bartlett kernel (0 = no serial correlation); 2 of 11 years
    follows the usual floor(4 (T/100)^(2/9)) = 2 rule of thumb."""
    drop_filled: bool = False
    """Robustness: drop every city-year in which a variable of the model was filled."""
    seed: int = 20240517
    """Seed of every random draw (bootstrap, permutations), so that reruns are byte-identical."""
    bootstrap_draws: int = 2000
    """Cluster-bootstrap draws for the 95% percentile interval of a*b (Table 9); at least 40, so that
    each 2.5% tail of the interval holds at least one draw."""
    permutation_draws: int = 1000
    """Relabellings for the permutation p-values of Table 6; p = (1 + hits) / (1 + draws), so draws
    bound the smallest p (0 draws would print p = 1 whatever the data)."""
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
    paper's layout) or 'se' (standard errors, as many journals ask); also 'p' (p-values) or 'ci' (95%
    intervals in brackets, t with the column's degrees of freedom). Rendering only: the tidy CSVs
    carry them all, and no estimate depends on it."""
    table_notes: str = "short"
    """Notes under each LaTeX table: 'short' (what is in parentheses, the standard errors, the stars,
    the non-default options; every note in tableN.md) so that the table fits a page, or 'long'
    (every note, as in Markdown and HTML)."""
    latex_page: str = "portrait"
    """How tableN.tex is set: 'portrait' (fits a portrait article page with 1-inch margins at the
    default size), 'landscape' (a sidewaystable: \\usepackage{rotating}) or 'resize' (scaled to the
    text width with \\resizebox, graphicx)."""

    def non_default(self) -> dict[str, object]:
        """The options that differ from their defaults, for table notes and manifests."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        }

    def of_step(self, *steps: str) -> dict[str, object]:
        """The options that the given steps (see STEPS) apply, by name."""
        return {name: getattr(self, name) for name, rule in RULES.items() if rule.step in steps}

    def with_overrides(self, pairs: list[str]) -> Options:
        """A copy with `name=value` pairs applied (values parsed by each field's type)."""
        return dataclasses.replace(self, **parse_overrides(pairs))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = kind_of(f.type)
            if not kind.accepts(value):
                raise ValueError(f"option {f.name}: expected {kind.name}, got {value!r}")
            problem = rule_of(f.name).check(value)
            if problem:
                raise ValueError(f"option {f.name}: expected {problem}, got {value!r}")


# ---------------------------------------------------------------------------- what each option is

STEPS = {
    "panel": "panel build: takes effect with `make data` (python -m replication panel)",
    "index": "indices: Dist, Dig, analysis.csv and Tables 1, 3, 4 (re-applied by `models`)",
    "model": "models: Tables 5-9",
    "rendering": "report only: how tables are printed, no estimate changes",
}


@dataclass(frozen=True)
class Rule:
    """Which step applies an option (a key of STEPS) and the values it accepts."""

    step: str
    values: tuple = ()  # the allowed values; empty = any value of the field's type within the bounds
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    high_open: bool = False  # the upper bound itself is excluded
    low_open: bool = False  # the lower bound itself is excluded

    def check(self, value) -> str | None:
        """None when `value` is allowed, else what is expected."""
        if self.values and value not in self.values:
            return self.describe()
        if self.low is not None and (value < self.low or self.low_open and value == self.low):
            return self.describe()
        if self.high is not None and (value > self.high or self.high_open and value == self.high):
            return self.describe()
        if isinstance(value, float) and value != value:  # NaN passes no comparison above
            return self.describe()
        return None

    def describe(self) -> str:
        if self.values:
            return "one of " + ", ".join(str(v) for v in self.values)
        low, high = (f"{v:g}" if isinstance(v, float) else str(v) for v in (self.low, self.high))
        if self.low is not None and self.high is not None:
            return f"a value in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"a value {'>' if self.low_open else '>='} {low}"
        return "any value"


# One line per option: a new field of Options adds one line here.
RULES = {
    "edge_fill_years": Rule("panel", low=0, high=10),
    "share_end_rule": Rule("panel", ("carry_forward", "none")),
    "anomaly_rule": Rule("panel", ("confirmed", "screen", "keep")),
    "anomaly_factor": Rule("panel", low=1, low_open=True),
    "anomaly_agreement": Rule("panel", low=0, high=2, low_open=True, high_open=True),
    "stale_expected": Rule("panel", low=0, low_open=True),
    "boundary_step": Rule("panel", low=1, low_open=True),
    "identity_share": Rule("panel", low=0, high=1, low_open=True, high_open=True),
    "level_break_quantile": Rule("panel", low=0, high=0.5, low_open=True, high_open=True),
    "correct_level_breaks": Rule("panel", (False, True)),
    "dist_indicators": Rule("index", ("four", "six", "six_shared_removed", "six_shared_fixed",
                                      "six_shared_controlled")),
    "min_nonurban_share": Rule("index", low=0, high=1, high_open=True),
    "dig_recipe": Rule("index", ("pca", "pca_first", "entropy")),
    "winsorize": Rule("index", low=0, high=0.5, high_open=True),
    "pooling": Rule("index", ("pooled", "by_year")),
    "pca_variance_target": Rule("index", low=0, high=1, low_open=True),
    "pca_sign_rule": Rule("index", ("loadings_sum_positive", "largest_loading_positive")),
    "pca_weighting": Rule("index", ("variance_share",)),
    "dig_rescale": Rule("index", ("none", "minmax")),
    "cov_type": Rule("model", ("cluster_city", "robust", "cluster_province", "driscoll_kraay")),
    "dk_bandwidth": Rule("model", low=0, high=10),
    "drop_filled": Rule("model", (False, True)),
    "seed": Rule("model", low=0),
    "bootstrap_draws": Rule("model", low=40, high=10**7),
    "permutation_draws": Rule("model", low=1, high=10**7),
    "wild_draws": Rule("model", low=99, high=10**6),
    "wild_weights": Rule("model", ("rademacher", "webb")),
    "multiverse_wild_draws": Rule("model", low=0, high=10**6),
    "stars": Rule("rendering", ("econ", "paper")),
    "parentheses": Rule("rendering", ("t", "se", "p", "ci")),
    "table_notes": Rule("rendering", ("short", "long")),
    "latex_page": Rule("rendering", ("portrait", "landscape", "resize")),
}


def rule_of(name: str) -> Rule:
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"option {name}: has no line in replication.config.RULES (which step applies it, "
                         "which values it accepts)") from None


@dataclass(frozen=True)
class Kind:
    name: str  # as in a message: "expected an integer"

    def accepts(self, value) -> bool:
        if self.name == "an integer":
            return isinstance(value, int) and not isinstance(value, bool)
        if self.name == "a number":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.name == "true or false":
            return isinstance(value, bool)
        return isinstance(value, str) or self.name != "text"

    def parse(self, text: str):
        if self.name == "an integer":
            if not text.strip().lstrip("+-").isdigit():
                raise ValueError
            return int(text)
        if self.name == "a number":
            return float(text)
        if self.name == "true or false":
            if text.strip().lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.strip().lower() in ("true", "1")
        return text


KINDS = {"int": Kind("an integer"), "float": Kind("a number"), "bool": Kind("true or false"), "str": Kind("text")}


def kind_of(annotation: str) -> Kind:
    """How a field's values are typed and parsed; a field of another type takes its text as given."""
    return KINDS.get(annotation, Kind("a value"))


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`name=value` pairs -> {name: typed value}; each error names the option.

    An option given twice is refused rather than silently keeping the last value.
    """
    import difflib

    kinds = {f.name: kind_of(f.type) for f in dataclasses.fields(Options)}
    changes: dict[str, object] = {}
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--set {pair!r}: expected name=value, e.g. --set seed=1")
        if name not in kinds:
            close = difflib.get_close_matches(name, kinds, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"option {name}: no such option{hint}; `python -m replication options` lists them")
        if name in given:
            raise ValueError(f"option {name}: given twice (--set {name}={given[name]} and --set {pair}); "
                             "give each option once")
        given[name] = text
        try:
            changes[name] = kinds[name].parse(text)
        except ValueError:
            raise ValueError(f"option {name}: expected {kinds[name].name}, got {text!r}") from None
        problem = rule_of(name).check(changes[name])
        if problem:
            raise ValueError(f"option {name}: expected {problem}, got {text!r}")
    return changes


def describe_options() -> list[dict[str, str]]:
    """Every option: name, step, default, allowed values and the first sentence of its docstring."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(Options))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr) \
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
            docs[node.target.id] = " ".join(following.value.value.split())
    rows = []
    for f in dataclasses.fields(Options):
        rule = rule_of(f.name)
        doc = docs.get(f.name, "")
        first = doc.split(". ")[0].rstrip(".") + "." if doc else ""
        allowed = rule.describe() if f.type != "bool" else "true, false"
        rows.append({"name": f.name, "step": rule.step, "type": f.type, "default": str(f.default).lower()
                     if f.type == "bool" else str(f.default), "allowed": allowed, "why": first})
    return rows


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
