"""A second HERON domain, built on ``heron`` alone: space heating in two houses.

Radiators (field agents) heat rooms that follow a first-order thermal RC model; a
coordinator per house (the RL agent) sets every radiator's power through the
setpoint protocol, paying a time-of-use tariff and keeping rooms inside a comfort
band. Each occupant's preferred temperature is a private feature: it shapes the
reward but the house controller never observes it.
"""

from heating.agents import ComfortPreference, House, HouseSignals, Radiator, RoomTemp
from heating.env import HeatingEnv, outdoor_temp_c, tou_price

__all__ = [
    "ComfortPreference",
    "HeatingEnv",
    "House",
    "HouseSignals",
    "Radiator",
    "RoomTemp",
    "outdoor_temp_c",
    "tou_price",
]
