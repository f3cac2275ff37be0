"""runner adapters."""
