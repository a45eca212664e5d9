"""The public surface: __all__ is sorted, complete and importable."""

from __future__ import annotations

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
