"""Skill 1: knowledge extraction."""
