"""English city names: the PKU file's, corrected where city_names_en.csv lists a misspelling, never
with surrounding spaces; a stale or malformed correction is refused naming the list."""

from __future__ import annotations

import pytest

from replication.data.sources import english_corrections, read_pku_names
from replication.errors import BuildError

pytestmark = pytest.mark.raw


def test_the_committed_panel_names_every_city_correctly(committed_panel):
    names = committed_panel.drop_duplicates("city_code").set_index("city")["city_en"]
    assert names["南宁市"] == "Nanning" and names["保定市"] == "Baoding" and names["韶关市"] == "Shaoguan"
    assert names["宝鸡市"] == "Baoji" and names["呼和浩特市"] == "Hohhot" and names["茂名市"] == "Maoming"
    assert (names == names.str.strip()).all() and names.str[0].str.isupper().all()
    # two cities share an English name only where their Chinese names are homophones (泰州/台州, ...)
    assert set(names[names.duplicated(keep=False)]) == {"Taizhou", "Suzhou", "Yichun", "Fuzhou", "Yulin"}


def test_a_correction_the_file_does_not_print_is_refused(raw_dir, crosswalk, monkeypatch):
    from replication.data import sources

    stale = "name,pku,english,reason\n南宁市,Nanning,Nanning,misspelt\n"
    monkeypatch.setattr(sources, "english_corrections", lambda: english_corrections(stale))
    with pytest.raises(BuildError, match=r"^replication/data/city_names_en.csv: 南宁市, column pku: 'Nanning', "
                                         r"but .*PKU_DFIIC_city.dta prints 'Nnaning'; expected the spelling"):
        read_pku_names(raw_dir, crosswalk)


def test_a_correction_in_lower_case_is_refused():
    with pytest.raises(Exception, match=r"city_names_en.csv"):
        english_corrections("name,pku,english,reason\n南宁市,Nnaning,nanning,misspelt\n")
