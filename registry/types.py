"""Vocabulary of the registry: node levels, the hierarchy's parent rules, contact roles, household flags."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """Kinds of registry node; the first five form the grid hierarchy (一网一码)."""

    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    BUILDING = "building"
    HOUSEHOLD = "household"
    STATION = "station"  # river gauge station
    ZONE = "zone"  # camera zone


#: allowed parent level of each level
PARENT_LEVELS: dict[Level, tuple[Level, ...]] = {
    Level.STREET: (),
    Level.COMMUNITY: (Level.STREET,),
    Level.GRID: (Level.COMMUNITY,),
    Level.BUILDING: (Level.GRID,),
    Level.HOUSEHOLD: (Level.BUILDING,),
    Level.STATION: (Level.COMMUNITY, Level.GRID),
    Level.ZONE: (Level.GRID, Level.COMMUNITY),
}


class Role(StrEnum):
    GRID_WORKER = "grid_worker"
    FAMILY = "family"
    COMMUNITY_DUTY = "community_duty"
    STREET_DUTY = "street_duty"


#: the node level a contact of each role hangs under
ROLE_LEVEL: dict[Role, Level] = {
    Role.GRID_WORKER: Level.GRID,
    Role.FAMILY: Level.HOUSEHOLD,
    Role.COMMUNITY_DUTY: Level.COMMUNITY,
    Role.STREET_DUTY: Level.STREET,
}


class HouseholdFlag(StrEnum):
    SOLITARY_ELDERLY = "solitary_elderly"
    FIVE_GUARANTEE = "five_guarantee"
    DISABLED = "disabled"
