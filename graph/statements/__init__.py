"""The statements domain's GraphQL types, inputs, loaders, queries and mutations."""
