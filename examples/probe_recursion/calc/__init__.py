"""A small calculator: an unmodified program with mutual recursion (no chaoskit in it)."""
