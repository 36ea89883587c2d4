"""The HTTP interface (FastAPI on Starlette, served by uvicorn): sign-in, the caller, and
issues scoped by the access policy. It holds no rule of its own: it parses, calls the
identity package, the read queries and the access policy, and renders."""
