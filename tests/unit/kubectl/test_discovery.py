"""Discovery, OpenAPI and strict field checks give kubectl what it needs to map and validate."""

from __future__ import annotations

import json

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.schema import unknown_fields
from nodeagent.server.rest import discovery, openapi

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)


def _resources(doc: Obj) -> dict[str, Obj]:
    return {
        r["resource"]: r for item in doc["items"] for v in item["versions"] for r in v["resources"]
    }


class TestAggregatedDiscovery:
    def test_named_groups(self) -> None:
        """/apis lists apps/v1 daemonsets (ds, category all) and controllerrevisions, and the
        create-only reviews of authentication.k8s.io and authorization.k8s.io."""
        doc = discovery.aggregated_discovery(core=False)
        assert doc["kind"] == "APIGroupDiscoveryList"
        assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
        assert {i["metadata"]["name"] for i in doc["items"]} == {
            "apps",
            "authentication.k8s.io",
            "authorization.k8s.io",
            "coordination.k8s.io",
            "rbac.authorization.k8s.io",
        }
        sar = _resources(doc)["subjectaccessreviews"]
        assert sar["verbs"] == ["create"]
        assert sar["scope"] == "Cluster"
        assert _resources(doc)["localsubjectaccessreviews"]["scope"] == "Namespaced"
        assert _resources(doc)["selfsubjectreviews"]["responseKind"]["group"] == (
            "authentication.k8s.io"
        )
        ds = _resources(doc)["daemonsets"]
        assert ds["responseKind"] == {"group": "apps", "version": "v1", "kind": "DaemonSet"}
        assert ds["scope"] == "Namespaced"
        assert ds["shortNames"] == ["ds"]
        assert ds["categories"] == ["all"]
        assert "patch" in ds["verbs"]
        assert ds["subresources"][0]["subresource"] == "status"
        assert "controllerrevisions" in _resources(doc)

    def test_core_group(self) -> None:
        """/api has one unnamed group with pods, nodes (cluster scope), events, namespaces,
        services read-only (get, list, watch) and componentstatuses (cs: get, list)."""
        doc = discovery.aggregated_discovery(core=True)
        (item,) = doc["items"]
        assert item["metadata"] == {}
        resources = _resources(doc)
        assert set(resources) == {
            "pods",
            "nodes",
            "events",
            "namespaces",
            "services",
            "configmaps",
            "secrets",
            "serviceaccounts",
            "componentstatuses",
        }
        assert resources["componentstatuses"]["verbs"] == ["get", "list"]
        assert resources["componentstatuses"]["shortNames"] == ["cs"]
        assert resources["services"]["verbs"] == ["get", "list", "watch"]
        assert resources["serviceaccounts"]["shortNames"] == ["sa"]
        (token,) = resources["serviceaccounts"]["subresources"]
        assert token == {
            "subresource": "token",
            "responseKind": {
                "group": "authentication.k8s.io",
                "version": "v1",
                "kind": "TokenRequest",
            },
            "verbs": ["create"],
        }
        assert resources["nodes"]["scope"] == "Cluster"
        assert resources["pods"]["shortNames"] == ["po"]
        exec_sub = next(s for s in resources["pods"]["subresources"] if s["subresource"] == "exec")
        assert exec_sub["responseKind"]["kind"] == "PodExecOptions"

    @pytest.mark.parametrize(
        ("accept", "wanted"),
        [
            (KUBECTL_ACCEPT, "v2"),
            (
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
                "v2beta1",
            ),
            ("application/json, */*", None),
            ("", None),
            ("application/json;g=apidiscovery.k8s.io;v=v9;as=APIGroupDiscoveryList", None),
        ],
        ids=["kubectl", "v2beta1", "plain", "none", "unknown-version"],
    )
    def test_accept_negotiation(self, accept: str, wanted: str | None) -> None:
        """Aggregated discovery only when asked for, in the version asked for."""
        assert discovery.aggregated_version_wanted(accept) == wanted


class TestLegacyDiscovery:
    def test_api_versions_and_groups(self) -> None:
        """APIVersions for /api, APIGroupList for /apis."""
        assert discovery.api_versions()["versions"] == ["v1"]
        groups = discovery.api_group_list()["groups"]
        apps = next(g for g in groups if g["name"] == "apps")
        assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
        assert "kind" not in apps
        group = discovery.api_group("coordination.k8s.io")
        assert group["kind"] == "APIGroup"
        assert group["versions"] == [{"groupVersion": "coordination.k8s.io/v1", "version": "v1"}]

    def test_resource_list_has_subresources(self) -> None:
        """APIResourceList names subresources as `pods/status`, `pods/log`, `pods/exec`."""
        doc = discovery.api_resource_list("", "v1")
        assert doc["groupVersion"] == "v1"
        names = {r["name"]: r for r in doc["resources"]}
        assert names["pods"]["namespaced"] is True
        assert names["nodes"]["namespaced"] is False
        assert names["pods/log"]["verbs"] == ["get"]
        assert names["pods/status"]["kind"] == "Pod"


def test_version_reports_kubernetes_minor() -> None:
    """/version carries the followed Kubernetes version, so kubectl sees no skew."""
    info = discovery.version_info()
    assert info["major"] == "1"
    assert info["minor"] == "37"
    assert info["gitVersion"].startswith("v1.37.0")


class TestOpenAPI:
    def test_root_points_at_each_group_version_with_hash(self) -> None:
        """/openapi/v3 lists api/v1, apis/apps/v1, apis/coordination.k8s.io/v1."""
        paths = openapi.v3_root()["paths"]
        assert set(paths) == {
            "api/v1",
            "apis/apps/v1",
            "apis/authentication.k8s.io/v1",
            "apis/authorization.k8s.io/v1",
            "apis/coordination.k8s.io/v1",
            "apis/rbac.authorization.k8s.io/v1",
        }
        _, digest = openapi.v3_document("apps", "v1")
        assert (
            paths["apis/apps/v1"]["serverRelativeURL"] == f"/openapi/v3/apis/apps/v1?hash={digest}"
        )

    def test_every_patch_operation_offers_field_validation(self) -> None:
        """kubectl moves validation to the server only if each PATCH lists fieldValidation."""
        for group in (("", "v1"), ("apps", "v1")):
            body, _ = openapi.v3_document(*group)
            doc = json.loads(body)
            patches = [ops["patch"] for ops in doc["paths"].values() if "patch" in ops]
            assert patches
            for op in patches:
                assert "x-kubernetes-group-version-kind" in op
                assert {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}} in (
                    op["parameters"]
                )

    def test_daemonset_schema_for_explain(self) -> None:
        """The DaemonSet schema has its GVK and a DaemonSetSpec with required selector."""
        doc = json.loads(openapi.v3_document("apps", "v1")[0])
        schemas = doc["components"]["schemas"]
        ds = schemas["io.k8s.api.apps.v1.DaemonSet"]
        assert ds["x-kubernetes-group-version-kind"] == [
            {"group": "apps", "kind": "DaemonSet", "version": "v1"}
        ]
        spec_ref = ds["properties"]["spec"]["allOf"][0]["$ref"]
        assert spec_ref == "#/components/schemas/io.k8s.api.apps.v1.DaemonSetSpec"
        spec = schemas["io.k8s.api.apps.v1.DaemonSetSpec"]
        assert spec["required"] == ["selector", "template"]
        assert "io.k8s.api.core.v1.Container" in schemas
        assert "io.k8s.apimachinery.pkg.util.intstr.IntOrString" in schemas
        refs = json.dumps(doc).count("#/components/schemas/")
        assert refs > 0
        for name in json.dumps(doc).split('"#/components/schemas/')[1:]:
            assert name.split('"', 1)[0] in schemas, "every $ref resolves"


class TestUnknownFields:
    def _ds(self) -> Obj:
        return {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "x", "labels": {"anything.io/goes": "1"}},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {
                        "nodeSelector": {"free": "keys"},
                        "containers": [
                            {
                                "name": "c",
                                "image": "i",
                                "resources": {"limits": {"memory": "200Mi"}},
                                "securityContext": {"privileged": True},
                            }
                        ],
                        "volumes": [{"name": "v", "hostPath": {"path": "/var/log"}}],
                    },
                },
            },
        }

    def test_a_valid_manifest_has_none(self) -> None:
        """Free-form maps (labels, nodeSelector, limits) never count as unknown."""
        assert unknown_fields(self._ds()) == []

    def test_typos_are_reported_with_paths(self) -> None:
        """`spec.replicas` and a misspelt container field are named with their paths."""
        ds = self._ds()
        ds["spec"]["replicas"] = 3
        ds["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
        ds["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["pth"] = "/x"
        assert sorted(unknown_fields(ds)) == [
            "spec.replicas",
            "spec.template.spec.containers[0].imagee",
            "spec.template.spec.volumes[0].hostPath.pth",
        ]

    def test_controller_revision_data_is_free_form(self) -> None:
        """A ControllerRevision's data holds any patch."""
        cr = {"kind": "ControllerRevision", "revision": 1, "data": {"spec": {"x": {"$patch": 1}}}}
        assert unknown_fields(cr) == []

    def test_node_and_pod(self) -> None:
        """Node taints and pod specs are checked too; unknown kinds are not."""
        node = {"kind": "Node", "spec": {"taints": [{"key": "k", "effect": "NoSchedule", "x": 1}]}}
        assert unknown_fields(node) == ["spec.taints[0].x"]
        pod = {"kind": "Pod", "spec": {"containers": [{"name": "c"}], "nodename": "n"}}
        assert unknown_fields(pod) == ["spec.nodename"]
        assert unknown_fields({"kind": "Widget", "x": 1}) == []


def test_openapi_publishes_patch_strategies() -> None:
    """kubectl's client-side apply reads merge keys from OpenAPI: they match the server's."""
    schemas = json.loads(openapi.v3_document("apps", "v1")[0])["components"]["schemas"]
    pod_spec = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]
    assert pod_spec["containers"]["x-kubernetes-patch-merge-key"] == "name"
    assert pod_spec["containers"]["x-kubernetes-patch-strategy"] == "merge"
    assert pod_spec["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert "x-kubernetes-patch-strategy" not in pod_spec["tolerations"]
    mounts = schemas["io.k8s.api.core.v1.Container"]["properties"]["volumeMounts"]
    assert mounts["x-kubernetes-patch-merge-key"] == "mountPath"


def test_reviews_are_documented_create_only() -> None:
    """A review's document has its create (POST) and schema (kubectl explain), and no list,
    read or patch it does not serve."""
    doc = json.loads(openapi.v3_document("authorization.k8s.io", "v1")[0])
    paths = doc["paths"]
    sar = paths["/apis/authorization.k8s.io/v1/subjectaccessreviews"]
    assert set(sar) == {"post"}
    local = paths["/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews"]
    assert set(local) == {"post", "parameters"}
    assert "/apis/authorization.k8s.io/v1/localsubjectaccessreviews" not in paths
    spec = doc["components"]["schemas"]["io.k8s.api.authorization.v1.SubjectAccessReviewSpec"]
    assert {"user", "groups", "resourceAttributes", "nonResourceAttributes"} <= set(
        spec["properties"]
    )
