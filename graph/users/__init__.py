"""Users, roles, sessions and sign-in: the identity part of the schema."""
