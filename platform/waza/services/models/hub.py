"""The Hugging Face Hub (or a mirror at `settings.hf_endpoint`): search, repo files, downloads.

Metadata calls (search, repo info) use the Hub's JSON API over httpx with `settings.hf_timeout`;
file downloads use `huggingface_hub.hf_hub_download` into one shared cache folder
(``models_dir/hub``, the standard Hugging Face cache layout), so a file is never downloaded twice.

Offline, nothing hangs: every call first asks a cached reachability probe, bounded in wall time
by ``hf_timeout`` (DNS included), and an unreachable Hub answers at once with
``ServiceUnavailable("Hugging Face Hub unreachable at <url>: <reason>")`` until the next probe.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx

# huggingface_hub freezes HF_HUB_OFFLINE when its `constants` module is first imported (plain
# `import huggingface_hub` is lazy and does not import it). Importing it here, when the API
# starts, keeps the process's own setting even if a model load later sets the variable for a
# moment.
from huggingface_hub import constants as hf_constants

from waza.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from waza.settings import Settings

HUB_HF = "HubsHf"
_HUB_ALIASES = {"hf", "huggingface", "hubshf", "huggingface_hub", "hugging face"}
_UP_TTL = 60.0  # seconds a successful probe is trusted
_DOWN_TTL = 15.0  # seconds an unreachable Hub is not asked again
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
PROGRESS_CHUNK = 256 * 1024  # progress and cancel granularity of a download


def normalize_hub(hub: str | None) -> str | None:
    """``HubsHf`` for any spelling of the Hugging Face Hub; other names unchanged."""
    if hub is None:
        return None
    name = hub.strip()
    return HUB_HF if name.lower() in _HUB_ALIASES else name


def check_repo_id(repo: str) -> str:
    repo = repo.strip()
    if not _REPO_ID.match(repo) or ".." in repo:
        raise BadRequest(f"{repo!r} is not a Hugging Face repo id (expected 'org/name')")
    return repo


class DownloadCancelled(Exception):
    """Raised inside a download's progress callback to stop it."""


@dataclass(frozen=True)
class HubFile:
    name: str
    size: int | None
    checksum: str | None
    checksum_type: str | None


@dataclass(frozen=True)
class HubRepo:
    repo_id: str
    sha: str | None
    author: str | None
    pipeline_tag: str | None
    library_name: str | None
    files: list[HubFile]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


class HubClient:
    """One Hub endpoint with a cached reachability state; safe to share between threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoint = settings.hf_endpoint.rstrip("/")
        self.timeout = float(settings.hf_timeout)
        token = settings.hf_token
        self._token: str | None = token.get_secret_value() if token is not None else None
        self._lock = threading.Lock()
        self._state: tuple[bool, str, float] | None = None  # (up, reason, checked at)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="waza-hub-probe")

    @property
    def cache_dir(self) -> Path:
        return self.settings.effective_models_dir / "hub"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def unreachable(self, reason: str) -> ServiceUnavailable:
        return ServiceUnavailable(f"Hugging Face Hub unreachable at {self.endpoint}: {reason}")

    # ---- reachability --------------------------------------------------------------------------
    def _mark(self, up: bool, reason: str = "") -> None:
        with self._lock:
            self._state = (up, reason, time.monotonic())

    def _probe_once(self) -> None:
        response = httpx.get(
            f"{self.endpoint}/api/models",
            params={"limit": 1},
            headers=self._headers(),
            timeout=self.timeout,
            follow_redirects=True,
        )
        if response.status_code in (401, 403):
            return  # a Hub that wants a token still answers
        try:
            listing = response.json() if response.status_code == 200 else None
        except ValueError:
            listing = None
        if not isinstance(listing, list):
            raise RuntimeError(f"HTTP {response.status_code} from {response.url}: not a Hub API")

    def ensure_reachable(self) -> None:
        """Raise `ServiceUnavailable` at once when the Hub is (recently found) unreachable."""
        if hf_constants.is_offline_mode():
            raise self.unreachable("HF_HUB_OFFLINE is set in the platform's environment")
        with self._lock:
            state = self._state
        now = time.monotonic()
        if state is not None:
            up, reason, at = state
            if up and now - at < _UP_TTL:
                return
            if not up and now - at < _DOWN_TTL:
                raise self.unreachable(reason)
        future = self._pool.submit(self._probe_once)
        try:
            future.result(timeout=self.timeout + 0.5)  # bounds DNS lookups too
        except FutureTimeout:
            reason = f"no answer within {self.timeout:g} s"
            self._mark(False, reason)
            raise self.unreachable(reason) from None
        except Exception as exc:
            self._mark(False, _reason(exc))
            raise self.unreachable(_reason(exc)) from None
        self._mark(True)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        self.ensure_reachable()
        try:
            response = httpx.get(
                f"{self.endpoint}{path}",
                params=params,
                headers=self._headers(),
                timeout=self.timeout,
                follow_redirects=True,
            )
        except httpx.HTTPError as exc:
            self._mark(False, _reason(exc))
            raise self.unreachable(_reason(exc)) from None
        if response.status_code >= 500:
            raise ServiceUnavailable(
                f"Hugging Face Hub at {self.endpoint} answered HTTP {response.status_code}"
            )
        return response

    # ---- metadata ------------------------------------------------------------------------------
    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """Repos whose id contains ``query`` (the Hub's own ranking)."""
        response = self._get("/api/models", {"search": query, "limit": limit})
        if response.status_code != 200:
            raise ServiceUnavailable(
                f"Hugging Face Hub search at {self.endpoint} failed: HTTP {response.status_code}"
            )
        data = response.json()
        return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []

    def repo(self, repo_id: str, revision: str | None = None) -> HubRepo:
        """A repo's commit and files (404 unknown, 403 private or gated without a token)."""
        repo_id = check_repo_id(repo_id)
        rev = quote(revision or "main", safe="")
        response = self._get(f"/api/models/{repo_id}/revision/{rev}", {"blobs": "true"})
        if response.status_code in (401, 403):
            raise Forbidden(
                f"{repo_id} is private or gated on the Hub: set WAZA_HF_TOKEN to a token "
                "that may read it"
            )
        if response.status_code == 404:
            what = f"revision {revision!r} of " if revision else ""
            raise NotFound(f"No {what}model {repo_id!r} on the Hugging Face Hub")
        if response.status_code != 200:
            raise ServiceUnavailable(
                f"Hugging Face Hub at {self.endpoint} answered HTTP {response.status_code} "
                f"for {repo_id}"
            )
        info = response.json()
        files = []
        for sibling in info.get("siblings") or []:
            name = sibling.get("rfilename")
            if not name:
                continue
            lfs = sibling.get("lfs") or {}
            size = lfs.get("size", sibling.get("size"))
            if lfs.get("sha256"):
                checksum, kind = lfs["sha256"], "sha256"
            elif sibling.get("blobId"):
                checksum, kind = sibling["blobId"], "sha1"
            else:
                checksum, kind = None, None
            files.append(HubFile(name, size if isinstance(size, int) else None, checksum, kind))
        return HubRepo(
            repo_id=info.get("id") or info.get("modelId") or repo_id,
            sha=info.get("sha"),
            author=info.get("author") or (repo_id.split("/")[0] if "/" in repo_id else None),
            pipeline_tag=info.get("pipeline_tag"),
            library_name=info.get("library_name"),
            files=files,
        )

    # ---- files ---------------------------------------------------------------------------------
    def cached_file(self, repo_id: str, filename: str, revision: str | None) -> Path | None:
        """The file in the shared cache for this revision (default ``main``), without the Hub."""
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(
            repo_id, filename, cache_dir=self.cache_dir, revision=revision or "main"
        )
        return Path(found) if isinstance(found, str) and Path(found).is_file() else None

    def download(
        self,
        repo_id: str,
        filename: str,
        revision: str | None,
        progress: Callable[[int, int | None], None],
    ) -> Path:
        """Download one file into the shared cache; ``progress(done, total)`` may raise
        `DownloadCancelled` to stop (the partial file is removed by huggingface_hub)."""
        from huggingface_hub import hf_hub_download

        # huggingface_hub reads 10 MB between progress reports; smaller steps give a live bar and
        # a prompt cancel.
        hf_constants.DOWNLOAD_CHUNK_SIZE = PROGRESS_CHUNK

        class _Bar:
            def __init__(self, *, total: int | None = None, initial: int = 0, **_: Any) -> None:
                self.total, self.done = total, initial
                progress(self.done, self.total)

            def __enter__(self) -> _Bar:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def update(self, n: int | float | None = 1) -> None:
                self.done += int(n or 0)
                progress(self.done, self.total)

        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=self.cache_dir,
            endpoint=self.endpoint,
            token=self._token or False,
            etag_timeout=self.timeout,
            tqdm_class=cast(Any, _Bar),
        )
        return Path(path)

    def remember_ref(self, repo_id: str, revision: str, sha: str) -> None:
        """Record that ``revision`` (a branch or tag) is ``sha`` in the cache, as
        huggingface_hub does, so cached files are found later without the Hub."""
        if revision == sha or "/" in revision or revision.startswith("."):
            return
        refs = self.repo_cache_folder(repo_id) / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        (refs / revision).write_text(sha)

    def repo_cache_folder(self, repo_id: str) -> Path:
        from huggingface_hub.file_download import repo_folder_name

        return self.cache_dir / repo_folder_name(repo_id=repo_id, repo_type="model")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
