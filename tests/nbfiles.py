"""Test helper: write a small notebook the runner can execute (parameters cell tagged, Python 3 kernel)."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def write_notebook(path, *sources, params: str, title: str = "# test", summary: str | None = None):
    """``title`` markdown, the tagged ``params`` cell, one code cell per source, then ``summary`` if given."""
    cells = [new_markdown_cell(title), new_code_cell(params, metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(s) for s in sources]
    if summary is not None:
        cells.append(new_markdown_cell(summary))
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), path)
    return path
