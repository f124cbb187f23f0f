"""Figures: Dig's coefficient across Tables 5-8 beside the paper, the indices over time by region, and
the bootstrap distribution of the indirect effect.  Each returns {file name: bytes} (PNG and PDF),
written without timestamps so reruns are byte-identical."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from replication.compare import paper_cities  # noqa: E402

METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "ModDate": None, "Producer": None,
                                               "Creator": None}}
PAPER, OURS = "#7f7f7f", "#1f4e79"

# (label, table, column, term) of every Dig coefficient in Tables 5-8
DIG_CELLS = [
    ("T5 (1)", "T5", "(1)", "Dig"), ("T5 (2)", "T5", "(2)", "Dig"), ("T5 (3)", "T5", "(3)", "Dig"),
    ("T5 (4)", "T5", "(4)", "Dig"), ("T6 East", "T6", "East", "Dig"), ("T6 Central", "T6", "Central", "Dig"),
    ("T6 West", "T6", "West", "Dig"), ("T7 2SLS", "T7", "second_stage", "Dig"),
    ("T8 entropy Dig", "T8", "(2)", "Dig_entropy"),
]


def save_figure(figure) -> dict[str, bytes]:
    out = {}
    for kind in ("png", "pdf"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, dpi=150, bbox_inches="tight", metadata=METADATA[kind])
        out[kind] = buffer.getvalue()
    plt.close(figure)
    return out


def coefficient_plot(published: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict[str, bytes]:
    rows = []
    for label, table, column, term in DIG_CELLS:
        hit = published[(published["table"] == table) & (published["column"] == column) & (published["row"] == term)]
        estimate = float(hit.loc[hit["stat"] == "estimate", "value"].iloc[0])
        t = float(hit.loc[hit["stat"] == "t", "value"].iloc[0])
        critical = stats.t.ppf(0.975, paper_cities(table, column) - 1)
        ours = tables[f"table{table[1:]}"]
        mine = ours[(ours["column"] == column) & (ours["term"] == term)].iloc[0]
        df = tables[f"table{table[1:]}_stats"]
        clusters = df[(df["column"] == column) & (df["stat"] == "nclusters")]["value"]
        critical_ours = stats.t.ppf(0.975, float(clusters.iloc[0]) - 1) if len(clusters) else 1.96
        rows.append((label, estimate, critical * abs(estimate / t), mine["estimate"], critical_ours * mine["std_error"]))
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    positions = np.arange(len(rows))[::-1]
    for offset, index, color, name in ((0.15, 1, PAPER, "Paper (interval from printed t)"),
                                       (-0.15, 3, OURS, "Replication (city-clustered)")):
        axis.errorbar([r[index] for r in rows], positions + offset, xerr=[r[index + 1] for r in rows], fmt="o",
                      color=color, capsize=3, label=name)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_yticks(positions, [r[0] for r in rows])
    axis.set_xlabel("Coefficient of Dig on Dist, 95% interval")
    axis.set_title("Digital technology and the urban-rural public-service gap")
    axis.legend(loc="lower right", frameon=False, fontsize=8)
    return save_figure(figure)


def indices_over_time(data: pd.DataFrame) -> dict[str, bytes]:
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    means = data.groupby(["region", "year"])[["Dist", "Dig"]].median().reset_index()
    for axis, variable, label in ((axes[0], "Dist", "Dist (median)"), (axes[1], "Dig", "Dig (median)")):
        for region, style in (("East", "-"), ("Central", "--"), ("West", ":")):
            part = means[means["region"] == region]
            axis.plot(part["year"], part[variable], style, color=OURS, label=region)
        axis.set_title(label)
        axis.set_xlabel("Year")
    axes[0].legend(frameon=False, fontsize=8)
    figure.suptitle("The two indices by region (medians: Dist has a long right tail)", fontsize=10)
    figure.tight_layout()
    return save_figure(figure)


def bootstrap_plot(draws: np.ndarray, ab: float, sobel_z: float) -> dict[str, bytes]:
    figure, axis = plt.subplots(figsize=(6, 3.8))
    axis.hist(draws, bins=60, density=True, color=OURS, alpha=0.6, label=f"Cluster bootstrap ({len(draws)} draws)")
    se = abs(ab / sobel_z)
    grid = np.linspace(draws.min(), draws.max(), 400)
    axis.plot(grid, stats.norm.pdf(grid, ab, se), color="black", label="Sobel normal approximation")
    for q in np.percentile(draws, [2.5, 97.5]):
        axis.axvline(q, color=OURS, linestyle="--", linewidth=0.8)
    axis.axvline(0, color="black", linewidth=0.6)
    axis.set_xlabel("Indirect effect a x b (Dig -> Isu -> Dist)")
    axis.legend(frameon=False, fontsize=8)
    return save_figure(figure)
