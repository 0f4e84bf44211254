"""The search service: people and posts, found by words, as each reader may see them."""
