"""A tiny order-processing application (it knows nothing of chaoskit)."""
