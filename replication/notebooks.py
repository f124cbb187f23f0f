"""The two notebooks, run and committed with their outputs, so a reader sees every table and number
without running them.

``execute`` runs a notebook with nbclient from the notebooks/ folder and returns it with its outputs,
free of what changes from run to run (no timings are recorded; execution counts are 1, 2, ... in
order), so executing a current notebook again gives the same file: ``make notebooks`` rewrites them,
and a test executes each and compares its outputs with the committed ones.
"""

from __future__ import annotations

from pathlib import Path

NOTEBOOKS = ("01_indices.ipynb", "02_main_results.ipynb")


def execute(path: Path, allow_errors: bool = False):
    """The notebook at `path` executed in its own folder (nbformat.NotebookNode, outputs filled in). A
    cell that raises stops the run (nbclient's CellExecutionError), unless `allow_errors`: then its
    error is recorded as the cell's output and the next cells run."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", record_timing=False, allow_errors=allow_errors,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def outputs(notebook) -> list[list[dict]]:
    """Every code cell's outputs, as plain data (what a test compares)."""
    return [_coalesced(cell.get("outputs", [])) for cell in notebook.cells if cell.cell_type == "code"]


def _coalesced(cell_outputs) -> list[dict]:
    """Consecutive stream outputs of one name joined: the kernel may split one print into chunks
    differently from run to run (under load), which is not a change of the notebook."""
    out: list[dict] = []
    for o in map(dict, cell_outputs):
        if out and o.get("output_type") == "stream" and out[-1].get("output_type") == "stream" \
                and out[-1].get("name") == o.get("name"):
            out[-1] = {**out[-1], "text": out[-1]["text"] + o["text"]}
        else:
            out.append(o)
    return out


def text(notebook) -> str:
    import nbformat

    return nbformat.writes(notebook) + "\n"
