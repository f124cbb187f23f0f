"""replication.inference (issue 23, items 1-5): Conley against spreg (PySAL) and a brute-force N x N
sum, CV3 against R's sandwich and clubSandwich (tests/reference/sandwich, stored the linearmodels way)
and a brute-force leave-one-cluster-out refit, WRE against explicit re-estimation and by simulation,
Table 6's restrictions and Table 9's a x b against the kernel's fits.

Tolerances, set once: RTOL for one computation reached by two routes in floating point; R_RTOL for
numbers that went through R's printed %.15e."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import spreg

from replication import inference as inf
from replication.config import Options
from replication.estimation import Design, fit_fe
from replication.models import CONTROLS, REGIONS, fit
from replication.models import baseline as baseline_table
from replication.wild import weight_blocks

RTOL = 1e-10
R_RTOL = 1e-9
REFERENCE = Path(__file__).parent / "reference" / "sandwich" / "cv3.txt"
FAST = dataclasses.replace(Options(), wild_draws=199)


@pytest.fixture(scope="module")
def data(committed_panel) -> pd.DataFrame:
    from replication.indices import analysis_frame

    return analysis_frame(committed_panel, Options()).data


@pytest.fixture(scope="module")
def coordinates(data) -> pd.DataFrame:
    return inf.prefecture_coordinates(data, inf.load_adcodes())


@pytest.fixture(scope="module")
def baseline(data) -> inf.PanelFit:
    return inf.panel_fit(data, "Dist", ["Dig", *CONTROLS], Options())


def great_circle(lon1, lat1, lon2, lat2):
    """Haversine distance in km (an independent formula from the chord of the module)."""
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * inf.EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))


def random_cross_section(n=120, seed=1):
    rng = np.random.default_rng(seed)
    lonlat = np.column_stack([rng.uniform(100, 120, n), rng.uniform(22, 40, n)])
    x = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = x @ [1.0, 2.0, 3.0] + rng.normal(size=n)
    return lonlat, x, y


# ---------------------------------------------------------------------------- coordinates


def test_every_panel_city_has_cpca_coordinates(data, coordinates):
    assert len(coordinates) == data["city_code"].nunique() == 257
    adcodes = inf.load_adcodes()
    row = adcodes[adcodes["name"] == "石家庄市"].iloc[0]
    got = coordinates.set_index("city_code").loc[130100]
    assert (got["longitude"], got["latitude"]) == (row["longitude"], row["latitude"])
    chongqing = adcodes[adcodes["adcode"] == "500000000000"].iloc[0]  # a municipality: the province's row
    assert coordinates.set_index("city_code").loc[500100, "latitude"] == chongqing["latitude"]


def test_an_unmatched_city_is_named():
    cities = pd.DataFrame({"city_code": [130100, 999900], "city": ["石家庄市", "无名市"],
                           "province": ["河北省"] * 2})
    with pytest.raises(ValueError, match=r"1 cities not matched.*无名市 \(河北省, 999900\): 0 matches"):
        inf.prefecture_coordinates(cities, inf.load_adcodes())


@pytest.mark.parametrize("cutoff", inf.CUTOFFS_KM)
def test_neighbour_pairs_are_the_brute_force_pairs(cutoff):
    lonlat, _, _ = random_cross_section(300, seed=2)
    a, b, distance = inf.neighbour_pairs(lonlat[:, 0], lonlat[:, 1], cutoff)
    i, j = np.triu_indices(len(lonlat), 1)
    full = great_circle(lonlat[i, 0], lonlat[i, 1], lonlat[j, 0], lonlat[j, 1])
    inside = full <= cutoff
    assert sorted(zip(a.tolist(), b.tolist())) == sorted(zip(i[inside].tolist(), j[inside].tolist()))
    order = np.lexsort((b, a))
    np.testing.assert_allclose(distance[order], full[inside], rtol=RTOL)


# ---------------------------------------------------------------------------- Conley


def brute_force_conley(scores, lonlat_rows, time, unit, cutoff, kernel, lag):
    """The meat as the double sum over all N x N pairs of rows (Hsiang 2010)."""
    n = len(scores)
    d = great_circle(lonlat_rows[:, None, 0], lonlat_rows[:, None, 1], lonlat_rows[None, :, 0],
                     lonlat_rows[None, :, 1])
    same_time = time[:, None] == time[None, :]
    k = np.where(d <= cutoff, 1.0 if kernel == "uniform" else 1 - d / cutoff, 0.0) * same_time
    gap = np.abs(time[:, None] - time[None, :])
    serial = (unit[:, None] == unit[None, :]) & (gap >= 1) & (gap <= lag)
    weights = k + np.where(serial, 1 - gap / (lag + 1), 0.0)
    assert weights.shape == (n, n)
    return scores.T @ weights @ scores


@pytest.mark.parametrize("kernel", inf.KERNELS)
@pytest.mark.parametrize("lag", [0, 2])
def test_conley_panel_equals_the_brute_force_sum(kernel, lag):
    rng = np.random.default_rng(3)
    n_loc, n_years = 40, 6
    lonlat = np.column_stack([rng.uniform(105, 115, n_loc), rng.uniform(25, 35, n_loc)])
    location = np.repeat(np.arange(n_loc), n_years)
    year = np.tile(np.arange(2011, 2011 + n_years), n_loc)
    keep = rng.random(len(year)) > 0.15  # unbalanced
    location, year = location[keep], year[keep]
    scores = rng.normal(size=(len(year), 3))
    got = inf.conley_meat(scores, location, lonlat, year, 250.0, kernel, lag)
    want = brute_force_conley(scores, lonlat[location], year, location, 250.0, kernel, lag)
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_conley_serial_part_follows_the_entity_not_the_location():
    """Two units sharing each location (so the spatial part is the same) have their own serial part."""
    rng = np.random.default_rng(6)
    lonlat = np.column_stack([rng.uniform(105, 115, 15), rng.uniform(25, 35, 15)])
    location = np.repeat(np.arange(15), 2 * 5)
    unit = np.repeat(np.arange(30), 5)
    year = np.tile(np.arange(2015, 2020), 30)
    scores = rng.normal(size=(len(year), 2))
    got = inf.conley_meat(scores, location, lonlat, year, 300.0, "bartlett", 3, entity=unit)
    want = brute_force_conley(scores, lonlat[location], year, unit, 300.0, "bartlett", 3)
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_conley_cross_section_bartlett_equals_spreg_hac():
    lonlat, x, y = random_cross_section()
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    weights = libpysal.weights.Kernel(lonlat, bandwidth=500.0, fixed=True, function="triangular",
                                      diagonal=True, radius=inf.EARTH_RADIUS_KM)
    ols = spreg.OLS(y[:, None], x[:, 1:], robust="hac", gwk=weights)
    got = inf.conley_cov(x, resid, np.arange(len(y)), lonlat, np.zeros(len(y)), 500.0, "bartlett")
    np.testing.assert_allclose(got, ols.vm, rtol=RTOL)


def test_conley_cross_section_uniform_equals_spreg_hac_with_unit_weights():
    """libpysal's 'uniform' kernel weighs 1/2 (and fails on arc distances in 4.x); its binary distance
    band, each point added as its own neighbour, is Conley's uniform kernel."""
    lonlat, _, _ = random_cross_section()
    _, x, y = random_cross_section(seed=4)
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    band = libpysal.weights.DistanceBand(lonlat, threshold=250.0, binary=True, radius=inf.EARTH_RADIUS_KM,
                                         silence_warnings=True)
    neighbours = {i: [i, *band.neighbors[i]] for i in range(len(y))}
    ones = libpysal.weights.W(neighbours, {i: [1.0] * len(v) for i, v in neighbours.items()})
    ols = spreg.OLS(y[:, None], x[:, 1:])  # spreg's HAC sandwich, called with weights it does not build
    want = spreg.robust.robust_vm(ols, gwk=ones)
    got = inf.conley_cov(x, resid, np.arange(len(y)), lonlat, np.zeros(len(y)), 250.0, "uniform")
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_conley_2sls_cross_section_equals_spreg_tsls_hac():
    lonlat, _, _ = random_cross_section()  # libpysal's arc k-d tree fails on some draws of points
    _, x, _ = random_cross_section(seed=5)
    rng = np.random.default_rng(5)
    n = len(x)
    z = rng.normal(size=n)
    common = rng.normal(size=n)
    endog = 0.8 * z + common + rng.normal(size=n)
    y = x @ [1.0, 0.5, -0.5] + 2.0 * endog + common + rng.normal(size=n)
    weights = libpysal.weights.Kernel(lonlat, bandwidth=500.0, fixed=True, function="triangular",
                                      diagonal=True, radius=inf.EARTH_RADIUS_KM)
    tsls = spreg.TSLS(y[:, None], x[:, 1:], endog[:, None], z[:, None], robust="hac", gwk=weights)
    instruments = np.column_stack([x, z])
    regressors = np.column_stack([x, endog])
    fitted = instruments @ np.linalg.lstsq(instruments, regressors, rcond=None)[0]
    beta = np.linalg.lstsq(fitted, y, rcond=None)[0]
    resid = y - regressors @ beta
    np.testing.assert_allclose(beta, tsls.betas.ravel(), rtol=RTOL)
    got = inf.conley_cov(fitted, resid, np.arange(n), lonlat, np.zeros(n), 500.0, "bartlett")
    np.testing.assert_allclose(got, tsls.vm, rtol=1e-9)


def test_conley_variance_matches_the_monte_carlo_variance_under_spatial_correlation():
    """1,500 points over 20 x 20 degrees; x and u each the sum of iid shocks within 100 km, so they
    are correlated up to 200 km, the cutoff.  Over 200 seeded samples the mean Conley variance of
    the slope lies within 25% of its Monte Carlo variance (whose own error is about 10%), where
    White's misses by more than two thirds."""
    rng = np.random.default_rng(7)
    n, reps = 1500, 200
    lonlat = np.column_stack([rng.uniform(100, 120, n), rng.uniform(25, 45, n)])
    a, b, _ = inf.neighbour_pairs(lonlat[:, 0], lonlat[:, 1], 100.0)
    spread = sp.csr_matrix((np.ones(2 * len(a)), (np.r_[a, b], np.r_[b, a])), shape=(n, n)) + sp.identity(n)
    slopes, conley, white = [], [], []
    for _ in range(reps):
        x = np.column_stack([np.ones(n), spread @ rng.normal(size=n)])
        y = x @ [1.0, 0.5] + spread @ rng.normal(size=n)
        beta = np.linalg.lstsq(x, y, rcond=None)[0]
        resid = y - x @ beta
        slopes.append(beta[1])
        conley.append(inf.conley_cov(x, resid, np.arange(n), lonlat, np.zeros(n), 200.0, "uniform")[1, 1])
        white.append(inf.conley_cov(x, resid, np.arange(n), lonlat, np.zeros(n), 1e-3, "uniform")[1, 1])
    truth = np.var(slopes)
    assert abs(np.mean(conley) / truth - 1) < 0.25
    assert np.mean(white) / truth < 1 / 3
    assert abs(np.mean(slopes) - 0.5) < 3 * np.sqrt(truth / reps)


def test_conley_reduces_to_hc0_and_to_clustering_by_year(baseline, coordinates):
    """At a cutoff below the nearest two cities and no lag the meat is White's; with the uniform
    kernel at a cutoff spanning China it is the sandwich clustered by year."""
    sample, z, u = baseline.sample, baseline.xt, baseline.resid
    location, lonlat = inf.city_locations(sample, coordinates)
    year = sample["year"].to_numpy()
    scores = z * u[:, None]
    white = inf.conley_meat(scores, location, lonlat, year, 1.0, "uniform")
    np.testing.assert_allclose(white, scores.T @ scores, rtol=RTOL)
    by_year = pd.DataFrame(scores).groupby(year).sum().to_numpy()
    np.testing.assert_allclose(inf.conley_meat(scores, location, lonlat, year, 6000.0, "uniform"),
                               by_year.T @ by_year, rtol=RTOL)


# ---------------------------------------------------------------------------- CV3 and leverage


def parse_reference(text: str) -> pd.DataFrame:
    """cv3.R's output: a '#' version line, then tab-separated rows with a header."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    header, *rows = (line.split("\t") for line in lines)
    frame = pd.DataFrame(rows, columns=header)
    numeric = ["nobs", "nclusters", "estimate", "se_hc3", "se_cr3"]
    return frame.astype({name: float for name in numeric})


STORED = parse_reference(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reference_fits(data):
    spec = importlib.util.spec_from_file_location("designs", REFERENCE.parent / "designs.py")
    designs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(designs)
    return designs.cases(data, Options())


@pytest.mark.parametrize("row", STORED.to_dict("records"),
                         ids=lambda r: f"{r['case']}-{r['clustering']}-{r['term']}")
def test_cv3_equals_r_sandwich_and_clubsandwich(row, reference_fits):
    sample, term = reference_fits[row["case"]]
    x, y, names = inf.jackknife_arrays(sample, "Dist", [term, *CONTROLS])
    result = inf.cluster_jackknife(x, y, sample[row["clustering"]].to_numpy(), names, term)
    g = result.nclusters
    assert (len(sample), g) == (row["nobs"], row["nclusters"])
    np.testing.assert_allclose(result.params[names.index(row["term"])], row["estimate"], rtol=R_RTOL)
    se = result.std_error(row["term"])
    np.testing.assert_allclose(se, row["se_hc3"], rtol=R_RTOL)  # vcovCL HC3: (G-1)/G sum_g, as summclust
    np.testing.assert_allclose(se, row["se_cr3"] * np.sqrt((g - 1) / g), rtol=R_RTOL)  # CR3: no (G-1)/G


def test_stored_reference_covers_every_case():
    assert set(STORED["case"]) == {"table5_4", "table8_2", *(f"table6_{region}" for region in REGIONS)}
    assert len(STORED) == 5 * 5 * 2  # five cases, five slopes, two clusterings


def test_leave_one_cluster_out_equals_refitting_without_the_cluster(baseline):
    """Every b_(g) of the jackknife against the kernel's two-way FE fit on the sample without g."""
    result = inf.jackknife(baseline, "province")
    sample = baseline.sample
    for province, beta_loo in zip(result.clusters["cluster"], result.clusters["beta_loo"]):
        rest = sample[sample["province"] != province]
        refit = fit_fe(Design.from_frame(rest, "Dist", ["Dig", *CONTROLS]), "unadjusted", "twoway")
        np.testing.assert_allclose(beta_loo, refit.params["Dig"], rtol=1e-9)
    deviations = result.clusters["beta_loo"].to_numpy() - result.params[0]
    g = result.nclusters
    np.testing.assert_allclose(result.cov_cv3[0, 0], (g - 1) / g * deviations @ deviations, rtol=RTOL)
    np.testing.assert_allclose(result.params[0], baseline.fit.params["Dig"], rtol=RTOL)


def test_leverages_sum_to_the_regressors_and_partial_leverage_to_one(baseline):
    result = inf.jackknife(baseline, "city_code")
    x, _, names = inf.jackknife_arrays(baseline.sample, "Dist", baseline.x)
    np.testing.assert_allclose(result.clusters["leverage"].sum(), len(names), rtol=RTOL)
    np.testing.assert_allclose(result.clusters["partial_leverage"].sum(), 1.0, rtol=RTOL)
    assert len(names) == 5 + 10  # Dig, four controls, ten year dummies
    assert result.clusters["nobs"].sum() == len(baseline.sample)


def test_g_star_by_hand():
    assert inf.g_effective(np.full(7, 2.5)) == 7.0  # equal gammas: G* = G
    # gamma = (1, 3): mean 2, Gamma = ((1-2)^2 + (3-2)^2) / 2 / 4 = 1/4, G* = 2 / 1.25
    assert inf.g_effective(np.array([1.0, 3.0])) == pytest.approx(1.6, rel=1e-15)


def test_g_star_in_a_two_cluster_design_by_hand():
    """x = (1, 1, 2, 0) in clusters (a, a, b, b) regressed without constant: w = x / x'x = x / 6;
    gamma(0) = (2/36, 4/36), Gamma = 1/9, G*(0) = 2 / (10/9) = 1.8; gamma(1) = (4/36, 4/36): G*(1) = 2."""
    x = np.array([[1.0], [1.0], [2.0], [0.0]])
    result = inf.cluster_jackknife(x, np.array([1.0, 2.0, 3.0, 4.0]), np.array(list("aabb")), ["x"], "x")
    assert result.g_star[0.0] == pytest.approx(1.8, rel=1e-14)
    assert result.g_star[1.0] == pytest.approx(2.0, rel=1e-14)
    np.testing.assert_allclose(result.clusters["partial_leverage"], [2 / 6, 4 / 6], rtol=1e-14)


# ---------------------------------------------------------------------------- WRE


def small_iv(seed=3, n_g=12, size=20):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_g), size)
    n = len(cluster)
    w = np.column_stack([np.ones(n), rng.normal(size=n)])
    z = rng.normal(size=n)
    errors = rng.normal(size=(n, 2)) @ [[1.0, 0.0], [0.8, 0.6]]
    y2 = 0.3 * z + w @ [1.0, 0.5] + errors[:, 1]
    y1 = w @ [2.0, -1.0] + errors[:, 0]
    return y1, y2, z, w, cluster


def test_wre_draws_equal_explicit_reestimation():
    y1, y2, z, w, cluster = small_iv()
    pieces = inf.WREPieces.build(y1, y2, z, w, cluster)
    v = np.where(np.random.default_rng(9).random((6, 12)) < 0.5, -1.0, 1.0)
    beta0 = 0.2
    got = inf.WREDraws.build(pieces, v, block=4).t(beta0)  # two blocks of draws
    u, v_tilde, _ = pieces.restricted_dgp(beta0)
    for b in range(len(v)):
        signs = v[b][cluster]  # the DGP of Davidson and MacKinnon (2010), rebuilt row by row
        y2_star = y2 - v_tilde + v_tilde * signs
        y1_star = beta0 * y2_star + (y1 - beta0 * y2) - u + u * signs
        a, d, zz = inf.partial_out(w, y1_star, y2_star, z)
        beta = zz @ a / (zz @ d)
        scores = np.bincount(cluster, zz * (a - beta * d))
        assert got[b] == pytest.approx((beta - beta0) / (np.sqrt(scores @ scores) / abs(zz @ d)), rel=1e-10)


def test_wre_enumerates_few_clusters_and_then_ignores_the_seed():
    y1, y2, z, w, cluster = small_iv(n_g=8)
    first = inf.wre_test(y1, y2, z, w, cluster, draws=999, seed=1, confidence_set=False)
    second = inf.wre_test(y1, y2, z, w, cluster, draws=999, seed=2, confidence_set=False)
    assert first.enumerated and first.draws == 256
    assert first.p_wre == second.p_wre
    # the all-plus and all-minus sign vectors give +-t exactly and are not counted as more extreme
    assert first.p_wre <= 254 / 256


def test_wre_confidence_set_is_the_set_of_accepted_nulls():
    y1, y2, z, w, cluster = small_iv(n_g=14)
    result = inf.wre_test(y1, y2, z, w, cluster, draws=499, seed=5)
    low, high = result.confidence_set[0]
    v = np.vstack(list(weight_blocks(14, "rademacher", 499, 5, False)))
    draws = inf.WREDraws.build(inf.WREPieces.build(y1, y2, z, w, cluster), v)
    for inside in (low + 1e-6 * abs(high - low), result.estimate, high - 1e-6 * abs(high - low)):
        assert inf.wre_p(draws, inside)[1] > 0.05
    for outside in (low - 1e-3 * abs(high - low), high + 1e-3 * abs(high - low)):
        assert inf.wre_p(draws, outside)[1] <= 0.05


def test_table7_wald_se_is_the_kernel_s(data):
    fitted = inf.iv_fit(data, Options())
    result = inf.iv_wre(fitted, "city_code", FAST, confidence_set=False)
    second = fitted.result.second
    np.testing.assert_allclose(result.estimate, second.params["Dig"], rtol=1e-9)
    np.testing.assert_allclose(result.std_error, second.std_errors["Dig"], rtol=1e-9)
    assert result.nclusters == second.nclusters


def simulate_rejections(reps: int, draws: int, n_g: int, size: int, pi: float, rho: float, seed: int):
    """Rejection rates at 5% of the Wald t (cluster-robust, t(G-1)) and of WRE for beta = 0 (true):
    few clusters, a weak instrument, strong endogeneity, errors and instrument correlated in clusters."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_g), size)
    n = len(cluster)
    w = np.ones((n, 1))
    wald = wre = 0
    for _ in range(reps):
        z = 0.7 * rng.normal(size=n_g)[cluster] + rng.normal(size=n)
        errors = rng.normal(size=(n, 2)) + 0.7 * rng.normal(size=(n_g, 2))[cluster]
        u = errors[:, 0]
        y2 = pi * z + rho * u + np.sqrt(1 - rho**2) * errors[:, 1]
        result = inf.wre_test(u, y2, z, w, cluster, draws=draws, seed=int(rng.integers(2**31)),
                              confidence_set=False)
        wald += result.p_wald < 0.05
        wre += result.p_wre < 0.05
    return wald / reps, wre / reps


def test_wre_rejects_at_five_percent_where_wald_over_rejects():
    """1,000 samples x 199 draws, 16 clusters of 30, first-stage coefficient 0.1, correlation 0.8:
    the Monte Carlo standard error of a 5% rate is 0.0069; WRE lies within three of them."""
    wald, wre = simulate_rejections(1000, 199, 16, 30, 0.1, 0.8, seed=1)
    assert abs(wre - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 1000)
    assert wald > 0.10


# ---------------------------------------------------------------------------- Table 6, Table 9, the table


def test_holm_by_hand():
    assert inf.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert inf.holm([0.5, 0.9, 0.2]) == pytest.approx([1.0, 1.0, 0.6])


def test_regional_differences_are_table6_differences(data):
    result = inf.regional_differences(data, FAST)
    x = ["Dig", *CONTROLS]
    slopes = {region: fit(data[data["region"] == region], "Dist", x, Options()).params["Dig"]
              for region in REGIONS}
    pairs = [("East", "Central"), ("East", "West"), ("Central", "West")]
    for (a, b), term in zip(pairs, result["term"].unique()):
        assert term == f"Dig({a}) - Dig({b})"
        estimates = result.loc[result["term"] == term, "estimate"]
        np.testing.assert_allclose(estimates, slopes[a] - slopes[b], rtol=1e-9)
    wcr = result[result["method"] == "wcr_city"]["p_value"].tolist()
    assert result[result["method"] == "wcr_city_holm"]["p_value"].tolist() == pytest.approx(inf.holm(wcr))
    assert set(result["method"]) == {f"{kind}_{label}{suffix}" for kind in ("cluster", "wcr")
                                     for label in ("city", "province") for suffix in ("", "_holm")}


def test_indirect_effect_is_table9_ab(data):
    from replication.models import mediation

    table = mediation(data, Options())
    ab = table.stats.set_index("stat").loc["ab", "value"]
    result = inf.indirect_effect(data, FAST)
    np.testing.assert_allclose(result["estimate"], float(ab), rtol=1e-9)
    joint = result[result["method"] == "joint_wcr_city"].iloc[0]
    p_a, p_b = (float(part.split("= ")[1]) for part in joint["note"].split(", "))
    assert joint["p_value"] == pytest.approx(max(p_a, p_b), rel=1e-3)


def test_inference_table_rows(data, coordinates):
    table = inf.inference_table(data, FAST, coordinates)
    assert list(table.columns) == inf.TABLE_COLUMNS
    t5 = table[table["table"] == "Table 5 (4)"].set_index("method")
    expected = {"cluster_city", "cluster_province", "cv3_city", "cv3_province", "wcr_city", "wcr_province",
                *(f"conley_{k}_{c}km_lag{inf.CONLEY_LAG}" for k in inf.KERNELS for c in inf.CUTOFFS_KM)}
    assert expected <= set(t5.index)
    headline = fit(data, "Dist", ["Dig", *CONTROLS], Options())
    assert t5.loc["cluster_city", "std_error"] == pytest.approx(headline.std_errors["Dig"], rel=RTOL)
    assert t5.loc["cluster_city", "p_value"] == pytest.approx(headline.pvalues["Dig"], rel=RTOL)
    table5 = baseline_table(data, FAST).stats.set_index(["column", "stat"])["value"]
    for label in ("city", "province"):  # the WCR rows are the tables' own wild bootstrap
        assert t5.loc[f"wcr_{label}", "p_value"] == table5["(4)", f"wild_Dig_{label}_p"]
        low = table5["(4)", f"wild_Dig_{label}_ci_low"]
        assert t5.loc[f"wcr_{label}", "ci_low"] == pytest.approx(low, rel=RTOL)
    city = inf.jackknife(inf.panel_fit(data, "Dist", ["Dig", *CONTROLS], Options()), "city_code").clusters
    top = str(city.loc[city["partial_leverage"].idxmax(), "cluster"])
    assert t5.loc["max_partial_leverage_city", "note"] == top
    assert t5.loc["max_partial_leverage_city", "note"].isdigit()  # a city code, not a float's text
    t7 = table[table["table"] == "Table 7"].set_index("method")
    assert {"cluster_city", "wre_city", "wre_province", "anderson_rubin"} <= set(t7.index)
    assert table["p_value"].notna().sum() > 40


def test_cluster_diagnostics_cover_tables_5_6_8(data, baseline):
    table = inf.cluster_diagnostics(data, Options())
    assert set(table["table"]) == {"Table 5 (4)", "Table 8 (2)", *(f"Table 6 {region}" for region in REGIONS)}
    assert set(table.loc[table["table"] == "Table 8 (2)", "term"]) == {"Dig_entropy"}
    city = table[(table["table"] == "Table 5 (4)") & (table["clustering"] == "city")]
    direct = inf.jackknife(baseline, "city_code")
    np.testing.assert_allclose(city["beta_loo"], direct.clusters["beta_loo"], rtol=RTOL)
    assert city["g_star_rho0"].iloc[0] == pytest.approx(direct.g_star[0.0], rel=RTOL)
    for (_, clustering), part in table.groupby(["table", "clustering"]):
        assert part["partial_leverage"].sum() == pytest.approx(1.0, rel=1e-9)
