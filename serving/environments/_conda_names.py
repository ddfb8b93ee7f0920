"""Conda package names: which map to a different PyPI name, which have no PyPI wheel."""

from __future__ import annotations

from packaging.utils import canonicalize_name

CONDA_TO_PYPI: dict[str, str] = {
    canonicalize_name(conda): pypi
    for conda, pypi in {
        "pytorch": "torch",
        "pytorch-cpu": "torch",
        "pytorch-gpu": "torch",
        "py-xgboost": "xgboost",
        "py-xgboost-cpu": "xgboost",
        "py-xgboost-gpu": "xgboost",
        "py-lightgbm": "lightgbm",
        "msgpack-python": "msgpack",
        "opencv": "opencv-python",
        "py-opencv": "opencv-python",
        "matplotlib-base": "matplotlib",
        "pytables": "tables",
        "tensorflow-gpu": "tensorflow",
        "ruamel_yaml": "ruamel.yaml",
        "python-graphviz": "graphviz",
    }.items()
}
"""Conda names (canonicalised) whose PyPI distribution has another name."""

CONDA_ONLY: frozenset[str] = frozenset(
    canonicalize_name(name)
    for name in (
        "cudatoolkit",
        "cudatoolkit-dev",
        "cudnn",
        "nccl",
        "pytorch-cuda",
        "cpuonly",
        "mkl",
        "mkl-service",
        "mkl_fft",
        "mkl_random",
        "intel-openmp",
        "openssl",
        "ca-certificates",
        "blas",
        "openblas",
        "nomkl",
        "icu",
        "zlib",
        "xz",
        "bzip2",
        "sqlite",
        "tk",
        "readline",
        "ncurses",
        "hdf5",
        "ld_impl_linux-64",
        "gcc",
        "gxx",
        "gfortran",
    )
)
"""Conda packages (system libraries, toolchains, CUDA) with no pip equivalent."""

_CONDA_ONLY_PREFIXES = ("cuda-", "libgfortran", "r-", "lib", "_")
_LIB_ALLOWED = frozenset({"libclang", "librosa", "libcst"})
"""``lib*`` names that are real PyPI packages."""


def is_conda_only(name: str) -> bool:
    """True for a conda package that pip cannot install (``r-base``, ``libgcc-ng``...)."""
    lowered = name.lower()
    canonical = canonicalize_name(name)
    if canonical in CONDA_ONLY:
        return True
    if canonical in _LIB_ALLOWED:
        return False
    return lowered.startswith(_CONDA_ONLY_PREFIXES)


def pypi_name(name: str) -> str:
    """The PyPI name for a conda package name (canonicalised, PEP 503)."""
    canonical = canonicalize_name(name)
    return canonicalize_name(CONDA_TO_PYPI.get(canonical, canonical))
