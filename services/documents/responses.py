"""What the documents service answers, as pydantic models: the contract its serialisers keep.

The serialisers (``pm_views``, ``kibana_views``) build plain dicts; these
models describe them field by field for the OpenAPI document, and the
contract tests validate real answers against them. ``extra="forbid"``: a
field a serialiser adds without declaring it here breaks those tests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PM_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
ISO_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"
Status = Literal["ACTIVE", "DELETED"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- ProcessMaker input and output documents ---------------------------------------------


class InputDocument(_Answer):
    """A case's input document (one version) as ProcessMaker shows it."""

    app_doc_uid: str
    app_doc_filename: str
    doc_uid: str = Field(description="The input document definition (inp_doc_uid).")
    app_doc_version: str = Field(pattern=r"^[0-9]+$", description="The version, as text.")
    app_doc_create_date: str = Field(pattern=PM_DATE)
    app_doc_create_user: str = Field(description='"Last, First (username)"')
    app_doc_type: Literal["INPUT"]
    app_doc_index: int
    app_doc_del_index: int
    app_doc_comment: str
    app_doc_status: Status
    app_doc_link: str = Field(description="Where to download the file.")


class OutputDocument(_Answer):
    """A case's generated output document (one version) as ProcessMaker shows it."""

    app_doc_uid: str
    app_doc_filename: str
    doc_uid: str = Field(description="The output document definition (out_doc_uid).")
    app_doc_version: int
    app_doc_create_date: str = Field(pattern=PM_DATE)
    app_doc_create_user: str = Field(description='"Last, First (username)"')
    app_doc_type: Literal["OUTPUT PDF", "OUTPUT DOC", "OUTPUT BOTH"]
    app_doc_index: int
    app_doc_status: Status
    app_doc_link: str = Field(description="Where to download the file.")


# -- Kibana cases and their files ----------------------------------------------------------


class KibanaUser(_Answer):
    email: str | None
    full_name: str | None
    username: str
    profile_uid: str


class FileMeta(_Answer):
    name: str
    extension: str
    mimeType: str
    created: str = Field(pattern=ISO_UTC)


class FilesMeta(_Answer):
    files: list[FileMeta]


class FileStorage(_Answer):
    type: Literal["savedObject"]
    soType: Literal["file"]


class KibanaComment(_Answer):
    """A case file, as Kibana's ``externalReference`` comment."""

    id: str
    type: Literal["externalReference"]
    owner: Literal["cases"]
    externalReferenceId: str
    externalReferenceStorage: FileStorage
    externalReferenceAttachmentTypeId: Literal[".files"]
    externalReferenceMetadata: FilesMeta
    version: str
    created_at: str = Field(pattern=ISO_UTC)
    created_by: KibanaUser
    pushed_at: None
    pushed_by: None
    updated_at: None
    updated_by: None


class Assignee(_Answer):
    uid: str


class CaseSettings(_Answer):
    syncAlerts: bool


class Connector(_Answer):
    id: Literal["none"]
    name: Literal["none"]
    type: Literal[".none"]
    fields: None


class KibanaCase(_Answer):
    """A Casemesh case as a Kibana case, with its files as comments."""

    id: str = Field(description="The case's app_uid.")
    version: str
    title: str
    description: str
    tags: list[str]
    status: Literal["open", "in-progress", "closed"]
    severity: Literal["low", "medium", "high", "critical"]
    owner: Literal["cases"]
    assignees: list[Assignee]
    category: None
    customFields: list[dict]
    settings: CaseSettings
    connector: Connector
    duration: None
    closed_at: str | None
    closed_by: None
    created_at: str
    created_by: KibanaUser | None
    updated_at: str | None
    updated_by: KibanaUser | None
    external_service: None
    totalComment: int
    totalAlerts: int
    comments: list[KibanaComment]


class KibanaComments(_Answer):
    """A case's comments (its files), one page."""

    page: int
    per_page: int
    total: int
    comments: list[KibanaComment]
