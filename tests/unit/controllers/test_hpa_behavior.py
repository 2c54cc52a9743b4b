"""Stabilization, scaling policies and bounds of the HPA (upstream's normalizeDesiredReplicas family)."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.controllers.hpa_behavior import Behavior, Normalized, ScalingHistory, ScalingRules

KEY = "default/web"
WINDOW = 300.0
#: What the API server defaults an empty ``behavior: {}`` to (the scale-down window left to the controller).
DEFAULT_BEHAVIOR: dict[str, Any] = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    },
    "scaleDown": {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
}
WITHIN = ("False", "DesiredWithinRange", "the desired count is within the acceptable range")
READY = ("ReadyForNewScale", "recommended size matches current size")
DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
)
UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
UP_LIMIT = ("True", "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
DOWN_LIMIT = ("True", "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
TOO_MANY = ("True", "TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("True", "TooFewReplicas", "the desired replica count is less than the minimum replica count")


def behavior(**changes: dict[str, Any]) -> Behavior:
    spec = {direction: {**rules, **changes.get(direction, {})} for direction, rules in DEFAULT_BEHAVIOR.items()}
    made = Behavior.from_spec(spec, WINDOW)
    assert made is not None
    return made


def test_without_behavior_a_scale_down_waits_for_the_window() -> None:
    history = ScalingHistory()
    history.record_initial(KEY, 5, 0.0)
    assert history.normalize(KEY, 5, 2, 1, 10, None, WINDOW, 10.0) == Normalized(5, DOWN_STABILIZED, WITHIN)
    assert history.normalize(KEY, 5, 3, 1, 10, None, WINDOW, 200.0) == Normalized(5, DOWN_STABILIZED, WITHIN)
    # At 320 the initial 5 is out of the window; 3 (at 200) is the highest recent recommendation.
    assert history.normalize(KEY, 5, 2, 1, 10, None, WINDOW, 320.0) == Normalized(3, DOWN_STABILIZED, WITHIN)
    assert history.normalize(KEY, 3, 2, 1, 10, None, WINDOW, 510.0) == Normalized(2, READY, WITHIN)


@pytest.mark.parametrize(
    ("current", "desired", "minimum", "maximum", "expected"),
    [
        (2, 10, 1, 20, Normalized(4, READY, UP_LIMIT)),  # max(2 * 2, 4)
        (3, 10, 1, 20, Normalized(6, READY, UP_LIMIT)),
        (3, 10, 1, 5, Normalized(5, READY, TOO_MANY)),
        (3, 1, 2, 5, Normalized(2, READY, TOO_FEW)),
        (3, 4, 1, 5, Normalized(4, READY, WITHIN)),
    ],
)
def test_without_behavior_bounds_and_the_scale_up_limit(
    current: int, desired: int, minimum: int, maximum: int, expected: Normalized
) -> None:
    history = ScalingHistory()
    assert history.normalize(KEY, current, desired, minimum, maximum, None, 0.0, 0.0) == expected


def test_default_scale_up_policies_allow_the_larger_of_4_pods_and_100_percent_per_15_seconds() -> None:
    history, rules = ScalingHistory(), behavior()
    assert history.normalize(KEY, 3, 20, 1, 50, rules, WINDOW, 0.0) == Normalized(7, READY, UP_LIMIT)
    history.record_scale(KEY, rules, 3, 7, 0.0)
    # Within the period the 4 pods added count: the period started at 3, so 7 is all that is allowed.
    assert history.normalize(KEY, 7, 20, 1, 50, rules, WINDOW, 5.0) == Normalized(7, READY, UP_LIMIT)
    assert history.normalize(KEY, 7, 20, 1, 50, rules, WINDOW, 16.0) == Normalized(14, READY, UP_LIMIT)
    assert history.normalize(KEY, 7, 20, 1, 12, rules, WINDOW, 16.0) == Normalized(12, READY, TOO_MANY)


def test_select_policy_min_and_disabled() -> None:
    minimal = behavior(scaleUp={"selectPolicy": "Min"})
    assert ScalingHistory().normalize(KEY, 3, 20, 1, 50, minimal, WINDOW, 0.0) == Normalized(6, READY, UP_LIMIT)
    disabled = behavior(scaleUp={"selectPolicy": "Disabled"})
    assert ScalingHistory().normalize(KEY, 3, 20, 1, 50, disabled, WINDOW, 0.0) == Normalized(3, READY, UP_LIMIT)
    no_down = behavior(scaleDown={"selectPolicy": "Disabled", "stabilizationWindowSeconds": 0})
    assert ScalingHistory().normalize(KEY, 5, 1, 1, 50, no_down, WINDOW, 0.0) == Normalized(5, READY, DOWN_LIMIT)


def test_scale_down_pods_policy_over_its_period() -> None:
    history = ScalingHistory()
    rules = behavior(
        scaleDown={"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
    )
    assert history.normalize(KEY, 5, 2, 1, 10, rules, WINDOW, 0.0) == Normalized(4, READY, DOWN_LIMIT)
    history.record_scale(KEY, rules, 5, 4, 0.0)
    assert history.normalize(KEY, 4, 2, 1, 10, rules, WINDOW, 30.0) == Normalized(4, READY, DOWN_LIMIT)
    assert history.normalize(KEY, 4, 2, 1, 10, rules, WINDOW, 61.0) == Normalized(3, READY, DOWN_LIMIT)


def test_default_scale_down_policy_allows_everything_down_to_the_minimum() -> None:
    rules = behavior(scaleDown={"stabilizationWindowSeconds": 0})
    assert ScalingHistory().normalize(KEY, 8, 1, 1, 10, rules, WINDOW, 0.0) == Normalized(1, READY, WITHIN)
    assert ScalingHistory().normalize(KEY, 8, 0, 2, 10, rules, WINDOW, 0.0) == Normalized(2, READY, TOO_FEW)


def test_behavior_stabilization_windows() -> None:
    history = ScalingHistory()
    rules = behavior(scaleDown={"stabilizationWindowSeconds": 60})
    history.record_initial(KEY, 5, 0.0)
    assert history.normalize(KEY, 5, 2, 1, 10, rules, WINDOW, 10.0) == Normalized(5, DOWN_STABILIZED, WITHIN)
    assert history.normalize(KEY, 5, 2, 1, 10, rules, WINDOW, 71.0) == Normalized(2, READY, WITHIN)

    history = ScalingHistory()
    rules = behavior(scaleUp={"stabilizationWindowSeconds": 60})
    history.record_initial(KEY, 3, 0.0)
    assert history.normalize(KEY, 3, 6, 1, 10, rules, WINDOW, 10.0) == Normalized(3, UP_STABILIZED, WITHIN)
    assert history.normalize(KEY, 3, 6, 1, 10, rules, WINDOW, 61.0) == Normalized(6, READY, WITHIN)


def test_rules_default_and_history_forgets() -> None:
    made = Behavior.from_spec({"scaleUp": {"policies": []}}, 120.0)
    assert made == Behavior(ScalingRules(0.0), ScalingRules(120.0))
    assert Behavior.from_spec(None, 120.0) is None
    history = ScalingHistory()
    history.record_initial(KEY, 5, 0.0)
    history.record_scale(KEY, None, 5, 9, 0.0)  # without spec.behavior no event is kept
    history.forget(KEY)
    assert history.normalize(KEY, 5, 2, 1, 10, None, WINDOW, 1.0) == Normalized(2, READY, WITHIN)
