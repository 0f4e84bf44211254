"""Fault tests: dependencies of the app stopped, frozen or restarted under load."""
