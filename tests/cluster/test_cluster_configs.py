"""Static checks of cluster/ (ray up, KubeRay) and the safe-default rules for cluster/ and docker/."""

from __future__ import annotations

import re
import shlex
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
RAY_UP = CLUSTER / "ray-up-gpu.yaml"
KUBERAY = CLUSTER / "kuberay"
YAML_FILES = sorted([*CLUSTER.rglob("*.yaml"), *CLUSTER.rglob("*.yml"), ROOT / "docker" / "compose.yaml"])
SURFACE = sorted(p for d in ("cluster", "docker") for p in (ROOT / d).rglob("*") if p.is_file())


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def by_kind(path: Path, kind: str) -> dict:
    found = [d for d in docs(path) if d.get("kind") == kind]
    assert len(found) == 1, f"{path.name}: expected one {kind}"
    return found[0]


def pod_templates(cluster_spec: dict) -> list[dict]:
    return [cluster_spec["headGroupSpec"]["template"], *(g["template"] for g in cluster_spec["workerGroupSpecs"])]


def pinned(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("==", 1)[1] for d in deps if d.startswith(f"{name}=="))


def test_expected_files_exist():
    for rel in ("cluster/README.md", "cluster/ray-up-gpu.yaml", "cluster/kuberay/raycluster.yaml",
                "cluster/kuberay/rayjob.yaml", "docker/Dockerfile", "docker/compose.yaml"):
        assert (ROOT / rel).is_file(), rel


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_parses(path):
    loaded = docs(path)
    assert loaded and all(isinstance(d, dict) for d in loaded)


def _entrypoint_files(command: str) -> list[str]:
    """The repository files a shell command names: scripts run by python and ``--config`` files."""
    words = shlex.split(command)
    out = [w for w in words if w.endswith(".py")]
    out += [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--config"]
    return out


def test_rayjob_entrypoint_exists_and_config_is_valid():
    from base_dist.config import load_config

    job = by_kind(KUBERAY / "rayjob.yaml", "RayJob")
    entry = job["spec"]["entrypoint"]
    files = _entrypoint_files(entry)
    assert "jobs/meta_train.py" in files and "jobs/configs/imagenet.yaml" in files, entry
    for rel in files:
        assert (ROOT / rel).is_file(), f"RayJob entrypoint names {rel}, which is not in the repo"
    load_config(ROOT / "jobs/configs/imagenet.yaml")  # a valid config, not just a file
    env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    assert env["env_vars"]["BASE_DIST_RUNS"].startswith("/shared/")


@pytest.mark.parametrize("path", [KUBERAY / "raycluster.yaml", KUBERAY / "rayjob.yaml"], ids=lambda p: p.name)
def test_kuberay_cluster_spec(path):
    if path.name == "rayjob.yaml":
        spec = by_kind(path, "RayJob")["spec"]["rayClusterSpec"]
        assert by_kind(path, "RayJob")["spec"]["submissionMode"] == "SidecarMode"
        assert spec["headGroupSpec"]["template"]["spec"]["restartPolicy"] == "Never"
    else:
        spec = by_kind(path, "RayCluster")["spec"]
        pvc = by_kind(path, "PersistentVolumeClaim")
        assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    assert spec["rayVersion"] == version("ray"), "rayVersion must match the Ray this project installs"
    assert spec["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    gpu_groups = [g for g in spec["workerGroupSpecs"]
                  if any(c["resources"]["limits"].get("nvidia.com/gpu") == 1 for c in g["template"]["spec"]["containers"])]
    assert gpu_groups, "a worker group with nvidia.com/gpu: 1"
    for tmpl in pod_templates(spec):
        pod = tmpl["spec"]
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
        assert "base-dist-shared" in claims.values()
        shared = [v for v, c in claims.items() if c == "base-dist-shared"][0]
        container = pod["containers"][0]
        assert {"name": shared, "mountPath": "/shared"} in container["volumeMounts"]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env.get("BASE_DIST_RUNS") == "/shared/runs"
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0


def test_ray_up_config():
    cfg = docs(RAY_UP)[0]
    for key in ("cluster_name", "provider", "available_node_types", "head_node_type", "setup_commands",
                "head_start_ray_commands", "worker_start_ray_commands"):
        assert key in cfg, key
    assert cfg["head_node_type"] in cfg["available_node_types"]
    assert len(cfg["available_node_types"]) >= 2
    # Every file mount's local side exists (relative to the repo root, where `ray up` runs).
    for local in cfg["file_mounts"].values():
        assert (ROOT / local).exists(), local
    setup = "\n".join(cfg["setup_commands"])
    assert "pip install" in setup and "-e ." in setup
    assert f"torch=={pinned('torch')}" in setup and f"torchvision=={pinned('torchvision')}" in setup
    assert f"ray[default,train,tune]=={version('ray')}" in setup
    head = " ".join(cfg["head_start_ray_commands"])
    assert "--head" in head and "--dashboard-host=127.0.0.1" in head


def test_job_paths_named_in_docs_and_configs_exist():
    """Every jobs/... path that cluster/, docker/ and jobs/README.md mention is in the repository."""
    pattern = re.compile(r"\bjobs/[\w./-]*\w\.(?:py|yaml)\b")
    named = set()
    for path in [*SURFACE, ROOT / "jobs" / "README.md"]:
        named |= set(pattern.findall(path.read_text(errors="replace")))
    assert "jobs/meta_train.py" in named
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"named but missing: {missing}"


# A dashboard (or any server) told to listen on every interface: `--dashboard-host=0.0.0.0`,
# `dashboard-host: "0.0.0.0"`, `dashboard_host 0.0.0.0`, `--host 0.0.0.0`, a `0.0.0.0:8265:8265` port.
WIDE = re.compile(r"""(dashboard[-_]host|--host)["']?\s*[:=\s]\s*["']?(0\.0\.0\.0\b|\[?::\]?(?![\w:]))"""
                  r"""|["']?0\.0\.0\.0:\d+:\d+""")


@pytest.mark.parametrize("path", SURFACE, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_listens_on_every_interface(path):
    text = path.read_text(errors="replace")
    hits = [line.strip() for line in text.splitlines() if WIDE.search(line)]
    assert not hits, f"{path.name} binds a server to every interface: {hits}"


SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
SECRET_VALUE = re.compile(r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[A-Za-z0-9]{30,}|"
                          r"://[^/\s:@]+:[^/\s@]+@)")


@pytest.mark.parametrize("path", SURFACE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_credentials(path):
    text = path.read_text(errors="replace")
    assert not SECRET_VALUE.search(text), f"{path.name}: something that looks like a credential"
    if path.suffix in (".yaml", ".yml"):
        for doc in docs(path):
            for name, value in _env_pairs(doc):
                assert not (SECRET_NAME.search(name) and value), f"{path.name}: {name} set in the file"


def _env_pairs(node):
    """(name, value) of every env var set in a manifest or compose file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("env", "environment", "env_vars"):
                if isinstance(value, list):
                    for item in value:
                        if isinstance(item, dict) and "name" in item:
                            yield item["name"], item.get("value")
                        elif isinstance(item, str) and "=" in item:
                            yield tuple(item.split("=", 1))
                elif isinstance(value, dict):
                    yield from value.items()
            else:
                yield from _env_pairs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _env_pairs(item)
    elif isinstance(node, str) and "env_vars:" in node:  # runtimeEnvYAML is YAML in a string
        yield from _env_pairs(yaml.safe_load(node))


def test_readme_links_the_cluster_guide():
    readme = (ROOT / "README.md").read_text()
    assert "## On a cluster" in readme and "cluster/README.md" in readme
    guide = (CLUSTER / "README.md").read_text()
    for needle in ("shared", "--resume", "MLFLOW_TRACKING_URI", "num_gpus_per_worker", "delta_dtype"):
        assert needle in guide, needle
