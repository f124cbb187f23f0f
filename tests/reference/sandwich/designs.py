"""Writes the estimation samples of the CV3 reference cases (Table 5 (4), Table 6's regions and
Table 8 (2), from the committed panel) to one CSV for cv3.R; `make` runs it before the R script:

    python tests/reference/sandwich/designs.py <csv>

Only the samples are written (y, regressors, city, province, year): R builds its own design."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from replication.config import Options
from replication.data import load_panel
from replication.indices import analysis_frame
from replication.inference import panel_fit
from replication.models import CONTROLS, REGIONS

ROOT = Path(__file__).resolve().parents[3]
COLUMNS = ["Dist", "Dig", "Dig_entropy", *CONTROLS, "city_code", "province", "year"]


def cases(data: pd.DataFrame, options: Options) -> dict[str, tuple[pd.DataFrame, str]]:
    """case -> (the sample of the table column, the tested term)."""
    out = {"table5_4": (data, "Dig"), "table8_2": (data, "Dig_entropy")}
    out |= {f"table6_{region}": (data[data["region"] == region], "Dig") for region in REGIONS}
    return {name: (panel_fit(frame, "Dist", [term, *CONTROLS], options).sample, term)
            for name, (frame, term) in out.items()}


def main(path: str) -> None:
    options = Options()
    data = analysis_frame(load_panel(ROOT / "data" / "processed" / "panel.csv"), options).data
    frames = [sample[COLUMNS].assign(case=name, term=term)
              for name, (sample, term) in cases(data, options).items()]
    pd.concat(frames, ignore_index=True).to_csv(path, index=False, float_format="%.17g")


if __name__ == "__main__":
    main(sys.argv[1])
