"""The report folder of a run: which file is where."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from serving.errors import UserInputError

CSV_PREFIX = "locust"


class _InFolder:
    """A file of the report folder: ``files.html`` is ``files.folder / "report.html"``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, files: ReportFiles, owner: type[ReportFiles]) -> Path:
        return files.folder / self.name


@dataclass(frozen=True)
class ReportFiles:
    """Paths of everything a run writes into its report folder."""

    folder: Path

    html = _InFolder("report.html")
    """locust's HTML report."""
    csv_prefix = _InFolder(CSV_PREFIX)
    """What locust's ``--csv`` is given: its files start with this."""
    stats_csv = _InFolder(f"{CSV_PREFIX}_stats.csv")
    """locust's statistics per request name and aggregated."""
    history_csv = _InFolder(f"{CSV_PREFIX}_stats_history.csv")
    """locust's statistics every second (cumulative counts, 10 s window percentiles)."""
    failures_csv = _InFolder(f"{CSV_PREFIX}_failures.csv")
    """locust's failures by request and message."""
    chart = _InFolder("chart.png")
    """Latency percentiles and throughput over time, failures marked."""
    summary = _InFolder("summary.json")
    """The run's :class:`LoadTestSummary` as JSON, SLO verdicts included."""
    totals = _InFolder("totals.json")
    """locust's final totals, written by the locust file as it quits."""
    timeline = _InFolder("timeline.jsonl")
    """One JSON line per second (see :mod:`serving.loadtest.timeline`)."""
    payload = _InFolder("payload.jsonl")
    """The request bodies sent, as JSON lines."""
    log = _InFolder("locust.log")
    """locust's output."""

    def outputs(self) -> list[Path]:
        """Every file a run writes (removed before a new run into the same folder)."""
        return [
            self.html,
            self.stats_csv,
            self.history_csv,
            self.failures_csv,
            self.folder / f"{CSV_PREFIX}_exceptions.csv",
            self.chart,
            self.summary,
            self.totals,
            self.timeline,
            self.payload,
            self.log,
        ]

    def prepare(self) -> None:
        """Create the folder; remove the files of an earlier run (others are left alone)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserInputError(
                f"cannot create report folder {self.folder}: {exc.strerror}"
            ) from exc
        if not self.folder.is_dir():
            raise UserInputError(f"report folder {self.folder} is not a folder")
        for path in self.outputs():
            path.unlink(missing_ok=True)

    def listing(self) -> dict[str, Path]:
        """The files worth opening, by role, that exist."""
        named = {
            "html": self.html,
            "chart": self.chart,
            "stats_csv": self.stats_csv,
            "history_csv": self.history_csv,
            "failures_csv": self.failures_csv,
            "summary": self.summary,
        }
        return {role: path for role, path in named.items() if path.is_file()}


def default_report_dir(label: str, now: datetime | None = None) -> Path:
    """``loadtest-reports/<target>-<YYYYmmdd-HHMMSS>`` under the current folder."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label.split("://", 1)[-1]).strip("-.") or "target"
    return Path("loadtest-reports") / f"{safe[:60]}-{stamp}"
