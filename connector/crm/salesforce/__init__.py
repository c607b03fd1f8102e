"""Salesforce: REST, Bulk API 2.0, sObject Collections and Tooling on the shared transport."""

from connector.crm.salesforce.connector import SalesforceConnector

__all__ = ["SalesforceConnector"]
