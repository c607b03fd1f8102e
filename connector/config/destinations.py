"""Where segments, scores, arms and list memberships are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from connector.config.base import Strict
from connector.config.materiality import MaterialityConfig

# --------------------------------------------------------------------------- destinations


class ListsConfig(Strict):
    enabled: bool = True
    segment_name_template: str = Field("segsync {segment_name}", description="Fields: segment_id, segment_name.")
    arm_name_template: str = Field(
        "segsync {experiment} {arm}", description="Fields: experiment, arm, segment_id, segment_name."
    )


class SalesforceDestination(Strict):
    enabled: bool = True
    object: Literal["Contact", "Lead", "Account"] = "Contact"
    match: Literal["id", "external_id"] = Field(
        "id",
        description="Write by record Id (segsync pulled every record it writes), or upsert on external_id_field "
        "(every record must already carry segsync's customer key there, e.g. stamped by earlier runs).",
    )
    external_id_field: str | None = Field(
        None, description="A unique External ID field: segsync stamps its stable customer key there (and, with "
        "match: external_id, upserts on it)."
    )
    fields: dict[str, str] = Field(
        default_factory=lambda: {
            "segment_id": "Segsync_Segment_Id__c",
            "segment_name": "Segsync_Segment__c",
            "arm": "Segsync_Arm__c",
        },
        description="Desired-state key (segment_id, segment_name, arm, a score name, <score>_reasons) -> field.",
    )
    create_missing_fields: bool = Field(False, description="Create missing custom fields through the Tooling API.")
    lists: ListsConfig = Field(default_factory=ListsConfig)
    member_status: str = Field("Sent", description="CampaignMember Status for new members.")
    batch_size: int = Field(200, ge=1, le=200)
    bulk_ingest_threshold: int = Field(10_000, ge=0, le=100_000_000, description="Use Bulk API 2.0 ingest above this many changes.")

    @model_validator(mode="after")
    def _external_id(self) -> SalesforceDestination:
        if self.match == "external_id" and not self.external_id_field:
            raise ValueError("match external_id needs external_id_field")
        return self


class HubSpotDestination(Strict):
    enabled: bool = True
    match: Literal["id", "email"] = Field("id", description="Batch update by record id, or upsert by email.")
    property_group: str = "segsync"
    properties: dict[str, str] = Field(
        default_factory=lambda: {
            "segment_id": "segsync_segment_id",
            "segment_name": "segsync_segment",
            "arm": "segsync_arm",
        }
    )
    lists: ListsConfig = Field(default_factory=ListsConfig)
    batch_size: int = Field(100, ge=1, le=100)


class FilesDestination(Strict):
    path: Path = Field(Path("segsync-segments.csv"), description="CSV of segments, scores and arms per customer.")


class DestinationsConfig(Strict):
    salesforce: SalesforceDestination | None = None
    hubspot: HubSpotDestination | None = None
    files: FilesDestination | None = None
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Settings of destination plugins other packages install (entry point "
        "group segsync.destinations), by plugin name; each plugin checks its own.")
    materiality: MaterialityConfig = Field(
        default_factory=MaterialityConfig,
        description="How written scores and CLV are rounded, and how far they must move before a record is rewritten.",
    )
