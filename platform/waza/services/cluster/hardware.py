"""Detect this machine's hardware: hostname, IP, CPUs, memory, OS and NVIDIA GPUs.

Detection never raises: every probe falls back to a safe value and logs what went wrong, so the
API starts on any machine. The text parsers (`parse_nvidia_smi`, `parse_cpuinfo`) are pure
functions, unit-tested against captured output.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from waza.gateway.logging import get_logger

log = get_logger("waza.cluster.hardware")

NVIDIA_SMI_FIELDS = ("index", "name", "uuid", "memory.total", "memory.used", "utilization.gpu")
NVIDIA_SMI_ARGS = (
    f"--query-gpu={','.join(NVIDIA_SMI_FIELDS)}",
    "--format=csv,noheader,nounits",
)
NVIDIA_SMI_TIMEOUT = 10.0

_VENDORS = {
    "GenuineIntel": "Intel",
    "AuthenticAMD": "AMD",
    "HygonGenuine": "Hygon",
    "CentaurHauls": "Centaur",
}
# ARM "CPU implementer" codes (/proc/cpuinfo on aarch64).
_ARM_IMPLEMENTERS = {
    "0x41": "ARM",
    "0x42": "Broadcom",
    "0x43": "Cavium",
    "0x46": "Fujitsu",
    "0x48": "HiSilicon",
    "0x4e": "NVIDIA",
    "0x50": "Applied Micro",
    "0x51": "Qualcomm",
    "0x61": "Apple",
    "0xc0": "Ampere",
}


@dataclass(frozen=True)
class HostInfo:
    """What one detection pass found about this machine."""

    hostname: str
    ip: str
    cpu_count: int
    cpu_physical_cores: int | None
    cpu_models: list[str]
    processor_vendor: str | None
    memory_total_bytes: int
    os: str
    os_release: str
    platform: str
    gpus: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gpu_count(self) -> int:
        return len(self.gpus)

    def resources(self) -> dict[str, float]:
        """Ray-style resource totals: ``CPU``, ``memory`` (bytes) and ``GPU``."""
        return {
            "CPU": float(self.cpu_count),
            "memory": float(self.memory_total_bytes),
            "GPU": float(self.gpu_count),
        }

    def configuration(self) -> dict[str, Any]:
        """Details stored in ``Hardware.configuration`` (no secrets: all hardware facts)."""
        return {
            "hostname": self.hostname,
            "cpu_count": self.cpu_count,
            "cpu_physical_cores": self.cpu_physical_cores,
            "memory_total_bytes": self.memory_total_bytes,
            "gpu_count": self.gpu_count,
            "os_release": self.os_release,
            "resources": self.resources(),
            "source": "local",
        }


# ---- pure parsers ---------------------------------------------------------------------------


def _optional_int(value: str) -> int | None:
    """An integer field of nvidia-smi output; ``[N/A]``, ``[Not Supported]`` etc. become None."""
    try:
        return int(float(value))
    except ValueError:
        return None


def parse_nvidia_smi(output: str) -> list[dict[str, Any]]:
    """Parse ``nvidia-smi --query-gpu=<NVIDIA_SMI_FIELDS> --format=csv,noheader,nounits``.

    Each line is ``index, name, uuid, memory.total, memory.used, utilization.gpu`` (MiB and %).
    Lines that do not fit (too few fields, a non-numeric index) are skipped and logged; numeric
    fields the driver reports as ``[N/A]`` become None. A name that itself contains commas is
    kept whole (the other fields are taken from both ends of the line).
    """
    gpus: list[dict[str, Any]] = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < len(NVIDIA_SMI_FIELDS):
            log.warning("skipping malformed nvidia-smi line", line=line[:200])
            continue
        if not parts[0].isdigit():
            log.warning("skipping nvidia-smi line without a GPU index", line=line[:200])
            continue
        index = int(parts[0])
        name = ", ".join(parts[1:-4])
        uuid, mem_total, mem_used, util = parts[-4:]
        gpus.append(
            {
                "index": index,
                "name": name,
                "uuid": uuid or None,
                "vendor": "NVIDIA",
                "memory_total_mib": _optional_int(mem_total),
                "memory_used_mib": _optional_int(mem_used),
                "utilization_pct": _optional_int(util),
            }
        )
    return gpus


def parse_cpuinfo(text: str) -> tuple[list[str], str | None]:
    """Distinct CPU model names and the vendor from the text of ``/proc/cpuinfo``."""
    models: list[str] = []
    vendor: str | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if not value:
            continue
        if key in ("model name", "cpu model", "hardware") and value not in models:
            models.append(value)
        elif key == "vendor_id" and vendor is None:
            vendor = _VENDORS.get(value, value)
        elif key == "cpu implementer" and vendor is None:
            vendor = _ARM_IMPLEMENTERS.get(value.lower(), value)
    return models, vendor


# ---- probes ---------------------------------------------------------------------------------


def query_gpus(timeout: float = NVIDIA_SMI_TIMEOUT) -> list[dict[str, Any]]:
    """NVIDIA GPUs via ``nvidia-smi`` when it is on PATH; any failure means no GPUs (logged)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        proc = subprocess.run(
            [exe, *NVIDIA_SMI_ARGS],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("nvidia-smi timed out; reporting no GPUs", timeout_s=timeout)
        return []
    except OSError as exc:
        log.warning("nvidia-smi could not run; reporting no GPUs", error=str(exc))
        return []
    if proc.returncode != 0:
        log.warning(
            "nvidia-smi failed; reporting no GPUs",
            returncode=proc.returncode,
            stderr=(proc.stderr or proc.stdout or "").strip()[:500],
        )
        return []
    return parse_nvidia_smi(proc.stdout)


def primary_ip() -> str:
    """The address other machines most likely reach this one on (loopback as a last resort)."""
    try:  # connect() on UDP sends nothing; it only picks the outgoing interface
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.254.254.254", 1))
            address = str(sock.getsockname()[0])
            if address and not address.startswith(("0.", "127.")):
                return address
    except OSError:
        pass
    try:
        address = socket.gethostbyname(socket.gethostname())
        if not address.startswith("127."):
            return address
    except OSError:
        pass
    try:
        for addresses in psutil.net_if_addrs().values():
            for addr in addresses:
                if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                    return str(addr.address)
    except Exception as exc:  # psutil raises platform-specific errors
        log.debug("interface scan failed", error=str(exc))
    return "127.0.0.1"


def _cpu_details() -> tuple[list[str], str | None]:
    models: list[str] = []
    vendor: str | None = None
    cpuinfo = Path("/proc/cpuinfo")
    try:
        if cpuinfo.exists():
            models, vendor = parse_cpuinfo(cpuinfo.read_text(errors="replace"))
    except OSError as exc:
        log.debug("cannot read /proc/cpuinfo", error=str(exc))
    if not models and platform.system() == "Darwin":
        try:
            brand = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout.strip()
            if brand:
                models = [brand]
        except (OSError, subprocess.TimeoutExpired):
            pass
    if not models:
        fallback = platform.processor() or platform.machine()
        if fallback:
            models = [fallback]
    if vendor is None and models:
        first = models[0].lower()
        for needle, name in (("intel", "Intel"), ("amd", "AMD"), ("apple", "Apple")):
            if needle in first:
                vendor = name
                break
    return models, vendor


def _memory_total() -> int:
    try:
        return int(psutil.virtual_memory().total)
    except Exception as exc:
        log.warning("cannot read total memory", error=str(exc))
        return 0


def _physical_cores() -> int | None:
    try:
        return psutil.cpu_count(logical=False)
    except Exception:
        return None


def detect(*, gpus: bool = True) -> HostInfo:
    """Probe this machine (a fraction of a second; up to the nvidia-smi timeout with GPUs)."""
    models, vendor = _cpu_details()
    return HostInfo(
        hostname=socket.gethostname()[:255] or "localhost",
        ip=primary_ip(),
        cpu_count=os.cpu_count() or 1,
        cpu_physical_cores=_physical_cores(),
        cpu_models=[m[:256] for m in models],
        processor_vendor=vendor[:128] if vendor else None,
        memory_total_bytes=_memory_total(),
        os=platform.system() or "unknown",
        os_release=platform.release(),
        platform=platform.machine() or "unknown",
        gpus=query_gpus() if gpus else [],
    )
