"""Label selectors (object and string forms) and field selectors match as Kubernetes does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeagent.api.selectors import FieldSelector, LabelSelector

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        pytest.param("", True, id="empty-selects-all"),
        pytest.param("app=web", True, id="equals"),
        pytest.param("app==web", True, id="double-equals"),
        pytest.param("app!=web", False, id="not-equals"),
        pytest.param("missing!=x", True, id="not-equals-absent"),
        pytest.param("app in (web,db)", True, id="in"),
        pytest.param("app notin (web)", False, id="notin"),
        pytest.param("missing notin (x)", True, id="notin-absent"),
        pytest.param("app", True, id="exists"),
        pytest.param("!app", False, id="does-not-exist"),
        pytest.param("!missing", True, id="absent"),
        pytest.param("app=web,tier=back", False, id="anded"),
        pytest.param("app=web, tier in (front) ,!x", True, id="spaces"),
        pytest.param("version>2", True, id="greater"),
        pytest.param("version<3", False, id="less"),
        pytest.param("app=", False, id="empty-value"),
    ],
)
def test_string_form_matches(text: str, matches: bool) -> None:
    """The `-l` syntax selects as labels.Parse does."""
    assert LabelSelector.parse(text).matches(LABELS) is matches


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("a in ()", "can't be empty", id="empty-set"),
        pytest.param("a b", "expected an operator", id="two-words"),
        pytest.param("=a", "expected a key", id="no-key"),
        pytest.param("a=b=c", "expected ','", id="double-operator"),
        pytest.param("a in (x", "unexpected end", id="unclosed"),
        pytest.param("x_/y=1", "invalid label key", id="bad-key"),
        pytest.param("a=b c", "expected ','", id="space-in-value"),
        pytest.param("a>x", "integer", id="gt-not-int"),
    ],
)
def test_string_form_errors_name_the_term(text: str, fragment: str) -> None:
    """A malformed selector is a ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=fragment):
        LabelSelector.parse(text)


@pytest.mark.parametrize(
    ("sel", "matches"),
    [
        pytest.param({}, True, id="empty-object-selects-all"),
        pytest.param({"matchLabels": {"app": "web"}}, True, id="match-labels"),
        pytest.param({"matchLabels": {"app": "db"}}, False, id="match-labels-miss"),
        pytest.param(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}],
            },
            False,
            id="labels-and-expressions-anded",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]},
            True,
            id="notin",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True, id="exists"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]},
            False,
            id="does-not-exist",
        ),
    ],
)
def test_object_form_matches(sel: dict[str, Any], matches: bool) -> None:
    """matchLabels and matchExpressions are ANDed."""
    assert LabelSelector.from_dict(sel).matches(LABELS) is matches


def test_nil_selector_selects_nothing() -> None:
    """A missing selector matches no object, unlike an empty one."""
    nothing = LabelSelector.from_dict(None)
    assert not nothing.matches(LABELS)
    assert not nothing.matches({})
    assert not nothing.empty
    assert LabelSelector.from_dict({}).empty


@pytest.mark.parametrize(
    "sel",
    [
        pytest.param({"matchExpressions": [{"key": "a", "operator": "In"}]}, id="in-no-values"),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            id="exists-with-values",
        ),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, id="bad-operator"),
        pytest.param({"matchLabels": {"a": "has space"}}, id="bad-value"),
        pytest.param({"matchLabels": []}, id="labels-not-object"),
    ],
)
def test_object_form_errors(sel: dict[str, Any]) -> None:
    """An invalid selector object is a ValueError."""
    with pytest.raises(ValueError):
        LabelSelector.from_dict(sel)


def test_to_dict_round_trips_object_form() -> None:
    """An object selector survives from_dict -> to_dict -> from_dict."""
    sel = {
        "matchLabels": {"name": "fluentd"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
    }
    parsed = LabelSelector.from_dict(sel)
    assert parsed.to_dict() == sel
    assert str(parsed) == "name=fluentd,tier in (a,b)"


_ALNUM = "abcXYZ019"
_INNER = _ALNUM + "-_."
_name = st.builds(
    lambda first, middle, last: first + middle + last if middle or last else first,
    st.sampled_from(_ALNUM),
    st.text(_INNER, max_size=5),
    st.sampled_from(["", *_ALNUM]),
)
_name = _name.filter(lambda n: n[-1] in _ALNUM)
_prefix = st.sampled_from(["", "example.com/", "k8s.io/", "a-b/"])
_key = st.builds(lambda p, n: p + n, _prefix, _name)
_nonempty_value = _name
_value = st.one_of(st.just(""), _name)
_term = st.one_of(
    st.builds(lambda k, o, v: f"{k}{o}{v}", _key, st.sampled_from(["=", "==", "!="]), _value),
    st.builds(
        lambda k, o, vs: f"{k} {o} ({','.join(vs)})",
        _key,
        st.sampled_from(["in", "notin"]),
        st.lists(_nonempty_value, min_size=1, max_size=3),
    ),
    st.builds(lambda k: k, _key),
    st.builds(lambda k: f"!{k}", _key),
    st.builds(lambda k, n: f"{k}>{n}", _key, st.integers(-50, 50)),
)


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(st.lists(_term, max_size=5).map(",".join))
def test_string_form_round_trips(text: str) -> None:
    """str() of a parsed selector parses back to the same selector."""
    sel = LabelSelector.parse(text)
    again = LabelSelector.parse(str(sel))
    assert again == sel
    assert str(again) == str(sel)


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(st.text(max_size=40))
def test_any_string_parses_or_raises_value_error(text: str) -> None:
    """No selector text raises anything but ValueError."""
    try:
        sel = LabelSelector.parse(text)
    except ValueError:
        return
    assert LabelSelector.parse(str(sel)) == sel


POD = {
    "metadata": {"name": "p1", "namespace": "kube-system"},
    "spec": {"nodeName": "node01", "hostNetwork": True},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("spec.nodeName=node01", True, id="equals"),
        pytest.param("spec.nodeName==node02", False, id="double-equals-miss"),
        pytest.param("status.phase!=Failed", True, id="not-equals"),
        pytest.param("metadata.name=p1,metadata.namespace=kube-system", True, id="anded"),
        pytest.param("metadata.namespace=default", False, id="namespace-miss"),
        pytest.param("spec.nodeName=", False, id="empty-value"),
        pytest.param("spec.hostNetwork=true", True, id="bool-field"),
    ],
)
def test_field_selector_matches(text: str, matches: bool) -> None:
    """Field selectors compare a field's string value."""
    assert FieldSelector.parse(text).matches(POD) is matches


def test_field_selector_pins_a_value_for_the_index() -> None:
    """value_for gives the `=` value of a field, never a `!=` one."""
    sel = FieldSelector.parse("spec.nodeName=node01,status.phase!=Failed")
    assert sel.value_for("spec.nodeName") == "node01"
    assert sel.value_for("status.phase") is None
    assert sel.value_for("metadata.name") is None


def test_field_selector_escapes() -> None:
    """Backslash escapes let values hold `,` and `=`."""
    sel = FieldSelector.parse(r"metadata.name=a\,b\=c")
    assert sel.value_for("metadata.name") == "a,b=c"
    assert FieldSelector.parse(str(sel)) == sel


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("spec.nope=x", "field label not supported: spec.nope", id="unknown-field"),
        pytest.param("metadata.name", "can't understand", id="no-operator"),
        pytest.param(r"metadata.name=a\x", "bad escape", id="bad-escape"),
    ],
)
def test_field_selector_errors(text: str, fragment: str) -> None:
    """Bad field selectors are ValueErrors naming the term or field."""
    with pytest.raises(ValueError, match=fragment):
        FieldSelector.parse(text)


def test_event_involved_object_fields() -> None:
    """describe's events query (involvedObject.*) works on Events."""
    event = {"involvedObject": {"kind": "DaemonSet", "name": "ds", "uid": "u1"}}
    sel = FieldSelector.parse("involvedObject.kind=DaemonSet,involvedObject.uid=u1")
    assert sel.matches(event)


_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_selector_shaped = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": st.dictionaries(st.text(max_size=5), _junk, max_size=3) | _junk,
        "matchExpressions": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "key": _junk | _key,
                    "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt"]),
                    "values": st.lists(_junk | _value, max_size=3) | _junk,
                },
            )
            | _junk,
            max_size=3,
        )
        | _junk,
    },
)


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(_selector_shaped | _junk)
def test_from_dict_raises_only_value_error(sel: Any) -> None:
    """Any selector-shaped junk is either a selector or a ValueError."""
    try:
        parsed = LabelSelector.from_dict(sel)
    except ValueError:
        return
    parsed.matches({"a": "b"})
    if not parsed.nothing:
        assert LabelSelector.parse(str(parsed)) == parsed
