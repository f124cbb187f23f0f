"""Every sentence checked against the run it describes (issue 24): a consistency checker over the prose
of the reports and the notes of the tables.

``check`` takes the texts of one output directory ({relative path: Markdown}), the run's options and
its estimation data, and returns one row per finding.  It reads the prose only: Markdown table rows
(lines starting with '|') are numbers the tables themselves carry, checked by the tests of each table.
The checks, each a rule a referee applies when reading:

* ``missing``: no 'nan', 'NaN' or 'inf' in a sentence, and no 'None' but as its first word;
* ``clustering``: a sentence that names a covariance (clustered by city or province, Driscoll-Kraay,
  robust HC1) names the one the run used, unless it says that it holds whatever the option
  (``INVARIANT``: 'whatever cov_type', 'always', 'throughout', ...) or names several (a comparison);
  not in the multiverse's summary, where the covariance is one of the grid's decisions;
* ``balanced``: 'N cities x Y years = R city-years' has N x Y = R, with N and R the run's own;
* ``stars``: a star legend ('* p<0.1, ** p<0.05, *** p<0.01') gives the run's thresholds (option stars);
* ``parentheses``: 't statistics / standard errors / p-values in parentheses' is what option parentheses
  prints;
* ``non_default``: 'Non-default options: ...' lists exactly the options that differ from the defaults
  (at the step that wrote the text: rendering options only where the report step wrote it);
* ``clusters_row``: 'the Clusters row counts ...' only under a table that has a Clusters row;
* ``significance``: a sentence calling an estimate significant gives no 't = x' with |x| < 1.96 (below
  every critical value at 5%) and no 'p = x' with x >= 0.05; one calling it not significant gives no
  |t| > 3.2 (above the 5% critical value of any t with 8 or more degrees of freedom, the fewest a
  table of this package has) and no p < 0.05.  Sentences about the paper's own claims (the audit's
  'the claim needs ...') state a test, not a result, and are left to the audit's own tests.

Written by hand: no library reads a replication's prose against its own manifests.
"""

from __future__ import annotations

import re

import pandas as pd

from replication.config import STAR_THRESHOLDS, Options
from replication.etable import UNDER

COLUMNS = ["file", "line", "check", "text", "expected"]
# nan and inf anywhere; None unless it opens the sentence (the English word: "None of ...", "None.")
MISSING = re.compile(r"(?<![\w.])(nan|NaN|inf)(?![\w])|.\bNone\b")
CLUSTERING = {
    "cluster_city": re.compile(r"clustered by city|city-clustered|clusters by city|cluster \(city\)|by city with "
                               r"Stata", re.I),
    "cluster_province": re.compile(r"clustered by province|province-clustered|clusters by province|"
                                   r"cluster \(province\)", re.I),
    "driscoll_kraay": re.compile(r"Driscoll-Kraay", re.I),
    "robust": re.compile(r"robust \(HC1\)|heteroskedasticity-robust", re.I),
}
INVARIANT = re.compile(r"whatever cov_type|whatever the option|always|throughout|in every run|regardless|"
                       r"option cov_type|cov_type=|each p row", re.I)
BALANCED = re.compile(r"(\d[\d,]*) cities x (\d+) years = (\d[\d,]*) city-years")
STARS = re.compile(r"\* ?p ?< ?(\d+(?:\.\d+)?), \*\* ?p ?< ?(\d+(?:\.\d+)?), \*\*\* ?p ?< ?(\d+(?:\.\d+)?)")
NON_DEFAULT = re.compile(r"Non-default options: ([^.]*(?:\.\d[^.]*)*)\.")
CLUSTERS_ROW = re.compile(r"the Clusters row counts", re.I)
GRID_FOLDER = "multiverse/"  # the multiverse's texts: the covariance is a decision of the grid there
SIGNIFICANT = re.compile(r"\bsignificant(ly)?\b", re.I)
NOT_SIGNIFICANT = re.compile(r"\bnot (statistically )?significant|\bno significant|\binsignificant", re.I)
T_VALUE = re.compile(r"\bt = (−|-)?(\d+(?:\.\d+)?)")
P_VALUE = re.compile(r"\bp = (\d+(?:\.\d+)?(?:e-\d+)?)")
SENTENCE = re.compile(r"(?<=[.;])\s+(?=[A-Z(])")


def prose(text: str) -> list[tuple[int, str]]:
    """(line number, sentence) of every sentence outside Markdown tables and code."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith("|") or not line.strip():
            continue
        out += [(number, s) for s in SENTENCE.split(line) if s.strip()]
    return out


def _options_words(non_default: dict) -> set[str]:
    """name=value as `--set` takes them (True and true alike)."""
    return {f"{k}={v}".lower() for k, v in non_default.items()}


def check(texts: dict[str, str], options: Options, data: pd.DataFrame,
          non_default_by_file: dict[str, dict] | None = None) -> pd.DataFrame:
    """Findings over `texts` ({relative path: Markdown}) of a run with `options` estimated on `data`
    (city_code, year).  `non_default_by_file` gives, for a file, the non-default options of the step
    that wrote it (default: all of the run's)."""
    rows = []
    cities, city_years = int(data["city_code"].nunique()), len(data)
    thresholds = STAR_THRESHOLDS[options.stars]
    under = UNDER[options.parentheses].lower()
    for path, text in sorted(texts.items()):
        has_clusters_row = bool(re.search(r"^\|\s*Clusters\s*\|", text, re.M))
        chosen = _options_words((non_default_by_file or {}).get(path, options.non_default()))
        for number, sentence in prose(text):
            def find(kind, expected):
                rows.append({"file": path, "line": number, "check": kind, "text": sentence.strip()[:300],
                             "expected": expected})

            if MISSING.search(sentence.strip()):
                find("missing", "a number or a word, not nan/None/inf")
            named = [cov for cov, pattern in CLUSTERING.items() if pattern.search(sentence)]
            if len(named) == 1 and not path.startswith(GRID_FOLDER) and named[0] != options.cov_type and not INVARIANT.search(sentence):
                find("clustering", f"the run's covariance, cov_type={options.cov_type}")
            for match in BALANCED.finditer(sentence):
                n, y, r = (int(g.replace(",", "")) for g in match.groups())
                if n * y != r or n != cities or r != city_years:
                    find("balanced", f"{cities} cities and {city_years} city-years, N x Y = R")
            for match in STARS.finditer(sentence):
                if tuple(float(g) for g in match.groups()) != thresholds:
                    find("stars", f"stars at {thresholds} (option stars={options.stars})")
            for statement in UNDER.values():
                if statement.lower() in sentence.lower() and statement.lower() != under:
                    find("parentheses", f"{UNDER[options.parentheses]} (option parentheses={options.parentheses})")
            for match in NON_DEFAULT.finditer(sentence):
                listed = match.group(1).strip()
                words = set() if listed.lower().startswith("none") else {w.strip().lower() for w in listed.split(",")}
                if words != chosen:
                    find("non_default", ", ".join(sorted(chosen)) or "none")
            if CLUSTERS_ROW.search(sentence) and not has_clusters_row:
                find("clusters_row", "a Clusters row in the table the note is under")
            if SIGNIFICANT.search(sentence) and "the claim needs" not in sentence:
                negated = bool(NOT_SIGNIFICANT.search(sentence))
                ts = [float(m.group(2)) for m in T_VALUE.finditer(sentence)]
                ps = [float(m.group(1)) for m in P_VALUE.finditer(sentence)]
                if negated and (any(t > 3.2 for t in ts) or any(p < 0.05 for p in ps)):
                    find("significance", "|t| <= 3.2 and p >= 0.05 for a result called not significant")
                elif not negated and (any(t < 1.96 for t in ts) or any(p >= 0.05 for p in ps)):
                    find("significance", "|t| >= 1.96 and p < 0.05 for a result called significant")
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["check", "prose"]
