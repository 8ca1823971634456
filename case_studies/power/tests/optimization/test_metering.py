"""The one metering definition: the optimisers' settlement is the environment's, and
both optimisers refuse the same non-convex prices through it."""

from __future__ import annotations

import copy

import cvxpy as cp
import numpy as np
import pytest

from powergrid.optimization import UnsupportedSetupError, make_env, scenario_from_env
from powergrid.optimization.metering import (
    check_convex_settlement,
    metering_values,
    settlement,
)
from powergrid.optimization.model import build_model, tap_positions
from powergrid.optimization.network import RadialNetwork
from powergrid.setups.loader import load_setup
from powergrid.utils.cost import energy_cost


@pytest.mark.parametrize("ratio, price", [(1.0, 42.0), (0.6, 42.0), (1.0, -8.0),
                                          (1.5, -8.0)])
def test_settlement_is_the_environments(ratio, price):
    imports = np.array([-2.0, -0.5, 0.0, 0.7, 3.0])  # MW, export and import
    prices = np.full(imports.size, price)
    dt = 0.5
    ours = settlement(cp.multiply(prices, cp.Constant(imports)), ratio, dt).value
    env = sum(energy_cost(p, price, dt, ratio) for p in imports)
    assert ours == pytest.approx(env, rel=1e-12)


def test_non_convex_settlement_is_refused_by_oracle_and_mpc_alike():
    env = make_env(load_setup("ieee34_ieee13"), "test", 6)
    sc = copy.copy(scenario_from_env(env, 0, 6))
    sc.agents = [copy.copy(a) for a in sc.agents]
    sc.agents[0].sell_price_ratio = 0.5
    sc.price = np.array([30.0, -5.0, 20.0, 25.0, 30.0, 35.0])
    with pytest.raises(UnsupportedSetupError) as direct:
        check_convex_settlement(sc.agents[0].name, 0.5, sc.price)
    # the oracle's model (constant prices) ...
    taps, _ = tap_positions(sc, "regulated")
    with pytest.raises(UnsupportedSetupError) as oracle:
        build_model(sc, RadialNetwork.from_net(sc.net), taps, soft=False, integer=False,
                    voltage_buses="microgrids")
    # ... and the MPC's parameter values
    with pytest.raises(UnsupportedSetupError) as mpc:
        metering_values(sc, sc.load_p, sc.price)
    assert str(oracle.value) == str(mpc.value) == str(direct.value)
    assert "sell_price_ratio 0.5" in str(mpc.value) and sc.agents[0].name in str(mpc.value)
    # prices of one sign are fine
    metering_values(sc, sc.load_p, np.abs(sc.price))
