"""``app.resources`` and the DuckDB defaults derived from it: the instance's limits come from its cgroup (v2 or v1,
the smallest on the way to the root), as Cloud Run sets them, not from the machine underneath."""

from __future__ import annotations

from pathlib import Path

from app.catalog import duckdb_config
from app.resources import Limits, cgroup_cpu_limit, cgroup_memory_limit, read_limits
from app.settings import DataSettings

MiB = 1024 * 1024


def _proc(tmp_path: Path, cgroup: str, mounts: list[str]) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text("".join(f"{i} 1 0:{i} {line}\n" for i, line in enumerate(mounts, 30)))
    return proc


def _write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text + "\n")


def test_cgroup_v2_limits_are_read_from_the_process_own_cgroup(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    _write(sysfs, memory_max="max", cpu_max="max 100000")
    _write(sysfs / "svc", memory_max=str(512 * MiB), cpu_max="100000 100000")
    proc = _proc(tmp_path, "0::/svc\n", [f"/ {sysfs} rw,nosuid - cgroup2 cgroup2 rw"])
    assert cgroup_memory_limit(proc) == 512 * MiB
    assert cgroup_cpu_limit(proc) == 1.0


def test_cgroup_v1_limit_of_a_parent_applies_to_its_children(tmp_path: Path) -> None:
    memory = tmp_path / "memory"
    _write(memory, memory_limit_in_bytes="9223372036854771712")
    _write(memory / "parent", memory_limit_in_bytes=str(256 * MiB))
    _write(memory / "parent" / "child", memory_limit_in_bytes="9223372036854771712")
    cpu = tmp_path / "cpu"
    _write(cpu, cpu_cfs_quota_us="-1", cpu_cfs_period_us="100000")
    proc = _proc(
        tmp_path,
        "4:memory:/parent/child\n3:cpu,cpuacct:/\n0::/\n",
        [f"/ {memory} rw - cgroup cgroup rw,memory", f"/ {cpu} rw - cgroup cgroup rw,cpu,cpuacct"],
    )
    assert cgroup_memory_limit(proc) == 256 * MiB
    assert cgroup_cpu_limit(proc) is None


def test_a_container_sees_its_cgroup_as_the_root_of_the_mount(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    _write(sysfs, memory_max=str(1024 * MiB))
    proc = _proc(tmp_path, "0::/\n", [f"/ {sysfs} rw - cgroup2 cgroup2 rw"])
    assert cgroup_memory_limit(proc) == 1024 * MiB


def test_no_cgroup_means_the_machine_limits(tmp_path: Path) -> None:
    proc = _proc(tmp_path, "", [])
    limits = read_limits(proc)
    assert limits.memory_bytes > 0
    assert limits.cpus >= 1


def test_duckdb_defaults_on_a_512_mib_instance_leave_room_and_spill(tmp_path: Path) -> None:
    config = duckdb_config(DataSettings(data_dir=tmp_path), Limits(512 * MiB, 4), tmp_path / ".tmp")
    assert config["memory_limit"] == "128MiB"
    assert config["max_temp_directory_size"] == "128MiB"
    assert config["threads"] == 2
    assert config["temp_directory"] == str(tmp_path / ".tmp" / "duckdb")


def test_explicit_duckdb_settings_win(tmp_path: Path) -> None:
    settings = DataSettings(
        data_dir=tmp_path, duckdb_memory_limit="1GB", duckdb_threads=3, duckdb_max_temp_bytes=64 * MiB
    )
    config = duckdb_config(settings, Limits(512 * MiB, 1), tmp_path)
    assert (config["memory_limit"], config["threads"], config["max_temp_directory_size"]) == ("1GB", 3, "64MiB")
