"""File storage that makes an upload durable before the database row that names it commits.

Django's FileSystemStorage writes the file and returns; after a power loss the row may exist
while the file is empty or missing. Here a file is written under a temporary name in its final
directory, fsynced, linked to its name (never replacing an existing file), and the directory
is fsynced — all before `_save` returns, hence before the model's INSERT and its commit
(SECURITY.md §5.3: "no row without its file").
"""

import os
import tempfile

from django.core.files.storage import FileSystemStorage


def fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableFileSystemStorage(FileSystemStorage):
    """FileSystemStorage with write-to-temp, fsync, link, fsync-directory."""

    def _make_directories(self, directory: str) -> None:
        missing = []
        probe = directory
        while not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        if not missing:
            return
        mode = self.directory_permissions_mode
        for path in reversed(missing):
            try:
                os.mkdir(path, mode if mode is not None else 0o777)
            except FileExistsError:
                pass
            if mode is not None:
                os.chmod(path, mode)  # mkdir's mode is masked by the umask
            fsync_directory(os.path.dirname(path))  # the new entry itself must survive

    def _save(self, name, content):
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        self._make_directories(directory)
        fd, temp_path = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                if hasattr(content, "seek"):
                    content.seek(0)
                for chunk in content.chunks():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(temp_path, self.file_permissions_mode)
            while True:
                try:
                    os.link(temp_path, full_path)  # an atomic rename that never replaces a file
                    break
                except FileExistsError:
                    name = self.get_available_name(name)
                    full_path = self.path(name)
        finally:
            try:
                os.unlink(temp_path)
            except FileNotFoundError:
                pass
        fsync_directory(directory)
        return str(name).replace("\\", "/")
