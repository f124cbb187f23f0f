"""Estimators: known parameters recovered in seeded simulations, the fast paths against the general
ones, and identities on the real (committed) panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from linearmodels import PanelOLS
from scipy import stats

from replication.config import Options
from replication.estimation import Design, bartlett_meat, cluster_factor, fit_fe, fit_iv, within_balanced, within_general
from replication.indices import analysis_frame
from replication.models import (
    CONTROLS, TABLES, baseline, bootstrap_indirect, heterogeneity, instrumental, interacted_test, mediation,
    robustness, sobel, sobel_variance,
)
from replication.resampling import BalancedMoments, bootstrap_weights, permutation_weights

VARIABLES = ["Dist", "Isu", "Dig", *CONTROLS]


@pytest.fixture(scope="module")
def data(committed_panel):
    return analysis_frame(committed_panel, Options()).data


def simulate(rng, cities=282, years=11, beta=1.0, rho=0.5):
    """y = a_i + l_t + beta x + u, x correlated with a_i, u AR(1) within city (clustering matters)."""
    a = rng.normal(size=cities)
    lam = rng.normal(size=years)
    x = a[:, None] + rng.normal(size=(cities, years))
    u = np.zeros((cities, years))
    u[:, 0] = rng.normal(size=cities)
    for t in range(1, years):
        u[:, t] = rho * u[:, t - 1] + rng.normal(size=cities) * np.sqrt(1 - rho**2)
    y = a[:, None] + lam[None, :] + beta * x + u
    return pd.DataFrame({"city_code": np.repeat(np.arange(cities), years), "year": np.tile(np.arange(years), cities),
                         "x": x.ravel(), "y": y.ravel()})


def test_closed_form_and_general_within_agree(data):
    matrix = data[VARIABLES].to_numpy(float)
    entity, time = data["city_code"].to_numpy(), data["year"].to_numpy()
    difference = within_balanced(matrix, entity, time, "twoway") - within_general(matrix, entity, time, "twoway")
    assert np.abs(difference).max() < 1e-10


def test_unbalanced_panel_uses_the_general_path_and_matches_linearmodels(data):
    sample = data.drop(index=data.index[::17])  # unbalanced
    ours = fit_fe(Design.from_frame(sample, "Dist", ["Dig", *CONTROLS]), "cluster")
    frame = sample.set_index(["city_code", "year"])
    lm = PanelOLS(frame["Dist"], frame[["Dig", *CONTROLS]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True, debiased=False, group_debias=False, count_effects=False, auto_df=False)
    assert ours.params[lm.params.index].to_numpy() == pytest.approx(lm.params.to_numpy(), rel=1e-9)
    n, g, k = ours.nobs, ours.nclusters, len(CONTROLS) + 1 + 1 + sample["year"].nunique() - 1
    factor = g / (g - 1) * (n - 1) / (n - k)
    ours_cov = ours.cov.loc[lm.params.index, lm.params.index].to_numpy()
    assert ours_cov == pytest.approx(lm.cov.to_numpy() * factor, rel=1e-8)


def test_two_way_clustering_equals_xtreg_with_year_dummies(data):
    twoway = fit_fe(Design.from_frame(data, "Dist", ["Dig", *CONTROLS]), "cluster")
    dummies = pd.get_dummies(data["year"], prefix="y", drop_first=True).astype(float)
    frame = pd.concat([data, dummies], axis=1)
    oneway = fit_fe(Design.from_frame(frame, "Dist", ["Dig", *CONTROLS, *dummies.columns]), "cluster",
                    effects="entity")
    assert oneway.params["Dig"] == pytest.approx(twoway.params["Dig"], rel=1e-10)
    assert oneway.std_errors["Dig"] == pytest.approx(twoway.std_errors["Dig"], rel=1e-10)
    assert oneway.rsquared_within_entity == pytest.approx(twoway.rsquared_within_entity, rel=1e-10)


@pytest.mark.slow
def test_twfe_interval_coverage_is_nominal():
    rng = np.random.default_rng(2024)
    covered, estimates = 0, []
    for _ in range(500):
        fit = fit_fe(Design.from_frame(simulate(rng), "y", ["x"]), "cluster")
        low, high = fit.params["x"] + np.array([-1, 1]) * stats.t.ppf(0.975, fit.df_resid) * fit.std_errors["x"]
        covered += low <= 1.0 <= high
        estimates.append(fit.params["x"])
    assert 93 <= covered / 5 <= 97
    assert np.mean(estimates) == pytest.approx(1.0, abs=0.01)


def test_2sls_recovers_the_effect_ols_does_not():
    rng = np.random.default_rng(5)
    frame = simulate(rng, beta=0.0)
    z = rng.normal(size=len(frame))
    v = rng.normal(size=len(frame))
    frame["x"] = frame["x"] + z + v
    frame["y"] = frame["y"] - 0.0 + 0.5 * frame["x"] + 2.0 * v  # x endogenous through v
    frame["z"] = z
    iv = fit_iv(frame, "y", "x", ["z"], [], entity="city_code", time="year")
    ols = fit_fe(Design.from_frame(frame, "y", ["x"]), "cluster")
    assert abs(iv.second.params["x"] - 0.5) < 4 * iv.second.std_errors["x"]
    assert abs(ols.params["x"] - 0.5) > 10 * ols.std_errors["x"]
    assert iv.diagnostics["first_stage_F_kp"] == pytest.approx(iv.first.tstats["z"] ** 2)
    assert iv.diagnostics["cd_F"] > 1000 and iv.diagnostics["endog_F_p"] < 1e-6


def test_mediation_recovers_paths_and_the_identity_holds():
    rng = np.random.default_rng(11)
    frame = simulate(rng, beta=0.0)
    frame["m"] = 0.6 * frame["x"] + rng.normal(size=len(frame))
    frame["y"] = 0.3 * frame["x"] - 0.5 * frame["m"] + rng.normal(size=len(frame))
    a = fit_fe(Design.from_frame(frame, "m", ["x"]), "cluster").params["x"]
    full = fit_fe(Design.from_frame(frame, "y", ["x", "m"]), "cluster").params
    c = fit_fe(Design.from_frame(frame, "y", ["x"]), "cluster").params["x"]
    assert a == pytest.approx(0.6, abs=0.03) and full["m"] == pytest.approx(-0.5, abs=0.03)
    assert full["x"] == pytest.approx(0.3, abs=0.04)
    assert c - full["x"] - a * full["m"] == pytest.approx(0.0, abs=1e-12)


def test_sobel_aroian_goodman_by_hand():
    # the paper's Table 9: a = 0.199 (t 6.49), b = -0.116 (t -2.26)
    a, b = 0.199, -0.116
    sa, sb = a / 6.49, b / -2.26
    base = b**2 * sa**2 + a**2 * sb**2
    out = sobel(a, sa, b, sb)
    assert out["sobel_z"] == pytest.approx(a * b / np.sqrt(base), rel=1e-12)
    assert out["sobel_z"] == pytest.approx(-2.13430, abs=1e-5)
    assert out["aroian_z"] == pytest.approx(a * b / np.sqrt(base + sa**2 * sb**2), rel=1e-12)
    assert out["goodman_z"] == pytest.approx(a * b / np.sqrt(base - sa**2 * sb**2), rel=1e-12)
    assert out["sobel_p"] == pytest.approx(2 * stats.norm.sf(2.13430), abs=1e-5)


def test_closed_form_resampling_equals_refitting(data):
    moments = BalancedMoments.from_frame(data, VARIABLES)
    rng = np.random.default_rng(3)
    weights = bootstrap_weights(len(moments.cities), 1, rng)[0]
    chosen = np.repeat(moments.cities, weights.astype(int))
    parts = {c: part for c, part in data.groupby("city_code")}
    frame = pd.concat([parts[c].assign(city_code=i) for i, c in enumerate(chosen)], ignore_index=True)
    x = ["Dig", *CONTROLS]
    refit = fit_fe(Design.from_frame(frame, "Isu", x), "cluster").params[x].to_numpy()
    assert moments.coefficients(weights, "Isu", x)[0] == pytest.approx(refit, rel=1e-9)
    subset = permutation_weights(100, len(moments.cities), 1, rng)[0]
    members = moments.cities[subset == 1]
    refit = fit_fe(Design.from_frame(data[data["city_code"].isin(members)], "Dist", x), "cluster")
    assert moments.coefficients(subset, "Dist", x)[0] == pytest.approx(refit.params[x].to_numpy(), rel=1e-9)


def test_interacted_model_reproduces_the_separate_regressions(data):
    options = Options()
    table = heterogeneity(data, options)
    fits = table.fits
    diff, f_stat, p = interacted_test(data, "Dist", ["Dig", *CONTROLS], "East", "Central")
    assert diff == pytest.approx(fits["East"].params["Dig"] - fits["Central"].params["Dig"], rel=1e-10)
    assert 0 < p < 1 and f_stat > 0
    stats_ = table.stats.set_index("stat")["value"]
    assert 0 < stats_["perm_p_East_Central"] <= 1
    assert heterogeneity(data, options).stats.equals(table.stats)  # seeded: identical on a rerun
    assert sum(fits[r].nobs for r in ("East", "Central", "West")) == fits["All"].nobs


def test_real_panel_mediation_identity_and_bootstrap(data):
    table = mediation(data, Options())
    values = table.stats.set_index("stat")["value"]
    assert abs(values["identity_c_minus_cprime_minus_ab"]) < 1e-12
    assert values["boot_ci_low"] < values["ab"] < values["boot_ci_high"]
    assert bootstrap_indirect(data, ["Dig", *CONTROLS], Options()) == (values["boot_ci_low"], values["boot_ci_high"])


def test_iv_sample_and_identities(data):
    table = instrumental(data, Options())
    values = table.stats[table.stats["column"] == "first_stage"].set_index("stat")["value"]
    assert values["nobs"] == data["city_code"].nunique() * 9  # 2013-2021
    first = table.fits["first_stage"]
    assert values["first_stage_F_kp"] == pytest.approx(first.tstats["L2.Dig"] ** 2, rel=1e-12)


def test_every_table_is_deterministic(data):
    options = Options()
    for function in TABLES.values():
        one, two = function(data, options), function(data, options)
        assert one.coefficients.equals(two.coefficients) and one.stats.equals(two.stats)


def test_cov_type_options_change_the_errors_not_the_estimates(data):
    base = baseline(data, Options()).coefficients
    for cov in ("robust", "cluster_province", "driscoll_kraay"):
        other = baseline(data, Options(cov_type=cov)).coefficients
        assert np.allclose(other["estimate"], base["estimate"])
        assert not np.allclose(other["std_error"], base["std_error"])


def test_drop_filled_uses_the_general_path(data):
    options = Options(drop_filled=True, bootstrap_draws=50)
    table = mediation(data, options)
    values = table.stats.set_index(["column", "stat"])["value"]
    assert values[("c", "nobs")] < len(data)
    assert abs(values[("mediation", "identity_c_minus_cprime_minus_ab")]) < 1e-12


def test_driscoll_kraay_matches_linearmodels_kernel_covariance(data):
    ours = fit_fe(Design.from_frame(data, "Dist", ["Dig", *CONTROLS]), "driscoll_kraay", bandwidth=2)
    frame = data.set_index(["city_code", "year"])
    lm = PanelOLS(frame["Dist"], frame[["Dig", *CONTROLS]], entity_effects=True, time_effects=True).fit(
        cov_type="kernel", kernel="bartlett", bandwidth=2, debiased=False, count_effects=False, auto_df=False)
    assert ours.cov.loc[lm.params.index, lm.params.index].to_numpy() == pytest.approx(lm.cov.to_numpy(), rel=1e-8)


def test_2sls_matches_linearmodels_on_the_within_transformed_data(data):
    from linearmodels.iv import IV2SLS

    from replication.models import with_instrument

    sample = with_instrument(data)
    ours = fit_iv(sample, "Dist", "Dig", ["L2.Dig"], CONTROLS)
    columns = ["Dist", "Dig", "L2.Dig", *CONTROLS]
    transformed = pd.DataFrame(within_balanced(sample[columns].to_numpy(float), sample["city_code"].to_numpy(),
                                               sample["year"].to_numpy(), "twoway"), columns=columns)
    lm = IV2SLS(transformed["Dist"], transformed[CONTROLS], transformed["Dig"], transformed["L2.Dig"]).fit(
        cov_type="clustered", clusters=sample["city_code"].to_numpy(), debiased=False)
    assert ours.second.params[lm.params.index].to_numpy() == pytest.approx(lm.params.to_numpy(), rel=1e-9)
    n, g, k = len(sample), sample["city_code"].nunique(), 1 + len(CONTROLS) + 1 + sample["year"].nunique() - 1
    factor = g / (g - 1) * (n - 1) / (n - k)
    ours_cov = ours.second.cov.loc[lm.params.index, lm.params.index].to_numpy()
    assert ours_cov == pytest.approx(lm.cov.to_numpy() * factor, rel=1e-8)


def test_stata_cluster_factor_and_bartlett_kernel_by_hand():
    assert cluster_factor(10, 100, 5) == pytest.approx(10 / 9 * 99 / 95, rel=1e-15)
    # h = (1, 2, 3) over three periods, one lag: 1 + 4 + 9 + (1 - 1/2) x 2 x (2x1 + 3x2) = 22
    assert bartlett_meat(np.array([[1.0], [2.0], [3.0]]), 1)[0, 0] == 22.0
    assert bartlett_meat(np.array([[1.0], [2.0], [3.0]]), 0)[0, 0] == 14.0
    assert sobel_variance(0.5, 0.1, -0.2, 0.05) == pytest.approx(0.04 * 0.01 + 0.25 * 0.0025, rel=1e-15)


def test_interacted_test_by_hand_on_two_regions(data):
    """The Wald F of the interacted model equals (b_a - b_b)^2 / (V_a + V_b) from the two regions'
    own clustered fits, once each region's Stata factor is replaced by the pooled model's."""
    x = ["Dig", *CONTROLS]
    diff, f_stat, p = interacted_test(data, "Dist", x, "East", "West")
    parts = {r: fit_fe(Design.from_frame(data[data["region"] == r], "Dist", x), "cluster", drop_singletons=True)
             for r in ("East", "West")}
    n = sum(f.nobs for f in parts.values())
    g = sum(f.nclusters for f in parts.values())
    big_k = sum(len(x) + 1 + f.extra["levels"]["time"] - 1 for f in parts.values())
    variance = sum(f.cov.loc["Dig", "Dig"] / cluster_factor(f.nclusters, f.nobs, len(x) + f.extra["levels"]["time"])
                   for f in parts.values()) * cluster_factor(g, n, big_k)
    assert diff == pytest.approx(parts["East"].params["Dig"] - parts["West"].params["Dig"], rel=1e-10)
    assert f_stat == pytest.approx(diff**2 / variance, rel=1e-8)
    assert p == pytest.approx(stats.f.sf(f_stat, 1, g - 1), rel=1e-12)


def test_table8_column1_reuses_table5_column4(data):
    options = Options()
    table5 = baseline(data, options)
    reused, refitted = robustness(data, options, table5=table5), robustness(data, options)
    pd.testing.assert_frame_equal(reused.coefficients, refitted.coefficients)
    pd.testing.assert_frame_equal(reused.stats, refitted.stats)
    assert reused.fits["(1)"] is table5.fits["(4)"]
    wild = reused.stats[(reused.stats["column"] == "(1)") & reused.stats["stat"].str.startswith("wild_Dig_city")]
    assert len(wild) > 0
