"""The checkpoint file: atomic writes, safe reads, and checks of what a payload holds.

A checkpoint is a ``torch.save`` dict of plain tensors and JSON strings, read back with
``weights_only=True`` so no code in it ever runs. Everything that can be wrong with one (not a file,
not a checkpoint, another format version, broken JSON, unknown or missing config keys, tensors of
the wrong shape, NaN or inf weights) becomes a ``CheckpointError`` that names the file and the
problem, instead of a TypeError or a crash much later inside the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

#: Format tags of the two kinds of checkpoint: a policy, and a training run (policy, optimiser,
#: EMA, loss history; written by ``course_lib.train``, holding a policy payload).
POLICY_FORMAT = "course_lib.DiffusionPolicy"
TRAINING_FORMAT = "course_lib.TrainingCheckpoint"
#: Bump when the policy payload's layout changes; loading refuses other versions with a clear message.
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, foreign or of another format version."""


def atomic_torch_save(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; any failure becomes a ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt zip, pickle with code, truncated file...
        raise CheckpointError(
            f"{path} is not a readable course_lib checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(payload, dict) or "format" not in payload:
        raise CheckpointError(f"{path} is not a course_lib checkpoint (no format tag)")
    return payload


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` JSON object of a policy file (command, training config, budget, table row)
    without building the network."""
    return json_field(read_checkpoint(path), "metadata", str(path))


def json_field(payload: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    """``payload[key]`` parsed as a JSON object; CheckpointError when absent or not one."""
    if key not in payload:
        raise CheckpointError(f"{source}: the checkpoint has no {key!r} entry")
    try:
        value = json.loads(payload[key])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: {key!r} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise CheckpointError(
            f"{source}: {key!r} must be a JSON object, got {type(value).__name__}"
        )
    return value


def check_keys(found: Iterable[str], expected: Iterable[str], what: str, source: str) -> None:
    """The keys of ``what`` must be exactly ``expected``: name the unknown and the missing ones."""
    found, expected = set(found), set(expected)
    problems = []
    if found - expected:
        problems.append(f"unknown keys {sorted(found - expected)}")
    if expected - found:
        problems.append(f"missing keys {sorted(expected - found)}")
    if problems:
        raise CheckpointError(f"{source}: {what} has {' and '.join(problems)}")


def check_tensors(
    tensors: Mapping[str, Any], expected: Mapping[str, torch.Tensor], what: str, source: str
) -> None:
    """Same names, shapes as ``expected``, and only finite floating-point values."""
    check_keys(tensors, expected, what, source)
    for name, reference in expected.items():
        value = tensors[name]
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source}: {what} {name!r} is not a tensor")
        if value.shape != reference.shape:
            raise CheckpointError(
                f"{source}: {what} {name!r} has shape {tuple(value.shape)}, "
                f"expected {tuple(reference.shape)}"
            )
        if value.is_floating_point() and not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"{source}: {what} {name!r} holds {bad} NaN or inf values")


def check_payload(payload: dict[str, Any], what: str, source: str = "checkpoint") -> None:
    """Refuse foreign payloads and other format versions with a message that says which."""
    if payload.get("format") != POLICY_FORMAT:
        raise CheckpointError(
            f"{source}: expected a {what} checkpoint ({POLICY_FORMAT}), "
            f"found {payload.get('format')!r}"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: checkpoint format version {version} is not supported by this course_lib "
            f"(expects {FORMAT_VERSION}); retrain or use the matching course_lib version"
        )
