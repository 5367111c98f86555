#!/usr/bin/env bash
# Validates openapi/openapi.yaml and proves that a client can be generated from it.
#
#   1. openapi-spec-validator: the document is valid OpenAPI 3.1.
#   2. House rules (see the spec's "Generating clients" section): operationIds are
#      unique lowerCamelCase; no anyOf/oneOf/allOf/not/const/nullable (constructs that
#      swift-openapi-generator 1.14 rejects or mangles); request bodies reject unknown
#      fields; every response declares X-Request-Id; only the open endpoints drop the
#      bearer requirement; every example validates against its schema.
#   3. openapi-python-client generates a client with no warning; every module of the
#      generated package imports, and every example round-trips through its model.
#
# Installs the Python tools with pip when they are missing. Usage: openapi/validate.sh [spec]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
spec="${1:-$here/openapi.yaml}"
python="${PYTHON:-python3}"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# ensure MODULE PACKAGE: pip-installs PACKAGE unless MODULE imports.
ensure() {
    if ! "$python" -c "import $1" >/dev/null 2>&1; then
        echo "installing $2"
        "$python" -m pip install --quiet "$2"
    fi
}

ensure openapi_spec_validator openapi-spec-validator
ensure openapi_schema_validator openapi-schema-validator
ensure yaml PyYAML

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== openapi-spec-validator"
"$python" -W error::DeprecationWarning -m openapi_spec_validator --schema 3.1 "$spec"

echo "== house rules and examples"
"$python" - "$spec" <<'PY'
import re
import sys

import yaml
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

path = sys.argv[1]
with open(path, encoding="utf-8") as f:
    doc = yaml.safe_load(f)

errors = []
OPEN = {"/healthz", "/readyz", "/metrics", "/openapi.yaml", "/sessions/validate"}
# The incident page: its login and logout are open, the page itself takes the session cookie.
OPEN |= {"/ui/login", "/ui/logout"}
COOKIE = {"/ui"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
FORBIDDEN = {"anyOf", "oneOf", "allOf", "not", "const", "nullable"}


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# Schema keywords, skipping property names and example data.
def walk(node, where, parent_key=None):
    if isinstance(node, dict):
        for key, value in node.items():
            if parent_key in ("example", "examples", "value"):
                continue
            if parent_key != "properties" and key in FORBIDDEN:
                errors.append(f"{where}: '{key}' is not allowed (generator compatibility)")
            walk(value, f"{where}/{key}", key)
    elif isinstance(node, list) and parent_key not in ("example", "examples", "enum", "required"):
        for i, value in enumerate(node):
            walk(value, f"{where}/{i}", None)


walk(doc, "#")

# operationIds, security, X-Request-Id, request bodies.
seen = {}
for route, item in doc["paths"].items():
    for method, op in item.items():
        if method not in METHODS:
            continue
        where = f"{method.upper()} {route}"
        op_id = op.get("operationId")
        if not op_id or not re.fullmatch(r"[a-z][a-zA-Z0-9]*", op_id):
            errors.append(f"{where}: operationId {op_id!r} is not lowerCamelCase")
        elif op_id in seen:
            errors.append(f"{where}: operationId {op_id} also used by {seen[op_id]}")
        else:
            seen[op_id] = where
        if not op.get("summary") or not op.get("tags"):
            errors.append(f"{where}: needs a summary and a tag")
        if route in OPEN and op.get("security") != []:
            errors.append(f"{where}: open endpoint needs 'security: []'")
        if route in COOKIE and op.get("security") != [{"uiSession": []}]:
            errors.append(f"{where}: the incident page needs 'security: [uiSession: []]'")
        if route not in OPEN and route not in COOKIE and "security" in op:
            errors.append(f"{where}: must use the global bearer security")
        for status, response in op.get("responses", {}).items():
            headers = resolve(response).get("headers", {})
            if "X-Request-Id" not in headers:
                errors.append(f"{where} {status}: no X-Request-Id header")
        body = op.get("requestBody")
        if body:
            for media, content in resolve(body)["content"].items():
                schema = resolve(content["schema"])
                if schema.get("additionalProperties") is not False:
                    errors.append(f"{where} {media}: request schema must set additionalProperties: false")
for name, response in doc.get("components", {}).get("responses", {}).items():
    if "X-Request-Id" not in response.get("headers", {}):
        errors.append(f"#/components/responses/{name}: no X-Request-Id header")

# Examples must validate against their schemas (formats included).
registry = Registry().with_resource("urn:baton", Resource(contents=doc, specification=DRAFT202012))
checked = 0


def check(schema_pointer, value, where):
    global checked
    validator = OAS31Validator({"$ref": "urn:baton" + schema_pointer}, registry=registry,
                               format_checker=oas31_format_checker)
    for error in validator.iter_errors(value):
        errors.append(f"{where}: {error.message} at {list(error.absolute_path)}")
    checked += 1


def check_content(content, base, where):
    for media, media_type in content.items():
        if "schema" not in media_type:
            continue
        schema_ptr = pointer(*base, media, "schema")
        for name, example in media_type.get("examples", {}).items():
            check(schema_ptr, resolve(example)["value"], f"{where} {media} example {name}")
        if "example" in media_type:
            check(schema_ptr, media_type["example"], f"{where} {media} example")


for route, item in doc["paths"].items():
    for method, op in item.items():
        if method not in METHODS:
            continue
        where = f"{method.upper()} {route}"
        if "requestBody" in op and "$ref" not in op["requestBody"]:
            check_content(op["requestBody"]["content"], ["paths", route, method, "requestBody", "content"], where)
        for status, response in op.get("responses", {}).items():
            if "$ref" not in response:
                check_content(response.get("content", {}),
                              ["paths", route, method, "responses", status, "content"], f"{where} {status}")
for name, response in doc.get("components", {}).get("responses", {}).items():
    check_content(response.get("content", {}), ["components", "responses", name, "content"],
                  f"#/components/responses/{name}")
for name, schema in doc.get("components", {}).get("schemas", {}).items():
    for i, example in enumerate(schema.get("examples", [])):
        check(pointer("components", "schemas", name), example, f"#/components/schemas/{name} example {i}")
    for prop, sub in schema.get("properties", {}).items():
        for i, example in enumerate(sub.get("examples", []) if isinstance(sub, dict) else []):
            check(pointer("components", "schemas", name, "properties", prop), example,
                  f"#/components/schemas/{name}/{prop} example {i}")

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(seen)} operations, {checked} examples valid")
PY

echo "== openapi-python-client"
ensure openapi_python_client openapi-python-client
"$python" -m openapi_python_client --version
# The document itself is served as application/yaml, which is text.
printf 'content_type_overrides:\n  application/yaml: text/plain\n' >"$tmp/config.yaml"
generate_log="$tmp/generate.log"
if ! "$python" -m openapi_python_client generate --path "$spec" --output-path "$tmp/baton_client" \
    --meta none --config "$tmp/config.yaml" --fail-on-warning >"$generate_log" 2>&1; then
    cat "$generate_log" >&2
    echo "openapi-python-client failed or warned" >&2
    exit 1
fi
cat "$generate_log"

echo "== import the generated client and round-trip every example"
PYTHONPATH="$tmp${PYTHONPATH:+:$PYTHONPATH}" "$python" - "$spec" <<'PY'
import datetime
import importlib
import pkgutil
import re
import sys

import yaml

import baton_client
from baton_client import models

modules = [baton_client.__name__]
for info in pkgutil.walk_packages(baton_client.__path__, baton_client.__name__ + "."):
    importlib.import_module(info.name)
    modules.append(info.name)

with open(sys.argv[1], encoding="utf-8") as f:
    doc = yaml.safe_load(f)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT")


def node_ref(ref):
    return [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]


def lookup(ref):
    node = doc
    for part in node_ref(ref):
        node = node[part]
    return node


def normalize(value):
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str) and TIMESTAMP.match(value):
        return datetime.datetime.fromisoformat(value)
    return value


failures = 0
checked = 0


def round_trip(ref, value, where):
    global failures, checked
    name = ref.rsplit("/", 1)[-1]
    cls = getattr(models, name, None)
    if cls is None or not hasattr(cls, "from_dict"):
        return
    expected = value
    try:
        got = cls.from_dict(value).to_dict()
    except Exception as error:  # noqa: BLE001 - report every failure
        print(f"{where}: {name}.from_dict failed: {error!r}", file=sys.stderr)
        failures += 1
        return
    if normalize(got) != normalize(expected):
        print(f"{where}: {name} round trip changed the value:\n  {expected}\n  {got}", file=sys.stderr)
        failures += 1
    checked += 1


def visit(content, where):
    for media, media_type in content.items():
        ref = media_type.get("schema", {}).get("$ref")
        if not ref:
            continue
        for name, example in media_type.get("examples", {}).items():
            round_trip(ref, example["value"], f"{where} {media} {name}")


for route, item in doc["paths"].items():
    for method, op in item.items():
        if not isinstance(op, dict) or "responses" not in op:
            continue
        where = f"{method.upper()} {route}"
        if "requestBody" in op:
            visit(op["requestBody"]["content"], where)
        for status, response in op["responses"].items():
            if "$ref" in response:
                response = lookup(response["$ref"])
            visit(response.get("content", {}), f"{where} {status}")
for name, response in doc["components"].get("responses", {}).items():
    visit(response.get("content", {}), f"#/components/responses/{name}")

if failures:
    sys.exit(1)
print(f"ok: imported {len(modules)} modules; {checked} examples round-tripped through the models")
PY

echo "validate.sh: all checks passed"
