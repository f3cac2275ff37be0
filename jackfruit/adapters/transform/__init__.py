"""transform adapters."""
