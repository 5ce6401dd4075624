"""The compose stack, the image, the Prometheus rules and the Grafana dashboard agree with the
processor: the metrics it really exports, the settings it really reads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.settings import Settings
from streams.telemetry import Telemetry

ROOT = Path(__file__).parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "cx-streams.json"
BUILTIN = {"up"}


def exported() -> dict[str, set[str]]:
    """Every sample name the processor exports, with its label names."""
    samples: dict[str, set[str]] = {}
    for line in Telemetry().render().decode().splitlines():
        if line.startswith("#") or not line:
            continue
        name, _, rest = line.partition("{")
        labels = set(re.findall(r'(\w+)="', rest)) if rest else set()
        samples.setdefault(name.split()[0], set()).update(labels)
    return samples


def queries() -> list[str]:
    found = []
    for rule in yaml.safe_load((RULES / "cx-streams.yml").read_text())["groups"][0]["rules"]:
        found.append(rule["expr"])
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        found.extend(target["expr"] for target in panel["targets"])
    return found


def test_rules_and_dashboard_use_only_metrics_the_processor_exports() -> None:
    metrics = exported()
    for expr in queries():
        for name in re.findall(r"\b([a-z_][a-z0-9_]*)(?=\s*[{\[)]|\s*$|\s*offset|\s*[/>-])", expr):
            if name.startswith("cx_"):
                assert name in metrics, f"{name} (in {expr!r}) is not exported"
        for name, selector in re.findall(r"\b(cx_[a-z0-9_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*=", selector):
                assert label in metrics[name] | {"instance", "job"}, (name, label)
        for grouping in re.findall(r"by \(([^)]*)\)", expr):
            used = {label.strip() for label in grouping.split(",")}
            names = [n for n in re.findall(r"\b(cx_[a-z0-9_]+)", expr) if n in metrics]
            allowed = set().union(*(metrics[n] for n in names)) | {"instance", "job"}
            assert used <= allowed, (expr, used - allowed)


def test_every_panel_the_issue_asks_for_is_on_the_dashboard() -> None:
    titles = {p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]}
    assert {
        "Event rate by channel",
        "Invalid events by reason",
        "Event-time lag",
        "Score distribution",
        "Customers by band over time",
        "Alerts by kind and severity",
    } <= titles


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]["uid"]
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        assert panel["datasource"]["uid"] == provisioned


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)"
)
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    for args in (["check", "rules", "cx-streams.yml"], ["test", "rules", "cx-streams.test.yml"]):
        result = subprocess.run(["promtool", *args], cwd=RULES, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_compose_stack_has_every_service_and_its_files() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "processor", "generator", "prometheus", "grafana"}
    assert services["processor"]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
        for needed in service.get("depends_on", {}):
            assert needed in services


def test_compose_runs_the_official_kafka_image_of_the_version_we_test_against() -> None:
    pom = (ROOT / "deploy/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>\s*([^<\s]+)\s*</kafka.version>", pom)
    assert version is not None
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_compose_settings_are_ones_the_processor_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    known = {f"CX_{name.upper()}" for name in Settings.model_fields}
    for name in ("processor", "generator"):
        env = services[name]["environment"]
        assert set(env) <= known, set(env) - known
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        Settings()  # valid values, or this raises
    processor = services["processor"]
    port = int(processor["environment"]["CX_WEB_PORT"])
    assert f"{port}:{port}" in processor["ports"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"processor:{port}"]


def test_the_image_is_slim_non_root_and_checks_its_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1\d-slim", dockerfile, re.M)
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert f"EXPOSE {Settings().web_port}" in dockerfile
    assert 'ENTRYPOINT ["cx-streams"]' in dockerfile
