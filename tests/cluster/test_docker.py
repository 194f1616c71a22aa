"""Static checks of docker/ (no Docker engine on CI): Dockerfile structure and the compose file.

hadolint is not packaged in Debian; when it is on PATH anyway, it runs too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def pinned(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("==", 1)[1] for d in deps if d.startswith(f"{name}=="))


def test_base_image_matches_the_torch_pin():
    froms = [args for ins, args in instructions() if ins == "FROM"]
    assert len(froms) == 1
    match = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda[\d.]+-cudnn\d+-(runtime|devel)", froms[0])
    assert match, f"FROM {froms[0]}: expected a pytorch/pytorch CUDA tag"
    assert match.group(1) == pinned("torch"), "bump the base image tag with the torch pin in pyproject.toml"
    assert f"'{pinned('torch')}'" in DOCKERFILE.read_text(), "the build-time torch check names the pin"


def test_runs_as_a_non_root_user():
    users = [args for ins, args in instructions() if ins == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    ins_names = [ins for ins, _ in instructions()]
    assert ins_names.index("USER") > max(i for i, n in enumerate(ins_names) if n == "RUN"), "USER after the last RUN"


def test_entrypoint_is_base_dist():
    entry = [args for ins, args in instructions() if ins == "ENTRYPOINT"]
    assert len(entry) == 1 and json.loads(entry[0]) == ["base-dist"]


def test_installs_this_package_from_files_that_reach_the_build():
    ins = instructions()
    assert any(i == "RUN" and re.search(r"pip install\b.*\s[\"']?\.(\[[\w,]+\])?[\"']?(\s|$)", a) for i, a in ins)
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for i, args in ins:
        if i == "COPY":
            sources = [w for w in args.split() if not w.startswith("--")][:-1]
            for src in sources:
                assert (ROOT / src).exists(), f"COPY {src}: not in the build context"
                assert src.rstrip("/") not in ignored, f"COPY {src}: excluded by .dockerignore"


def test_no_remote_add_and_no_secrets():
    for ins, args in instructions():
        assert not (ins == "ADD" and re.match(r"(--\S+\s+)*https?://", args)), "ADD of a URL"
        if ins in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            for name in names:
                assert not re.search(r"PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|CREDENTIAL", name, re.I), name


def test_hadolint_if_available():
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint is not installed (Debian does not package it); the structural tests stand in")
    result = subprocess.run([exe, "--failure-threshold", "error", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_and_loopback_ports():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"ray-head", "mlflow"} <= set(services)
    build = services["ray-head"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    published = []
    for name, svc in services.items():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} is not bound to 127.0.0.1"
            published.append(str(port))
    assert "127.0.0.1:8265:8265" in published and "127.0.0.1:5000:5000" in published
    mlflow = " ".join(services["mlflow"]["command"])
    assert "sqlite:///" in mlflow
    db_dir = re.search(r"sqlite:///(/[^ ]+)/[^/ ]+\.db", mlflow).group(1)
    mounts = [v.split(":")[1] for v in services["mlflow"]["volumes"]]
    assert db_dir in mounts, "the MLflow database lives on a volume"
    assert all(v.split(":")[0] in compose["volumes"] for v in services["mlflow"]["volumes"])
    for svc in services.values():
        assert svc.get("network_mode") != "host" and not svc.get("privileged", False)
