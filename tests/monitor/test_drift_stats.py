"""The per-feature tests and their effect-size guard (serving.monitor.stats)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from serving.monitor.stats import (
    DRIFT,
    MISSING_BASELINE,
    MISSING_COLLECTED,
    NO_DRIFT,
    TOO_FEW,
    Thresholds,
    compare,
    compare_frames,
)
from tests.monitor.conftest import frame


def _verdicts(base: pd.DataFrame, cur: pd.DataFrame) -> dict[str, str]:
    return {r.feature: r.verdict for r in compare_frames(base, cur, Thresholds())}


def test_the_shifted_feature_drifts_and_the_others_do_not() -> None:
    verdicts = _verdicts(frame(2000, seed=1), frame(800, seed=2, age_mean=48.0))
    assert verdicts == {"age": DRIFT, "income": NO_DRIFT, "score": NO_DRIFT, "color": NO_DRIFT}


def test_a_trivial_shift_in_a_big_sample_is_significant_but_not_drift() -> None:
    rng = np.random.default_rng(3)
    base = pd.Series(rng.normal(0.0, 1.0, 200_000))
    cur = pd.Series(rng.normal(0.03, 1.0, 200_000))
    result = compare("x", base, cur, Thresholds())
    assert result.p_value is not None and result.p_value < 0.05  # the test alone would flag it
    assert result.effect is not None and result.effect < 0.1
    assert result.verdict == NO_DRIFT


def test_a_categorical_shift_drifts_by_total_variation() -> None:
    rng = np.random.default_rng(4)
    base = pd.Series(rng.choice(["a", "b", "c"], 3000))
    cur = pd.Series(rng.choice(["a", "b", "c"], 1000, p=[0.6, 0.2, 0.2]))
    result = compare("letter", base, cur, Thresholds())
    assert (result.kind, result.test, result.verdict) == ("categorical", "chi2", DRIFT)
    assert result.effect is not None and math.isclose(result.effect, 0.27, abs_tol=0.05)


def test_a_new_category_drifts() -> None:
    base = pd.Series(["a", "b"] * 200)
    cur = pd.Series(["a", "b"] * 100 + ["c"] * 100)
    result = compare("code", base, cur, Thresholds())
    assert result.kind == "categorical" and result.verdict == DRIFT


def test_numbers_sent_as_text_compare_as_numbers() -> None:
    base = pd.Series([1, 2, 3, 4] * 100)
    cur = pd.Series(["1", "2", "3", "4"] * 50)
    result = compare("n", base, cur, Thresholds())
    assert (result.kind, result.verdict) == ("numeric", NO_DRIFT)


def test_stray_text_in_a_numeric_feature_does_not_hide_a_shift() -> None:
    """The baseline decides the kind: a few "N/A" among collected numbers are counted as
    unreadable, the numbers still compared (a shift is found, none is not invented)."""
    rng = np.random.default_rng(8)
    base = pd.Series(rng.normal(0, 1, 2000))
    same = pd.Series([*rng.normal(0, 1, 995), *["N/A"] * 5], dtype=object)
    shifted = pd.Series([*rng.normal(5, 1, 995), *["N/A"] * 5], dtype=object)
    calm = compare("x", base, same, Thresholds())
    assert (calm.kind, calm.test, calm.verdict, calm.unreadable_count) == (
        "numeric",
        "ks",
        NO_DRIFT,
        5,
    )
    moved = compare("x", base, shifted, Thresholds())
    assert (moved.kind, moved.verdict) == ("numeric", DRIFT)
    assert moved.effect is not None and moved.effect > 4


def test_numbers_replaced_by_text_are_drift() -> None:
    base = pd.Series(np.arange(500, dtype=float))
    half = pd.Series([*range(250), *["missing"] * 250], dtype=object)
    result = compare("x", base, half, Thresholds())
    assert result.verdict == DRIFT and math.isclose(result.unreadable_share, 0.5)
    words = pd.Series(["none"] * 300)
    result = compare("x", base, words, Thresholds())
    assert (result.verdict, result.collected_count, result.unreadable_count) == (DRIFT, 0, 300)


def test_constant_features_and_missing_values() -> None:
    zeros = pd.Series([0.0] * 100)
    assert compare("z", zeros, zeros, Thresholds()).verdict == NO_DRIFT
    ones = pd.Series([1.0] * 100)
    assert compare("z", zeros, ones, Thresholds()).verdict == DRIFT
    gappy = pd.Series([None, float("nan"), 1.0, 2.0] * 3)
    assert compare("g", gappy, gappy, Thresholds()).verdict == TOO_FEW  # 6 values < 10


def test_features_on_one_side_only_are_reported_not_tested() -> None:
    base = frame(200, seed=5).drop(columns=["score"])
    cur = frame(200, seed=6).drop(columns=["income"])
    results = {r.feature: r for r in compare_frames(base, cur, Thresholds())}
    assert results["income"].verdict == MISSING_COLLECTED
    assert results["score"].verdict == MISSING_BASELINE
    assert results["score"].p_value is None
    assert results["income"].to_dict()["collected_count"] == 0


def test_many_features_do_not_raise_chance_alarms() -> None:
    """A random split of scikit-learn's digits (64 pixels) with one pixel brightened: only
    that pixel drifts (unadjusted p-values would flag a few others by chance)."""
    from sklearn.datasets import load_digits

    pixels = load_digits(as_frame=True).frame.drop(columns="target")
    order = np.random.default_rng(0).permutation(len(pixels))
    base = pixels.iloc[order[:1000]].reset_index(drop=True)
    cur = pixels.iloc[order[1000:]].reset_index(drop=True)
    cur["pixel_2_4"] = np.clip(cur["pixel_2_4"] + 4, 0, 16)
    results = compare_frames(base, cur, Thresholds())
    assert [r.feature for r in results if r.drifted] == ["pixel_2_4"]
    chance = [r.feature for r in results if r.p_value is not None and r.p_value < 0.05]
    assert len(chance) > 1  # what the adjustment is for
