"""The multiverse (replication/multiverse.py): the same output on every backend, every row equal to a
direct call of the table function, and the six-indicator mechanism on a synthetic panel."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication import estimation, mechanism
from replication import multiverse as mv
from replication.config import Options
from replication.indices import SHARED, analysis_frame, dist_index
from replication.models import STEPS, baseline, estimation_sample, fit, heterogeneity, instrumental, mediation

SMALL = {
    "panel": ("default",),
    "winsorize": (0.01, 0.0),
    "dist_indicators": ("four", "six_shared_controlled"),
    "dig_recipe": ("pca", "entropy"),
    "controls": ("(4)", "(1)"),
    "cov_type": ("cluster_city", "driscoll_kraay", "cluster_province"),
    "drop_filled": (False, True),
}
TOLERANCE = dict(rtol=1e-8, atol=1e-12)


@pytest.fixture(scope="module")
def small(committed_panel):
    return mv.run({"default": committed_panel}, {}, SMALL)


def test_the_grid_has_every_decision_and_enough_specifications():
    decisions, notes = mv.grid_decisions(mv.GRID, {"edge0": {"edge_fill_years": 0}})
    specs = mv.specifications(decisions)
    assert len(specs) >= 2000
    assert decisions["panel"] == ("default", "edge0")
    for name in ("winsorize", "pooling", "dist_indicators", "dig_recipe", "pca_variance_target", "pca_sign_rule",
                 "dig_rescale", "controls", "cov_type", "drop_filled"):
        assert len(decisions[name]) > 1, name
    assert set(decisions["cov_type"]) == {"cluster_city", "cluster_province", "driscoll_kraay"}
    # a decision that applies to one recipe only is '-' elsewhere, without duplicate specifications
    entropy = specs[specs["dig_recipe"] == "entropy"]
    assert set(entropy["pca_variance_target"]) == {mv.NOT_APPLICABLE}
    assert not specs.drop(columns="spec_id").duplicated().any()
    # an option this branch does not have is left out with a note, not an error
    has = {f.name for f in dataclasses.fields(Options)}
    assert ("min_nonurban_share" in decisions) == ("min_nonurban_share" in has)
    if "min_nonurban_share" not in has:
        assert any("min_nonurban_share" in note for note in notes)


def _csv(frame):
    return mv._csv(frame)


def test_serial_two_jobs_and_dask_give_identical_specs(committed_panel, small):
    distributed = pytest.importorskip("distributed")
    serial = _csv(small.specs)
    two = _csv(mv.run({"default": committed_panel}, {}, SMALL, jobs=2).specs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = _csv(mv.run({"default": committed_panel}, {}, SMALL, scheduler=cluster.scheduler_address).specs)
    assert serial == two
    assert serial == dask
    assert small.specs["spec_id"].nunique() == 96 and len(small.specs) == 96 * len(mv.ESTIMANDS)


def _dig(result, column, term="Dig"):
    table = result.coefficients
    return table[(table["column"] == column) & (table["term"] == term)].iloc[0]


def _check(row, estimate, std_error, p_value):
    np.testing.assert_allclose(row["estimate"], estimate, **TOLERANCE)
    np.testing.assert_allclose(row["std_error"], std_error, **TOLERANCE)
    np.testing.assert_allclose(row["p_value"], p_value, rtol=1e-7, atol=1e-12)


def test_rows_equal_direct_calls_of_the_table_functions(committed_panel, small):
    specs = small.specs
    rng = np.random.default_rng(9)
    chosen = [*rng.choice(specs.loc[specs["controls"] == "(4)", "spec_id"].unique(), 5, replace=False),
              *rng.choice(specs.loc[specs["controls"] == "(1)", "spec_id"].unique(), 2, replace=False)]
    for spec_id in chosen:
        part = specs[specs["spec_id"] == spec_id].set_index("estimand")
        row = part.iloc[0].to_dict()
        options = dataclasses.replace(mv.spec_options(row), permutation_draws=19, bootstrap_draws=40)
        data = analysis_frame(committed_panel, options).data
        controls = row["controls"]
        t5 = _dig(baseline(data, options), controls)
        _check(part.loc["T5_Dig"], t5["estimate"], t5["std_error"], t5["p_value"])
        if controls != "(4)":
            # the other tables hold the controls at column 4; the same regressions through models.fit
            region = fit(data[data["region"] == "West"], "Dist", STEPS[controls], options)
            _check(part.loc["T6_West"], region.params["Dig"], region.std_errors["Dig"], region.pvalues["Dig"])
            continue
        if not options.drop_filled:  # Table 6 with drop_filled fails in its interacted test (not ours)
            t6 = heterogeneity(data, options)
            for region in ("East", "Central", "West"):
                cell = _dig(t6, region)
                _check(part.loc[f"T6_{region}"], cell["estimate"], cell["std_error"], cell["p_value"])
        else:
            region = fit(data[data["region"] == "East"], "Dist", STEPS[controls], options)
            _check(part.loc["T6_East"], region.params["Dig"], region.std_errors["Dig"], region.pvalues["Dig"])
        t7 = _dig(instrumental(data, options), "second_stage")
        _check(part.loc["T7_Dig_2SLS"], t7["estimate"], t7["std_error"], t7["p_value"])
        t9 = mediation(data, options).stats.set_index("stat")["value"]
        ab = part.loc["T9_ab"]
        np.testing.assert_allclose(ab["estimate"], t9["ab"], **TOLERANCE)
        np.testing.assert_allclose(ab["t_stat"], t9["sobel_z"], **TOLERANCE)
        np.testing.assert_allclose(ab["p_value"], t9["sobel_p"], rtol=1e-7, atol=1e-12)
        assert part.loc["T5_Dig", "nobs"] == len(estimation_sample(data, ["Dist", *STEPS[controls]], options))


def test_panel_variants_come_from_variants_json(committed_panel, tmp_path):
    """The 'panel' decision: 'default' plus every entry of variants.json, each with its own panel."""
    folder = tmp_path / "variants"
    folder.mkdir()
    dropped = committed_panel["city_code"].drop_duplicates().iloc[:20]
    variant = committed_panel[~committed_panel["city_code"].isin(dropped)]
    variant.to_csv(folder / "fewer.csv", index=False)
    (folder / "variants.json").write_text(json.dumps({"fewer": {"edge_fill_years": 0}}))
    from replication.__main__ import main
    from replication.data import load_panel

    variants = json.loads((folder / "variants.json").read_text())
    panels = {"default": committed_panel, "fewer": load_panel(folder / "fewer.csv")}
    grid = {"panel": ("default",), "dist_indicators": ("four", "six"), "cov_type": ("cluster_city",)}
    result = mv.run(panels, variants, grid)
    specs = result.specs
    assert list(dict.fromkeys(specs["panel"])) == ["default", "fewer"]
    row = specs[(specs["panel"] == "fewer") & (specs["dist_indicators"] == "six") & (specs["estimand"] == "T5_Dig")].iloc[0]
    options = mv.spec_options(row.to_dict(), variants)
    assert options.edge_fill_years == 0 and options.dist_indicators == "six"
    data = analysis_frame(panels["fewer"], options).data
    direct = _dig(baseline(data, options), "(4)")
    _check(row, direct["estimate"], direct["std_error"], direct["p_value"])
    assert row["nobs"] == len(data) and row["clusters"] == data["city_code"].nunique()
    wild_table = mv.wild_shares(specs)  # per panel beside all, over the rows with a wild p
    assert list(dict.fromkeys(wild_table["group"])) == ["all", "panel=default", "panel=fewer"]
    fewer = wild_table[(wild_table["group"] == "panel=fewer") & (wild_table["estimand"] == "T5_Dig")].iloc[0]
    assert fewer["specifications"] == 2 and fewer["clusters"] == "city" and fewer["median_G"] == row["clusters"]
    # a variants.json entry without its panel is a user error naming the file
    (folder / "variants.json").write_text(json.dumps({"fewer": {}, "missing": {}}))
    assert main(["multiverse", "--variants", str(folder), "--out", str(tmp_path / "out")]) == 2


def _synthetic(years=range(2011, 2019), cities=12, seed=3):
    """Constant split indicators (the service gap never moves) and whole-city phone and broadband
    penetration that rises every year."""
    rng = np.random.default_rng(seed)
    rows = []
    for city in range(cities):
        level = rng.uniform(0.5, 1.5, size=4)
        gap = rng.uniform(0.4, 0.9)
        growth = rng.uniform(3, 8)
        for step, year in enumerate(years):
            rows.append({
                "city_code": 100 + city, "year": year, "pop_district": 100.0, "pop_nonurban": 300.0, "pop_whole": 400.0,
                "library_district": 50 * level[0], "library_nonurban": 150 * level[0] * gap,
                "teachers_primary_district": 10 * level[1], "pupils_primary_district": 150.0,
                "teachers_primary_nonurban": 10 * level[1] * gap, "pupils_primary_nonurban": 150.0,
                "doctors_district": 0.3 * level[2], "doctors_nonurban": 0.9 * level[2] * gap,
                "beds_district": 0.5 * level[3], "beds_nonurban": 1.5 * level[3] * gap,
                "mobile_whole": 200 + growth * step * 10, "internet_whole": 50 + growth * step * 5,
            })
    return pd.DataFrame(rows)


def test_six_indicator_dist_falls_when_only_penetration_rises():
    panel = _synthetic()
    base = Options(winsorize=0.0)
    four = dist_index(panel, dataclasses.replace(base, dist_indicators="four")).dist.to_numpy()
    six_result = dist_index(panel, dataclasses.replace(base, dist_indicators="six"))
    six = six_result.dist.to_numpy()
    by_city = panel.assign(four=four, six=six).groupby("city_code")
    # four indicators: the gap is constant, so Dist is constant within every city
    assert by_city["four"].agg(lambda s: s.max() - s.min()).max() < 1e-12
    # six indicators: Dist falls every year in every city, although no service gap moved
    assert (by_city["six"].agg(lambda s: np.diff(s.to_numpy()).max()) < 0).all()
    # the algebra: Dist = ((s_n + c) / (s_d + c) - 1)^2 = (s_n - s_d)^2 / (s_d + c)^2
    c = six_result.shared.to_numpy()
    s_d = six_result.score_district.to_numpy() - c
    s_n = six_result.score_nonurban.to_numpy() - c
    np.testing.assert_allclose(six, (s_n - s_d) ** 2 / (s_d + c) ** 2, rtol=1e-12)
    assert np.all(np.diff(c.reshape(12, -1), axis=1) > 0)
    # c removed: exactly the four-indicator Dist; c held at the city mean: constant again
    removed = dist_index(panel, dataclasses.replace(base, dist_indicators="six_shared_removed")).dist.to_numpy()
    np.testing.assert_allclose(removed, four, rtol=1e-12)
    fixed = dist_index(panel, dataclasses.replace(base, dist_indicators="six_shared_fixed")).dist.to_numpy()
    assert panel.assign(f=fixed).groupby("city_code")["f"].agg(lambda s: s.max() - s.min()).max() < 1e-12


def test_removing_the_shared_term_gives_the_four_indicator_dist_on_the_real_panel(committed_panel):
    for pooling in ("pooled", "by_year"):
        options = Options(pooling=pooling)
        four = analysis_frame(committed_panel, options).data["Dist"]
        removed = analysis_frame(committed_panel, dataclasses.replace(options, dist_indicators="six_shared_removed"))
        np.testing.assert_allclose(removed.data["Dist"], four, rtol=1e-10)
        controlled = analysis_frame(committed_panel, dataclasses.replace(options, dist_indicators="six_shared_controlled"))
        assert SHARED in controlled.data.columns
        six = analysis_frame(committed_panel, dataclasses.replace(options, dist_indicators="six")).data
        np.testing.assert_allclose(controlled.data["Dist"], six["Dist"], rtol=0)


def test_mechanism_section_reports_the_numbers(committed_panel):
    table = mechanism.mechanism_table(committed_panel, Options())
    own = table[(table["winsorize"] == 0.01) & (table["pooling"] == "pooled")]
    value = own.set_index(["variant", "statistic"])["value"]
    assert value[("six_shared_removed", "estimate")] == pytest.approx(value[("four", "estimate")], rel=1e-8)
    assert value[("six", "c_mean_last_year")] > value[("six", "c_mean_first_year")]
    six = Options(dist_indicators="six")
    direct = _dig(baseline(analysis_frame(committed_panel, six).data, six), "(4)")
    assert value[("six", "t_stat")] == pytest.approx(direct["t_stat"], rel=1e-12)
    unwinsorised = dataclasses.replace(six, winsorize=0.0, pooling="by_year")
    direct = _dig(baseline(analysis_frame(committed_panel, unwinsorised).data, unwinsorised), "(4)")
    cell = table[(table["variant"] == "six") & (table["winsorize"] == 0.0) & (table["pooling"] == "by_year")
                 & (table["statistic"] == "t_stat")]["value"].iloc[0]
    assert cell == pytest.approx(direct["t_stat"], rel=1e-12)
    markdown, html = mechanism.mechanism_section(table)
    assert "(s_n - s_d)^2 / (s_d + c)^2" in markdown
    assert f"{value[('six', 't_stat')]:.2f}" in markdown and f"{cell:.2f}" in markdown and "<table>" in html


def test_outputs_are_deterministic_and_summarise_the_grid(small):
    from replication.published import parse_published

    reference = Path(__file__).resolve().parent.parent / "data" / "reference" / "published.csv"
    published = parse_published(reference.read_text(encoding="utf-8"))
    first = mv.outputs(small, published)
    second = mv.outputs(small, published)
    assert first == second
    shares = pd.read_csv(io.StringIO(first["summary.csv"]))
    overall = shares[(shares["group"] == "all") & (shares["estimand"] == "T5_Dig")].iloc[0]
    t5 = small.specs[small.specs["estimand"] == "T5_Dig"]
    expected = ((t5["p_value"] < 0.05) & (t5["estimate"] < 0)).mean()
    assert overall["share_negative_5"] == pytest.approx(expected)
    decisions = pd.read_csv(io.StringIO(first["decisions.csv"]))
    assert decisions["share_of_variance_t"].between(0, 1 + 1e-12).all()
    assert first["curve_T5_Dig.png"][:8] == b"\x89PNG\r\n\x1a\n" and first["curve_T5_Dig.pdf"][:4] == b"%PDF"


# ---------------------------------------------------------------------------- the wild bootstrap as an inference choice


def _wild_direct(panel, row, draws=999):
    """wild.wild_bootstrap on the rows of one specification's OLS estimand, sorted as the multiverse
    sorts them (province, city, year: the clusters, and so the weights' columns, in the same order)."""
    from replication.wild import wild_bootstrap

    options = mv.spec_options(row)
    data = analysis_frame(panel, options).data
    x = [*STEPS[row["controls"]], *([SHARED] if options.dist_indicators == "six_shared_controlled" else [])]
    sample = estimation_sample(data, ["Dist", *STEPS[row["controls"]]], options)
    if row["estimand"].startswith("T6_"):
        sample = sample[sample["region"] == row["estimand"][3:]]
    sample = sample.sort_values(["province", "city_code", "year"]).reset_index(drop=True)
    cluster = {"cluster_city": "city_code", "cluster_province": "province"}[row["cov_type"]]
    return wild_bootstrap(sample, "Dist", x, term="Dig", cluster=cluster, draws=draws, seed=options.seed, ci=False)


def test_wild_p_equals_a_direct_wild_bootstrap_call(committed_panel, small):
    specs = small.specs
    assert Options().multiverse_wild_draws == 999 and small.wild.draws == 999
    clustered = specs[specs["estimand"].isin(mv.WILD_ESTIMANDS) & specs["cov_type"].ne("driscoll_kraay")]
    assert clustered["wild_p"].notna().all() and clustered["wild_p"].between(0, 1).all()
    # where it does not apply the columns are empty: 2SLS, a x b, Driscoll-Kraay
    others = specs[~specs.index.isin(clustered.index)]
    assert others["wild_p"].isna().all() and others["wild_replications"].isna().all()
    rng = np.random.default_rng(11)
    picked = [clustered[(clustered["estimand"] == e) & (clustered["cov_type"] == c)].iloc[int(rng.integers(16))]
              for e, c in (("T5_Dig", "cluster_city"), ("T5_Dig", "cluster_province"), ("T6_West", "cluster_city"),
                           ("T6_East", "cluster_province"), ("T6_Central", "cluster_province"))]
    picked.append(clustered[(clustered["dist_indicators"] == "six_shared_controlled") & clustered["drop_filled"]
                            & (clustered["controls"] == "(1)")].iloc[0])
    enumerated = 0
    for row in picked:
        direct = _wild_direct(committed_panel, row.to_dict())
        assert abs(row["wild_p"] - direct.p_symmetric) <= 1e-12, row.to_dict()
        assert row["wild_replications"] == direct.draws and row["clusters"] == direct.nclusters
        np.testing.assert_allclose(row["t_stat"], direct.t_stat, rtol=1e-8)
        enumerated += direct.enumerated
    assert enumerated >= 1  # a few-province region: all 2^G sign vectors (wild_replications = 2^G < 999)


def test_one_wild_bootstrap_serves_both_dig_scales(committed_panel):
    """dig_rescale='minmax' rescales Dig only: the multiverse runs the bootstrap once for both scales, and
    the p-value equals a direct call on the rescaled Dig (t and t* do not depend on the scale)."""
    grid = {"panel": ("default",), "dig_recipe": ("entropy",), "dig_rescale": ("none", "minmax"),
            "controls": ("(4)",), "cov_type": ("cluster_city",), "drop_filled": (False,)}
    specs = mv.run({"default": committed_panel}, {}, grid).specs
    t5 = specs[specs["estimand"] == "T5_Dig"].set_index("dig_rescale")
    assert t5.loc["none", "estimate"] != pytest.approx(t5.loc["minmax", "estimate"], rel=1e-3)
    assert t5.loc["none", "wild_p"] == t5.loc["minmax", "wild_p"]
    direct = _wild_direct(committed_panel, t5.loc["minmax"].to_dict() | {"dig_rescale": "minmax"})
    assert abs(t5.loc["minmax", "wild_p"] - direct.p_symmetric) <= 1e-12


def test_null_moments_are_draw_moments_at_zero(committed_panel):
    """The p-value path without the inversion's columns gives draw_moments' a and pp."""
    from replication import wild

    data = analysis_frame(committed_panel, Options()).data
    pieces = wild.cluster_pieces(data, "Dist", STEPS["(4)"], "Dig", "province", "city_code", "year", "twoway", True)
    for kind in ("rademacher", "webb"):
        v = np.vstack(list(wild.weight_blocks(pieces.nclusters, kind, 300, seed=5, enumerate_all=False)))
        full, null = pieces.draw_moments(v, kind == "rademacher"), pieces.null_moments(v, kind == "rademacher")
        np.testing.assert_allclose(null[:, [0, 2]], full[:, [0, 2]], rtol=1e-10)
        np.testing.assert_allclose(wild._t_boot(null, pieces.ssc, 0.0), wild._t_boot(full, pieces.ssc, 0.0), rtol=1e-10)


def test_wild_summary_puts_both_inferences_side_by_side(small):
    table = mv.wild_shares(small.specs)
    assert set(table["estimand"]) == set(mv.WILD_ESTIMANDS) and set(table["clusters"]) == {"city", "province"}
    assert set(table["group"]) == {"all"}  # one panel: no per-panel rows
    row = table[(table["estimand"] == "T6_East") & (table["clusters"] == "province")].iloc[0]
    part = small.specs[(small.specs["estimand"] == "T6_East") & (small.specs["cov_type"] == "cluster_province")]
    assert row["specifications"] == len(part)
    assert row["share_positive_5_wild"] == pytest.approx(((part["wild_p"] < 0.05) & (part["estimate"] > 0)).mean())
    assert row["share_positive_5_t"] == pytest.approx(((part["p_value"] < 0.05) & (part["estimate"] > 0)).mean())
    assert row["draws"] == str(2 ** int(row["median_G"]))  # 7 provinces: every sign vector
    from replication.published import parse_published

    reference = Path(__file__).resolve().parent.parent / "data" / "reference" / "published.csv"
    files = mv.outputs(small, parse_published(reference.read_text(encoding="utf-8")))
    assert files["wild.csv"] == mv._csv(table)
    assert "## Cluster-robust t and the wild cluster bootstrap" in files["summary.md"]
    assert "999 draws" in files["summary.md"] and "T7_Dig_2SLS" in files["summary.md"].split("wild bootstrap does not")[1]


def test_multiverse_wild_draws_zero_skips_the_bootstrap(committed_panel):
    grid = {"panel": ("default",), "controls": ("(4)",), "cov_type": ("cluster_city",), "drop_filled": (False,)}
    result = mv.run({"default": committed_panel}, {}, grid, base=Options(multiverse_wild_draws=0))
    assert result.wild is None and result.specs["wild_p"].isna().all()
    assert "Not run (Options.multiverse_wild_draws = 0)" in "\n".join(mv.wild_section(result, mv.wild_shares(result.specs)))
    with pytest.raises(ValueError, match="option multiverse_wild_draws: expected a value in \\[0, 1000000\\], got -1"):
        Options(multiverse_wild_draws=-1)


def test_the_summary_passes_the_consistency_checker(small, committed_panel):
    """The multiverse summary, like every report, is read against its run (replication.consistency):
    here a small grid under province-clustered base options, whose words must not say 'by city' but
    where the grid fixes it."""
    from replication.consistency import check
    from replication.indices import analysis_frame
    from replication.published import parse_published

    reference = Path(__file__).resolve().parent.parent / "data" / "reference" / "published.csv"
    options = Options(cov_type="cluster_province")
    files = mv.outputs(small, parse_published(reference.read_text(encoding="utf-8")),
                       mechanism.mechanism_table(committed_panel, options), options=options)
    data = analysis_frame(committed_panel, options).data
    found = check({"multiverse/summary.md": files["summary.md"]}, options, data)
    assert found.empty, "\n" + found.to_string()
    assert "Starred: p < 0.05 (errors clustered by province)." in files["summary.md"]


def test_demeaned_sample_gives_fit_fe_and_fit_iv(committed_panel):
    """The multiverse's kernel (estimation.Demeaned: one within transformation, then solves on the Gram
    matrix) gives the slopes and errors of fit_fe and fit_iv, clustered by city and by province and
    Driscoll-Kraay, on the rows the multiverse uses (sorted by province, city, year)."""
    from replication.estimation import Design, fit_fe, fit_iv
    from replication.models import INSTRUMENT, with_instrument

    data = with_instrument(analysis_frame(committed_panel, Options()).data)
    data = data.sort_values(["province", "city_code", "year"]).reset_index(drop=True)
    names = ["Dist", "Dig", INSTRUMENT, *STEPS["(4)"][1:]]
    sample = estimation.Demeaned.build(data[names].to_numpy(float), names, data["city_code"].to_numpy(),
                                       data["year"].to_numpy(), {"city": data["city_code"].to_numpy(),
                                                                 "province": data["province"].to_numpy()})
    kinds = {"cluster": "city", "province": "province", "driscoll_kraay": "time"}
    beta, covs = sample.ols("Dist", STEPS["(4)"], kinds)
    iv_beta, iv_covs = sample.iv("Dist", "Dig", INSTRUMENT, STEPS["(4)"][1:], kinds)
    for label, kind in kinds.items():
        cov_type, cluster = ("cluster", "province") if label == "province" else (label, None)
        direct = fit_fe(Design.from_frame(data, "Dist", STEPS["(4)"], cluster=cluster), cov_type)
        np.testing.assert_allclose(beta, direct.params[STEPS["(4)"]].to_numpy(), rtol=1e-10)
        np.testing.assert_allclose(np.sqrt(np.diag(covs[label][0])), direct.std_errors[STEPS["(4)"]].to_numpy(),
                                   rtol=1e-9)
        assert covs[label][1] == direct.df_resid
        iv = fit_iv(data, "Dist", "Dig", [INSTRUMENT], STEPS["(4)"][1:], cov_type, cluster=cluster).second
        assert iv_beta[0] == pytest.approx(iv.params["Dig"], rel=1e-10)
        assert np.sqrt(iv_covs[label][0][0, 0]) == pytest.approx(iv.std_errors["Dig"], rel=1e-9)
    assert covs["cluster"][2] == data["city_code"].nunique() and np.isnan(covs["driscoll_kraay"][2])
