"""What the directory's functions work with, kept once in the application."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from services.cases.directory.passwords import Passwords


@dataclass
class Directory:
    store: DocumentStore
    settings: Settings
    passwords: Passwords = field(default_factory=Passwords)


DIRECTORY: web.AppKey[Directory] = web.AppKey("directory", Directory)
