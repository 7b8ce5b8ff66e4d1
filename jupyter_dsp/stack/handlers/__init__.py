"""Tornado handlers of the embedded stack (thin: the logic is in the services)."""
