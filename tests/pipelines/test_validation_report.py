"""The HTML report renders, parses, names each failing expectation with its column, and escapes the data."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from pipelines.validate import validate_landing
from projects.sources import generate_batches, read_frame
from projects.workspace import Workspace
from tests.helpers.batches import NOW


class Page(HTMLParser):
    """Collects the text of the page, the cells of its tables, and every tag seen (to spot injected markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            self.rows[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def test_quarantine_report_names_the_failing_expectations(churn: Workspace) -> None:
    generate_batches(churn.project, churn.store, "breakage", 1, start=dt.date(2026, 3, 3), rows=150)
    frame = read_frame(churn.store.read_bytes("landing", "2026-03-03_breakage.csv"), "x.csv")
    frame.loc[0, "region"] = "<script>alert(1)</script>"
    churn.store.write_bytes("landing", "2026-03-04_inject.csv", data=frame.to_csv(index=False).encode())
    validate_landing(churn, now=NOW)
    page = parse(churn.store.read_text("quarantine", "2026-03-04_inject", "report.html"))
    text = " ".join(page.text)
    assert "QUARANTINED" in text
    assert "2026-03-04_inject.csv" in text
    failed = {(row[0].split()[0], row[1]) for row in page.rows if row and row[0].startswith("expect_")}
    assert ("expect_column_values_to_not_be_null", "tenure_months") in failed, failed
    assert ("expect_column_values_to_be_between", "monthly_charges") in failed
    assert ("expect_column_values_to_be_in_set", "region") in failed
    region = next(row for row in page.rows if row and row[0].startswith("expect_column_values_to_be_in_set"))
    assert "<script>alert(1)</script>" in region[3], "the bad value is shown as text"
    assert "script" not in page.tags, "and never as markup"
    cleaning = {row[0]: row[1] for row in page.rows if len(row) == 2 and row[0].startswith(("lowercase", "drop"))}
    assert int(cleaning["drop_exact_duplicates"]) > 0
    assert "mlops quarantine replay --project churn 2026-03-04_inject" in text


def test_validated_report_says_everything_passed(churn: Workspace) -> None:
    generate_batches(churn.project, churn.store, "baseline", 1, start=dt.date(2026, 3, 1), rows=100)
    validate_landing(churn, now=NOW)
    text = " ".join(parse(churn.store.read_text("reports", "validation", "2026-03-01_baseline.html")).text)
    assert "VALIDATED" in text
    assert "Every expectation derived from the contract passed" in text
    assert "How to fix" not in text
