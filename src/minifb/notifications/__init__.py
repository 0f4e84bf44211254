"""The notifications service: what people are told of, and the real-time stream that carries it."""
