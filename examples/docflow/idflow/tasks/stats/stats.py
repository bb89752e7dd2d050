"""docflow_stats: word and line counts, and the most frequent words."""

import re
from collections import Counter

from idflow import worker_task

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def text_stats(text: str, top: int = 3) -> dict:
    """Counts of words and lines, and the ``top`` most frequent words of four letters or more."""
    words = _WORD.findall((text or "").lower())
    counts = Counter(word for word in words if len(word) >= 4)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "words": len(words),
        "lines": len((text or "").splitlines()),
        "top_words": [word for word, _ in ranked[: max(top, 0)]],
    }


@worker_task(
    task_definition_name="docflow_stats",
    description="Count words and lines; list the most frequent words.",
    retry_count=1,
    timeout_seconds=60,
    response_timeout_seconds=30,
    thread_count=2,
)
def stats(text: str, top: int = 3) -> dict:
    return text_stats(text, top)
