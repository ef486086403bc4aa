"""The instructor's report (OUT/report/index.html) in a real Chromium, opened from disk as an instructor would.

The report is made from a generated class (grades and answer files, no grading): it must load with no
console error and no request to the network, and show the histograms, the student table (sortable)
and the similarity table with a flagged pair side by side. A screenshot goes to tests/browser/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

from dlcourse.grading import report, synthetic

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # the same folder as conftest's


def test_report_in_chromium(browser, tmp_path):
    students = synthetic.make_class(tmp_path, 40, copy_every=20)
    index = report.build_report(tmp_path).index
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors, requests = [], []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("request", lambda req: requests.append(req.url) if not req.url.startswith(("file:", "data:")) else None)
    try:
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        histograms = page.locator("img.histogram")
        assert histograms.count() >= 1
        for i in range(histograms.count()):
            assert histograms.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), "a histogram did not load"
        assert histograms.first.is_visible()
        table = page.locator("table.similarity")
        assert table.is_visible()
        assert table.locator("tbody tr").count() >= 1, "the planted near-copy is flagged"
        assert students[19] in table.inner_text()

        first = page.locator("table.students tbody tr").first.locator("td").first.inner_text()
        page.locator("table.students th").first.click()  # ascending
        page.locator("table.students th").first.click()  # descending
        assert page.locator("table.students tbody tr").first.locator("td").first.inner_text() != first, "the table sorts"

        table.locator("a").first.click()
        page.locator("details").first.evaluate("d => d.open = true")
        assert page.locator("details mark").first.is_visible(), "matching regions are marked"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.goto(index.as_uri())
        page.screenshot(path=str(SCREENSHOTS / "report-top.png"))
        page.locator("table.similarity").scroll_into_view_if_needed()
        page.locator("details").first.evaluate("d => d.open = true")
        page.screenshot(path=str(SCREENSHOTS / "report-similarity.png"))
        print(f"\n[browser] report: screenshots report-top.png, report-similarity.png in {SCREENSHOTS}")
        assert errors == [], f"console errors: {errors}"
        assert requests == [], f"the report asked the network for {requests}"
    finally:
        context.close()
