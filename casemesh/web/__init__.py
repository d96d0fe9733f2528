"""Web helpers shared by every process: request ids, JSON logs, errors, metrics, health."""
