"""The sandbox org's sObjects and fields: what describe shows and what DML and SOQL accept.

Field names are case-insensitive in SOQL and REST bodies, but replies use the canonical
spelling, so every lookup goes through `ObjectSchema.field(name)`. A custom field created
through the Tooling API can be hidden until field-level security is granted, as in a real
org (missing from describe, INVALID_FIELD in DML and SOQL; simple-salesforce issue #621).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Key prefixes: the first three characters of every record Id of that object.
KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
    "CampaignMember": "00v",
    "Campaign": "701",
    "CampaignMemberStatus": "01Y",
    "User": "005",
    "Organization": "00D",
    "Product2": "01t",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
    "OpportunityLineItem": "00k",
    "Task": "00T",
    "Case": "500",
}
READ_ONLY_OBJECTS = ("User", "Organization")  # the API reads them; this sandbox never writes

# Field types, with the SOAP type describe reports for each.
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "picklist": "xsd:string",
    "textarea": "xsd:string",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
}
TEXT_TYPES = {"id", "reference", "string", "email", "phone", "picklist", "textarea"}


@dataclass
class Field:
    """One field. `required` means not nillable and not defaulted on create."""

    name: str
    type: str = "string"
    label: str = ""
    length: int = 0
    required: bool = False
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: tuple[str, ...] = ()
    picklist: tuple[str, ...] = ()
    visible: bool = True  # False: created but field-level security not yet granted
    restricted: bool = False  # a restricted picklist refuses values outside `picklist`
    child_name: str | None = None  # the child relationship this lookup gives its parent

    @property
    def relationship_name(self) -> str | None:
        """The name SOQL walks through: AccountId -> Account, Foo__c -> Foo__r."""
        if self.type != "reference" or self.name == "Id":
            return None
        if self.custom:
            return self.name.removesuffix("__c") + "__r"
        return self.name.removesuffix("Id") or None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "soapType": SOAP_TYPES[self.type],
            "length": self.length,
            "nillable": not self.required and self.type != "boolean" and self.name != "Id",
            "createable": self.createable,
            "updateable": self.updateable,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.name == "Id" or self.external_id or self.type == "email",
            "filterable": True,
            "sortable": self.type != "textarea",
            "defaultedOnCreate": self.name in SYSTEM_FIELDS or self.type == "boolean",
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "value": v}
                for v in self.picklist
            ],
        }


SYSTEM_FIELDS = (
    "Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp",
)


def _ro(f: Field) -> Field:
    """Read-only: computed or system-maintained."""
    f.createable = f.updateable = False
    return f


def _system() -> list[Field]:
    return [
        _ro(Field("Id", "id", "Record ID", 18)),
        _ro(Field("IsDeleted", "boolean", "Deleted")),
        _ro(Field("CreatedDate", "datetime", "Created Date")),
        _ro(Field("CreatedById", "reference", "Created By ID", 18, reference_to=("User",))),
        _ro(Field("LastModifiedDate", "datetime", "Last Modified Date")),
        _ro(Field("LastModifiedById", "reference", "Last Modified By ID", 18, reference_to=("User",))),
        _ro(Field("SystemModstamp", "datetime", "System Modstamp")),
    ]


def _ref(name: str, target: str, child: str | None = None, **kw: object) -> Field:
    """A lookup to `target`; `child` names the list of these records on the parent in SOQL
    (Account.Contacts)."""
    return Field(name, "reference", length=18, reference_to=(target,), child_name=child,
                 **kw)  # type: ignore[arg-type]


def _product_fields() -> dict[str, list[Field]]:
    """Products on won deals [SF object reference: Product2, Pricebook2, PricebookEntry,
    OpportunityLineItem]; the rules are in sandbox.salesforce.pricebook."""
    fixed = {"updateable": False}
    return {
        "Product2": [Field("Name", length=255, required=True), Field("ProductCode", length=255),
                     Field("Family", "picklist", length=255), Field("IsActive", "boolean"),
                     Field("Description", "textarea", length=4000)],
        "Pricebook2": [Field("Name", length=255, required=True), Field("IsActive", "boolean"),
                       _ro(Field("IsStandard", "boolean")), Field("Description", length=255)],
        "PricebookEntry": [
            _ref("Pricebook2Id", "Pricebook2", "PricebookEntries", required=True, **fixed),
            _ref("Product2Id", "Product2", "PricebookEntries", required=True, **fixed),
            Field("UnitPrice", "currency", required=True), Field("IsActive", "boolean"),
            Field("UseStandardPrice", "boolean"), _ro(Field("ProductCode", length=255)), _ro(Field("Name", length=255))],
        "OpportunityLineItem": [
            _ref("OpportunityId", "Opportunity", "OpportunityLineItems", required=True, **fixed),
            _ref("PricebookEntryId", "PricebookEntry", "OpportunityLineItems", **fixed),
            _ref("Product2Id", "Product2", "OpportunityLineItems", **fixed),
            Field("Quantity", "double", required=True), Field("UnitPrice", "currency"), Field("TotalPrice", "currency"),
            _ro(Field("ListPrice", "currency")), _ro(Field("ProductCode", length=255)), _ro(Field("Name", length=376)),
            Field("ServiceDate", "date"), Field("Description", length=255)],
    }


def _activity_fields() -> dict[str, list[Field]]:
    """Usage and support activity of a contact [SF object reference: Task, Case]: WhoId is
    polymorphic (Contact or Lead) in a real org; here it looks up Contacts only."""
    return {
        "Task": [_ref("WhoId", "Contact", "Tasks"), Field("Subject", length=255), Field("Type", "picklist", length=40),
                 Field("TaskSubtype", "picklist", length=40), Field("Status", "picklist", length=40),
                 Field("ActivityDate", "date"), Field("Description", "textarea", length=32000)],
        "Case": [_ref("ContactId", "Contact", "Cases"), Field("Subject", length=255), Field("Status", "picklist", length=40),
                 Field("Origin", "picklist", length=40), Field("Type", "picklist", length=40),
                 Field("Priority", "picklist", length=40)],
    }


STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
          "Negotiation/Review", "Closed Won", "Closed Lost")


def _standard_fields() -> dict[str, list[Field]]:
    owner = _ref("OwnerId", "User")
    return {
        "Account": [
            Field("Name", length=255, required=True), Field("Type", "picklist", length=255),
            Field("Industry", "picklist", length=255), Field("BillingCity", length=40),
            Field("BillingCountry", length=80), Field("AnnualRevenue", "currency"),
            Field("NumberOfEmployees", "int"), owner,
        ],
        "Contact": [
            _ref("AccountId", "Account", "Contacts"), Field("FirstName", length=40),
            Field("LastName", length=80, required=True), _ro(Field("Name", length=121)),
            Field("Email", "email", length=80), Field("Phone", "phone", length=40),
            Field("Title", length=128), Field("MailingCity", length=40),
            Field("MailingCountry", length=80), Field("LeadSource", "picklist", length=255),
            Field("Birthdate", "date"), Field("HasOptedOutOfEmail", "boolean"), owner,
        ],
        "Lead": [
            Field("FirstName", length=40), Field("LastName", length=80, required=True),
            _ro(Field("Name", length=121)), Field("Company", length=255, required=True),
            Field("Email", "email", length=80), Field("Phone", "phone", length=40),
            Field("Status", "picklist", length=255), Field("LeadSource", "picklist", length=255),
            Field("City", length=40), Field("Country", length=80),
            _ro(Field("IsConverted", "boolean")), _ro(_ref("ConvertedContactId", "Contact")),
            owner,
        ],
        "Opportunity": [
            Field("Name", length=120, required=True),
            _ref("AccountId", "Account", "Opportunities"),
            _ref("ContactId", "Contact", "Opportunities"),
            _ref("CampaignId", "Campaign", "Opportunities"),
            Field("Amount", "currency"), Field("CloseDate", "date", required=True),
            Field("StageName", "picklist", length=255, required=True, picklist=STAGES),
            Field("Probability", "percent"), Field("Type", "picklist", length=255),
            Field("LeadSource", "picklist", length=255),
            _ro(Field("IsWon", "boolean")), _ro(Field("IsClosed", "boolean")), owner,
        ],
        "Campaign": [
            Field("Name", length=80, required=True), Field("IsActive", "boolean"),
            Field("Status", "picklist", length=255), Field("Type", "picklist", length=255),
            Field("StartDate", "date"), Field("EndDate", "date"), _ref("ParentId", "Campaign", "ChildCampaigns"),
            _ro(Field("NumberOfContacts", "int")), _ro(Field("NumberOfLeads", "int")),
            _ro(Field("NumberOfResponses", "int")),
            _ro(Field("AmountWonOpportunities", "currency")), owner,
        ],
        "CampaignMember": [
            _ref("CampaignId", "Campaign", "CampaignMembers", required=True, updateable=False),
            _ref("ContactId", "Contact", "CampaignMembers", updateable=False),
            _ref("LeadId", "Lead", "CampaignMembers", updateable=False),
            Field("Status", "picklist", length=40),
            _ro(Field("HasResponded", "boolean")), _ro(Field("FirstRespondedDate", "date")),
            _ro(Field("Type", "picklist", length=40)),
        ],
        "CampaignMemberStatus": [
            _ref("CampaignId", "Campaign", "CampaignMemberStatuses", required=True,
                 updateable=False),
            Field("Label", length=765, required=True), Field("HasResponded", "boolean"),
            Field("IsDefault", "boolean"), Field("SortOrder", "int"),
        ],
        "User": [_ro(f) for f in (
            Field("Username", length=80), Field("FirstName", length=40),
            Field("LastName", length=80), Field("Name", length=121), Field("Email", "email", length=128),
            Field("Alias", length=8), Field("IsActive", "boolean"),
            # The "Marketing User" checkbox: without it the user cannot create or edit
            # Campaigns (reference crm-apis.md §A7 [29]; SalesforceSandbox.set_marketing_user).
            Field("UserPermissionsMarketingUser", "boolean"))],
        **_product_fields(),
        **_activity_fields(),
        "Organization": [_ro(f) for f in (
            Field("Name", length=80), Field("IsSandbox", "boolean"),
            Field("OrganizationType", "picklist", length=255), Field("InstanceName", length=5),
            Field("NamespacePrefix", length=15), Field("TrialExpirationDate", "datetime"),
            Field("LanguageLocaleKey", "picklist", length=40),
            Field("TimeZoneSidKey", "picklist", length=40),
            Field("DefaultLocaleSidKey", "picklist", length=40),
            Field("Country", length=80))],
    }


@dataclass
class ObjectSchema:
    name: str
    key_prefix: str
    fields: dict[str, Field] = field(default_factory=dict)  # lower-case name -> Field
    writable: bool = True  # False: User and Organization, read through the API only
    #: Object permissions of the integration user (profile / permission sets).
    createable: bool = True
    updateable: bool = True

    # lower-case child relationship name -> (child object, its lookup field); set by Schema
    children: dict[str, tuple[ObjectSchema, Field]] = field(default_factory=dict, repr=False,
                                                            compare=False)

    def add(self, f: Field) -> None:
        self.fields[f.name.lower()] = f

    def parent_field(self, relationship: str) -> Field | None:
        """The visible lookup whose relationship name is `relationship` (any case)."""
        wanted = relationship.lower()
        return next((f for f in self.visible_fields()
                     if (f.relationship_name or "").lower() == wanted), None)

    def field(self, name: str) -> Field | None:
        """The visible field named `name` (any case), else None."""
        f = self.fields.get(name.lower())
        return f if f is not None and f.visible else None

    def visible_fields(self) -> list[Field]:
        return [f for f in self.fields.values() if f.visible]

    def describe(self, version: str) -> dict:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.name,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": self.writable and self.createable,
            "updateable": self.writable and self.updateable,
            "deletable": self.writable,
            "queryable": True,
            "fields": [f.describe() for f in self.visible_fields()],
            "childRelationships": [
                {"childSObject": child.name, "field": f.name, "relationshipName": f.child_name,
                 "cascadeDelete": False}
                for child, f in self.children.values()],
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }


class Schema:
    """All sObjects of the sandbox org."""

    def __init__(self) -> None:
        self.objects: dict[str, ObjectSchema] = {}
        for name, extra in _standard_fields().items():
            obj = ObjectSchema(name, KEY_PREFIXES[name])
            for f in _system() + extra:
                obj.add(f)
            obj.writable = name not in READ_ONLY_OBJECTS
            self.objects[name.lower()] = obj
        for obj in self.objects.values():
            for f in obj.fields.values():
                self._link_child(obj, f)

    def _link_child(self, child: ObjectSchema, f: Field) -> None:
        parent = self.get(f.reference_to[0]) if f.reference_to and f.child_name else None
        if parent is not None and f.child_name:
            parent.children[f.child_name.lower()] = (child, f)

    def get(self, name: str) -> ObjectSchema | None:
        return self.objects.get(name.lower())

    def add_custom_field(self, sobject: str, spec: dict, *, visible: bool = True) -> Field:
        """Add a custom field from a Tooling-style spec: name (ending __c), type, length,
        externalId, unique, label."""
        obj = self.get(sobject)
        if obj is None:
            raise KeyError(sobject)
        name = spec["name"]
        if not name.endswith("__c"):
            raise ValueError(f"custom field names end in __c: {name!r}")
        ftype = _TOOLING_TYPES.get(str(spec.get("type", "Text")).lower(), "string")
        f = Field(
            name, ftype, spec.get("label", ""), int(spec.get("length") or (255 if ftype in TEXT_TYPES else 0)),
            custom=True, external_id=bool(spec.get("externalId", False)),
            unique=bool(spec.get("unique", False)), visible=visible,
            picklist=tuple(spec.get("picklist", ())), restricted=bool(spec.get("restricted", False)),
        )
        obj.add(f)
        return f


# Metadata API type names (CustomField.Metadata.type) -> describe types.
_TOOLING_TYPES = {
    "text": "string", "string": "string", "email": "email", "phone": "phone",
    "checkbox": "boolean", "boolean": "boolean", "date": "date", "datetime": "datetime",
    "number": "double", "double": "double", "currency": "currency", "percent": "percent",
    "picklist": "picklist", "textarea": "textarea", "longtextarea": "textarea", "int": "int",
}
