"""The complete example of docs/plugins.md runs and its test passes (the docs stay true)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _block(first_line: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    [found] = [b for b in blocks if b.startswith(first_line)]
    return found


def test_docs_example_and_its_test(tmp_path: Path) -> None:
    (tmp_path / "word_count.py").write_text(_block("# plugins/word_count.py"))
    (tmp_path / "doc_test_word_count.py").write_text(_block("# test_word_count.py"))
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("doc_test_word_count")
        module.test_counts_words()
        plugin = importlib.import_module("word_count").plugin
        assert plugin.identifier == "word-count@v0-1-0"
        assert plugin.info().data_output[0].name == "counts.csv"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("doc_test_word_count", None)
        sys.modules.pop("word_count", None)
