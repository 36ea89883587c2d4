"""Builds a ready engine from settings, initialises a database (schema + definitions),
creates the key files the history needs (history key, checkpoint signing key) and checks the
run settings a delivering process starts with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from workflow.clock import Clock, SystemClock
from workflow.config import RunSettings, Settings
from workflow.db import Database
from workflow.errors import ConfigurationError, InputError
from workflow.issues.engine import Engine
from workflow.issues.evidence import EvidenceStore
from workflow.issues.keys import (
    HISTORY_KEY_ENV,
    HistoryKeys,
    TrustFiles,
    create_history_key,
    create_signing_key,
)
from workflow.migrate import current_revision, head_revision, upgrade
from workflow.models import DatabaseInstance, Issue
from workflow.notify.channels import Channel
from workflow.notify.delivery import LEASE_FACTOR, SEND_MARGIN, minimum_lease
from workflow.spec.definitions import load_all
from workflow.spec.registry import LoadOutcome, load_definitions


def trust_files(settings: Settings) -> TrustFiles:
    """Where the settings' database keeps its key files and checkpoint log."""
    return TrustFiles.for_database(settings.database_url)


def create_keys(files: TrustFiles, now: datetime,
                environ: Mapping[str, str] | None = None) -> list[str]:
    """Create the key files that are missing (the history key file only while
    ``RECTIFY_HISTORY_KEY`` is unset); returns a line for each file made, secrets masked."""
    env = os.environ if environ is None else environ
    made = []
    if not env.get(HISTORY_KEY_ENV, "").strip():
        key = create_history_key(files.history_key, now)
        if key is not None:
            made.append(f"history key {key.id} created: {files.history_key} (mode 0600)")
    signing = create_signing_key(files)
    if signing is not None:
        made.append(f"checkpoint signing key {signing} created: {files.signing_key} (mode 0600),"
                    f" public key {files.public_key}")
    return made


def check_lease(run: RunSettings, channels: Mapping[str, Channel]) -> None:
    """Refuse a ``RECTIFY_LEASE`` shorter than ``minimum_lease``: a send could outlive its
    lease and be made twice. Every process that delivers checks it when it starts.

    Raises:
        ConfigurationError: naming the settings and the rule.
    """
    needed, lease = minimum_lease(channels), run.lease
    if lease < needed:
        timeouts = ", ".join(f"{name} {channel.timeout:g} s"
                             for name, channel in sorted(channels.items()) if channel.timeout)
        raise ConfigurationError(
            f"RECTIFY_LEASE={lease:g} s is too short for the channel timeouts ({timeouts}; "
            f"RECTIFY_WEBHOOK_TIMEOUT, RECTIFY_SMTP_TIMEOUT): the lease must be at least "
            f"{LEASE_FACTOR} × (longest timeout + {SEND_MARGIN:g} s) = {needed:g} s, since it "
            f"is renewed before each send. Raise RECTIFY_LEASE to {needed:g} or more, or "
            "lower the timeouts")


def open_engine(settings: Settings, *, clock: Clock | None = None,
                require_schema: bool = True, keys: HistoryKeys | None = None) -> Engine:
    """An engine on the configured database, hashing history with ``keys`` (by default the
    keys ``RECTIFY_HISTORY_KEY`` and the key file give).

    Raises:
        ConfigurationError: the database has not been initialised, or there is no history
            key (run ``rectify init``).
    """
    db = Database(settings.database_url)
    if require_schema and current_revision(db) != head_revision():
        raise ConfigurationError(
            f"the database {settings.database_url} is not initialised or not up to date; "
            "run `rectify init` (or `rectify db upgrade`) first")
    if keys is None:
        keys = HistoryKeys.load(trust_files(settings))
    evidence = EvidenceStore(settings.evidence_dir, max_mb=settings.evidence_max_mb)
    return Engine(db, evidence, keys=keys, clock=clock, settings=settings)


def initialize(engine: Engine, definitions_dir: Path) -> list[LoadOutcome]:
    """Create or upgrade the schema, then load every definition under ``definitions_dir``."""
    upgrade(engine.db)
    return load_definitions(engine.db, load_all(definitions_dir), now=engine.clock.now(), by=None)


def mark_database(db: Database, *, training: bool) -> bool:
    """Record, once, what the database is for; returns whether it is a training database.

    The first ``init`` writes it; later ones leave it. ``training`` on a database already in
    real use is refused, so no clock can be moved where real work is recorded.

    Raises:
        InputError: ``training`` asked of a database created for real work.
    """
    with db.session(write=True) as session:
        instance = session.get(DatabaseInstance, 1)
        if instance is None:
            issues = session.scalar(select(func.count()).select_from(Issue)) or 0
            if training and issues:
                raise InputError(f"--training marks a new database; this one holds {issues} "
                                 "issue(s) of real work. Create a training database elsewhere "
                                 "(DATABASE_URL=sqlite:///training.db rectify init --training)")
            instance = DatabaseInstance(id=1, training=training, created_at=SystemClock().now())
            session.add(instance)
        elif training and not instance.training:
            raise InputError("--training marks a new database; this one was created for real "
                             "work and stays so. Create a training database elsewhere "
                             "(DATABASE_URL=sqlite:///training.db rectify init --training)")
        return instance.training
