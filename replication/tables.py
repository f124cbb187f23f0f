"""Tables as data: the tidy frames of Tables 1, 3 and 4 (the index tables), beside the paper.

The frames keep the symbols (indicator and variable names); labels are the renderer's
(registry.LABELS)."""

from __future__ import annotations

import pandas as pd

from replication.indices import Analysis
from replication.published import cell

TABLE4 = ("Dist", "Dig", "lnexpense", "lnper_gdp", "Stru", "Ur", "Isu", "Dig_entropy")  # Table 4 rows, in order
PAPER_TABLE1 = ("mobile", "internet", "library", "teachers_per_pupil", "doctors", "beds")


def table1(analysis: Analysis, six: Analysis, published: pd.DataFrame) -> pd.DataFrame:
    """Entropy weights of the Dist indicators: the indicators used, the six-indicator option, the paper."""
    used = analysis.dist.entropy.weights
    rows = []
    for indicator in PAPER_TABLE1:
        rows.append({
            "indicator": indicator,
            "weight": used.get(indicator, float("nan")),
            "weight_six": six.dist.entropy.weights[indicator],
            "weight_paper": cell(published, "T1", "weight", indicator, "weight"),
        })
    return pd.DataFrame(rows)


def table3(analysis: Analysis, published: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Eigenvalues and variance shares; KMO and Bartlett; the indicator weights of Dig and Dig_entropy."""
    pca = analysis.dig
    components = pd.DataFrame({
        "component": pca.eigenvalues.index,
        "eigenvalue": pca.eigenvalues.to_numpy(),
        "variance_share": pca.variance_share.to_numpy(),
        "cumulative_share": pca.cumulative_share.to_numpy(),
        "kept": [i < pca.kept for i in range(len(pca.eigenvalues))],
    })
    for stat in ("eigenvalue", "variance_share", "cumulative_share"):
        components[f"{stat}_paper"] = [cell(published, "T3", c, stat, "value") for c in components["component"]]
    summary = pd.DataFrame([
        ("components_kept", pca.kept, cell(published, "T3", "all", "kept", "value")),
        ("kmo", pca.kmo, cell(published, "T3", "all", "kmo", "value")),
        ("bartlett_chi2", pca.bartlett_chi2, float("nan")),
        ("bartlett_df", pca.bartlett_df, float("nan")),
        ("bartlett_p", pca.bartlett_p, cell(published, "T3", "all", "bartlett_p", "value")),
        ("nobs", len(pca.scores), float("nan")),
    ], columns=["stat", "value", "paper"])
    weights = pd.DataFrame({
        "indicator": pca.weights.index,
        "weight_pca": pca.weights.to_numpy(),
        "weight_entropy": analysis.dig_entropy.weights.reindex(pca.weights.index).to_numpy(),
        "kmo_item": pca.kmo_per_item.to_numpy(),
        **{f"vector_{c}": pca.eigenvectors[c].to_numpy() for c in pca.eigenvectors.columns},
    })
    return components, summary, weights


def table4(analysis: Analysis, published: pd.DataFrame) -> pd.DataFrame:
    """Descriptive statistics of the estimation sample beside the paper's Table 4."""
    data = analysis.data
    rows = []
    for variable in TABLE4:
        series = data[variable]
        row = {"variable": variable, "mean": series.mean(), "sd": series.std(),
               "min": series.min(), "max": series.max(), "n": int(series.notna().sum())}
        for stat in ("mean", "sd", "min", "max"):
            row[f"{stat}_paper"] = cell(published, "T4", variable, stat, "value")
        rows.append(row)
    return pd.DataFrame(rows)
