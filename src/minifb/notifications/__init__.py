"""The notifications service: what others did that concerns you, and unread counts."""
