"""The HTTP gateway: app factory, authentication dependency, errors and middleware."""
