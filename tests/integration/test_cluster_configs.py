"""The cluster configs in cluster/ validate offline against the installed Ray, and keep their promises.

Launcher YAMLs (cluster/*.yaml) go through what `ray up` itself runs before touching a cloud:
`prepare_config` (merges the provider's defaults.yaml, merges setup_commands into the head/worker
lists, fills per-type min/max workers; for the `local` provider it also builds the single node type
from head_ip/worker_ips) and then `validate_config` (the JSON schema ray/autoscaler/ray-schema.json
plus a few cross-field checks). Neither makes a cloud call: `prepare_config` only imports
`ray.autoscaler.<provider>` to find its defaults.yaml (no boto3 / Google client needed), and the
provider's `bootstrap_config` (IAM, subnets, AMIs: the part that talks to the cloud) is not called.

KubeRay manifests (cluster/kuberay/*.yaml) have no schema in the Ray wheel: they are checked here
for the structure the KubeRay operator needs and for what they must not expose.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
LAUNCHER_YAMLS = sorted(CLUSTER.glob("*.yaml"))
KUBERAY_YAMLS = sorted((CLUSTER / "kuberay").glob("*.yaml"))
GPU_CLOUDS = {"aws", "gcp"}
PRIVATE_PORTS = {8265, 6379, 10001}  # dashboard / Jobs API, GCS, Ray client
OPEN_TO_ALL = {"0.0.0.0/0", "::/0"}
RUNS_MOUNT = "/mnt/runs"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def prepared(path: Path) -> dict:
    return prepare_config(load(path))


def walk(node):
    """Every dict anywhere in a parsed YAML tree."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_the_configs_exist():
    assert {p.name for p in LAUNCHER_YAMLS} >= {"aws-gpu.yaml", "gcp-gpu.yaml", "onprem.yaml"}
    assert {p.name for p in KUBERAY_YAMLS} >= {"raycluster.yaml", "rayjob.yaml", "runs-pvc.yaml"}


# --- cluster-launcher YAMLs -------------------------------------------------------------------

@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_launcher_config_validates(path):
    config = prepared(path)
    validate_config(config)  # raises on any schema or cross-field error
    # What validate_config does not check: each type's own min <= max <= the global max.
    for name, node_type in config["available_node_types"].items():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"] <= config["max_workers"], name


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_head_binds_the_dashboard_to_localhost(path):
    # Checked after prepare_config: a config without head_start_ray_commands would get the
    # provider default, which binds the dashboard to 0.0.0.0.
    starts = " ".join(prepared(path)["head_start_ray_commands"])
    assert re.search(r"ray start --head\b", starts)
    hosts = re.findall(r"--dashboard-host[= ](\S+)", starts)
    assert hosts == ["127.0.0.1"], hosts


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_every_node_installs_the_mounted_working_tree(path):
    config = prepared(path)
    mounts = [remote for remote, local in config["file_mounts"].items() if local in (".", "./")]
    assert len(mounts) == 1, "file_mounts must copy the working tree ('.') to one remote path"
    install = re.compile(r"\bpip install (-e|--editable) ['\"]?" + re.escape(mounts[0].rstrip("/")) + r"/?['\"]?(\s|$)")
    # prepare_config prepends setup_commands to both lists; a node type's own
    # worker_setup_commands would replace them, so those are checked too.
    lists = {"head": config["head_setup_commands"], "worker": config["worker_setup_commands"]}
    for name, node_type in config["available_node_types"].items():
        if "worker_setup_commands" in node_type:
            lists[name] = node_type["worker_setup_commands"]
    for where, commands in lists.items():
        assert any(install.search(c) for c in commands), f"{where} does not pip install -e {mounts[0]}"


@pytest.mark.parametrize("path", [p for p in LAUNCHER_YAMLS if load(p)["provider"]["type"] in GPU_CLOUDS],
                         ids=lambda p: p.name)
def test_cloud_config_has_an_autoscaling_gpu_worker_type(path):
    config = prepared(path)
    workers = {name: t for name, t in config["available_node_types"].items() if name != config["head_node_type"]}
    gpu_types = {name: t for name, t in workers.items() if t["resources"].get("GPU", 0) >= 1}
    assert gpu_types, "no worker type offers GPUs"
    assert config["available_node_types"][config["head_node_type"]]["resources"].get("GPU", 0) == 0
    for node_type in gpu_types.values():
        assert node_type["min_workers"] == 0 and node_type["max_workers"] >= 1
        if config["provider"]["type"] == "gcp":
            # The advertised GPU count is what is attached.
            node = node_type["node_config"]
            assert sum(a["acceleratorCount"] for a in node["guestAccelerators"]) == node_type["resources"]["GPU"]
            assert node["scheduling"]["onHostMaintenance"] == "TERMINATE"


def _opens_private_port_to_all(rule: dict) -> bool:
    sources = {r.get("CidrIp") for r in rule.get("IpRanges", [])} | {r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", [])}
    sources |= set(rule.get("sourceRanges", []))  # GCP firewall style
    if not sources & OPEN_TO_ALL:
        return False
    if str(rule.get("IpProtocol")) == "-1":  # all protocols, all ports
        return True
    low, high = rule.get("FromPort"), rule.get("ToPort", rule.get("FromPort"))
    if low is not None:
        return int(low) == -1 or any(int(low) <= port <= int(high) for port in PRIVATE_PORTS)
    ports = [str(p) for allowed in rule.get("allowed", []) for p in allowed.get("ports", ["0-65535"])]
    for spec in ports:
        lo, _, hi = spec.partition("-")
        if any(int(lo) <= port <= int(hi or lo) for port in PRIVATE_PORTS):
            return True
    return False


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_no_rule_opens_ray_ports_to_the_internet(path):
    config = load(path)
    offending = [rule for rule in walk(config) if _opens_private_port_to_all(rule)]
    assert not offending, offending
    extra = config["provider"].get("security_group", {}).get("IpPermissions", [])
    assert all(rule.get("FromPort") == rule.get("ToPort") == 22 for rule in extra), "only SSH may be added"


def test_the_port_rule_check_catches_an_open_dashboard():
    assert _opens_private_port_to_all({"FromPort": 8265, "ToPort": 8265, "IpProtocol": "tcp",
                                       "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
    assert _opens_private_port_to_all({"sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["6000-7000"]}]})
    assert not _opens_private_port_to_all({"FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})


# Negative cases: prove validate_config (after prepare_config) really rejects bad configs.
def _unknown_top_level_key(c):
    c["max_wrokers"] = 4


def _unknown_node_type_key(c):
    next(iter(c["available_node_types"].values()))["instance_type"] = "g5.12xlarge"


def _worker_type(c):
    return next(t for name, t in c["available_node_types"].items() if name != c["head_node_type"])


def _min_workers_above_max_workers(c):
    _worker_type(c)["min_workers"] = c["max_workers"] + 1


def _fractional_gpus(c):
    _worker_type(c)["resources"]["GPU"] = 0.5


def _head_type_not_defined(c):
    c["head_node_type"] = "ray.head.missing"


@pytest.mark.parametrize("break_it, error", [
    (_unknown_top_level_key, jsonschema.ValidationError),
    (_unknown_node_type_key, jsonschema.ValidationError),
    (_min_workers_above_max_workers, ValueError),
    (_fractional_gpus, jsonschema.ValidationError),
    (_head_type_not_defined, ValueError),
], ids=lambda v: getattr(v, "__name__", "").lstrip("_"))
def test_validation_rejects_a_broken_aws_config(break_it, error):
    raw = load(CLUSTER / "aws-gpu.yaml")
    validate_config(prepare_config(copy.deepcopy(raw)))  # the unbroken one passes
    break_it(raw)
    with pytest.raises(error):
        validate_config(prepare_config(raw))


# --- KubeRay manifests ------------------------------------------------------------------------

KINDS = {("ray.io/v1", "RayCluster"), ("ray.io/v1", "RayJob"), ("v1", "PersistentVolumeClaim")}


def kuberay_docs() -> list[dict]:
    return [doc for path in KUBERAY_YAMLS for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def docs_of(kind: str) -> list[dict]:
    return [d for d in kuberay_docs() if d["kind"] == kind]


def cluster_specs() -> list:
    """(name, RayCluster spec) of every RayCluster and of every RayJob's rayClusterSpec."""
    named = ([("RayCluster/" + d["metadata"]["name"], d["spec"]) for d in docs_of("RayCluster")]
             + [("RayJob/" + d["metadata"]["name"], d["spec"]["rayClusterSpec"]) for d in docs_of("RayJob")])
    return [pytest.param(name, spec, id=name) for name, spec in named]


def test_kuberay_manifests_have_known_kinds():
    docs = kuberay_docs()
    assert {(d["apiVersion"], d["kind"]) for d in docs} == KINDS
    assert all(d["metadata"]["name"] for d in docs)


def test_runs_claim_is_read_write_many():
    (claim,) = docs_of("PersistentVolumeClaim")
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    assert claim["spec"]["resources"]["requests"]["storage"]


@pytest.mark.parametrize("name, spec", cluster_specs())
def test_ray_cluster_spec_structure(name, spec):
    head = spec["headGroupSpec"]
    assert head["template"]["spec"]["containers"]
    assert all(isinstance(v, str) for v in head["rayStartParams"].values()), "rayStartParams values must be strings"
    assert spec["workerGroupSpecs"]
    for group in spec["workerGroupSpecs"]:
        assert group["groupName"]
        assert all(isinstance(group[k], int) for k in ("replicas", "minReplicas", "maxReplicas"))
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert all(isinstance(v, str) for v in group.get("rayStartParams", {}).values())
    gpus = [c["resources"]["limits"].get("nvidia.com/gpu", 0) for g in spec["workerGroupSpecs"]
            for c in g["template"]["spec"]["containers"]]
    assert any(int(n) >= 1 for n in gpus), "no worker container has nvidia.com/gpu limits"
    images = {c["image"] for pod in [head] + spec["workerGroupSpecs"] for c in pod["template"]["spec"]["containers"]}
    assert len(images) == 1, f"head and workers must run one image (one faceauth version): {images}"


@pytest.mark.parametrize("name, spec", cluster_specs())
def test_runs_volume_is_mounted_everywhere(name, spec):
    (claim,) = docs_of("PersistentVolumeClaim")
    for pod in [spec["headGroupSpec"]] + spec["workerGroupSpecs"]:
        pod_spec = pod["template"]["spec"]
        volumes = {v["name"] for v in pod_spec.get("volumes", [])
                   if v.get("persistentVolumeClaim", {}).get("claimName") == claim["metadata"]["name"]}
        ray_container = pod_spec["containers"][0]
        mounted = {m["name"] for m in ray_container.get("volumeMounts", []) if m["mountPath"] == RUNS_MOUNT}
        assert volumes & mounted, f"{name}: {RUNS_MOUNT} is not the runs claim in {ray_container['name']}"


@pytest.mark.parametrize("name, spec", cluster_specs())
def test_dashboard_is_not_exposed(name, spec):
    head = spec["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") == "ClusterIP"
    host = head["rayStartParams"].get("dashboard-host")
    if name.startswith("RayCluster/"):
        assert host == "127.0.0.1"
    else:  # the operator reaches a RayJob's dashboard through the ClusterIP Service
        assert host in ("127.0.0.1", "0.0.0.0")
    for doc in kuberay_docs():  # and nothing else publishes anything
        for node in walk(doc):
            assert node.get("type") not in ("LoadBalancer", "NodePort")
            assert node.get("serviceType") not in ("LoadBalancer", "NodePort")


def test_rayjob_runs_the_search_on_the_shared_volume():
    (job,) = docs_of("RayJob")
    spec = job["spec"]
    assert "faceauth.tune" in spec["entrypoint"]
    assert f"--storage {RUNS_MOUNT}" in spec["entrypoint"] and "--address auto" in spec["entrypoint"]
    assert spec["rayClusterSpec"]
    assert spec["shutdownAfterJobFinishes"] is True


# --- all files --------------------------------------------------------------------------------

SECRET_PATTERNS = [
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"(?i)aws_secret_access_key|aws_session_token",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    r"\"private_key\"\s*:",  # a GCP service-account key file
    r"(?i)gcp_credentials\s*:",
]


@pytest.mark.parametrize("path", sorted(p for p in CLUSTER.rglob("*") if p.is_file()), ids=lambda p: str(p.relative_to(CLUSTER)))
def test_no_secrets(path):
    text = path.read_text()
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text), f"{path.name} matches {pattern}"
