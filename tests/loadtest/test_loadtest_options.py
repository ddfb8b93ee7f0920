"""Durations, load shapes and SLOs: what is accepted and the one-line refusals."""

from __future__ import annotations

import pytest

from serving.errors import UserInputError
from serving.loadtest import SLO, LoadShape, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15),
        ("2m", 120),
        ("1m30s", 90),
        ("90", 90),
        (" 45S ", 45),
        ("1h", 3600),
        (30, 30),
        ("1h0m0s", 3600),
    ],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "cannot read"),
        ("abc", "cannot read"),
        ("1.5s", "cannot read"),
        ("-3s", "cannot read"),
        ("0s", "at least 1 s"),
        ("61m", "over the limit"),
        ("2h", "over the limit"),
        (1.5, "whole seconds"),
    ],
)
def test_bad_durations(text: str | float, needle: str) -> None:
    with pytest.raises(UserInputError, match=needle) as info:
        parse_duration(text)
    assert info.value.exit_code == 2


def test_shape_defaults_and_bounds() -> None:
    assert LoadShape() == LoadShape(users=50, spawn_rate=10, duration_s=30)
    for bad in ({"users": 0}, {"spawn_rate": 0}, {"duration_s": 3601}, {"users": 10_001}):
        with pytest.raises(UserInputError):
            LoadShape(**bad)  # type: ignore[arg-type]


def test_slo_bounds() -> None:
    assert SLO().max_error_rate == 0.01
    assert SLO().p99_ms is None
    with pytest.raises(UserInputError, match="positive"):
        SLO(p99_ms=0)
    with pytest.raises(UserInputError, match="fraction"):
        SLO(max_error_rate=1.5)
    assert SLO(p99_ms=0.001, max_error_rate=None).max_error_rate is None
