"""Build each port's adapter from settings: embedded or production.

Imports happen inside the functions so a process loads only the drivers it uses.
"""

from __future__ import annotations

from casemesh.bus.port import EventBus
from casemesh.mail.port import Mailer
from casemesh.objects.port import ObjectStore
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore


def build_store(settings: Settings, service: str) -> DocumentStore:
    if settings.backend("store") == "sqlite":
        from casemesh.store.sqlite import SqliteStore

        return SqliteStore(settings.data_dir / "db" / f"{service}.sqlite3")
    from casemesh.store.mongo import MongoStore

    return MongoStore.from_url(settings.mongo_url, f"{settings.mongo_db_prefix}{service}")


def build_bus(settings: Settings) -> EventBus:
    if settings.backend("bus") == "memory":
        from casemesh.bus.memory import InProcessBus

        return InProcessBus()
    from casemesh.bus.rabbitmq import RabbitMQBus

    return RabbitMQBus(settings.amqp_url, exchange=settings.amqp_exchange)


def build_object_store(settings: Settings) -> ObjectStore:
    if settings.backend("object") == "filesystem":
        from casemesh.objects.filesystem import FilesystemObjectStore

        return FilesystemObjectStore(settings.data_dir / "objects")
    from casemesh.objects.s3 import S3ObjectStore

    return S3ObjectStore.from_settings(settings)


def build_mailer(settings: Settings) -> Mailer:
    if settings.backend("mail") == "eml":
        from casemesh.mail.eml import EmlFolderMailer

        return EmlFolderMailer.from_settings(settings)
    from casemesh.mail.smtp import SmtpMailer

    return SmtpMailer.from_settings(settings)
