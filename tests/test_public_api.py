"""The public surface: __all__ is sorted, complete, importable and documented; the license ships."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import types
import zipfile
from pathlib import Path

import wecal


def test_all_is_sorted_and_unique() -> None:
    assert list(wecal.__all__) == sorted(set(wecal.__all__))


def test_all_names_exist() -> None:
    for name in wecal.__all__:
        assert hasattr(wecal, name), name


def test_every_public_attribute_is_in_all() -> None:
    public = {
        name
        for name, obj in vars(wecal).items()
        if not name.startswith("_") and not isinstance(obj, type(wecal))
    }
    assert public <= set(wecal.__all__)


def test_contract_names() -> None:
    """The names DESIGN.md fixes."""
    for name in [
        "Event", "Calendar", "Attendee", "Person", "Recurrence", "Provider", "EventStatus",
        "ResponseStatus", "WecalError", "TransportError", "ProviderError", "AuthenticationError",
        "PermissionDeniedError", "NotFoundError", "RateLimitError", "QuotaExceededError",
        "InvalidRequestError", "ResponseFormatError", "UnsupportedError", "to_dict", "from_dict",
    ]:  # fmt: skip
        assert name in wecal.__all__, name


def _public_modules() -> list[str]:
    """``wecal`` and every package or module under it whose path has no ``_`` part."""
    found = ["wecal"]
    for info in pkgutil.walk_packages(wecal.__path__, "wecal."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            found.append(info.name)
    return found


def _undocumented(module: types.ModuleType) -> list[str]:
    """A module without a docstring, the names of its ``__all__`` and their public members."""
    missing = [] if inspect.getdoc(module) else [module.__name__]
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        where = f"{module.__name__}.{name}"
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            missing.append(where)
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if inspect.isfunction(value):
                # getdoc also finds the docstring of the method a class overrides.
                value = getattr(obj, attr)
            elif not isinstance(value, property | functools.cached_property):
                continue
            if not inspect.getdoc(value):
                missing.append(f"{where}.{attr}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    missing = [
        m for name in _public_modules() for m in _undocumented(importlib.import_module(name))
    ]
    assert missing == []


def test_the_docstring_check_sees_what_is_missing() -> None:
    module = types.ModuleType("fake", "A module.")

    class Fine:
        """Documented."""

        @property
        def size(self) -> int:
            return 1

        def method(self) -> None:
            """Documented."""

        @classmethod
        def make(cls) -> None:
            pass

    def helper() -> None:
        pass

    module.Fine, module.helper = Fine, helper  # type: ignore[attr-defined]
    module.__all__ = ["Fine", "helper"]  # type: ignore[attr-defined]
    assert _undocumented(module) == ["fake.Fine.size", "fake.Fine.make", "fake.helper"]


def test_the_wheel_carries_the_license(tmp_path: Path) -> None:
    """The wheel the build backend makes holds LICENSE and says MIT, as pyproject does."""
    from hatchling.builders.wheel import WheelBuilder

    root = Path(__file__).parents[1]
    license_text = (root / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    (wheel,) = WheelBuilder(str(root)).build(directory=str(tmp_path), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [licensed] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(licensed).decode() == license_text
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        assert "License-Expression: MIT" in archive.read(metadata).decode().splitlines()
