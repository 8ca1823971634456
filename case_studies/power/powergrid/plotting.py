"""Plots of an episode: voltage envelope, dispatch and SOC side by side.

:func:`draw_episode` draws one episode into three axes; :func:`plot_episode` (one
episode, a file) and ``evaluation.plot_day_comparison`` (one row per policy) both
use it, so the panels look the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from powergrid.rollout import EpisodeRecord


def draw_episode(rec: EpisodeRecord, axes: Sequence[Any], prefix: str = "",
                 legend_size: int = 7) -> None:
    """Voltage envelope, dispatch (+ = into the grid) and SOC of ``rec`` into 3 axes."""
    ax_v, ax_p, ax_s = axes
    for a in sorted({r["agent"] for r in rec.rows}):
        rows = [r for r in rec.rows if r["agent"] == a]
        steps = [r["step"] for r in rows]
        ax_v.fill_between(steps, [r["v_min"] for r in rows], [r["v_max"] for r in rows],
                          alpha=0.3, label=a)
        for key in rows[0]:
            if key.endswith(".p_MW"):
                ax_p.step(steps, [r[key] for r in rows], where="post", label=f"{a}/{key[:-5]}")
            if key.endswith(".soc"):
                ax_s.plot(steps, [r[key] for r in rows], marker=".", label=f"{a}/{key[:-4]}")
        ax_p.step(steps, [r["grid_import_MW"] for r in rows], where="post", linestyle=":",
                  label=f"{a}/import")
    bands = set(rec.v_limits.values()) or {(0.95, 1.05)}
    for y in sorted({v for band in bands for v in band}):
        ax_v.axhline(y, color="red", linewidth=0.8, linestyle="--")
    ax_v.set(title=f"{prefix}bus voltage envelope", xlabel="hour", ylabel="|V| (pu)")
    ax_p.set(title=f"{prefix}dispatch (+ = into grid)", xlabel="hour", ylabel="MW")
    ax_s.set(title=f"{prefix}state of charge", xlabel="hour", ylabel="SOC", ylim=(0, 1))
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=legend_size)
        ax.grid(alpha=0.3)


def plot_episode(rec: EpisodeRecord, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    draw_episode(rec, axes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
