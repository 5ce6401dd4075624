"""The Kubernetes manifests: valid against the Kubernetes API schemas, and consistent with the
processor's settings, port, health endpoints and scorecard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streams.scoring.scorecard import parse_scorecard
from streams.settings import Settings

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
KUBERNETES = "1.30"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def test_every_manifest_file_is_in_the_kustomization() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize(
    "doc",
    [d for d in documents() if "monitoring.coreos.com" not in d["apiVersion"]],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_manifests_follow_the_kubernetes_schemas(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_service_monitor_scrapes_the_api_service() -> None:
    (monitor,) = by_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selected = monitor["spec"]["selector"]["matchLabels"]
    matching = [
        s for s in by_kind("Service") if selected.items() <= s["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in matching] == ["cx-streams"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in matching[0]["spec"]["ports"]}


def test_the_workers_are_wired_to_the_processors_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    (workers,) = by_kind("StatefulSet")
    spec = workers["spec"]
    assert spec["serviceName"] in {s["metadata"]["name"] for s in by_kind("Service")}
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    known = {f"CX_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    for name, item in env.items():
        if "value" in item:
            monkeypatch.setenv(name, item["value"])
    settings = Settings()
    assert settings.store == "rocksdb"
    (port,) = container["ports"]
    assert port["containerPort"] == settings.web_port
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    # not /healthz: a Kafka outage or a rebalance must not get every worker restarted
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["state"] == str(settings.data_dir)
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    assert str(settings.scorecard).startswith(mounts["scorecard"] + "/")
    assert container["resources"]["requests"]


def test_the_scorecard_config_map_is_a_valid_scorecard() -> None:
    (config,) = by_kind("ConfigMap")
    parse_scorecard(config["data"]["scorecard.toml"])
