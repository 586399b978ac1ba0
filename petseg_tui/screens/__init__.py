"""Screens of the petseg TUI."""
