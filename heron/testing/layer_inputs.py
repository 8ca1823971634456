"""What a network's first linear layer was fed: lets a test check exactly what a
module reads (e.g. that a centralised critic sees ``state()`` and nothing else)."""

from __future__ import annotations

from typing import Any


def first_linear_inputs(module: Any, *args: Any) -> list[Any]:
    """Call ``module(*args)``; return the input of each call of its first ``nn.Linear``."""
    import torch

    seen: list[Any] = []
    first = next(m for m in module.modules() if isinstance(m, torch.nn.Linear))
    hook = first.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].clone()))
    try:
        module(*args)
    finally:
        hook.remove()
    return seen
