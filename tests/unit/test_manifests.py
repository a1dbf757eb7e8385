# SPDX-License-Identifier: Apache-2.0
"""Reading and checking manifests (magnum.api.v1.manifests), and how a workload view shows
a Kubernetes object (magnum.api.v1.views.POD, SERVICE, RC)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magnum.api.v1 import manifests, views
from magnum.common import exceptions
from magnum.drivers import capabilities

LIMIT = 524288
Kind = capabilities.WorkloadKind


def _refused(text: str, *, limit: int = LIMIT) -> str:
    with pytest.raises(exceptions.InvalidParameterValue) as caught:
        manifests.parse(text, limit=limit)
    assert caught.value.status == 400
    return caught.value.message


def test_json_or_yaml() -> None:
    assert manifests.parse('  \n {"metadata": {"name": "a"}}', limit=LIMIT) == {
        "metadata": {"name": "a"}
    }
    doc = manifests.parse(
        "metadata:\n  name: a\n  annotations: {at: 2016-04-07, n: 1}\n", limit=LIMIT
    )
    # a timestamp stays the text it was written as (Kubernetes reads YAML so); numbers are numbers
    assert doc == {"metadata": {"name": "a", "annotations": {"at": "2016-04-07", "n": 1}}}
    assert json.loads(json.dumps(doc)) == doc


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'manifest' can't be empty"),
        (" \t\n", "'manifest' can't be empty"),
        ("[1, 2]", "The manifest is not a JSON object or YAML mapping."),
        ("42", "The manifest is not a JSON object or YAML mapping."),
        ("null", "The manifest is not a JSON object or YAML mapping."),
        ("a: 1\n1: b\n", "Error parsing manifest: a key is not a string: 1"),
        ("a: .nan\n", "Error parsing manifest: numbers must be finite"),
        ('{"a": NaN}', "Error parsing manifest: numbers must be finite"),
        ("a: !!binary aGk=\n", "Error parsing manifest: a value JSON cannot hold (bytes)"),
        ("a: !!set {x}\n", "Error parsing manifest: a value JSON cannot hold (set)"),
    ],
)
def test_what_is_no_manifest(text: str, message: str) -> None:
    assert _refused(text) == message


def test_yaml_that_builds_objects_is_refused_as_unparsable() -> None:
    message = _refused("a: !!python/object/apply:os.system ['true']\n")
    assert message.startswith("Error parsing manifest: could not determine a constructor")
    assert _refused("? [a, b]\n: c\n").startswith("Error parsing manifest: while constructing")


def test_size_is_bounded_written_and_expanded() -> None:
    too_big = f"Manifest exceeds maximum allowed size ({LIMIT} bytes)"
    assert _refused("a: '" + "x" * LIMIT + "'") == too_big
    assert _refused("a: 'é" + "x" * (LIMIT - 6) + "'") == too_big  # bytes, not characters
    assert _refused("a: x", limit=3) == "Manifest exceeds maximum allowed size (3 bytes)"
    laughs = "a: &a ['lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol']\n"
    for level in range(1, 9):
        prev, name = chr(96 + level), chr(97 + level)
        laughs += f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
    assert len(laughs) < 1000
    assert _refused(laughs) == too_big
    # a list that holds itself is endless once expanded
    assert _refused("a: &a [*a]\n") == (
        f"Error parsing manifest: it nests deeper than {manifests.MAX_DEPTH} levels"
    )


def test_nesting_is_bounded() -> None:
    deep = "[" * (manifests.MAX_DEPTH + 1) + "]" * (manifests.MAX_DEPTH + 1)
    message = f"Error parsing manifest: it nests deeper than {manifests.MAX_DEPTH} levels"
    assert _refused('{"a": ' + deep + "}") == message
    assert _refused('{"a": ' + "[" * 100000 + "]" * 100000 + "}") == message  # no RecursionError
    assert _refused("a: " + "[" * 100000 + "]" * 100000) == message


POD: dict[str, Any] = {"metadata": {"name": "p"}, "spec": {"containers": [{"image": "x"}]}}
SERVICE: dict[str, Any] = {
    "metadata": {"name": "s"},
    "spec": {"ports": [{"port": 1}], "selector": {"a": "b"}},
}
RC: dict[str, Any] = {
    "metadata": {"name": "r"},
    "spec": {
        "selector": {"a": "b"},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"image": "x"}]}},
    },
}


def _without(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(doc))
    where = out
    for key in path[:-1]:
        where = where[key]
    del where[path[-1]]
    return out


@pytest.mark.parametrize(
    ("kind", "manifest", "message"),
    [
        (
            Kind.POD,
            _without(POD, "metadata", "name"),
            "Field metadata['name'] can't be empty in manifest.",
        ),
        (
            Kind.POD,
            {**POD, "metadata": {"name": ""}},
            "Field metadata['name'] can't be empty in manifest.",
        ),
        (Kind.POD, {**POD, "metadata": "p"}, "Field metadata['name'] can't be empty in manifest."),
        (
            Kind.POD,
            _without(POD, "spec", "containers"),
            "Field spec['containers'] can't be empty in manifest.",
        ),
        (Kind.POD, {**POD, "spec": []}, "Field spec['containers'] can't be empty in manifest."),
        (Kind.POD, {**POD, "kind": "Pods"}, "The manifest describes a Pods, not a Pod."),
        (
            Kind.SERVICE,
            _without(SERVICE, "spec", "ports"),
            "Field spec['ports'] can't be empty in manifest.",
        ),
        (
            Kind.SERVICE,
            _without(SERVICE, "spec", "selector"),
            "Field spec['selector'] can't be empty in manifest.",
        ),
        (
            Kind.REPLICATION_CONTROLLER,
            _without(RC, "spec", "template", "spec"),
            "Field spec['template']['spec']['containers'] can't be empty in manifest.",
        ),
        (
            Kind.REPLICATION_CONTROLLER,
            _without(RC, "spec", "template", "metadata", "labels"),
            "Field spec['template']['metadata']['labels'] can't be empty in manifest.",
        ),
        (
            Kind.REPLICATION_CONTROLLER,
            _without(RC, "spec", "selector"),
            "Field spec['selector'] can't be empty in manifest.",
        ),
    ],
)
def test_checks_name_the_missing_field(kind: Kind, manifest: dict[str, Any], message: str) -> None:
    with pytest.raises(exceptions.InvalidParameterValue) as caught:
        manifests.check(kind, manifest)
    assert caught.value.message == message


def test_good_manifests_pass_their_checks() -> None:
    assert manifests.check(Kind.POD, {**POD, "kind": "Pod"}) == "p"
    assert manifests.check(Kind.SERVICE, SERVICE) == "s"
    assert manifests.check(Kind.REPLICATION_CONTROLLER, RC) == "r"


def test_views_read_the_kubernetes_object() -> None:
    service = {
        "metadata": {"name": "s", "uid": "u1"},
        "spec": {
            "clusterIP": "10.0.0.1",
            "ports": [{"port": 80, "targetPort": "http", "nodePort": 30001, "protocol": "TCP"}],
        },
    }
    shown = views.SERVICE.render(service, "b1", "http://h", brief=True)
    assert shown == {
        "uuid": "u1",
        "name": "s",
        "bay_uuid": "b1",
        "labels": {},
        "selector": {},
        "ip": "10.0.0.1",
        "ports": [
            {
                "name": "k8s-service",
                "protocol": "TCP",
                "port": 80,
                "target_port": "http",
                "node_port": 30001,
            }
        ],
        "links": [
            {"href": "http://h/v1/services/u1", "rel": "self"},
            {"href": "http://h/services/u1", "rel": "bookmark"},
        ],
    }
    rc = {
        "metadata": {"name": "r", "uid": "u2"},
        "spec": {"template": {"spec": {"containers": [{}]}}},
    }
    assert views.RC.render(rc, "b1", "")["replicas"] == 0  # Kubernetes omits a 0
    assert views.RC.render(rc, "b1", "")["images"] == []
    pod = views.POD.render({"metadata": {"name": "p", "uid": "u3"}}, "b1", "", body={"desc": "d"})
    assert (pod["status"], pod["host"], pod["desc"], pod["manifest"]) == (None, None, "d", None)
