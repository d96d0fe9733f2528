import pytest

from gateway.routing import service_for


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/1.0/workflow/cases", "cases"),
        ("/api/1.0/workflow/cases/abc/variables", "cases"),
        ("/api/1.0/workflow/cases/abc/notes", "notes"),
        ("/api/1.0/workflow/cases/abc/notes/paged", "notes"),
        ("/api/1.0/workflow/cases/abc/note", "notes"),
        ("/api/1.0/workflow/cases/abc/input-documents", "documents"),
        ("/api/1.0/workflow/cases/abc/input-document/d1", "documents"),
        ("/api/1.0/workflow/cases/abc/2/input-document/d1", "documents"),
        ("/api/1.0/workflow/cases/abc/output-document", "documents"),
        ("/workflow/oauth2/token", "cases"),
        ("/api/v1/case/updates", "notes"),
        ("/api/v1/case/updates/7", "notes"),
        ("/api/case/task/t1/log", "notes"),
        ("/api/case/task/log/_search", "notes"),
        ("/api/datastore/abc", "documents"),
        ("/api/datastorezip/abc", "documents"),
        ("/api/cases/c1/files", "documents"),
        ("/s/marketing/api/cases/c1/files", "documents"),
        ("/casemesh/v1/pings", "cases"),
        ("/casemesh/v1/pings/p1", "cases"),
        ("/nothing/here", None),
        ("/api/1.0", None),
    ],
)
def test_each_family_goes_to_its_service(path, service):
    assert service_for(path) == service
