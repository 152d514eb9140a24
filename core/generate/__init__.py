"""Skill 2: synthetic data generation."""
