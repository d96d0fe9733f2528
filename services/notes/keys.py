"""Typed keys for what the notes service keeps in its aiohttp application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from services.notes.casefacts import CasesClient
    from services.notes.entries import Entries
    from services.notes.facts_cache import FactsCache

ENTRIES: web.AppKey[Entries] = web.AppKey("entries")
CASES: web.AppKey[CasesClient] = web.AppKey("cases_client")
# Case facts for read paths, kept briefly and dropped by case events (see facts_cache).
FACTS: web.AppKey[FactsCache] = web.AppKey("case_facts")
