"""Turn JSON or YAML text into a validated ``ProcessDefinition``.

YAML is read with ``yaml.safe_load`` only, so tags such as ``!!python/object``
are refused. The parsed value must stay within ``MAX_DEPTH`` levels and
``MAX_VALUES`` values (YAML aliases count once per use), then the model
validates it, then every route condition and trigger script is parsed by the
workflow engine's own parsers, so a definition that saves is one that runs.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import yaml
from pydantic import ValidationError

from casemesh.web.errors import ApiError
from casemesh.web.forms import check_shape
from casemesh.web.middleware import describe_validation
from services.cases.definitions.errors import DefinitionInvalid
from services.cases.definitions.model import ProcessDefinition

MAX_SIZE = 2 * 1024 * 1024
MAX_DEPTH = 32
MAX_VALUES = 200_000

CONDITIONS_MODULE = "services.cases.engine.conditions"
TRIGGERS_MODULE = "services.cases.engine.triggers"


class Format(StrEnum):
    JSON = "json"
    YAML = "yaml"


def parse_definition(data: bytes, fmt: Format) -> ProcessDefinition:
    """Parse, validate and check a definition; raise DefinitionInvalid saying what is wrong."""
    if len(data) > MAX_SIZE:
        raise DefinitionInvalid(f"a process definition is at most {MAX_SIZE} bytes")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise DefinitionInvalid("the definition is not valid UTF-8") from None
    value = _load_yaml(text) if fmt == Format.YAML else _load_json(text)
    if not isinstance(value, dict):
        raise DefinitionInvalid(f"a process definition is an object, not {type(value).__name__}")
    try:
        check_shape(value, max_depth=MAX_DEPTH, max_fields=MAX_VALUES)
    except ApiError as exc:
        raise DefinitionInvalid(exc.message) from None
    try:
        definition = ProcessDefinition.model_validate(value)
    except ValidationError as exc:
        raise DefinitionInvalid(f"invalid process definition: {describe_validation(exc)}") from None
    check_expressions(definition)
    return definition


def _load_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise DefinitionInvalid(
            f"the definition is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        raise DefinitionInvalid(f"the definition is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _load_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionInvalid(f"the definition is not valid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise _too_deep() from None


def _too_deep() -> DefinitionInvalid:
    return DefinitionInvalid(f"the definition is nested deeper than {MAX_DEPTH} levels")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def check_expressions(definition: ProcessDefinition) -> None:
    """Parse every route condition and trigger script with the engine's parsers."""
    parse_condition = engine_parser(CONDITIONS_MODULE, "parse_condition")
    parse_script = engine_parser(TRIGGERS_MODULE, "parse_script")
    if parse_condition is not None:
        for task in definition.tasks:
            for target in task.routes.to if task.routes else ():
                if not target.condition.strip():
                    continue
                try:
                    parse_condition(target.condition)
                except Exception as exc:  # any parser failure means the condition is invalid
                    raise DefinitionInvalid(
                        f"task {task.uid!r}, route to {target.task!r}: "
                        f"{_one_line(exc) or type(exc).__name__}"
                    ) from None
    if parse_script is not None:
        for trigger in definition.triggers:
            try:
                parse_script(trigger.script)
            except Exception as exc:  # any parser failure means the script is invalid
                raise DefinitionInvalid(
                    f"trigger {trigger.uid!r}: {_one_line(exc) or type(exc).__name__}"
                ) from None


def engine_parser(module_name: str, function: str) -> Callable[[str], Any] | None:
    """The engine's parser, or None while the engine module is not there."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, function, None)
