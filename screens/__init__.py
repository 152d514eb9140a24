"""One module per screen. screens.registry names every screen the dashboard can open."""
