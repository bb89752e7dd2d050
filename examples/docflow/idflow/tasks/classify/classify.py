"""docflow_classify: invoice, letter or note, by keywords."""

from idflow import worker_task

DEFAULT_KEYWORDS = ("invoice", "amount due", "total", "vat")


def classify_text(text: str, keywords: list[str] | tuple[str, ...] = DEFAULT_KEYWORDS) -> tuple[str, int]:
    """``(category, score)``: the score counts keyword hits; two or more make an invoice."""
    lower = (text or "").lower()
    score = sum(lower.count(keyword.lower()) for keyword in keywords)
    if score >= 2:
        return "invoice", score
    if lower.startswith("dear ") or "\ndear " in lower or "sincerely" in lower:
        return "letter", score
    return "note", score


# The SDK maps task input to parameters by name and converts it by annotation, so in worker modules:
# no `from __future__ import annotations` (annotations must be real types, not strings), annotate
# every parameter (a lone unannotated parameter receives the whole Task object), and write optional
# inputs as `x: list[str] = None`, not `list[str] | None` (which the SDK cannot convert).
@worker_task(
    task_definition_name="docflow_classify",
    description="Classify a document as invoice, letter or note.",
    retry_count=1,
    retry_delay_seconds=1,
    timeout_seconds=60,
    response_timeout_seconds=30,
)
def classify(text: str, invoice_keywords: list[str] = None) -> dict:  # noqa: RUF013 (see above)
    category, score = classify_text(text, invoice_keywords or DEFAULT_KEYWORDS)
    return {"category": category, "score": score}
