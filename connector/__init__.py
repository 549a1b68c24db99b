"""MMS-CRM connector: keeps provider MMS conversations and writes them into CRMs."""

__version__ = "0.1.0"
