"""Unit tests of the docflow tasks' pure functions: no server, no workers.

Run from the repository root: .venv/bin/python -m pytest examples/docflow/tests

Task modules live under idflow/tasks/ and are imported as `idflow worker start` imports them: as
`idflow.tasks.<folder>.<file>`, the library's `idflow.tasks` package pointed at this project's tasks folder.
"""

import importlib
from pathlib import Path

import yaml

from idflow.run.workers import mount_tasks_package

mount_tasks_package(Path(__file__).resolve().parent.parent / "idflow" / "tasks")
normalize = importlib.import_module("idflow.tasks.normalize.normalize")
classify = importlib.import_module("idflow.tasks.classify.classify")
stats = importlib.import_module("idflow.tasks.stats.stats")
extract_amounts = importlib.import_module("idflow.tasks.extract_amounts.extract_amounts")
report = importlib.import_module("idflow.tasks.report.report")


def test_normalize_collapses_blanks_and_drops_control_characters():
    assert normalize.normalize_text("  Hello\u00a0 \tworld\x00 \n\n\n\nbye ") == "Hello world\n\nbye"
    assert normalize.normalize(text="") == {"text": "", "chars": 0}


def test_classify():
    assert classify.classify_text("INVOICE ... Total amount due: 3.00") == ("invoice", 3)
    assert classify.classify_text("Dear Ann,\nthanks.\nSincerely, Bo") == ("letter", 0)
    assert classify.classify(text="milk, eggs", invoice_keywords=None) == {"category": "note", "score": 0}


def test_stats():
    assert stats.text_stats("Alpha beta alpha\ngamma ALPHA", top=1) == {"words": 5, "lines": 2, "top_words": ["alpha"]}


def test_extract_amounts_prefers_the_total_line():
    amounts, total = extract_amounts.extract_amounts("a 10.00\nb 1,000.50\nTotal: 1,010.50\nnote 2,000.00")
    assert amounts == ["10.00", "1000.50", "1010.50", "2000.00"] and total == "1010.50"


def test_report_is_yaml():
    text = report.build_report("d", "T", "note", {"words": 2, "top_words": []}, None)
    assert yaml.safe_load(text) == {"document": "d", "title": "T", "category": "note", "words": 2, "top_words": []}
