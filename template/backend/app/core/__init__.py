"""Cross-cutting pieces shared by the API and the worker: settings, logging, security."""
