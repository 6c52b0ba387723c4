"""The project installs from two descriptions that must not drift apart."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import torch

from course_lib import config

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_deps() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[=<>!~ ]", d, maxsplit=1)[0].lower(): d.replace(" ", "") for d in deps}


def _environment_pip_deps() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    deps = {}
    for line in lines[start + 1 :]:
        item = line.strip()
        if not item.startswith("- ") or item == "- -e .":
            continue
        spec = item[2:].replace(" ", "")
        deps[re.split(r"[=<>!~]", spec, maxsplit=1)[0].lower()] = spec
    return deps


def test_environment_yml_lists_the_same_requirements_as_pyproject():
    assert _environment_pip_deps() == _pyproject_deps()


def test_torch_is_pinned_to_the_local_wheels():
    deps = _pyproject_deps()
    assert deps["torch"] == "torch==2.14.1"
    assert deps["torchvision"] == "torchvision==0.29.1"
    assert torch.__version__.startswith("2.14.1")


def test_environment_yml_pins_python_311():
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_device_auto_resolves_and_bad_device_is_refused():
    dev = config.device("auto")
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        try:
            config.device("cuda")
        except RuntimeError as exc:
            assert "CUDA" in str(exc)
        else:
            raise AssertionError("config.device('cuda') must fail without CUDA")


def test_fast_mode_follows_environment():
    assert config.fast_from_env({}) is False
    assert config.fast_from_env({"COURSE_FAST": "0"}) is False
    assert config.fast_from_env({"COURSE_FAST": "1"}) is True
    assert config.fast_from_env({"CI": "true"}) is True


def test_every_notebook_is_a_percent_script_with_a_number():
    notebooks = sorted((ROOT / "notebooks").glob("*.py"))
    assert notebooks, "no notebooks found"
    for nb in notebooks:
        assert re.match(r"\d\d_\w+\.py$", nb.name), nb.name
        assert "# %%" in nb.read_text(), f"{nb.name} is not a jupytext percent file"
