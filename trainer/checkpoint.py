"""Checkpoints as safetensors: model weights, optional EMA-teacher weights, optimizer state
(tensors) and, in the metadata, the step, the run config and the optimizer's param groups, so a
run resumes exactly."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from generator.atomic import atomic_path

CHECKPOINT = "checkpoint.safetensors"


def save(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
         step: int, config: dict, extra: dict | None = None, teacher: dict | None = None) -> Path:
    path = Path(path)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"teacher.{k}": v.detach().cpu().contiguous() for k, v in (teacher or {}).items()})
    meta = {"step": str(step), "config": json.dumps(config), "extra": json.dumps(extra or {})}
    if optimizer is not None:
        sd = optimizer.state_dict()
        for pid, state in sd["state"].items():
            for name, v in state.items():
                t = v if torch.is_tensor(v) else torch.tensor(v)
                tensors[f"optim.{pid}.{name}"] = t.detach().cpu().contiguous()
        meta["optim_param_groups"] = json.dumps(sd["param_groups"])
    with atomic_path(path) as tmp:         # never a half-written checkpoint under the name
        save_file(tensors, str(tmp), metadata=meta)
    return path


def resolve_path(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (pass RUN/{CHECKPOINT} or the RUN directory)")
    return path


def load(path: str | Path) -> tuple[dict, dict, dict, dict]:
    """-> (model state, optimizer state dict or {}, metadata with step/config/extra decoded and
    the teacher's state under "teacher" ({} when the run has none), raw metadata)."""
    path = resolve_path(path)
    model, optim, teacher = {}, {}, {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        for k in f.keys():
            if k.startswith("model."):
                model[k[6:]] = f.get_tensor(k)
            elif k.startswith("teacher."):
                teacher[k[8:]] = f.get_tensor(k)
            elif k.startswith("optim."):
                _, pid, name = k.split(".", 2)
                optim.setdefault(int(pid), {})[name] = f.get_tensor(k)
    info = {"step": int(meta.get("step", 0)), "config": json.loads(meta.get("config", "{}")),
            "extra": json.loads(meta.get("extra", "{}")), "teacher": teacher}
    osd = {"state": optim, "param_groups": json.loads(meta["optim_param_groups"])} if "optim_param_groups" in meta else {}
    return model, osd, info, meta
