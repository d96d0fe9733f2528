"""Shared fixtures: each real server has its own plugin module in tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.rabbitmq",
    "tests.fixtures.seaweedfs",
    "tests.fixtures.smtp",
    "tests.fixtures.mongo_backend",
    "tests.fixtures.stores",
    "tests.fixtures.web",
]
