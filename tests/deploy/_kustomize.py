"""A small kustomize: enough of `kustomize build` to validate deploy/k8s without the binary.

Supported (and nothing else -- an unknown kustomization key raises, so a new feature in
deploy/k8s also needs a line here):

- ``resources``: files (multi-document YAML) and directories with a kustomization.yaml;
- ``patches`` with a ``path`` only: strategic merge patches addressed by the patch's own
  kind and metadata.name. Known Kubernetes list fields merge by their merge key
  (containers by name, ...); other lists are replaced, as kustomize does for custom
  resources (JSON merge patch);
- ``namespace``: set on every namespaced object;
- ``images``: ``name`` -> ``newName`` / ``newTag`` / ``digest``;
- ``replicas``: ``name`` -> ``count``.

When `kubectl` is on PATH the tests also compare this output with `kubectl kustomize`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED_KEYS = {"apiVersion", "kind", "namespace", "resources", "patches", "images", "replicas"}

# Kinds without a namespace (of those a deployment like ours may contain).
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}

# patchMergeKey of the list fields a patch of ours may touch; "ports" is ambiguous and
# decided by its items (containerPort in a container, port in a Service).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "envFrom": None,  # atomic list in the API: replaced
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "tolerations": None,
    "topologySpreadConstraints": "topologyKey",
}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}


class KustomizeError(Exception):
    """The kustomization uses something this loader does not implement, or is wrong."""


def object_key(obj: Obj) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


def is_builtin(obj: Obj) -> bool:
    """Kubernetes' own API groups (strategic merge) versus custom resources (JSON merge)."""
    api_version = obj["apiVersion"]
    group = api_version.split("/")[0] if "/" in api_version else ""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def load_yaml_documents(path: Path) -> list[Obj]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def build(directory: Path) -> list[Obj]:
    """The objects of the kustomization in `directory`, transformed."""
    kustomization = load_yaml_documents(directory / "kustomization.yaml")[0]
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization keys {sorted(unknown)}")

    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects.extend(build(path) if path.is_dir() else load_yaml_documents(path))
    _check_unique(objects, directory)

    for patch in kustomization.get("patches", []):
        _apply_patch_file(objects, directory, patch)
    if "namespace" in kustomization:
        _set_namespace(objects, kustomization["namespace"])
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    for replicas in kustomization.get("replicas", []):
        _set_replicas(objects, replicas)
    return objects


def _check_unique(objects: list[Obj], directory: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        key = object_key(obj)
        if key in seen:
            raise KustomizeError(f"{directory}: {key} defined twice")
        seen.add(key)


def _apply_patch_file(objects: list[Obj], directory: Path, patch: Obj) -> None:
    if set(patch) != {"path"}:
        raise KustomizeError(f"{directory}: only patches with a path are supported: {patch}")
    for doc in load_yaml_documents(directory / patch["path"]):
        targets = [
            obj
            for obj in objects
            if obj["kind"] == doc["kind"] and obj["metadata"]["name"] == doc["metadata"]["name"]
        ]
        if len(targets) != 1:
            raise KustomizeError(f"{patch['path']}: {len(targets)} targets for the patch")
        target = targets[0]
        merged = merge_patch(target, doc, strategic=is_builtin(target))
        target.clear()
        target.update(merged)


def merge_patch(base: Any, patch: Any, *, strategic: bool, field: str = "") -> Any:
    """Merge `patch` into a copy of `base` (strategic merge or JSON merge patch)."""
    if isinstance(patch, dict) and "$patch" in patch:
        raise KustomizeError("$patch directives are not supported")
    if isinstance(base, dict) and isinstance(patch, dict):
        result = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = merge_patch(result[key], value, strategic=strategic, field=key)
            else:
                result[key] = copy.deepcopy(value)
        return result
    if strategic and isinstance(base, list) and isinstance(patch, list):
        merge_key = _merge_key(field, base + patch)
        if merge_key:
            return _merge_list(base, patch, merge_key)
    return copy.deepcopy(patch)


def _merge_key(field: str, items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    if field == "ports":
        return "containerPort" if all("containerPort" in item for item in items) else "port"
    return MERGE_KEYS.get(field)


def _merge_list(base: list[Obj], patch: list[Obj], merge_key: str) -> list[Obj]:
    result = copy.deepcopy(base)
    for item in patch:
        match = [
            i for i, existing in enumerate(result) if existing.get(merge_key) == item[merge_key]
        ]
        if match:
            index = match[0]
            result[index] = merge_patch(result[index], item, strategic=True)
        else:
            result.append(copy.deepcopy(item))
    return result


def _set_namespace(objects: list[Obj], namespace: str) -> None:
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace


def pod_spec(obj: Obj) -> Obj | None:
    """The pod spec of a workload, or None."""
    if obj["kind"] not in WORKLOAD_KINDS:
        return None
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def containers(obj: Obj) -> list[Obj]:
    spec = pod_spec(obj)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def image_name(image: str) -> str:
    """The image without tag or digest (a registry port's colon is kept)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def _set_image(objects: list[Obj], image: Obj) -> None:
    unknown = set(image) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise KustomizeError(f"images: unsupported keys {sorted(unknown)}")
    for obj in objects:
        for container in containers(obj):
            if image_name(container["image"]) != image["name"]:
                continue
            name = image.get("newName", image["name"])
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            elif "newTag" in image:
                container["image"] = f"{name}:{image['newTag']}"
            else:
                rest = container["image"][len(image["name"]) :]
                container["image"] = name + rest


def _set_replicas(objects: list[Obj], replicas: Obj) -> None:
    targets = [
        obj
        for obj in objects
        if obj["metadata"]["name"] == replicas["name"] and obj["kind"] in WORKLOAD_KINDS
    ]
    if not targets:
        raise KustomizeError(f"replicas: no workload named {replicas['name']}")
    for obj in targets:
        obj["spec"]["replicas"] = int(replicas["count"])
