"""The report folder of a run: which file is where."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from serving.errors import UserInputError

CSV_PREFIX = "locust"


@dataclass(frozen=True)
class ReportFiles:
    """Paths of everything a run writes into its report folder."""

    folder: Path

    @property
    def html(self) -> Path:
        """locust's HTML report."""
        return self.folder / "report.html"

    @property
    def csv_prefix(self) -> Path:
        return self.folder / CSV_PREFIX

    @property
    def stats_csv(self) -> Path:
        """locust's statistics per request name and aggregated."""
        return self.folder / f"{CSV_PREFIX}_stats.csv"

    @property
    def history_csv(self) -> Path:
        """locust's statistics every second (cumulative counts, 10 s window percentiles)."""
        return self.folder / f"{CSV_PREFIX}_stats_history.csv"

    @property
    def failures_csv(self) -> Path:
        return self.folder / f"{CSV_PREFIX}_failures.csv"

    @property
    def chart(self) -> Path:
        """Latency percentiles and throughput over time, failures marked."""
        return self.folder / "chart.png"

    @property
    def summary(self) -> Path:
        """The run's :class:`LoadTestSummary` as JSON, SLO verdicts included."""
        return self.folder / "summary.json"

    @property
    def totals(self) -> Path:
        """locust's final totals, written by the locust file as it quits."""
        return self.folder / "totals.json"

    @property
    def timeline(self) -> Path:
        """One JSON line per second (see :mod:`serving.loadtest.timeline`)."""
        return self.folder / "timeline.jsonl"

    @property
    def payload(self) -> Path:
        """The request bodies sent, as JSON lines."""
        return self.folder / "payload.jsonl"

    @property
    def log(self) -> Path:
        """locust's output."""
        return self.folder / "locust.log"

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
