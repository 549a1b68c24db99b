"""The CRM apps under deploy/ agree with the connector and with themselves, checked offline.

Salesforce metadata is well-formed XML of the type its file name says, and every name one file
gives another (class, credential principal, field) exists; the fields are the ones
`mappings setup` creates. The HubSpot project points its card and its permittedUrls at one
address. The connector answers the JavaScript tests render are the read model's real shape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml

from connector.api.record_view import RecordConversationOut
from connector.crm.salesforce.setup import PERMISSION_SET

REPO = Path(__file__).resolve().parents[2]
SALESFORCE = REPO / "deploy" / "salesforce"
SOURCE = SALESFORCE / "force-app" / "main" / "default"
HUBSPOT = REPO / "deploy" / "hubspot-app"
NS = "{http://soap.sforce.com/2006/04/metadata}"

XML_FILES = sorted(p for p in SOURCE.rglob("*-meta.xml") if "node_modules" not in p.parts)
FIXTURES = sorted(
    [
        *(HUBSPOT / "tests" / "fixtures").glob("*.json"),
        *(SOURCE / "lwc" / "mmsConversation" / "__tests__" / "data").glob("*.json"),
    ]
)


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _root(path: Path) -> ElementTree.Element:
    return ElementTree.parse(path).getroot()


def _texts(path: Path, tag: str) -> list[str]:
    return [element.text or "" for element in _root(path).iter(f"{NS}{tag}")]


def test_there_is_metadata_to_check() -> None:
    kinds = {path.name.split(".")[-2].removesuffix("-meta") for path in XML_FILES}
    assert kinds >= {
        "cls",
        "js",
        "namedCredential",
        "externalCredential",
        "permissionset",
        "cspTrustedSite",
        "field",
    }


@pytest.mark.parametrize("path", XML_FILES, ids=_rel)
def test_metadata_is_well_formed_xml_of_the_type_its_name_says(path: Path) -> None:
    try:
        root = _root(path)
    except ElementTree.ParseError as exc:
        pytest.fail(f"{_rel(path)}: {exc}")
    suffix = path.name.split(".")[-2].removesuffix("-meta")
    expected = {
        "permissionset": "PermissionSet",
        "cls": "ApexClass",
        "js": "LightningComponentBundle",
        "field": "CustomField",
    }.get(suffix, suffix[0].upper() + suffix[1:])
    assert root.tag == f"{NS}{expected}", f"{_rel(path)} holds a {root.tag}"


def test_every_apex_class_and_lwc_has_its_metadata() -> None:
    for source in [*SOURCE.glob("classes/*.cls"), *SOURCE.glob("lwc/*/*.js")]:
        if source.suffix == ".js" and source.stem != source.parent.name:
            continue
        assert source.with_name(source.name + "-meta.xml").is_file(), _rel(source)


def test_the_reps_permission_set_names_what_exists() -> None:
    permission_set = SOURCE / "permissionsets" / "MMS_Connector_User.permissionset-meta.xml"
    for apex_class in _texts(permission_set, "apexClass"):
        assert (SOURCE / "classes" / f"{apex_class}.cls").is_file(), apex_class
    [principal] = _texts(permission_set, "externalCredentialPrincipal")
    credential, name = principal.split("-", 1)
    external = SOURCE / "externalCredentials" / f"{credential}.externalCredential-meta.xml"
    parameters = _root(external).findall(f"{NS}externalCredentialParameters")
    principals = [
        p.findtext(f"{NS}parameterName")
        for p in parameters
        if p.findtext(f"{NS}parameterType") == "NamedPrincipal"
    ]
    assert principals == [name]
    [header] = [
        p.findtext(f"{NS}parameterValue")
        for p in parameters
        if p.findtext(f"{NS}parameterType") == "AuthHeader"
    ]
    assert header == f"{{!'Bearer ' & $Credential.{credential}.Token}}"
    named = SOURCE / "namedCredentials" / f"{credential}.namedCredential-meta.xml"
    assert _texts(named, "externalCredential") == [credential]
    controller = (SOURCE / "classes" / "MmsConversationController.cls").read_text()
    assert f"'callout:{credential}'" in controller


def test_the_fields_are_those_mappings_setup_creates() -> None:
    mapping = yaml.safe_load((REPO / "mappings" / "salesforce.yaml").read_text())
    text = json.dumps(mapping)
    fields = {path.name.split(".")[0] for path in SOURCE.glob("objects/Activity/fields/*")}
    assert {"MMS_Message_Key__c", "MMS_Thread_Key__c"} == fields
    assert all(field in text for field in fields)
    opt_out = {"MMS_Opted_Out__c", "MMS_Opted_Out_At__c"}
    assert all(field in text for field in opt_out)
    per_contact = {
        f"{obj}.{path.name.split('.')[0]}"
        for obj in ("Contact", "Lead")
        for path in SOURCE.glob(f"objects/{obj}/fields/*")
    }
    assert per_contact == {f"{obj}.{f}" for obj in ("Contact", "Lead") for f in opt_out}
    integration = SOURCE / "permissionsets" / f"{PERMISSION_SET}.permissionset-meta.xml"
    assert sorted(_texts(integration, "field")) == sorted(
        [*(f"Activity.{f}" for f in fields), *per_contact]
    )
    key = _root(SOURCE / "objects" / "Activity" / "fields" / "MMS_Message_Key__c.field-meta.xml")
    assert [key.findtext(f"{NS}{t}") for t in ("externalId", "unique", "caseSensitive")] == [
        "true",
        "true",
        "true",
    ]


def test_the_card_goes_on_contacts_leads_and_the_utility_bar() -> None:
    bundle = SOURCE / "lwc" / "mmsConversation" / "mmsConversation.js-meta.xml"
    assert set(_texts(bundle, "target")) == {"lightning__RecordPage", "lightning__UtilityBar"}
    assert set(_texts(bundle, "object")) == {"Contact", "Lead"}


def test_salesforce_frames_and_calls_one_connector_address() -> None:
    [url] = _texts(
        SOURCE / "namedCredentials" / "MMS_Connector.namedCredential-meta.xml", "parameterValue"
    )
    [site] = _texts(
        SOURCE / "cspTrustedSites" / "MMS_Connector.cspTrustedSite-meta.xml", "endpointUrl"
    )
    assert url == site and url.startswith("https://")


def test_the_hubspot_card_calls_and_frames_the_address_it_permits() -> None:
    project = json.loads((HUBSPOT / "hsproject.json").read_text())
    assert project["platformVersion"] == "2025.2"
    app = json.loads((HUBSPOT / "src" / "app" / "app-hsmeta.json").read_text())
    card = json.loads(
        (HUBSPOT / "src" / "app" / "cards" / "mms-conversation-hsmeta.json").read_text()
    )
    assert (app["type"], card["type"]) == ("app", "card")
    assert (HUBSPOT / "src" / card["config"]["entrypoint"].lstrip("/")).is_file()
    assert card["config"]["objectTypes"] == ["contacts"]
    config = (HUBSPOT / "src" / "app" / "cards" / "config.ts").read_text()
    [url] = re.findall(r'MMS_CONNECTOR_URL = "([^"]+)";', config)
    assert app["config"]["permittedUrls"] == {"fetch": [url], "iframe": [url], "img": [url]}


@pytest.mark.parametrize("path", FIXTURES, ids=_rel)
def test_the_recorded_answers_are_the_read_models_shape(path: Path) -> None:
    recorded: dict[str, Any] = json.loads(path.read_text())
    model = RecordConversationOut.model_validate(recorded)
    assert model.model_dump(mode="json") == recorded  # nothing missing, nothing extra


def test_both_apps_keep_node_modules_out_of_git() -> None:
    for app in (HUBSPOT, SALESFORCE):
        assert "node_modules/" in (app / ".gitignore").read_text().splitlines()
        assert (app / "package-lock.json").is_file()
