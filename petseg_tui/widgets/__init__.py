"""Widgets of the petseg TUI."""
