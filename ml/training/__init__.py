"""Training loops, kept apart from the models they train."""
