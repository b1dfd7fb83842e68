"""API keys: roles, permissions, the hashed key store."""
