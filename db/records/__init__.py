"""Immutable rows of the read path: exactly the columns the GraphQL types show, no ORM state."""
