"""The RBAC authorizer (rbac.authorization.k8s.io/v1) as pure functions over an index.

`Policy.build(roles, cluster_roles, role_bindings, cluster_role_bindings)` compiles the stored
objects into an index: rules per role, and bindings per subject (a user name, a group, a
ServiceAccount), so a decision looks up only the bindings of the caller's name and groups,
never scans them all. `Policy.allows(subject, request)` answers as kube-apiserver's
RBACAuthorizer: a ClusterRoleBinding grants everywhere, a RoleBinding only in its namespace;
a rule matches with `*` wildcards for verbs, groups and resources, `*/sub` and `res/*`
subresources, resourceNames (a request without a name never matches a rule that lists
names), and nonResourceURLs with a trailing `*` prefix. `rules_for` gives what a subject may
do in a namespace (SelfSubjectRulesReview, escalation checks). Nothing here reads the store:
server/rbacindex.py keeps a Policy current from watches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nodeagent.api.bodies import Obj
from nodeagent.api.meta import name_of, namespace_of

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ALL = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One PolicyRule, with its lists as tuples (kept in order for display)."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @staticmethod
    def of(rule: Obj) -> Rule:
        def strings(key: str) -> tuple[str, ...]:
            value = rule.get(key)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return Rule(
            verbs=strings("verbs"),
            api_groups=strings("apiGroups"),
            resources=strings("resources"),
            resource_names=strings("resourceNames"),
            non_resource_urls=strings("nonResourceURLs"),
        )

    def as_obj(self) -> Obj:
        """The rule as a PolicyRule (empty lists left out, as Go's omitempty)."""
        out: Obj = {"verbs": list(self.verbs)}
        for key, values in (
            ("apiGroups", self.api_groups),
            ("resources", self.resources),
            ("resourceNames", self.resource_names),
            ("nonResourceURLs", self.non_resource_urls),
        ):
            if values:
                out[key] = list(values)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """Who asks: a user name and its groups (authentication's answer)."""

    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One request as RBAC sees it: a resource request, or a non-resource `path`."""

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # set for a non-resource request (/metrics, /api, /healthz ...)

    @property
    def is_resource(self) -> bool:
        return not self.path


def _verb_matches(rule: Rule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def _resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for allowed in rule.resources:
        if allowed in (ALL, combined):
            return True
        if subresource and allowed == f"*/{subresource}":
            return True
    return False


def _url_matches(rule: Rule, path: str) -> bool:
    for allowed in rule.non_resource_urls:
        if allowed in (ALL, path):
            return True
        if allowed.endswith("*") and path.startswith(allowed[:-1]):
            return True
    return False


def rule_allows(rule: Rule, request: Request) -> bool:
    """RuleAllows: does this one rule allow the request?"""
    if not _verb_matches(rule, request.verb):
        return False
    if not request.is_resource:
        return _url_matches(rule, request.path)
    return (
        (ALL in rule.api_groups or request.api_group in rule.api_groups)
        and _resource_matches(rule, request.resource, request.subresource)
        and (not rule.resource_names or request.name in rule.resource_names)
    )


# A binding's subject as an index key: ("User", name), ("Group", name), ("ServiceAccount",
# "ns:name"); what a Subject is, as the same keys: subject_keys().
Key = tuple[str, str]
RoleKey = tuple[str, str]  # ("ClusterRole", name) or ("Role", "namespace/name")


def subject_keys(subject: Subject) -> tuple[Key, ...]:
    keys: list[Key] = [("User", subject.name)]
    keys += [("Group", g) for g in subject.groups]
    if subject.name.startswith(SERVICE_ACCOUNT_PREFIX):
        keys.append(("ServiceAccount", subject.name[len(SERVICE_ACCOUNT_PREFIX) :]))
    return tuple(keys)


def _binding_keys(binding: Obj, default_namespace: str) -> list[Key]:
    out: list[Key] = []
    for s in binding.get("subjects") or []:
        if not isinstance(s, dict):
            continue
        kind, name = str(s.get("kind") or ""), str(s.get("name") or "")
        if kind == "ServiceAccount":
            out.append((kind, f"{s.get('namespace') or default_namespace}:{name}"))
        elif kind in ("User", "Group"):
            out.append((kind, name))
    return out


def _role_key(binding: Obj, namespace: str) -> RoleKey | None:
    ref = binding.get("roleRef")
    if not isinstance(ref, dict):
        return None
    kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
    if kind == "ClusterRole":
        return ("ClusterRole", name)
    if kind == "Role" and namespace:
        return ("Role", f"{namespace}/{name}")
    return None


def _rules(role: Obj) -> tuple[Rule, ...]:
    return tuple(Rule.of(r) for r in role.get("rules") or [] if isinstance(r, dict))


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """The compiled roles and bindings: look-ups by subject key, never a scan."""

    roles: Mapping[RoleKey, tuple[Rule, ...]] = field(default_factory=dict)
    # subject key -> the roles its ClusterRoleBindings grant
    cluster_grants: Mapping[Key, tuple[RoleKey, ...]] = field(default_factory=dict)
    # (namespace, subject key) -> the roles its RoleBindings there grant
    namespace_grants: Mapping[tuple[str, Key], tuple[RoleKey, ...]] = field(default_factory=dict)

    @staticmethod
    def build(
        *,
        roles: Iterable[Obj] = (),
        cluster_roles: Iterable[Obj] = (),
        role_bindings: Iterable[Obj] = (),
        cluster_role_bindings: Iterable[Obj] = (),
    ) -> Policy:
        compiled: dict[RoleKey, tuple[Rule, ...]] = {}
        for role in cluster_roles:
            compiled[("ClusterRole", name_of(role))] = _rules(role)
        for role in roles:
            compiled[("Role", f"{namespace_of(role)}/{name_of(role)}")] = _rules(role)
        cluster: dict[Key, list[RoleKey]] = {}
        for binding in cluster_role_bindings:
            role_key = _role_key(binding, "")
            if role_key is not None:
                for key in _binding_keys(binding, ""):
                    cluster.setdefault(key, []).append(role_key)
        local: dict[tuple[str, Key], list[RoleKey]] = {}
        for binding in role_bindings:
            ns = namespace_of(binding)
            role_key = _role_key(binding, ns)
            if role_key is not None:
                for key in _binding_keys(binding, ns):
                    local.setdefault((ns, key), []).append(role_key)
        return Policy(
            roles=compiled,
            cluster_grants={k: tuple(v) for k, v in cluster.items()},
            namespace_grants={k: tuple(v) for k, v in local.items()},
        )

    def _granted(self, subject: Subject, namespace: str) -> list[RoleKey]:
        keys = subject_keys(subject)
        out: list[RoleKey] = []
        for key in keys:
            out += self.cluster_grants.get(key, ())
        if namespace:
            for key in keys:
                out += self.namespace_grants.get((namespace, key), ())
        return out

    def rules_for(self, subject: Subject, namespace: str = "") -> list[Rule]:
        """Every rule that applies to `subject` in `namespace` ("": cluster-wide only), from
        ClusterRoleBindings first, then the namespace's RoleBindings; duplicates once."""
        seen: set[Rule] = set()
        out: list[Rule] = []
        for role_key in dict.fromkeys(self._granted(subject, namespace)):
            for rule in self.roles.get(role_key, ()):
                if rule not in seen:
                    seen.add(rule)
                    out.append(rule)
        return out

    def allows(self, subject: Subject, request: Request) -> bool:
        """Whether some rule bound to `subject` allows `request` (a RoleBinding only counts in
        the request's namespace; a non-resource request only by ClusterRoleBindings)."""
        namespace = request.namespace if request.is_resource else ""
        for role_key in self._granted(subject, namespace):
            for rule in self.roles.get(role_key, ()):
                if rule_allows(rule, request):
                    return True
        return False

    def role_rules(self, kind: str, namespace: str, name: str) -> tuple[Rule, ...] | None:
        """The rules of one role (None when it does not exist)."""
        key: RoleKey = (
            ("ClusterRole", name) if kind == "ClusterRole" else ("Role", f"{namespace}/{name}")
        )
        return self.roles.get(key)


EMPTY = Policy()
