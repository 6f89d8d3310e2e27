"""The two cell makers every notebook generator uses (`make_notebooks.py`, `text_lessons.py`)."""
from nbformat.v4 import new_code_cell, new_markdown_cell


def md(text):
    return new_markdown_cell(text.strip())


def code(text, tags=()):
    cell = new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell
