"""jackfruit."""
