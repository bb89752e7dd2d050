"""docflow_report: a short YAML report on one document (needs PyYAML: see requirements.txt)."""

import yaml

from idflow import worker_task


def build_report(doc_uuid: str, title: str, category: str, stats: dict, amounts: dict | None = None) -> str:
    """The report as YAML text: document, title, category, words, top words and, for invoices, the total."""
    stats = stats or {}
    document = {
        "document": doc_uuid,
        "title": title,
        "category": category,
        "words": stats.get("words"),
        "top_words": list(stats.get("top_words") or []),
    }
    if amounts and amounts.get("total") is not None:
        document["total"] = f"{amounts['total']} {amounts.get('currency') or ''}".strip()
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


@worker_task(
    task_definition_name="docflow_report",
    description="Write a YAML report on one document.",
    retry_count=1,
    timeout_seconds=60,
    response_timeout_seconds=30,
)
def report(doc_uuid: str, title: str, category: str, stats: dict = None, amounts: dict = None) -> dict:  # noqa: RUF013 (see classify.py)
    return {"report": build_report(doc_uuid, title, category, stats or {}, amounts)}
