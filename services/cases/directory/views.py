"""Records as clients see them: ProcessMaker's field names, no secrets."""

from __future__ import annotations

from casemesh.store.port import Document
from services.cases.directory.catalogue import Permission

USER_FIELDS = (
    "usr_uid",
    "usr_username",
    "usr_firstname",
    "usr_lastname",
    "usr_email",
    "usr_due_date",
    "usr_create_date",
    "usr_update_date",
    "usr_status",
    "usr_role",
    "usr_reports_to",
    "usr_replaced_by",
    "usr_position",
    "usr_phone",
    "usr_cellular",
    "usr_address",
    "usr_zip_code",
    "usr_time_zone",
)
MEMBER_FIELDS = (
    "usr_uid",
    "usr_username",
    "usr_firstname",
    "usr_lastname",
    "usr_email",
    "usr_status",
)


def user(doc: Document) -> dict:
    return {name: doc.get(name, "") for name in USER_FIELDS}


def member(doc: Document) -> dict:
    return {name: doc.get(name, "") for name in MEMBER_FIELDS}


def group(doc: Document, total_users: int | None = None) -> dict:
    out = {
        "grp_uid": doc["grp_uid"],
        "grp_title": doc["grp_title"],
        "grp_status": doc["grp_status"],
    }
    if total_users is not None:
        out["grp_users"] = total_users
    return out


def role(doc: Document, total_users: int) -> dict:
    return {
        "rol_uid": doc["rol_uid"],
        "rol_code": doc["rol_code"],
        "rol_name": doc["rol_name"],
        "rol_status": doc["rol_status"],
        "rol_system": doc["rol_system"],
        "rol_create_date": doc["rol_create_date"],
        "rol_update_date": doc.get("rol_update_date", ""),
        "rol_total_users": total_users,
    }


def permission(p: Permission) -> dict:
    return {"per_uid": p.uid, "per_code": p.code, "per_name": p.name}


def api_key(doc: Document) -> dict:
    return {
        "key_id": doc["key_id"],
        "usr_uid": doc["usr_uid"],
        "name": doc["name"],
        "prefix": doc["prefix"],
        "created_at": doc["created_at"],
    }
