"""The identity domain's GraphQL types, inputs, loaders, queries and mutations."""
