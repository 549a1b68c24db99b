"""Where the admin's CloudTalk workflow bodies keep each value.

A setting (`CONNECTOR_CLOUDTALK_FIELD_MAP`) and the parser's input both, so it lives in the core
that the settings and the provider share, not in the provider the settings would then import.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CloudTalkFieldMap(BaseModel):
    """Which key of the admin's body holds what; the defaults are the templates' keys.

    A key may be a dotted path (`message.text`) for a body with nested objects. The two event
    values are what the `event` key holds for each workflow.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: str = Field(default="event", min_length=1)
    message_id: str = Field(default="message_id", min_length=1)
    line_number: str = Field(default="internal_number", min_length=1)
    other_party: str = Field(default="external_number", min_length=1)
    text: str = Field(default="text", min_length=1)
    media_urls: str = Field(default="media_urls", min_length=1)
    status: str = Field(default="status", min_length=1)
    created_at: str = Field(default="created_at", min_length=1)
    received_event: str = Field(default="message.received", min_length=1)
    sent_event: str = Field(default="message.sent", min_length=1)
