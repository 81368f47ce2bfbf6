"""Auth: users, password sessions (RS256 JWTs), personal access tokens, JWKS."""
