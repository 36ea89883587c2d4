"""Who signs in: accounts of registered people (Argon2id passwords, optional TOTP), browser
sessions kept on the server, API tokens stored hashed, the throttle of failed sign-ins, the
identity-provider seam and the sign-in records on the audit trail."""
