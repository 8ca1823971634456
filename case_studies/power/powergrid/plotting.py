"""Plots of an episode: voltage envelope, dispatch and SOC side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from powergrid.rollout import EpisodeRecord


def plot_episode(rec: EpisodeRecord, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    agents = sorted({r["agent"] for r in rec.rows})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for a in agents:
        rows = [r for r in rec.rows if r["agent"] == a]
        steps = [r["step"] for r in rows]
        axes[0].fill_between(steps, [r["v_min"] for r in rows], [r["v_max"] for r in rows],
                             alpha=0.3, label=a)
        for key in rows[0]:
            if key.endswith(".p_MW"):
                axes[1].step(steps, [r[key] for r in rows], where="post", label=f"{a}/{key[:-5]}")
            if key.endswith(".soc"):
                axes[2].plot(steps, [r[key] for r in rows], marker=".", label=f"{a}/{key[:-4]}")
        axes[1].step(steps, [r["grid_import_MW"] for r in rows], where="post", linestyle=":",
                     label=f"{a}/import")
    for y in (0.95, 1.05):
        axes[0].axhline(y, color="red", linewidth=0.8, linestyle="--")
    axes[0].set(title="Bus voltage envelope", xlabel="step (h)", ylabel="|V| (pu)")
    axes[1].set(title="Dispatch (+ = into grid)", xlabel="step (h)", ylabel="MW")
    axes[2].set(title="State of charge", xlabel="step (h)", ylabel="SOC", ylim=(0, 1))
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_costs(costs: dict[str, list[float]], path: str | Path) -> Path:
    """Cost per day for each policy (evaluation report)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in costs.items():
        ax.plot(np.arange(len(values)), values, marker="o", label=name)
    ax.set(xlabel="test day", ylabel="total cost ($)", title="Cost per day")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
