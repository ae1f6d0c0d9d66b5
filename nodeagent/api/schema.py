"""The fields of the served kinds as data: name -> type and a short description (from the
Kubernetes API reference), for strict field validation and for the OpenAPI documents.

Pure. A type is a name in TYPES, `[]T` (list), `map[string]T` (map with free keys), or a
primitive: string, integer, number, boolean, time, quantity, int-or-string, bytes (base64),
object (anything). ConfigMap, Secret and the pod fields that reference them: schemaconfig.py;
the RBAC kinds: schemarbac.py.
Rarely written sub-structures are `object` (free-form) so that valid manifests are never
refused: strict validation here catches typos in the fields users write, not every depth.
"""

from __future__ import annotations

from typing import Any

from nodeagent.api.schemaaccounts import ACCOUNT_TYPES
from nodeagent.api.schemabase import (
    APPS,
    COORD,
    CORE,
    META,
    STR_MAP,
    F,
    Type,
)
from nodeagent.api.schemabase import TYPE_META as _TYPE_META
from nodeagent.api.schemaconfig import CONFIG_TYPES
from nodeagent.api.schemarbac import RBAC_TYPES
from nodeagent.api.schemareviews import REVIEW_TYPES

TYPES: dict[str, Type] = {
    # ------------------------------------------------------------ meta
    "ObjectMeta": Type(
        package=META,
        description="Metadata that all persisted resources must have.",
        fields={
            "name": F("string", "Name must be unique within a namespace."),
            "generateName": F("string", "Prefix used to generate a unique name."),
            "namespace": F("string", "The namespace the object belongs to."),
            "uid": F("string", "UID is the unique in time and space value for this object."),
            "resourceVersion": F("string", "The internal version of this object."),
            "generation": F("integer", "A sequence number for the desired state."),
            "creationTimestamp": F("time", "When this object was created."),
            "deletionTimestamp": F("time", "When this object will be deleted."),
            "deletionGracePeriodSeconds": F("integer", "Seconds allowed to terminate."),
            "labels": F(STR_MAP, "Map of string keys and values to organize and select objects."),
            "annotations": F(STR_MAP, "Unstructured key value map set by external tools."),
            "ownerReferences": F("[]OwnerReference", "Objects this object depends on."),
            "finalizers": F("[]string", "Must be empty before the object is deleted."),
            "managedFields": F("[]object", "Which workflow manages which fields."),
            "selfLink": F("string", "Deprecated; not set."),
        },
    ),
    "OwnerReference": Type(
        package=META,
        description="Identifies an owning object.",
        fields={
            "apiVersion": F("string", "API version of the referent.", required=True),
            "kind": F("string", "Kind of the referent.", required=True),
            "name": F("string", "Name of the referent.", required=True),
            "uid": F("string", "UID of the referent.", required=True),
            "controller": F(
                "boolean", "If true, this reference points to the managing controller."
            ),
            "blockOwnerDeletion": F("boolean", "The owner cannot be deleted before this object."),
        },
    ),
    "LabelSelector": Type(
        package=META,
        description="A label query over a set of resources.",
        fields={
            "matchLabels": F(STR_MAP, "Pairs that must all match."),
            "matchExpressions": F("[]LabelSelectorRequirement", "Requirements, ANDed."),
        },
    ),
    "LabelSelectorRequirement": Type(
        package=META,
        description="A selector requirement: a key, an operator and values.",
        fields={
            "key": F("string", "The label key that the selector applies to.", required=True),
            "operator": F("string", "In, NotIn, Exists or DoesNotExist.", required=True),
            "values": F("[]string", "Values for In and NotIn."),
        },
    ),
    # ------------------------------------------------------------ apps
    "DaemonSet": Type(
        package=APPS,
        description="DaemonSet represents the configuration of a daemon set.",
        gvk=("apps", "v1", "DaemonSet"),
        fields={
            **_TYPE_META,
            "spec": F("DaemonSetSpec", "The desired behavior of this daemon set."),
            "status": F("DaemonSetStatus", "The current status of this daemon set."),
        },
    ),
    "DaemonSetSpec": Type(
        package=APPS,
        description="DaemonSetSpec is the specification of a daemon set.",
        fields={
            "selector": F(
                "LabelSelector",
                "A label query over pods that are managed by the daemon set. Must match in "
                "order to be controlled. It must match the pod template's labels.",
                required=True,
            ),
            "template": F(
                "PodTemplateSpec",
                "An object that describes the pod that will be created. The DaemonSet will "
                "create exactly one copy of this pod on every node that matches the template's "
                "node selector (or on every node if no node selector is specified).",
                required=True,
            ),
            "updateStrategy": F(
                "DaemonSetUpdateStrategy", "An update strategy to replace existing DaemonSet pods."
            ),
            "minReadySeconds": F(
                "integer",
                "The minimum number of seconds for which a newly created DaemonSet pod should "
                "be ready without any of its container crashing, for it to be considered "
                "available. Defaults to 0.",
            ),
            "revisionHistoryLimit": F(
                "integer", "The number of old history to retain to allow rollback. Defaults to 10."
            ),
        },
    ),
    "DaemonSetUpdateStrategy": Type(
        package=APPS,
        description="DaemonSetUpdateStrategy indicates the strategy used to replace pods.",
        fields={
            "type": F("string", 'Type of daemon set update: "RollingUpdate" or "OnDelete".'),
            "rollingUpdate": F("RollingUpdateDaemonSet", "Rolling update config params."),
        },
    ),
    "RollingUpdateDaemonSet": Type(
        package=APPS,
        description="Spec to control the desired behavior of daemon set rolling update.",
        fields={
            "maxUnavailable": F(
                "int-or-string", "Max DaemonSet pods that can be unavailable during the update."
            ),
            "maxSurge": F(
                "int-or-string",
                "Max nodes with an existing available pod that can have an "
                "updated pod during the update.",
            ),
        },
    ),
    "DaemonSetStatus": Type(
        package=APPS,
        description="DaemonSetStatus represents the current status of a daemon set.",
        fields={
            "currentNumberScheduled": F("integer", "Nodes running at least 1 daemon pod."),
            "desiredNumberScheduled": F("integer", "Nodes that should be running the pod."),
            "numberMisscheduled": F("integer", "Nodes running the pod but not supposed to."),
            "numberReady": F("integer", "Nodes that should run the pod and have it ready."),
            "updatedNumberScheduled": F("integer", "Nodes running the updated daemon pod."),
            "numberAvailable": F("integer", "Nodes with the pod running and available."),
            "numberUnavailable": F("integer", "Nodes without the pod running and available."),
            "observedGeneration": F("integer", "The most recent generation observed."),
            "collisionCount": F("integer", "Count of hash collisions for the DaemonSet."),
            "conditions": F("[]object", "Latest available observations of the state."),
        },
    ),
    "ControllerRevision": Type(
        package=APPS,
        description="An immutable snapshot of state data, used by the DaemonSet controller.",
        gvk=("apps", "v1", "ControllerRevision"),
        fields={
            **_TYPE_META,
            "data": F("object", "Data is the serialized representation of the state."),
            "revision": F(
                "integer", "The revision of the state represented by Data.", required=True
            ),
        },
    ),
    # ------------------------------------------------------------ core: pods
    "Pod": Type(
        package=CORE,
        description="Pod is a collection of containers that can run on a host.",
        gvk=("", "v1", "Pod"),
        fields={
            **_TYPE_META,
            "spec": F("PodSpec", "Specification of the desired behavior of the pod."),
            "status": F("PodStatus", "Most recently observed status of the pod."),
        },
    ),
    "PodTemplateSpec": Type(
        package=CORE,
        description="Describes the data a pod should have when created from a template.",
        fields={
            "metadata": F("ObjectMeta", "Standard object's metadata."),
            "spec": F("PodSpec", "Specification of the desired behavior of the pod."),
        },
    ),
    "PodSpec": Type(
        package=CORE,
        description="PodSpec is a description of a pod.",
        fields={
            "containers": F(
                "[]Container", "List of containers belonging to the pod.", required=True
            ),
            "initContainers": F("[]Container", "Containers run in order before the others."),
            "ephemeralContainers": F("[]object", "Ephemeral containers run in this pod."),
            "volumes": F("[]Volume", "Volumes that can be mounted by containers."),
            "nodeName": F("string", "Request to schedule this pod onto a specific node."),
            "nodeSelector": F(STR_MAP, "Labels a node must have for the pod to fit on it."),
            "affinity": F("Affinity", "The pod's scheduling constraints."),
            "tolerations": F("[]Toleration", "The pod's tolerations."),
            "restartPolicy": F("string", "Always, OnFailure or Never. Default Always."),
            "terminationGracePeriodSeconds": F(
                "integer", "Seconds the pod needs to terminate gracefully. Default 30."
            ),
            "activeDeadlineSeconds": F("integer", "Seconds the pod may be active."),
            "dnsPolicy": F("string", "DNS policy for the pod."),
            "dnsConfig": F("object", "DNS parameters of the pod."),
            "serviceAccountName": F("string", "Name of the ServiceAccount to run the pod as."),
            "serviceAccount": F("string", "Deprecated alias for serviceAccountName."),
            "automountServiceAccountToken": F("boolean", "Mount the service account token."),
            "hostNetwork": F("boolean", "Use the host's network namespace."),
            "hostPID": F("boolean", "Use the host's pid namespace."),
            "hostIPC": F("boolean", "Use the host's ipc namespace."),
            "shareProcessNamespace": F("boolean", "Share one process namespace in the pod."),
            "securityContext": F("object", "Pod-level security attributes."),
            "imagePullSecrets": F("[]object", "Secrets for pulling the images."),
            "hostname": F("string", "The pod's hostname."),
            "subdomain": F("string", "The pod's subdomain."),
            "schedulerName": F("string", "The scheduler to dispatch the pod."),
            "priorityClassName": F("string", "The pod's priority class."),
            "priority": F("integer", "The priority value."),
            "preemptionPolicy": F("string", "Policy for preempting lower priority pods."),
            "readinessGates": F("[]object", "Extra conditions for pod readiness."),
            "runtimeClassName": F("string", "The RuntimeClass to run the pod with."),
            "enableServiceLinks": F("boolean", "Inject service environment variables."),
            "hostAliases": F("[]object", "Entries for the pod's /etc/hosts."),
            "topologySpreadConstraints": F("[]object", "How pods spread across domains."),
            "overhead": F("map[string]quantity", "Resource overhead of the pod."),
            "setHostnameAsFQDN": F("boolean", "Set the hostname to the FQDN."),
            "os": F("object", "The OS of the containers in the pod."),
            "hostUsers": F("boolean", "Use the host's user namespace."),
            "schedulingGates": F("[]object", "Gates that block scheduling."),
            "resourceClaims": F("[]object", "Resource claims of the pod."),
            "resources": F("ResourceRequirements", "Pod-level resources."),
        },
    ),
    "Container": Type(
        package=CORE,
        description="A single application container that you want to run within a pod.",
        fields={
            "name": F("string", "Name of the container, a DNS_LABEL.", required=True),
            "image": F("string", "Container image name."),
            "command": F("[]string", "Entrypoint array. Not executed within a shell."),
            "args": F("[]string", "Arguments to the entrypoint."),
            "workingDir": F("string", "Container's working directory."),
            "ports": F("[]ContainerPort", "Ports to expose from the container."),
            "envFrom": F("[]EnvFromSource", "Sources to populate environment variables."),
            "env": F("[]EnvVar", "Environment variables to set in the container."),
            "resources": F("ResourceRequirements", "Compute resources required by the container."),
            "resizePolicy": F("[]object", "Resize policy for the container."),
            "restartPolicy": F("string", "Restart policy (init containers: Always)."),
            "volumeMounts": F("[]VolumeMount", "Pod volumes to mount into the filesystem."),
            "volumeDevices": F("[]object", "Block devices to be used by the container."),
            "livenessProbe": F("Probe", "Periodic probe of container liveness."),
            "readinessProbe": F("Probe", "Periodic probe of container service readiness."),
            "startupProbe": F("Probe", "Probe that the pod has successfully initialized."),
            "lifecycle": F("object", "Actions on container lifecycle events."),
            "terminationMessagePath": F("string", "File for the termination message."),
            "terminationMessagePolicy": F("string", "How the termination message is populated."),
            "imagePullPolicy": F("string", "Always, Never or IfNotPresent."),
            "securityContext": F("object", "Security options the container should run with."),
            "stdin": F("boolean", "Allocate a buffer for stdin."),
            "stdinOnce": F("boolean", "Close stdin after the first attach."),
            "tty": F("boolean", "Allocate a TTY."),
        },
    ),
    "ContainerPort": Type(
        package=CORE,
        description="A network port in a single container.",
        fields={
            "containerPort": F("integer", "Port number on the pod's IP address.", required=True),
            "hostPort": F("integer", "Port number on the host."),
            "hostIP": F("string", "Host IP to bind the external port to."),
            "name": F("string", "An IANA_SVC_NAME naming the port."),
            "protocol": F("string", "UDP, TCP, or SCTP. Defaults to TCP."),
        },
    ),
    "EnvVar": Type(
        package=CORE,
        description="An environment variable present in a container.",
        fields={
            "name": F("string", "Name of the environment variable.", required=True),
            "value": F("string", "The value, with $(VAR_NAME) references expanded."),
            "valueFrom": F("EnvVarSource", "Source for the variable's value."),
        },
    ),
    "ResourceRequirements": Type(
        package=CORE,
        description="Compute resource requirements.",
        fields={
            "limits": F("map[string]quantity", "Maximum amount of compute resources allowed."),
            "requests": F("map[string]quantity", "Minimum amount of compute resources required."),
            "claims": F("[]object", "Dynamically allocated resources used by the container."),
        },
    ),
    "VolumeMount": Type(
        package=CORE,
        description="Mounting of a Volume within a container.",
        fields={
            "name": F("string", "This must match the Name of a Volume.", required=True),
            "mountPath": F("string", "Path within the container to mount at.", required=True),
            "readOnly": F("boolean", "Mounted read-only if true."),
            "recursiveReadOnly": F("string", "Whether read-only mounts are recursive."),
            "subPath": F("string", "Path within the volume to mount."),
            "subPathExpr": F("string", "Expanded path within the volume to mount."),
            "mountPropagation": F("string", "How mounts are propagated."),
        },
    ),
    "Volume": Type(
        package=CORE,
        description="A named volume in a pod that may be accessed by any container in the pod.",
        fields={
            "name": F("string", "Name of the volume, a DNS_LABEL.", required=True),
            "hostPath": F("HostPathVolumeSource", "A pre-existing file or directory on the host."),
            "emptyDir": F("EmptyDirVolumeSource", "A temporary directory sharing the pod's life."),
            "configMap": F("ConfigMapVolumeSource", "A ConfigMap's keys as files."),
            "secret": F("SecretVolumeSource", "A Secret's keys as files."),
            "projected": F("ProjectedVolumeSource", "Several sources in one directory."),
            "downwardAPI": F("DownwardAPIVolumeSource", "Pod fields as files."),
            **{
                source: F("object", f"A {source} volume source.")
                for source in [
                    "persistentVolumeClaim",
                    "nfs",
                    "iscsi",
                    "csi",
                    "ephemeral",
                    "image",
                    "fc",
                    "cephfs",
                    "rbd",
                    "glusterfs",
                    "gitRepo",
                    "awsElasticBlockStore",
                    "gcePersistentDisk",
                    "azureDisk",
                    "azureFile",
                    "cinder",
                    "flexVolume",
                    "flocker",
                    "photonPersistentDisk",
                    "portworxVolume",
                    "quobyte",
                    "scaleIO",
                    "storageos",
                    "vsphereVolume",
                ]
            },
        },
    ),
    "HostPathVolumeSource": Type(
        package=CORE,
        description="A host path mapped into a pod.",
        fields={
            "path": F("string", "Path of the directory on the host.", required=True),
            "type": F("string", 'Type for HostPath Volume. Defaults to "".'),
        },
    ),
    "EmptyDirVolumeSource": Type(
        package=CORE,
        description="An empty directory for a pod.",
        fields={
            "medium": F("string", 'Storage medium: "" or "Memory".'),
            "sizeLimit": F("quantity", "Total amount of local storage required."),
        },
    ),
    "Probe": Type(
        package=CORE,
        description="A health check performed against a container.",
        fields={
            "exec": F("object", "The action to take: run a command."),
            "httpGet": F("object", "The HTTP request to perform."),
            "tcpSocket": F("object", "The TCP port to connect to."),
            "grpc": F("object", "The gRPC port to check."),
            "initialDelaySeconds": F("integer", "Seconds after start before probes begin."),
            "timeoutSeconds": F("integer", "Seconds after which the probe times out. Default 1."),
            "periodSeconds": F("integer", "How often (in seconds) to probe. Default 10."),
            "successThreshold": F("integer", "Consecutive successes to pass. Default 1."),
            "failureThreshold": F("integer", "Consecutive failures to fail. Default 3."),
            "terminationGracePeriodSeconds": F("integer", "Grace period on probe failure."),
        },
    ),
    "Toleration": Type(
        package=CORE,
        description="The pod tolerates any taint that matches the triple <key,value,effect>.",
        fields={
            "key": F("string", "The taint key that the toleration applies to."),
            "operator": F("string", "Exists or Equal. Defaults to Equal."),
            "value": F("string", "The taint value the toleration matches to."),
            "effect": F("string", "NoSchedule, PreferNoSchedule or NoExecute."),
            "tolerationSeconds": F("integer", "How long a NoExecute taint is tolerated."),
        },
    ),
    "Affinity": Type(
        package=CORE,
        description="A group of affinity scheduling rules.",
        fields={
            "nodeAffinity": F("object", "Node affinity scheduling rules for the pod."),
            "podAffinity": F("object", "Pod affinity scheduling rules."),
            "podAntiAffinity": F("object", "Pod anti-affinity scheduling rules."),
        },
    ),
    "PodStatus": Type(
        package=CORE,
        description="Information about the status of a pod.",
        fields={
            "phase": F("string", "Pending, Running, Succeeded, Failed or Unknown."),
            "conditions": F("[]object", "Current service state of the pod."),
            "message": F("string", "Why the pod is in this condition."),
            "reason": F("string", "A brief CamelCase message, e.g. 'Evicted'."),
            "nominatedNodeName": F("string", "Node the pod is nominated to."),
            "hostIP": F("string", "IP address of the host the pod runs on."),
            "hostIPs": F("[]object", "IP addresses of the host."),
            "podIP": F("string", "IP address allocated to the pod."),
            "podIPs": F("[]object", "IP addresses allocated to the pod."),
            "startTime": F("time", "When the kubelet acknowledged the pod."),
            "initContainerStatuses": F("[]object", "Statuses of the init containers."),
            "containerStatuses": F("[]object", "Statuses of the containers."),
            "ephemeralContainerStatuses": F("[]object", "Statuses of ephemeral containers."),
            "qosClass": F("string", "The Quality of Service class of the pod."),
            "observedGeneration": F("integer", "The pod generation observed by the kubelet."),
            "resize": F("string", "Status of a resize."),
            "resourceClaimStatuses": F("[]object", "Status of resource claims."),
        },
    ),
    # ------------------------------------------------------------ core: nodes, others
    "Node": Type(
        package=CORE,
        description="Node is a worker node.",
        gvk=("", "v1", "Node"),
        fields={
            **_TYPE_META,
            "spec": F("NodeSpec", "The behavior of a node."),
            "status": F("NodeStatus", "Most recently observed status of the node."),
        },
    ),
    "NodeSpec": Type(
        package=CORE,
        description="Describes the attributes that a node is created with.",
        fields={
            "unschedulable": F("boolean", "Controls node schedulability of new pods."),
            "taints": F("[]Taint", "The node's taints."),
            "podCIDR": F("string", "The pod IP range assigned to the node."),
            "podCIDRs": F("[]string", "The pod IP ranges assigned to the node."),
            "providerID": F("string", "ID of the node assigned by the cloud provider."),
            "configSource": F("object", "Deprecated."),
            "externalID": F("string", "Deprecated."),
        },
    ),
    "Taint": Type(
        package=CORE,
        description="The node this Taint is attached to has the effect on pods not tolerating it.",
        fields={
            "key": F("string", "The taint key to be applied to a node.", required=True),
            "value": F("string", "The taint value corresponding to the taint key."),
            "effect": F("string", "NoSchedule, PreferNoSchedule or NoExecute.", required=True),
            "timeAdded": F("time", "When the taint was added (NoExecute only)."),
        },
    ),
    "NodeStatus": Type(
        package=CORE,
        description="Information about the current status of a node.",
        fields={
            "capacity": F("map[string]quantity", "Total resources of the node."),
            "allocatable": F("map[string]quantity", "Resources available for scheduling."),
            "phase": F("string", "Deprecated."),
            "conditions": F("[]object", "Current observed node conditions."),
            "addresses": F("[]object", "Addresses reachable to the node."),
            "daemonEndpoints": F("object", "Endpoints of daemons running on the node."),
            "nodeInfo": F("object", "General information about the node."),
            "images": F("[]object", "Container images on this node."),
            "volumesInUse": F("[]string", "Attachable volumes in use."),
            "volumesAttached": F("[]object", "Volumes attached to the node."),
            "config": F("object", "Status of the assigned node config."),
            "runtimeHandlers": F("[]object", "The available runtime handlers."),
            "features": F("object", "Features implemented by the CRI."),
            "declaredFeatures": F("[]string", "Features declared by the node."),
        },
    ),
    "Namespace": Type(
        package=CORE,
        description="Namespace provides a scope for Names.",
        gvk=("", "v1", "Namespace"),
        fields={
            **_TYPE_META,
            "spec": F("object", "The behavior of the Namespace."),
            "status": F("object", "The status of the Namespace."),
        },
    ),
    "Event": Type(
        package=CORE,
        description="Event is a report of an event somewhere in the cluster.",
        gvk=("", "v1", "Event"),
        fields={
            **_TYPE_META,
            "involvedObject": F("object", "The object that this event is about.", required=True),
            "reason": F("string", "Why the transition into the object's status happened."),
            "message": F("string", "A human-readable description of the status."),
            "source": F("object", "The component reporting this event."),
            "firstTimestamp": F("time", "When the event was first recorded."),
            "lastTimestamp": F("time", "When the most recent occurrence was recorded."),
            "count": F("integer", "The number of times this event has occurred."),
            "type": F("string", "Type of this event (Normal, Warning)."),
            "eventTime": F("string", "When this Event was first observed (MicroTime)."),
            "series": F("object", "Data about the Event series this event represents."),
            "action": F("string", "What action was taken/failed regarding the object."),
            "related": F("object", "Optional secondary object for more complex actions."),
            "reportingComponent": F("string", "Name of the controller that emitted the Event."),
            "reportingInstance": F("string", "ID of the controller instance."),
        },
    ),
    # ------------------------------------------------------------ coordination
    "Lease": Type(
        package=COORD,
        description="Lease defines a lease concept.",
        gvk=("coordination.k8s.io", "v1", "Lease"),
        fields={
            **_TYPE_META,
            "spec": F("LeaseSpec", "The specification of the Lease."),
        },
    ),
    "LeaseSpec": Type(
        package=COORD,
        description="The specification of a Lease.",
        fields={
            "holderIdentity": F("string", "The identity of the holder of a current lease."),
            "leaseDurationSeconds": F("integer", "Duration candidates need to wait."),
            "acquireTime": F("string", "When the current lease was acquired (MicroTime)."),
            "renewTime": F("string", "When the current holder last renewed (MicroTime)."),
            "leaseTransitions": F("integer", "Transitions of the lease between holders."),
            "strategy": F("string", "The strategy for picking the leader."),
            "preferredHolder": F("string", "The preferred holder of the lease."),
        },
    ),
}

TYPES.update(CONFIG_TYPES)
TYPES.update(ACCOUNT_TYPES)
TYPES.update(RBAC_TYPES)
TYPES.update(REVIEW_TYPES)

KIND_TYPES: dict[tuple[str, str, str], str] = {t.gvk: n for n, t in TYPES.items() if t.gvk}


def unknown_fields(obj: Any) -> list[str]:
    """Dotted paths (`spec.replicas`, `spec.template.spec.containers[0].imagee`) of fields the
    object's kind does not have. Kinds this module does not describe have none."""
    if not isinstance(obj, dict):
        return []
    type_name = next((n for (_, _, kind), n in KIND_TYPES.items() if kind == obj.get("kind")), None)
    if type_name is None:
        return []
    found: list[str] = []
    _walk(type_name, obj, "", found)
    return found


def _walk(type_name: str, value: Any, path: str, found: list[str]) -> None:
    if type_name.startswith("[]"):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(type_name[2:], item, f"{path}[{i}]", found)
        return
    if type_name.startswith("map[string]"):
        if isinstance(value, dict):
            for key, item in value.items():
                _walk(type_name[len("map[string]") :], item, f"{path}.{key}", found)
        return
    struct = TYPES.get(type_name)
    if struct is None or not isinstance(value, dict):
        return
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        known = struct.fields.get(key)
        if known is None:
            found.append(child)
        else:
            _walk(known.type, item, child, found)


def referenced_types(roots: list[str]) -> list[str]:
    """The type names reachable from `roots` (themselves included), in a stable order."""
    seen: list[str] = []
    pending = list(roots)
    while pending:
        name = pending.pop(0)
        if name in seen or name not in TYPES:
            continue
        seen.append(name)
        pending.extend(element_type(fl.type) for fl in TYPES[name].fields.values())
    return seen


def element_type(type_name: str) -> str:
    """`[]Container` -> `Container`; `map[string]quantity` -> `quantity`."""
    while True:
        if type_name.startswith("[]"):
            type_name = type_name[2:]
        elif type_name.startswith("map[string]"):
            type_name = type_name[len("map[string]") :]
        else:
            return type_name
