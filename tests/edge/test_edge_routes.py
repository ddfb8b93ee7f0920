"""Routes in the IoT Edge syntax: what they take, where they go, what is refused."""

from __future__ import annotations

import pytest

from serving.edge.runtime.router import targets
from serving.edge.runtime.routes import parse_route, parse_routes
from serving.edge.runtime.topics import Topics
from serving.errors import UserInputError

T = Topics("dev1")


def test_module_output_to_module_input() -> None:
    route = parse_route(
        "r",
        "FROM /messages/modules/tempSensor/outputs/temperatureOutput "
        'INTO BrokeredEndpoint("/modules/ml/inputs/amlInput")',
    )
    assert route.source_filter(T) == "serving/dev1/modules/tempSensor/outputs/temperatureOutput"
    assert route.sink_topic(T) == "serving/dev1/modules/ml/inputs/amlInput"
    assert route.takes("tempSensor", "temperatureOutput")
    assert not route.takes("tempSensor", "other")


@pytest.mark.parametrize(
    ("source", "filter_"),
    [
        ("/messages/*", "serving/dev1/modules/+/outputs/+"),
        ("/*", "serving/dev1/modules/+/outputs/+"),
        ("/messages/modules/ml/*", "serving/dev1/modules/ml/outputs/+"),
        ("/messages/modules/ml/outputs/*", "serving/dev1/modules/ml/outputs/+"),
    ],
)
def test_upstream_sources(source: str, filter_: str) -> None:
    route = parse_route("up", f"FROM {source} INTO $upstream")
    assert route.source_filter(T) == filter_
    assert route.sink_topic(T) == "serving/dev1/upstream"


def test_router_targets_dedupe_and_ignore_other_topics() -> None:
    routes = parse_routes(
        {
            "a": "FROM /messages/modules/ml/outputs/amlOutput INTO $upstream",
            "b": "FROM /messages/* INTO $upstream",
            "c": "FROM /messages/modules/ml/outputs/amlOutput "
            'INTO BrokeredEndpoint("/modules/x/inputs/i")',
        }
    )
    assert targets(routes, T, "serving/dev1/modules/ml/outputs/amlOutput") == [
        "serving/dev1/upstream",
        "serving/dev1/modules/x/inputs/i",
    ]
    assert targets(routes, T, "serving/dev1/modules/ml/outputs/amlError") == [
        "serving/dev1/upstream"
    ]
    assert targets(routes, T, "serving/other/modules/ml/outputs/amlOutput") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("INTO $upstream", "is not 'FROM <source> INTO <sink>'"),
        ("FROM /messages/* WHERE $body.x > 1 INTO $upstream", "WHERE conditions"),
        ("FROM /twinChangeNotifications INTO $upstream", "unsupported source"),
        ('FROM /messages/* INTO BrokeredEndpoint("/modules/*/inputs/x")', "the sink must be"),
        ("FROM /messages/* INTO somewhere", "the sink must be"),
    ],
)
def test_bad_routes_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message.replace("$", r"\$").replace("(", r"\(")):
        parse_route("bad", text)
