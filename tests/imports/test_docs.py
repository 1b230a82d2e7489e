"""docs/imports.md documents every layout's every column, marking the required ones."""

import re
from pathlib import Path

import pytest

from imports.registry import LAYOUTS, layout_class

DOC = (Path(__file__).parents[2] / "docs" / "imports.md").read_text()


def documented(layout: str) -> dict[str, bool]:
    """The columns the layout's table lists, and whether each is marked required (bold)."""
    section = DOC.split(f"### `{layout}`", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| (\*\*)?`([a-z_0-9]+)`", section, flags=re.MULTILINE)
    return {name: bool(bold) for bold, name in rows}


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_column_is_documented_and_marked_as_the_layout_reads_it(name):
    layout = layout_class(name)
    assert documented(name) == {c.name: c.required for c in layout.columns}


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_has_a_sample(name):
    sample = Path(__file__).parents[2] / "docs" / "samples" / f"{name}.csv"
    header = sample.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert set(layout_class(name).required_columns()) <= set(header)
