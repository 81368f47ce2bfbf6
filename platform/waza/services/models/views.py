"""Rows → wire shapes: models, files (with derived download progress) and configs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from waza.services.models import schemas
from waza.services.models.models import DBModel, DBModelConfig, DBModelFile

# The kamiwaza-sdk's quantization pattern (QuantizationManager), for available_quantizations.
_QUANT = re.compile(
    r"-(q[2-8]_k(?:_[a-z0-9]+)?|q[2-8]_[0-9]+|iq[1-4]_[a-z0-9]+|fp\d+)(?=[._-]|$)", re.IGNORECASE
)


def quantization(filename: str) -> str | None:
    """The quantization a file name declares (``q4_k_m``, ``q8_0`` ...), if any."""
    found = _QUANT.findall(filename)
    return re.sub(r"-\d+(?:-of-\d+)?$", "", found[-1]).lower() if found else None


def clock(seconds: float | None) -> str | None:
    """``MM:SS`` (``H:MM:SS`` past an hour), the Kamiwaza format of elapsed/remaining time."""
    if seconds is None:
        return None
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def throughput(speed: float | None) -> str | None:
    if speed is None:
        return None
    for unit, scale in (("GB/s", 1024**3), ("MB/s", 1024**2), ("KB/s", 1024)):
        if speed >= scale:
            return f"{speed / scale:.2f} {unit}"
    return f"{speed:.0f} B/s"


class Progress:
    """Derived download numbers of a file row."""

    def __init__(self, row: DBModelFile, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        done, size = row.downloaded_bytes, row.size
        self.percentage: int | None = None
        if row.storage_location and not row.is_downloading and row.download:
            self.percentage = 100
        elif done is not None and size:
            self.percentage = min(100, int(done * 100 / size))
        elif row.is_downloading:
            self.percentage = 0
        self.elapsed: float | None = None
        if row.download_started_at is not None:
            end = row.download_finished_at or (now if row.is_downloading else None)
            if end is not None:
                self.elapsed = (end - row.download_started_at).total_seconds()
        self.speed = row.download_speed if row.download_speed is not None else None
        self.eta: int | None = None
        if row.is_downloading and self.speed and size and done is not None:
            self.eta = max(0, round((size - done) / self.speed))


def file_out(row: DBModelFile) -> schemas.ModelFile:
    progress = Progress(row)
    return schemas.ModelFile(
        id=row.id,
        name=row.name,
        size=row.size,
        storage_type=row.storage_type,
        storage_host=row.storage_host,
        storage_location=row.storage_location,
        hub=row.hub,
        model_id=row.m_id,
        m_id=row.m_id,
        checksum=row.checksum,
        checksum_type=row.checksum_type,
        created_timestamp=row.created_at,
        is_downloading=row.is_downloading,
        download=row.download,
        dl_requested_at=row.dl_requested_at,
        download_pid=row.download_pid,
        download_node=row.download_node,
        download_percentage=progress.percentage,
        download_elapsed=clock(progress.elapsed),
        download_remaining=clock(progress.eta),
        download_throughput=throughput(progress.speed),
        download_cancelled_at=row.download_cancelled_at,
        downloaded_bytes=row.downloaded_bytes,
        download_error=row.download_error,
        owner_id=row.owner_id,
    )


def status_out(row: DBModelFile) -> schemas.ModelDownloadStatus:
    assert row.m_id is not None
    progress = Progress(row)
    return schemas.ModelDownloadStatus(
        id=row.id,
        m_id=row.m_id,
        name=row.name,
        download=bool(row.download),
        is_downloading=row.is_downloading,
        storage_location=row.storage_location,
        download_node=row.download_node,
        download_percentage=progress.percentage,
        download_elapsed=clock(progress.elapsed),
        download_remaining=clock(progress.eta),
        download_throughput=throughput(progress.speed),
        dl_requested_at=row.dl_requested_at,
        download_pid=row.download_pid,
        download_cancelled_at=row.download_cancelled_at,
        download_speed=progress.speed,
        download_eta=progress.eta,
        downloaded_bytes=row.downloaded_bytes,
        size=row.size,
        download_error=row.download_error,
    )


def config_out(row: DBModelConfig) -> schemas.ModelConfig:
    return schemas.ModelConfig(
        id=row.id,
        m_id=row.m_id,
        m_file_id=row.m_file_id,
        name=row.name,
        default=row.is_default,
        description=row.description,
        config=dict(row.config or {}),
        system_config=dict(row.system_config or {}),
        kamiwaza_version=row.kamiwaza_version,
        created_at=row.created_at,
        modified_at=row.updated_at,
    )


def model_out(
    row: DBModel,
    files: list[DBModelFile],
    default_config: DBModelConfig | None,
    *,
    load_files: bool = True,
) -> schemas.Model:
    quants = sorted({q for f in files if (q := quantization(f.name))})
    return schemas.Model(
        id=row.id,
        name=row.name,
        repo_modelId=row.repo_model_id,
        modelfamily=row.modelfamily,
        purpose=row.purpose,
        version=row.version,
        author=row.author,
        source_repository=row.source_repository,
        sha_repository=row.sha_repository,
        hub=row.hub,
        description=row.description,
        quantization_details=row.quantization_details,
        private=row.private,
        m_files=[file_out(f) for f in files] if load_files else [],
        modelcard=row.modelcard,
        default_config=config_out(default_config).model_dump(mode="json")
        if default_config is not None
        else None,
        created_timestamp=row.created_at,
        modified_timestamp=row.updated_at,
        files_being_downloaded=[file_out(f) for f in files if f.is_downloading],
        available_quantizations=quants,
        owner_id=row.owner_id,
        source=row.source,
        local_path=row.local_path,
    )
