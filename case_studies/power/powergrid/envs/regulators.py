"""Automatic step-voltage regulators.

The IEEE feeders ship regulators with the tap positions published for *nominal*
load. With time-varying load those fixed taps are wrong most of the day (at a
third of nominal load the IEEE 34 feeder sits above 1.15 pu). Real regulators
move their taps to hold the regulated bus inside a band, so we do the same: after
each power flow, any regulator whose output voltage is outside
``[v_set - bandwidth/2, v_set + bandwidth/2]`` steps its tap towards ``v_set`` and the
power flow is solved again, up to ``max_iter`` rounds (as pandapower's
``DiscreteTapControl`` does in its control loop). Hourly steps are far longer than
a regulator's time delay (30–90 s), so settling within the step is realistic.

A transformer counts as a regulator when its name starts with "reg" (case
insensitive) and its two rated voltages are equal, which is how the feeder
builders name them. Transformers controlled by an RL ``Transformer`` device are
left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class RegulatorSettings:
    enabled: bool = True
    v_set: float = 1.03
    bandwidth: float = 0.02
    max_iter: int = 4

    @classmethod
    def from_config(cls, cfg: Any) -> RegulatorSettings:
        if cfg is None or cfg is True:
            return cls()
        if cfg is False:
            return cls(enabled=False)
        if not isinstance(cfg, dict):
            raise ValueError("regulator_control must be true/false or a mapping "
                             "{enabled, v_set, bandwidth, max_iter}.")
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"regulator_control: unknown key(s) {sorted(unknown)}.")
        return cls(**cfg)


class RegulatorController:
    def __init__(self, grid_model: Any, settings: RegulatorSettings,
                 exclude_trafos: set[int] | None = None) -> None:
        net = grid_model.net
        t = net.trafo
        names = t.name.astype(str).str.lower()
        is_reg = names.str.startswith("reg") & np.isclose(t.vn_hv_kv, t.vn_lv_kv)
        is_reg &= ~t.index.isin(list(exclude_trafos or ()))
        idx = t.index[is_reg]
        self.gm = grid_model
        self.settings = settings
        self.rows = np.array([grid_model.trafo_pos[int(i)] for i in idx], dtype=np.int64)
        self.bus_rows = np.array([grid_model.bus_pos[int(b)] for b in t.lv_bus[idx]], dtype=np.int64)
        self.step = t.tap_step_percent[idx].to_numpy(dtype=float) / 100.0
        self.tap_min = t.tap_min[idx].to_numpy(dtype=float)
        self.tap_max = t.tap_max[idx].to_numpy(dtype=float)
        # a tap on the hv side moves the lv voltage the other way
        self.sign = np.where(t.tap_side[idx].astype(str) == "hv", -1.0, 1.0)
        self.total_operations = 0

    @property
    def active(self) -> bool:
        return self.settings.enabled and self.rows.size > 0

    def solve(self):
        """Power flow with regulator action; returns the final result."""
        res = self.gm.solve()
        if not self.active:
            return res
        s = self.settings
        half = s.bandwidth / 2.0
        for _ in range(s.max_iter):
            if not res.converged:
                break
            v = res.vm_pu[self.bus_rows]
            outside = np.isfinite(v) & (np.abs(v - s.v_set) > half)
            if not outside.any():
                break
            taps = self.gm.tap_pos[self.rows].astype(float)
            moves = np.where(outside, np.rint((s.v_set - v) / self.step) * self.sign, 0.0)
            new = np.clip(taps + moves, self.tap_min, self.tap_max)
            if np.array_equal(new, taps):
                break
            for row, tap in zip(self.rows[new != taps], new[new != taps]):
                self.gm.set_tap(int(row), int(tap))
            self.total_operations += int(np.abs(new - taps).sum())
            res = self.gm.solve()
        return res
