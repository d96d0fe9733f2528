"""The notifications service's public contract: every route it serves through the gateway.

All under ``/casemesh/v1/notifications``. Each operation points at the
pydantic model its handler validates with (``routes``) and at the models
describing its answers (``responses``). Served as an OpenAPI fragment at
``GET /openapi.json``; the gateway merges it with the other services'.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from casemesh.web.openapi import CasemeshError, Operation, Response
from services.notifications import responses
from services.notifications.kinds import KINDS
from services.notifications.request_models import (
    DeliveriesQuery,
    PreferencesBody,
    TemplateBody,
    WhoseQuery,
)
from services.notifications.routes import BASE

NAME = "notifications"
KIND = {"type": "string", "enum": list(KINDS), "description": "A kind of notification."}


def operations() -> list[Operation]:
    """Every public route of the notifications service, as the gateway serves it."""
    common: dict[str, Any] = {"tags": ("Casemesh: notifications",), "error": CasemeshError}
    template = f"{BASE}/templates/{{kind}}"
    kind = {"kind": KIND}
    return [
        Operation("GET", f"{BASE}/preferences", "Which kinds of notification a user receives",
                  query=WhoseQuery, responses={200: responses.PreferencesView},
                  errors=(400, 403), **common),
        Operation("PUT", f"{BASE}/preferences", "Turn kinds of notification on or off",
                  query=WhoseQuery, body=PreferencesBody,
                  responses={200: responses.PreferencesView}, errors=(400, 403, 413), **common),
        Operation("GET", f"{BASE}/templates", "The templates of every kind in this workspace",
                  responses={200: TypeAdapter(list[responses.TemplateView])}, errors=(),
                  **common),
        Operation("GET", template, "The templates in force for a kind",
                  responses={200: responses.TemplateView}, errors=(404,), path_params=kind,
                  **common),
        Operation("PUT", template, "Set the workspace's own templates for a kind (administrators)",
                  body=TemplateBody, responses={200: responses.TemplateView},
                  errors=(400, 403, 404, 413), path_params=kind, **common),
        Operation("DELETE", template, "Go back to the default templates (administrators)",
                  responses={204: Response(description="reset; no body")},
                  errors=(403, 404), path_params=kind, **common),
        Operation("GET", f"{BASE}/deliveries", "E-mail deliveries: the caller's, or all (admins)",
                  query=DeliveriesQuery, responses={200: responses.DeliveriesPage},
                  errors=(400,), **common),
        Operation("GET", f"{BASE}/deliveries/{{delivery_id}}", "One delivery",
                  responses={200: responses.Delivery}, errors=(404,), **common),
    ]  # fmt: skip
