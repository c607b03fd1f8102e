"""Properties and property groups: read, create (409 OBJECT_ALREADY_EXISTS on a taken
name), update (enumeration options are replaced wholesale, reference §B4 [69]) and archive.

Creating needs name, label, type, fieldType and groupName; `type` and `fieldType` must be a
valid pair and an enumeration needs options (reference §B4 [66]).
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.hubspot import schema
from connector.sandbox.hubspot.errors import ErrorFactory
from connector.sandbox.hubspot.objects import ObjectsApi
from connector.sandbox.hubspot.routing import Reply, Request, Router
from connector.sandbox.hubspot.store import Store

_REQUIRED = ("name", "label", "type", "fieldType", "groupName")
_EDITABLE = ("label", "description", "groupName", "options", "displayOrder", "hidden", "formField",
             "type", "fieldType")


class PropertiesApi:
    def __init__(self, store: Store, errors: ErrorFactory, objects: ObjectsApi) -> None:
        self.store = store
        self.errors = errors
        self.objects = objects

    def register(self, router: Router) -> None:
        base = "/crm/v3/properties/{objectType}"
        router.add("GET", base + "/groups", "properties.groups.read", self.list_groups)
        router.add("POST", base + "/groups", "properties.groups.create", self.create_group)
        router.add("GET", base + "/groups/{groupName}", "properties.groups.read", self.get_group)
        router.add("GET", base, "properties.read", self.list_properties)
        router.add("POST", base, "properties.create", self.create)
        router.add("GET", base + "/{propertyName}", "properties.read", self.get_one)
        router.add("PATCH", base + "/{propertyName}", "properties.update", self.update)
        router.add("DELETE", base + "/{propertyName}", "properties.archive", self.archive)

    def list_properties(self, request: Request) -> Reply:
        defs = self.store.properties[self.objects.object_type(request)]
        archived = (request.arg("archived", "false") or "").lower() == "true"
        with self.store.lock:
            return Reply(200, {"results": [dict(p) for p in defs.values() if p["archived"] == archived]})

    def get_one(self, request: Request) -> Reply:
        prop = self._existing(request)
        return Reply(200, dict(prop))

    def create(self, request: Request) -> Reply:
        object_type = self.objects.object_type(request)
        body = request.json(self.errors)
        if not isinstance(body, dict):
            raise self.errors.validation("property body must be an object")
        missing = [k for k in _REQUIRED if not body.get(k)]
        if missing:
            raise self.errors.validation(f"Missing required fields: {', '.join(missing)}")
        self._check_types(body)
        with self.store.lock:
            defs = self.store.properties[object_type]
            if body["name"] in defs:
                raise self.errors.make(409, f"A property named '{body['name']}' already exists.",
                                       "OBJECT_ALREADY_EXISTS")
            if body["groupName"] not in self.store.groups[object_type]:
                raise self.errors.validation(f"Property group {body['groupName']} does not exist.")
            prop = schema.definition(
                body["name"], body["label"], body["type"], body["fieldType"], body["groupName"],
                options=self._options(body.get("options")), hubspot_defined=False,
                created_at=schema.format_ms(self.store.now_ms()))
            prop["description"] = body.get("description", "")
            prop["hasUniqueValue"] = bool(body.get("hasUniqueValue", False))
            prop["hidden"] = bool(body.get("hidden", False))
            prop["formField"] = bool(body.get("formField", False))
            prop["displayOrder"] = int(body.get("displayOrder", -1))
            defs[body["name"]] = prop
            self.store.version += 1
            return Reply(201, dict(prop))

    def update(self, request: Request) -> Reply:
        body = request.json(self.errors)
        if not isinstance(body, dict):
            raise self.errors.validation("property body must be an object")
        with self.store.lock:
            prop = self._existing(request)
            if prop["modificationMetadata"]["readOnlyDefinition"]:
                raise self.errors.validation(f"{prop['name']} is a HubSpot-defined property and cannot be changed")
            merged = {**prop, **{k: v for k, v in body.items() if k in _EDITABLE}}
            self._check_types(merged)
            if "options" in body:
                merged["options"] = self._options(body["options"])
            merged["updatedAt"] = schema.format_ms(self.store.now_ms())
            prop.update(merged)
            self.store.version += 1
            return Reply(200, dict(prop))

    def archive(self, request: Request) -> Reply:
        with self.store.lock:
            prop = self._existing(request)
            if prop["modificationMetadata"]["readOnlyDefinition"]:
                raise self.errors.validation(f"{prop['name']} is a HubSpot-defined property and cannot be archived")
            prop["archived"] = True
            self.store.version += 1
        return Reply(204)

    def list_groups(self, request: Request) -> Reply:
        groups = self.store.groups[self.objects.object_type(request)]
        return Reply(200, {"results": [dict(g) for g in groups.values()]})

    def get_group(self, request: Request) -> Reply:
        group = self.store.groups[self.objects.object_type(request)].get(request.params["groupName"])
        if group is None:
            raise self.errors.make(404, f"Unable to find property group {request.params['groupName']}",
                                   "OBJECT_NOT_FOUND")
        return Reply(200, dict(group))

    def create_group(self, request: Request) -> Reply:
        object_type = self.objects.object_type(request)
        body = request.json(self.errors)
        if not isinstance(body, dict) or not body.get("name") or not body.get("label"):
            raise self.errors.validation("Missing required fields: name, label")
        with self.store.lock:
            groups = self.store.groups[object_type]
            if body["name"] in groups:
                raise self.errors.make(409, f"A property group named '{body['name']}' already exists.",
                                       "OBJECT_ALREADY_EXISTS")
            group = {"name": body["name"], "label": body["label"],
                     "displayOrder": int(body.get("displayOrder", -1)), "archived": False}
            groups[body["name"]] = group
            return Reply(201, dict(group))

    def _existing(self, request: Request) -> dict[str, Any]:
        defs = self.store.properties[self.objects.object_type(request)]
        name = request.params["propertyName"]
        prop = defs.get(name)
        if prop is None or prop["archived"]:
            raise self.errors.make(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
        return prop

    def _check_types(self, body: dict[str, Any]) -> None:
        allowed = schema.PROPERTY_TYPES.get(body["type"])
        if allowed is None:
            raise self.errors.validation(f"Invalid type {body['type']!r}; expected one of {sorted(schema.PROPERTY_TYPES)}")
        if body["fieldType"] not in allowed:
            raise self.errors.validation(
                f"fieldType {body['fieldType']!r} is not valid for type {body['type']!r}; expected one of {sorted(allowed)}")
        if body["type"] == "enumeration" and not body.get("options"):
            raise self.errors.validation("enumeration properties need at least one option")

    def _options(self, raw: Any) -> list[dict[str, Any]]:
        if raw in (None, []):
            return []
        if not isinstance(raw, list) or not all(isinstance(o, dict) and "label" in o and "value" in o for o in raw):
            raise self.errors.validation("options must be a list of {label, value} objects")
        return [{"label": o["label"], "value": o["value"], "description": o.get("description", ""),
                 "displayOrder": o.get("displayOrder", i), "hidden": bool(o.get("hidden", False))}
                for i, o in enumerate(raw)]
