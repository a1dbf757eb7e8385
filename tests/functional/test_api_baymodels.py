# SPDX-License-Identifier: Apache-2.0
"""/v1/baymodels against the Mitaka contract (spec §3, §4.2, §7.2)."""

from __future__ import annotations

import json
import pathlib
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

import pytest

from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service

HOST = "http://falconframework.org"
BRIEF = {"uuid", "name", "image_id", "apiserver_port", "coe", "links"}
FULL = {
    "uuid",
    "name",
    "coe",
    "image_id",
    "flavor_id",
    "master_flavor_id",
    "dns_nameserver",
    "keypair_id",
    "external_network_id",
    "fixed_network",
    "network_driver",
    "volume_driver",
    "apiserver_port",
    "docker_volume_size",
    "cluster_distro",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "registry_enabled",
    "labels",
    "tls_disabled",
    "public",
    "server_type",
    "links",
    "created_at",
    "updated_at",
}


def _patch(svc: Service, ident: str, *ops: dict[str, Any], project: str = "p1") -> Any:
    return svc.patch(f"/v1/baymodels/{ident}", list(ops), project=project)


# --- create ----------------------------------------------------------------------------------
def test_create_minimal_fills_defaults(svc: Service) -> None:
    body = {"image_id": "img", "keypair_id": "kp", "coe": "kubernetes"}
    res = svc.post("/v1/baymodels", body)
    assert res.status_code == 201, res.text
    created = res.json
    assert set(created) == FULL
    assert _api.UUID.match(created["uuid"])
    assert res.headers["location"] == f"{HOST}/v1/baymodels/{created['uuid']}"
    assert {k: created[k] for k in FULL - {"uuid", "links", "created_at", "updated_at"}} == {
        "name": None,
        "coe": "kubernetes",
        "image_id": "img",
        "flavor_id": None,
        "master_flavor_id": None,
        "dns_nameserver": None,
        "keypair_id": "kp",
        "external_network_id": None,
        "fixed_network": None,
        "network_driver": "flannel",  # the COE's default driver is filled in and stored
        "volume_driver": None,
        "apiserver_port": None,
        "docker_volume_size": None,
        "cluster_distro": None,
        "http_proxy": None,
        "https_proxy": None,
        "no_proxy": None,
        "registry_enabled": False,
        "labels": {},
        "tls_disabled": False,
        "public": False,
        "server_type": "vm",
    }
    # what GET returns is what POST returned
    assert svc.get(res.headers["location"].removeprefix(HOST)).json == created


@pytest.mark.parametrize(("coe", "driver"), [("swarm", "docker"), ("mesos", "docker")])
def test_default_network_driver_per_coe(svc: Service, coe: str, driver: str) -> None:
    assert _api.make_cluster_template(svc, coe=coe)["network_driver"] == driver


def test_create_with_every_field(svc: Service) -> None:
    given = {
        "name": "all fields ünïcode",
        "coe": "swarm",
        "image_id": "img",
        "flavor_id": "m1.small",
        "master_flavor_id": "m1.large",
        "dns_nameserver": "8.8.8.8",
        "keypair_id": "kp",
        "external_network_id": "public",
        "fixed_network": "private",
        "network_driver": "flannel",
        "volume_driver": "rexray",
        "apiserver_port": 8443,
        "docker_volume_size": 5,
        "http_proxy": "http://proxy:3128",
        "https_proxy": "https://proxy:3129",
        "no_proxy": "localhost",
        "registry_enabled": True,
        "labels": {"flannel_use_vxlan": "true", "k": "v"},
        "tls_disabled": "yes",
        "public": "1",
        "server_type": "bm",
    }
    res = svc.post("/v1/baymodels", given)
    assert res.status_code == 201, res.text
    expected = given | {"tls_disabled": True, "public": True, "cluster_distro": None}
    assert {k: res.json[k] for k in expected} == expected
    assert svc.get(f"/v1/baymodels/{res.json['uuid']}").json == res.json


def test_null_means_default(svc: Service) -> None:
    created = _api.make_cluster_template(
        svc, labels=None, public=None, server_type=None, network_driver=None
    )
    assert created["labels"] == {}
    assert created["public"] is False
    assert created["server_type"] == "vm"
    assert created["network_driver"] == "docker"


def test_client_uuid_is_ignored_so_no_answer_tells_where_a_uuid_is(svc: Service) -> None:
    """A create answers alike whether the uuid it names is free, the caller's own or
    another project's (a 409 for another project's told that it exists): the uuid is
    ignored, as Magnum ignores a bay's."""
    theirs = _api.make_cluster_template(svc, project="p2", name="theirs")
    mine = _api.make_cluster_template(svc, name="mine")
    answers = []
    for uuid in (str(uuidlib.uuid4()), mine["uuid"], theirs["uuid"]):
        res = svc.post("/v1/baymodels", BAYMODEL | {"uuid": uuid, "name": "again"})
        assert res.status_code == 201, res.text
        assert res.json["uuid"] != uuid and _api.UUID.match(res.json["uuid"])
        answers.append({k: v for k, v in res.json.items() if k not in ("uuid", "links")})
        answers[-1].pop("created_at")
    assert answers[0] == answers[1] == answers[2]
    assert _api.names(svc, "baymodels") == ["mine", "again", "again", "again"]
    assert _api.names(svc, "baymodels", project="p2") == ["theirs"]
    assert svc.get(f"/v1/baymodels/{theirs['uuid']}", project="p2").json["name"] == "theirs"


def test_any_member_may_publish_by_default(svc: Service) -> None:
    res = svc.post("/v1/baymodels", BAYMODEL | {"public": True}, headers={"X-Roles": "member"})
    assert res.status_code == 201, res.text
    assert res.json["public"] is True


def test_publish_denied_by_policy(
    service_factory: Callable[..., Service], tmp_path: pathlib.Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"baymodel:publish": "role:admin"}))
    svc = service_factory(oslo_policy={"policy_file": str(policy)})
    member = {"X-Roles": "member"}
    res = svc.post("/v1/baymodels", BAYMODEL | {"public": True}, headers=member)
    _api.error(res, 403, "Not authorized to set public flag for baymodel.")
    assert _api.names(svc, "baymodels") == []
    created = _api.make_cluster_template(svc)
    res = _patch(svc, created["uuid"], {"op": "replace", "path": "/public", "value": True})
    assert res.status_code == 200, res.text  # the default caller has the admin role
    res = svc.patch(
        f"/v1/baymodels/{created['uuid']}",
        [{"op": "replace", "path": "/public", "value": "false"}],
        headers=member,
    )
    _api.error(res, 403, "Not authorized to set public flag for baymodel.")
    assert svc.get(f"/v1/baymodels/{created['uuid']}").json["public"] is True
    # other fields stay editable for members
    res = svc.patch(
        f"/v1/baymodels/{created['uuid']}",
        [{"op": "replace", "path": "/name", "value": "renamed"}],
        headers=member,
    )
    assert res.status_code == 200, res.text


# --- reads -----------------------------------------------------------------------------------
def test_brief_and_detail_field_sets(svc: Service) -> None:
    created = _api.make_cluster_template(svc, apiserver_port=6443)
    brief = svc.get("/v1/baymodels").json
    assert set(brief) == {"baymodels"}  # one item, no limit given: no `next`
    assert brief["baymodels"] == [{k: created[k] for k in BRIEF}]
    detail = svc.get("/v1/baymodels/detail").json
    assert detail == {"baymodels": [created]}


def test_lookup_by_uuid_or_name(svc: Service) -> None:
    created = _api.make_cluster_template(svc, name="findme")
    assert svc.get("/v1/baymodels/findme").json == created
    assert svc.get(f"/v1/baymodels/{created['uuid']}").json == created
    # an upper-case uuid is not a uuid: it is looked up as a name
    upper = created["uuid"].upper()
    _api.error(svc.get(f"/v1/baymodels/{upper}"), 404, f"Baymodel {upper} could not be found.")
    named = _api.make_cluster_template(svc, name=upper)
    assert svc.get(f"/v1/baymodels/{upper}").json["uuid"] == named["uuid"]


def test_unknown_ident_is_404(svc: Service) -> None:
    missing = str(uuidlib.uuid4())
    for ident in (missing, "nothing"):
        _api.error(svc.get(f"/v1/baymodels/{ident}"), 404, f"Baymodel {ident} could not be found.")
        _api.error(
            _patch(svc, ident, {"op": "replace", "path": "/name", "value": "x"}),
            404,
            f"Baymodel {ident} could not be found.",
        )
        _api.error(
            svc.delete(f"/v1/baymodels/{ident}"), 404, f"Baymodel {ident} could not be found."
        )


def test_names_are_exact(svc: Service) -> None:
    _api.make_cluster_template(svc, name="Mixed")
    for quoted, other in (("mixed", "mixed"), ("MIXED", "MIXED"), ("Mixed%20", "Mixed ")):
        _api.error(svc.get(f"/v1/baymodels/{quoted}"), 404, f"Baymodel {other} could not be found.")
    assert svc.get("/v1/baymodels/Mixed").status_code == 200


def test_ambiguous_name_is_409(svc: Service) -> None:
    a = _api.make_cluster_template(svc, name="twin")
    b = _api.make_cluster_template(svc, name="twin")
    detail = "Multiple baymodels exist with same name. Please use the baymodel uuid instead."
    _api.error(svc.get("/v1/baymodels/twin"), 409, detail)
    _api.error(_patch(svc, "twin", {"op": "replace", "path": "/name", "value": "x"}), 409, detail)
    _api.error(svc.delete("/v1/baymodels/twin"), 409, detail)
    _api.error(svc.post("/v1/bays", {"baymodel_id": "twin"}), 409, detail)
    assert svc.get("/v1/bays").json == {"bays": []}
    # by uuid both remain reachable, and the twin in another project does not count
    for m in (a, b):
        assert svc.get(f"/v1/baymodels/{m['uuid']}").status_code == 200
    _api.make_cluster_template(svc, name="single")
    _api.make_cluster_template(svc, project="p2", name="single")
    assert svc.get("/v1/baymodels/single").status_code == 200


# --- collections -----------------------------------------------------------------------------
NAMES = ["b", None, "a", "c", None, "a", "d", None]


@pytest.fixture
def many(svc: Service) -> list[dict[str, Any]]:
    return [_api.make_cluster_template(svc, name=n) for n in NAMES]


def test_default_order_is_creation_order(svc: Service, many: list[dict[str, Any]]) -> None:
    listed = svc.get("/v1/baymodels").json["baymodels"]
    assert [m["uuid"] for m in listed] == [m["uuid"] for m in many]


def _sorted(items: list[dict[str, Any]], key: str, desc: bool) -> list[str]:
    """Expected order: NULLs first ascending (last descending); ties by creation order."""
    order = list(enumerate(items))

    def rank(pair: tuple[int, dict[str, Any]]) -> tuple[bool, str, int]:
        index, item = pair
        value = item[key]
        return (value is not None, "" if value is None else value, index)

    order.sort(key=rank, reverse=desc)
    return [item["uuid"] for _, item in order]


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
@pytest.mark.parametrize("detail", [False, True])
def test_pages_concatenate_to_the_sorted_list(
    svc: Service, many: list[dict[str, Any]], sort_dir: str, detail: bool
) -> None:
    base = "/v1/baymodels/detail" if detail else "/v1/baymodels"
    for key, limit in (("name", 1), ("name", 2), ("name", 3), ("name", 8), ("id", 3)):
        expected = (
            _sorted(many, "name", sort_dir == "desc")
            if key == "name"
            else [m["uuid"] for m in (reversed(many) if sort_dir == "desc" else many)]
        )
        whole = svc.get(f"{base}?sort_key={key}&sort_dir={sort_dir}").json["baymodels"]
        assert [m["uuid"] for m in whole] == expected, key
        got = _api.walk(
            svc, f"{base}?sort_key={key}&sort_dir={sort_dir}&limit={limit}", "baymodels"
        )
        assert [m["uuid"] for m in got] == expected, (key, limit)
        assert got == whole  # same representation (brief or full) on every page


def test_next_rule_and_link(svc: Service, many: list[dict[str, Any]]) -> None:
    res = svc.get("/v1/baymodels/detail?limit=3&sort_key=name&sort_dir=desc")
    page = res.json["baymodels"]
    assert len(page) == 3
    link = res.json["next"]
    assert link.startswith(f"{HOST}/v1/baymodels/detail?")
    query = dict(p.split("=", 1) for p in link.split("?", 1)[1].split("&"))
    assert query == {
        "sort_key": "name",
        "sort_dir": "desc",
        "limit": "3",
        "marker": page[-1]["uuid"],
    }
    # a page shorter than the limit has no next; an exactly full last page still has one
    assert "next" not in svc.get("/v1/baymodels?limit=9").json
    full = svc.get("/v1/baymodels?limit=8").json
    assert len(full["baymodels"]) == 8 and "next" in full
    after = svc.get(_api.path(full["next"])).json
    assert after == {"baymodels": []}


def test_limit_above_max_is_capped(service_factory: Callable[..., Service]) -> None:
    svc = service_factory(api={"max_limit": 3})
    made = [_api.make_cluster_template(svc, name=f"m{i}") for i in range(5)]
    res = svc.get("/v1/baymodels?limit=100")
    assert [m["uuid"] for m in res.json["baymodels"]] == [m["uuid"] for m in made[:3]]
    assert "limit=3" in res.json["next"]
    # no limit at all: max_limit applies too
    res = svc.get("/v1/baymodels")
    assert len(res.json["baymodels"]) == 3 and "limit=3" in res.json["next"]
    assert [m["uuid"] for m in _api.walk(svc, "/v1/baymodels", "baymodels")] == [
        m["uuid"] for m in made
    ]


def test_marker_from_another_project_is_404(svc: Service) -> None:
    theirs = _api.make_cluster_template(svc, project="p2")
    _api.make_cluster_template(svc)
    res = svc.get(f"/v1/baymodels?marker={theirs['uuid']}")
    _api.error(res, 404, f"Baymodel {theirs['uuid']} could not be found.")


# --- visibility ------------------------------------------------------------------------------
def test_private_baymodels_are_invisible_to_other_projects(svc: Service) -> None:
    mine = _api.make_cluster_template(svc)
    for ident in (mine["uuid"], mine["name"]):
        missing = f"Baymodel {ident} could not be found."
        _api.error(svc.get(f"/v1/baymodels/{ident}", project="p2"), 404, missing)
        ops = [{"op": "replace", "path": "/name", "value": "x"}]
        _api.error(svc.patch(f"/v1/baymodels/{ident}", ops, project="p2"), 404, missing)
        _api.error(svc.delete(f"/v1/baymodels/{ident}", project="p2"), 404, missing)
        res = svc.post("/v1/bays", {"baymodel_id": ident}, project="p2")
        _api.error(res, 400, missing)
    assert svc.get("/v1/baymodels", project="p2").json == {"baymodels": []}
    assert svc.get("/v1/baymodels/detail", project="p2").json == {"baymodels": []}
    assert svc.get("/v1/bays", project="p2").json == {"bays": []}
    assert svc.get(f"/v1/baymodels/{mine['uuid']}").json == mine


def test_public_baymodels_are_shared_but_not_writable(svc: Service) -> None:
    shared = _api.make_cluster_template(svc, name="shared", public=True)
    _api.make_cluster_template(svc, name="private")
    assert _api.names(svc, "baymodels", project="p2") == ["shared"]
    assert svc.get("/v1/baymodels/detail", project="p2").json["baymodels"] == [shared]
    assert svc.get("/v1/baymodels/shared", project="p2").json == shared
    res = svc.patch(
        "/v1/baymodels/shared",
        [{"op": "replace", "path": "/name", "value": "stolen"}],
        project="p2",
    )
    _api.error(res, 403, "Policy doesn't allow baymodel:update to be performed.")
    res = svc.delete("/v1/baymodels/shared", project="p2")
    _api.error(res, 403, "Policy doesn't allow baymodel:delete to be performed.")
    assert svc.get("/v1/baymodels/shared").json == shared
    # usable for bays by another project; then frozen for its owner too
    res = svc.post("/v1/bays", {"baymodel_id": "shared"}, project="p2")
    assert res.status_code == 201, res.text
    assert res.json["baymodel_id"] == shared["uuid"]
    referenced = f"Baymodel {shared['uuid']} is referenced by one or multiple bays."
    _api.error(svc.delete("/v1/baymodels/shared"), 400, referenced)


# --- PATCH -----------------------------------------------------------------------------------
def test_patch_replace_add_remove(svc: Service) -> None:
    m = _api.make_cluster_template(
        svc, labels={"a": "1"}, docker_volume_size=3, dns_nameserver="8.8.8.8"
    )
    u = m["uuid"]
    res = _patch(
        svc,
        u,
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/flavor_id", "value": "m1.tiny"},  # add on a null attribute
        {"op": "add", "path": "/labels/b", "value": "2"},
        {"op": "replace", "path": "/labels/a", "value": "one"},
        {"op": "remove", "path": "/docker_volume_size"},
        {"op": "replace", "path": "/tls_disabled", "value": "true"},
        {"op": "replace", "path": "/registry_enabled", "value": True},
    )
    assert res.status_code == 200, res.text
    changed = {
        "name": "renamed",
        "flavor_id": "m1.tiny",
        "labels": {"a": "one", "b": "2"},
        "docker_volume_size": None,
        "tls_disabled": True,
        "registry_enabled": True,
    }
    assert {k: res.json[k] for k in changed} == changed
    unchanged = FULL - set(changed) - {"updated_at"}
    assert {k: res.json[k] for k in unchanged} == {k: m[k] for k in unchanged}
    assert svc.get(f"/v1/baymodels/{u}").json == res.json


def test_patch_remove_resets_to_default(svc: Service) -> None:
    m = _api.make_cluster_template(svc, labels={"a": "1"}, http_proxy="p", volume_driver="rexray")
    res = _patch(
        svc,
        m["uuid"],
        {"op": "remove", "path": "/labels"},
        {"op": "remove", "path": "/http_proxy"},
        {"op": "remove", "path": "/volume_driver"},
        {"op": "remove", "path": "/name"},
    )
    assert res.status_code == 200, res.text
    assert (res.json["labels"], res.json["http_proxy"], res.json["volume_driver"]) == (
        {},
        None,
        None,
    )
    assert res.json["name"] is None
    res = _patch(svc, m["uuid"], {"op": "add", "path": "/labels/x", "value": "y"})
    assert res.json["labels"] == {"x": "y"}
    res = _patch(svc, m["uuid"], {"op": "remove", "path": "/labels/x"})
    assert res.json["labels"] == {}


def test_patch_labels_with_an_object(svc: Service) -> None:
    m = _api.make_cluster_template(svc, labels={"a": "1"})
    res = _patch(svc, m["uuid"], {"op": "replace", "path": "/labels", "value": {"z": "26"}})
    assert res.status_code == 200, res.text
    assert res.json["labels"] == {"z": "26"}


def test_patch_revalidates_drivers(svc: Service) -> None:
    m = _api.make_cluster_template(svc)  # swarm
    res = _patch(svc, m["uuid"], {"op": "replace", "path": "/volume_driver", "value": "cinder"})
    _api.error(
        res,
        400,
        "Volume driver type cinder is not supported, expecting a rexray/unspecified volume driver.",
    )
    res = _patch(svc, m["uuid"], {"op": "replace", "path": "/coe", "value": "kubernetes"})
    _api.error(
        res,
        400,
        "Network driver type docker is not supported, expecting a flannel/unspecified network "
        "driver.",
    )
    assert svc.get(f"/v1/baymodels/{m['uuid']}").json == m


INTERNAL = ["/uuid", "/id", "/created_at", "/updated_at", "/links", "/project_id", "/user_id"]


def test_patch_internal_attributes(svc: Service, subtests: pytest.Subtests) -> None:
    m = _api.make_cluster_template(svc)
    for path in INTERNAL:
        for op in ("replace", "add", "remove"):
            with subtests.test(msg=f"{op} {path}"):
                patch: dict[str, Any] = {"op": op, "path": path}
                if op != "remove":
                    patch["value"] = "x"
                res = _patch(svc, m["uuid"], patch)
                _api.error(res, 400, f"'{path}' is an internal attribute and can not be updated")
                assert svc.get(f"/v1/baymodels/{m['uuid']}").json == m


MANDATORY = [
    "/image_id",
    "/keypair_id",
    "/external_network_id",
    "/coe",
    "/tls_disabled",
    "/public",
    "/registry_enabled",
    "/server_type",
    "/cluster_distro",
    "/network_driver",
]


def test_patch_mandatory_attributes_cannot_be_removed(
    svc: Service, subtests: pytest.Subtests
) -> None:
    m = _api.make_cluster_template(svc)
    for path in MANDATORY:
        with subtests.test(msg=path):
            res = _patch(svc, m["uuid"], {"op": "remove", "path": path})
            _api.error(res, 400, f"'{path}' is a mandatory attribute and can not be removed")
            assert svc.get(f"/v1/baymodels/{m['uuid']}").json == m


PATCH_ERRORS: list[tuple[Any, str]] = [
    (
        [{"op": "add", "path": "/foo", "value": "x"}],
        "Adding a new attribute /foo to the root of the resource is not allowed.",
    ),
    (
        [{"op": "add", "path": "/image_id", "value": "x"}],
        "The attribute /image_id has existed, please use 'replace' operation instead.",
    ),
    (
        [{"op": "replace", "path": "/foo", "value": "x"}],
        'Couldn\'t apply patch \'[{"op": "replace", "path": "/foo", "value": "x"}]\'. '
        "Reason: can't replace a non-existent object 'foo'",
    ),
    (
        [{"op": "remove", "path": "/foo"}],
        'Couldn\'t apply patch \'[{"op": "remove", "path": "/foo"}]\'. '
        "Reason: can't remove a non-existent object 'foo'",
    ),
    (
        [{"op": "replace", "path": "/image_id"}],
        "'add' and 'replace' operations needs value",
    ),
    (
        [{"op": "move", "path": "/name", "value": "x"}],
        "Invalid input for field/attribute op. Value: 'move'. "
        "Value should be one of: add, replace, remove",
    ),
    (
        [{"op": "replace", "path": "name", "value": "x"}],
        "Invalid input for field/attribute path. Value: 'name'. "
        "Value should match the pattern ^(/[\\w-]+)+$",
    ),
    (
        [{"op": "replace", "path": "/name", "value": {"a": "b"}}],
        "Invalid input for field/attribute name. Value: '{'a': 'b'}'. Value should be string",
    ),
    (
        [{"op": "replace", "path": "/docker_volume_size", "value": "big"}],
        "Invalid input for field/attribute docker_volume_size. Value: 'big'. "
        "Value should be integer",
    ),
    (
        [{"op": "replace", "path": "/name", "value": "x", "from": "/y"}],
        "Unknown attribute for argument patch: from",
    ),
    (
        [{"path": "/name", "value": "x"}],
        "Invalid input for field/attribute op. Value: 'None'. Mandatory field missing.",
    ),
    (
        {"op": "replace", "path": "/name", "value": "x"},
        "Invalid input for argument patch: expected a non-empty JSON array of operations",
    ),
    ([], "Invalid input for argument patch: expected a non-empty JSON array of operations"),
    (["replace"], "Invalid input for argument patch: expected a JSON object"),
]


def test_patch_errors(svc: Service, subtests: pytest.Subtests) -> None:
    m = _api.make_cluster_template(svc)
    for ops, detail in PATCH_ERRORS:
        with subtests.test(msg=json.dumps(ops)):
            _api.error(svc.patch(f"/v1/baymodels/{m['uuid']}", ops), 400, detail)
            assert svc.get(f"/v1/baymodels/{m['uuid']}").json == m


def test_patch_is_all_or_nothing(svc: Service) -> None:
    m = _api.make_cluster_template(svc)
    res = _patch(
        svc,
        m["uuid"],
        {"op": "replace", "path": "/name", "value": "changed"},
        {"op": "replace", "path": "/apiserver_port", "value": 80},
    )
    _api.error(
        res,
        400,
        "Invalid input for field/attribute apiserver_port. Value: '80'. "
        "Value should be greater or equal to 1024",
    )
    assert svc.get(f"/v1/baymodels/{m['uuid']}").json == m


# --- referenced baymodels --------------------------------------------------------------------
def test_referenced_baymodel_is_frozen(svc: Service) -> None:
    m = _api.make_cluster_template(svc)
    res = svc.post("/v1/bays", {"baymodel_id": m["uuid"]})
    assert res.status_code == 201, res.text
    cluster = res.json
    referenced = f"Baymodel {m['uuid']} is referenced by one or multiple bays."
    _api.error(
        _patch(svc, m["uuid"], {"op": "replace", "path": "/name", "value": "x"}), 400, referenced
    )
    # even a patch that changes nothing
    _api.error(
        _patch(svc, m["uuid"], {"op": "replace", "path": "/name", "value": "m1"}), 400, referenced
    )
    _api.error(svc.delete(f"/v1/baymodels/{m['uuid']}"), 400, referenced)
    assert svc.get(f"/v1/baymodels/{m['uuid']}").json == m
    # once the bay is gone the baymodel can be deleted
    svc.wait_cluster(cluster["uuid"], lambda b: b is not None and b["status"] == "CREATE_COMPLETE")
    assert svc.delete(f"/v1/bays/{cluster['uuid']}").status_code == 204
    svc.wait_cluster(cluster["uuid"], lambda b: b is None)
    assert svc.delete(f"/v1/baymodels/{m['uuid']}").status_code == 204
    _api.error(svc.get(f"/v1/baymodels/{m['uuid']}"), 404)
    assert svc.get("/v1/baymodels").json == {"baymodels": []}


def test_delete_by_name(svc: Service) -> None:
    _api.make_cluster_template(svc, name="gone")
    res = svc.delete("/v1/baymodels/gone")
    assert res.status_code == 204
    assert res.text == ""
    assert svc.get("/v1/baymodels").json == {"baymodels": []}
