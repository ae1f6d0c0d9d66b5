"""Label selectors (matchLabels/matchExpressions and the `a=b,c in (d),!e` string form of
`-l` and `labelSelector=`) and field selectors (`spec.nodeName=n1`). Pure.

LabelSelector.from_dict(None) selects nothing and `{}` selects everything, as
metav1.LabelSelectorAsSelector. Errors are ValueErrors that name the bad term.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from nodeagent.api import names
from nodeagent.api.bodies import Obj

# The string operators and how each matches (rules as data).
SET_OPS = frozenset({"in", "notin"})
EQUAL_OPS = frozenset({"=", "=="})
# matchExpressions operator -> string operator.
EXPRESSION_OPS: dict[str, str] = {
    "In": "in",
    "NotIn": "notin",
    "Exists": "exists",
    "DoesNotExist": "!",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """One term: key, operator ("=", "==", "!=", "in", "notin", "exists", "!", ">", "<"),
    sorted values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "=" | "==" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
            case ">" | "<":
                return present and _compare(value, self.values[0], self.operator)
        return False

    def __str__(self) -> str:
        match self.operator:
            case "exists":
                return self.key
            case "!":
                return f"!{self.key}"
            case "in" | "notin":
                return f"{self.key} {self.operator} ({','.join(self.values)})"
        return f"{self.key}{self.operator}{self.values[0]}"


def _compare(label: str | None, bound: str, op: str) -> bool:
    try:
        left, right = int(label or ""), int(bound)
    except ValueError:
        return False
    return left > right if op == ">" else left < right


def _requirement(key: str, operator: str, values: Collection[str]) -> Requirement:
    """Checked constructor (labels.NewRequirement): key and value syntax, value counts."""
    key_errs = names.qualified_name(key)
    if key_errs:
        raise ValueError(f"invalid label key {key!r}: {'; '.join(key_errs)}")
    if operator in SET_OPS and not values:
        raise ValueError(f"for 'in', 'notin' operators, values set can't be empty: {key!r}")
    if operator in EQUAL_OPS | {"!="} and len(values) != 1:
        raise ValueError(f"exact-match compatibility requires one single value: {key!r}")
    if operator in ("exists", "!") and values:
        raise ValueError(f"values set must be empty for exists and does not exist: {key!r}")
    if operator in (">", "<"):
        if len(values) != 1 or not re.fullmatch(r"-?[0-9]+", next(iter(values))):
            raise ValueError(f"for 'Gt', 'Lt' operators, exactly one integer value: {key!r}")
    else:
        for value in values:
            value_errs = names.label_value(value)
            if value_errs:
                raise ValueError(f"invalid label value {value!r} for key {key!r}")
    return Requirement(key=key, operator=operator, values=tuple(sorted(set(values))))


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False  # from a nil selector: matches no object at all

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def from_dict(cls, sel: Obj | None) -> LabelSelector:
        """A metav1.LabelSelector: matchLabels and matchExpressions, ANDed."""
        if sel is None:
            return cls(nothing=True)
        if not isinstance(sel, dict):
            raise ValueError(f"a label selector must be an object, not {type(sel).__name__}")
        reqs: list[Requirement] = []
        match_labels = sel.get("matchLabels")
        match_labels = {} if match_labels is None else match_labels
        if not isinstance(match_labels, dict):
            raise ValueError("matchLabels must be an object")
        for key, value in match_labels.items():
            if not isinstance(value, str):
                raise ValueError(f"matchLabels value for {key!r} must be a string")
            reqs.append(_requirement(key, "=", [value]))
        expressions = sel.get("matchExpressions")
        expressions = [] if expressions is None else expressions
        if not isinstance(expressions, list):
            raise ValueError("matchExpressions must be a list")
        for expr in expressions:
            if not isinstance(expr, dict):
                raise ValueError("each matchExpressions entry must be an object")
            op = expr.get("operator")
            if op not in EXPRESSION_OPS:
                raise ValueError(f"{op!r} is not a valid label selector operator")
            values = expr.get("values") or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"values of {expr.get('key')!r} must be a list of strings")
            key = expr.get("key")
            if not isinstance(key, str):
                raise ValueError("matchExpressions key must be a string")
            reqs.append(_requirement(key, EXPRESSION_OPS[op], values))
        return cls(requirements=tuple(sorted(reqs, key=lambda r: r.key)))

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """The string form (`a=b,a==b,a!=b,a in (x,y),a notin (x),a,!a`); "" selects all."""
        return cls(requirements=tuple(sorted(_Parser(text).parse(), key=lambda r: r.key)))

    @property
    def empty(self) -> bool:
        """Selects everything (no requirements)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def to_dict(self) -> Obj | None:
        """Back to matchLabels/matchExpressions (None for the select-nothing selector)."""
        if self.nothing:
            return None
        labels: dict[str, str] = {}
        exprs: list[Obj] = []
        inverse = {v: k for k, v in EXPRESSION_OPS.items()}
        for r in self.requirements:
            if r.operator in EQUAL_OPS and r.key not in labels:
                labels[r.key] = r.values[0]
            elif r.operator in EQUAL_OPS | {"!="}:
                op = "NotIn" if r.operator == "!=" else "In"
                exprs.append({"key": r.key, "operator": op, "values": list(r.values)})
            elif r.operator in inverse:
                expr: Obj = {"key": r.key, "operator": inverse[r.operator]}
                if r.values:
                    expr["values"] = list(r.values)
                exprs.append(expr)
            else:
                raise ValueError(f"{str(r)!r} has no matchExpressions form")
        out: Obj = {}
        if labels:
            out["matchLabels"] = labels
        if exprs:
            out["matchExpressions"] = exprs
        return out


_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


class _Parser:
    """A recursive-descent parser over the tokens of a selector string (labels.Parse)."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ValueError("a label selector must be a string")
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            found = _TOKEN.match(text, pos)
            if found is None:  # pragma: no cover - the pattern accepts every non-space char
                raise ValueError(f"unable to parse requirement: {text!r}")
            self.tokens.append(found.group(1))
            pos = found.end()
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError(f"unexpected end of selector: {self.text!r}")
        self.pos += 1
        return token

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        if self._peek() is None:
            return reqs
        while True:
            reqs.append(self._requirement())
            token = self._peek()
            if token is None:
                return reqs
            if token != ",":
                raise ValueError(f"found {token!r}, expected ',' or end, in {self.text!r}")
            self.pos += 1

    def _identifier(self, what: str) -> str:
        token = self._next()
        if token in ("!=", "==", "=", "!", "(", ")", ",", ">", "<"):
            raise ValueError(f"found {token!r}, expected {what}, in {self.text!r}")
        return token

    def _requirement(self) -> Requirement:
        if self._peek() == "!":
            self.pos += 1
            return _requirement(self._identifier("a key"), "!", [])
        key = self._identifier("a key")
        op = self._peek()
        if op is None or op == ",":
            return _requirement(key, "exists", [])
        self.pos += 1
        if op in ("in", "notin"):
            return _requirement(key, op, self._set())
        if op in ("=", "==", "!=", ">", "<"):
            value = self._peek()
            if value is None or value == ",":
                return _requirement(key, op, [""])
            return _requirement(key, op, [self._identifier("a value")])
        raise ValueError(f"found {op!r}, expected an operator after {key!r}, in {self.text!r}")

    def _set(self) -> list[str]:
        if self._next() != "(":
            raise ValueError(f"expected '(' after in/notin, in {self.text!r}")
        values: list[str] = []
        expect_value = True
        while True:
            token = self._next()
            if token == ")":
                if expect_value and values:
                    values.append("")
                return values
            if token == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if not expect_value or token in ("!=", "==", "=", "!", "(", ">", "<"):
                raise ValueError(f"found {token!r} in a value list, in {self.text!r}")
            values.append(token)
            expect_value = False


# Field selector paths each kind supports (a union: the store checks the kind it serves).
SUPPORTED_FIELDS: frozenset[str] = frozenset(
    {
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "spec.unschedulable",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldTerm:
    field: str
    operator: str  # "=", "==", "!="
    value: str


def field_value(obj: Obj, path: str) -> str:
    """An object's field as a field selector compares it (missing -> "")."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if path == "source" and isinstance(value, dict):
        value = value.get("component")
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _unescape(text: str, term: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt not in ("\\", ",", "="):
                raise ValueError(f"invalid field selector term {term!r}: bad escape")
            out.append(nxt)
        elif ch in ",=":
            raise ValueError(f"invalid field selector term {term!r}: unescaped {ch!r}")
        else:
            out.append(ch)
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSelector:
    terms: tuple[FieldTerm, ...] = ()

    @classmethod
    def parse(cls, text: str, *, allowed: Collection[str] = SUPPORTED_FIELDS) -> FieldSelector:
        """`f=v,f==v,f!=v`; values may escape `\\,` `\\=` `\\\\`. ValueError names the term."""
        if not isinstance(text, str):
            raise ValueError("a field selector must be a string")
        terms: list[FieldTerm] = []
        for raw in _split_terms(text):
            term = raw.strip()
            found = re.search(r"!=|==|=", term)
            if found is None:
                raise ValueError(f"invalid selector: {term!r}; can't understand {term!r}")
            field = term[: found.start()].strip()
            if field not in allowed:
                raise ValueError(f"field label not supported: {field}")
            value = _unescape(term[found.end() :], term)
            terms.append(FieldTerm(field=field, operator=found.group(0), value=value))
        return cls(terms=tuple(terms))

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: Obj) -> bool:
        for term in self.terms:
            equal = field_value(obj, term.field) == term.value
            if equal == (term.operator == "!="):
                return False
        return True

    def value_for(self, field: str) -> str | None:
        """The value the selector pins field to with `=`/`==` (for an index lookup)."""
        for term in self.terms:
            if term.field == field and term.operator != "!=":
                return term.value
        return None

    def __str__(self) -> str:
        def esc(v: str) -> str:
            return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")

        return ",".join(f"{t.field}{t.operator}{esc(t.value)}" for t in self.terms)
