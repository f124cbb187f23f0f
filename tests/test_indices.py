"""The entropy and PCA indices: hand computations, properties, errors, and the real panel's values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from replication.config import Options
from replication.indices import (
    IndexError_, analysis_frame, area_indicators, dist_index, entropy_weights, kmo, pca_index,
)


def test_entropy_weights_by_hand():
    data = pd.DataFrame({"x1": [1.0, 2.0, 3.0], "x2": [10.0, 10.0, 40.0]})
    # x1' = (0, .5, 1), p = (0, 1/3, 2/3): e1 = -(1/ln 3)(1/3 ln 1/3 + 2/3 ln 2/3) = 0.5793801642856950
    # x2' = (0, 0, 1),  p = (0, 0, 1):     e2 = 0 (0 ln 0 = 0, 1 ln 1 = 0)
    e1 = -(1 / np.log(3)) * (1 / 3 * np.log(1 / 3) + 2 / 3 * np.log(2 / 3))
    assert e1 == pytest.approx(0.5793801642856950, rel=1e-15)
    d1, d2 = 1 - e1, 1.0
    w1, w2 = d1 / (d1 + d2), d2 / (d1 + d2)  # 0.2960819..., 0.7039180...
    result = entropy_weights(data)
    assert result.entropy.tolist() == pytest.approx([e1, 0.0], abs=1e-15)
    assert result.weights.tolist() == pytest.approx([w1, w2], rel=1e-12)
    assert result.weights["x1"] == pytest.approx(0.2960819110, rel=1e-9)
    assert result.scores.tolist() == pytest.approx([0.0, 0.5 * w1, w1 + w2], rel=1e-12)


def test_negative_indicator_is_reversed():
    data = pd.DataFrame({"good": [1.0, 2.0, 3.0], "bad": [3.0, 2.0, 1.0]})
    result = entropy_weights(data, negative=("bad",))
    assert result.standardized["bad"].tolist() == [0.0, 0.5, 1.0]
    assert result.weights["good"] == pytest.approx(0.5)


@pytest.fixture
def random_matrix():
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.lognormal(size=(200, 4)), columns=list("abcd"))


def test_entropy_properties(random_matrix):
    result = entropy_weights(random_matrix)
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-15)
    shuffled = entropy_weights(random_matrix.sample(frac=1.0, random_state=3))
    assert shuffled.weights.to_numpy() == pytest.approx(result.weights.to_numpy(), rel=1e-12)
    affine = random_matrix.assign(a=3.0 * random_matrix["a"] + 11.0)
    assert entropy_weights(affine).weights.to_numpy() == pytest.approx(result.weights.to_numpy(), rel=1e-12)


def test_concentrated_indicator_gets_more_weight():
    rng = np.random.default_rng(1)
    spread = rng.uniform(0, 1, 500)  # standardised values spread evenly: high entropy
    concentrated = rng.exponential(1, 500) ** 3  # most mass near zero, a few large: low entropy
    weights = entropy_weights(pd.DataFrame({"spread": spread, "concentrated": concentrated})).weights
    assert weights["concentrated"] > 2 * weights["spread"]


@pytest.mark.parametrize(("data", "message"), [
    (pd.DataFrame({"a": [1.0, 1.0, 1.0], "b": [1.0, 2.0, 3.0]}), "indicator 'a' is constant"),
    (pd.DataFrame({"a": [1.0, -2.0, 3.0], "b": [1.0, 2.0, 3.0]}), "negative value in indicator 'a' \\(row 1\\)"),
    (pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.0, 2.0, 3.0]}), "missing value in indicator 'a' \\(row 1\\)"),
    (pd.DataFrame({"a": [1.0], "b": [2.0]}), "needs at least two rows, got 1"),
])
def test_entropy_refuses_bad_input(data, message):
    with pytest.raises(IndexError_, match=message):
        entropy_weights(data)


def test_pca_against_numpy_and_independent_kmo_bartlett(random_matrix):
    noise = np.random.default_rng(2).uniform(size=len(random_matrix))
    data = random_matrix.assign(e=random_matrix["a"] + 0.5 * random_matrix["b"] + noise)
    result = pca_index(data, Options(winsorize=0))
    values = np.sort(np.linalg.eigvalsh(np.corrcoef(data.to_numpy(), rowvar=False)))[::-1]
    assert result.eigenvalues.to_numpy() == pytest.approx(values, rel=1e-12)
    assert result.eigenvalues.sum() == pytest.approx(data.shape[1], rel=1e-12)
    assert result.weights.sum() == pytest.approx(1.0)
    assert (result.eigenvectors.sum() > 0).all()
    # KMO from partial correlations computed by regressing each pair on all other indicators
    x = (data - data.mean()).to_numpy()
    k = x.shape[1]
    r = np.corrcoef(x, rowvar=False)
    partial = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            if i != j:
                others = np.delete(x, [i, j], axis=1)
                ri = x[:, i] - others @ np.linalg.lstsq(others, x[:, i], rcond=None)[0]
                rj = x[:, j] - others @ np.linalg.lstsq(others, x[:, j], rcond=None)[0]
                partial[i, j] = ri @ rj / np.sqrt((ri @ ri) * (rj @ rj))
    off = ~np.eye(k, dtype=bool)
    expected = (r[off] ** 2).sum() / ((r[off] ** 2).sum() + (partial[off] ** 2).sum())
    assert kmo(data)[0] == pytest.approx(expected, rel=1e-10)
    # Bartlett from the eigenvalues: -(n - 1 - (2k + 5)/6) sum log(lambda), df = k(k - 1)/2
    n = len(data)
    assert result.bartlett_chi2 == pytest.approx(-(n - 1 - (2 * k + 5) / 6) * np.log(values).sum(), rel=1e-10)
    assert result.bartlett_df == k * (k - 1) // 2


def _two_area_panel(nonurban_library):
    rows = 4
    return pd.DataFrame({
        "year": [2011, 2012, 2013, 2014],
        "pop_district": [10.0] * rows, "pop_nonurban": [20.0] * rows, "pop_whole": [30.0] * rows,
        "library_district": [1.0, 2.0, 3.0, 4.0], "library_nonurban": nonurban_library,
        "teachers_primary_district": [10.0, 20, 30, 40], "teachers_primary_nonurban": [20.0, 40, 60, 80],
        "pupils_primary_district": [100.0] * rows, "pupils_primary_nonurban": [200.0] * rows,
        "doctors_district": [5.0, 6, 7, 8], "doctors_nonurban": [10.0, 12, 14, 16],
        "beds_district": [9.0, 8, 7, 6], "beds_nonurban": [18.0, 16, 14, 12],
    })


def test_dist_is_zero_exactly_when_the_areas_score_equally():
    # the non-urban area has twice the population and twice every count: identical per-capita rates
    equal = dist_index(_two_area_panel([2.0, 4.0, 6.0, 8.0]), Options(winsorize=0))
    assert equal.dist.to_numpy() == pytest.approx(np.zeros(4), abs=1e-15)
    assert equal.score_district.to_numpy() == pytest.approx(equal.score_nonurban.to_numpy(), abs=1e-15)
    unequal = dist_index(_two_area_panel([1.0, 4.0, 6.0, 8.0]), Options(winsorize=0))
    assert (unequal.dist.iloc[0] > 0) and unequal.dist.iloc[1:].to_numpy() == pytest.approx(np.zeros(3), abs=1e-15)


def test_zero_district_score_is_reported_not_divided():
    panel = _two_area_panel([2.0, 4.0, 6.0, 8.0])
    panel.loc[0, ["library_nonurban", "teachers_primary_nonurban", "doctors_nonurban"]] = [4.0, 40.0, 20.0]
    panel.loc[0, "beds_nonurban"] = 30.0
    panel.loc[0, "beds_district"] = 6.0  # row 0 is now the minimum district row on every indicator
    result = dist_index(panel, Options(winsorize=0))
    assert list(result.zero_district) == [0]
    assert np.isnan(result.ratio.iloc[0]) and np.isnan(result.dist.iloc[0])


# ---------------------------------------------------------------------------- the real (committed) panel


@pytest.fixture(scope="module")
def analysis(committed_panel):
    return analysis_frame(committed_panel, Options())


def test_dig_lies_in_the_unit_interval(analysis):
    assert (analysis.dig.weights > 0).all()
    assert analysis.data["Dig"].between(0, 1).all() and analysis.data["Dig_entropy"].between(0, 1).all()


def test_indices_on_the_committed_panel(analysis):
    """Regression values: a change that moves them must be seen (and explained).

    Moved by the anomaly screen (anomaly_rule=confirmed: 258 cities in the panel) and min_nonurban_share
    (Shantou's 11 city-years leave the estimation data): 2827 rows, Dist's sd 0.669 -> 0.208."""
    assert analysis.dist.entropy.weights.round(6).to_dict() == {
        "library": 0.395202, "teachers_per_pupil": 0.134623, "doctors": 0.237891, "beds": 0.232284}
    assert analysis.dig.eigenvalues.round(6).tolist() == [2.708976, 0.989274, 0.739394, 0.363868, 0.198487]
    assert analysis.dig.kept == 3
    assert round(analysis.dig.kmo, 6) == 0.687586
    assert analysis.dig.weights.round(6).to_dict() == {
        "telecom_per_capita": 0.154957, "pku_index": 0.152958, "internet": 0.191949, "mobile": 0.212361,
        "ict_share": 0.287776}
    assert analysis.dig_entropy.weights.round(6).to_dict() == {
        "telecom_per_capita": 0.23723, "pku_index": 0.127719, "internet": 0.232555, "mobile": 0.166344,
        "ict_share": 0.236151}
    moments = analysis.data[["Dist", "Dig", "lnexpense", "lnper_gdp", "Stru", "Ur", "Isu"]].agg(["mean", "std"])
    assert moments.round(4).to_dict() == {
        "Dist": {"mean": 0.332, "std": 0.2076}, "Dig": {"mean": 0.2818, "std": 0.1374},
        "lnexpense": {"mean": 14.9037, "std": 0.6491}, "lnper_gdp": {"mean": 10.6504, "std": 0.6186},
        "Stru": {"mean": 0.5492, "std": 0.1313}, "Ur": {"mean": 0.3237, "std": 0.1708},
        "Isu": {"mean": 0.4184, "std": 0.0914},
    }
    assert len(analysis.data) == 2827


def test_six_indicator_option_puts_whole_city_rates_in_both_areas(committed_panel):
    six = area_indicators(committed_panel, "district", Options(dist_indicators="six"))
    same = area_indicators(committed_panel, "nonurban", Options(dist_indicators="six"))
    assert (six["mobile"] == same["mobile"]).all() and (six["internet"] == same["internet"]).all()


def test_by_year_pooling_standardises_within_each_year(committed_panel):
    result = analysis_frame(committed_panel, Options(pooling="by_year"))
    years = committed_panel.sort_values(["city_code", "year"])["year"].to_numpy()
    standardized = result.dig_entropy.standardized
    for year in (2011, 2021):
        part = standardized[years == year]
        assert (part.min() == 0).all() and (part.max() == 1).all()
    assert result.dist.entropy.weights.sum() == pytest.approx(1.0)


def test_sign_rules(random_matrix):
    a = pca_index(random_matrix, Options(winsorize=0))
    b = pca_index(random_matrix, Options(winsorize=0, pca_sign_rule="largest_loading_positive"))
    assert (a.eigenvectors.sum() > 0).all()
    largest = b.eigenvectors.to_numpy()[np.abs(b.eigenvectors.to_numpy()).argmax(axis=0), range(4)]
    assert (largest > 0).all()
    assert np.abs(a.eigenvectors.to_numpy()) == pytest.approx(np.abs(b.eigenvectors.to_numpy()))


def test_no_city_year_is_said_to_be_left_out_when_none_is(committed_panel):
    """A panel without Shantou (the one city-year set below min_nonurban_share) leaves none out."""
    from replication.indices import analysis_frame

    panel = committed_panel[~committed_panel["city"].str.startswith("汕头")]
    analysis = analysis_frame(panel, Options())
    assert len(analysis.small_nonurban) == 0 and len(analysis.data) == len(panel)
    with_shantou = analysis_frame(committed_panel, Options()).small_nonurban
    assert len(with_shantou) == 11 and set(with_shantou["city"]) == {"汕头市"}
    assert with_shantou["nonurban_share"].max() < 0.05


def test_fill_flags_are_joined_sorted_and_distinct():
    from replication.indices import joined_flags

    flags = pd.DataFrame({"a_fill": ["", "interpolated", "anomaly", "", "interpolated"],
                          "b_fill": ["", "anomaly", "anomaly", "", "interpolated"],
                          "c_fill": ["", "", "", "carry_forward", "interpolated"]}, index=[5, 6, 7, 8, 9])
    out = joined_flags(flags)
    assert out.tolist() == ["", "anomaly;interpolated", "anomaly", "carry_forward", "interpolated"]
    assert out.index.tolist() == [5, 6, 7, 8, 9]


@pytest.mark.parametrize("variant", ["six", "six_shared_fixed", "six_shared_controlled", "four"])
def test_with_dist_is_analysis_frame_with_another_dist(committed_panel, variant):
    from replication.indices import with_dist

    options = Options(winsorize=0.05, pooling="by_year")
    chosen = Options(winsorize=0.05, pooling="by_year", dist_indicators=variant)
    direct = analysis_frame(committed_panel, chosen)
    reused = with_dist(analysis_frame(committed_panel, options), committed_panel, chosen)
    pd.testing.assert_frame_equal(reused.data, direct.data, check_exact=True)
    pd.testing.assert_series_equal(reused.dist.dist, direct.dist.dist, check_exact=True)
    with pytest.raises(ValueError, match="differ in more than dist_indicators"):
        with_dist(direct, committed_panel, Options(dist_indicators=variant))
