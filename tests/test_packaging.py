"""environment.yml, pyproject.toml and constraints.txt describe the same environment."""

from __future__ import annotations

import re

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from autograder.coursedir import REPO_ROOT


def _pyproject():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _environment():
    return yaml.safe_load((REPO_ROOT / "environment.yml").read_text())


def _normalise(req: str) -> str:
    return str(Requirement(req))


def test_environment_pip_section_matches_pyproject_dependencies():
    deps = {_normalise(d) for d in _pyproject()["project"]["dependencies"]}
    pip_section = next(d["pip"] for d in _environment()["dependencies"] if isinstance(d, dict))
    listed = {_normalise(r) for r in pip_section if not r.startswith("-")}
    assert listed == deps, (
        f"only in environment.yml: {sorted(listed - deps)}; only in pyproject: {sorted(deps - listed)}"
    )
    assert "-e ." in pip_section, "environment.yml must install the course itself (-e .)"


def test_environment_python_satisfies_requires_python():
    deps = _environment()["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    version = re.split(r"[=<>]+", python)[1]
    requires = SpecifierSet(_pyproject()["project"]["requires-python"])
    assert f"{version}.0" in requires, f"environment.yml's {python} is outside {requires}"
    assert "pip" in deps


def test_constraints_pin_every_direct_dependency_within_its_range():
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    project = _pyproject()["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    for text in reqs:
        req = Requirement(text)
        if req.marker and not req.marker.evaluate():
            continue  # e.g. plain `tensorflow` on Linux x86-64, where tensorflow-cpu is used
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req.specifier}"
        )


def test_linux_x86_64_gets_tensorflow_cpu_and_others_full_tensorflow():
    deps = [Requirement(d) for d in _pyproject()["project"]["dependencies"]]
    tf = {d.name: d for d in deps if d.name.startswith("tensorflow")}
    linux = {"sys_platform": "linux", "platform_machine": "x86_64"}
    mac = {"sys_platform": "darwin", "platform_machine": "arm64"}
    assert tf["tensorflow-cpu"].marker.evaluate(linux) and not tf["tensorflow"].marker.evaluate(linux)
    assert tf["tensorflow"].marker.evaluate(mac) and not tf["tensorflow-cpu"].marker.evaluate(mac)
