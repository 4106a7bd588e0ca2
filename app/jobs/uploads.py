"""Putting a job's input on disk safely: bounded copies and zip extraction without surprises.

Zip archives are checked before anything is written: the number of members and the total
declared uncompressed size are capped (zip bombs), as is the ratio of inflated to compressed
size, and every member must land inside the extraction directory (no absolute paths, no ``..``,
no symlinks). Extraction then counts the bytes actually inflated, so an archive that lies about
its sizes is stopped at the caps as well. Messages name members by position, never by name.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from app.errors import MedRecError

_CHUNK = 1 << 20


class UploadRefused(MedRecError):
    """An upload or archive breaks a limit or a safety rule; nothing of it is kept."""

    status = 422
    title = "Upload refused"


class UploadTooLarge(UploadRefused):
    """The upload is larger than ``max_upload_bytes``."""

    status = 413
    title = "Content too large"


def safe_name(name: str) -> str:
    """Return the last path component of a client file name, or refuse it."""
    base = PurePosixPath(name.replace("\\", "/")).name
    if not base or base in (".", "..") or any(ord(c) < 32 for c in base) or len(base) > 200:
        raise UploadRefused("a file name is empty, too long or has control characters")
    return base


def copy_limited(source: BinaryIO, target: Path, *, max_bytes: int) -> int:
    """Copy ``source`` to the new file ``target``; refuse (deleting it) past ``max_bytes``."""
    size = 0
    try:
        out_file = open(target, "xb")  # noqa: SIM115 (closed by the with below)
    except FileExistsError:
        raise UploadRefused("a file name was uploaded twice") from None
    try:
        with out_file as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"uploads are limited to {max_bytes} bytes")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size


def _member_path(root: Path, index: int, info: zipfile.ZipInfo) -> Path | None:
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UploadRefused(f"archive member {index} is a symbolic link")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise UploadRefused(f"archive member {index} escapes the extraction directory")
    target = (root / pure).resolve()
    if not target.is_relative_to(root):
        raise UploadRefused(f"archive member {index} escapes the extraction directory")
    return None if info.is_dir() else target


def extract_zip(
    archive: Path, out_dir: Path, *, max_bytes: int, max_files: int, max_ratio: float = 100.0
) -> int:
    """Extract ``archive`` into the new directory ``out_dir``; return the bytes written.

    ``max_ratio`` caps the inflated size at that multiple of the archive's size (at least
    1 MiB): real exports compress about 10x, zip bombs a thousand times and more.

    Raises:
        UploadRefused: not a zip file, too many members, too large once inflated, a member
            path escaping ``out_dir`` or one that cannot be created. ``out_dir`` is removed.
    """
    out_dir.mkdir(parents=True)
    root = out_dir.resolve()
    limit = min(max_bytes, max(int(max_ratio * archive.stat().st_size), _CHUNK))
    try:
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UploadRefused("the upload is not a readable zip archive") from exc
        with zf:
            members = zf.infolist()
            if len(members) > max_files:
                raise UploadRefused(f"archive has {len(members)} members; the limit is {max_files}")
            if sum(m.file_size for m in members) > limit:
                raise UploadRefused(_too_big(limit, max_bytes))
            targets = [(m, _member_path(root, i, m)) for i, m in enumerate(members)]
            return _inflate(zf, targets, limit, max_bytes)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _too_big(limit: int, max_bytes: int) -> str:
    if limit < max_bytes:
        return f"archive inflates past {limit} bytes (the limit on its compression ratio)"
    return f"archive inflates past the {max_bytes}-byte limit"


def _inflate(
    zf: zipfile.ZipFile,
    targets: list[tuple[zipfile.ZipInfo, Path | None]],
    limit: int,
    max_bytes: int,
) -> int:
    written = 0
    for index, (info, target) in enumerate(targets):
        if target is None:
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise UploadRefused(_too_big(limit, max_bytes))
                    out.write(chunk)
        except FileExistsError as exc:
            raise UploadRefused(f"archive member {index} appears twice") from exc
        except OSError as exc:  # a file where a directory must go, a name too long, ...
            raise UploadRefused(f"archive member {index} cannot be extracted") from exc
        except (zipfile.BadZipFile, EOFError) as exc:
            raise UploadRefused(f"archive member {index} is corrupt") from exc
        except RuntimeError as exc:  # encrypted members
            raise UploadRefused(f"archive member {index} cannot be read") from exc
    return written


def is_zip(path: Path) -> bool:
    """Whether ``path`` is a zip archive (by its magic bytes, not its name).

    Raises:
        UploadRefused: the name ends in ``.zip`` but the bytes are not a zip archive.
    """
    found = path.is_file() and zipfile.is_zipfile(path)
    if not found and path.suffix.lower() == ".zip":
        raise UploadRefused("the upload is named .zip but is not a zip archive")
    return found


def extraction_limit(configured: int | None, where: Path) -> int:
    """The inflated-size cap: ``configured``, else half the free disk space at ``where``."""
    if configured is not None:
        return configured
    probe = next((p for p in (where, *where.parents) if p.exists()), Path("."))
    return shutil.disk_usage(probe).free // 2


def resolve_import(source_path: str, import_dir: Path | None) -> Path:
    """Resolve ``source_path`` inside ``import_dir``; refuse anything else.

    Raises:
        UploadRefused: no import directory configured, or the path is outside it or missing.
    """
    if import_dir is None:
        raise UploadRefused("source_path needs MEDREC_IMPORT_DIR to be configured on the server")
    root = Path(import_dir).resolve()
    candidate = Path(source_path)
    target = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not target.is_relative_to(root) or target == root:
        raise UploadRefused("source_path must name an entry inside the import directory")
    if not os.path.exists(target):
        raise UploadRefused("source_path does not exist in the import directory")
    return target
