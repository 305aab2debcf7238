"""Storage: one interface, two backends (local filesystem, WebHDFS through `hdfs`).

Uploads are written under a temporary name beside the target and renamed into place, so a
reader never sees half a file. Every failure is a StorageError carrying the path and the
backend's own message.
"""
from __future__ import annotations

import errno
import logging
import os
import posixpath
import shutil
import uuid
from abc import ABC, abstractmethod

from common.config import IngestConfig
from common.errors import StorageError, StorageRefused

log = logging.getLogger(__name__)

TMP_MARK = "._tmp_"
# A read refused for a reason of the file itself (common.errors.StorageRefused).
_REFUSED_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR,
                             errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP})
_REFUSED_HDFS = frozenset({"AccessControlException", "FileNotFoundException",
                           "ParentNotDirectoryException", "InvalidPathException",
                           "UnresolvedPathException"})


def temporary_name(path: str) -> str:
    """A hidden sibling of path: readers and Hive skip names starting with '.' or '_'."""
    folder, name = posixpath.split(path)
    return posixpath.join(folder, f".{name}{TMP_MARK}{uuid.uuid4().hex[:12]}")


class Storage(ABC):
    """Paths are absolute: local paths for the local backend, HDFS paths for WebHDFS."""

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def uri(self, path: str) -> str:
        """Fully qualified URI of path, as Hive table and partition locations need it."""

    @abstractmethod
    def mkdirs(self, path: str) -> None: ...

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def size(self, path: str) -> int: ...

    @abstractmethod
    def list(self, path: str) -> list[str]:
        """Names (not paths) in a folder, sorted."""

    @abstractmethod
    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """`length` bytes of a file from `offset` (a negative offset counts from the end)."""

    @abstractmethod
    def files_under(self, path: str) -> list[str]:
        """Paths of every file below a folder (recursively), sorted; [] when it is absent."""

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Moves src to dst, replacing a file already at dst."""

    @abstractmethod
    def delete(self, path: str, recursive: bool = False) -> bool:
        """True when something was deleted, False when nothing was there."""

    @abstractmethod
    def _put(self, local_path: str, remote_path: str) -> None: ...

    @abstractmethod
    def _get(self, remote_path: str, local_path: str) -> None: ...

    def upload(self, local_path: str | os.PathLike, remote_path: str) -> None:
        """Copies a local file to remote_path atomically (temporary name, then rename)."""
        local_path = os.fspath(local_path)
        if not os.path.isfile(local_path):
            raise StorageError(f"upload {local_path}: no such local file")
        self.mkdirs(posixpath.dirname(remote_path))
        tmp = temporary_name(remote_path)
        try:
            self._put(local_path, tmp)
            self.rename(tmp, remote_path)
        except BaseException:
            self._discard(tmp)
            raise

    def write_text(self, remote_path: str, text: str) -> None:
        """Writes a small text file atomically (e.g. a quarantine .reason)."""
        import tempfile

        with tempfile.NamedTemporaryFile("w", encoding="utf-8", errors="surrogateescape",
                                         suffix=".txt", delete=False) as out:
            out.write(text)
        try:
            self.upload(out.name, remote_path)
        finally:
            os.unlink(out.name)

    def confined(self, path: str, root: str) -> bool:
        """Whether path, once links are followed, is still under root. The caller has
        already checked the path itself (normalised, no '..')."""
        return True

    def download(self, remote_path: str, local_path: str | os.PathLike) -> None:
        """Copies remote_path to a local file atomically."""
        local_path = os.fspath(local_path)
        os.makedirs(os.path.dirname(local_path) or ".", exist_ok=True)
        tmp = temporary_name(local_path)
        try:
            self._get(remote_path, tmp)
            os.replace(tmp, local_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _discard(self, path: str) -> None:
        try:
            self.delete(path)
        except StorageError as exc:
            log.warning("could not remove temporary %s: %s", path, exc)


class LocalStorage(Storage):
    def describe(self) -> str:
        return "local filesystem"

    def uri(self, path: str) -> str:
        # Hadoop-style: no percent-encoding, so partition folders keep their '=' signs.
        return "file://" + os.path.abspath(path)

    def _fail(self, op: str, path: str, exc: OSError, reading: bool = False) -> StorageError:
        """Reading one file, a refusal of that file (permission denied, gone, a folder) is
        the file's fault; anything else, and every failure to write into our own tree (a
        folder we cannot write is the whole machine's problem), is the machine's."""
        kind = StorageRefused if reading and exc.errno in _REFUSED_ERRNOS else StorageError
        return kind(f"{op} {path}: {exc.strerror or exc}")

    def mkdirs(self, path: str) -> None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise self._fail("mkdirs", path, exc) from None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def size(self, path: str) -> int:
        try:
            return os.stat(path).st_size
        except OSError as exc:
            raise self._fail("size", path, exc) from None

    def list(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError as exc:
            raise self._fail("list", path, exc) from None

    def files_under(self, path: str) -> list[str]:
        return sorted(os.path.join(folder, name) for folder, _, names in os.walk(path)
                      for name in names)

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        try:
            with open(path, "rb") as f:
                f.seek(offset, os.SEEK_END if offset < 0 else os.SEEK_SET)
                return f.read(length)
        except OSError as exc:
            raise self._fail("read", path, exc, reading=True) from None

    def rename(self, src: str, dst: str) -> None:
        try:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.replace(src, dst)
        except OSError as exc:
            raise self._fail("rename", f"{src} -> {dst}:", exc) from None

    def delete(self, path: str, recursive: bool = False) -> bool:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                if recursive:
                    shutil.rmtree(path)
                else:
                    os.rmdir(path)
            else:
                os.unlink(path)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._fail("delete", path, exc) from None

    def confined(self, path: str, root: str) -> bool:
        real, real_root = os.path.realpath(path), os.path.realpath(root)
        return real.startswith(real_root.rstrip("/") + "/")

    def upload(self, local_path: str | os.PathLike, remote_path: str) -> None:
        """As Storage.upload, and durable: the copy and its folder entry are on disk before
        this returns, so the collector's own file can be removed after it."""
        super().upload(local_path, remote_path)
        try:
            _fsync_dir(os.path.dirname(remote_path))
        except OSError as exc:
            raise self._fail("sync", os.path.dirname(remote_path), exc) from None

    def _put(self, local_path: str, remote_path: str) -> None:
        try:
            shutil.copyfile(local_path, remote_path)
            fd = os.open(remote_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._fail("upload", remote_path, exc) from None

    def _get(self, remote_path: str, local_path: str) -> None:
        try:
            shutil.copyfile(remote_path, local_path)
        except OSError as exc:
            if exc.filename == remote_path or exc.filename is None:
                raise self._fail("download", remote_path, exc, reading=True) from None
            raise self._fail("download", remote_path, exc) from None


class WebHdfsStorage(Storage):
    """HDFS through its REST API; the same code path a cluster's edge node uses. With kerberos,
    requests authenticate by SPNEGO with this process's ticket (common.kerberos), whose
    principal is then the HDFS user (`user` is not sent)."""

    def __init__(self, namenode_url: str, user: str | None, fs_uri: str, timeout: float = 60,
                 kerberos: bool = False):
        import hdfs  # imported here: the local backend needs no HTTP stack

        self._hdfs = hdfs
        self.url, self.fs_uri = namenode_url, fs_uri
        if kerberos:
            from hdfs.ext.kerberos import KerberosClient

            self.client = KerberosClient(namenode_url, timeout=timeout)
        else:
            self.client = hdfs.InsecureClient(namenode_url, user=user or _default_user(),
                                              timeout=timeout)

    def describe(self) -> str:
        return f"WebHDFS {self.url}"

    def uri(self, path: str) -> str:
        return self.fs_uri + path

    def _call(self, op: str, path: str, fn, *args, reading: bool = False, **kwargs):
        """One WebHDFS call; the server's message in a StorageError, a StorageRefused when a
        read of one file is refused for that file (see LocalStorage._fail)."""
        import requests

        try:
            return fn(*args, **kwargs)
        except self._hdfs.util.HdfsError as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            refused = reading and getattr(exc, "exception", None) in _REFUSED_HDFS
            raise (StorageRefused if refused else StorageError)(f"{op} {path}: {message}") \
                from None
        except requests.RequestException as exc:
            raise StorageError(f"{op} {path}: cannot reach WebHDFS at {self.url}: "
                               f"{type(exc).__name__}") from None

    def _status(self, path: str):
        return self._call("status", path, self.client.status, path, strict=False)

    def mkdirs(self, path: str) -> None:
        self._call("mkdirs", path, self.client.makedirs, path)

    def exists(self, path: str) -> bool:
        return self._status(path) is not None

    def size(self, path: str) -> int:
        status = self._status(path)
        if status is None:
            raise StorageError(f"size {path}: no such file")
        return int(status["length"])

    def list(self, path: str) -> list[str]:
        return sorted(self._call("list", path, self.client.list, path))

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        if offset < 0:
            offset = max(0, self.size(path) + offset)

        def read():
            with self.client.read(path, offset=offset, length=length) as reader:
                return reader.read()
        return self._call("read", path, read, reading=True)

    def files_under(self, path: str) -> list[str]:
        if not self.exists(path):
            return []
        walked = self._call("walk", path, lambda: list(self.client.walk(path)))
        return sorted(posixpath.join(folder, name) for folder, _, names in walked
                      for name in names)

    def rename(self, src: str, dst: str) -> None:
        self.mkdirs(posixpath.dirname(dst))
        # RENAME with renameoptions=OVERWRITE replaces an existing file in one NameNode call.
        response = self._call("rename", f"{src} -> {dst}", self.client._rename, src,
                              destination=dst, renameoptions="OVERWRITE")
        if response.status_code != 200:
            raise StorageError(f"rename {src} -> {dst}: HTTP {response.status_code}")

    def delete(self, path: str, recursive: bool = False) -> bool:
        return bool(self._call("delete", path, self.client.delete, path, recursive=recursive))

    def _put(self, local_path: str, remote_path: str) -> None:
        def put():
            with open(local_path, "rb") as reader:
                self.client.write(remote_path, reader, overwrite=True)
        self._call("upload", remote_path, put)

    def _get(self, remote_path: str, local_path: str) -> None:
        def get():
            with self.client.read(remote_path, chunk_size=1 << 20) as chunks, \
                    open(local_path, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        self._call("download", remote_path, get, reading=True)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _default_user() -> str:
    import getpass

    return getpass.getuser()


def open_storage(config: IngestConfig) -> Storage:
    """The backend the configuration names: WebHDFS when hdfs.namenode_url is set (SPNEGO when
    Kerberos is on, KRB_AUTH), else local."""
    if config.hdfs.enabled:
        from common import kerberos

        return WebHdfsStorage(config.hdfs.namenode_url, config.hdfs.user,
                              config.hdfs.filesystem_uri, kerberos=kerberos.enabled())
    return LocalStorage()
