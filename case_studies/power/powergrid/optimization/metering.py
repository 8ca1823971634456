"""What each microgrid is billed for: its metered import and the settlement of it.

This is the one place the oracle and the MPC take it from. What a microgrid
is billed for is most of what an optimiser optimises. Written twice, the two
optimisers could disagree with each other, or with the environment, and no test
of either on its own would notice.

The environment (``PowerGridAgent._import_mw`` and ``powergrid.physics.energy_cost``):

* **Meter** (:attr:`~.scenario.AgentSpec.import_meter`): ``pcc_trafo``, the active
  power into the HV side of the microgrid's PCC transformer; ``ext_grid``, the
  slack's injection; ``balance``, a microgrid with neither: its loads, minus its
  devices' output, plus the losses of its own lines.
* **Settlement**: ``dt x price x import`` when importing. An export is credited at
  ``sell_price_ratio x price``. In convex form that is ``max(price x import,
  ratio x price x import)``. The two agree only while the settlement is convex,
  i.e. ``price x (1 - ratio) >= 0``, and :func:`check_convex_settlement` refuses
  prices where they don't.

The MPC's prices are cvxpy Parameters. ``price x import`` stays DPP (each re-solve
reuses the compiled problem) as long as no parameter multiplies another. For a
``balance`` meter the import contains the forecast load, itself a parameter. So
its priced load ``price x own_load`` is a parameter of its own
(:func:`metering_values` gives its value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from powergrid.optimization.network import RadialNetwork
from powergrid.optimization.scenario import AgentSpec, DayScenario, UnsupportedSetupError


def check_convex_settlement(who: str, ratio: float, price: np.ndarray) -> None:
    """Refuse prices for which ``max(price x p, ratio x price x p)`` is not the settlement.

    That is the case when ``price x (1 - ratio) < 0`` in some hour. Selling and buying
    at once would then pay, and the optimiser would report a wrong bound.
    """
    if ratio != 1.0 and np.any(np.asarray(price) * (1.0 - ratio) < 0):
        raise UnsupportedSetupError(
            f"{who}: sell_price_ratio {ratio} with prices of both signs makes the settlement "
            "non-convex; the optimisers support ratio <= 1 with prices >= 0 (or >= 1 with "
            "prices <= 0). Change sell_price_ratio or the price profile.")


def settlement(priced_import: cp.Expression, ratio: float, dt: float) -> cp.Expression:
    """The settlement ($) of ``priced_import`` (``price x import``, one entry per hour)."""
    if ratio == 1.0:
        return dt * cp.sum(priced_import)
    return dt * cp.sum(cp.maximum(priced_import, ratio * priced_import))


@dataclass
class Meter:
    """One microgrid's metered import (MW per hour) and ``price x import`` ($/h)."""

    imp: cp.Expression
    priced: cp.Expression


@dataclass
class Flows:
    """The model's flows the meters read: per branch, the active power sent in at the
    sending end and delivered at the receiving end (pu, (T, n_branch)), and the slack's
    injection (pu, (T, 1))."""

    sent_p: cp.Expression
    recv_p: cp.Expression
    root_p: cp.Expression


def meters(sc: DayScenario, rn: RadialNetwork, flows: Flows,
           dev_p: dict[tuple[str, str], cp.Expression], inputs: Any = None
           ) -> dict[str, Meter]:
    """Every microgrid's meter, as the environment reads it (module docstring).

    ``inputs`` (:class:`~.model.ModelInputs`) makes price and loads Parameters.
    Without it they are the scenario's numbers.
    """
    T = sc.horizon
    net = sc.net
    branch_of_trafo = {int(e): j for j, (k, e) in enumerate(zip(rn.kind, rn.element,
                                                                strict=True)) if k == "trafo"}
    branch_of_line = {int(e): j for j, (k, e) in enumerate(zip(rn.kind, rn.element,
                                                               strict=True)) if k == "line"}
    price = sc.price if inputs is None else inputs.price
    out: dict[str, Meter] = {}
    for ag in sc.agents:
        kind, idx = ag.import_meter
        if kind == "balance":
            gen = 0
            for d in ag.devices:
                if d.kind != "transformer":
                    gen = gen + dev_p[(d.agent, d.name)]
            loss = 0
            for ln in ag.pp_lines:
                j = branch_of_line.get(int(ln))
                if j is not None:
                    loss = loss + (flows.sent_p[:, j] - flows.recv_p[:, j]) * rn.base_mva
            if inputs is None:
                imp = sc.load_p[:, ag.load_rows].sum(axis=1) - gen + loss
                out[ag.name] = Meter(imp, cp.multiply(price, imp))
            else:
                # no product of two parameters (DPP): the priced load is its own parameter
                imp = inputs.own_load[ag.name] - gen + loss
                out[ag.name] = Meter(imp, inputs.own_load_value[ag.name]
                                     - cp.multiply(price, gen - loss))
            continue
        if kind == "ext_grid":
            imp = flows.root_p[:, 0] * rn.base_mva
        else:  # pcc_trafo
            j = branch_of_trafo.get(idx)
            if j is None:
                imp = cp.Constant(np.zeros(T))  # de-energised PCC: no exchange
            elif rn.bus_of_pp.get(int(net.trafo.hv_bus.at[idx])) == rn.send[j]:
                imp = flows.sent_p[:, j] * rn.base_mva
            else:
                imp = -flows.recv_p[:, j] * rn.base_mva
        out[ag.name] = Meter(imp, cp.multiply(price, imp))
    return out


def grid_cost(ag: AgentSpec, meter: Meter, price: Any, dt: float) -> cp.Expression | float:
    """What ``ag`` pays the DSO over the horizon ($); 0 for an agent without grid cost.

    Constant prices are checked for convexity here. A Parameter's values are checked
    by whoever sets them (:func:`metering_values`).
    """
    if not ag.include_grid_cost:
        return 0.0
    if not isinstance(price, cp.Expression):
        check_convex_settlement(ag.name, ag.sell_price_ratio, price)
    return settlement(meter.priced, ag.sell_price_ratio, dt)


def metering_values(sc: DayScenario, load_p: np.ndarray, price: np.ndarray
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per balance-metered microgrid: its own load (MW) and ``price x own load`` ($/h)
    over the horizon, the values of ``ModelInputs.own_load`` and ``own_load_value``.

    ``load_p`` is (T, n_load) in ``net.load`` order, before scaling, as the
    environment's profiles. Prices are checked for a convex settlement here.
    """
    for ag in sc.agents:
        if ag.include_grid_cost:
            check_convex_settlement(ag.name, ag.sell_price_ratio, price)
    out = {}
    for ag in sc.agents:
        if ag.import_meter[0] == "balance":
            own = np.asarray(load_p)[:, ag.load_rows].sum(axis=1)
            out[ag.name] = (own, np.asarray(price) * own)
    return out


def unpaid_branches(sc: DayScenario, rn: RadialNetwork) -> np.ndarray:
    """Branches whose losses appear in no microgrid's bill, as the meters read imports.

    These are the DSO's feeder losses. A microgrid pays for its own losses through
    its import. Nobody pays for the feeder's, and that is what lets the relaxation
    inflate them (see :mod:`.solving`).
    """
    paid = np.zeros(rn.n_branch, dtype=bool)
    line_rows = {int(e): j for j, (k, e) in enumerate(zip(rn.kind, rn.element, strict=True))
                 if k == "line"}
    for ag in sc.agents:
        kind, idx = ag.import_meter
        if kind == "ext_grid":
            paid[:] = True
        elif kind == "pcc_trafo":
            zone = {rn.bus_of_pp[int(b)] for b in ag.pp_buses if int(b) in rn.bus_of_pp}
            paid |= np.isin(rn.recv, list(zone))
            paid |= (np.asarray(rn.kind) == "trafo") & (rn.element == idx)
        else:
            for ln in ag.pp_lines:
                if int(ln) in line_rows:
                    paid[line_rows[int(ln)]] = True
    return ~paid
