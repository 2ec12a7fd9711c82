"""The HTTP surface: the LangGraph Agent Server API."""
