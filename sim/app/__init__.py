"""The what-if explorer: a Solara page over the simulation core (``sim app`` serves it)."""
