"""The wild cluster bootstrap (replication/wild.py) pinned to wildboottest, checked against its own
definition (test inversion), and its size checked by simulation.

wildboottest takes one dense regressor matrix, so the fixed effects enter it as dummy columns
(small panels only; on the 2,838-row panel that is 2,838 x 273, still feasible).  Its clusters are
ordered as np.unique orders them; the panels here are sorted by cluster so that the orders agree
when weights are handed over."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from wildboottest.wildboottest import WildboottestCL

from replication import wild
from replication.config import Options
from replication.estimation import Design, fit_fe
from replication.wild import _t_boot, cluster_pieces, weight_blocks, wild_bootstrap


def small_panel(cities: int = 30, years: int = 6, provinces: int = 10, drop=(3, 17, 40, 41), seed: int = 1):
    """Cities nested in provinces; `drop` removes rows (unbalanced)."""
    rng = np.random.default_rng(seed)
    rows = [(c, 2000 + t, c * provinces // cities) for c in range(cities) for t in range(years)]
    frame = pd.DataFrame(rows, columns=["city_code", "year", "province"])
    frame = frame.drop(index=list(drop)).reset_index(drop=True)
    n = len(frame)
    frame["x1"] = rng.normal(size=n) + 0.3 * frame["province"]
    frame["x2"] = rng.normal(size=n)
    frame["y"] = (0.1 * frame["x1"] + 0.5 * frame["x2"] + rng.normal(size=n) * (1 + frame["province"] / 5)
                  + 0.2 * frame["city_code"] + 0.1 * frame["year"])
    return frame


def run_wildboottest(data, y, x, term, cluster, restricted, draws=9999, seed=1, v=None):
    """wildboottest's WCR/WCU '11' with the two-way effects as dummies -> (object, p_sym, p_et)."""
    dummies = pd.get_dummies(data[["city_code", "year"]].astype(str), drop_first=True).to_numpy(float)
    design = np.column_stack([data[x].to_numpy(float), np.ones(len(data)), dummies])
    restriction = np.zeros(design.shape[1])
    restriction[x.index(term)] = 1
    boot = WildboottestCL(X=design, Y=data[y].to_numpy(float), cluster=data[cluster].to_numpy(),
                          R=restriction, B=draws, seed=seed)
    boot.get_scores(bootstrap_type="11", impose_null=restricted)
    if v is None:
        boot.get_weights(weights_type="rademacher")
    else:
        boot.v, boot.B = v.T.copy(), len(v)
    boot.get_numer()
    boot.get_denom()
    boot.get_tboot()
    boot.get_vcov()
    boot.get_tstat()
    boot.get_pvalue(pval_type="two-tailed")
    p_sym = float(boot.pvalue)
    boot.get_pvalue(pval_type="equal-tailed")
    return boot, p_sym, float(boot.pvalue)


def assert_same_p_values(ours, boot, p_sym, p_et):
    """Equal to 1e-12, ties apart.  Under WCR the all-plus and all-minus sign vectors of a full
    enumeration give t* = +-t exactly; wildboottest's strict |t| < |t*| lets floating rounding decide
    whether they count (as fwildclusterboot's own tests note), replication.wild counts them as not
    more extreme.  So: wildboottest's own t*, counted with replication.wild's tie rule, give
    exactly our p-values, and its raw p-values differ from ours by at most the share of ties."""
    t, t_boot = float(np.ravel(boot.t_stat)[0]), boot.t_boot
    tol = wild.TIE * abs(t)
    ties = np.abs(np.abs(t_boot) - abs(t)) <= tol
    assert abs(ours.p_symmetric - np.mean(np.abs(t_boot) > abs(t) + tol)) < 1e-12
    assert abs(ours.p_equal_tailed - 2 * min(np.mean(t_boot > t + tol), np.mean(t_boot < t - tol))) < 1e-12
    assert abs(ours.p_symmetric - p_sym) <= ties.mean() + 1e-12
    assert abs(ours.p_equal_tailed - p_et) <= 2 * ties.mean() + 1e-12
    return int(ties.sum())


# ---------------------------------------------------------------------------- (a) full enumeration


@pytest.mark.parametrize("cluster, drop", [("city_code", ()), ("province", (3, 17, 40, 41))])
@pytest.mark.parametrize("restricted", [True, False])
def test_full_enumeration_equals_wildboottest(cluster, drop, restricted):
    cities = 10 if cluster == "city_code" else 30
    data = small_panel(cities=cities, drop=drop)
    data = data.sort_values([cluster, "city_code", "year"], ignore_index=True)
    x = ["x1", "x2"]
    ours = wild_bootstrap(data, "y", x, term="x1", cluster=cluster, restricted=restricted, seed=5)
    boot, p_sym, p_et = run_wildboottest(data, "y", x, "x1", cluster, restricted)
    assert ours.enumerated and ours.draws == boot.B == 2**10
    assert assert_same_p_values(ours, boot, p_sym, p_et) == (2 if restricted else 0)
    # every bootstrap t, in wildboottest's order of sign vectors (its factor: K counts the dummies)
    pieces = cluster_pieces(data, "y", x, "x1", cluster, "city_code", "year", "twoway", restricted)
    t_boot = _t_boot(pieces.draw_moments(boot.v.T.astype(float), True), boot.ssc, 0.0)
    np.testing.assert_allclose(t_boot, boot.t_boot, rtol=0, atol=1e-10)
    # the t statistic is estimation.py's (Stata's factor); only the factor separates it from wildboottest's
    reference = fit_fe(Design.from_frame(data, "y", x, cluster=cluster), "cluster")
    assert abs(ours.t_stat - reference.tstats["x1"]) < 1e-10
    assert abs(ours.p_t - reference.pvalues["x1"]) < 1e-12
    assert abs(ours.t_stat * np.sqrt(pieces.ssc / boot.ssc) - float(np.ravel(boot.t_stat)[0])) < 1e-10
    assert ours.p_symmetric == wild_bootstrap(data, "y", x, term="x1", cluster=cluster, restricted=restricted,
                                              seed=99, ci=False).p_symmetric  # exact: no seed involved


def test_forced_enumeration_of_14_clusters_equals_wildboottest():
    """enumerate=True beyond 'auto' (2^14 = 16,384 > 9,999 draws), as the Guangxi case needs;
    wildboottest enumerates when 2^G < B, so it is given 20,000."""
    data = small_panel(cities=28, provinces=14, drop=(5, 60)).sort_values(["province", "city_code", "year"],
                                                                           ignore_index=True)
    ours = wild_bootstrap(data, "y", ["x1", "x2"], term="x1", cluster="province", enumerate=True)
    assert not wild_bootstrap(data, "y", ["x1", "x2"], term="x1", cluster="province", ci=False).enumerated
    boot, p_sym, p_et = run_wildboottest(data, "y", ["x1", "x2"], "x1", "province", True, draws=20000)
    assert ours.enumerated and ours.draws == boot.B == 2**14 and ours.nclusters == 14
    assert assert_same_p_values(ours, boot, p_sym, p_et) == 2


def test_webb_weights_equal_wildboottest_given_the_same_draws():
    data = small_panel(cities=30).sort_values(["province", "city_code", "year"]).reset_index(drop=True)
    v = np.vstack(list(weight_blocks(10, "webb", 2000, seed=3, enumerate_all=False)))
    assert set(np.round(np.unique(v) ** 2, 12)) == {0.5, 1.0, 1.5}
    boot, _, _ = run_wildboottest(data, "y", ["x1", "x2"], "x2", "province", True, v=v)
    pieces = cluster_pieces(data, "y", ["x1", "x2"], "x2", "province", "city_code", "year", "twoway", True)
    t_boot = _t_boot(pieces.draw_moments(v, False), boot.ssc, 0.0)
    np.testing.assert_allclose(t_boot, boot.t_boot, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------- (b) the real panel


@pytest.fixture(scope="module")
def analysis(committed_panel):
    from replication.indices import analysis_frame

    data = analysis_frame(committed_panel, Options()).data
    return data.sort_values(["city_code", "year"], ignore_index=True)


@pytest.mark.slow
def test_real_panel_against_wildboottest(analysis):
    """Table 5 column 4, city clusters, 9,999 Rademacher draws each.  Independent draws: the two
    p-values differ by less than 4 standard errors of a difference of two binomial proportions,
    4 sqrt(2 p (1 - p) / B).  The same draws: every bootstrap t agrees to 1e-8."""
    x = ["Dig", "Ur", "Stru", "lnexpense", "lnper_gdp"]
    ours = wild_bootstrap(analysis, "Dist", x, cluster="city_code", draws=9999, seed=20240517, ci=False)
    boot, p_sym, _ = run_wildboottest(analysis, "Dist", x, "Dig", "city_code", True, draws=9999, seed=7)
    assert ours.nclusters == 257 and not ours.enumerated
    bound = 4 * np.sqrt(2 * p_sym * (1 - p_sym) / 9999)
    assert abs(ours.p_symmetric - p_sym) < bound
    pieces = cluster_pieces(analysis, "Dist", x, "Dig", "city_code", "city_code", "year", "twoway", True)
    t_boot = _t_boot(pieces.draw_moments(boot.v.T.astype(float), True), boot.ssc, 0.0)
    np.testing.assert_allclose(t_boot, boot.t_boot, rtol=0, atol=1e-8)


def test_tables_carry_the_wild_rows(analysis):
    from replication.models import baseline

    result = baseline(analysis, Options(wild_draws=999))
    stats = result.stats.set_index(["column", "stat"])["value"]
    dig = result.coefficients.set_index(["column", "term"]).loc[("(4)", "Dig")]
    assert stats[("(4)", "wild_Dig_city_t_p")] == pytest.approx(dig["p_value"], abs=1e-12)
    assert stats[("(4)", "wild_Dig_city_draws")] == 999 and stats[("(4)", "wild_Dig_province_G")] == 25
    assert stats[("(4)", "wild_Dig_city_ci_low")] < dig["estimate"] < stats[("(4)", "wild_Dig_city_ci_high")]


# ---------------------------------------------------------------------------- the interval and the draws


@pytest.mark.parametrize("enumerate_all", [True, False])
def test_interval_is_the_inverted_test(enumerate_all):
    """At each end of the interval the p-value of the null beta = r crosses 1 - level: testing r on y
    is testing 0 on y - r x (same draws)."""
    data = small_panel(cities=30)
    kwargs = dict(term="x1", cluster="province", draws=999, seed=4, enumerate=enumerate_all)
    result = wild_bootstrap(data, "y", ["x1", "x2"], **kwargs)

    def p_at(r):
        shifted = data.assign(y=data["y"] - r * data["x1"])
        return wild_bootstrap(shifted, "y", ["x1", "x2"], ci=False, **kwargs).p_symmetric

    eps = 1e-7 * result.std_error
    for end, inward in ((result.ci_low, 1), (result.ci_high, -1)):
        assert p_at(end + inward * eps) > 0.05 >= p_at(end - inward * eps)


def test_draws_do_not_depend_on_the_block_size(monkeypatch):
    data = small_panel(cities=30)
    first = wild_bootstrap(data, "y", ["x1", "x2"], term="x1", cluster="city_code", draws=999, seed=8)
    monkeypatch.setattr(wild, "CHUNK_CELLS", 1000)
    second = wild_bootstrap(data, "y", ["x1", "x2"], term="x1", cluster="city_code", draws=999, seed=8)
    assert first == second


def test_bad_input_is_named():
    data = small_panel(cities=30)
    with pytest.raises(ValueError, match="city_code effects must be nested in the year clusters"):
        wild_bootstrap(data, "y", ["x1"], term="x1", cluster="year")
    with pytest.raises(ValueError, match="weights='mammen'"):
        wild_bootstrap(data, "y", ["x1"], term="x1", weights="mammen")
    with pytest.raises(ValueError, match="enumeration needs Rademacher"):
        wild_bootstrap(data, "y", ["x1"], term="x1", cluster="province", weights="webb", enumerate=True)
    with pytest.raises(ValueError, match="column 'x2' is missing or infinite in 1 rows"):
        wild_bootstrap(data.assign(x2=data["x2"].where(data.index != 5)), "y", ["x1", "x2"], term="x1")
    with pytest.raises(ValueError, match="identifier column 'province' is missing in 1 rows"):
        wild_bootstrap(data.assign(province=data["province"].where(data.index != 7)), "y", ["x1"], term="x1",
                       cluster="province")
    with pytest.raises(ValueError, match="option wild_weights: expected one of rademacher, webb, got 'normal'"):
        Options(wild_weights="normal")


# ---------------------------------------------------------------------------- (d) size by simulation


def simulated_panel(rng, sizes=(12, 10, 8, 8, 6, 6, 5, 5, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2), years=6):
    """20 province clusters of unequal size; the regressor and the errors share skewed cluster-year
    shocks whose scale differs across clusters: the design in which the cluster-robust t test
    over-rejects.  The true coefficient of x is zero."""
    sizes = np.asarray(sizes)
    province = np.repeat(np.arange(len(sizes)), sizes)
    city = np.repeat(np.arange(len(province)), years)
    year = np.tile(np.arange(years), len(province))
    p = province[city]
    shock_x = rng.lognormal(0.0, 1.0, size=(len(sizes), years))
    x = shock_x[p, year] + 0.3 * rng.normal(size=len(city))
    shock_u = rng.normal(size=(len(sizes), years)) * np.linspace(0.5, 3.0, len(sizes))[:, None]
    u = shock_u[p, year] * (1 + 0.5 * shock_x[p, year]) + rng.normal(size=len(city))
    return pd.DataFrame({"city_code": city, "year": year, "province": p, "x": x,
                         "w": rng.normal(size=len(city)), "y": u})


@pytest.mark.slow
def test_wcr_has_the_right_size_where_the_t_test_does_not():
    """2,000 panels, 199 WCR draws each.  199 draws suffice for size: with alpha (B + 1) = 10 an
    integer, the Monte Carlo test rejects with probability alpha exactly when the statistics are
    exchangeable (Davidson and MacKinnon 2000); few draws cost power, not size.  Bound: 3 Monte
    Carlo standard errors of a 5% rate, 3 sqrt(0.05 x 0.95 / 2000) = 0.0146."""
    rng = np.random.default_rng(20240517)
    n, wild_rejects, t_rejects = 2000, 0, 0
    for i in range(n):
        result = wild_bootstrap(simulated_panel(rng), "y", ["x", "w"], term="x", cluster="province",
                                draws=199, seed=i, ci=False)
        wild_rejects += result.p_symmetric < 0.05
        t_rejects += result.p_t < 0.05
    bound = 3 * np.sqrt(0.05 * 0.95 / n)
    assert abs(wild_rejects / n - 0.05) < bound, wild_rejects / n
    assert t_rejects / n > 0.05 + bound, t_rejects / n
