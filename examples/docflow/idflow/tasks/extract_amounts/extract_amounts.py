"""docflow_extract_amounts: the money amounts of an invoice, and its total."""

import re
from decimal import Decimal

from idflow import worker_task

# 1,469.06 or 34.50 (two decimals: years, invoice numbers and percentages are not amounts)
_AMOUNT = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)\.(\d{2})(?![\d])")


def extract_amounts(text: str) -> tuple[list[str], str | None]:
    """Every amount in the text (as a string with two decimals), and the total.

    The total is the amount on the last line that says "total"; failing that, the largest amount.
    """
    amounts: list[Decimal] = []
    total: Decimal | None = None
    for line in (text or "").splitlines():
        found = [Decimal(f"{whole.replace(',', '')}.{cents}") for whole, cents in _AMOUNT.findall(line)]
        amounts.extend(found)
        if found and "total" in line.lower():
            total = found[-1]
    if total is None and amounts:
        total = max(amounts)
    return [f"{a:.2f}" for a in amounts], (None if total is None else f"{total:.2f}")


@worker_task(
    task_definition_name="docflow_extract_amounts",
    description="Extract the money amounts of an invoice and its total.",
    retry_count=0,
    timeout_seconds=60,
    response_timeout_seconds=30,
)
def extract(text: str, currency: str = "EUR") -> dict:
    amounts, total = extract_amounts(text)
    return {"amounts": amounts, "total": total, "currency": currency}
