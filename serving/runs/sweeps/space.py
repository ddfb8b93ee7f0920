"""Parameter expressions of a sweep, as Azure ML v1 wrote them (``[name, [args]]``), and how
each is drawn through an Optuna distribution.

Each expression is sampled as a *base* value Optuna can draw, then transformed (v1's
definitions; the base values are what a warm start feeds back to the sampler):

    choice(*options)          categorical over the options
    randint(upper)            integer in [0, upper)
    uniform(lo, hi)           float in [lo, hi]
    quniform(lo, hi, q)       round(uniform(lo, hi) / q) * q
    loguniform(lo, hi)        exp(uniform(lo, hi)): the bounds are natural-log exponents
    qloguniform(lo, hi, q)    round(exp(uniform(lo, hi)) / q) * q
    normal(mu, sigma)         mu + sigma * Phi^-1(u), u uniform in (0, 1)
    qnormal(mu, sigma, q)     round(normal(mu, sigma) / q) * q
    lognormal(mu, sigma)      exp(normal(mu, sigma))
    qlognormal(mu, sigma, q)  round(exp(normal(mu, sigma)) / q) * q

Quantized values that are whole numbers are given as ``int`` (``--batch 32``, not ``32.0``),
so ``argparse`` with ``type=int`` reads them (v1's service is not documented on this).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

from serving.runs.errors import UserErrorException

Expression = list[Any]
"""``[name, [args]]``, e.g. ``["uniform", [0.01, 0.1]]``."""
Value = int | float | str

_EPS = 1e-12
_STANDARD_NORMAL = NormalDist()
ARITY = {
    "randint": 1,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
}
GRID_KINDS = frozenset({"choice"})
BAYESIAN_KINDS = frozenset({"choice", "uniform", "quniform"})


# -- the expressions (v1's functions) -------------------------------------------------------
def choice(*options: Any) -> Expression:
    """One of ``options``: values, a single list, or a single ``range`` (int, float or str;
    all strings or none)."""
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        values = list(options[0])
    else:
        values = list(options)
    if not values:
        raise UserErrorException("choice needs at least one option")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UserErrorException(
                f"choice options must be int, float or str, not {type(value).__name__}"
            )
    strings = [isinstance(v, str) for v in values]
    if any(strings) and not all(strings):
        raise UserErrorException("choice options must be all strings or no strings")
    return ["choice", [values]]


def _numeric(kind: str, *args: Any) -> Expression:
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, (int, float)):
            raise UserErrorException(f"{kind} takes numbers, not {type(arg).__name__}")
    return [kind, list(args)]


def randint(upper: int) -> Expression:
    if isinstance(upper, bool) or not isinstance(upper, int) or upper < 1:
        raise UserErrorException("randint(upper) needs an int upper bound of at least 1")
    return ["randint", [upper]]


def uniform(min_value: float, max_value: float) -> Expression:
    return _numeric("uniform", min_value, max_value)


def quniform(min_value: float, max_value: float, q: float) -> Expression:
    return _numeric("quniform", min_value, max_value, q)


def loguniform(min_value: float, max_value: float) -> Expression:
    return _numeric("loguniform", min_value, max_value)


def qloguniform(min_value: float, max_value: float, q: float) -> Expression:
    return _numeric("qloguniform", min_value, max_value, q)


def normal(mu: float, sigma: float) -> Expression:
    return _numeric("normal", mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> Expression:
    return _numeric("qnormal", mu, sigma, q)


def lognormal(mu: float, sigma: float) -> Expression:
    return _numeric("lognormal", mu, sigma)


def qlognormal(mu: float, sigma: float, q: float) -> Expression:
    return _numeric("qlognormal", mu, sigma, q)


# -- checking a space ----------------------------------------------------------------------
def check_space(space: Mapping[str, Any], allowed: frozenset[str] | None, label: str) -> None:
    """A parameter space is ``{name: expression}``; ``allowed`` limits the kinds."""
    if not isinstance(space, Mapping) or not space:
        raise UserErrorException(f"{label} needs a non-empty parameter space dict")
    for name, expr in space.items():
        if not isinstance(name, str) or not name.strip("-"):
            raise UserErrorException(f"parameter names must be non-empty strings, not {name!r}")
        kind, args = _parts(name, expr)
        if allowed is not None and kind not in allowed:
            raise UserErrorException(
                f"{label} does not accept {kind} (parameter {name}); it accepts: "
                + ", ".join(sorted(allowed))
            )
        _check_args(name, kind, args)


def _parts(name: str, expr: Any) -> tuple[str, list[Any]]:
    if (
        not isinstance(expr, (list, tuple))
        or len(expr) != 2
        or not isinstance(expr[0], str)
        or not isinstance(expr[1], (list, tuple))
    ):
        raise UserErrorException(
            f"parameter {name}: {expr!r} is not a parameter expression; use choice(...), "
            "uniform(...), ..."
        )
    return expr[0], list(expr[1])


def _check_args(name: str, kind: str, args: list[Any]) -> None:
    if kind == "choice":
        if len(args) != 1 or not isinstance(args[0], (list, tuple)):
            raise UserErrorException(f"parameter {name}: choice takes one list of options")
        choice(list(args[0]))
        return
    if kind not in ARITY:
        raise UserErrorException(f"parameter {name}: unknown expression {kind}")
    if len(args) != ARITY[kind]:
        raise UserErrorException(f"parameter {name}: {kind} takes {ARITY[kind]} arguments")
    _numeric(kind, *args)
    if kind in ("uniform", "quniform", "loguniform", "qloguniform") and args[0] >= args[1]:
        raise UserErrorException(f"parameter {name}: {kind} needs min < max")
    if kind.startswith("q") and args[2] <= 0:
        raise UserErrorException(f"parameter {name}: {kind} needs q > 0")
    if kind in ("normal", "qnormal", "lognormal", "qlognormal") and args[1] <= 0:
        raise UserErrorException(f"parameter {name}: {kind} needs sigma > 0")


# -- drawing through Optuna ----------------------------------------------------------------
def distribution(expr: Expression) -> Any:
    """The Optuna distribution of the expression's base value."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    kind, args = expr[0], list(expr[1])
    if kind == "choice":
        return CategoricalDistribution(list(args[0]))
    if kind == "randint":
        return IntDistribution(0, int(args[0]) - 1)
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        return FloatDistribution(_EPS, 1.0 - _EPS)  # u, through the normal quantile
    return FloatDistribution(float(args[0]), float(args[1]))


def distributions(space: Mapping[str, Expression]) -> dict[str, Any]:
    return {name: distribution(expr) for name, expr in space.items()}


def _quantize(value: float, q: float) -> int | float:
    out = round(round(value / q) * q, 12)  # 3 * 0.1 is 0.3, not 0.30000000000000004
    return round(out) if out == round(out) else out


def to_value(expr: Expression, base: Any) -> Value:
    """The parameter's value from its base draw (see the module docstring)."""
    kind, args = expr[0], list(expr[1])
    if kind in ("choice", "randint", "uniform"):
        return base  # type: ignore[no-any-return]
    x = float(base)
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        x = args[0] + args[1] * _STANDARD_NORMAL.inv_cdf(min(max(x, _EPS), 1 - _EPS))
    if kind in ("loguniform", "qloguniform", "lognormal", "qlognormal"):
        x = math.exp(x)
    if kind.startswith("q"):
        return _quantize(x, args[-1])
    return x


def values(space: Mapping[str, Expression], base: Mapping[str, Any]) -> dict[str, Value]:
    """Parameter values in parameter-space order."""
    return {name: to_value(expr, base[name]) for name, expr in space.items()}


def grid(space: Mapping[str, Expression]) -> dict[str, list[Any]]:
    """The search space of Optuna's GridSampler (``choice`` only)."""
    return {name: list(expr[1][0]) for name, expr in space.items()}


def grid_size(space: Mapping[str, Expression]) -> int:
    return math.prod(len(options) for options in grid(space).values())


# -- arguments -----------------------------------------------------------------------------
def flag(name: str) -> str:
    """``learning_rate`` → ``--learning_rate``; ``--batch-size`` stays."""
    return name if name.startswith("-") else f"--{name}"


def render(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def child_arguments(base: Sequence[str], params: Mapping[str, Any]) -> list[str]:
    """v1: the sampled values appended after the base arguments, in parameter-space order
    (with a ScriptRunConfig a base ``--x`` stays and the later sampled ``--x`` wins)."""
    out = list(base)
    for name, value in params.items():
        out += [flag(name), render(value)]
    return out
