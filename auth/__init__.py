"""Who you are and what you may do: passwords, tokens, principals, permissions."""
