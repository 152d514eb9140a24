"""Reusable widgets: the rater, the stage list, the LLM banner."""
