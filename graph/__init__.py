"""The GraphQL face of LedgerQL: Starlette app, Strawberry schema, resolvers and loaders."""
