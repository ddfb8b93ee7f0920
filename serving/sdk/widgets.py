"""``RunDetails``: v1's run widget (``azureml.widgets``) as a terminal or notebook view.

``RunDetails(run).show()`` prints the run's properties, its metrics (the last value of
each, and the number logged), its children (a sweep's or a pipeline's runs, with their
status and metrics) and the tail of its main log; in a notebook the same view is shown as
HTML. It is a snapshot: call ``show()`` again (or ``run.wait_for_completion``) to follow.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any

LOG_LINES = 20


def _last(value: Any) -> str:
    if isinstance(value, list):
        return f"{value[-1]!r} ({len(value)} values)" if value else "[]"
    if isinstance(value, dict):
        return f"table {sorted(value)}"
    return repr(value)


class RunDetails:
    """A view of ``run`` (a script run, a sweep's or a pipeline's parent run)."""

    def __init__(self, run_instance: Any) -> None:
        self.run = run_instance

    def _sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        details = self.run.get_details()
        props = [
            ("run id", str(details.get("runId"))),
            ("status", str(details.get("status"))),
            ("target", str(details.get("target"))),
            ("started", str(details.get("startTimeUtc"))),
            ("ended", str(details.get("endTimeUtc"))),
        ]
        if details.get("error"):
            props.append(("error", str(details["error"])))
        metrics = [(k, _last(v)) for k, v in sorted(self.run.get_metrics().items())]
        children = [
            (child.id, f"{child.get_status()}  "
             + ", ".join(f"{k}={_last(v)}" for k, v in sorted(child.get_metrics().items())))
            for child in self.run.get_children()
        ]  # fmt: skip
        logs = [("", line) for line in self._log_tail(details.get("logFiles") or {})]
        return [("Run", props), ("Metrics", metrics), ("Child runs", children), ("Log", logs)]

    @staticmethod
    def _log_tail(files: dict[str, str]) -> list[str]:
        if not files:
            return []
        preferred = [n for n in files if n.endswith("std_log.txt")] or sorted(files)
        path = Path(files[preferred[0]])
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [f"--- {preferred[0]} (last {LOG_LINES} lines)", *lines[-LOG_LINES:]]

    def get_text(self) -> str:
        out: list[str] = []
        for title, rows in self._sections():
            if not rows:
                continue
            out.append(f"== {title}")
            width = max(len(k) for k, _ in rows)
            out.extend(f"  {k:<{width}}  {v}" if k else f"  {v}" for k, v in rows)
        return "\n".join(out)

    def get_html(self) -> str:
        parts = []
        for title, rows in self._sections():
            if rows:
                body = "".join(f"<tr><td>{html.escape(k)}</td><td><pre>{html.escape(v)}</pre>"
                               "</td></tr>" for k, v in rows)  # fmt: skip
                parts.append(f"<h4>{html.escape(title)}</h4><table>{body}</table>")
        return "".join(parts)

    def show(self) -> None:
        """Display the view: HTML in a notebook, text in a terminal."""
        ipython = sys.modules.get("IPython")
        shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
        if shell is not None and getattr(shell, "kernel", None) is not None:
            from IPython.display import HTML, display

            display(HTML(self.get_html()))
        else:
            print(self.get_text())


__all__ = ["RunDetails"]
