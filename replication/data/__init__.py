"""Raw yearbook, PKU and crosswalk files -> the city-year panel."""

import pandas as pd

from replication.data.build import PanelBuild, build_panel
from replication.data.codebook import codebook
from replication.errors import BuildError
from replication.schemas import check, check_panel_size

__all__ = ["BuildError", "PanelBuild", "build_panel", "codebook"]


def load_panel(path) -> pd.DataFrame:
    """The committed panel as written by `python -m replication panel` (fill flags as '' when observed),
    checked against its schema (replication.schemas.PANEL): a bad panel raises a BuildError naming
    the file, the column and the first offending city-years."""
    # only an empty cell is missing: 'n/a' or 'NA' in a numeric column is an error the schema names
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if len(frame) == 0:
        check_panel_size(frame, str(path))
    panel = check(frame, "panel", str(path))
    for column in [c for c in panel.columns if c.endswith("_fill")]:
        panel[column] = panel[column].fillna("").astype(str)
    return panel


# Panels `make data` writes beside the default (data/processed/variants/<name>.csv), with the
# panel-build options that differ from the default panel's. Names and layout are a contract: the
# multiverse reads them.
VARIANTS = {"anomaly_keep": {"anomaly_rule": "keep"}, "anomaly_screen": {"anomaly_rule": "screen"}, "edge2": {"edge_fill_years": 2}}

__all__ += ["VARIANTS", "load_panel"]
