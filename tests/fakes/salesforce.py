"""A loopback fake of the Salesforce REST API, served over TLS for the real simple-salesforce.

Why a real server (and why TLS): simple-salesforce builds every URL as
``https://{instance}/...`` whatever scheme you give it, and it talks through ``requests``, so
the honest way to exercise the real client (its URL building, error mapping, token refresh,
``Sforce-Limit-Info`` parsing) is a small Starlette app under uvicorn on 127.0.0.1 with a
throw-away certificate authority generated at start-up.

Quick start::

    from simple_salesforce import Salesforce
    from tests.fakes.salesforce import ERR_TOTAL_REQUESTS, FakeSalesforce

    with FakeSalesforce() as fake:
        sf = Salesforce(instance_url=fake.instance_url, session_id=fake.session_id,
                        session=fake.session())
        fake.add_field("Activity", "MMS_Message_Key__c", external_id=True, unique=True)
        who = fake.add_record("Contact", {"LastName": "Doe", "Phone": "(415) 555-0100"})
        sf.search("FIND {4155550100} IN PHONE FIELDS RETURNING Contact(Id, Phone)")
        sf.Task.upsert("MMS_Message_Key__c/SM1", {"Subject": "MMS", "WhoId": who})  # -> 201
        fake.inject("PATCH", r"sobjects/Task/", 403, ERR_TOTAL_REQUESTS)
        fake.records("Task")  # {id: fields}

Trusting the certificate: this machine sets ``REQUESTS_CA_BUNDLE``, which beats
``Session.verify``. ``fake.session()`` therefore returns a session with ``trust_env = False`` and
``verify = fake.ca_path``. For code that builds its own sessions (zeep under ``sf.mdapi``, or a
service run as a subprocess) point ``REQUESTS_CA_BUNDLE`` at ``fake.ca_bundle_path`` (the system
bundle plus the fake CA).

OAuth: simple-salesforce only ever posts to ``https://{domain}.salesforce.com/services/oauth2/token``.
``fake.session()`` rewrites any ``*.salesforce.com`` / ``*.force.com`` URL to the fake, so
``Salesforce(username=..., consumer_key=..., privatekey_file=..., session=fake.session())``
(JWT bearer), ``Salesforce(consumer_key=..., consumer_secret=..., domain="acme.my", session=...)``
(client credentials) and the OAuth username-password flow all land here. The token answer's
``instance_url`` is the fake, so the REST calls that follow go straight to it.

What is faked (see the handlers for details): OAuth token endpoint; ``limits/``; sObject
create/get/update/delete; upsert/get/delete by external id; ``describe``; sObject Collections
create/update/delete/upsert (200-record cap, ``allOrNone``); ``composite`` with ``@{ref.id}``
references; enough SOQL (``SELECT ... FROM ... WHERE`` with ``=, !=, <, >, IN, NOT IN, LIKE,
AND, OR, NOT``, ``ORDER BY``, ``LIMIT``, ``COUNT()``, paging); enough SOSL (``FIND {a OR b}
IN PHONE|EMAIL|NAME|ALL FIELDS RETURNING Obj(fields ...)``); ContentVersion uploads (JSON base64
or multipart) that create ContentDocument and ContentDocumentLink; and the Metadata SOAP calls
``createMetadata/upsertMetadata/updateMetadata/readMetadata/deleteMetadata`` for ``CustomField``
(plus ``PermissionSet`` field permissions) as sent by ``sf.mdapi``.

Test knobs: ``latency``, ``daily_limit``, ``concurrent_limit``, ``token_ttl``, ``deny_metadata``,
``expire_tokens()``, ``inject()`` (canned answers), ``inject_delay()`` (process, then hang past
the client's timeout), ``fail_records()`` (per-record failures). Observability: ``requests``,
``count()``, ``records()``, ``record()``, ``file_bytes()``. ``reset()`` restores a fresh org so one
server can serve a whole test module.

Where Salesforce's exact behaviour is unconfirmed the fake picks the stricter reading so code
that passes here is less likely to fail against a real org; those spots say "fake rule".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import itertools
import json
import os
import re
import secrets
import socket
import string
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit
from xml.sax.saxutils import escape as xml_escape

import certifi
import jwt
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from requests import Session as RequestsSession
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "ERR_CONCURRENT_REQUESTS",
    "ERR_INVALID_SESSION",
    "ERR_SERVER_UNAVAILABLE",
    "ERR_TOTAL_REQUESTS",
    "ERR_UNABLE_TO_LOCK_ROW",
    "FakeSalesforce",
    "FakeSalesforceSession",
    "FieldDef",
    "RecordedRequest",
    "generate_rsa_keypair",
    "is_salesforce_id",
    "sf_error",
    "to_18",
    "validation_error",
]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_VERSION = "59.0"


# --------------------------------------------------------------------------------------------
# Error bodies (what Salesforce puts in a REST error answer: a JSON *list* of errors)
# --------------------------------------------------------------------------------------------


def sf_error(error_code: str, message: str, fields: Iterable[str] | None = None) -> list[dict]:
    """Build a REST error body, ``[{"message", "errorCode", "fields"?}]``."""
    error: dict[str, Any] = {"message": message, "errorCode": error_code}
    if fields is not None:
        error["fields"] = list(fields)
    return [error]


def validation_error(
    message: str = "Validation rule failed", fields: Iterable[str] = ()
) -> list[dict]:
    """A 400 body like the one a validation rule produces."""
    return sf_error("FIELD_CUSTOM_VALIDATION_EXCEPTION", message, fields)


#: 403 once the rolling 24 h API allocation is used up.
ERR_TOTAL_REQUESTS = sf_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
#: 403 when too many long-running requests are in flight.
ERR_CONCURRENT_REQUESTS = sf_error(
    "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
)
#: 401 for an expired or unknown token; simple-salesforce refreshes on exactly this errorCode.
ERR_INVALID_SESSION = sf_error("INVALID_SESSION_ID", "Session expired or invalid")
#: 503 while Salesforce is unavailable or overloaded.
ERR_SERVER_UNAVAILABLE = sf_error(
    "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later."
)
#: 400 when a row lock could not be taken within 10 s.
ERR_UNABLE_TO_LOCK_ROW = sf_error(
    "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records", []
)

_NOT_FOUND = "The requested resource does not exist"
_ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header"
)
_HALTED = "The transaction was rolled back since another operation in the same transaction failed."


class _ApiError(Exception):
    """An error answer: raised deep inside a handler, rendered by the dispatcher."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        fields: Iterable[str] | None = None,
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = None if fields is None else list(fields)

    def body(self) -> list[dict]:
        return sf_error(self.error_code, self.message, self.fields)

    def record_error(self) -> dict[str, Any]:
        """The per-record shape used by collections (``statusCode``, not ``errorCode``)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields or []}


# --------------------------------------------------------------------------------------------
# Salesforce ids: 3-char key prefix + 12 chars, plus the 3-char case-folding checksum
# --------------------------------------------------------------------------------------------

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM_CHARS = string.ascii_uppercase + "012345"
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Z0-5]{3})?$")
_id_counter = itertools.count(1)  # process-wide, so ids never repeat across fakes or resets

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Note": "002",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Organization": "00D",
    "Attachment": "00P",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "ContentVersion": "068",
    "ContentDocument": "069",
    "ContentDocumentLink": "06A",
    "Case": "500",
}


def is_salesforce_id(value: Any) -> bool:
    """True for a syntactically valid 15- or 18-character id."""
    return isinstance(value, str) and bool(_ID_RE.match(value))


def to_18(sf_id: str) -> str:
    """Return the case-insensitive 18-character form Salesforce answers with."""
    base = sf_id[:15]
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(base[start : start + 5]) if ch.isupper())
        suffix += _CHECKSUM_CHARS[bits]
    return base + suffix


def _new_id(prefix: str) -> str:
    number = next(_id_counter)
    digits = ""
    while number:
        number, rem = divmod(number, 62)
        digits = _BASE62[rem] + digits
    return to_18(prefix + "5g" + "0" + digits.rjust(9, "0"))


# --------------------------------------------------------------------------------------------
# Certificates and keys
# --------------------------------------------------------------------------------------------


def _write_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """Write a one-off CA and a server certificate for 127.0.0.1/localhost.

    A separate CA (rather than one self-signed leaf) keeps OpenSSL's strict chain checks happy;
    EC keys make generation instant.
    """
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "FakeSalesforce test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    ca_path.write_bytes(ca_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


def generate_rsa_keypair(directory: str | os.PathLike[str]) -> tuple[Path, str]:
    """Create an RSA key for the JWT bearer flow: ``(private_key_pem_path, public_key_pem)``.

    Hand the path to ``Salesforce(privatekey_file=...)`` and the public key to
    ``FakeSalesforce(jwt_public_key=...)`` so the fake verifies the signature.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = Path(directory) / "jwt-private-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public.decode()


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------

_STRINGY = {"string", "textarea", "phone", "email", "url", "picklist", "combobox"}
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "base64": "xsd:base64Binary",
}


@dataclass
class FieldDef:
    """One field as ``describe`` reports it, plus what the fake needs to validate writes."""

    name: str
    type: str = "string"
    length: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    #: Fake-only: answer REQUIRED_FIELD_MISSING on create when absent (e.g. Contact.LastName).
    required: bool = False
    custom: bool = False
    label: str = ""
    #: Allowed target objects of a reference; empty means "any record".
    reference_to: tuple[str, ...] = ()
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    #: False hides the field (no field-level security yet); see ``require_fls_grant``.
    visible: bool = True

    def describe(self) -> dict[str, Any]:
        relationship = None
        if self.type == "reference" and self.name.endswith("Id"):
            relationship = self.name[:-2]
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": 18 if self.type == "double" else 0,
            "scale": 0,
            "digits": 9 if self.type == "int" else 0,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "defaultedOnCreate": self.default is not None or not self.createable,
            "externalId": self.external_id,
            "unique": self.unique,
            "caseSensitive": self.case_sensitive,
            "idLookup": self.name == "Id" or self.external_id,
            "filterable": self.type not in ("textarea", "base64") or self.length <= 255,
            "custom": self.custom,
            "referenceTo": list(self.reference_to),
            "relationshipName": relationship,
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == self.default,
                    "label": value,
                    "value": value,
                    "validFor": None,
                }
                for value in self.picklist
            ],
        }


@dataclass
class _ObjectDef:
    name: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    createable: bool = True
    custom: bool = False
    searchable: bool = True

    def add(self, fd: FieldDef) -> FieldDef:
        self.fields[fd.name] = fd
        return fd

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive lookup of a visible field (Salesforce names are case-insensitive)."""
        fd = self.fields.get(name)
        if fd is None:
            lowered = name.lower()
            fd = next((f for f in self.fields.values() if f.name.lower() == lowered), None)
        return fd if fd is not None and fd.visible else None

    def visible_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.visible]

    def describe(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.name,
            "labelPlural": self.name + "s",
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": self.createable,
            "updateable": self.createable,
            "deletable": True,
            "queryable": True,
            "searchable": self.searchable,
            "retrieveable": True,
            "urls": {
                "sobject": base,
                "describe": base + "/describe",
                "rowTemplate": base + "/{ID}",
            },
        }


def _system_fields(obj: _ObjectDef) -> None:
    ro = {"createable": False, "updateable": False}
    obj.add(FieldDef("Id", "id", 18, nillable=False, label="Record ID", **ro))
    obj.add(FieldDef("IsDeleted", "boolean", nillable=False, label="Deleted", **ro))
    obj.add(FieldDef("CreatedDate", "datetime", nillable=False, **ro))
    obj.add(FieldDef("CreatedById", "reference", 18, reference_to=("User",), **ro))
    obj.add(FieldDef("LastModifiedDate", "datetime", nillable=False, **ro))
    obj.add(FieldDef("LastModifiedById", "reference", 18, reference_to=("User",), **ro))
    obj.add(FieldDef("SystemModstamp", "datetime", nillable=False, **ro))


def _person_fields(obj: _ObjectDef) -> None:
    obj.add(FieldDef("FirstName", "string", 40))
    obj.add(FieldDef("LastName", "string", 80, nillable=False, required=True))
    obj.add(FieldDef("Name", "string", 121, createable=False, updateable=False))


def _default_schema() -> dict[str, _ObjectDef]:
    """The standard objects the connector touches, with the fields the adapter cares about."""
    objects: dict[str, _ObjectDef] = {}

    def new(name: str, *, createable: bool = True, searchable: bool = True) -> _ObjectDef:
        obj = _ObjectDef(name, KEY_PREFIXES[name], createable=createable, searchable=searchable)
        _system_fields(obj)
        objects[name] = obj
        return obj

    owner = FieldDef("OwnerId", "reference", 18, nillable=False, reference_to=("User",))

    user = new("User", searchable=False)
    user.add(FieldDef("Username", "string", 80, nillable=False, required=True))
    _person_fields(user)
    user.add(FieldDef("Email", "email", 128))
    user.add(FieldDef("IsActive", "boolean", default=True))

    account = new("Account")
    account.add(FieldDef("Name", "string", 255, nillable=False, required=True))
    account.add(FieldDef("Phone", "phone", 40))
    account.add(owner)

    contact = new("Contact")
    _person_fields(contact)
    contact.add(FieldDef("AccountId", "reference", 18, reference_to=("Account",)))
    for phone in ("Phone", "MobilePhone", "HomePhone", "OtherPhone"):
        contact.add(FieldDef(phone, "phone", 40))
    contact.add(FieldDef("Email", "email", 80))
    contact.add(owner)

    lead = new("Lead")
    _person_fields(lead)
    lead.add(FieldDef("Company", "string", 255, nillable=False, required=True))
    lead.add(FieldDef("Phone", "phone", 40))
    lead.add(FieldDef("MobilePhone", "phone", 40))
    lead.add(FieldDef("Email", "email", 80))
    lead.add(
        FieldDef(
            "Status",
            "picklist",
            255,
            nillable=False,
            picklist=("Open - Not Contacted", "Working - Contacted", "Closed - Converted"),
            default="Open - Not Contacted",
        )
    )
    lead.add(owner)

    opportunity = new("Opportunity")
    opportunity.add(FieldDef("Name", "string", 120, nillable=False, required=True))
    opportunity.add(FieldDef("AccountId", "reference", 18, reference_to=("Account",)))
    case = new("Case")
    case.add(FieldDef("Subject", "string", 255))
    case.add(FieldDef("ContactId", "reference", 18, reference_to=("Contact",)))

    what = ("Account", "Opportunity", "Case")
    task = new("Task")
    task.add(FieldDef("Subject", "combobox", 255))
    task.add(FieldDef("Description", "textarea", 32000, label="Comments"))
    task.add(FieldDef("WhoId", "reference", 18, reference_to=("Contact", "Lead"), label="Name ID"))
    task.add(FieldDef("WhatId", "reference", 18, reference_to=what, label="Related To ID"))
    task.add(FieldDef("ActivityDate", "date", label="Due Date Only"))
    task.add(
        FieldDef(
            "Status",
            "picklist",
            255,
            nillable=False,
            picklist=(
                "Not Started",
                "In Progress",
                "Completed",
                "Waiting on someone else",
                "Deferred",
            ),
            default="Not Started",
        )
    )
    task.add(
        FieldDef(
            "Priority",
            "picklist",
            255,
            nillable=False,
            picklist=("High", "Normal", "Low"),
            default="Normal",
        )
    )
    task.add(owner)
    task.add(
        FieldDef(
            "TaskSubtype",
            "picklist",
            255,
            updateable=False,
            picklist=("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"),
            restricted=True,
            label="Task Subtype",
        )
    )
    task.add(FieldDef("Type", "picklist", 255, picklist=("Call", "Meeting", "Email", "Other")))
    task.add(
        FieldDef(
            "CallType",
            "picklist",
            255,
            picklist=("Inbound", "Internal", "Outbound"),
            restricted=True,
            label="Call Type",
        )
    )
    task.add(FieldDef("CallDisposition", "string", 255))
    task.add(FieldDef("CallDurationInSeconds", "int"))
    task.add(FieldDef("IsClosed", "boolean", createable=False, updateable=False))

    event = new("Event")
    event.add(FieldDef("Subject", "combobox", 255))
    event.add(FieldDef("Description", "textarea", 32000))
    event.add(FieldDef("WhoId", "reference", 18, reference_to=("Contact", "Lead")))
    event.add(FieldDef("WhatId", "reference", 18, reference_to=what))
    event.add(FieldDef("StartDateTime", "datetime"))
    event.add(FieldDef("EndDateTime", "datetime"))
    event.add(FieldDef("DurationInMinutes", "int"))
    event.add(owner)

    version = new("ContentVersion", searchable=False)
    version.add(FieldDef("Title", "string", 255))
    version.add(FieldDef("PathOnClient", "string", 500, required=True))
    version.add(FieldDef("VersionData", "base64", required=True))
    version.add(
        FieldDef(
            "ContentDocumentId",
            "reference",
            18,
            updateable=False,
            reference_to=("ContentDocument",),
        )
    )
    version.add(FieldDef("FirstPublishLocationId", "reference", 18, updateable=False))
    version.add(FieldDef("Description", "textarea", 1000))
    version.add(FieldDef("ContentLocation", "picklist", 255, picklist=("S", "E", "L"), default="S"))
    for name, ftype in (
        ("FileType", "string"),
        ("FileExtension", "string"),
        ("ContentSize", "int"),
        ("IsLatest", "boolean"),
        ("VersionNumber", "string"),
    ):
        version.add(
            FieldDef(
                name, ftype, 40 if ftype == "string" else 0, createable=False, updateable=False
            )
        )
    version.add(owner)

    document = new("ContentDocument", createable=False, searchable=False)
    document.add(FieldDef("Title", "string", 255))
    for name, ftype in (
        ("LatestPublishedVersionId", "reference"),
        ("FileType", "string"),
        ("FileExtension", "string"),
        ("ContentSize", "int"),
    ):
        document.add(
            FieldDef(
                name, ftype, 18 if ftype == "reference" else 0, createable=False, updateable=False
            )
        )
    document.add(owner)

    link = new("ContentDocumentLink", searchable=False)
    link.add(
        FieldDef(
            "ContentDocumentId",
            "reference",
            18,
            updateable=False,
            required=True,
            reference_to=("ContentDocument",),
        )
    )
    link.add(FieldDef("LinkedEntityId", "reference", 18, updateable=False, required=True))
    link.add(FieldDef("ShareType", "picklist", 40, picklist=("V", "C", "I"), default="V"))
    link.add(
        FieldDef(
            "Visibility",
            "picklist",
            40,
            picklist=("AllUsers", "InternalUsers", "SharedUsers"),
            default="AllUsers",
        )
    )
    return objects


#: Metadata API CustomField types -> (describe type, default length).
_CUSTOM_FIELD_TYPES: dict[str, tuple[str, int]] = {
    "Text": ("string", 255),
    "TextArea": ("textarea", 255),
    "LongTextArea": ("textarea", 32768),
    "Email": ("email", 80),
    "Phone": ("phone", 40),
    "Url": ("url", 255),
    "Number": ("double", 0),
    "Checkbox": ("boolean", 0),
    "Date": ("date", 0),
    "DateTime": ("datetime", 0),
    "Picklist": ("picklist", 255),
}

_FILE_TYPES = {
    "jpg": "JPG",
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "mp4": "MP4",
    "pdf": "PDF",
    "txt": "TEXT",
    "mp3": "MP3",
    "wav": "WAV",
    "vcf": "UNKNOWN",
    "heic": "UNKNOWN",
}


# --------------------------------------------------------------------------------------------
# Value helpers
# --------------------------------------------------------------------------------------------


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _parse_datetime(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


# --------------------------------------------------------------------------------------------
# SOQL / SOSL: a tokenizer and a recursive-descent parser for the WHERE subset we need
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"(?P<string>'(?:[^'\\]|\\.)*')"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
    r"|(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),])"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)"
)
_SOQL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
Predicate = Callable[[Mapping[str, Any]], bool]
Token = tuple[str, str]


def _tokenize(text: str, error_code: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.lastgroup is None:
            raise _ApiError(400, error_code, f"unexpected token: '{text[pos : pos + 20]}'")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


def _unescape_soql(raw: str) -> str:
    out: list[str] = []
    chars = iter(raw)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_SOQL_ESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def _like_regex(raw: str) -> re.Pattern[str]:
    """SOQL LIKE: ``%`` and ``_`` are wildcards unless escaped; always case-insensitive."""
    parts: list[str] = []
    chars = iter(raw)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            parts.append(re.escape(_SOQL_ESCAPES.get(nxt, nxt)))
        elif ch == "%":
            parts.append(".*")
        elif ch == "_":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def _norm(fd: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if fd.type in ("id", "reference") and is_salesforce_id(value):
        return to_18(value)
    if isinstance(value, str):
        if fd.type == "datetime":
            return _parse_datetime(value)
        if fd.case_sensitive:
            return value
        return value.casefold()
    return value


def _compare(fd: FieldDef, stored: Any, op: str, literal: Any) -> bool:
    left, right = _norm(fd, stored), _norm(fd, literal)
    if op == "=":
        return bool(left == right)
    if op in ("!=", "<>"):
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


@dataclass
class _Order:
    field: FieldDef
    descending: bool
    nulls_last: bool


class _Parser:
    """Just enough SOQL (and the RETURNING part of SOSL) for a connector's queries."""

    def __init__(self, tokens: list[Token], error_code: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.error_code = error_code

    def error(self, message: str) -> _ApiError:
        return _ApiError(400, self.error_code, message)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end of query")
        self.pos += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "ident" and token[1].upper() in words

    def accept_keyword(self, word: str) -> bool:
        if self.at_keyword(word):
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.accept_keyword(word):
            raise self.error(f"expecting '{word}', found '{(self.peek() or ('', 'EOF'))[1]}'")

    def accept_punct(self, punct: str) -> bool:
        token = self.peek()
        if token == ("punct", punct):
            self.pos += 1
            return True
        return False

    def expect_punct(self, punct: str) -> None:
        if not self.accept_punct(punct):
            raise self.error(f"expecting '{punct}', found '{(self.peek() or ('', 'EOF'))[1]}'")

    def ident(self) -> str:
        kind, value = self.take()
        if kind != "ident":
            raise self.error(f"unexpected token: '{value}'")
        return value

    def field_list(self, stop: tuple[str, ...]) -> list[str]:
        names = [self.ident()]
        while self.accept_punct(","):
            names.append(self.ident())
        token = self.peek()
        if token is not None and token != ("punct", ")") and not self.at_keyword(*stop):
            raise self.error(f"unexpected token: '{token[1]}'")
        return names

    # WHERE ------------------------------------------------------------------------------
    def where(self, resolve: Callable[[str], FieldDef]) -> Predicate:
        left = self._conjunction(resolve)
        while self.accept_keyword("OR"):
            right = self._conjunction(resolve)
            left = _either(left, right)
        return left

    def _conjunction(self, resolve: Callable[[str], FieldDef]) -> Predicate:
        left = self._factor(resolve)
        while self.accept_keyword("AND"):
            right = self._factor(resolve)
            left = _both(left, right)
        return left

    def _factor(self, resolve: Callable[[str], FieldDef]) -> Predicate:
        if self.accept_keyword("NOT"):
            inner = self._factor(resolve)
            return lambda rec: not inner(rec)
        if self.accept_punct("("):
            inner = self.where(resolve)
            self.expect_punct(")")
            return inner
        fd = resolve(self.ident())
        negate = self.accept_keyword("NOT")
        if self.accept_keyword("IN"):
            self.expect_punct("(")
            values = [self.value(fd)]
            while self.accept_punct(","):
                values.append(self.value(fd))
            self.expect_punct(")")
            return lambda rec: any(_compare(fd, rec.get(fd.name), "=", v) for v in values) != negate
        if negate:
            raise self.error("expecting 'IN' after 'NOT'")
        if self.accept_keyword("LIKE"):
            kind, raw = self.take()
            if kind != "string":
                raise self.error("LIKE needs a quoted string")
            pattern = _like_regex(raw[1:-1])
            return lambda rec: (
                isinstance(rec.get(fd.name), str) and bool(pattern.match(rec[fd.name]))
            )
        kind, op = self.take()
        if kind != "op":
            raise self.error(f"unexpected token: '{op}'")
        literal = self.value(fd)
        return lambda rec: _compare(fd, rec.get(fd.name), op, literal)

    def value(self, fd: FieldDef) -> Any:
        kind, raw = self.take()
        if kind == "string":
            if fd.type in ("date", "datetime"):
                raise _ApiError(
                    400,
                    "INVALID_FIELD",
                    f"value of filter criterion for field '{fd.name}' must be of type "
                    f"{fd.type} and should not be enclosed in quotes",
                )
            text = _unescape_soql(raw[1:-1])
            if fd.type in ("id", "reference") and not is_salesforce_id(text):
                raise _ApiError(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}")
            return text
        if kind == "number":
            return float(raw) if "." in raw else int(raw)
        if kind in ("date", "datetime"):
            return raw
        if kind == "ident" and raw.upper() in ("TRUE", "FALSE"):
            return raw.upper() == "TRUE"
        if kind == "ident" and raw.upper() == "NULL":
            return None
        raise self.error(f"unsupported value: '{raw}' (fake supports literals only)")

    def order_by(self, resolve: Callable[[str], FieldDef]) -> list[_Order]:
        orders: list[_Order] = []
        while True:
            fd = resolve(self.ident())
            descending = False
            if self.accept_keyword("DESC"):
                descending = True
            else:
                self.accept_keyword("ASC")
            nulls_last = descending
            if self.accept_keyword("NULLS"):
                if self.accept_keyword("LAST"):
                    nulls_last = True
                else:
                    self.expect_keyword("FIRST")
                    nulls_last = False
            orders.append(_Order(fd, descending, nulls_last))
            if not self.accept_punct(","):
                return orders

    def integer(self) -> int:
        kind, raw = self.take()
        if kind != "number" or "." in raw:
            raise self.error(f"expecting an integer, found '{raw}'")
        return int(raw)


def _always(rec: Mapping[str, Any]) -> bool:
    return True


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda rec: a(rec) or b(rec)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda rec: a(rec) and b(rec)


def _sort_records(records: list[dict[str, Any]], orders: list[_Order]) -> list[dict[str, Any]]:
    for order in reversed(orders):
        present = [r for r in records if r.get(order.field.name) is not None]
        missing = [r for r in records if r.get(order.field.name) is None]
        present.sort(key=lambda r, f=order.field: _norm(f, r[f.name]), reverse=order.descending)
        records = present + missing if order.nulls_last else missing + present
    return records


_SOSL_RESERVED_UNESCAPED = set("&|!{}[]^~:'+-")


def _parse_sosl_find(query: str, strict: bool) -> tuple[list[str], str]:
    """Split ``FIND {terms} rest`` into OR-ed terms (escapes removed) and the rest."""
    match = re.match(r"\s*FIND\s*\{", query, re.IGNORECASE)
    if not match:
        raise _ApiError(
            400,
            "MALFORMED_SEARCH",
            "No search term found. The search term must be enclosed in braces.",
        )
    chars: list[str] = []
    pos = match.end()
    while True:
        if pos >= len(query):
            raise _ApiError(400, "MALFORMED_SEARCH", "missing closing brace in FIND clause")
        ch = query[pos]
        if ch == "\\" and pos + 1 < len(query):
            chars.append(query[pos + 1])
            pos += 2
            continue
        if ch == "}":
            break
        if strict and ch in _SOSL_RESERVED_UNESCAPED:
            raise _ApiError(
                400,
                "MALFORMED_SEARCH",
                f"reserved character '{ch}' must be escaped with a backslash (fake rule: "
                "SOSL reserved characters are & | ! {{ }} [ ] ^ ~ : ' + - and more)",
            )
        chars.append(ch)
        pos += 1
    text = "".join(chars)
    terms = [t.strip().strip('"()').strip() for t in re.split(r"\s+OR\s+", text, flags=re.I)]
    return [t for t in terms if t], query[pos + 1 :]


# --------------------------------------------------------------------------------------------
# Records store with an undo journal (allOrNone rollbacks, composite transactions)
# --------------------------------------------------------------------------------------------


class _Store:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self._journal: list[tuple[str, str, dict[str, Any] | None]] | None = None

    def table(self, sobject: str) -> dict[str, dict[str, Any]]:
        return self.tables.setdefault(sobject, {})

    def get(self, sobject: str, rid: str) -> dict[str, Any] | None:
        return self.tables.get(sobject, {}).get(rid)

    def put(self, sobject: str, rid: str, record: dict[str, Any]) -> None:
        table = self.table(sobject)
        if self._journal is not None:
            self._journal.append((sobject, rid, table.get(rid)))
        table[rid] = record

    def remove(self, sobject: str, rid: str) -> None:
        table = self.table(sobject)
        if rid in table:
            if self._journal is not None:
                self._journal.append((sobject, rid, table[rid]))
            del table[rid]

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Callable[[], None]]:
        """Yield a ``rollback()``; an exception inside the block rolls back too."""
        owner = self._journal is None
        if owner:
            self._journal = []
        journal = self._journal
        assert journal is not None
        mark = len(journal)

        def rollback() -> None:
            while len(journal) > mark:
                sobject, rid, previous = journal.pop()
                if previous is None:
                    self.table(sobject).pop(rid, None)
                else:
                    self.table(sobject)[rid] = previous

        try:
            yield rollback
        except BaseException:
            rollback()
            raise
        finally:
            if owner:
                self._journal = None


# --------------------------------------------------------------------------------------------
# Recording, injections
# --------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the fake saw it (``path`` is percent-decoded)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    body: bytes
    status: int | None = None

    @property
    def form(self) -> dict[str, str]:
        """The url-encoded form body (token requests)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace")))


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    remaining: int | None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    after_processing: bool = True

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and bool(self.pattern.search(path))


@dataclass
class _FailureRule:
    sobject: str
    where: Callable[[Mapping[str, Any]], bool]
    status_code: str
    message: str
    fields: list[str]
    remaining: int | None


@dataclass
class _Incoming:
    """A request read off the wire, before routing."""

    method: str
    raw_path: str  # still percent-encoded, so "%2F" inside an external id survives
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    payload: Any = None
    payload_error: str | None = None
    multipart: dict[str, Any] | None = None
    crowded: bool = False

    @classmethod
    async def read(cls, request: Request) -> _Incoming:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        content_type = request.headers.get("content-type", "")
        incoming = cls(
            request.method.upper(),
            raw.decode("latin-1").split("?", 1)[0],
            dict(request.query_params),
            dict(request.headers),
            await request.body(),
        )
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            incoming.multipart = {
                key: await value.read() if isinstance(value, UploadFile) else value
                for key, value in form.multi_items()
            }
        elif incoming.body and not content_type.startswith(
            ("application/x-www-form-urlencoded", "text/xml")
        ):
            try:
                incoming.payload = json.loads(incoming.body)
            except ValueError as exc:
                incoming.payload_error = str(exc)
        return incoming


@dataclass
class _Result:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json;charset=UTF-8"

    def render(self) -> Response:
        if self.status == 204 or self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        if isinstance(self.body, bytes):
            content = self.body
        elif isinstance(self.body, str):
            content = self.body.encode()
        else:
            content = json.dumps(self.body).encode()
        return Response(content, self.status, self.headers, media_type=self.media_type)


def _error_result(error: _ApiError) -> _Result:
    return _Result(error.status, error.body())


# --------------------------------------------------------------------------------------------
# The session handed to simple-salesforce
# --------------------------------------------------------------------------------------------


class FakeSalesforceSession(RequestsSession):
    """A ``requests.Session`` that reaches the fake.

    * trusts only the fake's CA and ignores ``REQUESTS_CA_BUNDLE`` (``trust_env = False``);
    * applies a default timeout, because simple-salesforce never passes one;
    * optionally sends ``https://*.salesforce.com`` / ``*.force.com`` to the fake, which is the
      only way to point simple-salesforce's OAuth flows at a non-Salesforce host.
    """

    def __init__(
        self, target: str, ca_path: str, timeout: float | None, route_salesforce_hosts: bool
    ) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = ca_path
        self.default_timeout = timeout
        self._target = urlsplit(target)
        self._route = route_salesforce_hosts

    def _reroute(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host.endswith((".salesforce.com", ".force.com")) or host == "salesforce.com":
            return urlunsplit(
                (self._target.scheme, self._target.netloc, parts.path, parts.query, "")
            )
        return url

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> Any:
        if self._route:
            url = self._reroute(url.decode() if isinstance(url, bytes) else url)
        # args after url are params, data, headers, cookies, files, auth, timeout, ...
        if len(args) <= 6 and kwargs.get("timeout") is None and self.default_timeout is not None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------

_NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_NS_MD = "http://soap.sforce.com/2006/04/metadata"
_NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"


class FakeSalesforce:
    """A Salesforce org on 127.0.0.1 over TLS. Use as a context manager (or start()/stop()).

    Constructor arguments are the initial values of the knobs; ``reset()`` returns to them.
    """

    def __init__(
        self,
        *,
        consumer_key: str = "fake-consumer-key",
        consumer_secret: str = "fake-consumer-secret",
        username: str = "integration@example.com",
        password: str = "fake-password",
        jwt_public_key: str | bytes | None = None,
        jwt_audiences: Iterable[str] | None = None,
        session_id: str | None = None,
        latency: float = 0.0,
        daily_limit: tuple[int, int] = (0, 15000),
        concurrent_limit: int | None = None,
        token_ttl: float | None = None,
        deny_metadata: bool = False,
        require_fls_grant: bool = False,
        check_references: bool = True,
        strict_sosl_escaping: bool = True,
        query_batch_size: int = 2000,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.username = username
        self.password = password
        self._initial: dict[str, Any] = {
            "jwt_public_key": jwt_public_key,
            "jwt_audiences": None if jwt_audiences is None else frozenset(jwt_audiences),
            "latency": latency,
            "daily_limit": daily_limit,
            "concurrent_limit": concurrent_limit,
            "token_ttl": token_ttl,
            "deny_metadata": deny_metadata,
            "require_fls_grant": require_fls_grant,
            "check_references": check_references,
            "strict_sosl_escaping": strict_sosl_escaping,
            "query_batch_size": query_batch_size,
        }
        self._requested_session_id = session_id
        self._lock = threading.RLock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._generation = 0
        self._inflight = 0
        self.host = "127.0.0.1"
        self.port = 0
        self.ca_path = ""
        self.ca_bundle_path = ""
        self.org_id = _new_id(KEY_PREFIXES["Organization"])
        self._reset_state()

    # ---- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> FakeSalesforce:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeSalesforce:
        """Generate the certificates, bind a free port and serve from a background thread."""
        if self._server is not None:
            return self
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-salesforce-")
        tmp = Path(self._tmp.name)
        ca_path, cert_path, key_path = _write_tls_files(tmp)
        self.ca_path = str(ca_path)
        system_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where()
        bundle = tmp / "ca-bundle.pem"
        bundle.write_bytes(Path(system_bundle).read_bytes() + b"\n" + ca_path.read_bytes())
        self.ca_bundle_path = str(bundle)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Without this, TLS answers written in two records wait on Nagle + delayed ACK: 40 ms
        # per request instead of 1 ms (accepted sockets inherit the option on Linux).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            proxy_headers=False,
            ssl_certfile=str(cert_path),
            ssl_keyfile=str(key_path),
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._stopping = False
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="fake-salesforce",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeSalesforce failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Wake hanging handlers, let in-flight answers go out, stop uvicorn, drop the certs.

        uvicorn's graceful shutdown would wait for idle keep-alive TLS connections (the
        client's pooled sockets) to be closed by the peer, so after a short drain the fake
        forces the exit instead.
        """
        self._stopping = True
        if self._server is not None and self._thread is not None:
            deadline = time.monotonic() + 1.0
            while self._inflight and time.monotonic() < deadline:
                time.sleep(0.005)
            self._server.should_exit = True
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- addresses and clients --------------------------------------------------------------
    @property
    def instance_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def base_url(self, version: str = DEFAULT_VERSION) -> str:
        return f"{self.instance_url}/services/data/v{version}/"

    @property
    def token_url(self) -> str:
        return f"{self.instance_url}/services/oauth2/token"

    def session(
        self, timeout: float | None = 30.0, *, route_salesforce_hosts: bool = True
    ) -> FakeSalesforceSession:
        """A requests.Session for simple-salesforce (see ``FakeSalesforceSession``)."""
        return FakeSalesforceSession(
            self.instance_url, self.ca_path, timeout, route_salesforce_hosts
        )

    # ---- state ----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        knobs = self._initial
        #: PEM public key; when set, JWT bearer assertions must be RS256-signed by its pair.
        self.jwt_public_key: str | bytes | None = knobs["jwt_public_key"]
        #: Accepted JWT ``aud`` values; None means login/test.salesforce.com and the fake itself.
        self.jwt_audiences: frozenset[str] | None = knobs["jwt_audiences"]
        #: Seconds added to every request (asyncio sleep, so concurrent requests overlap).
        self.latency: float = knobs["latency"]
        #: Max simultaneous requests before 403 ConcurrentRequests; None = unlimited.
        self.concurrent_limit: int | None = knobs["concurrent_limit"]
        #: Seconds a token stays valid; None = until expire_tokens().
        self.token_ttl: float | None = knobs["token_ttl"]
        #: Answer every Metadata API call with an INSUFFICIENT_ACCESS fault.
        self.deny_metadata: bool = knobs["deny_metadata"]
        #: Fields created through the Metadata API stay invisible until granted (FLS).
        self.require_fls_grant: bool = knobs["require_fls_grant"]
        #: Reference fields must point at existing records of an allowed type.
        self.check_references: bool = knobs["check_references"]
        #: Unescaped SOSL reserved characters (``+``, ``-`` ...) give MALFORMED_SEARCH.
        self.strict_sosl_escaping: bool = knobs["strict_sosl_escaping"]
        #: Records per SOQL page before ``nextRecordsUrl``.
        self.query_batch_size: int = knobs["query_batch_size"]
        self._schema = _default_schema()
        self._prefix_types = {obj.key_prefix: obj.name for obj in self._schema.values()}
        self._store = _Store()
        self._metadata: dict[str, dict[str, Any]] = {}
        self._requests: list[RecordedRequest] = []
        self._injections: list[_Injection] = []
        self._failures: list[_FailureRule] = []
        self._tokens: dict[str, float] = {}
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._api_used, self._api_max = knobs["daily_limit"]
        self.user_id = ""
        self.user_id = self._insert_raw(
            "User",
            {
                "Username": self.username,
                "FirstName": "Integration",
                "LastName": "User",
                "Email": self.username,
            },
        )
        user = self._store.table("User")[self.user_id]
        user["CreatedById"] = user["LastModifiedById"] = self.user_id
        self.session_id = self._requested_session_id or f"{self.org_id[:15]}!FAKE.preseeded"
        self._tokens[self.session_id] = time.monotonic()

    def reset(self) -> None:
        """Forget records, custom fields, tokens, requests and injections; restore the knobs.

        Requests still hanging in ``latency``/``inject_delay`` from earlier are released.
        """
        self._generation += 1
        deadline = time.monotonic() + 1.0
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.005)
        with self._lock:
            self._reset_state()

    @property
    def daily_limit(self) -> tuple[int, int]:
        """``(used, max)`` of the rolling 24 h API allocation; each REST call uses one."""
        return self._api_used, self._api_max

    @daily_limit.setter
    def daily_limit(self, value: tuple[int, int]) -> None:
        self._api_used, self._api_max = value

    def issue_token(self) -> str:
        """Mint a valid access token directly (what a successful OAuth flow would return)."""
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens[token] = time.monotonic()
        return token

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far (including the pre-seeded session id)."""
        with self._lock:
            self._tokens.clear()

    def _token_valid(self, token: str) -> bool:
        issued = self._tokens.get(token)
        if issued is None:
            return False
        ttl = self.token_ttl
        return ttl is None or time.monotonic() - issued < ttl

    # ---- injections -----------------------------------------------------------------------
    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``/``body`` (None = forever).

        ``method`` is an HTTP method or ``"*"``; ``path_regex`` is searched in the decoded path,
        e.g. ``r"sobjects/Task/"`` or ``r"composite/sobjects"``. Nothing is processed.
        """
        with self._lock:
            self._injections.append(
                _Injection(
                    method.upper(),
                    re.compile(path_regex),
                    times,
                    status,
                    json.loads(json.dumps(body)),
                    dict(headers or {}),
                )
            )

    def inject_delay(
        self,
        method: str,
        path_regex: str,
        seconds: float,
        *,
        times: int | None = 1,
        after_processing: bool = True,
    ) -> None:
        """Hold matching requests for ``seconds``.

        With ``after_processing`` (default) the request is *applied* first and the answer is
        withheld, which is how a client timeout leaves an unknown outcome; otherwise the fake
        sleeps first (a slow server that may still succeed).
        """
        with self._lock:
            self._injections.append(
                _Injection(
                    method.upper(),
                    re.compile(path_regex),
                    times,
                    delay=seconds,
                    after_processing=after_processing,
                )
            )

    def fail_records(
        self,
        sobject: str,
        where: Mapping[str, Any] | Callable[[Mapping[str, Any]], bool],
        status_code: str,
        message: str,
        fields: Iterable[str] = (),
        times: int | None = None,
    ) -> None:
        """Make writes of matching records fail with a per-record error.

        ``where`` is a dict of field values (all must be equal) or a predicate over the record
        as it would be saved. Collections answer ``{"success": false, "errors": [...]}`` for
        that record; single-record calls answer 400. Typical codes: ``REQUIRED_FIELD_MISSING``,
        ``FIELD_CUSTOM_VALIDATION_EXCEPTION``, ``UNABLE_TO_LOCK_ROW``.
        """
        if callable(where):
            predicate = where
        else:
            expected = dict(where)

            def predicate(rec: Mapping[str, Any]) -> bool:
                return all(rec.get(k) == v for k, v in expected.items())

        with self._lock:
            self._failures.append(
                _FailureRule(
                    self._object(sobject).name, predicate, status_code, message, list(fields), times
                )
            )

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()
            self._failures.clear()

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.matches(method, path):
                    if injection.remaining is not None:
                        injection.remaining -= 1
                        if injection.remaining <= 0:
                            self._injections.remove(injection)
                    return injection
        return None

    # ---- observability --------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def count(
        self, method: str | None = None, path_regex: str | None = None, status: int | None = None
    ) -> int:
        """How many recorded requests match the method, path regex and answer status."""
        pattern = re.compile(path_regex) if path_regex else None
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
            and (status is None or r.status == status)
        )

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def records(self, sobject: str) -> dict[str, dict[str, Any]]:
        """Stored records of a type, ``{id: fields}`` (copies; blobs stay base64)."""
        with self._lock:
            name = self._object(sobject).name
            return {rid: dict(rec) for rid, rec in self._store.table(name).items()}

    def record(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            rec = self._store.get(self._object(sobject).name, to_18(record_id))
            return None if rec is None else dict(rec)

    def file_bytes(self, content_version_id: str) -> bytes:
        """The decoded ``VersionData`` of a ContentVersion."""
        rec = self.record("ContentVersion", content_version_id)
        if rec is None:
            raise KeyError(content_version_id)
        return base64.b64decode(rec["VersionData"])

    def add_record(self, sobject: str, fields: Mapping[str, Any]) -> str:
        """Seed a record without validation or uniqueness checks; returns its 18-char id."""
        with self._lock:
            return self._insert_raw(self._object(sobject).name, fields)

    def add_field(
        self,
        sobject: str,
        name: str,
        type: str = "string",
        *,
        length: int | None = None,
        external_id: bool = False,
        unique: bool = False,
        case_sensitive: bool = False,
        label: str = "",
        picklist: Iterable[str] = (),
    ) -> None:
        """Define a (custom) field. ``sobject="Activity"`` adds it to Task and Event."""
        with self._lock:
            for target in self._activity_targets(sobject):
                self._object(target).add(
                    FieldDef(
                        name,
                        type,
                        length if length is not None else (255 if type in _STRINGY else 0),
                        external_id=external_id,
                        unique=unique,
                        case_sensitive=case_sensitive,
                        custom=name.endswith("__c"),
                        label=label or name,
                        picklist=tuple(picklist),
                    )
                )

    def grant_field_access(self, full_name: str) -> None:
        """Make a field created with ``require_fls_grant`` visible (``"Activity.X__c"``)."""
        sobject, _, name = full_name.partition(".")
        with self._lock:
            for target in self._activity_targets(sobject):
                fd = self._object(target).fields.get(name)
                if fd is not None:
                    fd.visible = True

    def describe_field(self, sobject: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            fd = self._object(sobject).field(name)
            return None if fd is None else fd.describe()

    @property
    def custom_metadata(self) -> dict[str, dict[str, Any]]:
        """CustomField definitions received through the Metadata API, by fullName."""
        with self._lock:
            return {k: dict(v) for k, v in self._metadata.items()}

    # ---- schema helpers -------------------------------------------------------------------
    def _activity_targets(self, sobject: str) -> list[str]:
        return ["Task", "Event"] if sobject.lower() == "activity" else [sobject]

    def _object(self, name: str) -> _ObjectDef:
        obj = self._schema.get(name)
        if obj is None:
            lowered = name.lower()
            obj = next((o for o in self._schema.values() if o.name.lower() == lowered), None)
        if obj is None:
            raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)
        return obj

    def _object_for_type(self, name: Any) -> _ObjectDef:
        """Like ``_object`` but with the error collections and queries give."""
        try:
            return self._object(str(name))
        except _ApiError:
            raise _ApiError(
                400, "INVALID_TYPE", f"sObject type '{name}' is not supported."
            ) from None

    def _type_of_id(self, rid: str) -> str | None:
        return self._prefix_types.get(rid[:3])

    # ---- writes ---------------------------------------------------------------------------
    def _insert_raw(self, sobject: str, fields: Mapping[str, Any]) -> str:
        obj = self._object(sobject)
        rid = _new_id(obj.key_prefix)
        rec: dict[str, Any] = {}
        for key, value in fields.items():
            fd = obj.field(key)
            if fd is None:
                raise KeyError(f"{obj.name} has no field {key!r}")
            if fd.type == "reference" and is_salesforce_id(value):
                value = to_18(value)
            rec[fd.name] = value
        self._apply_defaults(obj, rec)
        rec.update(self._system_values(rid, created=True))
        self._derive(obj, rec)
        self._store.put(obj.name, rid, rec)
        return rid

    def _system_values(self, rid: str, *, created: bool) -> dict[str, Any]:
        now = _now_iso()
        user = self.user_id or None
        values: dict[str, Any] = {
            "LastModifiedDate": now,
            "SystemModstamp": now,
            "LastModifiedById": user,
        }
        if created:
            values.update({"Id": rid, "IsDeleted": False, "CreatedDate": now, "CreatedById": user})
        return values

    def _apply_defaults(self, obj: _ObjectDef, rec: dict[str, Any]) -> None:
        for fd in obj.fields.values():
            if fd.name not in rec and fd.default is not None:
                rec[fd.name] = fd.default
        if "OwnerId" in obj.fields and rec.get("OwnerId") is None:
            rec["OwnerId"] = self.user_id or None

    @staticmethod
    def _derive(obj: _ObjectDef, rec: dict[str, Any]) -> None:
        """Recompute read-only fields Salesforce derives (Name, IsClosed)."""
        if "FirstName" in obj.fields and "Name" in obj.fields:
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        if obj.name == "Task":
            rec["IsClosed"] = rec.get("Status") == "Completed"

    def _coerce(self, obj: _ObjectDef, fd: FieldDef, value: Any) -> Any:
        """Validate one value the way the REST API would; return what gets stored."""
        label = fd.label or fd.name
        if value is None:
            if not fd.nillable:
                raise _ApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{fd.name}]",
                    [fd.name],
                )
            return None
        bad_type = _ApiError(
            400,
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{label}: value not of required type: {value}",
            [fd.name],
        )
        if fd.type in _STRINGY:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise bad_type
            text = str(value)
            if fd.length and len(text) > fd.length:
                raise _ApiError(
                    400,
                    "STRING_TOO_LONG",
                    f"{label}: data value too large: {text[:40]}... (max length={fd.length})",
                    [fd.name],
                )
            if fd.type == "email" and text and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", text):
                raise _ApiError(
                    400,
                    "INVALID_EMAIL_ADDRESS",
                    f"{label}: invalid email address: {text}",
                    [fd.name],
                )
            if fd.type == "picklist" and fd.restricted and text not in fd.picklist:
                raise _ApiError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {text}",
                    [fd.name],
                )
            return text
        if fd.type == "boolean":
            if not isinstance(value, bool):
                raise bad_type
            return value
        if fd.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad_type
            return value
        if fd.type == "double":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad_type
            return value
        if fd.type == "date":
            if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
                raise bad_type
            return value
        if fd.type == "datetime":
            try:
                return _parse_datetime(str(value)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            except ValueError:
                raise bad_type from None
        if fd.type == "base64":
            if not isinstance(value, str):
                raise bad_type
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                raise bad_type from None
            return value
        if fd.type == "reference":
            return self._check_reference(fd, value)
        raise bad_type

    def _check_reference(self, fd: FieldDef, value: Any) -> str:
        label = fd.label or fd.name
        if not is_salesforce_id(value):
            raise _ApiError(
                400, "MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [fd.name]
            )
        rid = to_18(value)
        if not self.check_references:
            return rid
        target = self._type_of_id(rid)
        if fd.reference_to and target not in fd.reference_to:
            raise _ApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"{label}: id value of incorrect type: {value}",
                [fd.name],
            )
        if target is None or self._store.get(target, rid) is None:
            raise _ApiError(
                400,
                "INVALID_CROSS_REFERENCE_KEY",
                f"invalid cross reference id: {value}",
                [fd.name],
            )
        return rid

    def _clean(self, obj: _ObjectDef, data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
        """Map field names to their canonical spelling and validate every value."""
        if not isinstance(data, Mapping):
            raise _ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
        out: dict[str, Any] = {}
        refused: list[str] = []
        for key, value in data.items():
            if key == "attributes":
                continue
            fd = obj.field(key)
            if fd is None:
                raise _ApiError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
                )
            if (creating and not fd.createable) or (not creating and not fd.updateable):
                refused.append(fd.name)
                continue
            out[fd.name] = self._coerce(obj, fd, value)
        if refused:
            raise _ApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(refused)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                refused,
            )
        return out

    def _check_rules(self, obj: _ObjectDef, rec: Mapping[str, Any]) -> None:
        for rule in list(self._failures):
            if rule.sobject == obj.name and rule.where(rec):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._failures.remove(rule)
                raise _ApiError(400, rule.status_code, rule.message, rule.fields)

    def _check_unique(self, obj: _ObjectDef, rec: Mapping[str, Any], rid: str | None) -> None:
        for fd in obj.fields.values():
            value = rec.get(fd.name)
            if not fd.unique or value is None:
                continue
            for other_id in self._find_by_value(obj, fd, value):
                if other_id != rid:
                    raise _ApiError(
                        400,
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {fd.name} duplicates value on record with id: "
                        f"{other_id}",
                        [fd.name],
                    )

    def _find_by_value(self, obj: _ObjectDef, fd: FieldDef, value: Any) -> list[str]:
        if fd.name == "Id":
            rid = to_18(value) if is_salesforce_id(value) else ""
            return [rid] if self._store.get(obj.name, rid) is not None else []
        wanted = _norm(fd, value)
        return [
            rid
            for rid, rec in self._store.table(obj.name).items()
            if rec.get(fd.name) is not None and _norm(fd, rec[fd.name]) == wanted
        ]

    def _create(self, obj: _ObjectDef, data: Mapping[str, Any]) -> str:
        if not obj.createable:
            raise _ApiError(400, "INVALID_TYPE", f"entity type cannot be inserted: {obj.name}")
        if any(k.lower() == "id" for k in data):
            raise _ApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "cannot specify Id in an insert call",
                ["Id"],
            )
        rec = self._clean(obj, data, creating=True)
        self._apply_defaults(obj, rec)
        missing = [f.name for f in obj.fields.values() if f.required and rec.get(f.name) is None]
        if missing:
            raise _ApiError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        self._derive(obj, rec)
        self._check_rules(obj, rec)
        self._check_unique(obj, rec, None)
        rid = _new_id(obj.key_prefix)
        rec.update(self._system_values(rid, created=True))
        with self._store.atomic():
            if obj.name == "ContentVersion":
                self._before_content_version(rec)
            elif obj.name == "ContentDocumentLink":
                self._check_duplicate_link(rec)
            self._store.put(obj.name, rid, rec)
            if obj.name == "ContentVersion":
                self._after_content_version(rid, rec)
        return rid

    def _update(self, obj: _ObjectDef, rid: str, data: Mapping[str, Any]) -> None:
        current = self._store.get(obj.name, rid)
        if current is None:
            raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)
        changes = self._clean(obj, data, creating=False)
        rec = {**current, **changes}
        self._derive(obj, rec)
        self._check_rules(obj, rec)
        self._check_unique(obj, rec, rid)
        rec.update(self._system_values(rid, created=False))
        self._store.put(obj.name, rid, rec)

    def _delete(self, obj: _ObjectDef, rid: str) -> None:
        if self._store.get(obj.name, rid) is None:
            raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)
        with self._store.atomic():
            self._store.remove(obj.name, rid)
            if obj.name == "ContentDocument":
                for table in ("ContentVersion", "ContentDocumentLink"):
                    for other_id, rec in list(self._store.table(table).items()):
                        if rec.get("ContentDocumentId") == rid:
                            self._store.remove(table, other_id)

    def _upsert(
        self, obj: _ObjectDef, fd: FieldDef, value: Any, data: Mapping[str, Any], version: str
    ) -> tuple[str, bool]:
        """Create or update by external id; returns ``(id, created)``."""
        body = {k: v for k, v in data.items() if k.lower() != fd.name.lower()}
        matches = self._find_by_value(obj, fd, value)
        if len(matches) > 1:
            raise _MultipleMatches([self._record_url(obj, m, version) for m in matches])
        if matches:
            self._update(obj, matches[0], body)
            return matches[0], False
        if fd.name == "Id":
            raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)
        return self._create(obj, {**body, fd.name: value}), True

    # ---- files ----------------------------------------------------------------------------
    def _before_content_version(self, rec: dict[str, Any]) -> None:
        data = base64.b64decode(rec["VersionData"])
        path = str(rec.get("PathOnClient") or "")
        ext = Path(path).suffix.lstrip(".").lower()
        if not rec.get("Title"):
            rec["Title"] = Path(path).stem or path
        rec.update(
            {
                "FileExtension": ext,
                "FileType": _FILE_TYPES.get(ext, ext.upper() or "UNKNOWN"),
                "ContentSize": len(data),
                "IsLatest": True,
            }
        )
        doc_id = rec.get("ContentDocumentId")
        if doc_id:
            versions = [
                v
                for v in self._store.table("ContentVersion").values()
                if v.get("ContentDocumentId") == doc_id
            ]
            for old in versions:
                self._store.put("ContentVersion", old["Id"], {**old, "IsLatest": False})
            rec["VersionNumber"] = str(len(versions) + 1)
        else:
            rec["VersionNumber"] = "1"

    def _after_content_version(self, rid: str, rec: dict[str, Any]) -> None:
        doc_fields = {
            "Title": rec["Title"],
            "LatestPublishedVersionId": rid,
            "FileType": rec["FileType"],
            "FileExtension": rec["FileExtension"],
            "ContentSize": rec["ContentSize"],
        }
        doc_id = rec.get("ContentDocumentId")
        if doc_id:
            doc = self._store.get("ContentDocument", doc_id) or {}
            self._store.put("ContentDocument", doc_id, {**doc, **doc_fields})
        else:
            doc_id = self._insert_raw("ContentDocument", doc_fields)
            self._store.put("ContentVersion", rid, {**rec, "ContentDocumentId": doc_id})
        location = rec.get("FirstPublishLocationId")
        if location:
            self._insert_raw(
                "ContentDocumentLink",
                {
                    "ContentDocumentId": doc_id,
                    "LinkedEntityId": location,
                    "ShareType": "I",
                    "Visibility": "AllUsers",
                },
            )

    def _check_duplicate_link(self, rec: Mapping[str, Any]) -> None:
        for other in self._store.table("ContentDocumentLink").values():
            if other.get("ContentDocumentId") == rec.get("ContentDocumentId") and other.get(
                "LinkedEntityId"
            ) == rec.get("LinkedEntityId"):
                raise _ApiError(
                    400,
                    "DUPLICATE_VALUE",
                    "duplicate value found: <unknown> duplicates value on record "
                    f"with id: {other['Id']}",
                )

    # ---- rendering ------------------------------------------------------------------------
    @staticmethod
    def _record_url(obj: _ObjectDef, rid: str, version: str) -> str:
        return f"/services/data/v{version}/sobjects/{obj.name}/{rid}"

    def _render(
        self,
        obj: _ObjectDef,
        rec: Mapping[str, Any],
        version: str,
        fields: Iterable[FieldDef] | None = None,
    ) -> dict[str, Any]:
        """A record as GET/SOQL return it: attributes first, blobs as URLs."""
        url = self._record_url(obj, rec["Id"], version)
        out: dict[str, Any] = {"attributes": {"type": obj.name, "url": url}}
        for fd in fields if fields is not None else obj.visible_fields():
            value = rec.get(fd.name)
            if fd.type == "base64" and value is not None:
                value = f"{url}/{fd.name}"
            out[fd.name] = value
        return out

    def _resolver(self, obj: _ObjectDef) -> Callable[[str], FieldDef]:
        def resolve(name: str) -> FieldDef:
            fd = obj.field(name)
            if fd is None:
                raise _ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{obj.name}'. If you are attempting "
                    "to use a custom field, be sure to append the '__c' after the custom field "
                    "name. (The fake supports no relationship fields.)",
                )
            return fd

        return resolve

    # ---- ASGI -----------------------------------------------------------------------------
    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._serve(request)
        await response(scope, receive, send)

    async def _sleep(self, seconds: float) -> None:
        """Sleep in small steps so stop() and reset() release long injected hangs."""
        deadline = time.monotonic() + seconds
        generation = self._generation
        while not self._stopping and generation == self._generation:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.05))

    async def _serve(self, request: Request) -> Response:
        incoming = await _Incoming.read(request)
        recorded = RecordedRequest(
            incoming.method,
            unquote(incoming.raw_path),
            incoming.query,
            incoming.payload,
            incoming.headers,
            incoming.body,
        )
        with self._lock:
            self._requests.append(recorded)
        self._inflight += 1
        limit = self.concurrent_limit
        incoming.crowded = limit is not None and self._inflight > limit  # judged on arrival
        try:
            if self.latency:
                await self._sleep(self.latency)
            injection = self._take_injection(incoming.method, recorded.path)
            if injection is not None and injection.status is not None:
                result = _Result(injection.status, injection.body, dict(injection.headers))
                if recorded.path.startswith("/services/data/v"):
                    result.headers.setdefault("Sforce-Limit-Info", self._limit_info())
            else:
                if injection is not None and not injection.after_processing:
                    await self._sleep(injection.delay)
                try:
                    with self._lock:
                        result = self._dispatch(incoming)
                except Exception as exc:  # a bug in the fake: say so instead of hanging up
                    result = _Result(
                        500, sf_error("UNKNOWN_EXCEPTION", f"FakeSalesforce bug: {exc!r}")
                    )
                if injection is not None and injection.after_processing:
                    await self._sleep(injection.delay)
        finally:
            self._inflight -= 1
        recorded.status = result.status
        return result.render()

    def _dispatch(self, incoming: _Incoming) -> _Result:
        """Route one request (under the lock): OAuth, versions, Metadata SOAP or REST."""
        method, headers = incoming.method, incoming.headers
        segments = [unquote(s) for s in incoming.raw_path.split("/") if s]
        if segments[:3] == ["services", "oauth2", "token"]:
            return self._oauth_token(method, incoming.body, headers)
        if segments[:2] == ["services", "data"] and len(segments) == 2:
            return _Result(
                200,
                [
                    {"label": f"v{v}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                    for v in range(31, 63)
                ],
            )
        if segments[:2] == ["services", "Soap"] and len(segments) >= 4 and segments[2] == "m":
            return self._metadata_soap(incoming.body)
        if segments[:2] == ["services", "Soap"]:
            return _soap_fault(
                "INVALID_LOGIN", "The fake implements no SOAP login(); use an OAuth flow"
            )
        if segments[:2] != ["services", "data"] or not re.match(
            r"^v\d+\.\d$", segments[2] if len(segments) > 2 else ""
        ):
            return _Result(404, sf_error("NOT_FOUND", _NOT_FOUND))
        version = segments[2][1:]

        token = headers.get("authorization", "").partition(" ")[2].strip()
        if not self._token_valid(token):
            return _Result(401, ERR_INVALID_SESSION)
        if incoming.crowded:
            return _Result(403, ERR_CONCURRENT_REQUESTS, {"Sforce-Limit-Info": self._limit_info()})
        if self._api_used >= self._api_max:
            return _Result(403, ERR_TOTAL_REQUESTS, {"Sforce-Limit-Info": self._limit_info()})
        self._api_used += 1
        try:
            if incoming.payload_error is not None:
                raise _ApiError(400, "JSON_PARSER_ERROR", incoming.payload_error)
            payload = incoming.payload
            if incoming.multipart is not None:
                payload = self._multipart_record(incoming.multipart)
            result = self._rest(method, segments[3:], version, incoming.query, payload)
        except _MultipleMatches as multi:
            result = _Result(300, multi.urls)
        except _ApiError as error:
            result = _error_result(error)
        result.headers["Sforce-Limit-Info"] = self._limit_info()
        return result

    def _limit_info(self) -> str:
        return f"api-usage={self._api_used}/{self._api_max}"

    @staticmethod
    def _multipart_record(parts: Mapping[str, Any]) -> dict[str, Any]:
        """``entity_content`` JSON plus one binary part named after the blob field."""
        entity = parts.get("entity_content") or parts.get("entity_document")
        if entity is None:
            raise _ApiError(400, "INVALID_MULTIPART_REQUEST", "missing entity_content part")
        record = json.loads(entity if isinstance(entity, str) else entity.decode())
        for key, value in parts.items():
            if key not in ("entity_content", "entity_document"):
                raw = value if isinstance(value, bytes) else str(value).encode()
                record[key] = base64.b64encode(raw).decode()
        return dict(record)

    # ---- OAuth ----------------------------------------------------------------------------
    def _oauth_token(self, method: str, body: bytes, headers: Mapping[str, str]) -> _Result:
        def fail(error: str, description: str) -> _Result:
            return _Result(400, {"error": error, "error_description": description})

        if method != "POST":
            return fail("invalid_request", "must use HTTP POST")
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        grant = form.get("grant_type")
        if grant == "password":
            if form.get("client_id") != self.consumer_key:
                return fail("invalid_client_id", "client identifier invalid")
            if form.get("client_secret") != self.consumer_secret:
                return fail("invalid_client", "invalid client credentials")
            if form.get("username") != self.username or form.get("password") != self.password:
                return fail("invalid_grant", "authentication failure")
        elif grant == "client_credentials":
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            scheme, _, encoded = headers.get("authorization", "").partition(" ")
            if scheme.lower() == "basic":
                try:
                    client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
                except ValueError:
                    return fail("invalid_client", "invalid client credentials")
            if client_id != self.consumer_key:
                return fail("invalid_client_id", "client identifier invalid")
            if client_secret != self.consumer_secret:
                return fail("invalid_client", "invalid client credentials")
        elif grant == JWT_GRANT:
            problem = self._check_assertion(form.get("assertion", ""))
            if problem is not None:
                return fail(*problem)
        else:
            return fail("unsupported_grant_type", "grant type not supported")
        token = self.issue_token()
        issued_at = str(int(time.time() * 1000))
        identity = f"{self.instance_url}/id/{self.org_id}/{self.user_id}"
        signature = base64.b64encode(
            hmac.new(
                self.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode()
        return _Result(
            200,
            {
                "access_token": token,
                "instance_url": self.instance_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": signature,
                "scope": "api",
            },
        )

    def _check_assertion(self, assertion: str) -> tuple[str, str] | None:
        """Validate a JWT bearer assertion; return an (error, description) pair or None."""
        try:
            if self.jwt_public_key is not None:
                claims = jwt.decode(
                    assertion,
                    self.jwt_public_key,
                    algorithms=["RS256"],
                    options={"verify_aud": False, "require": ["iss", "sub", "aud", "exp"]},
                )
            else:
                claims = jwt.decode(
                    assertion,
                    options={"verify_signature": False, "verify_exp": True, "verify_aud": False},
                )
        except jwt.ExpiredSignatureError:
            return "invalid_grant", "expired authorization code"
        except jwt.PyJWTError:
            return "invalid_grant", "invalid assertion"
        if claims.get("iss") != self.consumer_key:
            return "invalid_client_id", "client identifier invalid"
        if not claims.get("sub"):
            return "invalid_grant", "invalid assertion"
        audiences = self.jwt_audiences or {
            "https://login.salesforce.com",
            "https://test.salesforce.com",
            self.instance_url,
        }
        aud = claims.get("aud")
        if not any(a in audiences for a in (aud if isinstance(aud, list) else [aud])):
            return "invalid_grant", "audience is invalid"
        return None

    # ---- REST routing ---------------------------------------------------------------------
    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise _ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}",
            )

    def _rest(
        self, method: str, segs: list[str], version: str, query: Mapping[str, str], payload: Any
    ) -> _Result:
        head = segs[0] if segs else ""
        if not segs:
            self._allow(method, "GET")
            base = f"/services/data/v{version}"
            return _Result(
                200,
                {
                    name: f"{base}/{name}"
                    for name in ("sobjects", "query", "queryAll", "search", "limits", "composite")
                },
            )
        if head == "limits" and len(segs) == 1:
            self._allow(method, "GET")
            return _Result(200, self._limits_body())
        if head == "sobjects":
            return self._sobjects(method, segs[1:], version, query, payload)
        if head in ("query", "queryAll") and len(segs) <= 2:
            self._allow(method, "GET")
            if len(segs) == 2:
                return _Result(200, self._query_page(segs[1], version))
            return _Result(200, self._query(query.get("q", ""), version))
        if head == "search" and len(segs) == 1:
            self._allow(method, "GET")
            return _Result(200, self._search(query.get("q", ""), version))
        if head == "composite":
            return self._composite(method, segs[1:], version, query, payload)
        raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)

    def _limits_body(self) -> dict[str, Any]:
        return {
            "DailyApiRequests": {
                "Max": self._api_max,
                "Remaining": max(self._api_max - self._api_used, 0),
            },
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        }

    def _sobjects(
        self, method: str, rest: list[str], version: str, query: Mapping[str, str], payload: Any
    ) -> _Result:
        if not rest:
            self._allow(method, "GET")
            return _Result(
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [o.describe(version) for o in self._schema.values()],
                },
            )
        obj = self._object(rest[0])
        if len(rest) == 1:
            self._allow(method, "GET", "POST")
            if method == "GET":
                return _Result(200, {"objectDescribe": obj.describe(version), "recentItems": []})
            rid = self._create(obj, payload or {})
            return _Result(
                201,
                {"id": rid, "success": True, "errors": []},
                {"Location": self._record_url(obj, rid, version)},
            )
        if len(rest) == 2 and rest[1].lower() == "describe":
            self._allow(method, "GET")
            describe = obj.describe(version)
            describe.update(
                {
                    "fields": [f.describe() for f in obj.visible_fields()],
                    "childRelationships": [],
                    "recordTypeInfos": [],
                }
            )
            return _Result(200, describe)
        key = rest[1]
        is_id = is_salesforce_id(key) and key[:3] == obj.key_prefix
        if len(rest) == 2 and is_id:
            return self._record_by_id(method, obj, to_18(key), version, query, payload)
        if len(rest) == 3 and is_id:
            return self._blob(method, obj, to_18(key), rest[2])
        if len(rest) == 3:
            return self._by_external_id(method, obj, key, rest[2], version, payload)
        raise _ApiError(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {key}",
        )

    def _record_by_id(
        self,
        method: str,
        obj: _ObjectDef,
        rid: str,
        version: str,
        query: Mapping[str, str],
        payload: Any,
    ) -> _Result:
        self._allow(method, "GET", "PATCH", "DELETE")
        if method == "PATCH":
            self._update(obj, rid, payload or {})
            return _Result(204)
        if method == "DELETE":
            self._delete(obj, rid)
            return _Result(204)
        rec = self._store.get(obj.name, rid)
        if rec is None:
            raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)
        fields = None
        if query.get("fields"):
            resolve = self._resolver(obj)
            fields = [resolve(n.strip()) for n in query["fields"].split(",") if n.strip()]
        return _Result(200, self._render(obj, rec, version, fields))

    def _blob(self, method: str, obj: _ObjectDef, rid: str, field_name: str) -> _Result:
        self._allow(method, "GET")
        fd = obj.field(field_name)
        rec = self._store.get(obj.name, rid)
        if fd is None or fd.type != "base64" or rec is None or rec.get(fd.name) is None:
            raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)
        return _Result(200, base64.b64decode(rec[fd.name]), media_type="application/octetstream")

    def _external_field(self, obj: _ObjectDef, name: str) -> FieldDef:
        fd = obj.field(name)
        if fd is None or not (fd.external_id or fd.name == "Id"):
            raise _ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {name}",
            )
        return fd

    def _by_external_id(
        self, method: str, obj: _ObjectDef, field_name: str, value: str, version: str, payload: Any
    ) -> _Result:
        self._allow(method, "GET", "PATCH", "DELETE")
        fd = self._external_field(obj, field_name)
        if method == "PATCH":
            rid, created = self._upsert(obj, fd, value, payload or {}, version)
            if created:
                return _Result(
                    201,
                    {"id": rid, "success": True, "errors": [], "created": True},
                    {"Location": self._record_url(obj, rid, version)},
                )
            if float(version) < 46:
                return _Result(204)
            return _Result(200, {"id": rid, "success": True, "errors": [], "created": False})
        matches = self._find_by_value(obj, fd, value)
        if len(matches) > 1:
            raise _MultipleMatches([self._record_url(obj, m, version) for m in matches])
        if not matches:
            raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)
        if method == "DELETE":
            self._delete(obj, matches[0])
            return _Result(204)
        rec = self._store.get(obj.name, matches[0])
        assert rec is not None
        return _Result(200, self._render(obj, rec, version))

    # ---- collections and composite ----------------------------------------------------------
    def _composite(
        self, method: str, rest: list[str], version: str, query: Mapping[str, str], payload: Any
    ) -> _Result:
        if not rest:
            self._allow(method, "POST")
            return _Result(200, self._composite_request(payload, version))
        if rest[0] != "sobjects":
            raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)
        if len(rest) == 1:
            self._allow(method, "POST", "PATCH", "DELETE")
            if method == "DELETE":
                ids = [i for i in query.get("ids", "").split(",") if i]
                return _Result(200, self._collection_delete(ids, _truthy(query.get("allOrNone"))))
            records, all_or_none = self._collection_body(payload)
            op = self._collection_create if method == "POST" else self._collection_update
            return _Result(200, self._run_collection(records, all_or_none, op))
        obj = self._object_for_type(rest[1])
        if len(rest) == 2:
            self._allow(method, "GET")
            ids = [i for i in query.get("ids", "").split(",") if i]
            resolve = self._resolver(obj)
            fields = [resolve(n.strip()) for n in query.get("fields", "Id").split(",")]
            out: list[Any] = []
            for rid in ids:
                rec = self._store.get(obj.name, to_18(rid)) if is_salesforce_id(rid) else None
                out.append(None if rec is None else self._render(obj, rec, version, fields))
            return _Result(200, out)
        if len(rest) == 3:
            self._allow(method, "PATCH")
            fd = self._external_field(obj, rest[2])
            records, all_or_none = self._collection_body(payload)
            return _Result(200, self._collection_upsert(obj, fd, records, all_or_none, version))
        raise _ApiError(404, "NOT_FOUND", _NOT_FOUND)

    @staticmethod
    def _collection_body(payload: Any) -> tuple[list[Any], bool]:
        if not isinstance(payload, Mapping) or not isinstance(payload.get("records"), list):
            raise _ApiError(400, "JSON_PARSER_ERROR", "Expected {allOrNone, records: [...]}")
        records = payload["records"]
        if len(records) > 200:
            raise _ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        return records, bool(payload.get("allOrNone", False))

    def _run_collection(
        self,
        items: list[Any],
        all_or_none: bool,
        op: Callable[[Any], tuple[dict[str, Any], bool]],
        pre_errors: Mapping[int, _ApiError] | None = None,
    ) -> list[dict[str, Any]]:
        """Apply ``op`` to each item in its own savepoint and honour ``allOrNone``.

        ``op`` returns ``(result, existed)``; ``existed`` says whether the record was there
        before, which decides if a rolled-back result still carries its id.
        """
        results: list[dict[str, Any]] = []
        existed: list[bool] = []
        failed = False
        with self._store.atomic() as rollback_all:
            for index, item in enumerate(items):
                error = (pre_errors or {}).get(index)
                if error is None:
                    try:
                        with self._store.atomic():
                            result, was_there = op(item)
                        results.append(result)
                        existed.append(was_there)
                        continue
                    except _ApiError as exc:
                        error = exc
                    except _MultipleMatches as multi:
                        error = _ApiError(
                            300,
                            "DUPLICATE_EXTERNAL_ID",
                            f"more than one record found for external id field: {multi.urls}",
                        )
                results.append({"success": False, "errors": [error.record_error()]})
                existed.append(False)
                failed = True
            if all_or_none and failed:
                rollback_all()
                for result, was_there in zip(results, existed, strict=True):
                    if result["success"]:
                        rolled: dict[str, Any] = {"id": result["id"]} if was_there else {}
                        rolled.update(
                            {
                                "success": False,
                                "errors": [
                                    {
                                        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                        "message": _ROLLED_BACK,
                                        "fields": [],
                                    }
                                ],
                            }
                        )
                        result.clear()
                        result.update(rolled)
        return results

    def _collection_create(self, item: Any) -> tuple[dict[str, Any], bool]:
        obj = self._record_type(item)
        return {"id": self._create(obj, item), "success": True, "errors": []}, False

    def _collection_update(self, item: Any) -> tuple[dict[str, Any], bool]:
        obj = self._record_type(item)
        rid = next((v for k, v in item.items() if k.lower() == "id"), None)
        if not rid:
            raise _ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
        if not is_salesforce_id(rid):
            raise _ApiError(400, "MALFORMED_ID", f"malformed id {rid}")
        self._update(obj, to_18(rid), {k: v for k, v in item.items() if k.lower() != "id"})
        return {"id": to_18(rid), "success": True, "errors": []}, True

    def _record_type(self, item: Any) -> _ObjectDef:
        if not isinstance(item, Mapping):
            raise _ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
        attributes = item.get("attributes")
        if not isinstance(attributes, Mapping) or not attributes.get("type"):
            raise _ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        return self._object_for_type(attributes["type"])

    def _collection_delete(self, ids: list[str], all_or_none: bool) -> list[dict[str, Any]]:
        if len(ids) > 200:
            raise _ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )

        def delete(rid: Any) -> tuple[dict[str, Any], bool]:
            if not is_salesforce_id(rid):
                raise _ApiError(400, "MALFORMED_ID", f"malformed id {rid}")
            full = to_18(rid)
            sobject = self._type_of_id(full)
            if sobject is None or self._store.get(sobject, full) is None:
                raise _ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
            self._delete(self._object(sobject), full)
            return {"id": full, "success": True, "errors": []}, True

        return self._run_collection(ids, all_or_none, delete)

    def _collection_upsert(
        self, obj: _ObjectDef, fd: FieldDef, records: list[Any], all_or_none: bool, version: str
    ) -> list[dict[str, Any]]:
        pre: dict[int, _ApiError] = {}
        seen: dict[Any, list[int]] = {}
        for index, item in enumerate(records):
            try:
                if self._record_type(item).name != obj.name:
                    raise _ApiError(400, "INVALID_TYPE", f"Records must all be of type {obj.name}")
                value = next((v for k, v in item.items() if k.lower() == fd.name.lower()), None)
                if value is None or value == "":
                    raise _ApiError(
                        400,
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{fd.name}]",
                        [fd.name],
                    )
                seen.setdefault(_norm(fd, value), []).append(index)
            except _ApiError as error:
                pre[index] = error
        for value, indexes in seen.items():
            if len(indexes) > 1:
                for index in indexes:
                    pre[index] = _ApiError(
                        400,
                        "DUPLICATE_EXTERNAL_ID",
                        f"Duplicate external id specified: {value}",
                        [fd.name],
                    )

        def upsert(item: Any) -> tuple[dict[str, Any], bool]:
            value = next(v for k, v in item.items() if k.lower() == fd.name.lower())
            rid, created = self._upsert(obj, fd, value, item, version)
            return {"id": rid, "success": True, "errors": [], "created": created}, not created

        return self._run_collection(records, all_or_none, upsert, pre)

    def _composite_request(self, payload: Any, version: str) -> dict[str, Any]:
        if not isinstance(payload, Mapping) or not isinstance(
            payload.get("compositeRequest"), list
        ):
            raise _ApiError(400, "JSON_PARSER_ERROR", "Expected {compositeRequest: [...]}")
        subrequests = payload["compositeRequest"]
        if len(subrequests) > 25:
            raise _ApiError(
                400,
                "LIMIT_EXCEEDED",
                "A composite request can have at most 25 subrequests (fake's code)",
            )
        all_or_none = bool(payload.get("allOrNone", False))
        answers: list[dict[str, Any]] = []
        bodies: dict[str, Any] = {}
        halted = False
        with self._store.atomic() as rollback:
            for sub in subrequests:
                ref = str(sub.get("referenceId", ""))
                if halted:
                    answers.append(_halted(ref))
                    continue
                try:
                    url = _resolve_refs(str(sub.get("url", "")), bodies)
                    body = _resolve_refs(sub.get("body"), bodies)
                    result = self._composite_subrequest(
                        str(sub.get("method", "GET")).upper(), url, body
                    )
                except _ApiError as error:
                    result = _error_result(error)
                except _MultipleMatches as multi:
                    result = _Result(300, multi.urls)
                answers.append(
                    {
                        "body": result.body,
                        "httpHeaders": result.headers,
                        "httpStatusCode": result.status,
                        "referenceId": ref,
                    }
                )
                if result.status < 300:
                    bodies[ref] = result.body
                elif all_or_none:
                    halted = True
            if halted:
                rollback()
                for answer in answers:
                    if answer["httpStatusCode"] < 300:
                        answer.update(_halted(answer["referenceId"]))
        return {"compositeResponse": answers}

    def _composite_subrequest(self, method: str, url: str, body: Any) -> _Result:
        parts = urlsplit(url)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if segments[:2] != ["services", "data"] or len(segments) < 3:
            raise _ApiError(
                400, "INVALID_URL", "The URL must start with /services/data/vXX.X/ (composite)"
            )
        try:
            with self._store.atomic():
                return self._rest(
                    method,
                    segments[3:],
                    segments[2].lstrip("v"),
                    dict(parse_qsl(parts.query)),
                    body,
                )
        except _ApiError as error:
            return _error_result(error)

    # ---- SOQL -----------------------------------------------------------------------------
    def _query(self, soql: str, version: str) -> dict[str, Any]:
        parser = _Parser(_tokenize(soql, "MALFORMED_QUERY"), "MALFORMED_QUERY")
        parser.expect_keyword("SELECT")
        count_only = False
        names: list[str] = []
        if parser.at_keyword("COUNT"):
            parser.take()
            parser.expect_punct("(")
            parser.expect_punct(")")
            count_only = True
        else:
            names = parser.field_list(("FROM",))
        parser.expect_keyword("FROM")
        obj = self._object_for_type(parser.ident())
        resolve = self._resolver(obj)
        fields = [resolve(n) for n in names]
        predicate: Predicate = _always
        orders: list[_Order] = []
        limit: int | None = None
        offset = 0
        if parser.accept_keyword("WHERE"):
            predicate = parser.where(resolve)
        if parser.accept_keyword("ORDER"):
            parser.expect_keyword("BY")
            orders = parser.order_by(resolve)
        if parser.accept_keyword("LIMIT"):
            limit = parser.integer()
        if parser.accept_keyword("OFFSET"):
            offset = parser.integer()
        if parser.peek() is not None:
            raise parser.error(f"unexpected token: '{parser.take()[1]}'")
        matched = [r for r in self._store.table(obj.name).values() if predicate(r)]
        matched = _sort_records(matched, orders)[offset:]
        if limit is not None:
            matched = matched[:limit]
        if count_only:
            return {"totalSize": len(matched), "done": True, "records": []}
        rendered = [self._render(obj, r, version, fields) for r in matched]
        return self._page(rendered, version, len(rendered), None)

    def _page(
        self, rows: list[dict[str, Any]], version: str, total: int, locator: str | None
    ) -> dict[str, Any]:
        size = self.query_batch_size
        answer: dict[str, Any] = {
            "totalSize": total,
            "done": len(rows) <= size,
            "records": rows[:size],
        }
        if len(rows) > size:
            cursor = locator or _new_id("01g")
            self._cursors[cursor] = (rows[size:], total)
            answer["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor}-{size}"
        return answer

    def _query_page(self, locator: str, version: str) -> dict[str, Any]:
        cursor = locator.rsplit("-", 1)[0]
        saved = self._cursors.pop(cursor, None)
        if saved is None:
            raise _ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        rows, total = saved
        return self._page(rows, version, total, cursor)

    # ---- SOSL -----------------------------------------------------------------------------
    def _search(self, sosl: str, version: str) -> dict[str, Any]:
        terms, rest = _parse_sosl_find(sosl, self.strict_sosl_escaping)
        parser = _Parser(_tokenize(rest, "MALFORMED_SEARCH"), "MALFORMED_SEARCH")
        scope = "ALL"
        if parser.accept_keyword("IN"):
            scope = parser.ident().upper()
            if scope not in ("ALL", "NAME", "EMAIL", "PHONE", "SIDEBAR"):
                raise parser.error(f"unknown search group '{scope}'")
            parser.expect_keyword("FIELDS")
        targets: list[tuple[_ObjectDef, list[FieldDef], Predicate, list[_Order], int | None]] = []
        if parser.accept_keyword("RETURNING"):
            while True:
                obj = self._object_for_type(parser.ident())
                resolve = self._resolver(obj)
                fields = [resolve("Id")]
                predicate: Predicate = _always
                orders: list[_Order] = []
                limit: int | None = None
                if parser.accept_punct("("):
                    fields = [resolve(n) for n in parser.field_list(("WHERE", "ORDER", "LIMIT"))]
                    if parser.accept_keyword("WHERE"):
                        predicate = parser.where(resolve)
                    if parser.accept_keyword("ORDER"):
                        parser.expect_keyword("BY")
                        orders = parser.order_by(resolve)
                    if parser.accept_keyword("LIMIT"):
                        limit = parser.integer()
                    parser.expect_punct(")")
                targets.append((obj, fields, predicate, orders, limit))
                if not parser.accept_punct(","):
                    break
        else:
            for name in ("Account", "Contact", "Lead"):
                obj = self._schema[name]
                targets.append((obj, [obj.fields["Id"]], _always, [], None))
        overall: int | None = None
        if parser.accept_keyword("LIMIT"):
            overall = parser.integer()
        if parser.peek() is not None:
            raise parser.error(f"unexpected token: '{parser.take()[1]}'")
        found: list[dict[str, Any]] = []
        for obj, fields, predicate, orders, limit in targets:
            hits = [
                r
                for r in self._store.table(obj.name).values()
                if predicate(r) and any(_sosl_match(obj, r, scope, t) for t in terms)
            ]
            hits = _sort_records(hits, orders)
            if limit is not None:
                hits = hits[:limit]
            found.extend(self._render(obj, r, version, fields) for r in hits)
        if overall is not None:
            found = found[:overall]
        return {"searchRecords": found[:2000]}

    # ---- Metadata API (SOAP) ----------------------------------------------------------------
    def _metadata_soap(self, body: bytes) -> _Result:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return _soap_fault("INVALID_XML", f"could not parse the envelope: {exc}")
        session = root.find(f".//{{{_NS_MD}}}SessionHeader/{{{_NS_MD}}}sessionId")
        if session is None or not self._token_valid((session.text or "").strip()):
            return _soap_fault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
        if self._api_used >= self._api_max:
            return _soap_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self._api_used += 1
        if self.deny_metadata:
            return _soap_fault(
                "INSUFFICIENT_ACCESS",
                "use of the Metadata API requires a user with the ModifyAllData "
                "or ModifyMetadata permissions",
            )
        soap_body = root.find(f"{{{_NS_SOAP}}}Body")
        if soap_body is None or len(soap_body) == 0:
            return _soap_fault("INVALID_XML", "empty SOAP body")
        operation = soap_body[0]
        name = _local(operation.tag)
        components = operation.findall(f"{{{_NS_MD}}}metadata")
        full_names = [(e.text or "").strip() for e in operation.findall(f"{{{_NS_MD}}}fullNames")]
        if len(components) > 10 or len(full_names) > 10:
            return _soap_fault(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 10 records in this operation",
            )
        if name in ("createMetadata", "updateMetadata", "upsertMetadata"):
            mode = name.removesuffix("Metadata")
            results = "".join(self._metadata_save(e, mode) for e in components)
            return _soap_ok(f"<{name}Response>{results}</{name}Response>")
        if name == "readMetadata":
            kind = (operation.findtext(f"{{{_NS_MD}}}type") or "").strip()
            if kind != "CustomField":
                return _soap_fault("INVALID_TYPE", f"fake reads only CustomField, not {kind}")
            records = "".join(self._read_custom_field(n) for n in full_names)
            return _soap_ok(
                f"<readMetadataResponse><result>{records}</result></readMetadataResponse>"
            )
        if name == "deleteMetadata":
            results = "".join(self._delete_custom_field(n) for n in full_names)
            return _soap_ok(f"<deleteMetadataResponse>{results}</deleteMetadataResponse>")
        return _soap_fault("INVALID_OPERATION", f"the fake does not implement {name}")

    def _metadata_save(self, element: ET.Element, mode: str) -> str:
        kind = (element.get(f"{{{_NS_XSI}}}type") or "").rpartition(":")[2]
        values = {
            _local(child.tag): (child.text or "").strip() for child in element if len(child) == 0
        }
        full_name = values.get("fullName", "")
        created = None if mode != "upsert" else full_name not in self._metadata
        if kind == "PermissionSet":
            for perm in element.findall(f"{{{_NS_MD}}}fieldPermissions"):
                if _truthy(perm.findtext(f"{{{_NS_MD}}}readable")):
                    self.grant_field_access((perm.findtext(f"{{{_NS_MD}}}field") or "").strip())
            return _save_result(full_name, [], created)
        if kind != "CustomField":
            return _save_result(
                full_name,
                [("INVALID_TYPE", f"the fake supports CustomField, not {kind}")],
                None if created is None else False,
            )
        picklist = tuple(
            (v.text or "").strip()
            for v in element.findall(
                f".//{{{_NS_MD}}}valueSetDefinition/{{{_NS_MD}}}value/{{{_NS_MD}}}fullName"
            )
        )
        exists = full_name in self._metadata
        if mode == "create" and exists:
            sobject, _, fname = full_name.partition(".")
            return _save_result(
                full_name,
                [
                    (
                        "DUPLICATE_DEVELOPER_NAME",
                        f"There is already a field named {fname} on {sobject}.",
                    )
                ],
                None,
            )
        if mode == "update" and not exists:
            return _save_result(
                full_name,
                [
                    (
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"In field: fullName - no CustomField named {full_name} found",
                    )
                ],
                None,
            )
        problem = self._define_custom_field(full_name, values, picklist)
        if problem is not None:
            return _save_result(full_name, [problem], None if created is None else False)
        return _save_result(full_name, [], created)

    def _define_custom_field(
        self, full_name: str, values: Mapping[str, str], picklist: tuple[str, ...]
    ) -> tuple[str, str] | None:
        sobject, _, name = full_name.partition(".")
        if sobject in ("Task", "Event"):
            return (
                "FIELD_INTEGRITY_EXCEPTION",
                f"Custom fields on Task and Event are defined on Activity; use "
                f"'Activity.{name}' (fake rule; the real error text is unconfirmed)",
            )
        targets = self._activity_targets(sobject)
        if not all(t in self._schema for t in targets):
            return (
                "INVALID_CROSS_REFERENCE_KEY",
                f"In field: fullName - no CustomObject named {sobject} found",
            )
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*__c$", name) or "___" in name:
            return (
                "FIELD_INTEGRITY_EXCEPTION",
                f"Invalid custom field name {name!r}: it must end with __c",
            )
        if not values.get("label"):
            return ("REQUIRED_FIELD_MISSING", "Must specify 'label' for a CustomField")
        kind = values.get("type", "")
        if kind not in _CUSTOM_FIELD_TYPES:
            return (
                "FIELD_INTEGRITY_EXCEPTION",
                f"Unsupported or missing field type {kind!r} (fake supports "
                f"{', '.join(sorted(_CUSTOM_FIELD_TYPES))})",
            )
        ftype, default_length = _CUSTOM_FIELD_TYPES[kind]
        length = int(values.get("length") or default_length)
        if kind == "Text" and not 1 <= length <= 255:
            return ("FIELD_INTEGRITY_EXCEPTION", "Length must be between 1 and 255")
        external = _truthy(values.get("externalId"))
        if external and ftype not in ("string", "email", "double"):
            return (
                "FIELD_INTEGRITY_EXCEPTION",
                "Only Text, Number and Email fields can be External IDs",
            )
        for target in targets:
            self._object(target).add(
                FieldDef(
                    name,
                    ftype,
                    length,
                    external_id=external,
                    unique=_truthy(values.get("unique")),
                    case_sensitive=_truthy(values.get("caseSensitive")),
                    nillable=not _truthy(values.get("required")),
                    custom=True,
                    label=values["label"],
                    picklist=picklist,
                    visible=not self.require_fls_grant,
                )
            )
        self._metadata[full_name] = {**values, **({"picklist": list(picklist)} if picklist else {})}
        return None

    def _read_custom_field(self, full_name: str) -> str:
        values = self._metadata.get(full_name)
        if values is None:
            return '<records xsi:nil="true"/>'
        inner = "".join(
            f"<{k}>{xml_escape(str(v))}</{k}>"
            for k, v in sorted(values.items())
            if k not in ("fullName", "picklist")
        )
        return (
            f'<records xsi:type="CustomField"><fullName>{xml_escape(full_name)}</fullName>'
            f"{inner}</records>"
        )

    def _delete_custom_field(self, full_name: str) -> str:
        if self._metadata.pop(full_name, None) is None:
            return _save_result(
                full_name,
                [("INVALID_CROSS_REFERENCE_KEY", f"no CustomField named {full_name} found")],
                None,
            )
        sobject, _, name = full_name.partition(".")
        for target in self._activity_targets(sobject):
            self._object(target).fields.pop(name, None)
        return _save_result(full_name, [], None)


class _MultipleMatches(Exception):
    """An external id matched several records: Salesforce answers 300 with their URLs."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(urls)
        self.urls = urls


def _halted(reference_id: str) -> dict[str, Any]:
    return {
        "body": sf_error("PROCESSING_HALTED", _HALTED),
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": reference_id,
    }


_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")


def _resolve_refs(value: Any, bodies: Mapping[str, Any]) -> Any:
    """Replace ``@{refId.path}`` with values from earlier composite answers."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            ref, path = match.group(1), match.group(2)
            if ref not in bodies:
                raise _ApiError(
                    400,
                    "PROCESSING_HALTED",
                    f"Invalid reference specified. No value for {ref}.{path} found in {ref}.",
                )
            current: Any = bodies[ref]
            for part in re.findall(r"[^.\[\]]+", path):
                try:
                    current = current[int(part)] if part.isdigit() else current[part]
                except (KeyError, IndexError, TypeError):
                    raise _ApiError(
                        400,
                        "PROCESSING_HALTED",
                        f"Invalid reference specified. No value for {ref}.{path} found in {ref}.",
                    ) from None
            return str(current)

        return _REF_RE.sub(lookup, value)
    if isinstance(value, list):
        return [_resolve_refs(v, bodies) for v in value]
    if isinstance(value, Mapping):
        return {k: _resolve_refs(v, bodies) for k, v in value.items()}
    return value


def _sosl_match(obj: _ObjectDef, rec: Mapping[str, Any], scope: str, term: str) -> bool:
    """Approximate Salesforce's search index for one OR-ed term.

    PHONE: formatting is ignored; a phone field matches when its digits equal, or end with,
    the term's digits (so ``4155550100`` finds ``+1 (415) 555-0100`` but ``+14155550100`` does
    not find ``(415) 555-0100``: search both forms). Other groups: every word of the term must
    equal a word of a field (``*`` is a wildcard), case-insensitively.
    """
    fields = obj.visible_fields()
    if scope == "PHONE":
        wanted = _digits(term)
        if not wanted:
            return False
        return any(
            isinstance(rec.get(f.name), str) and _digits(rec[f.name]).endswith(wanted)
            for f in fields
            if f.type == "phone"
        )
    if scope == "EMAIL":
        fields = [f for f in fields if f.type == "email"]
    elif scope == "NAME":
        fields = [
            f
            for f in fields
            if f.name in ("Name", "FirstName", "LastName", "Company", "Title", "Subject")
        ]
    else:
        fields = [f for f in fields if f.type in _STRINGY]
    words: set[str] = set()
    for f in fields:
        value = rec.get(f.name)
        if isinstance(value, str):
            words.update(w for w in re.split(r"[^\w@.]+", value.casefold()) if w)
            words.add(value.casefold())
            if f.type == "phone":
                words.add(_digits(value))
    patterns = [
        re.compile("^" + re.escape(w).replace(r"\*", ".*").replace(r"\?", ".") + "$")
        for w in term.casefold().split()
    ]
    return bool(patterns) and all(any(p.match(w) for w in words) for p in patterns)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _soap_ok(body_xml: str) -> _Result:
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_NS_SOAP}" xmlns="{_NS_MD}" xmlns:xsi="{_NS_XSI}">'
        f"<soapenv:Body>{body_xml}</soapenv:Body></soapenv:Envelope>"
    )
    return _Result(200, envelope, media_type="text/xml;charset=UTF-8")


def _soap_fault(code: str, message: str, status: int = 500) -> _Result:
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_NS_SOAP}" xmlns:sf="{_NS_MD}">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode>"
        f"<faultstring>{xml_escape(f'{code}: {message}')}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return _Result(status, envelope, media_type="text/xml;charset=UTF-8")


def _save_result(full_name: str, errors: list[tuple[str, str]], created: bool | None) -> str:
    parts = [] if created is None else [f"<created>{str(created).lower()}</created>"]
    parts.extend(
        f"<errors><message>{xml_escape(message)}</message><statusCode>{code}</statusCode></errors>"
        for code, message in errors
    )
    parts.append(f"<fullName>{xml_escape(full_name)}</fullName>")
    parts.append(f"<success>{'false' if errors else 'true'}</success>")
    return "<result>" + "".join(parts) + "</result>"
