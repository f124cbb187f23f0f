"""Raw yearbook, PKU and crosswalk files -> the city-year panel."""

from replication.data.build import PanelBuild, build_panel
from replication.data.codebook import codebook
from replication.data.errors import BuildError

__all__ = ["BuildError", "PanelBuild", "build_panel", "codebook"]


def load_panel(path) -> "pd.DataFrame":
    """The committed panel as written by `python -m replication panel` (fill flags as '' when observed)."""
    import pandas as pd

    panel = pd.read_csv(path, dtype={"city_code": int, "year": int})
    for column in [c for c in panel.columns if c.endswith("_fill")]:
        panel[column] = panel[column].fillna("").astype(str)
    return panel


# Panels `make data` writes beside the default (data/processed/variants/<name>.csv), with the
# panel-build options that differ from the default panel's. Names and layout are a contract: the
# multiverse reads them.
VARIANTS = {"anomaly_keep": {"anomaly_rule": "keep"}, "edge2": {"edge_fill_years": 2}}

__all__ += ["VARIANTS", "load_panel"]
