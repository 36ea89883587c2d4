"""`python -m workflow.cli …`: the same as `rectify …`."""

from workflow.cli import app

if __name__ == "__main__":
    app()
