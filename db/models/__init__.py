"""Every model module is imported here so that `Base.metadata` knows all tables."""

from db.base import Base

__all__ = ["Base"]
