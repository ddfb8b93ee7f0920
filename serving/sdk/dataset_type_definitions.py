"""``azureml.data.dataset_type_definitions``: the constants notebooks import."""

from __future__ import annotations

from enum import Enum


class PromoteHeadersBehavior(Enum):
    """Which file's first line is the header (here: every file's, or none)."""

    NO_HEADERS = 0
    ONLY_FIRST_FILE_HAS_HEADERS = 1
    COMBINE_ALL_FILES_HEADERS = 2
    ALL_FILES_HAVE_SAME_HEADERS = 3


class FileEncoding(Enum):
    UTF8 = 0
    ISO88591 = 1
    LATIN1 = 2
    ASCII = 3
    UTF16 = 4
    UTF32 = 5
    UTF8BOM = 6
    WINDOWS1252 = 7


class SkipLinesBehavior(Enum):
    NO_ROWS = 0
    FROM_ALL_FILES = 1


__all__ = ["FileEncoding", "PromoteHeadersBehavior", "SkipLinesBehavior"]
