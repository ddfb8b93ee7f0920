"""Per-feature drift tests: two-sample Kolmogorov-Smirnov for numeric features and
chi-square on the category counts for the rest (scipy), each guarded by an effect size.

Why these: both tests are distribution-free, answer "could both samples come from one
distribution?" and are in scipy, which the platform already installs with scikit-learn.
A p-value alone flags trivial shifts once samples are big (10^5 requests make a 0.01-std
move "significant"), so a feature drifts only when the test rejects at ``alpha`` *and*
the effect is at least ``min_effect``:

- numeric: the Wasserstein (earth mover's) distance divided by the baseline's standard
  deviation, i.e. how far, in baseline standard deviations, the mass had to move (a mean
  shift of 0.5 std reads 0.5); scale-free, so one threshold fits every feature;
- categorical: the total variation distance between the category shares (half the sum of
  absolute differences, 0 to 1: 0.1 means a tenth of the traffic changed category).

The baseline decides a feature's kind. A numeric feature whose collected values include
some that are not numbers ("N/A", "", a category) compares the numbers it has and counts
the rest as *unreadable*; a share of unreadable values of ``min_effect`` or more is drift
on its own (the callers started sending something else), reported with that share as the
effect. Letting one stray string turn the feature categorical instead would run chi-square
over almost unique floats and miss any shift.

Many features mean many tests: at ``alpha`` 0.05, one feature in twenty would reject by
chance (a random split of scikit-learn's 64-pixel digits flags two or three pixels), so
the p-values are adjusted across the tested features with Benjamini-Hochberg (scipy's
``false_discovery_control``: the expected share of false alarms among the flagged features
stays under ``alpha``), and the verdict uses the adjusted p-value.

Not evidently: its drift presets run these same scipy tests underneath, and it would add
a heavy dependency tree (statsmodels, nltk, pydantic, its own web service stack) whose
upper-bounded pins would constrain this project's numpy, pandas and plotly; the few lines
here keep the statistics visible and the reports in the platform's own style.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

NUMERIC = "numeric"
CATEGORICAL = "categorical"

DRIFT = "drift"
NO_DRIFT = "no drift"
TOO_FEW = "too few values"
MISSING_COLLECTED = "missing in collected"
MISSING_BASELINE = "missing in baseline"


@dataclass(frozen=True)
class Thresholds:
    """When a feature counts as drifted."""

    alpha: float = 0.05
    """Significance level of the test (the p-value must be below it)."""
    min_effect: float = 0.1
    """Smallest effect size that counts (baseline std for numeric, share for categorical)."""
    min_count: int = 10
    """Fewer non-missing values than this on either side: no verdict."""


@dataclass(frozen=True)
class FeatureDrift:
    """The comparison of one feature."""

    feature: str
    kind: str | None
    test: str | None
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    """The p-value adjusted for the number of features tested (Benjamini-Hochberg)."""
    effect: float | None
    effect_measure: str | None
    baseline_count: int
    collected_count: int
    verdict: str
    unreadable_count: int = 0
    """Collected values a numeric feature could not read as numbers (not in
    ``collected_count``)."""

    @property
    def unreadable_share(self) -> float:
        total = self.collected_count + self.unreadable_count
        return self.unreadable_count / total if total else 0.0

    @property
    def drifted(self) -> bool:
        return self.verdict == DRIFT

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in asdict(self).items()}


def _finite(value: Any) -> Any:
    """NaN as None and infinity as a string, so JSON output stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


def compare_frames(baseline: Any, collected: Any, limits: Thresholds) -> list[FeatureDrift]:
    """One result per feature of either frame (baseline's order, then collected-only ones);
    features on one side only are reported as missing, not tested. Verdicts use p-values
    adjusted for the number of features tested."""
    return adjust(_each(baseline, collected, limits), limits)


def adjust(results: list[FeatureDrift], limits: Thresholds) -> list[FeatureDrift]:
    """``results`` with Benjamini-Hochberg p-values across the tested features, and their
    verdicts taken again with them."""
    from scipy.stats import false_discovery_control

    tested = [i for i, r in enumerate(results) if r.p_value is not None]
    if not tested:
        return results
    raw = [results[i].p_value for i in tested]
    adjusted = false_discovery_control([1.0 if p is None or math.isnan(p) else p for p in raw])
    out = list(results)
    for i, p in zip(tested, adjusted, strict=True):
        out[i] = _judged(results[i], float(p), limits)
    return out


def _judged(result: FeatureDrift, p_adjusted: float, limits: Thresholds) -> FeatureDrift:
    drifted = p_adjusted < limits.alpha and (result.effect or 0.0) >= limits.min_effect
    drifted = drifted or result.unreadable_share >= limits.min_effect
    return replace(result, p_adjusted=p_adjusted, verdict=DRIFT if drifted else NO_DRIFT)


def _each(baseline: Any, collected: Any, limits: Thresholds) -> list[FeatureDrift]:
    results = []
    for name in baseline.columns:
        if name in collected.columns:
            results.append(compare(str(name), baseline[name], collected[name], limits))
        else:
            results.append(_missing(str(name), len(baseline[name].dropna()), 0, MISSING_COLLECTED))
    for name in collected.columns:
        if name not in baseline.columns:
            results.append(_missing(str(name), 0, len(collected[name].dropna()), MISSING_BASELINE))
    return results


def _missing(name: str, base: int, cur: int, verdict: str) -> FeatureDrift:
    return FeatureDrift(name, None, None, None, None, None, None, None, base, cur, verdict)


def feature_kind(baseline: Any) -> str:
    """Numeric when every non-missing baseline value is a number or a number's text
    (booleans are categories), else categorical: the baseline decides (module doc)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(baseline):
        return CATEGORICAL
    if pd.api.types.is_numeric_dtype(baseline):
        return NUMERIC  # numbers all (a typed column): no need to look at each value
    values = baseline.dropna()
    if values.map(lambda v: isinstance(v, bool)).any():
        return CATEGORICAL
    if pd.to_numeric(values, errors="coerce").isna().any():
        return CATEGORICAL
    return NUMERIC


def unreadable_count(column: Any) -> int:
    """Non-missing values of ``column`` that are not numbers (booleans count)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return 0
    values = column.dropna()
    booleans = values.map(lambda v: isinstance(v, bool))
    numbers = pd.to_numeric(values[~booleans], errors="coerce")
    return int(booleans.sum()) + int(numbers.isna().sum())


def numeric_values(column: Any) -> Any:
    """The finite numbers of ``column`` as a float numpy array."""
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    return values[np.isfinite(values)]


def category_values(column: Any) -> Any:
    """The non-missing values of ``column`` as strings (``1`` and ``"1"`` are one category)."""
    return column.dropna().map(str)


def compare(name: str, baseline: Any, collected: Any, limits: Thresholds) -> FeatureDrift:
    """Test one feature's baseline values against its collected values (alone: its
    p-value is not adjusted)."""
    kind = feature_kind(baseline)
    unreadable = 0
    if kind == NUMERIC:
        base, cur = numeric_values(baseline), numeric_values(collected)
        unreadable = unreadable_count(collected)
    else:
        base, cur = category_values(baseline), category_values(collected)
    counts = {"baseline_count": len(base), "collected_count": len(cur)}
    if min(len(base), len(cur)) < limits.min_count:
        few = FeatureDrift(name, kind, None, None, None, None, None, None, **counts,
                           verdict=TOO_FEW, unreadable_count=unreadable)  # fmt: skip
        if few.unreadable_share >= limits.min_effect and unreadable >= limits.min_count:
            return replace(few, verdict=DRIFT)  # numbers replaced by something else
        return few
    with warnings.catch_warnings():
        # ks_2samp notes when it falls back from the exact to the asymptotic p-value
        warnings.simplefilter("ignore", RuntimeWarning)
        if kind == NUMERIC:
            test, measure, (stat, p, effect) = "ks", "wasserstein/std", _numeric(base, cur)
        else:
            test, measure, (stat, p, effect) = "chi2", "total variation", _categorical(base, cur)
    result = FeatureDrift(name, kind, test, stat, p, None, effect, measure, **counts,
                          verdict=NO_DRIFT, unreadable_count=unreadable)  # fmt: skip
    return _judged(result, p, limits)


def _numeric(base: Any, cur: Any) -> tuple[float, float, float]:
    """(KS statistic, p-value, Wasserstein distance in baseline standard deviations)."""
    from scipy.stats import ks_2samp, wasserstein_distance

    result = ks_2samp(base, cur)
    distance = float(wasserstein_distance(base, cur))
    scale = float(base.std()) or abs(float(base.mean())) or 1.0
    return float(result.statistic), float(result.pvalue), distance / scale


def _categorical(base: Any, cur: Any) -> tuple[float, float, float]:
    """(chi-square statistic, p-value, total variation distance of the category shares)."""
    import numpy as np
    from scipy.stats import chi2_contingency

    categories = sorted(set(base) | set(cur))
    base_counts = base.value_counts().reindex(categories, fill_value=0).to_numpy()
    cur_counts = cur.value_counts().reindex(categories, fill_value=0).to_numpy()
    shares = np.abs(base_counts / base_counts.sum() - cur_counts / cur_counts.sum())
    effect = float(shares.sum() / 2)
    if len(categories) < 2:
        return 0.0, 1.0, effect
    result = chi2_contingency(np.vstack([base_counts, cur_counts]))
    return float(result.statistic), float(result.pvalue), effect
