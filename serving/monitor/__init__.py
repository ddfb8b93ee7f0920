"""Drift monitoring: compare what endpoints collected (``ModelDataCollector``) with a
baseline, per feature, and write the report (``serving monitor drift``).

Modules, one job each: :mod:`~serving.monitor.collected` (the collected inputs as a table;
``--window`` spellings are the collection layout's ``parse_since``),
:mod:`~serving.monitor.baseline` (the baseline as a table, from
:mod:`~serving.monitor.files` or :mod:`~serving.monitor.datasets`),
:mod:`~serving.monitor.stats` (the per-feature tests), :mod:`~serving.monitor.report` (HTML
and PNG), :mod:`~serving.monitor.errors` (the CI gate's exit code) and
:mod:`~serving.monitor.drift` (all of it, the face the CLI and SDK call).
"""

from serving.monitor.drift import DriftReport, drift_report
from serving.monitor.stats import FeatureDrift, Thresholds

__all__ = ["DriftReport", "FeatureDrift", "Thresholds", "drift_report"]
