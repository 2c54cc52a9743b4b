"""Boolean query parameters as upstream decodes them into its options (``Convert_Slice_string_To_bool``)."""

from __future__ import annotations

import pytest

from pinnace.api.params import query_bool
from pinnace.apiserver.request_info import parse_request_info


@pytest.mark.parametrize("value", [None, "0", "false", "False", "FALSE"])
def test_absent_zero_and_false_are_false(value: str | None) -> None:
    assert query_bool(value) is False


@pytest.mark.parametrize("value", ["1", "true", "True", "t", "yes", "", "2", "on"])
def test_any_other_value_even_the_empty_one_is_true(value: str) -> None:
    assert query_bool(value) is True


def test_watch_is_read_so() -> None:
    path = "/api/v1/namespaces/default/configmaps"
    verbs = {
        value: parse_request_info("GET", path, {} if value is None else {"watch": value}).verb  # type: ignore[union-attr]
        for value in (None, "", "yes", "0", "false", "true")
    }
    assert verbs == {None: "list", "": "watch", "yes": "watch", "0": "list", "false": "list", "true": "watch"}
