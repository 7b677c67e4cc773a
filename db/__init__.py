"""The async SQLAlchemy layer: engine, unit of work, models, repositories and domain rules."""
