"""PURE: kube-apiserver's ServiceAccount admission of a pod create, and the default account.

- A pod (not a mirror pod) with no spec.serviceAccountName runs as `default`
  (spec.serviceAccount mirrors it, as the v1 conversion does); its ServiceAccount must exist:
  otherwise the create is refused with `error looking up service account NS/NAME:
  serviceaccount "NAME" not found`, which a DaemonSet's FailedCreate event then carries.
- A mirror pod's spec is left alone (kubelet would delete a mirror pod that differs from its
  static pod) and may not name a ServiceAccount.
- Every namespace has a ServiceAccount `default` (kube-controller-manager's serviceaccounts
  controller): `default_account(namespace)` is the object made.
The token volume (`kube-api-access-XXXXX`) is tokenvolume.py's, added in the same step.
The registry reads the ServiceAccount; this module decides.
"""

from __future__ import annotations

from nodeagent.api import serviceaccounts
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import Forbidden
from nodeagent.api.meta import is_mirror_pod


def _map(value: object) -> Obj:
    return value if isinstance(value, dict) else {}


def account_to_check(pod: Obj) -> str | None:
    """Default the pod's ServiceAccount (in place) and return the name whose ServiceAccount
    must exist; None for a mirror pod (nothing to look up)."""
    if is_mirror_pod(pod):
        return None
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return None  # validation reports it
    name = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if not isinstance(name, str) or not name:
        name = serviceaccounts.DEFAULT_NAME
    spec["serviceAccountName"] = name
    spec["serviceAccount"] = name
    return name


def _pod_name(pod: Obj) -> str:
    meta = _map(pod.get("metadata"))
    return str(meta.get("name") or meta.get("generateName") or "Unknown")


def refuse(pod: Obj, *, namespace: str, account: str, reason: str) -> Forbidden:
    """admission.NewForbidden for the pod (its generateName when it has no name yet)."""
    name = _pod_name(pod)
    return Forbidden(
        f'pods "{name}" is forbidden: error looking up service account {namespace}/{account}: '
        f"{reason}",
        name=name,
        kind="pods",
    )


def missing(pod: Obj, *, namespace: str, account: str) -> Forbidden:
    return refuse(
        pod, namespace=namespace, account=account, reason=f'serviceaccount "{account}" not found'
    )


def mirror_refusal(pod: Obj) -> Forbidden | None:
    """A mirror pod may not reference a ServiceAccount (the plugin's Validate)."""
    if not is_mirror_pod(pod):
        return None
    spec = _map(pod.get("spec"))
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        name = _pod_name(pod)
        return Forbidden(
            f'pods "{name}" is forbidden: a mirror pod may not reference service accounts',
            name=name,
            kind="pods",
        )
    return None


def default_account(namespace: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": serviceaccounts.DEFAULT_NAME, "namespace": namespace},
    }
