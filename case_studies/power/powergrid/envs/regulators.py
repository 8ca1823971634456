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
    max_iter: int = 3
    max_steps_per_move: int = 4

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
        # plain Python lists: a handful of regulators, scalar numpy ops would dominate
        self._step = (t.tap_step_percent[idx].to_numpy(dtype=float) / 100.0).tolist()
        self._tap_min = t.tap_min[idx].to_numpy(dtype=float).tolist()
        self._tap_max = t.tap_max[idx].to_numpy(dtype=float).tolist()
        # a tap on the hv side moves the lv voltage the other way
        self._sign = [-1.0 if side == "hv" else 1.0 for side in t.tap_side[idx].astype(str)]
        self.total_operations = 0
        self.upstream = self._upstream_regulators(net, idx)
        self._order = sorted(range(len(self.upstream)), key=lambda k: len(self.upstream[k]))
        self._rows = [int(r) for r in self.rows]

    @staticmethod
    def _upstream_regulators(net: Any, reg_idx: Any) -> list[list[int]]:
        """For each regulator, the positions of the regulators between it and the slack.

        Regulators in series (the IEEE 34 feeder has two, each microgrid one more)
        all see the same upstream voltage error. If each corrected the full error at
        once they would over-correct together and collapse the voltage; each one
        instead corrects only what its upstream regulators have not.
        """
        from collections import deque

        adj: dict[int, list[tuple[int, int | None]]] = {}
        lines = net.line[net.line.in_service.astype(bool)]
        for f, t in zip(lines.from_bus, lines.to_bus):
            adj.setdefault(int(f), []).append((int(t), None))
            adj.setdefault(int(t), []).append((int(f), None))
        reg_pos = {int(i): k for k, i in enumerate(reg_idx)}
        for i, tr in net.trafo[net.trafo.in_service.astype(bool)].iterrows():
            k = reg_pos.get(int(i))
            adj.setdefault(int(tr.hv_bus), []).append((int(tr.lv_bus), k))
            adj.setdefault(int(tr.lv_bus), []).append((int(tr.hv_bus), k))
        regs_above: dict[int, tuple[int, ...]] = {}
        queue: deque[int] = deque()
        for b in net.ext_grid.bus:
            regs_above[int(b)] = ()
            queue.append(int(b))
        while queue:
            b = queue.popleft()
            for nb, k in adj.get(b, ()):
                if nb not in regs_above:
                    regs_above[nb] = regs_above[b] + ((k,) if k is not None else ())
                    queue.append(nb)
        return [list(regs_above.get(int(net.trafo.lv_bus[i]), ()))[:-1] if int(net.trafo.lv_bus[i])
                in regs_above else [] for i in reg_idx]

    @property
    def active(self) -> bool:
        return self.settings.enabled and self.rows.size > 0

    def control(self, vm: np.ndarray) -> bool:
        """One control round on the bus voltages ``vm`` of the last solve: move taps.

        Called by ``GridModel.solve`` between power flows (it re-solves while this
        returns True, up to ``max_iter`` rounds). Returns whether any tap moved.
        """
        s = self.settings
        half = s.bandwidth / 2.0
        v_list = vm[self.bus_rows].tolist()
        v_set = s.v_set
        # plain floats: a handful of regulators, numpy calls on them would cost more
        for v in v_list:
            if abs(v - v_set) > half and v - v == 0.0:  # outside the band, finite
                break
        else:
            return False
        taps = self.gm.tap_pos[self.rows].tolist()
        applied = [0.0] * len(taps)  # pu voltage change each regulator is making
        moved = 0
        upstream = self.upstream
        for k in self._order:  # upstream first
            error = v_set - v_list[k] - sum([applied[j] for j in upstream[k]])
            if abs(error) <= half:  # in band once upstream moves are counted
                continue
            steps = round(error / self._step[k]) * self._sign[k]
            steps = min(max(steps, -s.max_steps_per_move), s.max_steps_per_move)
            new = min(max(taps[k] + steps, self._tap_min[k]), self._tap_max[k])
            if new != taps[k]:
                applied[k] = (new - taps[k]) * self._step[k] * self._sign[k]
                self.gm.set_tap(self._rows[k], int(new))
                moved += abs(new - taps[k])
        self.total_operations += int(moved)
        return moved > 0
