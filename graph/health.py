"""The `health` query: is the service up, and does its database answer."""

from __future__ import annotations

from enum import Enum

import strawberry

from db.repositories.health import database_answers
from graph.common.info import Info

VERSION = "0.1.0"


@strawberry.enum(description="Overall service health.")
class HealthStatus(Enum):
    """`OK` when every dependency answers, `DEGRADED` otherwise."""

    OK = "OK"
    DEGRADED = "DEGRADED"


@strawberry.type(description="Service health as seen by this instance.")
class Health:
    """The service's health at the time of the query."""

    status: HealthStatus
    version: str
    database: bool = strawberry.field(description="Whether the database answered `SELECT 1`.")


async def resolve_health(info: Info) -> Health:
    """Check the database through the operation's unit of work."""
    try:
        reachable = await info.context.uow.query(database_answers)
    except Exception:
        reachable = False
    status = HealthStatus.OK if reachable else HealthStatus.DEGRADED
    return Health(status=status, version=VERSION, database=reachable)
