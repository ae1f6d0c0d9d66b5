"""What an aggregated ClusterRole's rules should be (kube-controller-manager's
clusterrole-aggregation controller): the rules of every other ClusterRole its
aggregationRule's selectors match, by name order, each rule once. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from nodeagent.api.bodies import Obj
from nodeagent.api.meta import name_of
from nodeagent.api.selectors import LabelSelector


def selectors_of(role: Obj) -> list[LabelSelector] | None:
    """The role's clusterRoleSelectors; None when it is not aggregated."""
    rule = role.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    out: list[LabelSelector] = []
    for s in rule.get("clusterRoleSelectors") or []:
        try:
            out.append(LabelSelector.from_dict(s))
        except ValueError:  # validation refuses these; a stored one selects nothing
            continue
    return out


def aggregated_rules(role: Obj, cluster_roles: Iterable[Obj]) -> list[Obj] | None:
    """The rules `role` should hold, or None when it has no aggregationRule. A selector that
    matches nothing adds nothing; the role never aggregates itself."""
    selectors = selectors_of(role)
    if selectors is None:
        return None
    others = sorted(cluster_roles, key=name_of)
    rules: list[Obj] = []
    for selector in selectors:
        for other in others:
            labels = (other.get("metadata") or {}).get("labels") or {}
            if name_of(other) == name_of(role) or not selector.matches(labels):
                continue
            for rule in other.get("rules") or []:
                if rule not in rules:
                    rules.append(rule)
    return rules
