"""metav1.Time and MicroTime: Go's parser rules and messages, and the one form the API server writes."""

from __future__ import annotations

import pytest

from pinnace.api import gotime, typed
from pinnace.api.definitions import definition_for

TIME = "2006-01-02T15:04:05Z07:00"
MICRO = "2006-01-02T15:04:05.000000Z07:00"


@pytest.mark.parametrize(
    ("text", "micro", "written"),
    [
        ("2026-11-28T04:27:35Z", False, "2026-11-28T04:27:35Z"),
        ("2026-11-28T06:27:35+02:00", False, "2026-11-28T04:27:35Z"),  # to UTC
        ("2026-11-28T04:27:35.999Z", False, "2026-11-28T04:27:35Z"),  # whole seconds: truncated, not rounded
        ("2026-11-28T04:27:35,5Z", False, "2026-11-28T04:27:35Z"),  # Go takes a comma before a fraction
        ("2026-11-28T4:27:35Z", False, "2026-11-28T04:27:35Z"),  # and a one-digit hour
        ("2026-11-28T00:30:00+01:00", False, "2026-11-27T23:30:00Z"),  # across a day
        ("2024-02-29T00:00:00Z", False, "2024-02-29T00:00:00Z"),
        ("9999-12-31T23:00:00-02:00", False, "10000-01-01T01:00:00Z"),
        ("0001-01-01T00:00:00Z", False, None),  # Go's zero time: null
        ("2026-11-28T04:27:35.225962Z", True, "2026-11-28T04:27:35.225962Z"),
        ("2026-11-28T06:27:35.000000+02:00", True, "2026-11-28T04:27:35.000000Z"),
    ],
)
def test_a_time_is_written_in_utc_with_its_layouts_precision(text: str, micro: bool, written: str | None) -> None:
    assert gotime.canonical(text, micro) == written


@pytest.mark.parametrize(
    ("text", "micro", "message"),
    [
        ("yesterday", False, f'parsing time "yesterday" as "{TIME}": cannot parse "yesterday" as "2006"'),
        ("", True, f'parsing time "" as "{MICRO}": cannot parse "" as "2006"'),
        ("2026-11-28T04:27:35", False, f'parsing time "2026-11-28T04:27:35" as "{TIME}": cannot parse "" as "Z07:00"'),
        (
            "2026-11-28 04:27:35Z",
            False,
            f'parsing time "2026-11-28 04:27:35Z" as "{TIME}": cannot parse " 04:27:35Z" as "T"',
        ),
        (
            "2026-11-28T04:27:35Z",
            True,
            f'parsing time "2026-11-28T04:27:35Z" as "{MICRO}": cannot parse "Z" as ".000000"',
        ),
        (
            "2026-11-28T04:27:35.2Z",
            True,
            f'parsing time "2026-11-28T04:27:35.2Z" as "{MICRO}": cannot parse ".2Z" as ".000000"',
        ),
        (
            "2026-11-28T04:27:35+0200",
            False,
            f'parsing time "2026-11-28T04:27:35+0200" as "{TIME}": cannot parse "+0200" as "Z07:00"',
        ),
        ("2026-13-01T00:00:00Z", False, 'parsing time "2026-13-01T00:00:00Z": month out of range'),
        ("2026-02-29T00:00:00Z", False, 'parsing time "2026-02-29T00:00:00Z": day out of range'),
        ("2026-11-28T24:00:00Z", False, 'parsing time "2026-11-28T24:00:00Z": hour out of range'),
        ("2026-11-28T04:27:60Z", False, 'parsing time "2026-11-28T04:27:60Z": second out of range'),
        (
            "2026-11-28T04:27:35+25:00",
            False,
            'parsing time "2026-11-28T04:27:35+25:00": time zone offset hour out of range',
        ),
        ("2026-11-28T04:27:35Zx", False, 'parsing time "2026-11-28T04:27:35Zx": extra text: "x"'),
        ("ü", False, f'parsing time "\\xc3\\xbc" as "{TIME}": cannot parse "\\xc3\\xbc" as "2006"'),
    ],
)
def test_what_go_refuses_is_refused_with_its_message(text: str, micro: bool, message: str) -> None:
    with pytest.raises(gotime.GoTimeError) as caught:
        gotime.canonical(text, micro)
    assert str(caught.value) == message
    with pytest.raises(gotime.GoTimeError):  # the remembered answer is the same
        gotime.canonical(text, micro)


def test_normalising_writes_a_kinds_times_as_a_round_trip_does() -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l", "creationTimestamp": "2026-11-28T06:27:35.5+02:00"},
        "spec": {
            "holderIdentity": "a",
            "acquireTime": "2026-11-28T06:27:35.123456+02:00",
            "renewTime": "0001-01-01T00:00:00.000000Z",  # the zero time: null, omitted
        },
    }
    typed.normalize(lease, definition_for("coordination.k8s.io", "v1", "Lease"))
    assert lease["metadata"]["creationTimestamp"] == "2026-11-28T04:27:35Z"
    assert lease["spec"] == {"holderIdentity": "a", "acquireTime": "2026-11-28T04:27:35.123456Z"}


def test_a_custom_resources_metadata_times_are_normalised_and_the_rest_left_alone() -> None:
    thing = {
        "apiVersion": "x/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "managedFields": [{"manager": "m", "time": "2026-11-28T06:00:00+02:00"}]},
        "spec": {"when": "2026-11-28T06:00:00+02:00"},
    }
    typed.normalize(thing, None)
    assert thing["metadata"]["managedFields"][0]["time"] == "2026-11-28T04:00:00Z"
    assert thing["spec"]["when"] == "2026-11-28T06:00:00+02:00"
