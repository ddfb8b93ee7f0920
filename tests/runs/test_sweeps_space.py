"""Parameter expressions (v1's ``[name, [args]]`` form and value rules), how sampled values
are appended to a child's arguments (estimator duplicates removed, ScriptRunConfig's kept),
the sampler (seeded repeats, the whole grid, TPE), and HyperDriveConfig's checks. No runs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from serving.runs.errors import UserErrorException
from serving.runs.submit import ScriptJob
from serving.runs.sweeps import space as sp
from serving.runs.sweeps.sampler import Draw, Sampler
from serving.runs.sweeps.spec import SweepSpec
from serving.scoring.compat import COMPAT_DIR
from serving.sdk import ScriptRunConfig
from serving.sdk.estimator import Estimator
from serving.sdk.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
)


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train.py").write_text("print('hi')\n")
    return folder


def spec(sampling: str, space: dict[str, list[object]], seed: int | None = 1) -> SweepSpec:
    job = ScriptJob(Path("."), "train.py")
    return SweepSpec(job, sampling, space, "acc", "MAXIMIZE", 100, 4, seed=seed)


def test_expressions_serialise_as_v1() -> None:
    assert sp.choice(1, 2, 3) == ["choice", [[1, 2, 3]]]
    assert sp.choice([16, 32]) == ["choice", [[16, 32]]]
    assert sp.choice(range(3)) == ["choice", [[0, 1, 2]]]
    assert sp.uniform(0.05, 0.1) == ["uniform", [0.05, 0.1]]
    assert sp.quniform(1, 64, 4) == ["quniform", [1, 64, 4]]
    assert sp.loguniform(-6, -1) == ["loguniform", [-6, -1]]
    assert sp.randint(5) == ["randint", [5]]
    assert sp.qlognormal(0, 1, 2) == ["qlognormal", [0, 1, 2]]
    with pytest.raises(UserErrorException, match="all strings or no strings"):
        sp.choice("a", 1)
    with pytest.raises(UserErrorException):
        sp.choice([1, None])


def test_loguniform_bounds_are_natural_log_exponents() -> None:
    expr = sp.loguniform(-6, -1)  # the Keras sample: 0.0025 .. 0.37
    assert sp.to_value(expr, -6.0) == pytest.approx(math.exp(-6)) == pytest.approx(0.00248, 1e-2)
    assert sp.to_value(expr, -1.0) == pytest.approx(0.3679, 1e-3)
    drawn = [float(d.values["lr"]) for d in _draws(spec("RANDOM", {"lr": expr}), 50)]
    assert all(math.exp(-6) <= v <= math.exp(-1) for v in drawn)


def test_quantized_values_are_whole_numbers_without_a_point() -> None:
    assert sp.to_value(sp.quniform(1, 64, 4), 30.1) == 32
    assert isinstance(sp.to_value(sp.quniform(1, 64, 4), 30.1), int)
    assert sp.to_value(sp.quniform(0, 1, 0.1), 0.31) == 0.3
    assert sp.to_value(sp.qnormal(10, 3, 1), 0.5) == 10
    assert sp.to_value(sp.normal(10, 3), 0.5) == pytest.approx(10.0)
    assert sp.to_value(sp.lognormal(0, 1), 0.5) == pytest.approx(1.0)
    assert sp.child_arguments([], {"--batch": 32, "lr": 0.5}) == ["--batch", "32", "--lr", "0.5"]


def test_sampled_values_are_appended_after_the_base_arguments_in_space_order() -> None:
    base = ["--data", "d", "--lr", "0.01"]
    params = {"--lr": 0.05, "momentum": 0.9}
    assert sp.child_arguments(base, params) == [
        "--data", "d", "--lr", "0.01", "--lr", "0.05", "--momentum", "0.9",
    ]  # fmt: skip


def test_the_appended_value_wins_in_argparse_for_a_script_run_config() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    args = sp.child_arguments(["--lr", "0.01"], {"--lr": 0.05})
    assert parser.parse_args(args).lr == 0.05


def test_estimator_script_params_sampled_by_the_sweep_are_removed(source: Path) -> None:
    with pytest.warns(FutureWarning):
        est = Estimator(
            str(source),
            entry_script="train.py",
            script_params={"--lr": 0.01, "batch": 8, "--epochs": 5},
            user_managed=True,
        )
    sampling = RandomParameterSampling({"lr": sp.uniform(0.1, 0.2), "--batch": sp.choice(8, 16)})
    with pytest.warns(UserWarning, match="--lr, batch are sampled by the sweep"):
        config = HyperDriveConfig(sampling, "acc", PrimaryMetricGoal.MAXIMIZE, 4, estimator=est)
    assert config._spec.job.arguments == ["--epochs", "5"]
    assert est.script_params == {"--lr": 0.01, "batch": 8, "--epochs": 5}  # untouched


def test_a_script_run_config_keeps_its_base_arguments(source: Path) -> None:
    src = ScriptRunConfig(str(source), "train.py", arguments=["--lr", 0.01])
    sampling = RandomParameterSampling({"--lr": sp.uniform(0.1, 0.2)})
    config = HyperDriveConfig(sampling, "acc", "maximize", 4, run_config=src)
    assert config._spec.job.arguments == ["--lr", "0.01"]
    assert config.max_concurrent_runs == 4  # defaults to max_total_runs


def test_a_seeded_random_sampler_repeats_and_another_seed_differs() -> None:
    space = {"lr": sp.loguniform(-6, -1), "units": sp.choice(16, 32, 64), "q": sp.qnormal(8, 2, 1)}
    first = [d.values for d in _draws(spec("RANDOM", space, seed=7), 8)]
    assert first == [d.values for d in _draws(spec("RANDOM", space, seed=7), 8)]
    assert first != [d.values for d in _draws(spec("RANDOM", space, seed=8), 8)]


def test_grid_enumerates_every_combination_once() -> None:
    space = {"a": sp.choice(1, 2, 3), "--b": sp.choice("x", "y")}
    grid_spec = spec("GRID", space)
    assert grid_spec.total_runs == 6
    drawn = [tuple(d.values.values()) for d in _draws(grid_spec, 6)]  # none told: all running
    assert sorted(drawn) == sorted((a, b) for a in (1, 2, 3) for b in ("x", "y"))


def test_tpe_learns_from_told_trials() -> None:
    tpe = Sampler(spec("BayesianOptimization", {"x": sp.uniform(0, 1)}, seed=3))
    for _ in range(30):
        draw = tpe.ask()
        tpe.tell(draw.number, -abs(float(draw.values["x"]) - 0.25))
    assert abs(tpe.study.best_params["x"] - 0.25) < 0.05


def test_warm_start_feeds_earlier_trials() -> None:
    sampler = Sampler(spec("BayesianOptimization", {"x": sp.uniform(0, 1)}))
    assert sampler.warm_start([({"x": 0.2}, 0.9), ({"x": 0.8}, None), ({"y": 1}, 0.1)]) == 2
    assert sampler.study.best_params == {"x": 0.2}


@pytest.mark.parametrize(
    ("sampling", "message"),
    [
        (lambda: GridParameterSampling({"x": sp.uniform(0, 1)}), "does not accept uniform"),
        (lambda: BayesianParameterSampling({"x": sp.loguniform(-3, 0)}), "not accept loguniform"),
        (lambda: RandomParameterSampling({"x": [1, 2]}), "not a parameter expression"),
        (lambda: RandomParameterSampling({}), "non-empty"),
    ],
)
def test_spaces_are_checked(sampling: object, message: str) -> None:
    with pytest.raises(UserErrorException, match=message):
        sampling()  # type: ignore[operator]


def test_bayesian_sampling_with_a_policy_is_refused(source: Path) -> None:
    src = ScriptRunConfig(str(source), "train.py")
    sampling = BayesianParameterSampling({"x": sp.uniform(0, 1)})
    with pytest.raises(UserErrorException, match="Bayesian sampling does not support"):
        HyperDriveConfig(
            sampling, "acc", "MAXIMIZE", 40, run_config=src, policy=BanditPolicy(slack_factor=0.1)
        )
    with pytest.raises(UserErrorException, match="exactly one of estimator or run_config"):
        HyperDriveConfig(sampling, "acc", "MAXIMIZE", 40)
    with pytest.warns(UserWarning, match="at least 20 runs"):
        HyperDriveConfig(sampling, "acc", "MAXIMIZE", 10, run_config=src)


def test_the_v1_import_path_gives_the_same_names() -> None:
    sys.path.insert(0, str(COMPAT_DIR))
    try:
        from azureml.train.hyperdrive import HyperDriveConfig as V1Config
        from azureml.train.hyperdrive import uniform as v1_uniform
        from azureml.train.hyperdrive.parameter_expressions import choice as v1_choice
    finally:
        sys.path.remove(str(COMPAT_DIR))
    assert V1Config is HyperDriveConfig
    assert v1_uniform(0, 1) == ["uniform", [0, 1]] and v1_choice(1) == ["choice", [[1]]]


def _draws(sweep: SweepSpec, count: int) -> list[Draw]:
    sampler = Sampler(sweep)
    return [sampler.ask() for _ in range(count)]
