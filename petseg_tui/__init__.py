"""petseg-tui: the Textual dashboard for petseg runs (reads the run store, never touches tensors)."""
