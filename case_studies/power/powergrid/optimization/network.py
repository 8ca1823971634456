"""Per-unit radial branch model of a pandapower net, for the DistFlow oracle.

Why build it from pandapower's own internal case (``_ppc``) rather than from the
tables: the power flows the environment runs (pandapower, and the fast backend,
which compiles the same case) use exactly these per-unit branch parameters, so the
oracle optimises the network the environment simulates: line charging, the
transformer T-model, tap-dependent ratio *and* impedance of a tap on the LV side,
shunts. Differences between oracle and replay are then down to the relaxation and
to taps, not to two models of the same feeder.

Branch model (PYPOWER's, see ``pandapower.pypower.makeYbus.branch_vectors``): an
ideal transformer of ratio ``tau`` at the *from* bus, then the series impedance
``r + jx``, with half the branch shunt ``g + jb`` at each end of the series element.
DistFlow in squared magnitudes then reads, for a branch oriented from the bus
nearer the slack (``s``, sending) to its child (``c``)::

    u      = a_s * w_s                                  (voltage² behind the tap)
    P² + Q² <= u * l                                    (SOC relaxation of P²+Q² = u l)
    a_c * w_c = u - 2 (r P + x Q) + (r² + x²) l
    sent into the branch at s:      P + g/2 u,          Q - b/2 u
    delivered by the branch at c:   P - r l - g/2 a_c w_c,   Q - x l + b/2 a_c w_c

where ``(P, Q)`` is the flow entering the series element, ``l`` its squared current
and ``a = 1/tau²`` on the tapped end, 1 on the other. Phase shifts are irrelevant in a
radial network (angles never enter the DistFlow equations), so they are ignored.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

#: columns of pandapower's internal case (pandapower.pypower.idx_bus / idx_brch)
_BUS_TYPE, _GS, _BS, _BASE_KV = 1, 4, 5, 9
_F, _T, _R, _X, _B, _TAP, _STATUS = 0, 1, 2, 3, 4, 8, 10
_R_ASYM, _X_ASYM, _G, _G_ASYM, _B_ASYM = 21, 22, 23, 24, 25
_ISOLATED = 4


class NetworkModelError(ValueError):
    """The net cannot be written as a radial DistFlow model (meshed, asymmetric...)."""


@dataclass
class BranchParams:
    """Per-branch parameters at one tap configuration (arrays over model branches)."""

    r: np.ndarray
    x: np.ndarray
    g: np.ndarray
    b: np.ndarray
    a_s: np.ndarray  # 1/tau² if the sending end is tapped, else 1
    a_c: np.ndarray  # 1/tau² if the receiving end is tapped, else 1


@dataclass
class RadialNetwork:
    """Radial topology, per-unit data and element -> model-bus maps of a net.

    Build with :meth:`from_net`; :meth:`params` gives the branch parameters for a
    tap vector (``net.trafo`` order), cached per distinct configuration.
    """

    base_mva: float
    n_bus: int
    root: int
    bus_of_pp: dict[int, int]  # pandapower bus index -> model bus
    pp_bus: np.ndarray  # model bus -> pandapower bus index (first one if fused)
    send: np.ndarray  # per model branch: sending model bus
    recv: np.ndarray  # per model branch: receiving model bus
    kind: list[str]  # "line" | "trafo"
    element: np.ndarray  # pandapower index of the line / trafo
    from_is_send: np.ndarray  # ppc from bus (tapped side) is the sending bus
    imax_pu: np.ndarray  # line rating in per unit current (inf: none / trafo)
    gs: np.ndarray  # bus shunt conductance, MW at 1 pu (per model bus)
    bs: np.ndarray  # bus shunt susceptance, MVAr injected at 1 pu
    root_vm: float
    _ppc_rows: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _work: Any = field(repr=False, default=None)
    _cache: dict[tuple, BranchParams] = field(repr=False, default_factory=dict)

    @property
    def n_branch(self) -> int:
        return int(self.send.size)

    # ---------------------------------------------------------------- building
    @classmethod
    def from_net(cls, net: Any) -> RadialNetwork:
        """Compile ``net`` (not modified) into a radial model rooted at its ext_grid."""
        work = copy.deepcopy(net)
        ppc = _internal_case(work)
        lookups = work._pd2ppc_lookups
        bus_lookup = np.asarray(lookups["bus"])
        branch = np.asarray(ppc["branch"])
        bus = np.asarray(ppc["bus"])
        ranges = {k: (int(v[0]), int(v[1])) for k, v in lookups["branch"].items()}
        extra = set(ranges) - {"line", "trafo"}
        if any(ranges[k][1] > ranges[k][0] for k in extra):
            raise NetworkModelError(f"branch types {sorted(extra)} are not supported by the "
                                    "oracle (lines and 2-winding transformers only).")
        eg = net.ext_grid[net.ext_grid.in_service.astype(bool)]
        if len(eg) != 1:
            raise NetworkModelError(f"the oracle needs exactly one in-service ext_grid, "
                                    f"found {len(eg)}.")
        root_ppc = int(bus_lookup[int(eg.bus.iloc[0])])
        root_vm = float(eg.vm_pu.iloc[0])

        rows, kinds, elems = [], [], []
        for kind, table in (("line", net.line), ("trafo", net.trafo)):
            if kind not in ranges:
                continue
            lo, hi = ranges[kind]
            if hi - lo != len(table):
                raise NetworkModelError(f"{kind}: {hi - lo} internal branches for "
                                        f"{len(table)} elements (auxiliary buses of open "
                                        "switches are not supported).")
            for k, idx in enumerate(table.index):
                rows.append(lo + k)
                kinds.append(kind)
                elems.append(int(idx))
        rows_a = np.asarray(rows, dtype=np.int64)
        status = branch[rows_a, _STATUS].real > 0
        bus_ok = bus[:, _BUS_TYPE].real != _ISOLATED
        f_all = branch[rows_a, _F].real.astype(np.int64)
        t_all = branch[rows_a, _T].real.astype(np.int64)
        status &= bus_ok[f_all] & bus_ok[t_all]
        ncol = branch.shape[1]
        for col, name in ((_R_ASYM, "r_asym"), (_X_ASYM, "x_asym"), (_G_ASYM, "g_asym"),
                          (_B_ASYM, "b_asym")):
            if col < ncol and np.any(branch[rows_a[status], col].real != 0):
                raise NetworkModelError(f"asymmetric branch parameters ({name}) are not "
                                        "supported by the DistFlow model.")

        # BFS from the root over in-service branches -> orientation and radiality
        on = np.flatnonzero(status)
        adj: dict[int, list[tuple[int, int]]] = {}
        for k in on:
            adj.setdefault(int(f_all[k]), []).append((int(k), int(t_all[k])))
            adj.setdefault(int(t_all[k]), []).append((int(k), int(f_all[k])))
        order = [root_ppc]
        seen = {root_ppc}
        parent_branch: dict[int, int] = {}
        i = 0
        while i < len(order):
            b = order[i]
            i += 1
            for k, other in adj.get(b, []):
                if k == parent_branch.get(b):
                    continue
                if other in seen:
                    raise NetworkModelError(
                        f"the network is meshed ({kinds[k]} {elems[k]} closes a loop at "
                        f"{_name(net, bus_lookup, other)}); DistFlow needs a radial net.")
                seen.add(other)
                parent_branch[other] = k
                order.append(other)
        model_of_ppc = {b: m for m, b in enumerate(order)}
        child_of = {k: b for b, k in parent_branch.items()}
        sel = np.asarray([k for k in on if k in child_of], dtype=np.int64)
        # branch order: by the model index of the child (BFS order, parents first)
        sel = sel[np.argsort([model_of_ppc[child_of[k]] for k in sel])]
        recv = np.asarray([model_of_ppc[child_of[k]] for k in sel], dtype=np.int64)
        from_is_send = np.asarray([child_of[k] == t_all[k] for k in sel], dtype=bool)
        send = np.asarray([model_of_ppc[int(f_all[k] if fs else t_all[k])]
                           for k, fs in zip(sel, from_is_send, strict=True)], dtype=np.int64)

        base_mva = float(ppc["baseMVA"])
        base_kv = bus[:, _BASE_KV].real
        imax = np.full(sel.size, np.inf)
        line = net.line
        for j, k in enumerate(sel):
            if kinds[k] == "line":
                ln = line.loc[elems[k]]
                ka = float(ln.max_i_ka * ln.df * ln.parallel)
                if ka > 0:
                    ibase = base_mva / (np.sqrt(3.0) * base_kv[f_all[k]])
                    imax[j] = ka / ibase

        pp_bus_of_model = np.full(len(order), -1, dtype=np.int64)
        bus_of_pp: dict[int, int] = {}
        for pp_idx, ppc_idx in zip(net.bus.index, bus_lookup[net.bus.index.to_numpy()],
                                   strict=True):
            m = model_of_ppc.get(int(ppc_idx))
            if m is not None:
                bus_of_pp[int(pp_idx)] = m
                if pp_bus_of_model[m] < 0:
                    pp_bus_of_model[m] = int(pp_idx)
        order_a = np.asarray(order, dtype=np.int64)
        return cls(
            base_mva=base_mva,
            n_bus=len(order),
            root=0,
            bus_of_pp=bus_of_pp,
            pp_bus=pp_bus_of_model,
            send=send,
            recv=recv,
            kind=[kinds[k] for k in sel],
            element=np.asarray([elems[k] for k in sel], dtype=np.int64),
            from_is_send=from_is_send,
            imax_pu=imax,
            gs=bus[order_a, _GS].real / base_mva,
            bs=bus[order_a, _BS].real / base_mva,
            root_vm=root_vm,
            _ppc_rows=rows_a[sel],
            _work=work,
        )

    # ------------------------------------------------------------- parameters
    def params(self, tap_pos: np.ndarray | None = None) -> BranchParams:
        """Branch parameters with ``net.trafo.tap_pos`` replaced by ``tap_pos``."""
        work = self._work
        key = () if tap_pos is None else tuple(np.asarray(tap_pos, dtype=float).round(6))
        if key in self._cache:
            return self._cache[key]
        if tap_pos is not None and len(work.trafo):
            taps = np.asarray(tap_pos, dtype=float)
            if taps.shape != (len(work.trafo),):
                raise ValueError(f"tap_pos: expected {len(work.trafo)} values (net.trafo order), "
                                 f"got shape {taps.shape}.")
            has_tap = np.isfinite(work.trafo.tap_pos.to_numpy(dtype=float, na_value=np.nan))
            work.trafo.loc[has_tap, "tap_pos"] = taps[has_tap]
        branch = np.asarray(_internal_case(work)["branch"])[self._ppc_rows]
        ncol = branch.shape[1]
        g = branch[:, _G].real if _G < ncol else np.zeros(len(branch))
        tap = branch[:, _TAP].real
        a = 1.0 / np.where(tap != 0.0, tap, 1.0) ** 2
        p = BranchParams(
            r=branch[:, _R].real.copy(),
            x=branch[:, _X].real.copy(),
            g=np.asarray(g, dtype=float).copy(),
            b=branch[:, _B].real.copy(),
            a_s=np.where(self.from_is_send, a, 1.0),
            a_c=np.where(self.from_is_send, 1.0, a),
        )
        self._cache[key] = p
        return p

    # ------------------------------------------------------------------ helpers
    def incidence(self) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """(S, C): branch x bus 0/1 matrices of sending and receiving buses."""
        n, m = self.n_branch, self.n_bus
        ones = np.ones(n)
        rows = np.arange(n)
        s = sparse.csr_matrix((ones, (rows, self.send)), shape=(n, m))
        c = sparse.csr_matrix((ones, (rows, self.recv)), shape=(n, m))
        return s, c

    def bus_map(self, pp_buses: np.ndarray, weights: np.ndarray | None = None) -> sparse.csr_matrix:
        """element x model-bus matrix placing each element (at a pandapower bus) on its bus.

        Elements at de-energised buses get an all-zero row (they inject nothing, as in
        the power flow).
        """
        pp_buses = np.asarray(pp_buses, dtype=np.int64)
        w = np.ones(pp_buses.size) if weights is None else np.asarray(weights, dtype=float)
        rows, cols, vals = [], [], []
        for i, b in enumerate(pp_buses):
            m = self.bus_of_pp.get(int(b))
            if m is not None and w[i] != 0:
                rows.append(i)
                cols.append(m)
                vals.append(w[i])
        return sparse.csr_matrix((vals, (rows, cols)), shape=(pp_buses.size, self.n_bus))

    def branch_name(self, j: int, net: Any) -> str:
        """``line 670671 (MG1 Bus 670 - MG1 Bus 671)``: element name and its two buses."""
        table = net.line if self.kind[j] == "line" else net.trafo
        name = table.name.get(int(self.element[j]), None)
        return (f"{self.kind[j]} {name if name is not None else self.element[j]} "
                f"({self.bus_name(int(self.send[j]), net)} - "
                f"{self.bus_name(int(self.recv[j]), net)})")

    def bus_name(self, m: int, net: Any) -> str:
        return str(net.bus.name.get(int(self.pp_bus[m]), self.pp_bus[m]))


def _internal_case(work: Any) -> dict:
    """pandapower's full internal case of ``work`` (built, not solved), as runpp builds it.

    The full case (every branch, out-of-service ones with status 0, all columns) is
    the first product of pandapower's converter; ``to_ppc`` would return the reduced
    one, whose rows no longer follow the element tables.
    """
    from pandapower.auxiliary import _add_ppc_options
    from pandapower.pd2ppc import _pd2ppc

    work["_options"] = {}
    _add_ppc_options(work, calculate_voltage_angles=True, trafo_model="t",
                     check_connectivity=True, mode="pf", switch_rx_ratio=2,
                     enforce_p_lims=False, enforce_q_lims=False, recycle=None,
                     voltage_depend_loads=False, init_vm_pu="flat", init_va_degree="flat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ppc, _ = _pd2ppc(work)
    return ppc


def _name(net: Any, bus_lookup: np.ndarray, ppc_bus: int) -> str:
    hits = np.flatnonzero(bus_lookup[net.bus.index.to_numpy()] == ppc_bus)
    return str(net.bus.name.iloc[hits[0]]) if hits.size else f"internal bus {ppc_bus}"
