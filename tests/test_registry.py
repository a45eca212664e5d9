"""The provider registry: what the CLI, the sandbox and redaction iterate."""

from __future__ import annotations

import importlib

import httpx
import pytest

import wecal
from wecal.errors import redact
from wecal.providers._registry import PROVIDERS, entry
from wecal.sandbox import Sandbox
from wecal.sandbox._demo import credentials, demo, sandbox_clients

pytestmark = pytest.mark.anyio


def test_every_entry_names_a_client_of_the_protocol() -> None:
    for name, provider in PROVIDERS.items():
        # A secret no other test text contains: clients mask their secret literally.
        client = provider.client("app", "registry-protocol-secret-0")
        assert isinstance(client, wecal.CalendarProvider), name
        assert provider.source_kind in ("calendar", "user")
        assert provider.app_id.env.startswith("WECAL_")
        assert provider.secret.secret


def test_unknown_provider_is_the_callers_mistake() -> None:
    with pytest.raises(wecal.ValidationError, match="unknown provider 'outlook'"):
        entry("outlook")


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_every_declared_secret_name_is_redacted(name: str) -> None:
    for key in PROVIDERS[name].secret_names:
        for text in (f"GET /x?{key}=s3cr3t&a=1", f'{{"{key}": "s3cr3t"}}', f"{key}: s3cr3t"):
            assert "s3cr3t" not in redact(text), (key, text)


def test_every_entry_has_a_sandbox_emulator_with_credentials() -> None:
    found = credentials()
    assert set(found) == set(PROVIDERS)
    for name, (app_id, secret) in found.items():
        module = importlib.import_module(PROVIDERS[name].emulator)
        assert (app_id, secret) == module.CREDENTIALS


def test_every_entry_names_a_contract_hook_in_its_own_folder() -> None:
    """The provider contract suite (tests/test_provider_contract.py) drives every entry."""
    for name, provider in PROVIDERS.items():
        folder = provider.emulator.rpartition("._emulator")[0]
        module, _, attr = provider.contract.partition(":")
        assert module == f"{folder}._contract", name
        hook = provider.load_contract()
        assert hook is getattr(importlib.import_module(module), attr)
        assert hook.page_size <= provider.max_page_size, name
        assert hook.writes is bool(hook.create_api), name


async def test_demo_serves_events_for_every_provider() -> None:
    sandbox = Sandbox(seed=3)
    sources = demo(sandbox, seed=3, sources=1, size=5)
    assert set(sources) == set(PROVIDERS)
    transport = httpx.ASGITransport(app=sandbox.app)
    clients = sandbox_clients(base_url="http://sandbox", transport=transport)
    try:
        for name, client in clients.items():
            (source,) = sources[name]
            events = [e async for e in PROVIDERS[name].list_source(client, source)]
            assert len(events) == 5, name
    finally:
        for client in clients.values():
            await client.aclose()
