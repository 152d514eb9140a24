"""Skill 4: evaluation."""
