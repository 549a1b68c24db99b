"""Admin-editable field mappings: load and check `mappings/*.yaml`, render messages into records.

This package knows no HTTP, SQL or SDK: the CRM sync builds a render context from a core
message and gets back the exact record to hand to its adapter; the CLI and `/readyz` use the
checks, the preview and the hot-reloading registry.
"""

from connector.mapping.check import CheckReport, check_directory, check_offline
from connector.mapping.context import (
    PREVIEW_LIMIT,
    CapturedMessage,
    RenderContext,
    build_context,
    thread_key,
)
from connector.mapping.errors import MappingError, Problem, RenderError
from connector.mapping.loader import CRM_FILES, LINES_FILE, load_mappings
from connector.mapping.model import CrmMapping, LineBook, MappingSet
from connector.mapping.online import (
    DescribedField,
    FieldDescriber,
    check_mappings,
    check_online,
)
from connector.mapping.preview import PreviewError, preview, preview_event, preview_json
from connector.mapping.registry import MappingRegistry
from connector.mapping.render import (
    AssociationPlan,
    ContactPlan,
    CrmRecord,
    render_fields,
    render_record,
)
from connector.mapping.schema import Crm, Granularity, LineEntry, NoMatchAction
from connector.mapping.templates import CONTEXT_KEYS

__all__ = [
    "CONTEXT_KEYS",
    "CRM_FILES",
    "LINES_FILE",
    "PREVIEW_LIMIT",
    "AssociationPlan",
    "CapturedMessage",
    "CheckReport",
    "ContactPlan",
    "Crm",
    "CrmMapping",
    "CrmRecord",
    "DescribedField",
    "FieldDescriber",
    "Granularity",
    "LineBook",
    "LineEntry",
    "MappingError",
    "MappingRegistry",
    "MappingSet",
    "NoMatchAction",
    "PreviewError",
    "Problem",
    "RenderContext",
    "RenderError",
    "build_context",
    "check_directory",
    "check_mappings",
    "check_offline",
    "check_online",
    "load_mappings",
    "preview",
    "preview_event",
    "preview_json",
    "render_fields",
    "render_record",
    "thread_key",
]
