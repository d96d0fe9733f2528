"""Load the process definitions in a folder into workspace ``workflow`` at start-up.

Every ``*.json``, ``*.yaml`` and ``*.yml`` file under ``settings.definitions_dir``
(``CASEMESH_DEFINITIONS_DIR``), subfolders included, in path order, holds one
definition. A new process is created; a changed one is updated (its revision
goes up); an unchanged one is left alone. A file that cannot be read or is
invalid, or that repeats a process uid an earlier file already defined, is
logged with its path and the reason and skipped: the service still starts.
A store that cannot be reached is not skipped: the error goes up so the
runtime retries start-up, and loading again is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from casemesh.runtime import Runtime
from casemesh.store.port import StoreUnavailable
from services.cases.definitions.errors import DefinitionError
from services.cases.definitions.parsing import MAX_SIZE, Format, parse_definition
from services.cases.definitions.service import ProcessDefinitions, Saved

log = logging.getLogger("casemesh.cases.definitions")

WORKSPACE = "workflow"
LOADER_USER = "system"
SUFFIXES = {".json": Format.JSON, ".yaml": Format.YAML, ".yml": Format.YAML}


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path: reason


def startup_hook(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    """A Runtime start-up hook loading ``settings.definitions_dir``, if one is set."""

    async def load() -> None:
        folder = runtime.settings.definitions_dir
        if folder is not None:
            await load_definitions(ProcessDefinitions.over(runtime.store), folder)

    return load


async def load_definitions(
    service: ProcessDefinitions, folder: Path, *, workspace: str = WORKSPACE
) -> LoadReport:
    report = LoadReport()
    try:
        files = await asyncio.to_thread(_read_files, folder)
    except OSError as exc:
        log.error("process definitions folder %s cannot be read: %s", folder, exc)
        return report
    seen: dict[str, str] = {}  # process uid: the file that defined it
    for path, content in files:
        name = str(path)
        try:
            saved = await _load_one(service, workspace, path, content, seen)
        except StoreUnavailable:
            raise
        except DefinitionError as exc:
            report.failed[name] = exc.message
            log.error("process definition %s skipped: %s", name, exc.message)
            continue
        except Exception as exc:  # never let one file stop the service from starting
            report.failed[name] = f"{type(exc).__name__}: {exc}"
            log.exception("process definition %s skipped after an unexpected error", name)
            continue
        if saved == Saved.CREATED:
            report.created.append(name)
        elif saved == Saved.UPDATED:
            report.updated.append(name)
        else:
            report.unchanged.append(name)
    log.info(
        "process definitions from %s into %s: %d created, %d updated, %d unchanged, %d skipped",
        folder,
        workspace,
        len(report.created),
        len(report.updated),
        len(report.unchanged),
        len(report.failed),
    )
    return report


async def _load_one(
    service: ProcessDefinitions,
    workspace: str,
    path: Path,
    content: bytes | OSError,
    seen: dict[str, str],
) -> Saved:
    if isinstance(content, OSError):
        raise DefinitionError(f"the file cannot be read: {content}")
    definition = parse_definition(content, SUFFIXES[path.suffix.lower()])
    if definition.uid in seen:
        raise DefinitionError(
            f"process {definition.uid!r} is already defined by {seen[definition.uid]}"
        )
    seen[definition.uid] = str(path)
    return await service.save(workspace, definition, user_uid=LOADER_USER)


def _read_files(folder: Path) -> list[tuple[Path, bytes | OSError]]:
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    files: list[tuple[Path, bytes | OSError]] = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_SIZE:
                raise OSError(f"the file is larger than {MAX_SIZE} bytes")
            files.append((path, path.read_bytes()))
        except OSError as exc:
            files.append((path, exc))
    return files
