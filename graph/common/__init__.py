"""GraphQL building blocks every domain shares: ids, `Info`, loaders, connections, payloads."""
