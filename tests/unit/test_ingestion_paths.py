"""Which server paths a user may ingest: data roots, symlink escapes, `..`, and admins."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from waza.errors import BadRequest, Forbidden, NotFound
from waza.gateway.principal import Principal
from waza.services.ingestion import paths
from waza.settings import Settings


def person(name: str, admin: bool = False) -> Principal:
    roles = ("admin", "user") if admin else ("user",)
    return Principal(user_id=uuid.uuid4(), username=name, roles=roles, method="session")


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    home = tmp_path / "home"
    data = home / "data"
    mine = home / "users" / "ann"
    outside = tmp_path / "outside"
    for folder in (data / "docs", mine, outside, home / "users" / "bob"):
        folder.mkdir(parents=True)
    (data / "docs" / "a.txt").write_text("a")
    (mine / "b.md").write_text("b")
    (outside / "secret.txt").write_text("s")
    (home / "users" / "bob" / "c.txt").write_text("c")
    return {"home": home, "data": data, "mine": mine, "outside": outside}


@pytest.fixture
def settings(layout: dict[str, Path]) -> Settings:
    return Settings(home=layout["home"])  # type: ignore[call-arg]


def test_default_roots_are_the_shared_data_folder_and_the_users_own(
    settings: Settings, layout: dict[str, Path]
) -> None:
    ann = person("ann")
    assert paths.allowed_roots(settings, ann) == [
        layout["data"].resolve(),
        layout["mine"].resolve(),
    ]
    assert paths.resolve_path(settings, ann, str(layout["data"] / "docs")).is_dir()
    assert paths.resolve_path(settings, ann, str(layout["mine"] / "b.md")).name == "b.md"


def test_outside_the_roots_is_forbidden(settings: Settings, layout: dict[str, Path]) -> None:
    ann = person("ann")
    for raw in (
        str(layout["outside"] / "secret.txt"),
        str(layout["home"] / "users" / "bob" / "c.txt"),  # another user's folder
        str(layout["data"] / ".." / ".." / "outside" / "secret.txt"),  # `..` climbs out
        "/etc/passwd",
    ):
        with pytest.raises(Forbidden, match="outside the folders you may ingest from"):
            paths.resolve_path(settings, ann, raw)


def test_a_symlink_inside_a_root_that_points_outside_is_forbidden(
    settings: Settings, layout: dict[str, Path]
) -> None:
    link = layout["data"] / "escape"
    link.symlink_to(layout["outside"])
    file_link = layout["data"] / "leak.txt"
    file_link.symlink_to(layout["outside"] / "secret.txt")
    ann = person("ann")
    with pytest.raises(Forbidden):
        paths.resolve_path(settings, ann, str(link))
    with pytest.raises(Forbidden):
        paths.resolve_path(settings, ann, str(link / "secret.txt"))
    with pytest.raises(Forbidden):
        paths.resolve_path(settings, ann, str(file_link))
    # walking the root: the escaping file link is refused, the folder link is not followed
    listing = paths.list_files(settings, ann, layout["data"].resolve())
    assert [p.name for p, _ in listing.files] == ["a.txt"]
    assert any("leak.txt" in e and "outside" in e for e in listing.errors)


def test_a_symlink_that_stays_inside_the_roots_is_fine(
    settings: Settings, layout: dict[str, Path]
) -> None:
    link = layout["mine"] / "shared-docs"
    link.symlink_to(layout["data"] / "docs")
    resolved = paths.resolve_path(settings, person("ann"), str(link))
    assert resolved == (layout["data"] / "docs").resolve()


def test_missing_inside_is_404_but_missing_outside_is_403(
    settings: Settings, layout: dict[str, Path]
) -> None:
    ann = person("ann")
    with pytest.raises(NotFound):
        paths.resolve_path(settings, ann, str(layout["data"] / "nope.txt"))
    with pytest.raises(Forbidden):  # no probing for what exists elsewhere
        paths.resolve_path(settings, ann, str(layout["outside"] / "nope.txt"))


def test_relative_and_empty_paths_are_refused(settings: Settings) -> None:
    for raw in ("docs/a.txt", "", "   "):
        with pytest.raises(BadRequest):
            paths.resolve_path(settings, person("ann"), raw)


def test_admins_may_ingest_any_readable_path(settings: Settings, layout: dict[str, Path]) -> None:
    admin = person("root", admin=True)
    got = paths.resolve_path(settings, admin, str(layout["outside"] / "secret.txt"))
    assert got == (layout["outside"] / "secret.txt").resolve()
    with pytest.raises(NotFound):
        paths.resolve_path(settings, admin, str(layout["outside"] / "nope"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_an_unreadable_path_is_forbidden(settings: Settings, layout: dict[str, Path]) -> None:
    locked = layout["data"] / "locked.txt"
    locked.write_text("x")
    locked.chmod(0)
    try:
        with pytest.raises(Forbidden, match="cannot read"):
            paths.resolve_path(settings, person("ann"), str(locked))
    finally:
        locked.chmod(0o600)


def test_configured_roots_replace_the_defaults(tmp_path: Path, layout: dict[str, Path]) -> None:
    shared = tmp_path / "srv" / "shared"
    per_user = tmp_path / "srv" / "people" / "ann"
    for folder in (shared, per_user):
        folder.mkdir(parents=True)
    settings = Settings(  # type: ignore[call-arg]
        home=layout["home"],
        data_roots=[shared, tmp_path / "srv" / "people" / "{username}"],
    )
    ann = person("ann")
    assert paths.allowed_roots(settings, ann) == [shared.resolve(), per_user.resolve()]
    assert paths.resolve_path(settings, ann, str(per_user)) == per_user.resolve()
    with pytest.raises(Forbidden):  # the default root no longer applies
        paths.resolve_path(settings, ann, str(layout["data"] / "docs"))
    with pytest.raises(Forbidden):  # {username} is the caller's name only
        paths.resolve_path(settings, person("bob"), str(per_user))


def test_listing_skips_hidden_and_unsupported_files(
    settings: Settings, layout: dict[str, Path]
) -> None:
    docs = layout["data"] / "docs"
    (docs / ".hidden.txt").write_text("h")
    (docs / ".git").mkdir()
    (docs / ".git" / "x.txt").write_text("x")
    (docs / "image.png").write_bytes(b"\x89PNG")
    (docs / "sub").mkdir()
    (docs / "sub" / "d.csv").write_text("a\n1\n")
    ann = person("ann")
    listing = paths.list_files(settings, ann, docs.resolve())
    assert [(p.name, f) for p, f in listing.files] == [("a.txt", "text"), ("d.csv", "csv")]
    assert [Path(s).name for s in listing.skipped] == ["image.png"]
    flat = paths.list_files(settings, ann, docs.resolve(), recursive=False)
    assert [p.name for p, _ in flat.files] == ["a.txt"]
    single = paths.list_files(
        settings, ann, (docs / "image.png").resolve(), include_unsupported=True
    )
    assert single.files == [((docs / "image.png").resolve(), "binary")]
