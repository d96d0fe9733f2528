"""First start of the cases service: the default workspace, its client and its admin.

Runs at every start and changes only what is missing, so restarts (and
replicas starting together) are harmless:
- the workspace ``settings.default_workspace`` with the built-in roles;
- the OAuth2 client from ``oauth_client_id``/``oauth_client_secret`` (kept in
  step with the settings, so changing them takes effect on restart);
- once per workspace, the administrator ``admin`` (uid
  00000000000000000000000000000001, role PROCESSMAKER_ADMIN). Its password is
  ``admin_password``; when that is unset, embedded mode generates one, prints
  it once and writes it to ``<data_dir>/admin-password.txt`` (mode 0600), and
  production mode creates no administrator and logs how to fix that. Later
  changes to ``admin_password`` do not reset an existing administrator.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from casemesh.store.port import DuplicateKey
from services.cases.directory import clock, repository, token_repository
from services.cases.directory.catalogue import (
    ADMIN_ROLE,
    ADMIN_USER_UID,
    ADMIN_USERNAME,
    BUILT_IN_ROLES,
)
from services.cases.directory.context import Directory
from services.cases.directory.credentials import digest, new_password
from services.cases.directory.roles import built_in_role_document

log = logging.getLogger("casemesh.cases.directory")
PASSWORD_FILE = "admin-password.txt"  # noqa: S105 - a file name
DEFAULT_CLIENT_SECRET = "casemesh-secret"  # noqa: S105 - documented default, warned about


async def bootstrap(d: Directory) -> None:
    workspace = d.settings.default_workspace
    await ensure_workspace(d, workspace)
    await register_client(d, workspace)
    await ensure_admin(d, workspace)


async def ensure_workspace(d: Directory, workspace: str) -> None:
    """Create ``workspace`` with its built-in roles unless it exists."""
    if await repository.get_workspace(d.store, workspace) is not None:
        return
    moment = clock.now()
    doc = {"id": workspace, "workspace": workspace, "created_at": clock.stamp(moment)}
    roles = [built_in_role_document(workspace, role, moment) for role in BUILT_IN_ROLES]
    try:
        await repository.create_workspace(d.store, doc, roles)
        log.info("created workspace %r", workspace)
    except DuplicateKey:
        pass  # another replica made it first


async def register_client(d: Directory, workspace: str) -> None:
    secret = d.settings.oauth_client_secret.get_secret_value()
    if d.settings.mode == "production" and secret == DEFAULT_CLIENT_SECRET:
        log.warning(
            "the OAuth2 client %r uses the default secret; set CASEMESH_OAUTH_CLIENT_SECRET",
            d.settings.oauth_client_id,
        )
    client_id = d.settings.oauth_client_id
    await token_repository.save_client(
        d.store,
        {
            "id": token_repository.client_id_key(workspace, client_id),
            "workspace": workspace,
            "client_id": client_id,
            "client_name": "Casemesh default client",
            "secret_hash": digest(secret),
        },
    )


async def ensure_admin(d: Directory, workspace: str) -> None:
    ws = await repository.get_workspace(d.store, workspace)
    if ws is None or ws.get("admin_created_at"):
        return
    password = d.settings.admin_password.get_secret_value()
    generated = not password
    if generated:
        if d.settings.mode != "embedded":
            log.error(
                "no administrator exists in workspace %r: set CASEMESH_ADMIN_PASSWORD for the "
                "cases service and restart it",
                workspace,
            )
            return
        password = new_password()
    moment = clock.now()
    admin = {
        "id": repository.record_id(workspace, ADMIN_USER_UID),
        "workspace": workspace,
        "usr_uid": ADMIN_USER_UID,
        "usr_username": ADMIN_USERNAME,
        "usr_firstname": "Administrator",
        "usr_lastname": "",
        "usr_email": "admin@localhost",
        "usr_status": "ACTIVE",
        "usr_role": ADMIN_ROLE,
        "usr_due_date": "",
        "usr_reports_to": "",
        "usr_replaced_by": "",
        "password_hash": await d.passwords.hash(password),
        "usr_create_date": clock.iso(moment),
        "usr_update_date": clock.iso(moment),
        "created_at": clock.stamp(moment),
    }
    try:
        await repository.create_admin(d.store, workspace, admin, clock.stamp(moment))
    except DuplicateKey:
        return  # another replica made it first, or a user named admin exists
    log.info("created the administrator %r of workspace %r", ADMIN_USERNAME, workspace)
    if generated:
        path = _write_password_file(Path(d.settings.data_dir), password)
        print(
            f"Casemesh: created the administrator '{ADMIN_USERNAME}' of workspace "
            f"'{workspace}' with the password: {password}\n"
            f"  (saved in {path}; this is shown only once — set CASEMESH_ADMIN_PASSWORD "
            "to choose the password of a new installation)",
            flush=True,
        )


def _write_password_file(data_dir: Path, password: str) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return path
