"""Pydantic models of every tunesmith artifact, one module per stage."""
