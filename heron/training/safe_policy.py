"""Pickle-free inference format for heron.training checkpoints.

RLlib stores an RLModule as pickles (``class_and_ctor_args.pkl``,
``module_state.pkl``); unpickling a file can run any code in it, so a checkpoint
from someone else is code. For *acting* only the actor network is needed, and that
is a small MLP whose weights are plain tensors. Beside ``heron_policy.json`` a
checkpoint therefore also gets:

* ``heron_actor.json``: per module, the actor's layers (``linear`` with its sizes,
  activations, ``layer_norm``), where the Gaussian's log std comes from (``"output"``:
  second half of the network output, RLlib's default; ``"free"``: a state-independent
  parameter, as in ``free_log_std`` and the ``mappo-cc`` actor) and its clip;
* ``heron_actor.safetensors``: those tensors only (safetensors: a JSON header plus
  raw numbers, parsed without executing anything), keyed ``<module_id>/<name>``;
  its SHA-256 is in ``heron_actor.json`` so a mismatched pair is refused.

:func:`load_safe_policies` rebuilds the actors with plain torch (no Ray, no pickle,
no ``torch.load``) and wraps them in :class:`SafePolicy`, which shares every pre-
and post-processing step with :class:`heron.training.evaluate.RLlibPolicy`, so both
give the same actions. The critic, optimiser and algorithm state stay RLlib's:
``--resume`` still needs (and unpickles) the RLlib files.

Imports torch and safetensors lazily.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from heron.training.evaluate import CheckpointPolicy, load_metadata

ACTOR_FILE = "heron_actor.json"
WEIGHTS_FILE = "heron_actor.safetensors"
FORMAT_NAME = "heron-safe-actor"
FORMAT_VERSION = 1
#: Export refuses a description whose rebuilt actor differs from the module by more.
EXPORT_TOLERANCE = 1e-6

_ACTIVATIONS = ("tanh", "relu", "silu", "elu", "sigmoid")


class SafeExportError(ValueError):
    """The module's actor cannot be described in the pickle-free format."""


class SafeFormatError(ValueError):
    """The pickle-free files are malformed, inconsistent or of another version."""


# -- describing a trained RLModule ---------------------------------------------------
def _describe_sequential(seq: Any) -> list[tuple[dict[str, Any], Any]]:
    """``[(layer description, source torch layer or None)]`` for an MLP; anything
    but linear layers, known activations and layer norms is refused (so a CNN or
    recurrent encoder fails loudly instead of being exported wrong)."""
    from torch import nn

    kinds = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.SiLU: "silu", nn.Sigmoid: "sigmoid"}
    out: list[tuple[dict[str, Any], Any]] = []
    for layer in seq:
        if isinstance(layer, nn.Linear):
            out.append(({"type": "linear", "in": layer.in_features, "out": layer.out_features,
                         "bias": layer.bias is not None}, layer))
        elif isinstance(layer, nn.LayerNorm):
            out.append(({"type": "layer_norm", "shape": list(layer.normalized_shape),
                         "eps": float(layer.eps),
                         "affine": bool(layer.elementwise_affine)}, layer))
        elif isinstance(layer, nn.ELU):
            out.append(({"type": "elu", "alpha": float(layer.alpha)}, None))
        elif type(layer) in kinds:
            out.append(({"type": kinds[type(layer)]}, None))
        elif isinstance(layer, nn.Identity):
            continue
        else:
            raise SafeExportError(f"layer {layer!r} has no pickle-free description "
                                  "(only MLP actors: Linear, LayerNorm, activations).")
    return out


def _actor_parts(module: Any) -> tuple[list[Any], Any, float | None]:
    """``(sequentials in order, free log-std parameter or None, log-std clip)``."""
    if hasattr(module, "actor_dist_inputs") and hasattr(module, "actor"):
        return [module.actor], module.log_std, None      # CentralizedCriticTorchModule
    enc, head = getattr(module, "encoder", None), getattr(module, "pi", None)
    if enc is None or head is None:
        raise SafeExportError(f"{type(module).__name__} is not a PPO RLModule with "
                              "encoder + pi head.")
    actor_enc = getattr(enc, "actor_encoder", None)
    if actor_enc is None:                   # vf_share_layers: one encoder for both
        actor_enc = getattr(enc, "encoder", None)
    enc_mlp = getattr(getattr(actor_enc, "net", None), "mlp", None)
    head_mlp = getattr(getattr(head, "net", None), "mlp", None)
    if enc_mlp is None or head_mlp is None:
        raise SafeExportError(f"{type(module).__name__}: only MLP encoders and heads are "
                              "supported (no CNN / recurrent encoders).")
    clip = float(head.log_std_clip_param_const.item()) if getattr(head, "clip_log_std",
                                                                  False) else None
    return [enc_mlp, head_mlp], getattr(head, "log_std", None), clip


def describe_actor(module: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(description, {tensor name: CPU tensor})`` of a HERON RLModule's actor."""
    cls = module.get_inference_action_dist_cls()
    if cls.__name__ != "TorchDiagGaussian":
        raise SafeExportError(f"action distribution {cls.__name__}: only diagonal "
                              "Gaussians (Box actions) are supported.")
    seqs, free_log_std, clip = _actor_parts(module)
    layers: list[dict[str, Any]] = []
    tensors: dict[str, Any] = {}
    for seq in seqs:
        for desc, src in _describe_sequential(seq):
            if src is not None:
                for name, t in src.state_dict().items():
                    tensors[f"net.{len(layers)}.{name}"] = t.detach().cpu().contiguous().clone()
            layers.append(desc)
    if free_log_std is not None:
        tensors["log_std"] = free_log_std.detach().cpu().contiguous().clone()
    linears = [d for d in layers if d["type"] == "linear"]
    if not linears:
        raise SafeExportError("actor has no linear layer.")
    out_dim = linears[-1]["out"]
    act_dim = out_dim if free_log_std is not None else out_dim // 2
    desc = {"obs_dim": linears[0]["in"], "act_dim": act_dim, "layers": layers,
            "distribution": "diag_gaussian",
            "log_std": "free" if free_log_std is not None else "output",
            "log_std_clip": clip}
    return desc, tensors


# -- the actor, rebuilt with plain torch ---------------------------------------------
def _build_layer(d: dict[str, Any]) -> Any:
    from torch import nn

    kind = d.get("type")
    if kind == "linear":
        return nn.Linear(int(d["in"]), int(d["out"]), bias=bool(d["bias"]))
    if kind == "layer_norm":
        return nn.LayerNorm([int(n) for n in d["shape"]], eps=float(d["eps"]),
                            elementwise_affine=bool(d["affine"]))
    if kind == "elu":
        return nn.ELU(alpha=float(d["alpha"]))
    if kind in _ACTIVATIONS:
        return {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU,
                "sigmoid": nn.Sigmoid}[kind]()
    raise SafeFormatError(f"unknown layer type {kind!r} in {ACTOR_FILE}.")


def build_actor(desc: dict[str, Any]) -> Any:
    """An ``nn.Module`` mapping module inputs to Gaussian inputs ``[mean, log_std]``,
    exactly as RLlib's module computes them."""
    import torch
    from torch import nn

    if desc.get("distribution") != "diag_gaussian" or desc.get("log_std") not in ("free",
                                                                               "output"):
        raise SafeFormatError(f"unsupported actor description: {desc.get('distribution')!r}, "
                              f"log_std={desc.get('log_std')!r}.")

    class SafeActor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(*[_build_layer(d) for d in desc["layers"]])
            self.free = desc["log_std"] == "free"
            self.clip = desc.get("log_std_clip")
            if self.free:
                self.log_std = nn.Parameter(torch.zeros(int(desc["act_dim"])))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.net(x)
            if self.free:
                mean, log_std = out, self.log_std.expand_as(out)
            else:
                mean, log_std = torch.chunk(out, chunks=2, dim=-1)
            if self.clip is not None:
                log_std = torch.clamp(log_std, -self.clip, self.clip)
            return torch.cat([mean, log_std], dim=-1)

    return SafeActor().eval()


# -- writing ------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_against_module(module: Any, actor: Any, centralized_critic: bool) -> None:
    """Export only what provably acts like the RLlib module (random module inputs)."""
    import torch

    from heron.training.evaluate import module_dist_inputs

    dim = actor.net[0].in_features
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 3, (64, dim)).astype(np.float32))
    with torch.no_grad():
        ref = module_dist_inputs(module, x.to(next(module.parameters()).device),
                                 centralized_critic).cpu()
        got = actor(x)
    err = float((ref - got).abs().max())
    if ref.shape != got.shape or err > EXPORT_TOLERANCE:
        raise SafeExportError(f"rebuilt actor differs from the RLlib module ({err:.3g}).")


def write_safe_policy(modules: dict[str, Any], metadata: dict[str, Any],
                      out_dir: str | Path) -> Path:
    """Write ``heron_actor.json`` + ``heron_actor.safetensors`` for ``modules``
    (``{module_id: RLModule}``, live or loaded) into ``out_dir``; ``metadata`` is the
    checkpoint's ``heron_policy.json`` content (not rewritten here)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cc = bool(metadata.get("centralized_critic"))
    descs: dict[str, Any] = {}
    tensors: dict[str, Any] = {}
    for mid in sorted(set(metadata["agent_to_module"].values())):
        desc, weights = describe_actor(modules[mid])
        actor = build_actor(desc)
        actor.load_state_dict(weights, strict=True)
        _check_against_module(modules[mid], actor, cc)
        descs[mid] = desc
        tensors.update({f"{mid}/{k}": v for k, v in weights.items()})
    save_file(tensors, str(out / WEIGHTS_FILE))
    (out / ACTOR_FILE).write_text(json.dumps(
        {"format": FORMAT_NAME, "version": FORMAT_VERSION, "weights": WEIGHTS_FILE,
         "sha256": _sha256(out / WEIGHTS_FILE), "modules": descs}, indent=2))
    return out


def export_safe_policy(checkpoint_dir: str | Path, out_dir: str | Path) -> Path:
    """Convert a heron.training checkpoint into a pickle-free policy folder.

    ``out_dir`` gets ``heron_policy.json`` and the two safe files, nothing else:
    it loads with :func:`load_safe_policies` (or ``load_policies``) and cannot run
    code. A checkpoint that already has safe files is copied without unpickling;
    otherwise its RLlib modules are loaded, which **unpickles** them: convert only
    checkpoints you trust (typically your own), once.
    """
    from heron.training.evaluate import load_module

    src, out = Path(checkpoint_dir), Path(out_dir)
    meta = load_metadata(src)
    out.mkdir(parents=True, exist_ok=True)
    if has_safe_policy(src):
        load_safe_actors(src)                       # refuse to copy a broken pair
        for name in (ACTOR_FILE, WEIGHTS_FILE):
            if (src / name).resolve() != (out / name).resolve():
                shutil.copy2(src / name, out / name)
    else:
        mids = sorted(set(meta["agent_to_module"].values()))
        write_safe_policy({m: load_module(src, m) for m in mids}, meta, out)
    if (src / "heron_policy.json").resolve() != (out / "heron_policy.json").resolve():
        shutil.copy2(src / "heron_policy.json", out / "heron_policy.json")
    return out


# -- reading ------------------------------------------------------------------------
def has_safe_policy(checkpoint: str | Path) -> bool:
    """Whether ``checkpoint`` has the pickle-free files (both of them)."""
    path = Path(checkpoint)
    return (path / ACTOR_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def load_safe_actors(checkpoint: str | Path) -> dict[str, Any]:
    """``{module_id: actor nn.Module}`` from the safe files; never unpickles."""
    try:
        from safetensors.torch import load_file
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("loading a pickle-free HERON policy needs safetensors: "
                          "pip install safetensors (or heron-marl[train]).") from exc
    path = Path(checkpoint)
    spec = json.loads((path / ACTOR_FILE).read_text())
    if spec.get("format") != FORMAT_NAME or spec.get("version") != FORMAT_VERSION:
        raise SafeFormatError(f"{path / ACTOR_FILE}: format {spec.get('format')!r} version "
                              f"{spec.get('version')!r}; this HERON reads {FORMAT_NAME!r} "
                              f"version {FORMAT_VERSION}.")
    weights_path = path / WEIGHTS_FILE
    if _sha256(weights_path) != spec.get("sha256"):
        raise SafeFormatError(f"{weights_path} does not match the SHA-256 in {ACTOR_FILE}: "
                              "the two files come from different exports.")
    tensors = load_file(str(weights_path), device="cpu")
    actors: dict[str, Any] = {}
    used: set[str] = set()
    for mid, desc in spec["modules"].items():
        prefix = f"{mid}/"
        own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        used.update(prefix + k for k in own)
        actor = build_actor(desc)
        try:
            actor.load_state_dict(own, strict=True)
        except RuntimeError as exc:
            raise SafeFormatError(f"module {mid!r}: weights do not fit the description "
                                  f"({exc}).") from exc
        actors[mid] = actor
    if used != set(tensors):
        raise SafeFormatError(f"{weights_path} has tensors of no described module: "
                              f"{sorted(set(tensors) - used)[:5]}.")
    return actors


class SafePolicy(CheckpointPolicy):
    """One agent's policy from the pickle-free files: same observation processing,
    action scaling and deterministic action (the Gaussian's mean) as
    :class:`~heron.training.evaluate.RLlibPolicy`; plain torch, no Ray."""

    def __init__(self, checkpoint: str | Path, agent_id: str, deterministic: bool = True,
                 *, actor: Any = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(checkpoint, agent_id, deterministic,
                         metadata or load_metadata(checkpoint))
        self.actor = actor if actor is not None else load_safe_actors(checkpoint)[self.module_id]

    def _network_inputs(self, x: Any) -> Any:
        return self.actor(x)

    def _sample(self, inputs: Any) -> Any:
        import torch

        mean, log_std = inputs.chunk(2, dim=-1)
        if self.deterministic:
            return mean
        return torch.distributions.Normal(mean, log_std.exp(), validate_args=False).sample()


def load_safe_policies(checkpoint: str | Path,
                       deterministic: bool = True) -> dict[str, SafePolicy]:
    """One :class:`SafePolicy` per agent (a shared actor is built once)."""
    meta = load_metadata(checkpoint)
    actors = load_safe_actors(checkpoint)
    missing = set(meta["agent_to_module"].values()) - set(actors)
    if missing:
        raise SafeFormatError(f"{Path(checkpoint) / ACTOR_FILE} lacks module(s) "
                              f"{sorted(missing)} named in heron_policy.json.")
    return {agent: SafePolicy(checkpoint, agent, deterministic, actor=actors[mid],
                              metadata=meta)
            for agent, mid in meta["agent_to_module"].items()}
