"""The offline bootstrap's pure parts: apt sources, suites, mmdebstrap command lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.errors import UserInputError
from serving.images.bootstrap import (
    AptSource,
    bootstrap_pythons,
    codename,
    debootstrap_argv,
    entry_uri,
    host_sources,
    import_changes,
    mirror_entries,
    mmdebstrap_argv,
    packages,
    parse_deb822,
    parse_sources_list,
    suite_for,
)

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: https://deb.nodesource.example/node_20.x
Suites: nodistro
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
"""


def test_deb822_sources_are_parsed_and_filtered() -> None:
    sources = parse_deb822(DEB822)
    assert [s.uris[0] for s in sources] == [
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
        "https://deb.nodesource.example/node_20.x",
    ]
    assert sources[0].suites == ("bookworm", "bookworm-updates")
    assert sources[0].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_one_line_sources_with_options() -> None:
    text = (
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main contrib\n"
        "deb-src http://m.example/debian bookworm main\n"
        "deb http://m.example/debian-security bookworm-security main # trailing\n"
    )
    sources = parse_sources_list(text)
    assert sources == [
        AptSource(("http://m.example/debian",), ("bookworm",), ("main", "contrib"), "/k.gpg"),
        AptSource(("http://m.example/debian-security",), ("bookworm-security",), ("main",)),
    ]


def test_host_sources_reads_both_formats(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb http://a.example/debian bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "old.list.disabled").write_text("deb http://x/ y main\n")
    uris = [s.uris[0] for s in host_sources(tmp_path)]
    assert uris[0] == "http://a.example/debian"
    assert "http://x/" not in uris and len(uris) == 4


def test_mirror_entries_retarget_the_host_mirror_to_the_suite() -> None:
    entries = mirror_entries(parse_deb822(DEB822), "trixie")
    assert entries == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian trixie trixie-updates main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian-security trixie-security main",
    ]
    assert entry_uri(entries[0]) == "http://mirror.example/debian"
    assert entry_uri("deb http://m/debian bookworm main") == "http://m/debian"


def test_no_debian_mirror_is_one_clear_error() -> None:
    only_third_party = [AptSource(("https://n.example/",), ("nodistro",), ("main",))]
    with pytest.raises(UserInputError, match="no Debian mirror"):
        mirror_entries(only_third_party, "bookworm")


def test_python_versions_follow_the_suites() -> None:
    assert bootstrap_pythons() == {"3.11": "bookworm"}
    assert suite_for("3.11") == "bookworm"
    assert codename("bookworm-security") == "bookworm" and codename("buster/updates") == "buster"
    with pytest.raises(UserInputError) as info:
        suite_for("3.12")
    text = info.value.one_line()
    assert "3.11 (Debian bookworm)" in text and "SERVING_BASE_IMAGE" in text


def test_mmdebstrap_command_is_slim_and_offline_friendly(tmp_path: Path) -> None:
    argv = mmdebstrap_argv(
        "bookworm",
        ["deb http://m/debian bookworm main"],
        tmp_path / "r.tar",
        packages(["libgomp1"]),
        with_apt=False,
    )
    assert argv[:2] == ["mmdebstrap", "--variant=essential"]
    assert "--include=python3,python3-venv,ca-certificates,libstdc++6,libgomp1" in argv
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv
    assert argv[-3:] == ["bookworm", str(tmp_path / "r.tar"), "deb http://m/debian bookworm main"]
    with_apt = mmdebstrap_argv(
        "bookworm",
        ["deb http://m/ bookworm main"],
        tmp_path / "r.tar",
        packages(with_apt=True),
        with_apt=True,
    )
    assert "--variant=minbase" in with_apt and "apt" in with_apt[2]
    assert debootstrap_argv("bookworm", "http://m/debian", tmp_path, ["python3"])[-3:] == [
        "bookworm",
        str(tmp_path),
        "http://m/debian",
    ]


def test_import_changes_label_the_python_version() -> None:
    changes = import_changes(
        "3.11", "bookworm", ["deb [signed-by=/k] http://m/debian bookworm main"], 42.4
    )
    assert 'CMD ["python3"]' in changes and "ENV LANG=C.UTF-8" in changes
    label = changes[-1]
    assert "serving.base.python=3.11" in label and "serving.base.mirror=http://m/debian" in label
