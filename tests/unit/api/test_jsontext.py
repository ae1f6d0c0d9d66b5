"""The server's JSON text: compact like the standard library's, readable by it, and falling
back to it for what orjson refuses."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from nodeagent.api import jsontext


def test_objects_round_trip_compact_and_in_key_order() -> None:
    """An API object is written without spaces, keys in insertion order, and reads back equal."""
    obj = {"metadata": {"name": "p", "labels": {"z": "1", "a": "2"}}, "spec": {"n": [1, 2.5]}}
    text = jsontext.dumps(obj)
    assert text == json.dumps(obj, separators=(",", ":"))
    assert jsontext.loads(text) == obj
    assert jsontext.loads(jsontext.dumpb(obj)) == obj


def test_non_ascii_text_is_utf8_and_reads_back() -> None:
    """Non-ASCII strings travel as UTF-8 and mean the same to the standard library."""
    obj = {"message": "nœud prêt ✓"}
    assert json.loads(jsontext.dumpb(obj)) == obj


@pytest.mark.parametrize(
    "value",
    [{"big": 2**70}, {1: "non-string key"}],
    ids=["integer-beyond-64-bits", "non-string-key"],
)
def test_what_orjson_refuses_is_written_by_the_standard_library(value: object) -> None:
    """Values orjson will not encode still encode, as the standard library writes them."""
    assert jsontext.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert jsontext.dumpb(value) == json.dumps(value, separators=(",", ":")).encode()


def test_a_lone_surrogate_decodes_as_the_standard_library_does() -> None:
    """Text orjson rejects but the standard library reads is read the same."""
    assert jsontext.loads('{"a":"\\ud800"}') == {"a": "\ud800"}


def test_bad_json_is_a_value_error() -> None:
    """Not JSON at all: ValueError, as json.loads raises, for callers that catch it."""
    with pytest.raises(ValueError, match=r"Expecting|expected"):
        jsontext.loads(b"{nope")


def test_a_clone_is_equal_and_shares_nothing_mutable() -> None:
    """Changing any dict or list of a clone leaves the original as it was."""
    original: dict[str, Any] = {
        "metadata": {"labels": {"a": "1"}},
        "spec": {"list": [{"x": [1, 2]}, "s", None]},
    }
    copied = jsontext.clone(original)
    assert copied == original
    copied["metadata"]["labels"]["a"] = "2"
    copied["spec"]["list"][0]["x"].append(3)
    copied["spec"]["list"].append("more")
    assert original == {
        "metadata": {"labels": {"a": "1"}},
        "spec": {"list": [{"x": [1, 2]}, "s", None]},
    }


def test_a_clone_keeps_values_that_are_not_json() -> None:
    """A date from a YAML body, or a key that is not a string, survives a clone as
    copy.deepcopy keeps it; the dicts and lists around it are still new."""
    when = datetime.date(2026, 11, 23)
    original: dict[str, Any] = {"when": when, "keys": {1: ["a"]}}
    copied = jsontext.clone(original)
    assert copied == original
    assert type(copied["when"]) is datetime.date
    copied["keys"][1].append("b")
    assert original["keys"] == {1: ["a"]}


def test_a_clone_of_a_tuple_is_a_json_array() -> None:
    """Tuples come back as lists: JSON has only arrays (the store would read them so)."""
    value: dict[str, Any] = {"t": (1, [2])}
    assert jsontext.clone(value) == {"t": [1, [2]]}
