"""The HPA replica calculator against upstream's documented cases (replica_calculator_test.go).

Upstream's harness: pods started 3 minutes ago ("cool") or just now ("hot"), a Ready condition that changed when
the pod started, samples taken now over a one-minute window, a 2-minute CPU initialization period and a
10-second initial readiness delay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pinnace.controllers.hpa_metrics import PodMetrics
from pinnace.controllers.hpa_replicas import (
    CalculationError,
    CalculatorSettings,
    Sample,
    group_pods,
    pod_requests,
    raw_resource_replicas,
    resource_replicas,
    resource_samples,
)

Obj = dict[str, Any]
NOW = 1_800_000_000.0
COOL, HOT = NOW - 180, NOW
SETTINGS = CalculatorSettings(tolerance=0.1, cpu_initialization_period=120, initial_readiness_delay=10)


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str,
    request: str | None = "1.0",
    *,
    phase: str = "Running",
    ready: str = "True",
    start: float = COOL,
    deleting: bool = False,
    resource: str = "cpu",
) -> Obj:
    meta: Obj = {"name": name, "namespace": "default"}
    if deleting:
        meta["deletionTimestamp"] = stamp(NOW)
    resources = {"requests": {resource: request}} if request is not None else {}
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "resources": resources}]},
        "status": {
            "phase": phase,
            "startTime": stamp(start),
            "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": stamp(start)}],
        },
    }


def usage(levels: list[int], resource: str = "cpu", names: list[str] | None = None) -> list[PodMetrics]:
    """Samples of test-pod-0… (or ``names``), in PodMetrics units (millicores; bytes for memory)."""
    names = names or [f"test-pod-{i}" for i in range(len(levels))]
    return [PodMetrics(n, NOW, 60.0, {"c": {resource: level}}) for n, level in zip(names, levels, strict=True)]


def pods_of(count: int, requests: list[str] | None = None, **per_pod: list[Any]) -> list[Obj]:
    return [
        pod(
            f"test-pod-{i}",
            (requests or ["1.0"] * count)[i],
            **{key: values[i] for key, values in per_pod.items()},
        )
        for i in range(count)
    ]


T, F = "True", "False"
R, P, FAILED = "Running", "Pending", "Failed"

UTILIZATION_CASES = [
    # (name, current, pods, levels, target, expected replicas, utilization, mean usage)
    ("ScaleUp", 3, pods_of(3), [300, 500, 700], 30, 5, 50, 500),
    ("ScaleUpUnreadyLessScale", 3, pods_of(3, ready=[F, T, T]), [300, 500, 700], 30, 4, 60, 600),
    ("ScaleUpHotCpuLessScale", 3, pods_of(3, start=[HOT, COOL, COOL]), [300, 500, 700], 30, 4, 60, 600),
    ("ScaleUpUnreadyNoScale", 3, pods_of(3, ready=[T, F, F]), [400, 500, 700], 30, 3, 40, 400),
    ("ScaleHotCpuNoScale", 3, pods_of(3, ready=[T, F, F], start=[COOL, HOT, HOT]), [400, 500, 700], 30, 3, 40, 400),
    (
        "ScaleUpIgnoresFailedPods",
        2,
        pods_of(4, ready=[T, T, F, F], phase=[R, R, FAILED, FAILED]),
        [500, 700],
        30,
        4,
        60,
        600,
    ),
    (
        "ScaleUpIgnoresDeletionPods",
        2,
        pods_of(4, ready=[T, T, F, F], deleting=[False, False, True, True]),
        [500, 700],
        30,
        4,
        60,
        600,
    ),
    ("ScaleDown", 5, pods_of(5), [100, 300, 500, 250, 250], 50, 3, 28, 280),
    ("ScaleDownIncludeUnreadyPods", 5, pods_of(5, ready=[T, T, T, F, F]), [100, 300, 500, 250, 250], 50, 2, 30, 300),
    (
        "ScaleDownExcludeUnscheduledPods",
        5,
        pods_of(5, ready=[T, F, F, F, F], phase=[R, P, P, P, P]),
        [100],
        50,
        1,
        10,
        100,
    ),
    (
        "ScaleDownIgnoreHotCpuPods",
        5,
        pods_of(5, start=[COOL, COOL, COOL, HOT, HOT]),
        [100, 300, 500, 250, 250],
        50,
        2,
        30,
        300,
    ),
    (
        "ScaleDownIgnoresFailedPods",
        5,
        pods_of(7, ready=[T] * 5 + [F, F], phase=[R] * 5 + [FAILED] * 2),
        [100, 300, 500, 250, 250],
        50,
        3,
        28,
        280,
    ),
    ("Tolerance", 3, pods_of(3, ["0.9", "1.0", "1.1"]), [1010, 1030, 1020], 100, 3, 102, 1020),
    ("SuperfluousMetrics", 4, pods_of(4), [4000, 9500, 3000, 7000, 3200, 2000], 100, 24, 587, 5875),
    ("MissingMetrics", 4, pods_of(4), [400, 95], 100, 3, 24, 247),
    ("MissingMetricsNoChangeEq", 2, pods_of(2), [1000], 100, 2, 100, 1000),
    ("MissingMetricsNoChangeGt", 2, pods_of(2), [1900], 100, 2, 190, 1900),
    ("MissingMetricsNoChangeLt", 2, pods_of(2), [600], 100, 2, 60, 600),
    ("MissingMetricsUnreadyChange", 3, pods_of(3, ready=[F, T, T]), [100, 450], 50, 3, 45, 450),
    ("MissingMetricsHotCpuNoChange", 3, pods_of(3, start=[HOT, COOL, COOL]), [100, 450], 50, 3, 45, 450),
    ("MissingMetricsUnreadyScaleUp", 3, pods_of(3, ready=[F, T, T]), [100, 2000], 50, 4, 200, 2000),
    (
        "MissingMetricsHotCpuScaleUp",
        3,
        pods_of(3, ready=[F, T, T], start=[HOT, COOL, COOL]),
        [100, 2000],
        50,
        4,
        200,
        2000,
    ),
    ("MissingMetricsUnreadyScaleDown", 4, pods_of(4, ready=[F, T, T, T]), [100, 100, 100], 50, 3, 10, 100),
]


@pytest.mark.parametrize(
    ("current", "pods", "levels", "target", "replicas", "utilization", "average"),
    [case[1:] for case in UTILIZATION_CASES],
    ids=[case[0] for case in UTILIZATION_CASES],
)
def test_utilization_target(
    current: int, pods: list[Obj], levels: list[int], target: int, replicas: int, utilization: int, average: int
) -> None:
    samples = resource_samples(usage(levels), "cpu", "default")
    assert resource_replicas(current, target, "cpu", pods, samples, NOW, SETTINGS) == (replicas, utilization, average)


def test_missing_pods_count_at_the_target_when_it_is_above_100_percent_on_a_scale_down() -> None:
    # 2 of 4 pods report 50 % against a 150 % target; the 2 missing ones count at 150 %, not 100 %.
    samples = resource_samples(usage([500, 500]), "cpu", "default")
    # (500 + 500 + 1500 + 1500) / 4000 = 100 % of 150 % -> ceil(0.66 * 4) = 3; at 100 % it would be 2.
    assert resource_replicas(4, 150, "cpu", pods_of(4), samples, NOW, SETTINGS) == (3, 50, 500)


AVERAGE_VALUE_CASES = [
    # (name, current, pods, levels (thousandths), target, expected replicas, mean usage)
    ("ScaleUpCM", 3, pods_of(3), [20000, 10000, 30000], 15000, 4, 20000),
    (
        "ScaleUpCMUnreadyHotCpuNoLessScale",
        3,
        pods_of(3, ready=[T, T, F], start=[COOL, COOL, HOT]),
        [50000, 10000, 30000],
        15000,
        6,
        30000,
    ),
    (
        "ScaleUpCMUnreadyHotCpuScaleWouldScaleDown",
        3,
        pods_of(3, ready=[F, T, F], start=[HOT, COOL, HOT]),
        [50000, 15000, 30000],
        15000,
        7,
        31666,
    ),
    ("ScaleDownCM", 5, pods_of(5), [12000] * 5, 20000, 3, 12000),
    ("ToleranceCM", 3, pods_of(3), [20000, 21000, 21000], 20000, 3, 20666),
    ("MissingScaleDownAtTarget", 4, pods_of(4), [400, 95], 500, 3, 247),
]


@pytest.mark.parametrize(
    ("current", "pods", "levels", "target", "replicas", "average"),
    [case[1:] for case in AVERAGE_VALUE_CASES],
    ids=[case[0] for case in AVERAGE_VALUE_CASES],
)
def test_average_value_target_ignores_readiness_except_for_cpu(
    current: int, pods: list[Obj], levels: list[int], target: int, replicas: int, average: int
) -> None:
    # Memory samples are bytes: the calculator counts thousandths, so a level of N thousandths is N/1000 bytes.
    samples = {f"test-pod-{i}": Sample(level, NOW, 60.0) for i, level in enumerate(levels)}
    assert raw_resource_replicas(current, target, "memory", pods, samples, NOW, SETTINGS) == (replicas, average)


def test_average_value_on_cpu_counts_unready_pods_at_zero_on_a_scale_up() -> None:
    samples = resource_samples(usage([100, 500, 700]), "cpu", "default")
    # Ready pods average 600m against 300m; the unready one at 0 gives 400m -> ceil(1.33 * 3) = 4.
    assert raw_resource_replicas(3, 300, "cpu", pods_of(3, ready=[F, T, T]), samples, NOW, SETTINGS) == (4, 600)


@pytest.mark.parametrize(
    ("pods", "levels", "message"),
    [
        ([pod("test-pod-0", None)], [200], "missing request for cpu in container c of Pod test-pod-0"),
        ([pod("test-pod-0")], [100], "no metrics returned matched known pods"),
        ([], [100], "no pods returned by selector while calculating replica count"),
        (
            [pod("test-pod-0", ready=F)],
            [100],
            "did not receive metrics for targeted pods (pods might be unready)",
        ),
    ],
    ids=["EmptyCPURequest", "NoMatchingPods", "NoPods", "AllUnready"],
)
def test_errors_in_upstreams_words(pods: list[Obj], levels: list[int], message: str) -> None:
    names = ["an-older-pod-name"] if message.startswith("no metrics returned") else None
    samples = resource_samples(usage(levels, names=names), "cpu", "default")
    with pytest.raises(CalculationError) as caught:
        resource_replicas(1, 100, "cpu", pods, samples, NOW, SETTINGS)
    assert str(caught.value) == message


def test_samples_sum_containers_and_convert_units() -> None:
    metrics = [
        PodMetrics("a", NOW, 15.0, {"app": {"cpu": 250, "memory": 1024}, "side": {"cpu": 5, "memory": 1}}),
        PodMetrics("b", NOW, 15.0, {"app": {"cpu": 100}}),  # no memory sample: b has none
        PodMetrics("c", NOW, 15.0, {}),  # no containers: no sample
    ]
    assert resource_samples(metrics, "cpu", "ns") == {
        "a": Sample(255, NOW, 15.0),
        "b": Sample(100, NOW, 15.0),
    }
    assert resource_samples(metrics, "memory", "ns") == {"a": Sample(1025 * 1000, NOW, 15.0)}
    assert resource_samples(metrics[:2], "cpu", "ns", "app") == {
        "a": Sample(250, NOW, 15.0),
        "b": Sample(100, NOW, 15.0),
    }
    with pytest.raises(CalculationError, match=r"^failed to get container metrics: container side not present in "):
        resource_samples(metrics[:2], "cpu", "ns", "side")


def test_requests_count_sidecars_and_one_container() -> None:
    p = pod("p", "500m")
    p["spec"]["initContainers"] = [
        {"name": "init", "resources": {"requests": {"cpu": "1"}}},  # a plain init container: not counted
        {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "250m"}}},
    ]
    assert pod_requests([p], "cpu") == {"p": 750}
    assert pod_requests([p], "cpu", "sidecar") == {"p": 250}
    assert pod_requests([pod("m", "64Mi", resource="memory")], "memory") == {"m": 64 * 2**20 * 1000}


def _ready_pod(start: float, became: float, status: str = T, phase: str = "Succeeded") -> Obj:
    p = pod("bentham", phase=phase, start=start, ready=status)
    p["status"]["conditions"][0]["lastTransitionTime"] = stamp(became)
    return p


@pytest.mark.parametrize(
    ("pods", "samples", "resource", "ready", "unready", "missing", "ignored"),
    [
        ([], {}, "cpu", 0, set(), set(), set()),
        ([pod("bentham", phase="Succeeded")], {"bentham": Sample(1, NOW, 60)}, "memory", 1, set(), set(), set()),
        (
            [{"metadata": {"name": "lucretius"}, "status": {"phase": "Succeeded", "startTime": stamp(NOW)}}],
            {"lucretius": Sample(1)},
            "cpu",
            0,
            {"lucretius"},
            set(),
            set(),
        ),
        ([_ready_pod(NOW - 60, NOW - 30)], {"bentham": Sample(1, NOW, 30)}, "cpu", 1, set(), set(), set()),
        ([_ready_pod(NOW - 60, NOW - 30)], {"bentham": Sample(1, NOW, 60)}, "cpu", 0, {"bentham"}, set(), set()),
        (
            [_ready_pod(NOW - 600, NOW - 600 + 5, F)],
            {"bentham": Sample(1, NOW, 60)},
            "cpu",
            0,
            {"bentham"},
            set(),
            set(),
        ),
        ([_ready_pod(NOW - 600, NOW - 300, F)], {"bentham": Sample(1, NOW, 60)}, "cpu", 1, set(), set(), set()),
        ([pod("x", phase="Pending")], {}, "cpu", 0, {"x"}, set(), set()),
        ([pod("x")], {}, "cpu", 0, set(), {"x"}, set()),
        ([pod("x", phase="Failed"), pod("y", deleting=True)], {"x": Sample(1)}, "cpu", 0, set(), set(), {"x", "y"}),
    ],
    ids=[
        "void",
        "memory-ready-pod",
        "cpu-no-ready-condition",
        "cpu-fresh-sample-in-initialization",
        "cpu-stale-sample-in-initialization",
        "cpu-unready-never-ready",
        "cpu-unready-after-being-ready",
        "pending",
        "missing",
        "failed-and-deleted",
    ],
)
def test_group_pods(
    pods: list[Obj],
    samples: dict[str, Sample],
    resource: str,
    ready: int,
    unready: set[str],
    missing: set[str],
    ignored: set[str],
) -> None:
    groups = group_pods(pods, samples, resource, NOW, SETTINGS)
    assert groups.ready_count == ready
    assert (set(groups.unready), set(groups.missing), set(groups.ignored)) == (unready, missing, ignored)
