"""Registry settings under their upstream names, and the parsers of the preloads."""

from __future__ import annotations

import pytest

from qhana.registry.preload import parse_seed_list
from qhana.registry.seed_metadata import UrlMap, is_plugin, plugin_info
from qhana.settings import Settings


def test_upstream_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QHANA_ENV_UI_URL_MAP", '{"a": "b"}')
    monkeypatch.setenv("QHANA_ENV_DEFAULT_UI_TEMPLATE", "1")
    monkeypatch.setenv("PLUGIN_DISCOVERY_INTERVAL", "3")
    monkeypatch.setenv("PLUGIN_BATCH_SIZE", "7")
    monkeypatch.setenv("PLUGIN_PURGE_INTERVAL", "-1")
    monkeypatch.setenv("PLUGIN_PURGE_AFTER", "auto")
    monkeypatch.setenv("UI_TEMPLATE_PATHS", "/a:/b")
    monkeypatch.setenv("INITIAL_PLUGIN_SEEDS", '["http://x/"]')
    settings = Settings()
    assert settings.registry_env == {"UI_URL_MAP": '{"a": "b"}', "DEFAULT_UI_TEMPLATE": "1"}
    assert settings.plugin_discovery_interval == 5  # at least 5 s, as upstream
    assert settings.plugin_batch_size == 7
    assert settings.plugin_purge_interval == -1
    assert settings.purge_after_s == 50.0  # auto = 10 x discovery interval
    assert settings.ui_template_paths == "/a:/b"
    assert parse_seed_list(settings.initial_plugin_seeds) == ["http://x/"]
    monkeypatch.setenv("PLUGIN_PURGE_AFTER", "never")
    assert Settings().purge_after_s is None
    monkeypatch.setenv("PLUGIN_PURGE_AFTER", "3600")
    assert Settings().purge_after_s == 3600.0
    monkeypatch.setenv("PLUGIN_PURGE_AFTER", "a week")
    with pytest.raises(ValueError):
        Settings()


def test_seed_lists() -> None:
    assert parse_seed_list("") == []
    assert parse_seed_list(" http://a/ \n\nhttp://b/\n") == ["http://a/", "http://b/"]
    assert parse_seed_list('["http://a/", 3, ""]') == ["http://a/"]
    assert parse_seed_list("[broken") == []


def test_url_maps_and_metadata() -> None:
    to_local = UrlMap('{"://host\\\\.docker\\\\.internal": "://localhost"}')
    assert to_local("http://host.docker.internal:5005/x/") == "http://localhost:5005/x/"
    assert UrlMap("")("http://a/") == "http://a/"
    with pytest.raises(ValueError):
        UrlMap("[1]")
    doc = {
        "name": "p",
        "version": "1",
        "title": None,
        "description": None,
        "type": "visualization",
        "tags": ["t"],
        "entryPoint": {"href": "/abs/", "uiHref": "ui/", "pluginDependencies": [{"bad": 1}]},
    }
    assert is_plugin(doc) and not is_plugin([doc]) and not is_plugin({"name": "p"})
    info = plugin_info(doc, "http://host.docker.internal/plugins/p@1/", to_local)
    assert info.title == "p" and info.description == ""
    assert info.api_root == "http://localhost/plugins/p@1/"
    assert info.entry_href == "http://localhost/abs/"
    assert info.ui_href == "http://localhost/plugins/p@1/ui/"
    assert info.plugin_dependencies == []
    with pytest.raises(ValueError):
        plugin_info({**doc, "type": "no-such-type"}, "http://h/", to_local)
