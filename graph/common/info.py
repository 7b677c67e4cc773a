"""The resolver `info` type, declared once for every domain."""

from __future__ import annotations

import strawberry

from graph.context import Context

Info = strawberry.Info[Context, None]
"""What every resolver receives: the request's `Context` and no root value."""
