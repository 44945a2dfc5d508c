"""Steps on the case page shared by the browser stories (the user's own buttons and inline forms)."""
from __future__ import annotations


def act(page, case_id: int, button: str, *, selects=None, radios=None, note: str | None = None):
    """Press the case page's button; fill its inline form when it has one (radios first: a choice may
    change what a select offers); confirm, and check the answer was 200."""
    panel = page.locator(f"#case-{case_id}")
    posted = lambda r: r.request.method == "POST" and f"/cases/{case_id}/events/" in r.url  # noqa: E731
    if selects is None and radios is None and note is None:
        with page.expect_response(posted) as response:
            panel.get_by_role("button", name=button).first.click()
        assert response.value.status == 200
        return
    panel.get_by_role("button", name=button).first.click()
    form = page.locator(f"#case-{case_id} form.event-form")
    form.wait_for()
    for name, value in (radios or {}).items():
        form.locator(f"input[name={name}][value={value}]").check()
    for name, value in (selects or {}).items():
        form.locator(f"select[name={name}]").select_option(value)
    if note is not None:
        form.locator("textarea[name=note]").fill(note)
    with page.expect_response(posted) as response:
        form.get_by_role("button", name="确定").click()
    assert response.value.status == 200, response.value.text()
