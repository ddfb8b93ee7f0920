"""The latest load-test report of an endpoint, for its studio page.

``serving loadtest NAME`` writes ``loadtest-reports/<NAME>-<time>/summary.json`` under the
folder it ran in (or ``--report-dir``). The studio looks in ``<workspace>/loadtest-reports``
and in the server's current folder's ``loadtest-reports`` (where a loadtest started next
to the server writes), newest folders first, and takes the first ``summary.json`` whose
target is the endpoint. At most :data:`MAX_FOLDERS` folders are read per page view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.loadtest.report import ReportFiles

REPORTS = "loadtest-reports"
MAX_FOLDERS = 200


@dataclass(frozen=True)
class Report:
    folder: Path
    summary: dict[str, Any]

    @property
    def chart(self) -> Path | None:
        chart = ReportFiles(self.folder).chart
        return chart if chart.is_file() else None


def _folders(roots: list[Path]) -> list[Path]:
    found: list[tuple[float, Path]] = []
    for root in roots:
        try:
            entries = list((root / REPORTS).iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    found.append((entry.stat().st_mtime, entry))
            except OSError:
                continue
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [path for _mtime, path in found[:MAX_FOLDERS]]


def latest(name: str, workspace: Path) -> Report | None:
    """The newest report whose target is endpoint ``name``, or None."""
    for folder in _folders([workspace, Path.cwd()]):
        path = ReportFiles(folder).summary
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("target") == name:
            return Report(folder, data)
    return None
