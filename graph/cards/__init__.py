"""The cards domain's GraphQL types, inputs, loaders, queries and mutations."""
