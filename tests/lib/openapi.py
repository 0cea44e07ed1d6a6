"""openapi.py — the project's OpenAPI 3.1 documents (api/*.yaml) for the
tests: checks that a document is well formed, and validates a response
body against the schema its document gives for (path, method, status).

The component schemas are JSON Schema 2020-12 (OpenAPI 3.1), so Debian's
python3-jsonschema checks them and the bodies; openapi-spec-validator is
used as well where it is installed (Debian 12 does not package it).
"""
import os
import re

import yaml

import tap

try:
    import jsonschema
except ImportError:
    jsonschema = None

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def load(name):
    with open(os.path.join(tap.SRC, "api", name)) as f:
        return yaml.safe_load(f)


def text(name):
    with open(os.path.join(tap.SRC, "api", name)) as f:
        return f.read()


def resolve(spec, node, seen=()):
    """node with every local $ref replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node and len(node) == 1:
            ref = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                raise ValueError("unresolvable or cyclic $ref %s" % ref)
            target = spec
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return resolve(spec, target, seen + (ref,))
        return {k: resolve(spec, v, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(spec, v, seen) for v in node]
    return node


def problems(spec):
    """What is wrong with an OpenAPI 3.1 document (empty when nothing)."""
    out = []
    if not str(spec.get("openapi", "")).startswith("3.1."):
        out.append("openapi is not 3.1.x")
    info = spec.get("info") or {}
    if not info.get("title") or not info.get("version"):
        out.append("info needs title and version")
    try:
        full = resolve(spec, spec)
    except (ValueError, KeyError, TypeError) as e:
        return out + ["$ref: %s" % e]
    op_ids = []
    for path, item in (full.get("paths") or {}).items():
        if not path.startswith("/"):
            out.append("path %s does not start with /" % path)
        names = set(re.findall(r"{([^}]+)}", path))
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            op_ids.append(op.get("operationId"))
            params = (item.get("parameters") or []) + (op.get("parameters") or [])
            declared = {p["name"] for p in params if p.get("in") == "path"}
            if declared != names:
                out.append("%s %s: path parameters %s declared %s" % (method, path, sorted(names),
                                                                    sorted(declared)))
            for p in params:
                if p.get("in") not in ("path", "query", "header", "cookie") or "name" not in p:
                    out.append("%s %s: bad parameter %s" % (method, path, p))
                if p.get("in") == "path" and p.get("required") is not True:
                    out.append("%s %s: path parameter %s not required" % (method, path, p.get("name")))
            if not op.get("responses"):
                out.append("%s %s: no responses" % (method, path))
            for code, r in (op.get("responses") or {}).items():
                if not re.fullmatch(r"[1-5]([0-9]{2}|XX)|default", str(code)):
                    out.append("%s %s: response code %s" % (method, path, code))
                if "description" not in r:
                    out.append("%s %s %s: no description" % (method, path, code))
    if len(op_ids) != len(set(op_ids)) or None in op_ids:
        out.append("operationIds missing or repeated: %s" % op_ids)
    if jsonschema is not None:
        for name, schema in (spec.get("components", {}).get("schemas") or {}).items():
            try:
                jsonschema.Draft202012Validator.check_schema(resolve(spec, schema))
            except jsonschema.SchemaError as e:
                out.append("schema %s: %s" % (name, e.message))
    try:
        from openapi_spec_validator import validate_spec
        validate_spec(spec)
    except ImportError:
        pass
    except Exception as e:  # noqa: BLE001
        out.append("openapi-spec-validator: %s" % str(e).splitlines()[0])
    return out


def response_schema(spec, path, method, status, ctype="application/json"):
    """The schema for a concrete path (matched against the templates)."""
    for tmpl, item in spec["paths"].items():
        rx = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(tmpl)) + "$"
        if re.match(rx, path) and method.lower() in item:
            responses = item[method.lower()]["responses"]
            r = responses.get(str(status)) or responses.get("default")
            if r is None:
                return None
            r = resolve(spec, r)
            return (r.get("content") or {}).get(ctype, {}).get("schema", {})
    return None


def validate(spec, path, method, status, body):
    """None when body is valid for (path, method, status), else why not."""
    schema = response_schema(spec, path, method, status)
    if schema is None:
        return "no response %s for %s %s in the document" % (status, method, path)
    try:
        jsonschema.Draft202012Validator(schema).validate(body)
    except jsonschema.ValidationError as e:
        return "%s %s %s: %s at %s" % (method, path, status, e.message, list(e.absolute_path))
    return None
