"""graphyard: LangGraph Agent Server API, executed durably on Temporal."""

__version__ = "0.1.0"
