"""tunesmith's headless core. Importing it never imports a UI library, torch or litellm."""

__version__ = "0.1.0"
