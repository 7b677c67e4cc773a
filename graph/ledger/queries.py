"""Ledger queries: transfers."""

from __future__ import annotations

import strawberry

from graph.common.info import Info
from graph.common.loaders import visible_row
from graph.ledger.loaders import TransfersById
from graph.ledger.types import TransferNode
from graph.permissions import IsAuthenticated


@strawberry.type
class LedgerQueries:
    """Ledger fields of the query root."""

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A transfer touching an account you may see; NOT_FOUND otherwise.",
    )
    async def transfer(self, info: Info, id: strawberry.ID) -> TransferNode | None:
        """Hidden and unknown transfers are both NOT_FOUND."""
        return TransferNode.from_model(await visible_row(info, TransfersById, id, "Transfer"))
