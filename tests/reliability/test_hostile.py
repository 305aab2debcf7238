"""Hostile names, hostile messages, broken files: ingested or set aside, nothing executed,
nothing outside the pipeline's own folder read, no message redelivered forever."""
from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

from common.kafka_admin import ensure_topic
from common.kafka_io import Publisher
from common.messages import FileMessage, stored_name
from tests.integration.conftest import unique
from tests.integration.procs import start_master, start_worker, visible_files, wait_for

from .harness import (PIPELINE, REPO, assert_exactly_once, committed, numbered_capture)
from .test_kills import fresh_config

HOUR = "y=2016/m=01/d=04/h=09"


def output(config, relative: str) -> Path:
    return Path(config.hdfs_app_path, "flow", "hive", HOUR,
                f"{PIPELINE}-{stored_name(relative)}.parquet")


def run_pipeline(config, tmp_path: Path, relatives: list[str], timeout: float = 120):
    """Master and one worker until every relative path has its output, or is quarantined."""
    topic = unique("SPOT-INGEST-flow")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "created, 1 partitions" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    procs = [master, worker]
    try:
        wait_for(lambda: committed(config, topic, 0) == len(relatives), timeout,
                 "every file committed", procs)
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0]
    return master, worker


def markers_anywhere(roots: list[Path]) -> list[Path]:
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in (".venv", ".git", ".cache")]
            found += [Path(folder, f) for f in files if f.startswith("PWNED")]
    return found


def test_hostile_names_are_ingested_and_nothing_is_executed(tmp_path, kafka_up, metastore_up):
    config = fresh_config(tmp_path)
    collector = config.pipeline(PIPELINE).collector_path
    # every name still matches supported_files (nfcapd.) and carries its time stamp
    names = [
        "nfcapd.with spaces.201601040900",
        "nfcapd.'single' \"double\".201601040901",
        "nfcapd.$(touch PWNED1).201601040902",
        "nfcapd.`touch PWNED2`.201601040903",
        "nfcapd.x;touch PWNED3;.201601040904",
        "nfcapd.new\nline | touch PWNED4.201601040905",
        "-rf/nfcapd.201601040906",
        "--output=PWNED5/nfcapd.201601040907",
        "nfcapd.\u00f1o\u00f1o caf\u00e9 \u65e5\u672c.201601040908",
        "dir $(touch PWNED6)/nfcapd.201601040909",
        "-dir/--help/nfcapd.201601040910",
        os.fsdecode(b"nfcapd.bad-utf8-\xff\xfe.201601040911"),
    ]
    ids: set[int] = set()
    for n, relative in enumerate(names):
        made, made_ids = numbered_capture(tmp_path / "made", f"nfcapd.20160104{9:02d}{n:02d}",
                                          300, 1 + n * 1000)
        ids |= made_ids
        target = collector / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(made, target)
    run_pipeline(config, tmp_path, names)
    assert all(output(config, r).exists() for r in names)
    assert_exactly_once(config, ids, tmp_path)
    assert not visible_files(collector)
    assert markers_anywhere([tmp_path, REPO, Path.cwd()]) == []
    assert [p for p in Path("/tmp").iterdir() if p.name.startswith("PWNED")] == []


def test_same_named_files_in_sub_folders_all_land(tmp_path, kafka_up, metastore_up):
    """nfcapd -n: one sub-folder per source, identical file names."""
    config = fresh_config(tmp_path)
    collector = config.pipeline(PIPELINE).collector_path
    relatives = [f"router{r}/nfcapd.201601040900" for r in (1, 2, 3)] + ["nfcapd.201601040900"]
    ids: set[int] = set()
    for n, relative in enumerate(relatives):
        made, made_ids = numbered_capture(tmp_path / f"m{n}", "nfcapd.201601040900", 500,
                                          1 + n * 1000)
        ids |= made_ids
        (collector / relative).parent.mkdir(parents=True, exist_ok=True)
        os.replace(made, collector / relative)
    run_pipeline(config, tmp_path, relatives)
    assert len({output(config, r) for r in relatives}) == 4
    assert all(output(config, r).exists() for r in relatives)
    assert_exactly_once(config, ids, tmp_path)
    binary = Path(config.hdfs_app_path, "flow", "binary", "20160104", "09", PIPELINE)
    assert len(os.listdir(binary)) == 4


def test_messages_that_are_not_ours_are_skipped_and_committed(tmp_path, kafka_up, metastore_up):
    config = fresh_config(tmp_path)
    app = config.hdfs_app_path
    own = Path(app, "flow", "binary", "20160104", "09", PIPELINE)
    own.mkdir(parents=True)
    outside, _ = numbered_capture(tmp_path / "outside", "nfcapd.201601040900", 50, 900_000)
    other = Path(app, "flow", "binary", "20160104", "09", "flow_externals")
    other.mkdir(parents=True)
    shutil.copyfile(outside, other / "nfcapd.201601040900")
    os.symlink(outside, own / "nfcapd.201601040901")          # a link out of the folder
    good, ids = numbered_capture(own, "nfcapd.201601040902", 400, 1)

    def message(pipeline: str, path: str) -> bytes:
        return FileMessage(pipeline, Path(path).name, path, 1).encode()

    raw = [
        (b"not json at all", "not a file message (JSONDecodeError): 'not json at all'"),
        (b"", "not a file message (JSONDecodeError): ''"),
        (b'{"pipeline": "flow_internals"}',
         "not a file message (KeyError): '{\"pipeline\": \"flow_internals\"}'"),
        (message(PIPELINE, f"{own}/../../../../../../../etc/passwd"),
         f"refusing path outside {app}/flow/binary/YYYYMMDD/HH/{PIPELINE}/: "
         f"'{own}/../../../../../../../etc/passwd'"),
        (message(PIPELINE, str(outside)),
         f"refusing path outside {app}/flow/binary/YYYYMMDD/HH/{PIPELINE}/: '{outside}'"),
        (message(PIPELINE, str(other / "nfcapd.201601040900")),
         f"refusing path outside {app}/flow/binary/YYYYMMDD/HH/{PIPELINE}/: "
         f"'{other}/nfcapd.201601040900'"),
        (message("flow_externals", str(other / "nfcapd.201601040900")),
         f"message for pipeline 'flow_externals', this worker runs '{PIPELINE}': "
         f"{other}/nfcapd.201601040900"),
        (message(PIPELINE, str(own / "nfcapd.201601040901")),
         f"refusing '{own}/nfcapd.201601040901': it leads outside {app}/flow/binary (a link)"),
        (message(PIPELINE, str(own / "nfcapd.201601040999")),
         f"{own}/nfcapd.201601040999 is no longer stored (quarantined or removed)"),
    ]
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(config.kafka, topic, 1)
    publisher = Publisher(config.kafka, topic)
    try:
        for value, _ in raw:
            publisher.send(value, 0)
        publisher.send(FileMessage(PIPELINE, good.name, str(good), good.stat().st_size).encode(), 0)
    finally:
        publisher.close()
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    try:
        wait_for(lambda: committed(config, topic, 0) == len(raw) + 1, 60, "every offset", [worker])
    finally:
        assert worker.stop() == 0
    log = worker.log()
    for offset, (_, why) in enumerate(raw):
        assert f"skipping message at offset {offset}: {why}\n" in log, (offset, why)
    assert "nfcapd.201601040902: 400 rows" in log
    assert_exactly_once(config, ids, tmp_path)
    # nothing outside was read, moved or set aside
    assert outside.exists() and (other / "nfcapd.201601040900").exists()
    assert not Path(app, "flow", "quarantine").exists()


def test_corrupt_truncated_and_empty_captures_are_quarantined_with_the_reason(
        tmp_path, kafka_up, metastore_up):
    config = fresh_config(tmp_path)
    collector = config.pipeline(PIPELINE).collector_path
    real, _ = numbered_capture(tmp_path / "r", "nfcapd.201601040900", 3000, 50_000)
    (collector / "nfcapd.201601040901").write_bytes(os.urandom(5000))
    (collector / "nfcapd.201601040902").write_bytes(real.read_bytes()[:real.stat().st_size // 2])
    (collector / "nfcapd.201601040903").write_bytes(b"")
    good, ids = numbered_capture(collector, "nfcapd.201601040904", 200, 1)
    names = [f"nfcapd.20160104090{i}" for i in range(1, 5)]
    master, worker = run_pipeline(config, tmp_path, names)
    quarantine = Path(config.hdfs_app_path, "flow", "quarantine", PIPELINE)
    assert sorted(os.listdir(quarantine)) == sorted(
        [n for n in names[:3]] + [f"{n}.reason" for n in names[:3]])
    reasons = {n: (quarantine / f"{n}.reason").read_text() for n in names[:3]}
    assert re.search(r"nfdump failed \(exit code 0\): Open file '.*': bad magic: 0x[0-9A-F]+\n$",
                     reasons["nfcapd.201601040901"]), reasons
    assert "nfdump failed (exit code 0)" in reasons["nfcapd.201601040902"]
    assert re.search(r"nfdump failed \(exit code 0\): read\(\) error", reasons["nfcapd.201601040903"]), \
        reasons
    assert worker.log().count("quarantined at") == 3
    assert_exactly_once(config, ids, tmp_path)


# ------------------------------------------------------------------ no shell, anywhere

SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"),
               ("subprocess", "getstatusoutput"), ("os", "execl"), ("os", "execlp")}
RUNNERS = {"run", "Popen", "call", "check_call", "check_output"}


def shell_uses(path: Path) -> list[str]:
    """Every place a Python file hands a command line to a shell: shell=True, os.system and
    friends, or a subprocess call given a single string."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        where = f"{path.relative_to(REPO)}:{node.lineno}"
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and
                                          kw.value.value is False):
                found.append(f"{where}: shell=")
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if (func.value.id, func.attr) in SHELL_CALLS:
                found.append(f"{where}: {func.value.id}.{func.attr}")
            if func.value.id == "subprocess" and func.attr in RUNNERS and node.args and \
                    _is_text(node.args[0]):
                found.append(f"{where}: subprocess.{func.attr} with a string")
    return found


def _is_text(node: ast.AST) -> bool:
    """A string literal, an f-string, or text glued with + or % (a list + a list is not)."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, ast.Mod) or _is_text(node.left) or _is_text(node.right)
    return False


def project_files(suffix: str) -> list[Path]:
    skip = {".venv", ".git", ".cache", "var", "node_modules"}
    out = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in skip]
        out += [Path(folder, f) for f in files if f.endswith(suffix)]
    return sorted(out)


def test_no_command_line_goes_through_a_shell():
    python = project_files(".py")
    assert len(python) > 30
    assert [use for path in python for use in shell_uses(path)] == []
    for script in project_files(".sh"):
        text = script.read_text()
        assert not re.search(r"\beval\b|\b(ba)?sh -c\b", text), script


def test_the_shell_check_finds_what_it_looks_for(tmp_path):
    """The check above can fail: each way of reaching a shell is caught."""
    sample = REPO / "var" / "shell_sample.py"
    sample.parent.mkdir(exist_ok=True)
    sample.write_text("import os, subprocess\n"
                      "subprocess.run(['ls'], shell=True)\n"
                      "os.system('ls')\n"
                      "subprocess.Popen(f'ls {x}')\n"
                      "subprocess.run(['ls'], shell=False)\n"
                      "subprocess.run('ls ' + name)\n"
                      "subprocess.run(['ls'] + names)\n")
    try:
        assert shell_uses(sample) == ["var/shell_sample.py:2: shell=",
                                      "var/shell_sample.py:3: os.system",
                                      "var/shell_sample.py:4: subprocess.Popen with a string",
                                      "var/shell_sample.py:6: subprocess.run with a string"]
    finally:
        sample.unlink()
