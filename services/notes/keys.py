"""Typed keys for what the notes service keeps in its aiohttp application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from services.notes.casefacts import CasesClient
    from services.notes.entries import Entries

ENTRIES: web.AppKey[Entries] = web.AppKey("entries")
CASES: web.AppKey[CasesClient] = web.AppKey("cases_client")
