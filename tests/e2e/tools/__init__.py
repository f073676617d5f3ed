"""Helpers for the end-to-end tests that are not tests themselves."""
