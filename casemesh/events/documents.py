"""Events of the documents service: files uploaded, new versions, deletions, generated outputs.

Each carries the case, the task, who did it, the file's name, size, sniffed
content type and hashes, so a subscriber never has to call back.
"""

from __future__ import annotations

from casemesh.events.cases import Person
from casemesh.events.catalogue import EventData, event


class FileRef(EventData):
    """One stored file of a document."""

    filename: str
    size: int
    content_type: str
    sha256: str
    sha1: str
    md5: str


class DocumentEvent(EventData):
    """Fields every document event has."""

    app_doc_uid: str
    app_uid: str
    app_number: int
    app_title: str = ""
    kind: str  # INPUT | OUTPUT | ATTACHMENT | CASE_FILE
    doc_uid: str = ""  # the input/output document definition, if any
    version: int = 1
    app_doc_index: int = 0
    tas_uid: str = ""
    delegation_id: str = ""
    by: Person
    files: list[FileRef] = []


@event("document.uploaded")
class DocumentUploaded(DocumentEvent):
    """A new document (first version) was stored."""


@event("document.version_added")
class DocumentVersionAdded(DocumentEvent):
    """A new version of an existing document was stored."""


@event("document.deleted")
class DocumentDeleted(DocumentEvent):
    """A document was marked DELETED (its record and bytes stay)."""


@event("document.output_generated")
class OutputGenerated(DocumentEvent):
    """An output document was generated (or regenerated) from its template."""

    formats: list[str] = []  # "pdf", "docx"
