"""Zip slip, zip bombs, symlinks and size limits are refused; nothing of a refused input stays."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from app.jobs.uploads import (
    UploadRefused,
    UploadTooLarge,
    copy_limited,
    extract_zip,
    resolve_import,
    safe_name,
)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_plain_archive_is_extracted(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "ok.zip", {"hosp/admissions.csv": b"a\n1\n", "b.csv": b"x"})
    n = extract_zip(archive, tmp_path / "out", max_bytes=100, max_files=10)
    assert n == 5 and (tmp_path / "out" / "hosp" / "admissions.csv").read_bytes() == b"a\n1\n"


@pytest.mark.parametrize("name", ["../evil.csv", "a/../../evil.csv", "/etc/evil.csv", "C:/evil"])
def test_zip_slip_is_refused(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "slip.zip", {"ok.csv": b"1", name: b"pwned"})
    with pytest.raises(UploadRefused, match="escapes the extraction directory"):
        extract_zip(archive, tmp_path / "x" / "out", max_bytes=1000, max_files=10)
    assert not (tmp_path / "x" / "out").exists() and not (tmp_path / "x" / "evil.csv").exists()


def test_symlink_members_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UploadRefused, match="symbolic link"):
        extract_zip(archive, tmp_path / "out", max_bytes=1000, max_files=10)


def test_zip_bombs_are_refused_by_size_and_by_count(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.csv": b"0" * 5_000_000})
    assert bomb.stat().st_size < 50_000  # deflate: a 100x ratio
    with pytest.raises(UploadRefused, match="inflates past"):
        extract_zip(bomb, tmp_path / "a", max_bytes=1_000_000, max_files=10)
    many = _zip(tmp_path / "many.zip", {f"f{i}.csv": b"" for i in range(20)})
    with pytest.raises(UploadRefused, match="20 members"):
        extract_zip(many, tmp_path / "b", max_bytes=1_000_000, max_files=10)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_lying_size_header_is_stopped_while_inflating(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.csv": b"0" * 200_000})
    data = bytearray(bomb.read_bytes())
    # Patch the declared uncompressed size (central directory, offset 24) down to 10 bytes.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    bomb.write_bytes(bytes(data))
    with pytest.raises(UploadRefused):
        extract_zip(bomb, tmp_path / "out", max_bytes=100_000, max_files=10)
    assert not (tmp_path / "out").exists()


def test_copies_stop_at_the_limit(tmp_path: Path) -> None:
    with pytest.raises(UploadTooLarge):
        copy_limited(io.BytesIO(b"x" * 101), tmp_path / "f", max_bytes=100)
    assert not (tmp_path / "f").exists()
    assert copy_limited(io.BytesIO(b"x" * 100), tmp_path / "g", max_bytes=100) == 100


def test_file_names_and_import_paths(tmp_path: Path) -> None:
    assert safe_name("../../x/ndc2atc.csv") == "ndc2atc.csv"
    with pytest.raises(UploadRefused):
        safe_name("..")
    (tmp_path / "imports" / "demo").mkdir(parents=True)
    assert resolve_import("demo", tmp_path / "imports") == (tmp_path / "imports" / "demo")
    for bad in ("../", "/etc", "demo/../../x"):
        with pytest.raises(UploadRefused, match="inside the import directory"):
            resolve_import(bad, tmp_path / "imports")
    with pytest.raises(UploadRefused, match="MEDREC_IMPORT_DIR"):
        resolve_import("demo", None)
