"""Shelter importers: the 自治体標準オープンデータセット CSV (older and newer header styles), the
GSI 指定緊急避難場所 CSV and the GSI GeoJSON files. Every rejected row is reported with its
line (or feature) number; nothing is skipped silently."""

from cityos.apps.shelters.importers.read import read_shelter_file
from cityos.apps.shelters.importers.report import ImportReport, Rejection, ShelterRecord

__all__ = ["ImportReport", "Rejection", "ShelterRecord", "read_shelter_file"]
