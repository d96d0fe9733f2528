"""Typed keys for what the documents service keeps in its aiohttp application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from services.documents.facts import CasesClient
    from services.documents.records import Documents

DOCUMENTS: web.AppKey[Documents] = web.AppKey("documents")
CASES: web.AppKey[CasesClient] = web.AppKey("cases_client")
