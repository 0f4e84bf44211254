"""The media service: images uploaded, re-encoded and attached to posts, messages and profiles."""
