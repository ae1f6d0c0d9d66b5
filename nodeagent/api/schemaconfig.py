"""The fields of ConfigMap and Secret, and of the pod fields that reference them (configMap,
secret, projected and downwardAPI volumes; env valueFrom and envFrom), as schema data.

Pure; merged into nodeagent.api.schema.TYPES. Descriptions are from the Kubernetes API
reference, shortened.
"""

from __future__ import annotations

from nodeagent.api.schemabase import CORE, STR_MAP, TYPE_META, F, Type

_OPTIONAL = "Whether the referenced object (or its key) must exist."
_ITEMS = "Which keys to project, and where; without it every key becomes a file."
_MODE = "Mode bits of the files made, 0000 to 0777 (YAML accepts octal). Default 0644."

CONFIG_TYPES: dict[str, Type] = {
    "ConfigMap": Type(
        package=CORE,
        description="ConfigMap holds configuration data for pods to consume.",
        gvk=("", "v1", "ConfigMap"),
        fields={
            **TYPE_META,
            "data": F(STR_MAP, "UTF-8 configuration data; keys are [-._a-zA-Z0-9]+."),
            "binaryData": F("map[string]bytes", "Binary data, base64 in JSON."),
            "immutable": F("boolean", "If true, data and binaryData cannot be changed."),
        },
    ),
    "Secret": Type(
        package=CORE,
        description="Secret holds secret data of a certain type; at most 1 MiB.",
        gvk=("", "v1", "Secret"),
        fields={
            **TYPE_META,
            "data": F("map[string]bytes", "The secret data, base64 in JSON."),
            "stringData": F(
                STR_MAP, "Write-only plain-text data, merged into data on write; never read back."
            ),
            "type": F("string", "Used to facilitate programmatic handling of secret data."),
            "immutable": F("boolean", "If true, data cannot be changed."),
        },
    ),
    "KeyToPath": Type(
        package=CORE,
        description="Maps a key to a relative path in a volume.",
        fields={
            "key": F("string", "The key to project.", required=True),
            "path": F("string", "The relative path of the file; no '..'.", required=True),
            "mode": F("integer", "Mode bits of this file, 0000 to 0777."),
        },
    ),
    "ConfigMapVolumeSource": Type(
        package=CORE,
        description="A volume populated by a ConfigMap's keys.",
        fields={
            "name": F("string", "Name of the ConfigMap, in the pod's namespace."),
            "items": F("[]KeyToPath", _ITEMS),
            "defaultMode": F("integer", _MODE),
            "optional": F("boolean", _OPTIONAL),
        },
    ),
    "SecretVolumeSource": Type(
        package=CORE,
        description="A volume populated by a Secret's keys.",
        fields={
            "secretName": F("string", "Name of the Secret, in the pod's namespace."),
            "items": F("[]KeyToPath", _ITEMS),
            "defaultMode": F("integer", _MODE),
            "optional": F("boolean", _OPTIONAL),
        },
    ),
    "ObjectFieldSelector": Type(
        package=CORE,
        description="Selects a field of the pod.",
        fields={
            "apiVersion": F("string", 'Version of the schema the path is written in: "v1".'),
            "fieldPath": F("string", "Path of the field to select.", required=True),
        },
    ),
    "ResourceFieldSelector": Type(
        package=CORE,
        description="Selects a container resource (limits.cpu, requests.memory, ...).",
        fields={
            "containerName": F("string", "Container name: required for volumes."),
            "resource": F("string", "Required: resource to select.", required=True),
            "divisor": F("quantity", 'The output format of the exposed resources. Default "1".'),
        },
    ),
    "DownwardAPIVolumeFile": Type(
        package=CORE,
        description="A file holding a pod field.",
        fields={
            "path": F("string", "The relative path of the file; no '..'.", required=True),
            "fieldRef": F("ObjectFieldSelector", "A field of the pod."),
            "resourceFieldRef": F("ResourceFieldSelector", "A resource of a container."),
            "mode": F("integer", "Mode bits of this file, 0000 to 0777."),
        },
    ),
    "DownwardAPIVolumeSource": Type(
        package=CORE,
        description="A volume of files holding pod fields.",
        fields={
            "items": F("[]DownwardAPIVolumeFile", "The files."),
            "defaultMode": F("integer", _MODE),
        },
    ),
    "ConfigMapProjection": Type(
        package=CORE,
        description="A ConfigMap's keys in a projected volume.",
        fields={
            "name": F("string", "Name of the ConfigMap."),
            "items": F("[]KeyToPath", _ITEMS),
            "optional": F("boolean", _OPTIONAL),
        },
    ),
    "SecretProjection": Type(
        package=CORE,
        description="A Secret's keys in a projected volume.",
        fields={
            "name": F("string", "Name of the Secret."),
            "items": F("[]KeyToPath", _ITEMS),
            "optional": F("boolean", _OPTIONAL),
        },
    ),
    "DownwardAPIProjection": Type(
        package=CORE,
        description="Pod fields in a projected volume.",
        fields={"items": F("[]DownwardAPIVolumeFile", "The files.")},
    ),
    "ServiceAccountTokenProjection": Type(
        package=CORE,
        description="A service account token in a projected volume.",
        fields={
            "audience": F("string", "Intended audience of the token."),
            "expirationSeconds": F("integer", "Requested lifetime of the token. Default 3600."),
            "path": F("string", "The relative path of the file.", required=True),
        },
    ),
    "VolumeProjection": Type(
        package=CORE,
        description="One source of a projected volume: exactly one field is set.",
        fields={
            "configMap": F("ConfigMapProjection", "A ConfigMap's keys."),
            "secret": F("SecretProjection", "A Secret's keys."),
            "downwardAPI": F("DownwardAPIProjection", "Pod fields."),
            "serviceAccountToken": F("ServiceAccountTokenProjection", "A token."),
            "clusterTrustBundle": F("object", "A ClusterTrustBundle's certificates."),
            "podCertificate": F("object", "A pod certificate and its key."),
        },
    ),
    "ProjectedVolumeSource": Type(
        package=CORE,
        description="Several sources projected into one directory.",
        fields={
            "sources": F("[]VolumeProjection", "The sources."),
            "defaultMode": F("integer", _MODE),
        },
    ),
    "ConfigMapKeySelector": Type(
        package=CORE,
        description="Selects a key of a ConfigMap.",
        fields={
            "name": F("string", "Name of the ConfigMap."),
            "key": F("string", "The key to select.", required=True),
            "optional": F("boolean", _OPTIONAL),
        },
    ),
    "SecretKeySelector": Type(
        package=CORE,
        description="Selects a key of a Secret.",
        fields={
            "name": F("string", "Name of the Secret."),
            "key": F("string", "The key to select.", required=True),
            "optional": F("boolean", _OPTIONAL),
        },
    ),
    "EnvVarSource": Type(
        package=CORE,
        description="A source for the value of an EnvVar: exactly one field is set.",
        fields={
            "fieldRef": F("ObjectFieldSelector", "A field of the pod."),
            "resourceFieldRef": F("ResourceFieldSelector", "A resource of the container."),
            "configMapKeyRef": F("ConfigMapKeySelector", "A key of a ConfigMap."),
            "secretKeyRef": F("SecretKeySelector", "A key of a Secret."),
            "fileKeyRef": F("object", "A key of an env file in an emptyDir volume."),
        },
    ),
    "ConfigMapEnvSource": Type(
        package=CORE,
        description="Every key of a ConfigMap as an environment variable.",
        fields={
            "name": F("string", "Name of the ConfigMap."),
            "optional": F("boolean", _OPTIONAL),
        },
    ),
    "SecretEnvSource": Type(
        package=CORE,
        description="Every key of a Secret as an environment variable.",
        fields={
            "name": F("string", "Name of the Secret."),
            "optional": F("boolean", _OPTIONAL),
        },
    ),
    "EnvFromSource": Type(
        package=CORE,
        description="A set of environment variables from a ConfigMap or a Secret.",
        fields={
            "prefix": F("string", "A prefix for every key's variable name."),
            "configMapRef": F("ConfigMapEnvSource", "The ConfigMap."),
            "secretRef": F("SecretEnvSource", "The Secret."),
        },
    ),
}
