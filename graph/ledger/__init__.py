"""The ledger domain's GraphQL types, inputs, loaders, queries and mutations."""
