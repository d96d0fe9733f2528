"""The page's ``total`` is exact whether the service counts or reads it off the last page."""

from __future__ import annotations

ALL = ["odd note 5", "note 4", "odd note 3", "note 2", "odd note 1"]
PAGES = [
    ("", 5, ALL),
    ("?limit=2", 5, ALL[:2]),
    ("?limit=2&start=2", 5, ALL[2:4]),
    ("?limit=2&start=4", 5, ALL[4:]),  # the last page, not full
    ("?limit=5", 5, ALL),
    ("?limit=2&start=5", 5, []),
    ("?limit=2&start=9", 5, []),  # past the end: counted
    ("?limit=0", 5, []),
    ("?dir=asc&limit=3&start=3", 5, ["note 4", "odd note 5"]),
    ("?search=odd", 3, ["odd note 5", "odd note 3", "odd note 1"]),
    ("?search=odd&limit=2&start=2", 3, ["odd note 1"]),
    ("?search=odd&start=7", 3, []),
    ("?search=none-such", 0, []),
]


async def test_totals_and_pages(world):
    app_uid = (await world.start_case())["app_uid"]
    for n in range(1, 6):
        text = f"{'odd ' if n % 2 else ''}note {n}"
        path = f"/api/1.0/workflow/cases/{app_uid}/note"
        status, body, _ = await world.request("POST", path, json={"note_content": text})
        assert status == 200, body
    for query, total, texts in PAGES:
        path = f"/api/1.0/workflow/cases/{app_uid}/notes/paged{query}"
        status, page, _ = await world.request("GET", path)
        assert status == 200, page
        assert (page["total"], [n["note_content"] for n in page["data"]]) == (total, texts), query
        status, listed, _ = await world.request("GET", path.replace("/notes/paged", "/notes"))
        assert status == 200 and [n["note_content"] for n in listed] == texts, query
