"""The ways to run the backup unattended, as baked: Kubernetes, systemd, compose, Docker.

Kubernetes manifests are validated against Kubernetes' own OpenAPI schemas
(kubernetes-validate, strict: no unknown fields) for the oldest version with
``CronJob.spec.timeZone`` and the newest the package knows. systemd units go through
``systemd-analyze verify``; compose files through the compose-spec schema.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.hostprojects import compose_schema_errors

TOOL = Path("tools") / "db-backup"
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")  # timeZone is GA from 1.27
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def manifests(project: Path) -> dict[str, dict[str, Any]]:
    """The baked manifests by kind."""
    found = {}
    for path in sorted((project / TOOL / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"]] = document
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_manifests_match_the_kubernetes_schemas(
    baked_project: Path, version: str
) -> None:
    """CronJob, Secret and PersistentVolumeClaim validate strictly."""
    found = manifests(baked_project)
    assert set(found) == {"CronJob", "Secret", "PersistentVolumeClaim"}
    for document in found.values():
        kubernetes_validate.validate(document, version, strict=True)


def test_kubernetes_validation_rejects_a_field_out_of_place(baked_project: Path) -> None:
    """The validation above can fail: a field out of place (``privileged`` belongs in the
    container's securityContext) is refused."""
    cronjob = manifests(baked_project)["CronJob"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod["containers"][0]["privileged"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("baked_project", [{"postgres_version": "16"}], indirect=True)
def test_cronjob_runs_one_backup_at_a_time_as_a_locked_down_user(baked_project: Path) -> None:
    """Forbid, no retries, a time zone, finished Jobs cleaned up; non-root with a read-only
    root filesystem and /tmp on an emptyDir; resources; the password as a Secret file; the
    Pushgateway for metrics; the image tag naming the PostgreSQL major."""
    found = manifests(baked_project)
    cronjob, secret, claim = found["CronJob"], found["Secret"], found["PersistentVolumeClaim"]
    spec = cronjob["spec"]
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    [container] = pod["containers"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["timeZone"]
    assert job["backoffLimit"] == 0
    assert job["ttlSecondsAfterFinished"] > 0
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["image"].endswith(":pg16")

    env = {item["name"]: item["value"] for item in container["env"]}
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert mounts["tmp"] == "/tmp" and "emptyDir" in volumes["tmp"]
    assert env["PGPASSWORD_FILE"] == mounts["db-password"] + "/password"
    assert volumes["db-password"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert "password" in secret["stringData"]
    assert env["BACKUP_DIR"] == mounts["backups"]
    claim_name = volumes["backups"]["persistentVolumeClaim"]["claimName"]
    assert claim_name == claim["metadata"]["name"]
    assert env["BACKUP_PUSHGATEWAY_URL"].startswith("http")
    assert "PGPASSWORD" not in env and "POSTGRES_PASSWORD" not in env


# --- systemd ------------------------------------------------------------------------------

needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian package systemd: apt-get install systemd)",
)


def installed_units(project: Path, target: Path) -> list[Path]:
    """The units as an operator installs them: /srv/<slug> replaced by the project's path."""
    units = []
    for name in ("db-backup.service", "db-backup.timer"):
        text = (project / TOOL / "systemd" / name).read_text()
        unit = target / name
        unit.write_text(text.replace(f"/srv/{project.name}", str(project)))
        units.append(unit)
    return units


def systemd_verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify``; it exits 0 on some bad values and only prints them."""
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_systemd_analyze
def test_systemd_units_verify_clean(baked_project: Path, tmp_path: Path) -> None:
    """The service and its timer load without a complaint; the timer catches up on missed
    runs (Persistent) with a random delay, and starts the script with --type=auto."""
    units = installed_units(baked_project, tmp_path)
    result = systemd_verify(units)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    service, timer = (unit.read_text().splitlines() for unit in units)
    assert "Persistent=true" in timer
    assert any(line.startswith("RandomizedDelaySec=") for line in timer)
    assert any(line.startswith("ExecStart=") and "--type=auto" in line for line in service)


@needs_systemd_analyze
def test_systemd_verification_reports_a_bad_value(baked_project: Path, tmp_path: Path) -> None:
    """The check above can fail: a value systemd cannot parse is reported."""
    service, timer = installed_units(baked_project, tmp_path)
    timer.write_text(timer.read_text().replace("Persistent=true", "Persistent=sometimes"))
    result = systemd_verify([service, timer])
    assert "Failed to parse boolean value" in result.stderr


# --- compose and the image -------------------------------------------------------------


@pytest.mark.parametrize(
    "baked_project",
    [{}, {"compose_backups_mount": "database-volume"}],
    indirect=True,
    ids=["host-folder", "database-volume"],
)
def test_new_project_compose_file_matches_the_compose_spec(baked_project: Path) -> None:
    """The fresh compose.yml, scheduler and healthcheck included, validates."""
    assert compose_schema_errors(baked_project / "compose.yml") == ""
    service = yaml.safe_load((baked_project / "compose.yml").read_text())["services"]["db-backup"]
    assert service["restart"] == "unless-stopped"
    assert "--check" in service["healthcheck"]["test"]


def test_image_healthcheck_is_the_freshness_check(baked_project: Path) -> None:
    """The Dockerfile's HEALTHCHECK runs --check, with a start period."""
    lines = (baked_project / TOOL / "Dockerfile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    healthcheck = " ".join(lines[start : start + 2])
    assert "--start-period=" in healthcheck
    assert '"db_backup", "--check"]' in healthcheck
