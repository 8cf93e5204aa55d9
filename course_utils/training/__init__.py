"""The training layer both projects share: engine, models, losses, metrics, plots."""
