"""Per-workspace templates: the shipped defaults, overridable through the API."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from casemesh.store.port import DocumentStore
from services.notifications.defaults import DEFAULTS, SAMPLE_CONTEXT, Templates
from services.notifications.sandbox import TemplateProblem, check, render

log = logging.getLogger("casemesh.notifications.templates")

COLLECTION = "notification_templates"
PARTS = ("subject", "text", "html")
MAX_SUBJECT = 250


class TemplateBook:
    """Which templates a workspace uses for each kind, and rendering with them."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def get(self, workspace: str, kind: str) -> tuple[Templates, bool]:
        """The templates in force for ``kind`` and whether they are the workspace's own."""
        doc = await self._store.get(COLLECTION, _doc_id(workspace, kind))
        if doc is None:
            return DEFAULTS[kind], False
        return Templates(**{p: doc[p] for p in PARTS}), True

    async def save(self, workspace: str, kind: str, parts: Templates, *, by: str) -> None:
        validate(parts)
        doc: dict[str, Any] = {
            **asdict(parts),
            "workspace": workspace,
            "kind": kind,
            "updated_by": by,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        doc_id = _doc_id(workspace, kind)
        async with self._store.transaction() as tx:
            if await tx.get(COLLECTION, doc_id) is None:
                await tx.insert(COLLECTION, {"id": doc_id, **doc})
            else:
                await tx.update(COLLECTION, doc_id, doc)

    async def reset(self, workspace: str, kind: str) -> bool:
        doc_id = _doc_id(workspace, kind)
        async with self._store.transaction() as tx:
            if await tx.get(COLLECTION, doc_id) is None:
                return False
            await tx.delete(COLLECTION, doc_id)
        return True

    async def render(self, workspace: str, kind: str, context: dict[str, Any]) -> dict[str, str]:
        """Subject, text and HTML; a workspace template that fails falls back to the default."""
        return (await self.renderer(workspace, kind))(context)

    async def renderer(
        self, workspace: str, kind: str
    ) -> Callable[[dict[str, Any]], dict[str, str]]:
        """``render`` for one event's recipients: the templates in force are read once."""
        parts, own = await self.get(workspace, kind)

        def render_one(context: dict[str, Any]) -> dict[str, str]:
            if own:
                try:
                    return render_all(parts, context)
                except TemplateProblem as exc:
                    log.warning(
                        "%s template of %s failed (%s); using the default", kind, workspace, exc
                    )
            return render_all(DEFAULTS[kind], context)

        return render_one


def validate(parts: Templates) -> None:
    """Raise TemplateProblem (naming the part) unless every part checks and renders."""
    for name in PARTS:
        source = getattr(parts, name)
        try:
            check(source)
            render(source, SAMPLE_CONTEXT, html=name == "html", strict=True)
        except TemplateProblem as exc:
            raise TemplateProblem(f"{name}: {exc}") from exc


def render_all(parts: Templates, context: dict[str, Any]) -> dict[str, str]:
    subject = render(parts.subject, context, html=False)
    return {
        # One line: a header can never be split by what a template or a note holds.
        "subject": re.sub(r"\s+", " ", subject).strip()[:MAX_SUBJECT],
        "text": render(parts.text, context, html=False),
        "html": render(parts.html, context, html=True),
    }


def _doc_id(workspace: str, kind: str) -> str:
    return f"{workspace}:{kind}"
