"""Instructor tooling: the course runner, notebook tools, bundle, glossary, report, website."""
