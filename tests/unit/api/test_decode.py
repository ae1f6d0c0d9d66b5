"""Manifests decode from YAML or JSON, many documents per file, with line:column errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeagent.api.decode import DecodeError, decode_documents, to_json, to_yaml

from .conftest import SEED_FILES


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_seed_manifests_round_trip_through_json_and_yaml(path: Path) -> None:
    """decode -> to_json -> decode (and to_yaml) gives the very same objects."""
    objects = decode_documents(path.read_text(), source=path.name)
    assert objects
    for obj in objects:
        assert decode_documents(to_json(obj)) == [obj]
        assert decode_documents(to_yaml(obj)) == [obj]


def test_unknown_fields_survive() -> None:
    """Fields this project does not model are kept as they are."""
    (obj,) = decode_documents("kind: Pod\nspec:\n  futureField: {x: [1, 2]}\n")
    assert obj["spec"]["futureField"] == {"x": [1, 2]}


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        pytest.param("kind: A\n---\nkind: B\n", ["A", "B"], id="two-documents"),
        pytest.param("---\n---\nkind: A\n---\n", ["A"], id="empty-documents-skipped"),
        pytest.param("", [], id="empty-file"),
        pytest.param("# only a comment\n", [], id="comment-only"),
        pytest.param("kind: List\nitems:\n- kind: A\n- kind: B\n", ["A", "B"], id="list-flattened"),
        pytest.param('{"kind": "A"}\n{"kind": "B"}', ["A", "B"], id="json-stream"),
        pytest.param('{"kind": "PodList", "items": [{"kind": "Pod"}]}', ["Pod"], id="json-list"),
    ],
)
def test_documents(text: str, kinds: list[str]) -> None:
    """Every object comes out in order."""
    assert [o["kind"] for o in decode_documents(text)] == kinds


def test_times_stay_strings() -> None:
    """YAML timestamps are not turned into datetimes (Kubernetes keeps strings)."""
    (obj,) = decode_documents("t: 2026-11-23T12:00:00Z\nd: 2026-11-23\n")
    assert obj == {"t": "2026-11-23T12:00:00Z", "d": "2026-11-23"}


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        pytest.param("kind: Pod\nspec: [1\n", 3, 1, "flow sequence", id="unclosed-flow"),
        pytest.param("a: 1\n  b: 2\n", 2, 4, "mapping values", id="bad-indent"),
        pytest.param("kind: Pod\nx: !!binary aGk=\n", 2, 4, "not a JSON value", id="binary"),
        pytest.param("a: &x [*x]\n", 1, 4, "recursive", id="recursive-alias"),
        pytest.param('{"kind": "Pod",\n "x": }', 2, 7, "Expecting value", id="json"),
        pytest.param("a: !custom 1\n", 1, 4, "constructor", id="unknown-tag"),
    ],
)
def test_errors_name_line_and_column(text: str, line: int, column: int, fragment: str) -> None:
    """A bad file is a DecodeError printed as FILE:LINE:COL: message."""
    with pytest.raises(DecodeError) as caught:
        decode_documents(text, source="ds.yaml")
    err = caught.value
    assert (err.source, err.line, err.column) == ("ds.yaml", line, column)
    assert fragment in err.message
    assert str(err).startswith(f"ds.yaml:{line}:{column}: ")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_a_document_must_be_an_object(text: str) -> None:
    """Lists and scalars at the top of a document are refused."""
    with pytest.raises(DecodeError, match="expected an object"):
        decode_documents(text, source="x.yaml")


def test_decode_error_is_a_value_error() -> None:
    """Callers that catch ValueError catch decode errors too."""
    assert issubclass(DecodeError, ValueError)


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_decode_error(text: str) -> None:
    """No text, however malformed, raises anything but DecodeError."""
    try:
        objects = decode_documents(text)
    except DecodeError:
        return
    assert all(isinstance(o, dict) for o in objects)


_yamlish = st.lists(
    st.sampled_from(
        [
            "a: 1\n",
            "- x\n",
            "  b: [1, {c: d}]\n",
            "---\n",
            "k: &a v\n",
            "r: *a\n",
            "'q\n",
            "{",
            "}",
            "[",
            ": :\n",
            "\t",
            "? k\n",
            "!!set {a}\n",
            "<<: *a\n",
            "kind: List\n",
            "items: 3\n",
            "x: .inf\n",
            "%YAML 1.1\n",
            "\x00",
            "\ufeff",
            "# c\n",
            "items:\n",
        ]
    ),
    max_size=12,
).map("".join)


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(_yamlish)
def test_yaml_like_text_only_raises_decode_error(text: str) -> None:
    """YAML-shaped fragments in any order raise DecodeError or decode to objects."""
    try:
        objects = decode_documents(text)
    except DecodeError:
        return
    assert all(isinstance(o, dict) for o in objects)
    for obj in objects:
        assert decode_documents(to_json(obj)) == [obj]


def test_non_object_document_is_located() -> None:
    """The error for a non-object document names its line."""
    with pytest.raises(DecodeError) as caught:
        decode_documents("kind: Pod\n---\n- a\n", source="x.yaml")
    assert str(caught.value) == "x.yaml:3:1: document 2 is a list, expected an object"


def test_duplicate_keys_are_an_error() -> None:
    """A key written twice is reported where it repeats, not silently overridden."""
    text = "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: x\n    image: y\n"
    with pytest.raises(DecodeError) as caught:
        decode_documents(text, source="p.yaml")
    assert str(caught.value) == 'p.yaml:6:5: key "image" already set in map'


def test_merge_keys_may_be_overridden() -> None:
    """`<<` merges, and a key written after it wins (that is not a duplicate)."""
    text = "base: &b {a: 1, b: 2}\nobj:\n  <<: *b\n  b: 3\n"
    (obj,) = decode_documents(text)
    assert obj["obj"] == {"a": 1, "b": 3}
