"""Skill 3: training."""
