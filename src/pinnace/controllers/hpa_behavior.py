"""How the HorizontalPodAutoscaler turns the metrics' proposal into the replica count it applies.

Upstream's ``normalizeDesiredReplicas`` family, on a :class:`ScalingHistory`
the controller keeps in memory per autoscaler (by ``namespace/name``), as
kube-controller-manager does:

- **Recommendations.** Every sync records the metrics' unstabilized
  proposal. Without ``spec.behavior`` the applied count is the highest
  proposal of the downscale stabilization window (the controller's
  ``--horizontal-pod-autoscaler-downscale-stabilization``, 5 minutes), then
  bounded by minReplicas, maxReplicas and a scale-up limit of
  ``max(2 * current, 4)``. With ``spec.behavior`` the count stays between the
  lowest proposal of the scale-up window and the highest of the scale-down
  window (``scaleDown.stabilizationWindowSeconds`` unset: the flag's window).
- **Scale events.** Every rescale made under ``spec.behavior`` is recorded,
  so the Pods and Percent policies limit the change over their
  ``periodSeconds``: the replicas at the start of the period plus (or minus)
  what each policy allows, the most permissive (``selectPolicy: Max``) or the
  least (``Min``) of them; ``Disabled`` forbids that direction.

:meth:`ScalingHistory.normalize` also says what the AbleToScale and
ScalingLimited conditions report, in upstream's reasons and messages. Times
are the controller clock's seconds (only differences matter).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Behavior", "Normalized", "Policy", "ScalingHistory", "ScalingRules", "scale_down_limit", "scale_up_limit"]

#: Without spec.behavior, one sync may scale up to max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM).
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
_READY = ("ReadyForNewScale", "recommended size matches current size")
_DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
)
_UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
_WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
_TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
_TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
_UP_LIMIT = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
_DOWN_LIMIT = ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")


@dataclass(frozen=True, slots=True)
class Policy:
    """One scaling policy: ``Pods`` or ``Percent``, its value, and the period (seconds) it looks back over."""

    type: str
    value: int
    period: float


@dataclass(frozen=True, slots=True)
class ScalingRules:
    """One direction of ``spec.behavior``: the stabilization window (seconds), selectPolicy and policies."""

    window: float
    select_policy: str = "Max"
    policies: tuple[Policy, ...] = ()

    @classmethod
    def from_spec(cls, rules: Mapping[str, Any] | None, default_window: float) -> ScalingRules:
        """The rules as the API server stored them (defaulted); an unset window is ``default_window``."""
        rules = rules or {}
        window = rules.get("stabilizationWindowSeconds")
        policies = tuple(
            Policy(str(p.get("type") or ""), int(p.get("value") or 0), float(p.get("periodSeconds") or 0))
            for p in rules.get("policies") or []
            if isinstance(p, dict)
        )
        return cls(
            float(window) if window is not None else default_window,
            str(rules.get("selectPolicy") or "Max"),
            policies,
        )

    def longest_period(self) -> float:
        """The longest period of the policies (0 without any)."""
        return max((p.period for p in self.policies), default=0.0)


@dataclass(frozen=True, slots=True)
class Behavior:
    """``spec.behavior``: the scale-up and scale-down rules."""

    scale_up: ScalingRules
    scale_down: ScalingRules

    @classmethod
    def from_spec(cls, behavior: Any, downscale_stabilization: float) -> Behavior | None:
        """The behavior of an autoscaler's spec (None without one); the scale-up window defaults to 0 and the
        scale-down one to the controller's ``downscale_stabilization``."""
        if not isinstance(behavior, dict):
            return None
        return cls(
            ScalingRules.from_spec(behavior.get("scaleUp"), 0.0),
            ScalingRules.from_spec(behavior.get("scaleDown"), downscale_stabilization),
        )


@dataclass(frozen=True, slots=True)
class Normalized:
    """The replica count to apply, and what to report: AbleToScale's (reason, message) — its status is True —
    and ScalingLimited's (status, reason, message)."""

    replicas: int
    able_to_scale: tuple[str, str]
    limited: tuple[str, str, str]


@dataclass(slots=True)
class _Recommendation:
    replicas: int
    at: float


@dataclass(slots=True)
class _ScaleEvent:
    change: int  # replicas added (scale-up list) or removed (scale-down list)
    at: float
    outdated: bool = False


def _changed_within(period: float, events: list[_ScaleEvent], now: float) -> int:
    """Replicas added (or removed) by the events of the last ``period`` seconds (``getReplicasChangePerPeriod``)."""
    cutoff = now - period
    return sum(e.change for e in events if e.at > cutoff)


def _policy_limit(
    current: int, ups: list[_ScaleEvent], downs: list[_ScaleEvent], rules: ScalingRules, now: float, *, up: bool
) -> int:
    """The bound the policies put on a scale in one direction: each policy's proposal from the replicas there were
    ``periodSeconds`` ago, then the most change (selectPolicy Max) or the least (Min)."""
    if rules.select_policy == "Disabled":
        return current
    proposals = []
    for policy in rules.policies:
        start = current - _changed_within(policy.period, ups, now) + _changed_within(policy.period, downs, now)
        if policy.type == "Pods":
            proposals.append(start + policy.value if up else start - policy.value)
        elif policy.type == "Percent":  # up: rounded up, or a small target would never grow
            proposals.append(
                math.ceil(start * (1 + policy.value / 100)) if up else int(start * (1 - policy.value / 100))
            )
    if not proposals:
        return current
    most_change = max if up else min
    least_change = min if up else max
    return least_change(proposals) if rules.select_policy == "Min" else most_change(proposals)


def scale_up_limit(
    current: int, ups: list[_ScaleEvent], downs: list[_ScaleEvent], rules: ScalingRules, now: float
) -> int:
    """The most replicas the scale-up policies allow now (``calculateScaleUpLimitWithScalingRules``)."""
    return _policy_limit(current, ups, downs, rules, now, up=True)


def scale_down_limit(
    current: int, ups: list[_ScaleEvent], downs: list[_ScaleEvent], rules: ScalingRules, now: float
) -> int:
    """The fewest replicas the scale-down policies allow now (``calculateScaleDownLimitWithBehaviors``)."""
    return _policy_limit(current, ups, downs, rules, now, up=False)


def _convert_with_rules(current: int, desired: int, minimum: int, maximum: int) -> tuple[int, tuple[str, str]]:
    """Bounds without spec.behavior (``convertDesiredReplicasWithRules``): the count and ScalingLimited's reason."""
    up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    allowed_max, why = (up_limit, _UP_LIMIT) if maximum > up_limit else (maximum, _TOO_MANY)
    if desired < minimum:
        return minimum, _TOO_FEW
    if desired > allowed_max:
        return allowed_max, why
    return desired, _WITHIN_RANGE


class ScalingHistory:
    """What the controller remembers of each autoscaler between syncs: recent recommendations and scale events."""

    def __init__(self) -> None:
        self._recommendations: dict[str, list[_Recommendation]] = {}
        self._ups: dict[str, list[_ScaleEvent]] = {}
        self._downs: dict[str, list[_ScaleEvent]] = {}

    def forget(self, key: str) -> None:
        """Drop what is remembered of a deleted autoscaler."""
        self._recommendations.pop(key, None)
        self._ups.pop(key, None)
        self._downs.pop(key, None)

    def record_initial(self, key: str, current: int, now: float) -> None:
        """On the first sync of an autoscaler, count its current replicas as a recommendation (so a controller
        that just started does not scale down before a window of its own recommendations)."""
        if key not in self._recommendations:
            self._recommendations[key] = [_Recommendation(current, now)]

    def _record(self, key: str, desired: int, now: float, old: int | None) -> None:
        """Record a recommendation in the place of an outdated one (``old``), or after the others."""
        recs = self._recommendations.setdefault(key, [])
        if old is not None:
            recs[old] = _Recommendation(desired, now)
        else:
            recs.append(_Recommendation(desired, now))

    def normalize(
        self,
        key: str,
        current: int,
        desired: int,
        minimum: int,
        maximum: int,
        behavior: Behavior | None,
        downscale_stabilization: float,
        now: float,
    ) -> Normalized:
        """The count to apply for the metrics' ``desired`` (and record ``desired`` as a recommendation)."""
        if behavior is None:
            stabilized = self._stabilize(key, desired, downscale_stabilization, now)
            able = _DOWN_STABILIZED if stabilized != desired else _READY
            replicas, why = _convert_with_rules(current, stabilized, minimum, maximum)
        else:
            stabilized, reason = self._stabilize_with_behavior(key, current, desired, behavior, now)
            able = reason if stabilized != desired else _READY
            replicas, why = self._convert_with_behavior(key, current, stabilized, minimum, maximum, behavior, now)
        return Normalized(replicas, able, ("False" if replicas == stabilized else "True", *why))

    def _stabilize(self, key: str, desired: int, window: float, now: float) -> int:
        """The highest recommendation of the window, ``desired`` included (``stabilizeRecommendation``)."""
        highest, old = desired, None
        cutoff = now - window
        for i, rec in enumerate(self._recommendations.get(key, [])):
            if rec.at < cutoff:
                old = i
            elif rec.replicas > highest:
                highest = rec.replicas
        self._record(key, desired, now, old)
        return highest

    def _stabilize_with_behavior(
        self, key: str, current: int, desired: int, behavior: Behavior, now: float
    ) -> tuple[int, tuple[str, str]]:
        """``current`` brought within [lowest proposal of the scale-up window, highest of the scale-down window]
        (``stabilizeRecommendationWithBehaviors``), and the AbleToScale reason if that is not ``desired``."""
        up_cutoff = now - behavior.scale_up.window
        down_cutoff = now - behavior.scale_down.window
        up, down, old = desired, desired, None
        for i, rec in enumerate(self._recommendations.get(key, [])):
            if rec.at > up_cutoff:
                up = min(up, rec.replicas)
            if rec.at > down_cutoff:
                down = max(down, rec.replicas)
            if rec.at < up_cutoff and rec.at < down_cutoff:
                old = i
        recommendation = min(max(current, up), down)
        self._record(key, desired, now, old)
        return recommendation, _UP_STABILIZED if desired >= current else _DOWN_STABILIZED

    def _convert_with_behavior(
        self, key: str, current: int, desired: int, minimum: int, maximum: int, behavior: Behavior, now: float
    ) -> tuple[int, tuple[str, str]]:
        """Bounds and policies (``convertDesiredReplicasWithBehaviorRate``): the count and ScalingLimited's reason."""
        ups, downs = self._ups.get(key, []), self._downs.get(key, [])
        if desired > current:
            limit = max(scale_up_limit(current, ups, downs, behavior.scale_up, now), current)
            allowed, why = (limit, _UP_LIMIT) if maximum > limit else (maximum, _TOO_MANY)
            if desired > allowed:
                return allowed, why
        elif desired < current:
            limit = min(scale_down_limit(current, ups, downs, behavior.scale_down, now), current)
            allowed, why = (limit, _DOWN_LIMIT) if minimum < limit else (minimum, _TOO_FEW)
            if desired < allowed:
                return allowed, why
        return desired, _WITHIN_RANGE

    def record_scale(self, key: str, behavior: Behavior | None, previous: int, new: int, now: float) -> None:
        """Remember a rescale for the policies (only under spec.behavior; ``storeScaleEvent``): it takes the place
        of an event older than the direction's longest policy period, if there is one."""
        if behavior is None:
            return
        if new > previous:
            events, rules, change = self._ups.setdefault(key, []), behavior.scale_up, new - previous
        else:
            events, rules, change = self._downs.setdefault(key, []), behavior.scale_down, previous - new
        cutoff = now - rules.longest_period()
        old = None
        for i, event in enumerate(events):
            if event.at < cutoff:
                event.outdated = True
            if event.outdated:
                old = i
        if old is not None:
            events[old] = _ScaleEvent(change, now)
        else:
            events.append(_ScaleEvent(change, now))
