"""How the MongoDB adapter turns driver exceptions into the port's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from casemesh.store.port import DuplicateKey, StoreUnavailable, VersionConflict

# Server error codes.
DUPLICATE_KEY = 11000
WRITE_CONFLICT = 112
NO_SUCH_TRANSACTION = 251
INDEX_OPTIONS_CONFLICT = 85
INDEX_KEY_SPECS_CONFLICT = 86


class TransactionConflict(VersionConflict):
    """A concurrent transaction wrote the same document, so MongoDB aborted this one.

    Nothing of the transaction was written; running it again may succeed.
    """


@contextmanager
def driver_errors(what: str) -> Iterator[None]:
    """Translate driver exceptions into the port's errors."""
    try:
        yield
    except PyMongoError as exc:
        translated = translate(exc, what)
        if translated is exc:
            raise
        raise translated from exc


def translate(exc: PyMongoError, what: str) -> Exception:
    if isinstance(exc, DuplicateKeyError):
        return DuplicateKey(f"{what}: {error_message(exc)}")
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors", []) if isinstance(exc.details, dict) else []
        duplicates = [e for e in errors if e.get("code") == DUPLICATE_KEY]
        if duplicates:
            return DuplicateKey(f"{what}: {duplicates[0].get('errmsg', exc)}")
    if isinstance(exc, ConnectionFailure):  # includes server selection and network timeouts
        return StoreUnavailable(f"{what}: {exc}")
    code = getattr(exc, "code", None)
    if exc.has_error_label("TransientTransactionError") or code in (
        WRITE_CONFLICT,
        NO_SUCH_TRANSACTION,
    ):
        return TransactionConflict(f"{what}: {error_message(exc)}")
    if exc.timeout:
        return StoreUnavailable(f"{what}: {exc}")
    return exc


def error_message(exc: PyMongoError) -> str:
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("errmsg"):
        return str(details["errmsg"])
    return str(exc)
