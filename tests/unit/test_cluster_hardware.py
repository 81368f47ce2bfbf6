"""Hardware detection of the cluster service: nvidia-smi and /proc/cpuinfo parsing, probes."""

from __future__ import annotations

import ipaddress
import os
import platform
import shutil
import socket
import stat
from pathlib import Path

import pytest

from waza.services.cluster import hardware as hw

# A fixture, not live output: this machine has no GPU. Captured on an 8-GPU H100 host with
#   nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used,utilization.gpu \
#              --format=csv,noheader,nounits
# (fields are separated by ", "; memory in MiB, utilization in %).
NVIDIA_SMI_H100 = """\
0, NVIDIA H100 80GB HBM3, GPU-3b0f2f5e-6c1a-4c0e-9f1e-0d6f2a4c7e11, 81559, 72412, 97
1, NVIDIA H100 80GB HBM3, GPU-8d9e1c2b-1f4a-4b5d-8a3c-2e7f9b6d5c22, 81559, 1, 0
2, NVIDIA H100 80GB HBM3, GPU-5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c33, 81559, 1, 0
3, NVIDIA H100 80GB HBM3, GPU-1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e44, 81559, 1, 0
4, NVIDIA H100 80GB HBM3, GPU-9f8e7d6c-5b4a-4f3e-8d2c-1b0a9f8e7d55, 81559, 1, 0
5, NVIDIA H100 80GB HBM3, GPU-2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d66, 81559, 1, 0
6, NVIDIA H100 80GB HBM3, GPU-7e6d5c4b-3a2f-4e1d-8c0b-9a8f7e6d5c77, 81559, 1, 0
7, NVIDIA H100 80GB HBM3, GPU-4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f88, 81559, 1, 0
"""

# A fixture as well: an A100 in MIG mode reports [N/A] for memory used and utilization.
NVIDIA_SMI_MIG = (
    "0, NVIDIA A100-SXM4-40GB, GPU-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, 40960, [N/A], [N/A]\n"
)

CPUINFO_X86 = """\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme de pse

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
"""

CPUINFO_ARM = """\
processor\t: 0
BogoMIPS\t: 2000.00
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd4f
"""


# ---- nvidia-smi parsing ---------------------------------------------------------------------
def test_parse_eight_h100s() -> None:
    gpus = hw.parse_nvidia_smi(NVIDIA_SMI_H100)
    assert len(gpus) == 8
    assert [g["index"] for g in gpus] == list(range(8))
    first = gpus[0]
    assert first == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-3b0f2f5e-6c1a-4c0e-9f1e-0d6f2a4c7e11",
        "vendor": "NVIDIA",
        "memory_total_mib": 81559,
        "memory_used_mib": 72412,
        "utilization_pct": 97,
    }
    assert all(g["memory_total_mib"] == 81559 for g in gpus)


def test_parse_not_available_values_become_none() -> None:
    (gpu,) = hw.parse_nvidia_smi(NVIDIA_SMI_MIG)
    assert gpu["name"] == "NVIDIA A100-SXM4-40GB"
    assert gpu["memory_total_mib"] == 40960
    assert gpu["memory_used_mib"] is None
    assert gpu["utilization_pct"] is None


@pytest.mark.parametrize("output", ["", "\n", "   \n\n"])
def test_parse_no_gpu(output: str) -> None:
    assert hw.parse_nvidia_smi(output) == []


def test_parse_skips_malformed_lines() -> None:
    output = (
        "index, name, uuid, memory.total [MiB], memory.used [MiB], utilization.gpu [%]\n"
        "No devices were found\n"
        "0, NVIDIA L4, GPU-abc\n"  # too few fields
        "x, NVIDIA L4, GPU-abc, 1, 2, 3\n"  # no index
        "\n"
        "1, NVIDIA L4, GPU-1111, 23034, 0, 0\n"
    )
    gpus = hw.parse_nvidia_smi(output)
    assert [(g["index"], g["name"], g["memory_total_mib"]) for g in gpus] == [
        (1, "NVIDIA L4", 23034)
    ]


def test_parse_keeps_a_name_with_commas() -> None:
    (gpu,) = hw.parse_nvidia_smi("3, Vendor GPU, rev 2, GPU-xyz, 1024, 10, 5\n")
    assert gpu["name"] == "Vendor GPU, rev 2"
    assert gpu["uuid"] == "GPU-xyz"
    assert (gpu["memory_total_mib"], gpu["memory_used_mib"], gpu["utilization_pct"]) == (
        1024,
        10,
        5,
    )


# ---- /proc/cpuinfo parsing ------------------------------------------------------------------
def test_parse_cpuinfo_x86() -> None:
    models, vendor = hw.parse_cpuinfo(CPUINFO_X86)
    assert models == ["Intel(R) Xeon(R) Platinum 8480+"]
    assert vendor == "Intel"


def test_parse_cpuinfo_arm_and_empty() -> None:
    assert hw.parse_cpuinfo(CPUINFO_ARM) == ([], "ARM")
    assert hw.parse_cpuinfo("") == ([], None)


# ---- nvidia-smi probe -----------------------------------------------------------------------
def _fake_nvidia_smi(directory: Path, body: str) -> None:
    script = directory / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_query_gpus_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert hw.query_gpus() == []


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as a fake nvidia-smi")
def test_query_gpus_runs_nvidia_smi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_text(NVIDIA_SMI_H100)
    _fake_nvidia_smi(tmp_path, f'cat "{tmp_path / "out.txt"}"')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    gpus = hw.query_gpus()
    assert len(gpus) == 8
    assert gpus[7]["uuid"] == "GPU-4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f88"


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as a fake nvidia-smi")
def test_query_gpus_failure_means_no_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_nvidia_smi(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert hw.query_gpus() == []


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as a fake nvidia-smi")
def test_query_gpus_timeout_means_no_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_nvidia_smi(tmp_path, "exec sleep 30")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert hw.query_gpus(timeout=0.5) == []


# ---- detection on this machine --------------------------------------------------------------
def test_detect_this_machine() -> None:
    info = hw.detect()
    assert info.hostname == socket.gethostname()[:255]
    ipaddress.IPv4Address(info.ip)  # a valid address
    assert info.cpu_count == (os.cpu_count() or 1) >= 1
    assert info.cpu_models and all(isinstance(m, str) and m for m in info.cpu_models)
    assert info.memory_total_bytes > 0
    assert info.os == platform.system()
    assert info.platform == platform.machine()
    assert isinstance(info.gpus, list)
    if shutil.which("nvidia-smi") is None:
        assert info.gpus == []
    assert info.resources() == {
        "CPU": float(info.cpu_count),
        "memory": float(info.memory_total_bytes),
        "GPU": float(len(info.gpus)),
    }
    config = info.configuration()
    assert config["gpu_count"] == len(info.gpus)
    assert config["hostname"] == info.hostname


def test_detect_without_gpu_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(timeout: float = 0) -> list[dict[str, object]]:
        raise AssertionError("nvidia-smi must not run")

    monkeypatch.setattr(hw, "query_gpus", boom)
    assert hw.detect(gpus=False).gpus == []
