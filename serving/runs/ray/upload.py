"""The zips a Ray job is given: the run's working copy and the ``serving`` package.

The package zip is made once per process (its content does not change while a supervisor
runs); the cluster keeps each zip under its content hash, so the same package is
uploaded once per cluster.
"""

from __future__ import annotations

import functools
from pathlib import Path

from serving.runs.ray.jobs_api import zip_folder


@functools.cache
def package_zip(package: Path) -> bytes:
    """``serving/`` as a module zip (the folder itself at the top)."""
    return zip_folder(package, parent=True)


def working_copy_zip(work_dir: Path) -> bytes:
    """The run's working copy (links, such as the live ``logs`` link, are left out)."""
    return zip_folder(work_dir)
