"""Event-bus port, adapters (RabbitMQ, in-process) and the outbox relay."""
