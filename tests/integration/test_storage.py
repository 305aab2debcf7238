"""The storage contract, run against both backends: local filesystem and real HDFS."""
from __future__ import annotations

import threading

import pytest

from common.errors import StorageError
from common.storage import TMP_MARK, LocalStorage, WebHdfsStorage

from .conftest import WEBHDFS_URL, unique


@pytest.fixture(params=["local", "hdfs"])
def store(request, tmp_path):
    if request.param == "local":
        yield LocalStorage(), str(tmp_path / "store")
        return
    request.getfixturevalue("hdfs_up")
    storage = WebHdfsStorage(WEBHDFS_URL, "spot", "hdfs://127.0.0.1:8020")
    root = "/" + unique("storage_test")
    yield storage, root
    storage.delete(root, recursive=True)


def test_mkdirs_exists_list(store):
    storage, root = store
    assert storage.exists(root) is False
    storage.mkdirs(f"{root}/a/b")
    storage.mkdirs(f"{root}/a/b")                       # idempotent
    storage.mkdirs(f"{root}/a/c")
    assert storage.exists(f"{root}/a/b") is True
    assert storage.list(f"{root}/a") == ["b", "c"]


def test_upload_download_size_roundtrip(store, tmp_path):
    storage, root = store
    payload = bytes(range(256)) * 5000                  # 1.28 MB, several chunks
    src = tmp_path / "nfcapd.201601040900"
    src.write_bytes(payload)
    remote = f"{root}/flow/binary/20160104/09/nfcapd.201601040900"
    storage.upload(src, remote)                          # creates the parent folders
    assert storage.size(remote) == len(payload)
    assert storage.list(f"{root}/flow/binary/20160104/09") == ["nfcapd.201601040900"]
    back = tmp_path / "back" / "copy"
    storage.download(remote, back)
    assert back.read_bytes() == payload


def test_upload_replaces_existing_file(store, tmp_path):
    storage, root = store
    remote = f"{root}/x/file.parquet"
    for content in (b"first version", b"second"):
        src = tmp_path / "f"
        src.write_bytes(content)
        storage.upload(src, remote)
    assert storage.size(remote) == len(b"second")
    assert storage.list(f"{root}/x") == ["file.parquet"]


def test_rename_replaces_and_delete(store, tmp_path):
    storage, root = store
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"aaaa")
    b.write_bytes(b"bb")
    storage.upload(a, f"{root}/one")
    storage.upload(b, f"{root}/two")
    storage.rename(f"{root}/one", f"{root}/two")
    assert storage.list(root) == ["two"]
    assert storage.size(f"{root}/two") == 4
    assert storage.delete(f"{root}/two") is True
    assert storage.delete(f"{root}/two") is False
    assert storage.list(root) == []


def test_readers_never_see_a_partial_file(store, tmp_path):
    """While an upload runs, the final name is absent or complete; only a hidden temporary
    name ever holds partial content. The reader must have looked while the upload ran (it
    saw the temporary name), or it proves nothing."""
    storage, root = store
    payload = b"x" * (64 << 20)
    src = tmp_path / "big"
    src.write_bytes(payload)
    storage.mkdirs(root)
    target = f"{root}/big.bin"
    seen_sizes, names = [], set()
    done = threading.Event()

    def watch():
        while not done.is_set():
            names.update(storage.list(root))
            if storage.exists(target):
                seen_sizes.append(storage.size(target))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        storage.upload(src, target)
    finally:
        done.set()
        watcher.join()
    assert storage.size(target) == len(payload)
    assert all(size == len(payload) for size in seen_sizes)
    assert all(n == "big.bin" or (n.startswith(".big.bin") and TMP_MARK in n) for n in names)
    assert any(TMP_MARK in n for n in names), names          # seen while being written
    assert storage.list(root) == ["big.bin"]


def test_files_under_lists_every_file_below(store, tmp_path):
    storage, root = store
    src = tmp_path / "f"
    src.write_bytes(b"x")
    for path in ("a/y=2016/m=01/one.parquet", "a/y=2016/m=02/two.parquet", "a/three"):
        storage.upload(src, f"{root}/{path}")
    assert storage.files_under(f"{root}/a") == [
        f"{root}/a/three", f"{root}/a/y=2016/m=01/one.parquet", f"{root}/a/y=2016/m=02/two.parquet"]
    assert storage.files_under(f"{root}/missing") == []


def test_errors_name_the_path(store, tmp_path):
    storage, root = store
    with pytest.raises(StorageError) as info:
        storage.size(f"{root}/missing")
    assert f"{root}/missing" in str(info.value)
    with pytest.raises(StorageError) as info:
        storage.upload(tmp_path / "no-such-file", f"{root}/x")
    assert str(info.value) == f"upload {tmp_path / 'no-such-file'}: no such local file"


def test_unreachable_webhdfs_is_a_storage_error():
    storage = WebHdfsStorage("http://127.0.0.1:1", "spot", "hdfs://127.0.0.1:8020")
    with pytest.raises(StorageError) as info:
        storage.exists("/user/spot")
    assert str(info.value) == ("status /user/spot: cannot reach WebHDFS at http://127.0.0.1:1: "
                               "ConnectionError")


def test_uris_for_table_locations(tmp_path):
    assert LocalStorage().uri(str(tmp_path / "a")) == f"file://{tmp_path}/a"
    assert WebHdfsStorage(WEBHDFS_URL, "spot", "hdfs://127.0.0.1:8020").uri("/user/spot") == \
        "hdfs://127.0.0.1:8020/user/spot"
