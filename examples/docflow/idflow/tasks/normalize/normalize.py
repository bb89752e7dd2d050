"""docflow_normalize: clean up a document's text before anything else reads it.

This task sets every task-definition keyword idflow's decorator accepts, as a reference. idflow reads
them from this file without running it (`idflow plan` shows them), and registers them with `apply`.
"""

import re
import unicodedata

from idflow import worker_task

_BLANKS = re.compile(r"[ \t\f\v\u00a0]+")


def normalize_text(text: str) -> str:
    """NFKC-normalised text: control characters dropped, runs of blanks and of empty lines collapsed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
    lines: list[str] = []
    for raw in text.splitlines():
        line = _BLANKS.sub(" ", raw).strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


@worker_task(
    task_definition_name="docflow_normalize",
    description="Normalise a document's text: NFKC, no control characters, collapsed blanks.",
    owner_email="docflow@example.com",
    # retries: up to 2 more attempts, 1 s then 2 s apart (EXPONENTIAL_BACKOFF with a scale factor of 2)
    retry_count=2,
    retry_logic="EXPONENTIAL_BACKOFF",
    retry_delay_seconds=1,
    backoff_scale_factor=2,
    # timeouts: 60 s without an update from the worker, 120 s per attempt, 600 s in all; a task
    # nobody polls for 60 s times out; a timeout fails the workflow
    response_timeout_seconds=60,
    timeout_seconds=120,
    total_timeout_seconds=600,
    poll_timeout_seconds=60,
    timeout_policy="TIME_OUT_WF",
    # throughput: at most 10 running at once, at most 100 started per second
    concurrent_exec_limit=10,
    rate_limit_per_frequency=100,
    rate_limit_frequency_in_seconds=1,
    # documentation of the interface, and a default input
    input_keys=["text"],
    output_keys=["text", "chars"],
    input_template={"text": ""},
)
def normalize(text: str) -> dict:
    clean = normalize_text(text)
    return {"text": clean, "chars": len(clean)}
