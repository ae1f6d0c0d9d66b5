"""Escalation prevention, as kube-apiserver's RBAC registry does it: does a set of rules a
user holds cover the rules it asks to grant (validation.Covers)? Pure.

A requested rule is broken into atoms (one group, one resource, one verb, one name; one URL
and one verb) and each atom must be covered by one rule held: `*` covers everything of its
list, `*/status` and `pods/*` cover `pods/status`, a rule without resourceNames covers any
names, and a nonResourceURL ending in `*` covers what starts with its prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from nodeagent.server.rbac import ALL, Rule


def breakdown(rule: Rule) -> list[Rule]:
    """BreakdownRule: the rule as single-verb, single-resource (or URL) rules."""
    out: list[Rule] = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    out += [
                        Rule(
                            verbs=(verb,),
                            api_groups=(group,),
                            resources=(resource,),
                            resource_names=(name,),
                        )
                        for name in rule.resource_names
                    ]
                else:
                    out.append(Rule(verbs=(verb,), api_groups=(group,), resources=(resource,)))
    for url in rule.non_resource_urls:
        out += [Rule(verbs=(verb,), non_resource_urls=(url,)) for verb in rule.verbs]
    return out


def _has_all(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    return ALL in owner or all(w in owner for w in wanted)


def _resource_covers(owner: Sequence[str], resource: str) -> bool:
    if ALL in owner or resource in owner:
        return True
    base, slash, sub = resource.partition("/")
    return bool(slash) and (f"*/{sub}" in owner or f"{base}/*" in owner)


def _url_covers(owner: Sequence[str], url: str) -> bool:
    return any(o == url or (o.endswith("*") and url.startswith(o[:-1])) for o in owner)


def rule_covers(owner: Rule, atom: Rule) -> bool:
    """ruleCovers: does one rule held cover one requested (broken down) rule?"""
    names = (
        not owner.resource_names
        if not atom.resource_names
        else not owner.resource_names or _has_all(owner.resource_names, atom.resource_names)
    )
    return (
        _has_all(owner.verbs, atom.verbs)
        and (not atom.api_groups or _has_all(owner.api_groups, atom.api_groups))
        and all(_resource_covers(owner.resources, r) for r in atom.resources)
        and all(_url_covers(owner.non_resource_urls, u) for u in atom.non_resource_urls)
        and names
    )


def uncovered(owner: Sequence[Rule], requested: Sequence[Rule]) -> list[Rule]:
    """The atoms of `requested` that no rule of `owner` covers ([] when all are covered)."""
    return [
        atom
        for rule in requested
        for atom in breakdown(rule)
        if not any(rule_covers(o, atom) for o in owner)
    ]


def compact(rule: Rule) -> str:
    """rbacv1helpers.CompactString: `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`."""

    def q(values: Sequence[str]) -> str:
        return "[" + " ".join(f'"{v}"' for v in values) + "]"

    parts = [
        f"{label}:{q(values)}"
        for label, values in (
            ("APIGroups", rule.api_groups),
            ("Resources", rule.resources),
            ("ResourceNames", rule.resource_names),
            ("NonResourceURLs", rule.non_resource_urls),
            ("Verbs", rule.verbs),
        )
        if values or (label == "APIGroups" and rule.resources)
    ]
    return "{" + ", ".join(parts) + "}"


def compact_rules(atoms: Sequence[Rule]) -> list[Rule]:
    """CompactRules then sorted: atoms that differ only in their verb as one rule."""
    merged: dict[tuple[tuple[str, ...], ...], list[str]] = {}
    for atom in atoms:
        key = (atom.api_groups, atom.resources, atom.resource_names, atom.non_resource_urls)
        verbs = merged.setdefault(key, [])
        verbs += [v for v in atom.verbs if v not in verbs]
    rules = [
        Rule(
            verbs=tuple(verbs),
            api_groups=groups,
            resources=resources,
            resource_names=names,
            non_resource_urls=urls,
        )
        for (groups, resources, names, urls), verbs in merged.items()
    ]
    return sorted(rules, key=compact)


def escalation_message(user: str, groups: Sequence[str], missing: Sequence[Rule]) -> str:
    """ConfirmNoEscalation's words (after `<kind> "<name>" is forbidden: `)."""
    shown = "[" + " ".join(f'"{g}"' for g in groups) + "]"
    return (
        f'user "{user}" (groups={shown}) is attempting to grant RBAC permissions not currently '
        "held:\n" + "\n".join(compact(r) for r in compact_rules(missing))
    )
