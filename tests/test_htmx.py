"""HTMX requests, as htmx-flask reads them: a fragment for a swap, the whole
page for a history restore (Back after htmx's cache was emptied)."""


def test_a_history_restore_gets_the_whole_page_with_one_status_line(as_admin, org, active_integration):
    url = f"/orgs/{org.id}/settings/digital-post/access/add"
    swap = as_admin.get(url, htmx=True).get_data(as_text=True)
    assert "<html" not in swap and 'hx-swap-oob="true"' in swap  # the panel, and the status line out of band
    restore = as_admin.client.get(
        url, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}, follow_redirects=True
    )
    page = restore.get_data(as_text=True)
    assert "<html" in page
    assert page.count('id="dp-status"') == 1
